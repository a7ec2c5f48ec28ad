"""Seed 002 case options that act on several cases: combining two cases of one contact, and closing many
cases at once from the case list (agents: their own, when the campaign allows it)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, field_validator

from libs.contracts import utcnow
from libs.core.errors import AppError, Conflict, Forbidden, Invalid
from libs.core.validation import Strict, parse_body
from services.crm.handlers import Actor, Crm
from services.crm.handlers.cases import case_of, check_access, finish_case, get_case
from services.crm.handlers.conversations import snapshot_of

CaseId = Annotated[str, Field(min_length=1, max_length=64)]


class CombineIn(Strict):
    """``case_id``: the case merged into the one in the path (its history moves; it is closed as combined)."""

    case_id: CaseId


class CloseManyIn(Strict):
    case_ids: list[CaseId] = Field(min_length=1, max_length=200)
    result: str = Field(min_length=1, max_length=128)
    fields: dict[str, Any] = Field(default_factory=dict)
    comment: str | None = Field(None, max_length=20000)

    @field_validator("case_ids")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("a case is listed twice")
        return v


async def combine(crm: Crm, target_id: str, body: Any, actor: Actor) -> dict[str, Any]:
    """Seed 002 "Combinaciones de Casos": merge another open case of the same contact and campaign into this one,
    keeping the whole history (every event and attachment moves, each saying where it came from); the merged
    case is closed as ``combined_into`` this one. All or nothing.

    Raises:
        Invalid: the same case twice (``case_id``).
        Forbidden: the campaign does not combine cases, or the caller may not act on one of them.
        Conflict: a closed case, or cases of different contacts or campaigns (``case_id``).
    """
    data = parse_body(CombineIn, body)
    if data.case_id == target_id:
        raise Invalid("a case cannot be combined with itself", field="case_id")
    async with crm.uow() as uow:
        # Lock both in one order, so two opposite combines cannot deadlock.
        locked = {cid: await case_of(uow, cid, for_update=True) for cid in sorted((target_id, data.case_id))}
        target, source = locked[target_id], locked[data.case_id]
        for case in (target, source):
            check_access(crm, case, actor)
            if case["status"] == "closed":
                raise Conflict(f"case {case['id']} is closed", field="case_id")
        if source["contact_id"] != target["contact_id"]:
            raise Conflict(f"case {source['id']} is another contact's: only cases of one contact combine",
                           field="case_id")
        if source["campaign_id"] != target["campaign_id"]:
            raise Conflict(f"case {source['id']} is of campaign {source['campaign_id']!r}, not "
                           f"{target['campaign_id']!r}", field="case_id")
        if refused := snapshot_of(crm, target["campaign_id"]).combine_problems():
            raise Forbidden(refused[0][1], field="case_id")
        moved = await uow.cases.move_into(source["id"], target_id)
        await uow.cases.update(source["id"], status="closed", closed_at=utcnow(), closed_by=actor.id,
                               combined_into=target_id)
        await uow.cases.add_event(target_id, "combined", actor.id, None, {"from": source["id"], "events": moved})
        await uow.cases.add_event(source["id"], "combined_into", actor.id, None, {"into": target_id})
    return await get_case(crm, target_id)


async def close_many(crm: Crm, body: Any, actor: Actor) -> tuple[list[dict[str, Any]], bool]:
    """Seed 002 "Cierre masivo de casos por agentes": close several cases with one result. Each case goes
    through every closing rule on its own (all of it or none of it): an agent closes only their own cases, and
    only in campaigns with ``case_options.mass_close_by_agents``; supervisors and admins any they may act on.

    Returns:
        One result per case, ``{case_id, outcome: closed | error, error?}``, and whether all were closed.
    """
    data = parse_body(CloseManyIn, body)
    results: list[dict[str, Any]] = []
    for i, case_id in enumerate(data.case_ids):
        try:
            async with crm.uow() as uow:
                case = await case_of(uow, case_id, for_update=True)
                if case["status"] == "closed":
                    raise Conflict(f"case {case_id} is already closed", field="case_id")
                check_access(crm, case, actor)
                if refused := snapshot_of(crm, case["campaign_id"]).mass_close_problems(actor.role):
                    raise Forbidden(refused[0][1], field=f"case_ids[{i}]")
                if actor.role == "agent" and case["assigned_user"] != actor.id:
                    raise Forbidden(f"case {case_id} is not yours: agents close only their own cases in bulk",
                                    field=f"case_ids[{i}]")
                await finish_case(crm, uow, case, result=data.result, fields=data.fields, comment=data.comment,
                                  actor=actor, now=utcnow())
            results.append({"case_id": case_id, "outcome": "closed"})
        except AppError as exc:
            results.append({"case_id": case_id, "outcome": "error", "error": exc.to_dict()["error"]})
    return results, all(r["outcome"] == "closed" for r in results)


