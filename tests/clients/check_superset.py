"""Superset itself against Tributary, through its Python API: the database
"test connection" command, schema and table browsing, a column listing (what
dataset creation reads) and a query the way SQL Lab runs it. Needs
SUPERSET_CONFIG_PATH pointing at a config whose metadata database has been
upgraded (`superset db upgrade`)."""
import sys

from superset.app import create_app

app = create_app()
with app.app_context():
    from superset.commands.database.test_connection import TestConnectionDatabaseCommand
    from superset.models.core import Database
    from superset.sql.parse import Table

    uri = f"postgresql+psycopg2://tributary@127.0.0.1:{sys.argv[1]}/tributary"
    TestConnectionDatabaseCommand({"sqlalchemy_uri": uri, "database_name": "tributary"}).run()
    print("test connection: ok")
    database = Database(database_name="tributary", sqlalchemy_uri=uri)
    print("schemas:", sorted(database.get_all_schema_names()))
    print("tables:", sorted(t[0] for t in database.get_all_table_names_in_schema(None, "sample")))
    columns = database.get_columns(Table("orders", "sample"))
    print("columns:", ", ".join(f"{c['column_name']} {c['type']}" for c in columns))
    frame = database.get_df(
        "SELECT status, count(*) AS n FROM sample.orders GROUP BY status ORDER BY status",
        schema="sample",
    )
    print("sql lab:", ", ".join(f"{row.status}={row.n}" for row in frame.itertuples()))
