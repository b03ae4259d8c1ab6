use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tempfile::TempDir;
use tokio_postgres::{Client, NoTls};

/// The `tributary` binary of this build: `TRIBUTARY_BIN`, or beside the
/// test executable (`target/<profile>/tributary`).
pub fn tributary_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("TRIBUTARY_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().unwrap_or_default();
    // target/debug/deps/e2e-hash → target/debug/tributary
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .unwrap_or(Path::new("."));
    let binary = profile_dir.join("tributary");
    assert!(
        binary.exists(),
        "{} is missing: run `cargo build -p tributary-gateway` first (the README test command does)",
        binary.display()
    );
    binary
}

/// Runs `tributary ARGS` to completion with `stdin`.
pub fn cli(args: &[&str], stdin: Option<&str>) -> Output {
    use std::io::Write;
    let mut child = Command::new(tributary_binary())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start tributary");
    if let (Some(mut pipe), Some(text)) = (child.stdin.take(), stdin) {
        pipe.write_all(text.as_bytes()).expect("cannot write stdin");
    }
    child.wait_with_output().expect("tributary did not finish")
}

/// A running `tributary serve` with its own data dir and a free port.
pub struct Gateway {
    child: Child,
    pub addr: SocketAddr,
    /// The HTTP API.
    pub http_addr: SocketAddr,
    pub data_dir: PathBuf,
    /// The config file it was started with, if any.
    pub config_path: Option<PathBuf>,
    log: Arc<Mutex<String>>,
    _temp: TempDir,
}

impl Gateway {
    /// Starts on the embedded default (the sample dataset).
    pub fn start() -> Self {
        Self::start_with(None, &[])
    }

    /// Starts with `config` (TOML text) if given, and extra environment.
    pub fn start_with(config: Option<&str>, env: &[(&str, &str)]) -> Self {
        Self::start_in(None, config, env)
    }

    /// As `start_with`, in `data_dir` if given (a credentials store made
    /// beforehand), else in a fresh one.
    pub fn start_in(data_dir: Option<&Path>, config: Option<&str>, env: &[(&str, &str)]) -> Self {
        let temp = tempfile::tempdir().expect("temp dir");
        let data_dir = data_dir.map_or_else(|| temp.path().join("data"), Path::to_owned);
        let mut command = Command::new(tributary_binary());
        command
            .arg("serve")
            .arg("--pg-addr")
            .arg("127.0.0.1:0")
            .arg("--http-addr")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(&data_dir)
            .env_remove("TRIBUTARY_CONFIG")
            .env_remove("TRIBUTARY_PG_ADDR")
            .env("TRIBUTARY_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let config_path = config.map(|text| {
            let path = temp.path().join("tributary.toml");
            std::fs::write(&path, text).expect("write config");
            command.arg("--config").arg(&path);
            path
        });
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("cannot start tributary serve");
        let stderr = child.stderr.take().expect("stderr is piped");
        let log = Arc::new(Mutex::new(String::new()));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (http_tx, http_rx) = std::sync::mpsc::channel::<String>();
        let log_writer = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.split("http listening on ").nth(1) {
                    let addr = rest
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_owned();
                    let _ = http_tx.send(addr);
                }
                if let Some(rest) = line.split("pg wire listening on ").nth(1) {
                    let addr = rest
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_owned();
                    let _ = addr_tx.send(addr);
                }
                if let Ok(mut log) = log_writer.lock() {
                    log.push_str(&line);
                    log.push('\n');
                }
            }
        });
        let addr = match addr_rx.recv_timeout(Duration::from_secs(60)) {
            Ok(addr) => addr.parse().expect("listening address"),
            Err(_) => {
                let _ = child.kill();
                let log = log.lock().map(|l| l.clone()).unwrap_or_default();
                panic!("tributary serve did not start listening:\n{log}");
            }
        };
        // The HTTP address is logged before the pg wire's.
        let http_addr = http_rx
            .recv_timeout(Duration::from_secs(1))
            .ok()
            .and_then(|addr| addr.parse().ok())
            .unwrap_or(addr);
        Self {
            child,
            addr,
            http_addr,
            data_dir,
            config_path,
            log,
            _temp: temp,
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    pub fn connection_string(&self) -> String {
        format!(
            "host={} port={} user=tributary dbname=tributary",
            self.addr.ip(),
            self.addr.port()
        )
    }

    pub async fn client(&self) -> Client {
        let (client, connection) = tokio_postgres::connect(&self.connection_string(), NoTls)
            .await
            .expect("connect to tributary");
        tokio::spawn(async move {
            let _ = connection.await;
        });
        client
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("tributary did not stop within 30 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
