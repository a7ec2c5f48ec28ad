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


def test_case_option_rules_each_way() -> None:
    """Seed 002 case options live on the snapshot too: each rule is proved on and off."""
    on = snapshot(case_options={"close_without_work_record": True, "close_without_customer_info": True,
                                "interact_with_other_contact_data": True, "combine_cases": True,
                                "interactions_only_from_assigned_channels": False, "mass_close_by_agents": True,
                                "show_other_campaigns_info": True, "comment_email_domains": ["acme.com"]},
                  linked_campaigns=["c2"])
    off = snapshot(case_options={"interactions_only_from_assigned_channels": True,
                                 "comment_email_domains": ["acme.com"]},
                   channels=[{"id": "mail-1", "type": "email"}], linked_campaigns=["c2"])
    assert on.close_record_problems(has_work_record=False, has_customer_info=False) == []
    assert [f for f, _ in off.close_record_problems(has_work_record=False, has_customer_info=False)] == [
        "comment", "contact_id"]
    assert off.close_record_problems(has_work_record=True, has_customer_info=True) == []
    # Recipients: the contact always; another contact's address only with the option; else allowed domains.
    for s in (on, off):
        assert s.recipient_problem("Ana@Mail.com", own=["ana@mail.com"], other_contacts=[]) is None
        assert s.recipient_problem("boss@acme.com", own=[], other_contacts=[]) is None
        assert s.recipient_problem("x@evil.com", own=[], other_contacts=[]) is not None
    assert on.recipient_problem("bob@mail.com", own=["ana@mail.com"], other_contacts=["bob@mail.com"]) is None
    assert "another contact" in (off.recipient_problem("bob@mail.com", own=[], other_contacts=["bob@mail.com"])
                                 or "")
    assert on.channel_problems("any") == [] and off.channel_problems("mail-1") == []
    assert [f for f, _ in off.channel_problems("other", field="email.channel_id")] == ["email.channel_id"]
    assert on.combine_problems() == [] and off.combine_problems()
    assert on.mass_close_problems("agent") == [] and off.mass_close_problems("agent")
    assert off.mass_close_problems("supervisor") == []
    assert on.history_campaigns() is None and off.history_campaigns() == ["c1", "c2"]


def test_integration_keys_charges_and_tabs() -> None:
    s = snapshot(custom_fields=[{"key": "doc", "label": "Documento", "integration_key": "customer.document"},
                                {"key": "note", "label": "Nota"}],
                 call_charges={"rate": 10, "per": "second", "currency": "col"},
                 tabs=[{"name": "CRM", "url_template": "https://crm.example/c?doc={contact_document}&x={case.fields.kind}"}])
    assert s.integration_values({"doc": "123", "note": "n"}) == {"customer.document": "123"}
    assert s.call_charge(19) == 190 and s.call_charge(None) is None
    assert snapshot().call_charge(60) is None
    per_minute = snapshot(call_charges={"rate": 3, "per": "minute"})
    assert per_minute.call_charge(90) == 4.5
    tab = s.tabs_for({"contact_document": "12 34/5", "case.fields.kind": "a&b"})[0]
    assert tab["url"] == "https://crm.example/c?doc=12%2034%2F5&x=a%26b"
    assert s.tabs_for({})[0]["url"] == "https://crm.example/c?doc=&x="
