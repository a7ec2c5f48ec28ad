// Switchboard console: agents, supervisors and admins, over the gateway's REST API and live WebSocket.
// This module boots the console, routes live events into the store, and mounts one view per section.
import { api, endSession, onSessionEnd, saveSession, session } from "./lib/api.js";
import { $, clear, createScope, h, labelled, toast } from "./lib/dom.js";
import { connectEvents, disconnectEvents } from "./lib/events.js";
import { askPermissionOnce } from "./lib/notify.js";
import { errorText, getLang, setLang, showError, statusText, t } from "./lib/i18n.js";
import { mapDelete, mapSet } from "./lib/store.js";
import { isAgent, me, store } from "./state.js";
import { adminView } from "./views/admin.js";
import { alertsRegion, announceOffer, answerOffer, onCallProgress } from "./views/alerts.js";
import { calendarView } from "./views/calendar.js";
import { callsView } from "./views/calls.js";
import { enc } from "./views/common.js";
import {
  conversationsView, loadConversations, markStatus, onMessage, removeConv, select, transferring, upsertConv,
} from "./views/conversations.js";
import { actionsView } from "./views/actions.js";
import { contactsView } from "./views/contacts.js";
import { deadLettersView } from "./views/deadletters.js";
import { historyView } from "./views/history.js";
import { importsView } from "./views/imports.js";
import { operatorView } from "./views/operator.js";
import { processesView } from "./views/processes.js";
import { reportsView } from "./views/reports.js";
import { supervisorView } from "./views/supervisor.js";
import { ticketsView } from "./views/tickets.js";

const VIEWS = {
  conversations: conversationsView, work: operatorView, calls: callsView, contacts: contactsView,
  actions: actionsView, tickets: ticketsView, history: historyView, callbacks: calendarView,
  queues: supervisorView, reports: reportsView, processes: processesView, imports: importsView, admin: adminView,
  deadletters: deadLettersView,
};

function tabList() {
  const role = me().role;
  // Seed 001's six sections, named as the seed names them, after the conversations and the operator panel.
  const list = ["conversations", "work", "calls", "contacts", "actions", "tickets", "history", "callbacks"];
  if (role !== "agent") list.push("queues", "reports", "processes", "imports");
  if (role === "admin") list.push("admin", "deadletters");
  return list;
}

// ---- live events → store -------------------------------------------------------------------------------
function onEvent(ev) {
  const uid = me().id;
  const cid = ev.conversation_id;
  const offers = store.get("offers");
  switch (ev.type) {
    case "conversation.offered":
      if (ev.agent_id === uid && !offers.has(cid)) {
        store.update({ offers: mapSet(offers, cid, ev) });
        announceOffer(ev);
      }
      break;
    case "conversation.assigned":
      store.update({ offers: mapDelete(offers, cid) });
      if (ev.agent_id === uid || !isAgent()) upsertConv(cid, { ...ev, id: cid, state: "assigned" });
      if (ev.agent_id === uid && ev.channel_type === "voice") { // an inbound call: shown in green over any section
        store.update({ calls: mapSet(store.get("calls") || new Map(), cid, { id: cid, direction: "in", phone: ev.contact_address,
          campaign_id: ev.campaign_id, contact_name: ev.contact_name }) });
      }
      break;
    case "conversation.queued":
      store.update({ offers: mapDelete(offers, cid) });
      if (isAgent()) removeConv(cid);
      else upsertConv(cid, { ...ev, id: cid, state: "queued" });
      break;
    case "conversation.transferred":
      if (ev.from_agent_id === uid && ev.to_agent_id !== uid && isAgent() && store.get("convs").has(cid)
          && !transferring.has(cid)) {
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
      store.update({ offers: mapDelete(offers, cid) });
      if (store.get("convs").has(cid)) removeConv(cid);
      break;
    case "call.progress": // a click-to-call of this agent: ringing, answered, ended
      if (ev.agent_id === uid) onCallProgress(ev);
      break;
    case "agent.status":
      if (ev.agent_id === uid) store.update({ status: ev.status });
      break;
    default:
      break;
  }
  if (ev.type !== "pong" && ev.type !== "ready") store.update({ lastEvent: ev });
}

// ---- layout --------------------------------------------------------------------------------------------
let shell = null; // the scope of what is on screen (header, alerts); the section has its own
let section = null;

function render() {
  if (shell) shell.dispose();
  if (section) section.dispose();
  shell = createScope();
  section = null;
  document.documentElement.lang = getLang();
  const root = clear($("#app"));
  if (!session.token) { root.append(loginView()); return; }
  root.append(header(shell), tabs(shell), alertsRegion(shell), h("main", { id: "main" }));
  renderMain();
}

function renderMain() {
  if (section) section.dispose();
  section = createScope();
  const main = clear($("#main"));
  if (!main) return;
  const view = VIEWS[store.get("tab")] || conversationsView;
  main.append(view(section, renderMain));
}

function langButton() {
  return h("button", {
    type: "button", class: "lang", "data-testid": "lang", lang: getLang() === "es" ? "en" : "es",
    onclick: () => { setLang(getLang() === "es" ? "en" : "es"); store.update({ lang: getLang() }); render(); },
  }, t("language"));
}

function loginView() {
  const err = h("p", { class: "error", id: "login-error", "data-testid": "login-error", role: "alert" });
  const form = h("form", {
    class: "login", "data-testid": "login-form",
    onsubmit: async (e) => {
      e.preventDefault();
      err.textContent = "";
      const fd = new FormData(form);
      askPermissionOnce(); // a user gesture: the one time the console asks for desktop notifications
      try {
        saveSession(await api("POST", "/auth/login", { username: fd.get("username"), password: fd.get("password") }));
        store.update({ user: session.user });
        await start();
      } catch (ex) {
        if (ex.status === 401) err.textContent = t("bad_login"); else showError(err, ex, form);
      }
    },
  },
  h("h1", {}, t("title")),
  labelled(t("username"), h("input", { name: "username", autocomplete: "username", "data-testid": "username", "data-field": "username" })),
  labelled(t("password"), h("input", { name: "password", type: "password", autocomplete: "current-password",
    "data-testid": "password", "data-field": "password" })),
  h("button", { type: "submit", "data-testid": "login-submit" }, t("login")),
  err, langButton());
  return h("main", {}, form);
}

function header(scope) {
  const user = me();
  const statusSel = h("select", { id: "status", "data-testid": "status-select" },
    ["available", "break", "after_call_work", "offline"].map((s) => h("option", { value: s }, statusText(s))));
  statusSel.value = store.get("status");
  // The configured list (SB_GATEWAY_BREAK_REASONS, from GET /me), shown as the operator wrote it.
  const reasons = (store.get("me") && store.get("me").break_reasons) || [];
  const reasonSel = reasons.length
    ? h("select", { id: "break-reason", "data-testid": "break-reason", "data-field": "reason" }, reasons.map((r) => h("option", { value: r }, r)))
    : h("input", { id: "break-reason", "data-testid": "break-reason", "data-field": "reason" });
  const reasonBox = labelled(t("break_reason"), reasonSel, { class: "reason", hidden: store.get("status") !== "break" });
  statusSel.onchange = () => { reasonBox.hidden = statusSel.value !== "break"; };
  const now = h("b", { id: "status-now", "data-testid": "status-now" }, statusText(store.get("status")));
  const apply = h("button", {
    type: "button", "data-testid": "status-apply",
    onclick: async () => {
      try {
        const status = statusSel.value;
        await api("PUT", "/me/status", { status, reason: status === "break" ? reasonSel.value : null });
        store.update({ status });
      } catch (ex) { toast(errorText(ex), "error"); }
    },
  }, t("set_status"));
  apply.setAttribute("aria-describedby", "shortcuts");
  const link = h("span", { id: "link", role: "status" });
  const showLink = () => {
    const up = store.get("linkUp");
    link.textContent = up ? t("connected") : t("reconnecting");
    link.className = up ? "link up" : "link down";
  };
  showLink();
  scope.on(store.subscribe(["linkUp"], showLink));
  scope.on(store.subscribe(["status"], () => { now.textContent = statusText(store.get("status")); statusSel.value = store.get("status"); }));
  return h("header", {},
    h("strong", {}, t("title")),
    h("span", { class: "who", "data-testid": "who" }, `${user.username} · ${t(`role_${user.role}`)}`),
    h("span", { class: "status-box" }, `${t("status")}: `, now, labelled(t("status_new"), statusSel, { class: "inline" }), reasonBox, apply),
    link, langButton(),
    h("button", { type: "button", onclick: logout, "data-testid": "logout" }, t("logout")),
    h("small", { id: "shortcuts", class: "shortcuts" }, t("shortcuts")));
}

function tabs(scope) {
  const nav = h("nav", { class: "tabs", "aria-label": t("sections") });
  const draw = () => {
    const tab = store.get("tab");
    clear(nav).append(...tabList().map((name) => h("button", {
      type: "button", class: tab === name ? "active" : "", "aria-current": tab === name ? "page" : null,
      "data-testid": `tab-${name}`, onclick: () => store.update({ tab: name }),
    }, t(`tab_${name}`))));
  };
  draw();
  scope.on(store.subscribe(["tab"], () => { draw(); renderMain(); }));
  return nav;
}

function logout() {
  // The server ends the session too (its tokens stop working at once); best effort, the page forgets them anyway.
  if (session.token) {
    fetch("/api/v1/auth/logout", { method: "POST", headers: { Authorization: `Bearer ${session.token}` } }).catch(() => {});
  }
  disconnectEvents();
  endSession();
  store.update({ user: null, me: null, selected: null, convs: new Map(), offers: new Map(), calls: new Map(), linkUp: false });
  render();
}

// ---- start ---------------------------------------------------------------------------------------------
async function start() {
  let mine;
  try { mine = await api("GET", "/me"); } catch { logout(); return; }
  store.update({ me: mine });
  try {
    const agent = await api("GET", `/agents/${enc(me().id)}`);
    if (agent && agent.status) store.update({ status: agent.status });
  } catch { /* the router may not know this user yet */ }
  render();
  await loadConversations();
  connectEvents(onEvent, (up) => store.update({ linkUp: up }));
}

// Keyboard: Alt+A accepts the first offer, Ctrl+Enter (or Alt+S) sends the reply, Alt+C opens the closing
// form, Alt+N moves to the next conversation (unread first).
function onKey(e) {
  if (!session.token) return;
  const key = e.key.toLowerCase();
  if (e.altKey && key === "a") {
    const first = store.get("offers").keys().next();
    if (!first.done) { e.preventDefault(); answerOffer(first.value, "accept"); }
  } else if ((e.ctrlKey && key === "enter") || (e.altKey && key === "s")) {
    const form = $('[data-testid="reply-form"]');
    if (form) { e.preventDefault(); form.requestSubmit(); }
  } else if (e.altKey && key === "c") {
    const panel = $('[data-testid="close-panel"]');
    if (panel) { e.preventDefault(); panel.open = true; $('[data-testid="close-typification"]').focus(); }
  } else if (e.altKey && key === "n") {
    const ids = [...store.get("convs").entries()].sort((a, b) => (b[1].unread || 0) - (a[1].unread || 0)).map(([id]) => id);
    if (!ids.length) return;
    e.preventDefault();
    const cur = ids.indexOf(store.get("selected"));
    select(ids[(cur + 1) % ids.length]);
  }
}

onSessionEnd(() => logout());
document.addEventListener("keydown", onKey);
window.addEventListener("DOMContentLoaded", () => { if (session.token) start(); else render(); });
