// The console's language: texts, localized errors shown next to the field they name.
import en from "../locales/en.js";
import es from "../locales/es.js";
import { ApiError, errorSentence, fieldFallback } from "./errors.js";
import { add, clear, h } from "./dom.js";

export const LOCALES = { es, en };
let lang = (typeof localStorage !== "undefined" && localStorage.getItem("sb.lang")) || "es";
if (!LOCALES[lang]) lang = "es";

export const getLang = () => lang;
export function setLang(next) {
  lang = LOCALES[next] ? next : "es";
  localStorage.setItem("sb.lang", lang);
  document.documentElement.lang = lang;
}

export const t = (key) => LOCALES[lang].texts[key] ?? LOCALES.es.texts[key] ?? key;
// A text that may be missing from the locale (a server value): the translation, else the value itself.
export const tOr = (key, fallback) => LOCALES[lang].texts[key] ?? fallback;
// The translated state of something (conversation, call, ticket...): `${prefix}_${value}`.
export const stateText = (prefix, value) => (value ? tOr(`${prefix}_${value}`, value) : "");
export const statusText = (s) => tOr(s, s);

// The field's name as the screen shows it (its label), else the locale's name for it.
function fieldName(field, root) {
  if (!field) return "";
  const el = root && root.querySelector(`[data-field="${CSS.escape(field)}"]`);
  const label = el && el.closest("label");
  const first = label && label.childNodes[0];
  const text = first && first.nodeType === Node.TEXT_NODE ? first.textContent : "";
  if (text.trim()) return text.replace(/\s*\*\s*\(.*\)\s*$/, "").trim();
  return fieldFallback(LOCALES[lang].fields, field);
}

export function errorMessage(ex, root) {
  if (!(ex instanceof ApiError)) return { text: (ex && ex.message) || String(ex), detail: "" };
  const text = errorSentence(LOCALES[lang].errors, ex, fieldName(ex.field, root));
  return { text, detail: ex.message && ex.message !== text ? ex.message : "" };
}

export function errorText(ex, root) {
  const { text, detail } = errorMessage(ex, root);
  return detail ? `${text} — ${detail}` : text;
}

// Show an error in a form's error line and mark (and focus) the field it names.
export function showError(el, ex, root) {
  const { text, detail } = errorMessage(ex, root);
  add(clear(el), h("span", { class: "error-text", "data-testid": "error-text" }, text),
    detail ? h("small", { class: "error-detail", "data-testid": "error-detail" }, detail) : null);
  const bad = root && ex && ex.field && root.querySelector(`[data-field="${CSS.escape(ex.field)}"]`);
  if (bad) {
    bad.classList.add("invalid");
    bad.setAttribute("aria-invalid", "true");
    if (el.id) bad.setAttribute("aria-describedby", el.id);
    bad.focus();
  }
}

export function clearErrors(root, el) {
  if (el) clear(el);
  root.querySelectorAll(".invalid").forEach((x) => { x.classList.remove("invalid"); x.removeAttribute("aria-invalid"); });
}
