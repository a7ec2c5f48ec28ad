// The gateway's REST API: the session's tokens, one refresh on a 401 (shared by concurrent calls), files.
import { ApiError } from "./errors.js";
import { saveBlob } from "./dom.js";

export { ApiError };

const KEYS = ["sb.token", "sb.refresh", "sb.user"];
export const session = {
  token: sessionStorage.getItem("sb.token"),
  refresh: sessionStorage.getItem("sb.refresh"),
  user: JSON.parse(sessionStorage.getItem("sb.user") || "null"),
};
let onEnd = () => {};
// Called once the session cannot be refreshed any more (the console goes back to the login screen).
export const onSessionEnd = (fn) => { onEnd = fn; };

export function saveSession(pair) {
  Object.assign(session, { token: pair.access_token, refresh: pair.refresh_token, user: pair.user });
  sessionStorage.setItem("sb.token", session.token);
  sessionStorage.setItem("sb.refresh", session.refresh);
  sessionStorage.setItem("sb.user", JSON.stringify(session.user));
}

export function endSession() {
  for (const key of KEYS) sessionStorage.removeItem(key);
  Object.assign(session, { token: null, refresh: null, user: null });
}

const authHeaders = () => (session.token ? { Authorization: `Bearer ${session.token}` } : {});

async function errorOf(res) {
  const data = await res.json().catch(() => null);
  return new ApiError(res.status, data && data.error);
}

let refreshing = null;
// Exchange the refresh token once for a new pair; concurrent callers share the same exchange.
export function refreshTokens() {
  if (!session.refresh) return Promise.resolve(false);
  if (!refreshing) {
    refreshing = fetch("/api/v1/auth/refresh", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ refresh_token: session.refresh }),
    }).then(async (res) => {
      if (!res.ok) return false;
      saveSession(await res.json());
      return true;
    }).catch(() => false).finally(() => { refreshing = null; });
  }
  return refreshing;
}

// fetch with the access token; a 401 refreshes the tokens once and retries, else ends the session.
export async function authed(path, init) {
  const call = () => fetch(`/api/v1${path}`, { ...init, headers: { ...(init.headers || {}), ...authHeaders() } });
  let res = await call();
  if (res.status === 401 && session.refresh && !path.startsWith("/auth/")) {
    if (await refreshTokens()) res = await call();
    else { endSession(); onEnd(); }
  }
  return res;
}

export async function api(method, path, body) {
  const init = { method, headers: { "Content-Type": "application/json" } };
  if (body !== undefined) init.body = JSON.stringify(body);
  const res = path.startsWith("/auth/") ? await fetch(`/api/v1${path}`, init) : await authed(path, init);
  const text = await res.text();
  let data;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!res.ok) throw new ApiError(res.status, data && data.error);
  return data;
}

// Upload a file (raw body with its type, or a FormData as multipart).
export async function sendFile(path, file) {
  const init = { method: "POST", body: file, headers: {} };
  if (!(file instanceof FormData)) init.headers["Content-Type"] = file.type || "application/octet-stream";
  const res = await authed(path, init);
  if (!res.ok) throw await errorOf(res);
  return res.json().catch(() => null);
}

// The filename a download's Content-Disposition names (its UTF-8 `filename*` first), else the fallback.
export function dispositionName(header, fallback) {
  const m = /filename\*=UTF-8''([^;]+)/i.exec(header || "") || /filename="?([^";]+)"?/i.exec(header || "");
  if (!m) return fallback;
  try { return decodeURIComponent(m[1].trim()); } catch { return m[1].trim(); }
}

// A file answered by the API (export, template, outcome, attachment): fetched with the token, then saved.
export async function download(path, filename) {
  const res = await authed(path, { method: "GET" });
  if (!res.ok) throw await errorOf(res);
  saveBlob(await res.blob(), dispositionName(res.headers.get("Content-Disposition"), filename));
}

// Upload a FormData with progress (`onProgress(fraction)`): XMLHttpRequest, since fetch reports no upload
// progress. A 401 refreshes the tokens once and sends again; an error answer rejects with its ApiError.
export function uploadForm(path, form, onProgress = () => {}) {
  const once = () => new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `/api/v1${path}`);
    if (session.token) xhr.setRequestHeader("Authorization", `Bearer ${session.token}`);
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); };
    xhr.onerror = () => reject(new ApiError(0, null));
    xhr.onload = () => {
      let data;
      try { data = xhr.responseText ? JSON.parse(xhr.responseText) : null; } catch { data = null; }
      resolve({ status: xhr.status, data });
    };
    xhr.send(form);
  });
  return once().then(async (res) => {
    if (res.status === 401 && session.refresh) {
      if (await refreshTokens()) res = await once();
      else { endSession(); onEnd(); }
    }
    if (res.status < 200 || res.status >= 300) throw new ApiError(res.status, res.data && res.data.error);
    return res.data;
  });
}
