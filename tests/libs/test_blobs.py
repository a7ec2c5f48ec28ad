"""libs.storage.blobs: one BlobStore, a folder in development and S3 in production (obstore), tested against a
real S3 server (moto, IAM auth on) with static keys and with web identity, and against the folder store."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from libs.core.errors import NotFound, Transient
from libs.core.settings import ServiceSettings
from libs.devstack import free_port
from libs.devstack.s3 import WEB_IDENTITY_TOKEN, StsPeer
from libs.storage.blobs import BlobStore, BlobStoreFailed, TooLarge

MB = 1024 * 1024


@pytest.fixture
def aws_env(monkeypatch, s3_account):
    """The pod's environment: a static key in the standard AWS variables (what the chain reads first)."""
    for name in ("AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in s3_account.env().items():
        monkeypatch.setenv(name, value)
    return s3_account


def _s3(account, tmp_path: Path, **kw) -> BlobStore:
    return BlobStore.from_url(f"s3://{account.bucket}", blob_dir=tmp_path / "cache", endpoint=account.endpoint,
                              part_size=5 * MB, **kw)


@pytest.fixture(params=["s3", "folder"])
def store(request, tmp_path, monkeypatch, s3_account) -> BlobStore:
    if request.param == "folder":
        return BlobStore.from_url("", blob_dir=tmp_path / "folder")
    request.getfixturevalue("aws_env")
    return _s3(s3_account, tmp_path)


async def _chunks(data: bytes, size: int = 256 * 1024) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i:i + size]


async def _read(s: BlobStore, key: str) -> bytes:
    return b"".join([chunk async for chunk in s.open_stream(key)])


def _pending_uploads(account) -> list[str]:
    return [u["Key"] for u in account.admin().list_multipart_uploads(Bucket=account.bucket).get("Uploads", [])]


async def test_put_get_size_delete_round_trip(store, unique):
    key = f"attachments/case/{unique}.pdf"
    data = b"%PDF-1.4 " + os.urandom(3000)
    info = await store.put(key, data)
    assert (info.key, info.size, info.sha256) == (key, len(data), hashlib.sha256(data).hexdigest())
    assert await _read(store, key) == data and await store.get(key) == data
    assert await store.size(key) == len(data) and await store.exists(key)
    await store.delete(key)
    with pytest.raises(NotFound, match=f"file {key} not found"):
        await store.size(key)
    with pytest.raises(NotFound):
        await _read(store, key)
    with pytest.raises(NotFound):
        await store.fetch_local(key)
    await store.delete(key)  # deleting twice is fine
    assert (await store.put(f"attachments/{unique}-empty", b"")).size == 0
    assert await store.get(f"attachments/{unique}-empty") == b""
    with pytest.raises(ValueError, match="bad blob key"):
        await store.size("../etc/passwd")


async def test_an_object_is_in_the_bucket_as_any_s3_client_sees_it(aws_env, tmp_path, unique):
    s = _s3(aws_env, tmp_path)
    data = os.urandom(4096)
    await s.put(f"attachments/{unique}", data)
    admin = aws_env.admin()
    assert admin.get_object(Bucket=aws_env.bucket, Key=f"attachments/{unique}")["Body"].read() == data
    assert not (s.cache / f"attachments/{unique}").exists()  # attachments are not cached locally


async def test_large_file_goes_up_in_parts_and_comes_back_whole(aws_env, tmp_path, unique):
    s = _s3(aws_env, tmp_path)
    key = f"uploads/{unique}"
    data = os.urandom(12 * MB + 12345)  # 5 MB + 5 MB + the rest
    info = await s.put_stream(key, _chunks(data), max_bytes=20 * MB)
    assert info.size == len(data) and info.sha256 == hashlib.sha256(data).hexdigest()
    head = aws_env.admin().head_object(Bucket=aws_env.bucket, Key=key)
    assert head["ContentLength"] == len(data) and head["ETag"].strip('"').endswith("-3")  # a 3-part upload
    assert hashlib.sha256(await _read(s, key)).hexdigest() == info.sha256
    # Uploads are written through to the local cache for the import readers; another replica downloads them.
    assert (await s.fetch_local(key)).read_bytes() == data
    other = _s3(aws_env, tmp_path / "replica-2")
    assert not (other.cache / key).exists()
    assert (await other.fetch_local(key)).read_bytes() == data


async def test_too_large_leaves_nothing_behind(store, s3_account, unique):
    key = f"uploads/{unique}"
    with pytest.raises(TooLarge) as err:
        await store.put_stream(key, _chunks(os.urandom(12 * MB)), max_bytes=7 * MB)  # after one part went up
    assert err.value.field == "file" and err.value.status == 413
    assert not await store.exists(key)
    assert key not in _pending_uploads(s3_account)  # the multipart upload was aborted
    assert list(store.cache.rglob("*.part")) == []


async def test_a_failing_source_leaves_nothing_behind(store, s3_account, unique):
    key = f"attachments/case/{unique}"

    async def broken() -> AsyncIterator[bytes]:
        yield os.urandom(6 * MB)
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await store.put_stream(key, broken(), max_bytes=20 * MB)
    assert not await store.exists(key)
    assert key not in _pending_uploads(s3_account)


async def test_web_identity_credentials_as_eks_injects_them(monkeypatch, s3_account, tmp_path, unique):
    """No key in the environment: the store exchanges the service account's token with STS for the role's
    credentials, and signs its S3 requests with what STS returned."""
    sts = StsPeer(tmp_path, s3_account.assume_role)
    await sts.start()
    try:
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
            monkeypatch.delenv(name, raising=False)
        for name, value in s3_account.web_identity_env(tmp_path / "token", sts.endpoint).items():
            monkeypatch.setenv(name, value)
        s = _s3(s3_account, tmp_path, trust_any_certificate=True)  # the STS peer's certificate is self-signed
        await s.put(f"attachments/{unique}-wi", b"via the role")
        assert await s.get(f"attachments/{unique}-wi") == b"via the role"
    finally:
        await sts.stop()
    # The object was written by the role's session, not by the user whose key the test holds.
    call = sts.calls[0]
    assert (call["Action"], call["RoleArn"], call["WebIdentityToken"]) == \
        ("AssumeRoleWithWebIdentity", s3_account.role_arn, WEB_IDENTITY_TOKEN)
    assert s3_account.admin().get_object(Bucket=s3_account.bucket, Key=f"attachments/{unique}-wi")["Body"].read() \
        == b"via the role"


async def test_bad_credentials_and_missing_bucket_are_clear_errors(monkeypatch, aws_env, tmp_path, unique):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    wrong = _s3(aws_env, tmp_path)
    with pytest.raises(BlobStoreFailed, match="refused") as err:
        await wrong.put(f"attachments/{unique}", b"secret")
    assert err.value.status == 502 and err.value.code == "blob_store_failed" and "credentials" in err.value.message
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", aws_env.secret_key)
    assert not await _s3(aws_env, tmp_path).exists(f"attachments/{unique}")
    nobucket = BlobStore.from_url(f"s3://nope-{unique}", blob_dir=tmp_path, endpoint=aws_env.endpoint)
    with pytest.raises(BlobStoreFailed, match="does not exist"):
        await nobucket.put("attachments/x", b"x")


async def test_an_unreachable_store_is_transient(aws_env, tmp_path):
    s = BlobStore.from_url("s3://b", blob_dir=tmp_path, endpoint=f"http://127.0.0.1:{free_port()}", attempts=2)
    with pytest.raises(Transient, match="PUT attachments/x"):
        await s.put("attachments/x", b"x")


def test_settings_choose_the_store(tmp_path, monkeypatch, aws_env):
    folder = BlobStore.from_settings(ServiceSettings(), tmp_path / "f")
    assert folder.root == (tmp_path / "f").resolve() and folder.location == str((tmp_path / "f").resolve())
    monkeypatch.setenv("SB_BLOB_URL", f"s3://{aws_env.bucket}/prefix")
    monkeypatch.setenv("SB_BLOB_ENDPOINT", aws_env.endpoint)
    s3 = BlobStore.from_settings(ServiceSettings(), tmp_path / "c")
    assert s3.root is None and s3.location == f"s3://{aws_env.bucket}/prefix" and s3.cache == (tmp_path / "c").resolve()
    with pytest.raises(ValueError, match="production"):
        BlobStore.from_settings(ServiceSettings(env="production", blob_url=""), tmp_path)
    with pytest.raises(ValueError, match="absolute"):
        BlobStore.from_url("file://relative/dir", blob_dir=tmp_path)
    assert BlobStore.from_url(f"file://{tmp_path}/abs", blob_dir=tmp_path / "x").root == tmp_path / "abs"
    with pytest.raises(ValueError, match="SB_BLOB_URL"):
        BlobStore.from_url("ftp://host/dir", blob_dir=tmp_path)


async def test_the_prefix_of_the_url_is_kept(monkeypatch, aws_env, tmp_path, unique):
    s = BlobStore.from_url(f"s3://{aws_env.bucket}/tenant-a", blob_dir=tmp_path, endpoint=aws_env.endpoint)
    await s.put(f"media/{unique}", b"x")
    assert aws_env.admin().get_object(Bucket=aws_env.bucket, Key=f"tenant-a/media/{unique}")["Body"].read() == b"x"
