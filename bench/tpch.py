#!/usr/bin/env python3
"""TPC-H over Parquet: Tributary's pg wire against DuckDB and DataFusion in
process, on the same files, on one machine, in one run.

Run it through ./bench/run (which makes the venv and the release binary).
It generates TPC-H at scale factor SF with DuckDB's tpch extension (loaded
from the duckdb-ext-tpch package, offline), writes each table as one Parquet
file, serves the folder as a files source (its result cache turned off),
and runs the 22 queries RUNS times per engine after WARMUP runs:

- Tributary: psycopg (binary results) over the pg wire, every row fetched;
- DuckDB 1.4.4: in process, views over the Parquet files, fetchall();
- DataFusion 55 (datafusion-python): in process, registered Parquet
  files, collect().

Each engine's row count per query is compared with DuckDB's; a query that
fails or differs is flagged, never hidden. Writes JSON to --json and prints
a Markdown section; timings are reported, never asserted.
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import datafusion
import duckdb
import psycopg

TABLES = ("customer", "lineitem", "nation", "orders", "part", "partsupp", "region", "supplier")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def duckdb_connection() -> duckdb.DuckDBPyConnection:
    # The extension comes from the duckdb-ext-tpch wheel: no download.
    found = glob.glob(os.path.join(os.path.dirname(duckdb.__file__), "..", "duckdb_ext", "extensions"))
    config = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    if found:
        config["extension_directory"] = os.path.realpath(found[0])
    return duckdb.connect(config=config)


def generate(sf: float, folder: Path) -> list:
    """The Parquet files (one per table) and the 22 query texts."""
    con = duckdb_connection()
    con.execute("LOAD tpch")
    queries = [q for _, q in con.execute("SELECT query_nr, query FROM tpch_queries() ORDER BY 1").fetchall()]
    marker = folder / f".sf-{sf}"
    if not marker.exists():
        log(f"generating TPC-H SF {sf} as Parquet in {folder}")
        t0 = time.perf_counter()
        con.execute(f"CALL dbgen(sf={sf})")
        for table in TABLES:
            con.execute(f"COPY {table} TO '{folder / table}.parquet' (FORMAT parquet)")
        marker.write_text("")
        log(f"generated in {time.perf_counter() - t0:.1f}s")
    con.close()
    return queries


class Gateway:
    LISTENING = re.compile(r"pg wire listening on 127\.0\.0\.1:(\d+)")

    def __init__(self, binary: Path, folder: Path, root: Path):
        self.config = root / "tributary.toml"
        # The result cache would answer repeated runs from memory: off.
        self.config.write_text(
            f'[[sources]]\nname = "tpch"\nkind = "files"\nurl = "{folder}/"\ncache_ttl = "off"\n')
        self.binary, self.root = binary, root
        self.proc = None
        self.port = 0

    def start(self) -> None:
        log_path = self.root / "tributary.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "TRIBUTARY_"))}
        with open(log_path, "wb") as log_file:
            self.proc = subprocess.Popen(
                [str(self.binary), "serve", "--config", str(self.config), "--data-dir",
                 str(self.root / "data"), "--pg-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"],
                stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT, env=env,
                start_new_session=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            match = self.LISTENING.search(log_path.read_text(errors="replace"))
            if match:
                self.port = int(match.group(1))
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError("tributary did not start:\n" + log_path.read_text(errors="replace"))

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def timed(run, warmup: int, runs: int) -> dict:
    """Times `run()` (which returns a row count); errors are kept, not raised."""
    try:
        for _ in range(warmup):
            run()
        times, rows = [], None
        for _ in range(runs):
            t0 = time.perf_counter()
            rows = run()
            times.append((time.perf_counter() - t0) * 1000)
        return {"ms": times, "rows": rows}
    except Exception as error:  # a failing query is a result
        return {"error": f"{type(error).__name__}: {error}".strip()[:300]}


def run_engines(folder: Path, queries: list, binary: Path, warmup: int, runs: int) -> dict:
    results = {"tributary": [], "duckdb": [], "datafusion": []}
    root = Path(tempfile.mkdtemp(prefix="tributary-tpch-"))
    gateway = Gateway(binary, folder, root)
    gateway.start()
    try:
        pg = psycopg.connect(host="127.0.0.1", port=gateway.port, user="tributary",
                             dbname="tpch", autocommit=True)
        duck = duckdb_connection()
        for table in TABLES:
            duck.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{folder / table}.parquet')")
        ctx = datafusion.SessionContext()
        for table in TABLES:
            ctx.register_parquet(table, str(folder / f"{table}.parquet"))

        def on_tributary(sql):
            def run():
                with pg.cursor(binary=True) as cursor:
                    cursor.execute(sql)
                    return len(cursor.fetchall())
            return run

        for number, sql in enumerate(queries, start=1):
            log(f"Q{number:02d}")
            results["duckdb"].append(timed(lambda: len(duck.execute(sql).fetchall()), warmup, runs))
            results["datafusion"].append(
                timed(lambda: sum(b.num_rows for b in ctx.sql(sql).collect()), warmup, runs))
            results["tributary"].append(timed(on_tributary(sql), warmup, runs))
        pg.close()
    finally:
        gateway.stop()
    return results


def geomean(values: list) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values))


def summarize(results: dict, queries: list) -> dict:
    summary = {"queries": [], "failed": {}, "differs": {}}
    engines = list(results)
    for i in range(len(queries)):
        row = {"query": i + 1}
        expected = results["duckdb"][i].get("rows")
        for engine in engines:
            r = results[engine][i]
            if "error" in r:
                summary["failed"].setdefault(engine, []).append(i + 1)
                row[engine] = None
                continue
            row[engine] = statistics.median(r["ms"])
            row[engine + "_spread"] = [min(r["ms"]), max(r["ms"])]
            if expected is not None and r["rows"] != expected:
                summary["differs"].setdefault(engine, []).append(i + 1)
        summary["queries"].append(row)
    # The geometric mean over the queries every engine answered.
    common = [q for q in summary["queries"] if all(q[e] for e in engines)]
    summary["geomean_ms"] = {e: geomean([q[e] for q in common]) for e in engines} if common else {}
    summary["common_queries"] = len(common)
    return summary


def markdown(summary: dict, sf: float, runs: int, warmup: int) -> str:
    out = [f"## TPC-H SF {sf} over Parquet", "",
           f"Median of {runs} run(s) after {warmup} warm-up, ms; [min–max]. Tributary: psycopg "
           "over the pg wire, every row fetched; DuckDB and DataFusion in process on the same "
           "files. Ratio: Tributary / peer (below 1: Tributary is faster).", "",
           "| query | Tributary | DuckDB | DataFusion | ÷ DuckDB | ÷ DataFusion |",
           "| --- | ---: | ---: | ---: | ---: | ---: |"]

    def cell(row, engine):
        if row[engine] is None:
            return "**failed**"
        low, high = row[engine + "_spread"]
        return f"{row[engine]:.1f} [{low:.0f}–{high:.0f}]"

    def ratio(row, peer):
        return f"{row['tributary'] / row[peer]:.2f}×" if row["tributary"] and row[peer] else "—"

    for row in summary["queries"]:
        out.append(f"| Q{row['query']:02d} | {cell(row, 'tributary')} | {cell(row, 'duckdb')} | "
                   f"{cell(row, 'datafusion')} | {ratio(row, 'duckdb')} | {ratio(row, 'datafusion')} |")
    g = summary["geomean_ms"]
    if g:
        out += ["", f"**Geometric mean over the {summary['common_queries']} queries all answered: "
                f"Tributary {g['tributary']:.1f} ms, DuckDB {g['duckdb']:.1f} ms, DataFusion "
                f"{g['datafusion']:.1f} ms; ratio ÷ DuckDB {g['tributary'] / g['duckdb']:.2f}×, "
                f"÷ DataFusion {g['tributary'] / g['datafusion']:.2f}×**"]
    for engine, numbers in summary["failed"].items():
        out.append(f"- {engine} failed: " + ", ".join(f"Q{n:02d}" for n in numbers))
    for engine, numbers in summary["differs"].items():
        out.append(f"- {engine} returned another row count than DuckDB: "
                   + ", ".join(f"Q{n:02d}" for n in numbers))
    return "\n".join(out) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sf", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--data", type=Path, required=True, help="where the Parquet files are kept")
    parser.add_argument("--binary", type=Path, required=True)
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args()
    folder = args.data / f"tpch-sf{args.sf:g}"
    folder.mkdir(parents=True, exist_ok=True)
    queries = generate(args.sf, folder)
    results = run_engines(folder, queries, args.binary, args.warmup, args.runs)
    summary = summarize(results, queries)
    for engine, failures in summary["failed"].items():
        for number in failures:
            log(f"{engine} Q{number:02d}: {results[engine][number - 1]['error']}")
    args.json.write_text(json.dumps({"sf": args.sf, "runs": args.runs, "warmup": args.warmup,
                                     "summary": summary, "results": results}, indent=1))
    print(markdown(summary, args.sf, args.runs, args.warmup))
    return 0


if __name__ == "__main__":
    sys.exit(main())
