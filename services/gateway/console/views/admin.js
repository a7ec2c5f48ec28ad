// Configuración (admins): real forms for campaigns, schedules, typifications and channels (admin-forms.js);
// clients, projects, fields and users still in a JSON editor.
import { api } from "../lib/api.js";
import { clear, h, labelled, toast } from "../lib/dom.js";
import { errorText, showError, t } from "../lib/i18n.js";
import { FORMS, formView } from "./admin-forms.js";
import { enc, listPanel } from "./common.js";

const TEMPLATES = {
  clients: { name: "", status: "active" },
  projects: { client_id: "", name: "", status: "active" },
  fields: { key: "", label: "", type: "text", options: [] },
  users: { id: "", username: "", role: "agent", password: "", display_name: "" },
};
const ADMIN_RESOURCES = ["campaigns", "schedules", "typifications", "channels", "clients", "projects", "fields", "users"];
let resource = "campaigns";

export function adminView(scope, rerender) {
  const res = resource;
  const nav = h("nav", { class: "tabs sub", "aria-label": t("tab_admin") }, ADMIN_RESOURCES.map((r) => h("button", {
    type: "button", class: r === res ? "active" : "", "aria-pressed": String(r === res), "data-testid": `admin-${r}`,
    onclick: () => { resource = r; rerender(); },
  }, t(r))));
  if (FORMS[res]) return h("div", { "data-testid": "admin" }, nav, formView(res, rerender));
  const editor = h("div", { id: "editor" });
  const openEditor = (item) => {
    clear(editor);
    const area = h("textarea", { rows: 14, "data-testid": "admin-json", "data-field": "body" }, JSON.stringify(item || TEMPLATES[res], null, 2));
    const err = h("p", { class: "error", "data-testid": "admin-error", id: "admin-error" });
    editor.append(h("h3", {}, item ? `${t("edit")}: ${item.id}` : t("new")), labelled(t("json"), area),
      h("button", {
        type: "button", "data-testid": "admin-save",
        onclick: async () => {
          clear(err);
          let body;
          try { body = JSON.parse(area.value); } catch (ex) { err.textContent = `${t("bad_json")} — ${ex.message}`; return; }
          try {
            if (item) await api("PATCH", `/${res}/${enc(item.id)}`, body);
            else await api("POST", `/${res}`, body);
            toast(t("saved")); rerender();
          } catch (ex) { showError(err, ex, editor); }
        },
      }, t("save")), err);
  };
  return h("div", { "data-testid": "admin" }, nav,
    h("button", { type: "button", "data-testid": "admin-new", onclick: () => openEditor(null) }, t("new")),
    listPanel(`/${res}`, (it) => h("div", { class: "card row" },
      h("b", {}, it.name || it.label || it.username || it.key || it.id), h("small", {}, ` ${it.id || ""} ${it.status || it.role || it.type || ""}`),
      h("button", { type: "button", onclick: () => openEditor(it) }, t("edit")),
      res === "users" ? null : h("button", {
        type: "button", class: "secondary",
        onclick: async () => { try { await api("DELETE", `/${res}/${enc(it.id)}`); rerender(); } catch (ex) { toast(errorText(ex), "error"); } },
      }, t("delete")))),
    editor);
}
