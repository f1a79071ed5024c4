//! Upgrading from a database written by release 0.1.0 (schema 2): nothing a running server
//! remembered is lost, and each name a key owned becomes a one-key account.

use chat_core::journal::BanTarget;
use chat_core::prefs::{Theme, TimestampMode};
use chat_store::{Directory, SqliteDirectory, SqliteStore, Store};

const ALICE: &str = "SHA256:q6Jzuz6R9XMzH2aDAnLmXuTEhAbkZCBKq1PmNaz6k3c";
const ROBERT: &str = "SHA256:8Cb3hES3ePfyUSbR3KQzH2nWYwAUbouLCaUcVOstjT4";
const CAROL: &str = "SHA256:mKDmDsezbsum8KT95RU9AJu6B7ymjXCvxZ+ulTTFpno";

/// A copy of the fixture (see its README), so the test never changes the original.
fn old_database() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chat.db");
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/release-0.1.0/chat.db"
    );
    std::fs::copy(fixture, &path).unwrap();
    (dir, path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_owned_by_keys_become_one_key_accounts() {
    let (_dir, path) = old_database();
    let store = SqliteStore::open(&path).unwrap();
    let directory = SqliteDirectory::open(&path).unwrap();
    let accounts = directory.accounts().await.unwrap();
    let summary: Vec<(String, Vec<String>, bool)> = accounts
        .iter()
        .map(|a| {
            let keys = a.keys.iter().map(|k| k.fingerprint.clone()).collect();
            (a.name.clone(), keys, a.operator)
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("alice".to_owned(), vec![ALICE.to_owned()], false),
            ("carol".to_owned(), vec![CAROL.to_owned()], false),
            ("robert".to_owned(), vec![ROBERT.to_owned()], true),
        ],
        "bob renamed himself robert, and was made an operator with /op"
    );
    // Their key lines are not known until each logs in again.
    assert!(accounts.iter().all(|a| a.keys[0].public_key.is_empty()));
    let login = directory.login(ROBERT, Some("alice")).await.unwrap();
    assert_eq!(login.account.unwrap().name, "robert");
    assert_eq!(login.name_owner.unwrap().1, "alice");
    // The upgrade says what it did in the audit trail.
    let audit = directory.audit_log(10).await.unwrap();
    assert_eq!(audit.len(), 3);
    assert!(audit.iter().all(|e| e.actor.who == "schema upgrade"));
    drop(store);
}

#[test]
fn history_settings_bans_and_messages_survive() {
    let (_dir, path) = old_database();
    let store = SqliteStore::open(&path).unwrap();
    let snapshot = store.snapshot(50, 10).unwrap();
    let lines: Vec<(&str, &str)> = snapshot
        .history
        .iter()
        .map(|l| (l.from.as_str(), l.text.as_str()))
        .collect();
    assert_eq!(
        lines,
        [
            ("alice", "hello from alice"),
            ("robert", "hi, I am robert now"),
            ("carol", "hello")
        ]
    );
    assert_eq!(snapshot.bans.len(), 1);
    assert_eq!(
        snapshot.bans[0].target,
        BanTarget::Ip("10.1.2.3".parse().unwrap())
    );
    assert!(
        snapshot.operators.is_empty(),
        "operators are the directory's now"
    );
    // What was kept per key is kept per account now.
    let directory = SqliteDirectory::open(&path).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let account = |fp: &str| {
        runtime
            .block_on(directory.login(fp, None))
            .unwrap()
            .account
            .unwrap()
            .id
    };
    let (alice_id, carol_id) = (account(ALICE), account(CAROL));
    assert_eq!(snapshot.offline_counts, [(carol_id.clone(), 2)]);
    let alice = store.profile(&alice_id).unwrap();
    assert_eq!(alice.settings.prefs.theme, Theme::Mono);
    assert_eq!(alice.settings.prefs.timestamp, TimestampMode::DateTime);
    assert_eq!(alice.settings.prefs.offset.minutes(), 120);
    let carol = store.profile(&carol_id).unwrap();
    let waiting: Vec<(&str, &str)> = carol
        .offline
        .iter()
        .map(|m| (m.from.as_str(), m.text.as_str()))
        .collect();
    assert_eq!(
        waiting,
        [("alice", "are you there"), ("robert", "offline note")]
    );
}

#[test]
fn an_upgraded_database_opens_again_unchanged() {
    let (_dir, path) = old_database();
    drop(SqliteStore::open(&path).unwrap());
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.line_count().unwrap(), 3);
}
