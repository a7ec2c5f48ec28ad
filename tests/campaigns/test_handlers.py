"""The campaigns use cases on in-memory fakes (tests/campaigns/fakes.py): no server, no database."""

from __future__ import annotations

from typing import Any

import pytest

from libs.contracts import ConversationClosed, ConversationOpened, DeliveryStatus
from libs.core.errors import Conflict, Forbidden, Invalid
from libs.messaging import dispatch
from services.campaigns.domain import Actor, CampaignQuery
from services.campaigns.handlers import HANDLERS, CampaignsService

from .fakes import FakeChannelTypes, FakeSnapshots, FakeUnitOfWorkFactory

ADMIN = Actor("admin-1", "admin")


@pytest.fixture
def svc() -> CampaignsService:
    return CampaignsService(FakeUnitOfWorkFactory(), FakeSnapshots(), FakeChannelTypes({"wa-1": "whatsapp",
                                                                                       "wa-2": "whatsapp"}))


async def world(svc: CampaignsService) -> None:
    await svc.create("client", {"id": "cli", "name": "Banco"}, ADMIN)
    await svc.create("project", {"id": "prj", "client_id": "cli", "name": "Ventas"}, ADMIN)
    await svc.create("typification", {"id": "sale", "category": "Venta"}, ADMIN)
    await svc.create("field", {"key": "doc", "label": "Documento"}, ADMIN)


def campaign(cid: str = "c1", **extra: Any) -> dict[str, Any]:
    return {"id": cid, "client_id": "cli", "project_id": "prj", "name": f"Campaign {cid}",
            "channels": ["wa-1"], "closing_typifications": ["sale"],
            "custom_fields": [{"key": "doc", "required": True}], "agents": ["ana"], **extra}


async def test_a_campaign_is_created_compiled_and_published(svc: CampaignsService) -> None:
    await world(svc)
    view = await svc.create_campaign(campaign(), ADMIN)
    assert view["channels"] == [{"id": "wa-1", "type": "whatsapp"}] and view["version"] == 1
    snap = svc.snapshots.bucket["c1"]  # type: ignore[attr-defined]
    assert snap.closure_problems("sale", {}) == [("fields.doc", "required field 'Documento' is missing")]
    assert (await svc.views.get_campaign("c1"))["published_version"] == 1
    # A catalog change republishes the campaign that uses it, with a new version.
    await svc.update("typification", "sale", {"label": "Venta hecha"}, ADMIN, replace=False)
    snap = svc.snapshots.bucket["c1"]  # type: ignore[attr-defined]
    assert snap.version == 2 and snap.typifications[0].label == "Venta hecha"
    history = await svc.views.history("campaign", "c1")
    assert [h["action"] for h in history["items"]] == ["typification_changed", "create"]


async def test_refusals_name_the_field_and_write_nothing(svc: CampaignsService) -> None:
    await world(svc)
    with pytest.raises(Forbidden):
        await svc.create_campaign(campaign(), Actor("ana", "agent"))
    with pytest.raises(Invalid) as bad:
        await svc.create_campaign(campaign(channels=["ghost"]), ADMIN)
    assert bad.value.field == "channels[0].type"
    with pytest.raises(Invalid) as bad:
        await svc.create_campaign(campaign(custom_fields=[{"key": "nope"}]), ADMIN)
    assert bad.value.field == "custom_fields[0].key"
    with pytest.raises(Conflict) as dup:
        await svc.create("client", {"name": "BANCO"}, ADMIN)
    assert dup.value.field == "name"
    assert (await svc.views.list_campaigns(CampaignQuery()))["items"] == []
    assert [c["id"] for c in (await svc.views.list_items("client", {}, 10, None))["items"]] == ["cli"]


async def test_a_channel_serves_one_active_campaign(svc: CampaignsService) -> None:
    await world(svc)
    await svc.create_campaign(campaign("c1"), ADMIN)
    with pytest.raises(Conflict) as taken:
        await svc.create_campaign(campaign("c2", channels=["wa-2", "wa-1"]), ADMIN)
    assert taken.value.field == "channels[1].id"
    # Paused, it may hold the channel; activating it is refused while c1 serves it.
    await svc.create_campaign(campaign("c2", channels=["wa-1"], status="paused"), ADMIN)
    with pytest.raises(Conflict):
        await svc.set_campaign_status("c2", "active", ADMIN)


async def test_deactivation_waits_for_agents_and_open_conversations(svc: CampaignsService) -> None:
    await world(svc)
    await svc.create_campaign(campaign(), ADMIN)
    with pytest.raises(Conflict) as busy:
        await svc.set_campaign_status("c1", "paused", ADMIN)
    assert busy.value.field == "agents"
    await svc.update_campaign("c1", {"agents": []}, ADMIN)
    handle = dispatch(svc, HANDLERS)
    common = {"conversation_id": "conv-1", "campaign_id": "c1", "channel_id": "wa-1", "channel_type": "whatsapp",
              "contact_address": "+573001112233"}
    await handle(ConversationOpened(**common, seq=1))
    await handle(DeliveryStatus(channel_id="wa-1", provider_message_id="m", status="read"))  # not handled: skipped
    with pytest.raises(Conflict) as busy:
        await svc.set_campaign_status("c1", "paused", ADMIN)
    assert busy.value.field == "status"
    await handle(ConversationClosed(**common, seq=2))
    await handle(ConversationOpened(**common, seq=1))  # an old event redelivered changes nothing
    paused = await svc.set_campaign_status("c1", "paused", ADMIN)
    assert paused["status"] == "paused"


async def test_archiving_frees_the_channel_and_deletes_the_snapshot(svc: CampaignsService) -> None:
    await world(svc)
    await svc.create_campaign(campaign("c1", agents=[]), ADMIN)
    await svc.create_campaign(campaign("c2", channels=["wa-2"], agents=[], linked_campaigns=["c1"]), ADMIN)
    archived = await svc.archive_campaign("c1", ADMIN)
    assert archived["status"] == "archived" and "c1" not in svc.snapshots.bucket  # type: ignore[attr-defined]
    assert svc.snapshots.bucket["c2"].linked_campaigns == []  # type: ignore[attr-defined]
    await svc.create_campaign(campaign("c3", agents=[]), ADMIN)  # wa-1 is free again
