//! Errors reach the client with the right SQLSTATE and a useful message,
//! and never take the server or other sessions down.

use tributary_tests::Gateway;

async fn sqlstate_of(client: &tokio_postgres::Client, sql: &str) -> (String, String) {
    let error = client.simple_query(sql).await.expect_err(sql);
    let db = error
        .as_db_error()
        .unwrap_or_else(|| panic!("not a database error: {error}"));
    (db.code().code().to_owned(), db.message().to_owned())
}

#[tokio::test]
async fn errors_carry_postgresql_sqlstates() {
    let gateway = Gateway::start();
    let client = gateway.client().await;

    let (code, message) = sqlstate_of(&client, "SELECT * FROM sample.nope").await;
    assert_eq!(code, "42P01", "{message}");
    assert!(
        message.contains("\"nope\"") && message.contains("sample"),
        "{message}"
    );

    let (code, message) = sqlstate_of(&client, "SELECT * FROM nowhere").await;
    assert_eq!(code, "42P01", "{message}");
    assert!(
        message.contains("tributary.public"),
        "names the schema searched: {message}"
    );

    let (code, _) = sqlstate_of(&client, "SELEC 1").await;
    assert_eq!(code, "42601");

    let (code, message) = sqlstate_of(&client, "SELECT no_such_column FROM sample.customers").await;
    assert_eq!(code, "42703", "{message}");

    let (code, _) = sqlstate_of(&client, "SELECT 1 / 0").await;
    assert_eq!(code, "22012");

    let (code, message) = sqlstate_of(&client, "SELECT CAST('abc' AS INT)").await;
    assert!(code.starts_with("22"), "{code}: {message}");

    let (code, _) = sqlstate_of(&client, "SELECT no_such_function(1)").await;
    assert_eq!(code, "42883");

    // The session survives all of it.
    let rows = client
        .query("SELECT count(*) FROM sample.customers", &[])
        .await
        .expect("still works");
    assert_eq!(rows[0].get::<_, i64>(0), 1000);
}

#[tokio::test]
async fn extended_protocol_errors_carry_sqlstates_too() {
    let gateway = Gateway::start();
    let client = gateway.client().await;
    let error = client
        .prepare("SELECT * FROM sample.nope WHERE x = $1")
        .await
        .expect_err("prepare");
    assert_eq!(error.code().map(|c| c.code()), Some("42P01"), "{error}");
    let error = client
        .query("SELECT 1 / $1::int", &[&0_i32])
        .await
        .expect_err("division");
    assert_eq!(error.code().map(|c| c.code()), Some("22012"), "{error}");
}

#[tokio::test]
async fn unknown_user_is_refused_with_28000() {
    let gateway = Gateway::start();
    let connection = format!(
        "host=127.0.0.1 port={} user=mallory dbname=tributary",
        gateway.addr.port()
    );
    let error = tokio_postgres::connect(&connection, tokio_postgres::NoTls)
        .await
        .err()
        .expect("an unknown user is refused");
    assert_eq!(error.code().map(|c| c.code()), Some("28000"), "{error}");
}

#[tokio::test]
async fn corrupt_parquet_names_the_file_and_other_sessions_keep_working() {
    let files = tempfile::tempdir().expect("temp");
    std::fs::write(
        files.path().join("broken.parquet"),
        b"PAR1 this is not parquet at all PAR1",
    )
    .expect("write");
    std::fs::write(files.path().join("fine.csv"), "id,name\n1,a\n2,b\n").expect("write");
    let config = format!(
        "[[sources]]\nname = \"lake\"\nkind = \"files\"\nurl = \"{}/\"\n",
        files.path().display()
    );
    let gateway = Gateway::start_with(Some(&config), &[]);
    let first = gateway.client().await;
    let second = gateway.client().await;

    let error = first
        .simple_query("SELECT * FROM lake.broken")
        .await
        .expect_err("corrupt file");
    let db = error.as_db_error().expect("database error");
    assert!(
        db.message().contains("broken.parquet"),
        "names the file: {}",
        db.message()
    );
    assert_ne!(db.code().code(), "XX000", "{}", db.message());

    let rows = second
        .query("SELECT count(*) FROM lake.fine", &[])
        .await
        .expect("other table");
    assert_eq!(rows[0].get::<_, i64>(0), 2);
    let rows = first
        .query("SELECT name FROM lake.fine WHERE id = 2", &[])
        .await
        .expect("same session");
    assert_eq!(rows[0].get::<_, String>(0), "b");
}

#[tokio::test]
async fn malformed_startup_does_not_disturb_the_server() {
    use std::io::Write;
    let gateway = Gateway::start();
    // Garbage instead of a startup message.
    let mut socket = std::net::TcpStream::connect(gateway.addr).expect("connect");
    let _ = socket.write_all(b"\x00\x00\x00\x08garbage-garbage-garbage");
    drop(socket);
    let client = gateway.client().await;
    let rows = client
        .query("SELECT 2::bigint", &[])
        .await
        .expect("still serving");
    assert_eq!(rows[0].get::<_, i64>(0), 2);
}
