// Importaciones (admins, supervisors): upload a file, map its columns, run the import with a progress bar.
import { api, sendFile } from "../lib/api.js";
import { $, add, clear, h, labelled, toast } from "../lib/dom.js";
import { fmtTime, jobPercent } from "../lib/format.js";
import { clearErrors, errorText, getLang, showError, statusText, t, tOr } from "../lib/i18n.js";
import { currentCampaign } from "../state.js";
import { campaignPicker, downloadButton, enc, listPanel, snapshot } from "./common.js";

// The fields of the CRM's imports (services/crm/domain/imports.py); a campaign's custom fields follow.
const IMPORT_FIELDS = {
  import_contacts: ["name", "document", "phone", "phone_2", "email", "company", "assigned_user", "tags"],
  import_accounts: ["account_number", "document", "name", "phone", "phone_2", "email", "company", "product",
    "balance", "due_date", "assigned_user", "tags"],
};
const FINISHED = ["succeeded", "failed", "cancelled"];
const st = { kind: "import_contacts", upload: null, job: null };

export function importsView(scope, rerender) {
  const kind = h("select", { "data-testid": "import-kind", onchange: () => { st.kind = kind.value; rerender(); } },
    Object.keys(IMPORT_FIELDS).map((k) => h("option", { value: k }, t(k))));
  kind.value = st.kind;
  const needsCampaign = st.kind === "import_accounts";
  const file = h("input", { type: "file", accept: ".csv,.txt,.xlsx", name: "file", "data-field": "file", "data-testid": "import-file" });
  const err = h("p", { class: "error", "data-testid": "import-error", id: "import-error" });
  const mapping = h("div", { "data-testid": "import-mapping" });
  const job = h("div", { class: "card", "data-testid": "import-job", hidden: !st.job });
  const template = () => `/imports/template?${new URLSearchParams({ kind: st.kind, ...(needsCampaign && currentCampaign() ? { campaign_id: currentCampaign() } : {}) })}`;
  const view = h("div", { "data-testid": "imports" }, h("h2", {}, t("tab_imports")),
    h("div", { class: "toolbar" }, labelled(t("import_kind"), kind, { class: "inline" }),
      needsCampaign ? campaignPicker(() => rerender()) : null,
      downloadButton(t("download_template"), template(), `${st.kind}.xlsx`, "import-template")),
    h("div", { class: "toolbar" }, labelled(t("import_file"), file, { class: "inline" }),
      h("button", {
        type: "button", "data-testid": "import-upload",
        onclick: async () => {
          clear(err);
          const f = file.files[0];
          if (!f) { err.textContent = t("pick_file"); return; }
          try {
            st.upload = await sendFile(`/imports?${new URLSearchParams({ filename: f.name })}`, f);
            st.job = null;
            renderMapping(mapping, err, scope);
          } catch (ex) { showError(err, ex, view); }
        },
      }, t("upload"))),
    err, mapping, job,
    h("h3", {}, t("recent_processes")), h("div", { id: "process-list" }, recentProcesses()));
  if (st.upload) scope.later(0, () => renderMapping(mapping, err, scope));
  if (st.job) scope.later(0, () => watchJob(st.job.id, scope));
  return view;
}

function recentProcesses() {
  return listPanel("/processes?limit=10", (j) => h("div", { class: "card row", "data-testid": "process-row" },
    h("b", {}, t(j.kind)), h("span", {}, statusText(`job_${j.status}`)),
    h("progress", { max: 100, value: jobPercent(j), "aria-label": t("progress") }),
    h("small", {}, `${j.done ?? 0}/${j.total ?? "?"} · ${fmtTime(j.created_at, getLang())}`)));
}

async function renderMapping(box, err, scope) {
  const up = st.upload;
  clear(box);
  if (!up) return;
  const snap = st.kind === "import_accounts" ? await snapshot(currentCampaign()) : null;
  const prefix = st.kind === "import_accounts" ? "account." : "custom.";
  const targets = [...IMPORT_FIELDS[st.kind], ...(((snap && snap.custom_fields) || []).map((cf) => prefix + cf.key))];
  const norm = (x) => String(x || "").trim().toLowerCase();
  const selects = targets.map((target) => {
    const sel = h("select", { name: target, "data-field": `mapping.${target}`, "data-testid": `map-${target}` },
      h("option", { value: "" }, "—"), up.columns.map((c) => h("option", { value: c }, c)));
    sel.value = up.columns.find((c) => [norm(target), norm(t(`f_${target}`))].includes(norm(c))) || "";
    return [target, sel];
  });
  const dry = h("input", { type: "checkbox", "data-testid": "import-dry-run" });
  const cases = h("input", { type: "checkbox", "data-testid": "import-create-cases" });
  add(box, h("div", { class: "card" },
    h("p", { "data-testid": "import-file-info" }, `${up.filename} · ${up.format.toUpperCase()} · ${up.encoding}${up.delimiter ? ` · «${up.delimiter}»` : ""} · ${up.columns.length} ${t("columns")}`),
    up.sample && up.sample.length ? h("table", { class: "items sample" },
      h("thead", {}, h("tr", {}, up.columns.map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, up.sample.map((row) => h("tr", {}, row.map((v) => h("td", {}, v ?? "")))))) : null,
    h("h4", {}, t("column_mapping")),
    h("div", { class: "mapping", "data-field": "columns" }, selects.map(([target, sel]) => h("label", {}, tOr(`f_${target}`, target), sel))),
    h("label", { class: "check" }, dry, ` ${t("dry_run")}`),
    st.kind === "import_accounts" ? h("label", { class: "check" }, cases, ` ${t("create_cases")}`) : null,
    h("button", {
      type: "button", "data-testid": "import-start",
      onclick: async () => {
        clearErrors(box, err);
        const map = Object.fromEntries(selects.filter(([, sel]) => sel.value).map(([target, sel]) => [target, sel.value]));
        const params = { mode: "custom", mapping: map };
        if (st.kind === "import_accounts") Object.assign(params, { campaign_id: currentCampaign(), create_cases: cases.checked });
        try {
          st.job = await api("POST", "/processes", { kind: st.kind, upload_id: up.id, dry_run: dry.checked, params });
          watchJob(st.job.id, scope);
        } catch (ex) { showError(err, ex, box); }
      },
    }, t("import_start"))));
}

// Poll the process until it ends: the bar shows done/total, the counts what happened to the rows.
function watchJob(id, scope) {
  const box = $('[data-testid="import-job"]');
  if (!box) return;
  box.hidden = false;
  const bar = h("progress", { max: 100, value: 0, "data-testid": "import-progress", "aria-label": t("progress") });
  const status = h("b", { "data-testid": "import-status" });
  const counts = h("div", { class: "muted", "data-testid": "import-counts" });
  const cancel = h("button", { type: "button", class: "secondary", "data-testid": "import-cancel",
    onclick: () => api("POST", `/processes/${enc(id)}/cancel`).catch((ex) => toast(errorText(ex), "error")) }, t("cancel"));
  const outcome = downloadButton(t("download_outcome"), `/processes/${enc(id)}/outcome?format=csv`, `outcome-${id}.csv`, "import-outcome");
  outcome.hidden = true;
  const pct = h("span", { "data-testid": "import-percent" }, "0%");
  add(clear(box), h("div", {}, `${t("progress")}: `, bar, " ", pct, " · ", status), counts, cancel, outcome);
  const show = (j) => {
    const p = jobPercent(j);
    bar.value = p; pct.textContent = `${p}%`;
    status.textContent = statusText(`job_${j.status}`) + (j.dry_run ? ` (${t("dry_run")})` : "");
    clear(counts).append(`${j.done ?? 0}/${j.total ?? "?"} ${t("rows")}`,
      ...Object.entries(j.counts || {}).map(([k, v]) => ` · ${tOr(`count_${k}`, k)}: ${v}`),
      j.error ? ` · ${j.error}` : "");
    const over = FINISHED.includes(j.status);
    cancel.hidden = over; outcome.hidden = !over;
    return over;
  };
  let timer = null;
  const poll = async () => {
    try {
      const j = await api("GET", `/processes/${enc(id)}`);
      st.job = j;
      if (show(j)) {
        clearInterval(timer);
        const list = $("#process-list");
        if (list) add(clear(list), recentProcesses());
      }
    } catch (ex) { clearInterval(timer); toast(errorText(ex), "error"); }
  };
  timer = scope.every(500, poll);
  poll();
}
