"""Faults for the embedded stack (``bench.chaos`` and the fault tests): kill a server, bring it back.

Each function works on a running :class:`~libs.devstack.stack.DevStack` that started the server itself, and
restarts it on the same port, so every client reconnects to the same URL:

- :func:`kill_server` sends SIGKILL (no clean shutdown, nothing flushed);
- :func:`restart_nats` starts NATS again on the same JetStream store (what was stored survives);
- :func:`restart_redis` starts Redis again; ``keep_data=False`` removes its files first, so it comes back empty
  (with persistence off, it is empty anyway).
"""

from __future__ import annotations

import shutil
import signal
import subprocess
from urllib.parse import urlsplit

from libs.devstack.stack import DevStack, StackError


def _proc(stack: DevStack, name: str) -> subprocess.Popen[bytes]:
    proc = stack._procs.get(name)
    if proc is None:
        raise StackError(f"{name} was not started by this stack (an SB_*_URL server cannot be faulted)")
    return proc


def kill_server(stack: DevStack, name: str, timeout: float = 10.0) -> None:
    """SIGKILL the ``nats``, ``redis`` or ``postgres`` server and reap it."""
    proc = _proc(stack, name)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout)


def _port_of(url: str) -> int:
    port = urlsplit(url).port
    if port is None:
        raise StackError(f"no port in {url!r}")
    return port


def _restarted(stack: DevStack, name: str) -> None:
    assert stack.info is not None
    stack.info.pids[name] = _proc(stack, name).pid


def restart_nats(stack: DevStack) -> None:
    """Start NATS again, after :func:`kill_server`, on the same port and JetStream store."""
    assert stack.info is not None
    kill_server(stack, "nats")
    stack.ports["nats"] = _port_of(stack.info.nats_url)
    stack._start_nats()
    _restarted(stack, "nats")


def restart_redis(stack: DevStack, *, keep_data: bool) -> None:
    """Kill Redis and start it again on the same port: with ``keep_data`` from whatever it had persisted
    (nothing unless persistence is on), otherwise empty (its data folder is removed first)."""
    assert stack.info is not None
    kill_server(stack, "redis")
    if not keep_data:
        shutil.rmtree(stack.data_dir / "redis", ignore_errors=True)
    stack.ports["redis"] = _port_of(stack.info.redis_url)
    stack._start_redis()
    _restarted(stack, "redis")
