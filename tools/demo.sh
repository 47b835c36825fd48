#!/usr/bin/env bash
# Sets up .venv if needed, then runs the main job on the embedded default: `reid demo`, which runs the toolkit's own
# commands (reid data synth -> train (STA + TP) -> eval -> export -> info -> embed -> search -> bench latency) and
# writes report.md with every figure and the commands each stage ran.
# Usage: bash tools/demo.sh [OUT] [reid demo options, e.g. --fast or --force]
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup-env.sh
OUT=${1:-demo_out}
[ $# -gt 0 ] && shift
exec .venv/bin/reid demo --out "$OUT" "$@"
