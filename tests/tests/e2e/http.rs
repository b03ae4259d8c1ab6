//! The HTTP API through a real HTTP client (reqwest): health, the OpenAPI
//! document against the routes, browsing, `POST /v1/query` in every format
//! (Arrow and Parquet read back with arrow), and its errors.

use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::Int64Type;
use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::{Value, json};
use tributary_tests::Gateway;

const ORDERS: &str = "SELECT order_id, status FROM sample.orders ORDER BY order_id LIMIT 3";

fn url(gateway: &Gateway, path: &str) -> String {
    format!("http://{}{path}", gateway.http_addr)
}

async fn get(gateway: &Gateway, path: &str) -> (u16, Value) {
    let response = reqwest::get(url(gateway, path)).await.expect("GET");
    let status = response.status().as_u16();
    let body = response.bytes().await.expect("body");
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

pub async fn query(gateway: &Gateway, accept: &str, body: &Value) -> (u16, String, Vec<u8>) {
    let response = reqwest::Client::new()
        .post(url(gateway, "/v1/query"))
        .header("accept", accept)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("POST /v1/query");
    let status = response.status().as_u16();
    let content_type = header(&response, "content-type");
    let bytes = response.bytes().await.expect("body").to_vec();
    (status, content_type, bytes)
}

/// A response header as text ("" when absent).
pub fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

fn order_ids(batches: &[RecordBatch]) -> Vec<i64> {
    batches
        .iter()
        .flat_map(|batch| {
            let ids = batch.column(0).as_primitive::<Int64Type>();
            (0..ids.len()).map(|row| ids.value(row)).collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test]
async fn health_openapi_and_browsing() {
    let gateway = Gateway::start();
    assert_eq!(
        get(&gateway, "/healthz").await,
        (200, json!({"status": "ok"}))
    );
    assert_eq!(
        get(&gateway, "/readyz").await,
        (200, json!({"status": "ready"}))
    );

    // Every documented path answers (none falls through to "no such
    // path"), and an undocumented one does not.
    let (status, document) = get(&gateway, "/openapi.json").await;
    assert_eq!(status, 200);
    let paths = document["paths"].as_object().cloned().unwrap_or_default();
    assert!(paths.len() >= 8, "{document}");
    for (path, operations) in &paths {
        let concrete = path
            .replace("{source}", "sample")
            .replace("{schema}", "public")
            .replace("{table}", "orders")
            .replace("{id}", "12345");
        for method in operations
            .as_object()
            .map(|o| o.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default()
        {
            let response = reqwest::Client::new()
                .request(
                    method.to_uppercase().parse().expect("method"),
                    url(&gateway, &concrete),
                )
                .header("content-type", "application/json")
                .body(json!({"sql": "SELECT 1"}).to_string())
                .send()
                .await
                .expect("request");
            let status = response.status().as_u16();
            let body = response.text().await.unwrap_or_default();
            assert!(
                !body.contains("no such path"),
                "{method} {path}: {status} {body}"
            );
        }
    }
    let (status, missing) = get(&gateway, "/v1/nowhere").await;
    assert_eq!((status, missing["sqlstate"].as_str()), (404, Some("42704")));

    let (_, sources) = get(&gateway, "/v1/sources").await;
    assert_eq!(sources["sources"][0]["name"], "sample", "{sources}");
    let (_, schemas) = get(&gateway, "/v1/sources/sample/schemas").await;
    assert_eq!(schemas["schemas"], json!(["public"]), "{schemas}");
    let (_, tables) = get(&gateway, "/v1/sources/sample/schemas/public/tables").await;
    assert_eq!(
        tables["tables"],
        json!(["customers", "events", "orders"]),
        "{tables}"
    );
    let (status, orders) = get(&gateway, "/v1/sources/sample/schemas/public/tables/orders").await;
    assert_eq!(status, 200, "{orders}");
    assert_eq!(
        orders["columns"][0],
        json!({"name": "order_id", "position": 1, "type": "Int64", "nullable": false})
    );
    assert_eq!(
        orders["columns"][5]["type"], "Decimal128(12, 2)",
        "{orders}"
    );
    let (status, error) = get(&gateway, "/v1/sources/nope/schemas").await;
    assert_eq!(
        (status, error["sqlstate"].as_str()),
        (404, Some("42704")),
        "{error}"
    );
    let (status, _) = get(&gateway, "/v1/sources/sample/schemas/public/tables/nope").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn queries_stream_in_every_format() {
    let gateway = Gateway::start();
    let body = json!({"sql": ORDERS});

    let (status, content_type, bytes) = query(&gateway, "application/json", &body).await;
    assert_eq!((status, content_type.as_str()), (200, "application/json"));
    let result: Value = serde_json::from_slice(&bytes).expect("JSON");
    assert_eq!(
        result["columns"][0],
        json!({"name": "order_id", "type": "Int64", "nullable": false})
    );
    assert_eq!(result["columns"][1]["name"], "status");
    let ids: Vec<i64> = result["rows"]
        .as_array()
        .map(|rows| rows.iter().filter_map(|r| r["order_id"].as_i64()).collect())
        .unwrap_or_default();
    assert_eq!(ids, [1, 2, 3], "{result}");

    let (_, content_type, bytes) = query(&gateway, "application/x-ndjson", &body).await;
    assert_eq!(content_type, "application/x-ndjson");
    let lines: Vec<Value> = String::from_utf8_lossy(&bytes)
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[2]["order_id"], 3);

    let (_, content_type, bytes) = query(&gateway, "text/csv", &body).await;
    assert_eq!(content_type, "text/csv; charset=utf-8");
    let csv = String::from_utf8_lossy(&bytes).into_owned();
    let csv_lines: Vec<&str> = csv.lines().collect();
    assert_eq!(csv_lines.len(), 4, "{csv}");
    assert_eq!(csv_lines[0], "order_id,status");
    assert!(csv_lines[1].starts_with("1,"), "{csv}");

    let (_, _, bytes) = query(&gateway, "application/vnd.apache.arrow.stream", &body).await;
    let batches: Vec<RecordBatch> = StreamReader::try_new(std::io::Cursor::new(bytes), None)
        .expect("an Arrow stream")
        .collect::<Result<_, _>>()
        .expect("batches");
    assert_eq!(order_ids(&batches), [1, 2, 3]);

    let parquet = reqwest::Client::new()
        .post(url(&gateway, "/v1/query"))
        .header("accept", "application/vnd.apache.parquet")
        .body(body.to_string())
        .send()
        .await
        .expect("POST")
        .bytes()
        .await
        .expect("body");
    let batches: Vec<RecordBatch> = ParquetRecordBatchReaderBuilder::try_new(parquet)
        .expect("a Parquet file")
        .build()
        .expect("reader")
        .collect::<Result<_, _>>()
        .expect("batches");
    assert_eq!(order_ids(&batches), [1, 2, 3]);

    // A row limit, and an empty result is still a document.
    let (_, _, bytes) = query(
        &gateway,
        "*/*",
        &json!({"sql": "SELECT order_id FROM sample.orders", "limit": 2}),
    )
    .await;
    let limited: Value = serde_json::from_slice(&bytes).expect("JSON");
    assert_eq!(
        limited["rows"].as_array().map(Vec::len),
        Some(2),
        "{limited}"
    );
    let (_, _, bytes) = query(
        &gateway,
        "application/json",
        &json!({"sql": "SELECT 1 AS x WHERE false"}),
    )
    .await;
    let empty: Value = serde_json::from_slice(&bytes).expect("JSON");
    assert_eq!(empty["rows"], json!([]), "{empty}");

    // Many rows arrive whole.
    let (status, _, bytes) = query(
        &gateway,
        "text/csv",
        &json!({"sql": "SELECT * FROM generate_series(1, 200000)"}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(String::from_utf8_lossy(&bytes).lines().count(), 200_001);
}

#[tokio::test]
async fn query_errors_are_json_with_a_sqlstate() {
    let gateway = Gateway::start();
    let cases = [
        (
            json!({"sql": "SELECT * FROM sample.nope"}),
            "application/json",
            400,
            "42P01",
        ),
        (
            json!({"sql": "CREATE TABLE t (x int)"}),
            "application/json",
            403,
            "25006",
        ),
        (
            json!({"sql": "SELECT 1", "params": {"x": 1}}),
            "application/json",
            400,
            "42P02",
        ),
        (json!({"sql": "SELECT 1"}), "text/html", 406, "0A000"),
        (
            json!({"query": "SELECT 1"}),
            "application/json",
            400,
            "08P01",
        ),
        (
            json!({"sql": "SELECT count(*) FROM generate_series(1, 5000000000)", "timeout_ms": 100}),
            "application/json",
            504,
            "57014",
        ),
    ];
    for (body, accept, status, sqlstate) in cases {
        let (got, content_type, bytes) = query(&gateway, accept, &body).await;
        let error: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        assert_eq!(
            (got, error["sqlstate"].as_str()),
            (status, Some(sqlstate)),
            "{body}: {error}"
        );
        assert_eq!(content_type, "application/json");
        assert!(
            error["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{error}"
        );
    }
    // Not JSON at all.
    let response = reqwest::Client::new()
        .post(url(&gateway, "/v1/query"))
        .body("{ nope")
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status().as_u16(), 400);
    // The server is still there.
    assert_eq!(get(&gateway, "/healthz").await.0, 200);
}

#[tokio::test]
async fn a_running_query_is_listed_and_cancelled() {
    let gateway = Gateway::start();
    let mut response = reqwest::Client::new()
        .post(url(&gateway, "/v1/query"))
        .header("accept", "application/x-ndjson")
        .body(json!({"sql": "SELECT value FROM generate_series(1, 100000000000)"}).to_string())
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status().as_u16(), 200);
    let id = response
        .headers()
        .get("tributary-query-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    // Rows arrive while the query is still running.
    let first = response.chunk().await.expect("a chunk").unwrap_or_default();
    assert!(first.starts_with(b"{\"value\":1}"), "{first:?}");
    let (_, running) = get(&gateway, "/v1/queries").await;
    assert_eq!(running["queries"][0]["id"], id.as_str(), "{running}");
    assert!(
        running["queries"][0]["sql"]
            .as_str()
            .is_some_and(|s| s.contains("generate_series"))
    );

    let cancelled = reqwest::Client::new()
        .delete(url(&gateway, &format!("/v1/queries/{id}")))
        .send()
        .await
        .expect("DELETE");
    assert_eq!(cancelled.status().as_u16(), 200);
    // The body breaks off instead of ending as if complete.
    let mut broken = false;
    for _ in 0..100_000 {
        match response.chunk().await {
            Ok(Some(_)) => continue,
            Ok(None) => break,
            Err(_) => {
                broken = true;
                break;
            }
        }
    }
    assert!(broken, "a cancelled stream must not end cleanly");
    let (_, after) = get(&gateway, "/v1/queries").await;
    assert_eq!(after["queries"], json!([]), "{after}");
    let again = reqwest::Client::new()
        .delete(url(&gateway, &format!("/v1/queries/{id}")))
        .send()
        .await
        .expect("DELETE");
    assert_eq!(again.status().as_u16(), 404);
}
