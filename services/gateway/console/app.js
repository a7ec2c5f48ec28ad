// Switchboard console: agents, supervisors and admins, over the gateway's REST API and live WebSocket.
import { FORMS, formView, setup as setupForms } from "./admin.js";
import { ERRORS, FIELDS, TEXTS } from "./i18n.js";

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
  calendar: { view: "week", day: new Date(), users: "" },
  work: { campaign: "", q: "", current: null, item: null },
  calls: { type: "all" },
  imports: { kind: "import_contacts", upload: null, job: null },
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
  return add(el, ...children);
}
// Append children, skipping null/undefined/false and flattening arrays (DOM append would print "null").
function add(el, ...children) {
  for (const c of children.flat(Infinity)) {
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
    this.details = error && error.details;
  }
}

// Errors are shown in the console's language: the server's code (and field) pick a localized message,
// the field is named by its label on screen when there is one; the server's own text stays as detail.
function fieldName(field, root) {
  if (!field) return "";
  const el = root && root.querySelector(`[data-field="${CSS.escape(field)}"]`);
  const label = el && el.closest("label");
  const text = label && label.childNodes[0] && label.childNodes[0].nodeType === Node.TEXT_NODE ? label.childNodes[0].textContent : "";
  if (text.trim()) return text.replace(/\s*\*\s*\(.*\)\s*$/, "").trim();
  const names = FIELDS[S.lang] || FIELDS.es;
  if (names[field]) return names[field];
  return field.includes(".") ? field.slice(field.indexOf(".") + 1) : field;
}

function errorMessage(ex, root) {
  if (!(ex instanceof ApiError)) return { text: (ex && ex.message) || String(ex), detail: "" };
  const table = ERRORS[S.lang] || ERRORS.es;
  const field = ex.field || "";
  const generic = field.includes(".") ? `${field.split(".")[0]}.*` : field;
  const template = table[`${ex.code}:${field}`] || table[`${ex.code}:${generic}`] || table[ex.code]
    || table[`http_${ex.status}`] || table.unknown;
  let text = field ? template.replace("{field}", fieldName(field, root)) : template.replace(/[:\s«“]*\{field\}[»”]?/, "");
  if (ex.details && ex.details.retry_after_s) text = text.replace("{seconds}", ex.details.retry_after_s);
  if (field && !template.includes("{field}") && !table[`${ex.code}:${field}`] && !table[`${ex.code}:${generic}`]) {
    text += ` (${fieldName(field, root)})`;
  }
  return { text, detail: ex.message && ex.message !== text ? ex.message : "" };
}

function errorText(ex, root) {
  const { text, detail } = errorMessage(ex, root);
  return detail ? `${text} — ${detail}` : text;
}

// Show an error in a form's error line and mark the field it names.
function showError(el, ex, root) {
  const { text, detail } = errorMessage(ex, root);
  add(clear(el), h("span", { class: "error-text", "data-testid": "error-text" }, text),
    detail ? h("small", { class: "error-detail", "data-testid": "error-detail" }, detail) : null);
  const bad = root && ex && ex.field && root.querySelector(`[data-field="${CSS.escape(ex.field)}"]`);
  if (bad) { bad.classList.add("invalid"); bad.focus(); }
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
        if (ex.status === 401) err.textContent = t("bad_login"); else showError(err, ex, form);
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
      } catch (ex) { toast(errorText(ex), "error"); }
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
  S.timers.forEach(clearInterval); S.timers = [];
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
  } catch (ex) { toast(errorText(ex), "error"); S.offers.delete(id); renderOffers(); }
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
  } catch (ex) { toast(errorText(ex), "error"); }
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
  try { conv = await api("GET", `/conversations/${encodeURIComponent(id)}`); } catch (ex) { toast(errorText(ex), "error"); return; }
  if (S.selected !== id) return;
  const snap = await snapshot(conv.campaign_id);
  const perms = (snap && snap.permissions) || {};
  add(view,
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
      } catch (ex) { toast(errorText(ex), "error"); }
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
        } catch (ex) { showError(err, ex, e.target); } finally { S.transferring.delete(id); }
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

// The campaign's closing typifications (all of its typifications when it names none), after an empty choice.
function typificationOptions(snap) {
  const allowed = new Set((snap && snap.closing_typifications) || []);
  const typs = ((snap && snap.typifications) || []).filter((x) => !allowed.size || allowed.has(x.id));
  return [h("option", { value: "" }, "—"),
    ...typs.map((x) => h("option", { value: x.id }, x.label || [x.category, x.subcategory].filter(Boolean).join(" / ")))];
}

function closeForm(id, snap) {
  const typ = h("select", { name: "typification_id", "data-field": "typification_id", "data-testid": "close-typification" },
    typificationOptions(snap));
  const fields = ((snap && snap.custom_fields) || []).map((cf) => h("label", {},
    `${cf.label || cf.key}${cf.required ? ` * (${t("required")})` : ""}`, fieldInput(cf)));
  const err = h("p", { class: "error", "data-testid": "close-error" });
  const form = h("form", {
    novalidate: true,
    onsubmit: async (e) => {
      e.preventDefault();
      err.textContent = "";
      form.querySelectorAll(".invalid").forEach((el) => el.classList.remove("invalid"));
      try {
        await api("POST", `/conversations/${encodeURIComponent(id)}/close`, { typification_id: typ.value, fields: fieldValues(form, snap) });
        toast(t("closed"));
        removeConv(id);
      } catch (ex) {
        showError(err, ex, form);
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
    add(body,
      perms.show_contact_number === false ? null : h("p", {}, `${t("phone")}: ${conv.contact_address || ""}`),
      h("label", {}, t("name"), name), h("label", {}, t("document"), doc));
    if (contact) {
      add(body, h("button", {
        "data-testid": "contact-save",
        onclick: async () => {
          try { await api("PATCH", `/contacts/${encodeURIComponent(contact.id)}`, { name: name.value, document: doc.value || null }); toast(t("saved")); }
          catch (ex) { toast(errorText(ex), "error"); }
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
      add(body, h("button", {
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
          } catch (ex) { toast(errorText(ex), "error"); }
        },
      }, t("match")), h("button", {
        "data-testid": "contact-create",
        onclick: async () => {
          try {
            const c = await api("POST", "/contacts", { name: name.value || conv.contact_address, document: doc.value || null, phones: conv.channel_type === "whatsapp" || conv.channel_type === "sms" ? [conv.contact_address] : [] });
            await api("PUT", `/cases/${encodeURIComponent(id)}/contact`, { contact_id: c.id });
            toast(t("saved"));
          } catch (ex) { toast(errorText(ex), "error"); }
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
  }).catch((ex) => { clear(box).append(h("p", { class: "error" }, errorText(ex))); });
  return box;
}

const enc = encodeURIComponent;
const myCampaigns = () => (S.me && S.me.campaigns) || [];

function campaignPicker(onchange) {
  const camps = myCampaigns();
  if (!camps.includes(S.work.campaign)) S.work.campaign = camps[0] || "";
  const sel = h("select", { "data-testid": "work-campaign", onchange: () => { S.work.campaign = sel.value; onchange(); } },
    camps.map((c) => h("option", { value: c }, c)));
  sel.value = S.work.campaign;
  return h("label", { class: "inline" }, `${t("campaign")} `, sel);
}

// Click-to-call: the call is registered in the CRM as outbound, by this agent, in the current campaign.
function dialButton(phone) {
  return h("button", {
    type: "button", class: "dial secondary", "data-testid": "dial", "data-phone": phone,
    onclick: async () => {
      try {
        await api("POST", "/calls", { direction: "out", phone, agent_id: S.user.id, campaign_id: S.work.campaign || null });
        toast(`${t("calling")} ${phone}`);
        if (S.tab === "calls") renderMain();
      } catch (ex) { toast(errorText(ex), "error"); }
    },
  }, `📞 ${phone}`);
}

function workView() {
  const list = h("div", { id: "work-list", "data-testid": "work-list" });
  const detail = h("section", { id: "work-item", class: "work-item", "data-testid": "work-item" });
  const filter = h("input", { placeholder: t("filter_name"), value: S.work.q, "data-testid": "work-filter" });
  let timer = null;
  filter.oninput = () => { S.work.q = filter.value; clearTimeout(timer); timer = setTimeout(renderWorkList, 300); };
  setTimeout(() => { renderWorkList(); renderWorkItem(); }, 0);
  return h("div", { class: "work", "data-testid": "work-panel" },
    h("div", { class: "toolbar" }, h("h2", {}, t("tab_work")),
      campaignPicker(() => { S.work.current = null; renderMain(); }), filter),
    h("div", { class: "split wide" }, list, detail));
}

async function renderWorkList() {
  const box = $("#work-list");
  if (!box) return;
  if (!S.work.campaign) { clear(box).append(h("p", { class: "muted" }, t("no_campaigns"))); return; }
  const q = new URLSearchParams({ campaign_id: S.work.campaign });
  if (S.work.q.trim()) q.set("q", S.work.q.trim());
  let list;
  try { list = items(await api("GET", `/work-items?${q}`)); } catch (ex) { clear(box).append(h("p", { class: "error" }, errorText(ex))); return; }
  clear(box);
  if (!list.length) { box.append(h("p", { class: "muted" }, t("no_items"))); return; }
  box.append(h("table", { class: "items" },
    h("tr", {}, [t("customer"), t("phone"), t("plan"), t("priority"), t("state"), ""].map((x) => h("th", {}, x))),
    list.map((it) => h("tr", { "data-testid": "work-row", "data-case-id": it.id, class: S.work.current === it.id ? "active" : "" },
      h("td", {}, h("a", { href: "#", class: "contact-link", onclick: (e) => { e.preventDefault(); openContact(it.contact_id); } },
        it.contact_name || it.contact_id), it.title ? h("div", { class: "muted" }, it.title) : null),
      h("td", {}, (it.phones || []).map((ph) => dialButton(ph))),
      h("td", {}, it.account ? `${it.account.number || ""} ${it.account.product || ""}` : ""),
      h("td", {}, h("span", { class: `pill ${it.priority}` }, t(`priority_${it.priority}`))),
      h("td", { "data-testid": "work-status" }, t(`case_${it.status}`)),
      h("td", {}, h("button", { "data-testid": "work-attend", onclick: () => attend(it.id) }, t("attend")))))));
}

async function attend(id) {
  try {
    const kase = await api("POST", `/work-items/${enc(id)}/attend`);
    S.work.current = kase.id;
    S.work.item = kase;
    renderWorkList(); renderWorkItem();
  } catch (ex) { toast(errorText(ex), "error"); }
}

async function openContact(contactId) {
  const box = clear($("#work-item"));
  if (!box || !contactId) return;
  S.work.current = null;
  try {
    const c = await api("GET", `/contacts/${enc(contactId)}`);
    const inputs = { name: c.name, document: c.document, company: c.company };
    const fields = Object.entries(inputs).map(([k, v]) => [k, h("input", { value: v || "", "data-testid": `contact-${k}` })]);
    const err = h("p", { class: "error" });
    add(box, h("h3", {}, t("contact")), fields.map(([k, el]) => h("label", {}, t(k), el)),
      h("button", {
        "data-testid": "contact-save",
        onclick: async () => {
          err.textContent = "";
          const body = Object.fromEntries(fields.map(([k, el]) => [k, el.value.trim() || null]));
          try { await api("PATCH", `/contacts/${enc(contactId)}`, body); toast(t("saved")); renderWorkList(); }
          catch (ex) { showError(err, ex, box); }
        },
      }, t("save")), err);
  } catch (ex) { box.append(h("p", { class: "error" }, errorText(ex))); }
}

async function renderWorkItem() {
  const box = clear($("#work-item"));
  if (!box) return;
  const kase = S.work.item;
  if (!S.work.current || !kase) { box.append(h("p", { class: "muted" }, t("pick_work_item"))); return; }
  const snap = await snapshot(kase.campaign_id);
  if (S.work.item !== kase) return;
  const contact = kase.contact || {};
  const phones = (contact.phones || []).map((p) => p.value || p.number || p);
  const comment = h("textarea", { rows: 3, name: "comment", "data-field": "comment", "data-testid": "work-comment", placeholder: t("comment") });
  const result = h("select", { name: "result", "data-field": "result", "data-testid": "work-result" }, typificationOptions(snap));
  const customs = ((snap && snap.custom_fields) || []).map((cf) => h("label", {},
    `${cf.label || cf.key}${cf.required ? ` * (${t("required")})` : ""}`, fieldInput(cf)));
  const finishBox = h("div", { class: "finish", hidden: true }, h("label", {}, t("result"), result), customs);
  const finish = h("input", { type: "checkbox", "data-testid": "work-finish", onchange: () => { finishBox.hidden = !finish.checked; } });
  const err = h("p", { class: "error", "data-testid": "work-error" });
  const form = h("form", { novalidate: true, onsubmit: (e) => e.preventDefault() });
  const save = async (next) => {
    err.textContent = "";
    form.querySelectorAll(".invalid").forEach((el) => el.classList.remove("invalid"));
    const body = { next };
    if (comment.value.trim()) body.comment = comment.value.trim();
    if (finish.checked) {
      body.finish = true;
      if (result.value) body.result = result.value;
      body.fields = fieldValues(form, snap);
    }
    try {
      const answer = await api("POST", `/work-items/${enc(kase.id)}/save`, body);
      toast(finish.checked ? t("work_finished") : t("saved"));
      S.work.item = (answer && answer.next) || (finish.checked ? null : answer && answer.case);
      S.work.current = S.work.item ? S.work.item.id : null;
      renderWorkList(); renderWorkItem();
    } catch (ex) { showError(err, ex, form); }
  };
  add(form,
    h("label", {}, t("comment"), comment),
    h("label", { class: "check" }, finish, ` ${t("finish_work")}`),
    finishBox,
    h("button", { type: "button", class: "secondary", "data-testid": "work-save", onclick: () => save(false) }, t("save")),
    h("button", { type: "button", "data-testid": "work-save-next", onclick: () => save(true) }, t("save_next")),
    err);
  add(box,
    h("div", { class: "conv-head" },
      h("h3", { "data-testid": "work-title" }, contact.name || kase.contact_id),
      h("span", {}, `${t("state")}: `, h("b", { "data-testid": "work-item-status" }, t(`case_${kase.status}`)))),
    kase.title ? h("p", {}, kase.title) : null,
    h("p", {}, `${t("phone")}: `, phones.length ? phones.map((ph) => dialButton(ph)) : "—"),
    kase.account ? h("p", {}, `${t("plan")}: ${kase.account.number || ""} · ${kase.account.product || ""}`) : null,
    form,
    callbackForm(kase),
    h("h4", {}, t("history")),
    h("ul", { class: "history", "data-testid": "work-history" },
      (kase.history || []).slice().reverse().map((ev) => h("li", {},
        `${fmtTime(ev.at)} · ${t(`event_${ev.kind}`)} · ${ev.actor || ""} ${ev.body ? `· ${ev.body}` : ""}`))));
}

function fieldValues(form, snap) {
  const values = {};
  for (const cf of (snap && snap.custom_fields) || []) {
    const el = form.querySelector(`[name="${CSS.escape(cf.key)}"]`);
    if (!el) continue;
    if (cf.type === "boolean") values[cf.key] = el.checked;
    else if (el.value !== "") values[cf.key] = cf.type === "number" ? Number(el.value) : el.value;
  }
  return values;
}

// A callback (agenda) on this work item, owned by the caller, due at a local date and time.
function localIso(value) {
  const d = new Date(value);
  const off = -d.getTimezoneOffset();
  const pad = (n) => String(Math.floor(Math.abs(n))).padStart(2, "0");
  return `${value.length === 16 ? `${value}:00` : value}${off >= 0 ? "+" : "-"}${pad(off / 60)}:${pad(off % 60)}`;
}

function callbackForm(kase) {
  const when = h("input", { type: "datetime-local", name: "due_at", "data-field": "due_at", "data-testid": "callback-due" });
  const note = h("input", { name: "note", "data-field": "note", placeholder: t("note"), "data-testid": "callback-note" });
  const err = h("p", { class: "error", "data-testid": "callback-error" });
  const panel = h("details", { class: "panel" }, h("summary", { "data-testid": "callback-open" }, t("schedule_callback")),
    when, note, h("button", {
      type: "button", "data-testid": "callback-create",
      onclick: async () => {
        err.textContent = "";
        try {
          const body = { owner_id: S.user.id, case_id: kase.id, note: note.value };
          if (when.value) body.due_at = localIso(when.value);
          await api("POST", "/callbacks", body);
          toast(t("callback_scheduled"));
          panel.open = false;
        } catch (ex) { showError(err, ex, panel); }
      },
    }, t("schedule")), err);
  return panel;
}

function callsView() {
  const number = h("input", { placeholder: t("number"), name: "phone", "data-field": "phone", "data-testid": "call-number" });
  const kind = h("select", { "data-testid": "calls-type", onchange: () => { S.calls.type = kind.value; renderMain(); } },
    ["all", "in", "out"].map((x) => h("option", { value: x }, t(`calls_${x}`))));
  kind.value = S.calls.type;
  const err = h("p", { class: "error", "data-testid": "call-error" });
  const form = h("form", {
    class: "toolbar",
    onsubmit: async (e) => {
      e.preventDefault();
      err.textContent = "";
      try {
        await api("POST", "/calls", { direction: "out", phone: number.value.trim(), agent_id: S.user.id, campaign_id: S.work.campaign || null });
        toast(`${t("calling")} ${number.value.trim()}`); renderMain();
      } catch (ex) { showError(err, ex, form); }
    },
  }, campaignPicker(() => renderMain()), number, h("button", { type: "submit", "data-testid": "call-submit" }, `📞 ${t("call")}`), err);
  const q = new URLSearchParams({ type: S.calls.type });
  return h("div", { "data-testid": "calls-panel" }, h("h2", {}, t("tab_calls")), form, h("label", { class: "inline" }, `${t("show")} `, kind),
    listPanel(`/calls?${q}`, (c) => {
      const out = c.direction === "out";
      return h("div", { class: `card call ${out ? "outbound" : "inbound"}`, "data-testid": `call-${out ? "out" : "in"}`, "data-call-id": c.id },
        h("b", { class: "direction" }, out ? `↗ ${t("outbound")}` : `↙ ${t("inbound")}`), " ",
        h("span", { class: "who" }, c.contact_name || ""), " ", dialButton(c.phone),
        h("small", {}, ` ${fmtTime(c.started_at)} · ${c.duration_s || 0} s`),
        c.disposition ? h("span", { class: "pill" }, c.disposition) : h("span", { class: "pill pending" }, t("unclassified")),
        c.agent_id === S.user.id || S.user.role !== "agent" ? classifyForm(c) : null);
    }));
}

// Classify a call (an agent: only their own): a result among the campaign's closing typifications, a comment.
function classifyForm(c) {
  const attrs = { name: "disposition", "data-field": "disposition", "data-testid": "classify-disposition" };
  let result = h("select", attrs, h("option", { value: "" }, "—"));
  snapshot(c.campaign_id).then((snap) => {
    if (snap && (snap.typifications || []).length) {
      clear(result).append(...typificationOptions(snap)); result.value = c.disposition || "";
    } else { // no campaign typifications to choose from: the result is written
      const free = h("input", { ...attrs, value: c.disposition || "" });
      result.replaceWith(free); result = free;
    }
  });
  const comment = h("input", { name: "comment", "data-field": "comment", "data-testid": "classify-comment", value: c.comment || "" });
  const err = h("p", { class: "error", "data-testid": "classify-error" });
  const form = h("form", {
    class: "toolbar classify",
    onsubmit: async (e) => {
      e.preventDefault();
      err.textContent = "";
      try {
        await api("PUT", `/calls/${enc(c.id)}/classification`, { disposition: result.value, comment: comment.value.trim() || null });
        toast(t("saved")); renderMain();
      } catch (ex) { showError(err, ex, form); }
    },
  }, h("label", { class: "inline" }, t("disposition"), result), h("label", { class: "inline" }, t("comment"), comment),
  h("button", { type: "submit", "data-testid": "classify-submit" }, t("classify")), err);
  return h("details", { class: "classify", "data-testid": "classify" }, h("summary", {}, t("classify")), form);
}

function callbacksView() {
  const cal = S.calendar;
  const view = cal.view;
  const day = new Date(cal.day);
  const ymd = (d) => `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
  const shift = (dir) => {
    const d = new Date(cal.day);
    if (view === "day") d.setDate(d.getDate() + dir);
    else if (view === "week") d.setDate(d.getDate() + 7 * dir);
    else { d.setDate(1); d.setMonth(d.getMonth() + dir); }
    cal.day = d; renderMain();
  };
  const users = h("input", { value: cal.users || S.user.id, "data-testid": "cal-users", hidden: S.user.role === "agent",
    title: t("users"), onchange: () => { cal.users = users.value; renderMain(); } });
  const grid = h("div", { class: `calendar ${view}`, "data-testid": "calendar" }, h("p", { class: "muted" }, "…"));
  const tz = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  const q = new URLSearchParams({ users: cal.users || S.user.id, view, date: ymd(day), tz });
  const locale = S.lang === "es" ? "es-ES" : "en-GB";
  api("GET", `/callbacks/calendar?${q}`).then((data) => {
    clear(grid);
    // The range comes as instants; the days are those of the time zone sent, which is the browser's.
    const from = new Date(data.from); from.setHours(0, 0, 0, 0);
    const to = new Date(data.to);
    const cells = new Map();
    for (let d = new Date(from); d < to; d.setDate(d.getDate() + 1)) {
      const key = ymd(d);
      const cell = h("div", { class: `day ${key === ymd(new Date()) ? "today" : ""}`, "data-day": key },
        h("b", {}, d.toLocaleDateString(locale, { weekday: "short", day: "numeric", month: "short" })));
      cells.set(key, cell); grid.append(cell);
    }
    for (const [owner, byDay] of Object.entries(data.users || {})) {
      for (const [key, list] of Object.entries(byDay)) {
        for (const cb of list) {
          const at = new Date(cb.due_at);
          (cells.get(key) || grid).append(h("div", { class: `event ${cb.status}`, "data-testid": "callback", "data-callback-id": cb.id },
            `${at.toLocaleTimeString(locale, { hour: "2-digit", minute: "2-digit" })} ${cb.contact_name || ""} ${cb.note || ""}`,
            Object.keys(data.users).length > 1 ? h("small", {}, ` · ${owner}`) : null));
        }
      }
    }
  }).catch((ex) => { clear(grid).append(h("p", { class: "error" }, errorText(ex))); });
  const title = view === "month" ? day.toLocaleDateString(locale, { month: "long", year: "numeric" })
    : day.toLocaleDateString(locale, { day: "numeric", month: "long", year: "numeric" });
  return h("div", { "data-testid": "callbacks-panel" }, h("h2", {}, t("tab_callbacks")),
    h("div", { class: "toolbar" },
      ["day", "week", "month"].map((v) => h("button", { class: view === v ? "active" : "secondary", "data-testid": `cal-${v}`, onclick: () => { cal.view = v; renderMain(); } }, t(v))),
      h("button", { class: "secondary", "data-testid": "cal-prev", onclick: () => shift(-1) }, t("prev")),
      h("button", { class: "secondary", onclick: () => { cal.day = new Date(); renderMain(); } }, t("today")),
      h("button", { class: "secondary", "data-testid": "cal-next", onclick: () => shift(1) }, t("next")),
      h("b", { "data-testid": "cal-title" }, title), users),
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
      cards.push(h("div", { class: "card" }, h("h3", {}, cid), h("p", { class: "error" }, errorText(ex))));
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
  } catch (ex) { box.append(h("p", { class: "error" }, errorText(ex))); }
}

// ---- admin: configuration and imports ------------------------------------------------------------------
// Campaigns, schedules, typifications and channels have real forms (admin.js); the rest a JSON editor.
const TEMPLATES = {
  clients: { name: "", status: "active" },
  projects: { client_id: "", name: "", status: "active" },
  fields: { key: "", label: "", type: "text", options: [] },
  users: { id: "", username: "", role: "agent", password: "", display_name: "" },
};
const ADMIN_RESOURCES = ["campaigns", "schedules", "typifications", "channels", "clients", "projects", "fields", "users"];
setupForms({ h, clear, api, t, items, showError, toast, done: () => renderMain() });

function adminView() {
  const res = S.adminResource;
  const nav = h("nav", { class: "tabs sub" }, ADMIN_RESOURCES.map((r) => h("button", {
    class: r === res ? "active" : "", "data-testid": `admin-${r}`, onclick: () => { S.adminResource = r; renderMain(); },
  }, t(r))));
  if (FORMS[res]) return h("div", { "data-testid": "admin" }, nav, formView(res));
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
          try { body = JSON.parse(area.value); } catch (ex) { err.textContent = `${t("bad_json")} — ${ex.message}`; return; }
          try {
            if (item) await api("PATCH", `/${res}/${encodeURIComponent(item.id)}`, body);
            else await api("POST", `/${res}`, body);
            toast(t("saved")); renderMain();
          } catch (ex) { showError(err, ex, editor); }
        },
      }, t("save")), err);
  };
  return h("div", { "data-testid": "admin" }, nav,
    h("button", { "data-testid": "admin-new", onclick: () => openEditor(null) }, t("new")),
    listPanel(`/${res}`, (it) => h("div", { class: "card row" },
      h("b", {}, it.name || it.label || it.username || it.key || it.id), h("small", {}, ` ${it.id || ""} ${it.status || it.role || it.type || ""}`),
      h("button", { onclick: () => openEditor(it) }, t("edit")),
      res === "users" ? null : h("button", {
        class: "secondary",
        onclick: async () => { try { await api("DELETE", `/${res}/${encodeURIComponent(it.id)}`); renderMain(); } catch (ex) { toast(errorText(ex), "error"); } },
      }, t("delete")))),
    editor);
}

// ---- imports: upload a file, map its columns, run the import with a progress bar ---------------------
// The fields of the CRM's imports (services/crm/domain/imports.py); a campaign's custom fields follow.
const IMPORT_FIELDS = {
  import_contacts: ["name", "document", "phone", "phone_2", "email", "company", "assigned_user", "tags"],
  import_accounts: ["account_number", "document", "name", "phone", "phone_2", "email", "company", "product",
    "balance", "due_date", "assigned_user", "tags"],
};
const FINISHED = ["succeeded", "failed", "cancelled"];

async function sendFile(path, file) {
  const headers = { "Content-Type": file.type || "application/octet-stream" };
  if (S.token) headers.Authorization = `Bearer ${S.token}`;
  const res = await fetch(`/api/v1${path}`, { method: "POST", headers, body: file });
  const data = await res.json().catch(() => null);
  if (!res.ok) throw new ApiError(res.status, data && data.error);
  return data;
}

// A file answered by the API (template, outcome): fetched with the token, then saved by the browser.
async function download(path, filename) {
  try {
    const res = await fetch(`/api/v1${path}`, { headers: { Authorization: `Bearer ${S.token}` } });
    if (!res.ok) { const data = await res.json().catch(() => null); throw new ApiError(res.status, data && data.error); }
    const url = URL.createObjectURL(await res.blob());
    const a = h("a", { href: url, download: filename });
    document.body.append(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (ex) { toast(errorText(ex), "error"); }
}

function importsView() {
  const st = S.imports;
  const kind = h("select", { "data-testid": "import-kind", onchange: () => { st.kind = kind.value; renderMain(); } },
    Object.keys(IMPORT_FIELDS).map((k) => h("option", { value: k }, t(k))));
  kind.value = st.kind;
  const needsCampaign = st.kind === "import_accounts";
  const file = h("input", { type: "file", accept: ".csv,.txt,.xlsx", name: "file", "data-field": "file", "data-testid": "import-file" });
  const err = h("p", { class: "error", "data-testid": "import-error" });
  const mapping = h("div", { "data-testid": "import-mapping" });
  const job = h("div", { class: "card", "data-testid": "import-job", hidden: !st.job });
  const view = h("div", { "data-testid": "imports" }, h("h2", {}, t("tab_imports")),
    h("div", { class: "toolbar" }, h("label", { class: "inline" }, `${t("import_kind")} `, kind),
      needsCampaign ? campaignPicker(() => renderMain()) : null,
      h("button", { class: "secondary", "data-testid": "import-template",
        onclick: () => download(`/imports/template?${new URLSearchParams({ kind: st.kind, ...(needsCampaign && S.work.campaign ? { campaign_id: S.work.campaign } : {}) })}`, `${st.kind}.xlsx`) },
      t("download_template"))),
    h("div", { class: "toolbar" }, h("label", { class: "inline" }, `${t("import_file")} `, file),
      h("button", {
        "data-testid": "import-upload",
        onclick: async () => {
          err.textContent = "";
          const f = file.files[0];
          if (!f) { err.textContent = t("pick_file"); return; }
          try {
            st.upload = await sendFile(`/imports?${new URLSearchParams({ filename: f.name })}`, f);
            st.job = null;
            renderMapping(mapping, err);
          } catch (ex) { showError(err, ex, view); }
        },
      }, t("upload"))),
    err, mapping, job,
    h("h3", {}, t("recent_processes")), h("div", { id: "process-list" }, recentProcesses()));
  if (st.upload) setTimeout(() => renderMapping(mapping, err), 0);
  if (st.job) setTimeout(() => watchJob(st.job.id), 0);
  return view;
}

function recentProcesses() {
  return listPanel("/processes?limit=10", (j) => h("div", { class: "card row", "data-testid": "process-row" },
    h("b", {}, t(j.kind)), h("span", {}, statusText(`job_${j.status}`)),
    h("progress", { max: 100, value: jobPercent(j) }), h("small", {}, `${j.done ?? 0}/${j.total ?? "?"} · ${fmtTime(j.created_at)}`)));
}

const jobPercent = (j) => (j.total ? Math.min(100, Math.round((100 * (j.done || 0)) / j.total)) : (j.status === "succeeded" ? 100 : 0));

async function renderMapping(box, err) {
  const st = S.imports;
  const up = st.upload;
  clear(box);
  if (!up) return;
  const snap = st.kind === "import_accounts" ? await snapshot(S.work.campaign) : null;
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
    up.sample && up.sample.length ? h("table", { class: "items sample" }, h("tr", {}, up.columns.map((c) => h("th", {}, c))),
      up.sample.map((row) => h("tr", {}, row.map((v) => h("td", {}, v ?? ""))))) : null,
    h("h4", {}, t("column_mapping")),
    h("div", { class: "mapping", "data-field": "columns" }, selects.map(([target, sel]) => h("label", {}, t(`f_${target}`) !== `f_${target}` ? t(`f_${target}`) : target, sel))),
    h("label", { class: "check" }, dry, ` ${t("dry_run")}`),
    st.kind === "import_accounts" ? h("label", { class: "check" }, cases, ` ${t("create_cases")}`) : null,
    h("button", {
      "data-testid": "import-start",
      onclick: async () => {
        err.textContent = "";
        box.querySelectorAll(".invalid").forEach((el) => el.classList.remove("invalid"));
        const map = Object.fromEntries(selects.filter(([, sel]) => sel.value).map(([target, sel]) => [target, sel.value]));
        const params = { mode: "custom", mapping: map };
        if (st.kind === "import_accounts") Object.assign(params, { campaign_id: S.work.campaign, create_cases: cases.checked });
        try {
          st.job = await api("POST", "/processes", { kind: st.kind, upload_id: up.id, dry_run: dry.checked, params });
          watchJob(st.job.id);
        } catch (ex) { showError(err, ex, box); }
      },
    }, t("import_start"))));
}

// Poll the process until it ends: the bar shows done/total, the counts what happened to the rows.
function watchJob(id) {
  const box = $('[data-testid="import-job"]');
  if (!box) return;
  box.hidden = false;
  const bar = h("progress", { max: 100, value: 0, "data-testid": "import-progress" });
  const status = h("b", { "data-testid": "import-status" });
  const counts = h("div", { class: "muted", "data-testid": "import-counts" });
  const cancel = h("button", { class: "secondary", "data-testid": "import-cancel",
    onclick: () => api("POST", `/processes/${enc(id)}/cancel`).catch((ex) => toast(errorText(ex), "error")) }, t("cancel"));
  const outcome = h("button", { class: "secondary", "data-testid": "import-outcome", hidden: true,
    onclick: () => download(`/processes/${enc(id)}/outcome?format=csv`, `outcome-${id}.csv`) }, t("download_outcome"));
  const pct = h("span", { "data-testid": "import-percent" }, "0%");
  add(clear(box), h("div", {}, `${t("progress")}: `, bar, " ", pct, " · ", status), counts, cancel, outcome);
  const show = (j) => {
    const p = jobPercent(j);
    bar.value = p; pct.textContent = `${p}%`;
    status.textContent = statusText(`job_${j.status}`) + (j.dry_run ? ` (${t("dry_run")})` : "");
    clear(counts).append(`${j.done ?? 0}/${j.total ?? "?"} ${t("rows")}`,
      ...Object.entries(j.counts || {}).map(([k, v]) => ` · ${t(`count_${k}`) !== `count_${k}` ? t(`count_${k}`) : k}: ${v}`),
      j.error ? ` · ${j.error}` : "");
    const over = FINISHED.includes(j.status);
    cancel.hidden = over; outcome.hidden = !over;
    return over;
  };
  const poll = async () => {
    try {
      const j = await api("GET", `/processes/${enc(id)}`);
      S.imports.job = j;
      if (show(j)) {
        clearInterval(timer);
        const list = $("#process-list");
        if (list) add(clear(list), recentProcesses());
      }
    } catch (ex) { clearInterval(timer); toast(errorText(ex), "error"); }
  };
  const timer = setInterval(poll, 500);
  S.timers.push(timer);
  poll();
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
