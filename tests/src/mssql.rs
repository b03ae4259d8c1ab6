//! A SQL Server for tests: a real one when `TRIBUTARY_TEST_MSSQL_URL` is
//! set (`mssql://user:password@host:port/database`; docker/ starts one),
//! otherwise pysqlbridge, a read-only TDS server over CSV files (PyPI; no
//! SQL Server can run on our build machines). Both hold the federation test
//! data of tests/federation/ under the same table names.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use tempfile::TempDir;

use crate::databases::{DATABASE_PASSWORD, free_port, wait_for_port};

/// Where the test reaches SQL Server, as a source's config needs it.
pub struct MssqlServer {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    pub database: String,
    /// Whether this is pysqlbridge (CSV-typed columns, no DDL).
    pub is_bridge: bool,
    bridge: Option<Bridge>,
}

struct Bridge {
    program: PathBuf,
    dir: TempDir,
    child: Option<Child>,
}

/// The pysqlbridge program: `TRIBUTARY_PYSQLBRIDGE` (dev/test.sh makes a
/// venv for it), else on PATH.
fn bridge_program() -> PathBuf {
    std::env::var_os("TRIBUTARY_PYSQLBRIDGE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("pysqlbridge"))
}

impl MssqlServer {
    /// The real server named by `TRIBUTARY_TEST_MSSQL_URL`, if any.
    pub fn real() -> Option<Self> {
        let url = std::env::var("TRIBUTARY_TEST_MSSQL_URL").ok()?;
        let rest = url.strip_prefix("mssql://").unwrap_or(&url);
        let (login, address) = rest
            .rsplit_once('@')
            .expect("mssql://user:password@host:port/db");
        let (user, password) = login.split_once(':').expect("user:password");
        let (host_port, database) = address.split_once('/').unwrap_or((address, "master"));
        let (host, port) = host_port.rsplit_once(':').unwrap_or((host_port, "1433"));
        Some(Self {
            host: host.to_owned(),
            port: port.parse().expect("port"),
            user: user.to_owned(),
            password: password.to_owned(),
            database: database.to_owned(),
            is_bridge: false,
            bridge: None,
        })
    }

    /// pysqlbridge serving `tables` (name, CSV text with a header), with a
    /// login `tributary` / [`DATABASE_PASSWORD`].
    pub fn bridge(tables: &[(&str, String)]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut entries = Vec::new();
        for (name, csv) in tables {
            let file = format!("{name}.csv");
            std::fs::write(dir.path().join(&file), csv).expect("write csv");
            entries.push(serde_json::json!({ "name": name, "csv": file }));
        }
        let config = serde_json::json!({
            "logins": [{ "user": "tributary", "password": DATABASE_PASSWORD }],
            "tables": entries,
        });
        std::fs::write(dir.path().join("config.json"), config.to_string()).expect("config");
        let mut server = Self {
            host: "127.0.0.1".to_owned(),
            port: free_port(),
            user: "tributary".to_owned(),
            password: DATABASE_PASSWORD.to_owned(),
            database: "pysqlbridge".to_owned(),
            is_bridge: true,
            bridge: Some(Bridge {
                program: bridge_program(),
                dir,
                child: None,
            }),
        };
        server.start_again();
        server
    }

    /// Starts pysqlbridge again on the same port (after [`Self::stop`]).
    pub fn start_again(&mut self) {
        let port = self.port;
        let Some(bridge) = self.bridge.as_mut() else {
            return;
        };
        let log = std::fs::File::create(bridge.dir.path().join("server.log")).expect("log");
        let child = Command::new(&bridge.program)
            .arg("--config")
            .arg(bridge.dir.path().join("config.json"))
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {} ({e}): pip install pysqlbridge==2.1.3, or set TRIBUTARY_PYSQLBRIDGE",
                    bridge.program.display()
                )
            });
        bridge.child = Some(child);
        wait_for_port(port, "pysqlbridge");
    }

    /// pysqlbridge only: the login's password from the next start on.
    pub fn set_password(&mut self, password: &str) {
        let Some(bridge) = self.bridge.as_ref() else {
            return;
        };
        let path = bridge.dir.path().join("config.json");
        let text = std::fs::read_to_string(&path).expect("config");
        let text = text.replace(
            &format!("\"{}\"", self.password),
            &format!("\"{password}\""),
        );
        std::fs::write(&path, text).expect("config");
        self.password = password.to_owned();
    }

    /// Stops pysqlbridge (a real server is left alone).
    pub fn stop(&mut self) {
        if let Some(child) = self.bridge.as_mut().and_then(|b| b.child.as_mut()) {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(bridge) = self.bridge.as_mut() {
            bridge.child = None;
        }
    }

    /// Runs a T-SQL batch on the real server (pysqlbridge takes no DDL).
    pub async fn run_script(&self, script: &str) -> Result<(), String> {
        use tokio_util::compat::TokioAsyncWriteCompatExt;
        let mut config = tiberius::Config::new();
        config.host(&self.host);
        config.port(self.port);
        config.database(&self.database);
        config.trust_cert();
        config.authentication(tiberius::AuthMethod::sql_server(&self.user, &self.password));
        let tcp = tokio::net::TcpStream::connect(config.get_addr())
            .await
            .map_err(|e| e.to_string())?;
        let mut client = tiberius::Client::connect(config, tcp.compat_write())
            .await
            .map_err(|e| e.to_string())?;
        // GO separates batches, as in sqlcmd.
        for batch in script.split("\nGO\n") {
            client
                .simple_query(batch)
                .await
                .map_err(|e| e.to_string())?
                .into_results()
                .await
                .map_err(|e| format!("{e}\n{batch}"))?;
        }
        Ok(())
    }

    /// The server's log (pysqlbridge only): the statements it received.
    pub fn log(&self) -> String {
        self.bridge
            .as_ref()
            .and_then(|b| std::fs::read_to_string(b.dir.path().join("server.log")).ok())
            .unwrap_or_default()
    }
}

impl Drop for MssqlServer {
    fn drop(&mut self) {
        self.stop();
    }
}
