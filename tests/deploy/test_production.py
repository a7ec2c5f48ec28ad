"""The overlays as an operator would run them (issue 17): every service's settings, built from what the manifests
give its container, point at Service DNS names and absolute paths; every Deployment has a PDB, probes, spread
and a NetworkPolicy; the flows the design needs are open and no others; custom resources (KEDA, CloudNativePG,
Prometheus operator) validate against their vendored CRD schemas. Offline: kustomize renders, nothing applies."""

from __future__ import annotations

import base64
import importlib
import importlib.util
import inspect
import json
import os
import sys
from typing import Any

import pytest
import yaml

from libs.core.settings import ServiceSettings
from libs.messaging.streams import layout_from_settings

m = sys.modules["switchboard_tests_deploy_manifests"]  # loaded by conftest.py
OVERLAYS = sorted(p.name for p in (m.K8S_DIR / "overlays").iterdir() if p.is_dir())

# What the cluster's Secrets hold, as the checks need them (never rendered for production).
SECRETS = {"nats-auth/user": "switchboard", "nats-auth/password": "n4ts-pass", "redis-auth/password": "r3dis-pass",
           "switchboard-db-app/username": "switchboard", "switchboard-db-app/password": "pg-pass"}
SWITCHBOARD_SECRETS = {"SB_GATEWAY_JWT_SECRET": "x" * 48,
                       "SB_CHANNELS_SECRET_KEYS": "k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}


def rendered(overlay: str) -> list[dict[str, Any]]:
    try:
        return m.rendered_overlay(overlay)
    except m.KustomizeUnavailable as exc:
        pytest.skip(str(exc))


def settings_class(service: str) -> type[ServiceSettings]:
    module = importlib.import_module(f"services.{service}.settings")
    return next(c for _, c in inspect.getmembers(module, inspect.isclass)
                if issubclass(c, ServiceSettings) and c is not ServiceSettings and c.__module__ == module.__name__)


def env_of(objects: list[dict[str, Any]], service: str) -> dict[str, str]:
    dep = m.by_kind(objects, "Deployment")[service]
    env = m.effective_env(dep, objects, SECRETS)
    for secret in objects:
        if secret["kind"] == "Secret" and secret["metadata"]["name"].startswith("switchboard-secrets"):
            env.update({k: base64.b64decode(v).decode() for k, v in secret["data"].items()})
    return {**SWITCHBOARD_SECRETS, **env}


# ------------------------------------------------------------------------------------------------
# Settings as the services read them
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("service", sorted(m.SERVICES))
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_setting_points_at_a_service_or_an_absolute_path(overlay: str, service: str) -> None:
    assert m.check_production_settings(service, env_of(rendered(overlay), service), settings_class(service)) == []


def test_the_gateway_reaches_the_services_by_dns_and_channels_on_its_admin_port() -> None:
    env = env_of(rendered("prod"), "gateway")
    assert {k: env[k] for k in env if k.startswith("SB_GATEWAY_") and k.endswith("_URL")} == {
        "SB_GATEWAY_ROUTER_URL": "http://router:8082", "SB_GATEWAY_CAMPAIGNS_URL": "http://campaigns:8084",
        "SB_GATEWAY_CRM_URL": "http://crm:8085", "SB_GATEWAY_CHANNELS_URL": "http://channels:8086"}
    assert env["SB_NATS_URL"] == "nats://switchboard:n4ts-pass@nats:4222"
    assert env["SB_DATABASE_URL"] == "postgresql://switchboard:pg-pass@switchboard-db-pooler:5432/switchboard"
    assert env["SB_REDIS_SENTINELS"] == "redis-sentinel:26379" and env["SB_REDIS_PASSWORD"] == "r3dis-pass"


def test_production_runs_r3_with_limits_the_nats_volumes_hold() -> None:
    env = env_of(rendered("prod"), "router")
    assert env["SB_NATS_REPLICAS"] == "3"
    limits = json.loads(env["SB_NATS_MAX_BYTES"])
    values = yaml.safe_load((m.REPO_ROOT / "deploy" / "nats" / "values.yaml").read_text())
    max_size = m.quantity(values["config"]["jetstream"]["fileStore"]["maxSize"])
    assert sum(limits.values()) < max_size <= m.quantity(values["config"]["jetstream"]["fileStore"]["pvc"]["size"])
    saved = dict(os.environ)
    try:
        os.environ.update(env)
        layout = layout_from_settings(settings_class("router")())
    finally:
        os.environ.clear()
        os.environ.update(saved)
    assert layout.replicas == 3 and layout.max_bytes == limits


@pytest.mark.parametrize(("variable", "value", "expected"), [
    ("SB_GATEWAY_CRM_URL", "http://127.0.0.1:8085", "crm_url"),
    ("SB_GATEWAY_ROUTER_URL", "http://localhost:8082", "router_url"),
    ("SB_NATS_URL", "nats://u:p@127.0.0.1:4222", "nats_url"),
    ("SB_REDIS_SENTINELS", "localhost:26379", "redis_sentinels"),
])
def test_a_loopback_url_fails(variable: str, value: str, expected: str) -> None:
    env = {**env_of(rendered("prod"), "gateway"), variable: value}
    problems = m.check_production_settings("gateway", env, settings_class("gateway"))
    assert any(expected in p and "not a Service" in p for p in problems), problems


def test_a_relative_path_or_a_missing_setting_fails() -> None:
    env = {**env_of(rendered("prod"), "crm"), "SB_CRM_BLOB_DIR": ".data/crm-blobs"}
    assert any("blob_dir" in p and "relative" in p
               for p in m.check_production_settings("crm", env, settings_class("crm")))
    env = env_of(rendered("prod"), "channels")
    del env["SB_CHANNELS_ARI_BASE_URL"]  # the default is 127.0.0.1:8088
    assert any("ari_base_url" in p for p in m.check_production_settings("channels", env, settings_class("channels")))
    env = env_of(rendered("prod"), "channels")
    del env["SB_CHANNELS_PUBLIC_BASE_URL"]  # production channels refuses to start without it
    assert any("refuse" in p for p in m.check_production_settings("channels", env, settings_class("channels")))


# ------------------------------------------------------------------------------------------------
# PDB, probes, spread, NetworkPolicy, autoscaling
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_deployment_is_safe_to_run(overlay: str) -> None:
    assert m.check_deployment_safety(rendered(overlay)) == []


def _drop(kind: str, name: str):
    def edit(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [o for o in objects if not (o["kind"] == kind and o["metadata"]["name"] == name)]
    return edit


def _no_policy_selects(name: str):
    def edit(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
        labels = m.pod_labels(m.by_kind(objects, "Deployment")[name])
        return [o for o in objects if not (o["kind"] == "NetworkPolicy" and o["spec"]["podSelector"]
                                           and m._matches(o["spec"]["podSelector"], labels))]
    return edit


def _no_probe(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    del m.by_kind(objects, "Deployment")["crm"]["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    return objects


def _fixed_replicas(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    m.by_kind(objects, "Deployment")["router"]["spec"]["replicas"] = 3
    return objects


@pytest.mark.parametrize(("edit", "expected"), [
    (_drop("PodDisruptionBudget", "router"), "router: no PodDisruptionBudget"),
    (_no_probe, "crm: container crm has no readinessProbe"),
    (_no_policy_selects("channels"), "channels: no NetworkPolicy"),
    (_drop("NetworkPolicy", "default-deny"), "no default-deny"),
    (_fixed_replicas, "router: fixed replicas under an autoscaler"),
], ids=["no-pdb", "no-probe", "no-netpol", "no-default-deny", "fixed-replicas"])
def test_the_safety_check_fails_on_a_broken_render(edit: Any, expected: str) -> None:
    problems = m.check_deployment_safety(edit(rendered("prod")))
    assert any(expected in p for p in problems), problems


APP = {name: {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "switchboard"} for name in m.SERVICES}
NATS = {"app.kubernetes.io/name": "nats"}
REDIS = {"app.kubernetes.io/name": "redis"}
POOLER = {"cnpg.io/poolerName": "switchboard-db-pooler", "cnpg.io/cluster": "switchboard-db"}
PG = {"cnpg.io/cluster": "switchboard-db", "cnpg.io/podRole": "instance"}
MIGRATE = {"app.kubernetes.io/name": "migrate"}

NEEDED = [  # (from, to, port)
    *[(APP["gateway"], APP[s], port) for s, port in
      (("router", 8082), ("campaigns", 8084), ("crm", 8085), ("channels", 8086))],
    *[(APP[s], target, port) for s in m.SERVICES for target, port in ((NATS, 4222), (REDIS, 6379),
                                                                      (REDIS, 26379), (POOLER, 5432))],
    (APP["router"], APP["crm"], 8085),  # the rebuild reads open conversations from the CRM
    (APP["crm"], APP["channels"], 8086),  # click-to-call: the CRM has channels ring the agent, then the contact
    (APP["channels"], APP["router"], 8082),  # a channel's open conversations, before it is deleted
    (MIGRATE, POOLER, 5432), (POOLER, PG, 5432), (PG, PG, 5432), (NATS, NATS, 6222), (REDIS, REDIS, 26379),
]
FORBIDDEN = [
    (APP["router"], APP["campaigns"], 8084), (APP["channels"], APP["crm"], 8085),
    (APP["crm"], APP["channels"], 8081), (APP["router"], APP["channels"], 8086),
    (APP["gateway"], PG, 5432), (APP["router"], PG, 5432), (APP["gateway"], NATS, 6222),
    (APP["campaigns"], APP["gateway"], 8080), (MIGRATE, APP["crm"], 8085),
]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_flows_the_design_needs_and_no_others(overlay: str) -> None:
    objects = rendered(overlay)
    closed = [(s["app.kubernetes.io/name"] if "app.kubernetes.io/name" in s else s, d, p)
              for s, d, p in NEEDED if not m.flow_allowed(objects, s, d, p)]
    assert closed == []
    opened = [(s, d, p) for s, d, p in FORBIDDEN if m.flow_allowed(objects, s, d, p)]
    assert opened == []
    # From outside: the ingress controller reaches only the gateway and the public webhook port.
    assert m.flow_allowed(objects, None, APP["gateway"], 8080, src_namespace="ingress-nginx")
    assert m.flow_allowed(objects, None, APP["channels"], 8081, src_namespace="ingress-nginx")
    for target, port in ((APP["channels"], 8086), (APP["router"], 8082), (APP["crm"], 8085), (PG, 5432)):
        assert not m.flow_allowed(objects, None, target, port, src_namespace="ingress-nginx"), (target, port)
    assert m.flow_allowed(objects, None, APP["channels"], 2525)  # SMTP from the internet
    assert not m.flow_allowed(objects, None, APP["gateway"], 8080)  # only through the ingress controller
    assert m.flow_allowed(objects, None, NATS, 8222, src_namespace="keda")


def test_the_flow_check_sees_a_missing_rule() -> None:
    objects = [o for o in rendered("prod") if o["metadata"]["name"] != "apps-to-data"]
    assert not m.flow_allowed(objects, APP["router"], REDIS, 6379)


def test_only_the_gateway_and_the_webhooks_are_exposed() -> None:
    ingresses = m.by_kind(rendered("prod"), "Ingress")
    backends = {(p["backend"]["service"]["name"], p["backend"]["service"]["port"]["name"], p["path"])
                for ing in ingresses.values() for rule in ing["spec"]["rules"] for p in rule["http"]["paths"]}
    assert backends == {("gateway", "http", "/"), ("channels", "http", "/webhooks/"),
                        ("channels", "http", "/media/")}
    assert all(ing["spec"].get("tls") for ing in ingresses.values())
    svc = m.by_kind(rendered("prod"), "Service")["channels"]
    assert {p["name"]: p["port"] for p in svc["spec"]["ports"]}["http"] == 8081  # public port, not admin 8086


def test_keda_scales_the_consumers_the_code_runs() -> None:
    from services.channels.consumers import OUTBOUND_DURABLE
    from services.crm.consumers import CONVERSATIONS_DURABLE
    from services.router.settings import RouterSettings

    triggers = {o["spec"]["scaleTargetRef"]["name"]: next(t for t in o["spec"]["triggers"]
                                                           if t["type"] == "nats-jetstream")["metadata"]
                for o in rendered("prod") if o["kind"] == "ScaledObject"}
    assert {k: (v["stream"], v["consumer"]) for k, v in triggers.items()} == {
        "router": ("INBOUND", RouterSettings().inbound_durable), "channels": ("OUTBOUND", OUTBOUND_DURABLE),
        "crm": ("CONVERSATIONS", CONVERSATIONS_DURABLE)}
    assert all(v["natsServerMonitoringEndpoint"].startswith("nats-headless.switchboard.svc") for v in triggers.values())


def test_the_migrate_job_runs_the_cli_with_the_services_image_and_settings() -> None:
    objects = rendered("prod")
    job = m.by_kind(objects, "Job")["switchboard-migrate"]
    c = job["spec"]["template"]["spec"]["containers"][0]
    assert c["args"] == ["switchboard", "migrate"]
    assert c["image"] == m.by_kind(objects, "Deployment")["crm"]["spec"]["template"]["spec"]["containers"][0]["image"]
    env = m.effective_env(job, objects, SECRETS)
    assert env["SB_DATABASE_URL"].endswith("@switchboard-db-pooler:5432/switchboard")
    assert env["SB_MIGRATE_ON_START"] == "false"  # the services wait for the Job instead of migrating


# ------------------------------------------------------------------------------------------------
# Custom resources against their CRD schemas; the stateful pieces
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_custom_resources_validate_against_their_crds(overlay: str) -> None:
    custom = [o for o in rendered(overlay) if o["apiVersion"].split("/")[0] in m.CRD_GROUPS]
    assert custom
    assert [p for o in custom for p in m.check_custom_resource(o)] == []


def test_monitoring_resources_validate_too(tmp_path) -> None:
    """components/monitoring (ServiceMonitors, PrometheusRules) rendered on the prod overlay, as an operator adds
    it, against the Prometheus operator's CRD schemas."""
    folder = m.K8S_DIR / "components" / "monitoring"
    if not (folder / "kustomization.yaml").exists():
        pytest.skip("components/monitoring is not there")
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump({
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
        "resources": [os.path.relpath(m.K8S_DIR / "overlays" / "prod", tmp_path)],
        "components": [os.path.relpath(folder, tmp_path)]}))
    try:
        objects = m.render(tmp_path)
    except m.KustomizeUnavailable as exc:
        pytest.skip(str(exc))
    monitoring = [o for o in objects if o["apiVersion"].startswith("monitoring.coreos.com/")]
    assert {o["kind"] for o in monitoring} >= {"ServiceMonitor", "PrometheusRule"}
    assert [p for o in monitoring for p in m.check_custom_resource(o)] == []
    assert m.check_deployment_safety(objects) == []
    # Prometheus (namespace monitoring) may scrape every port a ServiceMonitor names.
    services = m.by_kind(objects, "Service")
    for sm in (o for o in monitoring if o["kind"] == "ServiceMonitor"):
        target = next(s for s in services.values()
                      if m._matches(sm["spec"]["selector"], s["metadata"].get("labels") or {}))
        for endpoint in sm["spec"]["endpoints"]:
            port = next(p["port"] for p in target["spec"]["ports"] if p["name"] == endpoint["port"])
            labels = m.pod_labels(m.by_kind(objects, "Deployment")[target["metadata"]["name"]])
            assert m.flow_allowed(objects, None, labels, port, src_namespace="monitoring"), (sm["metadata"], port)


@pytest.mark.parametrize(("path", "value", "expected"), [
    (("spec", "triggers", 0, "metadata", "stream"), 5, "not of type"),
    (("spec", "minReplicaCounts"), 2, "Additional properties"),
])
def test_a_broken_custom_resource_fails(path: tuple[Any, ...], value: Any, expected: str) -> None:
    so = next(o for o in rendered("prod") if o["kind"] == "ScaledObject")
    target = so
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    assert any(expected in p for p in m.check_custom_resource(so))


def test_postgres_is_three_instances_behind_a_session_pooler() -> None:
    objects = rendered("prod")
    cluster = next(o for o in objects if o["kind"] == "Cluster")
    pooler = next(o for o in objects if o["kind"] == "Pooler")
    assert cluster["spec"]["instances"] == 3 and cluster["spec"]["postgresql"]["synchronous"]["number"] == 1
    assert pooler["spec"]["pgbouncer"]["poolMode"] == "session"  # the scheduler LISTENs
    assert pooler["metadata"]["name"] == "switchboard-db-pooler" and pooler["spec"]["type"] == "rw"
    assert any(o["kind"] == "ScheduledBackup" for o in objects)


def test_redis_runs_aof_everysec_noeviction_with_sentinels() -> None:
    objects = rendered("prod")
    script = m.by_kind(objects, "ConfigMap")["redis-scripts"]["data"]["configure.sh"]
    for line in ("appendonly yes", "appendfsync everysec", "maxmemory-policy noeviction",
                 "requirepass ${REDIS_PASSWORD}", "sentinel monitor switchboard ${PRIMARY} 6379 ${QUORUM}"):
        assert line in script
    sts = m.by_kind(objects, "StatefulSet")["redis"]
    assert sts["spec"]["replicas"] == 3 and {c["name"] for c in sts["spec"]["template"]["spec"]["containers"]} == \
        {"redis", "sentinel"}


def test_nats_values_pin_the_chart_images_and_a_three_node_jetstream_cluster() -> None:
    path = m.REPO_ROOT / "deploy" / "nats" / "values.yaml"
    text, values = path.read_text(), yaml.safe_load(path.read_text())
    assert "--version 2.14.2" in text
    assert values["config"]["cluster"] == {**values["config"]["cluster"], "enabled": True, "replicas": 3}
    assert values["config"]["jetstream"]["enabled"] is True
    images = [values["container"]["image"], values["reloader"]["image"], values["promExporter"]["image"]]
    assert all(i["tag"] and i["tag"] != "latest" for i in images)
    assert values["config"]["merge"]["authorization"]["password"] == "<< $NATS_PASSWORD >>"
