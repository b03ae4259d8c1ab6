//! The HTTP front end under hostile clients (issue 19): bodies over the
//! limit, JSON nesting bombs, deep SQL, headers sent slowly, more
//! connections than allowed. After each, the API still answers.

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tributary_tests::Gateway;

const CONFIG: &str = "[server]\nhttp_anonymous = true\n\n[limits]\nmax_message_bytes = \"1MiB\"\n\
                      max_http_connections = 4\nhttp_header_timeout = \"1s\"\n";

fn url(gateway: &Gateway, path: &str) -> String {
    format!("http://{}{path}", gateway.http_addr)
}

async fn post_query(gateway: &Gateway, body: String) -> (u16, serde_json::Value) {
    let response = reqwest::Client::new()
        .post(url(gateway, "/v1/query"))
        .body(body)
        .send()
        .await
        .expect("POST /v1/query");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(json!({ "text": text })),
    )
}

async fn healthy(gateway: &Gateway) {
    let (status, body) = post_query(
        gateway,
        json!({"sql": "SELECT 6 * 7 AS answer"}).to_string(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn bodies_nesting_and_depth_are_bounded() {
    let gateway = Gateway::start_with(Some(CONFIG), &[]);
    // A body over max_message_bytes.
    let big = json!({"sql": format!("SELECT '{}'", "x".repeat(2 << 20))}).to_string();
    let (status, _) = post_query(&gateway, big).await;
    assert_eq!(status, 413);
    // A JSON nesting bomb: refused by the parser's depth bound, not the stack.
    let bomb = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let (status, body) = post_query(&gateway, bomb).await;
    assert_eq!(status, 400, "{body}");
    // A statement too deep to plan: 54001, as over the pg wire.
    let union = (0..5_000)
        .map(|n| format!("SELECT {n}"))
        .collect::<Vec<_>>()
        .join(" UNION ");
    let (status, body) = post_query(&gateway, json!({"sql": union}).to_string()).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["sqlstate"], "54001", "{body}");
    // A huge row limit is a bound, not an allocation.
    let (status, body) = post_query(
        &gateway,
        json!({"sql": "SELECT v FROM generate_series(1, 3) AS t(v) ORDER BY v DESC", "limit": u64::MAX}).to_string(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    healthy(&gateway).await;
}

#[tokio::test]
async fn slow_headers_are_cut_off_and_extra_connections_refused() {
    let gateway = Gateway::start_with(Some(CONFIG), &[]);
    // Four clients that send half a request and stop: they hold every place.
    let mut slow = Vec::new();
    for _ in 0..4 {
        let mut stream = TcpStream::connect(gateway.http_addr)
            .await
            .expect("connect");
        stream
            .write_all(b"POST /v1/query HTTP/1.1\r\nHost: tributary\r\n")
            .await
            .expect("half a request");
        slow.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The fifth is told why, at once.
    let mut fifth = TcpStream::connect(gateway.http_addr)
        .await
        .expect("connect");
    fifth
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: tributary\r\n\r\n")
        .await
        .expect("request");
    let mut answer = String::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), fifth.read_to_string(&mut answer)).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer:?}");
    assert!(answer.contains("53300"), "{answer:?}");
    // The slow ones are closed after the header timeout (1 s here)...
    let started = Instant::now();
    for stream in &mut slow {
        let mut rest = Vec::new();
        let read =
            tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut rest)).await;
        assert!(read.is_ok(), "a half-sent request was kept open");
    }
    assert!(started.elapsed() < Duration::from_secs(10));
    // ...and their places go to new clients.
    healthy(&gateway).await;
}
