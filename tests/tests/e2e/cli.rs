//! `tributary query`, `config check`, `--help`, `--version`: output formats
//! read back and compared with what the server returns for the same SQL.

use std::fs::File;

use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::Int64Type;
use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use tributary_tests::{Gateway, cli};

const SQL: &str = "SELECT customer_id, count(*) AS orders FROM sample.orders \
                   WHERE customer_id <= 20 GROUP BY customer_id ORDER BY customer_id";

/// (customer_id, orders) as the server sees them.
async fn server_rows(gateway: &Gateway) -> Vec<(i64, i64)> {
    let client = gateway.client().await;
    client
        .query(SQL, &[])
        .await
        .expect("server query")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

fn query(data_dir: &str, format: &str, output: Option<&str>) -> Vec<u8> {
    let mut args = vec!["query", "--data-dir", data_dir, "--format", format];
    if let Some(path) = output {
        args.extend(["-o", path]);
    }
    args.push(SQL);
    let result = cli(&args, None);
    assert!(
        result.status.success(),
        "{format}: {}",
        String::from_utf8_lossy(&result.stderr)
    );
    match output {
        Some(path) => std::fs::read(path).expect("output file"),
        None => result.stdout,
    }
}

fn pairs_from_batches(batches: &[RecordBatch]) -> Vec<(i64, i64)> {
    let mut rows = Vec::new();
    for batch in batches {
        let ids = batch.column(0).as_primitive::<Int64Type>();
        let counts = batch.column(1).as_primitive::<Int64Type>();
        for i in 0..batch.num_rows() {
            rows.push((ids.value(i), counts.value(i)));
        }
    }
    rows
}

#[tokio::test]
async fn every_output_format_reads_back_to_the_servers_rows() {
    let gateway = Gateway::start();
    let expected = server_rows(&gateway).await;
    assert_eq!(expected.len(), 20);
    let data_dir = gateway.data_dir.display().to_string();
    let out = tempfile::tempdir().expect("temp");

    // CSV, parsed.
    let csv = String::from_utf8(query(&data_dir, "csv", None)).expect("utf8");
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("customer_id,orders"));
    let rows: Vec<(i64, i64)> = lines
        .map(|line| {
            let (a, b) = line.split_once(',').expect("two fields");
            (a.parse().expect("int"), b.parse().expect("int"))
        })
        .collect();
    assert_eq!(rows, expected, "csv");

    // JSON: one array of objects.
    let json: serde_json::Value =
        serde_json::from_slice(&query(&data_dir, "json", None)).expect("json");
    let rows: Vec<(i64, i64)> = json
        .as_array()
        .expect("array")
        .iter()
        .map(|o| {
            (
                o["customer_id"].as_i64().expect("id"),
                o["orders"].as_i64().expect("orders"),
            )
        })
        .collect();
    assert_eq!(rows, expected, "json");

    // NDJSON: one object per line.
    let ndjson = String::from_utf8(query(&data_dir, "ndjson", None)).expect("utf8");
    let rows: Vec<(i64, i64)> = ndjson
        .lines()
        .map(|line| {
            let o: serde_json::Value = serde_json::from_str(line).expect("json line");
            (
                o["customer_id"].as_i64().expect("id"),
                o["orders"].as_i64().expect("orders"),
            )
        })
        .collect();
    assert_eq!(rows, expected, "ndjson");

    // Arrow IPC stream, read with arrow.
    let arrow_bytes = query(&data_dir, "arrow", None);
    let reader = StreamReader::try_new(std::io::Cursor::new(arrow_bytes), None).expect("ipc");
    let batches: Vec<RecordBatch> = reader.collect::<Result<_, _>>().expect("batches");
    assert_eq!(pairs_from_batches(&batches), expected, "arrow");

    // Parquet to a file, read with parquet.
    let path = out.path().join("result.parquet");
    let path_text = path.display().to_string();
    query(&data_dir, "parquet", Some(&path_text));
    let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&path).expect("file"))
        .expect("parquet")
        .build()
        .expect("reader");
    let batches: Vec<RecordBatch> = reader.collect::<Result<_, _>>().expect("batches");
    assert_eq!(pairs_from_batches(&batches), expected, "parquet");

    // Table: aligned, with a row count line.
    let table = String::from_utf8(query(&data_dir, "table", None)).expect("utf8");
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines[0], " customer_id | orders ");
    assert_eq!(lines[1], "-------------+--------");
    assert_eq!(
        lines[2],
        format!(" {:>11} | {:>6}", expected[0].0, expected[0].1)
    );
    assert_eq!(lines.last().copied(), Some("(20 rows)"));
}

#[test]
fn sql_from_stdin_and_from_a_file() {
    let data = tempfile::tempdir().expect("temp");
    let data_dir = data.path().display().to_string();
    let result = cli(
        &["query", "--data-dir", &data_dir, "--format", "csv"],
        Some("SELECT count(*) AS n FROM sample.customers"),
    );
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&result.stdout), "n\n1000\n");

    let sql_file = data.path().join("q.sql");
    std::fs::write(&sql_file, "SELECT 1 AS a; SELECT 2 AS b;").expect("write");
    let sql_path = sql_file.display().to_string();
    let result = cli(
        &[
            "query",
            "--data-dir",
            &data_dir,
            "--format",
            "csv",
            "-f",
            &sql_path,
        ],
        None,
    );
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&result.stdout), "a\n1\nb\n2\n");
}

#[test]
fn query_errors_exit_1_with_the_sqlstate() {
    let data = tempfile::tempdir().expect("temp");
    let data_dir = data.path().display().to_string();
    let result = cli(
        &[
            "query",
            "--data-dir",
            &data_dir,
            "SELECT * FROM sample.nothing_here",
        ],
        None,
    );
    assert_eq!(result.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(
        stderr.contains("42P01") && stderr.contains("nothing_here"),
        "{stderr}"
    );

    let result = cli(&["query", "--data-dir", &data_dir, "SELEKT 1"], None);
    assert_eq!(result.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&result.stderr).contains("42601"));
}

#[test]
fn bad_config_exits_2_naming_key_and_line() {
    let dir = tempfile::tempdir().expect("temp");
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[server]\npg_addr = \"127.0.0.1:5433\"\n\n[[sources]]\nname = \"lake\"\nkind = \"files\"\nurl = \"/tmp/\"\nformatt = \"csv\"\n")
        .expect("write");
    let path_text = path.display().to_string();
    for args in [
        vec!["config", "check", "--config", &path_text],
        vec!["--config", &path_text, "query", "SELECT 1"],
    ] {
        let result = cli(&args, None);
        assert_eq!(result.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&result.stderr);
        assert!(stderr.contains("bad.toml:8"), "file and line: {stderr}");
        assert!(stderr.contains("formatt"), "key: {stderr}");
    }

    std::fs::write(
        &path,
        "[[sources]]\nname = \"lake\"\nkind = \"files\"\nurl = \"/tmp/\"\nheader = \"maybe\"\n",
    )
    .expect("write");
    let result = cli(&["config", "check", "--config", &path_text], None);
    assert_eq!(result.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&result.stderr).contains("bad.toml:5"));
}

#[test]
fn config_check_prints_the_effective_config_without_secrets() {
    let dir = tempfile::tempdir().expect("temp");
    let path = dir.path().join("tributary.toml");
    std::fs::write(
        &path,
        "[[sources]]\nname = \"lake\"\nkind = \"files\"\nurl = \"s3://bucket/data/\"\n\
         [sources.options]\nendpoint = \"http://127.0.0.1:9\"\naccess_key_id = { env = \"LAKE_KEY\" }\n\
         secret_access_key = { env = \"LAKE_SECRET\" }\n",
    )
    .expect("write");
    let output = std::process::Command::new(tributary_tests::tributary_binary())
        .args(["config", "check", "--config"])
        .arg(&path)
        .env("TRIBUTARY_PG_ADDR", "127.0.0.1:6543")
        .env("LAKE_KEY", "AKIA-visible-key")
        .env("LAKE_SECRET", "very-secret-value-123")
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("127.0.0.1:6543"),
        "env override applied: {stdout}"
    );
    assert!(stdout.contains("LAKE_SECRET"), "reference shown: {stdout}");
    assert!(!stdout.contains("very-secret-value-123"), "{stdout}");
}

#[test]
fn version_and_help_for_every_command() {
    let version = cli(&["--version"], None);
    assert!(version.status.success());
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("tributary "));
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["query", "--help"],
        vec!["config", "check", "--help"],
    ] {
        let help = cli(&args, None);
        assert!(help.status.success(), "{args:?}");
        let text = String::from_utf8_lossy(&help.stdout);
        assert!(text.contains("Usage:"), "{args:?}: {text}");
    }
    let query_help = String::from_utf8_lossy(&cli(&["query", "--help"], None).stdout).into_owned();
    for word in ["--format", "parquet", "-o", "-f"] {
        assert!(query_help.contains(word), "{word}: {query_help}");
    }
    let usage = cli(&["serve", "--no-such-flag"], None);
    assert_eq!(usage.status.code(), Some(2));
}

#[test]
fn serve_refuses_a_non_loopback_address() {
    let data = tempfile::tempdir().expect("temp");
    let data_dir = data.path().display().to_string();
    let result = cli(
        &["serve", "--data-dir", &data_dir, "--pg-addr", "0.0.0.0:0"],
        None,
    );
    assert_eq!(result.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&result.stderr).contains("loopback"));
}

#[test]
fn nested_columns_in_csv_are_written_as_text() {
    let data = tempfile::tempdir().expect("temp");
    let data_dir = data.path().display().to_string();
    let result = cli(
        &[
            "query",
            "--data-dir",
            &data_dir,
            "--format",
            "csv",
            "SELECT event_id, device, tags FROM sample.events WHERE event_id = 1",
        ],
        None,
    );
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let text = String::from_utf8_lossy(&result.stdout);
    let row = text.lines().nth(1).expect("a row");
    assert!(row.starts_with("1,") && row.contains("os"), "{row}");
}

#[test]
fn a_terminal_gets_a_spinner_for_slow_queries() {
    // `script` gives the CLI a terminal, as a person at a shell would.
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        panic!("`script` (util-linux) is needed for this test");
    }
    let data = tempfile::tempdir().expect("temp");
    let command = format!(
        "{} query --data-dir {} \"SELECT count(*) AS pairs FROM (SELECT quantity FROM sample.orders WHERE order_id <= 40000) a, \
         (SELECT quantity FROM sample.orders WHERE order_id <= 40000) b WHERE a.quantity + b.quantity = 7\"",
        tributary_tests::tributary_binary().display(),
        data.path().display()
    );
    let output = std::process::Command::new("script")
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .output()
        .expect("script");
    let screen = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{screen}");
    assert!(
        screen.contains("00:00:0") && screen.contains("rows"),
        "spinner with elapsed time and rows: {screen}"
    );
    // On a terminal the result is an aligned table.
    assert!(
        screen.contains("pairs") && screen.contains("(1 row)"),
        "{screen}"
    );
}
