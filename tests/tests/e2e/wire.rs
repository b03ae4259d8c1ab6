//! The pg wire protocol over the sample dataset: simple and extended
//! protocol, text and binary results, parameters, concurrency, cancel,
//! shutdown.

use std::time::Duration;

use tokio_postgres::SimpleQueryMessage;
use tributary_tests::Gateway;

pub(crate) fn simple_rows(messages: Vec<SimpleQueryMessage>) -> Vec<Vec<Option<String>>> {
    messages
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some(
                (0..row.len())
                    .map(|i| row.get(i).map(str::to_owned))
                    .collect(),
            ),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn sample_counts_over_simple_protocol() {
    let gateway = Gateway::start();
    let client = gateway.client().await;
    let rows = simple_rows(
        client
            .simple_query(
                "SELECT (SELECT count(*) FROM sample.customers) AS customers, (SELECT count(*) FROM sample.orders) AS orders, (SELECT count(*) FROM sample.events) AS events",
            )
            .await
            .expect("counts"),
    );
    assert_eq!(
        rows,
        vec![vec![
            Some("1000".into()),
            Some("120000".into()),
            Some("20000".into())
        ]]
    );
}

#[tokio::test]
async fn join_and_group_by_match_a_local_computation() {
    let gateway = Gateway::start();
    let client = gateway.client().await;
    // Orders per customer country, through the join...
    let joined = client
        .query(
            "SELECT c.country, count(*) AS orders \
             FROM sample.orders o JOIN sample.customers c ON o.customer_id = c.customer_id \
             GROUP BY c.country ORDER BY c.country",
            &[],
        )
        .await
        .expect("join");
    let joined: Vec<(String, i64)> = joined.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(joined.len(), 8, "eight countries: {joined:?}");
    assert_eq!(joined.iter().map(|(_, n)| n).sum::<i64>(), 120_000);

    // ...equals the same count computed from the two tables separately.
    let per_customer = client
        .query(
            "SELECT customer_id, count(*) FROM sample.orders GROUP BY customer_id",
            &[],
        )
        .await
        .expect("orders per customer");
    let countries = client
        .query("SELECT customer_id, country FROM sample.customers", &[])
        .await
        .expect("customers");
    let country_of: std::collections::HashMap<i64, String> =
        countries.iter().map(|r| (r.get(0), r.get(1))).collect();
    let mut expected = std::collections::BTreeMap::<String, i64>::new();
    for row in &per_customer {
        let id: i64 = row.get(0);
        let count: i64 = row.get(1);
        *expected.entry(country_of[&id].clone()).or_default() += count;
    }
    assert_eq!(joined, expected.into_iter().collect::<Vec<_>>());
}

#[tokio::test]
async fn extended_protocol_with_parameters_and_binary_results() {
    let gateway = Gateway::start();
    let client = gateway.client().await;
    // tokio-postgres prepares, binds $1/$2 and asks for binary results.
    let statement = client
        .prepare("SELECT order_id, customer_id, status, quantity FROM sample.orders WHERE order_id BETWEEN $1 AND $2 ORDER BY order_id")
        .await
        .expect("prepare");
    let rows = client
        .query(&statement, &[&10_i64, &14_i64])
        .await
        .expect("execute");
    let ids: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(ids, vec![10, 11, 12, 13, 14]);
    let quantity: i32 = rows[0].get(3);
    assert!((1..=9).contains(&quantity));

    // The same statement again with other parameters.
    let rows = client
        .query(&statement, &[&1_i64, &1_i64])
        .await
        .expect("execute again");
    assert_eq!(rows.len(), 1);

    // Text parameter against a text column.
    let shipped = client
        .query_one(
            "SELECT count(*) FROM sample.orders WHERE status = $1",
            &[&"shipped"],
        )
        .await
        .expect("text parameter");
    let shipped: i64 = shipped.get(0);
    let all = client
        .query_one(
            "SELECT count(*) FILTER (WHERE status = 'shipped') FROM sample.orders",
            &[],
        )
        .await
        .expect("filter");
    assert_eq!(shipped, all.get::<_, i64>(0));
    assert!(shipped > 20_000 && shipped < 40_000, "{shipped}");
}

#[tokio::test]
async fn binary_and_text_formats_agree_on_dates_and_numerics() {
    let gateway = Gateway::start();
    let client = gateway.client().await;
    let sql = "SELECT order_date, amount FROM sample.orders WHERE order_id = 1";
    let binary = client.query_one(sql, &[]).await.expect("binary");
    let date: chrono::NaiveDate = binary.get(0);
    let text = simple_rows(client.simple_query(sql).await.expect("text"));
    assert_eq!(text[0][0].as_deref(), Some(date.to_string().as_str()));
    assert_eq!(date.to_string(), "2024-01-01");
    let amount_text = text[0][1].clone().unwrap_or_default();
    assert!(
        amount_text.contains('.'),
        "numeric(12,2) as text: {amount_text}"
    );
}

#[tokio::test]
async fn nested_json_fields_can_be_filtered() {
    let gateway = Gateway::start();
    let client = gateway.client().await;
    let by_os = client
        .query(
            "SELECT e.device['os'] AS os, count(*) FROM sample.events e GROUP BY 1 ORDER BY 1",
            &[],
        )
        .await
        .expect("group by nested field");
    let by_os: Vec<(String, i64)> = by_os.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(
        by_os.iter().map(|(os, _)| os.as_str()).collect::<Vec<_>>(),
        ["android", "ios", "web"]
    );
    assert_eq!(by_os.iter().map(|(_, n)| n).sum::<i64>(), 20_000);

    let ios: i64 = client
        .query_one(
            "SELECT count(*) FROM sample.events WHERE device['os'] = 'ios'",
            &[],
        )
        .await
        .expect("filter on nested field")
        .get(0);
    assert_eq!(ios, by_os[1].1);

    let tagged: i64 = client
        .query_one(
            "SELECT count(*) FROM sample.events WHERE array_has(tags, 'promo') AND properties['duration_ms'] >= 0",
            &[],
        )
        .await
        .expect("filter on array")
        .get(0);
    assert!(tagged > 0 && tagged < 20_000, "{tagged}");
}

#[tokio::test]
async fn many_concurrent_sessions() {
    let gateway = Gateway::start();
    let mut tasks = Vec::new();
    for i in 0..16_i64 {
        let connection = gateway.connection_string();
        tasks.push(tokio::spawn(async move {
            let (client, conn) = tokio_postgres::connect(&connection, tokio_postgres::NoTls)
                .await
                .expect("connect");
            tokio::spawn(conn);
            let row = client
                .query_one(
                    "SELECT count(*) FROM sample.orders WHERE customer_id = $1",
                    &[&(i + 1)],
                )
                .await
                .expect("query");
            row.get::<_, i64>(0)
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await.expect("task");
    }
    let client = gateway.client().await;
    let expected: i64 = client
        .query_one(
            "SELECT count(*) FROM sample.orders WHERE customer_id <= 16",
            &[],
        )
        .await
        .expect("query")
        .get(0);
    assert_eq!(total, expected);
}

#[tokio::test]
async fn cancel_request_stops_a_running_query() {
    let gateway = Gateway::start();
    let client = gateway.client().await;
    let token = client.cancel_token();
    // A cross join of the orders with themselves runs for minutes.
    let slow = tokio::spawn(async move {
        client
            .simple_query("SELECT count(*) FROM sample.orders a, sample.orders b WHERE a.amount + b.amount = 7")
            .await
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    token
        .cancel_query(tokio_postgres::NoTls)
        .await
        .expect("send cancel");
    let result = tokio::time::timeout(Duration::from_secs(20), slow)
        .await
        .expect("the query ended soon after the cancel")
        .expect("task");
    let error = result.expect_err("cancelled query fails");
    assert_eq!(error.code().map(|c| c.code()), Some("57014"), "{error}");

    // The server and a new session still work.
    let client = gateway.client().await;
    let one = client
        .query_one("SELECT 1::bigint", &[])
        .await
        .expect("after cancel");
    assert_eq!(one.get::<_, i64>(0), 1);
}

#[tokio::test]
async fn statement_timeout_covers_the_whole_statement() {
    let gateway = Gateway::start();
    let client = gateway.client().await;
    client
        .simple_query("SET statement_timeout = '300ms'")
        .await
        .expect("set");
    let started = std::time::Instant::now();
    let error = client
        .simple_query(
            "SELECT count(*) FROM sample.orders a, sample.orders b WHERE a.amount + b.amount = 7",
        )
        .await
        .expect_err("timed out");
    let db = error.as_db_error().expect("database error");
    assert_eq!(db.code().code(), "57014");
    assert!(
        db.message().contains("statement timeout"),
        "{}",
        db.message()
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    // The session goes on; with a generous timeout, statements complete.
    client
        .batch_execute("SET statement_timeout = '60s'")
        .await
        .expect("set");
    let rows = client
        .query("SELECT count(*) FROM sample.customers", &[])
        .await
        .expect("quick");
    assert_eq!(rows[0].get::<_, i64>(0), 1000);
}

#[tokio::test]
async fn sigterm_closes_idle_sessions_at_once() {
    let mut gateway = Gateway::start();
    let client = gateway.client().await;
    client.simple_query("SELECT 1").await.expect("query");
    let started = std::time::Instant::now();
    let status = gateway.terminate();
    assert!(
        status.success(),
        "exit status {status:?}\n{}",
        gateway.log()
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "idle sessions do not hold up shutdown"
    );
    assert!(gateway.log().contains("shut down"), "{}", gateway.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_a_running_statement_finish() {
    let mut gateway = Gateway::start();
    let client = gateway.client().await;
    // Pairs of orders whose quantities add up to 7: computed cheaply first...
    let expected: i64 = client
        .query_one(
            "WITH q AS (SELECT quantity, count(*) AS n FROM sample.orders WHERE order_id <= 40000 GROUP BY quantity) \
             SELECT CAST(sum(a.n * b.n) AS BIGINT) FROM q a JOIN q b ON a.quantity + b.quantity = 7",
            &[],
        )
        .await
        .expect("expected count")
        .get(0);
    // ...then the slow way (1.6 billion pairs), interrupted by SIGTERM.
    let slow = tokio::spawn(async move {
        client
            .query_one(
                "SELECT count(*) FROM (SELECT quantity FROM sample.orders WHERE order_id <= 40000) a, \
                 (SELECT quantity FROM sample.orders WHERE order_id <= 40000) b WHERE a.quantity + b.quantity = 7",
                &[],
            )
            .await
            .map(|row| row.get::<_, i64>(0))
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let status = tokio::task::spawn_blocking(move || {
        let status = gateway.terminate();
        (status, gateway.log())
    })
    .await
    .expect("terminate");
    assert!(status.0.success(), "{}", status.1);
    let counted = slow
        .await
        .expect("task")
        .expect("the running statement completed");
    assert_eq!(counted, expected);
}

#[tokio::test]
async fn settings_stay_in_their_session() {
    let gateway = Gateway::start();
    let first = gateway.client().await;
    let second = gateway.client().await;
    let sql = "SELECT count(*) FROM SAMPLE.CUSTOMERS";
    first
        .simple_query("SET datafusion.sql_parser.enable_ident_normalization = false")
        .await
        .expect("set");
    // The first session no longer folds SAMPLE to sample...
    let error = first.simple_query(sql).await.expect_err("no folding here");
    assert_eq!(error.code().map(|c| c.code()), Some("42P01"), "{error}");
    // ...the second still does.
    let rows = simple_rows(second.simple_query(sql).await.expect("folding there"));
    assert_eq!(rows, vec![vec![Some("1000".to_owned())]]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heavy_queries_do_not_block_connections_or_cancels() {
    let gateway = Gateway::start();
    let mut heavy = Vec::new();
    for _ in 0..3 {
        let client = gateway.client().await;
        let token = client.cancel_token();
        let task = tokio::spawn(async move {
            // Small batches: each poll of the join is short, so a cancelled
            // query lets go of its core soon.
            client
                .batch_execute("SET datafusion.execution.batch_size = 512")
                .await?;
            client
                .simple_query("SELECT count(*) FROM sample.orders a, sample.orders b WHERE a.amount + b.amount = 7")
                .await
        });
        heavy.push((token, task));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    // While three cross joins keep every core busy, a new session connects
    // at once: connections are served apart from query execution.
    let client = tokio::time::timeout(Duration::from_secs(5), gateway.client())
        .await
        .expect("connected while the server is busy");
    // The cancels get through, and each heavy query ends with 57014.
    for (token, task) in heavy {
        token
            .cancel_query(tokio_postgres::NoTls)
            .await
            .expect("cancel");
        let result = tokio::time::timeout(Duration::from_secs(60), task)
            .await
            .expect("cancelled in time")
            .expect("task");
        let error = result.expect_err("cancelled");
        assert_eq!(error.code().map(|c| c.code()), Some("57014"), "{error}");
    }
    let rows = tokio::time::timeout(
        Duration::from_secs(60),
        client.query(
            "SELECT customer_id FROM sample.customers WHERE customer_id = 7",
            &[],
        ),
    )
    .await
    .expect("answered once the heavy queries are gone")
    .expect("query");
    assert_eq!(rows[0].get::<_, i64>(0), 7);
}

#[tokio::test]
async fn version_and_startup_parameters_look_like_postgresql() {
    let gateway = Gateway::start();
    let client = gateway.client().await;
    let version: String = client
        .query_one("SELECT version()", &[])
        .await
        .expect("version")
        .get(0);
    assert!(version.starts_with("PostgreSQL 16."), "{version}");
    assert!(version.contains("Tributary"), "{version}");
    let log = gateway.log();
    assert!(log.contains("trust for user \"tributary\""), "{log}");
}
