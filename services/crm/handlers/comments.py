"""Comments on cases as their own kind (seed 001 5 "Historial"): a list across cases, in the caller's scope."""

from __future__ import annotations

from typing import Any

from services.crm.handlers import Actor, Crm


async def search(crm: Crm, f: dict[str, Any], limit: int, after: tuple[Any, ...] | None, actor: Actor
                 ) -> list[dict[str, Any]]:
    """Comments newest first. An agent sees those on their own items (every item of a campaign of theirs that
    allows viewing all cases); a supervisor those of the campaigns they supervise; admins and services all."""
    f = dict(f)
    if actor.role == "agent":
        wide = [s.id for s in crm.campaigns if actor.id in s.agents and s.permissions.view_all_cases]
        if f.get("campaign_id") in wide:
            f["campaigns"] = [f["campaign_id"]]
        else:
            f["assigned_user"] = actor.id
    elif actor.role == "supervisor":
        f["campaigns"] = [s.id for s in crm.campaigns if actor.id in s.supervisors]
    async with crm.uow(readonly=True) as uow:
        return await uow.cases.comments(f, limit, after)
