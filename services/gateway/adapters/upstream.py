"""HTTP client of the other services' internal APIs; their errors pass through in the one error shape."""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from yarl import URL

from libs.core.auth import Signer
from libs.core.errors import AppError, Transient
from libs.core.logging import get_logger
from services.gateway.adapters.ports import UpstreamError
from services.gateway.domain import Principal

__all__ = ["BadGateway", "Download", "Upstream", "UpstreamError", "is_json"]

log = get_logger(__name__)


class BadGateway(AppError):
    status = 502
    code = "bad_gateway"


@dataclass
class Download:
    """A successful answer that is not JSON (a file: an export, a template, an outcome), still open: the
    caller streams ``response.content`` to its own client and then releases it."""

    status: int
    headers: dict[str, str]
    response: aiohttp.ClientResponse

    def release(self) -> None:
        self.response.release()


PASSED_HEADERS = ("Content-Type", "Content-Disposition")


def is_json(content_type: str) -> bool:
    return content_type in ("", "application/json") or content_type.endswith("+json")


class Upstream:
    """One internal service, by name and base URL."""

    def __init__(self, session: aiohttp.ClientSession, name: str, base_url: str, timeout_s: float, *,
                 signer: Signer, scope: Callable[[Principal], Iterable[str] | None]) -> None:
        self._session = session
        self._signer = signer
        self._scope = scope
        self.name = name
        self.base_url = base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: Mapping[str, str] | None = None,
        caller: Principal | None = None,
    ) -> Any:
        """Call the service and return its JSON answer (``None`` for an empty body)."""
        return (await self.exchange(method, path, json_body=json_body, params=params, caller=caller))[1]

    async def exchange(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: Mapping[str, str] | None = None,
        caller: Principal | None = None,
        data: AsyncIterable[bytes] | None = None,
        content_type: str | None = None,
        downloads: bool = False,
    ) -> tuple[int, Any]:
        """Call the service; return its status and JSON answer (``None`` for an empty body).

        ``data`` streams a body that is not JSON (an upload) with its ``content_type``. With ``downloads``, a
        successful answer that is not JSON comes back as an open :class:`Download` instead of an error.

        The caller travels in a fresh internal token (``libs/core/auth.py``) addressed to this service: the
        user id, the role and the campaigns in the caller's scope (``scope``; every campaign for admins).
        Without a caller the gateway calls as its own service identity.

        Raises:
            UpstreamError: the service answered 4xx (or 503) in the error shape; passed through as is.
            Transient: the service is unreachable or timed out.
            BadGateway: the service answered 5xx or something that is not JSON.
        """
        url = f"{self.base_url}{path}"
        headers = {"Authorization": f"Bearer {self._token(caller)}"}
        if data is not None:
            headers["Content-Type"] = content_type or "application/octet-stream"
        # A download may take longer than a JSON answer: only connecting and each read are bounded then.
        timeout = (
            aiohttp.ClientTimeout(sock_connect=self._timeout.total, sock_read=self._timeout.total)
            if downloads or data is not None
            else self._timeout
        )
        try:
            # ``path`` is already percent-encoded segment by segment: sent as it is (never re-normalized).
            resp = await self._session.request(
                method, URL(url, encoded=True), json=json_body if data is None else None, data=data, params=params,
                headers=headers, timeout=timeout,
            )
            # A file: not JSON, or any type the service answers as an attachment (a customer's .json file).
            attachment = resp.headers.get("Content-Disposition", "").lower().startswith("attachment")
            if (downloads and resp.status < 400 and (attachment or not is_json(resp.content_type))
                    and resp.content_length != 0):
                passed = {h: resp.headers[h] for h in PASSED_HEADERS if h in resp.headers}
                return resp.status, Download(resp.status, passed, resp)
            try:
                raw = await resp.read()
                status = resp.status
            finally:
                resp.release()
        except (TimeoutError, aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
            log.warning("upstream_unreachable", upstream=self.name, url=url, error=repr(exc))
            raise Transient(f"the {self.name} service is unavailable") from exc
        body = _json(raw)
        if status < 400:
            if raw and body is _NOT_JSON:
                raise BadGateway(f"the {self.name} service answered something that is not JSON")
            return status, (None if body is _NOT_JSON else body)
        err = body.get("error") if isinstance(body, dict) else None
        if isinstance(err, dict) and (status < 500 or status == 503):
            return _raise(status, err)
        if status == 503:
            raise Transient(f"the {self.name} service is unavailable")
        if status < 500:
            raise UpstreamError(
                status, "upstream_error", f"the {self.name} service refused the request (HTTP {status})"
            )
        log.warning("upstream_failed", upstream=self.name, url=url, status=status)
        raise BadGateway(f"the {self.name} service failed (HTTP {status})")

    def _token(self, caller: Principal | None) -> str:
        if caller is None:
            return self._signer.for_service(self.name)
        return self._signer.for_user(self.name, caller.user_id, caller.role, self._scope(caller))

    async def get(self, path: str, params: Mapping[str, str] | None = None, *, caller: Principal | None = None) -> Any:
        return await self.request("GET", path, params=params, caller=caller)

    async def post(self, path: str, body: Any = None, *, caller: Principal | None = None) -> Any:
        return await self.request("POST", path, json_body=body, caller=caller)


_NOT_JSON = object()


def _json(raw: bytes) -> Any:
    if not raw:
        return _NOT_JSON
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return _NOT_JSON


def _raise(status: int, err: dict[str, Any]) -> Any:
    field = err.get("field")
    raise UpstreamError(
        status,
        str(err.get("code") or "upstream_error"),
        str(err.get("message") or ""),
        field=str(field) if field is not None else None,
        details=err.get("details"),
    )
