// The full emoji picker: emojibase-data (vendored in vendor/emoji-<lang>.json, served by the gateway),
// by group or by a search over the names and tags in the console's language.
import { clear, h, labelled } from "../lib/dom.js";
import { insertAt, searchEmojis } from "../lib/format.js";
import { getLang, t } from "../lib/i18n.js";

const cache = new Map();
function load(lang) {
  if (!cache.has(lang)) {
    cache.set(lang, fetch(`/console/vendor/emoji-${lang}.json`).then((r) => r.json()).then((d) => ({
      groups: d.groups,
      emojis: d.emojis.map(([unicode, label, group, tags]) => ({ unicode, label, group, tags: tags ? tags.split(" ") : [] })),
    })));
  }
  return cache.get(lang);
}

// A button that opens the picker; a chosen emoji goes in at the textarea's caret.
export function emojiPicker(textarea) {
  const panel = h("div", { class: "emoji-panel", hidden: true, "data-testid": "emoji-panel", role: "dialog", "aria-label": t("emojis") });
  const toggle = h("button", {
    type: "button", class: "secondary", "data-testid": "emoji-open", "aria-expanded": "false", "aria-label": t("emojis"),
    onclick: async () => {
      panel.hidden = !panel.hidden;
      toggle.setAttribute("aria-expanded", String(!panel.hidden));
      if (!panel.hidden && !panel.firstChild) await fill(panel, textarea);
    },
  }, "😊");
  return h("div", { class: "emoji-picker" }, toggle, panel);
}

async function fill(panel, textarea) {
  const data = await load(getLang());
  const grid = h("div", { class: "emoji-grid", "data-testid": "emoji-grid" });
  const pick = (e) => {
    const [value, caret] = insertAt(textarea.value, textarea.selectionStart ?? textarea.value.length,
      textarea.selectionEnd ?? textarea.value.length, e.unicode);
    textarea.value = value;
    textarea.focus();
    textarea.setSelectionRange(caret, caret);
  };
  const show = (list) => clear(grid).append(...list.map((e) => h("button", {
    type: "button", class: "emoji", "aria-label": e.label, title: e.label, "data-testid": "emoji", onclick: () => pick(e),
  }, e.unicode)));
  const search = h("input", { type: "search", "data-testid": "emoji-search" });
  search.addEventListener("input", () => {
    if (search.value.trim()) show(searchEmojis(data.emojis, search.value));
    else show(data.emojis.filter((e) => e.group === data.groups[0].id));
  });
  const groups = h("div", { class: "emoji-groups", role: "group", "aria-label": t("emoji_groups") }, data.groups.map((g) => h("button", {
    type: "button", class: "secondary", "data-testid": `emoji-group-${g.id}`,
    onclick: () => { search.value = ""; show(data.emojis.filter((e) => e.group === g.id)); },
  }, g.name)));
  panel.append(labelled(t("emoji_search"), search), groups, grid);
  show(data.emojis.filter((e) => e.group === data.groups[0].id));
}
