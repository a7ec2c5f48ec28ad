// Admin forms of the catalogs (clients, projects, the custom-field catalog) and of users (create, reset password,
// role, campaign membership, deactivate), and seed 004's campaign search with Activar / Inactivar. Real forms:
// every input names the server's field path, so an error is shown next to the field it names.
import { api } from "../lib/api.js";
import { clear, h, toast } from "../lib/dom.js";
import { fmtTime, items } from "../lib/format.js";
import { errorMessage, errorText, getLang, showError, t } from "../lib/i18n.js";
import { checkField, checkbox, editor, fetchList, field, input, listRows, section, select } from "./admin-forms.js";

let done = () => {};
export const setDone = (fn) => { done = fn; };
const enc = encodeURIComponent;
const STATUS = ["active", "inactive"];
const FIELD_TYPES = ["text", "number", "date", "select", "boolean"];
// Seed 004: "Para poder inactivar una campaña no deberán haber agentes asignados ni conversaciones activas."
const RULE_KEY = "deactivate_rule";

function clientForm(item) {
  const c = item || { status: "active" };
  const id = item ? null : input("id", "", { placeholder: t("optional") });
  const name = input("name", c.name);
  const status = select("status", STATUS.map((x) => [x, t(`st_${x}`)]), c.status || "active");
  return editor({ kind: "clients", item, body: h("div", {}, id ? field("id", id) : null, field("name", name), field("status", status)),
    collect: () => ({ ...(id && id.value.trim() ? { id: id.value.trim() } : {}), name: name.value.trim(), status: status.value }) });
}

async function projectForm(item) {
  const p = item || { status: "active" };
  const clients = await fetchList("/clients?limit=500");
  const id = item ? null : input("id", "", { placeholder: t("optional") });
  const client = select("client_id", [["", "—"], ...clients.map((x) => [x.id, x.name])], p.client_id);
  const name = input("name", p.name);
  const status = select("status", STATUS.map((x) => [x, t(`st_${x}`)]), p.status || "active");
  return editor({ kind: "projects", item, body: h("div", {}, id ? field("id", id) : null, field("client", client),
    field("name", name), field("status", status)),
  collect: () => ({ ...(id && id.value.trim() ? { id: id.value.trim() } : {}), client_id: client.value, name: name.value.trim(),
    status: status.value }) });
}

function fieldForm(item) {
  const f = item || { type: "text", options: [] };
  const key = input("key", f.key, item ? { readonly: true } : {});
  const label = input("label", f.label);
  const type = select("type", FIELD_TYPES.map((x) => [x, t(`ft_${x}`)]), f.type || "text");
  const opts = (f.options || []).slice();
  const box = h("div", { "data-field": "options" });
  const draw = () => {
    clear(box);
    box.hidden = type.value !== "select";
    opts.forEach((o, i) => box.append(h("span", { class: "interval" },
      input(`options[${i}]`, o, { "aria-label": `${t("option")} ${i + 1}`, oninput: (e) => { opts[i] = e.target.value; } }),
      h("button", { type: "button", class: "secondary", "aria-label": t("remove"), onclick: () => { opts.splice(i, 1); draw(); } }, "✕"))));
    box.append(h("button", { type: "button", class: "secondary", "data-testid": "add-option",
      onclick: () => { opts.push(""); draw(); } }, `+ ${t("add_option")}`));
  };
  type.addEventListener("change", draw);
  draw();
  return editor({ kind: "fields", item, method: "PATCH",
    body: h("div", {}, field("key", key), field("label", label), field("type", type), section("options", box)),
    collect: () => {
      const data = { label: label.value.trim(), type: type.value, options: type.value === "select" ? opts.map((o) => o.trim()) : [] };
      if (!item) data.key = key.value.trim();
      return data;
    } });
}

// The field catalog is keyed by its key.
function fieldsList(box, open) {
  (async () => {
    const list = (await fetchList("/fields?limit=500")).map((x) => ({ ...x, id: x.key }));
    clear(box).append(h("div", {}, listRows("fields", list, (x) => `${x.label} (${x.key}) · ${t(`ft_${x.type}`)}`, open)));
  })();
}

// ---- users -------------------------------------------------------------------------------------------
async function userForm(item) {
  const u = item || { role: "agent", active: true };
  const campaigns = await fetchList("/campaigns?limit=500");
  const id = item ? null : input("id", "");
  const username = input("username", u.username, item ? { readonly: true } : { autocomplete: "off" });
  const display = input("display_name", u.display_name);
  const role = select("role", ["agent", "supervisor", "admin"].map((r) => [r, t(`role_${r}`)]), u.role);
  const password = input("password", "", { type: "password", autocomplete: "new-password",
    placeholder: item ? t("password_keep") : "" });
  const active = checkbox("active", u.active !== false);
  const memberOf = (c) => (c.agents || []).includes(u.id) || (c.supervisors || []).includes(u.id);
  const boxes = campaigns.map((c) => [c, checkbox(`campaigns.${c.id}`, !!item && memberOf(c), { value: c.id })]);
  const body = h("div", {},
    id ? field("id", id) : null, field("username", username), field("display_name", display), field("role", role),
    field(item ? "reset_password" : "password", password),
    item ? checkField("user_active", active) : null,
    section("campaign_membership", h("p", { class: "muted" }, t("membership_help")),
      h("div", { class: "grid2" }, boxes.map(([c, box]) => h("label", { class: "check" }, box, c.name || c.id)))));
  return editor({ kind: "users", item, body, collect: () => {
    const data = { display_name: display.value.trim(), role: role.value };
    if (password.value) data.password = password.value;
    if (!item) Object.assign(data, { id: id.value.trim(), username: username.value.trim() });
    else data.active = active.checked;
    return data;
  },
  // Membership lives in each campaign (agents or supervisors, by role): saved once the user is.
  after: (saved) => saveMembership(saved.id, saved.role, boxes) });
}

async function saveMembership(userId, role, boxes) {
  if (!userId || role === "admin") return;
  const list = role === "supervisor" ? "supervisors" : "agents";
  for (const [c, box] of boxes) {
    const current = c[list] || [];
    const has = current.includes(userId);
    if (box.checked === has) continue;
    const next = box.checked ? [...current, userId] : current.filter((x) => x !== userId);
    try {
      await api("PATCH", `/campaigns/${enc(c.id)}`, { [list]: next });
    } catch (ex) { toast(`${c.name || c.id}: ${errorText(ex)}`, "error"); }
  }
}

function usersList(box, open) {
  (async () => {
    const users = await fetchList("/users?limit=500");
    clear(box).append(h("div", {}, users.length ? users.map((u) => h("div", { class: "card row", "data-testid": "row-users", "data-id": u.id },
      h("b", {}, u.display_name || u.username), h("small", {}, ` ${u.username} · ${t(`role_${u.role}`)}`),
      u.active === false ? h("span", { class: "pill offline" }, t("inactive_user")) : null,
      h("button", { type: "button", "data-testid": "row-edit", onclick: () => open(u) }, t("edit")),
      h("button", {
        type: "button", class: "secondary", "data-testid": "row-toggle",
        onclick: async () => {
          try { await api("PATCH", `/users/${enc(u.id)}`, { active: u.active === false }); done(); } catch (ex) { toast(errorText(ex), "error"); }
        },
      }, u.active === false ? t("reactivate") : t("deactivate")))) : h("p", { class: "muted" }, t("no_items"))));
  })();
}

// ---- campaigns: seed 004's "Consultar campaña" and Activar / Inactivar ---------------------------------
const search = { from: "", to: "", campaign: "", channel_id: "", client_id: "", project_id: "", status: "" };

export function campaignSearch(box, open) {
  (async () => {
    const [clients, projects, channels] = await Promise.all([fetchList("/clients?limit=500"), fetchList("/projects?limit=500"),
      fetchList("/channels")]);
    const from = input("from", search.from, { type: "date" });
    const to = input("to", search.to, { type: "date" });
    const name = input("campaign", search.campaign);
    const channel = select("channel_id", [["", "—"], ...channels.map((c) => [c.id, c.name || c.id])], search.channel_id);
    const client = select("client_id", [["", "—"], ...clients.map((c) => [c.id, c.name])], search.client_id);
    const project = select("project_id", [["", "—"], ...projects.map((p) => [p.id, p.name])], search.project_id);
    const status = select("status", [["", "—"], ...["active", "paused", "archived"].map((s) => [s, t(`st_${s}`)])], search.status);
    const err = h("p", { class: "error", id: "camp-search-error", "data-testid": "camp-search-error", role: "alert" });
    const results = h("div", { "data-testid": "camp-results" });
    const form = h("form", { class: "admin-form", "data-testid": "camp-search" },
      h("div", { class: "grid2" }, field("date_start", from), field("date_end", to), field("campaign", name), field("channel", channel),
        field("client", client), field("project", project), field("status", status)),
      h("button", { type: "submit", "data-testid": "camp-consult" }, t("consult")),
      h("button", { type: "button", class: "secondary", "data-testid": "camp-clear", onclick: () => {
        Object.keys(search).forEach((k) => { search[k] = ""; });
        for (const el of [from, to, name, channel, client, project, status]) el.value = "";
        run();
      } }, t("clear")), err);
    const run = async (e) => {
      if (e) e.preventDefault();
      clear(err);
      Object.assign(search, { from: from.value, to: to.value, campaign: name.value.trim(), channel_id: channel.value,
        client_id: client.value, project_id: project.value, status: status.value });
      const q = Object.fromEntries(Object.entries(search).filter(([, v]) => v));
      try {
        const list = items(await api("GET", `/campaigns?${new URLSearchParams({ ...q, limit: "500" })}`));
        clear(results).append(h("div", {}, campaignRows(list, open)));
      } catch (ex) { showError(err, ex, form); }
    };
    form.addEventListener("submit", run);
    clear(box).append(form, results);
    run();
  })();
}

function campaignRows(list, open) {
  if (!list.length) return h("p", { class: "muted" }, t("no_items"));
  return list.map((c) => {
    const refusal = h("div", { class: "refusal", "data-testid": "camp-refusal", role: "alert", hidden: true });
    const toggle = async () => {
      refusal.hidden = true;
      try {
        await api("POST", `/campaigns/${enc(c.id)}/${c.status === "active" ? "deactivate" : "activate"}`);
        toast(t("saved")); done();
      } catch (ex) {
        refusal.hidden = false;
        const { text, detail } = errorMessage(ex);
        clear(refusal).append(h("b", {}, t(RULE_KEY)), h("br"), h("span", { class: "error-text" }, text),
          detail ? h("small", { class: "error-detail" }, ` — ${detail}`) : null);
      }
    };
    return h("div", { class: "card", "data-testid": "row-campaigns", "data-id": c.id },
      h("div", { class: "row" }, h("b", {}, c.name || c.id),
        h("small", {}, ` ${c.id} · ${t(`st_${c.status}`)} · ${(c.channels || []).map((x) => x.id || x).join(", ")}`
          + (c.created_at ? ` · ${fmtTime(c.created_at, getLang())}` : "")),
        h("button", { type: "button", "data-testid": "row-edit", onclick: () => open(c) }, t("edit")),
        c.status === "archived" ? null : h("button", { type: "button", class: "secondary", "data-testid": "row-activate", onclick: toggle },
          c.status === "active" ? t("deactivate") : t("activate"))),
      refusal);
  });
}

export const CATALOG_FORMS = {
  clients: { form: clientForm, list: "/clients?limit=500", label: (x) => x.name || x.id },
  projects: { form: projectForm, list: "/projects?limit=500", label: (x) => x.name || x.id },
  fields: { form: fieldForm, listView: fieldsList },
  users: { form: userForm, listView: usersList, noFetch: true },
};
