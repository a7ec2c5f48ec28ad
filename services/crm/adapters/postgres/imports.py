"""Set-based statements of the imports: lookups, inserts and updates of a whole chunk at once."""

from __future__ import annotations

from typing import Any

from services.crm.adapters.postgres.base import Conn, as_dicts, dumps

TAG_SEP = "\x1f"


async def contacts_by(conn: Conn, key: str, values: list[str]) -> dict[str, list[str]]:
    """Contact ids by a key's value: ``document``, ``phone``, ``email``, ``name`` or ``custom.<field>``."""
    if not values:
        return {}
    if key in ("phone", "email"):
        rows = await conn.fetch("SELECT value AS v, contact_id AS id FROM crm.contact_addresses "
                                "WHERE kind = $1 AND network = '' AND value = ANY($2::text[])", key, values)
    elif key == "document":
        rows = await conn.fetch("SELECT document AS v, id FROM crm.contacts WHERE document = ANY($1::text[])", values)
    elif key == "name":
        rows = await conn.fetch("SELECT lower(name) AS v, id FROM crm.contacts WHERE lower(name) = ANY($1::text[])",
                                [v.lower() for v in values])
    else:
        field = key.removeprefix("custom.")
        rows = await conn.fetch("SELECT custom->>$1 AS v, id FROM crm.contacts WHERE custom->>$1 = ANY($2::text[])",
                                field, values)
    out: dict[str, list[str]] = {}
    for r in rows:
        out.setdefault(r["v"], []).append(r["id"])
    return out


async def accounts_by_number(conn: Conn, campaign_id: str, numbers: list[str]) -> dict[str, tuple[str, str]]:
    rows = await conn.fetch("SELECT number, id, contact_id FROM crm.accounts WHERE campaign_id = $1 "
                            "AND number = ANY($2::text[])", campaign_id, numbers)
    return {r["number"]: (r["id"], r["contact_id"]) for r in rows}


async def accounts_of(conn: Conn, campaign_id: str, contact_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """The accounts of contacts in a campaign, by contact, locked (``FOR UPDATE``) until the transaction ends."""
    rows = await conn.fetch("SELECT id, contact_id, number, product, fields, assigned_user FROM crm.accounts "
                            "WHERE campaign_id = $1 AND contact_id = ANY($2::text[]) ORDER BY number FOR UPDATE",
                            campaign_id, contact_ids)
    out: dict[str, list[dict[str, Any]]] = {}
    for r in as_dicts(rows, ("fields",)):
        out.setdefault(r["contact_id"], []).append(r)
    return out


async def contacts_brief(conn: Conn, ids: list[str], *, lock: bool = False) -> dict[str, dict[str, Any]]:
    """Fields, phones and e-mails of contacts by id. ``lock``: they stay locked (``FOR KEY SHARE``) until the
    transaction ends, so none is deleted under the rows written for it."""
    rows = await conn.fetch(
        "SELECT id, name, document, company, assigned_user, custom, tags, "
        "(SELECT coalesce(array_agg(a.value ORDER BY a.position), '{}') FROM crm.contact_addresses a "
        " WHERE a.contact_id = c.id AND a.kind = 'phone') AS phones, "
        "(SELECT coalesce(array_agg(a.value ORDER BY a.position), '{}') FROM crm.contact_addresses a "
        " WHERE a.contact_id = c.id AND a.kind = 'email') AS emails "
        f"FROM crm.contacts c WHERE id = ANY($1::text[]){' FOR KEY SHARE' if lock else ''}", ids)
    return {r["id"]: r for r in as_dicts(rows, ("custom",))}


async def members_of_batch(conn: Conn, batch_id: str, ids: list[str]) -> set[str]:
    rows = await conn.fetch("SELECT contact_id FROM crm.batch_members WHERE batch_id = $1 "
                            "AND contact_id = ANY($2::text[])", batch_id, ids)
    return {r["contact_id"] for r in rows}


CONTACT_ROWS = ("FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[]) "
                "AS x(i, n, d, c, u, j, t)")
TAGS_OF_X = "CASE WHEN x.t = '' THEN '{}'::text[] ELSE string_to_array(x.t, $8) END"


def _contact_arrays(rows: list[dict[str, Any]]) -> list[Any]:
    """The parameters of ``CONTACT_ROWS``: one array per column, tags joined by a unit separator."""
    return [[r["id"] for r in rows], [r.get("name") or "" for r in rows], [r.get("document") for r in rows],
            [r.get("company") for r in rows], [r.get("assigned_user") for r in rows],
            [dumps(r.get("custom") or {}) for r in rows], [TAG_SEP.join(r.get("tags") or []) for r in rows],
            TAG_SEP]


async def update_contacts(conn: Conn, rows: list[dict[str, Any]]) -> None:
    """Set name, document, company, assigned user, custom fields and tags of existing contacts."""
    if rows:
        await conn.execute(
            "UPDATE crm.contacts c SET name = x.n, document = x.d, company = x.c, assigned_user = x.u, "
            f"custom = x.j::jsonb, tags = {TAGS_OF_X}, updated_at = now() {CONTACT_ROWS} WHERE c.id = x.i",
            *_contact_arrays(rows))


async def add_addresses(conn: Conn, rows: list[tuple[str, str, str, str, int]]) -> None:
    """``(contact_id, kind, value, raw, position)`` rows of existing contacts (an address held already is
    left alone)."""
    if not rows:
        return
    await conn.execute(
        "INSERT INTO crm.contact_addresses (contact_id, kind, network, value, raw, position) "
        "SELECT c, k, '', v, r, p FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[]) "
        "AS x(c, k, v, r, p) ON CONFLICT DO NOTHING",
        [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows],
        [r[4] for r in rows])


async def update_accounts(conn: Conn, campaign_id: str, job_id: str, rows: list[dict[str, Any]]) -> None:
    """Existing accounts of the rows: product and user replaced when given, fields merged."""
    if rows:
        await conn.execute(
            "UPDATE crm.accounts a SET product = coalesce(x.p, a.product), fields = a.fields || x.f::jsonb, "
            "assigned_user = coalesce(x.u, a.assigned_user), import_job_id = $2, updated_at = now() "
            "FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[]) "
            "AS x(i, c, n, p, f, u) WHERE a.campaign_id = $1 AND a.id = x.i", campaign_id, job_id,
            *_account_arrays(rows))


def _account_arrays(rows: list[dict[str, Any]]) -> list[Any]:
    return [[r["id"] for r in rows], [r["contact_id"] for r in rows], [r["number"] for r in rows],
            [r.get("product") for r in rows], [dumps(r.get("fields") or {}) for r in rows],
            [r.get("assigned_user") for r in rows]]


async def add_to_groups(conn: Conn, contact_ids: list[str], batch_id: str | None, list_id: str | None) -> None:
    """Put existing contacts in the import's batch and list (those already in are left alone)."""
    if not contact_ids:
        return
    if batch_id:
        await conn.execute("INSERT INTO crm.batch_members (batch_id, contact_id) SELECT $1, x "
                           "FROM unnest($2::text[]) AS x ON CONFLICT DO NOTHING", batch_id, contact_ids)
    if list_id:
        await conn.execute("INSERT INTO crm.list_members (list_id, contact_id, batch_id) SELECT $1, x, $3 "
                           "FROM unnest($2::text[]) AS x ON CONFLICT DO NOTHING", list_id, contact_ids, batch_id)


# --- new rows of an import chunk: one binary COPY per table -------------------------------------------
# They cannot clash with anything: new ids, or rows of contacts made in the same transaction.


async def _copy(conn: Conn, table: str, columns: tuple[str, ...], records: list[tuple[Any, ...]]) -> None:
    if records:
        await conn.copy_records_to_table(table, schema_name="crm", columns=columns, records=records)


async def copy_contacts(conn: Conn, rows: list[tuple[Any, ...]]) -> None:
    """New contacts: ``(id, *new_contact(...))`` (``domain.imports``)."""
    await _copy(conn, "contacts", ("id", "name", "document", "company", "assigned_user", "custom", "tags"), rows)


async def copy_addresses(conn: Conn, rows: list[tuple[str, str, str, str, int]]) -> None:
    """``(contact_id, kind, value, raw, position)`` of new contacts."""
    await _copy(conn, "contact_addresses", ("contact_id", "kind", "network", "value", "raw", "position"),
                [(c, k, "", v, r, p) for c, k, v, r, p in rows])


async def copy_members(conn: Conn, contact_ids: list[str], batch_id: str | None, list_id: str | None) -> None:
    """New contacts in the import's batch and list."""
    if batch_id:
        await _copy(conn, "batch_members", ("batch_id", "contact_id"), [(batch_id, c) for c in contact_ids])
    if list_id:
        await _copy(conn, "list_members", ("list_id", "contact_id", "batch_id"),
                    [(list_id, c, batch_id) for c in contact_ids])


async def copy_accounts(conn: Conn, campaign_id: str, job_id: str, rows: list[tuple[Any, ...]]) -> None:
    """New accounts (their numbers are not in the campaign yet, nor twice in the chunk):
    ``(id, contact_id, *new_account(...))`` (``domain.imports``)."""
    await _copy(conn, "accounts", ("id", "contact_id", "campaign_id", "number", "product", "fields",
                                   "assigned_user", "import_job_id"),
                [(i, c, campaign_id, n, p, f, u, job_id) for i, c, n, p, f, u in rows])


async def copy_cases(conn: Conn, campaign_id: str, job_id: str, rows: list[dict[str, Any]]) -> None:
    """Cases of an import (their origin is ``import_job_id``; the job's outcome file is their history)."""
    await _copy(conn, "cases", ("id", "campaign_id", "contact_id", "account_id", "priority", "assigned_user",
                                "import_job_id"),
                [(r["id"], campaign_id, r["contact_id"], r["account_id"], r["priority"], r.get("assigned_user"),
                  job_id) for r in rows])


async def open_cases(conn: Conn, campaign_id: str) -> int:
    return await conn.fetchval("SELECT count(*) FROM crm.cases WHERE campaign_id = $1 AND status <> 'closed'",
                               campaign_id)


async def close_open_cases(conn: Conn, campaign_id: str, job_id: str, actor: str) -> int:
    """Close the campaign's open cases before an import, so only the file's are worked."""
    status = await conn.execute(
        "WITH closed AS (UPDATE crm.cases SET status = 'closed', result = 'closed_by_import', closed_at = now(), "
        "closed_by = $3, updated_at = now() WHERE campaign_id = $1 AND status <> 'closed' RETURNING id) "
        "INSERT INTO crm.case_events (case_id, kind, actor, body, data) SELECT id, 'result', $3, "
        "'closed_by_import', jsonb_build_object('job_id', $2::text) FROM closed", campaign_id, job_id, actor)
    return int(status.split()[-1])


async def delete_other_accounts(conn: Conn, campaign_id: str, job_id: str) -> int:
    """Delete the campaign's accounts of the imported customers that the import did not bring."""
    status = await conn.execute(
        "DELETE FROM crm.accounts a USING (SELECT DISTINCT ref FROM crm.job_rows WHERE job_id = $2 "
        "AND outcome IN ('created', 'updated')) r WHERE a.contact_id = r.ref AND a.campaign_id = $1 "
        "AND a.import_job_id IS DISTINCT FROM $2", campaign_id, job_id)
    return int(status.split()[-1])


async def create_batch(conn: Conn, batch_id: str, name: str, campaign_id: str | None, job_id: str) -> None:
    await conn.execute("INSERT INTO crm.batches (id, name, campaign_id, job_id) VALUES ($1, $2, $3, $4) "
                       "ON CONFLICT DO NOTHING", batch_id, name, campaign_id, job_id)


async def audit_many(conn: Conn, entity: str, action: str, actor: str, rows: list[tuple[str, dict[str, Any]]]
                     ) -> None:
    if not rows:
        return
    await conn.execute(
        "INSERT INTO crm.audit_log (entity, entity_id, action, actor, changes) "
        "SELECT $1, i, $2, $3, c::jsonb FROM unnest($4::text[], $5::text[]) AS x(i, c)",
        entity, action, actor, [r[0] for r in rows], [dumps(r[1]) for r in rows])
