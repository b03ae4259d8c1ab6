//! Sources that die, come back, start dead, and change.

use super::{Federation, POSTGRES_DATA, database_source, error_of, must, texts};
use tributary_tests::{DATABASE_PASSWORD, Gateway, PostgresServer};

fn assert_unavailable(error: &str, source: &str) {
    assert!(error.starts_with("08"), "not class 08: {error}");
    assert!(
        error.contains(&format!("\"{source}\"")),
        "source not named: {error}"
    );
    assert!(!error.contains(DATABASE_PASSWORD), "{error}");
}

#[tokio::test]
async fn a_dead_source_fails_only_its_queries_and_comes_back() {
    let mut fed = Federation::start().await;
    let client = fed.gateway.client().await;
    assert_eq!(
        texts(&must(&client, "SELECT count(*) FROM pg.items").await),
        [["60"]]
    );
    assert_eq!(
        texts(&must(&client, "SELECT count(*) FROM my.items").await),
        [["60"]]
    );

    fed.postgres.stop();
    let error = error_of(&client, "SELECT count(*) FROM pg.items").await;
    assert_unavailable(&error, "pg");
    // A join touching it fails too; everything else keeps working, in this
    // session and in others.
    let error = error_of(
        &client,
        "SELECT count(*) FROM pg.orders o JOIN my.items i ON i.id = o.item_id",
    )
    .await;
    assert_unavailable(&error, "pg");
    assert_eq!(
        texts(&must(&client, "SELECT count(*) FROM my.items").await),
        [["60"]]
    );
    let other = fed.gateway.client().await;
    assert_eq!(
        texts(&must(&other, "SELECT count(*) FROM lake.regions").await),
        [["4"]]
    );

    fed.postgres.start_again();
    assert_eq!(
        texts(&must(&client, "SELECT count(*) FROM pg.items").await),
        [["60"]]
    );

    fed.mariadb.stop();
    let error = error_of(&client, "SELECT sum(qty) FROM my.items").await;
    assert_unavailable(&error, "my");
    assert_eq!(
        texts(&must(&client, "SELECT count(*) FROM pg.items").await),
        [["60"]]
    );
    fed.mariadb.start_again();
    assert_eq!(
        texts(&must(&client, "SELECT count(*) FROM my.items").await),
        [["60"]]
    );
}

#[tokio::test]
async fn a_source_down_at_start_does_not_stop_the_gateway() {
    let postgres = PostgresServer::start();
    postgres.sql(POSTGRES_DATA);
    postgres.stop();
    let config = database_source("pg", "postgres", postgres.port, "");
    let gateway = Gateway::start_with(Some(&config), &[("FED_PASSWORD", DATABASE_PASSWORD)]);
    let client = gateway.client().await;
    let error = error_of(&client, "SELECT count(*) FROM pg.items").await;
    assert_unavailable(&error, "pg");
    assert_eq!(texts(&must(&client, "SELECT 1").await), [["1"]]);

    postgres.start_again();
    assert_eq!(
        texts(&must(&client, "SELECT count(*) FROM pg.items").await),
        [["60"]]
    );
    let listed = must(
        &client,
        "SELECT table_name FROM information_schema.tables \
         WHERE table_catalog = 'pg' AND table_schema = 'public' ORDER BY 1",
    )
    .await;
    assert_eq!(texts(&listed), [["MixedCase"], ["items"], ["orders"]]);
}

#[tokio::test]
async fn a_wrong_password_is_class_08_and_never_shown() {
    let postgres = PostgresServer::start();
    let config = database_source("pg", "postgres", postgres.port, "");
    let gateway = Gateway::start_with(Some(&config), &[("FED_PASSWORD", "not-the-password-123")]);
    let client = gateway.client().await;
    let error = error_of(&client, "SELECT * FROM pg.items").await;
    assert_unavailable(&error, "pg");
    assert!(!error.contains("not-the-password-123"), "{error}");
    assert!(
        !gateway.log().contains("not-the-password-123"),
        "{}",
        gateway.log()
    );
}

#[tokio::test]
async fn new_tables_appear_by_name_on_refresh_and_on_the_interval() {
    let fed = Federation::start_with(|pg_port, _| {
        database_source("pg_fast", "postgres", pg_port, "refresh_interval = \"1s\"")
    })
    .await;
    let client = fed.gateway.client().await;
    let listed = |source: &str, table: &str| {
        format!(
            "SELECT count(*) FROM information_schema.tables \
             WHERE table_catalog = '{source}' AND table_name = '{table}'"
        )
    };
    assert_eq!(texts(&must(&client, &listed("pg", "items")).await), [["1"]]);

    // Named in a query, a new table is found at once.
    fed.postgres
        .sql("CREATE TABLE fresh (x integer); INSERT INTO fresh VALUES (42);");
    assert_eq!(
        texts(&must(&client, "SELECT x FROM pg.fresh").await),
        [["42"]]
    );

    // Listed (for \dt and BI tools) after tributary_refresh, which returns
    // the number of tables the source exposes now.
    fed.postgres.sql("CREATE TABLE fresher (y integer);");
    assert_eq!(
        texts(&must(&client, &listed("pg", "fresher")).await),
        [["0"]]
    );
    assert_eq!(
        texts(&must(&client, "SELECT tributary_refresh('pg')").await),
        [["5"]]
    );
    assert_eq!(
        texts(&must(&client, &listed("pg", "fresher")).await),
        [["1"]]
    );

    // A changed table is seen after a refresh too.
    fed.postgres
        .sql("ALTER TABLE fresh ADD COLUMN z text DEFAULT 'new';");
    must(&client, "SELECT tributary_refresh('pg')").await;
    assert_eq!(
        texts(&must(&client, "SELECT x, z FROM pg.fresh").await),
        [["42", "new"]]
    );

    // The source with a one-second interval finds tables by itself.
    fed.postgres.sql("CREATE TABLE freshest (w integer);");
    let mut seen = false;
    for _ in 0..100 {
        if texts(&must(&client, &listed("pg_fast", "freshest")).await) == [["1"]] {
            seen = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(seen, "pg_fast never listed the new table");

    let error = error_of(&client, "SELECT tributary_refresh('lake')").await;
    assert!(error.contains("files source"), "{error}");
    let error = error_of(&client, "SELECT tributary_refresh('nope')").await;
    assert!(error.contains("no source named"), "{error}");
}
