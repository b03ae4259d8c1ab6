//! Sources managed through the HTTP API against real PostgreSQL and MariaDB:
//! created with a plain password (which goes into the credentials store),
//! tested, browsed, queried over HTTP and by a pg wire session that was
//! already open, replaced, kept across a restart, and deleted.

use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::Int64Type;
use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::record_batch::RecordBatch;
use serde_json::{Value, json};
use tributary_tests::{DATABASE_PASSWORD, Gateway, MariaDbServer, PostgresServer};

use crate::federation::{MYSQL_DATA, POSTGRES_DATA};
use crate::http::{header, query};

pub const MASTER_KEY: &str = "6b1f0c4e9a2d7385f0e1c2b3a4958677e8f9a0b1c2d3e4f5061728394a5b6c7d";

pub async fn call(
    gateway: &Gateway,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new().request(
        method.parse().expect("method"),
        format!("http://{}{path}", gateway.http_addr),
    );
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    assert!(
        !text.contains(DATABASE_PASSWORD),
        "{method} {path} answered with the password: {text}"
    );
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn database(name: &str, kind: &str, port: u16, password: &str) -> Value {
    json!({
        "name": name, "kind": kind, "host": "127.0.0.1", "port": port,
        "database": "fed", "user": "tributary", "password": password,
        "tls": "disable", "connect_timeout": "2s",
    })
}

fn start(data_dir: &std::path::Path) -> Gateway {
    Gateway::start_in(
        Some(data_dir),
        None,
        &[("TRIBUTARY_MASTER_KEY", MASTER_KEY)],
    )
}

async fn count(gateway: &Gateway, sql: &str) -> (u16, Option<i64>) {
    let (status, result) = call(gateway, "POST", "/v1/query", Some(json!({"sql": sql}))).await;
    (status, result["rows"][0]["n"].as_i64())
}

#[tokio::test]
async fn sources_are_created_tested_browsed_queried_and_kept_across_restarts() {
    let postgres = PostgresServer::start();
    postgres.sql(POSTGRES_DATA);
    postgres.log_statements();
    let mariadb = MariaDbServer::start();
    mariadb.sql(MYSQL_DATA);
    let data = tempfile::tempdir().expect("data dir");
    let mut gateway = start(data.path());
    // A pg wire session opened before the sources exist sees them after.
    let session = gateway.client().await;

    let (status, created) = call(
        &gateway,
        "POST",
        "/v1/sources",
        Some(database("pg", "postgres", postgres.port, DATABASE_PASSWORD)),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["origin"], "api");
    assert_eq!(
        created["definition"]["password"],
        json!({"secret": "source.pg.password"}),
        "{created}"
    );
    assert_eq!(created["status"]["problems"], json!([]), "{created}");
    let (status, created) = call(
        &gateway,
        "POST",
        "/v1/sources",
        Some(database("my", "mysql", mariadb.port, DATABASE_PASSWORD)),
    )
    .await;
    assert_eq!(status, 201, "{created}");

    let (status, tested) = call(&gateway, "POST", "/v1/sources/pg/test", None).await;
    assert_eq!(status, 200, "{tested}");
    assert_eq!(tested["ok"], true);
    assert!(
        tested["tables"].as_u64().is_some_and(|n| n >= 2),
        "{tested}"
    );

    let (_, schemas) = call(&gateway, "GET", "/v1/sources/pg/schemas", None).await;
    assert!(
        schemas["schemas"]
            .as_array()
            .is_some_and(|s| s.contains(&json!("public"))),
        "{schemas}"
    );
    let (_, items) = call(
        &gateway,
        "GET",
        "/v1/sources/my/schemas/fed/tables/items",
        None,
    )
    .await;
    assert_eq!(
        items["columns"][0],
        json!({"name": "id", "position": 1, "type": "Int32", "nullable": true}),
        "{items}"
    );

    assert_eq!(items["primary_key"]["columns"], json!(["id"]), "{items}");
    let (_, orders) = call(
        &gateway,
        "GET",
        "/v1/sources/pg/schemas/public/tables/orders",
        None,
    )
    .await;
    assert_eq!(
        orders["primary_key"],
        json!({"name": "orders_pkey", "columns": ["order_id"]}),
        "{orders}"
    );
    assert_eq!(orders["foreign_keys"], json!([]), "{orders}");

    // Both sources answer, alone and joined, over HTTP and the pg wire.
    assert_eq!(
        count(&gateway, "SELECT count(*) AS n FROM pg.items").await,
        (200, Some(60))
    );
    assert_eq!(
        count(
            &gateway,
            "SELECT count(*) AS n FROM pg.items p JOIN my.items m ON p.id = m.id"
        )
        .await,
        (200, Some(60))
    );
    let (_, _, arrow) = query(
        &gateway,
        "application/vnd.apache.arrow.stream",
        &json!({"sql": "SELECT CAST(id AS BIGINT) AS id FROM my.items WHERE id <= 3 ORDER BY id"}),
    )
    .await;
    let batches: Vec<RecordBatch> = StreamReader::try_new(std::io::Cursor::new(arrow), None)
        .expect("an Arrow stream")
        .collect::<Result<_, _>>()
        .expect("batches");
    let ids: Vec<i64> = batches
        .iter()
        .flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec())
        .collect();
    assert_eq!(ids, [1, 2, 3]);
    let row = session
        .query_one("SELECT count(*) FROM pg.orders", &[])
        .await
        .expect("the open session sees the new source");
    assert!(row.get::<_, i64>(0) > 0);

    // Parameters in Grok Connect's syntax, bound as values on both
    // databases: quotes, semicolons, comments, backslashes and @ signs are
    // data, never SQL.
    let hostile = [
        "it's quoted",
        "'; DROP TABLE items; --",
        "x\\' OR 1=1 -- ",
        "@name /* @ids */ $1 $$",
        "two '' quotes",
    ];
    for source in ["pg", "my"] {
        for name in hostile {
            let sql = format!(
                "--input: string name = \"plain\" [an item's name]\n--input: list<int> ids\n\
                 SELECT CAST(id AS BIGINT) AS id, @name AS echoed FROM {source}.items \
                 WHERE name = @name OR id IN (@ids) ORDER BY id"
            );
            let (status, result) = call(
                &gateway,
                "POST",
                "/v1/query",
                Some(json!({"sql": sql, "params": {"name": name, "ids": [5, 1]}})),
            )
            .await;
            assert_eq!(status, 200, "{source} {name}: {result}");
            let ids: Vec<i64> = result["rows"]
                .as_array()
                .map(|rows| rows.iter().filter_map(|r| r["id"].as_i64()).collect())
                .unwrap_or_default();
            let expected: &[i64] = if name == "it's quoted" {
                &[1, 2, 5]
            } else {
                &[1, 5]
            };
            assert_eq!(ids, expected, "{source} {name}: {result}");
            assert_eq!(result["rows"][0]["echoed"], name, "{source}: {result}");
        }
        assert_eq!(
            count(
                &gateway,
                &format!("SELECT count(*) AS n FROM {source}.items")
            )
            .await,
            (200, Some(60))
        );
    }
    // PostgreSQL received the values as bound parameters, not as SQL.
    let log = postgres.log();
    assert!(
        log.lines()
            .any(|l| l.contains("execute") && l.contains("\"items\".\"name\" = $")),
        "{log}"
    );
    assert!(
        log.contains("parameters: $1 = '''; DROP TABLE items; --'"),
        "{log}"
    );

    // The default applies when no value is given; a wrong value or an
    // unknown parameter is the request's error.
    let (status, result) = call(
        &gateway,
        "POST",
        "/v1/query",
        Some(
            json!({"sql": "--input: int n = 3\nSELECT count(*) AS n FROM pg.items WHERE id <= @n"}),
        ),
    )
    .await;
    assert_eq!(
        (status, result["rows"][0]["n"].as_i64()),
        (200, Some(3)),
        "{result}"
    );
    for (params, sqlstate) in [(json!({"n": "three"}), "22023"), (json!({"m": 1}), "42P02")] {
        let (status, error) = call(
            &gateway,
            "POST",
            "/v1/query",
            Some(json!({"sql": "--input: int n = 3\nSELECT @n AS n", "params": params})),
        )
        .await;
        assert_eq!(
            (status, error["sqlstate"].as_str()),
            (400, Some(sqlstate)),
            "{error}"
        );
    }
    // The same query from the command line, on the sources the API created.
    let output = std::process::Command::new(tributary_tests::tributary_binary())
        .arg("--data-dir")
        .arg(data.path())
        .args([
            "query",
            "--format",
            "csv",
            "--param",
            "ids=2,4",
            "--param",
            "name=it's quoted",
            "--",
            "--input: list<int> ids\nSELECT id FROM pg.items WHERE id IN (@ids) OR name = @name ORDER BY id",
        ])
        .env_remove("TRIBUTARY_CONFIG")
        .env("TRIBUTARY_MASTER_KEY", MASTER_KEY)
        .output()
        .expect("tributary query");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "id\n2\n4\n",
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // Mistakes are refused with a SQLSTATE; fixed sources stay fixed.
    let (status, error) = call(
        &gateway,
        "POST",
        "/v1/sources",
        Some(database("pg", "postgres", postgres.port, "x")),
    )
    .await;
    assert_eq!((status, error["sqlstate"].as_str()), (409, Some("42710")));
    let (status, error) = call(
        &gateway,
        "POST",
        "/v1/sources",
        Some(json!({"name": "bad", "kind": "postgres", "hots": "x"})),
    )
    .await;
    assert_eq!(
        (status, error["sqlstate"].as_str()),
        (400, Some("22023")),
        "{error}"
    );
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("hots"))
    );
    let (status, error) = call(&gateway, "DELETE", "/v1/sources/sample", None).await;
    assert_eq!((status, error["sqlstate"].as_str()), (409, Some("55000")));

    // A source whose password is wrong is kept, says why, and fails its test.
    let (status, wrong) = call(
        &gateway,
        "PUT",
        "/v1/sources/wrong",
        Some(database(
            "wrong",
            "postgres",
            postgres.port,
            "not-the-password",
        )),
    )
    .await;
    assert_eq!(status, 201, "{wrong}");
    assert!(
        wrong["status"]["problems"][0]
            .as_str()
            .is_some_and(|p| p.contains("password")),
        "{wrong}"
    );
    let (status, error) = call(&gateway, "POST", "/v1/sources/wrong/test", None).await;
    assert_eq!((status, error["sqlstate"].as_str()), (502, Some("08001")));
    assert!(!error.to_string().contains("not-the-password"), "{error}");

    // Replacing a source takes effect at once: now only `orders` is exposed.
    let mut narrowed = database("pg", "postgres", postgres.port, DATABASE_PASSWORD);
    narrowed["include"] = json!(["public.orders"]);
    let (status, replaced) = call(&gateway, "PUT", "/v1/sources/pg", Some(narrowed)).await;
    assert_eq!(status, 200, "{replaced}");
    let (_, tables) = call(
        &gateway,
        "GET",
        "/v1/sources/pg/schemas/public/tables",
        None,
    )
    .await;
    assert_eq!(tables["tables"], json!(["orders"]), "{tables}");

    // After a restart the sources are still there, and still work.
    gateway.terminate();
    let gateway = start(data.path());
    let (_, listed) = call(&gateway, "GET", "/v1/sources", None).await;
    let names: Vec<&str> = listed["sources"]
        .as_array()
        .map(|s| s.iter().filter_map(|s| s["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names, ["my", "pg", "sample", "wrong"], "{listed}");
    assert_eq!(
        count(&gateway, "SELECT count(*) AS n FROM my.items").await,
        (200, Some(60))
    );

    // Deleting a source removes it, and the password it stored.
    let (status, _) = call(&gateway, "DELETE", "/v1/sources/pg", None).await;
    assert_eq!(status, 204);
    let (status, _) = call(&gateway, "GET", "/v1/sources/pg", None).await;
    assert_eq!(status, 404);
    let (status, error) = call(
        &gateway,
        "POST",
        "/v1/query",
        Some(json!({"sql": "SELECT * FROM pg.orders"})),
    )
    .await;
    assert_eq!(status, 400, "{error}");
    let store = std::fs::read_to_string(data.path().join("credentials.json")).unwrap_or_default();
    assert!(!store.contains("source.pg.password"), "{store}");
    assert!(store.contains("source.my.password"), "{store}");
    assert!(!gateway.log().contains(DATABASE_PASSWORD));
}

#[tokio::test]
async fn a_plain_password_without_a_master_key_is_refused() {
    let data = tempfile::tempdir().expect("data dir");
    let gateway = Gateway::start_in(Some(data.path()), None, &[]);
    let (status, error) = call(
        &gateway,
        "POST",
        "/v1/sources",
        Some(database("pg", "postgres", 1, "hunter2")),
    )
    .await;
    assert_eq!(
        (status, error["sqlstate"].as_str()),
        (400, Some("55000")),
        "{error}"
    );
    assert!(!error.to_string().contains("hunter2"));
    let (status, _) = call(&gateway, "GET", "/v1/sources/pg", None).await;
    assert_eq!(status, 404);
}

fn tokens(data_dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(tributary_tests::tributary_binary())
        .arg("--data-dir")
        .arg(data_dir)
        .arg("tokens")
        .args(args)
        .env_remove("TRIBUTARY_CONFIG")
        .output()
        .expect("tributary tokens")
}

async fn status_with(gateway: &Gateway, path: &str, token: Option<&str>) -> (u16, Value, String) {
    let mut request = reqwest::Client::new().get(format!("http://{}{path}", gateway.http_addr));
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let response = request.send().await.expect("GET");
    let status = response.status().as_u16();
    let challenge = header(&response, "www-authenticate");
    let body = response.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&body).unwrap_or(Value::Null),
        challenge,
    )
}

#[tokio::test]
async fn api_tokens_guard_the_api_unless_the_config_allows_anonymous_access() {
    let data = tempfile::tempdir().expect("data dir");
    let created = tokens(data.path(), &["create", "ci"]);
    assert!(created.status.success(), "{created:?}");
    let token = String::from_utf8_lossy(&created.stdout).trim().to_owned();
    assert!(token.starts_with("trib_"), "{token}");
    let listed = tokens(data.path(), &["list"]);
    let listing = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(
        listing.contains("ci") && !listing.contains(&token),
        "{listing}"
    );
    let store = std::fs::read(data.path().join("catalog.db")).unwrap_or_default();
    assert!(
        !String::from_utf8_lossy(&store).contains(&token),
        "the token itself must not be stored"
    );

    let gateway = Gateway::start_in(
        Some(data.path()),
        Some("[server]\nhttp_anonymous = false\n"),
        &[],
    );
    assert_eq!(status_with(&gateway, "/healthz", None).await.0, 200);
    let (status, error, challenge) = status_with(&gateway, "/v1/sources", None).await;
    assert_eq!(
        (status, error["sqlstate"].as_str()),
        (401, Some("28000")),
        "{error}"
    );
    assert!(challenge.starts_with("Bearer"), "{challenge}");
    assert_eq!(
        status_with(&gateway, "/v1/sources", Some(&token)).await.0,
        200
    );
    let (status, _, _) = status_with(&gateway, "/v1/sources", Some("trib_not-a-token")).await;
    assert_eq!(status, 401);

    let revoked = tokens(data.path(), &["revoke", "ci"]);
    assert!(revoked.status.success(), "{revoked:?}");
    assert_eq!(
        status_with(&gateway, "/v1/sources", Some(&token)).await.0,
        401
    );
    assert!(!gateway.log().contains(&token));
}

/// Polls `check` until it returns `want`, for at most `limit`.
async fn wait_for(want: &str, limit: std::time::Duration, check: impl Fn() -> String) -> bool {
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if check().trim() == want {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_query_stops_at_the_source_too() {
    let postgres = PostgresServer::start();
    postgres.sql("CREATE VIEW slow AS SELECT 1 AS s FROM pg_sleep(60);");
    let mariadb = MariaDbServer::start();
    mariadb.sql("CREATE VIEW slow AS SELECT SLEEP(60) AS s;");
    let data = tempfile::tempdir().expect("data dir");
    let gateway = start(data.path());
    for (name, kind, port) in [
        ("pg", "postgres", postgres.port),
        ("my", "mysql", mariadb.port),
    ] {
        let (status, created) = call(
            &gateway,
            "POST",
            "/v1/sources",
            Some(database(name, kind, port, DATABASE_PASSWORD)),
        )
        .await;
        assert_eq!(status, 201, "{created}");
    }
    let sleeping_in_postgres =
        || postgres.sql("SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep';");
    let sleeping_in_mariadb = || {
        mariadb
            .sql("SELECT count(*) FROM information_schema.processlist WHERE state = 'User sleep';")
    };
    let checks: [(&str, &dyn Fn() -> String); 2] =
        [("pg", &sleeping_in_postgres), ("my", &sleeping_in_mariadb)];
    for (source, sleeping) in checks {
        let url = format!("http://{}/v1/query", gateway.http_addr);
        let body = json!({"sql": format!("SELECT * FROM {source}.slow")}).to_string();
        let request = tokio::spawn(async move {
            reqwest::Client::new()
                .post(url)
                .body(body)
                .send()
                .await
                .map(|r| r.status().as_u16())
        });
        assert!(
            wait_for("1", std::time::Duration::from_secs(20), sleeping).await,
            "{source}: the statement never ran at the source"
        );
        let (_, running) = call(&gateway, "GET", "/v1/queries", None).await;
        let id = running["queries"][0]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let (status, _) = call(&gateway, "DELETE", &format!("/v1/queries/{id}"), None).await;
        assert_eq!(status, 200, "{source}: {running}");
        // Gone at the source long before its 60 seconds are up.
        assert!(
            wait_for("0", std::time::Duration::from_secs(10), sleeping).await,
            "{source}: the statement still runs at the source"
        );
        let answered = request.await.expect("the request task");
        assert!(
            matches!(answered, Ok(status) if status != 200),
            "{source}: {answered:?}"
        );
    }
}

/// One saved query, the way a platform stores it, run three ways.
const SAVED_QUERY: &str = "--input: string status = \"shipped\" [order status]\n\
--input: int max_id = 100\n\
--input: list<int> extra_ids\n\
SELECT count(*) AS n FROM sample.orders \
WHERE (status = @status AND order_id <= @max_id) OR order_id IN (@extra_ids)";

#[tokio::test]
async fn one_saved_query_runs_over_http_the_cli_and_the_pg_wire() {
    let gateway = Gateway::start();
    let client = gateway.client().await;
    let literal: i64 = client
        .query_one(
            "SELECT count(*) FROM sample.orders WHERE (status = 'returned' AND order_id <= 40) OR order_id IN (1, 2, 3)",
            &[],
        )
        .await
        .expect("the literal query")
        .get(0);
    assert!(literal > 3, "{literal}");

    let (status, result) = call(
        &gateway,
        "POST",
        "/v1/query",
        Some(json!({"sql": SAVED_QUERY, "params": {"status": "returned", "max_id": 40, "extra_ids": [1, 2, 3]}})),
    )
    .await;
    assert_eq!(
        (status, result["rows"][0]["n"].as_i64()),
        (200, Some(literal)),
        "{result}"
    );

    let output = std::process::Command::new(tributary_tests::tributary_binary())
        .arg("--data-dir")
        .arg(&gateway.data_dir)
        .args([
            "query",
            "--format",
            "csv",
            "-p",
            "status=returned",
            "-p",
            "max_id=40",
            "-p",
            "extra_ids=1,2,3",
            "--",
            SAVED_QUERY,
        ])
        .env_remove("TRIBUTARY_CONFIG")
        .output()
        .expect("tributary query");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        format!("n\n{literal}\n"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // The pg wire: a prepared statement whose parameters are the inputs,
    // in the order of their lines; the list is an array.
    let statement = client.prepare(SAVED_QUERY).await.expect("prepare");
    let row = client
        .query_one(&statement, &[&"returned", &40_i64, &vec![1_i64, 2, 3]])
        .await
        .expect("execute");
    assert_eq!(row.get::<_, i64>(0), literal);
    let error = client
        .prepare("--input: money m\nSELECT @m")
        .await
        .err()
        .and_then(|e| e.code().map(|c| c.code().to_owned()));
    assert_eq!(error.as_deref(), Some("22023"));
}
