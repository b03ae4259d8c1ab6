//! The HTTP API fuzzed from its own OpenAPI document by schemathesis
//! (coverage, fuzzing and stateful phases): no request may get a 5xx or
//! take the server down. Over the embedded default, where anonymous access
//! lets every operation through.

use std::path::PathBuf;
use std::process::Command;

use tributary_tests::Gateway;

fn schemathesis() -> PathBuf {
    if let Some(path) = std::env::var_os("TRIBUTARY_SCHEMATHESIS") {
        return PathBuf::from(path);
    }
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/schemathesis-venv/bin/schemathesis");
    assert!(
        path.exists(),
        "{} is missing: ./dev/test.sh creates it (tests/clients/schemathesis-requirements.txt)",
        path.display()
    );
    path
}

#[tokio::test]
async fn http_fuzz_from_the_openapi_document() {
    let mut gateway = Gateway::start();
    let reports = tempfile::tempdir().expect("report dir");
    let schema = format!("http://{}/openapi.json", gateway.http_addr);
    let output = tokio::task::spawn_blocking({
        let reports = reports.path().to_owned();
        move || {
            Command::new(schemathesis())
                .args([
                    "run",
                    &schema,
                    "--checks",
                    "not_a_server_error",
                    "--max-examples",
                    "40",
                ])
                .arg("--report-dir")
                .arg(&reports)
                .env("SCHEMATHESIS_HOOKS", "")
                .current_dir(&reports)
                .output()
                .expect("schemathesis runs")
        }
    })
    .await
    .expect("join");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "schemathesis found server errors:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("passed"), "{stdout}");
    assert!(
        gateway.is_running(),
        "the server died under the HTTP fuzzer\n{}",
        gateway.log()
    );
    // And still answers.
    let body = reqwest::get(format!("http://{}/healthz", gateway.http_addr))
        .await
        .expect("GET /healthz")
        .text()
        .await
        .unwrap_or_default();
    assert!(body.contains("ok"), "{body}");
}
