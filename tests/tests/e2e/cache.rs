//! The result cache against a real PostgreSQL (whose log counts the
//! statements that reach it) and real files: hits over the pg wire and
//! HTTP, time to live, invalidation, the byte bound, oversized results,
//! changed files, volatile functions, identities, and one run for many
//! identical queries at once.

use std::time::Duration;

use serde_json::{Value, json};
use tokio_postgres::{Client, SimpleQueryMessage};
use tributary_tests::{DATABASE_PASSWORD, Gateway, PostgresServer, cli};

use crate::federation::database_source;

const ITEMS: &str = "CREATE TABLE items (id bigint PRIMARY KEY, name text, price numeric(10,2), \
                     added timestamptz, active boolean);\n\
                     INSERT INTO items SELECT g, 'item ' || g, g * 1.25, \
                     '2026-01-01 00:00:00+00'::timestamptz + g * interval '1 hour', g % 2 = 0 \
                     FROM generate_series(1, 200) g;\n\
                     CREATE VIEW slow AS SELECT c.n FROM (SELECT count(*) AS n FROM items) c, pg_sleep(1);";

/// Statements PostgreSQL ran that read `table` (as the gateway quotes it).
fn reads_of(postgres: &PostgresServer, table: &str) -> usize {
    let quoted = format!("\"{table}\"");
    postgres
        .log()
        .lines()
        .filter(|line| {
            (line.contains("statement: ") || line.contains("execute ")) && line.contains(&quoted)
        })
        .count()
}

async fn last_cache(client: &Client) -> String {
    let messages = client
        .simple_query("SHOW tributary.last_cache")
        .await
        .expect("SHOW tributary.last_cache");
    messages
        .iter()
        .find_map(|m| match m {
            SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
            _ => None,
        })
        .unwrap_or_default()
}

/// Rows as text, with each column's type name: what a client sees.
async fn rows(client: &Client, sql: &str) -> Vec<Vec<String>> {
    let statement = client.prepare(sql).await.expect("prepare");
    let types: Vec<String> = statement
        .columns()
        .iter()
        .map(|c| c.type_().name().to_owned())
        .collect();
    let mut all = vec![types];
    for message in client.simple_query(sql).await.expect(sql) {
        if let SimpleQueryMessage::Row(row) = message {
            all.push(
                (0..row.len())
                    .map(|i| row.get(i).unwrap_or("NULL").to_owned())
                    .collect(),
            );
        }
    }
    all
}

/// `POST /v1/query` as JSON: status, `Tributary-Cache`, body.
async fn http_query(
    gateway: &Gateway,
    sql: &str,
    token: Option<&str>,
    cache_control: Option<&str>,
) -> (u16, String, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("http://{}/v1/query", gateway.http_addr))
        .header("content-type", "application/json")
        .body(json!({ "sql": sql }).to_string());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(value) = cache_control {
        request = request.header("cache-control", value);
    }
    let response = request.send().await.expect("POST /v1/query");
    let status = response.status().as_u16();
    let cache = crate::http::header(&response, "tributary-cache");
    let text = response.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    (status, cache, body)
}

async fn stats(gateway: &Gateway) -> Value {
    reqwest::get(format!("http://{}/v1/cache", gateway.http_addr))
        .await
        .expect("GET /v1/cache")
        .text()
        .await
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or(Value::Null)
}

fn postgres_gateway(postgres: &PostgresServer) -> Gateway {
    let config = [
        "[server]\nhttp_anonymous = true\n".to_owned(),
        database_source("pg", "postgres", postgres.port, "cache_ttl = \"1h\""),
        database_source("pg_short", "postgres", postgres.port, "cache_ttl = \"2s\""),
        database_source("pg_fresh", "postgres", postgres.port, ""),
        database_source(
            "pg_stale",
            "postgres",
            postgres.port,
            "cache_ttl = \"1s\"\ncache_stale = \"1h\"",
        ),
    ]
    .join("\n");
    Gateway::start_with(Some(&config), &[("FED_PASSWORD", DATABASE_PASSWORD)])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_queries_are_answered_from_the_cache_over_the_pg_wire_and_http() {
    let postgres = PostgresServer::start();
    postgres.sql(ITEMS);
    postgres.log_statements();
    let gateway = postgres_gateway(&postgres);
    let client = gateway.client().await;
    let sql =
        "SELECT id, name, price, added, active FROM pg.public.items WHERE price > 100 ORDER BY id";

    let first = rows(&client, sql).await;
    assert_eq!(last_cache(&client).await, "miss");
    assert_eq!(first.len(), 1 + 120, "{:?}", &first[..2]);
    let reads = reads_of(&postgres, "items");
    assert!(reads >= 1, "the first run reads PostgreSQL");
    // Another spelling of the same plan: formatting and case do not matter.
    let again = rows(
        &client,
        "select ID, NAME, PRICE, ADDED, ACTIVE\n  from pg.public.items where price > 100 order by id",
    )
    .await;
    assert_eq!(last_cache(&client).await, "hit");
    assert_eq!(again, first, "a hit answers the same rows and types");
    assert_eq!(reads_of(&postgres, "items"), reads, "a hit reads nothing");

    // The extended protocol with a bound parameter: the value is in the key.
    let count = |n: i64| {
        let client = &client;
        async move {
            let row = client
                .query_one("SELECT count(*) FROM pg.public.items WHERE id <= $1", &[&n])
                .await
                .expect("bound count");
            row.get::<_, i64>(0)
        }
    };
    assert_eq!(count(50).await, 50);
    assert_eq!(last_cache(&client).await, "miss");
    assert_eq!(count(50).await, 50);
    assert_eq!(last_cache(&client).await, "hit");
    assert_eq!(count(60).await, 60);
    assert_eq!(last_cache(&client).await, "miss");

    // HTTP: another identity, so its own entry; then hits with equal rows.
    let (status, cache, missed) = http_query(&gateway, sql, None, None).await;
    assert_eq!((status, cache.as_str()), (200, "miss"), "{missed}");
    let reads = reads_of(&postgres, "items");
    let (status, cache, hit) = http_query(&gateway, sql, None, None).await;
    assert_eq!((status, cache.as_str()), (200, "hit"));
    assert_eq!(hit, missed, "the same columns, types and rows");
    assert_eq!(hit["rows"].as_array().map(Vec::len), Some(120));
    assert_eq!(reads_of(&postgres, "items"), reads);

    // With PostgreSQL down, kept results still answer; others fail.
    postgres.stop();
    let (status, cache, body) = http_query(&gateway, sql, None, None).await;
    assert_eq!((status, cache.as_str()), (200, "hit"), "{body}");
    assert_eq!(rows(&client, sql).await, first);
    let down = client
        .simple_query("SELECT count(*) FROM pg_fresh.public.items")
        .await
        .expect_err("pg_fresh keeps nothing and its database is down");
    assert!(
        down.code().is_some_and(|c| c.code().starts_with("08")),
        "{down:?}"
    );
    postgres.start_again();

    // Sources without cache_ttl are not kept: every run reads PostgreSQL
    // (once its pool has reconnected).
    let fresh = "SELECT count(*) AS n FROM pg_fresh.public.items";
    for _ in 0..20 {
        if http_query(&gateway, fresh, None, None).await.0 == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    for _ in 0..2 {
        let (status, cache, body) = http_query(&gateway, fresh, None, None).await;
        assert_eq!((status, cache.as_str()), (200, "bypass"), "{body}");
    }
    // A saved query's `--cache:` line, and a session's cache_ttl, keep
    // results of a source that has none; `off` keeps none.
    let saved = format!("--cache: 1h\n{fresh}");
    let (_, cache, _) = http_query(&gateway, &saved, None, None).await;
    assert_eq!(cache, "miss");
    let (_, cache, body) = http_query(&gateway, &saved, None, None).await;
    assert_eq!(
        (cache.as_str(), &body["rows"][0]["n"]),
        ("hit", &json!(200))
    );
    let unkept = format!("--cache: off\n{sql}");
    let (_, cache, _) = http_query(&gateway, &unkept, None, None).await;
    assert_eq!(cache, "bypass");
    let (status, _, body) = http_query(&gateway, "--cache: soon\nSELECT 1", None, None).await;
    assert_eq!(
        (status, &body["sqlstate"]),
        (400, &json!("22023")),
        "{body}"
    );
    client
        .simple_query("SET tributary.cache_ttl = '1h'")
        .await
        .expect("SET tributary.cache_ttl");
    rows(&client, fresh).await;
    assert_eq!(last_cache(&client).await, "miss");
    rows(&client, fresh).await;
    assert_eq!(last_cache(&client).await, "hit");

    let counters = stats(&gateway).await;
    assert!(counters["hits"].as_u64() >= Some(4), "{counters}");
    assert!(counters["entries"].as_u64() >= Some(4), "{counters}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_invalidation_and_bypass_send_the_next_query_to_the_source() {
    let postgres = PostgresServer::start();
    postgres.sql(ITEMS);
    postgres.log_statements();
    let gateway = postgres_gateway(&postgres);
    let client = gateway.client().await;

    // cache_ttl = "2s": a hit inside it, a miss after it.
    let short = "SELECT max(price) FROM pg_short.public.items";
    rows(&client, short).await;
    rows(&client, short).await;
    assert_eq!(last_cache(&client).await, "hit");
    let reads = reads_of(&postgres, "items");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    rows(&client, short).await;
    assert_eq!(last_cache(&client).await, "miss");
    assert_eq!(reads_of(&postgres, "items"), reads + 1);

    // `tributary cache clear pg`, then the HTTP endpoint: each time the
    // next query goes to PostgreSQL and sees its new data.
    let sql = "SELECT count(*) FROM pg.public.items";
    assert_eq!(rows(&client, sql).await[1], ["200"]);
    assert_eq!(rows(&client, sql).await[1], ["200"]);
    assert_eq!(last_cache(&client).await, "hit");
    postgres.sql("INSERT INTO items VALUES (201, 'late', 1, now(), true);");
    assert_eq!(
        rows(&client, sql).await[1],
        ["200"],
        "kept until invalidated"
    );
    let url = format!("http://{}", gateway.http_addr);
    let cleared = cli(&["cache", "clear", "pg", "--url", &url], None);
    assert!(cleared.status.success(), "{cleared:?}");
    assert_eq!(rows(&client, sql).await[1], ["201"]);
    assert_eq!(last_cache(&client).await, "miss");
    assert_eq!(last_cache(&client).await, "miss", "SHOW does not change it");
    postgres.sql("DELETE FROM items WHERE id = 201;");
    let response = reqwest::Client::new()
        .delete(format!("{url}/v1/cache/pg"))
        .send()
        .await
        .expect("DELETE /v1/cache/pg");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(rows(&client, sql).await[1], ["200"]);
    let unknown = reqwest::Client::new()
        .delete(format!("{url}/v1/cache/nosuch"))
        .send()
        .await
        .expect("DELETE /v1/cache/nosuch");
    assert_eq!(unknown.status().as_u16(), 404);
    let refused = cli(&["cache", "clear", "nosuch", "--url", &url], None);
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");

    // The session turns it off; HTTP's Cache-Control skips the lookup.
    client
        .simple_query("SET tributary.cache = off")
        .await
        .expect("SET");
    let reads = reads_of(&postgres, "items");
    rows(&client, sql).await;
    assert_eq!(last_cache(&client).await, "bypass");
    assert!(reads_of(&postgres, "items") > reads, "bypassed");
    client
        .simple_query("RESET tributary.cache")
        .await
        .expect("RESET");
    rows(&client, sql).await;
    assert_eq!(last_cache(&client).await, "hit");
    let bad = client
        .simple_query("SET tributary.cache = sometimes")
        .await
        .expect_err("not on or off");
    assert_eq!(bad.code().map(|c| c.code()), Some("22023"));
    let fixed = client
        .simple_query("SET tributary.last_cache = 'hit'")
        .await
        .expect_err("read-only");
    assert_eq!(fixed.code().map(|c| c.code()), Some("55P02"));

    http_query(&gateway, sql, None, None).await;
    let (_, cache, _) = http_query(&gateway, sql, None, None).await;
    assert_eq!(cache, "hit");
    let reads = reads_of(&postgres, "items");
    let (_, cache, _) = http_query(&gateway, sql, None, Some("no-cache")).await;
    assert_eq!(cache, "bypass");
    assert_eq!(reads_of(&postgres, "items"), reads + 1);
    let (_, cache, _) = http_query(&gateway, sql, None, Some("no-store")).await;
    assert_eq!(cache, "bypass");
    assert_eq!(reads_of(&postgres, "items"), reads + 2);

    // Stale-while-revalidate: past its 1 s, the old answer is served at
    // once while a fresh one is fetched; the fresh one follows.
    let stale = "SELECT count(*) AS n FROM pg_stale.public.items";
    let (_, cache, body) = http_query(&gateway, stale, None, None).await;
    assert_eq!(
        (cache.as_str(), &body["rows"][0]["n"]),
        ("miss", &json!(200))
    );
    postgres.sql("INSERT INTO items VALUES (300, 'new', 1, now(), true);");
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let (_, cache, body) = http_query(&gateway, stale, None, None).await;
    assert_eq!(
        (cache.as_str(), &body["rows"][0]["n"]),
        ("hit", &json!(200))
    );
    let mut refreshed = false;
    for _ in 0..50 {
        let (_, cache, body) = http_query(&gateway, stale, None, None).await;
        assert_eq!(cache, "hit");
        if body["rows"][0]["n"] == json!(201) {
            refreshed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        refreshed,
        "the background refresh replaced the stale result"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_queries_at_once_reach_the_source_once() {
    let postgres = PostgresServer::start();
    postgres.sql(ITEMS);
    postgres.log_statements();
    let gateway = postgres_gateway(&postgres);
    let mut clients = Vec::new();
    for _ in 0..4 {
        clients.push(gateway.client().await);
    }
    let sql = "SELECT n FROM pg.public.slow";
    let answers = futures::future::join_all(clients.iter().map(|client| async move {
        let rows = client.simple_query(sql).await.expect("slow view");
        let n = rows.iter().find_map(|m| match m {
            SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
            _ => None,
        });
        (n, last_cache(client).await)
    }))
    .await;
    for (n, _) in &answers {
        assert_eq!(n.as_deref(), Some("200"), "{answers:?}");
    }
    let misses = answers.iter().filter(|(_, c)| c == "miss").count();
    assert_eq!(misses, 1, "one runs, the others wait for it: {answers:?}");
    assert_eq!(reads_of(&postgres, "slow"), 1, "{}", postgres.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tokens_never_share_an_entry() {
    let data = tempfile::tempdir().expect("data dir");
    let mut tokens = Vec::new();
    for name in ["alice", "bob"] {
        let data_dir = data.path().display().to_string();
        let created = cli(&["--data-dir", &data_dir, "tokens", "create", name], None);
        assert!(created.status.success(), "{created:?}");
        tokens.push(String::from_utf8_lossy(&created.stdout).trim().to_owned());
    }
    let lake = tempfile::tempdir().expect("lake");
    std::fs::write(lake.path().join("t.csv"), "id,name\n1,a\n2,b\n").expect("csv");
    let config = format!(
        "[[sources]]\nname = \"files\"\nkind = \"files\"\nurl = \"{}/\"\n",
        lake.path().display()
    );
    let gateway = Gateway::start_in(Some(data.path()), Some(&config), &[]);
    let sql = "SELECT count(*) AS n FROM files.t";
    for token in &tokens {
        let (status, cache, body) = http_query(&gateway, sql, Some(token), None).await;
        assert_eq!((status, cache.as_str()), (200, "miss"), "{body}");
        let (_, cache, body) = http_query(&gateway, sql, Some(token), None).await;
        assert_eq!(cache, "hit");
        assert_eq!(body["rows"][0]["n"], 2);
    }
    // The CLI needs a token too.
    let url = format!("http://{}", gateway.http_addr);
    let refused = cli(&["cache", "stats", "--url", &url], None);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("401"),
        "{refused:?}"
    );
    let listed = cli(
        &["cache", "stats", "--url", &url, "--token", &tokens[0]],
        None,
    );
    let listing = String::from_utf8_lossy(&listed.stdout).into_owned();
    let hits = listing
        .lines()
        .find_map(|line| line.strip_prefix("hits"))
        .map(str::trim);
    assert_eq!(hits, Some("2"), "{listing}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_are_kept_until_they_change_within_the_byte_bounds() {
    let lake = tempfile::tempdir().expect("lake");
    let csv = |rows: std::ops::Range<u32>| {
        let mut text = String::from("id,name\n");
        for id in rows {
            text.push_str(&format!("{id},name number {id}\n"));
        }
        text
    };
    std::fs::write(lake.path().join("t.csv"), csv(0..20_000)).expect("csv");
    let config = format!(
        "[server]\nhttp_anonymous = true\n\n[cache]\nmax_bytes = \"256KiB\"\nmax_result_bytes = \"160KiB\"\n\n\
         [[sources]]\nname = \"files\"\nkind = \"files\"\nurl = \"{}/\"\n",
        lake.path().display()
    );
    let gateway = Gateway::start_with(Some(&config), &[]);
    let slice = |from: u32| {
        format!(
            "SELECT id, name FROM files.t WHERE id >= {from} AND id < {} ORDER BY id",
            from + 1000
        )
    };

    // A changed file is never served from the cache.
    let count = "SELECT count(*) AS n FROM files.t";
    let (_, cache, body) = http_query(&gateway, count, None, None).await;
    assert_eq!(
        (cache.as_str(), &body["rows"][0]["n"]),
        ("miss", &json!(20_000))
    );
    let (_, cache, _) = http_query(&gateway, count, None, None).await;
    assert_eq!(cache, "hit");
    std::fs::write(lake.path().join("t.csv"), csv(0..20_001)).expect("csv");
    let (_, cache, body) = http_query(&gateway, count, None, None).await;
    assert_eq!(
        (cache.as_str(), &body["rows"][0]["n"]),
        ("miss", &json!(20_001))
    );

    // Volatile functions are never kept.
    for sql in [
        "SELECT count(*) AS n, random() AS r FROM files.t",
        "SELECT count(*) AS n, now() AS t FROM files.t",
    ] {
        let (status, cache, body) = http_query(&gateway, sql, None, None).await;
        assert_eq!((status, cache.as_str()), (200, "bypass"), "{body}");
    }

    // An oversized result is streamed whole and not kept.
    let everything = "SELECT id, name FROM files.t";
    for _ in 0..2 {
        let (status, cache, body) = http_query(&gateway, everything, None, None).await;
        assert_eq!((status, cache.as_str()), (200, "miss"));
        assert_eq!(body["rows"].as_array().map(Vec::len), Some(20_001));
    }
    assert_eq!(stats(&gateway).await["oversized"], 2);

    // Distinct results until the bound evicts; the oldest goes first, and
    // the bytes held never exceed the bound.
    let cleared = reqwest::Client::new()
        .delete(format!("http://{}/v1/cache", gateway.http_addr))
        .send()
        .await
        .expect("DELETE /v1/cache");
    assert_eq!(cleared.status().as_u16(), 200);
    assert_eq!(stats(&gateway).await["entries"], 0);
    let mut kept = 0;
    while stats(&gateway).await["evictions"] == 0 {
        let (_, cache, body) = http_query(&gateway, &slice(kept * 1000), None, None).await;
        assert_eq!(cache, "miss", "{body}");
        kept += 1;
        assert!(kept < 20, "nothing was evicted: {}", stats(&gateway).await);
        let counters = stats(&gateway).await;
        assert!(counters["bytes"].as_u64() <= Some(256 * 1024), "{counters}");
    }
    assert!(kept >= 2, "a few results fit: {kept}");
    let (_, cache, _) = http_query(&gateway, &slice((kept - 1) * 1000), None, None).await;
    assert_eq!(cache, "hit", "the newest is kept");
    let (_, cache, body) = http_query(&gateway, &slice(0), None, None).await;
    assert_eq!(cache, "miss", "the oldest was evicted");
    assert_eq!(body["rows"][0]["id"], 0);
}
