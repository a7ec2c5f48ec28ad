// Live events over the gateway's WebSocket: authenticated by the first message, resumed from the last
// sequences seen (kept in sessionStorage), reconnected after a drop with a fresh token when it expired.
import { eventsUrl } from "./format.js";
import { refreshTokens, session } from "./api.js";

const WS_TOKEN_EXPIRED = 4001;
const WS_UNAUTHENTICATED = 4401;

export const cursors = {
  seq: Number(sessionStorage.getItem("sb.seq") || 0),
  agentSeq: Number(sessionStorage.getItem("sb.agentSeq") || 0),
};

let ws = null;
let timer = null;
let handler = () => {};
let linkHandler = () => {};

function remember(ev) {
  if (typeof ev.seq === "number" && ev.seq > cursors.seq) {
    cursors.seq = ev.seq;
    sessionStorage.setItem("sb.seq", cursors.seq);
  }
  if (typeof ev.agent_seq === "number" && ev.agent_seq > cursors.agentSeq) {
    cursors.agentSeq = ev.agent_seq;
    sessionStorage.setItem("sb.agentSeq", cursors.agentSeq);
  }
}

// onEvent(ev) for every event; onLink(up) when the link goes up (after "ready") or down.
export function connectEvents(onEvent, onLink) {
  handler = onEvent;
  linkHandler = onLink;
  open();
}

function open() {
  if (!session.token) return;
  const sock = new WebSocket(eventsUrl(location, cursors.seq, cursors.agentSeq));
  ws = sock;
  sock.onopen = () => sock.send(JSON.stringify({ type: "auth", token: session.token }));
  sock.onmessage = (m) => {
    const ev = JSON.parse(m.data);
    remember(ev);
    if (ev.type === "ready") linkHandler(true);
    handler(ev);
  };
  sock.onclose = async (e) => {
    if (ws === sock) ws = null;
    linkHandler(false);
    if (!session.token || sock.stopped) return;
    if ([WS_TOKEN_EXPIRED, WS_UNAUTHENTICATED, 1006].includes(e.code)) await refreshTokens();
    clearTimeout(timer);
    timer = setTimeout(open, 1000);
  };
}

export function disconnectEvents(forget = true) {
  clearTimeout(timer);
  if (ws) { ws.stopped = true; ws.close(); ws = null; }
  if (forget) {
    cursors.seq = 0;
    cursors.agentSeq = 0;
    sessionStorage.removeItem("sb.seq");
    sessionStorage.removeItem("sb.agentSeq");
  }
}
