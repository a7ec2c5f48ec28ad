// Admin configuration forms (campaigns, schedules, typifications, channels) over the gateway's REST facade.
// Every input carries the server's field path in data-field, so a validation error (`channels[1].id`,
// `weekly.1[0].end`) is shown next to the input it names.
import { api } from "../lib/api.js";
import { clear, h, toast } from "../lib/dom.js";
import { items } from "../lib/format.js";
import { errorText, showError, t } from "../lib/i18n.js";
import { CATALOG_FORMS, campaignSearch, setDone } from "./admin-catalog.js";

let done = () => {};

const enc = encodeURIComponent;
const DAYS = [1, 2, 3, 4, 5, 6, 7];
const PERMISSIONS = ["media", "emojis", "close_without_reply", "transfer_between_agents", "transfer_between_campaigns",
  "show_contact_number", "view_all_cases"];
const CHANNEL_TYPES = ["whatsapp", "instagram", "sms", "email", "voice"];
const SECRETS = {
  whatsapp: ["app_secret", "verify_token", "access_token"], instagram: ["app_secret", "verify_token", "access_token"],
  sms: ["auth_token"], email: ["smtp_password"], voice: ["auth_token", "app_secret"],
};
const PLAIN = { whatsapp: ["phone_number_id"], instagram: [], sms: ["account_sid"], email: [], voice: ["account_sid"] };
const CONFIG = {
  whatsapp: [], instagram: [], sms: [], email: ["smtp_host", "smtp_port", "smtp_username"],
  voice: ["ari_username", "ari_app", "endpoint_template", "caller_id", "dial_context"],
};

// ---- small form builders -----------------------------------------------------------------------------
const testid = (field) => `f-${field}`;
export function input(field, value, attrs = {}) {
  return h("input", { name: field, "data-field": field, "data-testid": testid(field), value: value ?? "", ...attrs });
}
export function checkbox(field, checked, attrs = {}) {
  return h("input", { type: "checkbox", name: field, "data-field": field, "data-testid": testid(field), checked, ...attrs });
}
export function select(field, options, value, attrs = {}) {
  const el = h("select", { name: field, "data-field": field, "data-testid": testid(field), ...attrs },
    options.map(([v, text]) => h("option", { value: v }, text)));
  el.value = value ?? "";
  return el;
}
export const field = (key, el, ...more) => h("label", {}, t(key), " ", el, ...more);
export const checkField = (key, el) => h("label", { class: "check" }, el, t(key));
export const section = (key, ...children) => h("fieldset", { "data-section": key }, h("legend", {}, t(key)), ...children);
export const num = (v) => (v === "" || v === null || v === undefined ? null : Number(v));
export const str = (v) => (v === "" ? null : v);
const byId = (list) => new Map(list.map((x) => [x.id, x]));
const typName = (ty) => (ty.subcategory ? `${ty.category} / ${ty.subcategory}` : ty.category) + (ty.label ? ` (${ty.label})` : "");

export async function fetchList(path) {
  try { return items(await api("GET", path)); } catch { return []; }
}

// Put a message next to every field the server (or the form) names; the form's error line gets the first.
function fieldErrors(form, errLine, ex) {
  for (const el of form.querySelectorAll(".field-error")) el.remove();
  for (const el of form.querySelectorAll(".invalid")) el.classList.remove("invalid");
  showError(errLine, ex, form);
  const named = Array.isArray(ex.details) && ex.details.length ? ex.details : [{ field: ex.field, message: ex.message }];
  for (const d of named) {
    if (!d || !d.field) continue;
    let path = d.field; let el = null;
    while (path && !(el = form.querySelector(`[data-field="${CSS.escape(path)}"]`))) {
      path = path.replace(/(\[\d+\]|\.[^.[\]]+)$/, "");
    }
    if (!el) continue;
    el.classList.add("invalid");
    const text = d.field === ex.field ? errLine.querySelector(".error-text").textContent : d.message;
    const note = h("small", { class: "field-error", "data-testid": "field-error", "data-for": d.field }, text);
    (el.closest("label") || el).after(note);
  }
}

class FormError extends Error {
  constructor(field, message) { super(message); this.field = field; this.code = "invalid"; }
}

// A form with a save button: `collect()` gives the body; create POSTs, edit uses `method` on the item.
export function editor({ kind, item, body, collect, method = "PATCH", after = null }) {
  const err = h("p", { class: "error", "data-testid": "admin-error" });
  const form = h("form", {
    class: "admin-form", "data-testid": `form-${kind}`,
    onsubmit: async (e) => {
      e.preventDefault();
      err.textContent = "";
      try {
        const data = collect();
        const saved = item ? await api(method, `/${kind}/${enc(item.id)}`, data) : await api("POST", `/${kind}`, data);
        if (after) await after(saved || data);
        toast(t("saved")); done();
      } catch (ex) { fieldErrors(form, err, ex); }
    },
  }, h("h3", {}, item ? `${t("edit")}: ${item.id}` : t("new")), body,
  h("button", { type: "submit", "data-testid": "admin-save" }, t("save")), err);
  return form;
}

export function listRows(kind, list, label, open) {
  if (!list.length) return h("p", { class: "muted" }, t("no_items"));
  return list.map((it) => h("div", { class: "card row", "data-testid": `row-${kind}`, "data-id": it.id },
    h("b", {}, label(it)), h("small", {}, ` ${it.id} ${it.status || it.type || ""}`),
    h("button", { type: "button", "data-testid": "row-edit", onclick: () => open(it) }, t("edit")),
    h("button", {
      type: "button", class: "secondary", "data-testid": "row-delete",
      onclick: async () => { try { await api("DELETE", `/${kind}/${enc(it.id)}`); done(); } catch (ex) { toast(errorText(ex), "error"); } },
    }, t("delete"))));
}

// ---- intervals (weekly days and special hours) -------------------------------------------------------
function intervalsEditor(list, prefix) {
  const box = h("div", { class: "intervals", "data-field": prefix });
  const draw = () => {
    clear(box);
    list.forEach((iv, i) => {
      const start = input(`${prefix}[${i}].start`, iv.start, { type: "time", "aria-label": `${t("interval_start")} ${i + 1}`,
        oninput: (e) => { iv.start = e.target.value; } });
      const end = input(`${prefix}[${i}].end`, iv.end, { type: "time", "aria-label": `${t("interval_end")} ${i + 1}`,
        oninput: (e) => { iv.end = e.target.value; } });
      box.append(h("span", { class: "interval" }, start, "–", end, h("button", {
        type: "button", class: "secondary", "data-testid": `remove-${prefix}[${i}]`, title: t("remove"), "aria-label": t("remove"),
        onclick: () => { list.splice(i, 1); draw(); },
      }, "✕")));
    });
    box.append(h("button", {
      type: "button", class: "secondary", "data-testid": `add-${prefix}`,
      onclick: () => { list.push({ start: "09:00", end: "18:00" }); draw(); },
    }, `+ ${t("add_interval")}`));
  };
  draw();
  return box;
}

const hhmm = (v) => (v || "").slice(0, 5);
const copyIntervals = (list) => (list || []).map((iv) => ({ start: hhmm(iv.start), end: hhmm(iv.end) }));

// ---- schedules ---------------------------------------------------------------------------------------
function scheduleForm(item) {
  const s = item || { timezone: Intl.DateTimeFormat().resolvedOptions().timeZone || "Europe/Madrid" };
  const weekly = Object.fromEntries(DAYS.map((d) => [d, copyIntervals((s.weekly || {})[d] || (s.weekly || {})[String(d)])]));
  const exceptions = (s.exceptions || []).map((x) => ({ ...x, intervals: copyIntervals(x.intervals) }));
  const isOvernight = (iv) => iv.end <= iv.start && iv.end !== "00:00";
  const hasOvernight = Object.values(weekly).some((l) => l.some(isOvernight));
  const id = item ? null : input("id", "", { placeholder: t("optional") });
  const name = input("name", s.name);
  const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
  const tz = input("timezone", s.timezone, { list: "tz-list" });
  const always = checkbox("always_open", s.always_open);
  const overnight = checkbox("overnight", hasOvernight);
  const from = input("valid_from", s.valid_from, { type: "date" });
  const until = input("valid_until", s.valid_until, { type: "date" });
  const exBox = h("div", { "data-field": "exceptions" });
  const drawExceptions = () => {
    clear(exBox);
    exceptions.forEach((x, i) => {
      const p = `exceptions[${i}]`;
      const special = h("div", { hidden: x.closed !== false }, t("special_hours"), intervalsEditor(x.intervals, `${p}.intervals`));
      exBox.append(h("div", { class: "card exception", "data-testid": `exception-${i}` },
        field("exception_day", input(`${p}.day`, x.day, { type: "date", oninput: (e) => { x.day = e.target.value; } })),
        field("name", input(`${p}.name`, x.name, { oninput: (e) => { x.name = e.target.value; } })),
        checkField("closed_all_day", checkbox(`${p}.closed`, x.closed !== false, {
          onchange: (e) => { x.closed = e.target.checked; special.hidden = x.closed; },
        })),
        special,
        h("button", { type: "button", class: "secondary", "data-testid": `remove-${p}`, onclick: () => { exceptions.splice(i, 1); drawExceptions(); } },
          t("remove"))));
    });
    exBox.append(h("button", {
      type: "button", class: "secondary", "data-testid": "add-exception",
      onclick: () => { exceptions.push({ day: "", name: "", closed: true, intervals: [] }); drawExceptions(); },
    }, `+ ${t("add_exception")}`));
  };
  drawExceptions();
  const body = h("div", {},
    id ? field("id", id) : null, field("name", name), field("timezone", tz),
    h("datalist", { id: "tz-list" }, zones.map((z) => h("option", { value: z }))),
    checkField("always_open", always), checkField("overnight_allowed", overnight),
    section("weekly", h("table", { class: "weekly" }, DAYS.map((d) => h("tr", {},
      h("th", {}, t(`day_${d}`)), h("td", {}, intervalsEditor(weekly[d], `weekly.${d}`)))))),
    section("exceptions", exBox),
    section("validity", field("valid_from", from), field("valid_until", until)));
  const collect = () => {
    if (!overnight.checked) {
      for (const d of DAYS) {
        const i = weekly[d].findIndex(isOvernight);
        if (i >= 0) throw new FormError(`weekly.${d}[${i}].end`, t("overnight_refused"));
      }
    }
    const data = {
      name: name.value.trim(), timezone: tz.value.trim(), always_open: always.checked,
      weekly: Object.fromEntries(DAYS.filter((d) => weekly[d].length).map((d) => [String(d), weekly[d]])),
      exceptions: exceptions.map((x) => ({ day: x.day, name: x.name || "", closed: x.closed !== false,
        intervals: x.closed !== false ? [] : x.intervals })),
      valid_from: str(from.value), valid_until: str(until.value),
    };
    if (id && id.value.trim()) data.id = id.value.trim();
    return data;
  };
  return editor({ kind: "schedules", item, body, collect, method: "PUT" });
}

// ---- typifications: the category / subcategory tree ---------------------------------------------------
function typificationForm(item, categories) {
  const id = item ? null : input("id", "", { placeholder: t("optional") });
  const cat = input("category", item && item.category, { list: "cat-list" });
  const sub = input("subcategory", item && item.subcategory, { placeholder: t("optional") });
  const label = input("label", item && item.label);
  const body = h("div", {}, id ? field("id", id) : null, field("category", cat),
    h("datalist", { id: "cat-list" }, categories.map((c) => h("option", { value: c }))),
    field("subcategory", sub), field("label", label));
  const collect = () => {
    const data = { category: cat.value.trim(), subcategory: str(sub.value.trim()), label: label.value.trim() };
    if (id && id.value.trim()) data.id = id.value.trim();
    return data;
  };
  return editor({ kind: "typifications", item, body, collect });
}

async function typificationsView(box, open) {
  const tree = await fetchList("/typifications/tree");
  const flat = await fetchList("/typifications?limit=500");
  const rows = byId(flat);
  const node = (id, text, children = []) => h("li", { "data-testid": "typ-node", "data-id": id || "" }, text,
    id ? h("button", { type: "button", class: "secondary", onclick: () => open(rows.get(id)) }, t("edit")) : null,
    id ? h("button", {
      type: "button", class: "secondary",
      onclick: async () => { try { await api("DELETE", `/typifications/${enc(id)}`); done(); } catch (ex) { toast(errorText(ex), "error"); } },
    }, t("delete")) : null,
    children.length ? h("ul", {}, children) : null);
  box.append(tree.length ? h("ul", { class: "tree", "data-testid": "typ-tree" }, tree.map((c) => node(c.id, h("b", {}, c.category),
    c.subcategories.map((s) => node(s.id, `${s.subcategory}${s.label ? ` (${s.label})` : ""}`))))) : h("p", { class: "muted" }, t("no_items")));
  return tree.map((c) => c.category);
}

// ---- channels ----------------------------------------------------------------------------------------
function channelForm(item) {
  const c = item || { type: "whatsapp", active: true, config: {} };
  const id = item ? null : input("id", "", { placeholder: t("optional") });
  const type = select("type", CHANNEL_TYPES.map((x) => [x, x]), c.type, item ? { disabled: true } : {});
  const name = input("name", c.name);
  const address = input("address", c.address);
  const active = checkbox("active", c.active !== false);
  const extra = h("div", {});
  let inputs = {};
  const draw = () => {
    clear(extra); inputs = { plain: {}, secret: {}, config: {} };
    const ty = type.value;
    for (const k of PLAIN[ty]) extra.append(field(`ch_${k}`, inputs.plain[k] = input(k, c[k])));
    for (const k of CONFIG[ty]) extra.append(field(`ch_${k}`, inputs.config[k] = input(`config.${k}`, (c.config || {})[k])));
    if (SECRETS[ty].length) {
      extra.append(section("credentials", SECRETS[ty].map((k) => field(`ch_${k}`,
        inputs.secret[k] = input(k, c[k] || "", { type: "password", autocomplete: "new-password" })))));
    }
    if (ty === "whatsapp") extra.append(templatesEditor(inputs, (c.config || {}).templates || []));
    if (ty === "voice") extra.append(extensionsEditor(inputs, (c.config || {}).agent_extensions || {}));
  };
  type.addEventListener("change", draw);
  draw();
  const body = h("div", {}, id ? field("id", id) : null, field("type", type), field("name", name), field("address", address),
    checkField("active", active), extra);
  const collect = () => {
    const data = { name: name.value.trim(), address: str(address.value.trim()), active: active.checked };
    if (!item) data.type = type.value;
    if (id && id.value.trim()) data.id = id.value.trim();
    for (const [k, el] of Object.entries(inputs.plain)) data[k] = str(el.value.trim());
    const config = {};
    for (const [k, el] of Object.entries(inputs.config)) {
      if (el.value.trim()) config[k] = k === "smtp_port" ? Number(el.value) : el.value.trim();
    }
    if (inputs.templates) config.templates = inputs.templates();
    if (inputs.extensions) config.agent_extensions = inputs.extensions();
    if (Object.keys(config).length || Object.keys(inputs.config).length) data.config = { ...(c.config || {}), ...config };
    // A secret left as "********" keeps the stored value; emptied clears it; never set and empty: not sent.
    for (const [k, el] of Object.entries(inputs.secret)) {
      if (el.value || c[k]) data[k] = el.value;
    }
    return data;
  };
  return editor({ kind: "channels", item, body, collect, method: "PUT" });
}

// A WhatsApp number's message templates as approved in Meta's WhatsApp Manager (name, language, body with {{1}}..,
// status): what agents start a conversation with outside the 24-hour window. Rows are numbered as the server
// names them (config.templates[0].name).
function templatesEditor(inputs, initial) {
  const rows = h("div", { "data-testid": "templates" });
  const statuses = ["approved", "pending", "rejected"].map((x) => [x, t(`template_${x}`)]);
  const add = (tpl = {}) => {
    const i = rows.children.length;
    const row = h("fieldset", { class: "template-row", "data-testid": "template-row" },
      h("legend", {}, `${t("template")} ${i + 1}`),
      field("template_name", input(`config.templates[${i}].name`, tpl.name, { "data-key": "name", autocomplete: "off" })),
      field("template_language", input(`config.templates[${i}].language`, tpl.language || "es", { "data-key": "language" })),
      field("template_body", h("textarea", { name: "body", "data-field": `config.templates[${i}].body`, "data-key": "body",
        "data-testid": testid(`config.templates[${i}].body`), rows: 2 }, tpl.body || "")),
      field("template_status", select(`config.templates[${i}].status`, statuses, tpl.status || "approved", { "data-key": "status" })),
      h("button", { type: "button", class: "secondary", "data-testid": "template-remove",
        onclick: () => { row.remove(); renumber(); } }, t("remove")));
    rows.append(row);
  };
  const renumber = () => [...rows.children].forEach((row, i) => {
    row.querySelector("legend").textContent = `${t("template")} ${i + 1}`;
    for (const el of row.querySelectorAll("[data-key]")) {
      el.dataset.field = `config.templates[${i}].${el.dataset.key}`;
      el.dataset.testid = testid(el.dataset.field);
    }
  });
  initial.forEach(add);
  inputs.templates = () => [...rows.children].map((row) => Object.fromEntries(
    [...row.querySelectorAll("[data-key]")].map((el) => [el.dataset.key, el.value.trim()])));
  return section("ch_templates", h("p", { class: "muted" }, t("ch_templates_help")), rows,
    h("button", { type: "button", class: "secondary", "data-testid": "template-add", onclick: () => add() }, `＋ ${t("template_add")}`));
}

// A voice channel's agents and their extensions (through Twilio: their number or client:<name>): click-to-call
// rings the agent's first, and an assigned inbound call is connected to it.
function extensionsEditor(inputs, initial) {
  const rows = h("div", { "data-testid": "extensions", "data-field": "config.agent_extensions" });
  const add = (agent = "", ext = "") => {
    const row = h("div", { class: "inline", "data-testid": "extension-row" },
      field("ch_agent", h("input", { "data-key": "agent", value: agent, autocomplete: "off", "data-testid": "extension-agent" })),
      field("ch_extension", h("input", { "data-key": "ext", value: ext, autocomplete: "off", "data-testid": "extension-number" })),
      h("button", { type: "button", class: "secondary", "data-testid": "extension-remove", onclick: () => row.remove() }, t("remove")));
    rows.append(row);
  };
  Object.entries(initial).forEach(([agent, ext]) => add(agent, ext));
  inputs.extensions = () => Object.fromEntries([...rows.children].map((row) => [
    row.querySelector('[data-key="agent"]').value.trim(), row.querySelector('[data-key="ext"]').value.trim()])
    .filter(([agent, ext]) => agent && ext));
  return section("ch_agent_extensions", rows,
    h("button", { type: "button", class: "secondary", "data-testid": "extension-add", onclick: () => add() }, `＋ ${t("ch_extension_add")}`));
}

// ---- campaigns ---------------------------------------------------------------------------------------
export function checkList(prefix, options, chosen, testPrefix) {
  const set = new Set(chosen || []);
  const box = h("div", { class: "checks", "data-field": prefix });
  for (const [value, text] of options) {
    box.append(h("label", { class: "check" }, h("input", {
      type: "checkbox", value, checked: set.has(value), "data-testid": `${testPrefix}-${value}`,
    }), text));
  }
  // The server names an item by its position in the list sent: number the checked boxes when collecting.
  box.collect = () => {
    const values = [];
    for (const el of box.querySelectorAll("input[type=checkbox]")) {
      el.removeAttribute("data-field");
      if (el.checked) { el.setAttribute("data-field", `${prefix}[${values.length}]`); values.push(el.value); }
    }
    return values;
  };
  return box;
}

// Seed 002's advanced configuration: Parámetros adicionales (routing limits and the service-level goal), Asignación
// usando cola, linked call queues, Opciones del caso, and the script and tabs.
const CASE_OPTIONS = ["combine_cases", "send_transcripts", "autocomplete", "interact_with_other_contact_data",
  "interactions_only_from_assigned_channels", "close_without_work_record", "close_without_customer_info",
  "transfer_notification", "show_other_campaigns_info", "mass_close_by_agents"];

function campaignExtras(c, r, campaignsAll) {
  const n = (key, value, attrs = {}) => input(`routing.${key}`, value, { type: "number", ...attrs });
  const slThreshold = n("service_level_threshold_s", r.service_level_threshold_s ?? 20, { min: 1 });
  const slTarget = n("service_level_target_pct", r.service_level_target_pct ?? 80, { min: 1, max: 100 });
  const missed = n("max_missed_offers", r.max_missed_offers ?? 3, { min: 1 });
  const stickyH = n("sticky_window_h", r.sticky_window_h ?? 72, { min: 1 });
  const maxWait = n("max_wait_s", r.max_wait_s, { min: 1, placeholder: t("optional") });
  const firstReply = n("first_reply_timeout_s", r.first_reply_timeout_s, { min: 1, placeholder: t("optional") });
  const release = n("release_rate_per_agent", r.release_rate_per_agent ?? 2, { min: 1 });
  const voice = input("routing.weights.voice", (r.weights || {}).voice ?? 3, { type: "number", min: 1 });
  const onOffline = select("routing.on_agent_offline", ["requeue", "keep"].map((x) => [x, t(`offline_${x}`)]), r.on_agent_offline || "requeue");
  const overflow = select("routing.overflow", ["none", "campaign", "close"].map((x) => [x, t(`overflow_${x}`)]), r.overflow || "none");
  const others = campaignsAll.filter((x) => x.id !== c.id).map((x) => [x.id, x.name || x.id]);
  const overflowTo = select("routing.overflow_campaign_id", [["", "—"], ...others], r.overflow_campaign_id || "");
  const queueAssign = checkbox("routing.queue_assignment", r.queue_assignment ?? true);
  const fallback = checkbox("routing.sticky_fallback", r.sticky_fallback ?? true);
  const inAcw = checkbox("routing.offer_in_after_call_work", r.offer_in_after_call_work ?? false);
  const linked = checkList("linked_campaigns", others, c.linked_campaigns || [], "linked");
  const co = c.case_options || {};
  const caseBoxes = Object.fromEntries(CASE_OPTIONS.map((k) => [k, checkbox(`case_options.${k}`, !!co[k])]));
  const domains = input("case_options.comment_email_domains", (co.comment_email_domains || []).join(", "), { placeholder: "example.com" });
  const script = h("textarea", { name: "script", "data-field": "script", "data-testid": "f-script", rows: 5 }, c.script || "");
  const tabs = (c.tabs || []).map((x) => ({ ...x }));
  const tabBox = h("div", { "data-field": "tabs" });
  const drawTabs = () => {
    clear(tabBox);
    tabs.forEach((tab, i) => tabBox.append(h("div", { class: "row" },
      field("name", input(`tabs[${i}].name`, tab.name, { oninput: (e) => { tab.name = e.target.value; } })),
      field("url_template", input(`tabs[${i}].url_template`, tab.url_template, { oninput: (e) => { tab.url_template = e.target.value; } })),
      h("button", { type: "button", class: "secondary", onclick: () => { tabs.splice(i, 1); drawTabs(); } }, t("remove")))));
    tabBox.append(h("button", { type: "button", class: "secondary", "data-testid": "add-tab",
      onclick: () => { tabs.push({ name: "", url_template: "https://" }); drawTabs(); } }, `+ ${t("add_tab")}`));
  };
  drawTabs();
  return {
    sections: [
      section("additional_parameters", h("div", { class: "grid2" },
        field("service_level_threshold_s", slThreshold), field("service_level_target_pct", slTarget),
        field("max_missed_offers", missed), field("sticky_window_h", stickyH), field("max_wait_s", maxWait),
        field("first_reply_timeout_s", firstReply), field("release_rate_per_agent", release), field("voice_weight", voice),
        field("on_agent_offline", onOffline), field("overflow", overflow), field("overflow_campaign_id", overflowTo))),
      section("queue_assignment", checkField("queue_assignment_on", queueAssign), checkField("sticky_fallback", fallback),
        checkField("offer_in_after_call_work", inAcw)),
      section("linked_queues", linked),
      section("case_options", h("div", { class: "grid2" }, CASE_OPTIONS.map((k) => checkField(`co_${k}`, caseBoxes[k]))),
        field("comment_email_domains", domains)),
      section("script_and_tabs", field("script", script), tabBox),
    ],
    routing: () => ({
      service_level_threshold_s: num(slThreshold.value), service_level_target_pct: num(slTarget.value),
      max_missed_offers: num(missed.value), sticky_window_h: num(stickyH.value), max_wait_s: num(maxWait.value),
      first_reply_timeout_s: num(firstReply.value), release_rate_per_agent: num(release.value),
      weights: { ...(r.weights || {}), voice: num(voice.value) }, on_agent_offline: onOffline.value,
      overflow: overflow.value, overflow_campaign_id: str(overflowTo.value),
      queue_assignment: queueAssign.checked, sticky_fallback: fallback.checked, offer_in_after_call_work: inAcw.checked,
    }),
    collect: () => ({
      linked_campaigns: linked.collect(),
      case_options: { ...co, ...Object.fromEntries(CASE_OPTIONS.map((k) => [k, caseBoxes[k].checked])),
        comment_email_domains: domains.value.split(/[,\s]+/).map((x) => x.trim()).filter(Boolean) },
      script: script.value.trim() ? script.value : null,
      tabs: tabs.map((x) => ({ name: x.name.trim(), url_template: x.url_template.trim() })),
    }),
  };
}

async function campaignForm(item) {
  const c = item || { status: "active", permissions: {}, routing: {}, out_of_hours: {}, custom_fields: [] };
  const [clients, channels, schedules, typs, fields, agents, sups, campaignsAll] = await Promise.all([
    fetchList("/clients?limit=500"), fetchList("/channels"), fetchList("/schedules?limit=500"),
    fetchList("/typifications?limit=500"), fetchList("/fields?limit=500"), fetchList("/users?role=agent"),
    fetchList("/users?role=supervisor"), fetchList("/campaigns?limit=500")]);
  const id = item ? null : input("id", "", { placeholder: t("optional") });
  const name = input("name", c.name);
  const client = select("client_id", [["", "—"], ...clients.map((x) => [x.id, x.name])], c.client_id);
  const project = select("project_id", [], "");
  const loadProjects = async () => {
    clear(project).append(h("option", { value: "" }, "—"));
    if (!client.value) return;
    for (const p of await fetchList(`/projects?client_id=${enc(client.value)}&limit=500`)) project.append(h("option", { value: p.id }, p.name));
    project.value = c.project_id || "";
  };
  client.addEventListener("change", loadProjects);
  await loadProjects();
  const status = select("status", ["active", "paused"].map((x) => [x, t(`st_${x}`)]), c.status === "paused" ? "paused" : "active");
  const chosenChannels = (c.channels || []).map((x) => (typeof x === "string" ? x : x.id));
  const chans = checkList("channels", channels.map((x) => [x.id, `${x.name || x.id} (${x.type})`]), chosenChannels, "channel");
  const schedule = select("schedule_id", [["", t("always_open")], ...schedules.map((x) => [x.id, x.name || x.id])], c.schedule_id);
  const ooh = c.out_of_hours || {};
  const oohAction = select("out_of_hours.action", ["queue", "close"].map((x) => [x, t(`ooh_${x}`)]), ooh.action || "queue");
  const oohSend = checkbox("out_of_hours.send_message", ooh.send_message);
  const oohMsg = input("out_of_hours.message", ooh.message);
  const typOptions = typs.map((x) => [x.id, typName(x)]);
  const closing = checkList("closing_typifications", typOptions, c.closing_typifications, "closing");
  const typSelect = (key) => select(key, [["", "—"], ...typOptions], c[key]);
  const inactivity = typSelect("inactivity_typification");
  const inactivityS = input("inactivity_timeout_s", c.inactivity_timeout_s, { type: "number", min: 1 });
  const transfer = typSelect("transfer_typification");
  const ignore = typSelect("ignore_comment_typification");
  const customs = (c.custom_fields || []).map((x) => ({ ...x }));
  const cfBox = h("div", { "data-field": "custom_fields" });
  const fieldOptions = [["", "—"], ...fields.map((f) => [f.key, f.label ? `${f.label} (${f.key})` : f.key])];
  const drawCustoms = () => {
    clear(cfBox);
    customs.forEach((cf, i) => {
      const p = `custom_fields[${i}]`;
      cfBox.append(h("div", { class: "row custom-field" },
        field("field", select(`${p}.key`, fieldOptions, cf.key, { onchange: (e) => { cf.key = e.target.value; } })),
        field("label", input(`${p}.label`, cf.label, { oninput: (e) => { cf.label = e.target.value; } })),
        field("integration_key", input(`${p}.integration_key`, cf.integration_key, { oninput: (e) => { cf.integration_key = e.target.value; } })),
        checkField("required", checkbox(`${p}.required`, cf.required, { onchange: (e) => { cf.required = e.target.checked; } })),
        h("button", { type: "button", class: "secondary", onclick: () => { customs.splice(i, 1); drawCustoms(); } }, t("remove"))));
    });
    cfBox.append(h("button", {
      type: "button", class: "secondary", "data-testid": "add-custom-field",
      onclick: () => { customs.push({ key: "", label: "", required: false }); drawCustoms(); },
    }, `+ ${t("add_field")}`));
  };
  drawCustoms();
  const perms = c.permissions || {};
  const permBoxes = Object.fromEntries(PERMISSIONS.map((k) => [k, checkbox(`permissions.${k}`, perms[k] ?? ["media", "emojis", "transfer_between_agents", "show_contact_number"].includes(k))]));
  const history = input("permissions.history_hours", perms.history_hours ?? 24, { type: "number", min: 0 });
  const agentList = checkList("agents", agents.map((u) => [u.id, `${u.display_name || u.id} (${u.username || u.id})`]), c.agents, "agent");
  const supList = checkList("supervisors", sups.map((u) => [u.id, `${u.display_name || u.id} (${u.username || u.id})`]), c.supervisors, "supervisor");
  const r = c.routing || {};
  const strategy = select("routing.strategy", ["longest_idle", "least_busy", "round_robin", "sticky"].map((x) => [x, t(`rs_${x}`)]), r.strategy || "longest_idle");
  const capacity = input("routing.agent_capacity", r.agent_capacity ?? 3, { type: "number", min: 1 });
  const priority = input("routing.priority", r.priority ?? 0, { type: "number" });
  const offerTimeout = input("routing.offer_timeout_s", r.offer_timeout_s, { type: "number", min: 1, placeholder: t("optional") });
  const extra = campaignExtras(c, r, campaignsAll);
  const body = h("div", {},
    section("general", id ? field("id", id) : null, field("name", name), field("client", client), field("project", project),
      field("status", status)),
    section("channels", chans),
    section("business_hours", field("schedule_ref", schedule), field("ooh_action", oohAction), checkField("ooh_send", oohSend),
      field("ooh_message", oohMsg)),
    section("typifications", h("p", { class: "muted" }, t("closing_typifications")), closing,
      field("inactivity_typification", inactivity), field("inactivity_timeout_s", inactivityS),
      field("transfer_typification", transfer), field("ignore_comment_typification", ignore)),
    section("custom_fields", cfBox),
    section("permissions", PERMISSIONS.map((k) => checkField(`perm_${k}`, permBoxes[k])), field("history_hours", history)),
    section("agents", agentList), section("supervisors", supList),
    section("routing", field("strategy", strategy), field("agent_capacity", capacity), field("priority", priority),
      field("offer_timeout_s", offerTimeout)),
    extra.sections);
  const collect = () => {
    const data = {
      name: name.value.trim(), client_id: client.value, project_id: project.value, status: status.value,
      channels: chans.collect().map((x) => ({ id: x })), schedule_id: str(schedule.value),
      out_of_hours: { ...ooh, action: oohAction.value, send_message: oohSend.checked, message: str(oohMsg.value.trim()) },
      closing_typifications: closing.collect(), inactivity_typification: str(inactivity.value),
      inactivity_timeout_s: num(inactivityS.value), transfer_typification: str(transfer.value),
      ignore_comment_typification: str(ignore.value),
      custom_fields: customs.map((cf) => ({ ...cf, label: cf.label || "", required: !!cf.required, integration_key: cf.integration_key || null })),
      permissions: { ...perms, ...Object.fromEntries(PERMISSIONS.map((k) => [k, permBoxes[k].checked])), history_hours: num(history.value) ?? 0 },
      agents: agentList.collect(), supervisors: supList.collect(),
      routing: { ...r, strategy: strategy.value, agent_capacity: num(capacity.value), priority: num(priority.value) ?? 0,
        offer_timeout_s: num(offerTimeout.value), ...extra.routing() },
      ...extra.collect(),
    };
    if (id && id.value.trim()) data.id = id.value.trim();
    return data;
  };
  return editor({ kind: "campaigns", item, body, collect });
}

// ---- the admin screens -------------------------------------------------------------------------------
export const FORMS = {
  campaigns: { form: campaignForm, list: "/campaigns?limit=500", label: (x) => x.name || x.id, listView: campaignSearch },
  schedules: { form: scheduleForm, list: "/schedules?limit=500", label: (x) => `${x.name || x.id} · ${x.timezone}` },
  typifications: { form: typificationForm },
  channels: { form: channelForm, list: "/channels", label: (x) => `${x.name || x.id} · ${x.address || ""}` },
  ...CATALOG_FORMS,
};

// The screen of one resource: its list (the typifications as a tree) and its form below.
export function formView(res, rerender) {
  done = rerender;
  setDone(rerender);
  const spec = FORMS[res];
  const listBox = h("div", { class: "list-panel", "data-testid": `list-${res}` });
  const formBox = h("div", { id: "editor" });
  let extra = [];
  const open = async (item) => {
    let full = item;
    if (item && res !== "typifications" && !spec.noFetch) {
      try { full = await api("GET", `/${res}/${enc(item.id)}`); } catch { full = item; }
    }
    clear(formBox).append(await spec.form(full, extra));
    formBox.scrollIntoView({ block: "start" });
  };
  (async () => {
    if (res === "typifications") extra = await typificationsView(listBox, open);
    else if (spec.listView) spec.listView(listBox, open);
    else listBox.append(h("div", {}, listRows(res, await fetchList(spec.list), spec.label, open)));
  })();
  return h("div", {}, h("button", { type: "button", "data-testid": "admin-new", onclick: () => open(null) }, t("new")), listBox, formBox);
}
