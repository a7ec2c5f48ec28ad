// "Nueva conversación" (issue 13 item 6): the agent starts a conversation with a contact on WhatsApp, SMS or
// e-mail (POST /conversations). Outside WhatsApp's 24-hour window only an approved template of the number starts
// one: the dialog offers the channel's templates (GET /channels/{id}/templates) with one input per parameter.
import { api } from "../lib/api.js";
import { clear, h, labelled, toast } from "../lib/dom.js";
import { clearErrors, showError, t } from "../lib/i18n.js";
import { currentCampaign, myCampaigns, store } from "../state.js";
import { enc, snapshot } from "./common.js";
import { openDialog } from "./quick.js";

const STARTABLE = ["whatsapp", "sms", "email"];
// A number as the server takes it; a masked one (the campaign hides numbers) as shown, with its contact.
const compact = (phone) => ((phone || "").includes("•") ? phone : (phone || "").replace(/[\s().-]/g, ""));

// target: {phone?, email?, contact_id?, contact_name?}
export async function startDialog(target = {}) {
  const err = h("p", { class: "error", id: "start-error", "data-testid": "start-error", role: "alert" });
  const campaign = h("select", { name: "campaign_id", "data-field": "campaign_id", "data-testid": "start-campaign" },
    myCampaigns().map((c) => h("option", { value: c }, c)));
  campaign.value = currentCampaign();
  const channel = h("select", { name: "channel_id", "data-field": "channel_id", "data-testid": "start-channel" });
  const to = h("input", { name: "to", "data-field": "to", "data-testid": "start-to", autocomplete: "off" });
  const subject = h("input", { name: "subject", "data-field": "subject", "data-testid": "start-subject" });
  const template = h("select", { name: "template", "data-field": "template", "data-testid": "start-template" });
  const preview = h("p", { class: "muted", "data-testid": "start-template-body", "aria-live": "polite" });
  const params = h("div", { class: "template-params", "data-testid": "start-params" });
  const text = h("textarea", { name: "text", "data-field": "text", "data-testid": "start-text", rows: 4 });
  const subjectRow = labelled(t("subject"), subject);
  const templateRow = h("div", {}, labelled(t("template"), template), preview, params);
  const textRow = labelled(t("message"), text);
  let templates = [];
  let channels = [];

  const kind = () => (channels.find((c) => c.id === channel.value) || {}).type || "";
  const chosen = () => templates.find((x) => `${x.name}|${x.language}` === template.value);

  function showTemplate() {
    const tpl = chosen();
    clear(params);
    preview.textContent = tpl ? tpl.body : "";
    textRow.hidden = Boolean(tpl);
    if (!tpl) return;
    for (let i = 0; i < tpl.parameters; i += 1) {
      params.append(labelled(`${t("template_parameter")} ${i + 1}`, h("input", {
        name: `p${i}`, "data-field": `template.parameters[${i}]`, "data-testid": `start-param-${i}`, autocomplete: "off" })));
    }
  }

  async function loadTemplates() {
    templates = [];
    clear(template).append(h("option", { value: "" }, t("template_none")));
    if (kind() === "whatsapp") {
      try { templates = (await api("GET", `/channels/${enc(channel.value)}/templates`)).items || []; } catch { templates = []; }
      for (const x of templates.filter((y) => y.status === "approved")) {
        template.append(h("option", { value: `${x.name}|${x.language}` }, `${x.name} (${x.language})`));
      }
    }
    templateRow.hidden = kind() !== "whatsapp";
    subjectRow.hidden = kind() !== "email";
    to.type = kind() === "email" ? "email" : "tel";
    to.value = kind() === "email" ? (target.email || "") : compact(target.phone);
    showTemplate();
  }

  async function loadChannels() {
    const snap = await snapshot(campaign.value);
    channels = ((snap && snap.channels) || []).filter((c) => STARTABLE.includes(c.type));
    clear(channel).append(...channels.map((c) => h("option", { value: c.id }, `${t(`channel_${c.type}`)} · ${c.id}`)));
    await loadTemplates();
  }

  campaign.addEventListener("change", loadChannels);
  channel.addEventListener("change", loadTemplates);
  template.addEventListener("change", showTemplate);
  const form = h("form", {
    class: "form", novalidate: true, "data-testid": "start-form",
    onsubmit: async (e) => {
      e.preventDefault();
      clearErrors(form, err);
      const tpl = chosen();
      const body = { campaign_id: campaign.value, channel_id: channel.value || null, to: to.value.trim() };
      if (target.contact_id) body.contact_id = target.contact_id;
      if (tpl) {
        body.template = { name: tpl.name, language: tpl.language,
          parameters: [...params.querySelectorAll("input")].map((x) => x.value) };
      } else body.text = text.value;
      if (kind() === "email" && subject.value.trim()) body.subject = subject.value.trim();
      try {
        const started = await api("POST", "/conversations", body);
        toast(t("conversation_started"));
        dialog.close();
        store.update({ tab: "conversations", selected: started.conversation_id });
      } catch (ex) { showError(err, ex, form); }
    },
  }, labelled(t("campaign"), campaign), labelled(t("channel"), channel), labelled(t("recipient"), to), subjectRow,
  templateRow, textRow, h("button", { type: "submit", "data-testid": "start-submit" }, t("start_conversation")), err);
  const dialog = openDialog(`${t("new_conversation")}${target.contact_name ? `: ${target.contact_name}` : ""}`, form);
  await loadChannels();
  (kind() === "email" || !to.value ? to : channel).focus();
  return dialog;
}
