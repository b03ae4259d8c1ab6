//! Files sources on local disk: naming, formats and their options, globs,
//! hive partitions, files that are skipped.

use tributary_tests::Gateway;

fn start(config: &str) -> Gateway {
    Gateway::start_with(Some(config), &[])
}

#[tokio::test]
async fn csv_options_globs_and_skipped_files() {
    let dir = tempfile::tempdir().expect("temp");
    let root = dir.path();
    // Semicolons, no header.
    std::fs::create_dir_all(root.join("raw")).expect("mkdir");
    std::fs::write(root.join("raw/Readings.txt"), "1;7.5;north\n2;8.25;south\n").expect("write");
    // A glob: every CSV of a folder is one table.
    std::fs::create_dir_all(root.join("logs")).expect("mkdir");
    std::fs::write(root.join("logs/a.csv"), "level,n\ninfo,1\n").expect("write");
    std::fs::write(root.join("logs/b.csv"), "level,n\nwarn,2\n").expect("write");
    std::fs::write(root.join("logs/notes.md"), "not data").expect("write");
    // Partitioned folder with a marker file and a hidden file.
    std::fs::create_dir_all(root.join("visits/day=1")).expect("mkdir");
    std::fs::create_dir_all(root.join("visits/day=2")).expect("mkdir");
    std::fs::write(
        root.join("visits/day=1/part.ndjson"),
        "{\"user\":\"a\"}\n{\"user\":\"b\"}\n",
    )
    .expect("write");
    std::fs::write(root.join("visits/day=2/part.ndjson"), "{\"user\":\"c\"}\n").expect("write");
    std::fs::write(root.join("visits/_SUCCESS"), "").expect("write");
    std::fs::write(root.join(".hidden.csv"), "x\n1\n").expect("write");

    let config = format!(
        "[[sources]]\nname = \"raw\"\nkind = \"files\"\nurl = \"{root}/raw/\"\nformat = \"csv\"\nheader = false\ndelimiter = \";\"\n\n\
         [[sources]]\nname = \"logs\"\nkind = \"files\"\nurl = \"{root}/logs/*.csv\"\n\n\
         [[sources]]\nname = \"site\"\nkind = \"files\"\nurl = \"{root}/\"\n",
        root = root.display()
    );
    let gateway = start(&config);
    let client = gateway.client().await;

    let rows = client
        .query(
            "SELECT column_1, column_3 FROM raw.readings ORDER BY column_1",
            &[],
        )
        .await
        .expect("headerless csv");
    let rows: Vec<(i64, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(rows, [(1, "north".to_owned()), (2, "south".to_owned())]);

    let levels: Vec<String> = client
        .query("SELECT level FROM logs.logs ORDER BY n", &[])
        .await
        .expect("glob")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(levels, ["info", "warn"]);

    let visits = client
        .query(
            "SELECT day, count(*) FROM site.visits GROUP BY day ORDER BY day",
            &[],
        )
        .await
        .expect("partitioned ndjson");
    let visits: Vec<(String, i64)> = visits.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(visits, [("1".to_owned(), 2), ("2".to_owned(), 1)]);

    // The site source has the folders with data files as tables: not raw/
    // (no known extension), not .hidden.csv, not _SUCCESS.
    let tables: Vec<String> = client
        .query(
            "SELECT table_name FROM information_schema.tables WHERE table_catalog = 'site' AND table_schema = 'public' ORDER BY 1",
            &[],
        )
        .await
        .expect("information_schema")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(tables, ["logs", "visits"]);
}

#[tokio::test]
async fn a_missing_env_reference_fails_only_its_source() {
    let dir = tempfile::tempdir().expect("temp");
    std::fs::write(dir.path().join("ok.csv"), "a\n1\n").expect("write");
    let config = format!(
        "[[sources]]\nname = \"good\"\nkind = \"files\"\nurl = \"{root}/\"\n\n\
         [[sources]]\nname = \"cloud\"\nkind = \"files\"\nurl = \"s3://bucket/x/\"\n\
         [sources.options]\nsecret_access_key = {{ env = \"TRIBUTARY_TEST_NEVER_SET\" }}\n",
        root = dir.path().display()
    );
    let gateway = start(&config);
    let client = gateway.client().await;
    let error = client
        .simple_query("SELECT * FROM cloud.anything")
        .await
        .expect_err("unavailable");
    let message = error
        .as_db_error()
        .map(|e| e.message().to_owned())
        .unwrap_or_default();
    assert!(
        message.contains("TRIBUTARY_TEST_NEVER_SET") && message.contains("cloud"),
        "{message}"
    );
    let rows = client
        .query("SELECT count(*) FROM good.ok", &[])
        .await
        .expect("good source");
    assert_eq!(rows[0].get::<_, i64>(0), 1);
}
