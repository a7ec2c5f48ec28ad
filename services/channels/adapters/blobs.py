"""E-mail attachments in the shared blob store (``libs.storage.blobs``), by content hash, travelling only as
``blob:<sha256>`` references. Every replica reads what any replica wrote: the store is S3 (or GCS, Azure) in
production and a folder in development."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Sequence

from libs.contracts import MediaRef
from libs.core.errors import Invalid, NotFound
from libs.storage.blobs import BlobStore
from services.channels.domain.media_links import link_problem, media_link

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


def is_blob(media: MediaRef) -> bool:
    return bool(media.url and media.url.startswith(PREFIX))


class MediaLinks:
    """Our media as the providers take it: the bytes (WhatsApp uploads them) or a signed, expiring link on the
    public port (Twilio and Instagram fetch it; ``services/channels/domain/media_links.py``)."""

    def __init__(self, blobs: MediaBlobs, keys: Sequence[bytes], base_url: str, ttl_s: int,
                 clock: Callable[[], float] = time.time) -> None:
        self.blobs, self.keys, self.base_url, self.ttl_s, self.clock = blobs, tuple(keys), base_url, ttl_s, clock

    async def data(self, media: MediaRef) -> bytes:
        """The bytes of a ``blob:`` reference.

        Raises:
            Invalid: not in the store (the command cannot be sent: dead-lettered with this reason).
        """
        data = await self.blobs.get(media.url or "")
        if data is None:
            raise Invalid(f"media {media.url} is not in the blob store", field="media")
        return data

    def url(self, media: MediaRef) -> str:
        """The URL a provider fetches: a signed link for a ``blob:`` reference, any other URL as it is.

        Raises:
            Invalid: a ``blob:`` reference while this service has no public URL (``SB_CHANNELS_PUBLIC_BASE_URL``).
        """
        if not is_blob(media):
            return media.url or ""
        if not self.base_url:
            raise Invalid("sending our own media by link needs SB_CHANNELS_PUBLIC_BASE_URL (the URL providers "
                          "reach this service at)", field="public_base_url")
        sha = (media.url or "").removeprefix(PREFIX)
        return media_link(self.base_url, self.keys[0], sha, media.mime_type or "application/octet-stream",
                          self.clock(), self.ttl_s)

    def problem(self, sha: str, exp: str, mime_type: str, sig: str) -> str | None:
        return link_problem(self.keys, sha, exp, mime_type, sig, self.clock())
