// Configuración (admins): every resource as a real form (admin-forms.js, admin-catalog.js), errors next to the
// field they name: campaigns (with seed 004's search and Activar / Inactivar), schedules, typifications (a tree),
// channels, clients, projects, the custom-field catalog and users. No raw JSON anywhere.
import { h } from "../lib/dom.js";
import { t } from "../lib/i18n.js";
import { CRM_FORMS, CRM_RESOURCES } from "./admin-crm.js";
import { FORMS, formView } from "./admin-forms.js";
import { ensureStyles } from "./supervisor.js";

Object.assign(FORMS, CRM_FORMS); // the CRM's catalogs (admin-crm.js): dispositions, ticket forms, action types, gallery, webhooks
const ADMIN_RESOURCES = ["campaigns", "schedules", "typifications", "channels", "clients", "projects", "fields", "users",
  ...CRM_RESOURCES];
let resource = "campaigns";

export function adminView(scope, rerender) {
  ensureStyles();
  const res = FORMS[resource] ? resource : "campaigns";
  const nav = h("nav", { class: "tabs sub", "aria-label": t("tab_admin") }, ADMIN_RESOURCES.map((r) => h("button", {
    type: "button", class: r === res ? "active" : "", "aria-pressed": String(r === res), "data-testid": `admin-${r}`,
    onclick: () => { resource = r; rerender(); },
  }, t(r))));
  return h("div", { "data-testid": "admin" }, nav, formView(res, rerender));
}
