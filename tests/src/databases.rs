//! Real PostgreSQL 15 and MariaDB servers for federation tests, each in a
//! temp dir on a free loopback port, stopped on drop. SQL is loaded through
//! their own command-line clients.

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";
/// The password of the role tests connect as (`tributary`), on both servers.
pub const DATABASE_PASSWORD: &str = "fed-pass-3c9b1e77";

/// A server program: on PATH, or where Debian puts it (`/usr/sbin` is not
/// on every PATH).
fn program(name: &str) -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| PathBuf::from(name))
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn check(output: Output, what: &str) -> String {
    assert!(
        output.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn run_with_stdin(command: &mut Command, stdin: &str, what: &str) -> String {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    if let Some(mut pipe) = child.stdin.take() {
        pipe.write_all(stdin.as_bytes()).expect("write stdin");
    }
    check(child.wait_with_output().expect("wait"), what)
}

pub(crate) fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not listen on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// PostgreSQL 15: password (scram) auth over TCP, trust on its socket.
pub struct PostgresServer {
    pub port: u16,
    dir: TempDir,
}

impl PostgresServer {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        check(
            Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .output()
                .expect("chown"),
            "chown",
        );
        let pwfile = dir.path().join("pw");
        std::fs::write(&pwfile, "postgres-superuser-pw\n").expect("pwfile");
        check(
            Command::new("chown")
                .arg("postgres")
                .arg(&pwfile)
                .output()
                .expect("chown"),
            "chown",
        );
        check(
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(format!("{PG_BIN}/initdb"))
                .arg("-D")
                .arg(dir.path().join("data"))
                .args([
                    "-U",
                    "postgres",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    "--no-locale",
                    "--encoding=UTF8",
                    "--no-sync",
                ])
                .arg(format!("--pwfile={}", pwfile.display()))
                .output()
                .expect("initdb"),
            "initdb",
        );
        let server = Self {
            port: free_port(),
            dir,
        };
        server.start_again();
        server.psql(&format!(
            "CREATE ROLE tributary LOGIN PASSWORD '{DATABASE_PASSWORD}';\n\
             CREATE DATABASE fed OWNER tributary;"
        ));
        server
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn pg_ctl(&self, args: &[&str]) -> Output {
        Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(format!("{PG_BIN}/pg_ctl"))
            .arg("-D")
            .arg(self.data())
            .args(args)
            .output()
            .expect("pg_ctl")
    }

    /// Starts the server (again) on its port.
    pub fn start_again(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c TimeZone=UTC",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("log");
        check(
            self.pg_ctl(&[
                "-w",
                "-l",
                &log.display().to_string(),
                "-o",
                &options,
                "start",
            ]),
            "pg_ctl start",
        );
    }

    /// Stops the server, dropping every connection.
    pub fn stop(&self) {
        check(
            self.pg_ctl(&["-m", "immediate", "-w", "stop"]),
            "pg_ctl stop",
        );
    }

    /// Logs every statement, with its bound parameters, to `log()`.
    pub fn log_statements(&self) {
        self.psql("ALTER SYSTEM SET log_statement = 'all';\nSELECT pg_reload_conf();");
    }

    /// Runs a SQL script in database `fed` as role `tributary` (the owner
    /// of what it creates); stops at the first error.
    pub fn sql(&self, script: &str) -> String {
        self.psql_in("fed", "tributary", script)
    }

    /// Creates database `name` owned by `tributary`; `options` as in
    /// `CREATE DATABASE … WITH options`.
    pub fn create_database(&self, name: &str, options: &str) {
        self.psql(&format!(
            "CREATE DATABASE {name} OWNER tributary {options};"
        ));
    }

    /// Runs a SQL script in `database` as role `tributary`.
    pub fn sql_in(&self, database: &str, script: &str) -> String {
        self.psql_in(database, "tributary", script)
    }

    fn psql(&self, script: &str) -> String {
        self.psql_in("postgres", "postgres", script)
    }

    fn psql_in(&self, database: &str, user: &str, script: &str) -> String {
        run_with_stdin(
            Command::new("psql")
                .arg("-h")
                .arg(self.dir.path())
                .args(["-p", &self.port.to_string(), "-U", user, "-d", database])
                .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-f", "-"]),
            script,
            "psql",
        )
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        let _ = self.pg_ctl(&["-m", "immediate", "-w", "stop"]);
    }
}

/// MariaDB with a `tributary` user (password auth) over TCP.
pub struct MariaDbServer {
    pub port: u16,
    dir: TempDir,
    child: Option<Child>,
}

impl MariaDbServer {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        // Its own tmpdir: concurrent servers otherwise collide on /tmp files.
        std::fs::create_dir(dir.path().join("tmp")).expect("tmp dir");
        check(
            Command::new(program("mariadb-install-db"))
                .arg("--no-defaults")
                .arg(format!("--tmpdir={}", dir.path().join("tmp").display()))
                .arg(format!("--datadir={}", dir.path().join("data").display()))
                .args([
                    "--user=root",
                    "--auth-root-authentication-method=normal",
                    "--skip-test-db",
                ])
                .output()
                .expect("mariadb-install-db (apt-get install mariadb-server)"),
            "mariadb-install-db",
        );
        let mut server = Self {
            port: free_port(),
            dir,
            child: None,
        };
        server.start_again();
        server.root_sql(&format!(
            "CREATE USER 'tributary'@'%' IDENTIFIED BY '{DATABASE_PASSWORD}';\n\
             CREATE DATABASE fed CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;\n\
             GRANT ALL ON *.* TO 'tributary'@'%';"
        ));
        server
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("sock")
    }

    pub fn start_again(&mut self) {
        let child = Command::new(program("mariadbd"))
            .arg("--no-defaults")
            .arg(format!(
                "--datadir={}",
                self.dir.path().join("data").display()
            ))
            .arg(format!(
                "--tmpdir={}",
                self.dir.path().join("tmp").display()
            ))
            .arg(format!("--port={}", self.port))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--socket={}", self.socket().display()))
            .arg(format!(
                "--pid-file={}",
                self.dir.path().join("pid").display()
            ))
            .arg(format!(
                "--log-error={}",
                self.dir.path().join("err.log").display()
            ))
            .args([
                "--user=root",
                "--skip-log-bin",
                "--default-time-zone=+00:00",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mariadbd");
        self.child = Some(child);
        wait_for_port(self.port, "mariadbd");
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn root_sql(&self, script: &str) -> String {
        self.client_sql(None, script)
    }

    /// Runs a SQL script in database `fed`; stops at the first error.
    pub fn sql(&self, script: &str) -> String {
        self.client_sql(Some("fed"), script)
    }

    fn client_sql(&self, database: Option<&str>, script: &str) -> String {
        let mut command = Command::new(program("mariadb"));
        command
            .arg("--no-defaults")
            .arg("-uroot")
            .arg(format!("--socket={}", self.socket().display()))
            .args(["--batch", "--skip-column-names"]);
        if let Some(database) = database {
            command.arg(database);
        }
        run_with_stdin(&mut command, script, "mariadb")
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for MariaDbServer {
    fn drop(&mut self) {
        self.stop();
    }
}
