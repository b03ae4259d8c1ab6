#!/usr/bin/env python3
"""Footprint: Tributary's release binary size, its idle RSS after start, the
time from start to the first answered query, and its peak RSS over one
TPC-H query; beside them the peak RSS of a DuckDB and a DataFusion process
running the same query on the same Parquet files.

Run by ./bench/run after bench/tpch.py (which generated the files). Each
measurement is a fresh process; RSS is read from /proc (Tributary) or
getrusage of the child (the peers). Prints a Markdown section and writes
JSON; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tpch import TABLES, Gateway, duckdb_connection  # noqa: E402

PEER = """
import sys, resource
engine, folder, query = sys.argv[1], sys.argv[2], sys.stdin.read()
tables = {tables!r}
if engine == "duckdb":
    sys.path.insert(0, {bench!r})
    from tpch import duckdb_connection
    con = duckdb_connection()
    for t in tables:
        con.execute(f"CREATE VIEW {{t}} AS SELECT * FROM read_parquet('{{folder}}/{{t}}.parquet')")
    rows = len(con.execute(query).fetchall())
else:
    import datafusion
    ctx = datafusion.SessionContext()
    for t in tables:
        ctx.register_parquet(t, f"{{folder}}/{{t}}.parquet")
    rows = sum(b.num_rows for b in ctx.sql(query).collect())
print(rows, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def status_mib(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def tributary(binary: Path, folder: Path, query: str) -> dict:
    root = Path(tempfile.mkdtemp(prefix="tributary-footprint-"))
    gateway = Gateway(binary, folder, root)
    started = time.perf_counter()
    gateway.start()
    try:
        while True:
            try:
                with psycopg.connect(host="127.0.0.1", port=gateway.port, user="tributary",
                                     dbname="tpch", autocommit=True) as pg:
                    pg.execute("SELECT count(*) FROM nation").fetchall()
                break
            except psycopg.OperationalError:
                if time.perf_counter() - started > 60:
                    raise
                time.sleep(0.01)
        first_answer = time.perf_counter() - started
        time.sleep(1)
        idle = status_mib(gateway.proc.pid, "VmRSS")
        waiting, per_session, per_statement = session_costs(gateway.port, gateway.proc.pid)
        with psycopg.connect(host="127.0.0.1", port=gateway.port, user="tributary",
                             dbname="tpch", autocommit=True) as pg:
            rows = len(pg.execute(query).fetchall())
        peak = status_mib(gateway.proc.pid, "VmHWM")
    finally:
        gateway.stop()
    return {"binary_mib": binary.stat().st_size / 2**20, "first_answer_s": first_answer,
            "idle_rss_mib": idle, "peak_rss_mib": peak, "rows": rows,
            "rss_per_waiting_session_kib": waiting, "rss_per_idle_session_kib": per_session, "rss_per_prepared_statement_kib": per_statement}


SESSIONS = 90
STATEMENTS = 500


def session_costs(port: int, pid: int) -> tuple[float, float, float]:
    """RSS added by each idle session (SESSIONS of them, under the default
    max_sessions of 100), before and after its first statement, and by each
    named prepared statement kept in one session."""
    before = status_mib(pid, "VmRSS")
    sessions = [psycopg.connect(host="127.0.0.1", port=port, user="tributary", dbname="tpch",
                                autocommit=True) for _ in range(SESSIONS)]
    time.sleep(0.5)
    waiting = (status_mib(pid, "VmRSS") - before) * 1024 / SESSIONS
    for pg in sessions:
        pg.execute("SELECT 1").fetchall()
    time.sleep(0.5)
    per_session = (status_mib(pid, "VmRSS") - before) * 1024 / SESSIONS
    for pg in sessions[1:]:
        pg.close()
    pg = sessions[0]
    # psycopg keeps 100 prepared statements by default, then deallocates.
    pg.prepared_max = STATEMENTS + 10
    before = status_mib(pid, "VmRSS")
    for n in range(STATEMENTS):
        # psycopg prepares server-side with prepare=True; each name is kept.
        pg.execute(f"SELECT n_name, {n} AS k FROM nation WHERE n_nationkey = %s", [n % 25],
                   prepare=True).fetchall()
    per_statement = (status_mib(pid, "VmRSS") - before) * 1024 / STATEMENTS
    pg.close()
    return waiting, per_session, per_statement


def peer(engine: str, python: str, folder: Path, query: str) -> dict:
    script = PEER.format(tables=TABLES, bench=str(Path(__file__).resolve().parent))
    result = subprocess.run([python, "-c", script, engine, str(folder)], input=query,
                            capture_output=True, text=True, check=True)
    rows, maxrss_kib = result.stdout.split()
    return {"rows": int(rows), "peak_rss_mib": int(maxrss_kib) / 1024}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--folder", type=Path, required=True, help="the TPC-H Parquet files")
    parser.add_argument("--binary", type=Path, required=True)
    parser.add_argument("--query", type=int, default=1, help="the TPC-H query measured")
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args()
    con = duckdb_connection()
    con.execute("LOAD tpch")
    query = con.execute("SELECT query FROM tpch_queries() WHERE query_nr = ?", [args.query]).fetchone()[0]
    con.close()
    measured = {
        "tributary": tributary(args.binary, args.folder, query),
        "duckdb": peer("duckdb", sys.executable, args.folder, query),
        "datafusion": peer("datafusion", sys.executable, args.folder, query),
    }
    args.json.write_text(json.dumps({"query": args.query, **measured}, indent=1))
    t = measured["tributary"]
    out = ["## Footprint", "",
           f"A fresh process each; the query is TPC-H Q{args.query:02d} on the files above.", "",
           "| | Tributary | DuckDB (Python process) | DataFusion (Python process) |",
           "| --- | ---: | ---: | ---: |",
           f"| release binary | {t['binary_mib']:.0f} MiB | — | — |",
           f"| start to first answered query | {t['first_answer_s'] * 1000:.0f} ms | — | — |",
           f"| idle RSS after start | {t['idle_rss_mib']:.0f} MiB | — | — |",
           f"| RSS per session that has run no statement ({SESSIONS} open) | "
           f"{t['rss_per_waiting_session_kib']:.0f} KiB | — | — |",
           f"| RSS per idle session after one statement | {t['rss_per_idle_session_kib']:.0f} KiB | — | — |",
           f"| RSS per prepared statement ({STATEMENTS} in one session) | "
           f"{t['rss_per_prepared_statement_kib']:.1f} KiB | — | — |",
           f"| peak RSS, Q{args.query:02d} | {t['peak_rss_mib']:.0f} MiB | "
           f"{measured['duckdb']['peak_rss_mib']:.0f} MiB | {measured['datafusion']['peak_rss_mib']:.0f} MiB |",
           "", f"**Peak RSS ratio Tributary ÷ DuckDB {t['peak_rss_mib'] / measured['duckdb']['peak_rss_mib']:.2f}×, "
           f"÷ DataFusion {t['peak_rss_mib'] / measured['datafusion']['peak_rss_mib']:.2f}×** "
           "(the peers' figures include the Python interpreter)."]
    print("\n".join(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
