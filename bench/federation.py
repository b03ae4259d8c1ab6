#!/usr/bin/env python3
"""Tributary in front of PostgreSQL, against PostgreSQL itself, on one machine.

Run it through ./bench/federation.sh (which finds or builds the binary). It

1. starts a throw-away PostgreSQL 15 (initdb in a temp dir, fsync off),
   creates database `bench`, a `lineitem` table of ROWS rows and a `big`
   table of EXTRACT_ROWS rows, both from generate_series, and VACUUM ANALYZEs;
2. starts `tributary serve` with that database as source `pg`;
3. times a filtered aggregate (pushed down whole into PostgreSQL) RUNS times
   in one psql session per path, with psql's \\timing (connection set-up is
   not counted), and reports the medians and their ratio; then the same
   aggregate and a point lookup answered from the result cache (a second
   source with cache_ttl), beside PostgreSQL answering them directly;
4. extracts the whole `big` table with psql once per client mode (`plain`:
   psql reads the whole result, `fetch`: psql's FETCH_COUNT, a cursor),
   EXTRACT_RUNS times per path, on a fresh gateway per mode, and reports
   rows/s, the gateway's peak RSS (VmHWM in /proc/<pid>/status, before and
   after) and CPU time, and psql's own peak RSS;
5. prints a Markdown table and writes it to bench/results/.

Timings are reported, never asserted; the script fails only when something
does not run. Standard library only (Python 3.9+); needs psql and the
PostgreSQL server binaries.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").replace("_", "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        sys.exit(f"{name}={os.environ[name]!r} is not an integer")
    if value < 0:
        sys.exit(f"{name} must not be negative")
    return value


ROWS = env_int("ROWS", 1_000_000)
EXTRACT_ROWS = env_int("EXTRACT_ROWS", 10_000_000)
RUNS = max(1, env_int("RUNS", 5))
WARMUP = env_int("WARMUP", 1)
EXTRACT_RUNS = max(1, env_int("EXTRACT_RUNS", 3))
FETCH_COUNT = max(1, env_int("FETCH_COUNT", 10_000))
EXTRACT_MODES = os.environ.get("EXTRACT_MODES", "copy plain fetch http").split()
PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
TRIBUTARY_BIN = Path(os.environ.get("TRIBUTARY_BIN", REPO / "target/release/tributary"))
RESULTS_DIR = Path(os.environ.get("RESULTS_DIR", BENCH_DIR / "results"))
KEEP_TMP = os.environ.get("KEEP_TMP", "") not in ("", "0")
START_TIMEOUT = 180  # seconds for the gateway to listen (debug builds are slow)

for mode in EXTRACT_MODES:
    if mode not in ("copy", "plain", "fetch", "http"):
        sys.exit(f"EXTRACT_MODES: unknown mode {mode!r} (use copy, plain, fetch and/or http)")

# The filtered aggregate: count, sum, min and max are on Tributary's pushdown
# allowlist (avg over numeric is not), so the whole statement runs in
# PostgreSQL and one row per group comes back.
AGG_WHERE = "l_shipdate >= DATE '1995-01-01'"
AGG_SELECT = (
    "SELECT l_returnflag, count(*) AS n, sum(l_quantity) AS qty, "
    "min(l_extendedprice) AS min_price, max(l_discount) AS max_disc "
    "FROM {table} WHERE " + AGG_WHERE + " GROUP BY l_returnflag ORDER BY l_returnflag"
)
EXTRACT_SELECT = "SELECT id, k, price, label, d, ts, flag, qty, code, ratio FROM {table}"
# Small results for the cache: the aggregate above, and a point lookup (a
# sequential scan in PostgreSQL: lineitem has no index).
LOOKUP_SELECT = "SELECT l_orderkey, l_quantity, l_comment FROM {table} WHERE l_orderkey = 4242"
# And an indexed lookup PostgreSQL answers in a fraction of a millisecond:
# the floor of any gateway's overhead.
INDEXED_SELECT = "SELECT id, k, price, label, d FROM {table} WHERE id = 4242"
CACHE_QUERIES = (("filtered aggregate", AGG_SELECT), ("point lookup", LOOKUP_SELECT),
                 ("indexed lookup", INDEXED_SELECT))

LINEITEM_SQL = """
CREATE TABLE lineitem (
    l_orderkey      bigint        NOT NULL,
    l_partkey       integer       NOT NULL,
    l_quantity      integer       NOT NULL,
    l_extendedprice numeric(12,2) NOT NULL,
    l_discount      numeric(4,2)  NOT NULL,
    l_returnflag    char(1)       NOT NULL,
    l_linestatus    char(1)       NOT NULL,
    l_shipdate      date          NOT NULL,
    l_comment       text          NOT NULL
);
INSERT INTO lineitem
SELECT g,
       1 + (g * 7919) % 200000,
       1 + (g * 7) % 50,
       900 + ((g * 104729) % 10000000) / 100.0,
       ((g * 13) % 11) / 100.0,
       (ARRAY['A', 'N', 'R'])[1 + (g * 17) % 3],
       (ARRAY['F', 'O'])[1 + (g * 5) % 2],
       DATE '1992-01-02' + ((g * 29) % 2526)::int,
       md5(g::text)
FROM generate_series(1, {rows}::bigint) AS g;
"""

BIG_SQL = """
CREATE TABLE big (
    id    bigint        NOT NULL,
    k     integer       NOT NULL,
    price numeric(12,2) NOT NULL,
    label text          NOT NULL,
    d     date          NOT NULL,
    ts    timestamp     NOT NULL,
    flag  boolean       NOT NULL,
    qty   smallint      NOT NULL,
    code  char(8)       NOT NULL,
    ratio double precision NOT NULL
);
INSERT INTO big
SELECT g,
       (g % 1000)::int,
       ((g * 7919) % 10000000) / 100.0,
       'item-' || g,
       DATE '2000-01-01' + (g % 9000)::int,
       TIMESTAMP '2020-01-01' + (g % 100000) * INTERVAL '1 minute',
       g % 3 = 0,
       (g % 500)::smallint,
       lpad((g % 99991)::text, 8, '0'),
       (g % 1000) / 7.0
FROM generate_series(1, {rows}::bigint) AS g;
CREATE UNIQUE INDEX big_id ON big (id);
"""


def log(message: str) -> None:
    stamp = datetime.datetime.now().strftime("%H:%M:%S")
    print(f"[{stamp}] {message}", file=sys.stderr, flush=True)


class BenchError(Exception):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env() -> dict:
    """The environment for psql and the gateway, without settings that would
    redirect them elsewhere."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "TRIBUTARY_"))}
    env["LC_ALL"] = "C"
    return env


def run(cmd: list, **kwargs) -> subprocess.CompletedProcess:
    kwargs.setdefault("env", clean_env())
    result = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        raise BenchError(
            f"{' '.join(map(str, cmd))} exited {result.returncode}:\n{result.stdout}{result.stderr}"
        )
    return result


# --------------------------------------------------------------------------
# PostgreSQL


class Postgres:
    def __init__(self, root: Path):
        self.root = root
        self.data = root / "data"
        self.port = free_port()
        self.started = False
        self.as_postgres = os.geteuid() == 0  # initdb refuses root

    def _cmd(self, *args) -> list:
        prefix = ["runuser", "-u", "postgres", "--"] if self.as_postgres else []
        return prefix + [str(a) for a in args]

    def start(self) -> None:
        if self.as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
        run(self._cmd(PG_BIN / "initdb", "-D", self.data, "-U", "postgres", "-A", "trust",
                      "--no-locale", "--no-sync", "-E", "UTF8"))
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_wal_size=8GB "
            "-c checkpoint_timeout=1h"
        )
        self.started = True  # stop() must run even if start half-worked
        run(self._cmd(PG_BIN / "pg_ctl", "-D", self.data, "-l", self.root / "postgres.log",
                      "-w", "-t", "120", "-o", options, "start"))

    def stop(self) -> None:
        if not self.started:
            return
        self.started = False
        for mode in ("fast", "immediate"):
            result = subprocess.run(
                self._cmd(PG_BIN / "pg_ctl", "-D", self.data, "-m", mode, "-w", "-t", "60", "stop"),
                capture_output=True, text=True, env=clean_env())
            if result.returncode == 0:
                return
            log(f"pg_ctl stop -m {mode} failed: {result.stderr.strip()}")

    def psql_args(self, database: str = "bench") -> list:
        return ["-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", database]


# --------------------------------------------------------------------------
# Tributary


def proc_status(pid: int) -> dict:
    values = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                values[key] = int(rest.split()[0]) / 1024.0  # kB -> MiB
    return values


def proc_cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is state (field 3); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Gateway:
    LISTENING = re.compile(r"pg wire listening on 127\.0\.0\.1:(\d+)")
    HTTP_LISTENING = re.compile(r"http listening on 127\.0\.0\.1:(\d+)")

    def __init__(self, root: Path, pg_port: int):
        self.root = root
        self.config = root / "tributary.toml"
        self.config.write_text(
            # Loopback only, so the HTTP extraction needs no token.
            "[server]\nhttp_anonymous = true\n\n"
            "[[sources]]\n"
            'name = "pg"\n'
            'kind = "postgres"\n'
            'host = "127.0.0.1"\n'
            f"port = {pg_port}\n"
            'database = "bench"\n'
            'user = "postgres"\n'
            'tls = "disable"\n\n'
            # The same database again, its results kept: cache hits.
            "[[sources]]\n"
            'name = "pgc"\n'
            'kind = "postgres"\n'
            'host = "127.0.0.1"\n'
            f"port = {pg_port}\n"
            'database = "bench"\n'
            'user = "postgres"\n'
            'tls = "disable"\n'
            'cache_ttl = "1h"\n'
        )
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self.http_port = 0
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        data_dir = self.root / f"tributary-data-{self.starts}"
        data_dir.mkdir()
        self.log_path = self.root / f"tributary-{self.starts}.log"
        env = clean_env()
        env["TRIBUTARY_LOG"] = "info"
        with open(self.log_path, "wb") as log_file:
            self.proc = subprocess.Popen(
                [str(TRIBUTARY_BIN), "serve", "--config", str(self.config),
                 "--data-dir", str(data_dir), "--pg-addr", "127.0.0.1:0",
                 "--http-addr", "127.0.0.1:0"],
                stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
                env=env, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            text = self.log_path.read_text(errors="replace")
            match = self.LISTENING.search(text)
            if match:
                self.port = int(match.group(1))
                http = self.HTTP_LISTENING.search(text)
                self.http_port = int(http.group(1)) if http else 0
                for line in text.splitlines():
                    if " WARN " in line or " ERROR " in line:
                        log(f"gateway: {line}")
                return
            if self.proc.poll() is not None:
                raise BenchError(f"tributary exited {self.proc.returncode}:\n{text}")
            time.sleep(0.1)
        raise BenchError(f"tributary did not listen within {START_TIMEOUT}s:\n{text}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            self.proc = None
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            log("tributary did not stop on SIGTERM; killing it")
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def psql_args(self) -> list:
        return ["-h", "127.0.0.1", "-p", str(self.port), "-U", "tributary", "-d", "tributary"]


# --------------------------------------------------------------------------
# Measurements


def psql(conn: list, sql: str, *extra: str) -> str:
    return run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", *extra, *conn,
                "-c", sql]).stdout


TIMING = re.compile(r"^Time: ([0-9.]+) ms", re.M)


def time_in_session(conn: list, sql: str, warmup: int, runs: int) -> list:
    """Runs `sql` warmup + runs times in one psql session; psql's \\timing
    (send to last row received) of the last `runs`, in ms."""
    script = "\\timing on\n" + (sql + ";\n") * (warmup + runs)
    result = subprocess.run(
        ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", *conn],
        input=script, capture_output=True, text=True, env=clean_env())
    if result.returncode != 0:
        raise BenchError(f"psql exited {result.returncode}:\n{result.stderr}")
    times = [float(t) for t in TIMING.findall(result.stdout)]
    if len(times) != warmup + runs:
        raise BenchError(f"expected {warmup + runs} timings, got:\n{result.stdout}")
    return times[warmup:]


def extract_once(conn: list, sql: str, mode: str) -> dict:
    """One psql (or, mode `http`, one curl POSTing to the HTTP API for CSV)
    reading the whole result; counts lines and bytes as they stream,
    returns wall seconds and the client's own peak RSS (wait4)."""
    if mode == "http":
        body = json.dumps({"sql": sql})
        args = ["curl", "-sS", "--fail-with-body", "-N", "-H", "accept: text/csv",
                "-H", "content-type: application/json", "--data-binary", body,
                f"http://127.0.0.1:{conn[0]}/v1/query"]
    else:
        args = ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"]
        if mode == "fetch":
            args += ["-v", f"FETCH_COUNT={FETCH_COUNT}"]
        if mode == "copy":
            sql = f"COPY ({sql}) TO STDOUT"
        args += [*conn, "-c", sql]
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err, env=clean_env())
        lines = nbytes = 0
        fd = proc.stdout.fileno()
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            nbytes += len(chunk)
            lines += chunk.count(b"\n")
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        proc.stdout.close()
        if proc.returncode != 0:
            err.seek(0)
            raise BenchError(f"{args[0]} exited {proc.returncode}:\n{err.read().decode(errors='replace')}")
    if mode == "http":
        lines -= 1  # the CSV header
    return {"seconds": seconds, "rows": lines, "bytes": nbytes,
            "psql_maxrss_mib": usage.ru_maxrss / 1024.0}


def explain(gateway: Gateway, sql: str) -> dict:
    text = psql(gateway.psql_args(), "EXPLAIN " + sql)
    base_sql = re.findall(r"base_sql=(.*?)\+?$", text, re.M)
    physical = text.split("physical_plan", 1)[-1]
    local_ops = [op for op in ("AggregateExec", "FilterExec", "SortExec") if op in physical]
    return {"base_sql": [s.strip() for s in base_sql], "local_ops": local_ops, "text": text}


def describe_machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "unknown"
    try:
        kb = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])
        mem = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, IndexError, ValueError):
        pass
    try:
        commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short=12", "HEAD"],
                                capture_output=True, text=True).stdout.strip() or "unknown"
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        if dirty:
            commit += " (uncommitted changes)"
    except OSError:
        commit = "unknown"
    version = subprocess.run([str(TRIBUTARY_BIN), "--version"], capture_output=True,
                             text=True).stdout.strip() or "unknown"
    build = "debug" if "/debug/" in str(TRIBUTARY_BIN) else "release" if "/release/" in str(TRIBUTARY_BIN) else "unknown"
    return {"cpu": cpu, "cores": os.cpu_count(), "memory": mem,
            "kernel": f"{platform.system()} {platform.release()}",
            "commit": commit, "version": version, "build": build}


# --------------------------------------------------------------------------
# Report


def fmt_ms(values: list) -> str:
    return f"{statistics.median(values):.2f}"


def fmt_rate(rows_per_s: float) -> str:
    return f"{rows_per_s / 1e6:.2f} M" if rows_per_s >= 1e6 else f"{rows_per_s / 1e3:.1f} k"


def report(machine: dict, pg_version: str, agg: dict, extraction: list, notes: list) -> str:
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out = [f"# Tributary ↔ PostgreSQL federation benchmark, {now}", ""]
    out += [
        f"- Machine: {machine['cpu']}, {machine['cores']} cores, {machine['memory']}, {machine['kernel']}",
        f"- PostgreSQL: {pg_version} (fsync off, local TCP)",
        f"- Tributary: {machine['version']}, {machine['build']} build `{TRIBUTARY_BIN}`, commit {machine['commit']}",
        f"- Settings: ROWS={ROWS:,} RUNS={RUNS} WARMUP={WARMUP} EXTRACT_ROWS={EXTRACT_ROWS:,} "
        f"EXTRACT_RUNS={EXTRACT_RUNS} EXTRACT_MODES={' '.join(EXTRACT_MODES)} FETCH_COUNT={FETCH_COUNT}",
    ]
    if machine["build"] != "release":
        out.append("- **Not a release build: the Tributary numbers below say little about Tributary.**")
    out += ["", "## Filtered aggregate", "",
            f"`{AGG_SELECT.format(table='lineitem')}` over {ROWS:,} rows; psql `\\timing` in one "
            "session per path (send to last row; connection set-up not counted), "
            f"{WARMUP} warm-up run(s) dropped.", "",
            "| path | median ms | min ms | max ms | runs |",
            "| --- | ---: | ---: | ---: | ---: |"]
    for label, key in (("PostgreSQL directly", "postgres"), ("through Tributary", "tributary"),
                       ("through postgres_fdw (same server)", "postgres_fdw")):
        t = agg.get(key)
        if t:
            out.append(f"| {label} | {fmt_ms(t)} | {min(t):.2f} | {max(t):.2f} | {len(t)} |")
    ratio = statistics.median(agg["tributary"]) / statistics.median(agg["postgres"])
    out += ["", f"**Ratio Tributary / PostgreSQL (median): {ratio:.2f}×**"]
    if agg.get("postgres_fdw"):
        fdw = statistics.median(agg["tributary"]) / statistics.median(agg["postgres_fdw"])
        out += ["", f"**Ratio Tributary / postgres_fdw (median): {fdw:.2f}×**"]
    out += ["",
            f"- Same rows on both paths: {'yes' if agg['same'] else 'NO'}",
            f"- Pushed down whole: {'yes' if agg['pushed'] else 'NO'}"
            + (f" (evaluated in Tributary: {', '.join(agg['local_ops'])})" if agg["local_ops"] else ""),
            ]
    for sql in agg["base_sql"]:
        out.append(f"- Sent to PostgreSQL: `{sql}`")

    out += ["", "## Cache hits", "",
            "A second source over the same database with `cache_ttl = \"1h\"`: its first run "
            "(a miss) is dropped as warm-up, so every timed run is answered from the result "
            "cache; psql `\\timing` in one session per path.", "",
            "| query | PostgreSQL ms | Tributary, no cache ms | Tributary, cache hit ms | hit / PostgreSQL |",
            "| --- | ---: | ---: | ---: | ---: |"]
    for row in agg.get("cache", []):
        ratio = statistics.median(row["hit"]) / statistics.median(row["postgres"])
        out.append(f"| {row['name']}: `{row['sql']}` | {fmt_ms(row['postgres'])} | "
                   f"{fmt_ms(row['tributary'])} | {fmt_ms(row['hit'])} | **{ratio:.3f}×** |")

    out += ["", "## Extraction", "",
            f"`{EXTRACT_SELECT.format(table='big')}`: {EXTRACT_ROWS:,} rows, 10 columns "
            "(bigint, int, numeric(12,2), text, date, timestamp, boolean, smallint, char(8), "
            "double precision), read by psql -A -t and counted. "
            f"Median of {EXTRACT_RUNS} run(s). Client modes: `copy` = psql running "
            "`COPY (…) TO STDOUT` (text format) on each path; `plain` = psql holds the whole "
            f"result; `fetch` = psql FETCH_COUNT={FETCH_COUNT} (a cursor); `http` = curl POSTing "
            "to Tributary's `/v1/query` for CSV, streamed (its ratio is to PostgreSQL's `fetch`). "
            "Gateway memory is VmHWM from /proc/<pid>/status, on a fresh gateway per mode, "
            "before the first and after the last run.", "",
            "| path | client mode | median s | rows/s | MiB/s out | gateway peak RSS MiB (before → after) | gateway CPU s/run | client peak RSS MiB |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in extraction:
        secs = statistics.median(r["seconds"] for r in row["runs"])
        rows = row["runs"][0]["rows"]
        nbytes = row["runs"][0]["bytes"]
        gw = row.get("gateway")
        gw_mem = f"{gw['hwm_before']:.0f} → {gw['hwm_after']:.0f}" if gw else "—"
        gw_cpu = f"{gw['cpu'] / len(row['runs']):.2f}" if gw else "—"
        psql_rss = max(r["psql_maxrss_mib"] for r in row["runs"])
        out.append(f"| {row['label']} | {row['mode']} | {secs:.2f} | {fmt_rate(rows / secs)} | "
                   f"{nbytes / secs / 2**20:.1f} | {gw_mem} | {gw_cpu} | {psql_rss:.0f} |")
    out.append("")
    for mode in EXTRACT_MODES:
        pair = {r["path"]: r for r in extraction if r["mode"] == mode}
        if mode == "http":
            pair.update({r["path"]: r for r in extraction if r["mode"] == "fetch" and r["path"] == "postgres"})
        if len(pair) == 2:
            t = statistics.median(r["seconds"] for r in pair["tributary"]["runs"])
            p = statistics.median(r["seconds"] for r in pair["postgres"]["runs"])
            out.append(f"- **{mode}: time ratio Tributary / PostgreSQL {t / p:.2f}×**")
    if notes:
        out += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------


def main() -> int:
    if not TRIBUTARY_BIN.is_file() or not os.access(TRIBUTARY_BIN, os.X_OK):
        sys.exit(f"no tributary binary at {TRIBUTARY_BIN} (set TRIBUTARY_BIN, or run bench/federation.sh)")
    for tool in ("psql",):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} not found (apt-get install postgresql-client-15)")
    if not (PG_BIN / "initdb").exists():
        sys.exit(f"no initdb in {PG_BIN} (apt-get install postgresql-15, or set PG_BIN)")

    root = Path(tempfile.mkdtemp(prefix="tributary-bench-", dir=os.environ.get("BENCH_TMPDIR")))
    os.chmod(root, 0o755)
    pg = Postgres(root)
    gateway = Gateway(root, pg.port)
    notes: list = []

    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    try:
        machine = describe_machine()
        log(f"tributary: {TRIBUTARY_BIN} ({machine['build']} build)")
        if machine["build"] == "debug":
            log("warning: a debug build; fine for trying the script, not for numbers")

        log(f"starting PostgreSQL on port {pg.port} in {root}")
        pg.start()
        run(["psql", "-X", "-q", *pg.psql_args("postgres"), "-c", "CREATE DATABASE bench"])
        pg_version = psql(pg.psql_args(), "SHOW server_version").strip()

        log(f"loading lineitem ({ROWS:,} rows) and big ({EXTRACT_ROWS:,} rows)")
        t0 = time.perf_counter()
        run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", *pg.psql_args(), "-c",
             LINEITEM_SQL.format(rows=ROWS)])
        run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", *pg.psql_args(), "-c",
             BIG_SQL.format(rows=EXTRACT_ROWS)])
        run(["psql", "-X", "-q", *pg.psql_args(), "-c", "VACUUM (ANALYZE, FREEZE)"])
        run(["psql", "-X", "-q", *pg.psql_args(), "-c", "CHECKPOINT"])
        size = psql(pg.psql_args(), "SELECT pg_size_pretty(pg_database_size('bench'))").strip()
        log(f"loaded in {time.perf_counter() - t0:.1f}s, database size {size}")

        # ---- filtered aggregate
        log("starting the gateway")
        gateway.start()
        log(f"gateway pid {gateway.pid} listening on port {gateway.port}")
        agg_pg_sql = AGG_SELECT.format(table="lineitem")
        agg_tr_sql = AGG_SELECT.format(table="pg.lineitem")
        plan = explain(gateway, agg_tr_sql)
        pushed = len(plan["base_sql"]) == 1 and "GROUP BY" in plan["base_sql"][0] and not plan["local_ops"]
        if not pushed:
            log("warning: the aggregate is not pushed down whole:\n" + plan["text"])
            notes.append("The aggregate was not pushed down whole; see the plan in the log.")
        rows_pg = psql(pg.psql_args(), agg_pg_sql)
        rows_tr = psql(gateway.psql_args(), agg_tr_sql)
        same = sorted(rows_pg.splitlines()) == sorted(rows_tr.splitlines())
        if not same:
            log(f"warning: the aggregate differs:\npostgres:\n{rows_pg}tributary:\n{rows_tr}")
            notes.append("The aggregate's rows differ between the two paths:\n\n"
                         f"```\npostgres:\n{rows_pg}tributary:\n{rows_tr}```")
        log(f"timing the aggregate, {WARMUP} warm-up + {RUNS} runs per path")
        # postgres_fdw: the federated baseline, a second database on the
        # same server reaching `bench` through a foreign table.
        run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", *pg.psql_args("postgres"), "-c",
             "CREATE DATABASE fdw"])
        run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", *pg.psql_args("fdw"), "-c",
             "CREATE EXTENSION postgres_fdw; "
             "CREATE SERVER bench FOREIGN DATA WRAPPER postgres_fdw "
             f"OPTIONS (host '127.0.0.1', port '{pg.port}', dbname 'bench'); "
             "CREATE USER MAPPING FOR postgres SERVER bench OPTIONS (user 'postgres'); "
             "IMPORT FOREIGN SCHEMA public LIMIT TO (lineitem) FROM SERVER bench INTO public;"])
        rows_fdw = psql(pg.psql_args("fdw"), agg_pg_sql)
        if sorted(rows_fdw.splitlines()) != sorted(rows_pg.splitlines()):
            notes.append("The aggregate through postgres_fdw differs from PostgreSQL's.")
        agg = {
            "postgres": time_in_session(pg.psql_args(), agg_pg_sql, WARMUP, RUNS),
            "tributary": time_in_session(gateway.psql_args(), agg_tr_sql, WARMUP, RUNS),
            "postgres_fdw": time_in_session(pg.psql_args("fdw"), agg_pg_sql, WARMUP, RUNS),
            "same": same, "pushed": pushed, "base_sql": plan["base_sql"],
            "local_ops": plan["local_ops"],
        }
        log(f"aggregate medians: postgres {fmt_ms(agg['postgres'])} ms, "
            f"tributary {fmt_ms(agg['tributary'])} ms")
        # ---- cache hits: the first run (a miss) is the warm-up
        cache = []
        for name, template in CACHE_QUERIES:
            table = "big" if template is INDEXED_SELECT else "lineitem"
            direct = time_in_session(pg.psql_args(), template.format(table=table), WARMUP, RUNS)
            uncached = time_in_session(gateway.psql_args(), template.format(table=f"pg.{table}"),
                                       WARMUP, RUNS)
            cached_sql = template.format(table=f"pgc.{table}")
            hits = time_in_session(gateway.psql_args(), cached_sql, max(1, WARMUP), RUNS)
            status = psql(gateway.psql_args(), f"{cached_sql}; SHOW tributary.last_cache").split()
            status = status[-1] if status else "nothing"
            if status != "hit":
                notes.append(f"The {name} through `pgc` was a cache {status}, not a hit.")
            cache.append({"name": name, "sql": template.format(table=table),
                          "postgres": direct, "tributary": uncached, "hit": hits})
            log(f"{name}: postgres {fmt_ms(direct)} ms, tributary {fmt_ms(uncached)} ms, "
                f"cache hit {fmt_ms(hits)} ms")
        agg["cache"] = cache
        ex_plan = explain(gateway, EXTRACT_SELECT.format(table="pg.big"))
        if len(ex_plan["base_sql"]) != 1:
            notes.append("The extraction is not one statement to PostgreSQL:\n\n```\n"
                         + ex_plan["text"] + "```")
        gateway.stop()

        # ---- extraction
        extraction = []
        for mode in EXTRACT_MODES:
            # PostgreSQL has no HTTP API: the http mode compares with
            # psql's fetch mode (also bounded on the client).
            if mode != "http":
                log(f"extraction, mode {mode}: PostgreSQL directly, {EXTRACT_RUNS} run(s)")
                runs = [extract_once(pg.psql_args(), EXTRACT_SELECT.format(table="big"), mode)
                        for _ in range(EXTRACT_RUNS)]
                extraction.append({"path": "postgres", "label": "PostgreSQL directly",
                                   "mode": mode, "runs": runs})
                log(f"  median {statistics.median(r['seconds'] for r in runs):.2f}s")

            log(f"extraction, mode {mode}: through Tributary (fresh gateway), {EXTRACT_RUNS} run(s)")
            gateway.start()
            psql(gateway.psql_args(), "SELECT count(*) FROM pg.big WHERE id <= 1000")  # warm-up
            before = proc_status(gateway.pid)
            cpu0 = proc_cpu_seconds(gateway.pid)
            client = [str(gateway.http_port)] if mode == "http" else gateway.psql_args()
            runs = [extract_once(client, EXTRACT_SELECT.format(table="pg.big"), mode)
                    for _ in range(EXTRACT_RUNS)]
            after = proc_status(gateway.pid)
            cpu = proc_cpu_seconds(gateway.pid) - cpu0
            gateway.stop()
            label = "through Tributary (HTTP, CSV)" if mode == "http" else "through Tributary"
            extraction.append({"path": "tributary", "label": label, "mode": mode,
                               "runs": runs, "gateway": {
                                   "hwm_before": before["VmHWM"], "hwm_after": after["VmHWM"],
                                   "rss_after": after["VmRSS"], "cpu": cpu}})
            log(f"  median {statistics.median(r['seconds'] for r in runs):.2f}s, gateway VmHWM "
                f"{before['VmHWM']:.0f} -> {after['VmHWM']:.0f} MiB")

        for row in extraction:
            for r in row["runs"]:
                if r["rows"] != EXTRACT_ROWS:
                    notes.append(f"{row['label']} ({row['mode']}) returned {r['rows']:,} rows, "
                                 f"expected {EXTRACT_ROWS:,}.")
                    break
        sizes = {(row["path"], row["mode"]): row["runs"][0]["bytes"] for row in extraction}
        for mode in [m for m in EXTRACT_MODES if m != "http"]:
            p, t = sizes.get(("postgres", mode)), sizes.get(("tributary", mode))
            if p is not None and t is not None and p != t:
                notes.append(f"{mode}: psql printed {t:,} bytes through Tributary and {p:,} "
                             "directly: the text of some values differs.")

        text = report(machine, pg_version, agg, extraction, notes)
        print(text)
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        now = datetime.datetime.now()
        path = RESULTS_DIR / f"federation-{now:%Y-%m-%d}.md"
        if path.exists():
            path = RESULTS_DIR / f"federation-{now:%Y-%m-%d-%H%M%S}.md"
        path.write_text(text)
        log(f"written to {path}")
        if os.environ.get("RESULTS_JSON"):
            Path(os.environ["RESULTS_JSON"]).write_text(json.dumps(
                {"machine": machine, "postgres": pg_version, "aggregate": agg,
                 "extraction": extraction, "notes": notes}, indent=1, default=str))
        return 0
    except BenchError as e:
        log(f"error: {e}")
        for p in sorted(root.glob("tributary-*.log")) + [root / "postgres.log"]:
            if p.exists():
                tail = p.read_text(errors="replace").splitlines()[-20:]
                log(f"last lines of {p.name}:\n" + "\n".join(tail))
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # finish cleaning up
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        gateway.stop()
        pg.stop()
        if KEEP_TMP:
            log(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
