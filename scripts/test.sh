#!/usr/bin/env bash
# The whole test suite: Rust unit and integration tests, then the official Databricks SDK for
# Python held against the emulator, then the connect page of `brickwire serve` in a headless
# Chromium (Debian's chromium + chromium-driver, installed by .ci/run). Run from anywhere; creates
# .venv on first use.
# The venv comes first: the wire-fidelity test (crates/connector/tests/wire_fidelity.rs) runs
# the SDK from .venv during `cargo test`, and fails under CI when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install --quiet --disable-pip-version-check -r tests/sdk/requirements.txt \
  -r tests/browser/requirements.txt

cargo build --locked --bin brickwire
cargo test --locked --workspace

export BRICKWIRE_BIN="${CARGO_TARGET_DIR:-target}/debug/brickwire"
.venv/bin/python -m pytest -q tests/sdk
.venv/bin/python -m pytest -q tests/browser
