//! Names, pushdown visible in EXPLAIN, the three-way join, secrets.

use super::{Federation, must, texts};
use tributary_tests::DATABASE_PASSWORD;

#[tokio::test]
async fn tables_answer_under_every_name() {
    let fed = Federation::start().await;
    let client = fed.gateway.client().await;
    for sql in [
        "SELECT count(*) FROM pg.items",
        "SELECT count(*) FROM pg.public.items",
        "SELECT count(*) FROM tributary.pg.items",
        "SELECT count(*) FROM my.items",
        "SELECT count(*) FROM my.fed.items",
    ] {
        assert_eq!(texts(&must(&client, sql).await), [["60"]], "{sql}");
    }
    let mixed = must(
        &client,
        "SELECT \"Id\", \"Value\", lower_col FROM pg.\"MixedCase\" ORDER BY \"Id\"",
    )
    .await;
    assert_eq!(
        texts(&mixed),
        [
            ["1", "one", "10"],
            ["2", "two", "NULL"],
            ["3", "NULL", "30"]
        ]
    );
    let mixed = must(
        &client,
        "SELECT \"Id\", \"Value\" FROM my.\"MixedCase\" WHERE \"Value\" = 'two'",
    )
    .await;
    assert_eq!(texts(&mixed), [["2", "two"]]);
}

#[tokio::test]
async fn explain_shows_the_sql_each_source_receives() {
    let fed = Federation::start().await;
    let client = fed.gateway.client().await;
    for source in ["pg", "my"] {
        let plan = must(
            &client,
            &format!(
                "EXPLAIN SELECT qty, count(*) AS n FROM {source}.items \
                 WHERE id > 2 GROUP BY qty ORDER BY n DESC LIMIT 3"
            ),
        )
        .await;
        let plan = texts(&plan)
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("\n");
        let pushed = plan
            .lines()
            .find(|l| l.contains("VirtualExecutionPlan"))
            .unwrap_or_else(|| panic!("no pushed statement for {source}:\n{plan}"));
        for part in ["WHERE", "GROUP BY", "LIMIT 3", &format!("name={source}")] {
            assert!(
                pushed.contains(part),
                "{part} not pushed to {source}: {pushed}"
            );
        }
        if source == "my" {
            // The exact statement, with the column names matched by position.
            assert!(
                pushed.contains("rewritten_executor_sql=") && pushed.contains("AS `c0`"),
                "{pushed}"
            );
        }
        assert!(!plan.contains(DATABASE_PASSWORD), "{plan}");
        assert!(
            !plan.contains("127.0.0.1"),
            "connection details in EXPLAIN: {plan}"
        );
    }
}

#[tokio::test]
async fn one_query_joins_postgresql_mariadb_and_parquet() {
    let fed = Federation::start().await;
    let client = fed.gateway.client().await;
    let sql = "SELECT r.region, count(*) AS orders, sum(o.amount) AS amount \
               FROM pg.orders o \
               JOIN my.items i ON i.id = o.item_id \
               JOIN lake.regions r ON r.category = i.category \
               GROUP BY r.region ORDER BY r.region";
    let joined = texts(&must(&client, sql).await);
    let local = texts(
        &must(
            &client,
            &sql.replace("pg.", "pg_local.").replace("my.", "my_local."),
        )
        .await,
    );
    assert_eq!(joined, local);
    assert_eq!(
        joined.iter().map(|r| r[0].as_str()).collect::<Vec<_>>(),
        ["East", "North", "South"]
    );
    // Checked against PostgreSQL itself: orders of items in category a/b/c.
    let expected = fed.postgres.sql(
        "SELECT count(*) FROM orders o JOIN items i ON i.id = o.item_id WHERE i.category IN ('a','b','c')",
    );
    let total: i64 = joined
        .iter()
        .map(|r| r[1].parse::<i64>().unwrap_or(0))
        .sum();
    assert_eq!(total.to_string(), expected.trim());
}

#[tokio::test]
async fn the_password_never_leaves_the_gateway() {
    let fed = Federation::start().await;
    let client = fed.gateway.client().await;
    let _ = super::error_of(&client, "SELECT * FROM pg.no_such_table").await;
    let _ = super::rows(&client, "SELECT * FROM my.items WHERE nonsense(1)").await;
    let settings = must(
        &client,
        "SELECT table_catalog, table_schema, table_name FROM information_schema.tables",
    )
    .await;
    let shown = format!("{settings:?}");
    assert!(!shown.contains(DATABASE_PASSWORD));
    assert!(
        !fed.gateway.log().contains(DATABASE_PASSWORD),
        "{}",
        fed.gateway.log()
    );
}

async fn connect_to(fed: &Federation, database: &str) -> Result<tokio_postgres::Client, String> {
    let address = fed.gateway.addr;
    let config = format!(
        "host={} port={} user=tributary dbname={database}",
        address.ip(),
        address.port()
    );
    let (client, connection) = tokio_postgres::connect(&config, tokio_postgres::NoTls)
        .await
        .map_err(|e| match e.as_db_error() {
            Some(db) => format!("{} {}", db.code().code(), db.message()),
            None => e.to_string(),
        })?;
    tokio::spawn(connection);
    Ok(client)
}

#[tokio::test]
async fn dbname_makes_a_source_the_default_catalog() {
    let fed = Federation::start().await;
    let pg = connect_to(&fed, "pg").await.expect("dbname=pg");
    assert_eq!(
        texts(&must(&pg, "SELECT count(*) FROM items").await),
        [["60"]]
    );
    assert_eq!(
        texts(&must(&pg, "SELECT count(*) FROM public.orders").await),
        [["300"]]
    );
    assert_eq!(
        texts(&must(&pg, "SELECT current_database()").await),
        [["pg"]]
    );
    // Other sources stay reachable by their full names, and pg_catalog is there.
    assert_eq!(
        texts(&must(&pg, "SELECT count(*) FROM my.fed.items").await),
        [["60"]]
    );
    must(&pg, "SELECT count(*) FROM pg_catalog.pg_namespace").await;

    let my = connect_to(&fed, "my").await.expect("dbname=my");
    let default = connect_to(&fed, "postgres").await.expect("dbname=postgres");
    assert_eq!(
        must(&my, "SELECT count(*) FROM items WHERE qty > 3").await,
        must(&default, "SELECT count(*) FROM my.items WHERE qty > 3").await
    );
    assert_eq!(
        texts(&must(&default, "SELECT count(*) FROM pg.items").await),
        [["60"]]
    );

    let refused = connect_to(&fed, "nope").await.err().unwrap_or_default();
    assert!(refused.starts_with("3D000"), "{refused}");
    assert!(
        refused.contains("pg"),
        "the message lists the sources: {refused}"
    );
}

#[tokio::test]
async fn a_source_error_keeps_the_sqlstate_the_database_gave() {
    let fed = Federation::start().await;
    let client = fed.gateway.client().await;
    // Pushed whole to PostgreSQL, which raises division_by_zero.
    let error = super::error_of(
        &client,
        "SELECT id / (qty - qty) FROM pg.items WHERE qty IS NOT NULL",
    )
    .await;
    assert!(
        error.starts_with("22012") && error.contains("\"pg\""),
        "{error}"
    );
    // The session goes on.
    assert_eq!(
        texts(&must(&client, "SELECT count(*) FROM pg.items").await),
        [["60"]]
    );
}
