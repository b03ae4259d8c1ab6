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

# The clients the end-to-end tests drive: psql (dev/setup.sh), pgjdbc with
# a Java runtime, psqlODBC with unixODBC's isql, and a venv with the Python
# clients (tests/clients/requirements.txt).
client_packages=()
command -v java >/dev/null 2>&1 || client_packages+=(openjdk-17-jre-headless)
[ -f /usr/share/java/postgresql.jar ] || client_packages+=(libpostgresql-jdbc-java)
command -v isql >/dev/null 2>&1 || client_packages+=(unixodbc)
[ -n "$(find /usr/lib -name psqlodbcw.so -print -quit 2>/dev/null)" ] || client_packages+=(odbc-postgresql)
python3 -c "import ensurepip, venv" >/dev/null 2>&1 || client_packages+=(python3-venv)
if [ "${#client_packages[@]}" -gt 0 ]; then
  step "apt-get install ${client_packages[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${client_packages[@]}"
fi
# A venv at $1 with the pinned requirements file $2, made again only when
# that file changed.
venv_with() {
  if ! cmp -s "$2" "$1/requirements.txt"; then
    step "python venv $1 ($2)"
    rm -rf "$1"
    python3 -m venv "$1"
    "$1/bin/pip" install -q --disable-pip-version-check -r "$2"
    cp "$2" "$1/requirements.txt"
  fi
}
venv_with target/client-venv tests/clients/requirements.txt
export TRIBUTARY_CLIENT_PYTHON="$PWD/target/client-venv/bin/python"
# Superset pins SQLAlchemy 1.4: its own venv (about two minutes the first time).
venv_with target/superset-venv tests/clients/superset-requirements.txt
export TRIBUTARY_SUPERSET_VENV="$PWD/target/superset-venv"
# pysqlbridge, the TDS server standing in for SQL Server: its own venv.
venv_with target/pysqlbridge-venv tests/clients/pysqlbridge-requirements.txt
export TRIBUTARY_PYSQLBRIDGE="$PWD/target/pysqlbridge-venv/bin/pysqlbridge"
# schemathesis, the HTTP API fuzzer driven by docs/openapi.json: its own venv.
venv_with target/schemathesis-venv tests/clients/schemathesis-requirements.txt
export TRIBUTARY_SCHEMATHESIS="$PWD/target/schemathesis-venv/bin/schemathesis"

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

# Decoder-level fuzzing (libFuzzer, through cargo fuzz): tributary-frames'
# checks and pgwire's decoder behind them, for a bounded time from the kept
# corpus (fuzz/corpus/; new finds go to a temp dir, crashes to
# fuzz/artifacts/). RUSTC_BOOTSTRAP: cargo fuzz passes flags that our one
# stable toolchain only takes so; no sanitizer, the code is safe Rust.
if ! cargo fuzz --version >/dev/null 2>&1; then
  step "cargo install cargo-fuzz"
  cargo install --locked cargo-fuzz@0.13.2
fi
step "cargo fuzz run frontend_messages (${TRIBUTARY_FUZZ_SECONDS:-60} s)"
fuzz_found="$(mktemp -d)"
(cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none frontend_messages \
  "$fuzz_found" corpus/frontend_messages -- -max_total_time="${TRIBUTARY_FUZZ_SECONDS:-60}")
rm -rf "$fuzz_found"
