// Llamadas: inbound (green) and outbound (blue) calls, click-to-call, classification.
import { api } from "../lib/api.js";
import { clear, h, labelled, toast } from "../lib/dom.js";
import { duration, fmtTime } from "../lib/format.js";
import { getLang, showError, t } from "../lib/i18n.js";
import { currentCampaign, isAgent, me } from "../state.js";
import { campaignPicker, dialButton, enc, listPanel, snapshot, typificationOptions } from "./common.js";

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
        await api("POST", "/calls", { direction: "out", phone: number.value.trim(), agent_id: me().id, campaign_id: currentCampaign() || null });
        toast(`${t("calling")} ${number.value.trim()}`); rerender();
      } catch (ex) { showError(err, ex, form); }
    },
  }, campaignPicker(() => rerender()), labelled(t("number"), number, { class: "inline" }),
  h("button", { type: "submit", "data-testid": "call-submit" }, `📞 ${t("call")}`), err);
  const q = new URLSearchParams({ type: calls.type });
  return h("div", { "data-testid": "calls-panel" }, h("h2", {}, t("tab_calls")), form, labelled(t("show"), kind, { class: "inline" }),
    listPanel(`/calls?${q}`, (c) => {
      const out = c.direction === "out";
      return h("div", { class: `card call ${out ? "outbound" : "inbound"}`, "data-testid": `call-${out ? "out" : "in"}`, "data-call-id": c.id },
        h("b", { class: "direction" }, out ? `↗ ${t("outbound")}` : `↙ ${t("inbound")}`), " ",
        h("span", { class: "who" }, c.contact_name || ""), " ", dialButton(c.phone),
        h("small", {}, ` ${fmtTime(c.started_at, getLang())} · ${duration(c.duration_s)}`),
        c.disposition ? h("span", { class: "pill" }, c.disposition) : h("span", { class: "pill pending" }, t("unclassified")),
        c.agent_id === me().id || !isAgent() ? classifyForm(c, rerender) : null);
    }));
}

// Classify a call (an agent: only their own): a result among the campaign's closing typifications, a comment.
function classifyForm(c, rerender) {
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
  const err = h("p", { class: "error", "data-testid": "classify-error", id: `classify-error-${c.id}` });
  const form = h("form", {
    class: "toolbar classify",
    onsubmit: async (e) => {
      e.preventDefault();
      clear(err);
      try {
        await api("PUT", `/calls/${enc(c.id)}/classification`, { disposition: result.value, comment: comment.value.trim() || null });
        toast(t("saved")); rerender();
      } catch (ex) { showError(err, ex, form); }
    },
  }, h("label", { class: "inline" }, t("disposition"), result), h("label", { class: "inline" }, t("comment"), comment),
  h("button", { type: "submit", "data-testid": "classify-submit" }, t("classify")), err);
  return h("details", { class: "classify", "data-testid": "classify" }, h("summary", {}, t("classify")), form);
}

