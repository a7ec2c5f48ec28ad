// Tickets (seed 001, 4): search by estado, fechas, contacto, agente and compañía; red with a pending action,
// green without; the ticket view shows its actions and forms, attachments and log, and closes the ticket.
import { api, download, sendFile } from "../lib/api.js";
import { clear, h, labelled, toast } from "../lib/dom.js";
import { fmtTime } from "../lib/format.js";
import { clearErrors, errorText, getLang, showError, stateText, t } from "../lib/i18n.js";
import { actionCard } from "./actions.js";
import { actionTypePicker, formFacts } from "./catalog-inputs.js";
import { enc } from "./common.js";
import { agentFilter, choiceFilter, contactFilter, dateFilter, runSearch, textFilter } from "./filters.js";
import { openDialog, prioritySelect, quickActions } from "./quick.js";

export function ticketsView() {
  const [statusBox, status] = choiceFilter("state", "status",
    [["open", t("tickets_open")], ["closed", t("tickets_closed")], ["all", t("all")]], "open");
  const [fromBox, from] = dateFilter("start", "from");
  const [toBox, to] = dateFilter("end", "to", true);
  const [contactBox, contact] = contactFilter();
  const [agentBox, agent] = agentFilter();
  const [companyBox, company] = textFilter("company", "company");
  const inputs = { status, from, to, contact_id: contact, agent_id: agent, company };
  const results = h("div", { class: "results", "data-testid": "tickets-results", "aria-live": "polite" });
  const err = h("p", { class: "error", id: "tickets-error", "data-testid": "tickets-error" });
  const form = h("form", {
    class: "filters", role: "search", "data-testid": "tickets-filters",
    onsubmit: (e) => { e.preventDefault(); search(form, inputs, results, err); },
  }, h("fieldset", {}, h("legend", {}, t("filter")), statusBox, fromBox, toBox, contactBox, agentBox, companyBox),
  h("button", { type: "submit", "data-testid": "tickets-search" }, t("search")), err);
  search(form, inputs, results, err);
  return h("div", { "data-testid": "tickets-panel" }, h("h2", {}, t("tab_tickets")), form, results);
}

function search(form, inputs, box, err) {
  const refresh = () => search(form, inputs, box, err);
  return runSearch("/tickets", form, inputs, box, err, (tk) => h("article", { class: `card result ticket ${tk.pending ? "has-pending" : "no-pending"}`, "data-testid": "ticket-row",
      "data-ticket-id": tk.id, "data-pending": String(!!tk.pending) },
    h("h3", {}, tk.subject),
    h("p", {}, h("span", { class: `pill ${tk.status}` }, stateText("ticket", tk.status)), " ",
      tk.pending ? h("span", { class: "pill pending" }, t("has_pending")) : h("span", { class: "pill done" }, t("no_pending")),
      ` · ${t("contact")}: ${tk.contact_name || "—"} · ${t("priority")}: ${t(`priority_${tk.priority}`)} · ${tk.agent_id || "—"} · ${fmtTime(tk.created_at, getLang())}`),
    quickActions({ contact_id: tk.contact_id, contact_name: tk.contact_name }),
    h("button", { type: "button", "data-testid": "ticket-open", onclick: () => ticketView(tk.id, refresh) }, t("open_ticket"))));
}

// One ticket: its actions (each editable), a new action, forms, attachments, the change log, and closing.
export async function ticketView(id, refresh) {
  let tk;
  try { tk = await api("GET", `/tickets/${enc(id)}`); } catch (ex) { toast(errorText(ex), "error"); return; }
  const body = h("div", { "data-testid": "ticket-view", "data-ticket-id": id });
  const reload = async () => { dialog.close(); if (refresh) refresh(); await ticketView(id, refresh); };
  const closeErr = h("p", { class: "error", id: `ticket-close-err-${id}`, "data-testid": "ticket-close-error" });
  const statusField = h("span", { "data-field": "status", tabindex: "-1" }, stateText("ticket", tk.status));
  const closeBtn = h("button", {
    type: "button", "data-testid": "ticket-close",
    onclick: async () => {
      clearErrors(body, closeErr);
      try { await api("PATCH", `/tickets/${enc(id)}`, { status: tk.status === "closed" ? "open" : "closed" }); toast(t("saved")); reload(); }
      catch (ex) { showError(closeErr, ex, body); }
    },
  }, tk.status === "closed" ? t("reopen_ticket") : t("close_ticket"));
  body.append(
    h("p", {}, `${t("state")}: `, statusField, ` · ${t("priority")}: ${t(`priority_${tk.priority}`)} · ${tk.agent_id || "—"}`),
    tk.description ? h("p", {}, tk.description) : null,
    h("h3", {}, t("actions_title")),
    h("div", { "data-testid": "ticket-view-actions" }, (tk.actions || []).map((a) => actionCard({ ...a, ticket_subject: tk.subject, contact_id: tk.contact_id }, reload))),
    newActionForm(id, reload),
    h("h3", {}, t("forms")),
    formFacts(tk.forms),
    attachmentsPanel(`/tickets/${enc(id)}/attachments`, tk.attachments || [], reload),
    h("h3", {}, t("log")),
    h("ul", { class: "history", "data-testid": "ticket-log" }, (tk.log || []).map((e) => h("li", {},
      `${fmtTime(e.at, getLang())} · ${e.actor || ""} · ${tOrAction(e.action)} ${e.changes && e.changes.comment ? `· ${e.changes.comment}` : ""}`))),
    closeBtn, closeErr);
  const dialog = openDialog(`${t("ticket")}: ${tk.subject}`, body);
}

const tOrAction = (a) => stateText("log", a);

function newActionForm(ticketId, reload) {
  const kind = actionTypePicker("", "new-action-kind");
  const subject = h("input", { name: "subject", "data-field": "subject", "data-testid": "new-action-subject" });
  const priority = prioritySelect("priority", "new-action-priority");
  const due = h("input", { type: "datetime-local", name: "due_at", "data-field": "due_at", "data-testid": "new-action-due" });
  const err = h("p", { class: "error", id: `new-action-err-${ticketId}`, "data-testid": "new-action-error" });
  const form = h("form", {
    class: "form", novalidate: true,
    onsubmit: async (e) => {
      e.preventDefault();
      clearErrors(form, err);
      const body = { ...kind.read(), subject: subject.value.trim(), priority: priority.value };
      if (due.value) body.due_at = new Date(due.value).toISOString();
      try { await api("POST", `/tickets/${enc(ticketId)}/actions`, body); toast(t("saved")); reload(); }
      catch (ex) { showError(err, ex, form); }
    },
  }, labelled(t("action_kind"), kind.select), kind.box, labelled(t("subject"), subject), labelled(t("priority"), priority),
  labelled(t("due_at"), due), h("button", { type: "submit", "data-testid": "new-action-save" }, `+ ${t("add_action")}`), err);
  return h("details", {}, h("summary", { "data-testid": "new-action-open" }, `+ ${t("add_action")}`), form);
}

// Attachments of an item: each downloadable through the gateway; a file picked (or dropped) is uploaded.
export function attachmentsPanel(uploadPath, list, reload) {
  const file = h("input", { type: "file", name: "file", "data-field": "file", "data-testid": "attachment-file" });
  const err = h("p", { class: "error", id: `att-err-${Math.random().toString(36).slice(2)}`, "data-testid": "attachment-error" });
  const upload = async (f) => {
    clear(err);
    try {
      const form = new FormData();
      form.append("file", f, f.name); // multipart: the file keeps its name and type, whatever the type
      await sendFile(uploadPath, form);
      toast(t("attachment_added"));
      reload();
    } catch (ex) { showError(err, ex, box); }
  };
  const box = h("section", { class: "attachments dropzone", "data-testid": "attachments", "aria-label": t("attachments") },
    h("h3", {}, t("attachments")),
    list.length ? h("ul", {}, list.map((a) => h("li", {}, h("button", {
      type: "button", class: "link", "data-testid": "attachment-download", "data-attachment-id": a.id,
      onclick: () => download(`/attachments/${enc(a.id)}`, a.filename).catch((ex) => toast(errorText(ex), "error")),
    }, `📎 ${a.filename}`), ` (${Math.ceil((a.size || 0) / 1024)} KB)`))) : h("p", { class: "muted" }, t("no_attachments")),
    labelled(t("add_attachment"), file),
    h("button", { type: "button", class: "secondary", "data-testid": "attachment-upload",
      onclick: () => { if (file.files[0]) upload(file.files[0]); else err.textContent = t("pick_file"); } }, t("upload")),
    err);
  box.addEventListener("dragover", (e) => { e.preventDefault(); box.classList.add("over"); });
  box.addEventListener("dragleave", () => box.classList.remove("over"));
  box.addEventListener("drop", (e) => {
    e.preventDefault();
    box.classList.remove("over");
    for (const f of e.dataTransfer.files) upload(f);
  });
  return box;
}
