"""Scheduler adapters: the PostgreSQL timer repository."""
