// Contactos (seed 001, 2): filters (última actividad, lista, disposición, compañía), results with the quick
// actions, "+ Nuevo", and "Descargar" with the same filters.
import { api, download } from "../lib/api.js";
import { h, labelled, toast } from "../lib/dom.js";
import { fmtTime } from "../lib/format.js";
import { clearErrors, getLang, showError, t } from "../lib/i18n.js";
import { currentCampaign, isAgent, myCampaigns } from "../state.js";
import { dateFilter, filterQuery, runSearch, textFilter } from "./filters.js";
import { openDialog, quickActions } from "./quick.js";

const phoneOf = (c) => ((c.phones || []).map((p) => p.number || p.value || p))[0] || "";

export function contactsView() {
  const [fromBox, from] = dateFilter("activity_from", "activity_from");
  const [toBox, to] = dateFilter("activity_to", "activity_to", true);
  const [qBox, q] = textFilter("search_text", "q", { type: "search" });
  const [listBox, list] = textFilter("list", "list_id");
  const [dispBox, disp] = textFilter("disposition_filter", "disposition");
  const [companyBox, company] = textFilter("company", "company");
  const inputs = { q, activity_from: from, activity_to: to, list_id: list, disposition: disp, company };
  const results = h("div", { class: "results", "data-testid": "contacts-results", "aria-live": "polite" });
  const err = h("p", { class: "error", id: "contacts-error", "data-testid": "contacts-error" });
  const form = h("form", {
    class: "filters", "data-testid": "contacts-filters", role: "search",
    onsubmit: (e) => { e.preventDefault(); search(form, inputs, results, err); },
  }, h("fieldset", {}, h("legend", {}, t("filter")), qBox, fromBox, toBox, listBox, dispBox, companyBox),
  h("button", { type: "submit", "data-testid": "contacts-search" }, t("search")),
  h("button", { type: "button", class: "secondary", "data-testid": "contacts-new", onclick: () => newContact(() => search(form, inputs, results, err)) }, `+ ${t("new")}`),
  h("button", {
    type: "button", class: "secondary", "data-testid": "contacts-download",
    onclick: () => download(`/contacts/export?${filterQuery(inputs, { format: "xlsx" })}`, "contactos.xlsx")
      .catch((ex) => showError(err, ex, form)),
  }, t("download")),
  isAgent() ? null : h("button", {
    type: "button", class: "secondary", "data-testid": "contacts-call-list",
    onclick: () => callListDialog(inputs),
  }, t("make_call_list")), err);
  search(form, inputs, results, err);
  return h("div", { "data-testid": "contacts-panel" }, h("h2", {}, t("tab_contacts")), form, results);
}

function search(form, inputs, box, err) {
  return runSearch("/contacts", form, inputs, box, err, (c) => h("article", { class: "card result", "data-testid": "contact-row", "data-contact-id": c.id },
      h("h3", {}, c.name || phoneOf(c) || t("unnamed")),
      h("dl", { class: "facts" },
        h("dt", {}, t("document")), h("dd", {}, c.document || "—"),
        h("dt", {}, t("company")), h("dd", {}, c.company || "—"),
        h("dt", {}, t("disposition_filter")), h("dd", {}, c.last_disposition || c.disposition || "—"),
        h("dt", {}, t("last_activity")), h("dd", {}, fmtTime(c.last_activity_at, getLang()) || "—"),
        h("dt", {}, t("phone")), h("dd", {}, phoneOf(c) || "—")),
      quickActions({ contact_id: c.id, phone: phoneOf(c), contact_name: c.name })));
}

// "+ Nuevo": a contact by hand; the CRM's refusal is shown next to the field it names.
function newContact(done) {
  const field = (key, attrs = {}) => h("input", { name: key, "data-field": key, "data-testid": `new-contact-${key}`, ...attrs });
  const name = field("name"); const doc = field("document"); const company = field("company");
  const phone = field("phones[0]", { type: "tel", "data-testid": "new-contact-phone" });
  const email = field("emails[0]", { type: "email", "data-testid": "new-contact-email" });
  const err = h("p", { class: "error", id: "new-contact-error", "data-testid": "new-contact-error" });
  const form = h("form", {
    class: "form", novalidate: true,
    onsubmit: async (e) => {
      e.preventDefault();
      clearErrors(form, err);
      const body = { name: name.value.trim() || null, document: doc.value.trim() || null, company: company.value.trim() || null,
        phones: phone.value.trim() ? [phone.value.trim()] : [], emails: email.value.trim() ? [email.value.trim()] : [] };
      try {
        await api("POST", "/contacts", body);
        toast(t("saved"));
        dialog.close();
        done();
      } catch (ex) { showError(err, ex, form); }
    },
  }, labelled(t("name"), name), labelled(t("document"), doc), labelled(t("company"), company),
  labelled(t("phone"), phone), labelled(t("email"), email),
  h("button", { type: "submit", "data-testid": "new-contact-save" }, t("save")), err);
  const dialog = openDialog(t("new_contact"), form);
}

// Seed 001 2.1: "generar una campaña de llamado para esos contactos": every contact the search finds joins a new
// list of a campaign, which the list processes (recycle, reprocess) and the preview dialer then work on.
function callListDialog(inputs) {
  const name = h("input", { name: "name", "data-field": "name", "data-testid": "call-list-name" });
  const campaign = h("select", { name: "campaign_id", "data-field": "campaign_id", "data-testid": "call-list-campaign" },
    myCampaigns().map((c) => h("option", { value: c }, c)));
  campaign.value = currentCampaign();
  const err = h("p", { class: "error", id: "call-list-error", "data-testid": "call-list-error" });
  const form = h("form", { class: "form", novalidate: true, onsubmit: async (e) => {
    e.preventDefault();
    clearErrors(form, err);
    const filters = Object.fromEntries(new URLSearchParams(filterQuery(inputs, {})));
    try {
      const made = await api("POST", "/lists/from-search", { name: name.value.trim(), campaign_id: campaign.value, filters });
      toast(t("call_list_made").replace("{n}", String(made.added)));
      dialog.close();
    } catch (ex) { showError(err, ex, form); }
  } }, labelled(t("name"), name), labelled(t("campaign"), campaign),
  h("button", { type: "submit", "data-testid": "call-list-save" }, t("make_call_list")), err);
  const dialog = openDialog(t("make_call_list"), form);
}
