// Colas en vivo (supervisors): waiting, longest wait, agents by state per campaign; routing decisions.
import { api } from "../lib/api.js";
import { $, clear, h } from "../lib/dom.js";
import { items } from "../lib/format.js";
import { errorText, stateText, statusText, t } from "../lib/i18n.js";
import { myCampaigns, store } from "../state.js";
import { enc } from "./common.js";

export function queuesView(scope) {
  const box = h("div", { id: "queues", "data-testid": "queues" });
  const refresh = () => renderQueues(box);
  scope.later(0, refresh);
  scope.every(5000, refresh);
  let timer = null;
  // Any live event may move a queue: refresh soon after it (once per burst).
  scope.on(store.subscribe(["lastEvent"], () => { clearTimeout(timer); timer = setTimeout(refresh, 250); }));
  scope.on(() => clearTimeout(timer));
  return box;
}

async function renderQueues(box) {
  const cards = [];
  for (const cid of myCampaigns()) {
    try {
      const q = await api("GET", `/queues/${enc(cid)}`);
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
          h("thead", {}, h("tr", {}, h("th", { scope: "col" }, t("agents")), h("th", { scope: "col" }, t("state")), h("th", { scope: "col" }, t("load")))),
          h("tbody", {}, (q.agents || []).map((a) => h("tr", {}, h("td", {}, a.agent_id), h("td", {}, statusText(a.status) + (a.reason ? ` (${a.reason})` : "")),
            h("td", {}, `${a.load ?? 0}/${a.capacity ?? "?"}`))))),
        (q.items || []).length ? h("table", { class: "items" },
          h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "#"), h("th", { scope: "col" }, t("channel")), h("th", { scope: "col" }, t("waiting")), h("th", { scope: "col" }, t("actions_col")))),
          h("tbody", {}, q.items.map((i) => h("tr", {}, h("td", {}, i.position), h("td", {}, i.channel_type || ""), h("td", {}, `${i.waiting_s} s`),
            h("td", {}, h("button", { type: "button", onclick: () => explain(i.conversation_id) }, t("explain"))))))) : null));
    } catch (ex) {
      cards.push(h("div", { class: "card" }, h("h3", {}, cid), h("p", { class: "error" }, errorText(ex))));
    }
  }
  const convs = await api("GET", "/conversations").catch(() => ({ items: [] }));
  const list = h("table", { class: "items", "data-testid": "supervised-conversations" },
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, t("tab_conversations")), h("th", { scope: "col" }, t("agents")), h("th", { scope: "col" }, t("state")), h("th", { scope: "col" }, t("actions_col")))),
    h("tbody", {}, items(convs).map((c) => h("tr", {}, h("td", {}, c.contact_address || c.id), h("td", {}, c.agent_id || ""), h("td", {}, stateText("conv", c.state)),
      h("td", {}, h("button", { type: "button", onclick: () => explain(c.id) }, t("explain")))))));
  if (!box.isConnected) return;
  clear(box).append(h("h2", {}, t("tab_queues")), ...cards, h("h3", {}, t("tab_conversations")), list, h("div", { id: "decisions" }));
}

async function explain(id) {
  const box = clear($("#decisions"));
  try {
    const data = await api("GET", `/conversations/${enc(id)}/decisions`);
    box.append(h("h3", {}, `${t("decisions")}: ${id}`), h("pre", { "data-testid": "decisions" }, JSON.stringify(items(data), null, 2)));
  } catch (ex) { box.append(h("p", { class: "error" }, errorText(ex))); }
}
