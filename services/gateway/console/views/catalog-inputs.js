// The admins' catalogs where agents use them (seed 001): a ticket action's type (GET /action-types) with its
// form's typed inputs (GET /ticket-forms), a call's disposition (GET /dispositions/{campaign}), and a ticket's
// forms shown by their labels. The server checks every value again and names the field it refuses.
import { api } from "../lib/api.js";
import { clear, h, labelled } from "../lib/dom.js";
import { items } from "../lib/format.js";
import { t } from "../lib/i18n.js";

const cache = new Map();
// A catalog list, fetched once per page load (admins' edits show after a reload).
export function catalog(path) {
  if (!cache.has(path)) cache.set(path, api("GET", path).then(items).catch(() => []));
  return cache.get(path);
}
export const forgetCatalogs = () => cache.clear();

// One input of a form field, named by its key, `data-field` the server's path of it (`actions[0].forms.lineas`).
export function formInput(f, prefix, value) {
  const common = { name: f.key, "data-field": `${prefix}.${f.key}`, "data-testid": `form-${f.key}` };
  let el;
  if (f.type === "select") el = h("select", common, h("option", { value: "" }, "—"), (f.options || []).map((o) => h("option", { value: o }, o)));
  else if (f.type === "boolean") el = h("input", { ...common, type: "checkbox" });
  else el = h("input", { ...common, type: f.type === "number" ? "number" : f.type === "date" ? "date" : "text" });
  if (value !== undefined && value !== null) { if (el.type === "checkbox") el.checked = Boolean(value); else el.value = String(value); }
  return labelled(`${f.label}${f.required ? ` * (${t("required")})` : ""}`, el);
}

// The values of a form's inputs inside `box`, typed as the form says (empty ones left out).
export function readForm(box, form) {
  const out = {};
  for (const f of (form && form.fields) || []) {
    const el = box.querySelector(`[name="${CSS.escape(f.key)}"]`);
    if (!el) continue;
    if (f.type === "boolean") out[f.key] = el.checked;
    else if (el.value !== "") out[f.key] = f.type === "number" ? Number(el.value) : el.value;
  }
  return out;
}

// An action type picker; under it, the chosen type's form. `read()` gives {kind, forms}.
export function actionTypePicker(prefix, testid) {
  const sel = h("select", { name: "kind", "data-field": prefix ? `${prefix}.kind` : "kind", "data-testid": testid },
    h("option", { value: "" }, "—"));
  const formBox = h("div", { class: "action-form", "data-testid": `${testid}-form` });
  let types = [];
  let forms = [];
  const current = () => types.find((x) => x.id === sel.value);
  const formOf = () => { const at = current(); return at && at.form_id ? forms.find((f) => f.id === at.form_id) : null; };
  const render = () => {
    clear(formBox);
    const form = formOf();
    if (form) formBox.append(h("p", { class: "muted" }, form.name), ...form.fields.map((f) => formInput(f, prefix ? `${prefix}.forms` : "forms")));
  };
  sel.onchange = render;
  Promise.all([catalog("/action-types"), catalog("/ticket-forms")]).then(([a, f]) => {
    types = a; forms = f;
    sel.append(...types.map((x) => h("option", { value: x.id }, x.name)));
    if (!types.length) sel.append(h("option", { value: "", disabled: true }, t("no_action_types")));
  });
  return { select: sel, box: formBox, read: () => ({ kind: sel.value, forms: readForm(formBox, formOf()) }) };
}

// A ticket's forms ({form_id: {key: value}}) by the catalog's names and labels.
export function formFacts(values) {
  const box = h("div", { "data-testid": "ticket-forms" });
  const entries = Object.entries(values || {});
  if (!entries.length) { box.append(h("p", { class: "muted" }, t("no_forms"))); return box; }
  catalog("/ticket-forms").then((forms) => {
    for (const [formId, vals] of entries) {
      const form = forms.find((f) => f.id === formId);
      const label = (k) => ((form && form.fields.find((f) => f.key === k)) || {}).label || k;
      box.append(h("h4", {}, (form && form.name) || formId), h("dl", { class: "facts" },
        Object.entries(vals || {}).flatMap(([k, v]) => [h("dt", {}, label(k)), h("dd", {}, typeof v === "boolean" ? t(v ? "yes" : "no") : String(v))])));
    }
  });
  return box;
}

// The action type's name for a kind (the id), or the kind itself for an action of before the catalog.
export async function actionTypeName(kind) {
  return (await actionTypeNames())(kind);
}

// A function naming every kind at once, for lists.
export async function actionTypeNames() {
  const byId = new Map((await catalog("/action-types")).map((x) => [x.id, x.name]));
  return (kind) => byId.get(kind) || kind;
}

// The dispositions of a campaign (seed 001 1.3.1), else its closing typifications (a campaign with no catalog).
export async function dispositionOptions(campaignId, snap) {
  const list = campaignId ? await catalog(`/dispositions/${encodeURIComponent(campaignId)}`) : [];
  if (list.length) return list.map((d) => ({ value: d.id, label: d.name, follow_up: d.follow_up }));
  const allowed = new Set((snap && snap.closing_typifications) || []);
  return ((snap && snap.typifications) || []).filter((x) => !allowed.size || allowed.has(x.id))
    .map((x) => ({ value: x.id, label: x.label || [x.category, x.subcategory].filter(Boolean).join(" / ") }));
}
