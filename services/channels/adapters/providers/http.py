"""Provider HTTP calls with bounded tenacity retries on 5xx, 429 and timeouts, honouring ``Retry-After``."""

from __future__ import annotations

import json
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import aiohttp
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)

from libs.core.errors import Transient
from libs.core.logging import get_logger

log = get_logger(__name__)
T = TypeVar("T")


class RetryableStatus(Exception):
    """The provider answered 5xx or 429: worth another try, after ``retry_after`` seconds if it said so."""

    def __init__(self, status: int, text: str, retry_after: float | None) -> None:
        super().__init__(f"HTTP {status}: {text[:300]}")
        self.status = status
        self.text = text
        self.retry_after = retry_after


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    max_wait_s: float = 10.0
    max_total_s: float = 60.0


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            return None

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")[:1000]


def retry_after_s(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds: either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _wait(policy: RetryPolicy) -> Any:
    backoff = wait_random_exponential(multiplier=0.2, max=policy.max_wait_s)

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RetryableStatus) and exc.retry_after is not None:
            # What the provider asked for, plus a little jitter, within our bound.
            return min(exc.retry_after + random.uniform(0, 0.1 + exc.retry_after * 0.1), policy.max_wait_s)
        return float(backoff(state))

    return wait


async def retrying(call: Callable[[], Awaitable[T]], policy: RetryPolicy,
                   retry_on: tuple[type[BaseException], ...]) -> T:
    """Run ``call`` until it succeeds, retrying ``retry_on`` errors within ``policy``, with jitter.

    Raises:
        Transient: it kept failing; the command should be retried later.
    """
    errors: tuple[type[BaseException], ...] = (RetryableStatus, *retry_on)
    try:
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(errors),
            stop=stop_after_attempt(policy.attempts) | stop_after_delay(policy.max_total_s),
            wait=_wait(policy),
            reraise=True,
            before_sleep=lambda state: log.info("provider_retry", attempt=state.attempt_number,
                                                error=repr(state.outcome.exception() if state.outcome else None)),
        ):
            with attempt:
                return await call()
    except errors as exc:
        # Beyond our in-process bound, the redelivery waits for what the provider asked, not less.
        asked = exc.retry_after if isinstance(exc, RetryableStatus) else None
        raise Transient(f"provider kept failing: {type(exc).__name__}: {exc}", retry_after_s=asked) from exc
    raise AssertionError("unreachable")


async def request(session: aiohttp.ClientSession, method: str, url: str, policy: RetryPolicy,
                  **kwargs: Any) -> Reply:
    """Send a request; retry 5xx, 429, timeouts and connection errors within ``policy``.

    Returns the final reply when it is 2xx, 3xx or 4xx (other than 429): the caller decides what a 4xx means.

    Raises:
        Transient: the provider kept failing; the command should be retried later.
    """

    async def once() -> Reply:
        async with session.request(method, url, **kwargs) as resp:
            body = await resp.read()
            if resp.status == 429 or resp.status >= 500:
                raise RetryableStatus(resp.status, body.decode(errors="replace"),
                                      retry_after_s(resp.headers.get("Retry-After")))
            return Reply(resp.status, body)

    return await retrying(once, policy, (aiohttp.ClientError, TimeoutError))
