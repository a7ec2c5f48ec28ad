// Calendario (Rellamadas): day, week (Monday first) and month views of callbacks, for several users.
import { api } from "../lib/api.js";
import { clear, h, labelled } from "../lib/dom.js";
import { items, locale, query, shiftDay, ymd } from "../lib/format.js";
import { errorText, getLang, t } from "../lib/i18n.js";
import { isAgent, me } from "../state.js";
import { actionTypeNames } from "./catalog-inputs.js";
import { quickActions } from "./quick.js";

// Pending ticket actions of these users that fall due between from and to (the CRM filters actions by
// creation date, so the due date is checked here).
async function dueActions(users, from, to) {
  const lists = await Promise.all(users.map((u) => api("GET", `/actions?${query({ status: "pending", agent_id: u, limit: 500 })}`)
    .then(items).catch(() => [])));
  return lists.flat().filter((a) => a.due_at && new Date(a.due_at) >= from && new Date(a.due_at) < to);
}

const cal = { view: "week", day: new Date(), users: "" };

export function calendarView(scope, rerender) {
  const view = cal.view;
  const day = new Date(cal.day);
  const users = h("input", { value: cal.users || me().id, "data-testid": "cal-users",
    onchange: () => { cal.users = users.value; rerender(); } });
  const grid = h("div", { class: `calendar ${view}`, "data-testid": "calendar" }, h("p", { class: "muted" }, "…"));
  const tz = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  const q = new URLSearchParams({ users: cal.users || me().id, view, date: ymd(day), tz });
  const loc = locale(getLang());
  const owners = (cal.users || me().id).split(",").map((u) => u.trim()).filter(Boolean);
  api("GET", `/callbacks/calendar?${q}`).then(async (data) => {
    clear(grid);
    // The range comes as instants; the days are those of the time zone sent, which is the browser's.
    const from = new Date(data.from); from.setHours(0, 0, 0, 0);
    const to = new Date(data.to);
    const cells = new Map();
    for (let d = new Date(from); d < to; d.setDate(d.getDate() + 1)) {
      const key = ymd(d);
      const cell = h("div", { class: `day ${key === ymd(new Date()) ? "today" : ""}`, "data-day": key },
        h("b", {}, d.toLocaleDateString(loc, { weekday: "short", day: "numeric", month: "short" })));
      cells.set(key, cell); grid.append(cell);
    }
    for (const [owner, byDay] of Object.entries(data.users || {})) {
      for (const [key, list] of Object.entries(byDay)) {
        for (const cb of list) {
          const at = new Date(cb.due_at);
          (cells.get(key) || grid).append(h("div", { class: `event ${cb.status}`, "data-testid": "callback", "data-callback-id": cb.id },
            `${at.toLocaleTimeString(loc, { hour: "2-digit", minute: "2-digit" })} ${cb.contact_name || ""} ${cb.note || ""}`,
            Object.keys(data.users).length > 1 ? h("small", {}, ` · ${owner}`) : null,
            cb.contact_id ? quickActions({ contact_id: cb.contact_id, contact_name: cb.contact_name }) : null));
        }
      }
    }
    const typeName = await actionTypeNames();
    for (const a of await dueActions(owners, new Date(data.from), to)) {
      const at = new Date(a.due_at);
      (cells.get(ymd(at)) || grid).append(h("div", { class: "event action", "data-testid": "calendar-action", "data-action-id": a.id },
        `${at.toLocaleTimeString(loc, { hour: "2-digit", minute: "2-digit" })} 🎫 ${typeName(a.kind)}${a.subject ? ` · ${a.subject}` : ""} · ${a.contact_name || ""}`,
        owners.length > 1 ? h("small", {}, ` · ${a.agent_id}`) : null,
        quickActions({ contact_id: a.contact_id, contact_name: a.contact_name })));
    }
  }).catch((ex) => { clear(grid).append(h("p", { class: "error" }, errorText(ex))); });
  const title = view === "month" ? day.toLocaleDateString(loc, { month: "long", year: "numeric" })
    : day.toLocaleDateString(loc, { day: "numeric", month: "long", year: "numeric" });
  const go = (d) => { cal.day = d; rerender(); };
  return h("div", { "data-testid": "callbacks-panel" }, h("h2", {}, t("tab_callbacks")),
    h("div", { class: "toolbar" },
      ["day", "week", "month"].map((v) => h("button", { type: "button", class: view === v ? "active" : "secondary", "aria-pressed": String(view === v),
        "data-testid": `cal-${v}`, onclick: () => { cal.view = v; rerender(); } }, t(v))),
      h("button", { type: "button", class: "secondary", "data-testid": "cal-prev", onclick: () => go(shiftDay(cal.day, view, -1)) }, t("prev")),
      h("button", { type: "button", class: "secondary", onclick: () => go(new Date()) }, t("today")),
      h("button", { type: "button", class: "secondary", "data-testid": "cal-next", onclick: () => go(shiftDay(cal.day, view, 1)) }, t("next")),
      h("b", { "data-testid": "cal-title" }, title),
      isAgent() ? null : labelled(t("users"), users, { class: "inline" })),
    grid);
}
