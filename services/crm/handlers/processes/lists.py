"""Processes on lists and callbacks (seed 000): recycle, reprocess, list association and de-association,
callback reassignment. Each one is all-or-nothing: one transaction applies every record or none."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from libs.core.errors import Invalid, NotFound
from services.crm.adapters.ports import UnitOfWork
from services.crm.handlers import Crm
from services.crm.handlers.processes.runner import JobContext, ProcessKind, Step


class RecycleParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    list_id: str = Field(min_length=1)
    attempts_lt: int | None = Field(None, ge=0)
    attempts_gt: int | None = Field(None, ge=0)
    users: list[str] = Field(default_factory=list)
    last_contact_from: datetime | None = None
    last_contact_to: datetime | None = None
    typifications: list[str] = Field(default_factory=list)


class AssociateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    list_id: str = Field(min_length=1)
    batch_id: str = Field(min_length=1)


class DissociateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    list_id: str = Field(min_length=1)
    batch_id: str | None = None
    typifications: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_filter(self) -> DissociateParams:
        if not self.batch_id and not self.typifications:
            raise ValueError("give a batch_id or typifications to de-associate")
        return self


class ReassignParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    from_users: list[str] = Field(min_length=1)
    to_users: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _disjoint(self) -> ReassignParams:
        if set(self.from_users) & set(self.to_users):
            raise ValueError("a user cannot be both in from_users and in to_users")
        return self


async def _need(uow: UnitOfWork, table: str, group_id: str | None, field: str) -> None:
    if group_id and not await uow.processes.group_exists(table, group_id):
        raise NotFound(f"{'list' if table == 'lists' else 'batch'} {group_id} not found", field=field)


async def check_groups(crm: Crm, params: Any, upload: dict[str, Any] | None) -> None:
    async with crm.uow(readonly=True) as uow:
        await _need(uow, "lists", getattr(params, "list_id", None), "params.list_id")
        await _need(uow, "batches", getattr(params, "batch_id", None), "params.batch_id")


async def recycle_count(crm: Crm, params: RecycleParams) -> int:
    """The live count shown before running a recycle or a reprocess."""
    async with crm.uow(readonly=True) as uow:
        await _need(uow, "lists", params.list_id, "list_id")
        return await uow.processes.count_recyclable(params)


def _recycle(forget: bool):
    async def run(ctx: JobContext) -> None:
        p = ctx.params

        async def work(uow: UnitOfWork) -> Step:
            ids = await uow.processes.lock_recyclable(p)
            step = Step(done=len(ids), total=len(ids))
            deleted = {} if ctx.dry_run or not forget else await uow.processes.delete_list_calls(p.list_id, ids)
            if not ctx.dry_run:
                await uow.processes.reset_members(p.list_id, ids, forget=forget)
            outcome = ("would_" if ctx.dry_run else "") + ("recycled" if forget else "reprocessed")
            for i, contact_id in enumerate(ids, 1):
                reason = f"{deleted.get(contact_id, 0)} calls deleted" if forget and not ctx.dry_run else None
                step.outcome(i, outcome, reason, ref=contact_id)
            step.counts["calls_deleted"] += sum(deleted.values())
            return step

        await ctx.commit(work)

    return run


async def _membership(ctx: JobContext, change: Any) -> None:
    """A change of list membership: ``change(uow)`` gives ``(contact, outcome)`` pairs; a dry run rolls it
    back and keeps the outcome lines."""

    async def work(uow: UnitOfWork) -> Step:
        pairs = sorted(await change(uow))
        step = Step(done=len(pairs), total=len(pairs))
        for i, (contact_id, outcome) in enumerate(pairs, 1):
            step.outcome(i, outcome, ref=contact_id)
        if ctx.dry_run:
            raise _DryRun(step)
        return step

    await _commit_or_preview(ctx, work)


async def _associate(ctx: JobContext) -> None:
    p = ctx.params

    async def change(uow: UnitOfWork) -> list[tuple[str, str]]:
        added, present = await uow.processes.associate_batch(p.list_id, p.batch_id)
        return [(c, "added") for c in added] + [(c, "already_in_list") for c in present]

    await _membership(ctx, change)


async def _dissociate(ctx: JobContext) -> None:
    p = ctx.params

    async def change(uow: UnitOfWork) -> list[tuple[str, str]]:
        return [(c, "removed") for c in await uow.processes.dissociate(p.list_id, p.batch_id, p.typifications)]

    await _membership(ctx, change)


async def _reassign(ctx: JobContext) -> None:
    """Spread the pending callbacks of some users evenly over others, in due order, with an audit record."""
    p = ctx.params

    async def work(uow: UnitOfWork) -> Step:
        pending = await uow.callbacks.pending_of(p.from_users)
        pairs = [(cb["id"], p.to_users[i % len(p.to_users)]) for i, cb in enumerate(pending)]
        step = Step(done=len(pairs), total=len(pairs))
        for i, (cb, (cb_id, owner)) in enumerate(zip(pending, pairs, strict=True), 1):
            step.outcome(i, "would_reassign" if ctx.dry_run else "reassigned", f"{cb['owner_id']} -> {owner}",
                         ref=cb_id, key=owner)
        if not ctx.dry_run:
            await uow.callbacks.set_owners(pairs)
            await uow.imports.audit_many("callback", "reassigned", ctx.job["created_by"],
                                         [(cb["id"], {"owner_id": [cb["owner_id"], owner], "job_id": ctx.job["id"]})
                                          for cb, (_, owner) in zip(pending, pairs, strict=True)])
        return step

    await ctx.commit(work)


class _DryRun(Exception):
    def __init__(self, step: Step) -> None:
        self.step = step


async def _commit_or_preview(ctx: JobContext, work: Any) -> None:
    """A dry run does the work in a savepoint it rolls back, and keeps only the outcome rows."""
    if not ctx.dry_run:
        await ctx.commit(work)
        return

    async def preview(uow: UnitOfWork) -> Step:
        try:
            async with uow.savepoint():
                await work(uow)
        except _DryRun as dry:
            step = dry.step
            step.rows = [(r[0], "would_" + r[1], *r[2:]) for r in step.rows]
            step.counts = type(step.counts)({"would_" + k: v for k, v in step.counts.items()})
            return step
        raise Invalid("dry run did not stop")  # pragma: no cover

    await ctx.commit(preview)


KINDS = (
    ProcessKind("recycle", RecycleParams, _recycle(True), check=check_groups),
    ProcessKind("reprocess", RecycleParams, _recycle(False), check=check_groups),
    ProcessKind("associate_list", AssociateParams, _associate, check=check_groups),
    ProcessKind("dissociate_list", DissociateParams, _dissociate, check=check_groups),
    ProcessKind("reassign_callbacks", ReassignParams, _reassign),
)
