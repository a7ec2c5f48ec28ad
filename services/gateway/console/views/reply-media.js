// A reply's files (issue 14): dropped on the reply box or chosen with the labelled file button (keyboard
// reachable), uploaded at once (POST /conversations/{id}/media, progress next to the field), listed with a remove
// button, and sent with the reply as `media`. Only when the campaign allows media; the server checks it again.
import { uploadForm } from "../lib/api.js";
import { add, clear, h } from "../lib/dom.js";
import { clearErrors, showError, t } from "../lib/i18n.js";
import { enc } from "./common.js";

// What the server takes (services/crm/handlers/conversations.py MEDIA_TYPES): a hint for the file dialog only.
const ACCEPT = "image/jpeg,image/png,image/webp,image/gif,audio/*,video/mp4,video/3gpp,application/pdf,text/plain,"
  + ".doc,.docx,.xls,.xlsx,.ppt,.pptx";

// `form`: the reply form (a drop anywhere on it attaches the file); `attached`: the reply's list of files.
export function mediaPicker(form, conversationId, attached) {
  const err = h("p", { class: "error", "data-testid": "reply-media-error", id: `reply-media-err-${conversationId}`, role: "alert" });
  const progress = h("span", { class: "muted", "data-testid": "reply-upload-status", "aria-live": "polite" });
  const input = h("input", {
    type: "file", multiple: true, accept: ACCEPT, "data-field": "file", "data-testid": "reply-file",
    onchange: () => { upload([...input.files]); input.value = ""; },
  });
  const zone = h("div", { class: "drop-zone", "data-testid": "reply-drop" },
    h("span", {}, `${t("media_drop")} `), h("label", { class: "file-button" }, t("media_choose"), " ", input), " ", progress, err);

  async function upload(files) {
    clearErrors(form, err);
    for (const file of files) {
      const body = new FormData();
      body.append("file", file, file.name);
      progress.textContent = `${t("media_uploading")} ${file.name}… 0 %`;
      try {
        const ref = await uploadForm(`/conversations/${enc(conversationId)}/media`, body, (f) => {
          progress.textContent = `${t("media_uploading")} ${file.name}… ${Math.round(f * 100)} %`;
        });
        attached.add({ kind: ref.kind, url: ref.url, mime_type: ref.mime_type, filename: ref.filename });
        progress.textContent = `${t("media_uploaded")}: ${file.name}`;
      } catch (ex) {
        clear(progress);
        showError(err, ex, form);
        return;
      }
    }
  }

  form.addEventListener("dragover", (e) => {
    if (!e.dataTransfer || ![...e.dataTransfer.types].includes("Files")) return;
    e.preventDefault();
    form.classList.add("dragging");
  });
  form.addEventListener("dragleave", (e) => { if (e.target === form) form.classList.remove("dragging"); });
  form.addEventListener("drop", (e) => {
    form.classList.remove("dragging");
    if (!e.dataTransfer || !e.dataTransfer.files.length) return;
    e.preventDefault();
    upload([...e.dataTransfer.files]);
  });
  return zone;
}

// The files attached to a reply (uploads and gallery files), each with a remove button.
export function attachedList() {
  const items = [];
  const box = h("ul", { class: "chips", "data-testid": "reply-attached", "aria-label": t("media_attached") });
  const render = () => {
    clear(box);
    items.forEach((m, i) => add(box, h("li", { class: "pill", "data-testid": "reply-attachment" }, `📎 ${m.filename || m.url} `,
      h("button", {
        type: "button", class: "link", "data-testid": "reply-attachment-remove",
        "aria-label": `${t("media_remove")} ${m.filename || m.url}`,
        onclick: () => { items.splice(i, 1); render(); },
      }, "✕"))));
  };
  return {
    el: box,
    add(m) { items.push(m); render(); },
    get items() { return [...items]; },
    clear() { items.length = 0; render(); },
  };
}
