// Pure helpers of the supervisor's screens: numbers, chart columns, and routing decisions told in sentences.
import assert from "node:assert/strict";
import { test } from "node:test";

import { chartColumns, clock, exclusion, explainDecision, fill, hourTicks, pct, slState } from "../../services/gateway/console/views/supervisor-format.js";

const texts = {
  why_status: "estado «{state}»", why_no_room: "sin capacidad (carga {load} + {weight} > {capacity})", why_full: "lleno ({load})",
  why_rejected: "rechazó", why_not_member: "no es de la campaña", "status:break": "Descanso", "strategy:longest_idle": "más tiempo libre",
  decision_queued: "Desde la cola ({at}).", decision_strategy: "Regla: {strategy}; {weight} de {capacity}.",
  decision_passed: "{agent} no: {why}.", decision_chosen: "Para {agent}.", decision_nobody: "Nadie.",
  decision_members: "{members} agentes, {away} fuera.", decision_unavailable: "{agent}: {why}.", decision_sticky: "Primero {agent}: {why}.",
};
const tx = (key, params) => fill(texts[key] ?? key, params);

test("numbers as the dashboard shows them", () => {
  assert.equal(clock(null), "—");
  assert.equal(clock(42.4), "42 s");
  assert.equal(clock(185), "3 min 05 s");
  assert.equal(clock(3720), "1 h 02 min");
  assert.equal(pct(null), "—");
  assert.equal(pct(84.07, "en"), "84.1 %");
  assert.equal(slState(85, 80), "ok");
  assert.equal(slState(79.9, 80), "bad");
  assert.equal(slState(null, 80), "");
});

test("chart columns from the 15-minute series", () => {
  const [xs, queue, sl] = chartColumns([{ start: "2026-02-10T09:00:00+01:00", queue_length: 2, service_level: 50 },
    { start: "2026-02-10T09:15:00+01:00", queue_length: 0, service_level: null }]);
  assert.deepEqual(xs, [1770710400, 1770711300]);
  assert.deepEqual(queue, [2, 0]);
  assert.deepEqual(sl, [50, null]);
});

test("the router's reasons become sentences", () => {
  assert.equal(exclusion("status break", tx), "estado «Descanso»");
  assert.equal(exclusion("no room (2+1>3)", tx), "sin capacidad (carga 2 + 1 > 3)");
  assert.equal(exclusion("at capacity (3)", tx), "lleno (3)");
  assert.equal(exclusion("rejected or missed this offer", tx), "rechazó");
  assert.equal(exclusion("something new", tx), "something new");
});

test("a decision is told, not dumped", () => {
  const names = { a1: "Ana", b1: "Bruno" };
  const lines = explainDecision({ reason: "queued", strategy: "longest_idle", weight: 1, capacity: 3, chosen: "a1",
    considered: [{ agent: "b1", load: 3, excluded: "no room (3+1>3)" }, { agent: "a1", load: 0 }], members: 3, not_available: 1,
    unavailable: [{ agent: "c1", excluded: "status break" }] }, tx, (x) => names[x] || x);
  assert.deepEqual(lines.slice(1), ["Regla: más tiempo libre; 1 de 3.", "Bruno no: sin capacidad (carga 3 + 1 > 3).",
    "c1: estado «Descanso».", "Para Ana.", "3 agentes, 1 fuera."]);
  assert.ok(lines[0].startsWith("Desde la cola"));
  assert.ok(!lines.join(" ").includes("{"));
  assert.equal(explainDecision({ reason: "queued" }, tx).at(-1), "Nadie.");
});

test("times are written as the language writes them, never with AM/PM on a Spanish screen", () => {
  const at = Date.UTC(2026, 1, 10, 16, 35, 35);
  const es = explainDecision({ reason: "queued", at }, tx, undefined, "es")[0];
  assert.equal(es, `Desde la cola (${new Date(at).toLocaleTimeString("es-ES")}).`);
  assert.doesNotMatch(es, /[AP]\.?\s?M/i);
  // Chart axes, 09:00 and 15:30 in Madrid: 24-hour clock in both languages (en-GB), never uPlot's "9am".
  const splits = [Date.UTC(2026, 1, 10, 8, 0) / 1000, Date.UTC(2026, 1, 10, 14, 30) / 1000];
  assert.deepEqual(hourTicks(splits, "es", "Europe/Madrid"), ["09:00", "15:30"]);
  assert.deepEqual(hourTicks(splits, "en", "Europe/Madrid"), ["09:00", "15:30"]);
  assert.deepEqual(hourTicks([], "es"), []);
});
