// Conversations: the agent's live list and one conversation (messages, reply, contact, transfer, close).
import { api, download } from "../lib/api.js";
import { $, add, clear, h, labelled, toast } from "../lib/dom.js";
import { fmtTime, items, maskNumber, withinHours } from "../lib/format.js";
import { clearErrors, errorText, getLang, showError, stateText, statusText, t } from "../lib/i18n.js";
import { mapDelete, mapMerge } from "../lib/store.js";
import { isAgent, me, myCampaigns, store } from "../state.js";
import { workspacePanel } from "./alerts.js";
import { galleryPanel } from "./gallery.js";
import { applyPrefill, customFields, enc, fieldValues, snapshot, typificationOptions } from "./common.js";
import { emojiPicker } from "./emoji.js";
import { startDialog } from "./start.js";
import { attachedList, mediaPicker } from "./reply-media.js";

export const transferring = new Set();

export async function loadConversations() {
  try {
    const data = await api("GET", "/conversations");
    let convs = store.get("convs");
    for (const c of items(data)) convs = mapMerge(convs, c.id, c);
    store.update({ convs });
  } catch (ex) { toast(errorText(ex), "error"); }
}

export function upsertConv(id, data) {
  store.update({ convs: mapMerge(store.get("convs"), id, data) });
}

export function removeConv(id) {
  const patch = { convs: mapDelete(store.get("convs"), id) };
  if (store.get("selected") === id) patch.selected = null;
  store.update(patch);
}

export function select(id) {
  const convs = store.get("convs");
  const patch = { selected: id, tab: "conversations" };
  if (convs.has(id)) patch.convs = mapMerge(convs, id, { unread: 0 });
  store.update(patch);
}

// A live message: counted as unread unless its conversation is open, shown at once if it is.
export function onMessage(ev) {
  const convs = store.get("convs");
  const conv = convs.get(ev.conversation_id);
  if (conv) {
    const unread = store.get("selected") !== ev.conversation_id && ev.direction !== "out" ? (conv.unread || 0) + 1 : conv.unread;
    store.update({ convs: mapMerge(convs, ev.conversation_id, { last_text: ev.text || "📎", unread }) });
  }
  if (store.get("selected") === ev.conversation_id) appendMessage(ev);
}

export function markStatus(ev) {
  const el = document.querySelector(`[data-message-id="${CSS.escape(ev.outbound_id || "")}"] .tick`);
  if (el) { el.textContent = statusText(ev.status); el.dataset.status = ev.status; }
}

export function conversationsView(scope) {
  const list = h("section", { id: "conv-list", "data-testid": "conv-list", "aria-label": t("tab_conversations") });
  const view = h("section", { id: "conv-view", class: "conv-view", "data-testid": "conv-view", "aria-label": t("conversation") });
  const waiting = h("section", { "data-testid": "waiting-list", "aria-label": t("queue_to_take"), "aria-live": "polite" });
  scope.on(store.subscribe(["convs", "selected"], () => renderConvList(list)));
  scope.on(store.subscribe(["selected"], () => renderConvView(view)));
  scope.later(0, () => { renderConvList(list); renderConvView(view); renderWaiting(waiting); });
  if (isAgent()) scope.every(5000, () => renderWaiting(waiting));
  // Agents start conversations with a contact (WhatsApp, SMS, e-mail).
  const start = isAgent() ? h("button", { type: "button", class: "secondary", "data-testid": "start-conversation",
    onclick: () => startDialog() }, `＋ ${t("new_conversation")}`) : null;
  return h("div", { class: "split" }, h("aside", {}, start, list, waiting), view);
}

// Seed 002 "Asignación usando cola" off: a campaign's conversations wait until one of its agents takes one. The
// list shows those of my campaigns that work this way; the router gives a conversation to one taker only.
async function renderWaiting(box) {
  if (!isAgent()) return;
  const rows = [];
  for (const c of myCampaigns()) {
    const snap = await snapshot(c);
    if (!snap || !snap.routing || snap.routing.queue_assignment !== false) continue;
    try { rows.push(...items(await api("GET", `/queues/${enc(c)}/waiting`))); } catch { /* shown next time */ }
  }
  clear(box);
  if (!rows.length) return;
  box.append(h("h2", {}, t("queue_to_take")));
  for (const it of rows) {
    const who = it.contact_name || it.contact_address || it.conversation_id;
    box.append(h("div", { class: "conv-item", "data-testid": "waiting-item", "data-conversation-id": it.conversation_id },
      h("b", {}, who), h("small", {}, ` ${it.channel_type || ""} · ${Math.round(it.waiting_s || 0)} s`),
      h("button", {
        type: "button", class: "secondary", "data-testid": "take", "aria-label": `${t("take_from")} ${who}`,
        onclick: async () => {
          try {
            const conv = await api("POST", `/conversations/${enc(it.conversation_id)}/take`);
            toast(t("taken"));
            upsertConv(conv.id, conv);
            select(conv.id);
          } catch (ex) { toast(errorText(ex), "error"); }
          renderWaiting(box);
        },
      }, t("take"))));
  }
}

function renderConvList(box) {
  clear(box).append(h("h2", {}, t("tab_conversations")));
  const convs = store.get("convs");
  if (!convs.size) { box.append(h("p", { class: "muted" }, t("no_conversations"))); return; }
  const selected = store.get("selected");
  for (const [id, c] of convs) {
    box.append(h("button", {
      type: "button", class: `conv-item ${selected === id ? "active" : ""}`, "data-testid": "conv-item",
      "data-conversation-id": id, "aria-current": selected === id ? "true" : null, onclick: () => select(id),
    },
    h("b", {}, c.contact_name || c.contact_address || id),
    h("small", {}, ` ${c.channel_type || ""} · ${stateText("conv", c.state)}`),
    c.unread ? h("span", { class: "badge", "aria-label": `${c.unread} ${t("unread")}` }, c.unread) : null,
    c.last_text ? h("div", { class: "muted" }, c.last_text) : null));
  }
}

async function renderConvView(view) {
  clear(view);
  const id = store.get("selected");
  if (!id) { view.append(h("p", { class: "muted" }, t("select_conversation"))); return; }
  let conv;
  try { conv = await api("GET", `/conversations/${enc(id)}`); } catch (ex) { toast(errorText(ex), "error"); return; }
  if (store.get("selected") !== id) return;
  const snap = await snapshot(conv.campaign_id);
  if (store.get("selected") !== id) return;
  const perms = (snap && snap.permissions) || {};
  add(clear(view),
    h("div", { class: "conv-head" },
      h("h2", { "data-testid": "conv-title" }, conv.contact_name || conv.contact_address || id),
      h("span", {}, `${t("channel")}: ${conv.channel_type || ""} · ${t("campaign")}: ${(snap && snap.name) || conv.campaign_id || ""} · `,
        h("span", { "data-testid": "conv-state" }, stateText("conv", conv.state)))),
    h("div", { class: "conv-body" },
      h("div", { class: "thread" },
        h("div", { id: "msgs", class: "msgs", "data-testid": "messages", role: "log", "aria-label": t("messages") }),
        replyForm(id, perms, conv.campaign_id)),
      h("div", { class: "side" }, contactCard(id, conv, perms),
        h("details", { class: "panel", "data-testid": "script-open" }, h("summary", {}, t("script_tabs")),
          workspacePanel(`/cases/${enc(id)}/workspace`, snap, { conversation_id: id, campaign_id: conv.campaign_id || "" })),
        transferForm(id, snap, perms), closeForm(id, snap))));
  for (const m of conv.messages || []) appendMessage(m);
}

export function appendMessage(m) {
  const box = $("#msgs");
  if (!box) return;
  const key = m.message_id || m.id;
  if (key && box.querySelector(`[data-message-id="${CSS.escape(key)}"]`)) return;
  const out = m.direction === "out";
  box.append(h("div", { class: `msg ${out ? "out" : "in"}`, "data-testid": `msg-${out ? "out" : "in"}`, "data-message-id": key || "" },
    h("div", {}, m.text || ""),
    // Our own files (`blob:` references) download through the API with the session's token; the rest are links.
    (m.media || []).map((md) => ((md.url || "").startsWith("blob:")
      ? mediaDownload(m.conversation_id || store.get("selected"), md)
      : h("a", { href: md.url || "#", target: "_blank", rel: "noopener", "data-testid": "msg-media" }, md.filename || md.kind || "📎"))),
    h("small", {}, `${out ? t("you") : t("customer")} · ${fmtTime(m.at || m.occurred_at, getLang())} `,
      out ? h("span", { class: "tick" }, m.status ? statusText(m.status) : "") : null)));
  box.scrollTop = box.scrollHeight;
}

// A file a message carries, kept by us (an e-mail attachment or body, an agent's upload, a gallery file): a button
// "Descargar <name>" that fetches it with the token and saves it (GET /conversations/{id}/media/{sha}).
function mediaDownload(conversationId, md) {
  const sha = md.url.slice("blob:".length);
  const name = md.filename || `${t("attachment")} ${sha.slice(0, 8)}`;
  const label = `${t("download")} ${name}`;
  return h("button", {
    type: "button", class: "secondary", "data-testid": "msg-media", "data-sha": sha, "aria-label": label, title: label,
    onclick: async () => {
      try { await download(`/conversations/${enc(conversationId)}/media/${enc(sha)}`, name); } catch (ex) { toast(errorText(ex), "error"); }
    },
  }, `📎 ${label}`);
}

function replyForm(id, perms, campaignId) {
  const text = h("textarea", { name: "text", "data-field": "text", placeholder: t("reply_placeholder"), "data-testid": "reply-text", rows: 3, "aria-label": t("reply") });
  // Files attached to this reply: uploaded ones (dropped or chosen) and the campaign's gallery files, listed with a
  // remove button until it is sent. None when the campaign forbids media (the router refuses them anyway).
  const attached = attachedList();
  const form = h("form", {
    class: "reply", "data-testid": "reply-form",
    onsubmit: async (e) => {
      e.preventDefault();
      const body = {};
      if (text.value.trim()) body.text = text.value.trim();
      if (attached.items.length) body.media = attached.items;
      try {
        const result = await api("POST", `/conversations/${enc(id)}/messages`, body);
        appendMessage({ direction: "out", text: body.text, media: body.media || [], message_id: result && result.message_id,
          at: new Date().toISOString() });
        text.value = ""; attached.clear();
        const status = form.querySelector('[data-testid="reply-upload-status"]');
        if (status) status.textContent = "";
      } catch (ex) { toast(errorText(ex, form), "error"); }
    },
  }, text,
  perms.emojis === false ? null : emojiPicker(text));
  const allowMedia = perms.media !== false;
  add(form, allowMedia ? mediaPicker(form, id, attached) : null, allowMedia ? attached.el : null,
    galleryPanel(campaignId, text, (m) => attached.add(m), allowMedia),
    h("button", { type: "submit", "data-testid": "reply-send", "aria-keyshortcuts": "Control+Enter" }, t("send")));
  return form;
}

// Only the kinds of transfer the campaign allows its agents (seed 004); none: no transfer panel at all. The
// router refuses the others anyway.
function transferForm(id, snap, perms) {
  const toAgent = perms.transfer_between_agents !== false;
  const toCampaign = !!perms.transfer_between_campaigns;
  if (isAgent() && !toAgent && !toCampaign) return null;
  const agents = ((snap && snap.agents) || []).filter((a) => a !== me().id);
  const camps = (snap && snap.linked_campaigns) || [];
  const kind = h("select", { "data-testid": "transfer-kind" },
    toAgent || !isAgent() ? h("option", { value: "agent" }, t("transfer_to_agent")) : null,
    toCampaign || !isAgent() ? h("option", { value: "campaign" }, t("transfer_to_campaign")) : null);
  const target = h("input", { list: `targets-${id}`, "data-testid": "transfer-target", "data-field": "agent_id" });
  const options = h("datalist", { id: `targets-${id}` }, [...agents, ...camps].map((x) => h("option", { value: x })));
  const err = h("p", { class: "error", "data-testid": "transfer-error", id: `transfer-err-${id}` });
  return h("details", { class: "panel", "data-testid": "transfer-panel" },
    h("summary", { "data-testid": "transfer-open" }, t("transfer")),
    h("form", {
      onsubmit: async (e) => {
        e.preventDefault();
        clear(err);
        const body = kind.value === "campaign" ? { campaign_id: target.value.trim() } : { agent_id: target.value.trim() };
        transferring.add(id);
        try {
          await api("POST", `/conversations/${enc(id)}/transfer`, body);
          toast(t("transferred"));
          if (isAgent()) removeConv(id);
        } catch (ex) { showError(err, ex, e.target); } finally { transferring.delete(id); }
      },
    }, labelled(t("transfer_kind"), kind), labelled(t("transfer_target"), target), options,
    h("button", { type: "submit", "data-testid": "transfer-submit" }, t("do_transfer")), err));
}

function closeForm(id, snap) {
  const typ = h("select", { name: "typification_id", "data-field": "typification_id", "data-testid": "close-typification" },
    typificationOptions(snap));
  const err = h("p", { class: "error", "data-testid": "close-error", id: `close-err-${id}` });
  const form = h("form", {
    novalidate: true,
    onsubmit: async (e) => {
      e.preventDefault();
      clearErrors(form, err);
      try {
        await api("POST", `/conversations/${enc(id)}/close`, { typification_id: typ.value, fields: fieldValues(form, snap) });
        toast(t("closed"));
        removeConv(id);
      } catch (ex) { showError(err, ex, form); }
    },
  }, h("label", {}, t("typification"), typ), customFields(snap),
  h("button", { type: "submit", "data-testid": "close-submit" }, t("do_close")), err);
  // Autocomplete (seed 002): the CRM suggests the contact's latest closure in the campaign when it is on.
  api("GET", `/cases/${enc(id)}`).then((kase) => applyPrefill(form, typ, kase && kase.prefill)).catch(() => {});
  return h("details", { class: "panel", "data-testid": "close-panel" }, h("summary", { "data-testid": "close-open" }, t("close")), form);
}

function contactCard(id, conv, perms) {
  const body = h("div", { "data-testid": "contact-card" });
  const box = h("details", { class: "panel", open: true }, h("summary", {}, t("contact")), body);
  (async () => {
    let kase = null;
    try { kase = await api("GET", `/cases/${enc(id)}`); } catch { /* the CRM may not know it yet */ }
    const contactId = kase && kase.contact_id;
    let contact = null;
    if (contactId) { try { contact = await api("GET", `/contacts/${enc(contactId)}`); } catch { contact = null; } }
    const name = h("input", { value: (contact && contact.name) || conv.contact_name || "", "data-testid": "contact-name", "data-field": "name" });
    const doc = h("input", { value: (contact && contact.document) || "", "data-testid": "contact-document", "data-field": "document" });
    add(body,
      h("p", { "data-testid": "contact-number" }, `${t("phone")}: ${perms.show_contact_number === false && isAgent()
        ? maskNumber(conv.contact_address) : (conv.contact_address || "")}`),
      h("label", {}, t("name"), name), h("label", {}, t("document"), doc));
    if (contact) {
      add(body, h("button", {
        type: "button", "data-testid": "contact-save",
        onclick: async () => {
          try { await api("PATCH", `/contacts/${enc(contact.id)}`, { name: name.value, document: doc.value || null }); toast(t("saved")); }
          catch (ex) { toast(errorText(ex, body), "error"); }
        },
      }, t("save")));
      // 0 hours is "no history" (seed 004): the CRM answers nothing older than the campaign's window anyway.
      const hours = perms.history_hours ?? 24;
      if (hours === 0) { body.append(h("p", { class: "muted", "data-testid": "history-off" }, t("history_off"))); return; }
      try {
        const hist = withinHours(items(await api("GET", `/contacts/${enc(contact.id)}/history?campaign_id=${enc(conv.campaign_id || "")}`)),
          hours, Date.now(), (x) => x.at || x.opened_at);
        body.append(h("h3", {}, `${t("history")} (${hours} ${t("hours")})`),
          h("ul", { class: "history" }, hist.slice(0, 50).map((x) => h("li", {},
            `${fmtTime(x.at || x.opened_at, getLang())} ${stateText("kind", x.kind || x.type)} ${x.text || x.summary || ""}`))));
      } catch { /* history is optional */ }
    } else {
      const found = h("div", {});
      add(body, h("button", {
        type: "button", "data-testid": "contact-match",
        onclick: async () => {
          clear(found);
          try {
            const m = await api("GET", `/cases/${enc(id)}/matches`);
            for (const c of (m && m.contacts) || []) {
              found.append(h("div", {}, c.name || c.id, h("button", {
                type: "button",
                onclick: async () => { await api("PUT", `/cases/${enc(id)}/contact`, { contact_id: c.id }); toast(t("saved")); },
              }, t("link"))));
            }
          } catch (ex) { toast(errorText(ex), "error"); }
        },
      }, t("match")), h("button", {
        type: "button", "data-testid": "contact-create",
        onclick: async () => {
          try {
            const phones = ["whatsapp", "sms", "voice"].includes(conv.channel_type) ? [conv.contact_address] : [];
            const c = await api("POST", "/contacts", { name: name.value || conv.contact_address, document: doc.value || null, phones });
            await api("PUT", `/cases/${enc(id)}/contact`, { contact_id: c.id });
            toast(t("saved"));
          } catch (ex) { toast(errorText(ex, body), "error"); }
        },
      }, t("create_contact")), found);
    }
  })();
  return box;
}

