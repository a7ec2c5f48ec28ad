"""Blob store behind an interface: attachments, uploads and outcome files. Filesystem adapter (S3 in ``s3.py``)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from libs.core.errors import Invalid, NotFound

CHUNK = 256 * 1024
KEY_RE = re.compile(r"^[a-z0-9][a-z0-9/_.\-]{0,300}$")


def check_key(key: str) -> str:
    """The key itself if it is one the CRM may use (``[a-z0-9/_.-]``, no ``..``), else ValueError."""
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


class BlobStore(Protocol):
    """Where files live. Keys are ``[a-z0-9/_.-]`` paths chosen by the CRM, never by users."""

    async def put_stream(self, key: str, chunks: AsyncIterator[bytes], *, max_bytes: int) -> BlobInfo: ...

    async def put(self, key: str, data: bytes) -> BlobInfo: ...

    def open_stream(self, key: str) -> AsyncIterator[bytes]: ...

    def local_path(self, key: str) -> Path:
        """The blob as a seekable local file (the import readers need one); may block to fetch it."""
        ...

    async def fetch_local(self, key: str) -> Path:
        """Like ``local_path`` without blocking the event loop: fetches the blob first if it is remote."""
        ...

    async def size(self, key: str) -> int: ...

    async def delete(self, key: str) -> None: ...


class TooLarge(Invalid):
    status = 413
    code = "too_large"


class FilesystemBlobStore:
    """Blobs as files under a root folder; writes go to a temp name and are renamed when complete."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def local_path(self, key: str) -> Path:
        return self.root / check_key(key)

    async def fetch_local(self, key: str) -> Path:
        path = self.local_path(key)
        if not path.exists():
            raise NotFound(f"file {key} not found")
        return path

    async def put_stream(self, key: str, chunks: AsyncIterator[bytes], *, max_bytes: int) -> BlobInfo:
        path = self.local_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part")
        digest, size = hashlib.sha256(), 0
        try:
            with tmp.open("wb") as fh:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > max_bytes:
                        raise TooLarge(f"file is larger than {max_bytes // (1024 * 1024)} MB", field="file")
                    digest.update(chunk)
                    await asyncio.to_thread(fh.write, chunk)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return BlobInfo(key, size, digest.hexdigest())

    async def put(self, key: str, data: bytes) -> BlobInfo:
        return await self.put_stream(key, one_chunk(data), max_bytes=len(data) + 1)

    async def open_stream(self, key: str) -> AsyncIterator[bytes]:
        path = self.local_path(key)
        if not path.exists():
            raise NotFound(f"file {key} not found")
        with path.open("rb") as fh:
            while chunk := await asyncio.to_thread(fh.read, CHUNK):
                yield chunk

    async def size(self, key: str) -> int:
        path = self.local_path(key)
        if not path.exists():
            raise NotFound(f"file {key} not found")
        return path.stat().st_size

    async def delete(self, key: str) -> None:
        self.local_path(key).unlink(missing_ok=True)
