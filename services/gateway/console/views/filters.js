// Search forms of the sections: labelled filter inputs whose values become the query string.
import { api } from "../lib/api.js";
import { clear, h, labelled } from "../lib/dom.js";
import { items, query } from "../lib/format.js";
import { clearErrors, showError, t } from "../lib/i18n.js";
import { isAgent, me } from "../state.js";

// A date input whose value is sent as the start (or end) of that local day, as an instant.
export function dateFilter(key, field, end = false) {
  const el = h("input", { type: "date", name: field, "data-field": field, "data-testid": `filter-${field}` });
  el.toQuery = () => {
    if (!el.value) return null;
    const d = new Date(`${el.value}T00:00:00`);
    if (end) d.setDate(d.getDate() + 1);
    return d.toISOString();
  };
  return [labelled(t(key), el), el];
}

export function textFilter(key, field, attrs = {}) {
  const el = h("input", { name: field, "data-field": field, "data-testid": `filter-${field}`, ...attrs });
  return [labelled(t(key), el), el];
}

export function choiceFilter(key, field, choices, value) {
  const el = h("select", { name: field, "data-field": field, "data-testid": `filter-${field}` },
    choices.map(([v, text]) => h("option", { value: v }, text)));
  if (value !== undefined) el.value = value;
  return [labelled(t(key), el), el];
}

// The contact filter: a name to search, resolved to a contact id from the suggestions (or typed as an id).
export function contactFilter(initial) {
  const listId = `contacts-${Math.random().toString(36).slice(2)}`;
  const el = h("input", { name: "contact_id", "data-field": "contact_id", "data-testid": "filter-contact", list: listId,
    autocomplete: "off", value: initial ? initial.name || initial.id : "" });
  const options = h("datalist", { id: listId });
  const ids = new Map(initial && initial.id ? [[initial.name || initial.id, initial.id]] : []);
  let timer = null;
  el.addEventListener("input", () => {
    clearTimeout(timer);
    const q = el.value.trim();
    if (q.length < 2) return;
    timer = setTimeout(async () => {
      const found = items(await api("GET", `/contacts?${query({ q, limit: 10 })}`).catch(() => []));
      options.replaceChildren(...found.map((c) => {
        const label = `${c.name || c.id}${c.company ? ` · ${c.company}` : ""}`;
        ids.set(label, c.id);
        return h("option", { value: label });
      }));
    }, 250);
  });
  el.toQuery = () => (el.value.trim() ? ids.get(el.value.trim()) || el.value.trim() : null);
  return [h("span", {}, labelled(t("contact"), el), options), el];
}

// The agent filter: agents see only their own (fixed); supervisors and admins name one.
export function agentFilter() {
  if (isAgent()) {
    const el = h("input", { name: "agent_id", "data-testid": "filter-agent_id", value: me().id, readonly: true });
    return [labelled(t("agent"), el), el];
  }
  return textFilter("agent", "agent_id");
}

// The query of a set of filter inputs: each input's toQuery() (dates, contacts) or value.
export function filterQuery(inputs, extra = {}) {
  const out = { ...extra };
  for (const [field, el] of Object.entries(inputs)) out[field] = el.toQuery ? el.toQuery() : el.value.trim();
  return query(out);
}

// Run a section's search: GET path with the filters, errors next to the field they name, one element per
// result from `row` (or "no items").
export async function runSearch(path, form, inputs, box, err, row, extra = {}) {
  clearErrors(form, err);
  const turn = (Number(box.dataset.turn) || 0) + 1; // only the latest search of this box is shown
  box.dataset.turn = String(turn);
  let list;
  try { list = items(await api("GET", `${path}?${filterQuery(inputs, { limit: 100, ...extra })}`)); }
  catch (ex) { showError(err, ex, form); return; }
  if (box.dataset.turn !== String(turn)) return;
  clear(box);
  if (!list.length) box.append(h("p", { class: "muted" }, t("no_items")));
  for (const it of list) box.append(row(it));
}
