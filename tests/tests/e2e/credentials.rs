//! The credentials store through the real binary: `tributary secrets …`,
//! sources whose passwords are `{ secret = … }` against a real PostgreSQL
//! with SCRAM authentication, secrets changed while the gateway runs, an
//! interrupted key rotation, concurrent writers, and no secret anywhere in
//! what the gateway prints.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use tributary_tests::{DATABASE_PASSWORD, Gateway, PostgresServer, tributary_binary};

use crate::federation::database_source;

/// Runs `tributary [--config CONFIG] --data-dir DIR ARGS` with the master key `key`.
fn secrets(dir: &Path, key: &str, config: Option<&Path>, args: &[&str], stdin: &str) -> Output {
    use std::io::Write;
    let mut command = Command::new(tributary_binary());
    command
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .env_remove("TRIBUTARY_CONFIG")
        .env_remove("TRIBUTARY_MASTER_KEY_FILE")
        .env_remove("TRIBUTARY_NEW_MASTER_KEY")
        .env("TRIBUTARY_MASTER_KEY", key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(config) = config {
        command.arg("--config").arg(config);
    }
    let mut child = command.spawn().expect("tributary runs");
    if let Some(mut pipe) = child.stdin.take() {
        pipe.write_all(stdin.as_bytes()).expect("write stdin");
    }
    child.wait_with_output().expect("tributary finishes")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn new_key() -> String {
    let output = Command::new(tributary_binary())
        .args(["secrets", "new-key"])
        .output()
        .expect("tributary runs");
    assert!(output.status.success(), "{}", stderr(&output));
    let key = stdout(&output).trim().to_owned();
    assert_eq!(key.len(), 64, "{key}");
    key
}

fn set(dir: &Path, key: &str, name: &str, value: &str) {
    let output = secrets(
        dir,
        key,
        None,
        &["secrets", "set", name],
        &format!("{value}\n"),
    );
    assert!(output.status.success(), "{}", stderr(&output));
}

/// SQLSTATE and message of a failed query.
async fn failure(client: &tokio_postgres::Client, sql: &str) -> (String, String) {
    match client.simple_query(sql).await {
        Ok(_) => panic!("{sql} succeeded"),
        Err(error) => {
            let state = error
                .code()
                .map(|c| c.code().to_owned())
                .unwrap_or_default();
            let message = error
                .as_db_error()
                .map(|e| e.message().to_owned())
                .unwrap_or_else(|| error.to_string());
            (state, message)
        }
    }
}

async fn count(client: &tokio_postgres::Client, sql: &str) -> Result<i64, String> {
    let row = client.query_one(sql, &[]).await.map_err(|e| {
        e.as_db_error()
            .map(|d| format!("{} {}", d.code().code(), d.message()))
            .unwrap_or_else(|| e.to_string())
    })?;
    Ok(row.get(0))
}

#[tokio::test]
async fn stored_passwords_log_in_change_without_restart_and_never_leak() {
    const WRONG: &str = "wr0ng-Passw0rd-51e2";
    const NEXT: &str = "next-Passw0rd-77aa";
    let postgres = PostgresServer::start();
    postgres.sql("CREATE TABLE accounts (id integer PRIMARY KEY); INSERT INTO accounts VALUES (1), (2), (3);");
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let key = new_key();
    set(&data, &key, "pg-login", DATABASE_PASSWORD);
    set(&data, &key, "wrong-login", WRONG);
    let config = [
        database_source("pg", "postgres", postgres.port, "")
            .replace("{ env = \"FED_PASSWORD\" }", "{ secret = \"pg-login\" }"),
        database_source("bad", "postgres", postgres.port, "")
            .replace("{ env = \"FED_PASSWORD\" }", "{ secret = \"wrong-login\" }"),
        database_source("gone", "postgres", postgres.port, "").replace(
            "{ env = \"FED_PASSWORD\" }",
            "{ secret = \"no-such-secret\" }",
        ),
    ]
    .join("\n");
    let config_path = dir.path().join("tributary.toml");
    std::fs::write(&config_path, &config).expect("write config");
    let gateway = Gateway::start_in(
        Some(&data),
        Some(&config),
        &[("TRIBUTARY_MASTER_KEY", &key), ("TRIBUTARY_LOG", "trace")],
    );
    let client = gateway.client().await;

    assert_eq!(
        count(&client, "SELECT count(*) FROM pg.accounts").await,
        Ok(3)
    );
    let (state, message) = failure(&client, "SELECT * FROM bad.accounts").await;
    assert!(
        state == "28P01" || state.starts_with("08"),
        "{state} {message}"
    );
    assert!(message.contains("\"bad\""), "{message}");
    let (state, message) = failure(&client, "SELECT * FROM gone.accounts").await;
    assert!(state.starts_with("08"), "{state} {message}");
    assert!(
        message.contains("{ secret = \"no-such-secret\" }"),
        "{message}"
    );
    let explain = client
        .simple_query("EXPLAIN SELECT * FROM pg.accounts WHERE id > 1")
        .await
        .map(|rows| format!("{rows:?}"))
        .unwrap_or_else(|e| e.to_string());

    // A changed secret is used by the next query, without a restart: a
    // wrong one fails, the right one works again.
    set(&data, &key, "pg-login", WRONG);
    let (state, message) = failure(&client, "SELECT * FROM pg.accounts").await;
    assert!(
        state == "28P01" || state.starts_with("08"),
        "{state} {message}"
    );
    postgres.sql(&format!("ALTER ROLE tributary PASSWORD '{NEXT}';"));
    set(&data, &key, "pg-login", NEXT);
    assert_eq!(
        count(&client, "SELECT count(*) FROM pg.accounts").await,
        Ok(3)
    );
    // A secret set after start brings its source up.
    set(&data, &key, "no-such-secret", NEXT);
    assert_eq!(
        count(&client, "SELECT count(*) FROM gone.accounts").await,
        Ok(3)
    );

    let list = secrets(&data, &key, Some(&config_path), &["secrets", "list"], "");
    assert!(list.status.success(), "{}", stderr(&list));
    let listed = stdout(&list);
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with(" pg-login ") && l.trim_end().ends_with("| pg")),
        "{listed}"
    );
    let refused = secrets(
        &data,
        &key,
        Some(&config_path),
        &["secrets", "rm", "pg-login"],
        "",
    );
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("used by source(s) pg"),
        "{}",
        stderr(&refused)
    );
    let check = secrets(&data, &key, Some(&config_path), &["config", "check"], "");

    // Where the gateway shows anything, no secret value appears.
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", gateway.pid())).unwrap_or_default();
    let shown = [
        gateway.log(),
        explain,
        listed,
        stderr(&list),
        stdout(&check),
        stderr(&check),
        stderr(&refused),
        String::from_utf8_lossy(&cmdline).into_owned(),
    ];
    for text in &shown {
        for secret in [DATABASE_PASSWORD, WRONG, NEXT, key.as_str()] {
            assert!(!text.contains(secret), "a secret leaked into:\n{text}");
        }
    }
    assert!(gateway.log().contains("TRACE") || gateway.log().contains("DEBUG"));
}

#[tokio::test]
async fn a_wrong_master_key_fails_the_source_not_the_gateway() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let key = new_key();
    set(&data, &key, "db", "some-Value-9c1");
    let before = std::fs::read(data.join("credentials.json")).expect("store written");
    let config = database_source("pg", "postgres", 1, "")
        .replace("{ env = \"FED_PASSWORD\" }", "{ secret = \"db\" }");
    let other = new_key();
    let gateway = Gateway::start_in(
        Some(&data),
        Some(&config),
        &[("TRIBUTARY_MASTER_KEY", &other)],
    );
    let client = gateway.client().await;
    let (state, message) = failure(&client, "SELECT * FROM pg.t").await;
    assert!(state.starts_with("08"), "{state} {message}");
    assert!(message.contains("master key does not open"), "{message}");
    let wrong = secrets(&data, &other, None, &["secrets", "set", "x"], "y\n");
    assert_eq!(wrong.status.code(), Some(2));
    assert!(
        stderr(&wrong).contains("master key does not open"),
        "{}",
        stderr(&wrong)
    );
    assert_eq!(
        std::fs::read(data.join("credentials.json")).ok(),
        Some(before)
    );
    let bad = secrets(&data, "not-a-key-zz9", None, &["secrets", "list"], "");
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("TRIBUTARY_MASTER_KEY"),
        "{}",
        stderr(&bad)
    );
    assert!(!stderr(&bad).contains("not-a-key-zz9"), "{}", stderr(&bad));
}

#[tokio::test]
async fn an_interrupted_rotation_leaves_the_store_readable_with_one_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let mut key = new_key();
    for n in 0..20 {
        set(&data, &key, &format!("s{n}"), &format!("value-{n}"));
    }
    for attempt in 0..12u64 {
        let next = new_key();
        let mut rotation = Command::new(tributary_binary())
            .arg("--data-dir")
            .arg(&data)
            .args(["secrets", "rotate-key"])
            .env_remove("TRIBUTARY_CONFIG")
            .env("TRIBUTARY_MASTER_KEY", &key)
            .env("TRIBUTARY_NEW_MASTER_KEY", &next)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tributary runs");
        // Killed at a different moment each time, from before it reads the
        // store to after it renamed the new one into place.
        std::thread::sleep(Duration::from_millis(attempt * 3));
        let _ = rotation.kill();
        let _ = rotation.wait();
        let with_old = secrets(&data, &key, None, &["secrets", "list"], "");
        let with_new = secrets(&data, &next, None, &["secrets", "list"], "");
        assert!(
            with_old.status.success() != with_new.status.success(),
            "attempt {attempt}: exactly one key must open the store: old {} / new {}",
            stderr(&with_old),
            stderr(&with_new)
        );
        if with_new.status.success() {
            key = next;
        }
        let listed = stdout(if with_old.status.success() {
            &with_old
        } else {
            &with_new
        });
        let rows = listed.lines().filter(|l| l.starts_with(" s")).count();
        assert_eq!(rows, 20, "{listed}");
    }
    let check = secrets(&data, &key, None, &["secrets", "list"], "");
    assert!(stdout(&check).contains("(20 rows)"), "{}", stdout(&check));
}

#[tokio::test]
async fn concurrent_writers_lose_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let key = new_key();
    let writers: Vec<_> = (0..8)
        .map(|n| {
            let data = data.clone();
            let key = key.clone();
            std::thread::spawn(move || {
                set(&data, &key, &format!("writer-{n}"), &format!("value-{n}"));
            })
        })
        .collect();
    for writer in writers {
        writer.join().expect("writer thread");
    }
    let list = secrets(&data, &key, None, &["secrets", "list"], "");
    let listed = stdout(&list);
    assert!(listed.contains("(8 rows)"), "{listed}{}", stderr(&list));
    for n in 0..8 {
        assert!(listed.contains(&format!(" writer-{n} ")), "{listed}");
    }
}
