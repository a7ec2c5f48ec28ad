"""schemathesis, its coverage and fuzzing phases, against /api/v1/openapi.json as each role, with the REAL
campaigns, channels, CRM and router behind the gateway (``platform``): no operation answers 5xx.

tests/gateway/test_schemathesis.py sweeps the same document against local peers (the gateway's own code);
this one reaches the services' code as an agent, a supervisor and an admin of a real campaign. The CLI runs
in a subprocess (the in-process services keep serving meanwhile), bounded: a few examples per operation.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import uuid
from pathlib import Path

import pytest

from services.gateway.keys import GATEWAY

pytest.importorskip("schemathesis")

API = "/api/v1"
EXAMPLES = 2  # per operation and phase (the coverage phase adds its own boundary cases): about 40 s a role


async def _people(platform, password_hash: str) -> dict[str, str]:
    """An admin, and an agent and a supervisor of one real campaign; their access tokens."""
    gateway = platform.gateway.app[GATEWAY]
    u = uuid.uuid4().hex[:8]
    ids = {}
    for role in ("admin", "supervisor", "agent"):
        ids[role] = f"st-{role}-{u}"
        await gateway.users.create(id=ids[role], username=f"st{role}{u}", display_name=role, role=role,
                                   password_hash=password_hash)
    admin = {"Authorization": "Bearer " + gateway.tokens.issue((await gateway.users.get(ids["admin"])).principal,
                                                               "access")}
    campaign = {"id": f"camp-st-{u}", "client_id": f"cli-st-{u}", "project_id": f"prj-st-{u}", "name": f"Fuzz {u}",
                "channels": [{"id": f"ch-st-{u}", "type": "whatsapp"}], "agents": [ids["agent"]],
                "supervisors": [ids["supervisor"]]}
    for path, body in ((f"{API}/clients", {"id": f"cli-st-{u}", "name": f"Cliente {u}"}),
                       (f"{API}/projects", {"id": f"prj-st-{u}", "client_id": f"cli-st-{u}", "name": "P"}),
                       (f"{API}/campaigns", campaign)):
        r = await platform.gateway.post(path, json=body, headers=admin)
        assert r.status == 201, await r.text()
    tokens = {role: gateway.tokens.issue((await gateway.users.get(uid)).principal, "access")
              for role, uid in ids.items()}
    return tokens


@pytest.mark.timeout(900)
async def test_schemathesis_as_each_role_against_the_real_services_finds_no_server_error(platform, password_hash,
                                                                                         tmp_path):
    st = shutil.which("st", path=str(Path(sys.executable).parent))
    assert st, "schemathesis' CLI is installed with the dev dependencies"
    tokens = await _people(platform, password_hash)
    base = str(platform.gateway.make_url("")).rstrip("/")
    summary = []
    for role, token in tokens.items():
        report = tmp_path / f"{role}.json"
        proc = await asyncio.create_subprocess_exec(
            st, "run", f"{base}{API}/openapi.json", "--phases", "coverage,fuzzing", "--checks", "not_a_server_error",
            "--max-examples", str(EXAMPLES), "--seed", "11", "--workers", "1", "--no-shrink",
            "--header", f"Authorization: Bearer {token}",
            # Logging out would end this role's session for the rest of the run (tests/security/test_sessions.py).
            "--exclude-path", f"{API}/auth/logout",
            "--request-timeout", "15", "--report", "ndjson", "--report-ndjson-path", str(report),
            # Its crash cache (.schemathesis/) is written to the working directory: never the checkout.
            cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out, _ = await proc.communicate()
        text = out.decode(errors="replace")
        summary.append(f"{role}: exit {proc.returncode}; " + " ".join(text.strip().splitlines()[-1:]))
        assert proc.returncode == 0, f"schemathesis as {role} found server errors:\n{_failures(text)}"
        events = [json.loads(line) for line in report.read_text().splitlines() if line.strip()]
        assert len(events) > 10, "the run must really have exercised the operations"
    print("\n" + "\n".join(summary))


def _failures(text: str) -> str:
    """The run's failures (each with its curl line), not its closing warnings about links and test data."""
    start = text.find("FAILURES")
    end = text.find("WARNINGS", start) if start >= 0 else -1
    if start < 0:
        return text[-6000:]
    return text[start:end if end > start else None][:12000]
