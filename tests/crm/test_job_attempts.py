"""The attempt cap of background jobs: a job that keeps failing (its runner's process dies, or its handler raises)
ends as failed with its reason instead of being retried by every CRM replica forever; an interrupted or
progressing job is not counted against it."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from typing import Any

from pydantic import BaseModel

from libs.core.errors import Invalid, Transient
from services.crm.adapters.publisher import PROGRESS_SUBJECT
from services.crm.handlers.processes.runner import JobContext, JobRunner, ProcessKind, Step


class NoParams(BaseModel):
    pass


def _kind(run: Any) -> dict[str, ProcessKind]:
    return {"test_kind": ProcessKind(name="test_kind", params=NoParams, run=run)}


async def _job(crm, unique: str) -> str:
    # Due in 2099: the service's own runner leaves it to the runners of the test.
    from datetime import UTC, datetime

    async with crm.uow() as uow:
        job = await uow.jobs.create(f"job-{unique}", "test_kind", {}, dry_run=False, upload_id=None,
                                    created_by="test", created_role="admin", run_at=datetime(2099, 1, 1, tzinfo=UTC))
    return job["id"]


def _fast(crm, **settings: Any):
    return replace(crm, settings=crm.settings.model_copy(update={"job_lease_s": 0.3, "job_retry_backoff_s": 0.05,
                                                                 **settings}))


async def _claim_when_due(runner: JobRunner, job_id: str, h) -> dict[str, Any]:
    found: list[dict[str, Any]] = []

    async def due() -> bool:
        job = await runner.claim(job_id)
        if job is not None:
            found.append(job)
        return bool(found)

    await h.eventually(due, timeout=10)
    return found[0]


async def test_a_job_whose_runner_keeps_dying_ends_failed_with_the_reason(client, crm, h, nc, unique):
    async def hangs(ctx: JobContext) -> None:
        await asyncio.Event().wait()  # a first chunk that never commits: the process dies in it

    kinds, fast = _kind(hangs), _fast(crm)
    job_id = await _job(crm, unique)
    events: list[dict[str, Any]] = []

    async def seen(msg: Any) -> None:
        events.append(json.loads(msg.data))

    sub = await nc.subscribe(PROGRESS_SUBJECT.format(job_id=job_id), cb=seen)
    await nc.flush()  # subscribed at the server before anything is published
    for i in range(3):
        runner = JobRunner(fast, kinds, owner=f"replica-{i}")
        job = await _claim_when_due(runner, job_id, h)
        assert job["status"] == "running" and job["failures"] == i and job["attempts"] == i + 1
        task = asyncio.create_task(runner.execute(job, asyncio.Event()))
        await asyncio.sleep(0.05)
        task.cancel()  # the replica dies: no finish, its lease is left to expire
        await asyncio.gather(task, return_exceptions=True)
    await asyncio.sleep(0.4)
    assert await JobRunner(fast, kinds, owner="replica-3").claim(job_id) is None
    final = await (await client.get(f"/processes/{job_id}")).json()
    assert final["status"] == "failed" and final["failures"] == 3 and final["attempts"] == 3
    assert final["error"] == ("gave up after 3 failed attempts; the last: the runner replica-2 stopped during "
                              "attempt 3 without finishing (its process died, or lost the database)")
    failed = await h.eventually(lambda: asyncio.sleep(0, [e for e in events if e["status"] == "failed"]))
    assert failed[0]["error"] == final["error"]
    await sub.unsubscribe()
    # A failed job is never claimed again.
    assert await JobRunner(fast, kinds, owner="replica-4").claim(job_id) is None


async def test_a_handler_that_raises_every_time_is_retried_then_fails(client, crm, h, unique):
    calls = {"n": 0}

    async def boom(ctx: JobContext) -> None:
        calls["n"] += 1
        raise RuntimeError(f"boom {calls['n']}")

    kinds, fast = _kind(boom), _fast(crm)
    job_id = await _job(crm, unique)
    runner = JobRunner(fast, kinds, owner="raiser")
    for attempt in range(1, 4):
        job = await _claim_when_due(runner, job_id, h)
        assert job["failures"] == attempt - 1
        await runner.execute(job, asyncio.Event())
        state = await (await client.get(f"/processes/{job_id}")).json()
        assert state["failures"] == attempt
        assert state["status"] == ("failed" if attempt == 3 else "running")
    assert calls["n"] == 3
    assert state["error"] == "gave up after 3 failed attempts; the last: internal error: RuntimeError('boom 3')"
    await asyncio.sleep(0.2)
    assert await runner.claim(job_id) is None and calls["n"] == 3


async def test_the_cap_is_a_setting(client, crm, h, unique):
    async def boom(ctx: JobContext) -> None:
        raise Transient("the provider is away")

    kinds, fast = _kind(boom), _fast(crm, job_max_attempts=1)
    job_id = await _job(crm, unique)
    runner = JobRunner(fast, kinds, owner="once")
    await runner.execute(await _claim_when_due(runner, job_id, h), asyncio.Event())
    state = await (await client.get(f"/processes/{job_id}")).json()
    assert state["status"] == "failed"
    assert state["error"] == "gave up after 1 failed attempts; the last: the provider is away"


async def test_a_permanent_error_fails_at_once(client, crm, h, unique):
    async def invalid(ctx: JobContext) -> None:
        raise Invalid("the list is gone", field="params.list_id")

    kinds, fast = _kind(invalid), _fast(crm)
    job_id = await _job(crm, unique)
    runner = JobRunner(fast, kinds, owner="permanent")
    await runner.execute(await _claim_when_due(runner, job_id, h), asyncio.Event())
    state = await (await client.get(f"/processes/{job_id}")).json()
    assert state["status"] == "failed" and state["error"] == "the list is gone" and state["failures"] == 0


async def test_progress_between_failures_and_interruptions_are_not_counted(client, crm, h, unique):
    calls = {"n": 0}

    async def flaky(ctx: JobContext) -> None:
        calls["n"] += 1
        if calls["n"] <= 2:  # fails twice, the second time after committing a step
            if calls["n"] == 2:
                await ctx.commit(lambda conn: _step(1))
            raise Transient("database failover")
        if calls["n"] == 3:  # a shutdown: stops at the next step, not a failure
            ctx.stopping.set()
            await ctx.commit(lambda conn: _step(1))
        await ctx.commit(lambda conn: _step(1))

    kinds, fast = _kind(flaky), _fast(crm, job_max_attempts=2)
    job_id = await _job(crm, unique)
    runner = JobRunner(fast, kinds, owner="flaky")
    await runner.execute(await _claim_when_due(runner, job_id, h), asyncio.Event())  # failure 1
    job = await _claim_when_due(runner, job_id, h)
    await runner.execute(job, asyncio.Event())  # a step, then failure: 1 again, not 2
    state = await (await client.get(f"/processes/{job_id}")).json()
    assert state["status"] == "running" and state["failures"] == 1 and state["done"] == 1
    job = await _claim_when_due(runner, job_id, h)
    await runner.execute(job, asyncio.Event())  # interrupted: released at once, not counted
    job = await runner.claim(job_id)
    assert job is not None and job["failures"] == 1
    await runner.execute(job, asyncio.Event())
    state = await (await client.get(f"/processes/{job_id}")).json()
    assert state["status"] == "succeeded" and state["done"] == 2 and state["failures"] == 0


async def _step(n: int) -> Step:
    return Step(done=n)
