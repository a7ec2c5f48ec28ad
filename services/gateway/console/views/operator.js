// Panel de operador (seed 003): the campaign's work items; Atender, comment, result, Guardar y siguiente.
import { api } from "../lib/api.js";
import { add, clear, h, labelled, toast } from "../lib/dom.js";
import { fmtTime } from "../lib/format.js";
import { clearErrors, errorText, getLang, showError, stateText, t } from "../lib/i18n.js";
import { currentCampaign } from "../state.js";
import { callbackForm, campaignPicker, customFields, dialButton, enc, fieldValues, snapshot, typificationOptions } from "./common.js";
import { attachmentsPanel } from "./tickets.js";

const work = { q: "", current: null, item: null };

export function operatorView(scope, rerender) {
  const list = h("div", { id: "work-list", "data-testid": "work-list" });
  const detail = h("section", { id: "work-item", class: "work-item", "data-testid": "work-item", "aria-label": t("work_item") });
  const filter = h("input", { type: "search", value: work.q, "data-testid": "work-filter", "aria-label": t("filter_name"), placeholder: t("filter_name") });
  const refresh = () => { renderList(list, detail); renderItem(detail, list); };
  let timer = null;
  filter.oninput = () => {
    work.q = filter.value;
    clearTimeout(timer);
    timer = setTimeout(() => renderList(list, detail), 300);
  };
  scope.on(() => clearTimeout(timer));
  scope.later(0, refresh);
  return h("div", { class: "work", "data-testid": "work-panel" },
    h("div", { class: "toolbar" }, h("h2", {}, t("tab_work")),
      campaignPicker(() => { work.current = null; rerender(); }), filter),
    h("div", { class: "split wide" }, list, detail));
}

async function renderList(box, detail) {
  const campaign = currentCampaign();
  if (!campaign) { clear(box).append(h("p", { class: "muted" }, t("no_campaigns"))); return; }
  const q = new URLSearchParams({ campaign_id: campaign });
  if (work.q.trim()) q.set("q", work.q.trim());
  let list;
  try { list = (await api("GET", `/work-items?${q}`)).items || []; } catch (ex) { clear(box).append(h("p", { class: "error" }, errorText(ex))); return; }
  clear(box);
  if (!list.length) { box.append(h("p", { class: "muted" }, t("no_items"))); return; }
  box.append(h("table", { class: "items" },
    h("thead", {}, h("tr", {}, [t("customer"), t("phone"), t("plan"), t("priority"), t("state"), t("actions_col")].map((x) => h("th", { scope: "col" }, x)))),
    h("tbody", {}, list.map((it) => h("tr", { "data-testid": "work-row", "data-case-id": it.id, class: work.current === it.id ? "active" : "" },
      h("td", {}, h("a", { href: "#", class: "contact-link", onclick: (e) => { e.preventDefault(); openContact(detail, box, it.contact_id); } },
        it.contact_name || it.contact_id), it.title ? h("div", { class: "muted" }, it.title) : null),
      h("td", {}, (it.phones || []).map((ph) => dialButton(ph))),
      h("td", {}, it.account ? `${it.account.number || ""} ${it.account.product || ""}` : ""),
      h("td", {}, h("span", { class: `pill ${it.priority}` }, t(`priority_${it.priority}`))),
      h("td", { "data-testid": "work-status" }, stateText("case", it.status)),
      h("td", {}, h("button", { type: "button", "data-testid": "work-attend", onclick: () => attend(it.id, box, detail) }, t("attend"))))))));
}

async function attend(id, list, detail) {
  try {
    const kase = await api("POST", `/work-items/${enc(id)}/attend`);
    work.current = kase.id;
    work.item = kase;
    renderList(list, detail); renderItem(detail, list);
  } catch (ex) { toast(errorText(ex), "error"); }
}

async function openContact(box, list, contactId) {
  clear(box);
  if (!contactId) return;
  work.current = null;
  try {
    const c = await api("GET", `/contacts/${enc(contactId)}`);
    const inputs = { name: c.name, document: c.document, company: c.company };
    const fields = Object.entries(inputs).map(([k, v]) => [k, h("input", { value: v || "", "data-testid": `contact-${k}`, "data-field": k })]);
    const err = h("p", { class: "error", id: "contact-edit-error" });
    add(box, h("h3", {}, t("contact")), fields.map(([k, el]) => h("label", {}, t(k), el)),
      h("button", {
        type: "button", "data-testid": "contact-save",
        onclick: async () => {
          clearErrors(box, err);
          const body = Object.fromEntries(fields.map(([k, el]) => [k, el.value.trim() || null]));
          try { await api("PATCH", `/contacts/${enc(contactId)}`, body); toast(t("saved")); renderList(list, box); }
          catch (ex) { showError(err, ex, box); }
        },
      }, t("save")), err);
  } catch (ex) { box.append(h("p", { class: "error" }, errorText(ex))); }
}

async function renderItem(box, list) {
  clear(box);
  const kase = work.item;
  if (!work.current || !kase) { box.append(h("p", { class: "muted" }, t("pick_work_item"))); return; }
  const snap = await snapshot(kase.campaign_id);
  if (work.item !== kase) return;
  const contact = kase.contact || {};
  const phones = (contact.phones || []).map((p) => p.value || p.number || p);
  const comment = h("textarea", { rows: 3, name: "comment", "data-field": "comment", "data-testid": "work-comment" });
  const result = h("select", { name: "result", "data-field": "result", "data-testid": "work-result" }, typificationOptions(snap));
  const finishBox = h("div", { class: "finish", hidden: true }, h("label", {}, t("result"), result), customFields(snap));
  const finish = h("input", { type: "checkbox", "data-testid": "work-finish", onchange: () => { finishBox.hidden = !finish.checked; } });
  const err = h("p", { class: "error", "data-testid": "work-error", id: "work-error" });
  const form = h("form", { novalidate: true, onsubmit: (e) => e.preventDefault() });
  const save = async (next) => {
    clearErrors(form, err);
    const body = { next };
    if (comment.value.trim()) body.comment = comment.value.trim();
    if (finish.checked) {
      body.finish = true;
      if (result.value) body.result = result.value;
      body.fields = fieldValues(form, snap);
    }
    try {
      const answer = await api("POST", `/work-items/${enc(kase.id)}/save`, body);
      toast(finish.checked ? t("work_finished") : t("saved"));
      work.item = (answer && answer.next) || (finish.checked ? null : answer && answer.case);
      work.current = work.item ? work.item.id : null;
      renderList(list, box); renderItem(box, list);
    } catch (ex) { showError(err, ex, form); }
  };
  add(form,
    labelled(t("comment"), comment),
    h("label", { class: "check" }, finish, ` ${t("finish_work")}`),
    finishBox,
    h("button", { type: "button", class: "secondary", "data-testid": "work-save", onclick: () => save(false) }, t("save")),
    h("button", { type: "button", "data-testid": "work-save-next", onclick: () => save(true) }, t("save_next")),
    err);
  add(box,
    h("div", { class: "conv-head" },
      h("h3", { "data-testid": "work-title" }, contact.name || kase.contact_id),
      h("span", {}, `${t("state")}: `, h("b", { "data-testid": "work-item-status" }, stateText("case", kase.status)))),
    kase.title ? h("p", {}, kase.title) : null,
    h("p", {}, `${t("phone")}: `, phones.length ? phones.map((ph) => dialButton(ph)) : "—"),
    kase.account ? h("p", {}, `${t("plan")}: ${kase.account.number || ""} · ${kase.account.product || ""}`) : null,
    form,
    attachmentsPanel(`/work-items/${enc(kase.id)}/attachments`, kase.attachments || [], async () => {
      work.item = await api("GET", `/work-items/${enc(kase.id)}`);
      renderItem(box, list);
    }),
    callbackForm({ case_id: kase.id }),
    h("h4", {}, t("history")),
    h("ul", { class: "history", "data-testid": "work-history" },
      (kase.history || []).slice().reverse().map((ev) => h("li", {},
        `${fmtTime(ev.at, getLang())} · ${t(`event_${ev.kind}`)} · ${ev.actor || ""} ${ev.body ? `· ${ev.body}` : ""}`))));
}
