// Procesos (supervisors, admins): every bulk process of seed 000, and seed 002's account import, each on its own
// screen: a form with the seed's filters, a live count where the seed implies one (recycling), a progress bar
// with a cancel button, the per-row outcome download, and the history of past runs with who and when.
import { api, authed, sendFile } from "../lib/api.js";
import { clear, h, labelled, toast } from "../lib/dom.js";
import { fmtTime, items, jobPercent, localIso } from "../lib/format.js";
import { clearErrors, errorText, getLang, showError, stateText, t } from "../lib/i18n.js";
import { myCampaigns } from "../state.js";
import { downloadButton, enc } from "./common.js";
import { accountImportForm } from "./processes-import.js";
import { ensureStyles } from "./supervisor.js";

export const PROCESSES = ["recycle", "reprocess", "reassign_callbacks", "field_usage", "import_contacts",
  "import_details", "import_updates", "import_accounts", "associate_list", "dissociate_list", "mass_close"];
const FINISHED = ["succeeded", "failed", "cancelled"];
let current = "recycle";

// ---- small form pieces (each control carries the server's field path in data-field) ------------------
export const ctl = (tag, name, attrs = {}, ...children) =>
  h(tag, { name, "data-field": name, "data-testid": `p-${name.replace(/^params\./, "")}`, ...attrs }, ...children);
export const row = (label, control) => labelled(label, control);

export async function options(path, label = (x) => x.name || x.id) {
  try { return items(await api("GET", path)).map((x) => [x.id, label(x)]); } catch { return []; }
}

export function multi(name, opts) {
  return ctl("select", name, { multiple: true, size: Math.min(6, Math.max(3, opts.length)) },
    opts.map(([v, text]) => h("option", { value: v }, text)));
}
export const picked = (sel) => [...sel.selectedOptions].map((o) => o.value);
export const single = (name, opts, empty = true) => ctl("select", name, {},
  empty ? h("option", { value: "" }, "—") : null, opts.map(([v, text]) => h("option", { value: v }, text)));
const num = (el) => (el.value === "" ? null : Number(el.value));
const when = (el) => (el.value ? localIso(el.value) : null);

// ---- the screen --------------------------------------------------------------------------------------
export function processesView(scope, rerender) {
  ensureStyles();
  const nav = h("nav", { class: "subnav", "aria-label": t("tab_processes") }, PROCESSES.map((k) => h("button", {
    type: "button", class: k === current ? "active" : "", "aria-pressed": String(k === current), "data-testid": `proc-${k}`,
    onclick: () => { current = k; rerender(); },
  }, t(`proc_${k}`))));
  const body = h("div", { "data-testid": `process-${current}` }, h("p", { class: "muted" }, "…"));
  const history = h("div", { "data-testid": "proc-history" });
  (async () => {
    const form = await FORMS[current](scope);
    clear(body).append(h("h3", {}, t(`proc_${current}`)), h("p", { class: "muted" }, t(`proc_${current}_help`)), form);
    showHistory(history, current);
  })();
  return h("div", { "data-testid": "processes" }, h("h2", {}, t("tab_processes")), nav, body,
    h("h3", {}, t("history")), history);
}

// A process form: `collect()` gives {params, upload_id?}; Ejecutar runs it and follows its progress.
export function processForm(kind, scope, fields, collect, { extra = null } = {}) {
  const err = h("p", { class: "error", id: `err-${kind}`, "data-testid": "proc-error", role: "alert" });
  const progress = h("div", { "data-testid": "proc-progress" });
  const form = h("form", { class: "admin-form", "data-testid": `form-${kind}` }, fields, extra,
    h("label", { class: "check" }, ctl("input", "dry_run", { type: "checkbox" }), t("dry_run")),
    h("button", { type: "submit", "data-testid": "proc-run" }, t("run")), err, progress);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors(form, err);
    try {
      const { params, upload_id } = await collect();
      const body = { kind, params, dry_run: form.querySelector("[name=dry_run]").checked };
      if (upload_id) body.upload_id = upload_id;
      const job = await api("POST", "/processes", body);
      follow(job, progress, scope);
    } catch (ex) { showError(err, ex, form); }
  });
  return form;
}

// Progress bar, counts, cancel, then the outcome download (and, for the finder, its matches on screen).
export function follow(job, box, scope) {
  const bar = h("progress", { max: 100, value: jobPercent(job), "data-testid": "proc-bar", "aria-label": t("progress") });
  const text = h("span", { "data-testid": "proc-status", role: "status" });
  const cancel = h("button", {
    type: "button", class: "secondary", "data-testid": "proc-cancel",
    onclick: async () => { try { show(await api("POST", `/processes/${enc(job.id)}/cancel`)); } catch (ex) { toast(errorText(ex), "error"); } },
  }, t("cancel_process"));
  const tail = h("div", {});
  clear(box).append(h("div", { class: "progress-box" }, bar, text, cancel), tail);
  let stopped = false;
  scope.on(() => { stopped = true; });
  const show = (j) => {
    bar.value = jobPercent(j);
    const counts = Object.entries(j.counts || {}).map(([k, v]) => `${stateText("outcome", k)}: ${v}`).join(" · ");
    text.textContent = `${stateText("job", j.status)} — ${j.done || 0}/${j.total ?? "?"}${counts ? ` · ${counts}` : ""}`
      + (j.error ? ` · ${j.error}` : "");
    if (FINISHED.includes(j.status)) {
      cancel.hidden = true;
      stopped = true;
      clear(tail).append(downloadButton(`${t("outcome")} CSV`, `/processes/${enc(j.id)}/outcome?format=csv`, `outcome-${j.id}.csv`, "proc-outcome-csv"),
        downloadButton(`${t("outcome")} XLSX`, `/processes/${enc(j.id)}/outcome?format=xlsx`, `outcome-${j.id}.xlsx`, "proc-outcome-xlsx"));
      if (j.kind === "field_usage") showMatches(j.id, tail);
      const hist = document.querySelector('[data-testid="proc-history"]');
      if (hist) showHistory(hist, j.kind);
    }
  };
  show(job);
  const poll = async () => {
    if (stopped) return;
    try { show(await api("GET", `/processes/${enc(job.id)}`)); } catch { /* a blip: the next poll tries again */ }
    if (!stopped) setTimeout(poll, 600);
  };
  setTimeout(poll, 300);
}

async function showMatches(id, box) {
  const res = await authed(`/processes/${enc(id)}/outcome?format=csv`, { method: "GET" });
  if (!res.ok) return;
  const lines = (await res.text()).replace(/^\ufeff/, "").trim().split(/\r?\n/).slice(1);
  box.append(h("ul", { "data-testid": "finder-matches" }, lines.length ? lines.map((l) => h("li", {}, csvCells(l)[2] || l))
    : h("li", { class: "muted" }, t("no_items"))));
}

// The cells of one CSV line (quotes doubled inside quoted cells).
export function csvCells(line) {
  const out = []; let cur = ""; let quoted = false;
  for (let i = 0; i < line.length; i += 1) {
    const c = line[i];
    if (quoted && c === '"' && line[i + 1] === '"') { cur += '"'; i += 1; } else if (c === '"') quoted = !quoted;
    else if (c === "," && !quoted) { out.push(cur); cur = ""; } else cur += c;
  }
  out.push(cur);
  return out;
}

async function showHistory(box, kind) {
  clear(box).append(h("p", { class: "muted" }, "…"));
  try {
    const jobs = items(await api("GET", `/processes?${new URLSearchParams({ kind, limit: "20" })}`));
    if (!box.isConnected) return;
    clear(box);
    if (!jobs.length) { box.append(h("p", { class: "muted" }, t("no_items"))); return; }
    box.append(h("table", { class: "items", "data-testid": "proc-history-table" },
      h("thead", {}, h("tr", {}, ["when", "who", "state", "progress", "outcome"].map((k) => h("th", { scope: "col" }, t(k))))),
      h("tbody", {}, jobs.map((j) => h("tr", { "data-testid": "proc-history-row" },
        h("td", {}, fmtTime(j.created_at, getLang())), h("td", {}, j.created_by),
        h("td", {}, stateText("job", j.status) + (j.dry_run ? ` (${t("dry_run")})` : "")),
        h("td", {}, `${j.done || 0}/${j.total ?? "?"}`),
        h("td", {}, downloadButton("CSV", `/processes/${enc(j.id)}/outcome?format=csv`, `outcome-${j.id}.csv`, "history-outcome")))))));
  } catch (ex) { clear(box).append(h("p", { class: "error" }, errorText(ex))); }
}

// An uploaded file (raw body with its name): the CRM stores it and answers its columns.
export async function uploadFile(input) {
  const f = input.files[0];
  if (!f) { const e = new Error(t("pick_file")); e.field = "file"; throw e; }
  return sendFile(`/imports?${new URLSearchParams({ filename: f.name })}`, f);
}

// ---- the forms -----------------------------------------------------------------------------------------
async function recycleForm(scope, kind) {
  const [lists, users, typs] = await Promise.all([options("/lists"), options("/users?role=agent", (u) => u.display_name || u.username),
    options("/typifications?limit=500", (x) => x.label || [x.category, x.subcategory].filter(Boolean).join(" / "))]);
  const list = single("params.list_id", lists);
  const lt = ctl("input", "params.attempts_lt", { type: "number", min: 0 });
  const gt = ctl("input", "params.attempts_gt", { type: "number", min: 0 });
  const who = multi("params.users", users);
  const from = ctl("input", "params.last_contact_from", { type: "datetime-local" });
  const to = ctl("input", "params.last_contact_to", { type: "datetime-local" });
  const subs = multi("params.typifications", typs);
  const count = h("output", { "data-testid": "recycle-count", "aria-live": "polite" }, "—");
  const params = () => ({ list_id: list.value, attempts_lt: num(lt), attempts_gt: num(gt), users: picked(who),
    last_contact_from: when(from), last_contact_to: when(to), typifications: picked(subs) });
  const recount = async () => {
    if (!list.value) { count.textContent = "—"; return; }
    const p = params();
    const q = Object.fromEntries(Object.entries({ ...p, users: p.users.join(","), typifications: p.typifications.join(",") })
      .filter(([, v]) => v !== null && v !== ""));
    try { count.textContent = `${(await api("GET", `/processes/recycle-count?${new URLSearchParams(q)}`)).count} ${t("contacts_to_process")}`; } catch (ex) { count.textContent = errorText(ex); }
  };
  const fields = h("div", { class: "grid2" }, row(t("base"), list), row(t("attempts_lt"), lt), row(t("attempts_gt"), gt),
    row(t("users"), who), row(t("last_contact_from"), from), row(t("last_contact_to"), to), row(t("subcategories"), subs),
    h("p", {}, `${t("live_count")}: `, count));
  fields.addEventListener("change", recount);
  fields.addEventListener("input", recount);
  return processForm(kind, scope, fields, async () => ({ params: params() }));
}

async function reassignForm(scope) {
  const users = await options("/users", (u) => `${u.display_name || u.username} (${u.username})`);
  const from = multi("params.from_users", users);
  const to = multi("params.to_users", users);
  return processForm("reassign_callbacks", scope, h("div", { class: "grid2" }, row(t("callbacks_of"), from), row(t("reassign_to"), to)),
    async () => ({ params: { from_users: picked(from), to_users: picked(to) } }));
}

async function finderForm(scope) {
  const fieldsCatalog = await options("/fields?limit=500", (x) => `${x.label} (${x.key})`);
  const mode = ctl("select", "mode", {}, h("option", { value: "field" }, t("by_object")), h("option", { value: "text" }, t("by_text")));
  const obj = ctl("input", "params.field", { list: "finder-fields" });
  const text = ctl("input", "params.text", { hidden: true });
  const camp = single("params.campaign_id", myCampaigns().map((c) => [c, c]));
  const objRow = row(t("object"), obj);
  const textRow = row(t("text_fragment"), text);
  textRow.hidden = true;
  mode.addEventListener("change", () => { objRow.hidden = mode.value !== "field"; textRow.hidden = mode.value !== "text"; text.hidden = textRow.hidden; });
  return processForm("field_usage", scope, h("div", { class: "grid2" }, row(t("search_by"), mode), objRow,
    h("datalist", { id: "finder-fields" }, fieldsCatalog.map(([k]) => h("option", { value: k }))), textRow, row(t("campaign"), camp)),
  async () => ({ params: mode.value === "field" ? { field: obj.value.trim(), campaign_id: camp.value || null }
    : { text: text.value.trim(), campaign_id: camp.value || null } }));
}

function fileRow(accept = ".csv,.txt,.xlsx,.xls,.xlsb,.ods") {
  return ctl("input", "file", { type: "file", accept });
}

async function entitiesForm(scope) {
  const [lists] = await Promise.all([options("/lists")]);
  const file = fileRow();
  const key = ctl("select", "params.dedup_key", {}, ["document", "phone", "email"].map((k) => h("option", { value: k }, t(`key_${k}`))));
  const list = single("params.list_id", lists);
  const replace = ctl("input", "params.replace_duplicates", { type: "checkbox" });
  return processForm("import_contacts", scope, h("div", { class: "grid2" },
    h("p", {}, downloadButton(t("download_template"), "/imports/template?kind=import_contacts", "import_contacts.xlsx", "template-entities")),
    row(t("import_file"), file), row(t("match_key"), key), row(t("base"), list),
    h("label", { class: "check" }, replace, t("replace_duplicates"))),
  async () => ({ upload_id: (await uploadFile(file)).id, params: { dedup_key: key.value, list_id: list.value || null,
    replace_duplicates: replace.checked } }));
}

// Detalles (seed 000): the batch, the contact's key, and the entity the details land on: the contact's own
// fields, or its account in the batch's campaign. The template follows all three.
async function detailsForm(scope) {
  let batches = [];
  try { batches = items(await api("GET", "/batches")); } catch { /* no batch to offer: the CRM says why on run */ }
  const file = fileRow();
  const batch = single("params.batch_id", batches.map((b) => [b.id, b.name || b.id]));
  const key = ctl("input", "params.key", { list: "detail-keys", value: "document" });
  const entity = ctl("select", "params.entity", {}, ["contact", "account"].map((k) => h("option", { value: k }, t(`entity_${k}`))));
  const hint = h("p", { class: "muted", "data-testid": "entity-help", "aria-live": "polite" });
  const templateBox = h("p", {});
  const refresh = () => {
    const q = { kind: "import_details", entity: entity.value, key: key.value.trim() || "document" };
    const campaign = batches.find((b) => b.id === batch.value)?.campaign_id;
    if (campaign) q.campaign_id = campaign;
    hint.textContent = t(`entity_${entity.value}_help`);
    clear(templateBox).append(downloadButton(t("download_template"), `/imports/template?${new URLSearchParams(q)}`,
      "import_details.xlsx", "template-details"));
  };
  for (const el of [batch, key, entity]) el.addEventListener("change", refresh);
  refresh();
  return processForm("import_details", scope, h("div", { class: "grid2" }, templateBox,
    row(t("import_file"), file), row(t("batch"), batch), row(t("match_key"), key), row(t("entity"), entity), hint,
    h("datalist", { id: "detail-keys" }, ["document", "phone", "email", "name"].map((k) => h("option", { value: k })))),
  async () => ({ upload_id: (await uploadFile(file)).id,
    params: { batch_id: batch.value, key: key.value.trim(), entity: entity.value } }));
}

const UPDATE_FIELDS = ["document", "name", "company", "assigned_user", "tags", "phone", "email"];

async function updatesForm(scope) {
  const extra = (await options("/fields?limit=500", (x) => x.label)).map(([k, label]) => [`custom.${k}`, label]);
  const all = [...UPDATE_FIELDS.map((k) => [k, t(`key_${k}`)]), ...extra];
  const keys = multi("params.keys", all);
  const fields = multi("params.fields", all);
  const company = ctl("input", "company");
  const list = single("list_id", await options("/lists"));
  const q = ctl("input", "q");
  const file = fileRow();
  const templateBox = h("p", {});
  const build = h("button", {
    type: "button", class: "secondary", "data-testid": "build-update-template",
    onclick: () => {
      const params = { kind: "import_updates", keys: picked(keys).join(","), fields: picked(fields).join(",") };
      for (const [k, el] of [["company", company], ["list_id", list], ["q", q]]) if (el.value) params[k] = el.value;
      clear(templateBox).append(downloadButton(t("download_template"), `/imports/template?${new URLSearchParams(params)}`,
        "import_updates.xlsx", "template-updates"));
      templateBox.querySelector("button").click();
    },
  }, t("build_template"));
  return processForm("import_updates", scope, h("div", {},
    h("fieldset", {}, h("legend", {}, t("update_template")), h("div", { class: "grid2" },
      row(t("key_fields"), keys), row(t("update_fields"), fields), row(t("search_text"), q), row(t("company"), company),
      row(t("base"), list)), build, templateBox),
    row(t("import_file"), file)),
  async () => ({ upload_id: (await uploadFile(file)).id, params: { keys: picked(keys), fields: picked(fields) } }));
}

async function associateForm(scope, kind) {
  const [lists, batches, typs] = await Promise.all([options("/lists"), options("/batches"),
    options("/typifications?limit=500", (x) => x.label || [x.category, x.subcategory].filter(Boolean).join(" / "))]);
  const list = single("params.list_id", lists);
  const batch = single("params.batch_id", batches);
  const subs = kind === "dissociate_list" ? multi("params.typifications", typs) : null;
  return processForm(kind, scope, h("div", { class: "grid2" }, row(t("base"), list), row(t("batch"), batch),
    subs ? row(t("subcategories"), subs) : null),
  async () => ({ params: { list_id: list.value, batch_id: batch.value || null, ...(subs ? { typifications: picked(subs) } : {}) } }));
}

async function massCloseForm(scope) {
  const typs = await options("/typifications?limit=500", (x) => x.label || [x.category, x.subcategory].filter(Boolean).join(" / "));
  const file = fileRow(".csv,.txt,.xlsx,.xls,.xlsb,.ods");
  const typ = single("params.typification_id", typs);
  // A supervisor closes within a campaign of theirs; empty (every campaign) is for admins.
  const camp = single("params.campaign_id", myCampaigns().map((c) => [c, c]));
  return processForm("mass_close", scope, h("div", { class: "grid2" }, row(t("import_file"), file), row(t("subcategory"), typ),
    row(t("campaign"), camp), h("p", { class: "muted" }, t("mass_close_file"))),
  async () => ({ upload_id: (await uploadFile(file)).id,
    params: { typification_id: typ.value || null, campaign_id: camp.value || null } }));
}

const FORMS = {
  recycle: (scope) => recycleForm(scope, "recycle"),
  reprocess: (scope) => recycleForm(scope, "reprocess"),
  reassign_callbacks: reassignForm,
  field_usage: finderForm,
  import_contacts: entitiesForm,
  import_details: detailsForm,
  import_updates: updatesForm,
  import_accounts: (scope) => accountImportForm(scope),
  associate_list: (scope) => associateForm(scope, "associate_list"),
  dissociate_list: (scope) => associateForm(scope, "dissociate_list"),
  mass_close: massCloseForm,
};
