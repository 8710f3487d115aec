#!/usr/bin/env bash
# Regenerates docs/BENCHMARKS.md from the per-part reports in docs/benchmarks/*.md (each written by its benchmark's
# owner with the exact command, the machine facts and the measured figures).
set -euo pipefail
cd "$(dirname "$0")/.."
{
  echo "# Benchmarks"
  echo
  echo "Every figure below was measured on this project's build machine kind (Debian 12, 2 cores, 24 GiB), side by side"
  echo "in one run where a peer exists, with the command that produced it. None of them is a CI gate; tests never"
  echo "assert timings. Most runs were taken while the 2 cores were shared with other builds (the load average is"
  echo "given with each): read the ratios, and re-run on a quiet machine before quoting absolute numbers."
  echo
  echo "Sections (generated from docs/benchmarks/ by eng/update-benchmarks-doc.sh):"
  echo
  for f in docs/benchmarks/*.md; do
    title="$(grep -m1 '^#' "$f" | sed 's/^#* *//')"
    echo "- [$title](benchmarks/$(basename "$f"))"
  done
  for f in docs/benchmarks/*.md; do
    echo
    echo "---"
    echo
    sed -e 's/^# /## /' "$f"
  done
} > docs/BENCHMARKS.md
echo "docs/BENCHMARKS.md: $(ls docs/benchmarks/*.md | wc -l) sections"
