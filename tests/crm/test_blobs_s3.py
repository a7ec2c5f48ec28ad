"""The S3 blob store: SigV4 against AWS's published examples, then the store against a real S3 server (moto)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import pytest_asyncio
from aiohttp import web
from pydantic import ValidationError

from libs.core.errors import NotFound, Transient
from services.crm.adapters.blobs import FilesystemBlobStore, TooLarge
from services.crm.adapters.s3 import BlobStoreFailed, Credentials, S3BlobStore, authorization, canonical_request
from services.crm.app import BLOBS, _blobs_ctx
from services.crm.routes import CRM
from services.crm.settings import CrmSettings

MB = 1024 * 1024

# -- Signature V4: the examples of AWS's S3 documentation ("Signature Calculations for the Authorization Header:
# Transferring Payload in a Single Chunk"), same credentials and time; the signatures are AWS's.

DOC = Credentials("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "us-east-1")
DOC_DATE = "20130524T000000Z"
DOC_HOST = "examplebucket.s3.amazonaws.com"
EMPTY = hashlib.sha256(b"").hexdigest()
WELCOME = hashlib.sha256(b"Welcome to Amazon S3.").hexdigest()
DOC_VECTORS = [
    ("GET", "/test.txt", [], {"range": "bytes=0-9"}, EMPTY,
     "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"),
    ("PUT", "/test%24file.text", [],
     {"date": "Fri, 24 May 2013 00:00:00 GMT", "x-amz-storage-class": "REDUCED_REDUNDANCY"}, WELCOME,
     "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"),
    ("GET", "/", [("lifecycle", "")], {}, EMPTY, "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"),
    # Query parameters given out of order: the canonical query sorts them.
    ("GET", "/", [("prefix", "J"), ("max-keys", "2")], {}, EMPTY,
     "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"),
]


@pytest.mark.parametrize(("method", "path", "query", "extra", "payload", "signature"), DOC_VECTORS)
def test_sigv4_gives_the_signatures_aws_documents(method, path, query, extra, payload, signature):
    headers = {"Host": DOC_HOST, "x-amz-date": DOC_DATE, "x-amz-content-sha256": payload, **extra}
    canonical, signed = canonical_request(method, path, query, headers, payload)
    auth = authorization(DOC, DOC_DATE, canonical, signed)
    assert auth.startswith("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, ")
    assert f"SignedHeaders={';'.join(sorted(h.lower() for h in headers))}, " in auth
    assert auth.endswith(f"Signature={signature}")


def test_sigv4_canonical_request_is_the_documented_one():
    headers = {"Host": DOC_HOST, "Range": "bytes=0-9", "x-amz-content-sha256": EMPTY, "x-amz-date": DOC_DATE}
    canonical, signed = canonical_request("GET", "/test.txt", [], headers, EMPTY)
    assert canonical == ("GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
                         f"x-amz-content-sha256:{EMPTY}\nx-amz-date:20130524T000000Z\n\n"
                         f"host;range;x-amz-content-sha256;x-amz-date\n{EMPTY}")
    assert hashlib.sha256(canonical.encode()).hexdigest() == \
        "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972"
    assert signed == "host;range;x-amz-content-sha256;x-amz-date"


def test_s3_settings_name_what_is_missing():
    with pytest.raises(ValidationError) as err:
        CrmSettings(blob_backend="s3", s3_endpoint="http://127.0.0.1:9000")
    message = str(err.value)
    for name in ("SB_CRM_S3_BUCKET", "SB_CRM_S3_ACCESS_KEY", "SB_CRM_S3_SECRET_KEY"):
        assert name in message
    assert "SB_CRM_S3_ENDPOINT" not in message
    with pytest.raises(ValidationError):
        CrmSettings(blob_backend="azure")
    with pytest.raises(ValueError, match="http"):
        S3BlobStore(endpoint="s3.example.com", bucket="b", region="r", access_key="a", secret_key="s", cache_dir=".")


# -- a real S3-compatible server: moto's, in its own process, with IAM authentication switched on


@dataclass
class S3Server:
    endpoint: str
    bucket: str
    access_key: str
    secret_key: str
    admin: Any  # a boto3 S3 client with the same credentials, to look at the bucket from outside the store

    def store(self, cache_dir: Path, **kw: Any) -> S3BlobStore:
        args: dict[str, Any] = {"endpoint": self.endpoint, "bucket": self.bucket, "region": "us-east-1",
                                "access_key": self.access_key, "secret_key": self.secret_key,
                                "cache_dir": cache_dir, "part_size": 5 * MB, **kw}
        return S3BlobStore(**args)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory) -> Iterator[S3Server]:
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log = (tmp_path_factory.mktemp("moto") / "moto.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "MOTO_CALL_RESET_API": "false"})
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto server did not start (see {log.name})") from None
                time.sleep(0.1)
        # Auth is off until reset-auth: create an IAM user allowed to use S3, and the bucket.
        boot = {"endpoint_url": endpoint, "region_name": "us-east-1", "aws_access_key_id": "boot",
                "aws_secret_access_key": "boot"}
        iam = boto3.client("iam", **boot)
        iam.create_user(UserName="crm")
        iam.put_user_policy(UserName="crm", PolicyName="s3", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
        key = iam.create_access_key(UserName="crm")["AccessKey"]
        boto3.client("s3", **boot).create_bucket(Bucket="crm-blobs")
        # From now on every request must be signed by a known key.
        req = urllib.request.Request(f"{endpoint}/moto-api/reset-auth", data=b"0", method="POST",
                                     headers={"Content-Type": "text/plain"})
        urllib.request.urlopen(req, timeout=5).close()
        admin = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                             aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])
        yield S3Server(endpoint, "crm-blobs", key["AccessKeyId"], key["SecretAccessKey"], admin)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest_asyncio.fixture(loop_scope="session")
async def store(s3_server, tmp_path) -> AsyncIterator[S3BlobStore]:
    async with s3_server.store(tmp_path / "cache") as s:
        yield s


async def _chunks(data: bytes, size: int = 256 * 1024) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i:i + size]


async def _read(s: S3BlobStore | FilesystemBlobStore, key: str) -> bytes:
    return b"".join([chunk async for chunk in s.open_stream(key)])


def _pending_uploads(s3_server: S3Server) -> list[str]:
    return [u["Key"] for u in s3_server.admin.list_multipart_uploads(Bucket=s3_server.bucket).get("Uploads", [])]


async def test_put_get_head_delete_round_trip(store, s3_server, unique):
    key = f"attachments/case/{unique}.pdf"
    data = b"%PDF-1.4 " + os.urandom(3000)
    info = await store.put(key, data)
    assert (info.key, info.size, info.sha256) == (key, len(data), hashlib.sha256(data).hexdigest())
    assert await _read(store, key) == data
    assert await store.size(key) == len(data)
    # The object is really in the bucket, byte for byte, as any other S3 client sees it.
    assert s3_server.admin.get_object(Bucket=s3_server.bucket, Key=key)["Body"].read() == data
    assert not (store.cache / key).exists()  # attachments are not cached locally
    await store.delete(key)
    with pytest.raises(NotFound):
        await store.size(key)
    await store.delete(key)  # deleting twice is fine, like the filesystem store


async def test_empty_file_is_stored_too(store, unique):
    key = f"attachments/case/{unique}-empty"
    assert (await store.put(key, b"")).size == 0
    assert await store.size(key) == 0 and await _read(store, key) == b""


async def test_large_file_goes_up_in_parts_and_comes_back_whole(store, s3_server, unique):
    key = f"uploads/{unique}"
    data = os.urandom(12 * MB + 12345)  # 5 MB + 5 MB + the rest
    info = await store.put_stream(key, _chunks(data), max_bytes=20 * MB)
    assert info.size == len(data) and info.sha256 == hashlib.sha256(data).hexdigest()
    head = s3_server.admin.head_object(Bucket=s3_server.bucket, Key=key)
    assert head["ContentLength"] == len(data) and head["ETag"].strip('"').endswith("-3")  # a 3-part upload
    assert hashlib.sha256(await _read(store, key)).hexdigest() == info.sha256
    # Uploads are written through to the local cache for the import readers.
    assert store.local_path(key).read_bytes() == data


async def test_too_large_leaves_nothing_behind(store, s3_server, unique):
    key = f"uploads/{unique}"
    with pytest.raises(TooLarge) as err:
        await store.put_stream(key, _chunks(os.urandom(12 * MB)), max_bytes=7 * MB)  # fails after one part went up
    assert err.value.field == "file" and err.value.status == 413
    with pytest.raises(NotFound):
        await store.size(key)
    assert key not in _pending_uploads(s3_server)  # the multipart upload was aborted
    assert not (store.cache / key).exists() and list(store.cache.rglob("*.part")) == []


async def test_a_failing_source_leaves_nothing_behind(store, s3_server, unique):
    key = f"attachments/case/{unique}"

    async def broken() -> AsyncIterator[bytes]:
        yield os.urandom(6 * MB)
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await store.put_stream(key, broken(), max_bytes=20 * MB)
    with pytest.raises(NotFound):
        await store.size(key)
    assert key not in _pending_uploads(s3_server)


async def test_missing_key_raises_not_found_like_the_filesystem_store(store, tmp_path, unique):
    key = f"attachments/case/ghost-{unique}"
    filesystem = FilesystemBlobStore(tmp_path / "fs")
    for s in (store, filesystem):
        with pytest.raises(NotFound) as err:
            await _read(s, key)
        assert err.value.message == f"file {key} not found"
        with pytest.raises(NotFound):
            await s.size(key)
        with pytest.raises(NotFound):
            await s.fetch_local(key)
    with pytest.raises(ValueError, match="bad blob key"):
        await store.size("../etc/passwd")


async def test_uncached_objects_are_fetched_to_a_local_file(store, s3_server, unique):
    key = f"uploads/{unique}"
    data = os.urandom(300_000)
    await store.put(key, data)
    (store.cache / key).unlink()  # as on another replica, or after a restart on a new disk
    assert (await store.fetch_local(key)).read_bytes() == data
    (store.cache / key).unlink()
    assert store.local_path(key).read_bytes() == data  # the blocking fallback of the protocol's local_path
    with pytest.raises(NotFound):
        store.local_path(f"uploads/ghost-{unique}")


async def test_bad_credentials_are_a_clear_error(s3_server, tmp_path, unique):
    key = f"attachments/case/{unique}"
    wrong_secret = s3_server.store(tmp_path, secret_key="not-the-secret")
    unknown_key = s3_server.store(tmp_path, access_key="AKIAUNKNOWNKEY000000")
    for s, code in ((wrong_secret, "SignatureDoesNotMatch"), (unknown_key, "InvalidAccessKeyId")):
        async with s:
            with pytest.raises(BlobStoreFailed) as err:
                await s.put(key, b"secret")
            assert code in err.value.message and "SB_CRM_S3_SECRET_KEY" in err.value.message
            assert err.value.status == 502 and err.value.code == "blob_store_failed"
            with pytest.raises(BlobStoreFailed, match=code):
                await _read(s, key)
    assert "Contents" not in s3_server.admin.list_objects_v2(Bucket=s3_server.bucket, Prefix=key)


async def test_missing_bucket_and_unreachable_server(s3_server, tmp_path, unique):
    async with s3_server.store(tmp_path, bucket=f"nope-{unique}") as s:
        with pytest.raises(BlobStoreFailed, match=f"bucket 'nope-{unique}' does not exist"):
            await s.put("attachments/x", b"x")
    async with S3BlobStore(endpoint=f"http://127.0.0.1:{_free_port()}", bucket="b", region="us-east-1",
                           access_key="a", secret_key="s", cache_dir=tmp_path, attempts=2) as s:
        with pytest.raises(Transient, match="S3 PUT b/attachments/x failed"):
            await s.put("attachments/x", b"x")


async def test_the_app_builds_the_store_the_settings_name(s3_server, tmp_path):
    settings = CrmSettings(blob_backend="s3", s3_endpoint=s3_server.endpoint, s3_bucket=s3_server.bucket,
                           s3_access_key=s3_server.access_key, s3_secret_key=s3_server.secret_key,
                           blob_dir=str(tmp_path), s3_part_mb=5)
    app = web.Application()
    ctx = _blobs_ctx(settings)(app)
    await anext(ctx)
    try:
        s = app[BLOBS]
        assert isinstance(s, S3BlobStore) and s.part_size == 5 * MB and s.cache == tmp_path.resolve()
        assert (await s.put("attachments/app-wired", b"ok")).size == 2
        assert await _read(s, "attachments/app-wired") == b"ok"
    finally:
        await anext(ctx, None)
    app = web.Application()
    ctx = _blobs_ctx(CrmSettings(blob_dir=str(tmp_path / "fs")))(app)
    await anext(ctx)
    assert isinstance(app[BLOBS], FilesystemBlobStore)
    await anext(ctx, None)


# -- the CRM's own attachment and upload flows, on the S3 store


@pytest_asyncio.fixture(loop_scope="session")
async def s3_client(client, store) -> AsyncIterator[Any]:
    """The session's CRM app with its blob store swapped for the S3 one for the length of a test."""
    crm = client.server.app[CRM]
    previous, crm.blobs = crm.blobs, store
    try:
        yield client
    finally:
        crm.blobs = previous


def _test_cases() -> Any:
    spec = importlib.util.spec_from_file_location("crm_test_cases", Path(__file__).with_name("test_cases.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_case_attachments_on_s3(s3_client, s3_server, unique):
    await _test_cases().test_attachments_go_to_the_blob_store(s3_client, unique)
    keys = [o["Key"] for o in s3_server.admin.list_objects_v2(Bucket=s3_server.bucket, Prefix="attachments/case/")
            .get("Contents", [])]
    assert len(keys) >= 2  # the PDF and the WAV of that test went to the bucket


async def test_import_upload_on_s3(s3_client, store, unique):
    csv = "nombre,telefono\n" + "".join(f"Cliente {i} {unique},+54 11 4{i:07d}\n" for i in range(50))
    resp = await s3_client.post("/imports", params={"filename": "clientes.csv"}, data=csv.encode(),
                                headers={"Content-Type": "application/octet-stream", "X-User-Id": "sofia",
                                         "X-User-Role": "supervisor"})
    assert resp.status == 201, await resp.text()
    upload = await resp.json()
    assert upload["columns"] == ["nombre", "telefono"] and upload["size"] == len(csv.encode())
    assert await store.size(upload["blob_key"]) == len(csv.encode())
    assert await _read(store, upload["blob_key"]) == csv.encode()
