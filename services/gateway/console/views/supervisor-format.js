// Pure helpers of the supervisor's screens (no DOM): numbers as the dashboard shows them, chart data, and a
// routing decision told in sentences instead of JSON. Unit-tested with node --test (tests/console/).

import { locale } from "../lib/format.js";

// "84,1 %" / "—" for a percentage that cannot be computed yet.
export function pct(value, lang = "es") {
  if (value === null || value === undefined || Number.isNaN(Number(value))) return "—";
  return `${Number(value).toLocaleString(locale(lang), { maximumFractionDigits: 1 })} %`;
}

// "1 h 02 min", "3 min 05 s", "42 s", "—".
export function clock(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(Number(seconds))) return "—";
  const s = Math.max(0, Math.round(Number(seconds)));
  const two = (n) => String(n).padStart(2, "0");
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${two(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${two(Math.floor((s % 3600) / 60))} min`;
}

// Whether a service level meets the campaign's target: "ok", "bad", or "" when there is none yet.
export function slState(sl, targetPct) {
  if (sl === null || sl === undefined) return "";
  return Number(sl) >= Number(targetPct) ? "ok" : "bad";
}

// uPlot's columns from the dashboard's 15-minute series: [times (unix s), queue length, service level].
export function chartColumns(series) {
  const xs = []; const queue = []; const sl = [];
  for (const p of series || []) {
    xs.push(Math.round(new Date(p.start).getTime() / 1000));
    queue.push(p.queue_length ?? 0);
    sl.push(p.service_level ?? null);
  }
  return [xs, queue, sl];
}

// The time axis of a chart, as the language writes hours ("09:00", "15:30"), instead of uPlot's English "9am":
// uPlot's `values` of an axis, from its splits (unix seconds), in the browser's zone (or `timeZone`).
export function hourTicks(splits, lang = "es", timeZone = undefined) {
  const opts = { hour: "2-digit", minute: "2-digit", ...(timeZone ? { timeZone } : {}) };
  return (splits || []).map((s) => new Date(s * 1000).toLocaleTimeString(locale(lang), opts));
}

// Why an agent was passed over, from the router's words ("status break", "no room (2+1>3)", ...).
export function exclusion(text, tx) {
  if (!text) return "";
  let m = /^status (\w+)$/.exec(text);
  if (m) return tx("why_status", { state: tx(`status:${m[1]}`) });
  m = /^no room \((\d+)\+(\d+)>(\d+)\)$/.exec(text);
  if (m) return tx("why_no_room", { load: m[1], weight: m[2], capacity: m[3] });
  m = /^at capacity \((\d+)\)$/.exec(text);
  if (m) return tx("why_full", { load: m[1] });
  if (text === "rejected or missed this offer") return tx("why_rejected");
  if (text === "not an agent of the campaign") return tx("why_not_member");
  return text;
}

// One routing decision as sentences: why it happened, who was chosen and by which rule, who was passed over.
// `tx(key, params)` gives the localized sentence; `nameOf(id)` the agent's name.
// `lang` writes the time of the decision ("16:35:35", never the browser's "4:35:35 PM" on a Spanish screen).
export function explainDecision(d, tx, nameOf = (x) => x, lang = "es") {
  const out = [];
  const at = d.at ? new Date(Number(d.at)) : null;
  out.push(tx(`decision_${d.reason || "queued"}`, { at: at ? at.toLocaleTimeString(locale(lang)) : "" }));
  if (d.strategy) out.push(tx("decision_strategy", { strategy: tx(`strategy:${d.strategy}`), weight: d.weight ?? 1,
    capacity: d.capacity ?? "?" }));
  if (d.sticky) {
    out.push(tx("decision_sticky", { agent: nameOf(d.sticky.agent), why: exclusion(d.sticky.excluded, tx) }));
  }
  for (const c of d.considered || []) {
    if (c.excluded) out.push(tx("decision_passed", { agent: nameOf(c.agent), why: exclusion(c.excluded, tx) }));
  }
  for (const c of d.unavailable || []) {
    out.push(tx("decision_unavailable", { agent: nameOf(c.agent), why: exclusion(c.excluded, tx) }));
  }
  if (d.chosen) out.push(tx("decision_chosen", { agent: nameOf(d.chosen), from: d.from_agent ? nameOf(d.from_agent) : "" }));
  else out.push(tx("decision_nobody"));
  if (d.members !== undefined) out.push(tx("decision_members", { members: d.members, away: d.not_available ?? 0 }));
  return out;
}

// A localized template with {name} placeholders filled.
export function fill(template, params = {}) {
  return String(template).replace(/\{(\w+)\}/g, (_, k) => (params[k] === undefined ? "" : String(params[k])));
}
