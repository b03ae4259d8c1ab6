#!/usr/bin/env bash
# Sets up everything the tests need on a Debian machine, then runs what CI
# runs: formatting, clippy, and every test (unit, end-to-end with real
# servers and clients). Run as root, or with sudo available.
set -euo pipefail
cd "$(dirname "$0")/.."
source dev/setup.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "build the tributary binary the end-to-end tests run"
cargo build --workspace --all-targets --locked

step "tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
else
  cargo test --workspace --locked --no-fail-fast
fi
