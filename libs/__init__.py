"""Switchboard libs."""
