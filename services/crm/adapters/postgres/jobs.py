"""Background jobs: claim with a lease, commit progress with the cursor, per-row outcomes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.crm.adapters.postgres.base import Conn, Where, as_dict, as_dicts, dumps

JOB_COLS = ("id, kind, status, dry_run, params, upload_id, total, done, counts, cursor, cancel_requested, "
            "lease_owner, lease_until, attempts, failures, error, created_by, created_role, created_at, started_at, "
            "finished_at")
JSON_COLS = ("params", "counts", "cursor")


async def create(conn: Conn, job_id: str, kind: str, params: dict[str, Any], *, dry_run: bool,
                 upload_id: str | None, created_by: str, created_role: str, run_at: datetime | None = None
                 ) -> dict[str, Any]:
    row = await conn.fetchrow(
        f"INSERT INTO crm.jobs (id, kind, params, dry_run, upload_id, created_by, created_role, created_at) "
        f"VALUES ($1, $2, $3::jsonb, $4, $5, $6, $7, coalesce($8, now())) RETURNING {JOB_COLS}",
        job_id, kind, dumps(params), dry_run, upload_id, created_by, created_role, run_at)
    return as_dict(row, JSON_COLS)  # type: ignore[return-value]


async def get(conn: Conn, job_id: str, *, for_update: bool = False) -> dict[str, Any] | None:
    row = await conn.fetchrow(f"SELECT {JOB_COLS} FROM crm.jobs WHERE id = $1{' FOR UPDATE' if for_update else ''}",
                              job_id)
    return as_dict(row, JSON_COLS)


async def search(conn: Conn, kind: str | None, status: str | None, limit: int, after: tuple[Any, ...] | None,
                 visible_to: tuple[str, list[str]] | None = None) -> list[dict[str, Any]]:
    """``visible_to``: (user, campaigns): only processes that user made or of one of those campaigns."""
    w = Where()
    if visible_to is not None:
        w.add("(created_by = {} OR params->>'scope_campaign' = ANY({}::text[]))", *visible_to)
    if kind:
        w.add("kind = {}", kind)
    if status:
        w.add("status = {}", status)
    if after:
        w.add("(created_at, id) < ({}, {})", *after)
    rows = await conn.fetch(f"SELECT {JOB_COLS} FROM crm.jobs {w.sql()} ORDER BY created_at DESC, id DESC "
                            f"LIMIT {int(limit)}", *w.args)
    return as_dicts(rows, JSON_COLS)


GAVE_UP = "'gave up after ' || {n} || ' failed attempts; the last: ' || coalesce({reason}, 'unknown')"


def _qualified(alias: str) -> str:
    return ", ".join(f"{alias}.{c.strip()}" for c in JOB_COLS.split(","))


async def claim(conn: Conn, owner: str, lease_s: float, max_failures: int, job_id: str | None = None
                ) -> dict[str, Any] | None:
    """Take the oldest runnable job: queued and due, or running with an expired lease.

    An expired lease with an owner means that runner died holding the job: a failed attempt. When the job has
    failed ``max_failures`` times since its last progress it is not run again but ends as failed, with the reason
    (the returned row has status ``failed``). An expired lease without an owner is a job released on purpose (a
    retry after its backoff, or one interrupted by a shutdown).
    """
    row = await conn.fetchrow(
        f"""WITH picked AS (
                SELECT id, (status = 'running' AND lease_owner IS NOT NULL) AS died FROM crm.jobs
                WHERE (($3::text IS NULL AND created_at <= now()) OR id = $3)
                  AND (status = 'queued' OR (status = 'running' AND lease_until < now()))
                ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED),
            counted AS (
                SELECT j.id, j.failures + p.died::int AS failures,
                       CASE WHEN p.died THEN 'the runner ' || j.lease_owner || ' stopped during attempt ' || j.attempts
                            || coalesce(' at row ' || (j.cursor ->> 'row'), '')
                            || ' without finishing (its process died, or lost the database)'
                            ELSE j.last_error END AS last_error
                FROM crm.jobs j JOIN picked p USING (id)),
            decided AS (SELECT c.*, c.failures >= $4 AS give_up FROM counted c)
            UPDATE crm.jobs j SET failures = d.failures, last_error = d.last_error,
                status = CASE WHEN d.give_up THEN 'failed' ELSE 'running' END,
                error = CASE WHEN d.give_up THEN {GAVE_UP.format(n="d.failures", reason="d.last_error")} END,
                lease_owner = CASE WHEN d.give_up THEN NULL ELSE $1 END,
                lease_until = CASE WHEN d.give_up THEN NULL ELSE now() + make_interval(secs => $2) END,
                attempts = j.attempts + (NOT d.give_up)::int,
                started_at = coalesce(j.started_at, now()),
                finished_at = CASE WHEN d.give_up THEN now() END
            FROM decided d WHERE j.id = d.id
            RETURNING {_qualified("j")}""", owner, lease_s, job_id, max_failures)
    return as_dict(row, JSON_COLS)


async def fail_attempt(conn: Conn, job_id: str, owner: str, reason: str, max_failures: int, backoff_s: float
                       ) -> dict[str, Any] | None:
    """Record a failed attempt of a job this runner holds: retried after ``backoff_s`` times the failures so far
    by any runner, or failed for good once it has failed ``max_failures`` times since its last progress."""
    row = await conn.fetchrow(
        f"""UPDATE crm.jobs SET failures = failures + 1, last_error = $3,
                status = CASE WHEN failures + 1 >= $4 THEN 'failed' ELSE status END,
                error = CASE WHEN failures + 1 >= $4 THEN {GAVE_UP.format(n="(failures + 1)", reason="$3")} END,
                lease_owner = NULL,
                lease_until = CASE WHEN failures + 1 >= $4 THEN NULL
                                   ELSE now() + make_interval(secs => $5 * (failures + 1)) END,
                finished_at = CASE WHEN failures + 1 >= $4 THEN now() END
            WHERE id = $1 AND lease_owner = $2 AND status = 'running' RETURNING {JOB_COLS}""",
        job_id, owner, reason, max_failures, backoff_s)
    return as_dict(row, JSON_COLS)


async def release(conn: Conn, job_id: str, owner: str) -> None:
    """Give a running job back at once without counting a failure (this runner is shutting down)."""
    await conn.execute("UPDATE crm.jobs SET lease_owner = NULL, lease_until = now() "
                       "WHERE id = $1 AND lease_owner = $2 AND status = 'running'", job_id, owner)


async def plan_per_call(conn: Conn) -> None:
    """Plan each statement of this transaction for its own arguments. A chunk's ``= ANY($1)`` lookups are
    prepared statements; PostgreSQL's generic plan for them scans a whole index range instead of probing."""
    await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")


async def progress(conn: Conn, job_id: str, *, done: int, counts: dict[str, int], cursor: dict[str, Any],
                   total: int | None, lease_s: float) -> None:
    await conn.execute(
        "UPDATE crm.jobs SET done = $2, counts = $3::jsonb, cursor = $4::jsonb, total = coalesce($5, total), "
        "lease_until = now() + make_interval(secs => $6), failures = 0 WHERE id = $1",
        job_id, done, dumps(counts), dumps(cursor), total, lease_s)


async def finish(conn: Conn, job_id: str, status: str, error: str | None = None) -> None:
    """End a job."""
    await conn.execute("UPDATE crm.jobs SET status = $2, error = $3, finished_at = now(), lease_owner = NULL, "
                       "lease_until = NULL WHERE id = $1", job_id, status, error)


async def request_cancel(conn: Conn, job_id: str) -> str | None:
    """Cancel a queued job at once; ask a running one to stop after its chunk. Returns the status."""
    return await conn.fetchval(
        "UPDATE crm.jobs SET cancel_requested = true, "
        "status = CASE WHEN status = 'queued' THEN 'cancelled' ELSE status END, "
        "finished_at = CASE WHEN status = 'queued' THEN now() ELSE finished_at END "
        "WHERE id = $1 RETURNING status", job_id)


async def add_rows(conn: Conn, job_id: str, rows: list[tuple[int, str, str | None, str | None, str | None]]) -> None:
    """The outcome lines of a step, in one ``COPY`` (they are new rows: the step's row numbers are past the
    cursor, and a rolled-back step left none behind)."""
    if rows:
        await conn.copy_records_to_table("job_rows", schema_name="crm", columns=JOB_ROW_COLS,
                                         records=[(job_id, *r) for r in rows])


JOB_ROW_COLS = ("job_id", "row_no", "outcome", "reason", "ref", "key")


async def first_rows_by_key(conn: Conn, job_id: str) -> dict[str, int]:
    """``{key: its first row}`` of the rows a job has committed: the in-file duplicate check of a resumed
    import starts from it (every checked row of an import has its key in its outcome line)."""
    first: dict[str, int] = {}
    async with conn.transaction(readonly=True):  # streamed: a million records at once would double the memory
        async for r in conn.cursor("SELECT key, min(row_no) FROM crm.job_rows WHERE job_id = $1 "
                                   "AND key IS NOT NULL GROUP BY key", job_id, prefetch=10_000):
            first[r[0]] = r[1]
    return first


def outcome_query(job_id: str) -> tuple[str, list[Any]]:
    return ("SELECT row_no AS row, outcome, reason, ref, key FROM crm.job_rows WHERE job_id = $1 ORDER BY row_no",
            [job_id])


async def rows_of(conn: Conn, job_id: str) -> list[dict[str, Any]]:
    return as_dicts(await conn.fetch("SELECT row_no, outcome, reason, ref, key FROM crm.job_rows "
                                     "WHERE job_id = $1 ORDER BY row_no", job_id))


async def insert_upload(conn: Conn, d: dict[str, Any]) -> dict[str, Any]:
    row = await conn.fetchrow(
        "INSERT INTO crm.uploads (id, filename, format, encoding, delimiter, columns, size, sha256, blob_key, "
        "created_by) VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10) RETURNING *",
        d["id"], d["filename"], d["format"], d.get("encoding"), d.get("delimiter"), dumps(d["columns"]), d["size"],
        d["sha256"], d["blob_key"], d["created_by"])
    return as_dict(row, ("columns",))  # type: ignore[return-value]


async def get_upload(conn: Conn, upload_id: str) -> dict[str, Any] | None:
    return as_dict(await conn.fetchrow("SELECT * FROM crm.uploads WHERE id = $1", upload_id), ("columns",))


async def save_mapping(conn: Conn, mapping_id: str, name: str, kind: str, mapping: dict[str, str],
                       created_by: str) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        "INSERT INTO crm.import_mappings (id, name, kind, mapping, created_by) VALUES ($1, $2, $3, $4::jsonb, $5) "
        "ON CONFLICT (name) DO NOTHING RETURNING *", mapping_id, name, kind, dumps(mapping), created_by)
    return as_dict(row, ("mapping",))


async def get_mapping(conn: Conn, mapping_id: str) -> dict[str, Any] | None:
    return as_dict(await conn.fetchrow("SELECT * FROM crm.import_mappings WHERE id = $1", mapping_id),
                   ("mapping",))


async def list_mappings(conn: Conn, kind: str | None, limit: int, after: str | None) -> list[dict[str, Any]]:
    """Saved import mappings by name, those after the name ``after``."""
    rows = await conn.fetch("SELECT * FROM crm.import_mappings WHERE ($1::text IS NULL OR kind = $1) "
                            "AND ($2::text IS NULL OR name > $2) ORDER BY name LIMIT $3", kind, after, limit)
    return as_dicts(rows, ("mapping",))
