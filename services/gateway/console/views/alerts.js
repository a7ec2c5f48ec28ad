// Offers (and incoming calls) shown over whatever section the agent is in.
import { api } from "../lib/api.js";
import { clear, h, toast } from "../lib/dom.js";
import { fmtTime } from "../lib/format.js";
import { errorText, getLang, t } from "../lib/i18n.js";
import { mapDelete } from "../lib/store.js";
import { store } from "../state.js";
import { enc } from "./common.js";
import { select, upsertConv } from "./conversations.js";

export function alertsRegion(scope) {
  const box = h("section", { id: "offers", class: "offers", "data-testid": "offers", "aria-label": t("offers"), "aria-live": "assertive" });
  const render = () => renderOffers(box);
  scope.on(store.subscribe(["offers"], render));
  render();
  return box;
}

function renderOffers(box) {
  clear(box);
  const offers = store.get("offers");
  box.hidden = !offers.size;
  if (!offers.size) return;
  box.append(h("h2", {}, t("offers")));
  for (const [id, ev] of offers) {
    box.append(h("div", { class: "offer", "data-testid": "offer", "data-conversation-id": id },
      h("div", {}, `${t("offer_from")} `, h("b", {}, ev.contact_name || ev.contact_address || "?"), ` · ${ev.channel_type || ""}`),
      ev.expires_at ? h("small", {}, ` ${t("offer_until")} ${fmtTime(ev.expires_at, getLang())}`) : null,
      h("button", { type: "button", "data-testid": "offer-accept", onclick: () => answerOffer(id, "accept") }, t("accept")),
      h("button", { type: "button", class: "secondary", "data-testid": "offer-reject", onclick: () => answerOffer(id, "reject") },
        t("reject"))));
  }
}

export async function answerOffer(id, action) {
  const ev = store.get("offers").get(id);
  try {
    const result = await api("POST", `/conversations/${enc(id)}/${action}`, action === "reject" ? {} : undefined);
    store.update({ offers: mapDelete(store.get("offers"), id) });
    if (action === "accept") {
      upsertConv(id, { ...(ev || {}), ...(result || {}), id, state: "assigned" });
      select(id);
    }
  } catch (ex) {
    toast(errorText(ex), "error");
    store.update({ offers: mapDelete(store.get("offers"), id) });
  }
}
