// The quick actions every list offers (seed 001): Click2Dial, ver información del contacto, crear ticket,
// ver historial, enviar SMS/WhatsApp como chat; and the dialogs they open.
import { api } from "../lib/api.js";
import { h, labelled, toast } from "../lib/dom.js";
import { clearErrors, showError, t } from "../lib/i18n.js";
import { me, store } from "../state.js";
import { actionTypePicker } from "./catalog-inputs.js";
import { dial, enc } from "./common.js";
import { startDialog } from "./start.js";

// A modal dialog (the browser's <dialog>: focus kept inside, Escape closes it), removed once closed.
export function openDialog(title, ...body) {
  const dialog = h("dialog", { class: "dialog", "aria-label": title },
    h("div", { class: "dialog-head" }, h("h2", {}, title),
      h("button", { type: "button", class: "secondary", "data-testid": "dialog-close", onclick: () => dialog.close() }, t("close"))),
    ...body);
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  return dialog;
}

const firstPhone = (c) => ((c && c.phones) || []).map((p) => p.number || p.value || p)[0] || "";

// target: {contact_id?, phone?, contact_name?}
export function quickActions(target) {
  const phone = target.phone || "";
  const who = target.contact_name || phone || "";
  const button = (key, icon, onclick, disabled = false) => h("button", {
    type: "button", class: "quick secondary", "data-testid": `qa-${key}`, "aria-label": `${t(`qa_${key}`)} ${who}`.trim(),
    title: t(`qa_${key}`), disabled, onclick,
  }, icon);
  return h("span", { class: "quick-actions", role: "group", "aria-label": t("quick_actions") },
    button("dial", "📞", () => dial(phone, target.contact_id ? { contact_id: target.contact_id } : {}), !phone),
    button("contact", "👤", () => contactDialog(target.contact_id), !target.contact_id),
    button("ticket", "🎫", () => ticketDialog(target), !target.contact_id),
    button("history", "🕘", () => store.update({ tab: "history", historyContact: { id: target.contact_id, name: who } }),
      !target.contact_id),
    button("chat", "💬", () => openChat(target), !phone && !target.contact_id));
}

// "Enviar SMS/WhatsApp en forma de chat": the agent's open conversation with the contact; without one, the
// "Nueva conversación" dialog to start it (a WhatsApp template outside the 24-hour window).
function openChat(target) {
  const phone = (target.phone || "").replace(/[^\d+]/g, "");
  for (const [id, c] of store.get("convs")) {
    if ((phone && (c.contact_address || "").replace(/[^\d+]/g, "") === phone) || (target.contact_id && c.contact_id === target.contact_id)) {
      store.update({ selected: id, tab: "conversations" });
      return;
    }
  }
  startDialog(target);
}

export async function contactDialog(contactId) {
  let c;
  try { c = await api("GET", `/contacts/${enc(contactId)}`); } catch (ex) { toast(ex.message, "error"); return; }
  const err = h("p", { class: "error", id: "contact-dialog-error", "data-testid": "contact-dialog-error" });
  const input = (key, value) => h("input", { name: key, "data-field": key, "data-testid": `contact-${key}`, value: value || "" });
  const fields = { name: input("name", c.name), document: input("document", c.document), company: input("company", c.company) };
  const form = h("form", {
    class: "form", "data-testid": "contact-dialog",
    onsubmit: async (e) => {
      e.preventDefault();
      clearErrors(form, err);
      try {
        await api("PATCH", `/contacts/${enc(contactId)}`, Object.fromEntries(Object.entries(fields).map(([k, el]) => [k, el.value.trim() || null])));
        toast(t("saved"));
        dialog.close();
      } catch (ex) { showError(err, ex, form); }
    },
  }, Object.entries(fields).map(([k, el]) => labelled(t(k), el)),
  h("p", {}, `${t("phone")}: `, ((c.phones || []).map((p) => p.number || p)).join(", ") || "—"),
  h("p", {}, `${t("email")}: `, ((c.emails || []).map((p) => p.address || p)).join(", ") || "—"),
  c.last_activity_at ? h("p", {}, `${t("last_activity")}: ${c.last_activity_at}`) : null,
  h("button", { type: "submit", "data-testid": "contact-dialog-save" }, t("save")), err);
  const dialog = openDialog(`${t("contact")}: ${c.name || firstPhone(c) || c.id}`, form);
}

// A new ticket for a contact, with any number of actions (seed 001, 1.3.3).
export function ticketDialog(target, onDone) {
  const err = h("p", { class: "error", id: "ticket-dialog-error", "data-testid": "ticket-error" });
  const subject = h("input", { name: "subject", "data-field": "subject", "data-testid": "ticket-subject" });
  const description = h("textarea", { name: "description", "data-field": "description", "data-testid": "ticket-description", rows: 3 });
  const priority = prioritySelect("priority", "ticket-priority");
  const actions = h("div", { class: "ticket-actions", "data-testid": "ticket-actions" });
  const addAction = () => actions.append(actionEditor(actions.children.length));
  const form = h("form", {
    class: "form", novalidate: true, "data-testid": "ticket-form",
    onsubmit: async (e) => {
      e.preventDefault();
      clearErrors(form, err);
      const body = { contact_id: target.contact_id, subject: subject.value.trim(), description: description.value,
        priority: priority.value, agent_id: me().id, actions: [...actions.children].map(readAction) };
      if (target.call_id) body.call_id = target.call_id;
      if (target.case_id) body.case_id = target.case_id;
      try {
        const ticket = await api("POST", "/tickets", body);
        toast(t("ticket_created"));
        dialog.close();
        if (onDone) onDone(ticket);
      } catch (ex) { showError(err, ex, form); }
    },
  }, labelled(t("subject"), subject), labelled(t("description"), description), labelled(t("priority"), priority),
  h("h3", {}, t("actions_title")), actions,
  h("button", { type: "button", class: "secondary", "data-testid": "ticket-add-action", onclick: addAction }, `+ ${t("add_action")}`),
  h("button", { type: "submit", "data-testid": "ticket-save" }, t("create_ticket")), err);
  const dialog = openDialog(`${t("new_ticket")}: ${target.contact_name || ""}`, form);
  return dialog;
}

export function prioritySelect(field, testid, value = "medium") {
  const sel = h("select", { name: field, "data-field": field, "data-testid": testid },
    ["low", "medium", "high"].map((p) => h("option", { value: p }, t(`priority_${p}`))));
  sel.value = value;
  return sel;
}

// One action of a new ticket: its type (the catalog's) with its form, subject, status (Pendiente / Realizado),
// priority, due date.
function actionEditor(i) {
  const prefix = `actions[${i}]`;
  const kind = actionTypePicker(prefix, "action-kind");
  const subject = h("input", { name: "subject", "data-field": `${prefix}.subject`, "data-testid": "action-subject" });
  const status = h("select", { name: "status", "data-field": `${prefix}.status`, "data-testid": "action-status" },
    ["pending", "done"].map((s) => h("option", { value: s }, t(`action_${s}`))));
  const due = h("input", { type: "datetime-local", name: "due_at", "data-field": `${prefix}.due_at`, "data-testid": "action-due" });
  const box = h("fieldset", { class: "action-editor" }, h("legend", {}, `${t("action")} ${i + 1}`),
    labelled(t("action_kind"), kind.select), kind.box, labelled(t("subject"), subject), labelled(t("state"), status),
    labelled(t("priority"), prioritySelect(`${prefix}.priority`, "action-priority")), labelled(t("due_at"), due),
    h("button", { type: "button", class: "secondary", onclick: () => box.remove() }, t("remove")));
  box.readAction = () => {
    const out = { ...kind.read(), subject: subject.value.trim(), status: status.value,
      priority: box.querySelector('[data-testid="action-priority"]').value, agent_id: me().id };
    if (due.value) out.due_at = new Date(due.value).toISOString();
    return out;
  };
  return box;
}

function readAction(box) {
  return box.readAction();
}
