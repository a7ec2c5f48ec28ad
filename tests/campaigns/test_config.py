"""Campaign configuration beyond CRUD: special typifications, permissions, catalogs, tabs, routing options,
linked queues, PUT semantics, versioning, and the OpenAPI document."""

from __future__ import annotations

from typing import Any

from openapi_spec_validator import validate

from libs.contracts import CampaignSnapshot


async def snapshot_at(kv_get: Any, until: Any, cid: str, version: int) -> CampaignSnapshot:
    async def check() -> Any:
        value = await kv_get(cid)
        return value if value and value["version"] >= version else None

    return CampaignSnapshot.model_validate(await until(check))


async def test_full_configuration_reaches_the_snapshot(http: Any, body: Any, world: Any, kv_get: Any,
                                                       until: Any) -> None:
    u = world["u"]
    await http("POST", "/campaigns", body(agents=[]), expect=201)
    config = {
        "channels": [{"id": f"wa-{u}", "type": "whatsapp"}, {"id": f"ig-{u}", "type": "instagram"}],
        "ignore_comment_typification": world["ignore"],
        "out_of_hours": {"action": "close", "send_message": True, "message": "Volvemos a las 8"},
        "permissions": {"media": False, "close_without_reply": True, "transfer_between_agents": False,
                        "transfer_between_campaigns": True, "emojis": False, "show_contact_number": False,
                        "history_hours": 48, "view_all_cases": True},
        "script": "Saluda y pide el documento.",
        "tabs": [{"name": "CRM", "url_template": "https://crm.example/c?phone={contact_address}&a={agent_id}"}],
        "routing": {"strategy": "sticky", "agent_capacity": 4, "weights": {"voice": 4, "email": 2},
                    "priority": 5, "queue_assignment": False, "sticky_fallback": False,
                    "offer_in_after_call_work": True},
        "case_options": {"combine_cases": True, "send_transcripts": True, "autocomplete": True,
                         "interact_with_other_contact_data": True, "interactions_only_from_assigned_channels": True,
                         "close_without_work_record": True, "close_without_customer_info": True,
                         "transfer_notification": True, "show_other_campaigns_info": True,
                         "mass_close_by_agents": True, "comment_email_domains": ["example.com", "xn--bcher-kva.ch"]},
    }
    _, updated = await http("PATCH", f"/campaigns/cmp-{u}", config, expect=200)
    for key, value in config.items():
        if isinstance(value, dict):
            assert {k: updated[key][k] for k in value} == value, key
        else:
            assert updated[key] == value, key
    snap = await snapshot_at(kv_get, until, f"cmp-{u}", 2)
    assert snap.ignore_comment_typification == world["ignore"]
    assert world["ignore"] in {t.id for t in snap.typifications}
    assert snap.out_of_hours.action == "close" and snap.out_of_hours.message == "Volvemos a las 8"
    assert snap.permissions.history_hours == 48 and not snap.permissions.media and snap.permissions.view_all_cases
    assert snap.tabs[0].url_template.startswith("https://crm.example/") and snap.script.startswith("Saluda")
    assert snap.routing.strategy == "sticky" and not snap.routing.sticky_fallback
    assert snap.routing.offer_in_after_call_work and not snap.routing.queue_assignment
    assert snap.weight("voice") == 4 and snap.weight("email") == 2 and snap.weight("whatsapp") == 1
    assert snap.case_options.mass_close_by_agents and snap.case_options.combine_cases
    assert snap.case_options.comment_email_domains == ["example.com", "xn--bcher-kva.ch"]
    # The snapshot endpoint shows the same compiled view.
    _, compiled = await http("GET", f"/campaigns/cmp-{u}/snapshot", expect=200)
    assert CampaignSnapshot.model_validate(compiled) == snap
    # Removing the Instagram channel while the ignore-comment typification is set is refused.
    status, err = await http("PATCH", f"/campaigns/cmp-{u}", {"channels": [{"id": f"wa-{u}", "type": "whatsapp"}]})
    assert status == 400 and err["error"]["field"] == "ignore_comment_typification"


async def test_typification_hierarchy_and_catalog_changes(http: Any, body: Any, world: Any, kv_get: Any,
                                                          until: Any) -> None:
    u = world["u"]
    await http("POST", "/typifications", {"id": f"sale2-{u}", "category": f"Venta {u}", "subcategory": "Abierta"},
               expect=201)
    _, tree = await http("GET", "/typifications/tree", expect=200)
    node = next(n for n in tree["items"] if n["category"] == f"Venta {u}")
    assert sorted(s["subcategory"] for s in node["subcategories"]) == ["Abierta", "Cerrada"]
    _, cats = await http("GET", f"/typifications?category=Venta {u}", expect=200)
    assert {t["id"] for t in cats["items"]} == {world["sale"], f"sale2-{u}"}

    await http("POST", "/campaigns", body(), expect=201)
    snap = await snapshot_at(kv_get, until, f"cmp-{u}", 1)
    sale = next(t for t in snap.typifications if t.id == world["sale"])
    assert (sale.category, sale.subcategory, sale.label) == (f"Venta {u}", "Cerrada", f"Venta {u} / Cerrada")
    # A typification and a catalog field change: the campaign using them gets a new version.
    await http("PATCH", f"/typifications/{world['sale']}", {"label": "Venta hecha"}, expect=200)
    snap = await snapshot_at(kv_get, until, f"cmp-{u}", 2)
    assert next(t for t in snap.typifications if t.id == world["sale"]).label == "Venta hecha"
    await http("PUT", f"/fields/{world['field']}", {"label": "Cédula", "type": "select", "options": ["CC", "CE"]},
               expect=200)
    snap = await snapshot_at(kv_get, until, f"cmp-{u}", 3)
    field = snap.custom_fields[0]
    assert field.type == "select" and field.options == ["CC", "CE"] and field.label == "Documento"
    assert snap.closure_problems(world["sale"], {world["field"]: "XX"})[0][0] == f"fields.{world['field']}"
    _, history = await http("GET", f"/campaigns/cmp-{u}/history", expect=200)
    assert [h["action"] for h in history["items"]] == ["field_changed", "typification_changed", "create"]
    # In use: neither can be deleted.
    for path in (f"/typifications/{world['sale']}", f"/fields/{world['field']}"):
        status, err = await http("DELETE", path)
        assert status == 409 and f"cmp-{u}" in err["error"]["message"]
    await http("DELETE", f"/typifications/sale2-{u}", expect=204)


async def test_put_replaces_and_patch_merges(http: Any, body: Any, world: Any) -> None:
    u = world["u"]
    await http("POST", "/campaigns", body(script="old script", agents=[]), expect=201)
    _, patched = await http("PATCH", f"/campaigns/cmp-{u}", {"name": "Patched"}, expect=200)
    assert patched["script"] == "old script" and patched["name"] == "Patched"
    minimal = {"client_id": world["client"], "project_id": world["project"], "name": "Replaced"}
    _, replaced = await http("PUT", f"/campaigns/cmp-{u}", minimal, expect=200)
    assert replaced["script"] is None and replaced["channels"] == [] and replaced["custom_fields"] == []
    assert replaced["status"] == "active" and replaced["version"] == 3
    status, err = await http("PUT", f"/campaigns/cmp-{u}", {**minimal, "id": "other"})
    assert status == 400 and err["error"]["field"] == "id"
    status, err = await http("PATCH", f"/campaigns/cmp-{u}", {"id": "other"})
    assert status == 400 and err["error"]["field"] == "id"
    # A no-op write does not bump the version.
    _, same = await http("PATCH", f"/campaigns/cmp-{u}", {"name": "Replaced"}, expect=200)
    assert same["version"] == 3
    status, err = await http("PATCH", f"/projects/{world['project']}", {"client_id": "another"})
    assert status == 400 and err["error"]["field"] == "client_id"
    status, _ = await http("PATCH", f"/campaigns/ghost-{u}", {"name": "x"})
    assert status == 404


async def test_linked_queues(http: Any, body: Any, world: Any, kv_get: Any, until: Any) -> None:
    u = world["u"]
    await http("POST", "/campaigns", body(id=f"a-{u}", channels=[], agents=[]), expect=201)
    await http("POST", "/campaigns", body(id=f"b-{u}", channels=[], linked_campaigns=[f"a-{u}"],
                                          routing={"overflow": "campaign", "overflow_campaign_id": f"a-{u}"}),
               expect=201)
    snap = await snapshot_at(kv_get, until, f"b-{u}", 1)
    assert snap.linked_campaigns == [f"a-{u}"] and snap.routing.overflow_campaign_id == f"a-{u}"
    status, err = await http("PATCH", f"/campaigns/b-{u}", {"linked_campaigns": [f"b-{u}"]})
    assert status == 400 and err["error"]["field"] == "linked_campaigns[0]"
    # Archiving the linked campaign removes it from b's linked queues, and b's snapshot follows.
    await http("PATCH", f"/campaigns/b-{u}", {"routing": {}}, expect=200)
    await http("DELETE", f"/campaigns/a-{u}", expect=200)
    snap = await snapshot_at(kv_get, until, f"b-{u}", 3)
    assert snap.linked_campaigns == []


async def test_schedule_with_exceptions_through_the_api(http: Any, unique: str) -> None:
    payload = {
        "name": f"Holidays {unique}", "timezone": "America/Santiago",
        "weekly": {"1": [{"start": "09:00", "end": "13:00"}, {"start": "14:00", "end": "18:00"}],
                   "6": [{"start": "22:00", "end": "06:00"}]},
        "exceptions": [{"day": "2026-09-18", "name": "Fiestas Patrias"},
                       {"day": "2026-12-24", "closed": False, "intervals": [{"start": "09:00", "end": "12:00"}]}],
        "valid_from": "2026-01-01", "valid_until": "2026-12-31",
    }
    _, sch = await http("POST", "/schedules", payload, expect=201)
    assert sch["weekly"]["1"][1] == {"start": "14:00:00", "end": "18:00:00"}
    assert sch["exceptions"][1]["intervals"] == [{"start": "09:00:00", "end": "12:00:00"}]
    for bad, field in (
        ({"exceptions": [{"day": "2026-09-18"}, {"day": "2026-09-18"}]}, "exceptions"),
        ({"exceptions": [{"day": "2026-09-18", "intervals": [{"start": "09:00", "end": "10:00"}]}]},
         "exceptions[0].intervals"),
        ({"weekly": {"1": [{"start": "09:00+02:00", "end": "10:00"}]}}, "weekly.1[0].start"),
        ({"valid_until": "2025-01-01"}, "valid_until"),
    ):
        status, err = await http("PATCH", f"/schedules/{sch['id']}", bad)
        assert status == 400 and err["error"]["field"] == field, (bad, err)
    _, again = await http("GET", f"/schedules/{sch['id']}", expect=200)
    assert again["version"] == 1


async def test_openapi_document_is_valid_and_complete(api: Any) -> None:
    resp = await api.get("/openapi.json")
    doc = await resp.json()
    validate(doc)
    served = {(r.method.lower(), r.resource.canonical) for r in api.app.router.routes()
              if r.resource is not None and r.method != "HEAD"}
    documented = {(m, p) for p, ops in doc["paths"].items() for m in ops if m != "parameters"}
    missing = {(m, p) for m, p in served if p not in ("/healthz", "/readyz", "/metrics", "/openapi.json")} - documented
    assert not missing
    refs = set(_refs(doc))
    assert refs and all(r.removeprefix("#/components/schemas/") in doc["components"]["schemas"] for r in refs)
    assert doc["paths"]["/campaigns"]["post"]["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Campaign"}


def _refs(node: Any) -> Any:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)
