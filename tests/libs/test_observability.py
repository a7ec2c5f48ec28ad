"""Logs, request ids, the access log and the OTEL_* switch, each shown both ways."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from structlog.contextvars import merge_contextvars
from structlog.testing import capture_logs

from libs.core import tracing
from libs.core.service import LIFECYCLE, create_base_app
from libs.core.settings import ServiceSettings
from libs.devstack import free_port

from ..conftest import as_service

ROOT = Path(__file__).resolve().parents[2]

LOGGING_SCRIPT = """
import logging, structlog
from libs.core.logging import configure_logging, get_logger

configure_logging("probe", "{env}", "info")
get_logger("ours").info("our_event", conversation_id="c1")
logging.getLogger("nats.aio.client").error("nats: encountered error")
logging.getLogger("aiohttp.server").warning("Error handling request")
logging.getLogger("asyncpg.pool").warning("pool is closing")
logging.getLogger("aiohttp.access").info("chatty access line")
try:
    1 / 0
except ZeroDivisionError:
    logging.getLogger("asyncpg").exception("boom")
"""


def _run_logging(env: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", LOGGING_SCRIPT.format(env=env)], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=True)
    return [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]


def test_production_logs_are_all_json_whoever_logs():
    lines = _run_logging("production")
    events = [json.loads(line) for line in lines]  # every line is one JSON object
    by_event = {e["event"]: e for e in events}
    assert by_event["our_event"]["conversation_id"] == "c1" and by_event["our_event"]["service"] == "probe"
    assert by_event["nats: encountered error"]["level"] == "error"
    assert by_event["nats: encountered error"]["logger"] == "nats.aio.client"
    assert by_event["Error handling request"]["logger"] == "aiohttp.server"
    assert by_event["pool is closing"]["service"] == "probe"
    assert "ZeroDivisionError" in by_event["boom"]["exception"]
    assert "chatty access line" not in by_event  # libraries speak from WARNING up


def test_development_logs_are_for_humans():
    lines = _run_logging("development")
    assert any("our_event" in line for line in lines)
    assert any("nats: encountered error" in line for line in lines)
    with pytest.raises(json.JSONDecodeError):
        json.loads(next(line for line in lines if "our_event" in line))


async def _client(access_log: bool) -> TestClient:
    app = create_base_app(ServiceSettings(service_name="probe", access_log=access_log))

    async def hello(request: web.Request) -> web.Response:
        from libs.core.logging import get_logger

        get_logger("probe").info("inside_request")
        return web.json_response({"ok": True})

    app.router.add_get("/hello/{name}", hello)
    app[LIFECYCLE].ready = True
    client = TestClient(TestServer(app), **as_service("probe"))  # an internal service: a token per request
    await client.start_server()
    return client


async def test_request_id_is_kept_or_made_and_bound_to_the_request_logs():
    client = await _client(access_log=False)
    try:
        with capture_logs(processors=[merge_contextvars]) as logs:
            r = await client.get("/hello/ana", headers={"X-Request-Id": "req-from-the-edge.1"})
            assert r.headers["X-Request-Id"] == "req-from-the-edge.1"
            r2 = await client.get("/hello/bruno", headers={"X-Request-Id": "bad id with spaces\u00f1"})
            made = r2.headers["X-Request-Id"]
            r3 = await client.get("/hello/carla")
        assert made != "bad id with spaces\u00f1" and made and r3.headers["X-Request-Id"] not in ("", made)
        inside = [e for e in logs if e["event"] == "inside_request"]
        assert [e["request_id"] for e in inside] == ["req-from-the-edge.1", made, r3.headers["X-Request-Id"]]
        assert not [e for e in logs if e["event"] == "http_request"]  # the access log is off by default
    finally:
        await client.close()


async def test_access_log_on_writes_one_line_per_request_with_the_route_pattern():
    client = await _client(access_log=True)
    try:
        with capture_logs(processors=[merge_contextvars]) as logs:
            await client.get("/hello/ana")
            await client.get("/nowhere")
        lines = [e for e in logs if e["event"] == "http_request"]
        assert [(e["route"], e["status"], e["path"]) for e in lines] == [
            ("/hello/{name}", 200, "/hello/ana"), ("unmatched", 404, "/nowhere")]
        assert all(e["request_id"] and e["duration_ms"] >= 0 for e in lines)
    finally:
        await client.close()


@pytest.mark.parametrize(("env", "on"), [
    ({}, False),
    ({"OTEL_TRACES_EXPORTER": "otlp"}, True),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
    ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
    ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, False),
    ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, False),
])
def test_tracing_is_off_by_default_and_on_with_the_standard_settings(env, on):
    assert tracing.wanted(env) is on
    if not on:
        assert tracing.configure("probe", env) is False


def test_exporters_this_build_cannot_honour_are_named():
    with pytest.raises(tracing.TracingConfigError, match="grpc"):
        tracing._exporter("otlp", {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})
    with pytest.raises(tracing.TracingConfigError, match="zipkin"):
        tracing._exporter("zipkin", {})


async def test_the_otlp_exporter_posts_spans_to_the_configured_endpoint():
    """The exporter the OTEL_* settings choose really ships spans: a local collector peer receives them."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    received: list[ExportTraceServiceRequest] = []

    async def collect(request: web.Request) -> web.Response:
        received.append(ExportTraceServiceRequest.FromString(await request.read()))
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/v1/traces", collect)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        env = {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"http://127.0.0.1:{port}/v1/traces"}
        import os

        old = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            exporter = tracing._exporter("otlp", env)
        finally:
            for k, v in old.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        provider = TracerProvider()  # a private provider: the process-wide one stays untouched
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        await asyncio.to_thread(lambda: provider.get_tracer("probe").start_span("webhook").end())
        for _ in range(50):
            if received:
                break
            await asyncio.sleep(0.1)
        spans = [s for r in received for rs in r.resource_spans for ss in rs.scope_spans for s in ss.spans]
        assert [s.name for s in spans] == ["webhook"]
        provider.shutdown()
    finally:
        await runner.cleanup()
