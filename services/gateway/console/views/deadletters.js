// Mensajes fallidos (admins): every service's dead letters, filtered by stream, consumer and reason; a payload;
// replay one or many; who replayed what. Over /api/v1/dead-letters (services/gateway/deadletters.py).
import { api } from "../lib/api.js";
import { add, clear, h, labelled, toast } from "../lib/dom.js";
import { fmtTime } from "../lib/format.js";
import { errorText, getLang, t } from "../lib/i18n.js";

const STREAMS = ["", "INBOUND", "OUTBOUND", "CONVERSATIONS", "AGENTS", "TIMERS"];
const st = { stream: "", consumer: "", reason: "", pages: [], cursor: null, selected: new Set(), shown: null };

export function deadLettersView(scope) {
  const stream = h("select", { "data-testid": "dlq-stream", name: "stream" },
    STREAMS.map((s) => h("option", { value: s }, s || t("dlq_all_streams"))));
  stream.value = st.stream;
  const consumer = h("input", { type: "search", name: "consumer", value: st.consumer, "data-testid": "dlq-consumer",
    placeholder: "router-inbound" });
  const reason = h("input", { type: "search", name: "reason", value: st.reason, "data-testid": "dlq-reason" });
  const list = h("div", { "data-testid": "dlq-list" });
  const detail = h("div", { class: "card", "data-testid": "dlq-detail", hidden: true, "aria-live": "polite" });
  const audit = h("div", { "data-testid": "dlq-audit" });
  const search = async (ev) => {
    if (ev) ev.preventDefault();
    Object.assign(st, { stream: stream.value, consumer: consumer.value.trim(), reason: reason.value.trim(),
      pages: [], cursor: null, selected: new Set() });
    await load(list, detail, audit);
  };
  const view = h("div", { "data-testid": "deadletters" }, h("h2", {}, t("dlq_title")), h("p", {}, t("dlq_help")),
    h("form", { class: "toolbar", role: "search", onsubmit: search },
      labelled(t("dlq_stream"), stream, { class: "inline" }),
      labelled(t("dlq_consumer"), consumer, { class: "inline" }),
      labelled(t("dlq_reason"), reason, { class: "inline" }),
      h("button", { type: "submit", "data-testid": "dlq-search" }, t("search"))),
    list, detail, h("h3", {}, t("dlq_audit")), audit);
  scope.later(0, () => load(list, detail, audit, true));
  return view;
}

function query(cursor) {
  const q = { limit: "50" };
  if (st.stream) q.stream = st.stream;
  if (st.consumer) q.consumer = st.consumer;
  if (st.reason) q.reason = st.reason;
  if (cursor) q.cursor = cursor;
  return new URLSearchParams(q);
}

async function load(list, detail, audit, keep = false) {
  try {
    if (!keep || !st.pages.length) {
      const page = await api("GET", `/dead-letters?${query(null)}`);
      st.pages = [page.items || []];
      st.cursor = page.next_cursor;
    }
  } catch (ex) {
    clear(list).append(h("p", { class: "error", role: "alert", "data-testid": "dlq-error" }, errorText(ex)));
    return;
  }
  drawList(list, detail, audit);
  drawAudit(audit);
}

function drawList(list, detail, audit) {
  const rows = st.pages.flat();
  if (!list.isConnected && list.parentNode === null) return;
  if (!rows.length) { clear(list).append(h("p", { "data-testid": "dlq-empty" }, t("dlq_none"))); return; }
  const replaySelected = h("button", {
    type: "button", "data-testid": "dlq-replay-selected", disabled: st.selected.size === 0,
    onclick: () => replay([...st.selected], list, detail, audit),
  }, `${t("dlq_replay_selected")} (${st.selected.size})`);
  const check = (seq) => h("input", {
    type: "checkbox", "aria-label": `${t("dlq_select")} ${seq}`, "data-testid": `dlq-check-${seq}`,
    checked: st.selected.has(seq),
    onchange: (ev) => {
      if (ev.target.checked) st.selected.add(seq); else st.selected.delete(seq);
      replaySelected.disabled = st.selected.size === 0;
      replaySelected.textContent = `${t("dlq_replay_selected")} (${st.selected.size})`;
    },
  });
  const more = st.cursor ? h("button", {
    type: "button", "data-testid": "dlq-more",
    onclick: async () => {
      try {
        const page = await api("GET", `/dead-letters?${query(st.cursor)}`);
        st.pages.push(page.items || []);
        st.cursor = page.next_cursor;
        drawList(list, detail, audit);
      } catch (ex) { toast(errorText(ex), "error"); }
    },
  }, t("dlq_more")) : null;
  add(clear(list), h("div", { class: "toolbar" }, replaySelected),
    h("table", { class: "items", "data-testid": "dlq-table" },
      h("caption", {}, t("dlq_title")),
      h("thead", {}, h("tr", {}, ["", "#", t("dlq_time"), t("dlq_stream"), t("dlq_consumer"), t("dlq_reason"),
        t("dlq_deliveries"), t("dlq_replays"), t("actions_col")].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows.map((d) => h("tr", { "data-testid": "dlq-row", "data-sequence": d.sequence },
        h("td", {}, check(d.sequence)), h("td", {}, d.sequence), h("td", {}, fmtTime(d.time, getLang())),
        h("td", { translate: "no" }, d.stream), h("td", { translate: "no" }, d.consumer),
        h("td", { class: "reason", translate: "no" }, d.reason),
        h("td", {}, d.deliveries), h("td", { "data-testid": "dlq-replays" }, d.replays),
        h("td", {}, h("button", { type: "button", "data-testid": `dlq-show-${d.sequence}`,
          onclick: () => show(d.sequence, list, detail, audit) }, t("dlq_show"))))))),
    more);
}

async function show(seq, list, detail, audit) {
  try {
    const d = await api("GET", `/dead-letters/${seq}`);
    st.shown = seq;
    detail.hidden = false;
    add(clear(detail), h("h3", {}, `${t("dlq_payload")} #${d.sequence}`),
      h("dl", {}, h("dt", {}, t("dlq_subject")), h("dd", { translate: "no" }, h("code", {}, d.subject)),
        h("dt", {}, t("dlq_reason")), h("dd", { translate: "no" }, d.reason)),
      h("pre", { "data-testid": "dlq-payload", tabindex: "0", translate: "no", "aria-label": t("dlq_payload") },
        JSON.stringify(d.payload, null, 2)),
      h("button", { type: "button", "data-testid": "dlq-replay-one",
        onclick: () => replay([seq], list, detail, audit) }, t("dlq_replay")),
      d.replays.length ? h("ul", { "data-testid": "dlq-detail-replays" }, d.replays.map((r) => h("li", {},
        `${fmtTime(r.replayed_at, getLang())} · ${r.actor} (${r.via})${r.duplicate ? ` · ${t("dlq_duplicate")}` : ""}`))) : null);
    detail.querySelector("pre").focus();
  } catch (ex) { toast(errorText(ex), "error"); }
}

async function replay(sequences, list, detail, audit) {
  try {
    const { results } = await api("POST", "/dead-letters/replay", { sequences });
    const ok = results.filter((r) => r.ok && !r.duplicate).length;
    const dup = results.filter((r) => r.ok && r.duplicate).length;
    const failed = results.filter((r) => !r.ok);
    toast(`${t("dlq_replayed")}: ${ok}${dup ? ` · ${t("dlq_duplicate")}: ${dup}` : ""}`
      + (failed.length ? ` · ${t("dlq_failed")}: ${failed.map((r) => `#${r.sequence} ${r.error}`).join(", ")}` : ""),
    failed.length ? "error" : "info");
    st.selected = new Set();
    st.pages = [];
    await load(list, detail, audit);
    if (st.shown !== null) await show(st.shown, list, detail, audit);
  } catch (ex) { toast(errorText(ex), "error"); }
}

async function drawAudit(audit) {
  try {
    const { items } = await api("GET", "/dead-letters/replays?limit=20");
    add(clear(audit), items.length ? h("table", { class: "items", "data-testid": "dlq-audit-table" },
      h("thead", {}, h("tr", {}, [t("dlq_time"), "#", t("dlq_consumer"), t("dlq_actor"), t("dlq_via"), ""]
        .map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, items.map((r) => h("tr", {}, h("td", {}, fmtTime(r.replayed_at, getLang())),
        h("td", {}, r.dlq_sequence), h("td", {}, r.consumer), h("td", {}, r.actor), h("td", {}, r.via),
        h("td", {}, r.duplicate ? t("dlq_duplicate") : ""))))) : h("p", {}, t("dlq_no_replays")));
  } catch (ex) { clear(audit).append(h("p", { class: "error" }, errorText(ex))); }
}
