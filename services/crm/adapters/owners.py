"""The owner index of seed 002 ("Asignación de cuentas"), published for the router: for every contact address
whose owners changed (``crm.owner_outbox``, filled by triggers on accounts, contacts and addresses), the
assigned users by campaign go to the ``owners`` KV bucket (``libs.contracts.owners``), or the key goes when
nobody owns the address any more. The router reads the key when a conversation from that address opens."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
from nats.js import JetStreamContext
from nats.js.errors import KeyDeletedError, KeyNotFoundError

from libs.contracts.owners import ANY_CAMPAIGN, OWNERS_BUCKET, OwnerEntry, address_key
from libs.core.logging import get_logger

log = get_logger(__name__)

# The owners of one address: each account's assigned user in its campaign, and the contact's own assigned user
# for any campaign; the most recently changed wins where two contacts share the address.
OWNERS_OF = """
SELECT a.campaign_id AS campaign, a.assigned_user AS user_id, a.updated_at AS at
  FROM crm.contact_addresses ca JOIN crm.accounts a ON a.contact_id = ca.contact_id
 WHERE ca.kind = $1 AND ca.network = $2 AND ca.value = $3 AND a.assigned_user IS NOT NULL
UNION ALL
SELECT $4 AS campaign, c.assigned_user AS user_id, c.updated_at AS at
  FROM crm.contact_addresses ca JOIN crm.contacts c ON c.id = ca.contact_id
 WHERE ca.kind = $1 AND ca.network = $2 AND ca.value = $3 AND c.assigned_user IS NOT NULL
 ORDER BY at
"""


class OwnerIndexPublisher:
    """Drains ``crm.owner_outbox`` into the ``owners`` bucket; several replicas share it (``SKIP LOCKED``).

    A row leaves the outbox in the transaction that read the owners, after the KV write: a crash in between
    writes the same entry again, never loses one.
    """

    def __init__(self, pool: asyncpg.Pool, js: JetStreamContext, *, batch: int = 200) -> None:
        self.pool = pool
        self.js = js
        self.batch = batch
        self._kv: Any = None

    async def publish_pending(self) -> int:
        """Publish one batch; how many addresses it took."""
        if self._kv is None:
            self._kv = await self.js.key_value(OWNERS_BUCKET)
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT kind, network, value FROM crm.owner_outbox ORDER BY queued_at LIMIT $1 FOR UPDATE SKIP LOCKED",
                self.batch)
            for row in rows:
                owners = {r["campaign"]: r["user_id"]
                          for r in await conn.fetch(OWNERS_OF, row["kind"], row["network"], row["value"], ANY_CAMPAIGN)}
                await self._write(address_key(row["kind"], row["network"], row["value"]), owners)
            if rows:
                await conn.execute(
                    "DELETE FROM crm.owner_outbox o USING unnest($1::text[], $2::text[], $3::text[]) AS d(k, n, v) "
                    "WHERE o.kind = d.k AND o.network = d.n AND o.value = d.v",
                    [r["kind"] for r in rows], [r["network"] for r in rows], [r["value"] for r in rows])
        return len(rows)

    async def _write(self, key: str, owners: dict[str, str]) -> None:
        if owners:
            await self._kv.put(key, OwnerEntry(owners=owners).model_dump_json().encode())
            return
        try:
            await self._kv.get(key)
        except (KeyNotFoundError, KeyDeletedError):
            return  # nothing was published for it: nothing to take back
        await self._kv.delete(key)

    async def run_forever(self, stop: asyncio.Event, interval_s: float) -> None:
        """Publish while there is something to publish, then look again every ``interval_s``."""
        while not stop.is_set():
            try:
                if await self.publish_pending() == self.batch:
                    continue
            except Exception as exc:  # PostgreSQL or NATS away: the outbox keeps it for the next pass
                log.warning("owner_index_publish_failed", error=repr(exc)[:300])
            try:
                await asyncio.wait_for(stop.wait(), interval_s)
            except TimeoutError:
                pass
