// Llamadas (seed 001, 1): click-to-call; calls not yet saved (kept 24 h) with their parametrization
// (contact match, disposition, comment, ticket, attachments) and "Salvar llamada"; the call history,
// inbound in green and outbound in blue, with the quick actions.
import { api } from "../lib/api.js";
import { clear, h, labelled, toast } from "../lib/dom.js";
import { duration, fmtTime, items, query } from "../lib/format.js";
import { clearErrors, getLang, showError, t } from "../lib/i18n.js";
import { mapSet } from "../lib/store.js";
import { isAgent, me, store } from "../state.js";
import { dispositionOptions } from "./catalog-inputs.js";
import { callbackForm, campaignPicker, enc, listPanel, placeCall, snapshot } from "./common.js";
import { quickActions, ticketDialog } from "./quick.js";
import { attachmentsPanel } from "./tickets.js";

const calls = { type: "all" };

export function callsView(scope, rerender) {
  const number = h("input", { name: "phone", "data-field": "phone", "data-testid": "call-number", type: "tel" });
  const kind = h("select", { "data-testid": "calls-type", onchange: () => { calls.type = kind.value; rerender(); } },
    ["all", "in", "out"].map((x) => h("option", { value: x }, t(`calls_${x}`))));
  kind.value = calls.type;
  const err = h("p", { class: "error", "data-testid": "call-error", id: "call-error" });
  const form = h("form", {
    class: "toolbar",
    onsubmit: async (e) => {
      e.preventDefault();
      clear(err);
      try {
        const made = await placeCall(number.value.trim());
        store.update({ dialed: made, calls: mapSet(store.get("calls") || new Map(), made.id, { ...made, direction: "out" }) });
        rerender();
      } catch (ex) { showError(err, ex, form); }
    },
  }, campaignPicker(() => rerender()), labelled(t("number"), number, { class: "inline" }),
  h("button", { type: "submit", "data-testid": "call-submit" }, `📞 ${t("call")}`), err);
  scope.on(store.subscribe(["dialed"], () => rerender()));
  const q = new URLSearchParams({ type: calls.type });
  const mine = (c) => c.agent_id === me().id || !isAgent();
  return h("div", { "data-testid": "calls-panel" }, h("h2", {}, t("tab_calls")), form,
    h("section", { "aria-label": t("unsaved_calls") }, h("h3", {}, t("unsaved_calls")),
      listPanel("/calls/pending", (c) => callCard(c, rerender, true, "pending"), { empty: "no_unsaved_calls", testid: "pending-calls" })),
    h("h3", {}, t("call_history")), labelled(t("show"), kind, { class: "inline" }),
    listPanel(`/calls?${q}`, (c) => callCard(c, rerender, mine(c), "call"), { testid: "call-list" }));
}

function callCard(c, rerender, canSave, prefix) {
  const out = c.direction === "out";
  return h("article", { class: `card call ${out ? "outbound" : "inbound"}`, "data-testid": `${prefix}-${out ? "out" : "in"}`, "data-call-id": c.id },
    h("b", { class: "direction" }, out ? `↗ ${t("outbound")}` : `↙ ${t("inbound")}`), " ",
    h("span", { class: "who" }, c.contact_name || ""), " ", h("span", {}, c.phone),
    h("small", {}, ` ${fmtTime(c.started_at, getLang())} · ${duration(c.duration_s)}`),
    c.disposition ? h("span", { class: "pill done" }, c.disposition) : h("span", { class: "pill pending" }, t("unclassified")),
    quickActions({ contact_id: c.contact_id, phone: c.phone, contact_name: c.contact_name }),
    canSave ? parametrize(c, rerender) : null);
}

// Parametrización (1.3): the contact (one, several or none), the disposition, a comment, a ticket,
// attachments; then "Salvar llamada" (the classification).
function parametrize(c, rerender) {
  const attrs = { name: "disposition", "data-field": "disposition", "data-testid": "classify-disposition" };
  let result = h("select", attrs, h("option", { value: "" }, "—"));
  // The campaign's dispositions (seed 001 1.3.1, with their follow-ups), else its closing typifications.
  snapshot(c.campaign_id).then(async (snap) => {
    const options = await dispositionOptions(c.campaign_id, snap);
    if (options.length) {
      clear(result).append(h("option", { value: "" }, "—"), ...options.map((o) => h("option", { value: o.value },
        o.follow_up && o.follow_up.kind !== "none" ? `${o.label} (${t(`follow_${o.follow_up.kind}`)})` : o.label)));
      result.value = c.disposition || "";
    } else { // no campaign dispositions to choose from: the result is written
      const free = h("input", { ...attrs, value: c.disposition || "" });
      result.replaceWith(free); result = free;
    }
  });
  const mail = commentEmail(c);
  const comment = h("textarea", { name: "comment", "data-field": "comment", "data-testid": "classify-comment", rows: 2 }, c.comment || "");
  const contact = contactMatch(c);
  const err = h("p", { class: "error", "data-testid": "classify-error", id: `classify-error-${c.id}` });
  const form = h("form", {
    class: "form classify", novalidate: true,
    onsubmit: async (e) => {
      e.preventDefault();
      clearErrors(form, err);
      const body = { disposition: result.value, comment: comment.value.trim() || null };
      const contactId = contact.chosen();
      if (contactId) body.contact_id = contactId;
      const email = mail.read();
      if (email) body.email = email;
      try {
        const saved = await api("PUT", `/calls/${enc(c.id)}/classification`, body);
        toast(saved && saved.follow_up ? `${t("call_saved")} · ${t(`follow_${saved.follow_up.kind}`)}` : t("call_saved"));
        rerender();
      } catch (ex) { showError(err, ex, form); }
    },
  }, contact.box, h("label", {}, t("disposition"), result), h("label", {}, t("comment"), comment), mail.box,
  h("button", { type: "button", class: "secondary", "data-testid": "call-ticket",
    onclick: () => { const id = contact.chosen(); if (id) ticketDialog({ contact_id: id, call_id: c.id, contact_name: c.contact_name }); else toast(t("pick_contact_first"), "error"); } },
  `🎫 ${t("qa_ticket")}`),
  h("button", { type: "submit", "data-testid": "classify-submit" }, t("save_call")), err);
  const details = h("details", { class: "classify", "data-testid": "classify" }, h("summary", {}, t("parametrize")), form,
    c.contact_id ? callbackForm({ contact_id: c.contact_id, campaign_id: c.campaign_id || undefined }) : null);
  details.addEventListener("toggle", () => {
    if (details.open && !details.dataset.loaded) {
      details.dataset.loaded = "1";
      api("GET", `/calls/${enc(c.id)}`).then((full) => form.insertBefore(
        attachmentsPanel(`/calls/${enc(c.id)}/attachments`, full.attachments || [], rerender), err)).catch(() => {});
    }
  });
  return details;
}

// 1.3.2 "Comentario": CC, BCC, "Enviar correo con el comentario al contacto", the call's attachments and
// "Agregar los cargos de la llamada al correo" (with the campaign's rate, e.g. "10 col / segundo").
function commentEmail(c) {
  const send = h("input", { type: "checkbox", "data-testid": "email-send" });
  const cc = h("input", { name: "cc", "data-field": "email.cc", "data-testid": "email-cc" });
  const bcc = h("input", { name: "bcc", "data-field": "email.bcc", "data-testid": "email-bcc" });
  const charges = h("input", { type: "checkbox", "data-field": "email.charges", "data-testid": "email-charges" });
  const files = h("div", { "data-testid": "email-attachments" });
  const chargesLabel = h("span", {}, t("add_charges"));
  const list = (v) => v.split(/[,;\s]+/).map((x) => x.trim()).filter(Boolean);
  api("GET", `/calls/${enc(c.id)}`).then((full) => {
    if (full.charges) chargesLabel.textContent = `${t("add_charges")} (${full.charges.rate} ${full.charges.currency} / ${t(`per_${full.charges.per}`)}: ${full.charges.amount} ${full.charges.currency})`;
    else charges.disabled = true;
    for (const a of full.attachments || []) {
      files.append(h("label", { class: "check" }, h("input", { type: "checkbox", value: a.id, "data-testid": "email-attachment" }), ` 📎 ${a.filename}`));
    }
  }).catch(() => {});
  const box = h("fieldset", { class: "comment-email", "data-testid": "comment-email" }, h("legend", {}, t("comment_email")),
    h("label", { class: "check" }, send, ` ${t("send_comment_email")}`),
    labelled(t("email_cc"), cc), labelled(t("email_bcc"), bcc), files,
    h("label", { class: "check" }, charges, " ", chargesLabel));
  return {
    box,
    read: () => (send.checked ? { cc: list(cc.value), bcc: list(bcc.value), charges: charges.checked,
      attachments: [...files.querySelectorAll("input:checked")].map((x) => x.value) } : null),
  };
}

// The contact of a call (1.3.5): the contacts holding its number: one, several (choose one) or none
// (create a contact with the number, or add the number to an existing contact).
function contactMatch(c) {
  let chosen = c.contact_id || null;
  const box = h("fieldset", { class: "contact-match", "data-testid": "call-contact" }, h("legend", {}, t("contact")));
  const status = h("p", { "data-testid": "call-contact-status" }, c.contact_name || (c.contact_id ? c.contact_id : "…"));
  box.append(status);
  if (!c.contact_id) {
    api("GET", `/contacts/match?${query({ phone: c.phone })}`).then((m) => {
      const found = (m && m.contacts) || [];
      if (found.length === 1) { chosen = found[0].id; status.textContent = found[0].name || found[0].id; return; }
      if (found.length > 1) {
        status.textContent = t("several_contacts");
        const name = `match-${c.id}`;
        box.append(h("div", { role: "radiogroup", "aria-label": t("choose_contact") }, found.map((x) => h("label", { class: "check" },
          h("input", { type: "radio", name, value: x.id, "data-testid": "call-contact-choice", onchange: () => { chosen = x.id; } }),
          `${x.name || x.id}${x.company ? ` · ${x.company}` : ""}`))));
        return;
      }
      status.textContent = t("no_contact_for_number");
      const newName = h("input", { name: "name", "data-testid": "call-contact-name" });
      const existing = h("input", { name: "existing", "data-testid": "call-contact-existing" });
      const err = h("p", { class: "error", id: `call-contact-err-${c.id}` });
      box.append(labelled(t("new_contact_name"), newName), h("button", {
        type: "button", class: "secondary", "data-testid": "call-contact-create",
        onclick: async () => {
          try {
            const made = await api("POST", "/contacts", { name: newName.value.trim() || null, phones: [c.phone] });
            chosen = made.id; status.textContent = made.name || made.id; toast(t("saved"));
          } catch (ex) { showError(err, ex, box); }
        },
      }, t("create_contact")), labelled(t("existing_contact"), existing), h("button", {
        type: "button", class: "secondary", "data-testid": "call-contact-add-number",
        onclick: async () => {
          try {
            const list = items(await api("GET", `/contacts?${query({ q: existing.value.trim(), limit: 1 })}`));
            if (!list.length) { err.textContent = t("contact_not_found"); return; }
            await api("POST", `/contacts/${enc(list[0].id)}/addresses`, { kind: "phone", value: c.phone });
            chosen = list[0].id; status.textContent = list[0].name || list[0].id; toast(t("saved"));
          } catch (ex) { showError(err, ex, box); }
        },
      }, t("add_number")), err);
    }).catch(() => { status.textContent = "—"; });
  }
  return { box, chosen: () => chosen };
}
