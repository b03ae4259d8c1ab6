//! Oracle sources. No Oracle server and no Instant Client can be had on our
//! build machines: there, a source fails with what to install while the
//! gateway and its other sources keep working. With
//! `TRIBUTARY_TEST_ORACLE_URL` (`oracle://user:password@host:port/service`,
//! and Instant Client installed) the live suite runs against a real Oracle.

use tributary_tests::Gateway;

use crate::federation::{error_of, must, rows, texts};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(1521)
}

fn instant_client_installed() -> bool {
    std::process::Command::new("ldconfig")
        .arg("-p")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("libclntsh"))
        .unwrap_or(false)
}

#[tokio::test]
async fn an_oracle_source_without_its_client_fails_alone_saying_what_to_install() {
    let lake = tempfile::tempdir().expect("lake");
    std::fs::write(lake.path().join("t.csv"), "a\n1\n2\n").expect("csv");
    let config = format!(
        "[[sources]]\nname = \"ora\"\nkind = \"oracle\"\nhost = \"127.0.0.1\"\nport = {}\n\
         service_name = \"FREEPDB1\"\nuser = \"hr\"\npassword = {{ env = \"ORA_PASSWORD\" }}\n\
         connect_timeout = \"1s\"\n\n\
         [[sources]]\nname = \"lake\"\nkind = \"files\"\nurl = \"{}/\"\n",
        free_port(),
        lake.path().display()
    );
    let gateway = Gateway::start_with(Some(&config), &[("ORA_PASSWORD", "ora-secret-51d0")]);
    let client = gateway.client().await;
    let error = error_of(&client, "SELECT * FROM ora.hr.employees").await;
    assert!(error.starts_with("08"), "{error}");
    assert!(error.contains("\"ora\""), "{error}");
    assert!(!error.contains("ora-secret"), "{error}");
    if !instant_client_installed() {
        assert!(
            error.contains("Oracle Instant Client is not installed"),
            "{error}"
        );
        assert!(error.contains("LD_LIBRARY_PATH"), "{error}");
    }
    // The gateway and its other sources are untouched.
    assert_eq!(
        texts(&must(&client, "SELECT sum(a) FROM lake.t").await),
        [["3"]]
    );
    let again = error_of(&client, "SELECT 1 FROM ora.hr.employees").await;
    assert!(again.starts_with("08"), "{again}");
}

/// `oracle://user:password@host:port/service`.
fn live_url() -> Option<(String, u16, String, String, String)> {
    let url = std::env::var("TRIBUTARY_TEST_ORACLE_URL").ok()?;
    let rest = url.strip_prefix("oracle://").unwrap_or(&url);
    let (login, address) = rest.rsplit_once('@')?;
    let (user, password) = login.split_once(':')?;
    let (host_port, service) = address.split_once('/')?;
    let (host, port) = host_port.rsplit_once(':').unwrap_or((host_port, "1521"));
    Some((
        host.to_owned(),
        port.parse().ok()?,
        service.to_owned(),
        user.to_owned(),
        password.to_owned(),
    ))
}

/// The live suite: the tables of tests/federation/oracle.sql (which the
/// person running it loads, e.g. with sqlplus) read, filtered, aggregated
/// and limited through a pushing and a pulling source, identical rows.
#[tokio::test]
async fn oracle_pushdown_never_changes_a_result_live() {
    let Some((host, port, service, user, password)) = live_url() else {
        eprintln!("TRIBUTARY_TEST_ORACLE_URL is not set: the live Oracle suite did not run");
        return;
    };
    let block = |name: &str, extra: &str| {
        format!(
            "[[sources]]\nname = \"{name}\"\nkind = \"oracle\"\nhost = \"{host}\"\nport = {port}\n\
             service_name = \"{service}\"\nuser = \"{user}\"\npassword = {{ env = \"ORA_PASSWORD\" }}\n{extra}\n"
        )
    };
    let config = [block("ora", ""), block("ora_local", "pushdown = false")].join("\n");
    let gateway = Gateway::start_with(Some(&config), &[("ORA_PASSWORD", &password)]);
    let client = gateway.client().await;
    for template in [
        "SELECT * FROM {s}.items ORDER BY id",
        "SELECT id, name FROM {s}.items WHERE qty > 3 ORDER BY id",
        "SELECT id FROM {s}.items WHERE qty IS NULL ORDER BY id",
        "SELECT category, count(*), sum(qty), min(price), max(score) FROM {s}.items GROUP BY category ORDER BY 1 NULLS FIRST",
        "SELECT id FROM {s}.items ORDER BY id LIMIT 5 OFFSET 3",
        "SELECT i.id, count(o.order_id) FROM {s}.items i LEFT JOIN {s}.orders o ON o.item_id = i.id GROUP BY i.id ORDER BY 1",
        "SELECT id, coalesce(qty, -1), nullif(qty, 0), abs(qty) FROM {s}.items ORDER BY id",
    ] {
        let pushed = rows(&client, &template.replace("{s}", "ora")).await;
        let local = rows(&client, &template.replace("{s}", "ora_local")).await;
        assert!(local.is_ok(), "{template}: {local:?}");
        assert_eq!(pushed, local, "{template}");
    }
    let plan = texts(
        &must(
            &client,
            "EXPLAIN SELECT id FROM ora.items ORDER BY id LIMIT 2",
        )
        .await,
    );
    let plan = plan.into_iter().flatten().collect::<Vec<_>>().join("\n");
    assert!(plan.contains("FETCH FIRST 2 ROWS ONLY"), "{plan}");
}
