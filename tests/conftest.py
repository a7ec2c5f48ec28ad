"""Session fixtures: one real embedded stack (NATS, Redis, PostgreSQL) per test session."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

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
