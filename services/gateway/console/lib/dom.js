// DOM helpers: elements from data as text only (never innerHTML with data), toasts, and view scopes.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "value") el.value = v;
    else if (k === "checked") el.checked = !!v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  return add(el, ...children);
}

// Append children, skipping null/undefined/false and flattening arrays (DOM append would print "null").
export function add(el, ...children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

export function clear(el) {
  while (el && el.firstChild) el.removeChild(el.firstChild);
  return el;
}

// A labelled control: the text names the control for screen readers and for the server's field errors.
export function labelled(text, control, attrs = {}) {
  return h("label", attrs, text, " ", control);
}

export function toast(text, kind = "info") {
  const box = h("div", { class: `toast ${kind}`, "data-testid": `toast-${kind}`, role: kind === "error" ? "alert" : "status" }, text);
  const host = $("#toasts");
  if (!host) return;
  host.append(box);
  setTimeout(() => box.remove(), 6000);
}

// What a mounted view started (store subscriptions, timers, listeners), undone at once when it leaves.
export function createScope() {
  const undo = [];
  return {
    on(unsubscribe) { undo.push(unsubscribe); return unsubscribe; },
    every(ms, fn) { const id = setInterval(fn, ms); undo.push(() => clearInterval(id)); return id; },
    later(ms, fn) { const id = setTimeout(fn, ms); undo.push(() => clearTimeout(id)); return id; },
    listen(target, type, fn) { target.addEventListener(type, fn); undo.push(() => target.removeEventListener(type, fn)); },
    dispose() { while (undo.length) undo.pop()(); },
  };
}

// Save a Blob as a file through a temporary link.
export function saveBlob(blob, filename) {
  const url = URL.createObjectURL(blob);
  const a = h("a", { href: url, download: filename });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
