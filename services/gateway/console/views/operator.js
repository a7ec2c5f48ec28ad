// Panel de operador (seed 003): the campaign's work items; Atender, comment, result, Guardar y siguiente.
import { api } from "../lib/api.js";
import { add, clear, h, labelled, toast } from "../lib/dom.js";
import { ApiError } from "../lib/errors.js";
import { fmtTime } from "../lib/format.js";
import { clearErrors, errorText, getLang, showError, stateText, t } from "../lib/i18n.js";
import { currentCampaign, isAgent } from "../state.js";
import { workspacePanel } from "./alerts.js";
import { applyPrefill, callbackForm, campaignPicker, customFields, dialButton, enc, fieldValues, snapshot, typificationOptions } from "./common.js";
import { attachmentsPanel } from "./tickets.js";

const work = { q: "", result: "", current: null, item: null, picked: new Set(), listId: null };

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
  // Seed 003: the local filter by result matches an item's latest result (its own, or its contact's last attempt).
  const result = h("select", { "data-testid": "work-result-filter", "aria-label": t("filter_result"),
    onchange: () => { work.result = result.value; renderList(list, detail); } }, h("option", { value: "" }, t("any_result")));
  snapshot(currentCampaign()).then((snap) => {
    result.append(...typificationOptions(snap).slice(1));
    result.value = work.result;
  });
  return h("div", { class: "work", "data-testid": "work-panel" },
    h("div", { class: "toolbar" }, h("h2", {}, t("tab_work")),
      campaignPicker(() => { work.current = null; rerender(); }), filter, labelled(t("filter_result"), result, { class: "inline" })),
    dialerBar(list, detail),
    globalSearch(list, detail),
    h("div", { class: "split wide" }, list, detail));
}

async function renderList(box, detail) {
  const campaign = currentCampaign();
  if (!campaign) { clear(box).append(h("p", { class: "muted" }, t("no_campaigns"))); return; }
  const q = new URLSearchParams({ campaign_id: campaign });
  if (work.q.trim()) q.set("q", work.q.trim());
  if (work.result) q.set("result", work.result);
  let list;
  try { list = (await api("GET", `/work-items?${q}`)).items || []; } catch (ex) { clear(box).append(h("p", { class: "error" }, errorText(ex))); return; }
  clear(box);
  if (!list.length) { box.append(h("p", { class: "muted" }, t("no_items"))); return; }
  const snap = await snapshot(campaign);
  // Seed 002 "Cierre masivo de casos por agentes": agents close their own items in bulk when the campaign allows it.
  const bulk = !isAgent() || Boolean(snap && snap.case_options && snap.case_options.mass_close_by_agents);
  work.picked = new Set([...work.picked].filter((id) => list.some((it) => it.id === id)));
  const pick = (it) => h("input", {
    type: "checkbox", "data-testid": "work-pick", "aria-label": `${t("select")} ${it.contact_name || it.id}`, checked: work.picked.has(it.id),
    onchange: (e) => { if (e.target.checked) work.picked.add(it.id); else work.picked.delete(it.id); },
  });
  if (bulk) box.append(massClose(snap, list, detail, box));
  box.append(h("table", { class: "items" },
    h("thead", {}, h("tr", {}, [bulk ? "" : null, t("customer"), t("phone"), t("plan"), t("priority"), t("state"), t("actions_col")]
      .filter((x) => x !== null).map((x) => h("th", { scope: "col" }, x)))),
    h("tbody", {}, list.map((it) => h("tr", { "data-testid": "work-row", "data-case-id": it.id, class: work.current === it.id ? "active" : "" },
      bulk ? h("td", {}, pick(it)) : null,
      h("td", {}, h("a", { href: "#", class: "contact-link", onclick: (e) => { e.preventDefault(); openContact(detail, box, it.contact_id); } },
        it.contact_name || it.contact_id), it.title ? h("div", { class: "muted" }, it.title) : null),
      h("td", {}, (it.phones || []).map((ph) => dialButton(ph, { contact_id: it.contact_id }))),
      h("td", {}, it.account ? `${it.account.number || ""} ${it.account.product || ""}` : ""),
      h("td", {}, h("span", { class: `pill ${it.priority}` }, t(`priority_${it.priority}`))),
      h("td", { "data-testid": "work-status" }, stateText("case", it.status)),
      h("td", {}, h("button", { type: "button", "data-testid": "work-attend", onclick: () => attend(it.id, box, detail) }, t("attend"))))))));
}

// "Cerrar seleccionados": one result for every picked item; each is closed on its own, refusals listed per item.
function massClose(snap, list, detail, box) {
  const result = h("select", { name: "result", "data-field": "result", "data-testid": "mass-result" }, typificationOptions(snap));
  const comment = h("input", { name: "comment", "data-field": "comment", "data-testid": "mass-comment" });
  const out = h("ul", { class: "errors", "data-testid": "mass-outcome", "aria-live": "polite" });
  const form = h("form", { class: "mass-close", novalidate: true, onsubmit: async (e) => {
    e.preventDefault();
    clear(out);
    if (!work.picked.size) { out.append(h("li", {}, t("pick_some"))); return; }
    try {
      const answer = await api("POST", "/work-items/close", { case_ids: [...work.picked], result: result.value,
        comment: comment.value.trim() || null });
      const failed = ((answer && answer.results) || []).filter((r) => r.outcome !== "closed");
      for (const r of failed) {
        const who = list.find((it) => it.id === r.case_id);
        out.append(h("li", { class: "error" }, `${(who && who.contact_name) || r.case_id}: ${errorText(new ApiError(0, r.error))}`));
      }
      toast(t("mass_closed").replace("{n}", String(((answer && answer.results) || []).length - failed.length)));
      work.picked.clear();
      if (!failed.length) renderList(box, detail);
    } catch (ex) { out.append(h("li", { class: "error" }, errorText(ex))); }
  } }, labelled(t("result"), result), labelled(t("comment"), comment),
  h("button", { type: "submit", class: "secondary", "data-testid": "mass-close" }, t("close_selected")), out);
  return h("details", { class: "panel", "data-testid": "mass-panel" }, h("summary", {}, t("close_selected")), form);
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
  applyPrefill(form, result, kase.prefill);
  if (kase.prefill) { finish.checked = true; finishBox.hidden = false; }
  add(box,
    h("div", { class: "conv-head" },
      h("h3", { "data-testid": "work-title" }, contact.name || kase.contact_id),
      h("span", {}, `${t("state")}: `, h("b", { "data-testid": "work-item-status" }, stateText("case", kase.status)))),
    kase.title ? h("p", {}, kase.title) : null,
    h("p", {}, `${t("phone")}: `, phones.length ? phones.map((ph) => dialButton(ph, { contact_id: kase.contact_id,
      ...(work.listId ? { list_id: work.listId } : {}) })) : "—"),
    kase.account ? h("p", {}, `${t("plan")}: ${kase.account.number || ""} · ${kase.account.product || ""}`) : null,
    h("details", { class: "panel", "data-testid": "script-open" }, h("summary", {}, t("script_tabs")),
      workspacePanel(`/work-items/${enc(kase.id)}/workspace`, snap, { case_id: kase.id, campaign_id: kase.campaign_id })),
    form,
    combineForm(snap, kase, box, list),
    externalLink(snap, kase),
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

// Seed 002 "Combinaciones de Casos": another open item of the same contact merged into this one (its history moves).
function combineForm(snap, kase, box, list) {
  if (!(snap && snap.case_options && snap.case_options.combine_cases)) return null;
  const other = h("input", { name: "case_id", "data-field": "case_id", "data-testid": "combine-case", placeholder: t("case_id") });
  const err = h("p", { class: "error", "data-testid": "combine-error", id: `combine-err-${kase.id}` });
  const form = h("form", { novalidate: true, onsubmit: async (e) => {
    e.preventDefault();
    clearErrors(form, err);
    try {
      work.item = await api("POST", `/work-items/${enc(kase.id)}/combine`, { case_id: other.value.trim() });
      toast(t("combined"));
      renderList(list, box); renderItem(box, list);
    } catch (ex) { showError(err, ex, form); }
  } }, labelled(t("combine_with"), other), h("button", { type: "submit", class: "secondary", "data-testid": "combine-submit" }, t("combine")), err);
  return h("details", { class: "panel", "data-testid": "combine-panel" }, h("summary", {}, t("combine")), form);
}

// Seed 002 "Vista Externa de Casos": a signed, expiring, read-only link to show this case outside the platform.
function externalLink(snap, kase) {
  if (!(snap && snap.external_view && snap.external_view.enabled)) return null;
  const url = h("input", { readonly: true, "data-testid": "external-url", "aria-label": t("external_link") });
  const note = h("p", { class: "muted", "data-testid": "external-note" });
  const err = h("p", { class: "error", "data-testid": "external-error", id: `external-err-${kase.id}` });
  const make = async () => {
    clear(err);
    try {
      const link = await api("POST", `/work-items/${enc(kase.id)}/external-link`);
      url.value = `${location.origin}${link.path}`;
      note.textContent = t("external_link_made").replace("{date}", fmtTime(link.expires_at, getLang()));
      if (navigator.clipboard) navigator.clipboard.writeText(url.value).catch(() => {});
    } catch (ex) { showError(err, ex); }
  };
  return h("details", { class: "panel", "data-testid": "external-panel" }, h("summary", {}, t("external_link")),
    h("button", { type: "button", class: "secondary", "data-testid": "external-make", onclick: make }, t("external_link")),
    labelled(t("external_link"), url), note, err);
}

// The preview dialer: the next contact of one of the campaign's lists (recycled and reprocessed members become work),
// shown with its work item to call it (the call counts the attempt in the list).
function dialerBar(list, detail) {
  const campaign = currentCampaign();
  if (!campaign) return null;
  const pick = h("select", { "data-testid": "dialer-list", "aria-label": t("dialer_list") });
  const next = h("button", { type: "button", "data-testid": "dialer-next", onclick: async () => {
    if (!pick.value) return;
    try {
      const got = await api("POST", `/dialer/${enc(pick.value)}/next`);
      if (!got.member) { toast(t("dialer_empty")); return; }
      work.listId = pick.value;
      work.current = got.case.id;
      work.item = got.case;
      renderList(list, detail); renderItem(detail, list);
    } catch (ex) { toast(errorText(ex), "error"); }
  } }, t("dialer_next"));
  api("GET", `/dialer?campaign_id=${enc(campaign)}`).then((data) => {
    const lists = (data && data.items) || [];
    pick.append(...lists.map((l) => h("option", { value: l.id }, `${l.name} (${l.pending})`)));
    if (!lists.length) { pick.disabled = true; next.disabled = true; }
  }).catch(() => { pick.disabled = true; next.disabled = true; });
  return h("div", { class: "toolbar dialer", "data-testid": "dialer" }, labelled(t("dialer_list"), pick, { class: "inline" }), next);
}

// Seed 003: the search "at the top of the system" looks in the whole base (the filter above only in the panel):
// contacts, and their open items the caller may see, to attend.
function globalSearch(list, detail) {
  const q = h("input", { type: "search", "data-testid": "global-q", "data-field": "q", "aria-label": t("search_all") });
  const out = h("div", { class: "global-results", "data-testid": "global-results", "aria-live": "polite" });
  const run = async () => {
    clear(out);
    try {
      const found = await api("GET", `/search?q=${enc(q.value.trim())}`);
      const open = found.cases || [];
      if (!(found.contacts || []).length) { out.append(h("p", { class: "muted" }, t("no_items"))); return; }
      out.append(h("ul", {}, found.contacts.map((c) => h("li", { "data-testid": "global-contact" }, h("b", {}, c.name || c.id),
        ` ${(c.phones || []).map((p) => p.number).join(", ")} ${c.company || ""}`,
        ...open.filter((k) => k.contact_id === c.id).map((k) => h("button", {
          type: "button", class: "secondary", "data-testid": "global-attend", onclick: () => attend(k.id, list, detail),
        }, `${t("attend")}: ${k.title || k.campaign_id}`))))));
    } catch (ex) { out.append(h("p", { class: "error", role: "alert" }, errorText(ex))); }
  };
  const form = h("form", { class: "toolbar", role: "search", onsubmit: (e) => { e.preventDefault(); run(); } },
    labelled(t("search_all"), q, { class: "inline" }), h("button", { type: "submit", "data-testid": "global-search" }, t("search")));
  return h("div", { class: "global-search" }, form, out);
}
