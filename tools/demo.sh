#!/usr/bin/env bash
# Sets up .venv if needed, then runs the main job on the embedded default (synthetic MARS-layout data).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup-env.sh
OUT=${1:-demo_out}
REID=.venv/bin/reid
[ -f "$OUT/data/mars/synth_summary.json" ] || $REID data synth --layout mars --out "$OUT/data/mars"
$REID data summary --dataset mars --data-root "$OUT/data/mars"
$REID train --config demo --data-root "$OUT/data/mars" --out "$OUT/runs/sta_demo"
