//! The store against its promises: round trip, wrong key, tampering,
//! swapped records, rotation, concurrent writers.

use secrecy::{ExposeSecret, SecretString};

use super::*;

fn secret(text: &str) -> SecretString {
    SecretString::from(text.to_owned())
}

fn value(store: &CredentialStore, name: &str) -> Result<String, CredentialsError> {
    store.get(name).map(|s| s.expose_secret().to_owned())
}

fn store_json(dir: &std::path::Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join(STORE_FILE)).unwrap_or_default();
    serde_json::from_str(&text).unwrap_or_default()
}

fn write_json(dir: &std::path::Path, json: &serde_json::Value) {
    std::fs::write(dir.join(STORE_FILE), json.to_string()).unwrap_or_default();
}

#[test]
fn secrets_round_trip_and_are_not_stored_in_clear() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = CredentialStore::new(dir.path(), MasterKey::generate());
    store.set("sales-db", &secret("pa55-w0rd-x")).expect("set");
    store
        .set("lake.s3", &secret("AKIA/secret+key"))
        .expect("set");
    assert_eq!(
        value(&store, "sales-db").ok().as_deref(),
        Some("pa55-w0rd-x")
    );
    assert_eq!(
        value(&store, "lake.s3").ok().as_deref(),
        Some("AKIA/secret+key")
    );
    let names: Vec<String> = store
        .list()
        .expect("list")
        .into_iter()
        .map(|i| i.name)
        .collect();
    assert_eq!(names, ["lake.s3", "sales-db"]);
    let on_disk = std::fs::read_to_string(dir.path().join(STORE_FILE)).expect("read");
    assert!(
        !on_disk.contains("pa55-w0rd-x") && !on_disk.contains("AKIA"),
        "{on_disk}"
    );
    // Updating keeps the creation time.
    let before = store.list().expect("list");
    store.set("sales-db", &secret("new-value")).expect("set");
    let after = store.list().expect("list");
    assert_eq!(before[1].created, after[1].created);
    assert!(after[1].updated >= before[1].updated);
    assert_eq!(value(&store, "sales-db").ok().as_deref(), Some("new-value"));
    assert!(store.remove("sales-db").expect("remove"));
    assert!(!store.remove("sales-db").expect("remove again"));
    assert!(matches!(
        value(&store, "sales-db"),
        Err(CredentialsError::NotFound { .. })
    ));
}

#[test]
fn a_wrong_master_key_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    CredentialStore::new(dir.path(), MasterKey::generate())
        .set("db", &secret("v1"))
        .expect("set");
    let before = std::fs::read(dir.path().join(STORE_FILE)).expect("read");
    let wrong = CredentialStore::new(dir.path(), MasterKey::generate());
    assert!(matches!(
        wrong.get("db"),
        Err(CredentialsError::WrongMasterKey { .. })
    ));
    assert!(matches!(
        wrong.list(),
        Err(CredentialsError::WrongMasterKey { .. })
    ));
    assert!(matches!(
        wrong.set("other", &secret("v2")),
        Err(CredentialsError::WrongMasterKey { .. })
    ));
    assert!(matches!(
        wrong.rotate(&MasterKey::generate()),
        Err(CredentialsError::WrongMasterKey { .. })
    ));
    assert_eq!(
        std::fs::read(dir.path().join(STORE_FILE)).expect("read"),
        before
    );
}

#[test]
fn a_flipped_byte_or_swapped_records_are_detected() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = CredentialStore::new(dir.path(), MasterKey::generate());
    store.set("a", &secret("value-a")).expect("set");
    store.set("b", &secret("value-b")).expect("set");
    let original = store_json(dir.path());

    let mut swapped = original.clone();
    let a = swapped["secrets"]["a"]["sealed"].clone();
    swapped["secrets"]["a"]["sealed"] = swapped["secrets"]["b"]["sealed"].clone();
    swapped["secrets"]["b"]["sealed"] = a;
    write_json(dir.path(), &swapped);
    assert!(
        matches!(store.get("a"), Err(CredentialsError::Tampered { ref name, .. }) if name == "a")
    );
    assert!(matches!(
        store.list(),
        Err(CredentialsError::Tampered { .. })
    ));

    let mut flipped = original.clone();
    let sealed = flipped["secrets"]["b"]["sealed"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let mut bytes = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, sealed)
        .unwrap_or_default();
    if let Some(byte) = bytes.get_mut(30) {
        *byte ^= 0x01;
    }
    flipped["secrets"]["b"]["sealed"] =
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, bytes).into();
    write_json(dir.path(), &flipped);
    assert!(matches!(
        store.get("b"),
        Err(CredentialsError::Tampered { .. })
    ));
    assert_eq!(value(&store, "a").ok().as_deref(), Some("value-a"));

    let mut garbled = original;
    garbled["data_key"] = "AAAA".into();
    write_json(dir.path(), &garbled);
    assert!(matches!(
        store.get("a"),
        Err(CredentialsError::WrongMasterKey { .. })
    ));
    std::fs::write(dir.path().join(STORE_FILE), "{ not json").expect("write");
    assert!(matches!(
        store.get("a"),
        Err(CredentialsError::Corrupt { .. })
    ));
}

#[test]
fn rotation_keeps_every_secret_and_retires_the_old_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let old = MasterKey::generate();
    let new = MasterKey::generate();
    let store = CredentialStore::new(dir.path(), old.clone());
    for n in 0..5 {
        store
            .set(&format!("s{n}"), &secret(&format!("value-{n}")))
            .expect("set");
    }
    store.rotate(&new).expect("rotate");
    let rotated = CredentialStore::new(dir.path(), new);
    for n in 0..5 {
        assert_eq!(
            value(&rotated, &format!("s{n}")).ok(),
            Some(format!("value-{n}"))
        );
    }
    assert!(matches!(
        store.get("s0"),
        Err(CredentialsError::WrongMasterKey { .. })
    ));
}

#[test]
fn concurrent_writers_lose_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let key = MasterKey::generate();
    std::thread::scope(|scope| {
        for writer in 0..4 {
            let key = key.clone();
            let dir = dir.path();
            scope.spawn(move || {
                let store = CredentialStore::new(dir, key);
                for n in 0..10 {
                    store
                        .set(&format!("w{writer}-{n}"), &secret(&format!("{writer}/{n}")))
                        .expect("set");
                }
            });
        }
    });
    let store = CredentialStore::new(dir.path(), key);
    assert_eq!(store.list().expect("list").len(), 40);
    assert_eq!(value(&store, "w3-9").ok().as_deref(), Some("3/9"));
}

#[test]
fn names_are_checked() {
    assert!(check_name("sales-db.v2_x").is_ok());
    for bad in ["", "a b", "x/y", "é"] {
        assert!(check_name(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn debug_and_errors_carry_no_secret() {
    let dir = tempfile::tempdir().expect("temp dir");
    let key = MasterKey::generate();
    let store = CredentialStore::new(dir.path(), key.clone());
    store.set("db", &secret("top-secret-value")).expect("set");
    let got = store.get("db").expect("get");
    let shown = format!("{got:?} {store:?} {:?}", store.list());
    assert!(!shown.contains("top-secret-value"), "{shown}");
    assert!(!shown.contains(key.to_hex().as_str()), "{shown}");
}

#[test]
fn a_damaged_file_is_refused_by_every_operation_and_never_rewritten() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = CredentialStore::new(dir.path(), MasterKey::generate());
    store.set("a", &secret("value-a")).expect("set");
    store.set("b", &secret("value-b")).expect("set");
    assert_eq!(store.verify().expect("verify"), Some(2));
    assert_eq!(
        CredentialStore::inspect(dir.path()).expect("inspect"),
        Some(2)
    );
    let path = dir.path().join(STORE_FILE);
    let sound = std::fs::read(&path).expect("read");
    let mut flipped = sound.clone();
    let middle = flipped.len() / 2;
    flipped[middle..middle + 4]
        .iter_mut()
        .for_each(|b| *b ^= 0xff);
    let text = String::from_utf8(sound.clone()).expect("text");
    let renamed = text.replacen("\"updated\"", "\"updatec\"", 1).into_bytes();
    let bad_time = text
        .replacen("\"created\": \"2", "\"created\": \"X", 1)
        .into_bytes();
    let cases: [(&str, Vec<u8>, &str); 5] = [
        ("empty", Vec::new(), "empty (0 bytes)"),
        ("truncated", sound[..sound.len() / 2].to_vec(), "truncated"),
        ("flipped", flipped, "not UTF-8"),
        ("renamed field", renamed, "updatec"),
        ("bad time", bad_time, "RFC 3339"),
    ];
    for (case, bytes, said) in cases {
        std::fs::write(&path, &bytes).expect("write");
        for error in [
            store.verify().err(),
            CredentialStore::inspect(dir.path()).err(),
            store.set("c", &secret("value-c")).err(),
            store.remove("a").err(),
            store.get("a").err(),
        ] {
            let error = error.expect("refused");
            assert!(error.is_damage(), "{case}: {error}");
            let message = error.to_string();
            assert!(message.contains(said), "{case}: {message}");
            assert!(
                message.contains(&path.display().to_string()),
                "{case}: {message}"
            );
            assert!(!message.contains("value-"), "{case}: {message}");
        }
        assert_eq!(std::fs::read(&path).expect("read"), bytes, "{case}");
    }
    // A sealed value changed to other valid base64 passes the key-less
    // check; opening every record finds it.
    let mut json: serde_json::Value = serde_json::from_slice(&sound).expect("json");
    let sealed = json["secrets"]["b"]["sealed"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let swapped: String = sealed
        .chars()
        .enumerate()
        .map(|(at, c)| {
            if at == 10 {
                if c == 'A' { 'B' } else { 'A' }
            } else {
                c
            }
        })
        .collect();
    json["secrets"]["b"]["sealed"] = swapped.into();
    write_json(dir.path(), &json);
    assert_eq!(
        CredentialStore::inspect(dir.path()).expect("inspect"),
        Some(2)
    );
    let error = store.verify().expect_err("tampered");
    assert!(
        error.is_damage() && matches!(error, CredentialsError::Tampered { .. }),
        "{error}"
    );
    assert!(!CredentialsError::NoMasterKey.is_damage());
    std::fs::remove_file(&path).expect("remove");
    assert_eq!(store.verify().expect("verify"), None);
}
