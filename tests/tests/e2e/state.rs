//! State in the data dir is never lost silently: a catalog.db or
//! credentials.json that is empty, truncated or has flipped bytes stops
//! `tributary serve` with a message naming the file, and is left byte for
//! byte as it was; `--repair` moves it aside and starts afresh; `/readyz`
//! reports a store that cannot be read at run time; and a server killed
//! (SIGKILL) in the middle of `POST /v1/sources`, at twenty different
//! moments, never leaves a secret that no source references.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Seek, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tributary_tests::{Gateway, tributary_binary};

use crate::http_sources::{MASTER_KEY, call};

const CATALOG: &str = "catalog.db";
const CREDENTIALS: &str = "credentials.json";

fn start(data_dir: &Path, env: &[(&str, &str)]) -> Gateway {
    let mut all = vec![("TRIBUTARY_MASTER_KEY", MASTER_KEY)];
    all.extend_from_slice(env);
    Gateway::start_in(Some(data_dir), None, &all)
}

/// A source with a plain password, which goes into the credentials store.
/// Nothing listens on port 1: the source is created, unreachable.
fn source(name: &str) -> Value {
    json!({
        "name": name, "kind": "postgres", "host": "127.0.0.1", "port": 1,
        "database": "d", "user": "u", "password": format!("pw-{name}-7f3a"),
        "tls": "disable", "connect_timeout": "1s",
    })
}

/// What `tributary serve` did: stopped (exit code, its log), or started
/// listening (the process and its HTTP address).
enum Served {
    Exited(Option<i32>, String),
    Listening(Child, String),
}

fn serve(data_dir: &Path, args: &[&str]) -> Served {
    let mut child = Command::new(tributary_binary())
        .args([
            "serve",
            "--pg-addr",
            "127.0.0.1:0",
            "--http-addr",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_remove("TRIBUTARY_CONFIG")
        .env_remove("TRIBUTARY_REPAIR")
        .env("TRIBUTARY_MASTER_KEY", MASTER_KEY)
        .env("TRIBUTARY_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tributary serve runs");
    let stderr = child.stderr.take().expect("stderr is piped");
    let (lines_tx, lines) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            // Read on after the caller stops listening: a closed pipe
            // would fail the server's next log line.
            let _ = lines_tx.send(line);
        }
    });
    let mut log = String::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match lines.recv_timeout(Duration::from_millis(50)) {
            Ok(line) => {
                log.push_str(&line);
                log.push('\n');
                if let Some(rest) = line.split("http listening on ").nth(1) {
                    let addr = rest.split_whitespace().next().unwrap_or_default();
                    return Served::Listening(child, addr.to_owned());
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                let status = child.wait().expect("tributary serve ends");
                return Served::Exited(status.code(), log);
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("tributary serve neither stopped nor listened within 60 s:\n{log}");
        }
    }
}

/// A data dir with both stores holding something: an API source with a
/// plain password (catalog.db and credentials.json) and an API token
/// (catalog.db). The server is stopped cleanly, so that catalog.db holds
/// everything (its write-ahead log folded in).
async fn populated(data_dir: &Path) {
    let mut gateway = start(data_dir, &[]);
    let (status, created) = call(&gateway, "POST", "/v1/sources", Some(source("pg"))).await;
    assert_eq!(status, 201, "{created}");
    let token = Command::new(tributary_binary())
        .arg("--data-dir")
        .arg(data_dir)
        .args(["tokens", "create", "ci"])
        .env_remove("TRIBUTARY_CONFIG")
        .output()
        .expect("tributary tokens");
    assert!(
        token.status.success(),
        "{}",
        String::from_utf8_lossy(&token.stderr)
    );
    assert!(gateway.terminate().success());
    assert!(!data_dir.join("catalog.db-wal").exists());
}

/// Each way a file is found damaged, and what the error must say.
fn damaged_versions(file: &str, sound: &[u8]) -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let mut flipped = sound.to_vec();
    let mut versions = vec![
        ("emptied", Vec::new(), "empty (0 bytes)"),
        ("truncated", sound[..sound.len() / 2].to_vec(), "truncated"),
    ];
    if file == CATALOG {
        // The first bytes of the middle page: a b-tree page's header.
        let at = sound.len() / 4096 / 2 * 4096;
        flipped[at..at + 8].iter_mut().for_each(|b| *b ^= 0xff);
        versions.push(("byte-flipped", flipped, "quick_check"));
    } else {
        let at = sound.len() / 2;
        flipped[at..at + 4].iter_mut().for_each(|b| *b ^= 0xff);
        versions.push(("byte-flipped", flipped, "not UTF-8"));
        // One character of a sealed value changed to another: still JSON
        // and base64, found only by opening every record.
        let text = String::from_utf8_lossy(sound).into_owned();
        let at = text.find("\"sealed\": \"").expect("a sealed secret") + 20;
        let mut tampered = sound.to_vec();
        tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
        versions.push(("sealed value altered", tampered, "failed authentication"));
    }
    versions
}

fn asides(data_dir: &Path, file: &str) -> Vec<PathBuf> {
    let prefix = format!("{file}.damaged-");
    let mut found: Vec<PathBuf> = std::fs::read_dir(data_dir)
        .expect("data dir")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .filter(|e| !e.file_name().to_string_lossy().ends_with("-wal"))
        .map(|e| e.path())
        .collect();
    found.sort();
    found
}

#[tokio::test]
async fn damaged_state_stops_the_gateway_and_is_left_as_it_is() {
    let data = tempfile::tempdir().expect("data dir");
    let dir = data.path();
    populated(dir).await;
    for file in [CATALOG, CREDENTIALS] {
        let path = dir.join(file);
        let sound = std::fs::read(&path).expect("store written");
        for (damage, bytes, said) in damaged_versions(file, &sound) {
            std::fs::write(&path, &bytes).expect("damage");
            let Served::Exited(code, log) = serve(dir, &[]) else {
                panic!("{file} {damage}: the gateway started");
            };
            assert_eq!(code, Some(2), "{file} {damage}:\n{log}");
            for wanted in [&path.display().to_string(), "damaged", said, "--repair"] {
                assert!(
                    log.contains(wanted),
                    "{file} {damage}: no {wanted:?} in\n{log}"
                );
            }
            assert!(!log.contains("pw-pg-7f3a"), "{log}");
            assert_eq!(
                std::fs::read(&path).ok().as_ref(),
                Some(&bytes),
                "{file} {damage}: the file changed"
            );
            assert_eq!(asides(dir, file), Vec::<PathBuf>::new(), "{file} {damage}");
        }
        std::fs::write(&path, &sound).expect("restore");
    }
    // Restored, everything is there again.
    let gateway = start(dir, &[]);
    let (status, pg) = call(&gateway, "GET", "/v1/sources/pg", None).await;
    assert_eq!(status, 200, "{pg}");
    let (status, ready) = call(&gateway, "GET", "/readyz", None).await;
    assert_eq!((status, &ready), (200, &json!({"status": "ready"})));
}

#[tokio::test]
async fn repair_moves_damaged_state_aside_and_starts_afresh() {
    let data = tempfile::tempdir().expect("data dir");
    let dir = data.path();
    populated(dir).await;

    // An emptied catalog.db, which used to be replaced by a new one
    // without a word. TRIBUTARY_REPAIR is the flag's twin.
    let catalog = dir.join(CATALOG);
    std::fs::write(&catalog, b"").expect("empty it");
    let mut gateway = start(dir, &[("TRIBUTARY_REPAIR", "1")]);
    let moved = asides(dir, CATALOG);
    assert_eq!(moved.len(), 1, "{moved:?}");
    assert_eq!(std::fs::read(&moved[0]).ok(), Some(Vec::new()));
    let log = gateway.log();
    let warning = log
        .lines()
        .find(|l| l.contains("--repair") && l.contains("WARN"))
        .unwrap_or_default();
    for wanted in [
        catalog.display().to_string(),
        moved[0].display().to_string(),
    ] {
        assert!(warning.contains(&wanted), "no {wanted} in\n{log}");
    }
    let (status, listed) = call(&gateway, "GET", "/v1/sources", None).await;
    assert_eq!(status, 200, "{listed}");
    assert!(!listed.to_string().contains("\"pg\""), "{listed}");
    let (status, created) = call(&gateway, "POST", "/v1/sources", Some(source("pg"))).await;
    assert_eq!(status, 201, "{created}");
    assert!(gateway.terminate().success());

    // Flipped bytes in credentials.json, with the flag itself.
    let credentials = dir.join(CREDENTIALS);
    let mut bytes = std::fs::read(&credentials).expect("store");
    let at = bytes.len() / 2;
    bytes[at] ^= 0xff;
    std::fs::write(&credentials, &bytes).expect("flip");
    let Served::Listening(mut child, http) = serve(dir, &["--repair"]) else {
        panic!("the gateway did not start with --repair");
    };
    let moved = asides(dir, CREDENTIALS);
    assert_eq!(moved.len(), 1, "{moved:?}");
    assert_eq!(std::fs::read(&moved[0]).ok(), Some(bytes));
    assert!(!credentials.exists());
    let ready = reqwest::get(format!("http://{http}/readyz"))
        .await
        .expect("readyz");
    assert_eq!(ready.status().as_u16(), 200);
    let created = reqwest::Client::new()
        .post(format!("http://{http}/v1/sources"))
        .header("content-type", "application/json")
        .body(source("again").to_string())
        .send()
        .await
        .expect("POST");
    assert_eq!(created.status().as_u16(), 201);
    let _ = child.kill();
    let _ = child.wait();
    let names = secret_names(dir);
    assert!(names.contains("source.again.password"), "{names:?}");
}

async fn readyz(gateway: &Gateway) -> (u16, Value) {
    call(gateway, "GET", "/readyz", None).await
}

/// Overwrites the start of `path` in place, as a disk error or a stray
/// write would: same file, same size.
fn overwrite_start(path: &Path, bytes: &[u8]) {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open");
    file.seek(std::io::SeekFrom::Start(0)).expect("seek");
    file.write_all(bytes).expect("write");
    file.sync_all().expect("sync");
}

#[tokio::test]
async fn readyz_reports_a_store_that_cannot_be_read() {
    let data = tempfile::tempdir().expect("data dir");
    let dir = data.path();
    let gateway = start(dir, &[]);
    let (status, created) = call(&gateway, "POST", "/v1/sources", Some(source("pg"))).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(readyz(&gateway).await, (200, json!({"status": "ready"})));

    let catalog = dir.join(CATALOG);
    let header = std::fs::read(&catalog).expect("catalog")[..16].to_vec();
    overwrite_start(&catalog, b"garbage garbage!");
    let (status, body) = readyz(&gateway).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "unavailable", "{body}");
    assert_eq!(body["store"], catalog.display().to_string(), "{body}");
    assert!(
        body["reason"]
            .as_str()
            .is_some_and(|r| r.contains("SQLite header")),
        "{body}"
    );
    overwrite_start(&catalog, &header);
    assert_eq!(readyz(&gateway).await.0, 200);

    let moved = dir.join("catalog.db.elsewhere");
    std::fs::rename(&catalog, &moved).expect("move");
    let (status, body) = readyz(&gateway).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["reason"]
            .as_str()
            .is_some_and(|r| r.contains("removed")),
        "{body}"
    );
    std::fs::rename(&moved, &catalog).expect("move back");
    assert_eq!(readyz(&gateway).await.0, 200);

    let credentials = dir.join(CREDENTIALS);
    let sound = std::fs::read(&credentials).expect("credentials");
    std::fs::write(&credentials, &sound[..sound.len() / 2]).expect("truncate");
    let (status, body) = readyz(&gateway).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["store"], credentials.display().to_string(), "{body}");
    assert!(
        body["reason"]
            .as_str()
            .is_some_and(|r| r.contains("truncated")),
        "{body}"
    );
    std::fs::write(&credentials, &sound).expect("restore");
    assert_eq!(readyz(&gateway).await.0, 200);
    std::fs::remove_file(&credentials).expect("remove");
    let (status, body) = readyz(&gateway).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["reason"]
            .as_str()
            .is_some_and(|r| r.contains("removed")),
        "{body}"
    );
}

/// The secrets in the store, as `tributary secrets list` prints them.
fn secret_names(data_dir: &Path) -> BTreeSet<String> {
    let output = Command::new(tributary_binary())
        .arg("--data-dir")
        .arg(data_dir)
        .args(["secrets", "list"])
        .env_remove("TRIBUTARY_CONFIG")
        .env_remove("TRIBUTARY_MASTER_KEY_FILE")
        .env("TRIBUTARY_MASTER_KEY", MASTER_KEY)
        .output()
        .expect("tributary secrets list");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|line| line.contains(" | "))
        .filter_map(|line| line.split('|').next())
        .map(|cell| cell.trim().to_owned())
        .filter(|cell| cell != "name")
        .collect()
}

/// Every secret in the store is referenced by a source, and every
/// source's secret is in the store.
async fn secrets_and_sources_agree(gateway: &Gateway, data_dir: &Path, when: &str) -> usize {
    let (status, listed) = call(gateway, "GET", "/v1/sources", None).await;
    assert_eq!(status, 200, "{listed}");
    let referenced: BTreeSet<String> = listed["sources"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["definition"]["password"]["secret"].as_str())
        .map(str::to_owned)
        .collect();
    let stored = secret_names(data_dir);
    let orphans: Vec<&String> = stored.difference(&referenced).collect();
    let missing: Vec<&String> = referenced.difference(&stored).collect();
    assert!(
        orphans.is_empty() && missing.is_empty(),
        "{when}: secrets no source references {orphans:?}, sources whose secret is missing {missing:?}\n{}",
        gateway.log()
    );
    referenced.len()
}

/// Sends `POST /v1/sources` for `body` from another task.
fn post_source(
    gateway: &Gateway,
    body: Value,
) -> tokio::task::JoinHandle<Result<reqwest::Response, reqwest::Error>> {
    let url = format!("http://{}/v1/sources", gateway.http_addr);
    tokio::spawn(async move {
        reqwest::Client::new()
            .post(url)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
    })
}

/// When `path` last changed.
fn modified(path: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_and_its_secret_survive_kill_9_together() {
    const KILLS: u32 = 20;
    const AROUND_THE_WRITES: u32 = 14;
    let data = tempfile::tempdir().expect("data dir");
    let dir = data.path();
    let credentials = dir.join(CREDENTIALS);

    // When, in a creation, the secret is written (credentials.json
    // changes) and how long the whole request takes, measured as each
    // attempt runs: the first request of a freshly started server. The
    // kills are aimed around the first and spread over the second.
    let gateway = start(dir, &[]);
    let (status, created) = call(&gateway, "POST", "/v1/sources", Some(source("warm"))).await;
    assert_eq!(status, 201, "{created}");
    drop(gateway);
    let gateway = start(dir, &[]);
    let before = modified(&credentials);
    let began = Instant::now();
    let request = post_source(&gateway, source("probe"));
    let mut secret_at = None;
    while !request.is_finished() {
        if secret_at.is_none() && modified(&credentials) != before {
            secret_at = Some(began.elapsed());
        }
        std::thread::sleep(Duration::from_micros(50));
    }
    let took = began.elapsed();
    let response = request.await.expect("task").expect("POST");
    assert_eq!(response.status().as_u16(), 201);
    let secret_at = secret_at.unwrap_or(took / 2);
    for name in ["warm", "probe"] {
        let (status, _) = call(&gateway, "DELETE", &format!("/v1/sources/{name}"), None).await;
        assert_eq!(status, 204);
    }
    drop(gateway);

    let mut outcomes = String::new();
    let mut sources = 0;
    for attempt in 0..=KILLS {
        let gateway = start(dir, &[]);
        let what = format!("after kill {attempt}");
        let count = secrets_and_sources_agree(&gateway, dir, &what).await;
        if attempt > 0 {
            let removed = gateway.log().contains("removed a secret no source uses");
            // S: the source was written; R: its secret was, the source not,
            // and this start removed it; -: neither was written.
            outcomes.push(match (count > sources, removed) {
                (true, _) => 'S',
                (false, true) => 'R',
                (false, false) => '-',
            });
        }
        sources = count;
        if attempt == KILLS {
            break;
        }
        // From 1 ms before the secret is written to 2.25 ms after, every
        // 0.25 ms; then over the whole request and a little past it.
        let at = if attempt < AROUND_THE_WRITES {
            (secret_at + Duration::from_micros(250) * attempt)
                .saturating_sub(Duration::from_millis(1))
        } else {
            let step = attempt + 1 - AROUND_THE_WRITES;
            took.mul_f64(1.25 * f64::from(step) / f64::from(KILLS - AROUND_THE_WRITES))
        };
        let request = post_source(&gateway, source(&format!("s{attempt}")));
        std::thread::sleep(at);
        // Dropping it sends SIGKILL and waits for the process to end.
        drop(gateway);
        let _ = request.await;
    }
    eprintln!(
        "{KILLS} kills, the secret written {secret_at:?} into a {took:?} request: {outcomes} \
         (S source written, R secret written without its source and removed at the next start, - neither)"
    );
    assert!(
        sources > 0,
        "no kill came after a source was written: {outcomes}"
    );
}
