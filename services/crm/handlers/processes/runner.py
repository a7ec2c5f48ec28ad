"""The job runner: claims background jobs with a lease, runs them chunk by chunk, and resumes after a crash.

Every chunk commits, in one transaction, its domain writes, its outcome rows, the job's cursor and counts,
and a fresh lease. A runner that dies leaves its lease to expire; the next runner resumes from the cursor.
A cancel request is seen at the next chunk; a SIGTERM stops after the chunk in hand.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import socket
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from libs.contracts import new_id
from libs.core import metrics
from libs.core.errors import AppError, StreamAction
from libs.core.logging import bound_contextvars, get_logger
from services.crm.adapters.ports import UnitOfWork
from services.crm.adapters.spreadsheets import RowReader
from services.crm.adapters.xlsx import XlsxLimits
from services.crm.handlers import Crm

log = get_logger(__name__)

Row = tuple[int, str, str | None, str | None, str | None]  # row, outcome, reason, ref, key


class Cancelled(Exception):
    """Someone asked the job to stop."""


class Interrupted(Exception):
    """The service is shutting down: the job stays running and is resumed by the next runner."""


class LeaseLost(Exception):
    """Another runner took the job over (ours expired)."""


@dataclass
class Step:
    """What one committed step did."""

    rows: list[Row] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    done: int = 0
    cursor: dict[str, Any] | None = None
    total: int | None = None

    def outcome(self, row_no: int, outcome: str, reason: str | None = None, ref: str | None = None,
                key: str | None = None) -> None:
        self.rows.append((row_no, outcome, reason, ref, key))
        self.counts[outcome] += 1


@dataclass(frozen=True)
class ProcessKind:
    """A kind of bulk process: its parameters, whether it reads an uploaded file, and how it runs."""

    name: str
    params: type[BaseModel]
    run: Callable[[JobContext], Awaitable[None]]
    needs_upload: bool = False
    check: Callable[[Crm, Any, dict[str, Any] | None], Awaitable[None]] | None = None


class JobContext:
    """What a running process uses: its job, parameters and upload, and ``commit`` for each step."""

    def __init__(self, crm: Crm, job: dict[str, Any], params: Any, upload: dict[str, Any] | None, owner: str,
                 stopping: asyncio.Event) -> None:
        self.crm = crm
        self.job = job
        self.params = params
        self.upload = upload
        self.owner = owner
        self.stopping = stopping

    @property
    def cursor(self) -> dict[str, Any]:
        return self.job["cursor"]

    @property
    def dry_run(self) -> bool:
        return bool(self.job["dry_run"])

    async def commit(self, work: Callable[[UnitOfWork], Awaitable[Step]]) -> Step:
        """Run ``work`` and record its progress in one transaction, if the job is still ours and wanted."""
        if self.stopping.is_set():
            raise Interrupted()
        async with self.crm.uow() as uow:
            await uow.jobs.plan_per_call()
            state = await uow.jobs.get(self.job["id"], for_update=True)
            if state is None or state["lease_owner"] != self.owner or state["status"] != "running":
                raise LeaseLost()
            if state["cancel_requested"]:
                raise Cancelled()
            step = await work(uow)
            counts = Counter(state["counts"])
            counts.update(step.counts)
            cursor = step.cursor if step.cursor is not None else state["cursor"]
            await uow.jobs.add_rows(self.job["id"], step.rows)
            await uow.jobs.progress(self.job["id"], done=state["done"] + step.done, counts=dict(counts),
                                    cursor=cursor, total=step.total, lease_s=self.crm.settings.job_lease_s)
        self.job.update(done=state["done"] + step.done, counts=dict(counts), cursor=cursor,
                        total=step.total if step.total is not None else state["total"])
        if not self.dry_run:
            for outcome, n in step.counts.items():
                metrics.JOBS_ROWS.labels(self.job["kind"], outcome).inc(n)
        await self.crm.publisher.progress(self.job["id"], progress_of(self.job))
        return step

    async def file_chunks(self, size: int) -> AsyncIterator[list[tuple[int, list[Any]]]]:
        """The upload's data rows after the cursor (``cursor["row"]``, the header being row 1), in chunks."""
        assert self.upload is not None
        path = str(await self.crm.blobs.fetch_local(self.upload["blob_key"]))
        reader = RowReader(path, self.upload["format"], self.upload["encoding"], self.upload["delimiter"],
                           xlsx_limits(self.crm))
        try:
            await asyncio.to_thread(reader.skip_to, max(int(self.cursor.get("row", 1)), 1))
            while chunk := await asyncio.to_thread(reader.chunk, size):
                yield chunk
        finally:
            reader.close()


def xlsx_limits(crm: Crm) -> XlsxLimits:
    """What an uploaded workbook may hold, from the settings."""
    s = crm.settings
    return XlsxLimits(max_rows=s.xlsx_max_rows, max_columns=s.xlsx_max_columns,
                      max_shared_strings=s.xlsx_max_shared_strings,
                      max_unpacked_bytes=s.xlsx_max_unpacked_mb * 1024 * 1024,
                      max_in_memory_bytes=s.workbook_max_memory_mb * 1024 * 1024)


class _Collector:
    """The cyclic garbage collector is process-wide: this counts the jobs running in the process so the
    last one to end restores its settings."""

    jobs = 0
    saved = gc.get_threshold()


@contextlib.contextmanager
def few_collections() -> Iterator[None]:
    """While a bulk job runs, the cyclic garbage collector runs rarely. An import allocates millions of
    short-lived dicts and tuples (freed by reference counting); with the default thresholds the collector ran
    thousands of times and walked the heap: about a third of an import's time. The objects a service builds
    at start are frozen out of the collector's sight already (``libs.core.service``); this leaves them so."""
    _Collector.jobs += 1
    if _Collector.jobs == 1:
        _Collector.saved = gc.get_threshold()
        gc.set_threshold(max(_Collector.saved[0], 1_000_000), *_Collector.saved[1:])
    try:
        yield
    finally:
        _Collector.jobs -= 1
        if _Collector.jobs == 0:
            gc.set_threshold(*_Collector.saved)


def progress_of(job: dict[str, Any]) -> dict[str, Any]:
    return {"id": job["id"], "kind": job["kind"], "status": job["status"], "done": job["done"],
            "total": job["total"], "counts": job["counts"], "dry_run": job["dry_run"],
            **({"error": job["error"]} if job.get("error") else {})}


class JobRunner:
    """Claims and runs jobs one at a time. Several replicas share the work through the leases."""

    def __init__(self, crm: Crm, kinds: dict[str, ProcessKind], owner: str | None = None) -> None:
        self.crm = crm
        self.kinds = kinds
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{new_id()[:6]}"
        self.wake = asyncio.Event()

    async def run_forever(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                job = await self.claim()
                if job is not None:
                    await self.execute(job, stopping)
                    continue
            except Exception as exc:  # the database is away: try again later, never spin
                log.warning("job_runner_failed", error=repr(exc))
            self.wake.clear()
            waits = [asyncio.ensure_future(self.wake.wait()), asyncio.ensure_future(stopping.wait())]
            await asyncio.wait(waits, timeout=self.crm.settings.job_poll_s, return_when=asyncio.FIRST_COMPLETED)
            for w in waits:
                w.cancel()

    async def claim(self, job_id: str | None = None) -> dict[str, Any] | None:
        """The next job to run, or ``None``. A job whose runners kept dying comes back already failed: it is
        reported here and not run."""
        settings = self.crm.settings
        async with self.crm.uow() as uow:
            job = await uow.jobs.claim(self.owner, settings.job_lease_s, settings.job_max_attempts, job_id)
        if job is not None and job["status"] == "failed":
            log.error("job_gave_up", job_id=job["id"], job_kind=job["kind"], error=job["error"])
            await self.crm.publisher.progress(job["id"], progress_of(job))
            return None
        return job

    async def execute(self, job: dict[str, Any], stopping: asyncio.Event) -> None:
        """Run a claimed job to its end, or until it must stop. Permanent errors fail it at once; a transient or
        unexpected error is a failed attempt, retried after a backoff until ``job_max_attempts`` (an attempt
        whose process dies counts too, when the next runner finds its lease expired)."""
        kind = self.kinds.get(job["kind"])
        with bound_contextvars(job_id=job["id"], job_kind=job["kind"]):
            if kind is None:
                await self._finish(job, "failed", f"unknown process kind {job['kind']!r}")
                return
            log.info("job_started", attempt=job["attempts"], failures=job["failures"], resume_from=job["cursor"])
            try:
                upload = None
                if job["upload_id"]:
                    async with self.crm.uow(readonly=True) as uow:
                        upload = await uow.jobs.get_upload(job["upload_id"])
                # ``scope_campaign`` is the access rule's note (who may see the process), not a parameter.
                params = kind.params.model_validate({k: v for k, v in job["params"].items() if k != "scope_campaign"})
                ctx = JobContext(self.crm, job, params, upload, self.owner, stopping)
                with few_collections():
                    await kind.run(ctx)
            except Cancelled:
                await self._finish(job, "cancelled", None)
            except Interrupted:
                log.info("job_interrupted", done=job["done"])
                await self._release(job)
            except LeaseLost:
                log.warning("job_lease_lost")
            except AppError as err:
                if err.action is StreamAction.TERM:
                    await self._finish(job, "failed", err.message)
                else:
                    await self._failed_attempt(job, err.message)
            except Exception as exc:
                log.exception("job_crashed")
                await self._failed_attempt(job, f"internal error: {exc!r}"[:1000])
            else:
                await self._finish(job, "succeeded", None)

    async def _failed_attempt(self, job: dict[str, Any], reason: str) -> None:
        settings = self.crm.settings
        async with self.crm.uow() as uow:
            state = await uow.jobs.fail_attempt(job["id"], self.owner, reason, settings.job_max_attempts,
                                                settings.job_retry_backoff_s)
        if state is None:  # no longer ours
            return
        job.update(state)
        if state["status"] == "failed":
            metrics.JOBS.labels(job["kind"], "failed").inc()
            log.error("job_gave_up", error=state["error"])
            await self.crm.publisher.progress(job["id"], progress_of(job))
        else:
            log.warning("job_attempt_failed", failures=state["failures"], error=reason)

    async def _release(self, job: dict[str, Any]) -> None:
        try:
            async with self.crm.uow() as uow:
                await uow.jobs.release(job["id"], self.owner)
        except Exception as exc:  # its lease expires instead (counted as a failed attempt)
            log.warning("job_release_failed", error=repr(exc))

    async def _finish(self, job: dict[str, Any], status: str, error: str | None) -> None:
        async with self.crm.uow() as uow:
            state = await uow.jobs.get(job["id"], for_update=True)
            if state is None or (state["lease_owner"] not in (self.owner, None)):
                return
            await uow.jobs.finish(job["id"], status, error)
        job.update(status=status, error=error)
        metrics.JOBS.labels(job["kind"], status).inc()
        log.info("job_finished", status=status, error=error, done=job["done"])
        await self.crm.publisher.progress(job["id"], progress_of(job))
