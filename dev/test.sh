#!/usr/bin/env bash
# Sets up everything the tests need on a Debian machine, then runs what CI
# runs: formatting, clippy, and every test (unit, end-to-end with real
# servers and clients). Run as root, or with sudo available.
set -euo pipefail
cd "$(dirname "$0")/.."
source dev/setup.sh

# Real database servers for the federation tests; each test starts its own.
test_packages=()
[ -x /usr/lib/postgresql/15/bin/initdb ] || test_packages+=(postgresql-15)
[ -x /usr/sbin/mariadbd ] || command -v mariadbd >/dev/null 2>&1 || test_packages+=(mariadb-server mariadb-client)
if [ "${#test_packages[@]}" -gt 0 ]; then
  step "apt-get install ${test_packages[*]}"
  as_root apt-get update -qq
  # Debian's packages start their own server; the tests never use it.
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${test_packages[@]}"
  for service in mariadb postgresql; do
    as_root service "$service" stop >/dev/null 2>&1 || true
  done
fi

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
