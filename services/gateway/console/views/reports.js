// Informes (supervisors, admins): KPIs by day or by 15/30/60-minute interval, per campaign, agent or channel,
// from the durable record, with CSV/XLSX downloads; and the staffing forecast (Erlang C and A) beside the agents
// actually logged in.
import { api, download } from "../lib/api.js";
import { clear, h, labelled, toast } from "../lib/dom.js";
import { locale, ymd } from "../lib/format.js";
import { errorText, getLang, showError, t } from "../lib/i18n.js";
import { myCampaigns } from "../state.js";
import { ensureStyles } from "./supervisor.js";
import { clock, pct } from "./supervisor-format.js";

const COLUMNS = [["interval_start", "interval"], ["key", "group_key"], ["offered", "offered"], ["answered", "answered"],
  ["answered_within", "answered_within"], ["abandoned", "abandoned"], ["service_level", "service_level"],
  ["asa_s", "asa"], ["aht_s", "aht"], ["abandonment_rate", "abandonment"], ["occupancy", "occupancy"],
  ["transfers", "transfers"]];
const state = { from: "", to: "", interval: "60", group: "total", campaign: "", fday: "", finterval: "30", fcampaign: "" };

const field = (name, control) => { control.setAttribute("data-field", name); control.name = name; return control; };

export function reportsView() {
  ensureStyles();
  const today = ymd(new Date());
  const from = field("from", h("input", { type: "date", value: state.from || today, "data-testid": "rep-from" }));
  const to = field("to", h("input", { type: "date", value: state.to || today, "data-testid": "rep-to" }));
  const interval = field("interval", h("select", { "data-testid": "rep-interval" },
    [["15", "i15"], ["30", "i30"], ["60", "i60"], ["day", "by_day"]].map(([v, k]) => h("option", { value: v }, t(k)))));
  interval.value = state.interval;
  const group = field("group", h("select", { "data-testid": "rep-group" },
    ["total", "campaign", "agent", "channel"].map((g) => h("option", { value: g }, t(`group_${g}`)))));
  group.value = state.group;
  const campaign = field("campaign_id", h("select", { "data-testid": "rep-campaign" },
    h("option", { value: "" }, t("all_my_campaigns")), myCampaigns().map((c) => h("option", { value: c }, c))));
  campaign.value = state.campaign;
  const err = h("p", { class: "error", id: "rep-error", "data-testid": "rep-error", role: "alert" });
  const out = h("div", { "data-testid": "rep-result" });
  const form = h("form", { class: "toolbar", "data-testid": "rep-form" });
  const params = () => {
    Object.assign(state, { from: from.value, to: to.value, interval: interval.value, group: group.value, campaign: campaign.value });
    const p = { from: from.value, to: to.value, interval: interval.value, group: group.value,
      tz: Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC" };
    if (campaign.value) p.campaign_id = campaign.value;
    return p;
  };
  const run = async (e) => {
    if (e) e.preventDefault();
    clear(err);
    try {
      const data = await api("GET", `/reports/kpis?${new URLSearchParams(params())}`);
      clear(out).append(resultTable(data.items || []));
    } catch (ex) { showError(err, ex, form); }
  };
  form.addEventListener("submit", run);
  const save = (fmt) => h("button", {
    type: "button", class: "secondary", "data-testid": `rep-download-${fmt}`,
    onclick: () => download(`/reports/kpis?${new URLSearchParams({ ...params(), format: fmt })}`, `kpis.${fmt}`)
      .catch((ex) => toast(errorText(ex), "error")),
  }, `${t("download")} ${fmt.toUpperCase()}`);
  form.append(labelled(t("date_from"), from, { class: "inline" }), labelled(t("date_to"), to, { class: "inline" }),
    labelled(t("interval"), interval, { class: "inline" }), labelled(t("group_by"), group, { class: "inline" }),
    labelled(t("campaign"), campaign, { class: "inline" }),
    h("button", { type: "submit", "data-testid": "rep-run" }, t("consult")), save("csv"), save("xlsx"));
  return h("div", { "data-testid": "reports" }, h("h2", {}, t("tab_reports")), form, err, out, forecastSection());
}

function resultTable(rows) {
  const lang = getLang();
  if (!rows.length) return h("p", { class: "muted" }, t("no_items"));
  const cell = (key, v) => {
    if (key === "interval_start") return new Date(v).toLocaleString(locale(lang));
    if (["service_level", "abandonment_rate", "occupancy"].includes(key)) return pct(v, lang);
    if (key === "asa_s" || key === "aht_s") return clock(v);
    return v === "" ? t("total") : String(v ?? "—");
  };
  return h("table", { class: "items", "data-testid": "rep-table" },
    h("thead", {}, h("tr", {}, COLUMNS.map(([, label]) => h("th", { scope: "col" }, t(label))))),
    h("tbody", {}, rows.map((r) => h("tr", { "data-testid": "rep-row" }, COLUMNS.map(([key]) => h("td", { "data-col": key },
      cell(key, r[key])))))));
}

function forecastSection() {
  const camps = myCampaigns();
  const campaign = field("campaign_id", h("select", { "data-testid": "fc-campaign" }, camps.map((c) => h("option", { value: c }, c))));
  campaign.value = state.fcampaign || camps[0] || "";
  const day = field("date", h("input", { type: "date", value: state.fday || ymd(new Date()), "data-testid": "fc-date" }));
  const interval = field("interval", h("select", { "data-testid": "fc-interval" },
    [["15", "i15"], ["30", "i30"], ["60", "i60"]].map(([v, k]) => h("option", { value: v }, t(k)))));
  interval.value = state.finterval;
  const err = h("p", { class: "error", id: "fc-error", "data-testid": "fc-error", role: "alert" });
  const out = h("div", { "data-testid": "fc-result" });
  const form = h("form", { class: "toolbar", "data-testid": "fc-form" },
    labelled(t("campaign"), campaign, { class: "inline" }), labelled(t("date"), day, { class: "inline" }),
    labelled(t("interval"), interval, { class: "inline" }), h("button", { type: "submit", "data-testid": "fc-run" }, t("consult")));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clear(err);
    Object.assign(state, { fcampaign: campaign.value, fday: day.value, finterval: interval.value });
    try {
      const data = await api("GET", `/reports/forecast?${new URLSearchParams({ campaign_id: campaign.value, date: day.value,
        interval: interval.value, tz: Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC" })}`);
      clear(out).append(forecastTable(data));
    } catch (ex) { showError(err, ex, form); }
  });
  return h("section", { "data-testid": "forecast" }, h("h3", {}, t("forecast")), h("p", { class: "muted" }, t("forecast_help")),
    form, err, out);
}

function forecastTable(data) {
  const lang = getLang();
  const rows = (data.items || []).filter((r) => r.offered || r.logged_in);
  const summary = h("p", { "data-testid": "fc-summary" }, fillSummary(data, lang));
  if (!rows.length) return h("div", {}, summary, h("p", { class: "muted" }, t("no_items")));
  return h("div", {}, summary, h("table", { class: "items", "data-testid": "fc-table" },
    h("thead", {}, h("tr", {}, ["interval", "offered", "aht", "load_erlangs", "agents_c", "sl_c", "agents_a", "abandon_a",
      "logged_in"].map((k) => h("th", { scope: "col" }, t(k))))),
    h("tbody", {}, rows.map((r) => {
      const c = r.erlang_c || {}; const a = r.erlang_a || {};
      const short = c.agents !== undefined && r.logged_in < c.agents;
      return h("tr", { "data-testid": "fc-row" },
        h("td", {}, new Date(r.start).toLocaleTimeString(locale(lang), { hour: "2-digit", minute: "2-digit" })),
        h("td", {}, r.offered), h("td", {}, clock(r.aht_s)), h("td", {}, r.load_erlangs ?? "—"),
        h("td", { "data-col": "erlang_c", class: short ? "bad" : "" }, c.agents ?? "—"), h("td", {}, pct(c.service_level, lang)),
        h("td", { "data-col": "erlang_a" }, a.agents ?? "—"), h("td", {}, pct(a.abandonment, lang)),
        h("td", { "data-col": "logged_in" }, r.logged_in));
    }))));
}

function fillSummary(data, lang) {
  return `${t("target")} ${data.target_pct}/${data.threshold_s} · ${t("aht")} ${clock(data.aht_s)} · ${t("patience")} ${clock(data.patience_s)}`
    + ` · ${new Date(`${data.date}T12:00:00`).toLocaleDateString(locale(lang))}`;
}
