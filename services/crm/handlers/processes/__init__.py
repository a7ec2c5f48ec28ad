"""Bulk processes (issue 7): uploads, templates, saved mappings, and background jobs of every kind."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from libs.contracts import new_id
from libs.core.errors import Conflict, Forbidden, Invalid, NotFound
from libs.core.validation import parse_body
from services.crm.adapters.ports import RowStream
from services.crm.adapters.spreadsheets import RowReader, xlsx_chunks
from services.crm.domain.contacts import UPDATE_FIELDS, ContactFilter
from services.crm.domain.imports import (
    ACCOUNT_FIELDS,
    CONTACT_FIELDS,
    DETAIL_ENTITIES,
    DETAIL_KEY,
    SAMPLE_BYTES,
    clean_columns,
    details_columns,
    sniff,
    spec_for,
)
from services.crm.handlers import Actor, Crm, access, exports
from services.crm.handlers.processes import closing, finder, imports, lists
from services.crm.handlers.processes.runner import JobRunner, ProcessKind, xlsx_limits

KINDS: dict[str, ProcessKind] = {k.name: k for k in (*imports.KINDS, *lists.KINDS, *closing.KINDS,
                                                      *finder.KINDS)}
TEMPLATES = {"import_accounts": ACCOUNT_FIELDS, "import_contacts": CONTACT_FIELDS, "import_details": ()}


def runner(crm: Crm) -> JobRunner:
    return JobRunner(crm, KINDS)


async def upload(crm: Crm, filename: str, chunks: AsyncIterator[bytes], actor: Actor,
                 encoding: str | None = None) -> dict[str, Any]:
    """Store an uploaded CSV / XLSX and tell what it is: format, encoding, separator, columns, sample rows."""
    if not filename or len(filename) > 255 or "/" in filename or "\\" in filename:
        raise Invalid("filename must be a plain file name of 1 to 255 characters", field="filename")
    if encoding:
        try:
            "".encode(encoding)
        except LookupError:
            raise Invalid(f"unknown encoding {encoding!r}", field="encoding") from None
    upload_id = new_id()
    key = f"uploads/{upload_id}"
    info = await crm.blobs.put_stream(key, chunks, max_bytes=crm.settings.max_upload_mb * 1024 * 1024)
    try:
        path = str(await crm.blobs.fetch_local(key))
        head = await asyncio.to_thread(_head, path)
        sniffed = sniff(head, filename, encoding)
        reader = RowReader(path, sniffed.format, sniffed.encoding, sniffed.delimiter, xlsx_limits(crm))
        try:
            first = await asyncio.to_thread(reader.chunk, 6)
        finally:
            reader.close()
        if not first:
            raise Invalid("the file is empty", field="file")
        columns = clean_columns(first[0][1])
        async with crm.uow() as uow:
            row = await uow.jobs.insert_upload({
                "id": upload_id, "filename": filename, "format": sniffed.format, "encoding": sniffed.encoding,
                "delimiter": sniffed.delimiter, "columns": columns, "size": info.size, "sha256": info.sha256,
                "blob_key": key, "created_by": actor.id})
    except BaseException:
        await crm.blobs.delete(key)
        raise
    row["sample"] = [[_plain(v) for v in values] for _, values in first[1:]]
    return row


def _head(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(SAMPLE_BYTES)


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


async def get_upload(crm: Crm, upload_id: str) -> dict[str, Any]:
    async with crm.uow(readonly=True) as uow:
        row = await uow.jobs.get_upload(upload_id)
    if row is None:
        raise NotFound(f"upload {upload_id} not found", field="upload_id")
    return row


def template(crm: Crm, kind: str, campaign_id: str | None, entity: str | None = None, key: str | None = None
             ) -> AsyncIterator[bytes]:
    """The XLSX template of an import: our field names as headers, plus the campaign's custom fields. A details
    import's ("Formato de Importación Detalles"): the contact's ``key``, the ``entity``'s columns (an account's
    number, product, balance, due date and user), then the campaign's custom fields."""
    if kind not in TEMPLATES:
        raise Invalid(f"kind must be one of {', '.join(TEMPLATES)}", field="kind")
    entity, key = entity or "contact", key or "document"
    if kind == "import_details" and entity not in DETAIL_ENTITIES:
        raise Invalid(f"entity must be one of {', '.join(DETAIL_ENTITIES)}", field="entity")
    if kind == "import_details" and not re.match(DETAIL_KEY, key):
        raise Invalid("key must be document, phone, email, name or custom.<field>", field="key")
    snapshot = crm.campaigns.get(campaign_id)
    if campaign_id and snapshot is None:
        raise NotFound(f"campaign {campaign_id} is unknown to the CRM", field="campaign_id")
    custom = [cf.key for cf in snapshot.custom_fields] if snapshot is not None else []
    if kind == "import_details":
        header = details_columns(entity, key, custom)
    else:
        prefix = "account." if kind == "import_accounts" else "custom."
        header = [f.name for f in TEMPLATES[kind]] + [prefix + k for k in custom]

    async def no_rows() -> AsyncIterator[list[list[Any]]]:
        if False:  # pragma: no cover
            yield []

    return xlsx_chunks(header, no_rows(), "template")


CUSTOM_KEY = re.compile(r"^custom\.[a-z][a-z0-9_]{0,63}$")


def update_template_columns(keys: list[str], fields: list[str]) -> list[str]:
    """The columns of an update template: its key columns, then the columns to update; each an import field.

    Raises:
        Invalid: none or too many, a repeat, or a name the update import does not know (naming ``keys`` or
            ``fields``).
    """
    for name, values, most in (("keys", keys, 5), ("fields", fields, 100)):
        if not values or len(values) > most:
            raise Invalid(f"{name}: give 1 to {most} columns", field=name)
        for v in values:
            if v not in UPDATE_FIELDS and not CUSTOM_KEY.match(v):
                known = ", ".join(sorted(UPDATE_FIELDS))
                raise Invalid(f"{name}: {v!r} is not a contact field ({known}, custom.<key>)", field=name)
    both = [*keys, *fields]
    if len(set(both)) != len(both):
        raise Invalid("fields: a column is both a key and a field, or repeats", field="fields")
    return both


def update_template(crm: Crm, f: ContactFilter, keys: list[str], fields: list[str]) -> AsyncIterator[bytes]:
    """"Actualización de Datos": an XLSX of the contacts a search finds, with the key columns and the current
    values of the columns to update, for the update import to read back with the same keys and fields."""
    return exports.export(crm.exports.update_template(f, update_template_columns(keys, fields)), "xlsx", "update")


class MappingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    kind: str
    mapping: dict[str, str] = Field(min_length=1)


async def save_mapping(crm: Crm, body: Any, actor: Actor) -> dict[str, Any]:
    data = parse_body(MappingIn, body)
    importers = [k.name for k in imports.KINDS]
    if data.kind not in importers:
        raise Invalid(f"kind must be an import: {', '.join(importers)}", field="kind")
    # A details mapping may aim at an account (checked against its entity when a job uses it).
    base = ACCOUNT_FIELDS if data.kind in ("import_accounts", "import_details") else CONTACT_FIELDS
    for target in data.mapping:
        if spec_for(target, base, {}) is None:
            raise Invalid(f"{target!r} is not a field this import knows", field=f"mapping.{target}")
    async with crm.uow() as uow:
        row = await uow.jobs.save_mapping(new_id(), data.name, data.kind, data.mapping, actor.id)
    if row is None:
        raise Conflict(f"a mapping named {data.name!r} exists already", field="name")
    return row


async def list_mappings(crm: Crm, kind: str | None, limit: int, after: str | None) -> list[dict[str, Any]]:
    async with crm.uow(readonly=True) as uow:
        return await uow.jobs.list_mappings(kind, limit, after)


class JobIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: str
    params: dict[str, Any] = Field(default_factory=dict)
    upload_id: str | None = None
    dry_run: bool = False
    run_at: datetime | None = None


async def job_campaign(crm: Crm, params: BaseModel) -> str | None:
    """The one campaign a process works on: its ``campaign_id``, or its list's or batch's campaign;
    ``None`` for a process over the whole contact base (contacts imports, reassignments, mass closes)."""
    campaign_id = getattr(params, "campaign_id", None)
    if campaign_id:
        return str(campaign_id)
    for table, attr in (("lists", "list_id"), ("batches", "batch_id")):
        group_id = getattr(params, attr, None)
        if group_id:
            async with crm.uow(readonly=True) as uow:
                group = await uow.accounts.get_group(table, group_id)
            return group["campaign_id"] if group else None
    return None


async def check_job_scope(crm: Crm, actor: Actor, params: BaseModel, upload_row: dict[str, Any] | None
                          ) -> str | None:
    """Supervisors run processes only on a campaign they supervise, over an upload of theirs; a process over
    the whole contact base is for admins. Returns the process's campaign (kept as ``scope_campaign``).

    Raises:
        Forbidden: naming ``params.campaign_id`` (or ``upload_id``).
    """
    campaign = await job_campaign(crm, params)
    if access.unrestricted(actor):
        return campaign
    access.require_staff(actor, "run bulk processes")
    if campaign is None:
        raise Forbidden("a process over the whole contact base is for admins: name a campaign you supervise",
                        field="params.campaign_id")
    access.require_campaign(actor, campaign, "params.campaign_id")
    if upload_row is not None and upload_row.get("created_by") != actor.id:
        raise Forbidden("use a file you uploaded yourself", field="upload_id")
    return campaign


async def create_job(crm: Crm, body: Any, actor: Actor) -> dict[str, Any]:
    """Check a process's parameters (and file) now, then queue it; the runner does the work."""
    data = parse_body(JobIn, body)
    kind = KINDS.get(data.kind)
    if kind is None:
        raise Invalid(f"kind must be one of {', '.join(sorted(KINDS))}", field="kind")
    params = parse_body(kind.params, data.params, prefix="params")
    if data.run_at is not None and data.run_at.tzinfo is None:
        raise Invalid("run_at needs a time zone offset", field="run_at")
    campaign_id = getattr(params, "campaign_id", None)
    if kind.needs_upload and campaign_id and crm.campaigns.get(campaign_id) is None:
        raise NotFound(f"campaign {campaign_id} is unknown to the CRM", field="params.campaign_id")
    upload_row = None
    if kind.needs_upload:
        if not data.upload_id:
            raise Invalid(f"{data.kind} reads a file: upload it (POST /imports) and give upload_id",
                          field="upload_id")
        upload_row = await get_upload(crm, data.upload_id)
    elif data.upload_id:
        raise Invalid(f"{data.kind} does not read a file", field="upload_id")
    scope_campaign = await check_job_scope(crm, actor, params, upload_row)
    if kind.check is not None:
        await kind.check(crm, params, upload_row)
    stored = params.model_dump(mode="json") | ({"scope_campaign": scope_campaign} if scope_campaign else {})
    async with crm.uow() as uow:
        job = await uow.jobs.create(new_id(), data.kind, stored, dry_run=data.dry_run,
                                    upload_id=data.upload_id, created_by=actor.id, created_role=actor.role,
                                    run_at=data.run_at)
    return job


async def get_job(crm: Crm, job_id: str) -> dict[str, Any]:
    async with crm.uow(readonly=True) as uow:
        job = await uow.jobs.get(job_id)
    if job is None:
        raise NotFound(f"process {job_id} not found", field="process_id")
    return job


async def list_jobs(crm: Crm, kind: str | None, status: str | None, limit: int, after: Any,
                    actor: Actor | None = None) -> list[dict[str, Any]]:
    """Processes, newest first; a supervisor's: those they made and those of the campaigns they supervise."""
    visible = None if actor is None or access.unrestricted(actor) else (actor.id, sorted(actor.campaigns or ()))
    async with crm.uow(readonly=True) as uow:
        return await uow.jobs.search(kind, status, limit, after, visible)


async def cancel_job(crm: Crm, job_id: str) -> dict[str, Any]:
    """Cancel a queued process at once, or a running one after the chunk in hand. Rows already applied by a
    per-row process stay applied (the outcome file lists them)."""
    async with crm.uow() as uow:
        job = await uow.jobs.get(job_id)
        if job is None:
            raise NotFound(f"process {job_id} not found", field="process_id")
        if job["status"] in ("succeeded", "failed", "cancelled"):
            raise Conflict(f"process {job_id} has already {job['status']}", field="process_id")
        await uow.jobs.request_cancel(job_id)
    return await get_job(crm, job_id)


async def outcome_rows(crm: Crm, job_id: str) -> RowStream:
    """The per-row outcome of a job, streamed (404 when there is no such job)."""
    await get_job(crm, job_id)
    return crm.exports.outcome(job_id)


async def recycle_count(crm: Crm, query: dict[str, Any]) -> int:
    params = parse_body(lists.RecycleParams, query)
    return await lists.recycle_count(crm, params)
