#!/usr/bin/env bash
# Validates the deployment artefacts offline: YAML lint, kustomize render of every overlay, the hardening rules
# of docs/deployment.md (checks/check_manifests.py), a self-test proving those checks catch each violation,
# and the compose file's schema. Exits non-zero if anything fails. Needs: yamllint, kubectl (for
# `kubectl kustomize`), docker-compose (v1, Debian) or docker compose (v2), python3 with PyYAML.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failed=0
total=0

step() {  # step NAME COMMAND...: runs a check, prints PASS/FAIL with its output on failure
  local name="$1"; shift
  total=$((total + 1))
  if output="$("$@" 2>&1)"; then
    echo "PASS  $name"
  else
    echo "FAIL  $name"
    printf '%s\n' "$output" | sed 's/^/      /'
    failed=$((failed + 1))
  fi
}

# Every listener/secret setting the AppHost injects must also be set by the Kubernetes base and by compose, so the
# deployments cannot drift apart silently.
same_settings_everywhere() {
  local apphost="$here/../LlmSecOps.AppHost/AppHost.cs" status=0 name
  [ -f "$apphost" ] || { echo "missing $apphost"; return 1; }
  for name in $(grep -oE '"(Listeners|ControlPlane|Keys)__[A-Za-z]+(__[A-Za-z]+)*"' "$apphost" | tr -d '"' | sort -u); do
    grep -qF -- "$name" "$here"/k8s/base/*.yaml || { echo "the Kubernetes base never sets $name (the AppHost does)"; status=1; }
    grep -qF -- "$name" "$here/compose/docker-compose.yml" || { echo "compose never sets $name (the AppHost does)"; status=1; }
  done
  return $status
}

need() {
  if ! command -v "$1" >/dev/null 2>&1; then
    echo "FAIL  required tool '$1' not found: $2"
    exit 2
  fi
}

need yamllint "apt-get install -y yamllint"
need "${KUBECTL:-kubectl}" "kubectl with kustomize v5 (on this machine image: google-cloud-cli's kubectl; or set KUBECTL)"
python=python3
if ! "$python" -c 'import yaml' 2>/dev/null; then python=/usr/bin/python3; fi
"$python" -c 'import yaml' 2>/dev/null || { echo "FAIL  python3 with PyYAML not found (apt-get install -y python3-yaml)"; exit 2; }
if command -v docker-compose >/dev/null 2>&1; then compose=(docker-compose)
elif docker compose version >/dev/null 2>&1; then compose=(docker compose)
else echo "FAIL  docker-compose not found: apt-get install -y docker-compose"; exit 2; fi

echo "== infra validation ($(yamllint --version), kubectl $("${KUBECTL:-kubectl}" version --client 2>/dev/null | sed -n 's/^Kustomize Version: //p' | sed 's/^/kustomize /'))"

step "yamllint infra/ (strict)" yamllint --strict -c "$here/.yamllint" "$here"

overlays=()
for dir in "$here"/k8s/overlays/*/; do
  overlay="$(basename "$dir")"
  overlays+=("$overlay")
  step "kustomize render overlays/$overlay" sh -c "'${KUBECTL:-kubectl}' kustomize '$dir' > '$work/$overlay.yaml'"
  if [ -s "$work/$overlay.yaml" ]; then
    step "hardening rules overlays/$overlay" "$python" -B "$here/checks/check_manifests.py" k8s "$work/$overlay.yaml"
  fi
done
[ "${#overlays[@]}" -gt 0 ] || { echo "FAIL  no overlays under k8s/overlays"; failed=$((failed + 1)); }

step "secret example holds placeholders only" "$python" -B "$here/checks/check_manifests.py" secret-example "$here/k8s/secrets.example.yaml"
step "compose hardening rules" "$python" -B "$here/checks/check_manifests.py" compose "$here/compose/docker-compose.yml"
step "compose schema (${compose[*]} config)" sh -c "set -a; . '$here/compose/.env.example'; set +a; ${compose[*]} -f '$here/compose/docker-compose.yml' config -q"
step "AppHost, Kubernetes and compose set the same settings" same_settings_everywhere
step "azure.yaml points at the AppHost" test -f "$here/../LlmSecOps.AppHost/LlmSecOps.AppHost.csproj" -a -n "$(grep -F 'project: ../LlmSecOps.AppHost/LlmSecOps.AppHost.csproj' "$here/azure.yaml")"
if [ -s "$work/${overlays[0]:-none}.yaml" ]; then
  step "checks catch every seeded violation (self-test)" sh -c "cd '$here/checks' && '$python' -B selftest.py '$work/${overlays[0]}.yaml' '$here/compose/docker-compose.yml'"
fi

echo "== infra validation: $total checks, $failed failed"
[ "$failed" -eq 0 ]
