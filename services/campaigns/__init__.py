"""Campaigns service: clients, projects, campaigns, schedules, catalogs and membership, compiled into KV snapshots."""
