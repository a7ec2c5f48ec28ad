// Panel de supervisión (supervisors, admins): the contact center's KPIs now, per campaign and across the
// supervisor's campaigns; queue length and service level over the day (uPlot, vendored from npm); agents by name
// with state, time in state, load and conversations; supervisor actions; routing decisions told in sentences.
import { api } from "../lib/api.js";
import { locale } from "../lib/format.js";
import { $, clear, h, labelled, toast } from "../lib/dom.js";
import { errorText, getLang, statusText, t } from "../lib/i18n.js";
import { store } from "../state.js";
import uPlot from "../vendor/uplot.esm.js";
import { enc, snapshot, typificationOptions } from "./common.js";
import { chartColumns, clock, explainDecision, fill, hourTicks, pct, slState } from "./supervisor-format.js";

const STATUSES = ["available", "break", "after_call_work", "offline"];
let chosen = ""; // "" = every campaign of mine

// The view's stylesheets (uPlot's and ours), added once: CSP allows the console's own files only.
export function ensureStyles() {
  for (const href of ["/console/vendor/uplot.min.css", "/console/supervisor.css"]) {
    if (!document.querySelector(`link[href="${href}"]`)) document.head.append(h("link", { rel: "stylesheet", href }));
  }
}

// The localized sentence of a key; "status:<s>" and "strategy:<s>" name a state or a routing strategy.
export function tx(key, params) {
  if (key.startsWith("status:")) return statusText(key.slice(7));
  if (key.startsWith("strategy:")) return t(`rs_${key.slice(9)}`);
  return fill(t(key), params);
}

export function supervisorView(scope) {
  ensureStyles();
  const box = h("div", { id: "supervisor", "data-testid": "supervisor" }, h("p", { class: "muted" }, "…"));
  let busy = false;
  const refresh = async () => {
    if (busy) return;
    busy = true;
    try { await render(box, scope); } finally { busy = false; }
  };
  // A choice made and not applied yet (a state, a break reason) holds the refreshes: a re-render would put the
  // agent's current state back in the select, and "Aplicar" would then send that instead.
  const edited = () => { box.dataset.editedAt = String(Date.now()); };
  box.addEventListener("input", edited);
  box.addEventListener("change", edited);
  scope.later(0, refresh);
  scope.every(5000, refresh);
  let timer = null;
  // Any live event may move a queue or an agent: refresh soon after it (once per burst).
  scope.on(store.subscribe(["lastEvent"], () => { clearTimeout(timer); timer = setTimeout(refresh, 300); }));
  scope.on(() => clearTimeout(timer));
  return box;
}

// A periodic refresh waits while the supervisor is choosing something (a state, a target, an open conversation),
// and for a minute after they changed a control without applying it.
const EDIT_HOLD_MS = 60000;

function busyWith(box) {
  const el = document.activeElement;
  return (el && box.contains(el) && el.matches("select, input, textarea")) || !!box.querySelector("details[open]")
    || Date.now() - Number(box.dataset.editedAt || 0) < EDIT_HOLD_MS;
}

async function render(box, scope, force = false) {
  if (!force && busyWith(box)) return;
  let data;
  const tz = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  try {
    data = await api("GET", `/dashboard?${new URLSearchParams({ tz, ...(chosen ? { campaign_id: chosen } : {}) })}`);
  } catch (ex) {
    if (box.isConnected) clear(box).append(h("p", { class: "error", role: "alert" }, errorText(ex)));
    return;
  }
  if (!box.isConnected || (!force && busyWith(box))) return;
  delete box.dataset.editedAt; // what was edited is applied (a forced render follows every action) or given up
  const keepDecision = $("#decisions", box);
  const campaigns = (store.get("me") && store.get("me").campaigns) || [];
  const picker = h("select", { "data-testid": "sup-campaign", onchange: () => { chosen = picker.value; render(box, scope, true); } },
    h("option", { value: "" }, t("all_my_campaigns")), campaigns.map((c) => h("option", { value: c }, c)));
  picker.value = chosen;
  const totals = data.totals || {};
  const target = data.campaigns.length === 1 ? data.campaigns[0].target : null;
  clear(box).append(
    h("h2", {}, t("tab_queues")),
    h("div", { class: "toolbar" }, labelled(t("campaign"), picker, { class: "inline" }),
      h("small", { class: "muted" }, `${t("as_of")} ${new Date().toLocaleTimeString(locale(getLang()))}`)),
    tiles(data, totals, target),
    charts(data, target),
    campaignTable(data),
    agentTable(data, box, scope),
    queueTable(data, box, scope),
    keepDecision || h("div", { id: "decisions", "data-testid": "decisions-box", "aria-live": "polite" }));
}

function tile(key, value, testid, cls = "") {
  return h("div", { class: `tile ${cls}`, "data-testid": testid }, h("small", {}, t(key)), h("b", {}, value));
}

function tiles(data, k, target) {
  const lang = getLang();
  const sl = k.service_level;
  const goal = target ? `${target.target_pct}/${target.threshold_s}` : "";
  return h("div", { class: "tiles", "data-testid": "sup-kpis" },
    tile("waiting_now", String(data.waiting ?? 0), "kpi-waiting"),
    tile("longest_wait", clock(data.longest_wait_s), "kpi-longest"),
    tile("service_level", `${pct(sl, lang)}${goal ? ` · ${t("target")} ${goal}` : ""}`, "kpi-sl",
      target ? slState(sl, target.target_pct) : ""),
    tile("asa", clock(k.asa_s), "kpi-asa"),
    tile("aht", clock(k.aht_s), "kpi-aht"),
    tile("abandonment", `${pct(k.abandonment_rate, lang)} (${k.abandoned ?? 0})`, "kpi-abandoned"),
    tile("occupancy", pct(k.occupancy, lang), "kpi-occupancy"),
    tile("transfers", String(k.transfers ?? 0), "kpi-transfers"),
    tile("offered_answered", `${k.offered ?? 0} / ${k.answered ?? 0}`, "kpi-offered"));
}

function charts(data, target) {
  const [xs, queue, sl] = chartColumns(data.series);
  const wrap = h("div", { class: "charts" });
  const make = (title, testid, values, color, extra = {}) => {
    const host = h("figure", { class: "chart", "data-testid": testid, role: "img", "aria-label": title },
      h("figcaption", {}, title));
    wrap.append(host);
    if (!xs.length) return;
    const opts = {
      width: 460, height: 200, legend: { show: false },
      series: [{}, { label: title, stroke: color, width: 2, spanGaps: true, ...extra }],
      scales: { x: { time: true }, ...(extra.scale ? { [extra.scale]: { range: [0, 100] } } : {}) },
      axes: [{ values: (_u, splits) => hourTicks(splits, getLang()) }, { scale: extra.scale }],
    };
    new uPlot(opts, [xs, values], host); // the gateway serves uPlot itself: no inline script or style attribute
  };
  make(t("chart_queue"), "chart-queue", queue, "#1463ff");
  make(`${t("chart_sl")}${target ? ` (${t("target")} ${target.target_pct} %)` : ""}`, "chart-sl", sl, "#14804a",
    { scale: "%" });
  return wrap;
}

function campaignTable(data) {
  const lang = getLang();
  return h("table", { class: "items", "data-testid": "sup-campaigns" },
    h("caption", {}, t("campaigns")),
    h("thead", {}, h("tr", {}, ["campaign", "waiting_now", "longest_wait", "service_level", "target", "asa", "aht",
      "abandonment", "occupancy"].map((k) => h("th", { scope: "col" }, t(k))))),
    h("tbody", {}, data.campaigns.map((c) => {
      const k = c.kpis || {};
      return h("tr", { "data-campaign-id": c.id },
        h("td", {}, c.name), h("td", { "data-testid": "queue-waiting" }, String(c.waiting)),
        h("td", { "data-testid": "queue-longest" }, clock(c.longest_wait_s)),
        h("td", { class: slState(k.service_level, c.target.target_pct) }, pct(k.service_level, lang)),
        h("td", {}, `${c.target.target_pct}/${c.target.threshold_s}`), h("td", {}, clock(k.asa_s)),
        h("td", {}, clock(k.aht_s)), h("td", {}, pct(k.abandonment_rate, lang)), h("td", {}, pct(k.occupancy, lang)));
    })));
}

function agentTable(data, box, scope) {
  const names = new Map(data.agents.map((a) => [a.agent_id, a.name]));
  return h("table", { class: "items", "data-testid": "sup-agents" },
    h("caption", {}, t("agents")),
    h("thead", {}, h("tr", {}, ["agent", "state", "time_in_state", "load", "tab_conversations", "set_state"]
      .map((k) => h("th", { scope: "col" }, t(k))))),
    h("tbody", {}, data.agents.map((a) => {
      const sel = h("select", { "data-testid": "agent-state", "aria-label": `${t("set_state")}: ${a.name}` },
        STATUSES.map((s) => h("option", { value: s }, statusText(s))));
      sel.value = a.status;
      const reason = h("input", { "data-testid": "agent-reason", "aria-label": `${t("break_reason")}: ${a.name}`,
        placeholder: t("break_reason"), value: a.reason || "" });
      return h("tr", { "data-testid": "agent-row", "data-agent-id": a.agent_id },
        h("td", {}, h("b", {}, a.name)),
        h("td", {}, h("span", { class: `pill ${a.status}` }, statusText(a.status)), a.reason ? ` (${a.reason})` : ""),
        h("td", {}, clock(a.time_in_state_s)),
        h("td", {}, `${a.load ?? 0}/${a.capacity ?? "?"}`),
        h("td", {}, a.conversations.length ? a.conversations.map((c) => convActions(c, data, names, box, scope))
          : h("span", { class: "muted" }, "—")),
        h("td", {}, sel, reason, h("button", {
          type: "button", class: "secondary", "data-testid": "agent-state-apply",
          onclick: async () => {
            try {
              await api("PUT", `/agents/${enc(a.agent_id)}/status`, { status: sel.value,
                reason: sel.value === "break" ? reason.value || null : null });
              toast(t("saved")); render(box, scope, true);
            } catch (ex) { toast(errorText(ex), "error"); }
          },
        }, t("apply"))));
    })));
}

// What a supervisor does with a conversation, held by an agent or still waiting (a stranded one too: its channel
// or its campaign gone): hand it to an agent, move it to another campaign of theirs, close it with a typification.
function convActions(c, data, names, box, scope) {
  const others = data.agents.filter((x) => x.campaigns.includes(c.campaign_id) && x.agent_id !== c.agent_id
    && x.status === "available");
  const waiting = !c.agent_id;
  const to = h("select", { "data-testid": "transfer-to", "aria-label": t(waiting ? "assign_to" : "transfer_to") },
    others.map((x) => h("option", { value: x.agent_id }, x.name)));
  // Any campaign of mine, even when the board shows one: those on the board by name, the others by id.
  const known = new Map(data.campaigns.map((x) => [x.id, x.name]));
  const mine = (store.get("me") && store.get("me").campaigns) || [];
  const camps = [...new Set([...known.keys(), ...mine])].filter((id) => id !== c.campaign_id)
    .map((id) => ({ id, name: known.get(id) || id }));
  const where = h("select", { "data-testid": "move-to", "aria-label": t("move_to_campaign") },
    camps.map((x) => h("option", { value: x.id }, x.name)));
  const typ = h("select", { "data-testid": "close-typ", "aria-label": t("typification") });
  snapshot(c.campaign_id).then((snap) => typ.append(...typificationOptions(snap)));
  const act = async (action, body) => {
    try {
      await api("POST", `/conversations/${enc(c.id)}/${action}`, body);
      toast(t("saved")); render(box, scope, true);
    } catch (ex) { toast(errorText(ex), "error"); }
  };
  return h("details", { class: "conv-actions", "data-testid": "sup-conv", "data-conversation-id": c.id },
    h("summary", {}, `${c.contact_name || c.contact_address || c.id} · ${c.channel_type || ""}`),
    h("div", {}, labelled(t(waiting ? "assign_to" : "transfer_to"), to, { class: "inline" }), h("button", {
      type: "button", "data-testid": "sup-transfer", disabled: !others.length,
      onclick: () => (waiting ? act("take", { agent_id: to.value }) : act("transfer", { agent_id: to.value })),
    }, t(waiting ? "assign" : "transfer"))),
    h("div", {}, labelled(t("move_to_campaign"), where, { class: "inline" }), h("button", {
      type: "button", "data-testid": "sup-move", disabled: !camps.length,
      onclick: () => act("transfer", { campaign_id: where.value }),
    }, t("move"))),
    h("div", {}, labelled(t("typification"), typ, { class: "inline" }), h("button", {
      type: "button", "data-testid": "sup-close", onclick: () => act("close", { typification_id: typ.value, fields: {} }),
    }, t("close_with_typification"))),
    h("button", { type: "button", class: "secondary", "data-testid": "sup-explain", onclick: () => explain(c.id, names) },
      t("explain")));
}

function queueTable(data, box, scope) {
  const names = new Map(data.agents.map((a) => [a.agent_id, a.name]));
  const campaignNames = new Map(data.campaigns.map((x) => [x.id, x.name]));
  if (!data.queue.length) return h("p", { class: "muted", "data-testid": "sup-queue" }, t("nobody_waiting"));
  return h("table", { class: "items", "data-testid": "sup-queue" },
    h("caption", {}, t("waiting_now")),
    h("thead", {}, h("tr", {}, ["position", "campaign", "channel", "waiting", "actions_col"]
      .map((k) => h("th", { scope: "col" }, t(k))))),
    h("tbody", {}, data.queue.map((i) => h("tr", {},
      h("td", {}, i.position), h("td", {}, campaignNames.get(i.campaign_id) || i.campaign_id), h("td", {}, i.channel_type || ""), h("td", {}, clock(i.waiting_s)),
      h("td", {}, convActions({ id: i.conversation_id, campaign_id: i.campaign_id, channel_type: i.channel_type,
        contact_name: i.contact_name, contact_address: i.contact_address, agent_id: null }, data, names, box, scope))))));
}

async function explain(id, names) {
  const box = $("#decisions");
  if (!box) return;
  clear(box).append(h("h3", {}, t("decisions")));
  try {
    const data = await api("GET", `/conversations/${enc(id)}/decisions`);
    const list = (data && data.items) || [];
    if (!list.length) box.append(h("p", { class: "muted" }, t("no_decisions")));
    for (const d of list) {
      box.append(h("ol", { class: "decision", "data-testid": "decision" },
        explainDecision(d, tx, (x) => names.get(x) || x, getLang()).map((s) => h("li", {}, s))));
    }
  } catch (ex) { box.append(h("p", { class: "error" }, errorText(ex))); }
}
