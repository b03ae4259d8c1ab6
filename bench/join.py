#!/usr/bin/env python3
"""Cross-source join: a PostgreSQL fact table joined with a MariaDB
dimension, through Tributary and through PostgreSQL with mysql_fdw (the
federated baseline a PostgreSQL shop would reach for).

Run by ./bench/run. Starts a throw-away PostgreSQL 15 (from federation.py)
and MariaDB (TESTING.md's recipe), loads `sales` (FACT_ROWS rows) into
PostgreSQL and `stores` (1000 rows) into MariaDB, imports `stores` into
PostgreSQL through mysql_fdw, checks both paths return the same rows, then
times the join RUNS times per path in one psql session (\\timing). Needs
postgresql-15-mysql-fdw and mariadb-server (bench/run installs them as
root). Prints Markdown, writes JSON; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from federation import Postgres, clean_env, free_port, psql, run, time_in_session  # noqa: E402

JOIN = ("SELECT st.region, count(*) AS n, sum(s.amount) AS amount "
        "FROM {sales} s JOIN {stores} st ON s.store_id = st.id "
        "WHERE st.format = 'outlet' GROUP BY st.region ORDER BY st.region")
SALES_SQL = """
CREATE TABLE sales (id bigint PRIMARY KEY, store_id int NOT NULL, amount numeric(12,2) NOT NULL, sold date NOT NULL);
INSERT INTO sales SELECT g, 1 + (g * 7919) % 1000, ((g * 104729) % 100000) / 100.0, DATE '2024-01-01' + (g % 365)::int
FROM generate_series(1, {rows}::bigint) g;

"""
STORES_SQL = """
CREATE TABLE stores (id int PRIMARY KEY, region varchar(20) NOT NULL, format varchar(20) NOT NULL);
INSERT INTO stores SELECT seq, ELT(1 + seq % 5, 'north', 'south', 'east', 'west', 'center'),
       ELT(1 + seq % 3, 'outlet', 'mall', 'street') FROM seq_1_to_1000;
"""


class MariaDb:
    def __init__(self, root: Path):
        self.root, self.port, self.proc = root / "mariadb", free_port(), None

    def start(self) -> None:
        self.root.mkdir()
        run(["mariadb-install-db", "--no-defaults", f"--datadir={self.root / 'data'}", "--user=root",
             "--auth-root-authentication-method=normal", "--skip-test-db"])
        self.proc = subprocess.Popen(
            ["mariadbd", "--no-defaults", f"--datadir={self.root / 'data'}", f"--port={self.port}",
             "--bind-address=127.0.0.1", f"--socket={self.root / 'sock'}", f"--pid-file={self.root / 'pid'}",
             "--user=root", f"--log-error={self.root / 'err.log'}", "--skip-log-bin"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        for _ in range(300):
            if self.sql("SELECT 1", check=False).returncode == 0:
                break
            time.sleep(0.1)
        self.sql("CREATE DATABASE bench; CREATE USER bench@'%' IDENTIFIED BY 'bench'; "
                 "GRANT ALL ON bench.* TO bench@'%';")

    def sql(self, script: str, check: bool = True, database: str = "") -> subprocess.CompletedProcess:
        result = subprocess.run(["mariadb", "--no-defaults", "-uroot", f"--socket={self.root / 'sock'}",
                                 *([database] if database else [])],
                                input=script, capture_output=True, text=True)
        if check and result.returncode != 0:
            raise RuntimeError(f"mariadb: {result.stderr}")
        return result

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=60)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--binary", type=Path, required=True)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="tributary-join-"))
    os.chmod(root, 0o755)
    pg, maria = Postgres(root), MariaDb(root)
    gateway = None
    try:
        pg.start()
        run(["psql", "-X", "-q", *pg.psql_args("postgres"), "-c", "CREATE DATABASE bench"])
        run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", *pg.psql_args(), "-c",
             SALES_SQL.format(rows=args.rows)])
        run(["psql", "-X", "-q", *pg.psql_args(), "-c", "VACUUM ANALYZE sales"])
        maria.start()
        maria.sql(STORES_SQL, database="bench")
        run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", *pg.psql_args(), "-c",
             "CREATE EXTENSION mysql_fdw; "
             f"CREATE SERVER maria FOREIGN DATA WRAPPER mysql_fdw OPTIONS (host '127.0.0.1', port '{maria.port}'); "
             "CREATE USER MAPPING FOR postgres SERVER maria OPTIONS (username 'bench', password 'bench'); "
             "CREATE SCHEMA remote; IMPORT FOREIGN SCHEMA bench FROM SERVER maria INTO remote;"])
        config = root / "tributary.toml"
        config.write_text(
            f'[[sources]]\nname = "pg"\nkind = "postgres"\nhost = "127.0.0.1"\nport = {pg.port}\n'
            'database = "bench"\nuser = "postgres"\ntls = "disable"\n\n'
            f'[[sources]]\nname = "my"\nkind = "mysql"\nhost = "127.0.0.1"\nport = {maria.port}\n'
            'database = "bench"\nuser = "bench"\npassword = { env = "BENCH_MARIADB_PASSWORD" }\ntls = "disable"\n')
        env = clean_env()
        env["BENCH_MARIADB_PASSWORD"] = "bench"
        log_path = root / "tributary.log"
        gateway = subprocess.Popen(
            [str(args.binary), "serve", "--config", str(config), "--data-dir", str(root / "tdata"),
             "--pg-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"],
            stdout=open(log_path, "wb"), stderr=subprocess.STDOUT, env=env, start_new_session=True)
        port = None
        for _ in range(600):
            text = log_path.read_text(errors="replace")
            if "pg wire listening on 127.0.0.1:" in text:
                port = int(text.split("pg wire listening on 127.0.0.1:")[1].split()[0])
                break
            time.sleep(0.1)
        if port is None:
            raise RuntimeError("tributary did not start:\n" + log_path.read_text(errors="replace"))
        tributary = ["-h", "127.0.0.1", "-p", str(port), "-U", "tributary", "-d", "tributary"]
        via_fdw = JOIN.format(sales="sales", stores="remote.stores")
        via_tributary = JOIN.format(sales="pg.public.sales", stores="my.bench.stores")
        rows_fdw = psql(pg.psql_args(), via_fdw)
        rows_tributary = psql(tributary, via_tributary)
        same = rows_fdw.split() == rows_tributary.split()
        measured = {
            "rows": args.rows, "same": same,
            "fdw_ms": time_in_session(pg.psql_args(), via_fdw, 1, args.runs),
            "tributary_ms": time_in_session(tributary, via_tributary, 1, args.runs),
        }
        if not same:
            measured["differs"] = {"fdw": rows_fdw, "tributary": rows_tributary}
    finally:
        if gateway and gateway.poll() is None:
            gateway.terminate()
            gateway.wait(timeout=30)
        maria.stop()
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)
    args.json.write_text(json.dumps(measured, indent=1))
    fdw, trib = statistics.median(measured["fdw_ms"]), statistics.median(measured["tributary_ms"])
    out = ["## Cross-source join", "",
           f"`{JOIN.format(sales='sales', stores='stores')}`: `sales` ({args.rows:,} rows) in "
           "PostgreSQL, `stores` (1,000 rows) in MariaDB. Median of "
           f"{args.runs} runs after one warm-up, psql `\\timing` in one session per path.", "",
           "| path | median ms | min ms | max ms |", "| --- | ---: | ---: | ---: |",
           f"| PostgreSQL + mysql_fdw | {fdw:.1f} | {min(measured['fdw_ms']):.1f} | {max(measured['fdw_ms']):.1f} |",
           f"| Tributary | {trib:.1f} | {min(measured['tributary_ms']):.1f} | {max(measured['tributary_ms']):.1f} |",
           "", f"**Ratio Tributary / PostgreSQL + mysql_fdw: {trib / fdw:.2f}×**; same rows: "
           f"{'yes' if same else '**NO**'}"]
    print("\n".join(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
