"""E-mail attachments in the shared blob store (``libs.storage.blobs``), by content hash, travelling only as
``blob:<sha256>`` references. Every replica reads what any replica wrote: the store is S3 (or GCS, Azure) in
production and a folder in development."""

from __future__ import annotations

import hashlib
import re

from libs.contracts import MediaRef
from libs.core.errors import NotFound
from libs.storage.blobs import BlobStore

_SHA = re.compile(r"^[0-9a-f]{64}$")
PREFIX = "blob:"
KEY_PREFIX = "media"


class MediaBlobs:
    """Content-addressed media: ``media/<sha[:2]>/<sha>`` in the store."""

    def __init__(self, store: BlobStore) -> None:
        self.store = store

    @staticmethod
    def key(sha: str) -> str:
        return f"{KEY_PREFIX}/{sha[:2]}/{sha}"

    async def put(self, data: bytes, *, mime_type: str, filename: str | None) -> MediaRef:
        sha = hashlib.sha256(data).hexdigest()
        await self.store.put(self.key(sha), data)  # same content, same key: writing it again changes nothing
        major = mime_type.split("/", 1)[0]
        return MediaRef(kind=major if major in ("image", "audio", "video") else "file", url=f"{PREFIX}{sha}",
                        provider_id=sha, mime_type=mime_type, filename=filename)

    async def get(self, ref: str) -> bytes | None:
        """The bytes of ``blob:<sha>`` (or a bare sha); ``None`` when unknown."""
        sha = ref.removeprefix(PREFIX)
        if not _SHA.match(sha):
            return None
        try:
            return await self.store.get(self.key(sha))
        except NotFound:
            return None
