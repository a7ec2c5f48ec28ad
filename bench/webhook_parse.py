"""What channels spends on one WhatsApp webhook before it publishes: the JSON, the Meta envelope, each item's
models, the sender's E.164 and the ``InboundMessage`` (process CPU per webhook, no server, one core).

Alternating rounds, so a busy machine moves both sides alike:
- ``walk``: a body with a ``\\u`` escape (each item's text walked for NUL and lone surrogates) against one
  without (the walk skipped, issue 19);
- ``e164``: the sender's E.164 through ``phonenumbers.parse`` every time (the LRU and the fast path bypassed)
  against the shipped path, for distinct senders (``bench.ingest``'s mix) and for senders writing 5 times
  (``bench.chaos``'s).

    python -m bench.webhook_parse [--webhooks 2000 --rounds 8]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

from libs.core.inputs import loads_json
from libs.core.validation import may_hold_unstorable
from libs.devstack.payloads import whatsapp_text
from services.channels.domain import addresses, whatsapp
from services.channels.domain.common import guarded

from ._common import machine, result


def _bodies(n: int, senders: int, escape: bool) -> list[bytes]:
    text = "hola é" if escape else "hola"  # the payload is ASCII JSON: "é" is sent as the escape \\u00e9
    return [whatsapp_text("demo-wa", f"54911{4000000 + i % senders:07d}", f"wamid.bench.{i}", f"{text} {i}")
            for i in range(n)]


def _library_e164(raw: str, assume_international: bool) -> str:
    """The sender's E.164 as channels made it before the LRU and the fast path: phonenumbers every time."""
    return addresses.possible_e164("+" + "".join(c for c in raw if c.isdigit()) if assume_international else raw)


@contextlib.contextmanager
def _slow_e164() -> Iterator[None]:
    shipped = addresses._e164
    addresses._e164 = _library_e164  # type: ignore[assignment]
    try:
        yield
    finally:
        addresses._e164 = shipped


def _cpu_per_webhook(bodies: list[bytes]) -> float:
    with contextlib.suppress(AttributeError):  # the LRU starts empty each round (the library path has none)
        addresses._e164.cache_clear()
    started = time.process_time()
    for raw in bodies:
        batch = guarded(whatsapp.parse, "demo-wa", loads_json(raw, storable=False), may_hold_unstorable(raw))
        assert len(batch.items) == 1 and not batch.rejected
    return (time.process_time() - started) / len(bodies) * 1e6


def _ab(rounds: int, a: Callable[[], float], b: Callable[[], float]) -> tuple[float, float]:
    xs: list[float] = []
    ys: list[float] = []
    for _ in range(rounds):
        xs.append(a())
        ys.append(b())
    return statistics.median(xs), statistics.median(ys)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--webhooks", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=8)
    args = parser.parse_args(argv)
    print(machine())
    n = args.webhooks
    distinct, escaped = _bodies(n, n, escape=False), _bodies(n, n, escape=True)
    repeating = _bodies(n, max(1, n // 5), escape=False)
    assert may_hold_unstorable(escaped[0]) and not may_hold_unstorable(distinct[0])
    _cpu_per_webhook(distinct[:200])  # imports, caches and pydantic's first calls out of the measurement
    gc.collect()
    gc.freeze()

    def slow(bodies: list[bytes]) -> Callable[[], float]:
        def run() -> float:
            with _slow_e164():
                return _cpu_per_webhook(bodies)
        return run

    walked, skipped = _ab(args.rounds, lambda: _cpu_per_webhook(escaped), lambda: _cpu_per_webhook(distinct))
    slow_distinct, fast_distinct = _ab(args.rounds, slow(distinct), lambda: _cpu_per_webhook(distinct))
    slow_repeat, fast_repeat = _ab(args.rounds, slow(repeating), lambda: _cpu_per_webhook(repeating))
    print(f"{n:,} webhooks per round, {args.rounds} alternating rounds, medians of process CPU per webhook")
    lines: list[Any] = [
        result("webhook_parse.with_text_walk", walked, "us", "- (a body with a \\u escape)"),
        result("webhook_parse.without_text_walk", skipped, "us", "- (a body without)"),
        result("webhook_parse.e164_library_distinct", slow_distinct, "us", "- (phonenumbers for every sender)"),
        result("webhook_parse.e164_shipped_distinct", fast_distinct, "us", "- (fast path; distinct senders)"),
        result("webhook_parse.e164_library_repeating", slow_repeat, "us", "- (phonenumbers; 5 per sender)"),
        result("webhook_parse.e164_shipped_repeating", fast_repeat, "us", "- (fast path and LRU; 5 per sender)"),
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
