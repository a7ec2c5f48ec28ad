// Pieces several views share: campaign snapshots, list panels, the campaign picker, click-to-call,
// typification and custom-field inputs, and the callback form.
import { api, download } from "../lib/api.js";
import { add, clear, h, labelled, toast } from "../lib/dom.js";
import { items, localIso } from "../lib/format.js";
import { errorText, showError, t } from "../lib/i18n.js";
import { mapSet } from "../lib/store.js";
import { currentCampaign, me, myCampaigns, store } from "../state.js";

export const enc = encodeURIComponent;

const snapshots = new Map();
// The campaign's compiled snapshot (permissions, typifications, custom fields, script...), cached.
export async function snapshot(campaignId) {
  if (!campaignId) return null;
  if (!snapshots.has(campaignId)) {
    snapshots.set(campaignId, api("GET", `/campaigns/${enc(campaignId)}/snapshot`).catch(() => null));
  }
  return snapshots.get(campaignId);
}

// A box filled with one row per item of a GET list (or the error, in the user's language).
export function listPanel(path, row, { empty = "no_items", testid } = {}) {
  const box = h("div", { class: "list-panel", "data-testid": testid, "aria-busy": "true" }, h("p", { class: "muted" }, "…"));
  api("GET", path).then((data) => {
    clear(box).removeAttribute("aria-busy");
    const list = items(data);
    if (!list.length) box.append(h("p", { class: "muted" }, t(empty)));
    for (const it of list) box.append(row(it));
  }).catch((ex) => { clear(box).append(h("p", { class: "error", role: "alert" }, errorText(ex))); });
  return box;
}

export function campaignPicker(onchange) {
  const camps = myCampaigns();
  const sel = h("select", {
    "data-testid": "work-campaign",
    onchange: () => { store.update({ campaign: sel.value }); onchange(); },
  }, camps.map((c) => h("option", { value: c }, c)));
  sel.value = currentCampaign();
  if (store.get("campaign") !== sel.value) store.update({ campaign: sel.value });
  return labelled(t("campaign"), sel, { class: "inline" });
}

// Click-to-call (POST /calls/dial): the campaign's voice channel rings this agent's extension, then the number;
// the call's progress arrives as call.progress events. A campaign without a voice channel records the call only
// (status "manual": the agent dials it on their own phone).
export async function placeCall(phone, extra = {}) {
  const made = await api("POST", "/calls/dial", { phone, campaign_id: currentCampaign() || null, ...extra });
  toast(made.status === "manual" ? `${t("dial_by_hand")} ${phone}` : `${t("calling")} ${phone}`);
  return made;
}

export async function dial(phone, extra = {}) {
  try {
    const made = await placeCall(phone, extra);
    // The call pops up over any section, in blue, until the agent ignores or parametrizes it.
    store.update({ dialed: made, calls: mapSet(store.get("calls") || new Map(), made.id, { ...made, direction: "out" }) });
    return made;
  } catch (ex) { toast(errorText(ex), "error"); return null; }
}

export function dialButton(phone, extra) {
  return h("button", {
    type: "button", class: "dial secondary", "data-testid": "dial", "data-phone": phone,
    "aria-label": `${t("call")} ${phone}`, onclick: () => dial(phone, extra),
  }, `📞 ${phone}`);
}

// The campaign's closing typifications (all of its typifications when it names none), after an empty choice.
export function typificationOptions(snap) {
  const allowed = new Set((snap && snap.closing_typifications) || []);
  const typs = ((snap && snap.typifications) || []).filter((x) => !allowed.size || allowed.has(x.id));
  return [h("option", { value: "" }, "—"),
    ...typs.map((x) => h("option", { value: x.id }, x.label || [x.category, x.subcategory].filter(Boolean).join(" / ")))];
}

export function fieldInput(cf) {
  const common = { name: cf.key, "data-field": `fields.${cf.key}`, "data-testid": `field-${cf.key}` };
  if (cf.type === "select") return h("select", common, h("option", { value: "" }, "—"), (cf.options || []).map((o) => h("option", { value: o }, o)));
  if (cf.type === "boolean") return h("input", { ...common, type: "checkbox" });
  if (cf.type === "number") return h("input", { ...common, type: "number" });
  if (cf.type === "date") return h("input", { ...common, type: "date" });
  return h("input", common);
}

export function customFields(snap) {
  return ((snap && snap.custom_fields) || []).map((cf) => h("label", {},
    `${cf.label || cf.key}${cf.required ? ` * (${t("required")})` : ""}`, fieldInput(cf)));
}

export function fieldValues(form, snap) {
  const values = {};
  for (const cf of (snap && snap.custom_fields) || []) {
    const el = form.querySelector(`[name="${CSS.escape(cf.key)}"]`);
    if (!el) continue;
    if (cf.type === "boolean") values[cf.key] = el.checked;
    else if (el.value !== "") values[cf.key] = cf.type === "number" ? Number(el.value) : el.value;
  }
  return values;
}

// Seed 002 "Autocompletar Gestiones": the closing form starts from the latest closure the CRM suggests
// (`prefill`: {result, fields}); the result goes in `select`, each custom field in its input.
export function applyPrefill(form, select, prefill) {
  if (!prefill) return;
  if (select && prefill.result && [...select.options].some((o) => o.value === prefill.result)) select.value = prefill.result;
  for (const [key, value] of Object.entries(prefill.fields || {})) {
    const el = form.querySelector(`[name="${CSS.escape(key)}"]`);
    if (!el || value === null || value === undefined) continue;
    if (el.type === "checkbox") el.checked = Boolean(value); else el.value = String(value);
  }
}

// A callback (agenda) owned by the caller, due at a local date and time, on a work item or a contact.
export function callbackForm(target, onDone) {
  const when = h("input", { type: "datetime-local", name: "due_at", "data-field": "due_at", "data-testid": "callback-due" });
  const note = h("input", { name: "note", "data-field": "note", "data-testid": "callback-note" });
  const err = h("p", { class: "error", "data-testid": "callback-error", id: `cb-err-${Math.random().toString(36).slice(2)}` });
  const panel = h("details", { class: "panel" }, h("summary", { "data-testid": "callback-open" }, t("schedule_callback")),
    labelled(t("callback_when"), when), labelled(t("note"), note), h("button", {
      type: "button", "data-testid": "callback-create",
      onclick: async () => {
        clear(err);
        try {
          const body = { owner_id: me().id, note: note.value, ...target };
          if (when.value) body.due_at = localIso(when.value);
          const made = await api("POST", "/callbacks", body);
          toast(t("callback_scheduled"));
          panel.open = false;
          if (onDone) onDone(made);
        } catch (ex) { showError(err, ex, panel); }
      },
    }, t("schedule")), err);
  return panel;
}

// A download button: the file is fetched with the token; a refusal is shown in the user's language.
export function downloadButton(label, path, filename, testid) {
  return h("button", {
    type: "button", class: "secondary", "data-testid": testid,
    onclick: () => download(path, filename).catch((ex) => toast(errorText(ex), "error")),
  }, label);
}

export { add };
