"""Mass close from a file (seed 000): ConversationId and typification per row, each through the same rules
as a normal closure. Per row: every row closes or says why not, in the outcome file."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from libs.core.errors import AppError, Invalid
from services.crm.adapters.ports import UnitOfWork
from services.crm.handlers import Actor, Crm
from services.crm.handlers.conversations import CloseIn, close_in
from services.crm.handlers.processes.runner import JobContext, ProcessKind, Step

ID_NAMES = ("conversationid", "conversation", "idconversacion", "conversacion")
TYPIFICATION_NAMES = ("typification", "typificationid", "subcategoria", "tipificacion", "subcategory")


class MassCloseParams(BaseModel):
    """``campaign_id``: close only that campaign's conversations (a supervisor must name one of theirs; rows of
    other campaigns are refused one by one). Without it, any campaign's: for admins only."""

    model_config = ConfigDict(extra="forbid")
    campaign_id: str | None = None
    typification_id: str | None = None
    fields: dict[str, Any] = Field(default_factory=dict)


def _norm(name: str) -> str:
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]", "", text)


def columns_of(columns: list[str]) -> tuple[int, int | None]:
    """Indexes of the conversation id column and of the (optional) typification column."""
    norm = [_norm(c) for c in columns]
    conv = next((i for i, c in enumerate(norm) if c in ID_NAMES), None)
    if conv is None:
        raise Invalid(f"the file needs a ConversationId column (its columns: {', '.join(columns)})",
                      field="columns")
    typ = next((i for i, c in enumerate(norm) if c in TYPIFICATION_NAMES), None)
    return conv, typ


async def check(crm: Crm, params: MassCloseParams, upload: dict[str, Any] | None) -> None:
    assert upload is not None
    _, typ = columns_of(upload["columns"])
    if typ is None and not params.typification_id:
        raise Invalid("the file has no typification column: give params.typification_id",
                      field="params.typification_id")


async def run(ctx: JobContext) -> None:
    assert ctx.upload is not None
    conv_col, typ_col = columns_of(ctx.upload["columns"])
    actor = Actor(id=ctx.job["created_by"], role=ctx.job["created_role"])
    source = f"mass_close:{ctx.job['id']}"

    async def chunk_work(uow: UnitOfWork, chunk: list[tuple[int, list[Any]]]) -> Step:
        step = Step(done=len(chunk), cursor={**ctx.cursor, "row": chunk[-1][0]})
        for row_no, values in chunk:
            conv_id = _cell(values, conv_col)
            typification = _cell(values, typ_col) or ctx.params.typification_id
            if not conv_id:
                if any(_cell(values, i) for i in range(len(values))):
                    step.outcome(row_no, "error", "ConversationId is empty")
                continue
            data = CloseIn(typification_id=typification, fields=ctx.params.fields)
            try:
                async with uow.savepoint():  # a savepoint: a refused row leaves nothing behind
                    if ctx.dry_run:
                        await _preview(ctx.crm, uow, conv_id, data, actor, ctx.params.campaign_id)
                    else:
                        await close_in(ctx.crm, uow, conv_id, data, actor, source=source,
                                       campaign_id=ctx.params.campaign_id)
            except AppError as err:
                closure = await uow.conversations.closure(conv_id)
                if closure is not None and closure["source"] == source:  # closed by us before a restart
                    step.outcome(row_no, "closed", None, ref=conv_id, key=typification)
                else:
                    where = f" ({err.field})" if err.field else ""
                    step.outcome(row_no, "error", f"{err.message}{where}", ref=conv_id, key=typification)
                continue
            step.outcome(row_no, "would_close" if ctx.dry_run else "closed", None, ref=conv_id, key=typification)
        return step

    async for chunk in ctx.file_chunks(min(ctx.crm.settings.job_chunk_rows, 500)):
        await ctx.commit(lambda uow, chunk=chunk: chunk_work(uow, chunk))  # type: ignore[misc]  # bound default


class _Rollback(Exception):
    pass


async def _preview(crm: Crm, uow: UnitOfWork, conv_id: str, data: CloseIn, actor: Actor, campaign_id: str | None
                   ) -> None:
    """A dry run applies the closure's checks in a savepoint it rolls back; nothing is published."""
    try:
        async with uow.savepoint():
            await close_in(crm, uow, conv_id, data, actor, source="preview", publish=False,
                           campaign_id=campaign_id)
            raise _Rollback()
    except _Rollback:
        return


def _cell(values: list[Any], idx: int | None) -> str | None:
    if idx is None or idx >= len(values) or values[idx] is None:
        return None
    text = str(values[idx]).strip()
    return text or None


KINDS = (ProcessKind("mass_close", MassCloseParams, run, needs_upload=True, check=check),)
