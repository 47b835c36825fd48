#!/usr/bin/env bash
# Sets up .venv if needed, then runs the main job on the embedded default: `reid demo` (synthetic MARS-layout data ->
# STA + TP training -> evaluation -> ONNX export -> ONNX Runtime embedding and search -> latency -> report.md).
# Usage: bash tools/demo.sh [OUT] [reid demo options, e.g. --fast or --force]
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup-env.sh
OUT=${1:-demo_out}
[ $# -gt 0 ] && shift
exec .venv/bin/reid demo --out "$OUT" "$@"
