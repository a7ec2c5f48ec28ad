// Pure helpers (no DOM, no globals): unit-tested with node --test in tests/console/.

// The items of a list answer: every list answers {"items", "next_cursor"}.
export const items = (data) => (data && data.items) || [];

export const locale = (lang) => (lang === "es" ? "es-ES" : "en-GB");

export function fmtTime(iso, lang, timeZone) {
  if (!iso) return "";
  const opts = timeZone ? { timeZone } : undefined;
  return new Date(iso).toLocaleString(locale(lang), opts);
}

const pad = (n) => String(Math.floor(Math.abs(n))).padStart(2, "0");

// "2024-05-02T10:30" (a datetime-local value) with the given offset east of UTC in minutes: an ISO instant.
export function withOffset(value, offsetMin) {
  const sign = offsetMin >= 0 ? "+" : "-";
  return `${value.length === 16 ? `${value}:00` : value}${sign}${pad(offsetMin / 60)}:${pad(offsetMin % 60)}`;
}

// A datetime-local value in the browser's zone, as an ISO instant with that zone's offset then.
export const localIso = (value) => withOffset(value, -new Date(value).getTimezoneOffset());

// The local calendar day of a Date, YYYY-MM-DD.
export const ymd = (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;

// Move a day by one step of a calendar view: a day, a week or a month (to the first of the month).
export function shiftDay(day, view, dir) {
  const d = new Date(day);
  if (view === "day") d.setDate(d.getDate() + dir);
  else if (view === "week") d.setDate(d.getDate() + 7 * dir);
  else { d.setDate(1); d.setMonth(d.getMonth() + dir); }
  return d;
}

export const jobPercent = (j) => (j.total ? Math.min(100, Math.round((100 * (j.done || 0)) / j.total))
  : (j.status === "succeeded" ? 100 : 0));

// "1m13s", "19s", "2h4m": a call's duration as the seed shows it.
export function duration(seconds) {
  const s = Math.max(0, Math.round(Number(seconds) || 0));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60 ? `${s % 60}s` : ""}`;
  return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60) ? `${Math.floor((s % 3600) / 60)}m` : ""}`;
}

// Query string of the non-empty values of an object.
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v === undefined || v === null || v === "" || v === false) continue;
    q.set(k, String(v));
  }
  return q.toString();
}

// The WebSocket address of the live events, with the resume cursors (never a token: it goes in the first message).
export function eventsUrl(loc, seq, agentSeq) {
  const proto = loc.protocol === "https:" ? "wss" : "ws";
  const q = query({ since: seq || null, since_agent: agentSeq || null });
  return `${proto}://${loc.host}/api/v1/events${q ? `?${q}` : ""}`;
}

// Items within the last `hours` (items without a time are kept).
export function withinHours(list, hours, now = Date.now(), at = (x) => x.at) {
  const since = now - hours * 3600 * 1000;
  return list.filter((x) => !at(x) || new Date(at(x)).getTime() >= since);
}

// A phone number as an agent of a campaign that hides numbers sees it (the CRM's and the router's rule): the
// four digits before the last four hidden, spacing kept; e-mail addresses, handles and short numbers as they are.
export function maskNumber(value) {
  const text = String(value || "");
  if (!/^[+\d\s().\-•]+$/.test(text)) return text;
  const digits = (text.match(/\d/g) || []).length;
  if (digits < 8) return text;
  let seen = 0;
  return text.replace(/\d/g, (d) => { seen += 1; return seen > digits - 8 && seen <= digits - 4 ? "•" : d; });
}

// Emojis whose label or tags contain every word of the query (case- and accent-insensitive).
const fold = (s) => String(s || "").normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
export function searchEmojis(list, q, limit = 200) {
  const words = fold(q).split(/\s+/).filter(Boolean);
  if (!words.length) return [];
  const out = [];
  for (const e of list) {
    const text = fold(`${e.label} ${(e.tags || []).join(" ")}`);
    if (words.every((w) => text.includes(w))) out.push(e);
    if (out.length >= limit) break;
  }
  return out;
}

// Insert text at the caret of a textarea value: [new value, new caret].
export function insertAt(value, start, end, text) {
  const before = value.slice(0, start);
  const sep = before && !/\s$/.test(before) && !/^\s/.test(text) ? " " : "";
  const next = before + sep + text + value.slice(end);
  return [next, (before + sep + text).length];
}

// The translated name of a state: a key like "conv_assigned"; the raw value only if the locale lacks it.
export const stateKey = (prefix, value) => `${prefix}_${value}`;
