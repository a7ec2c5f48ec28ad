"""The rules of an agent-started conversation (``domain.check_start``, issue 13 item 6), without servers: which
channel, recipient, text or template it takes, each refusal naming its field. The live-state rules (the 24-hour
window, one open conversation, room) are tested end to end in tests/gateway/test_start_conversation.py."""

from __future__ import annotations

from typing import Any

import pytest

from libs.contracts import CampaignSnapshot, ChannelSnapshot
from libs.core.errors import AppError, NotFound
from services.router.domain import WHATSAPP_WINDOW_MS, StartIn, check_start

CAMPAIGN = CampaignSnapshot.model_validate({
    "id": "c1", "name": "Ventas", "agents": ["ana"], "permissions": {"emojis": False},
    "channels": [{"id": "wa", "type": "whatsapp"}, {"id": "sms", "type": "sms"}, {"id": "mail", "type": "email"},
                 {"id": "ig", "type": "instagram"}, {"id": "tel", "type": "voice"}]})
CHANNELS = {"wa": ChannelSnapshot.model_validate({"id": "wa", "type": "whatsapp", "templates": [
    {"name": "cita", "language": "es", "body": "Hola {{1}}, su cita es el {{2}}."},
    {"name": "cita", "language": "en", "body": "Hi {{1}}, your appointment is on {{2}}."},
    {"name": "promo", "body": "Promo", "status": "rejected"}]})}


def _start(**body: Any) -> Any:
    return check_start(CAMPAIGN, CHANNELS, StartIn.model_validate({"agent_id": "ana", "campaign_id": "c1", **body}))


def test_free_text_waits_on_the_window_only_on_whatsapp():
    wa = _start(to="+34600111222", text="Hola")
    assert (wa.channel_id, wa.template, wa.window_ms) == ("wa", None, WHATSAPP_WINDOW_MS)  # the first channel
    sms = _start(channel_id="sms", to="+34600111222", text="Hola")
    assert (sms.channel_type, sms.window_ms) == ("sms", None)
    mail = _start(channel_id="mail", to="ana@example.com", text="Hola", subject="Su pedido")
    assert (mail.channel_type, mail.window_ms) == ("email", None)


def test_a_template_is_filled_in_its_language():
    got = _start(to="+34600111222", template={"name": "cita", "language": "en", "parameters": ["Ann", "Monday"]})
    assert got.text == "Hi Ann, your appointment is on Monday." and got.window_ms is None
    assert got.template is not None and got.template.model_dump() == {
        "name": "cita", "language": "en", "parameters": ["Ann", "Monday"]}


@pytest.mark.parametrize(("body", "field"), [
    ({"channel_id": "ig", "to": "+34600111222", "text": "x"}, "channel_id"),
    ({"channel_id": "tel", "to": "+34600111222", "text": "x"}, "channel_id"),
    ({"to": "600111222", "text": "x"}, "to"),
    ({"channel_id": "mail", "to": "+34600111222", "text": "x"}, "to"),
    ({"channel_id": "sms", "to": "ana@example.com", "text": "x"}, "to"),
    ({"to": "+34600111222"}, "text"),
    ({"to": "+34600111222", "text": "  "}, "text"),
    ({"to": "+34600111222", "text": "Hola 😀"}, "text"),
    ({"channel_id": "sms", "to": "+34600111222", "template": {"name": "cita"}}, "template"),
    ({"to": "+34600111222", "template": {"name": "nada"}}, "template.name"),
    ({"to": "+34600111222", "template": {"name": "cita", "language": "fr", "parameters": ["a", "b"]}},
     "template.name"),
    ({"to": "+34600111222", "template": {"name": "promo"}}, "template.name"),
    ({"to": "+34600111222", "template": {"name": "cita", "language": "es"}}, "template.parameters[0]"),
    ({"to": "+34600111222", "template": {"name": "cita", "language": "es", "parameters": ["a"]}},
     "template.parameters[1]"),
    ({"to": "+34600111222", "template": {"name": "cita", "language": "es", "parameters": ["a", "b", "c"]}},
     "template.parameters"),
])
def test_each_refusal_names_its_field(body, field):
    with pytest.raises(AppError) as caught:
        _start(**body)
    assert caught.value.field == field, caught.value


def test_an_unknown_campaign():
    with pytest.raises(NotFound):
        check_start(None, CHANNELS, StartIn.model_validate({"agent_id": "a", "campaign_id": "x", "to": "+3460011"}))
