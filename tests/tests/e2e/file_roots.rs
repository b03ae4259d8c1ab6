//! `[server] file_roots`: files sources read only where the operator
//! allowed, and never the gateway's own state. Refused through the config
//! (exit code 2 at start), through the HTTP API (403, SQLSTATE 42501), when
//! a stored source is loaded at start, and in the embedded default.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tributary_tests::{Gateway, tributary_binary};

use crate::http_sources::{MASTER_KEY, call};

/// In every file the gateway must not show: its absence from every answer
/// shows that no refusal reads the file it refuses.
const CANARY: &str = "Leak-Canary-5e21";

/// A folder with a files source's data, one outside it with a secret, and a
/// link from the first to the second.
struct Lake {
    _temp: tempfile::TempDir,
    /// Resolved: `/tmp` may itself be a link.
    top: PathBuf,
}

impl Lake {
    fn new() -> Self {
        let temp = tempfile::tempdir().expect("temp dir");
        let top = temp.path().canonicalize().expect("canonical temp dir");
        std::fs::create_dir_all(top.join("lake/sales")).expect("mkdir");
        std::fs::write(
            top.join("lake/sales/orders.csv"),
            "id,item\n1,anvil\n2,rope\n3,magnet\n",
        )
        .expect("write");
        std::fs::create_dir_all(top.join("outside")).expect("mkdir");
        std::fs::write(top.join("outside/secret.csv"), format!("k\n{CANARY}\n")).expect("write");
        std::os::unix::fs::symlink(top.join("outside"), top.join("lake/escape")).expect("symlink");
        Self { _temp: temp, top }
    }

    fn lake(&self) -> String {
        self.top.join("lake").display().to_string()
    }

    fn outside(&self) -> String {
        self.top.join("outside").display().to_string()
    }
}

fn files_source(name: &str, url: &str) -> String {
    format!("[[sources]]\nname = \"{name}\"\nkind = \"files\"\nurl = \"{url}\"\nformat = \"csv\"\n")
}

/// Runs `tributary ARGS` to its end, which must come soon: a server that
/// starts after all is killed and fails the test.
fn run_to_exit(args: &[&str]) -> (Option<i32>, String) {
    let mut child = Command::new(tributary_binary())
        .args(args)
        .env_remove("TRIBUTARY_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tributary");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("tributary {args:?} kept running: the source was not refused");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().expect("output");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn config_sources_outside_the_roots_or_over_the_gateways_state_stop_the_start() {
    let lake = Lake::new();
    let root = lake.lake();
    // The data dir and the config file inside the root: a source may be
    // beside them, never over them.
    let data_dir = format!("{root}/data");
    let config = format!("{root}/tributary.toml");
    let roots = format!("[server]\nfile_roots = [\"{root}\"]\n\n");
    let cases = [
        (
            roots.clone(),
            "file:///etc/".to_owned(),
            "is outside the allowed file roots",
        ),
        (
            roots.clone(),
            format!("{root}/sales/../../outside/"),
            "is outside the allowed file roots",
        ),
        (
            roots.clone(),
            format!("{root}/escape/"),
            "is outside the allowed file roots",
        ),
        (
            roots.clone(),
            format!("file://{root}/sales/%2e%2e/escape/"),
            "is outside the allowed file roots",
        ),
        (
            roots.clone(),
            format!("{root}/data/"),
            "is inside the data dir",
        ),
        (
            roots.clone(),
            format!("{root}/tributary.toml"),
            "is or includes the config file",
        ),
        (roots.clone(), format!("{root}/"), "includes the data dir"),
        (
            roots.clone(),
            format!("{root}/*.csv"),
            "includes the data dir",
        ),
        // Without file_roots the config's own sources read where they
        // point, but still not the gateway's state.
        (
            String::new(),
            format!("{root}/data/"),
            "is inside the data dir",
        ),
        (
            String::new(),
            format!("{root}/tributary.toml"),
            "is or includes the config file",
        ),
    ];
    for (server, url, rule) in cases {
        std::fs::write(&config, format!("{server}{}", files_source("bad", &url))).expect("config");
        for command in [
            &[
                "serve",
                "--pg-addr",
                "127.0.0.1:0",
                "--http-addr",
                "127.0.0.1:0",
            ][..],
            &["config", "check"],
        ] {
            let mut args = vec!["--config", &config, "--data-dir", &data_dir];
            args.extend_from_slice(command);
            let (code, stderr) = run_to_exit(&args);
            assert_eq!(code, Some(2), "{url} {command:?}: {stderr}");
            for word in [
                &format!("{config}:"),
                "source \"bad\": url",
                &format!("{url:?}"),
                rule,
            ] {
                assert!(stderr.contains(word), "{url}: {word:?} not in {stderr}");
            }
            if !server.is_empty() && rule.contains("outside") {
                assert!(stderr.contains(&format!("[{root:?}]")), "{stderr}");
            }
            assert!(!stderr.contains(CANARY), "{stderr}");
        }
    }
}

#[tokio::test]
async fn sources_inside_a_root_answer_and_api_sources_outside_it_are_refused() {
    let lake = Lake::new();
    let root = lake.lake();
    let keys = tempfile::tempdir().expect("keys");
    let keys = keys.path().canonicalize().expect("canonical");
    let key_file = keys.join("master.key");
    std::fs::write(&key_file, MASTER_KEY).expect("key");
    std::fs::set_permissions(
        &key_file,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .expect("chmod");
    // "." is the config file's folder, which also holds the data dir.
    let config = format!(
        "[server]\nhttp_anonymous = true\nfile_roots = [\".\", \"{root}\", \"{}\"]\n\n{}",
        keys.display(),
        files_source("configured", &format!("{root}/sales/"))
    );
    let key_text = key_file.display().to_string();
    let gateway = Gateway::start_with(Some(&config), &[("TRIBUTARY_MASTER_KEY_FILE", &key_text)]);
    let here = gateway
        .config_path
        .as_deref()
        .and_then(Path::parent)
        .expect("config folder")
        .canonicalize()
        .expect("canonical")
        .display()
        .to_string();

    // The config's source inside a root answers with its rows.
    let client = gateway.client().await;
    let rows = client
        .query("SELECT id, item FROM configured.orders ORDER BY id", &[])
        .await
        .expect("query the configured source");
    let rows: Vec<(i64, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(
        rows,
        [
            (1, "anvil".to_owned()),
            (2, "rope".to_owned()),
            (3, "magnet".to_owned())
        ]
    );

    // So do API sources inside a root: the lake, and a folder made below
    // the relative root after the start.
    std::fs::create_dir_all(format!("{here}/uploads")).expect("mkdir");
    std::fs::write(format!("{here}/uploads/items.csv"), "n\n10\n20\n").expect("write");
    for (name, url) in [
        ("sales", format!("file://{root}/sales/")),
        ("uploads", format!("{here}/uploads/")),
    ] {
        let (status, created) = call(
            &gateway,
            "POST",
            "/v1/sources",
            Some(json!({"name": name, "kind": "files", "url": url})),
        )
        .await;
        assert_eq!(status, 201, "{created}");
        assert_eq!(created["status"]["problems"], json!([]), "{created}");
    }
    let (status, result) = call(
        &gateway,
        "POST",
        "/v1/query",
        Some(json!({"sql": "SELECT s.item, CAST(u.n AS BIGINT) AS n FROM sales.orders s JOIN uploads.items u ON u.n = s.id * 10 ORDER BY n"})),
    )
    .await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(
        result["rows"],
        json!([{"item": "anvil", "n": 10}, {"item": "rope", "n": 20}]),
        "{result}"
    );

    let data_dir = gateway
        .data_dir
        .canonicalize()
        .expect("data dir")
        .display()
        .to_string();
    let config_file = format!("{here}/tributary.toml");
    let outside = lake.outside();
    for (url, rule) in [
        (
            "file:///etc/".to_owned(),
            "is outside the allowed file roots",
        ),
        (
            "/etc/passwd".to_owned(),
            "is outside the allowed file roots",
        ),
        (
            format!("{root}/sales/../../outside/"),
            "is outside the allowed file roots",
        ),
        (
            format!("{root}/escape/"),
            "is outside the allowed file roots",
        ),
        (
            format!("{root}/escape/secret.csv"),
            "is outside the allowed file roots",
        ),
        (
            format!("{outside}/*.csv"),
            "is outside the allowed file roots",
        ),
        (format!("{data_dir}/"), "is inside the data dir"),
        (format!("{data_dir}/catalog.db"), "is inside the data dir"),
        (format!("file://{here}/data/"), "is inside the data dir"),
        (format!("{here}/"), "includes the data dir"),
        (config_file.clone(), "is or includes the config file"),
        (
            format!("{}/", keys.display()),
            "is or includes the master key file",
        ),
    ] {
        for (method, path) in [("POST", "/v1/sources"), ("PUT", "/v1/sources/bad")] {
            let (status, refused) = call(
                &gateway,
                method,
                path,
                Some(json!({"name": "bad", "kind": "files", "url": url, "format": "csv"})),
            )
            .await;
            assert_eq!(
                (status, refused["sqlstate"].as_str()),
                (403, Some("42501")),
                "{url}: {refused}"
            );
            let message = refused["message"].as_str().unwrap_or_default();
            for word in ["source \"bad\": url", &format!("{url:?}"), rule] {
                assert!(message.contains(word), "{url}: {word:?} not in {message}");
            }
            assert!(!refused.to_string().contains(CANARY), "{refused}");
        }
    }
    // Refused sources left nothing behind.
    let (_, listed) = call(&gateway, "GET", "/v1/sources", None).await;
    let names: Vec<&str> = listed["sources"]
        .as_array()
        .map(|s| s.iter().filter_map(|s| s["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names, ["configured", "sales", "uploads"], "{listed}");
    assert!(!gateway.log().contains(CANARY));
}

#[tokio::test]
async fn the_embedded_default_reads_only_its_sample_folder() {
    let gateway = Gateway::start();
    let lake = Lake::new();
    let data_dir = gateway
        .data_dir
        .canonicalize()
        .expect("data dir")
        .display()
        .to_string();
    let sample = format!("{data_dir}/sample");
    // The root as the gateway names it: below the data dir it was given.
    let shown_root = format!(
        "[{:?}]",
        gateway.data_dir.join("sample").display().to_string()
    );
    std::os::unix::fs::symlink(lake.outside(), format!("{sample}/escape")).expect("symlink");

    let (status, created) = call(
        &gateway,
        "POST",
        "/v1/sources",
        Some(json!({"name": "again", "kind": "files", "url": format!("{sample}/customers.csv")})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let (status, result) = call(
        &gateway,
        "POST",
        "/v1/query",
        Some(json!({"sql": "SELECT count(*) AS n FROM again.customers"})),
    )
    .await;
    assert_eq!(
        (status, result["rows"][0]["n"].as_i64()),
        (200, Some(1000)),
        "{result}"
    );

    for (url, rule) in [
        (
            "file:///etc/".to_owned(),
            "is outside the allowed file roots",
        ),
        (
            format!("{}/", lake.lake()),
            "is outside the allowed file roots",
        ),
        (
            format!("{sample}/escape/"),
            "is outside the allowed file roots",
        ),
        (format!("{data_dir}/"), "is inside the data dir"),
        (format!("{data_dir}/catalog.db"), "is inside the data dir"),
        (format!("{sample}/../"), "is inside the data dir"),
        (format!("file://{sample}/%2E%2E/"), "is inside the data dir"),
        (format!("{data_dir}/../"), "includes the data dir"),
    ] {
        let (status, refused) = call(
            &gateway,
            "POST",
            "/v1/sources",
            Some(json!({"name": "bad", "kind": "files", "url": url, "format": "csv"})),
        )
        .await;
        assert_eq!(
            (status, refused["sqlstate"].as_str()),
            (403, Some("42501")),
            "{url}: {refused}"
        );
        let message = refused["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(rule) && message.contains(&format!("{url:?}")),
            "{url}: {message}"
        );
        if rule.contains("outside") {
            assert!(
                message.contains(&shown_root) && message.contains("without a config file"),
                "{message}"
            );
        }
        assert!(!refused.to_string().contains(CANARY), "{refused}");
    }
}

#[tokio::test]
async fn stored_sources_are_checked_again_at_start() {
    let lake = Lake::new();
    let root = lake.lake();
    let data = tempfile::tempdir().expect("data dir");
    let anonymous = "[server]\nhttp_anonymous = true\n";
    let mut gateway = Gateway::start_in(
        Some(data.path()),
        Some(&format!("{anonymous}file_roots = [\"{root}\"]\n")),
        &[],
    );
    let (status, created) = call(
        &gateway,
        "POST",
        "/v1/sources",
        Some(json!({"name": "kept", "kind": "files", "url": format!("{root}/sales/")})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    gateway.terminate();
    drop(gateway);

    // The roots no longer hold it, or are not set: it is stored but not
    // served, and says why.
    for (server, rule) in [
        (
            format!("{anonymous}file_roots = [\"{}\"]\n", lake.outside()),
            "is outside the allowed file roots",
        ),
        (anonymous.to_owned(), "file_roots is not set"),
    ] {
        let gateway = Gateway::start_in(Some(data.path()), Some(&server), &[]);
        let (status, shown) = call(&gateway, "GET", "/v1/sources/kept", None).await;
        assert_eq!(status, 200, "{shown}");
        let problems = shown["status"]["problems"].to_string();
        assert!(
            problems.contains(rule) && problems.contains("not served"),
            "{shown}"
        );
        let (status, tested) = call(&gateway, "POST", "/v1/sources/kept/test", None).await;
        assert_eq!(
            (status, tested["sqlstate"].as_str()),
            (403, Some("42501")),
            "{tested}"
        );
        let (status, result) = call(
            &gateway,
            "POST",
            "/v1/query",
            Some(json!({"sql": "SELECT count(*) AS n FROM kept.orders"})),
        )
        .await;
        let message: &str = result["message"].as_str().unwrap_or_default();
        assert!(status >= 400 && message.contains(rule), "{status} {result}");
        assert_eq!(result.get("rows"), None::<&Value>);
    }

    // A config without the problem serves it again.
    let gateway = Gateway::start_in(
        Some(data.path()),
        Some(&format!("{anonymous}file_roots = [\"{root}\"]\n")),
        &[],
    );
    let (status, result) = call(
        &gateway,
        "POST",
        "/v1/query",
        Some(json!({"sql": "SELECT count(*) AS n FROM kept.orders"})),
    )
    .await;
    assert_eq!(
        (status, result["rows"][0]["n"].as_i64()),
        (200, Some(3)),
        "{result}"
    );
}
