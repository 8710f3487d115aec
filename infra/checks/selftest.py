#!/usr/bin/env python3
"""Proves check_manifests.py catches what it claims to: each mutation below breaks one promised rule in a
rendered overlay (or the compose file) and must be reported; the unmodified input must pass.

  selftest.py RENDERED.yaml docker-compose.yml
"""
from __future__ import annotations

import copy
import os
import sys
from typing import Any, Callable

import yaml

import check_manifests as checks

Docs = list[dict[str, Any]]


def find(docs: Docs, kind: str, name: str) -> dict[str, Any]:
    for doc in docs:
        if doc.get("kind") == kind and (doc.get("metadata") or {}).get("name") == name:
            return doc
    raise LookupError(f"{kind}/{name} not in the rendered overlay")


def container(docs: Docs, kind: str, name: str) -> dict[str, Any]:
    return find(docs, kind, name)["spec"]["template"]["spec"]["containers"][0]


def drop_default_deny(docs: Docs) -> None:
    docs.remove(find(docs, "NetworkPolicy", "default-deny-all"))


def ollama_egress(docs: Docs) -> None:
    find(docs, "NetworkPolicy", "ollama")["spec"]["egress"] = [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}]


def scorer_reaches_ollama(docs: Docs) -> None:
    rule = find(docs, "NetworkPolicy", "ollama")["spec"]["ingress"][0]
    rule["from"].append({"podSelector": {"matchLabels": {"app.kubernetes.io/name": "anomaly-scorer"}}})


def ollama_open_to_namespace(docs: Docs) -> None:
    find(docs, "NetworkPolicy", "ollama")["spec"]["ingress"][0]["from"] = [{"namespaceSelector": {}}]


def scorer_egress_to_ollama(docs: Docs) -> None:
    find(docs, "NetworkPolicy", "anomaly-scorer")["spec"]["egress"].append(
        {"to": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "ollama"}}}]})


def admin_from_ingress_controller(docs: Docs) -> None:
    find(docs, "NetworkPolicy", "gateway")["spec"]["ingress"][0]["ports"].append({"protocol": "TCP", "port": 8081})


def ingress_to_admin(docs: Docs) -> None:
    path = find(docs, "Ingress", "gateway")["spec"]["rules"][0]["http"]["paths"][0]
    path["backend"]["service"] = {"name": "gateway-admin", "port": {"name": "admin"}}


def writable_root(docs: Docs) -> None:
    container(docs, "Deployment", "gateway")["securityContext"]["readOnlyRootFilesystem"] = False


def keeps_capabilities(docs: Docs) -> None:
    container(docs, "StatefulSet", "postgres")["securityContext"]["capabilities"] = {"drop": ["NET_RAW"]}


def root_pod(docs: Docs) -> None:
    find(docs, "Deployment", "ollama")["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] = False


def no_seccomp(docs: Docs) -> None:
    del find(docs, "StatefulSet", "redis")["spec"]["template"]["spec"]["securityContext"]["seccompProfile"]


def latest_image(docs: Docs) -> None:
    container(docs, "Deployment", "ollama")["image"] = "docker.io/ollama/ollama:latest"


def untagged_image(docs: Docs) -> None:
    container(docs, "Deployment", "anomaly-scorer")["image"] = "registry.example.internal/llmsecops/anomaly-scorer"


def no_limits(docs: Docs) -> None:
    del container(docs, "Deployment", "key-leak-watcher")["resources"]["limits"]


def token_mounted(docs: Docs) -> None:
    find(docs, "Deployment", "gateway")["spec"]["template"]["spec"]["automountServiceAccountToken"] = True


def load_balancer(docs: Docs) -> None:
    find(docs, "Service", "gateway-admin")["spec"]["type"] = "LoadBalancer"


def secret_in_overlay(docs: Docs) -> None:
    docs.append({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "llmsecops-secrets", "namespace": "llmsecops"},
                 "stringData": {"pepper": "x"}})


K8S_MUTATIONS: list[Callable[[Docs], None]] = [
    drop_default_deny, ollama_egress, scorer_reaches_ollama, ollama_open_to_namespace, scorer_egress_to_ollama,
    admin_from_ingress_controller, ingress_to_admin, writable_root, keeps_capabilities, root_pod, no_seccomp,
    latest_image, untagged_image, no_limits, token_mounted, load_balancer, secret_in_overlay,
]


def compose_ollama_published(c: dict[str, Any]) -> None:
    c["services"]["ollama"]["ports"] = ["11434:11434"]


def compose_network_not_internal(c: dict[str, Any]) -> None:
    for net in c["services"]["ollama"]["networks"]:
        c["networks"][net]["internal"] = False


def compose_scorer_on_model_network(c: dict[str, Any]) -> None:
    c["services"]["anomaly-scorer"]["networks"] = list(c["services"]["anomaly-scorer"]["networks"]) + list(c["services"]["ollama"]["networks"])


def compose_admin_published(c: dict[str, Any]) -> None:
    c["services"]["gateway"]["ports"] = list(c["services"]["gateway"]["ports"]) + ["8081:8081"]


def compose_writable(c: dict[str, Any]) -> None:
    c["services"]["redis"]["read_only"] = False


def compose_root(c: dict[str, Any]) -> None:
    c["services"]["postgres"]["user"] = "0:0"


def compose_latest(c: dict[str, Any]) -> None:
    c["services"]["ollama"]["image"] = "docker.io/ollama/ollama:latest"


COMPOSE_MUTATIONS: list[Callable[[dict[str, Any]], None]] = [
    compose_ollama_published, compose_network_not_internal, compose_scorer_on_model_network, compose_admin_published,
    compose_writable, compose_root, compose_latest,
]


def run_k8s(docs: Docs) -> list[str]:
    report = checks.Report()
    for doc in docs:
        if doc.get("kind") in checks.WORKLOAD_KINDS:
            checks.check_workload(doc, report)
    checks.check_network_policies(docs, report)
    checks.check_exposure(docs, report)
    return report.errors


def run_compose(path: str, compose: dict[str, Any]) -> list[str]:
    scratch = path + ".selftest.tmp"
    with open(scratch, "w", encoding="utf-8") as handle:
        yaml.safe_dump(compose, handle)
    try:
        report = checks.Report()
        checks.check_compose(scratch, report)
        return report.errors
    finally:
        os.remove(scratch)


def main(argv: list[str]) -> int:
    rendered, compose_path = argv[1], argv[2]
    with open(rendered, encoding="utf-8") as handle:
        docs = [d for d in yaml.safe_load_all(handle) if d]
    with open(compose_path, encoding="utf-8") as handle:
        compose = yaml.safe_load(handle)
    failures = 0
    k8s_baseline = set(run_k8s(docs))
    compose_baseline = set(run_compose(compose_path, copy.deepcopy(compose)))
    for label, baseline in ((rendered, k8s_baseline), (compose_path, compose_baseline)):
        if baseline:
            print(f"  FAIL unmodified {label} is rejected: {sorted(baseline)}")
            failures += 1
    # A mutation counts as caught only by a violation the unmodified input did not already have.
    for mutate in K8S_MUTATIONS:
        broken = copy.deepcopy(docs)
        mutate(broken)
        new = sorted(set(run_k8s(broken)) - k8s_baseline)
        print(f"  {'ok  ' if new else 'FAIL'} k8s mutation {mutate.__name__}: {new[0] if new else 'NOT DETECTED'}")
        failures += 0 if new else 1
    for mutate in COMPOSE_MUTATIONS:
        broken = copy.deepcopy(compose)
        mutate(broken)
        new = sorted(set(run_compose(compose_path, broken)) - compose_baseline)
        print(f"  {'ok  ' if new else 'FAIL'} compose mutation {mutate.__name__}: {new[0] if new else 'NOT DETECTED'}")
        failures += 0 if new else 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
