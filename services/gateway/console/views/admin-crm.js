// Admin forms of the CRM's catalogs (issue 13): a campaign's dispositions with their follow-up rule, ticket forms
// (typed fields, required flags) and the action types they attach to, a campaign's resource gallery (quick replies
// and files) and its signed webhooks to an external CRM. Real forms over the facade: each input names the server's
// field path, so a refusal is shown next to the field it names.
import { api, sendFile } from "../lib/api.js";
import { clear, h, labelled, toast } from "../lib/dom.js";
import { items } from "../lib/format.js";
import { errorText, showError, t } from "../lib/i18n.js";
import { forgetCatalogs } from "./catalog-inputs.js";
import { checkbox, editor, fetchList, field, input, listRows, section, select } from "./admin-forms.js";

const enc = encodeURIComponent;
const FIELD_TYPES = ["text", "number", "date", "select", "boolean"];
const FOLLOW = ["none", "callback", "ticket_action"];
const EVENTS = ["conversation.opened", "conversation.assigned", "conversation.transferred", "conversation.message",
  "conversation.closed", "case.closed"];
const optional = (el) => (el.value.trim() ? el.value.trim() : undefined);

// The campaign a campaign-scoped catalog is shown for (kept while the admin moves between its screens).
const scope = { campaign: "", secret: "" };
async function campaignChooser(onchange) {
  const camps = await fetchList("/campaigns?limit=500");
  if (!scope.campaign || !camps.some((c) => c.id === scope.campaign)) scope.campaign = (camps[0] && camps[0].id) || "";
  const sel = select("campaign_id", camps.map((c) => [c.id, c.name || c.id]), scope.campaign,
    { "data-testid": "crm-campaign", onchange: () => { scope.campaign = sel.value; onchange(); } });
  return labelled(t("campaign"), sel, { class: "inline" });
}

// ---- ticket forms: typed fields with required flags ----------------------------------------------------
function ticketFormForm(item) {
  const f = item || { fields: [] };
  const id = item ? null : input("id", "", { placeholder: t("optional") });
  const name = input("name", f.name);
  const rows = (f.fields || []).map((x) => ({ ...x, options: [...(x.options || [])] }));
  const box = h("div", { "data-field": "fields" });
  const draw = () => {
    clear(box);
    rows.forEach((r, i) => {
      const p = `fields[${i}]`;
      const type = select(`${p}.type`, FIELD_TYPES.map((x) => [x, t(`ft_${x}`)]), r.type || "text",
        { onchange: (e) => { r.type = e.target.value; draw(); } });
      box.append(h("fieldset", { class: "form-field", "data-testid": "form-field-row" }, h("legend", {}, `${t("field")} ${i + 1}`),
        field("key", input(`${p}.key`, r.key, { oninput: (e) => { r.key = e.target.value; } })),
        field("label", input(`${p}.label`, r.label, { oninput: (e) => { r.label = e.target.value; } })),
        field("type", type),
        h("label", { class: "check" }, checkbox(`${p}.required`, !!r.required, { onchange: (e) => { r.required = e.target.checked; } }), t("required")),
        r.type === "select" ? field("options", input(`${p}.options`, (r.options || []).join(", "),
          { oninput: (e) => { r.options = e.target.value.split(",").map((x) => x.trim()).filter(Boolean); } })) : null,
        h("button", { type: "button", class: "secondary", onclick: () => { rows.splice(i, 1); draw(); } }, t("remove"))));
    });
    box.append(h("button", { type: "button", class: "secondary", "data-testid": "add-form-field",
      onclick: () => { rows.push({ key: "", label: "", type: "text", required: false, options: [] }); draw(); } }, `+ ${t("add_field")}`));
  };
  draw();
  return editor({ kind: "ticket-forms", item,
    body: h("div", {}, id ? field("id", id) : null, field("name", name), section("fields", box)),
    collect: () => ({ ...(id && optional(id) ? { id: optional(id) } : {}), name: name.value.trim(),
      fields: rows.map((r) => ({ key: r.key.trim(), label: r.label.trim(), type: r.type || "text", required: !!r.required,
        ...(r.type === "select" ? { options: r.options || [] } : {}) })) }),
    after: () => forgetCatalogs() });
}

async function actionTypeForm(item) {
  const a = item || {};
  const forms = await fetchList("/ticket-forms");
  const id = item ? null : input("id", "", { placeholder: t("optional") });
  const name = input("name", a.name);
  const form = select("form_id", [["", t("no_form")], ...forms.map((x) => [x.id, x.name])], a.form_id || "");
  return editor({ kind: "action-types", item, body: h("div", {}, id ? field("id", id) : null, field("name", name), field("ticket_form", form)),
    collect: () => ({ ...(id && optional(id) ? { id: optional(id) } : {}), name: name.value.trim(), form_id: form.value || null }),
    after: () => forgetCatalogs() });
}

// ---- a campaign's dispositions and their follow-up (seed 001 1.3.1) --------------------------------------
async function dispositionForm(item) {
  const d = item || { follow_up: { kind: "none", after_minutes: 60 } };
  const fu = d.follow_up || { kind: "none" };
  const types = await fetchList("/action-types");
  const id = item ? null : input("id", "", { placeholder: t("optional") });
  const name = input("name", d.name);
  const position = input("position", d.position ?? 0, { type: "number", min: 0 });
  const kind = select("follow_up.kind", FOLLOW.map((x) => [x, t(`follow_kind_${x}`)]), fu.kind || "none");
  const after = input("follow_up.after_minutes", fu.after_minutes ?? 60, { type: "number", min: 0 });
  const type = select("follow_up.action_type_id", [["", "—"], ...types.map((x) => [x.id, x.name])], fu.action_type_id || "");
  const note = input("follow_up.note", fu.note || "");
  const typeBox = field("action_kind", type);
  const sync = () => { typeBox.hidden = kind.value !== "ticket_action"; };
  kind.addEventListener("change", sync);
  sync();
  return editor({ kind: `dispositions/${enc(scope.campaign)}`, item,
    body: h("div", {}, id ? field("id", id) : null, field("name", name), field("position", position),
      section("follow_up", field("follow_up_kind", kind), field("after_minutes", after), typeBox, field("note", note))),
    collect: () => ({ ...(id && optional(id) ? { id: optional(id) } : {}), name: name.value.trim(), position: Number(position.value || 0),
      follow_up: { kind: kind.value, after_minutes: Number(after.value || 0), note: note.value.trim(),
        ...(kind.value === "ticket_action" ? { action_type_id: type.value || null } : {}) } }),
    after: () => forgetCatalogs() });
}

function scopedList(kind, label) {
  return async (box, open) => {
    const draw = async () => {
      clear(box);
      box.append(await campaignChooser(draw));
      if (!scope.campaign) { box.append(h("p", { class: "muted" }, t("no_campaigns"))); return; }
      const path = kind === "dispositions" ? `/dispositions/${enc(scope.campaign)}` : `/${kind}?campaign_id=${enc(scope.campaign)}`;
      const list = await fetchList(path);
      box.append(h("div", {}, listRows(kind === "dispositions" ? `dispositions/${enc(scope.campaign)}` : kind, list, label, open)));
    };
    await draw();
  };
}

// ---- the resource gallery: quick replies (a form) and files (an upload) ----------------------------------
function quickReplyForm(item) {
  const r = item || {};
  const name = input("name", r.name);
  const text = h("textarea", { name: "text", "data-field": "text", "data-testid": "f-text", rows: 3 }, r.text || "");
  if (item && item.kind === "file") return fileEdit(item);
  return editor({ kind: "resources", item, body: h("div", {}, field("name", name), field("text", text)),
    collect: () => ({ ...(item ? {} : { campaign_id: scope.campaign }), name: name.value.trim(), text: text.value }) });
}

function fileEdit(item) {
  const name = input("name", item.name);
  return editor({ kind: "resources", item, body: h("div", {}, field("name", name), h("p", { class: "muted" }, `📎 ${item.filename}`)),
    collect: () => ({ name: name.value.trim() }) });
}

function galleryUpload(done) {
  const file = h("input", { type: "file", name: "file", "data-field": "file", "data-testid": "gallery-upload-file" });
  const name = h("input", { name: "name", "data-field": "name", "data-testid": "gallery-upload-name" });
  const err = h("p", { class: "error", id: "gallery-upload-error", "data-testid": "gallery-upload-error" });
  const box = h("fieldset", { class: "gallery-upload" }, h("legend", {}, t("add_file")),
    labelled(t("name"), name), labelled(t("file"), file),
    h("button", { type: "button", "data-testid": "gallery-upload", onclick: async () => {
      clear(err);
      const f = file.files[0];
      if (!f) { err.textContent = t("pick_file"); return; }
      try {
        const form = new FormData();
        form.append("file", f, f.name);
        await sendFile(`/resources/file?campaign_id=${enc(scope.campaign)}&name=${enc(name.value.trim() || f.name)}`, form);
        toast(t("saved")); done();
      } catch (ex) { showError(err, ex, box); }
    } }, t("upload")), err);
  return box;
}

// ---- webhooks: URL, events, active; the signing secret shown once ------------------------------------------
function webhookForm(item) {
  const w = item || { events: ["conversation.closed", "case.closed"], active: true };
  const url = input("url", w.url, { type: "url", placeholder: "https://crm.example/hooks/switchboard" });
  const boxes = EVENTS.map((e) => h("label", { class: "check" }, checkbox(`events.${e}`, (w.events || []).includes(e), { value: e }), ` ${t(`ev_${e.replace(".", "_")}`)}`));
  const active = checkbox("active", w.active !== false);
  const rotate = item ? checkbox("rotate_secret", false) : null;
  return h("div", {}, editor({ kind: "webhooks", item,
    body: h("div", { "data-field": "events" }, field("url", url), section("events", ...boxes),
      h("label", { class: "check" }, active, t("active")), rotate ? h("label", { class: "check" }, rotate, t("rotate_secret")) : null),
    collect: () => {
      const events = boxes.map((b) => b.querySelector("input")).filter((x) => x.checked).map((x) => x.value);
      const body = { url: url.value.trim(), events, active: active.checked };
      if (!item) body.campaign_id = scope.campaign;
      if (rotate && rotate.checked) body.rotate_secret = true;
      return body;
    },
    // The signing secret is answered once (on create or rotation): shown above the list until the next screen.
    after: (saved) => { if (saved && saved.secret) scope.secret = saved.secret; } }),
  item ? deadLetters(item) : null);
}

function deadLetters(hook) {
  const box = h("div", { "data-testid": "webhook-dead" });
  api("GET", `/webhooks/${enc(hook.id)}/deliveries?status=dead&limit=20`).then((data) => {
    const list = items(data);
    box.append(h("h4", {}, t("dead_deliveries")));
    if (!list.length) { box.append(h("p", { class: "muted" }, t("no_items"))); return; }
    box.append(h("ul", {}, list.map((d) => h("li", {}, `${d.event_type} · ${d.attempts} · ${d.last_error || d.last_status || ""} `,
      h("button", { type: "button", class: "secondary", "data-testid": "webhook-retry", onclick: async () => {
        try { await api("POST", `/webhook-deliveries/${d.id}/retry`); toast(t("saved")); } catch (ex) { toast(errorText(ex), "error"); }
      } }, t("retry"))))));
  }).catch(() => {});
  return box;
}

async function galleryView(box, open) {
  await scopedList("resources", (x) => (x.kind === "file" ? `📎 ${x.name}` : `💬 ${x.name}`))(box, open);
  box.append(galleryUpload(() => galleryView(box, open)));
}

export const CRM_FORMS = {
  "ticket-forms": { form: ticketFormForm, list: "/ticket-forms", label: (x) => `${x.name} · ${(x.fields || []).length}` },
  "action-types": { form: actionTypeForm, list: "/action-types", label: (x) => x.name },
  dispositions: { form: dispositionForm, listView: scopedList("dispositions", (x) => `${x.name} · ${t(`follow_kind_${(x.follow_up || {}).kind || "none"}`)}`),
    noFetch: true },
  resources: { form: quickReplyForm, noFetch: true, listView: galleryView },
  webhooks: {
    form: webhookForm, noFetch: true,
    listView: async (box, open) => {
      await scopedList("webhooks", (x) => `${x.url}${x.active ? "" : ` (${t("inactive")})`}`)(box, open);
      if (scope.secret) {
        box.prepend(h("p", { class: "secret", "data-testid": "webhook-secret", role: "status" }, `${t("webhook_secret_once")}: ${scope.secret}`));
        scope.secret = "";
      }
    },
  },
};
export const CRM_RESOURCES = Object.keys(CRM_FORMS);
