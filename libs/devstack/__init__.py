"""The embedded development stack: real NATS, Redis and PostgreSQL from pip packages."""

from libs.devstack.stack import DevStack, StackError, StackInfo, free_port

__all__ = ["DevStack", "StackError", "StackInfo", "free_port"]
