"""Campaign options through the gateway against the real CRM: an office whose campaign snapshot a test
changes (option on, option off) and waits for until the gateway and the CRM both hold it."""

from __future__ import annotations

from typing import Any

from libs.contracts import CampaignSnapshot
from services.crm.keys import CRM
from services.gateway.keys import GATEWAY

from .test_console_browser import eventually
from .test_crm_facade import Office, make_office


class Options:
    """The office's campaign, re-published with other options."""

    def __init__(self, office: Office, crm_gw: Any, real_crm: Any, nats_js: Any, services_peer: Any) -> None:
        self.office, self.crm_gw, self.real_crm = office, crm_gw, real_crm
        self.js = nats_js[1]
        self.services_peer = services_peer

    def current(self, campaign_id: str | None = None) -> CampaignSnapshot:
        snap = self.real_crm.app[CRM].campaigns.get(campaign_id or self.office.camp)
        assert snap is not None
        return snap

    async def put(self, snap: CampaignSnapshot) -> CampaignSnapshot:
        kv = await self.js.key_value("campaigns")
        await kv.put(snap.id, snap.model_dump_json().encode())
        self.services_peer.answers[("GET", f"/campaigns/{snap.id}/snapshot")] = (200, snap.model_dump(mode="json"))
        gw, crm = self.crm_gw.app[GATEWAY], self.real_crm.app[CRM]

        def both() -> bool:
            a, b = gw.directory.get(snap.id), crm.campaigns.get(snap.id)
            return bool(a and b and a.version == snap.version and b.version == snap.version)

        await eventually(both, f"both saw version {snap.version} of {snap.id}")
        return snap

    async def set(self, campaign_id: str | None = None, **changes: Any) -> CampaignSnapshot:
        """Merge ``changes`` (nested dicts merge one level: ``permissions={"history_hours": 0}``)."""
        snap = self.current(campaign_id)
        data = snap.model_dump(mode="json")
        for key, value in changes.items():
            data[key] = {**data[key], **value} if isinstance(value, dict) and isinstance(data.get(key), dict) else value
        data["version"] = snap.version + 1
        return await self.put(CampaignSnapshot.model_validate(data))

    async def other_campaign(self, suffix: str, **changes: Any) -> CampaignSnapshot:
        """A second campaign with the same people (or ``agents=[...]``)."""
        base = self.current().model_dump(mode="json")
        data = {**base, "id": f"{self.office.camp}-{suffix}", "name": f"Otra {suffix}", "version": 1, **changes}
        return await self.put(CampaignSnapshot.model_validate(data))


async def make_options(crm_gw: Any, real_crm: Any, make_user: Any, nats_js: Any, unique: str,
                       services_peer: Any) -> Options:
    office = await make_office(crm_gw, real_crm, make_user, nats_js, unique, services_peer)
    return Options(office, crm_gw, real_crm, nats_js, services_peer)


async def action_types(client: Any, admin: str, *names: str, form_id: str | None = None) -> list[str]:
    """Action types of the catalog by name, made once per test session through the gateway (an admin's),
    whichever test asks first; their ids."""
    from .conftest import bearer

    ids = []
    for name in names:
        slug = "".join(c if c.isalnum() else "-" for c in name.lower().encode("ascii", "ignore").decode()).strip("-")
        key = f"{slug}-{form_id}" if form_id else slug
        resp = await client.post("/api/v1/action-types", json={"id": key, "name": name if not form_id else
                                                                f"{name} ({form_id})", "form_id": form_id},
                                  headers=bearer(admin))
        assert resp.status in (201, 409), await resp.text()
        ids.append(key)
    return ids
