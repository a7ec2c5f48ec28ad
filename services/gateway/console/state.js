// The console's one store: who is logged in, the live conversations and offers, the current section.
// Views read it with store.get, change it only with store.update, and re-render through store.subscribe.
import { session } from "./lib/api.js";
import { createStore } from "./lib/store.js";

export const store = createStore({
  user: session.user, // {id, username, role}
  me: null, // GET /me: with campaigns
  lang: null,
  tab: "conversations",
  status: "offline",
  linkUp: false,
  convs: new Map(), // conversation id -> what the list shows
  offers: new Map(), // conversation id -> the offer event
  selected: null, // the open conversation
  campaign: "", // the campaign the operator panel, calls and imports work in
});

export const me = () => store.get("user") || {};
export const isAgent = () => me().role === "agent";
export const myCampaigns = () => (store.get("me") && store.get("me").campaigns) || [];

// The campaign in use: the chosen one if still mine, else my first.
export function currentCampaign() {
  const camps = myCampaigns();
  const cur = store.get("campaign");
  if (camps.includes(cur)) return cur;
  return camps[0] || "";
}
