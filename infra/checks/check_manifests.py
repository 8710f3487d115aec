#!/usr/bin/env python3
"""Offline policy checks for LlmSecOps deployment artefacts (run by infra/validate.sh).

  check_manifests.py k8s RENDERED.yaml [...]   rendered kustomize output (`kubectl kustomize overlays/X`)
  check_manifests.py compose docker-compose.yml
  check_manifests.py secret-example secrets.example.yaml

Prints one line per violation and exits 1 if there is any, 0 otherwise. No cluster is needed: these are the
rules docs/deployment.md promises, checked on the objects themselves.
"""
from __future__ import annotations

import sys
from typing import Any, Iterable

import yaml

WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "ReplicaSet", "Pod"}
GATEWAY = {"app.kubernetes.io/name": "gateway"}
ADMIN_PORT = 8081
OLLAMA_PORT = 11434
# Who may reach the admin API: the scorer and watcher pods, and the operators' namespace.
ADMIN_PEERS = {"anomaly-scorer", "key-leak-watcher"}
OPERATORS_NAMESPACE = "llmsecops-operators"


class Report:
    def __init__(self) -> None:
        self.errors: list[str] = []

    def fail(self, where: str, message: str) -> None:
        self.errors.append(f"{where}: {message}")


def name_of(doc: dict[str, Any]) -> str:
    meta = doc.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{doc.get('kind')}/{(ns + '/') if ns else ''}{meta.get('name')}"


def pod_spec(doc: dict[str, Any]) -> dict[str, Any] | None:
    kind = doc.get("kind")
    spec = doc.get("spec") or {}
    if kind == "Pod":
        return spec
    if kind == "CronJob":
        return (((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}).get("spec")
    return (spec.get("template") or {}).get("spec")


def pod_labels(doc: dict[str, Any]) -> dict[str, str]:
    if doc.get("kind") == "Pod":
        return (doc.get("metadata") or {}).get("labels") or {}
    spec = doc.get("spec") or {}
    if doc.get("kind") == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
    return ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}


def image_pinned(image: str) -> bool:
    if "@sha256:" in image:
        return True
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return False
    tag = last.rsplit(":", 1)[1]
    return tag not in ("", "latest")


def check_workload(doc: dict[str, Any], report: Report) -> None:
    where = name_of(doc)
    spec = pod_spec(doc)
    if spec is None:
        report.fail(where, "has no pod template")
        return
    psc = spec.get("securityContext") or {}
    if psc.get("runAsNonRoot") is not True:
        report.fail(where, "pod securityContext.runAsNonRoot must be true")
    if psc.get("runAsUser") == 0:
        report.fail(where, "pod securityContext.runAsUser must not be 0")
    if (psc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
        report.fail(where, "pod securityContext.seccompProfile.type must be RuntimeDefault")
    if spec.get("automountServiceAccountToken") is not False:
        report.fail(where, "automountServiceAccountToken must be false (no pod talks to the Kubernetes API)")
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(flag):
            report.fail(where, f"{flag} must not be set")
    for volume in spec.get("volumes") or []:
        if "hostPath" in volume:
            report.fail(where, f"volume {volume.get('name')} uses hostPath")
    containers = list(spec.get("containers") or []) + list(spec.get("initContainers") or [])
    if not containers:
        report.fail(where, "has no containers")
    for container in containers:
        cwhere = f"{where} container {container.get('name')}"
        image = container.get("image") or ""
        if not image_pinned(image):
            report.fail(cwhere, f"image '{image}' must be pinned to a tag other than latest, or a digest")
        csc = container.get("securityContext") or {}
        if csc.get("allowPrivilegeEscalation") is not False:
            report.fail(cwhere, "securityContext.allowPrivilegeEscalation must be false")
        if csc.get("readOnlyRootFilesystem") is not True:
            report.fail(cwhere, "securityContext.readOnlyRootFilesystem must be true")
        if csc.get("privileged"):
            report.fail(cwhere, "securityContext.privileged must not be set")
        if csc.get("runAsUser") == 0 or csc.get("runAsNonRoot") is False:
            report.fail(cwhere, "container must not run as root")
        caps = csc.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            report.fail(cwhere, "securityContext.capabilities.drop must contain ALL")
        if caps.get("add"):
            report.fail(cwhere, f"securityContext.capabilities.add must be empty, has {caps.get('add')}")
        resources = container.get("resources") or {}
        for section in ("requests", "limits"):
            values = resources.get(section) or {}
            for resource in ("cpu", "memory"):
                if resource not in values:
                    report.fail(cwhere, f"resources.{section}.{resource} is missing")


def selector_matches(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """Kubernetes label-selector semantics; an empty selector matches everything."""
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        present = key in labels
        if op == "In" and not (present and labels[key] in values):
            return False
        if op == "NotIn" and present and labels[key] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return True


def peer_is(peer: dict[str, Any], app: str) -> bool:
    """True when a NetworkPolicy peer selects exactly pods of `app` in the policy's own namespace."""
    return (
        set(peer) == {"podSelector"}
        and (peer["podSelector"] or {}).get("matchLabels") == {"app.kubernetes.io/name": app}
        and not (peer["podSelector"] or {}).get("matchExpressions")
    )


def peer_is_namespace(peer: dict[str, Any], namespace: str) -> bool:
    return (
        set(peer) == {"namespaceSelector"}
        and ((peer["namespaceSelector"] or {}).get("matchLabels") or {}) == {"kubernetes.io/metadata.name": namespace}
    )


def rule_ports(rule: dict[str, Any]) -> set[Any] | None:
    ports = rule.get("ports")
    if not ports:
        return None  # all ports
    return {p.get("port") for p in ports}


def check_network_policies(docs: list[dict[str, Any]], report: Report) -> None:
    policies = [d for d in docs if d.get("kind") == "NetworkPolicy"]
    namespaces = {(d.get("metadata") or {}).get("name") for d in docs if d.get("kind") == "Namespace"}
    namespaces |= {(d.get("metadata") or {}).get("namespace") for d in docs if d.get("kind") in WORKLOAD_KINDS}
    namespaces.discard(None)
    for namespace in sorted(namespaces):
        deny = [
            p for p in policies
            if (p.get("metadata") or {}).get("namespace") == namespace
            and (p.get("spec") or {}).get("podSelector") == {}
            and set((p.get("spec") or {}).get("policyTypes") or []) == {"Ingress", "Egress"}
            and not (p.get("spec") or {}).get("ingress")
            and not (p.get("spec") or {}).get("egress")
        ]
        if not deny:
            report.fail(f"Namespace/{namespace}", "has no default-deny NetworkPolicy (podSelector {}, Ingress+Egress, no rules)")

    workloads = [d for d in docs if d.get("kind") in WORKLOAD_KINDS]
    ollama_pods = [d for d in workloads if pod_labels(d).get("app.kubernetes.io/name") == "ollama"]
    gateway_pods = [d for d in workloads if pod_labels(d).get("app.kubernetes.io/name") == "gateway"]
    if not ollama_pods or not gateway_pods:
        report.fail("manifests", "expected an ollama and a gateway workload")
    for policy in policies:
        where = name_of(policy)
        spec = policy.get("spec") or {}
        types = set(spec.get("policyTypes") or ["Ingress"])
        selector = spec.get("podSelector")
        for pod in ollama_pods:
            if not selector_matches(selector, pod_labels(pod)):
                continue
            if "Egress" in types and spec.get("egress"):
                report.fail(where, "grants egress to Ollama pods; Ollama must have no egress at all")
            for rule in (spec.get("ingress") or []) if "Ingress" in types else []:
                peers = rule.get("from") or []
                if not peers or not all(peer_is(peer, "gateway") for peer in peers):
                    report.fail(where, "lets something other than the gateway reach Ollama")
                ports = rule_ports(rule)
                if ports is None or ports - {OLLAMA_PORT, "http"}:
                    report.fail(where, f"opens Ollama ports other than {OLLAMA_PORT}")
        for pod in gateway_pods:
            if not selector_matches(selector, pod_labels(pod)):
                continue
            for rule in (spec.get("ingress") or []) if "Ingress" in types else []:
                ports = rule_ports(rule)
                if ports is None or ADMIN_PORT in ports or "admin" in ports:
                    for peer in rule.get("from") or [{"any": True}]:
                        allowed = any(peer_is(peer, app) for app in ADMIN_PEERS) or peer_is_namespace(peer, OPERATORS_NAMESPACE)
                        if not allowed:
                            report.fail(where, f"lets {peer} reach the admin port {ADMIN_PORT}")
        if "Egress" in types:
            for rule in spec.get("egress") or []:
                for peer in rule.get("to") or []:
                    if peer_is(peer, "ollama") and not (
                        (selector or {}).get("matchLabels") == GATEWAY and not (selector or {}).get("matchExpressions")
                    ):
                        report.fail(where, "lets a pod other than the gateway send to Ollama")


def check_exposure(docs: list[dict[str, Any]], report: Report) -> None:
    for doc in docs:
        kind = doc.get("kind")
        where = name_of(doc)
        if kind == "Service" and (doc.get("spec") or {}).get("type") in ("NodePort", "LoadBalancer"):
            report.fail(where, "must be ClusterIP; outside traffic enters through the Ingress only")
        if kind == "Secret":
            report.fail(where, "a rendered overlay must not carry Secret values; create llmsecops-secrets out of band")
        if kind != "Ingress":
            continue
        spec = doc.get("spec") or {}
        backends = []
        if spec.get("defaultBackend"):
            backends.append(spec["defaultBackend"])
        for rule in spec.get("rules") or []:
            for path in (rule.get("http") or {}).get("paths") or []:
                backends.append(path.get("backend") or {})
        for backend in backends:
            service = backend.get("service") or {}
            port = service.get("port") or {}
            target = (service.get("name"), port.get("name") or port.get("number"))
            if target not in {("gateway", "data"), ("gateway", 8080), ("key-leak-watcher", "web"), ("key-leak-watcher", 8083)}:
                report.fail(where, f"routes to {target}; only the gateway data plane and the watcher webhook may be exposed")


def check_k8s(paths: Iterable[str], report: Report) -> None:
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            docs = [d for d in yaml.safe_load_all(handle) if d]
        for doc in docs:
            if doc.get("kind") in WORKLOAD_KINDS:
                check_workload(doc, report)
        check_network_policies(docs, report)
        check_exposure(docs, report)


# What compose may publish on all interfaces: the gateway data plane and the watcher's partner webhook.
PUBLIC_PORTS = {("gateway", "8080"), ("key-leak-watcher", "8083")}


def parse_port(port: Any) -> tuple[str, str]:
    """(host ip, container port) of a compose port entry, short or long syntax."""
    if isinstance(port, dict):
        return str(port.get("host_ip") or "0.0.0.0"), str(port.get("target"))
    parts = str(port).split(":")
    target = parts[-1].split("/")[0]
    return (parts[0] if len(parts) == 3 else "0.0.0.0"), target


def check_compose(path: str, report: Report) -> None:
    with open(path, encoding="utf-8") as handle:
        compose = yaml.safe_load(handle)
    services = compose.get("services") or {}
    networks = compose.get("networks") or {}
    for name, service in services.items():
        where = f"compose service {name}"
        image = service.get("image") or ""
        if not image_pinned(image):
            report.fail(where, f"image '{image}' must be pinned to a tag other than latest")
        if service.get("read_only") is not True:
            report.fail(where, "read_only must be true")
        if "ALL" not in (service.get("cap_drop") or []):
            report.fail(where, "cap_drop must contain ALL")
        if service.get("cap_add"):
            report.fail(where, "cap_add must be empty")
        if "no-new-privileges:true" not in (service.get("security_opt") or []):
            report.fail(where, "security_opt must contain no-new-privileges:true")
        user = str(service.get("user") or "")
        if not user or user.split(":")[0] in ("0", "root"):
            report.fail(where, "must run as a non-root user")
        if service.get("privileged"):
            report.fail(where, "must not be privileged")
        limits = ((service.get("deploy") or {}).get("resources") or {}).get("limits") or {}
        if "cpus" not in limits or "memory" not in limits:
            report.fail(where, "deploy.resources.limits needs cpus and memory")
        for port in service.get("ports") or []:
            host_ip, target = parse_port(port)
            if host_ip != "127.0.0.1" and (name, target) not in PUBLIC_PORTS:
                report.fail(where, f"publishes container port {target} beyond loopback; only {sorted(PUBLIC_PORTS)} may be")
    ollama = services.get("ollama")
    if ollama is None:
        report.fail("compose", "no ollama service")
        return
    if ollama.get("ports"):
        report.fail("compose service ollama", "must not publish ports")
    ollama_nets = ollama.get("networks") or []
    ollama_nets = list(ollama_nets) if not isinstance(ollama_nets, dict) else list(ollama_nets.keys())
    if not ollama_nets:
        report.fail("compose service ollama", "must be attached to an internal network only (default network has egress)")
    for net in ollama_nets:
        if (networks.get(net) or {}).get("internal") is not True:
            report.fail("compose service ollama", f"network {net} must be internal: true (no egress)")
        for other, service in services.items():
            nets = service.get("networks") or []
            nets = list(nets) if not isinstance(nets, dict) else list(nets.keys())
            if other not in ("ollama", "gateway") and net in nets:
                report.fail(f"compose service {other}", f"shares Ollama's network {net}; only the gateway may")
    gateway_nets = (services.get("gateway") or {}).get("networks") or []
    gateway_nets = list(gateway_nets) if not isinstance(gateway_nets, dict) else list(gateway_nets.keys())
    if not set(ollama_nets) & set(gateway_nets):
        report.fail("compose service gateway", "must share Ollama's internal network")
    if not [n for n in gateway_nets if (networks.get(n) or {}).get("internal") is not True]:
        report.fail("compose service gateway", "must also be on a non-internal network to bridge Ollama to clients")


def check_secret_example(path: str, report: Report) -> None:
    with open(path, encoding="utf-8") as handle:
        docs = [d for d in yaml.safe_load_all(handle) if d]
    for doc in docs:
        if doc.get("data"):
            report.fail(name_of(doc), "the example must use placeholder stringData, not data")
        for key, value in (doc.get("stringData") or {}).items():
            if value != "REPLACE-ME":
                report.fail(name_of(doc), f"{key} must be the placeholder REPLACE-ME, never a real value")


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] not in ("k8s", "compose", "secret-example"):
        print(__doc__, file=sys.stderr)
        return 2
    report = Report()
    if argv[1] == "k8s":
        check_k8s(argv[2:], report)
    elif argv[1] == "compose":
        for path in argv[2:]:
            check_compose(path, report)
    else:
        for path in argv[2:]:
            check_secret_example(path, report)
    for error in report.errors:
        print(f"  FAIL {error}")
    return 1 if report.errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
