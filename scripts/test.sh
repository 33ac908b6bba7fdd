#!/usr/bin/env bash
# The whole test suite: Rust unit and integration tests, then the official Databricks SDK for
# Python held against the emulator, then the connect page of `brickwire serve` in a headless
# Chromium (Debian's chromium + chromium-driver). Run from anywhere; installs the missing Debian
# packages and creates .venv on first use. The store's suites run on SQLite and on a throwaway
# PostgreSQL server that scripts/postgres.sh starts (installing Debian's postgresql if needed).
# The venv comes first: the wire-fidelity test (crates/connector/tests/it/wire_fidelity.rs) runs
# the SDK from .venv during `cargo test`, and fails under CI when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages on a fresh Debian machine: Python's venv for the SDK suite, Debian's Chromium
# and ChromeDriver for the browser suite (tests/browser).
missing=()
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then sudo=sudo; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install --quiet --disable-pip-version-check -r tests/sdk/requirements.txt \
  -r tests/browser/requirements.txt

source scripts/postgres.sh

cargo build --locked --bin brickwire
# The flow crash tests (crates/service/tests/it/flows_crash.rs) kill -9 this binary too.
export BRICKWIRE_BIN="${CARGO_TARGET_DIR:-target}/debug/brickwire"
cargo test --locked --workspace

.venv/bin/python -m pytest -q tests/sdk
.venv/bin/python -m pytest -q tests/browser
