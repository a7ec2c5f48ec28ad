"""The campaign snapshot contract: closure rules, weights, and tolerance of fields it does not know yet."""

from __future__ import annotations

from libs.contracts import CampaignSnapshot, CustomField, Typification


def snapshot(**extra: object) -> CampaignSnapshot:
    return CampaignSnapshot.model_validate({
        "id": "c1", "name": "Ventas",
        "typifications": [Typification(id="sale", category="Venta", subcategory="Cerrada").model_dump(),
                          Typification(id="idle", category="Inactividad").model_dump()],
        "closing_typifications": ["sale"],
        "custom_fields": [CustomField(key="doc", label="Documento", required=True).model_dump(),
                          CustomField(key="kind", label="Tipo", type="select", options=["a", "b"]).model_dump()],
        **extra,
    })


def test_closure_needs_an_allowed_typification_and_required_fields() -> None:
    s = snapshot()
    assert s.closure_problems("sale", {"doc": "123"}) == []
    assert s.closure_problems(None, {"doc": "1"}) == [("typification_id", "a typification is required to close")]
    assert s.closure_problems("idle", {"doc": "1"})[0][0] == "typification_id"
    assert s.closure_problems("sale", {"doc": "  "}) == [("fields.doc", "required field 'Documento' is missing")]
    assert s.closure_problems("sale", {"doc": "1", "kind": "z"})[0][0] == "fields.kind"


def test_weights_are_clamped_to_capacity() -> None:
    s = snapshot(routing={"agent_capacity": 3, "weights": {"voice": 9, "email": 0}})
    assert s.weight("voice") == 3 and s.weight("email") == 1 and s.weight("sms") == 1


def test_a_newer_snapshot_with_unknown_fields_still_reads() -> None:
    s = snapshot(future_option=True, routing={"strategy": "least_busy", "future": 1})
    assert s.routing.strategy == "least_busy"


def test_snapshot_round_trips_through_json() -> None:
    s = snapshot(tabs=[{"name": "CRM", "url_template": "https://x/{contact_id}"}], script="hola",
                 case_options={"mass_close_by_agents": True})
    assert CampaignSnapshot.model_validate_json(s.model_dump_json()) == s


def test_permission_rules_each_way() -> None:
    """Seed 004 permissions live on the snapshot; each is proved on and off."""
    from datetime import UTC, datetime, timedelta

    allow = snapshot(permissions={"media": True, "emojis": True, "transfer_between_agents": True,
                                  "transfer_between_campaigns": True, "close_without_reply": True,
                                  "show_contact_number": True, "history_hours": 48})
    deny = snapshot(permissions={"media": False, "emojis": False, "transfer_between_agents": False,
                                 "transfer_between_campaigns": False, "close_without_reply": False,
                                 "show_contact_number": False, "history_hours": 0})
    assert allow.reply_problems("hola 😊", True) == []
    assert [f for f, _ in deny.reply_problems("hola 😊", True)] == ["media", "text"]
    assert deny.reply_problems("hola", False) == [] and deny.reply_problems(None, False) == []
    assert allow.transfer_problems(to_agent=True, to_campaign=True) == []
    assert [f for f, _ in deny.transfer_problems(to_agent=True, to_campaign=False)] == ["to_agent_id"]
    assert [f for f, _ in deny.transfer_problems(to_agent=False, to_campaign=True)] == ["to_campaign_id"]
    assert allow.close_without_reply_problems(False) == [] and deny.close_without_reply_problems(True) == []
    assert deny.close_without_reply_problems(None) == []
    assert [f for f, _ in deny.close_without_reply_problems(False)] == ["reply"]
    now = datetime(2026, 1, 2, tzinfo=UTC)
    assert allow.history_since(now) == now - timedelta(hours=48) and deny.history_since(now) == now
    assert allow.contact_number_for("+54 9 11 1234 3456", "agent") == "+54 9 11 1234 3456"
    assert deny.contact_number_for("+54 9 11 1234 3456", "agent") == "+54 9 11 •••• 3456"
    assert deny.contact_number_for("+5491112343456", "agent") == "+54911••••3456"
    assert deny.contact_number_for("+54 9 11 1234 3456", "supervisor") == "+54 9 11 1234 3456"
    assert deny.contact_number_for("ana@example.com", "agent") == "ana@example.com"
