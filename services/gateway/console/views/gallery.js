// The campaign's resource gallery where agents reply (seed 004 "Galería de recursos"): a quick reply goes into the
// reply box at the caret; a file is attached to the reply as media (a blob reference the channel sends).
import { api } from "../lib/api.js";
import { clear, h } from "../lib/dom.js";
import { insertAt, items } from "../lib/format.js";
import { errorText, t } from "../lib/i18n.js";
import { enc } from "./common.js";

// `text` is the reply's textarea; `attach(media)` adds a file to the reply; `allowMedia` false hides the files
// (the campaign forbids media).
export function galleryPanel(campaignId, text, attach, allowMedia = true) {
  if (!campaignId) return null;
  const body = h("div", { class: "gallery", "data-testid": "gallery" }, h("p", { class: "muted" }, "…"));
  const panel = h("details", { class: "panel", "data-testid": "gallery-open" }, h("summary", {}, t("gallery")), body);
  let loaded = false;
  panel.addEventListener("toggle", async () => {
    if (!panel.open || loaded) return;
    loaded = true;
    try {
      const list = items(await api("GET", `/resources?campaign_id=${enc(campaignId)}`));
      clear(body);
      const replies = list.filter((r) => r.kind === "quick_reply");
      const files = allowMedia ? list.filter((r) => r.kind === "file") : [];
      if (!replies.length && !files.length) body.append(h("p", { class: "muted" }, t("gallery_empty")));
      if (replies.length) {
        body.append(h("h4", {}, t("quick_replies")), h("ul", {}, replies.map((r) => h("li", {}, h("button", {
          type: "button", class: "link", "data-testid": "gallery-reply", title: r.text,
          onclick: () => {
            const [value, caret] = insertAt(text.value, text.selectionStart ?? text.value.length, text.selectionEnd ?? text.value.length, r.text);
            text.value = value;
            text.focus();
            text.setSelectionRange(caret, caret);
          },
        }, r.name)))));
      }
      if (files.length) {
        body.append(h("h4", {}, t("gallery_files")), h("ul", {}, files.map((r) => h("li", {}, h("button", {
          type: "button", class: "link", "data-testid": "gallery-file", onclick: () => attach(r.media),
        }, `📎 ${r.name}`)))));
      }
    } catch (ex) { clear(body).append(h("p", { class: "error", role: "alert" }, errorText(ex))); }
  });
  return panel;
}
