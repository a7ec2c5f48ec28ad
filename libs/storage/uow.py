"""The PostgreSQL unit of work every service builds on: one connection, one transaction, its repositories.

A service subclasses ``PgUnitOfWork`` and binds its repositories to the connection in ``bind``; its use
cases see only the ``UnitOfWork`` protocol of the service's ``adapters/ports.py``.
"""

from __future__ import annotations

import copy
from types import TracebackType
from typing import Any, Self

import asyncpg


class PgUnitOfWork:
    """``async with uow:`` acquires a connection and starts a transaction; the block's normal end commits it,
    an exception rolls it back; the connection goes back to the pool either way. ``readonly`` reads one
    consistent snapshot (repeatable read)."""

    def __init__(self, pool: asyncpg.Pool, *, readonly: bool = False) -> None:
        self._pool = pool
        self._readonly = readonly
        self._conn: Any = None
        self._tx: Any = None

    def bind(self, conn: asyncpg.Connection) -> None:
        """Bind the service's repositories to the transaction's connection."""
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        self._conn = await self._pool.acquire()
        try:
            self._tx = (self._conn.transaction(isolation="repeatable_read", readonly=True) if self._readonly
                        else self._conn.transaction())
            await self._tx.start()
        except BaseException:
            await self._pool.release(self._conn)
            raise
        self.bind(self._conn)
        return self

    async def __aexit__(self, et: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        try:
            if et is None:
                await self._tx.commit()
            else:
                await self._tx.rollback()
        finally:
            await self._pool.release(self._conn)


class MemoryUnitOfWork:
    """The in-memory twin of ``PgUnitOfWork`` for the services' fakes (``tests/<service>/fakes.py``): what the
    block changed in ``state`` (a plain object holding the tables) is undone when it raises, as a rollback
    would; subclasses expose their repositories over the same state."""

    def __init__(self, state: Any) -> None:
        self.state = state
        self._before: dict[str, Any] | None = None

    async def __aenter__(self) -> Self:
        self._before = copy.deepcopy(self.state.__dict__)
        return self

    async def __aexit__(self, et: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if et is not None and self._before is not None:
            self.state.__dict__.update(self._before)
