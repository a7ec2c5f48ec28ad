"""Imports as background jobs (seeds 000 and 002): accounts, contacts (entities), details and updates.

Every import is applied per row: each valid row is applied and each bad row is refused with its reason in
the outcome file; a chunk of rows commits together with the job's cursor, so a crash never applies a row
twice nor skips one. A dry run classifies every row (new / duplicate / invalid) and writes nothing else.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from libs.contracts import new_id
from libs.core.errors import Conflict, Invalid, NotFound
from services.crm.adapters.ports import UnitOfWork
from services.crm.adapters.spreadsheets import estimate_rows
from services.crm.domain.imports import (
    ACCOUNT_FIELDS,
    CONTACT_FIELDS,
    DETAIL_ACCOUNT_FIELDS,
    DETAIL_KEY,
    IDENTITY,
    Candidate,
    FieldSpec,
    FieldType,
    Mapping,
    build_mapping,
    dedup_value,
    lookups_needed,
    merge_tags,
    new_account,
    new_contact,
    plan_import,
    read_row,
)
from services.crm.domain.work import PriorityName, priority_value
from services.crm.handlers import Crm
from services.crm.handlers.processes.lists import check_groups
from services.crm.handlers.processes.runner import JobContext, ProcessKind, Step, xlsx_limits

ContactKey = Literal["document", "phone", "email"]  # the keys of IDENTITY


class ImportParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mode: Literal["template", "custom"] = "template"
    mapping: dict[str, str] | None = None
    mapping_id: str | None = None


class ContactImportParams(ImportParams):
    """Entities: contacts with their custom fields, deduplicated by a key."""

    dedup_key: ContactKey = "document"
    replace_duplicates: bool = False
    tags_mode: Literal["replace", "append", "remove"] = "append"
    assign_users: bool = False
    list_id: str | None = None
    batch_name: str | None = Field(None, max_length=200)


class AccountImportParams(ContactImportParams):
    """Accounts of a campaign (seed 002)."""

    campaign_id: str = Field(min_length=1)
    dedup_key: Literal["document", "phone", "email", "account_number"] = "account_number"  # type: ignore[assignment]
    create_cases: bool = False
    case_priority: PriorityName = "low"
    close_open_cases: bool = False
    delete_other_accounts: bool = False


class DetailsImportParams(ImportParams):
    """Details of the contacts of a batch, matched by a chosen key (seed 000, "Detalles"), written to the chosen
    entity: the contact's own fields (``contact``), or the contact's account in the batch's campaign
    (``account``: ``custom.<k>`` columns land in the account's fields)."""

    batch_id: str = Field(min_length=1)
    key: str = Field(min_length=1, max_length=71, pattern=DETAIL_KEY)
    entity: Literal["contact", "account"] = "contact"


class UpdatesImportParams(ImportParams):
    """Updates: the key fields that find the contact, and the fields to update (seed 000, "Actualización")."""

    keys: list[str] = Field(min_length=1, max_length=5)
    fields: list[str] = Field(min_length=1, max_length=100)


def _custom_types(crm: Crm, campaign_id: str | None) -> dict[str, FieldType]:
    """The types of a campaign's custom fields (a details import: its batch's campaign)."""
    snapshot = crm.campaigns.get(campaign_id)
    types: dict[str, FieldType] = {"number": "number", "date": "date", "boolean": "boolean"}
    if snapshot is None:
        return {}
    return {cf.key: types.get(cf.type, "text") for cf in snapshot.custom_fields}


def _base(kind: str, params: Any) -> tuple[FieldSpec, ...]:
    if kind == "import_details" and params.entity == "account":  # the contact's key, then the account's columns
        return tuple(f for f in CONTACT_FIELDS if f.name == params.key) + DETAIL_ACCOUNT_FIELDS
    return ACCOUNT_FIELDS if kind == "import_accounts" else CONTACT_FIELDS


async def batch_campaign(crm: Crm, batch_id: str) -> str | None:
    """The campaign of a batch (the account import that made it), ``None`` for a batch of no campaign."""
    async with crm.uow(readonly=True) as uow:
        batch = await uow.accounts.get_group("batches", batch_id)
    return batch["campaign_id"] if batch else None


def _required(kind: str, params: Any) -> tuple[str, ...]:
    if kind in ("import_accounts", "import_contacts"):
        return (params.dedup_key,)
    if kind == "import_details":
        return (params.key,)
    if kind == "import_updates":
        return tuple(params.keys) + tuple(params.fields)
    return ()


async def resolve_mapping(crm: Crm, kind: str, params: Any, upload: dict[str, Any]) -> Mapping:
    """The mapping of a job, checked against the file's columns (saved mappings are looked up by id)."""
    mapping = params.mapping
    if params.mapping_id:
        async with crm.uow(readonly=True) as uow:
            saved = await uow.jobs.get_mapping(params.mapping_id)
        if saved is None:
            raise NotFound(f"mapping {params.mapping_id} not found", field="params.mapping_id")
        mapping = saved["mapping"]
    mode: Literal["template", "custom"] = "custom" if mapping else params.mode
    campaign_id = (await batch_campaign(crm, params.batch_id) if kind == "import_details"
                   else getattr(params, "campaign_id", None))
    return build_mapping(mode, upload["columns"], mapping, _base(kind, params), _custom_types(crm, campaign_id),
                         _required(kind, params))


def _check_for(kind: str) -> Callable[[Crm, Any, dict[str, Any] | None], Awaitable[None]]:
    async def check(crm: Crm, params: Any, upload: dict[str, Any] | None) -> None:
        assert upload is not None
        try:
            await resolve_mapping(crm, kind, params, upload)
        except Invalid as err:
            field = err.field if err.field in ("columns", "file") else f"params.{err.field}"
            raise Invalid(err.message, field=field) from None
        if kind == "import_updates":
            for name in params.fields:
                if name in params.keys:
                    raise Invalid(f"{name!r} is both a key and a field to update", field="params.fields")
        await check_groups(crm, params, upload)
        if kind == "import_details" and params.entity == "account" and not await batch_campaign(crm, params.batch_id):
            raise Invalid(f"batch {params.batch_id} belongs to no campaign, so its contacts have no accounts to take "
                          "the details: choose the entity contact, or a batch of an account import",
                          field="params.entity")

    return check


# --- contacts and accounts ----------------------------------------------------------------------------


def _identity(record: dict[str, Any]) -> tuple[str, str] | None:
    for key in IDENTITY:
        value = dedup_value(record, key)
        if value:
            return key, value
    return None


@dataclass
class _Shape:
    """What a mapping brings, worked out once per job: the ``custom.<k>`` and ``account.<k>`` columns."""

    custom: list[tuple[str, str]]
    account: list[tuple[str, str]]

    @classmethod
    def of(cls, mapping: Mapping) -> _Shape:
        return cls([(t, t.removeprefix("custom.")) for t in mapping.columns if t.startswith("custom.")],
                   [(t, t.removeprefix("account.")) for t in mapping.columns if t.startswith("account.")])


def _contact_values(record: dict[str, Any], params: Any, shape: _Shape) -> dict[str, Any]:
    values: dict[str, Any] = {k: record[k] for k in ("name", "document", "company") if k in record}
    if params.assign_users and "assigned_user" in record:
        values["assigned_user"] = record["assigned_user"]
    values["custom"] = {key: record[t] for t, key in shape.custom if t in record}
    return values


PLURAL = {"phone": "phones", "email": "emails"}


def _addresses(record: dict[str, Any]) -> list[tuple[str, str, str]]:
    """``(kind, value, raw)`` of a row's phones and e-mail."""
    out = []
    for key in ("phone", "phone_2"):
        if key in record:
            out.append(("phone", record[key][0], record[key][1]))
    if "email" in record:
        out.append(("email", record["email"], record["email"]))
    return out


class OrderedIds:
    """Ids of the rows a chunk creates, in creation order (time prefix, random part, counter; 32 hex digits
    like ``new_id``): new index entries land side by side at the end of each index instead of on random
    pages, which makes the bulk inserts and their foreign key checks markedly cheaper."""

    def __init__(self) -> None:
        self.prefix = f"{time.time_ns() // 1_000_000:012x}{secrets.token_hex(4)}"
        self.count = 0

    def __call__(self) -> str:
        self.count += 1
        return f"{self.prefix}{self.count:012x}"


async def _run_contacts(ctx: JobContext) -> None:
    """Accounts and contacts imports share this loop; accounts add the account, a case and the options."""
    crm, params, job = ctx.crm, ctx.params, ctx.job
    accounts = job["kind"] == "import_accounts"
    assert ctx.upload is not None
    mapping = await resolve_mapping(crm, job["kind"], params, ctx.upload)
    if not ctx.cursor.get("prepared"):
        await ctx.commit(lambda uow: _prepare(ctx, uow, accounts))
        seen: dict[str, int] = {}
    else:  # resumed: the keys of the rows committed before
        async with crm.uow(readonly=True) as uow:
            seen = await uow.jobs.first_rows_by_key(job["id"])
    shape = _Shape.of(mapping)
    chunk = _ContactsChunk(ctx, accounts, seen)

    def parse(rows: list[tuple[int, list[Any]]]) -> Parsed:
        return _parse_contacts(rows, mapping, params, shape, crm.settings.default_region)

    await pipelined(ctx, parse, chunk.apply)
    if accounts and params.delete_other_accounts and not ctx.dry_run and not ctx.cursor.get("final"):
        async def final(uow: UnitOfWork) -> Step:
            deleted = await uow.imports.delete_other_accounts(params.campaign_id, job["id"])
            step = Step(cursor={**ctx.cursor, "final": True})
            step.counts["other_accounts_deleted"] += deleted
            return step

        await ctx.commit(final)


async def _prepare(ctx: JobContext, uow: UnitOfWork, accounts: bool) -> Step:
    """Once per job: the batch (lote) of the import, closing the campaign's open cases, the row total."""
    assert ctx.upload is not None
    params, job = ctx.params, ctx.job
    total = await _estimate(ctx)
    step = Step(total=total, cursor={"prepared": True, "row": 1})
    if ctx.dry_run:
        if accounts and params.close_open_cases:
            step.counts["open_cases_to_close"] = await uow.imports.open_cases(params.campaign_id)
        return step
    batch_id = new_id()
    await uow.imports.create_batch(batch_id, params.batch_name or ctx.upload["filename"],
                                   getattr(params, "campaign_id", None), job["id"])
    step.cursor = {**step.cursor, "batch_id": batch_id}  # type: ignore[dict-item]
    if accounts and params.close_open_cases:
        step.counts["open_cases_closed"] = await uow.imports.close_open_cases(params.campaign_id, job["id"],
                                                                              job["created_by"])
    return step


@dataclass
class Parsed:
    """A chunk of rows, read and checked (off the event loop, while the previous chunk is written): the
    outcome of the bad rows in ``step``, the good ones in ``valid``."""

    step: Step
    valid: list[Any] = field(default_factory=list)


@dataclass(slots=True)
class ImportRow:
    """A good row of an account or contact import, with what its writes need worked out while parsing."""

    row: int
    key: str
    record: dict[str, Any]
    ident: tuple[str, str] | None
    values: dict[str, Any]  # the contact's fields: name, document, company, assigned_user, custom
    tags: list[str]
    addresses: list[tuple[str, str, str]]  # (kind, value, raw)
    contact: tuple[Any, ...]  # the columns of a new contact (``domain.imports.new_contact``)
    account: tuple[Any, ...] | None  # number, product, fields, assigned user
    account_columns: tuple[Any, ...] | None  # the columns of a new account (``domain.imports.new_account``)


async def pipelined(ctx: JobContext, parse: Callable[[list[tuple[int, list[Any]]]], Parsed],
                    apply: Callable[[UnitOfWork, Parsed], Awaitable[Step]]) -> None:
    """Read and check chunk N+1 in a thread while chunk N is written: the parsing (Python) and the writing
    (PostgreSQL) use both cores. Chunks still commit strictly in order."""
    chunks = ctx.file_chunks(ctx.crm.settings.job_chunk_rows).__aiter__()

    async def next_parsed() -> Parsed | None:
        chunk = await anext(chunks, None)
        return None if chunk is None else await asyncio.to_thread(parse, chunk)

    pending = asyncio.ensure_future(next_parsed())
    try:
        while (parsed := await pending) is not None:
            pending = asyncio.ensure_future(next_parsed())
            await ctx.commit(lambda uow, parsed=parsed: apply(uow, parsed))  # type: ignore[misc]  # bound default
    finally:
        pending.cancel()
        await asyncio.gather(pending, return_exceptions=True)
        await chunks.aclose()  # type: ignore[attr-defined]


def _blank(values: list[Any]) -> bool:
    return all(v is None or (isinstance(v, str) and not v.strip()) for v in values)


def _parse_contacts(chunk: list[tuple[int, list[Any]]], mapping: Mapping, params: Any, shape: _Shape,
                    region: str) -> Parsed:
    parsed = Parsed(Step(done=len(chunk), cursor={"row": chunk[-1][0]}))
    dedup_key, accounts = params.dedup_key, "account_number" in mapping.columns
    for row_no, values in chunk:
        if not row_no & 63:
            time.sleep(0)  # let the event loop's thread take the GIL at once: it is waiting on PostgreSQL
        if _blank(values):
            continue
        record, problems = read_row(values, mapping, region)
        key = dedup_value(record, dedup_key)
        if not problems and key is None:
            problems.append(f"{dedup_key}: required (it is the deduplication key)")
        ident = _identity(record)
        if not problems and not (record.get("name") or ident):
            problems.append("a row needs a name, a document, a phone or an e-mail")
        if problems:
            parsed.step.outcome(row_no, "invalid", "; ".join(problems))
            continue
        contact = _contact_values(record, params, shape)
        tags = record.get("tags", [])
        account = account_columns = None
        if accounts:
            fields = {k: record[t] for t, k in shape.account if t in record}
            fields.update({k: record[k] for k in ("balance", "due_date") if k in record})
            account = (record["account_number"], record.get("product"), fields,
                       record.get("assigned_user") if params.assign_users else None)
            account_columns = new_account(*account)
        parsed.valid.append(ImportRow(row_no, key, record, ident, contact, tags, _addresses(record),  # type: ignore[arg-type]
                                      new_contact(contact, merge_tags([], tags, params.tags_mode)), account,
                                      account_columns))
    return parsed


Planned = tuple[ImportRow, str | None, bool]  # the row, its customer (if known), whether it is a duplicate


class _ContactsChunk:
    """Applies the chunks of an account or contact import, in order. The in-file duplicate check keeps the
    first row of every key in memory (``seen``; about 130 MB for a million distinct keys), rebuilt from the
    outcome lines when a job resumes."""

    def __init__(self, ctx: JobContext, accounts: bool, seen: dict[str, int]) -> None:
        self.ctx, self.accounts, self.seen = ctx, accounts, seen
        self.params, self.job = ctx.params, ctx.job

    async def apply(self, uow: UnitOfWork, parsed: Parsed) -> Step:
        ctx, params = self.ctx, self.params
        step = parsed.step
        step.cursor = {**ctx.cursor, **(step.cursor or {})}
        rows = []
        for row in parsed.valid:
            first = self.seen.setdefault(row.key, row.row)
            if first != row.row:
                step.outcome(row.row, "invalid", f"duplicate {params.dedup_key} {row.key!r} in the file (first at "
                                                 f"row {first})", key=row.key)
            else:
                rows.append(row)
        plan = await self._classify(uow, step, rows)
        if not ctx.dry_run and plan:
            await self._write(uow, step, plan)
        return step

    async def _classify(self, uow: UnitOfWork, step: Step, rows: list[ImportRow]) -> list[Planned]:
        """Each row's customer and whether it is a duplicate (``plan_import``); the rows refused here get their
        outcome."""
        params, accounts = self.params, self.accounts
        existing_accounts = (await uow.imports.accounts_by_number(params.campaign_id,
                                                                  [r.account[0] for r in rows])  # type: ignore[index]
                             if accounts else {})
        candidates = [Candidate(r.row, r.key, r.ident, r.account[0] if r.account else None) for r in rows]
        known: dict[tuple[str, str], list[str]] = {}
        for kind, values in lookups_needed(candidates, params.dedup_key).items():
            for value, found_ids in (await uow.imports.contacts_by(kind, sorted(values))).items():
                known[(kind, value)] = found_ids
        plan: list[Planned] = []
        for r, v in zip(rows, plan_import(candidates, known=known, existing_accounts=existing_accounts,
                                          dedup_key=params.dedup_key, accounts=accounts,
                                          replace_duplicates=params.replace_duplicates, dry_run=self.ctx.dry_run),
                        strict=True):
            if v.outcome == "write":
                plan.append((r, v.contact_id, v.duplicate))
            else:
                step.outcome(v.row, v.outcome, v.reason, ref=v.contact_id, key=v.key)
        self.existing_accounts = existing_accounts
        return plan

    async def _write(self, uow: UnitOfWork, step: Step, plan: list[Planned]) -> None:
        """The chunk's writes: new contacts, their addresses and memberships, accounts and cases in one
        ``COPY`` per table; changes to existing contacts and accounts in one statement each."""
        params, job, accounts = self.params, self.job, self.accounts
        existing_accounts = self.existing_accounts
        batch_id, list_id = self.ctx.cursor.get("batch_id"), getattr(params, "list_id", None)
        next_id = OrderedIds()
        existing = sorted({c for _, c, _ in plan if c})
        briefs = await uow.imports.contacts_brief(existing, lock=True)
        if len(briefs) < len(existing):
            gone = next(c for c in existing if c not in briefs)
            raise Conflict(f"contact {gone} was deleted while the import ran; run the rest again", field="contact_id")
        made: dict[str, tuple[Any, ...]] = {}  # contacts created in this chunk: their rows cannot clash
        new_contacts: dict[tuple[str, str], str] = {}  # identity -> id of a contact created in this chunk
        updates: dict[str, dict[str, Any]] = {}
        audits: list[tuple[str, dict[str, Any]]] = []
        fresh_addresses: list[tuple[str, str, str, str, int]] = []
        other_addresses: list[tuple[str, str, str, str, int]] = []
        new_accounts: list[tuple[Any, ...]] = []
        old_accounts: list[dict[str, Any]] = []
        cases: list[dict[str, Any]] = []
        touched: set[str] = set()
        priority = priority_value(params.case_priority) if accounts else None
        replace = params.replace_duplicates
        for r, contact_id, duplicate in plan:
            created = False
            if contact_id is None:
                if r.ident and r.ident in new_contacts:
                    contact_id = new_contacts[r.ident]  # made by an earlier row of this chunk
                else:
                    contact_id, created = next_id(), True
                    if r.ident:
                        new_contacts[r.ident] = contact_id
                    made[contact_id] = (contact_id, *r.contact)
                    briefs[contact_id] = {**r.values, "tags": r.contact[-1], "phones": [], "emails": []}
            before = briefs[contact_id]
            if not created and (duplicate or replace or r.tags):
                after = {**before, "tags": merge_tags(list(before.get("tags") or []), r.tags, params.tags_mode)}
                if duplicate or replace:
                    after.update({k: v for k, v in r.values.items() if k != "custom"})
                    after["custom"] = {**(before.get("custom") or {}), **r.values["custom"]}
                changes = {k: [before.get(k), after[k]] for k in ("name", "document", "company", "assigned_user",
                           "custom", "tags") if before.get(k) != after.get(k)}
                if changes:
                    if contact_id in made:  # not inserted yet: inserted with its final values
                        made[contact_id] = (contact_id, *new_contact(after, after["tags"]))
                    else:
                        updates[contact_id] = {**after, "id": contact_id}
                    briefs[contact_id] = after
                    audits.append((contact_id, {**changes, "job_id": job["id"], "row": r.row}))
            for kind, value, raw in r.addresses:
                held = briefs[contact_id].setdefault(PLURAL[kind], [])
                if value not in held:
                    held.append(value)
                    (fresh_addresses if contact_id in made else other_addresses).append(
                        (contact_id, kind, value, raw, len(held) - 1))
            touched.add(contact_id)
            if r.account:
                number, product, fields, assigned = r.account
                if number in existing_accounts:
                    account_id = existing_accounts[number][0]
                    old_accounts.append({"id": account_id, "contact_id": contact_id, "number": number,
                                         "product": product, "fields": fields, "assigned_user": assigned})
                else:
                    account_id = next_id()
                    new_accounts.append((account_id, contact_id, *r.account_columns))  # type: ignore[misc]
                if params.create_cases:
                    cases.append({"id": next_id(), "contact_id": contact_id, "account_id": account_id,
                                  "priority": priority, "assigned_user": assigned})
            step.outcome(r.row, "updated" if duplicate else "created", None, ref=contact_id, key=r.key)

        await uow.imports.copy_contacts(list(made.values()))
        await uow.imports.update_contacts(list(updates.values()))
        await uow.imports.copy_addresses(fresh_addresses)
        await uow.imports.add_addresses(other_addresses)
        await uow.imports.audit_many("contact", "imported", job["created_by"], audits)
        await uow.imports.copy_members(list(made), batch_id, list_id)
        await uow.imports.add_to_groups(sorted(touched - made.keys()), batch_id, list_id)
        if accounts:
            await uow.imports.copy_accounts(params.campaign_id, job["id"], new_accounts)
            await uow.imports.update_accounts(params.campaign_id, job["id"], old_accounts)
            await uow.imports.copy_cases(params.campaign_id, job["id"], cases)


# --- details and updates ------------------------------------------------------------------------------


async def _run_matched(ctx: JobContext) -> None:
    """Details and updates: find each row's contact by its key fields and set the given fields (of a details
    import aimed at the account: the fields of the contact's account in the batch's campaign)."""
    assert ctx.upload is not None
    mapping = await resolve_mapping(ctx.crm, ctx.job["kind"], ctx.params, ctx.upload)
    if not ctx.cursor.get("prepared"):
        total = await _estimate(ctx)
        await ctx.commit(lambda uow: _noop(Step(total=total, cursor={"prepared": True, "row": 1})))
    keys = [ctx.params.key] if ctx.job["kind"] == "import_details" else list(ctx.params.keys)
    campaign_id = None
    if ctx.job["kind"] == "import_details" and ctx.params.entity == "account":
        campaign_id = await batch_campaign(ctx.crm, ctx.params.batch_id)
        if campaign_id is None:
            raise Invalid(f"batch {ctx.params.batch_id} belongs to no campaign (or is gone)", field="params.entity")

    def parse(chunk: list[tuple[int, list[Any]]]) -> Parsed:
        parsed = Parsed(Step(done=len(chunk), cursor={"row": chunk[-1][0]}))
        for row_no, values in chunk:
            if _blank(values):
                continue
            record, problems = read_row(values, mapping, ctx.crm.settings.default_region)
            problems += [f"{k}: required (it is a key)" for k in keys if dedup_value(record, k) is None and
                         not any(p.startswith(f"{k}:") for p in problems)]
            if problems:
                parsed.step.outcome(row_no, "invalid", "; ".join(problems))
            else:
                parsed.valid.append((row_no, None, record, None))
        return parsed

    await pipelined(ctx, parse, lambda uow, parsed: _matched_chunk(ctx, uow, parsed, mapping, keys, campaign_id))


async def _noop(step: Step) -> Step:
    return step


async def _estimate(ctx: JobContext) -> int | None:
    assert ctx.upload is not None
    path = await ctx.crm.blobs.fetch_local(ctx.upload["blob_key"])
    return await asyncio.to_thread(estimate_rows, str(path), ctx.upload["format"], xlsx_limits(ctx.crm))


Matched = tuple[int, dict[str, Any], str | None, str]  # row, record, its key's value, the contact's id


async def _matched_chunk(ctx: JobContext, uow: UnitOfWork, parsed: Parsed, mapping: Mapping, keys: list[str],
                         campaign_id: str | None) -> Step:
    params = ctx.params
    details = ctx.job["kind"] == "import_details"
    targets = [k for k in mapping.columns if k not in keys] if details else list(params.fields)
    step = parsed.step
    step.cursor = {**ctx.cursor, **(step.cursor or {})}
    rows = [(row_no, record) for row_no, _, record, _ in parsed.valid]
    first = keys[0]
    found = await uow.imports.contacts_by(first, sorted({dedup_value(r, first) for _, r in rows}))  # type: ignore[misc]
    briefs = await uow.imports.contacts_brief(sorted({i for ids in found.values() for i in ids}))
    in_batch = (await uow.imports.members_of_batch(params.batch_id, list(briefs)) if details else set(briefs))
    matched: list[Matched] = []
    for row_no, record in rows:
        value = dedup_value(record, first)
        lookup = value.lower() if first == "name" and value is not None else value
        ids = [i for i in found.get(lookup, []) if i in in_batch and _matches(briefs[i], record, keys[1:])]  # type: ignore[arg-type]
        where = f" in batch {params.batch_id}" if details else ""
        key_text = ", ".join(f"{k}={dedup_value(record, k)!r}" for k in keys)
        if not ids:
            step.outcome(row_no, "invalid", f"no contact with {key_text}{where}", key=value)
        elif len(ids) > 1:
            step.outcome(row_no, "invalid", f"{len(ids)} contacts have {key_text}{where}; the key must be unique",
                         key=value)
        else:
            matched.append((row_no, record, value, ids[0]))
    if campaign_id is not None:
        await _to_accounts(ctx, uow, step, matched, targets, campaign_id)
    else:
        await _to_contacts(ctx, uow, step, matched, targets, briefs)
    return step


CONTACT_COLUMNS = ("name", "document", "company", "assigned_user", "custom", "tags")


async def _to_contacts(ctx: JobContext, uow: UnitOfWork, step: Step, matched: list[Matched], targets: list[str],
                       briefs: dict[str, dict[str, Any]]) -> None:
    """Set the matched contacts' own fields: ``custom.<k>`` in their custom fields, the others as they are."""
    job = ctx.job
    updates: dict[str, dict[str, Any]] = {}
    audits: list[tuple[str, dict[str, Any]]] = []
    for row_no, record, value, contact_id in matched:
        before = updates.get(contact_id) or briefs[contact_id]
        after = {**before, "custom": dict(before.get("custom") or {})}
        for target in targets:
            if target not in record:
                continue
            if target.startswith("custom."):
                after["custom"][target.removeprefix("custom.")] = record[target]
            elif target in CONTACT_COLUMNS:
                after[target] = record[target]
        changes = {k: [before.get(k), after.get(k)] for k in CONTACT_COLUMNS if before.get(k) != after.get(k)}
        if _settle(ctx, step, row_no, value, contact_id, changes):
            updates[contact_id] = {**after, "id": contact_id}
            audits.append((contact_id, {**changes, "job_id": job["id"], "row": row_no}))
    if not ctx.dry_run:
        await uow.imports.update_contacts(list(updates.values()))
        await uow.imports.audit_many("contact", "imported", job["created_by"], audits)


ACCOUNT_COLUMNS = ("product", "assigned_user")  # an account's own columns; every other detail is one of its fields


async def _to_accounts(ctx: JobContext, uow: UnitOfWork, step: Step, matched: list[Matched], targets: list[str],
                       campaign_id: str) -> None:
    """Set the fields of the matched contacts' accounts in the batch's campaign: the row's ``account_number``
    picks one, else the contact must have exactly one there."""
    job = ctx.job
    held = await uow.imports.accounts_of(campaign_id, sorted({m[3] for m in matched}))
    updates: dict[str, dict[str, Any]] = {}
    audits: list[tuple[str, dict[str, Any]]] = []
    for row_no, record, value, contact_id in matched:
        number = record.get("account_number")
        accounts = [a for a in held.get(contact_id, []) if number is None or a["number"] == number]
        if len(accounts) != 1:
            which = f"an account {number!r}" if number is not None else "an account"
            reason = (f"contact {contact_id} has no {which.removeprefix('an ')} in campaign {campaign_id}"
                      if not accounts else f"contact {contact_id} has {len(accounts)} accounts in campaign "
                      f"{campaign_id}; add an account_number column to choose one")
            step.outcome(row_no, "invalid", reason, ref=contact_id, key=value)
            continue
        account = accounts[0]
        before = updates.get(account["id"]) or account
        after = {**before, "fields": dict(before.get("fields") or {})}
        for target in targets:
            if target not in record or target == "account_number":
                continue
            if target in ACCOUNT_COLUMNS:
                after[target] = record[target]
            else:  # custom.<k>, account.<k>, balance, due_date
                after["fields"][target.split(".", 1)[-1]] = record[target]
        changes = {k: [before.get(k), after.get(k)] for k in ("product", "assigned_user", "fields")
                   if before.get(k) != after.get(k)}
        if _settle(ctx, step, row_no, value, account["id"], changes):
            updates[account["id"]] = after
            audits.append((account["id"], {**changes, "contact_id": contact_id, "job_id": job["id"], "row": row_no}))
    if not ctx.dry_run:
        await uow.imports.update_accounts(campaign_id, job["id"], list(updates.values()))
        await uow.imports.audit_many("account", "imported", job["created_by"], audits)


def _settle(ctx: JobContext, step: Step, row_no: int, value: str | None, ref: str, changes: dict[str, Any]) -> bool:
    """A matched row's outcome (``ref``: what it landed on); whether it is to be written."""
    if ctx.dry_run:
        step.outcome(row_no, "match", None if changes else "nothing would change", ref=ref, key=value)
        return False
    step.outcome(row_no, "updated" if changes else "unchanged", None, ref=ref, key=value)
    return bool(changes)


def _matches(brief: dict[str, Any], record: dict[str, Any], keys: list[str]) -> bool:
    for key in keys:
        value = dedup_value(record, key)
        if key == "phone":
            ok = value in brief["phones"]
        elif key == "email":
            ok = value in brief["emails"]
        elif key.startswith("custom."):
            ok = str((brief.get("custom") or {}).get(key.removeprefix("custom."))) == value
        elif key == "name":
            ok = (brief.get("name") or "").lower() == (value or "").lower()
        else:
            ok = brief.get(key) == value
        if not ok:
            return False
    return True


KINDS = (
    ProcessKind("import_accounts", AccountImportParams, _run_contacts, needs_upload=True,
                check=_check_for("import_accounts")),
    ProcessKind("import_contacts", ContactImportParams, _run_contacts, needs_upload=True,
                check=_check_for("import_contacts")),
    ProcessKind("import_details", DetailsImportParams, _run_matched, needs_upload=True,
                check=_check_for("import_details")),
    ProcessKind("import_updates", UpdatesImportParams, _run_matched, needs_upload=True,
                check=_check_for("import_updates")),
)
