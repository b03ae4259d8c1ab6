//! The real psql binary against the gateway.

use std::process::Command;

use tributary_tests::Gateway;

fn psql(gateway: &Gateway, args: &[&str]) -> (bool, String, String) {
    let output = Command::new("psql")
        .arg("-X")
        .arg("-h")
        .arg(gateway.addr.ip().to_string())
        .arg("-p")
        .arg(gateway.addr.port().to_string())
        .arg("-U")
        .arg("tributary")
        .arg("-d")
        .arg("tributary")
        .args(args)
        .env_remove("PGPASSWORD")
        .output()
        .expect("psql is installed (postgresql-client)");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn psql_runs_a_join_over_the_sample() {
    let gateway = Gateway::start();
    let (ok, stdout, stderr) = psql(
        &gateway,
        &[
            "-c",
            "SELECT c.customer_id, c.country, count(*) AS orders \
             FROM sample.customers c JOIN sample.orders o USING (customer_id) \
             WHERE c.customer_id <= 3 GROUP BY c.customer_id, c.country ORDER BY c.customer_id",
        ],
    );
    assert!(ok, "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[0].split('|').map(str::trim).collect::<Vec<_>>(),
        ["customer_id", "country", "orders"]
    );
    assert!(lines[1].starts_with("---"), "{stdout}");
    assert_eq!(
        lines.len(),
        2 + 3 + 2,
        "three rows, a count and a blank line: {stdout}"
    );
    assert_eq!(lines[5], "(3 rows)");
}

#[tokio::test]
async fn psql_unaligned_output_and_errors() {
    let gateway = Gateway::start();
    let (ok, stdout, stderr) = psql(
        &gateway,
        &[
            "-A",
            "-t",
            "-c",
            "SELECT name, segment FROM sample.customers WHERE customer_id = 1",
        ],
    );
    assert!(ok, "{stderr}");
    let fields: Vec<&str> = stdout.trim_end().split('|').collect();
    assert_eq!(fields.len(), 2, "{stdout}");
    assert!(
        ["consumer", "smb", "enterprise"].contains(&fields[1]),
        "{stdout}"
    );

    let (ok, _, stderr) = psql(
        &gateway,
        &[
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            "SELECT * FROM sample.missing",
        ],
    );
    assert!(!ok);
    assert!(
        stderr.contains("relation \"missing\" does not exist"),
        "{stderr}"
    );
}

#[tokio::test]
async fn psql_copy_of_the_same_query_as_the_cli() {
    let gateway = Gateway::start();
    let sql =
        "SELECT order_id, status, amount FROM sample.orders WHERE order_id <= 5 ORDER BY order_id";
    let (ok, stdout, stderr) = psql(&gateway, &["-A", "-t", "-F", ",", "-c", sql]);
    assert!(ok, "{stderr}");
    let data_dir = gateway.data_dir.display().to_string();
    let output = tributary_tests::cli(
        &["query", "--data-dir", &data_dir, "--format", "csv", sql],
        None,
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let cli = String::from_utf8_lossy(&output.stdout);
    let cli_rows: Vec<&str> = cli.lines().skip(1).collect();
    let psql_rows: Vec<&str> = stdout.lines().collect();
    assert_eq!(cli_rows, psql_rows);
}

#[tokio::test]
async fn psql_lists_and_describes_the_sample_tables() {
    let gateway = Gateway::start();
    let (ok, stdout, stderr) = psql(&gateway, &["-c", "\\dt sample.*"]);
    assert!(ok, "{stderr}");
    for table in ["customers", "events", "orders"] {
        assert!(
            stdout.lines().any(|line| line
                .split('|')
                .map(str::trim)
                .take(3)
                .eq(["sample", table, "table"])),
            "{table} in:\n{stdout}"
        );
    }
    let (ok, stdout, stderr) = psql(&gateway, &["-c", "\\d sample.orders"]);
    assert!(ok, "{stderr}");
    let columns: Vec<(String, String)> = stdout
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split('|').map(str::trim).collect();
            (fields.len() >= 2).then(|| (fields[0].to_owned(), fields[1].to_owned()))
        })
        .skip(1)
        .collect();
    let expected = [
        ("order_id", "bigint"),
        ("customer_id", "bigint"),
        ("order_date", "date"),
        ("status", "text"),
        ("quantity", "integer"),
    ];
    for (column, data_type) in expected {
        assert!(
            columns.iter().any(|(c, t)| c == column && t == data_type),
            "{column} {data_type} in:\n{stdout}"
        );
    }
}
