//! Nothing a client sends takes the server down (issue 19): deep SQL,
//! extreme row counts, lying lengths, too many sessions, huge values and
//! queries beyond the memory limit. After each, another session's query is
//! answered.

use tokio_postgres::error::SqlState;
use tributary_tests::raw_wire::{self, RawClient};
use tributary_tests::{Gateway, process_memory_kib};

fn union(arms: usize) -> String {
    (0..arms)
        .map(|n| format!("SELECT {n} AS n"))
        .collect::<Vec<_>>()
        .join(" UNION ")
}

fn and_chain(terms: usize) -> String {
    let chain = vec!["n = n"; terms].join(" AND ");
    format!("SELECT count(*) FROM (SELECT 1 AS n) t WHERE {chain}")
}

fn plus_chain(terms: usize) -> String {
    format!("SELECT {}", vec!["1"; terms].join(" + "))
}

async fn still_answers(gateway: &Gateway) {
    let client = gateway.client().await;
    let row = client
        .query_one("SELECT count(*) FROM generate_series(1, 1000)", &[])
        .await
        .expect("another session's query after the hostile one");
    assert_eq!(row.get::<_, i64>(0), 1000);
}

fn code(error: &tokio_postgres::Error) -> Option<String> {
    error.code().map(|c| c.code().to_owned())
}

#[tokio::test]
async fn deep_statements_get_54001_over_both_protocols() {
    let gateway = Gateway::start();
    let client = gateway.client().await;
    // What PostgreSQL plans is planned here too, up to the bound.
    let rows = client.query(&union(200), &[]).await.expect("200 arms");
    assert_eq!(rows.len(), 200);
    let rows = client
        .simple_query(&union(200))
        .await
        .expect("200 arms, simple protocol");
    assert_eq!(crate::wire::simple_rows(rows).len(), 200);
    let row = client
        .query_one(&and_chain(200), &[])
        .await
        .expect("200 ANDs");
    assert_eq!(row.get::<_, i64>(0), 1);
    let row = client
        .query_one(&plus_chain(500), &[])
        .await
        .expect("500 +");
    assert_eq!(row.get::<_, i64>(0), 500);

    for sql in [
        union(2_000),
        union(20_000),
        and_chain(20_000),
        plus_chain(20_000),
        format!("SELECT {}", vec!["'a'"; 5_000].join(" || ")),
    ] {
        let extended = client.query(&sql, &[]).await.expect_err("too deep");
        assert_eq!(code(&extended).as_deref(), Some("54001"), "{extended}");
        let simple = client.simple_query(&sql).await.expect_err("too deep");
        assert_eq!(code(&simple).as_deref(), Some("54001"), "{simple}");
    }
    // Parentheses nested past the parser's bound: 54001 too.
    let nested = format!("SELECT {}1{}", "(".repeat(400), ")".repeat(400));
    let error = client.simple_query(&nested).await.expect_err("too deep");
    assert_eq!(code(&error).as_deref(), Some("54001"), "{error}");
    // The same session goes on.
    let rows = client.simple_query("SELECT 41 + 1").await.expect("next");
    assert_eq!(crate::wire::simple_rows(rows), [[Some("42".to_owned())]]);
    still_answers(&gateway).await;
}

#[tokio::test]
async fn execute_row_counts_are_bounds_not_allocations() {
    let gateway = Gateway::start();
    let sql = "SELECT customer_id FROM sample.customers ORDER BY customer_id";
    for max_rows in [i32::MAX, -1, 0] {
        let mut raw = RawClient::started(gateway.addr).await.expect("start-up");
        let mut messages = raw_wire::parse("", sql);
        messages.extend(raw_wire::bind("", "", &[]));
        messages.extend(raw_wire::execute("", max_rows));
        messages.extend(raw_wire::sync());
        raw.send(&messages).await.expect("send");
        let replies = raw.read_until(b'Z').await.expect("replies");
        let rows = replies.iter().filter(|r| r.kind == b'D').count();
        assert_eq!(rows, 1000, "max_rows {max_rows}: {replies:?}");
        let tags: Vec<_> = replies.iter().filter_map(|r| r.tag()).collect();
        assert_eq!(tags, ["SELECT 1000"], "max_rows {max_rows}");
    }

    // A row limit suspends the portal; the next Execute goes on from there.
    let mut raw = RawClient::started(gateway.addr).await.expect("start-up");
    let mut messages = raw_wire::parse("", sql);
    messages.extend(raw_wire::bind("", "", &[]));
    messages.extend(raw_wire::execute("", 10));
    messages.extend(raw_wire::execute("", 0));
    messages.extend(raw_wire::sync());
    raw.send(&messages).await.expect("send");
    let replies = raw.read_until(b'Z').await.expect("replies");
    let kinds: Vec<u8> = replies.iter().map(|r| r.kind).collect();
    let suspended = kinds
        .iter()
        .position(|k| *k == b's')
        .expect("PortalSuspended");
    assert_eq!(
        suspended,
        2 + 10,
        "ParseComplete, BindComplete, 10 rows: {kinds:?}"
    );
    assert_eq!(kinds.iter().filter(|k| **k == b'D').count(), 1000);
    let tags: Vec<_> = replies.iter().filter_map(|r| r.tag()).collect();
    assert_eq!(tags, ["SELECT 990"]);
    still_answers(&gateway).await;
}

#[tokio::test]
async fn lying_lengths_close_that_connection_only() {
    let gateway = Gateway::start();
    let bind_with_lying_parameter = {
        let mut message = raw_wire::bind("", "s", &[Some(b"1234567890")]);
        // The parameter's length field: 2^31 - 1 for 10 bytes.
        let at = message.len() - 2 - 10 - 4;
        message[at..at + 4].copy_from_slice(&i32::MAX.to_be_bytes());
        message
    };
    let parse_with_lying_count = {
        let mut message = raw_wire::parse("s", "SELECT $1");
        let at = message.len() - 2;
        message[at..].copy_from_slice(&i16::MAX.to_be_bytes());
        message
    };
    let huge_outer_length = vec![b'B', 0x7f, 0xff, 0xff, 0xff, 0, 0];
    let unknown_type = raw_wire::message(b'Z', b"");
    let cases: [(&str, Vec<u8>, &str); 4] = [
        ("Bind parameter length", bind_with_lying_parameter, "08P01"),
        ("Parse type count", parse_with_lying_count, "08P01"),
        ("outer length", huge_outer_length, "54000"),
        ("unknown type", unknown_type, "08P01"),
    ];
    let pid = gateway.pid();
    let before = process_memory_kib(pid, "VmRSS").expect("rss");
    for (what, bytes, expected) in &cases {
        let mut raw = RawClient::started(gateway.addr).await.expect("start-up");
        raw.send(bytes).await.expect("send");
        let replies = raw.read_to_close().await.expect("replies");
        let error = replies.iter().find(|r| r.kind == b'E').expect(what);
        assert_eq!(error.sqlstate().as_deref(), Some(*expected), "{what}");
        assert_eq!(error.field(b'S').as_deref(), Some("FATAL"), "{what}");
    }
    still_answers(&gateway).await;
    let after = process_memory_kib(pid, "VmRSS").expect("rss");
    // One such message used to leave the server ~400 MB larger.
    assert!(
        after < before + 64 * 1024,
        "RSS grew from {before} KiB to {after} KiB"
    );
}

#[tokio::test]
async fn text_that_is_not_utf8_is_an_error_and_the_session_goes_on() {
    let gateway = Gateway::start();
    let mut raw = RawClient::started(gateway.addr).await.expect("start-up");
    let mut bad = b"SELECT '\xff'".to_vec();
    bad.push(0);
    raw.send(&raw_wire::message(b'Q', &bad))
        .await
        .expect("send");
    let replies = raw.read_until(b'Z').await.expect("replies");
    let error = replies.iter().find(|r| r.kind == b'E').expect("error");
    assert_eq!(error.sqlstate().as_deref(), Some("22021"));
    raw.send(&raw_wire::query("SELECT 7")).await.expect("send");
    let replies = raw.read_until(b'Z').await.expect("replies");
    assert!(replies.iter().any(|r| r.kind == b'D'), "{replies:?}");
}

#[tokio::test]
async fn the_session_beyond_max_sessions_gets_53300() {
    let gateway = Gateway::start_with(Some("[limits]\nmax_sessions = 10\n"), &[]);
    let mut clients = Vec::new();
    for _ in 0..10 {
        clients.push(gateway.client().await);
    }
    let refused = tokio_postgres::connect(&gateway.connection_string(), tokio_postgres::NoTls)
        .await
        .err()
        .expect("the 11th session is refused");
    assert_eq!(
        refused.code(),
        Some(&SqlState::TOO_MANY_CONNECTIONS),
        "{refused}"
    );
    for client in &clients {
        let rows = client
            .simple_query("SELECT 1")
            .await
            .expect("the first ten go on");
        assert_eq!(crate::wire::simple_rows(rows), [[Some("1".to_owned())]]);
    }
    // A session that ends frees its place.
    drop(clients.pop());
    let mut admitted = None;
    for _ in 0..50 {
        if let Ok((client, connection)) =
            tokio_postgres::connect(&gateway.connection_string(), tokio_postgres::NoTls).await
        {
            tokio::spawn(connection);
            admitted = Some(client);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let client = admitted.expect("a place freed by a closed session");
    let rows = client.simple_query("SELECT 2").await.expect("admitted");
    assert_eq!(crate::wire::simple_rows(rows), [[Some("2".to_owned())]]);
}

#[tokio::test]
async fn values_beyond_max_value_bytes_get_54000() {
    let gateway = Gateway::start_with(Some("[limits]\nmax_value_bytes = \"1MiB\"\n"), &[]);
    let client = gateway.client().await;
    for sql in [
        "SELECT length(repeat('x', 2000000000))",
        "SELECT length(repeat(t, 1000000)) FROM (VALUES ('a'), ('bb')) AS v(t)",
        "SELECT length(lpad('x', 2000000000))",
        "SELECT length(rpad('x', 2000000, 'ab'))",
    ] {
        let error = client.query(sql, &[]).await.expect_err(sql);
        assert_eq!(code(&error).as_deref(), Some("54000"), "{sql}: {error}");
    }
    let row = client
        .query_one(
            "SELECT repeat('ab', 3), lpad('7', 3, '0'), rpad('7', 3, '-')",
            &[],
        )
        .await
        .expect("small values");
    assert_eq!(
        (
            row.get::<_, String>(0),
            row.get::<_, String>(1),
            row.get::<_, String>(2)
        ),
        ("ababab".to_owned(), "007".to_owned(), "7--".to_owned())
    );
    still_answers(&gateway).await;
}

#[tokio::test]
async fn a_query_beyond_the_memory_limit_fails_alone() {
    let gateway = Gateway::start_with(Some("[limits]\nmemory = \"256MiB\"\n"), &[]);
    let client = gateway.client().await;
    let other = gateway.client().await;
    let heavy = client.query(
        "SELECT cardinality(array_agg(v)) FROM generate_series(1, 300000000) AS t(v)",
        &[],
    );
    let light = async {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        other
            .query_one("SELECT count(*) FROM generate_series(1, 120000)", &[])
            .await
    };
    let (heavy, light) = tokio::join!(heavy, light);
    let error = heavy.expect_err("300 M values in one array do not fit 256 MiB");
    assert_eq!(code(&error).as_deref(), Some("53200"), "{error}");
    assert_eq!(light.expect("the other session").get::<_, i64>(0), 120_000);
    // The peak stayed near the limit, not the 2.4 GB the array would need.
    let peak = process_memory_kib(gateway.pid(), "VmHWM").expect("peak");
    assert!(peak < (256 + 512) * 1024, "VmHWM {peak} KiB");
    still_answers(&gateway).await;
}

#[tokio::test]
async fn a_source_that_dies_mid_stream_is_class_08_naming_it() {
    use futures::StreamExt;
    let postgres = tributary_tests::PostgresServer::start();
    postgres.sql(
        "CREATE TABLE big AS SELECT g AS id, md5(g::text) AS t FROM generate_series(1, 3000000) g;",
    );
    let config = format!(
        "[server]\nhttp_anonymous = true\n\n{}",
        crate::federation::database_source("pg", "postgres", postgres.port, "")
    );
    let gateway = Gateway::start_with(
        Some(&config),
        &[("FED_PASSWORD", tributary_tests::DATABASE_PASSWORD)],
    );
    let client = gateway.client().await;
    let rows = client
        .query_raw("SELECT id, t FROM pg.big", Vec::<String>::new())
        .await
        .expect("the query starts");
    futures::pin_mut!(rows);
    let first = rows.next().await.expect("a first row");
    assert!(first.is_ok(), "{first:?}");
    postgres.stop();
    let mut failure = None;
    while let Some(row) = rows.next().await {
        if let Err(error) = row {
            failure = Some(error);
            break;
        }
    }
    let error = failure.expect("the stream fails instead of ending as if complete");
    let sqlstate = code(&error).unwrap_or_default();
    assert!(sqlstate.starts_with("08"), "{sqlstate}: {error}");
    let message = error
        .as_db_error()
        .map(|db| db.message().to_owned())
        .unwrap_or_default();
    assert!(message.contains("\"pg\""), "{message}");
    // The gateway and its other sources go on.
    still_answers(&gateway).await;

    // Over HTTP the status is already sent: the body breaks off instead of
    // ending as if complete, and the log names the source and class 08.
    postgres.start_again();
    let mut response = reqwest::Client::new()
        .post(format!("http://{}/v1/query", gateway.http_addr))
        .header("accept", "application/x-ndjson")
        .body(r#"{"sql": "SELECT id, t FROM pg.big"}"#)
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status().as_u16(), 200);
    let first = response.chunk().await.expect("a first chunk");
    assert!(first.is_some());
    postgres.stop();
    let mut lines = 0usize;
    let broken = loop {
        match response.chunk().await {
            Ok(Some(chunk)) => lines += chunk.iter().filter(|b| **b == b'\n').count(),
            Ok(None) => break false,
            Err(_) => break true,
        }
    };
    assert!(
        broken,
        "the body ended as if complete after {lines} more rows"
    );
    let log = gateway.log();
    assert!(
        log.contains("HTTP query failed while streaming")
            && log.contains("source \"pg\" is unavailable"),
        "{log}"
    );
    assert!(log.contains("sqlstate=08"), "{log}");
}

#[tokio::test]
async fn sorts_and_aggregates_beyond_the_memory_limit_spill() {
    let gateway = Gateway::start_with(Some("[limits]\nmemory = \"128MiB\"\n"), &[]);
    let client = gateway.client().await;
    // A sort of 10 M rows (~80 MB of keys, more with the row numbers) and
    // 5 M groups: both past what the pool holds at once.
    let rows = client
        .simple_query(
            "SELECT max(rn), min(v) FROM (SELECT v, row_number() OVER (ORDER BY v DESC) AS rn \
             FROM generate_series(1, 10000000) AS t(v))",
        )
        .await
        .expect("the sort spills");
    assert_eq!(
        crate::wire::simple_rows(rows),
        [[Some("10000000".to_owned()), Some("1".to_owned())]]
    );
    let rows = client
        .simple_query("SELECT count(*) FROM (SELECT DISTINCT v % 5000000 FROM generate_series(1, 20000000) AS t(v))")
        .await
        .expect("the aggregate spills");
    assert_eq!(
        crate::wire::simple_rows(rows),
        [[Some("5000000".to_owned())]]
    );
    let peak = process_memory_kib(gateway.pid(), "VmHWM").expect("peak");
    assert!(
        peak < (128 + 256) * 1024,
        "VmHWM {peak} KiB over the limit and its overhead"
    );
    assert!(gateway.data_dir.join("spill").is_dir());
}

#[tokio::test]
async fn one_session_cannot_take_the_whole_pool() {
    let gateway = Gateway::start_with(
        Some(
            "[server]\nhttp_anonymous = true\n\n[limits]\nmemory = \"1GiB\"\nquery_memory = \"64MiB\"\n",
        ),
        &[],
    );
    let client = gateway.client().await;
    let error = client
        .simple_query("SELECT cardinality(array_agg(v)) FROM generate_series(1, 50000000) AS t(v)")
        .await
        .expect_err("50 M values do not fit one session's 64 MiB");
    assert_eq!(code(&error).as_deref(), Some("53200"), "{error}");
    let message = error
        .as_db_error()
        .map(|db| db.message().to_owned())
        .unwrap_or_default();
    assert!(message.contains("query_memory"), "{message}");
    // The same statement over HTTP is bounded the same way.
    let response = reqwest::Client::new()
        .post(format!("http://{}/v1/query", gateway.http_addr))
        .body(r#"{"sql": "SELECT cardinality(array_agg(v)) AS n FROM generate_series(1, 50000000) AS t(v)"}"#)
        .send()
        .await
        .expect("POST");
    let text = response.text().await.unwrap_or_default();
    assert!(text.contains("53200"), "{text}");
    // A smaller one in the same session fits.
    let rows = client
        .simple_query("SELECT cardinality(array_agg(v)) FROM generate_series(1, 100000) AS t(v)")
        .await
        .expect("a smaller array");
    assert_eq!(
        crate::wire::simple_rows(rows),
        [[Some("100000".to_owned())]]
    );
}

#[tokio::test]
async fn prepared_statements_per_session_are_bounded() {
    let gateway = Gateway::start_with(Some("[limits]\nmax_prepared_statements = 5\n"), &[]);
    let mut raw = RawClient::started(gateway.addr).await.expect("start-up");
    let prepare = |name: &str| {
        let mut messages = raw_wire::parse(name, "SELECT 1");
        messages.extend(raw_wire::sync());
        messages
    };
    for n in 0..5 {
        raw.send(&prepare(&format!("s{n}"))).await.expect("send");
        let replies = raw.read_until(b'Z').await.expect("replies");
        assert!(
            replies.iter().any(|r| r.kind == b'1'),
            "ParseComplete for s{n}: {replies:?}"
        );
    }
    raw.send(&prepare("s5")).await.expect("send");
    let replies = raw.read_until(b'Z').await.expect("replies");
    let error = replies
        .iter()
        .find(|r| r.kind == b'E')
        .expect("the sixth is refused");
    assert_eq!(error.sqlstate().as_deref(), Some("54000"));
    // Preparing a kept name again is not a new statement; closing one frees a place.
    raw.send(&prepare("s0")).await.expect("send");
    let replies = raw.read_until(b'Z').await.expect("replies");
    assert!(replies.iter().all(|r| r.kind != b'E'), "{replies:?}");
    let mut close = raw_wire::message(b'C', b"Ss1\0");
    close.extend(prepare("s5"));
    raw.send(&close).await.expect("send");
    let replies = raw.read_until(b'Z').await.expect("replies");
    assert!(
        replies.iter().any(|r| r.kind == b'3'),
        "CloseComplete: {replies:?}"
    );
    assert!(
        replies.iter().any(|r| r.kind == b'1'),
        "ParseComplete for s5: {replies:?}"
    );
}

#[tokio::test]
async fn a_thousand_connections_leave_no_memory_behind() {
    let gateway = Gateway::start();
    let churn = || async {
        for _ in 0..500 {
            let mut raw = RawClient::started(gateway.addr).await.expect("start-up");
            raw.send(&raw_wire::query("SELECT 1")).await.expect("send");
            raw.read_until(b'Z').await.expect("replies");
        }
    };
    // The first round fills the allocator's caches; the second must not grow.
    churn().await;
    let after_first = process_memory_kib(gateway.pid(), "VmRSS").expect("rss");
    churn().await;
    let after_second = process_memory_kib(gateway.pid(), "VmRSS").expect("rss");
    assert!(
        after_second < after_first + 16 * 1024,
        "RSS grew from {after_first} KiB to {after_second} KiB over 500 more connections"
    );
    still_answers(&gateway).await;
}

#[tokio::test]
async fn out_of_file_descriptors_refuses_with_an_error_not_a_hang() {
    let gateway = Gateway::start();
    still_answers(&gateway).await;
    // Lower the running server's open-file limit to a few above what it holds.
    let open = std::fs::read_dir(format!("/proc/{}/fd", gateway.pid()))
        .map(|d| d.count())
        .unwrap_or(64);
    let limit = open + 8;
    let status = std::process::Command::new("prlimit")
        .arg(format!("--pid={}", gateway.pid()))
        .arg(format!("--nofile={limit}:{limit}"))
        .status()
        .expect("prlimit");
    assert!(status.success());
    let mut held = Vec::new();
    let mut refused = 0;
    for _ in 0..24 {
        let Ok(mut raw) = RawClient::connect(gateway.addr).await else {
            continue;
        };
        raw.send(&raw_wire::startup()).await.expect("send");
        // Every client hears back: admitted, or told why not.
        let first = tokio::time::timeout(std::time::Duration::from_secs(10), raw.read())
            .await
            .expect("an answer, not a hang");
        match first {
            Ok(Some(reply)) if reply.kind == b'E' => {
                assert_eq!(reply.sqlstate().as_deref(), Some("53300"));
                refused += 1;
            }
            Ok(Some(_)) => held.push(raw),
            other => panic!("closed without a word: {other:?}"),
        }
    }
    eprintln!(
        "open-file limit {limit}: {} admitted, {refused} refused with 53300",
        held.len()
    );
    assert!(refused > 0, "{} admitted, none refused", held.len());
    drop(held);
    // Once clients leave, the server admits again.
    let mut admitted = false;
    for _ in 0..50 {
        if let Ok(mut raw) = RawClient::connect(gateway.addr).await
            && raw.send(&raw_wire::startup()).await.is_ok()
            && matches!(raw.read_until(b'Z').await.as_deref(), Ok([.., last]) if last.kind == b'Z')
        {
            admitted = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        admitted,
        "the server did not admit clients again\n{}",
        gateway.log()
    );
}

#[tokio::test]
async fn idle_connections_cost_little() {
    let gateway = Gateway::start();
    still_answers(&gateway).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let before = process_memory_kib(gateway.pid(), "VmRSS").expect("rss");
    let mut idle = Vec::new();
    for _ in 0..80 {
        idle.push(RawClient::started(gateway.addr).await.expect("start-up"));
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let after = process_memory_kib(gateway.pid(), "VmRSS").expect("rss");
    let each = after.saturating_sub(before) / 80;
    // ~44 KiB measured; each used to cost ~550 KiB (a SQL parser per session).
    assert!(each < 200, "{each} KiB per idle connection");
    still_answers(&gateway).await;
}
