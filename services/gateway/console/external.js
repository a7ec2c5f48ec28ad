// The external case view (seed 002 "Vista Externa de Casos"): what a signed, expiring link shows to someone
// outside the platform, read-only. The token is in the page's fragment (never sent to a server with the page).
import { h } from "./lib/dom.js";
import { fmtTime } from "./lib/format.js";
import { getLang, stateText, t } from "./lib/i18n.js";

const LABELS = ["title", "status", "priority", "result", "created_at", "closed_at", "contact_name", "account", "fields"];

function value(key, v) {
  if (v === null || v === undefined || v === "") return "—";
  if (key === "created_at" || key === "closed_at") return fmtTime(v, getLang());
  if (key === "status") return stateText("case", v);
  if (key === "priority") return t(`priority_${v}`);
  if (key === "account") return [v.number, v.product].filter(Boolean).join(" · ");
  if (key === "fields") return Object.entries(v).map(([k, x]) => `${k}: ${x}`).join(" · ") || "—";
  return String(v);
}

async function show() {
  const root = document.getElementById("external");
  document.title = t("external_case");
  const token = decodeURIComponent(location.hash.slice(1));
  let res;
  try {
    res = await fetch(`/api/v1/external/cases/${encodeURIComponent(token)}`, { credentials: "omit" });
  } catch {
    root.append(h("p", { class: "error", role: "alert" }, t("external_unavailable")));
    return;
  }
  if (!res.ok) {
    root.append(h("h1", {}, t("external_case")),
      h("p", { class: "error", role: "alert", "data-testid": "external-error" }, t(res.status === 410 ? "link_expired" : "link_invalid")));
    return;
  }
  const kase = await res.json();
  root.append(h("h1", { "data-testid": "external-title" }, `${t("external_case")} · ${kase.campaign}`),
    h("dl", { class: "facts", "data-testid": "external-facts" }, LABELS.filter((k) => k in kase).flatMap((k) => [
      h("dt", {}, t(`external_${k}`)), h("dd", { "data-field": k }, value(k, kase[k]))])));
  if (kase.comments) {
    root.append(h("h2", {}, t("comments")), h("ul", { class: "history", "data-testid": "external-comments" },
      kase.comments.map((c) => h("li", {}, `${fmtTime(c.at, getLang())} · ${c.text}`))));
  }
  if (kase.history) {
    root.append(h("h2", {}, t("history")), h("ul", { class: "history", "data-testid": "external-history" },
      kase.history.map((e) => h("li", {}, `${fmtTime(e.at, getLang())} · ${t(`event_${e.kind}`)}${e.text ? ` · ${e.text}` : ""}`))));
  }
  if (kase.attachments) {
    root.append(h("h2", {}, t("attachments")), h("ul", { "data-testid": "external-attachments" },
      kase.attachments.map((a) => h("li", {}, `📎 ${a.filename} (${Math.ceil((a.size || 0) / 1024)} KB)`))));
  }
}

show();
