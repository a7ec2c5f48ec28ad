"""Switchboard core."""
