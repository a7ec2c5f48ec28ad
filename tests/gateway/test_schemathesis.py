"""schemathesis against /api/v1/openapi.json: no operation answers 5xx, whatever it is sent.

The gateway runs in-process on a real port (the stack's NATS/Redis/PostgreSQL); the router, campaigns,
CRM and channels are the local peers of conftest.py. schemathesis (its Python API, synchronous ``requests``)
runs in a worker thread so the event loop keeps serving the gateway. Every operation gets positive and
negative examples as an admin (who passes every role check and so reaches the deepest code) and, without a
token, the authentication layer.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402

EXAMPLES = 6  # per operation and generation mode: bounded, so the whole run stays well under a minute
HYPOTHESIS = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                      phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))


def run_schemathesis(base: str, token: str) -> tuple[int, list[str]]:
    """Every operation of the served document, both generation modes; returns (cases run, failures)."""
    import requests

    schema = schemathesis.openapi.from_url(f"{base}/api/v1/openapi.json", timeout=10)
    failures: list[str] = []
    ran = 0
    auth = {"Authorization": f"Bearer {token}"}
    with requests.Session() as http:

        def exercise(case: Any, headers: dict[str, str] | None, label: str) -> None:
            nonlocal ran
            ran += 1
            response = case.call(base_url=base, session=http, headers=headers, timeout=15)
            try:
                case.validate_response(response, checks=[not_a_server_error])
            except (AssertionError, BaseExceptionGroup):
                failures.append(f"{case.operation.label} [{label}] -> {response.status_code}: "
                                f"{response.text[:300]}\n  {case.as_curl_command()}")

        def with_headers(headers: dict[str, str] | None, label: str) -> Any:
            def run(case: Any) -> None:
                exercise(case, headers, label)

            return run

        for result in schema.get_all_operations():
            operation = result.ok()
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                strategy = operation.as_strategy(generation_mode=mode)
                try:
                    HYPOTHESIS(given(case=strategy)(with_headers(auth, str(mode))))()
                except Unsatisfiable:  # no negative example exists (every parameter is a free string)
                    assert mode == GenerationMode.NEGATIVE, operation.label
            # The authentication layer: no token at all.
            settings(HYPOTHESIS, max_examples=2)(given(case=operation.as_strategy())(with_headers(None, "no token")))()
    return ran, failures


@pytest.mark.timeout(600)
async def test_schemathesis_finds_no_server_error(gw_client, gateway, make_user):
    admin = await gateway.users.get(await make_user("admin"))
    token = gateway.tokens.issue(admin.principal, "access")
    base = str(gw_client.make_url("")).rstrip("/")
    ran, failures = await asyncio.to_thread(run_schemathesis, base, token)
    assert not failures, f"{len(failures)} server errors:\n" + "\n".join(failures[:20])
    assert ran > 1000  # every operation was exercised
