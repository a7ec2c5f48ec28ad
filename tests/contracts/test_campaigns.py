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
