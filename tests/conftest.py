"""Session fixtures: one real embedded stack (NATS, Redis, PostgreSQL) per test session."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from libs.core.auth import Signer, service_auth
from libs.devstack import DevStack, StackInfo


@pytest.fixture(scope="session")
def stack() -> Iterator[StackInfo]:
    """The real servers for this test session; ``SB_*_URL`` points at existing ones instead."""
    folder = Path(tempfile.mkdtemp(prefix="sb-test-stack-"))
    os.chmod(folder, 0o755)
    ds = DevStack(folder)
    info = ds.start()
    try:
        yield info
    finally:
        ds.stop()
        shutil.rmtree(folder, ignore_errors=True)  # its PostgreSQL, NATS and Redis data: ~120 MB a run


@pytest.fixture(scope="session")
def crm_blob_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One blob store for every CRM of the session. They share the session's PostgreSQL, so a process one CRM
    queued (its upload in that CRM's store) may be claimed by another's job runner, as CRM replicas do in
    production, where they share their storage too. Separate folders made such a job fail with "file uploads/...
    not found" (an end-to-end import claimed by an in-process CRM of an earlier test module)."""
    folder = tmp_path_factory.mktemp("crm-blobs")
    os.chmod(folder, 0o755)
    return folder


@pytest.fixture
async def nats_js(stack: StackInfo) -> AsyncIterator[tuple[object, object]]:
    """A NATS connection and JetStream context with every stream set up."""
    from libs.messaging import nats_session

    async with nats_session(stack.nats_url, "test") as (nc, js):
        yield nc, js


@pytest.fixture
def unique() -> str:
    """A short unique suffix, so tests sharing the session stack never collide."""
    return uuid.uuid4().hex[:10]


@pytest.fixture(scope="session")
def s3_account(tmp_path_factory) -> Iterator[object]:
    """A local S3 server (moto, IAM auth on) with a bucket, a user key and a web-identity role."""
    from libs.devstack.s3 import MotoS3

    server = MotoS3(tmp_path_factory.mktemp("moto") / "moto.log")
    account = server.start()
    try:
        yield account
    finally:
        server.stop()


# --- internal tokens (libs/core/auth.py): tests call the services as the gateway or a service would ----

TEST_TOKEN_TTL_S = 300  # the longest a service accepts; a test's headers stay valid through a slow test


def _signer(issuer: str) -> Signer:
    from libs.core.settings import ServiceSettings

    return Signer.from_settings(ServiceSettings(env="test"), issuer)


def as_user(audience: str, user_id: str, role: str = "agent", campaigns: Iterable[str] | None = ()) -> dict[str, str]:
    """Headers of a call to ``audience`` on behalf of a user, signed with the gateway's development key
    (``campaigns``: the user's campaign scope; ``None``, every campaign, is for admins)."""
    token = _signer("gateway").for_user(audience, user_id, role, campaigns, ttl_s=TEST_TOKEN_TTL_S)
    return {"Authorization": f"Bearer {token}"}


def as_service(audience: str, issuer: str = "tests") -> dict[str, Any]:
    """``ClientSession``/``TestClient`` keyword arguments: every request without an Authorization header
    carries a fresh service token of ``issuer`` (a service identity: the CRM's ``system`` actor)."""
    return {"middlewares": (service_auth(_signer(issuer), audience),)}
