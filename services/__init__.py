"""Switchboard services."""
