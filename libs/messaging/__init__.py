"""Messaging over NATS JetStream: connection, stream setup, typed publish, consumers and KV watch."""

from libs.messaging.client import (
    connect,
    message_headers,
    nats_session,
    publish,
    publish_many,
    read_kv,
    watch_kv,
)
from libs.messaging.consumer import HandlerTable, dead_letter, dispatch, ensure_consumer, run_consumer
from libs.messaging.streams import DLQ_PREFIX, DLQ_STREAM, STREAMS, ensure_kv, ensure_streams

__all__ = [
    "DLQ_PREFIX",
    "DLQ_STREAM",
    "STREAMS",
    "HandlerTable",
    "connect",
    "dead_letter",
    "dispatch",
    "ensure_consumer",
    "ensure_kv",
    "ensure_streams",
    "message_headers",
    "nats_session",
    "publish",
    "publish_many",
    "read_kv",
    "run_consumer",
    "watch_kv",
]

from libs.messaging.app import JETSTREAM, NATS_CONN, nats_ctx, start_consumer, watch_snapshots
from libs.messaging.snapshots import SnapshotDirectory

__all__ += ["JETSTREAM", "NATS_CONN", "SnapshotDirectory", "nats_ctx", "start_consumer", "watch_snapshots"]
