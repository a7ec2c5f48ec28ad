"""Blob store behind an interface: attachments, uploads and outcome files. Filesystem adapter for development."""

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

    def local_path(self, key: str) -> Path: ...

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
        if not KEY_RE.match(key) or ".." in key:
            raise ValueError(f"bad blob key {key!r}")
        return self.root / key

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
        async def one() -> AsyncIterator[bytes]:
            yield data

        return await self.put_stream(key, one(), max_bytes=len(data) + 1)

    async def open_stream(self, key: str) -> AsyncIterator[bytes]:  # type: ignore[override]
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
