"""``switchboard import`` and ``switchboard process``: run a bulk process and follow it with a progress bar."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, ClientTimeout, FormData
from pydantic_settings import SettingsConfigDict

from libs.core.auth import Signer, service_auth
from libs.core.settings import ServiceSettings

TERMINAL = {"succeeded", "failed", "cancelled"}


class ProcessError(RuntimeError):
    """The CRM refused the request; the message carries its error (code, field, message)."""


class CliSettings(ServiceSettings):
    """The CLI's own identity for internal calls: ``SB_CLI_AUTH_PRIVATE_KEY`` / ``SB_CLI_AUTH_KID`` (its key
    must be in ``SB_AUTH_PUBLIC_KEYS`` with issuer ``cli``); development keys otherwise."""

    model_config = SettingsConfigDict(env_prefix="SB_CLI_", extra="ignore")

    service_name: str = "cli"


def crm_session() -> ClientSession:
    """An HTTP session to the CRM whose every request carries a fresh service token of the CLI: an operator
    tool run next to the CRM (kubectl exec, or `switchboard up`), acting as ``service:cli``."""
    signer = Signer.from_settings(CliSettings(), "cli")
    return ClientSession(timeout=ClientTimeout(total=None, sock_read=60), middlewares=(service_auth(signer, "crm"),))


async def _json(resp: Any) -> Any:
    body = await resp.json(content_type=None)
    if resp.status >= 400:
        err = (body or {}).get("error", {})
        field = f" (field {err['field']})" if err.get("field") else ""
        raise ProcessError(f"{resp.status} {err.get('code', '')}: {err.get('message', body)}{field}")
    return body


async def start_import(http: ClientSession, crm: str, path: Path, kind: str, params: dict[str, Any],
                       dry_run: bool) -> dict[str, Any]:
    """Upload a file and start the import job; returns the job."""
    form = FormData()
    form.add_field("file", path.read_bytes(), filename=path.name)
    async with http.post(f"{crm}/imports", data=form) as r:
        upload = await _json(r)
    body = {"kind": kind, "params": params, "upload_id": upload["id"], "dry_run": dry_run}
    async with http.post(f"{crm}/processes", json=body) as r:
        job: dict[str, Any] = await _json(r)
    return job


async def follow(http: ClientSession, crm: str, job_id: str, *, poll_s: float = 0.3,
                 show: bool = True) -> dict[str, Any]:
    """Poll a job until it ends, drawing a progress bar; returns the final job."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[counts]}"), TimeElapsedColumn(), disable=not show) as bar:
        task = bar.add_task(job_id, total=None, counts="")
        while True:
            async with http.get(f"{crm}/processes/{job_id}") as r:
                job: dict[str, Any] = await _json(r)
            counts = ", ".join(f"{k} {v}" for k, v in sorted((job.get("counts") or {}).items()))
            bar.update(task, total=job.get("total") or None, completed=job.get("done") or 0,
                       description=f"{job.get('kind', 'process')} {job['status']}", counts=counts)
            if job["status"] in TERMINAL:
                return job
            await asyncio.sleep(poll_s)


async def download_outcome(http: ClientSession, crm: str, job_id: str, dest: Path) -> Path:
    """Save the job's outcome file (one line per row: what happened, and why if it failed)."""
    async with http.get(f"{crm}/processes/{job_id}/outcome", params={"format": "csv"}) as r:
        if r.status >= 400:
            await _json(r)
        with dest.open("wb") as out:
            async for chunk in r.content.iter_chunked(64 * 1024):
                out.write(chunk)
    return dest


async def run_import(crm: str, path: Path, kind: str, params: dict[str, Any], dry_run: bool,
                     outcome: Path | None, show: bool = True) -> dict[str, Any]:
    async with crm_session() as http:
        job = await start_import(http, crm, path, kind, params, dry_run)
        final = await follow(http, crm, job["id"], show=show)
        if outcome is not None:
            await download_outcome(http, crm, job["id"], outcome)
        return final


async def run_follow(crm: str, job_id: str, cancel: bool) -> dict[str, Any]:
    async with crm_session() as http:
        if cancel:
            async with http.post(f"{crm}/processes/{job_id}/cancel") as r:
                await _json(r)
        return await follow(http, crm, job_id)
