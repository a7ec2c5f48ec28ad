// Historial (seed 001, 5): the activity of a contact or of the agent, filterable by kind (calls,
// conversations, tickets, actions), type (entrantes / salientes), dates, contact, disposition, agent,
// company, call center (campaign) and list; calls downloadable. Each list comes from its own scoped route.
import { api, download } from "../lib/api.js";
import { clear, h } from "../lib/dom.js";
import { duration, fmtTime, items, query } from "../lib/format.js";
import { clearErrors, getLang, showError, stateText, t } from "../lib/i18n.js";
import { store } from "../state.js";
import { actionTypeNames } from "./catalog-inputs.js";
import { agentFilter, choiceFilter, contactFilter, dateFilter, filterQuery, textFilter } from "./filters.js";
import { quickActions } from "./quick.js";

const KINDS = ["call", "conversation", "ticket", "action", "comment"];

export function historyView() {
  const preset = store.get("historyContact");
  const kinds = KINDS.map((k) => h("input", { type: "checkbox", name: "kinds", value: k, checked: true, "data-testid": `history-kind-${k}` }));
  const [typeBox, type] = choiceFilter("call_type", "type", [["all", t("calls_all")], ["in", t("calls_in")], ["out", t("calls_out")]], "all");
  const [fromBox, from] = dateFilter("start", "from");
  const [toBox, to] = dateFilter("end", "to", true);
  const [contactBox, contact] = contactFilter(preset);
  const [dispBox, disposition] = textFilter("disposition_filter", "disposition");
  const [agentBox, agent] = agentFilter();
  const [companyBox, company] = textFilter("company", "company");
  const [campBox, campaign] = textFilter("call_center", "campaign_id");
  const [listBox, list] = textFilter("list", "list_id");
  const inputs = { from, to, contact_id: contact, agent_id: agent, company };
  const callInputs = { ...inputs, type, disposition, campaign_id: campaign, list_id: list };
  const results = h("div", { class: "results", "data-testid": "history-results", "aria-live": "polite" });
  const err = h("p", { class: "error", id: "history-error", "data-testid": "history-error" });
  const form = h("form", {
    class: "filters", role: "search", "data-testid": "history-filters",
    onsubmit: (e) => { e.preventDefault(); search(form, kinds, inputs, callInputs, results, err); },
  }, h("fieldset", { class: "checks" }, h("legend", {}, t("history_kinds")),
    kinds.map((el) => h("label", { class: "check" }, el, t(`kinds_${el.value}`)))),
  h("fieldset", {}, h("legend", {}, t("filter")), typeBox, fromBox, toBox, contactBox, dispBox, agentBox, companyBox, campBox, listBox),
  h("button", { type: "submit", "data-testid": "history-search" }, t("search")),
  h("button", {
    type: "button", class: "secondary", "data-testid": "history-download",
    onclick: () => download(`/calls/export?${filterQuery(callInputs, { format: "xlsx" })}`, "llamadas.xlsx")
      .catch((ex) => showError(err, ex, form)),
  }, t("download_calls")), err);
  search(form, kinds, inputs, callInputs, results, err);
  if (preset) store.update({ historyContact: null });
  return h("div", { "data-testid": "history-panel" }, h("h2", {}, t("tab_history")), form, results);
}

async function search(form, kindBoxes, inputs, callInputs, box, err) {
  clearErrors(form, err);
  const wanted = new Set(kindBoxes.filter((k) => k.checked).map((k) => k.value));
  const common = filterQuery(inputs, { limit: 100 });
  const fetches = {
    call: () => api("GET", `/calls?${filterQuery(callInputs, { limit: 100 })}`),
    conversation: () => api("GET", `/cases?${query({ contact_id: inputs.contact_id.toQuery(), agent_id: inputs.agent_id.value.trim(), limit: 100 })}`),
    ticket: () => api("GET", `/tickets?${common}&status=all`),
    action: () => api("GET", `/actions?${common}&status=all`),
    comment: () => api("GET", `/comments?${common}`),
  };
  let rows;
  try {
    const lists = await Promise.all([...wanted].map(async (k) => items(await fetches[k]()).map((x) => ({ kind: k, item: x }))));
    rows = lists.flat();
  } catch (ex) { showError(err, ex, form); return; }
  const at = (r) => r.item.started_at || r.item.opened_at || r.item.created_at || r.item.at || "";
  rows.sort((a, b) => String(at(b)).localeCompare(String(at(a))));
  const typeName = await actionTypeNames();
  clear(box);
  if (!rows.length) { box.append(h("p", { class: "muted" }, t("no_items"))); return; }
  for (const r of rows) box.append(row(r.kind, r.item, at(r), typeName));
}

function row(kind, x, when, typeName) {
  const lang = getLang();
  let title;
  let detail;
  if (kind === "call") {
    title = `${x.direction === "out" ? t("call_out") : t("call_in")} ${fmtTime(when, lang)}`;
    detail = `${t("call_center")}: ${x.campaign_id || "—"} · ${t("agent")}: ${x.agent_id || "—"} → ${x.phone || ""} (${duration(x.duration_s)})`
      + `${x.disposition ? ` · ${t("disposition")}: ${x.disposition}` : ""}${x.comment ? ` · ${t("comment")}: ${x.comment}` : ""}`;
  } else if (kind === "conversation") {
    title = `${t("kind_conversation")} ${x.channel_type || ""} ${fmtTime(when, lang)}`;
    detail = `${stateText("conv", x.status)} · ${t("agent")}: ${x.agent_id || "—"}${x.typification_id ? ` · ${x.typification_id}` : ""}`;
  } else if (kind === "ticket") {
    title = `${t("ticket")}: ${x.subject} ${fmtTime(when, lang)}`;
    detail = `${stateText("ticket", x.status)} · ${t("agent")}: ${x.agent_id || "—"}`;
  } else if (kind === "comment") {
    title = `${t(x.kind === "email" ? "kind_comment_email" : "kind_comment")} ${fmtTime(when, lang)}`;
    detail = `${x.body || ""} · ${t("agent")}: ${x.actor || "—"}${x.title ? ` · ${x.title}` : ""}`;
  } else {
    title = `${t("action")}: ${typeName(x.kind)}${x.subject ? ` · ${x.subject}` : ""} ${fmtTime(when, lang)}`;
    detail = `${stateText("action", x.status)} · ${t("ticket")}: ${x.ticket_subject || ""}`;
  }
  const out = kind === "call" && x.direction === "out";
  return h("article", { class: `card result history ${kind} ${kind === "call" ? (out ? "outbound" : "inbound") : ""}`, "data-testid": "history-row", "data-kind": kind },
    h("h3", {}, title), h("p", {}, detail), x.contact_name ? h("p", {}, `${t("contact")}: ${x.contact_name}`) : null,
    quickActions({ contact_id: x.contact_id, contact_name: x.contact_name, phone: x.phone || x.contact_address }));
}
