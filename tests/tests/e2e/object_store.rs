//! Files on a real S3 server (s3s-fs): Parquet, CSV, NDJSON and a
//! hive-partitioned folder; partition pruning; wrong credentials.

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::parquet::arrow::ArrowWriter;
use tributary_tests::{ACCESS_KEY, Gateway, S3Server, SECRET_KEY};

fn write_parquet(path: &Path, ids: Vec<i64>, labels: Vec<&str>) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("label", DataType::Utf8, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from(ids)),
            Arc::new(StringArray::from(labels)),
        ],
    )
    .expect("batch");
    let mut writer =
        ArrowWriter::try_new(std::fs::File::create(path).expect("create"), schema, None)
            .expect("writer");
    writer.write(&batch).expect("write");
    writer.close().expect("close");
}

/// A bucket `lake` with one file of each format and a partitioned folder.
fn fill_bucket(root: &Path) {
    let bucket = root.join("lake");
    write_parquet(
        &bucket.join("orders.parquet"),
        vec![1, 2, 3],
        vec!["a", "b", "c"],
    );
    std::fs::write(bucket.join("People.csv"), "id,name\n1,Ada\n2,Grace\n").expect("csv");
    std::fs::write(
        bucket.join("clicks.ndjson"),
        "{\"id\":1,\"page\":{\"path\":\"/a\"},\"tags\":[\"x\"]}\n{\"id\":2,\"page\":{\"path\":\"/b\"},\"tags\":[]}\n",
    )
    .expect("ndjson");
    for (year, month, ids) in [
        ("2023", "12", vec![1, 2]),
        ("2024", "01", vec![3, 4, 5]),
        ("2024", "02", vec![6]),
    ] {
        let labels = vec!["p"; ids.len()];
        write_parquet(
            &bucket.join(format!("sales/year={year}/month={month}/part-0.parquet")),
            ids,
            labels,
        );
    }
}

fn config(endpoint: &str) -> String {
    format!(
        "[[sources]]\nname = \"lake\"\nkind = \"files\"\nurl = \"s3://lake/\"\n\
         [sources.options]\nendpoint = \"{endpoint}\"\nregion = \"us-east-1\"\nallow_http = true\n\
         access_key_id = {{ env = \"LAKE_ACCESS_KEY\" }}\nsecret_access_key = {{ env = \"LAKE_SECRET_KEY\" }}\n"
    )
}

async fn start_gateway(config: String, secret: &'static str) -> Gateway {
    tokio::task::spawn_blocking(move || {
        Gateway::start_with(
            Some(&config),
            &[("LAKE_ACCESS_KEY", ACCESS_KEY), ("LAKE_SECRET_KEY", secret)],
        )
    })
    .await
    .expect("gateway start")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parquet_csv_ndjson_and_partitions_on_s3() {
    let root = tempfile::tempdir().expect("temp");
    fill_bucket(root.path());
    let s3 = S3Server::start(root.path()).await;
    let gateway = start_gateway(config(&s3.endpoint), SECRET_KEY).await;
    let client = gateway.client().await;

    let labels: Vec<String> = client
        .query("SELECT label FROM lake.orders ORDER BY id", &[])
        .await
        .expect("parquet")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(labels, ["a", "b", "c"]);

    // File names are lower-cased and lose their extension.
    let name: String = client
        .query_one("SELECT name FROM lake.people WHERE id = 2", &[])
        .await
        .expect("csv")
        .get(0);
    assert_eq!(name, "Grace");

    let path: String = client
        .query_one("SELECT page['path'] FROM lake.clicks WHERE id = 2", &[])
        .await
        .expect("ndjson")
        .get(0);
    assert_eq!(path, "/b");

    // Partition columns are columns...
    let rows = client
        .query("SELECT year, month, count(*) FROM lake.sales GROUP BY year, month ORDER BY year, month", &[])
        .await
        .expect("partitions");
    let rows: Vec<(String, String, i64)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        rows,
        [
            ("2023".to_owned(), "12".to_owned(), 2),
            ("2024".to_owned(), "01".to_owned(), 3),
            ("2024".to_owned(), "02".to_owned(), 1)
        ]
    );

    // ...and a filter on them reads only the matching files.
    s3.clear_requests();
    let ids: Vec<i64> = client
        .query(
            "SELECT id FROM lake.sales WHERE year = '2024' AND month = '01' ORDER BY id",
            &[],
        )
        .await
        .expect("pruned")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(ids, [3, 4, 5]);
    let requests: Vec<String> = s3
        .requests()
        .iter()
        .map(|r| r.replace("%3D", "="))
        .collect();
    let reads: Vec<&String> = requests
        .iter()
        .filter(|r| r.starts_with("GET") && r.contains(".parquet"))
        .collect();
    assert!(
        !reads.is_empty(),
        "the matching file was read: {requests:?}"
    );
    assert!(
        reads.iter().all(|r| r.contains("year=2024/month=01")),
        "only the matching partition was read: {requests:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_name_the_source_and_not_the_secret() {
    let root = tempfile::tempdir().expect("temp");
    fill_bucket(root.path());
    let s3 = S3Server::start(root.path()).await;
    let wrong_secret = "wrong-secret-do-not-print-4711";
    let gateway = start_gateway(config(&s3.endpoint), wrong_secret).await;
    let client = gateway.client().await;

    let error = client
        .simple_query("SELECT * FROM lake.orders")
        .await
        .expect_err("refused");
    let db = error.as_db_error().expect("database error");
    assert!(
        db.message().contains("lake"),
        "names the source: {}",
        db.message()
    );
    assert!(
        db.code().code().starts_with("08"),
        "{}: {}",
        db.code().code(),
        db.message()
    );
    assert!(!db.message().contains(wrong_secret));
    assert!(
        !gateway.log().contains(wrong_secret),
        "the log holds no secret"
    );

    // The gateway itself is fine.
    let one: i64 = client
        .query_one("SELECT 1::bigint", &[])
        .await
        .expect("alive")
        .get(0);
    assert_eq!(one, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_down_at_start_is_tried_again_when_queried() {
    let root = tempfile::tempdir().expect("temp");
    fill_bucket(root.path());
    // A port with nothing behind it: the object store is down at start.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("free port")
        .to_string();
    let gateway = start_gateway(config(&format!("http://{addr}")), SECRET_KEY).await;
    let client = gateway.client().await;
    let error = client
        .simple_query("SELECT count(*) FROM lake.orders")
        .await
        .expect_err("down");
    let code = error
        .code()
        .map(|c| c.code().to_owned())
        .unwrap_or_default();
    assert!(code.starts_with("08"), "{code}: {error}");
    let message = error
        .as_db_error()
        .map(|e| e.message().to_owned())
        .unwrap_or_default();
    assert!(message.contains("lake"), "{message}");

    // The store comes up; within a few seconds queries find it.
    let _s3 = S3Server::start_on(root.path(), &addr).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        match client
            .query_one("SELECT count(*) FROM lake.orders", &[])
            .await
        {
            Ok(row) => {
                assert_eq!(row.get::<_, i64>(0), 3);
                break;
            }
            Err(error) if std::time::Instant::now() < deadline => {
                let code = error
                    .code()
                    .map(|c| c.code().to_owned())
                    .unwrap_or_default();
                assert!(code.starts_with("08"), "still a connection error: {error}");
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
            Err(error) => panic!("the source never came back: {error}"),
        }
    }
}
