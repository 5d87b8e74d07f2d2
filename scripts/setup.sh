#!/usr/bin/env bash
# Creates .venv (functions, tests), .venv-tasks (the Cloud Tasks emulator) and .venv-checkov (static
# analysis of terraform/), and checks the emulator jars.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
FIRESTORE_JAR="${FIRESTORE_EMULATOR_JAR:-/usr/lib/google-cloud-sdk/platform/cloud-firestore-emulator/cloud-firestore-emulator.jar}"
PUBSUB_BIN="${PUBSUB_EMULATOR_BIN:-/usr/lib/google-cloud-sdk/platform/pubsub-emulator/bin/cloud-pubsub-emulator}"

missing=0
for f in "$FIRESTORE_JAR" "$PUBSUB_BIN"; do
  if [ ! -e "$f" ]; then echo "setup: missing emulator $f (install google-cloud-cli with its emulator components)" >&2; missing=1; fi
done
command -v java >/dev/null || { echo "setup: java not found; the Firestore and Pub/Sub emulators need Java 11+" >&2; missing=1; }
[ "$missing" = 0 ] || exit 3

stamp() { sha256sum "$@" | sha256sum | cut -c1-16; }
# pip's output goes to a log shown only on failure (the machine's pip config prints a warning per package).
pip_quiet() { local venv=$1; shift; "$venv/bin/pip" install -q "$@" >"$venv/pip.log" 2>&1 || { cat "$venv/pip.log" >&2; exit 1; }; }

if [ ! -x .venv/bin/python ] || [ "$(cat .venv/.stamp 2>/dev/null)" != "$(stamp requirements.txt requirements-dev.txt requirements-tfschema.txt)" ]; then
  echo "setup: installing .venv"
  "$PYTHON" -m venv .venv
  pip_quiet .venv --upgrade pip
  pip_quiet .venv -r requirements-dev.txt
  # Provider schemas for tests/infra: read as files, never imported, so not byte-compiled.
  pip_quiet .venv --no-compile -r requirements-tfschema.txt
  stamp requirements.txt requirements-dev.txt requirements-tfschema.txt > .venv/.stamp
fi
if [ ! -x .venv-tasks/bin/python ] || [ "$(cat .venv-tasks/.stamp 2>/dev/null)" != "$(stamp requirements-tasks-emulator.txt)" ]; then
  echo "setup: installing .venv-tasks"
  "$PYTHON" -m venv .venv-tasks
  pip_quiet .venv-tasks -r requirements-tasks-emulator.txt
  stamp requirements-tasks-emulator.txt > .venv-tasks/.stamp
fi
if [ ! -x .venv-checkov/bin/checkov ] || [ "$(cat .venv-checkov/.stamp 2>/dev/null)" != "$(stamp requirements-checkov.txt)" ]; then
  echo "setup: installing .venv-checkov"
  "$PYTHON" -m venv .venv-checkov
  pip_quiet .venv-checkov -r requirements-checkov.txt
  stamp requirements-checkov.txt > .venv-checkov/.stamp
fi
