"""Campaigns adapters: PostgreSQL and the KV buckets."""
