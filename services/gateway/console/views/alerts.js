// Offers and calls shown over whatever section the agent is in (seed 001: "sin importar en que sección se
// encuentre"), announced with a sound and a desktop notification.
import { api } from "../lib/api.js";
import { clear, h, toast } from "../lib/dom.js";
import { announce } from "../lib/notify.js";
import { fmtTime } from "../lib/format.js";
import { errorText, getLang, t } from "../lib/i18n.js";
import { mapDelete, mapSet } from "../lib/store.js";
import { store } from "../state.js";
import { dial, enc, snapshot } from "./common.js";
import { select, upsertConv } from "./conversations.js";
import { openDialog } from "./quick.js";

export function alertsRegion(scope) {
  const box = h("section", { id: "offers", class: "offers", "data-testid": "offers", "aria-label": t("offers"), "aria-live": "assertive" });
  const render = () => renderAlerts(box);
  scope.on(store.subscribe(["offers", "calls"], render));
  render();
  return box;
}

const isCall = (ev) => ev.channel_type === "voice";

// A new offer or call: the alert is on screen already (the store); this makes it heard and seen elsewhere.
export function announceOffer(ev) {
  const who = ev.contact_name || ev.contact_address || "";
  announce(isCall(ev) ? t("call_in") : t("offers"), `${isCall(ev) ? "" : `${t("offer_from")} `}${who}`,
    () => document.querySelector('[data-testid="offer-accept"]')?.focus());
}

function renderAlerts(box) {
  clear(box);
  const offers = store.get("offers");
  const calls = store.get("calls") || new Map();
  box.hidden = !offers.size && !calls.size;
  if (box.hidden) return;
  box.append(h("h2", {}, t("offers")));
  for (const [id, ev] of offers) {
    const call = isCall(ev);
    box.append(h("div", { class: `offer ${call ? "call inbound" : ""}`, "data-testid": "offer", "data-conversation-id": id },
      h("div", {}, call ? h("b", { class: "direction" }, `↙ ${t("call_in")} `) : `${t("offer_from")} `,
        h("b", {}, ev.contact_name || ev.contact_address || "?"), ` · ${ev.channel_type || ""}`),
      ev.expires_at ? h("small", {}, ` ${t("offer_until")} ${fmtTime(ev.expires_at, getLang())}`) : null,
      h("button", { type: "button", "data-testid": "offer-accept", "aria-keyshortcuts": "Alt+A", onclick: () => answerOffer(id, "accept") }, t("accept")),
      h("button", { type: "button", class: "secondary", "data-testid": "offer-reject", onclick: () => answerOffer(id, "reject") },
        t("reject"))));
  }
  for (const [id, c] of calls) {
    const out = c.direction === "out";
    box.append(h("div", { class: `offer call ${out ? "outbound" : "inbound"}`, "data-testid": `active-call-${out ? "out" : "in"}`, "data-call-id": id },
      h("b", { class: "direction" }, out ? `↗ ${t("call_out")}` : `↙ ${t("call_in")}`), " ",
      h("b", {}, c.contact_name || c.phone || ""), ` ${c.phone || ""} `,
      c.status ? h("span", { class: `pill call-status ${c.status}`, "data-testid": "call-status", "data-status": c.status, role: "status" },
        t(`call_status_${c.status}`), c.status === "ended" && c.duration_s != null ? ` · ${c.duration_s} s` : "") : null,
      h("button", { type: "button", class: "secondary", "data-testid": "call-ignore", onclick: () => dismissCall(id) }, t("ignore")),
      h("button", { type: "button", class: "secondary", "data-testid": "call-redial", onclick: () => dial(c.phone, c.contact_id ? { contact_id: c.contact_id } : {}) }, t("redial")),
      h("button", { type: "button", class: "secondary", "data-testid": "call-popup", onclick: () => popup(c) }, t("popup")),
      h("button", { type: "button", "data-testid": "call-parametrize", onclick: () => { dismissCall(id); store.update({ tab: "calls" }); } }, t("parametrize"))));
  }
}

// The order of a placed call's states: a late answer never moves a call back.
const CALL_RANK = { dialing: 0, manual: 0, ringing: 1, answered: 2, ended: 3, missed: 3 };

function advance(known, ev) {
  if ((CALL_RANK[ev.stage] ?? 0) < (CALL_RANK[known.status] ?? 0)) return known;
  return { ...known, status: ev.stage, ...(ev.duration_s != null ? { duration_s: ev.duration_s } : {}) };
}

// A click-to-call's progress (call.progress: ringing, answered, ended, missed), shown on the call over every
// section; a call placed elsewhere (another tab, the API) pops up here too, with what the CRM recorded.
export function onCallProgress(ev) {
  const known = (store.get("calls") || new Map()).get(ev.call_id);
  if (known) {
    store.update({ calls: mapSet(store.get("calls"), ev.call_id, advance(known, ev)) });
    return;
  }
  api("GET", `/calls/${enc(ev.call_id)}`).then((c) => {
    const now = (store.get("calls") || new Map()).get(ev.call_id) || { ...c, direction: "out" };
    store.update({ calls: mapSet(store.get("calls") || new Map(), ev.call_id, advance(now, ev)) });
    if (ev.stage === "ringing") announce(t("call_out"), `${t("calling")} ${c.phone || ""}`);
  }).catch(() => { /* not visible to this user */ });
}

export function dismissCall(id) {
  store.update({ calls: mapDelete(store.get("calls") || new Map(), id) });
}

// PopUp: the campaign's script and tabs (seed 002), for the call's contact.
export async function popup(c) {
  const snap = await snapshot(c.campaign_id);
  openDialog(t("popup"), scriptPanel(snap, { contact_address: c.phone || "", campaign_id: c.campaign_id || "", contact_id: c.contact_id || "" }));
}

// The script and tabs the CRM fills for a work item or a conversation (GET .../workspace: every contact, case
// and account field of the templates filled, numbers masked where the agent may not see them); while it loads, or
// when the CRM does not know the item yet, the campaign's own script with the values at hand.
export function workspacePanel(path, snap, values) {
  const box = h("div", { "data-testid": "workspace" }, scriptPanel(snap, values));
  api("GET", path).then((ws) => {
    if (!ws) return;
    clear(box).append(scriptPanel({ script: ws.script, tabs: ws.tabs.map((tab) => ({ name: tab.name, url: tab.url })) }, {}));
  }).catch(() => { /* the fallback stays */ });
  return box;
}

// The campaign's script, and its tabs as links (URL templates filled with the contact's data, or already filled).
export function scriptPanel(snap, values) {
  const fill = (tpl) => tpl.replace(/\{(\w+)\}/g, (_, k) => encodeURIComponent(values[k] ?? ""));
  const tabs = (snap && snap.tabs) || [];
  return h("section", { class: "script", "data-testid": "script-panel", "aria-label": t("script") },
    h("h3", {}, t("script")),
    snap && snap.script ? h("pre", { class: "script-text", "data-testid": "script-text" }, snap.script) : h("p", { class: "muted" }, t("no_script")),
    tabs.length ? h("ul", { class: "tabs-links", "data-testid": "script-tabs" }, tabs.map((tab) => h("li", {},
      h("a", { href: tab.url || fill(tab.url_template), target: "_blank", rel: "noopener noreferrer" }, tab.name)))) : null);
}

export async function answerOffer(id, action) {
  const ev = store.get("offers").get(id);
  try {
    const result = await api("POST", `/conversations/${enc(id)}/${action}`, action === "reject" ? {} : undefined);
    store.update({ offers: mapDelete(store.get("offers"), id) });
    if (action === "accept") {
      upsertConv(id, { ...(ev || {}), ...(result || {}), id, state: "assigned" });
      if (ev && isCall(ev)) { // an inbound call taken: it stays over every section, in green, until saved or ignored
        store.update({ calls: mapSet(store.get("calls") || new Map(), id, { id, direction: "in", phone: ev.contact_address,
          campaign_id: ev.campaign_id, contact_name: ev.contact_name }) });
      }
      select(id);
    }
  } catch (ex) {
    toast(errorText(ex), "error");
    store.update({ offers: mapDelete(store.get("offers"), id) });
  }
}
