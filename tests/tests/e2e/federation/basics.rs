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
    let _ = super::rows(&client, "SELECT * FROM pg.no_such_table").await;
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
