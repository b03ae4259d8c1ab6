#!/usr/bin/env bash
# Builds Tributary and serves the embedded default (the sample dataset) on
# 127.0.0.1:5433. Then, in another terminal:
#   psql -h 127.0.0.1 -p 5433 -U tributary
# Extra arguments go to `tributary serve` (try --help).
set -euo pipefail
cd "$(dirname "$0")/.."
source dev/setup.sh

step "build tributary (release)"
cargo build --locked --release -p tributary-gateway --bin tributary
exec ./target/release/tributary serve "$@"
