#!/usr/bin/env bash
# Sets up .venv if needed, then runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup-env.sh
exec .venv/bin/python -m pytest -q "$@"
