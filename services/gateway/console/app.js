// Switchboard console: agents, supervisors and admins, over the gateway's REST API and live WebSocket.
import { TEXTS } from "./i18n.js";

const S = {
  lang: localStorage.getItem("sb.lang") || "es",
  token: sessionStorage.getItem("sb.token"),
  refresh: sessionStorage.getItem("sb.refresh"),
  user: JSON.parse(sessionStorage.getItem("sb.user") || "null"),
  me: null,
  tab: "conversations",
  convs: new Map(),
  offers: new Map(),
  transferring: new Set(),
  selected: null,
  snapshots: new Map(),
  seq: Number(sessionStorage.getItem("sb.seq") || 0),
  agentSeq: Number(sessionStorage.getItem("sb.agentSeq") || 0),
  ws: null,
  wsTimer: null,
  status: "offline",
  timers: [],
  calendar: { view: "week", day: new Date() },
  adminResource: "campaigns",
};

const t = (key) => (TEXTS[S.lang] && TEXTS[S.lang][key]) || TEXTS.es[key] || key;

// ---- DOM helpers (text only: never innerHTML with data) --------------------------------------------
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "value") el.value = v;
    else if (k === "checked") el.checked = !!v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}
const $ = (sel, root = document) => root.querySelector(sel);
const clear = (el) => { while (el && el.firstChild) el.removeChild(el.firstChild); return el; };

function toast(text, kind = "info") {
  const box = h("div", { class: `toast ${kind}`, "data-testid": `toast-${kind}` }, text);
  $("#toasts").append(box);
  setTimeout(() => box.remove(), 6000);
}

// ---- API ---------------------------------------------------------------------------------------------
class ApiError extends Error {
  constructor(status, error) {
    super((error && error.message) || `HTTP ${status}`);
    this.status = status;
    this.code = error && error.code;
    this.field = error && error.field;
  }
}

async function api(method, path, body, retried = false) {
  const headers = { "Content-Type": "application/json" };
  if (S.token) headers.Authorization = `Bearer ${S.token}`;
  const res = await fetch(`/api/v1${path}`, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status === 401 && S.refresh && !retried && !path.startsWith("/auth/")) {
    if (await refreshTokens()) return api(method, path, body, true);
    logout();
  }
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!res.ok) throw new ApiError(res.status, data && data.error);
  return data;
}

async function refreshTokens() {
  try {
    const pair = await api("POST", "/auth/refresh", { refresh_token: S.refresh }, true);
    saveSession(pair);
    return true;
  } catch { return false; }
}

function saveSession(pair) {
  S.token = pair.access_token;
  S.refresh = pair.refresh_token;
  S.user = pair.user;
  sessionStorage.setItem("sb.token", S.token);
  sessionStorage.setItem("sb.refresh", S.refresh);
  sessionStorage.setItem("sb.user", JSON.stringify(S.user));
}

function logout() {
  for (const key of ["sb.token", "sb.refresh", "sb.user", "sb.seq", "sb.agentSeq"]) sessionStorage.removeItem(key);
  Object.assign(S, { token: null, refresh: null, user: null, me: null, selected: null, seq: 0, agentSeq: 0 });
  S.convs.clear(); S.offers.clear();
  if (S.ws) { S.ws.onclose = null; S.ws.close(); S.ws = null; }
  render();
}

const items = (data) => (Array.isArray(data) ? data : (data && (data.items || data.data)) || []);
const fmtTime = (iso) => (iso ? new Date(iso).toLocaleString(S.lang === "es" ? "es-ES" : "en-GB") : "");
const statusText = (s) => t(s) || s;

// ---- live events -------------------------------------------------------------------------------------
function connectEvents() {
  if (!S.token) return;
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const q = new URLSearchParams({ token: S.token });
  if (S.seq) q.set("since", S.seq);
  if (S.agentSeq) q.set("since_agent", S.agentSeq);
  const ws = new WebSocket(`${proto}://${location.host}/api/v1/events?${q}`);
  S.ws = ws;
  ws.onmessage = (m) => onEvent(JSON.parse(m.data));
  ws.onclose = async (e) => {
    setLink(false);
    S.ws = null;
    if (!S.token) return;
    if (e.code === 4001 || e.code === 1006) await refreshTokens();
    clearTimeout(S.wsTimer);
    S.wsTimer = setTimeout(connectEvents, 1000);
  };
}

function setLink(up) {
  S.linkUp = up;
  const el = $("#link");
  if (el) { el.textContent = up ? t("connected") : t("reconnecting"); el.className = up ? "link up" : "link down"; }
}

let queueRefresh = null;
function onEvent(ev) {
  if (typeof ev.seq === "number" && ev.seq > S.seq) { S.seq = ev.seq; sessionStorage.setItem("sb.seq", S.seq); }
  if (typeof ev.agent_seq === "number" && ev.agent_seq > S.agentSeq) {
    S.agentSeq = ev.agent_seq; sessionStorage.setItem("sb.agentSeq", S.agentSeq);
  }
  const me = S.user && S.user.id;
  const cid = ev.conversation_id;
  switch (ev.type) {
    case "ready": setLink(true); return;
    case "conversation.offered":
      if (ev.agent_id === me) { S.offers.set(cid, ev); renderOffers(); }
      break;
    case "conversation.assigned":
      S.offers.delete(cid); renderOffers();
      if (ev.agent_id === me || S.user.role !== "agent") upsertConv(cid, { ...ev, id: cid, state: "assigned" });
      break;
    case "conversation.queued":
      S.offers.delete(cid); renderOffers();
      if (S.user.role === "agent") removeConv(cid);
      else upsertConv(cid, { ...ev, id: cid, state: "queued" });
      break;
    case "conversation.transferred":
      if (ev.from_agent_id === me && ev.to_agent_id !== me && S.user.role === "agent" && S.convs.has(cid)
          && !S.transferring.has(cid)) {
        removeConv(cid); toast(t("transferred")); // moved by someone else (a supervisor)
      }
      break;
    case "conversation.message":
      onMessage(ev);
      break;
    case "message.status":
      markStatus(ev);
      break;
    case "conversation.closed":
      S.offers.delete(cid); renderOffers();
      if (S.convs.has(cid)) { removeConv(cid); }
      break;
    case "agent.status":
      if (ev.agent_id === me) { S.status = ev.status; syncStatus(); }
      break;
    default:
      break;
  }
  if (S.tab === "queues" && ev.type !== "pong") {
    clearTimeout(queueRefresh);
    queueRefresh = setTimeout(renderQueues, 250);
  }
}

function upsertConv(id, data) {
  S.convs.set(id, { ...(S.convs.get(id) || {}), ...data });
  renderConvList();
}

function removeConv(id) {
  S.convs.delete(id);
  if (S.selected === id) { S.selected = null; renderConvView(); }
  renderConvList();
}

function onMessage(ev) {
  const conv = S.convs.get(ev.conversation_id);
  if (conv) {
    conv.last_text = ev.text || "📎";
    if (S.selected !== ev.conversation_id && ev.direction !== "out") conv.unread = (conv.unread || 0) + 1;
    renderConvList();
  }
  if (S.selected === ev.conversation_id) appendMessage(ev);
}

function markStatus(ev) {
  const el = document.querySelector(`[data-message-id="${CSS.escape(ev.outbound_id || "")}"] .tick`);
  if (el) { el.textContent = statusText(ev.status); el.dataset.status = ev.status; }
}

// ---- layout --------------------------------------------------------------------------------------------
function render() {
  document.documentElement.lang = S.lang;
  const root = clear($("#app"));
  S.timers.forEach(clearInterval); S.timers = [];
  if (!S.token) { root.append(loginView()); return; }
  root.append(header(), tabs(), h("main", { id: "main" }));
  renderMain();
}

function langButton() {
  return h("button", {
    class: "lang", "data-testid": "lang",
    onclick: () => { S.lang = S.lang === "es" ? "en" : "es"; localStorage.setItem("sb.lang", S.lang); render(); },
  }, t("language"));
}

function loginView() {
  const err = h("p", { class: "error", id: "login-error", "data-testid": "login-error" });
  const form = h("form", {
    class: "login", "data-testid": "login-form",
    onsubmit: async (e) => {
      e.preventDefault();
      err.textContent = "";
      const fd = new FormData(form);
      try {
        saveSession(await api("POST", "/auth/login", { username: fd.get("username"), password: fd.get("password") }));
        await start();
      } catch (ex) {
        err.textContent = ex.status === 401 ? t("bad_login") : ex.message;
      }
    },
  },
  h("h1", {}, t("title")),
  h("label", {}, t("username"), h("input", { name: "username", autocomplete: "username", "data-testid": "username" })),
  h("label", {}, t("password"), h("input", { name: "password", type: "password", autocomplete: "current-password",
    "data-testid": "password" })),
  h("button", { type: "submit", "data-testid": "login-submit" }, t("login")),
  err, langButton());
  return form;
}

function header() {
  const statusSel = h("select", { id: "status", "data-testid": "status-select" },
    ["available", "break", "after_call_work", "offline"].map((s) => h("option", { value: s }, statusText(s))));
  statusSel.value = S.status;
  const reasonSel = h("select", { id: "break-reason", "data-testid": "break-reason" },
    ["reason_lunch", "reason_coffee", "reason_training", "reason_other"].map((r) => h("option", { value: t(r) }, t(r))));
  const reasonBox = h("label", { class: "reason", hidden: S.status !== "break" }, t("break_reason"), reasonSel);
  statusSel.onchange = () => { reasonBox.hidden = statusSel.value !== "break"; };
  const apply = h("button", {
    "data-testid": "status-apply",
    onclick: async () => {
      try {
        const status = statusSel.value;
        await api("PUT", "/me/status", { status, reason: status === "break" ? reasonSel.value : null });
        S.status = status;
        $("#status-now").textContent = statusText(status);
      } catch (ex) { toast(ex.message, "error"); }
    },
  }, t("set_status"));
  return h("header", {},
    h("strong", {}, t("title")),
    h("span", { class: "who", "data-testid": "who" }, `${S.user.username} · ${t(`role_${S.user.role}`)}`),
    h("span", { class: "status-box" }, `${t("status")}: `,
      h("b", { id: "status-now", "data-testid": "status-now" }, statusText(S.status)), statusSel, reasonBox, apply),
    h("span", { id: "link", class: S.linkUp ? "link up" : "link down" }, S.linkUp ? t("connected") : t("reconnecting")),
    langButton(),
    h("button", { onclick: logout, "data-testid": "logout" }, t("logout")));
}

function syncStatus() {
  const now = $("#status-now");
  if (now) now.textContent = statusText(S.status);
  const sel = $("#status");
  if (sel) sel.value = S.status;
}

function tabList() {
  const role = S.user.role;
  const list = ["conversations", "work", "calls", "callbacks"];
  if (role !== "agent") list.push("queues", "imports");
  if (role === "admin") list.push("admin");
  return list;
}

function tabs() {
  return h("nav", { class: "tabs" }, tabList().map((name) => h("button", {
    class: S.tab === name ? "active" : "", "data-testid": `tab-${name}`,
    onclick: () => { S.tab = name; render(); },
  }, t(`tab_${name}`))));
}

function renderMain() {
  const main = clear($("#main"));
  if (!main) return;
  const views = { conversations: conversationsView, work: workView, calls: callsView, callbacks: callbacksView,
    queues: queuesView, imports: importsView, admin: adminView };
  main.append((views[S.tab] || conversationsView)());
}

// ---- conversations -------------------------------------------------------------------------------------
function conversationsView() {
  setTimeout(() => { renderOffers(); renderConvList(); renderConvView(); }, 0);
  return h("div", { class: "split" },
    h("aside", {},
      h("section", { id: "offers", class: "offers", "data-testid": "offers" }),
      h("section", { id: "conv-list", "data-testid": "conv-list" })),
    h("section", { id: "conv-view", class: "conv-view", "data-testid": "conv-view" }));
}

function renderOffers() {
  const box = clear($("#offers"));
  if (!box) return;
  box.hidden = !S.offers.size;
  if (!S.offers.size) return;
  box.append(h("h3", {}, t("offers")));
  for (const [id, ev] of S.offers) {
    box.append(h("div", { class: "offer", "data-testid": "offer", "data-conversation-id": id },
      h("div", {}, `${t("offer_from")} `, h("b", {}, ev.contact_address || "?"), ` · ${ev.channel_type || ""}`),
      ev.expires_at ? h("small", {}, fmtTime(ev.expires_at)) : null,
      h("button", { "data-testid": "offer-accept", onclick: () => answerOffer(id, "accept") }, t("accept")),
      h("button", { class: "secondary", "data-testid": "offer-reject", onclick: () => answerOffer(id, "reject") },
        t("reject"))));
  }
}

async function answerOffer(id, action) {
  try {
    const result = await api("POST", `/conversations/${encodeURIComponent(id)}/${action}`, action === "reject" ? {} : undefined);
    const ev = S.offers.get(id);
    S.offers.delete(id);
    renderOffers();
    if (action === "accept") { upsertConv(id, { ...(ev || {}), ...(result || {}), id, state: "assigned" }); select(id); }
  } catch (ex) { toast(ex.message, "error"); S.offers.delete(id); renderOffers(); }
}

function renderConvList() {
  const box = clear($("#conv-list"));
  if (!box) return;
  box.append(h("h3", {}, t("tab_conversations")));
  if (!S.convs.size) { box.append(h("p", { class: "muted" }, t("no_conversations"))); return; }
  for (const [id, c] of S.convs) {
    box.append(h("button", {
      class: `conv-item ${S.selected === id ? "active" : ""}`, "data-testid": "conv-item", "data-conversation-id": id,
      onclick: () => select(id),
    },
    h("b", {}, c.contact_name || c.contact_address || id),
    h("small", {}, ` ${c.channel_type || ""} · ${c.state || ""}`),
    c.unread ? h("span", { class: "badge" }, c.unread) : null,
    c.last_text ? h("div", { class: "muted" }, c.last_text) : null));
  }
}

async function loadConversations() {
  try {
    const data = await api("GET", "/conversations");
    for (const c of items(data)) S.convs.set(c.id, { ...(S.convs.get(c.id) || {}), ...c });
    renderConvList();
  } catch (ex) { toast(ex.message, "error"); }
}

async function snapshot(campaignId) {
  if (!campaignId) return null;
  if (!S.snapshots.has(campaignId)) {
    try { S.snapshots.set(campaignId, await api("GET", `/campaigns/${encodeURIComponent(campaignId)}/snapshot`)); }
    catch { S.snapshots.set(campaignId, null); }
  }
  return S.snapshots.get(campaignId);
}

function select(id) {
  S.selected = id;
  const c = S.convs.get(id);
  if (c) c.unread = 0;
  renderConvList();
  renderConvView();
}

async function renderConvView() {
  const view = clear($("#conv-view"));
  if (!view) return;
  const id = S.selected;
  if (!id) { view.append(h("p", { class: "muted" }, t("select_conversation"))); return; }
  let conv;
  try { conv = await api("GET", `/conversations/${encodeURIComponent(id)}`); } catch (ex) { toast(ex.message, "error"); return; }
  if (S.selected !== id) return;
  const snap = await snapshot(conv.campaign_id);
  const perms = (snap && snap.permissions) || {};
  view.append(
    h("div", { class: "conv-head" },
      h("h2", { "data-testid": "conv-title" }, conv.contact_name || conv.contact_address || id),
      h("span", {}, `${t("channel")}: ${conv.channel_type || ""} · ${t("campaign")}: ${(snap && snap.name) || conv.campaign_id || ""} · `,
        h("span", { "data-testid": "conv-state" }, conv.state || ""))),
    h("div", { class: "conv-body" },
      h("div", { class: "thread" },
        h("div", { id: "msgs", class: "msgs", "data-testid": "messages" }),
        replyForm(id, perms)),
      h("div", { class: "side" }, contactCard(id, conv, perms), transferForm(id, snap, perms), closeForm(id, snap))));
  for (const m of conv.messages || []) appendMessage(m);
}

function appendMessage(m) {
  const box = $("#msgs");
  if (!box) return;
  const key = m.message_id || m.id;
  if (key && box.querySelector(`[data-message-id="${CSS.escape(key)}"]`)) return;
  const out = m.direction === "out";
  box.append(h("div", { class: `msg ${out ? "out" : "in"}`, "data-testid": `msg-${out ? "out" : "in"}`, "data-message-id": key || "" },
    h("div", {}, m.text || ""),
    (m.media || []).map((md) => h("a", { href: md.url || "#", target: "_blank", rel: "noopener" }, md.filename || md.kind || "📎")),
    h("small", {}, `${out ? t("you") : t("customer")} · ${fmtTime(m.at || m.occurred_at)} `,
      out ? h("span", { class: "tick" }, m.status ? statusText(m.status) : "") : null)));
  box.scrollTop = box.scrollHeight;
}

const EMOJIS = ["😊", "👍", "🙏", "😀", "🎉", "❤️", "👋", "✅"];

function replyForm(id, perms) {
  const text = h("textarea", { name: "text", placeholder: t("reply_placeholder"), "data-testid": "reply-text", rows: 3 });
  const media = h("input", { name: "media", placeholder: t("media_url"), "data-testid": "reply-media", hidden: perms.media === false });
  const form = h("form", {
    class: "reply", "data-testid": "reply-form",
    onsubmit: async (e) => {
      e.preventDefault();
      const body = {};
      if (text.value.trim()) body.text = text.value.trim();
      if (media.value.trim()) body.media = [{ kind: "file", url: media.value.trim() }];
      try {
        const result = await api("POST", `/conversations/${encodeURIComponent(id)}/messages`, body);
        appendMessage({ direction: "out", text: body.text, media: body.media || [], message_id: result && result.message_id,
          at: new Date().toISOString() });
        text.value = ""; media.value = "";
      } catch (ex) { toast(ex.message, "error"); }
    },
  }, text,
  perms.emojis === false ? null : h("div", { class: "emojis" }, EMOJIS.map((em) => h("button", {
    type: "button", class: "emoji", onclick: () => { text.value += (text.value && !text.value.endsWith(" ") ? " " : "") + em; text.focus(); },
  }, em))),
  media,
  h("button", { type: "submit", "data-testid": "reply-send" }, t("send")));
  return form;
}

function transferForm(id, snap, perms) {
  const agents = ((snap && snap.agents) || []).filter((a) => a !== S.user.id);
  const camps = (snap && snap.linked_campaigns) || [];
  const kind = h("select", { "data-testid": "transfer-kind" },
    perms.transfer_between_agents !== false ? h("option", { value: "agent" }, t("transfer_to_agent")) : null,
    perms.transfer_between_campaigns ? h("option", { value: "campaign" }, t("transfer_to_campaign")) : null);
  const target = h("input", { list: `targets-${id}`, "data-testid": "transfer-target" });
  const options = h("datalist", { id: `targets-${id}` }, [...agents, ...camps].map((x) => h("option", { value: x })));
  const err = h("p", { class: "error", "data-testid": "transfer-error" });
  return h("details", { class: "panel", "data-testid": "transfer-panel" },
    h("summary", { "data-testid": "transfer-open" }, t("transfer")),
    h("form", {
      onsubmit: async (e) => {
        e.preventDefault();
        err.textContent = "";
        const body = kind.value === "campaign" ? { campaign_id: target.value.trim() } : { agent_id: target.value.trim() };
        S.transferring.add(id);
        try {
          await api("POST", `/conversations/${encodeURIComponent(id)}/transfer`, body);
          toast(t("transferred"));
          if (S.user.role === "agent") removeConv(id);
        } catch (ex) { err.textContent = ex.message; } finally { S.transferring.delete(id); }
      },
    }, kind, target, options, h("button", { type: "submit", "data-testid": "transfer-submit" }, t("do_transfer")), err));
}

function fieldInput(cf) {
  const common = { name: cf.key, "data-field": `fields.${cf.key}`, "data-testid": `field-${cf.key}` };
  if (cf.type === "select") return h("select", common, h("option", { value: "" }, "—"), (cf.options || []).map((o) => h("option", { value: o }, o)));
  if (cf.type === "boolean") return h("input", { ...common, type: "checkbox" });
  if (cf.type === "number") return h("input", { ...common, type: "number" });
  if (cf.type === "date") return h("input", { ...common, type: "date" });
  return h("input", common);
}

function closeForm(id, snap) {
  const allowed = new Set((snap && snap.closing_typifications) || []);
  const typs = ((snap && snap.typifications) || []).filter((x) => !allowed.size || allowed.has(x.id));
  const typ = h("select", { name: "typification_id", "data-field": "typification_id", "data-testid": "close-typification" },
    h("option", { value: "" }, "—"),
    typs.map((x) => h("option", { value: x.id }, x.label || [x.category, x.subcategory].filter(Boolean).join(" / "))));
  const fields = ((snap && snap.custom_fields) || []).map((cf) => h("label", {},
    `${cf.label || cf.key}${cf.required ? ` * (${t("required")})` : ""}`, fieldInput(cf)));
  const err = h("p", { class: "error", "data-testid": "close-error" });
  const form = h("form", {
    novalidate: true,
    onsubmit: async (e) => {
      e.preventDefault();
      err.textContent = "";
      form.querySelectorAll(".invalid").forEach((el) => el.classList.remove("invalid"));
      const values = {};
      for (const cf of (snap && snap.custom_fields) || []) {
        const el = form.querySelector(`[name="${CSS.escape(cf.key)}"]`);
        if (!el) continue;
        if (cf.type === "boolean") values[cf.key] = el.checked;
        else if (el.value !== "") values[cf.key] = cf.type === "number" ? Number(el.value) : el.value;
      }
      try {
        await api("POST", `/conversations/${encodeURIComponent(id)}/close`, { typification_id: typ.value || (typs[0] && typs[0].id) || "", fields: values });
        toast(t("closed"));
        removeConv(id);
      } catch (ex) {
        err.textContent = ex.message;
        const bad = ex.field && form.querySelector(`[data-field="${CSS.escape(ex.field)}"]`);
        if (bad) { bad.classList.add("invalid"); bad.focus(); }
      }
    },
  }, h("label", {}, t("typification"), typ), fields, h("button", { type: "submit", "data-testid": "close-submit" }, t("do_close")), err);
  return h("details", { class: "panel", "data-testid": "close-panel" }, h("summary", { "data-testid": "close-open" }, t("close")), form);
}

function contactCard(id, conv, perms) {
  const body = h("div", { "data-testid": "contact-card" });
  const box = h("details", { class: "panel", open: true }, h("summary", {}, t("contact")), body);
  (async () => {
    let kase = null;
    try { kase = await api("GET", `/cases/${encodeURIComponent(id)}`); } catch { /* the CRM may not know it yet */ }
    const contactId = kase && kase.contact_id;
    let contact = null;
    if (contactId) { try { contact = await api("GET", `/contacts/${encodeURIComponent(contactId)}`); } catch { contact = null; } }
    const name = h("input", { value: (contact && contact.name) || conv.contact_name || "", "data-testid": "contact-name" });
    const doc = h("input", { value: (contact && contact.document) || "", "data-testid": "contact-document" });
    body.append(
      perms.show_contact_number === false ? null : h("p", {}, `${t("phone")}: ${conv.contact_address || ""}`),
      h("label", {}, t("name"), name), h("label", {}, t("document"), doc));
    if (contact) {
      body.append(h("button", {
        "data-testid": "contact-save",
        onclick: async () => {
          try { await api("PATCH", `/contacts/${encodeURIComponent(contact.id)}`, { name: name.value, document: doc.value || null }); toast(t("saved")); }
          catch (ex) { toast(ex.message, "error"); }
        },
      }, t("save")));
      const hours = perms.history_hours || 24;
      try {
        const hist = items(await api("GET", `/contacts/${encodeURIComponent(contact.id)}/history`));
        const since = Date.now() - hours * 3600 * 1000;
        const recent = hist.filter((x) => !x.at && !x.opened_at ? true : new Date(x.at || x.opened_at).getTime() >= since);
        body.append(h("h4", {}, `${t("history")} (${hours} ${t("hours")})`),
          h("ul", { class: "history" }, recent.slice(0, 50).map((x) => h("li", {}, `${fmtTime(x.at || x.opened_at)} ${x.type || x.kind || ""} ${x.text || x.summary || ""}`))));
      } catch { /* history is optional */ }
    } else {
      const found = h("div", {});
      body.append(h("button", {
        "data-testid": "contact-match",
        onclick: async () => {
          clear(found);
          try {
            const m = await api("GET", `/cases/${encodeURIComponent(id)}/matches`);
            for (const c of (m && m.contacts) || []) {
              found.append(h("div", {}, c.name || c.id, h("button", {
                onclick: async () => { await api("PUT", `/cases/${encodeURIComponent(id)}/contact`, { contact_id: c.id }); toast(t("saved")); },
              }, t("link"))));
            }
          } catch (ex) { toast(ex.message, "error"); }
        },
      }, t("match")), h("button", {
        "data-testid": "contact-create",
        onclick: async () => {
          try {
            const c = await api("POST", "/contacts", { name: name.value || conv.contact_address, document: doc.value || null, phones: conv.channel_type === "whatsapp" || conv.channel_type === "sms" ? [conv.contact_address] : [] });
            await api("PUT", `/cases/${encodeURIComponent(id)}/contact`, { contact_id: c.id });
            toast(t("saved"));
          } catch (ex) { toast(ex.message, "error"); }
        },
      }, t("create_contact")), found);
    }
  })();
  return box;
}

// ---- operator panel, calls, callbacks -----------------------------------------------------------------
function listPanel(path, render) {
  const box = h("div", { class: "list-panel" }, h("p", { class: "muted" }, "…"));
  api("GET", path).then((data) => {
    clear(box);
    const list = items(data);
    if (!list.length) box.append(h("p", { class: "muted" }, t("no_items")));
    for (const it of list) box.append(render(it));
  }).catch((ex) => { clear(box).append(h("p", { class: "muted" }, ex.message)); });
  return box;
}

function workView() {
  return h("div", { class: "work", "data-testid": "work-panel" }, h("h2", {}, t("tab_work")), listPanel("/work-items", (it) => {
    const note = h("input", { placeholder: "…" });
    return h("div", { class: "card" }, h("b", {}, it.title || it.name || it.id), h("div", { class: "muted" }, it.status || ""), note,
      h("button", { onclick: () => api("POST", `/work-items/${encodeURIComponent(it.id)}/attend`, {}).then(() => toast(t("attend"))).catch((ex) => toast(ex.message, "error")) }, t("attend")),
      h("button", { onclick: () => api("POST", `/work-items/${encodeURIComponent(it.id)}/save`, { note: note.value, next: true }).then(() => { toast(t("saved")); renderMain(); }).catch((ex) => toast(ex.message, "error")) }, t("save_next")));
  }));
}

function callsView() {
  const number = h("input", { placeholder: t("number"), "data-testid": "call-number" });
  return h("div", { "data-testid": "calls-panel" }, h("h2", {}, t("tab_calls")),
    h("form", {
      onsubmit: async (e) => {
        e.preventDefault();
        try { await api("POST", "/calls", { to: number.value, direction: "outbound" }); toast(t("call")); renderMain(); }
        catch (ex) { toast(ex.message, "error"); }
      },
    }, number, h("button", { type: "submit" }, `📞 ${t("call")}`)),
    listPanel("/calls", (c) => h("div", { class: `card call ${c.direction === "outbound" ? "outbound" : "inbound"}` },
      h("b", {}, c.direction === "outbound" ? `↗ ${t("outbound")}` : `↙ ${t("inbound")}`), ` ${c.number || c.to || c.from || ""} `,
      h("small", {}, `${fmtTime(c.started_at || c.at)} ${c.duration_s ? `${c.duration_s}s` : ""}`))));
}

function callbacksView() {
  const cal = S.calendar;
  const start = new Date(cal.day); start.setHours(0, 0, 0, 0);
  let days = 1;
  if (cal.view === "week") { start.setDate(start.getDate() - ((start.getDay() + 6) % 7)); days = 7; }
  if (cal.view === "month") { start.setDate(1); days = new Date(start.getFullYear(), start.getMonth() + 1, 0).getDate(); }
  const end = new Date(start); end.setDate(end.getDate() + days);
  const shift = (dir) => {
    const d = new Date(cal.day);
    if (cal.view === "day") d.setDate(d.getDate() + dir);
    else if (cal.view === "week") d.setDate(d.getDate() + 7 * dir);
    else d.setMonth(d.getMonth() + dir);
    cal.day = d; renderMain();
  };
  const grid = h("div", { class: `calendar ${cal.view}`, "data-testid": "calendar" });
  const cells = new Map();
  for (let i = 0; i < days; i++) {
    const d = new Date(start); d.setDate(d.getDate() + i);
    const cell = h("div", { class: "day" }, h("b", {}, d.toLocaleDateString(S.lang === "es" ? "es-ES" : "en-GB", { weekday: "short", day: "numeric", month: "short" })));
    cells.set(d.toDateString(), cell);
    grid.append(cell);
  }
  const q = new URLSearchParams({ from: start.toISOString(), to: end.toISOString() });
  api("GET", `/callbacks?${q}`).then((data) => {
    for (const cb of items(data)) {
      const at = new Date(cb.due_at || cb.at || cb.scheduled_at);
      const cell = cells.get(at.toDateString());
      if (cell) cell.append(h("div", { class: "event" }, `${at.toLocaleTimeString(S.lang === "es" ? "es-ES" : "en-GB", { hour: "2-digit", minute: "2-digit" })} ${cb.contact_name || cb.number || cb.contact_id || ""}`));
    }
  }).catch(() => {});
  return h("div", { "data-testid": "callbacks-panel" }, h("h2", {}, t("tab_callbacks")),
    h("div", { class: "toolbar" },
      ["day", "week", "month"].map((v) => h("button", { class: cal.view === v ? "active" : "", "data-testid": `cal-${v}`, onclick: () => { cal.view = v; renderMain(); } }, t(v))),
      h("button", { onclick: () => shift(-1) }, t("prev")), h("button", { onclick: () => { cal.day = new Date(); renderMain(); } }, t("today")),
      h("button", { onclick: () => shift(1) }, t("next"))),
    grid);
}

// ---- supervisor: live queues ---------------------------------------------------------------------------
function queuesView() {
  setTimeout(renderQueues, 0);
  S.timers.push(setInterval(renderQueues, 5000));
  return h("div", { id: "queues", "data-testid": "queues" });
}

async function renderQueues() {
  const box = $("#queues");
  if (!box) return;
  const campaigns = (S.me && S.me.campaigns) || [];
  const cards = [];
  for (const cid of campaigns) {
    try {
      const q = await api("GET", `/queues/${encodeURIComponent(cid)}`);
      const longest = Math.max(0, ...((q.items || []).map((i) => i.waiting_s || 0)));
      const byState = {};
      for (const a of q.agents || []) byState[a.status] = (byState[a.status] || 0) + 1;
      cards.push(h("div", { class: "card queue", "data-testid": "queue-card", "data-campaign-id": cid },
        h("h3", {}, cid),
        h("div", { class: "kpis" },
          h("span", {}, `${t("waiting")}: `, h("b", { "data-testid": "queue-waiting" }, q.queued ?? 0)),
          h("span", {}, `${t("longest_wait")}: `, h("b", { "data-testid": "queue-longest" }, `${Math.round(longest)} s`)),
          h("span", {}, `${t("out_of_hours")}: `, h("b", {}, q.out_of_hours ?? 0)),
          Object.entries(byState).map(([s, n]) => h("span", { class: `pill ${s}` }, `${statusText(s)}: ${n}`))),
        h("table", { class: "agents", "data-testid": "queue-agents" },
          h("tr", {}, h("th", {}, t("agents")), h("th", {}, t("state")), h("th", {}, t("load"))),
          (q.agents || []).map((a) => h("tr", {}, h("td", {}, a.agent_id), h("td", {}, statusText(a.status) + (a.reason ? ` (${a.reason})` : "")),
            h("td", {}, `${a.load ?? 0}/${a.capacity ?? "?"}`)))),
        (q.items || []).length ? h("table", { class: "items" },
          h("tr", {}, h("th", {}, "#"), h("th", {}, t("channel")), h("th", {}, t("waiting")), h("th", {}, "")),
          q.items.map((i) => h("tr", {}, h("td", {}, i.position), h("td", {}, i.channel_type || ""), h("td", {}, `${i.waiting_s} s`),
            h("td", {}, h("button", { onclick: () => explain(i.conversation_id) }, t("explain")))))) : null));
    } catch (ex) {
      cards.push(h("div", { class: "card" }, h("h3", {}, cid), h("p", { class: "muted" }, ex.message)));
    }
  }
  const convs = await api("GET", "/conversations").catch(() => ({ items: [] }));
  const list = h("table", { class: "items", "data-testid": "supervised-conversations" },
    h("tr", {}, h("th", {}, t("tab_conversations")), h("th", {}, t("agents")), h("th", {}, t("state")), h("th", {}, "")),
    items(convs).map((c) => h("tr", {}, h("td", {}, c.contact_address || c.id), h("td", {}, c.agent_id || ""), h("td", {}, c.state || ""),
      h("td", {}, h("button", { onclick: () => explain(c.id) }, t("explain"))))));
  const target = $("#queues");
  if (!target) return;
  clear(target).append(h("h2", {}, t("tab_queues")), ...cards, h("h3", {}, t("tab_conversations")), list, h("div", { id: "decisions" }));
}

async function explain(id) {
  const box = clear($("#decisions"));
  try {
    const data = await api("GET", `/conversations/${encodeURIComponent(id)}/decisions`);
    box.append(h("h3", {}, `${t("decisions")}: ${id}`), h("pre", { "data-testid": "decisions" }, JSON.stringify(items(data), null, 2)));
  } catch (ex) { box.append(h("p", { class: "error" }, ex.message)); }
}

// ---- admin: configuration and imports ------------------------------------------------------------------
const TEMPLATES = {
  campaigns: { name: "", client_id: "", project_id: "", channels: [], agents: [], supervisors: [] },
  schedules: { name: "", timezone: "Europe/Madrid", weekly: { 1: [{ start: "09:00", end: "18:00" }] } },
  typifications: { category: "", subcategory: null, label: "" },
  fields: { key: "", label: "", type: "text", required: false },
  channels: { id: "", type: "whatsapp", name: "", credentials: {} },
  users: { id: "", username: "", role: "agent", password: "", display_name: "" },
};

function adminView() {
  const res = S.adminResource;
  const editor = h("div", { id: "editor" });
  const openEditor = (item) => {
    clear(editor);
    const area = h("textarea", { rows: 14, "data-testid": "admin-json" }, JSON.stringify(item || TEMPLATES[res], null, 2));
    const err = h("p", { class: "error", "data-testid": "admin-error" });
    editor.append(h("h3", {}, item ? `${t("edit")}: ${item.id}` : t("new")), h("label", {}, t("json"), area),
      h("button", {
        "data-testid": "admin-save",
        onclick: async () => {
          err.textContent = "";
          let body;
          try { body = JSON.parse(area.value); } catch (ex) { err.textContent = ex.message; return; }
          try {
            if (item) await api("PATCH", `/${res}/${encodeURIComponent(item.id)}`, body);
            else await api("POST", `/${res}`, body);
            toast(t("saved")); renderMain();
          } catch (ex) { err.textContent = ex.field ? `${ex.field}: ${ex.message}` : ex.message; }
        },
      }, t("save")), err);
  };
  return h("div", { "data-testid": "admin" },
    h("nav", { class: "tabs sub" }, Object.keys(TEMPLATES).map((r) => h("button", {
      class: r === res ? "active" : "", "data-testid": `admin-${r}`, onclick: () => { S.adminResource = r; renderMain(); },
    }, t(r)))),
    h("button", { "data-testid": "admin-new", onclick: () => openEditor(null) }, t("new")),
    listPanel(`/${res}`, (it) => h("div", { class: "card row" },
      h("b", {}, it.name || it.label || it.username || it.key || it.id), h("small", {}, ` ${it.id || ""} ${it.status || it.role || it.type || ""}`),
      h("button", { onclick: () => openEditor(it) }, t("edit")),
      res === "users" ? null : h("button", {
        class: "secondary",
        onclick: async () => { try { await api("DELETE", `/${res}/${encodeURIComponent(it.id)}`); renderMain(); } catch (ex) { toast(ex.message, "error"); } },
      }, t("delete")))),
    editor);
}

function importsView() {
  const file = h("input", { type: "file", accept: ".csv,.xlsx,text/csv", "data-testid": "import-file" });
  const bar = h("progress", { max: 100, value: 0, "data-testid": "import-progress" });
  const label = h("span", {});
  return h("div", { "data-testid": "imports" }, h("h2", {}, t("tab_imports")),
    h("label", {}, t("import_file"), file),
    h("button", {
      "data-testid": "import-start",
      onclick: async () => {
        const f = file.files[0];
        if (!f) return;
        try {
          const content = await f.text();
          const job = await api("POST", "/imports", { filename: f.name, content });
          const poll = setInterval(async () => {
            try {
              const j = await api("GET", `/imports/${encodeURIComponent(job.id)}`);
              const pct = j.progress ?? (j.total ? Math.round((100 * (j.processed || 0)) / j.total) : 0);
              bar.value = pct; label.textContent = ` ${pct}% ${j.status || ""}`;
              if (["done", "finished", "failed", "completed"].includes(j.status) || pct >= 100) clearInterval(poll);
            } catch (ex) { clearInterval(poll); toast(ex.message, "error"); }
          }, 1000);
          S.timers.push(poll);
        } catch (ex) { toast(ex.message, "error"); }
      },
    }, t("import_start")),
    h("div", {}, t("progress"), " ", bar, label),
    listPanel("/imports", (j) => h("div", { class: "card" }, `${j.filename || j.id} · ${j.status || ""}`)));
}

// ---- start ---------------------------------------------------------------------------------------------
async function start() {
  try { S.me = await api("GET", "/me"); } catch { logout(); return; }
  try {
    const agent = await api("GET", `/agents/${encodeURIComponent(S.user.id)}`);
    if (agent && agent.status) S.status = agent.status;
  } catch { /* the router may not know this user yet */ }
  render();
  await loadConversations();
  connectEvents();
}

window.addEventListener("DOMContentLoaded", () => { if (S.token) start(); else render(); });
