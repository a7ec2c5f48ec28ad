"""CRM webhook use cases on the in-memory unit of work (tests/crm/fakes.py): an admin's configuration, the signed
delivery, its retries with backoff and the dead-letter list, no server. The HTTP and PostgreSQL paths are in
tests/crm/test_webhooks.py."""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta
from typing import Any

import pytest

from libs.contracts import CampaignSnapshot, utcnow
from libs.core.errors import Conflict, Forbidden, Invalid, NotFound
from services.crm.domain.webhooks import SIGNATURE_HEADER
from services.crm.handlers import Actor, webhooks

from .fakes import fake_crm

ADMIN, SUPERVISOR = Actor("root", "admin"), Actor("sofia", "supervisor", frozenset({"k"}))
SECRET = "s3cret-of-sixteen-chars"


class Receiver:
    """``WebhookPoster``: answers each post with the next of ``answers`` (a status, or None for no answer) and
    keeps what it was sent."""

    def __init__(self, *answers: int | None) -> None:
        self.answers, self.posts = list(answers), []  # type: ignore[var-annotated]

    async def post(self, url: str, body: bytes, headers: dict[str, str], timeout_s: float
                   ) -> tuple[int | None, str | None]:
        self.posts.append((url, body, headers))
        status = self.answers.pop(0) if self.answers else 200
        return status, None if status is not None else "connection refused"


def _crm(*answers: int | None) -> tuple[Any, Any, Receiver]:
    crm, state = fake_crm()
    crm.campaigns.put(CampaignSnapshot(id="k", name="Ventas"))
    crm.webhooks = receiver = Receiver(*answers)
    crm.settings = crm.settings.model_copy(update={"webhook_max_attempts": 3, "webhook_backoff_s": 5.0})
    return crm, state, receiver


async def test_only_an_admin_configures_and_the_secret_is_shown_once() -> None:
    crm, state, _ = _crm()
    body = {"campaign_id": "k", "url": "https://crm.example/hook", "secret": SECRET}
    with pytest.raises(Forbidden) as refused:
        await webhooks.create(crm, body, SUPERVISOR)
    assert refused.value.field == "role" and state.webhooks == []
    with pytest.raises(NotFound) as unknown:
        await webhooks.create(crm, body | {"campaign_id": "nope"}, ADMIN)
    assert unknown.value.field == "campaign_id"
    with pytest.raises(Invalid) as bad_url:
        await webhooks.create(crm, body | {"url": "ftp://crm.example/hook"}, ADMIN)
    assert bad_url.value.field == "url"
    with pytest.raises(Invalid) as bad_event:
        await webhooks.create(crm, body | {"events": ["conversation.closed", "conversation.closed"]}, ADMIN)
    assert bad_event.value.field == "events" and state.webhooks == []

    made = await webhooks.create(crm, body, ADMIN)
    assert made["secret"] == SECRET and "secret_sealed" not in made
    assert made["events"] == ["conversation.closed", "case.closed"]
    assert state.webhooks[0]["secret_sealed"] != SECRET  # sealed at rest
    shown = await webhooks.get(crm, made["id"], ADMIN)
    assert "secret" not in shown and "secret_sealed" not in shown
    assert [h["id"] for h in await webhooks.search(crm, "k", ADMIN)] == [made["id"]]

    with pytest.raises(Invalid) as null:
        await webhooks.update(crm, made["id"], {"url": None}, ADMIN)
    assert null.value.field == "url"
    with pytest.raises(Invalid) as nothing:
        await webhooks.update(crm, made["id"], {}, ADMIN)
    assert nothing.value.field == "body"
    rotated = await webhooks.update(crm, made["id"], {"rotate_secret": True, "active": False}, ADMIN)
    assert rotated["secret"] != SECRET and rotated["active"] is False
    with pytest.raises(NotFound):
        await webhooks.update(crm, "gone", {"active": True}, ADMIN)
    await webhooks.delete(crm, made["id"], ADMIN)
    assert state.webhooks == []
    with pytest.raises(NotFound) as again:
        await webhooks.delete(crm, made["id"], ADMIN)
    assert again.value.field == "webhook_id"


async def test_a_delivery_is_signed_retried_with_backoff_and_ends_dead_then_an_admin_sends_it_again() -> None:
    crm, state, receiver = _crm(500, None, 503, 200)
    hook = await webhooks.create(crm, {"campaign_id": "k", "url": "https://crm.example/hook", "secret": SECRET,
                                       "events": ["case.closed"]}, ADMIN)
    case = {"id": "c1", "campaign_id": "k", "contact_id": "p1"}
    async with crm.uow() as uow:
        await webhooks.on_case_closed(crm, uow, case, "sale", {"amount": 5}, ADMIN)
    [queued] = state.deliveries
    assert (queued["event_type"], queued["payload"]["data"]["result"]) == ("case.closed", "sale")

    assert await webhooks.send_due(crm) == 1
    url, body, headers = receiver.posts[0]
    ts, mac = (part.split("=", 1)[1] for part in headers[SIGNATURE_HEADER].split(","))
    assert url == "https://crm.example/hook"
    assert mac == hmac.new(SECRET.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    first = state.deliveries[0]
    assert (first["status"], first["attempts"], first["last_status"]) == ("pending", 1, 500)
    assert first["next_at"] > utcnow()  # backoff: not due again yet
    assert await webhooks.send_due(crm) == 0

    for attempt, status in ((2, None), (3, 503)):  # due again: no answer, then a third failure ends it
        state.deliveries[0]["next_at"] = utcnow() - timedelta(seconds=1)
        assert await webhooks.send_due(crm) == 1
        assert state.deliveries[0]["attempts"] == attempt and state.deliveries[0]["last_status"] == status
    assert state.deliveries[0]["status"] == "dead"
    assert [d["id"] for d in await webhooks.deliveries(crm, hook["id"], "dead", 10, None, ADMIN)] == [first["id"]]
    with pytest.raises(Forbidden):
        await webhooks.retry(crm, first["id"], SUPERVISOR)

    again = await webhooks.retry(crm, first["id"], ADMIN)
    assert (again["status"], again["attempts"]) == ("pending", 0)
    assert await webhooks.send_due(crm) == 1
    assert (state.deliveries[0]["status"], state.deliveries[0]["delivered_at"] is not None) == ("delivered", True)
    with pytest.raises(Conflict) as delivered:
        await webhooks.retry(crm, first["id"], ADMIN)
    assert delivered.value.field == "delivery_id"
    with pytest.raises(NotFound):
        await webhooks.retry(crm, 999, ADMIN)
