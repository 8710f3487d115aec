#!/usr/bin/env bash
# Starts the whole LlmSecOps stack locally, without Docker:
#   real PostgreSQL and Redis from local binaries (installed with apt when missing and run as root),
#   a real Ollama when `ollama` is on PATH, else the protocol simulator (a test double) as the upstream,
#   the gateway (data plane 8080, admin 8081 on loopback), the anomaly scorer (8082) and the key-leak watcher (8083).
# It approves the upstream's models, creates a demo tenant and prints a key that can chat at once.
# Ctrl+C stops everything it started. State (database, logs) lives in .run/ (delete it to start afresh).
set -euo pipefail
cd "$(dirname "$0")"
root="$(pwd)"
state="${LLMSECOPS_STATE_DIR:-$root/.run}"
mkdir -p "$state/logs"

DATA_PORT="${LLMSECOPS_DATA_PORT:-8080}"
ADMIN_PORT="${LLMSECOPS_ADMIN_PORT:-8081}"
SCORER_PORT="${LLMSECOPS_SCORER_PORT:-8082}"
WATCHER_PORT="${LLMSECOPS_WATCHER_PORT:-8083}"
UPSTREAM_PORT="${LLMSECOPS_UPSTREAM_PORT:-11434}"
PG_PORT="${LLMSECOPS_PG_PORT:-55432}"
REDIS_PORT="${LLMSECOPS_REDIS_PORT:-56379}"
configuration="${CONFIGURATION:-Release}"

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { printf '\033[31mrun.sh: %s\033[0m\n' "$*" >&2; exit 1; }
pids=()
cleanup() {
  trap - INT TERM EXIT
  say "Stopping"
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -n "${pg_bin:-}" ] && [ -f "$state/pg/data/postmaster.pid" ]; then
    as_pg "$pg_bin/pg_ctl" -D "$state/pg/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  say "Stopped"
}
trap cleanup EXIT
trap 'cleanup; exit 0' INT TERM

secret() { head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c "${1:-40}"; }
wait_http() { # url timeout-seconds
  local deadline=$((SECONDS + $2))
  until curl -fsS -o /dev/null "$1" 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.3
  done
}
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# --- 1. prerequisites -------------------------------------------------------------------------------------------
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
command -v curl >/dev/null 2>&1 || missing+=(curl)
[ -f /usr/share/tor/geoip ] || missing+=(tor-geoipdb)
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" -eq 0 ] || die "missing packages: ${missing[*]}; install them with: sudo apt-get install -y ${missing[*]}"
  say "Installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
pg_bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)"
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
for p in "$DATA_PORT" "$ADMIN_PORT" "$SCORER_PORT" "$WATCHER_PORT" "$PG_PORT" "$REDIS_PORT"; do
  port_free "$p" || die "port $p is in use (set LLMSECOPS_*_PORT to move it, or stop what holds it)"
done

say "Building ($configuration)"
dotnet build LlmSecOps.ci.slnf -c "$configuration" -nologo -clp:ErrorsOnly >"$state/logs/build.log" 2>&1 \
  || { tail -n 40 "$state/logs/build.log"; die "build failed (full log: .run/logs/build.log)"; }
bin() { echo "$root/$1/bin/$configuration/net10.0/$2.dll"; }

# --- 2. secrets (generated once, kept in .run/secrets, mode 600) -------------------------------------------------
secrets="$state/secrets"
if [ ! -f "$secrets" ]; then
  umask 077
  cat >"$secrets" <<SECRETS
PG_PASSWORD=$(secret 32)
REDIS_PASSWORD=$(secret 32)
PEPPER=$(secret 48)
GENERATED_ADMIN_TOKEN=lsoadm_$(secret 40)
SECRETS
fi
# shellcheck disable=SC1090
. "$secrets"
ADMIN_TOKEN="${LLMSECOPS_ADMIN_TOKEN:-$GENERATED_ADMIN_TOKEN}"

# --- 3. PostgreSQL and Redis ------------------------------------------------------------------------------------
if [ "$(id -u)" -eq 0 ] && ! runuser -u postgres -- test -x "$state"; then
  die "the postgres user cannot reach $state (a parent folder is private); choose another LLMSECOPS_STATE_DIR"
fi
if [ ! -d "$state/pg/data" ]; then
  say "Creating the PostgreSQL cluster in .run/pg"
  mkdir -p "$state/pg"
  printf '%s\n' "$PG_PASSWORD" >"$state/pg/pwfile"
  [ "$(id -u)" -ne 0 ] || chown -R postgres:postgres "$state/pg"
  as_pg "$pg_bin/initdb" -D "$state/pg/data" -U postgres --auth=scram-sha-256 --pwfile="$state/pg/pwfile" -E UTF8 --locale=C >"$state/logs/initdb.log"
  rm -f "$state/pg/pwfile"
fi
[ "$(id -u)" -ne 0 ] || chown -R postgres:postgres "$state/pg"
say "Starting PostgreSQL on 127.0.0.1:$PG_PORT"
as_pg "$pg_bin/pg_ctl" -D "$state/pg/data" -l "$state/pg/server.log" \
  -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$state/pg" -w start >/dev/null
PGPASSWORD="$PG_PASSWORD" psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='llmsecops'" | grep -q 1 \
  || PGPASSWORD="$PG_PASSWORD" psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc "CREATE DATABASE llmsecops" >/dev/null

say "Starting Redis on 127.0.0.1:$REDIS_PORT"
mkdir -p "$state/redis"
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --requirepass "$REDIS_PASSWORD" --dir "$state/redis" \
  --appendonly yes --save '' --daemonize no >"$state/logs/redis.log" 2>&1 &
pids+=($!)

# --- 4. the upstream --------------------------------------------------------------------------------------------
upstream="http://127.0.0.1:$UPSTREAM_PORT"
if curl -fsS -o /dev/null "$upstream/api/version" 2>/dev/null; then
  upstream_kind="an Ollama already running at $upstream"
elif command -v ollama >/dev/null 2>&1; then
  say "Starting the real Ollama ($(command -v ollama)) on $upstream"
  OLLAMA_HOST="127.0.0.1:$UPSTREAM_PORT" ollama serve >"$state/logs/ollama.log" 2>&1 &
  pids+=($!)
  upstream_kind="Ollama ($(command -v ollama))"
else
  say "No ollama on PATH: starting the simulator (a test double) on $upstream"
  dotnet "$(bin tests/LlmSecOps.Simulator LlmSecOps.Simulator)" --urls "$upstream" >"$state/logs/simulator.log" 2>&1 &
  pids+=($!)
  upstream_kind="the LlmSecOps simulator (test double; no model runs)"
fi
wait_http "$upstream/api/version" 60 || die "the upstream did not answer at $upstream (log: .run/logs/)"

# --- 5. the gateway ---------------------------------------------------------------------------------------------
export ConnectionStrings__llmsecops="Host=127.0.0.1;Port=$PG_PORT;Database=llmsecops;Username=postgres;Password=$PG_PASSWORD"
export ConnectionStrings__redis="127.0.0.1:$REDIS_PORT,password=$REDIS_PASSWORD"
export ConnectionStrings__ollama="Endpoint=$upstream"
export Keys__Pepper="$PEPPER"
export Audit__CheckpointPath="$state/audit-checkpoints.jsonl"
export DataPlane__JournalDirectory="$state/journal"
export ControlPlane__BootstrapAdminToken="$ADMIN_TOKEN"
export Listeners__Data__Port="$DATA_PORT" Listeners__Admin__Port="$ADMIN_PORT"
export Listeners__Management__Port="$SCORER_PORT" Listeners__Web__Port="$WATCHER_PORT"
admin="http://127.0.0.1:$ADMIN_PORT"
say "Starting the gateway (data plane :$DATA_PORT, admin :$ADMIN_PORT on loopback)"
dotnet "$(bin services/LlmSecOps.Gateway LlmSecOps.Gateway)" >"$state/logs/gateway.log" 2>&1 &
pids+=($!)
wait_http "$admin/health/ready" 90 || { tail -n 30 "$state/logs/gateway.log"; die "the gateway did not become ready (log: .run/logs/gateway.log)"; }

api() { # method path [json]
  curl -fsS -X "$1" "$admin$2" -H "Authorization: Bearer $ADMIN_TOKEN" -H 'Content-Type: application/json' ${3:+-d "$3"}
}
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

# --- 6. approve the upstream's models, a demo tenant and key, service tokens ------------------------------------
say "Approving the upstream's models (pinned to their current digests)"
models="$(curl -fsS "$upstream/api/tags" | python3 -c 'import json,sys; [print(m["name"], m["digest"]) for m in json.load(sys.stdin)["models"]]')"
while read -r name digest; do
  [ -n "$name" ] || continue
  case "$digest" in sha256:*) ;; *) digest="sha256:$digest" ;; esac
  api PUT "/admin/models/$name" "{\"digest\":\"$digest\"}" >/dev/null && echo "    approved $name ($digest)"
done <<<"$models"
first_model="$(head -n1 <<<"$models" | cut -d' ' -f1)"

tenant_id="$(api POST /admin/tenants '{"name":"demo","tier":"default"}' | json '["id"]')"
demo_key="$(api POST "/admin/tenants/$tenant_id/keys" '{"name":"demo key"}' | json '["key"]')"
scorer_token="$(api POST /admin/tokens '{"role":"service","name":"anomaly-scorer"}' | json '["token"]')"
watcher_token="$(api POST /admin/tokens '{"role":"service","name":"key-leak-watcher"}' | json '["token"]')"

# --- 7. the scorer and the watcher ------------------------------------------------------------------------------
export ControlPlane__BaseUrl="$admin"
say "Starting the anomaly scorer (:$SCORER_PORT) and the key-leak watcher (:$WATCHER_PORT)"
ControlPlane__Token="$scorer_token" dotnet "$(bin services/LlmSecOps.AnomalyScorer LlmSecOps.AnomalyScorer)" >"$state/logs/scorer.log" 2>&1 &
pids+=($!)
ControlPlane__Token="$watcher_token" dotnet "$(bin services/LlmSecOps.KeyLeakWatcher LlmSecOps.KeyLeakWatcher)" >"$state/logs/watcher.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$SCORER_PORT/health/ready" 60 || die "the scorer did not become ready (log: .run/logs/scorer.log)"
wait_http "http://127.0.0.1:$WATCHER_PORT/health/ready" 60 || die "the watcher did not become ready (log: .run/logs/watcher.log)"

cat <<SUMMARY

LlmSecOps is running.
  gateway data plane   http://127.0.0.1:$DATA_PORT   (OpenAI /v1/*, Ollama /api/*)
  gateway admin API    $admin   (loopback only)
  anomaly scorer       http://127.0.0.1:$SCORER_PORT/health/ready
  key-leak watcher     http://127.0.0.1:$WATCHER_PORT/health/ready
  upstream             $upstream_kind
  PostgreSQL           127.0.0.1:$PG_PORT (database llmsecops)    Redis 127.0.0.1:$REDIS_PORT
  logs                 .run/logs/

Admin token (keep it secret):  $ADMIN_TOKEN
Demo tenant:                   $tenant_id
Demo key (shown once):         $demo_key

Try it:
  curl -s http://127.0.0.1:$DATA_PORT/v1/chat/completions -H "Authorization: Bearer $demo_key" \\
    -H 'Content-Type: application/json' -d '{"model":"$first_model","messages":[{"role":"user","content":"Hello"}]}'
  export LLMSECOPS_ADMIN_URL=$admin LLMSECOPS_ADMIN_TOKEN=$ADMIN_TOKEN
  dotnet tools/LlmSecOps.Cli/bin/$configuration/net10.0/llmsecops.dll keys list $tenant_id

Press Ctrl+C to stop everything.
LLMSECOPS_READY
SUMMARY
wait -n "${pids[@]}" || true
die "a component exited unexpectedly; see .run/logs/"
