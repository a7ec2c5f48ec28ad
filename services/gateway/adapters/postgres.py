"""Users repository: every SQL statement of the gateway."""

from __future__ import annotations

from typing import Any

import asyncpg

from libs.core.errors import Conflict, NotFound
from services.gateway.domain import Role, User

_COLUMNS = "id, username, display_name, role, password_hash, active, email, token_version, created_at, updated_at"
# Changes after which the user's tokens must stop working: they bump ``token_version``.
REVOKING = ("role", "password_hash", "active")


def _user(row: asyncpg.Record | None) -> User | None:
    if row is None:
        return None
    return User(
        id=row["id"],
        username=row["username"],
        display_name=row["display_name"],
        role=row["role"],
        password_hash=row["password_hash"],
        active=row["active"],
        email=row["email"],
        token_version=row["token_version"],
    )


class UsersRepo:
    """Users in ``gateway.users``."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def by_username(self, username: str) -> User | None:
        if "\x00" in username:  # PostgreSQL text cannot hold NUL: no such user
            return None
        return _user(await self._pool.fetchrow(f"SELECT {_COLUMNS} FROM gateway.users WHERE username = $1", username))

    async def by_id(self, user_id: str) -> User | None:
        if "\x00" in user_id:
            return None
        return _user(await self._pool.fetchrow(f"SELECT {_COLUMNS} FROM gateway.users WHERE id = $1", user_id))

    async def get(self, user_id: str) -> User:
        user = await self.by_id(user_id)
        if user is None:
            raise NotFound(f"user {user_id!r} not found", field="id")
        return user

    async def names(self, user_ids: list[str]) -> dict[str, str]:
        """Display names (the username when empty) of the given users that exist."""
        rows = await self._pool.fetch("SELECT id, display_name, username FROM gateway.users WHERE id = ANY($1::text[])",
                                      [u for u in user_ids if "\x00" not in u])
        return {r["id"]: r["display_name"] or r["username"] for r in rows}

    async def list(self, role: str | None = None, *, limit: int = 500, after: str | None = None) -> list[User]:
        """Users by username (those after ``after``, at most ``limit``)."""
        rows = await self._pool.fetch(
            f"SELECT {_COLUMNS} FROM gateway.users WHERE ($1::text IS NULL OR role = $1)"
            " AND ($2::text IS NULL OR username > $2) ORDER BY username LIMIT $3",
            role, after, limit,
        )
        return [u for u in map(_user, rows) if u is not None]

    async def create(
        self,
        *,
        id: str,
        username: str,
        display_name: str,
        role: Role,
        password_hash: str,
        if_absent: bool = False,
        email: str | None = None,
    ) -> User | None:
        """Insert a user. With ``if_absent`` an existing id or username is left alone (returns None)."""
        sql = (
            "INSERT INTO gateway.users (id, username, display_name, role, password_hash, email) "
            f"VALUES ($1, $2, $3, $4, $5, $6) {'ON CONFLICT DO NOTHING' if if_absent else ''} "
            f"RETURNING {_COLUMNS}"
        )
        try:
            return _user(await self._pool.fetchrow(sql, id, username, display_name, role, password_hash, email))
        except asyncpg.UniqueViolationError as exc:
            field = "username" if "username" in (exc.constraint_name or "") else "id"
            raise Conflict(f"a user with this {field} already exists", field=field) from exc

    async def session_state(self, user_id: str) -> tuple[int, bool] | None:
        """The user's token version and whether they are active; None for no such user."""
        row = await self._pool.fetchrow("SELECT token_version, active FROM gateway.users WHERE id = $1", user_id)
        return None if row is None else (int(row["token_version"]), bool(row["active"]))

    async def update(self, user_id: str, changes: dict[str, Any]) -> User:
        """Apply ``changes`` (display_name, role, password_hash, active, email) to one user; a change of role,
        password or active bumps its token version (its tokens stop working)."""
        if "\x00" in user_id:
            raise NotFound(f"user {user_id!r} not found", field="id")
        allowed = ("display_name", "role", "password_hash", "active", "email")
        cols = [c for c in allowed if c in changes]
        if not cols:
            return await self.get(user_id)
        sets = ", ".join(f"{c} = ${i + 2}" for i, c in enumerate(cols))
        changed = " OR ".join(f"{c} IS DISTINCT FROM ${i + 2}" for i, c in enumerate(cols) if c in REVOKING)
        if changed:  # the right-hand side reads the old values: only a real change revokes
            sets += f", token_version = token_version + CASE WHEN {changed} THEN 1 ELSE 0 END"
        row = await self._pool.fetchrow(
            f"UPDATE gateway.users SET {sets}, updated_at = now() WHERE id = $1 RETURNING {_COLUMNS}",
            user_id,
            *[changes[c] for c in cols],
        )
        user = _user(row)
        if user is None:
            raise NotFound(f"user {user_id!r} not found", field="id")
        return user
