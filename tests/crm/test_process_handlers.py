"""Bulk processes on the in-memory unit of work (tests/crm/fakes.py): who may queue which process over what,
parameters refused by name before anything is queued, saved mappings checked against the import's fields, and
cancelling; no server. The runner, the files and PostgreSQL are in tests/crm/test_processes*.py."""

from __future__ import annotations

from typing import Any

import pytest

from libs.contracts import CampaignSnapshot
from libs.core.errors import Conflict, Forbidden, Invalid, NotFound
from services.crm.handlers import Actor, processes

from .fakes import fake_crm

ADMIN = Actor("root", "admin")
SOFIA = Actor("sofia", "supervisor", frozenset({"k"}))
ANA = Actor("ana", "agent", frozenset({"k"}))


def _crm() -> tuple[Any, Any]:
    crm, state = fake_crm()
    crm.campaigns.put(CampaignSnapshot(id="k", name="Cobranzas", supervisors=["sofia"]))
    state.groups[("lists", "L")] = {"id": "L", "name": "Recuperar", "campaign_id": "k"}
    state.groups[("lists", "other")] = {"id": "other", "name": "Otra", "campaign_id": "x"}
    return crm, state


async def test_a_supervisor_queues_processes_of_their_campaign_and_only_an_admin_over_the_whole_base() -> None:
    crm, state = _crm()
    job = await processes.create_job(crm, {"kind": "recycle", "params": {"list_id": "L"}}, SOFIA)
    assert (job["status"], job["created_by"], job["params"]["scope_campaign"]) == ("queued", "sofia", "k")
    usage = await processes.create_job(crm, {"kind": "field_usage", "params": {"field": "dni", "campaign_id": "k"},
                                             "dry_run": True}, SOFIA)
    assert usage["dry_run"] is True and usage["params"]["scope_campaign"] == "k"

    refusals: list[tuple[dict[str, Any], Actor, type[Exception], str]] = [
        ({"kind": "recycle", "params": {"list_id": "other"}}, SOFIA, Forbidden, "params.campaign_id"),
        ({"kind": "reassign_callbacks", "params": {"from_users": ["ana"], "to_users": ["bruno"]}}, SOFIA,
         Forbidden, "params.campaign_id"),  # the whole contact base
        ({"kind": "recycle", "params": {"list_id": "L"}}, ANA, Forbidden, "role"),
        ({"kind": "recycle", "params": {"list_id": "gone"}}, ADMIN, NotFound, "params.list_id"),
        ({"kind": "recycle", "params": {}}, ADMIN, Invalid, "params.list_id"),
        ({"kind": "melt", "params": {}}, ADMIN, Invalid, "kind"),
        ({"kind": "recycle", "params": {"list_id": "L"}, "upload_id": "u1"}, ADMIN, Invalid, "upload_id"),
        ({"kind": "import_contacts", "params": {"mapping": {"name": "Nombre"}}}, ADMIN, Invalid, "upload_id"),
        ({"kind": "recycle", "params": {"list_id": "L"}, "run_at": "2026-12-08T09:00:00"}, ADMIN, Invalid, "run_at"),
    ]
    for body, actor, error, field in refusals:
        with pytest.raises(error) as refused:
            await processes.create_job(crm, body, actor)
        assert refused.value.field == field, (body, refused.value)  # type: ignore[attr-defined]
    assert len(state.jobs) == 2  # nothing refused was queued
    everything = await processes.create_job(crm, {"kind": "reassign_callbacks",
                                                  "params": {"from_users": ["ana"], "to_users": ["bruno"]}}, ADMIN)
    assert "scope_campaign" not in everything["params"]


async def test_cancelling_a_queued_process_ends_it_and_a_finished_one_is_refused() -> None:
    crm, state = _crm()
    job = await processes.create_job(crm, {"kind": "recycle", "params": {"list_id": "L"}}, ADMIN)
    assert (await processes.cancel_job(crm, job["id"]))["status"] == "cancelled"
    with pytest.raises(Conflict) as again:
        await processes.cancel_job(crm, job["id"])
    assert again.value.field == "process_id"
    running = await processes.create_job(crm, {"kind": "recycle", "params": {"list_id": "L"}}, ADMIN)
    state.jobs[running["id"]]["status"] = "running"
    after = await processes.cancel_job(crm, running["id"])
    assert (after["status"], after["cancel_requested"]) == ("running", True)  # it stops after its chunk
    with pytest.raises(NotFound):
        await processes.cancel_job(crm, "nope")


async def test_a_saved_mapping_names_the_field_its_import_does_not_know() -> None:
    crm, state = _crm()
    saved = await processes.save_mapping(crm, {"name": "Banco", "kind": "import_contacts",
                                               "mapping": {"name": "Nombre", "phone": "Celular"}}, SOFIA)
    assert (saved["kind"], saved["created_by"]) == ("import_contacts", "sofia")
    for body, field in (({"name": "X", "kind": "recycle", "mapping": {"name": "N"}}, "kind"),
                        ({"name": "X", "kind": "import_contacts", "mapping": {"shoe_size": "Talla"}},
                         "mapping.shoe_size"),
                        ({"name": "X", "kind": "import_contacts", "mapping": {}}, "mapping")):
        with pytest.raises(Invalid) as refused:
            await processes.save_mapping(crm, body, SOFIA)
        assert refused.value.field == field
    with pytest.raises(Conflict) as taken:
        await processes.save_mapping(crm, {"name": "Banco", "kind": "import_contacts", "mapping": {"name": "N"}},
                                     ADMIN)
    assert taken.value.field == "name" and len(state.mappings) == 1
