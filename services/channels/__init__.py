"""Channels service: provider webhooks in, provider APIs out, and the channel registry."""
