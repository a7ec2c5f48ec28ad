"""Adapters of the channels service: PostgreSQL, the NATS KV bucket, and the provider APIs."""
