#!/usr/bin/env bash
# End-to-end check of ./run.sh as a newcomer would use it, for CI:
#   1. puts an `ollama` shim on PATH (no real Ollama can be installed here), so run.sh takes its "real Ollama" path;
#   2. starts ./run.sh on spare ports with a fresh state folder, waits until it prints LLMSECOPS_READY;
#   3. sends a real chat request with the printed demo key through the gateway (OpenAI API, then Ollama API),
#      checks a request without a key gets 401, revokes the demo key with the CLI and sees 401;
#   4. stops run.sh with Ctrl+C (SIGINT) and checks that nothing it started keeps running.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
work="$(mktemp -d)"
chmod 755 "$work"   # the postgres user must reach the state folder inside it
out="$work/run.out"
pass=0; fail=0
ok() { echo "PASS  $*"; pass=$((pass + 1)); }
ko() { echo "FAIL  $*"; fail=$((fail + 1)); }

mkdir -p "$work/shim"
ln -s "$root/tests/LlmSecOps.Simulator/ollama-shim.sh" "$work/shim/ollama"
export SIMULATOR_DLL="$root/tests/LlmSecOps.Simulator/bin/Release/net10.0/LlmSecOps.Simulator.dll"
export PATH="$work/shim:$PATH"
export LLMSECOPS_DATA_PORT=18080 LLMSECOPS_ADMIN_PORT=18081 LLMSECOPS_SCORER_PORT=18082 LLMSECOPS_WATCHER_PORT=18083
export LLMSECOPS_UPSTREAM_PORT=18434 LLMSECOPS_PG_PORT=18432 LLMSECOPS_REDIS_PORT=18379
export LLMSECOPS_STATE_DIR="$work/state"

setsid ./run.sh >"$out" 2>&1 &
run_pid=$!
deadline=$((SECONDS + 600))
until grep -q LLMSECOPS_READY "$out"; do
  if ! kill -0 "$run_pid" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
    cat "$out"; tail -n 50 "$work"/state/logs/*.log 2>/dev/null || true
    echo "run.sh did not become ready"; exit 1
  fi
  sleep 1
done
ok "run.sh became ready"
grep -q "Ollama ($work/shim/ollama)" "$out" && ok "run.sh used the ollama found on PATH" || ko "run.sh did not use the ollama on PATH"

key="$(sed -n 's/^Demo key (shown once): *//p' "$out" | tr -d '[:space:]')"
token="$(sed -n 's/^Admin token (keep it secret): *//p' "$out" | tr -d '[:space:]')"
model="$(curl -fsS "http://127.0.0.1:$LLMSECOPS_UPSTREAM_PORT/api/tags" | python3 -c 'import json,sys; print(json.load(sys.stdin)["models"][0]["name"])')"
data="http://127.0.0.1:$LLMSECOPS_DATA_PORT"

body="{\"model\":\"$model\",\"messages\":[{\"role\":\"user\",\"content\":\"Say hello\"}]}"
code="$(curl -s -o "$work/chat.json" -w '%{http_code}' "$data/v1/chat/completions" -H "Authorization: Bearer $key" -H 'Content-Type: application/json' -d "$body")"
if [ "$code" = 200 ] && python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["choices"][0]["message"]["content"]; assert d["usage"]["completion_tokens"] > 0' "$work/chat.json"; then
  ok "OpenAI chat through the gateway: 200 with content and usage"
else
  ko "OpenAI chat through the gateway: HTTP $code $(head -c 300 "$work/chat.json")"
fi
code="$(curl -s -o "$work/ochat.json" -w '%{http_code}' "$data/api/chat" -H "Authorization: Bearer $key" -d "{\"model\":\"$model\",\"stream\":false,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}")"
[ "$code" = 200 ] && grep -q '"done":true' "$work/ochat.json" && ok "Ollama chat through the gateway: 200" || ko "Ollama chat through the gateway: HTTP $code $(head -c 300 "$work/ochat.json")"
code="$(curl -s -o /dev/null -w '%{http_code}' "$data/v1/chat/completions" -H 'Content-Type: application/json' -d "$body")"
[ "$code" = 401 ] && ok "no key: 401" || ko "no key: HTTP $code"
code="$(curl -s -o /dev/null -w '%{http_code}' "$data/api/pull" -H "Authorization: Bearer $key" -d '{"model":"x"}')"
[ "$code" != 200 ] && ok "/api/pull refused ($code)" || ko "/api/pull answered 200"

key_id="$(cut -d_ -f3 <<<"$key")"
cli="$root/tools/LlmSecOps.Cli/bin/Release/net10.0/llmsecops.dll"
if LLMSECOPS_ADMIN_URL="http://127.0.0.1:$LLMSECOPS_ADMIN_PORT" LLMSECOPS_ADMIN_TOKEN="$token" dotnet "$cli" keys revoke "$key_id" --reason "smoke test" >/dev/null; then
  ok "CLI revoked the demo key"
else
  ko "CLI could not revoke the demo key"
fi
sleep 1
code="$(curl -s -o /dev/null -w '%{http_code}' "$data/v1/chat/completions" -H "Authorization: Bearer $key" -H 'Content-Type: application/json' -d "$body")"
[ "$code" = 401 ] && ok "revoked key: 401" || ko "revoked key: HTTP $code"

kill -INT -- "-$run_pid" 2>/dev/null || kill -INT "$run_pid"
for _ in $(seq 1 60); do kill -0 "$run_pid" 2>/dev/null || break; sleep 1; done
sleep 2
left="$(pgrep -af "$work|LlmSecOps\.(Gateway|AnomalyScorer|KeyLeakWatcher|Simulator)\.dll|redis-server .*:$LLMSECOPS_REDIS_PORT|postgres .*-p $LLMSECOPS_PG_PORT" | grep -v pgrep || true)"
[ -z "$left" ] && ok "Ctrl+C stopped everything" || ko "still running after Ctrl+C: $left"

echo "smoke-run finished: $pass checks ok, $fail checks failed"
[ "$fail" -eq 0 ] && rm -rf "$work"
[ "$fail" -eq 0 ]
