#!/usr/bin/env bash
# The main job, locally: a scripted WhatsApp conversation through every function on the local emulators.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m dev.demo "$@"
