#!/usr/bin/env bash
# The whole test suite: unit, integration on the real emulators, end-to-end through functions-framework.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest "$@"
