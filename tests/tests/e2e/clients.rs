//! The clients users point at Tributary, each the real program: psql's
//! introspection and `\copy`, pgjdbc (DBeaver, Tableau), psycopg 3,
//! psycopg2, SQLAlchemy and pandas (Superset, notebooks), psqlODBC through
//! unixODBC's `isql`. The README test command installs them all.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tributary_tests::{DATABASE_PASSWORD, Gateway, MariaDbServer, PostgresServer};

use crate::federation::database_source;

fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("clients")
}

fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn psql(gateway: &Gateway, args: &[&str]) -> String {
    psql_in(gateway, "tributary", args)
}

fn psql_in(gateway: &Gateway, database: &str, args: &[&str]) -> String {
    let output = Command::new("psql")
        .args(["-X", "-h", "127.0.0.1", "-U", "tributary", "-d", database])
        .args(["-p", &gateway.addr.port().to_string()])
        .args(args)
        .output()
        .expect("psql is installed (postgresql-client)");
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "psql {args:?}: {stderr}");
    assert!(!stderr.contains("ERROR"), "psql {args:?}: {stderr}");
    stdout
}

#[tokio::test]
async fn psql_describes_what_the_gateway_serves() {
    let gateway = Gateway::start();
    let databases = psql(&gateway, &["-c", "\\l"]);
    for database in ["tributary", "sample"] {
        assert!(databases.contains(&format!(" {database} ")), "{databases}");
    }
    // One database's schemas, each once.
    let schemas = psql(&gateway, &["-At", "-c", "\\dn"]);
    assert_eq!(schemas, "public|postgres\nsample|postgres\n");
    let tables = psql(&gateway, &["-At", "-c", "\\dt"]);
    assert_eq!(
        tables,
        "sample|customers|table|postgres\nsample|events|table|postgres\nsample|orders|table|postgres\n"
    );
    assert_eq!(psql(&gateway, &["-At", "-c", "\\dt sample.*"]), tables);
    let orders = psql(&gateway, &["-c", "\\d sample.orders"]);
    let expected = [
        "                    Table \"sample.orders\"",
        "   Column    |     Type      | Collation | Nullable | Default ",
        "-------------+---------------+-----------+----------+---------",
        " order_id    | bigint        |           | not null | ",
        " customer_id | bigint        |           | not null | ",
        " order_date  | date          |           | not null | ",
        " status      | text          |           | not null | ",
        " quantity    | integer       |           | not null | ",
        " amount      | numeric(12,2) |           | not null | ",
    ];
    assert_eq!(
        orders.lines().take(expected.len()).collect::<Vec<_>>(),
        expected,
        "{orders}"
    );
}

#[tokio::test]
async fn psql_copy_writes_csv_with_a_header() {
    let gateway = Gateway::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("orders.csv");
    let out = psql(
        &gateway,
        &[
            "-c",
            &format!(
                "\\copy (SELECT order_id, status, amount, NULL::text AS note FROM sample.orders ORDER BY order_id LIMIT 3) TO '{}' CSV HEADER",
                file.display()
            ),
        ],
    );
    assert_eq!(out.trim(), "COPY 3");
    let written = std::fs::read_to_string(&file).expect("psql wrote the file");
    assert_eq!(
        written,
        "order_id,status,amount,note\n1,delivered,394.35,\n2,returned,49.54,\n3,placed,396.14,\n"
    );
    // Text format: tabs, \N for NULL, backslashes escaped.
    let copied = psql(
        &gateway,
        &[
            "-c",
            "COPY (SELECT 1 AS a, NULL::text AS b, 'x\\y' AS c) TO STDOUT",
        ],
    );
    assert_eq!(copied, "1\t\\N\tx\\\\y\n");
}

#[tokio::test]
async fn session_settings_behave_as_in_postgres() {
    let gateway = Gateway::start();
    let out = psql(
        &gateway,
        &[
            "-At",
            "-c",
            "SHOW search_path",
            "-c",
            "SET search_path TO sample, public",
            "-c",
            "SELECT count(*), current_schema(), current_setting('search_path') FROM orders",
            "-c",
            "SET TimeZone = 'Europe/Berlin'",
            "-c",
            "SELECT TIMESTAMPTZ '2024-01-01 00:00:00+00'",
            "-c",
            "RESET ALL",
            "-c",
            "SHOW search_path",
            "-c",
            "SHOW server_version_num",
            "-c",
            "SAVEPOINT s1",
            "-c",
            "RELEASE SAVEPOINT s1",
            "-c",
            "DISCARD ALL",
        ],
    );
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "\"$user\", public",
            "SET",
            "120000|sample|sample, public",
            "SET",
            "2024-01-01 01:00:00.000000+01",
            "RESET",
            "\"$user\", public",
            "160006",
            "SAVEPOINT",
            "RELEASE",
            "DISCARD ALL",
        ]
    );
    let output = Command::new("psql")
        .args([
            "-X",
            "-h",
            "127.0.0.1",
            "-U",
            "tributary",
            "-p",
            &gateway.addr.port().to_string(),
        ])
        .args(["-c", "SET no_such_setting = 1"])
        .env("PGOPTIONS", "")
        .output()
        .expect("psql runs");
    let (_, stderr) = text(&output);
    assert!(
        stderr.contains("unrecognized configuration parameter \"no_such_setting\""),
        "{stderr}"
    );
}

#[tokio::test]
async fn pgjdbc_browses_and_queries() {
    let gateway = Gateway::start();
    let (stdout, stderr) = run_client(
        "java",
        &["-cp", "/usr/share/java/postgresql.jar"],
        "Check.java",
        &gateway,
    );
    let lines: Vec<&str> = stdout.lines().collect();
    let rows =
        "6,196.77,2024-01-01,shipped|10,125.36,2024-01-01,shipped|31,255.09,2024-01-01,shipped";
    let mut expected = vec![
        "product: PostgreSQL 16".to_owned(),
        "catalogs: tributary".to_owned(),
        "schemas: pg_catalog,public,sample".to_owned(),
        "tables: customers,events,orders".to_owned(),
        "columns: order_id int8 -5 NO 1; customer_id int8 -5 NO 2; order_date date 91 NO 3; \
         status text 12 NO 4; quantity int4 4 NO 5; amount numeric(12,2) 2 NO 6"
            .to_owned(),
        "primary keys: ".to_owned(),
    ];
    // The sixth run is server-prepared and binary: same rows.
    expected.extend((1..=6).map(|run| format!("prepared run {run}: {rows}")));
    expected.push(
        "result types: order_id:int8:-5,customer_id:int8:-5,order_date:date:91,status:text:12,\
         quantity:int4:4,amount:numeric:2"
            .to_owned(),
    );
    expected.push("write: 25006".to_owned());
    assert_eq!(lines, expected, "{stderr}");
}

/// Runs `program ARGS tests/clients/FILE <pg port>`, which must succeed;
/// its stdout and stderr.
fn run_client(
    program: impl AsRef<std::ffi::OsStr>,
    args: &[&str],
    file: &str,
    gateway: &Gateway,
) -> (String, String) {
    let program = program.as_ref().to_owned();
    let output = Command::new(&program)
        .args(args)
        .arg(clients_dir().join(file))
        .arg(gateway.addr.port().to_string())
        .output()
        .unwrap_or_else(|e| panic!("{program:?} runs (the README test command installs it): {e}"));
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{file}: {stdout}\n{stderr}");
    (stdout, stderr)
}

/// The Python the README test command prepared, with the client libraries.
fn client_python() -> PathBuf {
    if let Some(python) = std::env::var_os("TRIBUTARY_CLIENT_PYTHON") {
        return PathBuf::from(python);
    }
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/client-venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: ./dev/test.sh creates it (python3 -m venv, pip install -r tests/clients/requirements.txt)",
        python.display()
    );
    python
}

#[tokio::test]
async fn python_clients_psycopg_sqlalchemy_pandas() {
    let gateway = Gateway::start();
    let (stdout, _) = run_client(client_python(), &[], "check_python.py", &gateway);
    assert_eq!(stdout.lines().last(), Some("20 checks passed"), "{stdout}");
}

#[tokio::test]
async fn python_scripting_worker_reads_arrow_over_http() {
    let gateway = Gateway::start();
    let output = Command::new(client_python())
        .arg(clients_dir().join("check_http.py"))
        .arg(gateway.http_addr.port().to_string())
        .output()
        .expect("the client Python runs");
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert_eq!(stdout.lines().last(), Some("12 checks passed"), "{stdout}");
}

/// A PostgreSQL and a MariaDB source whose tables have primary, unique and
/// foreign keys (tests/clients/keys_*.sql).
fn gateway_with_keyed_sources() -> (Gateway, PostgresServer, MariaDbServer) {
    let postgres = PostgresServer::start();
    postgres.sql(include_str!("../../clients/keys_postgres.sql"));
    let mariadb = MariaDbServer::start();
    mariadb.sql(include_str!("../../clients/keys_mysql.sql"));
    let config = [
        database_source("pg", "postgres", postgres.port, ""),
        database_source("my", "mysql", mariadb.port, ""),
    ]
    .join("\n");
    let gateway = Gateway::start_with(Some(&config), &[("FED_PASSWORD", DATABASE_PASSWORD)]);
    (gateway, postgres, mariadb)
}

#[tokio::test]
async fn keys_of_database_sources_reach_psql_pgjdbc_and_sqlalchemy() {
    let (gateway, _postgres, _mariadb) = gateway_with_keyed_sources();

    let lines = psql(&gateway, &["-c", "\\d pg.lines"]);
    assert!(
        lines
            .contains("Indexes:\n    \"lines_pkey\" PRIMARY KEY, btree (region, order_no, line)\n"),
        "{lines}"
    );
    assert!(
        lines.contains(
            "Foreign-key constraints:\n    \"lines_order\" FOREIGN KEY (region, order_no) \
             REFERENCES pg.\"Orders\"(region, order_no)\n"
        ),
        "{lines}"
    );
    let customers = psql(&gateway, &["-c", "\\d pg.customers"]);
    assert!(
        customers.contains("\"customers_email_key\" UNIQUE CONSTRAINT, btree (email)"),
        "{customers}"
    );
    // In the source's own database, its schemas keep their names.
    let log = psql_in(&gateway, "pg", &["-c", "\\d audit.log"]);
    assert!(
        log.contains("FOREIGN KEY (customer_id) REFERENCES public.customers(id)"),
        "{log}"
    );

    let (stdout, stderr) = run_client(
        "java",
        &["-cp", "/usr/share/java/postgresql.jar"],
        "Keys.java",
        &gateway,
    );
    let expected = [
        "pg lines primary: region:1:lines_pkey order_no:2:lines_pkey line:3:lines_pkey",
        "pg Orders primary: region:1:Orders_pkey order_no:2:Orders_pkey",
        "pg lines imported: region->pg.Orders.region:1:lines_order:Orders_pkey \
         order_no->pg.Orders.order_no:2:lines_order:Orders_pkey",
        "pg customers exported: Orders.customer_id",
        "my orders primary: region:1:orders_pkey order_no:2:orders_pkey",
        "my orders imported: customer_id->my.customers.id:1:orders_customer:customers_pkey",
        "pg customers indexes: customers_email_key:email:false customers_pkey:id:false",
    ];
    assert_eq!(stdout.lines().collect::<Vec<_>>(), expected, "{stderr}");

    let (stdout, _) = run_client(client_python(), &[], "check_keys.py", &gateway);
    assert_eq!(stdout.lines().last(), Some("16 checks passed"), "{stdout}");
}

#[tokio::test]
async fn psqlodbc_lists_tables_and_selects() {
    let gateway = Gateway::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let ini = dir.path().join("odbc.ini");
    std::fs::write(
        &ini,
        format!(
            "[tributary]\nDriver=PostgreSQL Unicode\nServername=127.0.0.1\nPort={}\nDatabase=tributary\nUsername=tributary\n",
            gateway.addr.port()
        ),
    )
    .expect("write odbc.ini");
    let isql = |sql: &str| {
        use std::io::Write;
        let mut child = Command::new("isql")
            .args(["-b", "-d|", "tributary"])
            .env("ODBCINI", &ini)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("isql is installed (unixodbc)");
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(sql.as_bytes()).expect("write to isql");
        }
        let output = child.wait_with_output().expect("isql ends");
        let (stdout, stderr) = text(&output);
        assert!(output.status.success(), "{stdout}\n{stderr}");
        stdout
    };
    let rows = isql("SELECT order_id, status FROM sample.orders ORDER BY order_id LIMIT 2\n");
    assert_eq!(
        rows.lines().collect::<Vec<_>>(),
        ["1|delivered", "2|returned"],
        "{rows}"
    );
    // `help` lists tables through SQLTables.
    let tables = isql("help\n");
    for table in [
        "|sample|customers|TABLE|",
        "|sample|events|TABLE|",
        "|sample|orders|TABLE|",
    ] {
        assert!(tables.contains(table), "{table} in {tables}");
    }
}

/// Superset's venv, which the README test command prepared.
fn superset_bin() -> PathBuf {
    if let Some(dir) = std::env::var_os("TRIBUTARY_SUPERSET_VENV") {
        return PathBuf::from(dir).join("bin");
    }
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/superset-venv/bin");
    assert!(
        bin.join("superset").exists(),
        "{} is missing: ./dev/test.sh creates it from tests/clients/superset-requirements.txt",
        bin.display()
    );
    bin
}

#[tokio::test]
async fn superset_connects_browses_and_runs_sql_lab() {
    let gateway = Gateway::start();
    let bin = superset_bin();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("superset_config.py");
    std::fs::write(
        &config,
        format!(
            "SECRET_KEY = 'tributary-tests-only-not-a-secret'\nSQLALCHEMY_DATABASE_URI = 'sqlite:///{}'\n",
            dir.path().join("superset.db").display()
        ),
    )
    .expect("write the Superset config");
    let upgrade = Command::new(bin.join("superset"))
        .args(["db", "upgrade"])
        .env("SUPERSET_CONFIG_PATH", &config)
        .current_dir(dir.path())
        .output()
        .expect("superset runs");
    let (stdout, stderr) = text(&upgrade);
    assert!(
        upgrade.status.success(),
        "superset db upgrade: {stdout}\n{stderr}"
    );
    let output = Command::new(bin.join("python"))
        .arg(clients_dir().join("check_superset.py"))
        .arg(gateway.addr.port().to_string())
        .env("SUPERSET_CONFIG_PATH", &config)
        .current_dir(dir.path())
        .output()
        .expect("the Superset venv's python runs");
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    // Superset prints where its config came from before anything else.
    assert_eq!(
        stdout
            .lines()
            .filter(|line| !line.starts_with("Loaded your LOCAL configuration"))
            .collect::<Vec<_>>(),
        [
            "test connection: ok",
            "schemas: ['public', 'sample']",
            "tables: ['customers', 'events', 'orders']",
            "columns: order_id BIGINT, customer_id BIGINT, order_date DATE, status TEXT, quantity INTEGER, amount NUMERIC(12, 2)",
            "sql lab: delivered=29974, placed=30071, returned=29892, shipped=30063",
        ],
        "{stderr}"
    );
}
