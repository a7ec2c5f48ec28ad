"""One blob store for every service: a folder in development, an object store in production.

Both sides are `obstore <https://developmental-seed.github.io/obstore/>`_ stores behind one class, so the
code that writes attachments, uploads and outcome files is the same everywhere:

- ``SB_BLOB_URL`` empty: a ``LocalStore`` under the service's ``blob_dir`` (development and tests);
- ``s3://bucket[/prefix]`` (any S3-compatible store, ``SB_BLOB_ENDPOINT`` for MinIO, Ceph or R2),
  ``gs://bucket``, ``az://container``: obstore's S3, GCS or Azure store. Credentials come from each cloud's
  standard chain, never from our settings: for S3 the ``AWS_*`` variables, web identity
  (``AWS_WEB_IDENTITY_TOKEN_FILE`` + ``AWS_ROLE_ARN``, as EKS IRSA and pod identity set them), the ECS
  container endpoint and the instance metadata service; GKE and Azure workload identity for ``gs://`` and
  ``az://``.
- ``file:///absolute/path``: a folder, explicitly (one node with a persistent volume).

In production an empty ``SB_BLOB_URL`` is refused at startup: a pod's own disk would hold blobs that the
other replicas cannot see.

Writes are atomic (one PUT, or a multipart upload completed at the end and aborted on failure; a folder
store writes a temporary file and renames it), so a key never holds half a file.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

import obstore
from obstore import exceptions as obx
from obstore.store import LocalStore, ObjectStore, from_url

from libs.core.errors import AppError, Invalid, NotFound, Transient
from libs.core.logging import get_logger
from libs.core.settings import ServiceSettings

log = get_logger(__name__)

CHUNK = 256 * 1024
MIN_PART = 5 * 1024 * 1024  # S3 refuses smaller parts, except the last one
KEY_RE = re.compile(r"^[a-z0-9][a-z0-9/_.\-]{0,300}$")


def check_key(key: str) -> str:
    """The key itself if it is one a service may use (``[a-z0-9/_.-]``, no ``..``), else ValueError."""
    if not KEY_RE.match(key) or ".." in key:
        raise ValueError(f"bad blob key {key!r}")
    return key


async def one_chunk(data: bytes) -> AsyncIterator[bytes]:
    """Bytes already in memory as the stream ``put_stream`` takes."""
    yield data


@dataclass(frozen=True)
class BlobInfo:
    key: str
    size: int
    sha256: str


class TooLarge(Invalid):
    status = 413
    code = "too_large"


class BlobStoreFailed(AppError):
    """The object store refused a request for a reason retrying will not fix (credentials, bucket, permissions)."""

    status = 502
    code = "blob_store_failed"


class BlobStore:
    """Blobs in an obstore ``ObjectStore``; keys are ``[a-z0-9/_.-]`` paths chosen by the services, never users.

    Keys under ``cache_prefixes`` are also written to ``cache_dir`` while they are uploaded, because the import
    readers need them as seekable local files (``fetch_local``); any other key is downloaded there on demand.
    A folder store needs no cache: ``fetch_local`` is the file itself.
    """

    def __init__(self, store: ObjectStore, *, cache_dir: str | Path, location: str,
                 cache_prefixes: tuple[str, ...] = ("uploads/",), part_size: int = 8 * 1024 * 1024,
                 root: Path | None = None) -> None:
        if part_size < MIN_PART:
            raise ValueError(f"part_size must be at least {MIN_PART} bytes (S3's minimum part)")
        self.store = store
        self.location = location
        self.cache = Path(cache_dir).resolve()
        self.cache_prefixes = cache_prefixes
        self.part_size = part_size
        self.root = root  # set for a folder store: the files are already local

    # -- construction ---------------------------------------------------------------------------------------

    @classmethod
    def folder(cls, root: str | Path, **kw: Any) -> BlobStore:
        path = Path(root).resolve()
        path.mkdir(parents=True, exist_ok=True)
        return cls(LocalStore(path, mkdir=True), cache_dir=path, location=str(path), root=path, **kw)

    @classmethod
    def from_url(cls, url: str, *, blob_dir: str | Path, endpoint: str = "", region: str = "",
                 production: bool = False, attempts: int = 3, timeout_s: float = 60.0,
                 trust_any_certificate: bool = False, **kw: Any) -> BlobStore:
        """The store ``SB_BLOB_URL`` names (see the module doc); ``blob_dir`` is the folder or the local cache.

        Raises:
            ValueError: no URL in production, a relative ``file://`` path, or a scheme obstore does not know.
        """
        if not url:
            if production:
                raise ValueError("SB_BLOB_URL must name an object store in production (s3://bucket, gs://bucket, "
                                 "az://container): a pod's own disk holds blobs the other replicas cannot see")
            return cls.folder(blob_dir, **kw)
        if url.startswith("file:"):
            path = url.removeprefix("file://")
            if not path.startswith("/"):
                raise ValueError(f"SB_BLOB_URL {url!r}: a file:// URL needs an absolute path")
            return cls.folder(path, **kw)
        options: dict[str, Any] = {}
        if endpoint:
            options["endpoint"] = endpoint
        if region:
            options["region"] = region
        client: dict[str, Any] = {"timeout": timedelta(seconds=timeout_s), "connect_timeout": timedelta(seconds=10)}
        if endpoint.startswith("http://"):
            client["allow_http"] = True
        if trust_any_certificate:  # tests only: local peers with self-signed certificates
            client["allow_invalid_certificates"] = True
        retry = {"max_retries": max(attempts - 1, 0), "retry_timeout": timedelta(seconds=20),
                 "backoff": {"init_backoff": timedelta(milliseconds=200), "max_backoff": timedelta(seconds=2),
                             "base": 2}}
        try:
            store = from_url(url, client_options=client, retry_config=retry, **options)  # type: ignore[call-overload]
        except (obx.BaseError, ValueError) as exc:
            raise ValueError(f"SB_BLOB_URL {url!r}: {exc}") from exc
        return cls(store, cache_dir=blob_dir, location=url, **kw)

    @classmethod
    def from_settings(cls, settings: ServiceSettings, blob_dir: str | Path, **kw: Any) -> BlobStore:
        """The store ``SB_BLOB_URL`` / ``SB_BLOB_ENDPOINT`` / ``SB_BLOB_REGION`` name for this service."""
        return cls.from_url(settings.blob_url, blob_dir=blob_dir, endpoint=settings.blob_endpoint,
                            region=settings.blob_region, production=settings.env == "production", **kw)

    # -- errors ---------------------------------------------------------------------------------------------

    @contextmanager
    def _errors(self, what: str, key: str) -> Iterator[None]:
        try:
            yield
        except (FileNotFoundError, obx.NotFoundError) as exc:
            if "NoSuchBucket" in str(exc):
                raise BlobStoreFailed(f"the bucket of {self.location} does not exist ({what} {key})") from exc
            raise NotFound(f"file {key} not found") from exc
        except (obx.PermissionDeniedError, obx.UnauthenticatedError) as exc:
            raise BlobStoreFailed(f"{what} {key} at {self.location} was refused ({_first_line(exc)}): check the "
                                  "credentials (AWS_* variables, web identity, instance role) and the bucket's "
                                  "permissions") from exc
        except obx.GenericError as exc:
            text = str(exc)
            if "NoSuchBucket" in text:
                raise BlobStoreFailed(f"the bucket of {self.location} does not exist ({what} {key})") from exc
            if _transient(text):
                raise Transient(f"{what} {key} at {self.location} failed: {_first_line(exc)}") from exc
            raise BlobStoreFailed(f"{what} {key} at {self.location} failed: {_first_line(exc)}") from exc
        except obx.BaseError as exc:
            raise BlobStoreFailed(f"{what} {key} at {self.location} failed: {_first_line(exc)}") from exc

    # -- writing --------------------------------------------------------------------------------------------

    async def put_stream(self, key: str, chunks: AsyncIterator[bytes], *, max_bytes: int) -> BlobInfo:
        """Store a stream under ``key``; ``TooLarge`` (413) past ``max_bytes``, and then nothing is left behind."""
        check_key(key)
        digest, size = hashlib.sha256(), 0
        cached = self.root is None and key.startswith(self.cache_prefixes)
        target = self._cache_path(key)
        tmp = target.with_name(f"{target.name}.{secrets.token_hex(6)}.part")
        fh: IO[bytes] | None = None

        async def counted() -> AsyncIterator[bytes]:
            nonlocal size
            async for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise TooLarge(f"file is larger than {max_bytes // (1024 * 1024)} MB", field="file")
                digest.update(chunk)
                if fh is not None:
                    await asyncio.to_thread(fh.write, chunk)
                yield chunk

        try:
            if cached:
                tmp.parent.mkdir(parents=True, exist_ok=True)
                fh = tmp.open("wb")
            with self._errors("PUT", key):
                await obstore.put_async(self.store, key, counted(), chunk_size=self.part_size, max_concurrency=4)
            if fh is not None:
                fh.close()
                os.replace(tmp, target)
        finally:
            if fh is not None:
                fh.close()
                tmp.unlink(missing_ok=True)
        return BlobInfo(key, size, digest.hexdigest())

    async def put(self, key: str, data: bytes) -> BlobInfo:
        """Store bytes already in memory: one PUT when they fit in a part."""
        if len(data) >= self.part_size or (self.root is None and key.startswith(self.cache_prefixes)):
            return await self.put_stream(key, one_chunk(data), max_bytes=len(data) + 1)
        with self._errors("PUT", check_key(key)):
            await obstore.put_async(self.store, key, data, use_multipart=False)
        return BlobInfo(key, len(data), hashlib.sha256(data).hexdigest())

    async def delete(self, key: str) -> None:
        """Remove a key; removing a missing one is fine."""
        check_key(key)
        try:
            with self._errors("DELETE", key):
                await obstore.delete_async(self.store, key)
        except NotFound:
            pass
        if self.root is None:
            self._cache_path(key).unlink(missing_ok=True)

    # -- reading --------------------------------------------------------------------------------------------

    async def open_stream(self, key: str) -> AsyncIterator[bytes]:
        check_key(key)
        with self._errors("GET", key):
            result = await obstore.get_async(self.store, key)
            async for chunk in result.stream(min_chunk_size=CHUNK):
                yield bytes(chunk)

    async def get(self, key: str) -> bytes:
        """The whole blob in memory (for small ones: e-mail attachments)."""
        return b"".join([chunk async for chunk in self.open_stream(key)])

    async def size(self, key: str) -> int:
        check_key(key)
        with self._errors("HEAD", key):
            return int((await obstore.head_async(self.store, key))["size"])

    async def exists(self, key: str) -> bool:
        try:
            await self.size(key)
        except NotFound:
            return False
        return True

    async def fetch_local(self, key: str) -> Path:
        """The blob as a local, seekable file: the file itself, the cached copy, or a fresh download."""
        path = self._cache_path(key)
        if self.root is not None:
            if not path.exists():
                raise NotFound(f"file {key} not found")
            return path
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

    def _cache_path(self, key: str) -> Path:
        return self.cache / check_key(key)


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__


_TRANSIENT = ("connection", "timed out", "timeout", "error sending request", "503", "500 ", "SlowDown",
              "dns error", "tcp connect")


def _transient(text: str) -> bool:
    lowered = text.lower()
    return any(t.lower() in lowered for t in _TRANSIENT)


