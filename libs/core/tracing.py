"""OpenTelemetry traces: off by default, switched on by the standard ``OTEL_*`` settings with an OTLP exporter.

Tracing is on when ``OTEL_TRACES_EXPORTER`` names an exporter (``otlp`` or ``console``), or when
``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` is set, and ``OTEL_SDK_DISABLED`` is
not ``true``. The OTLP exporter speaks HTTP/protobuf (``OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf``, the
default); it reads its endpoint, headers, timeout and compression from the standard variables itself, and
the SDK reads ``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_TRACES_SAMPLER`` and
``OTEL_BSP_*``.

When on: aiohttp server and client, asyncpg and redis are instrumented, and ``traceparent`` travels in the
headers of every JetStream message (``inject`` on publish, ``consumer_span`` on receipt). When off, the
hot paths pay one boolean check.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import Span, SpanKind

_state = {"on": False}
TRACER_NAME = "switchboard"


class TracingConfigError(RuntimeError):
    """An ``OTEL_*`` setting this build cannot honour; the message names it."""


def wanted(env: Mapping[str, str] | None = None) -> bool:
    """Whether the ``OTEL_*`` settings ask for traces."""
    env = os.environ if env is None else env
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = env.get("OTEL_TRACES_EXPORTER")
    if exporter is not None:
        return exporter.strip().lower() not in ("", "none")
    return bool(env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def enabled() -> bool:
    """Whether this process records spans (``configure`` switched tracing on)."""
    return _state["on"]


def configure(service: str, env: Mapping[str, str] | None = None, *, exporter: Any = None) -> bool:
    """Switch tracing on when the settings ask for it (or when ``exporter`` is given, as tests do).

    Returns whether tracing is now on. Safe to call more than once: the first provider stays.

    Raises:
        TracingConfigError: an exporter or protocol that is not shipped (``OTEL_TRACES_EXPORTER=zipkin``,
            ``OTEL_EXPORTER_OTLP_PROTOCOL=grpc``).
    """
    env = os.environ if env is None else env
    if exporter is None and not wanted(env):
        return False
    if _state["on"]:
        return True
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": env.get("OTEL_SERVICE_NAME")
                                                        or f"switchboard-{service}"}))
    if exporter is not None:  # tests: spans are exported as they end, so assertions see them at once
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        for name in (x.strip().lower() for x in env.get("OTEL_TRACES_EXPORTER", "otlp").split(",") if x.strip()):
            provider.add_span_processor(BatchSpanProcessor(_exporter(name, env)))
    trace.set_tracer_provider(provider)
    _instrument_libraries()
    _state["on"] = True
    return True


def _exporter(name: str, env: Mapping[str, str]) -> Any:
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if name != "otlp":
        raise TracingConfigError(f"OTEL_TRACES_EXPORTER={name!r} is not supported; use otlp, console or none")
    protocol = (env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
                or "http/protobuf").strip().lower()
    if protocol != "http/protobuf":
        raise TracingConfigError(f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r} is not supported; this build ships "
                                 "the http/protobuf OTLP exporter")
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()


def _instrument_libraries() -> None:
    from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    for instrumentor in (AioHttpClientInstrumentor(), AsyncPGInstrumentor(), RedisInstrumentor()):
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument()


def server_middleware() -> Any:
    """The aiohttp server middleware that opens a SERVER span per request (continuing a ``traceparent``)."""
    from opentelemetry.instrumentation.aiohttp_server import create_aiohttp_middleware

    return create_aiohttp_middleware()


def tracer() -> trace.Tracer:
    return trace.get_tracer(TRACER_NAME)


def inject(headers: MutableMapping[str, str]) -> MutableMapping[str, str]:
    """Add ``traceparent`` (and ``tracestate``) of the current span to message headers, when tracing is on."""
    if _state["on"]:
        propagate.inject(headers)
    return headers


@contextmanager
def consumer_span(name: str, headers: Mapping[str, str] | None, **attributes: Any) -> Iterator[Span | None]:
    """A CONSUMER span continuing the trace whose ``traceparent`` the message carries (no-op when off)."""
    if not _state["on"]:
        yield None
        return
    parent = propagate.extract(headers or {})
    with tracer().start_as_current_span(name, context=parent, kind=SpanKind.CONSUMER,
                                        attributes=attributes) as span:
        yield span


@contextmanager
def span(name: str, *, parent_headers: Mapping[str, str] | None = None, **attributes: Any) -> Iterator[Span | None]:
    """An INTERNAL span, child of the current one, or of ``parent_headers``' trace when given (no-op when off)."""
    if not _state["on"]:
        yield None
        return
    ctx = propagate.extract(parent_headers) if parent_headers else None
    with tracer().start_as_current_span(name, context=ctx, attributes=attributes) as current:
        yield current


def current_trace_id() -> str | None:
    """The current trace id as 32 hex digits, or None when tracing is off or no span is active."""
    if not _state["on"]:
        return None
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else None


def current_headers() -> dict[str, str]:
    """The current trace context as headers (empty when off), to remember and continue later."""
    return dict(inject({})) if _state["on"] else {}


def detach_all() -> None:
    """Forget the current context (a long-lived loop must not run inside a finished request's span)."""
    otel_context.attach(otel_context.Context())
