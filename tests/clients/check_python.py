"""Python clients against Tributary: psycopg 3 (text and binary), psycopg2,
SQLAlchemy 2 inspection, pandas.read_sql. Each check asserts real values;
the last line says how many passed."""
import datetime
import decimal
import sys

import pandas as pd
import psycopg
import psycopg2
import sqlalchemy as sa

port = int(sys.argv[1])
dsn = f"host=127.0.0.1 port={port} user=tributary dbname=tributary"
passed = []
QUERY = ("SELECT order_id, amount, order_date, status FROM sample.orders "
         "WHERE order_id < %s AND status = %s ORDER BY order_id LIMIT 2")
EXPECTED = [
    (6, decimal.Decimal("196.77"), datetime.date(2024, 1, 1), "shipped"),
    (10, decimal.Decimal("125.36"), datetime.date(2024, 1, 1), "shipped"),
]


def check(name, actual, expected):
    assert actual == expected, f"{name}: {actual!r} != {expected!r}"
    passed.append(name)


with psycopg.connect(dsn) as conn:
    for binary in (False, True):
        cur = conn.cursor(binary=binary)
        cur.execute(QUERY, (100, "shipped"))
        check(f"psycopg3 binary={binary}", cur.fetchall(), EXPECTED)
    with conn.cursor().copy(
        "COPY (SELECT order_id, amount FROM sample.orders ORDER BY 1 LIMIT 2) TO STDOUT (FORMAT BINARY)"
    ) as copy:
        copy.set_types(["int8", "numeric"])
        check("psycopg3 binary copy", list(copy.rows()),
              [(1, decimal.Decimal("394.35")), (2, decimal.Decimal("49.54"))])

conn = psycopg2.connect(dsn)
cur = conn.cursor()
cur.execute(QUERY, (100, "shipped"))
check("psycopg2", cur.fetchall(), EXPECTED)
conn.close()

for driver in ("postgresql+psycopg2", "postgresql+psycopg"):
    engine = sa.create_engine(f"{driver}://tributary@127.0.0.1:{port}/tributary")
    inspector = sa.inspect(engine)
    check(f"{driver} schemas", inspector.get_schema_names(), ["public", "sample"])
    check(f"{driver} tables", inspector.get_table_names(schema="sample"),
          ["customers", "events", "orders"])
    check(f"{driver} views", inspector.get_view_names(schema="sample"), [])
    columns = inspector.get_columns("orders", schema="sample")
    check(f"{driver} columns",
          [(c["name"], str(c["type"]), c["nullable"], c["default"]) for c in columns],
          [("order_id", "BIGINT", False, None), ("customer_id", "BIGINT", False, None),
           ("order_date", "DATE", False, None), ("status", "TEXT", False, None),
           ("quantity", "INTEGER", False, None), ("amount", "NUMERIC(12, 2)", False, None)])
    check(f"{driver} primary key", inspector.get_pk_constraint("orders", schema="sample")["constrained_columns"], [])
    check(f"{driver} foreign keys", inspector.get_foreign_keys("orders", schema="sample"), [])
    check(f"{driver} indexes", inspector.get_indexes("orders", schema="sample"), [])
    frame = pd.read_sql("SELECT order_id, status FROM sample.orders ORDER BY order_id LIMIT 3", engine)
    check(f"{driver} pandas", frame.to_dict("list"),
          {"order_id": [1, 2, 3], "status": ["delivered", "returned", "placed"]})
    engine.dispose()

print(f"{len(passed)} checks passed")
