#!/usr/bin/env bash
# Gateway benchmark (issue 4): requests/s, added latency at concurrency 1 and time to first token of the simulator
# called directly, nginx proxy_pass, @portkey-ai/gateway and the LlmSecOps gateway, side by side in one run.
#   bench/gateway/run.sh            full run (~10 minutes), writes docs/benchmarks/gateway.md
#   bench/gateway/run.sh --quick    ~2-3 minutes, prints the table only (add --write to write the doc)
#   bench/gateway/run.sh --help     every option
# Installs what is missing (nginx, wrk, redis-server; Portkey from its lockfile) when run as root. Not a CI gate.
set -euo pipefail
cd "$(dirname "$0")/../.."

missing=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v node >/dev/null 2>&1 || missing+=(nodejs npm)
command -v taskset >/dev/null 2>&1 || missing+=(util-linux)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "bench/gateway: missing packages: ${missing[*]}; install them with: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "bench/gateway: installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
export PATH="$PATH:/usr/sbin"
if [ ! -d bench/gateway/portkey/node_modules/@portkey-ai/gateway ]; then
  (cd bench/gateway/portkey && npm ci --no-audit --no-fund)
fi
exec python3 bench/gateway/bench.py "$@"
