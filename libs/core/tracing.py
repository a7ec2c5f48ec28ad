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
from collections import OrderedDict
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.trace import Span, SpanKind

_state: dict[str, Any] = {"on": False, "provider": None}
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

    provider = _state["provider"]
    if provider is None:  # the global provider can be set once per process
        provider = TracerProvider(resource=Resource.create({"service.name": env.get("OTEL_SERVICE_NAME")
                                                            or f"switchboard-{service}"}))
        trace.set_tracer_provider(provider)
        _state["provider"] = provider
    if exporter is not None:  # tests: spans are exported as they end, so assertions see them at once
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        for name in (x.strip().lower() for x in env.get("OTEL_TRACES_EXPORTER", "otlp").split(",") if x.strip()):
            provider.add_span_processor(BatchSpanProcessor(_exporter(name, env)))
    _instrument_libraries()
    _state["on"] = True
    return True


def switch_off() -> None:
    """Stop recording (tests that switched tracing on for themselves): no spans, libraries uninstrumented.

    Spans already started finish normally; exporters added stay attached but receive nothing new.
    """
    _state["on"] = False
    for instrumentor in _instrumentors():
        if instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()


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


# Probes and scrapes make no spans unless the operator says otherwise.
EXCLUDED_URLS = "/healthz,/readyz,/metrics"


def _instrumentors() -> list[Any]:
    from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
    from opentelemetry.instrumentation.aiohttp_server import AioHttpServerInstrumentor
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    return [AioHttpServerInstrumentor(), AioHttpClientInstrumentor(), AsyncPGInstrumentor(), RedisInstrumentor()]


def _instrument_libraries() -> None:
    # The server instrumentor makes every aiohttp ``web.Application`` created from now on open a SERVER span
    # per request (continuing an incoming ``traceparent``): configure before building the app.
    os.environ.setdefault("OTEL_PYTHON_AIOHTTP_SERVER_EXCLUDED_URLS", EXCLUDED_URLS)
    for instrumentor in _instrumentors():
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument()


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


class ContextMemory:
    """The last trace context seen per key (a conversation), bounded, so later work on the same key (the
    agent's reply) continues the trace of the message that started it. Empty while tracing is off."""

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._items: OrderedDict[str, dict[str, str]] = OrderedDict()

    def remember(self, key: str, headers: Mapping[str, str] | None) -> None:
        if not _state["on"] or not headers or "traceparent" not in headers:
            return
        self._items[key] = {k: headers[k] for k in ("traceparent", "tracestate") if k in headers}
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def get(self, key: str) -> dict[str, str] | None:
        return self._items.get(key)
