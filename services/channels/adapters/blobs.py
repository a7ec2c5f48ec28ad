"""The local blob folder: attachments stored by content hash and travelling only as references."""

from __future__ import annotations

import asyncio
import hashlib
import re
from pathlib import Path

from libs.contracts import MediaRef

_SHA = re.compile(r"^[0-9a-f]{64}$")
PREFIX = "blob:"


class BlobStore:
    """Content-addressed files under ``root``: ``<root>/<sha[:2]>/<sha>``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, sha: str) -> Path:
        return self.root / sha[:2] / sha

    async def put(self, data: bytes, *, mime_type: str, filename: str | None) -> MediaRef:
        sha = hashlib.sha256(data).hexdigest()
        await asyncio.to_thread(self._write, sha, data)
        major = mime_type.split("/", 1)[0]
        return MediaRef(kind=major if major in ("image", "audio", "video") else "file", url=f"{PREFIX}{sha}",
                        provider_id=sha, mime_type=mime_type, filename=filename)

    def _write(self, sha: str, data: bytes) -> None:
        path = self._path(sha)
        if path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)

    async def get(self, ref: str) -> bytes | None:
        """The bytes of ``blob:<sha>`` (or a bare sha); ``None`` when unknown."""
        sha = ref.removeprefix(PREFIX)
        if not _SHA.match(sha):
            return None
        path = self._path(sha)
        return await asyncio.to_thread(path.read_bytes) if path.exists() else None
