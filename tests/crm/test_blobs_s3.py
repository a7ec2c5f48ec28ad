"""The CRM on the shared blob store (libs.storage.blobs) backed by a real S3 server (moto, IAM auth on): the app
builds the store its settings name, and attachments and imports go to the bucket."""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web

from libs.storage.blobs import BlobStore
from services.crm.app import _blobs_ctx
from services.crm.keys import BLOBS, CRM
from services.crm.settings import CrmSettings

from ..conftest import as_user

MB = 1024 * 1024


@pytest.fixture
def aws_env(monkeypatch, s3_account):
    for name, value in s3_account.env().items():
        monkeypatch.setenv(name, value)
    return s3_account


@pytest_asyncio.fixture(loop_scope="session")
async def store(aws_env, tmp_path) -> BlobStore:
    return BlobStore.from_url(f"s3://{aws_env.bucket}", blob_dir=tmp_path / "cache", endpoint=aws_env.endpoint,
                              part_size=5 * MB)


async def test_the_app_builds_the_store_the_settings_name(aws_env, tmp_path):
    settings = CrmSettings(blob_url=f"s3://{aws_env.bucket}", blob_endpoint=aws_env.endpoint, blob_dir=str(tmp_path),
                           blob_part_mb=5)
    app = web.Application()
    ctx = _blobs_ctx(settings)(app)
    await anext(ctx)
    try:
        s = app[BLOBS]
        assert s.root is None and s.part_size == 5 * MB and s.cache == tmp_path.resolve()
        assert (await s.put("attachments/app-wired", b"ok")).size == 2
        assert aws_env.admin().get_object(Bucket=aws_env.bucket, Key="attachments/app-wired")["Body"].read() == b"ok"
    finally:
        await anext(ctx, None)
    app = web.Application()
    ctx = _blobs_ctx(CrmSettings(blob_dir=str(tmp_path / "fs")))(app)
    await anext(ctx)
    assert app[BLOBS].root == (tmp_path / "fs").resolve()
    await anext(ctx, None)
    with pytest.raises(ValueError, match="SB_BLOB_URL"):
        await anext(_blobs_ctx(CrmSettings(env="production", blob_dir=str(tmp_path)))(web.Application()))


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


async def test_case_attachments_on_s3(s3_client, s3_account, unique):
    await _test_cases().test_attachments_go_to_the_blob_store(s3_client, unique)
    keys = [o["Key"] for o in s3_account.admin().list_objects_v2(Bucket=s3_account.bucket,
                                                                 Prefix="attachments/case/").get("Contents", [])]
    assert len(keys) >= 2  # the PDF and the WAV of that test went to the bucket


async def test_import_upload_on_s3(s3_client, store, unique):
    csv = "nombre,telefono\n" + "".join(f"Cliente {i} {unique},+54 11 4{i:07d}\n" for i in range(50))
    resp = await s3_client.post("/imports", params={"filename": "clientes.csv"}, data=csv.encode(),
                                headers={"Content-Type": "application/octet-stream",
                                         **as_user("crm", "sofia", "supervisor")})
    assert resp.status == 201, await resp.text()
    upload = await resp.json()
    assert upload["columns"] == ["nombre", "telefono"] and upload["size"] == len(csv.encode())
    assert await store.size(upload["blob_key"]) == len(csv.encode())
    assert await store.get(upload["blob_key"]) == csv.encode()
