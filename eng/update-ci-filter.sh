#!/usr/bin/env bash
# Regenerates LlmSecOps.ci.slnf: every project of LlmSecOps.sln except those that restore only where nuget.org's
# Aspire packages and Docker are available (the AppHost and its smoke test). CI and ./test.sh build this filter.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 - <<'PY'
import json, re
projects = re.findall(r'"([^"]+\.csproj)"', open("LlmSecOps.sln").read())
projects = sorted(p.replace("\\", "/") for p in projects if "AppHost" not in p)
json.dump({"solution": {"path": "LlmSecOps.sln", "projects": projects}}, open("LlmSecOps.ci.slnf", "w"), indent=2)
print(f"LlmSecOps.ci.slnf: {len(projects)} projects")
PY
