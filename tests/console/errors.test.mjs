// Which message an API error gets: field-specific first, then the code, then the HTTP status.
import assert from "node:assert/strict";
import { test } from "node:test";

import { ApiError, errorSentence, errorTemplate, fieldFallback } from "../../services/gateway/console/lib/errors.js";

const table = {
  invalid: "Revisa el dato indicado: {field}",
  "invalid:result": "Para finalizar la gestión hay que elegir un resultado",
  "invalid:fields.*": "Falta o no es válido el campo «{field}»",
  forbidden: "No tienes permiso para hacer esto",
  rate_limited: "Demasiados intentos: espera {seconds} s",
  http_413: "El envío es demasiado grande",
  unknown: "Ha ocurrido un error",
};

test("the template: code:field, then code:prefix.*, then code, then http status, then unknown", () => {
  assert.deepEqual(errorTemplate(table, "invalid", "result", 400), [table["invalid:result"], true]);
  assert.deepEqual(errorTemplate(table, "invalid", "fields.dni", 400), [table["invalid:fields.*"], true]);
  assert.deepEqual(errorTemplate(table, "invalid", "fields[0].dni", 400), [table["invalid:fields.*"], true]);
  assert.deepEqual(errorTemplate(table, "invalid", "phone", 400), [table.invalid, false]);
  assert.deepEqual(errorTemplate(table, "weird", "", 413), [table.http_413, false]);
  assert.deepEqual(errorTemplate(table, "weird", "", 500), [table.unknown, false]);
});

test("the sentence names the field as the screen does, or adds it when the message does not", () => {
  const err = (code, field, extra = {}) => Object.assign(new ApiError(400, { code, field, message: "x" }), extra);
  assert.equal(errorSentence(table, err("invalid", "fields.dni"), "DNI"), "Falta o no es válido el campo «DNI»");
  assert.equal(errorSentence(table, err("invalid", "phone"), "Teléfono"), "Revisa el dato indicado: Teléfono");
  assert.equal(errorSentence(table, err("forbidden", "agent_id"), "Agente"), "No tienes permiso para hacer esto (Agente)");
  assert.equal(errorSentence(table, err("invalid", ""), ""), "Revisa el dato indicado");
  assert.equal(errorSentence(table, err("rate_limited", "", { details: { retry_after_s: 30 } }), ""),
    "Demasiados intentos: espera 30 s");
});

test("a field without a label on screen: the table's name, else its last part", () => {
  assert.equal(fieldFallback({ due_at: "Fecha" }, "due_at"), "Fecha");
  assert.equal(fieldFallback({}, "params.list_id"), "list_id");
  assert.equal(fieldFallback({}, ""), "");
});
