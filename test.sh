#!/usr/bin/env bash
# Runs the LlmSecOps test suite on a fresh Debian machine with the .NET SDK: installs what is missing (real
# redis-server and PostgreSQL binaries for the integration tests, the IP range database, the npm clients), builds
# the CI solution filter (everything except the Aspire AppHost projects, which need nuget.org and Docker) and runs
# every test project. Ends with one line "N passed, N failed, N skipped" and a non-zero exit if anything failed.
set -euo pipefail
cd "$(dirname "$0")"

configuration="${CONFIGURATION:-Release}"

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

# 1. System packages the tests start or read.
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null 2>&1 || missing+=(postgresql)
[ -f /usr/share/tor/geoip ] || missing+=(tor-geoipdb)
command -v git >/dev/null 2>&1 || missing+=(git)
command -v umoci >/dev/null 2>&1 || missing+=(umoci)
command -v skopeo >/dev/null 2>&1 || missing+=(skopeo)
command -v node >/dev/null 2>&1 || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    say "Installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "Missing packages: ${missing[*]}. Install them with: sudo apt-get install -y ${missing[*]}" >&2
    exit 2
  fi
fi

# 2. The official npm clients the compatibility tests drive (pinned by the lockfile).
for dir in tests/npm-clients; do
  if [ -f "$dir/package-lock.json" ] && [ ! -d "$dir/node_modules" ]; then
    say "npm ci in $dir"
    npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error
  fi
done

# 3. Build once, then run every test project.
say "Building LlmSecOps.ci.slnf ($configuration)"
dotnet build LlmSecOps.ci.slnf -c "$configuration" -nologo -clp:ErrorsOnly

# Each test project writes its TRX file into its own TestResults/ folder (one shared folder would let two
# projects finishing in the same second overwrite each other's file, which is named by timestamp).
rm -rf tests/*/TestResults
say "Running tests"
set +e
dotnet test LlmSecOps.ci.slnf -c "$configuration" --no-build -nologo \
  --logger "trx" --logger "console;verbosity=normal" "$@"
status=$?
set -e

# 4. One summary line over all test projects, from the TRX files.
read -r passed failed skipped < <(python3 - <<'PY'
import glob, sys, xml.etree.ElementTree as ET
p = f = s = 0
import json
expected = [proj for proj in json.load(open("LlmSecOps.ci.slnf"))["solution"]["projects"] if proj.endswith(".Tests.csproj")]
files = glob.glob("tests/*/TestResults/*.trx")
if len(files) < len(expected):
    print(f"only {len(files)} of {len(expected)} test projects wrote results", file=sys.stderr)
    f += len(expected) - len(files)
for path in files:
    c = ET.parse(path).getroot().find(".//{*}Counters")
    if c is None:
        continue
    p += int(c.get("passed", 0)); f += int(c.get("failed", 0)) + int(c.get("error", 0)) + int(c.get("timeout", 0)) + int(c.get("aborted", 0))
    s += int(c.get("notExecuted", 0))
print(p, f, s)
PY
)
# Name every failed test with the first lines of its message, so the tail of a CI log says what broke.
python3 - <<'PY' >&2 || true
import glob, xml.etree.ElementTree as ET
for path in sorted(glob.glob("tests/*/TestResults/*.trx")):
    root = ET.parse(path).getroot()
    for r in root.iter():
        if r.tag.endswith("UnitTestResult") and r.get("outcome") not in ("Passed", "NotExecuted"):
            msg = "".join(e.text or "" for e in r.iter() if e.tag.endswith("Message"))
            stack = "".join(e.text or "" for e in r.iter() if e.tag.endswith("StackTrace"))
            print(f"FAILED {r.get('testName')} ({r.get('duration')})")
            for line in (msg.strip().splitlines()[:12] + stack.strip().splitlines()[:6]):
                print(f"    {line[:300]}")
PY
echo "${passed} passed, ${failed} failed, ${skipped} skipped"
if [ "$status" -ne 0 ] || [ "$failed" -ne 0 ] || [ "$passed" -eq 0 ]; then
  exit 1
fi
