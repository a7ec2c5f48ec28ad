// Acciones (seed 001, 3): ticket actions across tickets by estado, inicio, fin, contacto, agente, prioridad
// and compañía; pending in red, done in green; editing keeps a change log (bitácora) in the comments.
import { api } from "../lib/api.js";
import { h, labelled, toast } from "../lib/dom.js";
import { fmtTime } from "../lib/format.js";
import { clearErrors, getLang, showError, stateText, t } from "../lib/i18n.js";
import { actionTypeName } from "./catalog-inputs.js";
import { enc } from "./common.js";
import { agentFilter, choiceFilter, contactFilter, dateFilter, runSearch, textFilter } from "./filters.js";
import { prioritySelect, quickActions } from "./quick.js";

export function actionsView() {
  const [statusBox, status] = choiceFilter("state", "status",
    [["pending", t("actions_pending")], ["done", t("actions_done")], ["cancelled", t("actions_cancelled")], ["all", t("all")]], "pending");
  const [fromBox, from] = dateFilter("start", "from");
  const [toBox, to] = dateFilter("end", "to", true);
  const [contactBox, contact] = contactFilter();
  const [agentBox, agent] = agentFilter();
  const [prioBox, priority] = choiceFilter("priority", "priority",
    [["", t("any")], ["low", t("priority_low")], ["medium", t("priority_medium")], ["high", t("priority_high")]], "");
  const [companyBox, company] = textFilter("company", "company");
  const inputs = { status, from, to, contact_id: contact, agent_id: agent, priority, company };
  const results = h("div", { class: "results", "data-testid": "actions-results", "aria-live": "polite" });
  const err = h("p", { class: "error", id: "actions-error", "data-testid": "actions-error" });
  const form = h("form", {
    class: "filters", role: "search", "data-testid": "actions-filters",
    onsubmit: (e) => { e.preventDefault(); search(form, inputs, results, err); },
  }, h("fieldset", {}, h("legend", {}, t("filter")), statusBox, fromBox, toBox, contactBox, agentBox, prioBox, companyBox),
  h("button", { type: "submit", "data-testid": "actions-search" }, t("search")), err);
  search(form, inputs, results, err);
  return h("div", { "data-testid": "actions-panel" }, h("h2", {}, t("tab_actions")), form, results);
}

function search(form, inputs, box, err) {
  return runSearch("/actions", form, inputs, box, err, (a) => actionCard(a, () => search(form, inputs, box, err)));
}

export function actionCard(a, refresh) {
  const status = h("select", { name: "status", "data-field": "status", "data-testid": "action-edit-status" },
    ["pending", "done", "cancelled"].map((s) => h("option", { value: s }, t(`action_${s}`))));
  status.value = a.status;
  const priority = prioritySelect("priority", "action-edit-priority", a.priority);
  const comment = h("input", { name: "comment", "data-field": "comment", "data-testid": "action-edit-comment" });
  const err = h("p", { class: "error", id: `action-err-${a.id}`, "data-testid": "action-edit-error" });
  const form = h("form", {
    class: "toolbar", novalidate: true,
    onsubmit: async (e) => {
      e.preventDefault();
      clearErrors(form, err);
      const body = {};
      if (status.value !== a.status) body.status = status.value;
      if (priority.value !== a.priority) body.priority = priority.value;
      if (comment.value.trim()) body.comment = comment.value.trim();
      try {
        await api("PATCH", `/actions/${enc(a.id)}`, body);
        toast(t("saved"));
        refresh();
      } catch (ex) { showError(err, ex, form); }
    },
  }, labelled(t("state"), status, { class: "inline" }), labelled(t("priority"), priority, { class: "inline" }),
  labelled(t("log_comment"), comment, { class: "inline" }),
  h("button", { type: "submit", "data-testid": "action-edit-save" }, t("save")), err);
  const title = h("h3", { "data-testid": "action-title" }, `${a.kind}${a.subject ? ` · ${a.subject}` : ""}`);
  actionTypeName(a.kind).then((name) => { title.textContent = `${name}${a.subject ? ` · ${a.subject}` : ""}`; });
  return h("article", { class: `card result action ${a.status}`, "data-testid": "action-row", "data-action-id": a.id, "data-status": a.status },
    title,
    h("p", {}, h("span", { class: `pill ${a.status}` }, stateText("action", a.status)), " ",
      `${t("ticket")}: ${a.ticket_subject || a.ticket_id} · ${t("contact")}: ${a.contact_name || "—"} · `,
      `${t("priority")}: ${t(`priority_${a.priority}`)} · ${a.agent_id || "—"} · ${fmtTime(a.created_at, getLang())}`,
      a.due_at ? ` · ${t("due_at")}: ${fmtTime(a.due_at, getLang())}` : ""),
    quickActions({ contact_id: a.contact_id, contact_name: a.contact_name }),
    h("details", {}, h("summary", { "data-testid": "action-edit" }, t("edit")), form));
}
