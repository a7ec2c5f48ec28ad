"""All SQL of the channels service: the channel registry (its secrets encrypted at rest)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import asyncpg

from libs.core.errors import Conflict
from libs.core.logging import get_logger
from libs.core.secretbox import SecretBox
from libs.storage.uow import PgUnitOfWork as BaseUnitOfWork
from services.channels.domain.channels import SECRET_FIELDS, Channel

log = get_logger(__name__)

_COLUMNS = ("id", "type", "name", "address", "config", "active", "phone_number_id", "account_sid", "base_url",
            *SECRET_FIELDS, "revision")
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM channels.channel"


def _where(channel_id: str, column: str) -> str:
    """What a stored secret is bound to: a value moved to another row or column does not decrypt."""
    return f"channels.channel:{channel_id}:{column}"




_SEAL_LOCK = int.from_bytes(hashlib.sha256(b"switchboard:channels:seal-secrets").digest()[:8], "big", signed=True)


def _address_taken(ch: Channel) -> Conflict:
    return Conflict(f"another email channel already receives {ch.address}", field="address")


class ChannelRepository:
    """The ``channels.channel`` table. Writes take a connection so the caller owns the transaction.

    Secrets are encrypted with ``box`` on the way in and decrypted on the way out: the table never holds one in
    plaintext (its ``channel_secrets_sealed`` constraint refuses it).
    """

    def __init__(self, pool: asyncpg.Pool, box: SecretBox) -> None:
        self.pool = pool
        self.box = box

    def _row_to_channel(self, row: asyncpg.Record) -> Channel:
        data = dict(row)
        data["config"] = json.loads(data["config"]) if isinstance(data["config"], str) else data["config"]
        for name in SECRET_FIELDS:
            if data[name] is not None:
                data[name] = self.box.decrypt(data[name], _where(data["id"], name))
        return Channel.model_validate(data)

    def _values(self, ch: Channel) -> list[Any]:
        out: list[Any] = []
        for name in _COLUMNS:
            if name in SECRET_FIELDS:
                value = ch.secret(name)
                out.append(None if value is None else self.box.encrypt(value, _where(ch.id, name)))
            elif name == "config":
                out.append(json.dumps(ch.config))
            else:
                out.append(getattr(ch, name))
        return out

    async def seal_stored_secrets(self) -> int:
        """Encrypt the secrets stored in plaintext (rows written before encryption at rest) and re-encrypt those of
        keys that are no longer current, then validate the table's constraint. Returns how many rows changed.

        Run at start, under a lock, by every replica (the later ones find nothing to do).

        Raises:
            SecretBoxError: a secret was encrypted with a key that is not configured (or was changed).
        """
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _SEAL_LOCK)
            rows = await conn.fetch(f"SELECT id, {', '.join(SECRET_FIELDS)} FROM channels.channel FOR UPDATE")
            changed, plaintext, retired = 0, 0, set()
            for row in rows:
                sealed: dict[str, str] = {}
                for name in SECRET_FIELDS:
                    stored = row[name]
                    if stored is None:
                        continue
                    kid = SecretBox.key_id(stored)
                    if kid == self.box.current:
                        continue
                    where = _where(row["id"], name)
                    if kid is None:
                        plaintext += 1
                        value = stored
                    else:
                        retired.add(kid)
                        value = self.box.decrypt(stored, where)
                    sealed[name] = self.box.encrypt(value, where)
                if sealed:
                    sets = ", ".join(f"{name} = ${i}" for i, name in enumerate(sealed, start=2))
                    await conn.execute(f"UPDATE channels.channel SET {sets} WHERE id = $1", row["id"],
                                       *sealed.values())
                    changed += 1
            await conn.execute("ALTER TABLE channels.channel VALIDATE CONSTRAINT channel_secrets_sealed")
        if changed:
            log.info("channel_secrets_sealed", rows=changed, plaintext=plaintext, from_keys=sorted(retired),
                     key=self.box.current)
        return changed

    async def all(self) -> list[Channel]:
        rows = await self.pool.fetch(f"{_SELECT} ORDER BY id")
        return [self._row_to_channel(r) for r in rows]

    async def get(self, channel_id: str, conn: asyncpg.Connection | None = None,
                  *, for_update: bool = False) -> Channel | None:
        sql = f"{_SELECT} WHERE id = $1" + (" FOR UPDATE" if for_update else "")
        row = await (conn or self.pool).fetchrow(sql, channel_id)
        return self._row_to_channel(row) if row else None

    async def insert(self, conn: asyncpg.Connection, ch: Channel, *, if_absent: bool = False) -> bool:
        """Insert a channel; ``if_absent`` makes an existing id a no-op (returns False) instead of a conflict.

        Raises:
            Conflict: the id, or the address of an e-mail channel, is taken.
        """
        placeholders = ", ".join(f"${i}" for i in range(1, len(_COLUMNS) + 1))
        sql = f"INSERT INTO channels.channel ({', '.join(_COLUMNS)}) VALUES ({placeholders})"
        if if_absent:
            sql += " ON CONFLICT (id) DO NOTHING"
        try:
            status = await conn.execute(sql, *self._values(ch))
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name == "channel_email_address":
                raise _address_taken(ch) from exc
            raise Conflict(f"channel {ch.id!r} already exists", field="id") from exc
        return status.endswith(" 1")

    async def update(self, conn: asyncpg.Connection, ch: Channel) -> None:
        sets = ", ".join(f"{name} = ${i}" for i, name in enumerate(_COLUMNS[1:], start=2))
        try:
            await conn.execute(f"UPDATE channels.channel SET {sets}, updated_at = now() WHERE id = $1",
                               *self._values(ch))
        except asyncpg.UniqueViolationError as exc:
            raise _address_taken(ch) from exc

    async def delete(self, conn: asyncpg.Connection, channel_id: str) -> bool:
        status = await conn.execute("DELETE FROM channels.channel WHERE id = $1", channel_id)
        return status.endswith(" 1")


class _TxChannels:
    """``ChannelWrites`` on the connection of a unit of work."""

    def __init__(self, repo: ChannelRepository, conn: asyncpg.Connection) -> None:
        self._repo = repo
        self._conn = conn

    async def get(self, channel_id: str, *, for_update: bool = False) -> Channel | None:
        return await self._repo.get(channel_id, self._conn, for_update=for_update)

    async def insert(self, ch: Channel, *, if_absent: bool = False) -> bool:
        return await self._repo.insert(self._conn, ch, if_absent=if_absent)

    async def update(self, ch: Channel) -> None:
        await self._repo.update(self._conn, ch)

    async def delete(self, channel_id: str) -> bool:
        return await self._repo.delete(self._conn, channel_id)


class PgUnitOfWork(BaseUnitOfWork):
    """The registry's writes on one transaction (``libs.storage.uow``)."""

    channels: _TxChannels

    def __init__(self, repo: ChannelRepository) -> None:
        super().__init__(repo.pool)
        self._repo = repo

    def bind(self, conn: asyncpg.Connection) -> None:
        self.channels = _TxChannels(self._repo, conn)


class DeliveryRepository:
    """The ``channels.delivery`` table: provider message ids of what we sent."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def sent_ids(self, outbound_id: str) -> list[str]:
        rows = await self.pool.fetch(
            "SELECT provider_message_id FROM channels.delivery WHERE outbound_id = $1 ORDER BY created_at",
            outbound_id)
        return [r["provider_message_id"] for r in rows]

    async def begin(self, channel_id: str, outbound_id: str, idempotency_key: str) -> int:
        """Record a send as pending, before the provider is called (committed on return); return how many
        calls of it there have been, this one included: more than 1 means an earlier one may have reached the
        provider."""
        return int(await self.pool.fetchval(
            """INSERT INTO channels.outbound_send (outbound_id, channel_id, idempotency_key)
               VALUES ($1, $2, $3)
               ON CONFLICT (outbound_id) DO UPDATE SET attempts = channels.outbound_send.attempts + 1
               RETURNING attempts""", outbound_id, channel_id, idempotency_key))

    async def record(self, channel_id: str, provider_ids: list[str], outbound_id: str,
                     conversation_id: str | None, agent_id: str | None) -> None:
        """What the provider answered, and the send no longer pending (one transaction)."""
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.executemany(
                """INSERT INTO channels.delivery
                       (channel_id, provider_message_id, outbound_id, conversation_id, agent_id)
                   VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING""",
                [(channel_id, pid, outbound_id, conversation_id, agent_id) for pid in provider_ids])
            await conn.execute("UPDATE channels.outbound_send SET state = 'sent', sent_at = now() "
                               "WHERE outbound_id = $1", outbound_id)

    async def send_state(self, outbound_id: str) -> dict[str, Any] | None:
        row = await self.pool.fetchrow(
            "SELECT state, attempts, idempotency_key FROM channels.outbound_send WHERE outbound_id = $1",
            outbound_id)
        return dict(row) if row else None

    async def find(self, channel_id: str, provider_message_id: str) -> dict[str, str | None] | None:
        row = await self.pool.fetchrow(
            """SELECT outbound_id, conversation_id, agent_id FROM channels.delivery
               WHERE channel_id = $1 AND provider_message_id = $2""", channel_id, provider_message_id)
        return dict(row) if row else None


class EmailThreadRepository:
    """The ``channels.email_message`` table: subject and references of each e-mail, for reply threading."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def record(self, channel_id: str, message_id: str, subject: str, refs: list[str],
                     direction: str) -> None:
        await self.pool.execute(
            """INSERT INTO channels.email_message (channel_id, message_id, subject, refs, direction)
               VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING""",
            channel_id, message_id, subject, refs, direction)

    async def find(self, channel_id: str, message_id: str) -> tuple[str, list[str]] | None:
        row = await self.pool.fetchrow(
            "SELECT subject, refs FROM channels.email_message WHERE channel_id = $1 AND message_id = $2",
            channel_id, message_id)
        return (row["subject"], list(row["refs"])) if row else None


class VoiceCallRepository:
    """The ``channels.voice_call`` table: the latest stage of each call."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def record(self, rows: list[tuple[str, str, str, str]]) -> None:
        """Upsert ``(channel_id, call_id, contact_address, stage)``; a finished call stays finished."""
        await self.pool.executemany(
            """INSERT INTO channels.voice_call (channel_id, call_id, contact_address, stage)
               VALUES ($1, $2, $3, $4)
               ON CONFLICT (channel_id, call_id) DO UPDATE SET stage = EXCLUDED.stage, updated_at = now()
               WHERE channels.voice_call.stage NOT IN ('ended', 'missed')""", rows)

    async def active_call(self, channel_id: str, contact_address: str) -> str | None:
        return await self.pool.fetchval(
            """SELECT call_id FROM channels.voice_call
               WHERE channel_id = $1 AND contact_address = $2 AND stage IN ('ringing', 'answered')
               ORDER BY updated_at DESC LIMIT 1""", channel_id, contact_address)
