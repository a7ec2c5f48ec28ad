"""Switchboard cli."""
