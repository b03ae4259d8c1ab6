#!/usr/bin/env bash
# Tributary in front of PostgreSQL against PostgreSQL itself: a filtered
# aggregate (ratio of medians) and a large extraction (rows/s, the gateway's
# peak RSS). See bench/README.md. Environment:
#   ROWS=1000000 EXTRACT_ROWS=10000000 RUNS=5 EXTRACT_RUNS=3 WARMUP=1
#   EXTRACT_MODES="copy plain fetch http" FETCH_COUNT=10000
#   TRIBUTARY_BIN=path/to/tributary (default target/release/tributary, built
#   here if missing) PG_BIN=/usr/lib/postgresql/15/bin BENCH_TMPDIR=/tmp
#   RESULTS_DIR=bench/results RESULTS_JSON=path KEEP_TMP=1
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"

if [[ -z "${TRIBUTARY_BIN:-}" ]]; then
  TRIBUTARY_BIN="$repo/target/release/tributary"
  if [[ ! -x "$TRIBUTARY_BIN" ]]; then
    echo "no $TRIBUTARY_BIN: building it (cargo build --release --locked -p tributary-gateway)" >&2
    (cd "$repo" && cargo build --release --locked -p tributary-gateway)
  elif [[ -n "$(find "$repo"/{gateway,pgwire,catalog,connectors} "$repo/Cargo.lock" \
                  -newer "$TRIBUTARY_BIN" \( -name '*.rs' -o -name Cargo.toml -o -name Cargo.lock \) \
                  -print -quit 2>/dev/null)" ]]; then
    echo "warning: $TRIBUTARY_BIN is older than the sources; rebuild with" \
         "cargo build --release -p tributary-gateway for current numbers" >&2
  fi
fi
export TRIBUTARY_BIN
if [[ ! -x "$TRIBUTARY_BIN" ]]; then
  echo "TRIBUTARY_BIN=$TRIBUTARY_BIN is not an executable file" >&2
  exit 2
fi

command -v psql >/dev/null || { echo "psql not found: apt-get install -y postgresql-client-15" >&2; exit 2; }
command -v curl >/dev/null || { echo "curl not found (the http extraction mode uses it): apt-get install -y curl" >&2; exit 2; }
pg_bin="${PG_BIN:-/usr/lib/postgresql/15/bin}"
[[ -x "$pg_bin/initdb" ]] || { echo "no $pg_bin/initdb: apt-get install -y postgresql-15, or set PG_BIN" >&2; exit 2; }
python3 -c 'import sys; sys.exit(sys.version_info < (3, 9))' \
  || { echo "python3 >= 3.9 is needed" >&2; exit 2; }

exec python3 "$here/federation.py" "$@"
