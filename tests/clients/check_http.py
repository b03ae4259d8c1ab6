"""A Python scripting worker against Tributary's HTTP API: Arrow streams read
with pyarrow straight off the response, batch by batch; Parquet and CSV;
Grok-style parameters; errors as JSON with a SQLSTATE. Each check asserts
real values; the last line says how many passed."""
import io
import json
import sys
import urllib.error
import urllib.request

import pandas as pd
import pyarrow as pa
import pyarrow.ipc
import pyarrow.parquet as pq

base = f"http://127.0.0.1:{int(sys.argv[1])}"
ARROW = "application/vnd.apache.arrow.stream"
passed = []


def check(name, actual, expected):
    assert actual == expected, f"{name}: {actual!r} != {expected!r}"
    passed.append(name)


def post(body, accept):
    request = urllib.request.Request(
        base + "/v1/query",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Accept": accept},
    )
    return urllib.request.urlopen(request)


with post({"sql": "SELECT order_id, status FROM sample.orders ORDER BY order_id LIMIT 5"}, ARROW) as response:
    check("arrow content type", response.headers["Content-Type"], ARROW)
    table = pa.ipc.open_stream(response).read_all()
check("arrow columns", table.schema.names, ["order_id", "status"])
check("arrow type", table.schema.field("order_id").type, pa.int64())
check("arrow rows", table.column("order_id").to_pylist(), [1, 2, 3, 4, 5])

# A large result, read batch by batch as it arrives.
with post({"sql": "SELECT value FROM generate_series(1, 300000)"}, ARROW) as response:
    rows = 0
    batches = 0
    for batch in pa.ipc.open_stream(response):
        rows += batch.num_rows
        batches += 1
check("arrow streamed rows", rows, 300000)
check("arrow several batches", batches > 1, True)

# Parameters: a list and a defaulted int, bound; the same as literals.
with_params = (
    "--input: list<string> statuses\n--input: int n = 50\n"
    "SELECT count(*) AS n FROM sample.orders WHERE status IN (@statuses) AND order_id <= @n"
)
literal = ("SELECT count(*) AS n FROM sample.orders "
           "WHERE status IN ('shipped', 'returned') AND order_id <= 50")
with post({"sql": with_params, "params": {"statuses": ["shipped", "returned"]}}, ARROW) as response:
    bound = pa.ipc.open_stream(response).read_all().column("n").to_pylist()
with post({"sql": literal}, "application/json") as response:
    expected = [row["n"] for row in json.load(response)["rows"]]
check("parameters", bound, expected)
check("parameters found rows", bound[0] > 0, True)

with post({"sql": "SELECT order_id FROM sample.orders ORDER BY 1 LIMIT 3"},
          "application/vnd.apache.parquet") as response:
    parquet = pq.read_table(io.BytesIO(response.read()))
check("parquet rows", parquet.column("order_id").to_pylist(), [1, 2, 3])

with post({"sql": "SELECT order_id, status FROM sample.orders ORDER BY 1 LIMIT 3"}, "text/csv") as response:
    frame = pd.read_csv(response)
check("csv into pandas", list(frame["order_id"]), [1, 2, 3])

try:
    post({"sql": "SELECT * FROM sample.nope"}, ARROW)
    check("error raised", False, True)
except urllib.error.HTTPError as error:
    check("error status", error.code, 400)
    check("error sqlstate", json.load(error)["sqlstate"], "42P01")

print(f"{len(passed)} checks passed")
