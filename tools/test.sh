#!/usr/bin/env bash
# Sets up .venv if needed, lints (ruff), then runs the whole test suite (which includes the layering contract).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup-env.sh
.venv/bin/ruff check .
exec .venv/bin/python -m pytest -q "$@"
