#!/usr/bin/env bash
# A stand-in `ollama` executable backed by the LlmSecOps simulator (a test double), for exercising the
# "real Ollama on PATH" path of ./run.sh on machines where no Ollama can be installed:
#   mkdir -p /tmp/shim && ln -s "$PWD/tests/LlmSecOps.Simulator/ollama-shim.sh" /tmp/shim/ollama && PATH=/tmp/shim:$PATH
# Supports `ollama serve` (honours OLLAMA_HOST like Ollama: host:port, :port or a URL) and `ollama --version`.
# SIMULATOR_DLL may point at a built LlmSecOps.Simulator.dll; otherwise the project is run with `dotnet run`.
set -euo pipefail
here=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)

case "${1:-}" in
  serve)
    host=${OLLAMA_HOST:-127.0.0.1:11434}
    [[ $host == :* ]] && host="127.0.0.1$host"
    [[ $host == *://* ]] || host="http://$host"
    [[ $host =~ :[0-9]+/?$ ]] || host="${host%/}:11434"
    if [[ -n ${SIMULATOR_DLL:-} ]]; then
      exec dotnet "$SIMULATOR_DLL" --urls "$host"
    fi
    exec dotnet run --project "$here" --no-launch-profile -- --urls "$host"
    ;;
  -v|--version|version)
    echo "ollama version is 0.12.6 (LlmSecOps simulator shim)"
    ;;
  *)
    echo "ollama shim (LlmSecOps simulator): only 'serve' and '--version' are supported" >&2
    exit 2
    ;;
esac
