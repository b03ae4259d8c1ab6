#!/usr/bin/env python3
"""Concurrency: CLIENTS pgbench clients (64 by default) run a mix of short
queries against Tributary's pg wire for SECONDS; queries per second, latency
and errors, from pgbench itself.

Run by ./bench/run after bench/tpch.py (which generated the Parquet files).
The mix: a count over `nation`, the whole of `region`, a filtered count
over `orders` and a grouped count over `customer` (one transaction each,
picked at random with equal weights). The result cache is off on the
source, so every query is planned and runs. Prints Markdown, writes JSON.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tpch import Gateway  # noqa: E402

MIX = {
    "nation_count": "SELECT count(*) FROM nation;",
    "region_all": "SELECT * FROM region;",
    "orders_filtered": "SELECT count(*) FROM orders WHERE o_orderstatus = 'F' AND o_totalprice > 300000;",
    "customer_grouped": "SELECT c_mktsegment, count(*) FROM customer GROUP BY c_mktsegment;",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--folder", type=Path, required=True)
    parser.add_argument("--binary", type=Path, required=True)
    parser.add_argument("--pgbench", default="/usr/lib/postgresql/15/bin/pgbench")
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="tributary-concurrency-"))
    scripts = []
    for name, sql in MIX.items():
        path = root / f"{name}.sql"
        path.write_text(sql + "\n")
        scripts += ["-f", f"{path}@1"]
    gateway = Gateway(args.binary, args.folder, root)
    gateway.start()
    try:
        result = subprocess.run(
            [args.pgbench, "-n", "-M", "simple", "-c", str(args.clients), "-j", "2",
             "-T", str(args.seconds), "-h", "127.0.0.1", "-p", str(gateway.port),
             "-U", "tributary", *scripts, "tpch"],
            capture_output=True, text=True)
        alive = gateway.proc.poll() is None
    finally:
        gateway.stop()
    text = result.stdout + result.stderr

    def number(pattern: str) -> float:
        match = re.search(pattern, text)
        return float(match.group(1)) if match else float("nan")

    measured = {
        "clients": args.clients, "seconds": args.seconds, "exit": result.returncode,
        "transactions": number(r"number of transactions actually processed: (\d+)"),
        "failed": number(r"number of failed transactions: (\d+)"),
        "tps": number(r"tps = ([0-9.]+)"),
        "latency_ms": number(r"latency average = ([0-9.]+) ms"),
        "server_alive": alive,
    }
    if result.returncode != 0 or measured["tps"] != measured["tps"]:
        measured["output"] = text[-2000:]
    args.json.write_text(json.dumps(measured, indent=1))
    out = ["## Concurrency", "",
           f"pgbench, {args.clients} clients on 2 threads for {args.seconds} s, simple protocol, "
           "a new query each transaction from: " + "; ".join(f"`{q}`" for q in MIX.values()), "",
           "| queries/s | mean latency ms | queries | failed | pgbench exit | server still up |",
           "| ---: | ---: | ---: | ---: | ---: | --- |",
           f"| {measured['tps']:.0f} | {measured['latency_ms']:.1f} | {measured['transactions']:.0f} | "
           f"{measured['failed']:.0f} | {result.returncode} | {'yes' if alive else '**no**'} |"]
    if "output" in measured:
        out += ["", "```", measured["output"].strip(), "```"]
    print("\n".join(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
