// Seed 002's account import ("Cuentas" of a campaign): the file (XLSX, XLS, XLSB, ODS or CSV), the template type
// (ours, or a custom column mapping, saved for next time), and every option of the seed: create cases with a
// priority, tags replace or add, close open cases, account assignment, replace duplicates, delete other accounts.
import { api } from "../lib/api.js";
import { clear, h, toast } from "../lib/dom.js";
import { items } from "../lib/format.js";
import { errorText, t } from "../lib/i18n.js";
import { myCampaigns } from "../state.js";
import { downloadButton, snapshot } from "./common.js";
import { ctl, options, processForm, row, single, uploadFile } from "./processes.js";

const ACCOUNT_FIELDS = ["account_number", "document", "name", "phone", "phone_2", "email", "company", "product",
  "balance", "due_date", "assigned_user", "tags"];

export async function accountImportForm(scope) {
  const camps = myCampaigns();
  const campaign = single("params.campaign_id", camps.map((c) => [c, c]), false);
  const file = ctl("input", "file", { type: "file", accept: ".xlsx,.xls,.xlsb,.ods,.csv,.txt" });
  const mode = ctl("select", "params.mode", {}, h("option", { value: "template" }, t("template_ours")),
    h("option", { value: "custom" }, t("template_custom")));
  const saved = single("params.mapping_id", []);
  const mapBox = h("div", { "data-testid": "mapping-box", hidden: true });
  const saveName = ctl("input", "mapping_name", { placeholder: t("optional") });
  const cases = ctl("input", "params.create_cases", { type: "checkbox" });
  const priority = ctl("select", "params.case_priority", {}, ["low", "medium", "high"].map((p) => h("option", { value: p }, t(`priority_${p}`))));
  const tags = ctl("select", "params.tags_mode", {}, h("option", { value: "replace" }, t("tags_replace")),
    h("option", { value: "append" }, t("tags_append")));
  tags.value = "append";
  const close = ctl("input", "params.close_open_cases", { type: "checkbox" });
  const assign = ctl("input", "params.assign_users", { type: "checkbox" });
  const replace = ctl("input", "params.replace_duplicates", { type: "checkbox" });
  const remove = ctl("input", "params.delete_other_accounts", { type: "checkbox" });
  const dedup = ctl("select", "params.dedup_key", {}, ["account_number", "document", "phone", "email"].map((k) => h("option", { value: k }, t(`key_${k}`))));
  const list = single("params.list_id", await options("/lists"));
  const batchName = ctl("input", "params.batch_name", { placeholder: t("optional") });
  let upload = null;
  let columns = [];
  const selects = new Map();

  const loadSaved = async () => {
    try {
      const list2 = items(await api("GET", "/import-mappings?kind=import_accounts"));
      clear(saved).append(h("option", { value: "" }, "—"), list2.map((m) => h("option", { value: m.id }, m.name)));
    } catch { /* no mappings yet */ }
  };
  const drawMapping = async () => {
    clear(mapBox);
    mapBox.hidden = mode.value !== "custom";
    if (mode.value !== "custom") return;
    if (!upload) { mapBox.append(h("p", { class: "muted" }, t("upload_first"))); return; }
    const snap = await snapshot(campaign.value);
    const fields = [...ACCOUNT_FIELDS, ...((snap && snap.custom_fields) || []).map((cf) => `account.${cf.key}`)];
    selects.clear();
    mapBox.append(h("table", { class: "items" }, h("thead", {}, h("tr", {}, h("th", { scope: "col" }, t("our_field")),
      h("th", { scope: "col" }, t("file_column")))), h("tbody", {}, fields.map((f) => {
      const sel = ctl("select", `mapping.${f}`, { "aria-label": `${t("file_column")}: ${f.startsWith("account.") ? f : t(`key_${f}`)}` },
        h("option", { value: "" }, "—"), columns.map((c) => h("option", { value: c }, c)));
      const guess = columns.find((c) => c.toLowerCase() === f.toLowerCase());
      if (guess) sel.value = guess;
      selects.set(f, sel);
      return h("tr", {}, h("td", {}, f.startsWith("account.") ? f : t(`key_${f}`)), h("td", {}, sel));
    }))), row(t("save_mapping_as"), saveName));
  };
  const pick = h("button", {
    type: "button", class: "secondary", "data-testid": "account-upload",
    onclick: async () => {
      try {
        upload = await uploadFile(file);
        columns = upload.columns || [];
        toast(`${t("uploaded")}: ${upload.filename} (${columns.length} ${t("columns")})`);
        drawMapping();
      } catch (ex) { toast(errorText(ex), "error"); }
    },
  }, t("upload"));
  mode.addEventListener("change", drawMapping);
  campaign.addEventListener("change", drawMapping);
  await loadSaved();
  const templateLink = () => `/imports/template?${new URLSearchParams({ kind: "import_accounts", campaign_id: campaign.value })}`;
  const tplBox = h("span", {}, downloadButton(t("download_template"), templateLink(), "import_accounts.xlsx", "template-accounts"));
  campaign.addEventListener("change", () => clear(tplBox).append(downloadButton(t("download_template"), templateLink(),
    "import_accounts.xlsx", "template-accounts")));

  const fields = h("div", {},
    h("div", { class: "grid2" }, row(t("campaign"), campaign), h("p", {}, tplBox),
      row(t("import_file"), file), h("p", {}, pick), row(t("template_type"), mode), row(t("saved_mapping"), saved)),
    mapBox,
    h("fieldset", {}, h("legend", {}, t("import_options")), h("div", { class: "grid2" },
      h("label", { class: "check" }, cases, t("create_cases")), row(t("case_priority"), priority),
      row(t("customer_tags"), tags), h("label", { class: "check" }, close, t("close_open_cases")),
      h("label", { class: "check" }, assign, t("assign_accounts")), h("label", { class: "check" }, replace, t("replace_information")),
      h("label", { class: "check" }, remove, t("delete_other_accounts")), row(t("duplicate_key"), dedup),
      row(t("base"), list), row(t("batch_name"), batchName))));

  return processForm("import_accounts", scope, fields, async () => {
    if (!upload) upload = await uploadFile(file);
    const params = { campaign_id: campaign.value, mode: mode.value, dedup_key: dedup.value, create_cases: cases.checked,
      case_priority: priority.value, tags_mode: tags.value, close_open_cases: close.checked, assign_users: assign.checked,
      replace_duplicates: replace.checked, delete_other_accounts: remove.checked, list_id: list.value || null,
      batch_name: batchName.value.trim() || null };
    if (saved.value) { params.mapping_id = saved.value; params.mode = "custom"; } else if (mode.value === "custom") {
      params.mapping = Object.fromEntries([...selects].filter(([, s]) => s.value).map(([f, s]) => [f, s.value]));
      if (saveName.value.trim()) {
        const m = await api("POST", "/import-mappings", { name: saveName.value.trim(), kind: "import_accounts", mapping: params.mapping });
        saveName.value = "";
        await loadSaved();
        saved.value = m.id;
      }
    }
    const id = upload.id;
    upload = null; // a new run reads a new upload
    return { upload_id: id, params };
  });
}

