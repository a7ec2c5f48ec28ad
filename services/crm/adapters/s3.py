"""S3-compatible blob store: the S3 REST API, signed with AWS Signature V4, over aiohttp, path-style addressing."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import secrets
import shutil
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Any
from urllib.parse import quote

import aiohttp
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)
from yarl import URL

from libs.core.errors import AppError, NotFound, Transient
from libs.core.logging import get_logger
from services.crm.adapters.blobs import CHUNK, BlobInfo, TooLarge, check_key, one_chunk

log = get_logger(__name__)

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
MIN_PART = 5 * 1024 * 1024  # S3 refuses smaller parts, except the last one
ALGORITHM = "AWS4-HMAC-SHA256"


class BlobStoreFailed(AppError):
    """The S3 store refused a request for a reason retrying will not fix (credentials, bucket, permissions)."""

    status = 502
    code = "blob_store_failed"


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str = field(repr=False)
    region: str
    service: str = "s3"


def _uri_encode(text: str, safe: str = "") -> str:
    return quote(text, safe="-_.~" + safe)


def canonical_request(method: str, path: str, query: Iterable[tuple[str, str]], headers: dict[str, str],
                      payload_sha256: str) -> tuple[str, str]:
    """The canonical request of SigV4 for S3 (each path segment encoded once) and its signed-header list.

    ``path`` is the URI path as sent (already percent-encoded); ``headers`` are all signed.
    """
    pairs = sorted((_uri_encode(k), _uri_encode(v)) for k, v in query)
    canon_headers = {k.lower(): " ".join(v.split()) for k, v in headers.items()}
    names = sorted(canon_headers)
    signed = ";".join(names)
    lines = [method, path, "&".join(f"{k}={v}" for k, v in pairs),
             *(f"{n}:{canon_headers[n]}" for n in names), "", signed, payload_sha256]
    return "\n".join(lines), signed


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def authorization(creds: Credentials, amz_date: str, canonical: str, signed_headers: str) -> str:
    """The ``Authorization`` header value for a canonical request signed at ``amz_date`` (``YYYYMMDDTHHMMSSZ``)."""
    day = amz_date[:8]
    scope = f"{day}/{creds.region}/{creds.service}/aws4_request"
    to_sign = "\n".join([ALGORITHM, amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(f"AWS4{creds.secret_key}".encode(), day)
    for part in (creds.region, creds.service, "aws4_request"):
        key = _hmac(key, part)
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return f"{ALGORITHM} Credential={creds.access_key}/{scope}, SignedHeaders={signed_headers}, Signature={signature}"


def _amz_now() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def _xml_texts(body: bytes, *names: str) -> dict[str, str]:
    """The text of the first element of each local ``name`` in an S3 XML answer (namespaces ignored)."""
    found: dict[str, str] = {}
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return found
    for el in root.iter():
        local = el.tag.rpartition("}")[2]
        if local in names and local not in found:
            found[local] = el.text or ""
    return found


class S3BlobStore:
    """Blobs as objects of one bucket of an S3-compatible store (AWS S3, MinIO, Ceph RGW, R2...).

    Writes are atomic in S3 (a single PUT, or a multipart upload completed at the end and aborted on any
    failure), so a key never holds half a file. Keys under ``cache_prefixes`` are also written to
    ``cache_dir`` while they are uploaded, because the import readers need them as seekable local files
    (``local_path``); any other key is downloaded there on demand (``fetch_local``).
    """

    def __init__(self, *, endpoint: str, bucket: str, region: str, access_key: str, secret_key: str,
                 cache_dir: str | Path, cache_prefixes: tuple[str, ...] = ("uploads/",),
                 part_size: int = 8 * 1024 * 1024, attempts: int = 3) -> None:
        if part_size < MIN_PART:
            raise ValueError(f"part_size must be at least {MIN_PART} bytes (S3's minimum part)")
        self.base = URL(endpoint.rstrip("/"))
        if self.base.scheme not in ("http", "https") or not self.base.host:
            raise ValueError(f"S3 endpoint must be an http(s) URL, got {endpoint!r}")
        self.bucket = bucket
        self.creds = Credentials(access_key, secret_key, region)
        self.cache = Path(cache_dir).resolve()
        self.cache_prefixes = cache_prefixes
        self.part_size = part_size
        self.attempts = attempts
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> S3BlobStore:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, connect=10, sock_read=60),
                                              auto_decompress=False)
        return self

    async def __aexit__(self, et: type[BaseException] | None, e: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- signing and errors -------------------------------------------------------------------------------

    def _signed(self, method: str, key: str | None, query: tuple[tuple[str, str], ...] = (),
                payload_sha256: str = EMPTY_SHA256, extra: dict[str, str] | None = None) -> tuple[URL, dict[str, str]]:
        path = "/" + _uri_encode(self.bucket) + ("/" + _uri_encode(check_key(key), "/") if key is not None else "")
        path = self.base.raw_path.rstrip("/") + path
        qs = "&".join(f"{_uri_encode(k)}={_uri_encode(v)}" for k, v in query)
        url = URL(str(self.base.origin()) + path + (f"?{qs}" if qs else ""), encoded=True)
        headers = {"host": self.base.raw_authority, "x-amz-date": _amz_now(),
                   "x-amz-content-sha256": payload_sha256, **(extra or {})}
        canonical, signed = canonical_request(method, path, query, headers, payload_sha256)
        headers["Authorization"] = authorization(self.creds, headers["x-amz-date"], canonical, signed)
        return url, headers

    def _error(self, method: str, key: str | None, status: int, body: bytes) -> AppError:
        info = _xml_texts(body, "Code", "Message")
        code, message = info.get("Code", ""), info.get("Message", "")
        what = f"S3 {method} {self.bucket}/{key or ''}"
        detail = f"{status} {code}: {message}".strip().rstrip(":")
        if code == "NoSuchBucket":
            return BlobStoreFailed(f"the S3 bucket {self.bucket!r} does not exist at {self.base} ({what})")
        if status == 404 and key is not None:
            return NotFound(f"file {key} not found")
        if status >= 500 or status == 429 or code in ("SlowDown", "RequestTimeout"):
            return Transient(f"{what} failed: {detail}")
        if status in (401, 403):
            return BlobStoreFailed(f"{what} was refused ({detail}): check SB_CRM_S3_ACCESS_KEY, "
                                   "SB_CRM_S3_SECRET_KEY, SB_CRM_S3_REGION and the bucket's permissions")
        return BlobStoreFailed(f"{what} failed: {detail}")

    async def _send(self, method: str, key: str | None, *, query: tuple[tuple[str, str], ...] = (),
                    body: bytes = b"", payload_sha256: str | None = None, extra: dict[str, str] | None = None
                    ) -> aiohttp.ClientResponse:
        """One signed request, retried on 5xx / 429 / connection errors; the response is ready (2xx), unread."""
        assert self._session is not None, "use the store inside 'async with'"
        sha = payload_sha256 or (hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256)
        async for attempt in AsyncRetrying(stop=stop_after_attempt(self.attempts) | stop_after_delay(20),
                                           wait=wait_random_exponential(multiplier=0.2, max=2),
                                           retry=retry_if_exception_type(Transient), reraise=True):
            with attempt:
                url, headers = self._signed(method, key, query, sha, extra)
                try:
                    resp = await self._session.request(method, url, headers=headers, allow_redirects=False,
                                                       data=body if method in ("PUT", "POST") else None)
                except (aiohttp.ClientConnectionError, TimeoutError) as e:
                    raise Transient(f"S3 {method} {self.bucket}/{key or ''} failed: {e!r}") from e
                if resp.status >= 300:
                    async with resp:
                        raise self._error(method, key, resp.status, await resp.read())
                return resp
        raise AssertionError("unreachable")

    async def _call(self, method: str, key: str | None, **kw: Any) -> tuple[aiohttp.ClientResponse, bytes]:
        resp = await self._send(method, key, **kw)
        async with resp:
            return resp, await resp.read()

    # -- the BlobStore protocol ---------------------------------------------------------------------------

    async def put_stream(self, key: str, chunks: AsyncIterator[bytes], *, max_bytes: int) -> BlobInfo:
        check_key(key)
        digest, size = hashlib.sha256(), 0
        cached = key.startswith(self.cache_prefixes)
        tmp = self._cache_path(key).with_name(f"{Path(key).name}.{secrets.token_hex(6)}.part")
        fh: IO[bytes] | None = None
        buf = bytearray()
        upload_id: str | None = None
        parts: list[tuple[int, str]] = []
        try:
            if cached:
                tmp.parent.mkdir(parents=True, exist_ok=True)
                fh = tmp.open("wb")
            async for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise TooLarge(f"file is larger than {max_bytes // (1024 * 1024)} MB", field="file")
                digest.update(chunk)
                buf += chunk
                if fh is not None:
                    await asyncio.to_thread(fh.write, chunk)
                if len(buf) >= self.part_size:
                    if upload_id is None:
                        upload_id = await self._create_multipart(key)
                    parts.append(await self._upload_part(key, upload_id, len(parts) + 1, bytes(buf)))
                    buf.clear()
            if upload_id is None:
                await self._call("PUT", key, body=bytes(buf), payload_sha256=await _sha256(bytes(buf)))
            else:
                if buf:
                    parts.append(await self._upload_part(key, upload_id, len(parts) + 1, bytes(buf)))
                await self._complete_multipart(key, upload_id, parts)
                upload_id = None
            if fh is not None:
                fh.close()
                os.replace(tmp, self._cache_path(key))
        except BaseException:
            if upload_id is not None:
                await asyncio.shield(self._abort_multipart(key, upload_id))
            raise
        finally:
            if fh is not None:
                fh.close()
                tmp.unlink(missing_ok=True)
        return BlobInfo(key, size, digest.hexdigest())

    async def put(self, key: str, data: bytes) -> BlobInfo:
        return await self.put_stream(key, one_chunk(data), max_bytes=len(data) + 1)

    async def open_stream(self, key: str) -> AsyncIterator[bytes]:
        resp = await self._send("GET", key)
        try:
            async for chunk in resp.content.iter_chunked(CHUNK):
                yield chunk
        finally:
            resp.release()  # closes the connection instead if the reader stopped early

    async def size(self, key: str) -> int:
        resp, _ = await self._call("HEAD", key)
        return int(resp.headers["Content-Length"])

    async def delete(self, key: str) -> None:
        await self._call("DELETE", key)
        self._cache_path(key).unlink(missing_ok=True)

    def local_path(self, key: str) -> Path:
        """The object as a local file: from the cache, or downloaded now, blocking (prefer ``fetch_local``)."""
        path = self._cache_path(key)
        if not path.exists():
            log.warning("blob_cache_miss_blocking_download", key=key)
            self._download_blocking(key, path)
        return path

    async def fetch_local(self, key: str) -> Path:
        """The object as a local file: from the cache, or downloaded into it first."""
        path = self._cache_path(key)
        if path.exists():
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{secrets.token_hex(6)}.part")
        try:
            with tmp.open("wb") as fh:
                async for chunk in self.open_stream(key):
                    await asyncio.to_thread(fh.write, chunk)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return path

    # -- helpers ------------------------------------------------------------------------------------------

    def _cache_path(self, key: str) -> Path:
        return self.cache / check_key(key)

    async def _create_multipart(self, key: str) -> str:
        _, body = await self._call("POST", key, query=(("uploads", ""),))
        upload_id = _xml_texts(body, "UploadId").get("UploadId")
        if not upload_id:
            raise BlobStoreFailed(f"S3 did not start a multipart upload of {key}: {body[:200]!r}")
        return upload_id

    async def _upload_part(self, key: str, upload_id: str, number: int, data: bytes) -> tuple[int, str]:
        resp, _ = await self._call("PUT", key, query=(("partNumber", str(number)), ("uploadId", upload_id)),
                                   body=data, payload_sha256=await _sha256(data))
        return number, resp.headers["ETag"]

    async def _complete_multipart(self, key: str, upload_id: str, parts: list[tuple[int, str]]) -> None:
        xml = "".join(f"<Part><PartNumber>{n}</PartNumber><ETag>{_xml_escape(etag)}</ETag></Part>"
                      for n, etag in parts)
        body = f"<CompleteMultipartUpload>{xml}</CompleteMultipartUpload>".encode()
        _, answer = await self._call("POST", key, query=(("uploadId", upload_id),), body=body,
                                     extra={"content-type": "application/xml"})
        # S3 may answer 200 and still fail the completion: the error is then in the body.
        failed = _xml_texts(answer, "Error", "Code")
        if "Error" in failed:
            raise self._error("POST", key, 500 if failed.get("Code") in ("InternalError", "SlowDown") else 400, answer)

    async def _abort_multipart(self, key: str, upload_id: str) -> None:
        try:
            await self._call("DELETE", key, query=(("uploadId", upload_id),))
        except AppError as e:  # the bucket's lifecycle rule for incomplete uploads is the backstop
            log.warning("s3_abort_multipart_failed", key=key, error=e.message)

    def _download_blocking(self, key: str, path: Path) -> None:
        url, headers = self._signed("GET", key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{secrets.token_hex(6)}.part")
        try:
            with urllib.request.urlopen(urllib.request.Request(str(url), headers=headers), timeout=60) as resp, \
                    tmp.open("wb") as fh:
                shutil.copyfileobj(resp, fh, CHUNK)
            os.replace(tmp, path)
        except urllib.error.HTTPError as e:
            raise self._error("GET", key, e.code, e.read()) from None
        finally:
            tmp.unlink(missing_ok=True)


async def _sha256(data: bytes) -> str:
    """The payload hash; off the event loop for whole parts (megabytes)."""
    if len(data) < 1024 * 1024:
        return hashlib.sha256(data).hexdigest()
    return await asyncio.to_thread(lambda: hashlib.sha256(data).hexdigest())


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
