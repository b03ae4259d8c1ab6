"""SQLAlchemy's key inspection (Superset's join hints, notebooks' ORM
reflection) of database sources through Tributary, with both drivers.
Each check asserts real values; the last line says how many passed."""
import sys

import sqlalchemy as sa

port = int(sys.argv[1])
passed = []


def check(name, actual, expected):
    assert actual == expected, f"{name}: {actual!r} != {expected!r}"
    passed.append(name)


for driver in ("psycopg", "psycopg2"):
    engine = sa.create_engine(f"postgresql+{driver}://tributary@127.0.0.1:{port}/tributary")
    inspector = sa.inspect(engine)
    primary = inspector.get_pk_constraint("lines", schema="pg")
    check(f"{driver} pg primary key", (primary["name"], primary["constrained_columns"]),
          ("lines_pkey", ["region", "order_no", "line"]))
    foreign = inspector.get_foreign_keys("lines", schema="pg")
    check(f"{driver} pg foreign keys",
          [(f["name"], f["constrained_columns"], f["referred_schema"], f["referred_table"], f["referred_columns"])
           for f in foreign],
          [("lines_order", ["region", "order_no"], "pg", "Orders", ["region", "order_no"])])
    check(f"{driver} pg unique", [(u["name"], u["column_names"]) for u in inspector.get_unique_constraints("customers", schema="pg")],
          [("customers_email_key", ["email"])])
    check(f"{driver} pg indexes", [(i["name"], i["column_names"], i["unique"]) for i in inspector.get_indexes("customers", schema="pg")],
          [("customers_email_key", ["email"], True)])
    check(f"{driver} mysql primary key", inspector.get_pk_constraint("orders", schema="my")["constrained_columns"],
          ["region", "order_no"])
    check(f"{driver} mysql foreign keys",
          [(f["name"], f["constrained_columns"], f["referred_table"], f["referred_columns"])
           for f in inspector.get_foreign_keys("orders", schema="my")],
          [("orders_customer", ["customer_id"], "customers", ["id"])])
    # The source's own database: schemas as the source names them.
    source = sa.inspect(sa.create_engine(f"postgresql+{driver}://tributary@127.0.0.1:{port}/pg"))
    check(f"{driver} source database primary key",
          source.get_pk_constraint("log", schema="audit")["constrained_columns"], ["id"])
    check(f"{driver} source database foreign keys",
          [(f["referred_schema"], f["referred_table"]) for f in source.get_foreign_keys("log", schema="audit")],
          [("public", "customers")])

print(f"{len(passed)} checks passed")
