"""Field usage finder (seed 000, "verificación de uso de objetos en script"): which campaign scripts and tabs
(the ones agents see, from the campaign snapshots) and ticket forms reference a field or contain a string.
Read-only: the outcome file lists every match with its line."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.crm.adapters.ports import UnitOfWork
from services.crm.domain.workspace import script_objects
from services.crm.handlers.processes.runner import JobContext, ProcessKind, Step

SNIPPET = 120


class FinderParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    field: str | None = Field(None, min_length=1, max_length=100)
    text: str | None = Field(None, min_length=1, max_length=200)
    campaign_id: str | None = None

    @model_validator(mode="after")
    def _something(self) -> FinderParams:
        if not self.field and not self.text:
            raise ValueError("give a field (object) or a text to look for")
        return self


def pattern(p: FinderParams) -> re.Pattern[str]:
    """A field is referenced by its whole name (``lblEtiqueta1``, ``{{custom.plan}}``), also as a custom field of
    a tab template (``{contact.custom.plan}``, ``{case.fields.plan}``, ``{account.plan}``); a text anywhere."""
    if p.field:
        return re.compile(rf"(?:(?<![\w.])|(?<=custom\.)|(?<=fields\.)|(?<=account\.)){re.escape(p.field)}(?![\w])")
    return re.compile(re.escape(p.text or ""), re.IGNORECASE)


async def run(ctx: JobContext) -> None:
    p: FinderParams = ctx.params
    rx = pattern(p)

    async def work(uow: UnitOfWork) -> Step:
        step = Step()
        n = 0
        objects = script_objects(ctx.crm.campaigns, p.campaign_id)
        for obj in objects:
            for line_no, line in enumerate(obj.body.splitlines(), 1):
                if rx.search(line):
                    n += 1
                    where = f"{obj.kind} {obj.name!r}" + (f", campaign {obj.screen!r}" if obj.screen else "")
                    step.outcome(n, "match", f"{where}, line {line_no}: {line.strip()[:SNIPPET]}",
                                 ref=obj.ref, key=p.field or p.text)
        step.done = step.total = n
        return step

    await ctx.commit(work)


KINDS = (ProcessKind("field_usage", FinderParams, run),)
