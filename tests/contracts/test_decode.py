"""libs.contracts.decode: picks the model by type, refuses unknown types and newer schema versions."""

from __future__ import annotations

import json

import pytest

from libs.contracts import ConversationAssigned, InboundMessage, decode


def _inbound() -> InboundMessage:
    return InboundMessage(channel_id="c1", channel_type="whatsapp", contact_address="+34600000001",
                          provider_message_id="wamid.1", text="hola")


def test_round_trip_picks_the_model_and_keeps_ids():
    msg = _inbound()
    back = decode(msg.model_dump_json())
    assert isinstance(back, InboundMessage) and back == msg
    assert (back.type, back.schema_version) == ("inbound.message", 1)


def test_unknown_type_newer_version_and_non_objects_are_refused():
    raw = json.loads(_inbound().model_dump_json())
    with pytest.raises(ValueError, match="unknown contract type"):
        decode(json.dumps({**raw, "type": "inbound.fax"}))
    with pytest.raises(ValueError, match="newer than supported"):
        decode(json.dumps({**raw, "schema_version": 2}))
    with pytest.raises(ValueError, match="JSON object"):
        decode("[1, 2]")
    with pytest.raises(ValueError, match="contact_address"):
        decode(json.dumps({**raw, "contact_address": ""}))


def test_event_ids_make_a_republish_a_duplicate():
    a = ConversationAssigned(conversation_id="cv", channel_id="c", channel_type="sms", contact_address="a", seq=3)
    b = ConversationAssigned(conversation_id="cv", channel_id="c", channel_type="sms", contact_address="a", seq=3)
    assert a.id != b.id and a.msg_id() == b.msg_id() == "cv:conversation.assigned:3"
    assert a.subject() == "sb.conv.assigned.cv"
