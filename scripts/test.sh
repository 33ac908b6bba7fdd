#!/usr/bin/env bash
# The whole test suite: Rust unit and integration tests, then the official Databricks SDK for
# Python held against the emulator. Run from anywhere; creates .venv on first use.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --locked --bin brickwire
cargo test --locked --workspace

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install --quiet --disable-pip-version-check -r tests/sdk/requirements.txt
BRICKWIRE_BIN="${CARGO_TARGET_DIR:-target}/debug/brickwire" .venv/bin/python -m pytest -q tests/sdk
