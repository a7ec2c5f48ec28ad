"""E-mail attachments live in the shared blob store: what one channels replica stored, another serves."""

from __future__ import annotations

import hashlib

from libs.storage.blobs import BlobStore
from services.channels.adapters.blobs import PREFIX, MediaBlobs


async def test_a_blob_stored_by_one_replica_is_read_by_another(monkeypatch, s3_account, tmp_path, unique):
    for name, value in s3_account.env().items():
        monkeypatch.setenv(name, value)

    def replica(n: int) -> MediaBlobs:
        return MediaBlobs(BlobStore.from_url(f"s3://{s3_account.bucket}", blob_dir=tmp_path / f"replica-{n}",
                                             endpoint=s3_account.endpoint))

    first, second = replica(1), replica(2)
    data = f"%PDF-1.4 factura {unique}".encode()
    ref = await first.put(data, mime_type="application/pdf", filename="factura.pdf")
    sha = hashlib.sha256(data).hexdigest()
    assert (ref.url, ref.kind, ref.filename) == (f"{PREFIX}{sha}", "file", "factura.pdf")
    assert await second.get(ref.url) == data and await second.get(sha) == data
    key = f"media/{sha[:2]}/{sha}"
    assert s3_account.admin().get_object(Bucket=s3_account.bucket, Key=key)["Body"].read() == data
    assert await second.get(PREFIX + "0" * 64) is None  # unknown
    assert await second.get("blob:../../etc/passwd") is None  # not a hash: never a key
    again = await second.put(data, mime_type="application/pdf", filename="copia.pdf")
    assert again.url == ref.url  # same content, same reference


async def test_development_keeps_media_in_a_folder(tmp_path):
    media = MediaBlobs(BlobStore.from_url("", blob_dir=tmp_path))
    ref = await media.put(b"\x89PNG...", mime_type="image/png", filename=None)
    sha = ref.url.removeprefix(PREFIX)
    assert ref.kind == "image" and (tmp_path / "media" / sha[:2] / sha).read_bytes() == b"\x89PNG..."
    assert await media.get(ref.url) == b"\x89PNG..."
