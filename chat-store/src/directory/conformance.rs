//! The behaviour every [`Directory`] must have, as one suite: run [`run_all`] against a new
//! backend (the SQLite, in-memory and DynamoDB directories all do, in their tests).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use chat_core::AccountRef;
use chrono::{DateTime, TimeZone, Utc};

use super::{Account, Actor, Directory, DirectoryError, MAX_KEYS_PER_ACCOUNT, NewKey};

/// Makes a fresh, empty directory for each check.
pub type MakeDirectory<'a> =
    &'a (dyn Fn() -> Pin<Box<dyn Future<Output = Arc<dyn Directory>> + Send>> + Sync);

type CheckFuture = Pin<Box<dyn Future<Output = ()> + Send>>;
type Check = (&'static str, fn(Arc<dyn Directory>) -> CheckFuture);

/// Runs every check against a fresh directory each; panics with the check's name on the first
/// failure.
pub async fn run_all(make: MakeDirectory<'_>) {
    let checks: &[Check] = &[
        ("an account is found by key, name and id", |d| {
            Box::pin(found_by_key_name_and_id(d))
        }),
        (
            "a login finds the key's account and the name's owner",
            |d| Box::pin(login_finds_account_and_name_owner(d)),
        ),
        ("a name belongs to one account, look-alikes included", |d| {
            Box::pin(names_are_unique(d))
        }),
        ("a key belongs to one account", |d| {
            Box::pin(keys_are_unique(d))
        }),
        ("of two racing creates of one name, exactly one wins", |d| {
            Box::pin(racing_names(d))
        }),
        ("of two racing uses of one key, exactly one wins", |d| {
            Box::pin(racing_keys(d))
        }),
        ("keys are added and removed, never the last", |d| {
            Box::pin(keys_added_and_removed(d))
        }),
        ("an account holds a bounded number of keys", |d| {
            Box::pin(keys_are_bounded(d))
        }),
        ("renaming frees the old name", |d| Box::pin(renaming(d))),
        ("deleting frees the name and the keys", |d| {
            Box::pin(deleting(d))
        }),
        ("labels and the operator flag change", |d| {
            Box::pin(labels_and_operators(d))
        }),
        (
            "a login is noted and fills in what a migrated key lacked",
            |d| Box::pin(touching(d)),
        ),
        ("accounts are listed by name", |d| Box::pin(listing(d))),
        ("the hub's view of the accounts matches the accounts", |d| {
            Box::pin(account_refs_match_accounts(d))
        }),
        (
            "an account copied from another backend keeps everything",
            |d| Box::pin(importing(d)),
        ),
        ("every change is audited with who made it", |d| {
            Box::pin(auditing(d))
        }),
        ("bad input is refused with a reason", |d| {
            Box::pin(bad_input(d))
        }),
    ];
    for (name, check) in checks {
        let directory = make().await;
        let outcome = tokio::spawn(check(directory)).await;
        if let Err(error) = outcome {
            let message = match error.try_into_panic() {
                Ok(panic) => panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_default(),
                Err(error) => error.to_string(),
            };
            panic!("directory conformance check failed: {name}: {message}");
        }
    }
}

fn at(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + seconds, 0)
        .single()
        .expect("a valid time")
}

fn actor() -> Actor {
    Actor::new("conformance", None)
}

/// A distinct key for each `n`; the fingerprint and line are plausible, not real.
pub fn key(n: u32) -> NewKey {
    NewKey {
        fingerprint: format!("SHA256:conformance{n:08}AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        algorithm: "ssh-ed25519".to_owned(),
        public_key: format!("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{n:043}"),
        label: format!("key {n}"),
    }
}

async fn create(d: &dyn Directory, name: &str, n: u32) -> Account {
    d.create_account(name, key(n), false, &actor(), at(0))
        .await
        .unwrap_or_else(|e| panic!("create {name}: {e}"))
}

async fn found_by_key_name_and_id(d: Arc<dyn Directory>) {
    let alice = create(d.as_ref(), "Alice", 1).await;
    assert_eq!(alice.name, "Alice");
    assert!(!alice.id.is_empty());
    assert!(!alice.operator);
    assert_eq!(alice.created_at, at(0));
    assert_eq!(alice.keys.len(), 1);
    let k = &alice.keys[0];
    assert_eq!(k.fingerprint, key(1).fingerprint);
    assert_eq!(k.algorithm, "ssh-ed25519");
    assert_eq!(k.public_key, key(1).public_key);
    assert_eq!(k.label, "key 1");
    assert_eq!(k.added_at, at(0));
    assert_eq!(k.last_used_at, None);

    let by_key = d.login(&key(1).fingerprint, None).await.unwrap();
    assert_eq!(by_key.account.as_ref(), Some(&alice));
    for spelling in ["Alice", "alice", "ALICE", "aIice"] {
        let by_name = d.account_by_name(spelling).await.unwrap();
        assert_eq!(by_name.as_ref(), Some(&alice), "looked up as {spelling}");
    }
    assert_eq!(d.account_by_id(&alice.id).await.unwrap(), Some(alice));
    // What a create returns is what a read gives, even for a time finer than storage keeps.
    let fine = at(0) + chrono::TimeDelta::nanoseconds(1_234_567);
    let carol = d
        .create_account("carol", key(3), false, &actor(), fine)
        .await
        .unwrap();
    assert_eq!(d.account_by_id(&carol.id).await.unwrap(), Some(carol));
    assert_eq!(d.account_by_name("bob").await.unwrap(), None);
    assert_eq!(d.account_by_id("no-such-id").await.unwrap(), None);
    assert_eq!(
        d.login(&key(2).fingerprint, None).await.unwrap().account,
        None
    );
}

async fn login_finds_account_and_name_owner(d: Arc<dyn Directory>) {
    let alice = create(d.as_ref(), "alice", 1).await;
    let bob = create(d.as_ref(), "bob", 2).await;
    let login = d.login(&key(1).fingerprint, Some("Bob")).await.unwrap();
    assert_eq!(login.account.map(|a| a.id), Some(alice.id.clone()));
    assert_eq!(login.name_owner, Some((bob.id.clone(), "bob".to_owned())));
    // A stranger asking for a look-alike of a registered name learns whose it is.
    let login = d.login(&key(9).fingerprint, Some("a1ice")).await.unwrap();
    assert_eq!(login.account, None);
    assert_eq!(login.name_owner, Some((alice.id, "alice".to_owned())));
    // A free name, and a wanted name that cleans to nothing, have no owner.
    let login = d.login(&key(9).fingerprint, Some("carol")).await.unwrap();
    assert_eq!(login, Default::default());
    let login = d.login(&key(9).fingerprint, Some("!!!")).await.unwrap();
    assert_eq!(login.name_owner, None);
}

async fn names_are_unique(d: Arc<dyn Directory>) {
    create(d.as_ref(), "bob", 1).await;
    for (n, clash) in [(2, "bob"), (3, "BOB"), (4, "b0b")] {
        let error = d
            .create_account(clash, key(n), false, &actor(), at(1))
            .await
            .unwrap_err();
        assert_eq!(
            error,
            DirectoryError::NameTaken {
                wanted: clash.to_owned(),
                taken: "bob".to_owned()
            },
            "creating {clash}"
        );
        // Nothing was made: the key is still free.
        assert_eq!(
            d.login(&key(n).fingerprint, None).await.unwrap().account,
            None
        );
    }
    assert_eq!(d.accounts().await.unwrap().len(), 1);
}

async fn keys_are_unique(d: Arc<dyn Directory>) {
    let alice = create(d.as_ref(), "alice", 1).await;
    let error = d
        .create_account("bob", key(1), false, &actor(), at(1))
        .await
        .unwrap_err();
    assert!(matches!(error, DirectoryError::KeyTaken { .. }), "{error}");
    assert_eq!(d.account_by_name("bob").await.unwrap(), None, "no bob made");
    let bob = create(d.as_ref(), "bob", 2).await;
    for account in [&alice, &bob] {
        let error = d
            .add_key(&account.id, key(1), &actor(), at(2))
            .await
            .unwrap_err();
        assert!(
            matches!(error, DirectoryError::KeyTaken { .. }),
            "adding alice's key to {}: {error}",
            account.name
        );
    }
    let login = d.login(&key(1).fingerprint, None).await.unwrap();
    assert_eq!(login.account.map(|a| a.name), Some("alice".to_owned()));
    assert_eq!(
        d.account_by_id(&bob.id).await.unwrap().unwrap().keys.len(),
        1
    );
}

async fn racing_names(d: Arc<dyn Directory>) {
    for round in 0..8u32 {
        let name = format!("racer{round}");
        let (a, b) = (key(100 + round * 2), key(101 + round * 2));
        let (d1, d2) = (Arc::clone(&d), Arc::clone(&d));
        let (n1, n2) = (name.clone(), name.to_uppercase());
        let first =
            tokio::spawn(async move { d1.create_account(&n1, a, false, &actor(), at(0)).await });
        let second =
            tokio::spawn(async move { d2.create_account(&n2, b, false, &actor(), at(0)).await });
        let results = [first.await.unwrap(), second.await.unwrap()];
        let won = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(won, 1, "round {round}: {results:?}");
        let lost = results.iter().find_map(|r| r.as_ref().err()).unwrap();
        assert!(
            matches!(lost, DirectoryError::NameTaken { .. }),
            "round {round}: {lost}"
        );
        let holder = d.account_by_name(&name).await.unwrap().unwrap();
        assert_eq!(holder.keys.len(), 1);
    }
}

async fn racing_keys(d: Arc<dyn Directory>) {
    for round in 0..8u32 {
        let shared = key(200 + round);
        let (d1, d2) = (Arc::clone(&d), Arc::clone(&d));
        let (k1, k2) = (shared.clone(), shared.clone());
        let first = tokio::spawn(async move {
            d1.create_account(&format!("left{round}"), k1, false, &actor(), at(0))
                .await
        });
        let second = tokio::spawn(async move {
            d2.create_account(&format!("right{round}"), k2, false, &actor(), at(0))
                .await
        });
        let results = [first.await.unwrap(), second.await.unwrap()];
        assert_eq!(
            results.iter().filter(|r| r.is_ok()).count(),
            1,
            "round {round}: {results:?}"
        );
        let lost = results.iter().find_map(|r| r.as_ref().err()).unwrap();
        assert!(
            matches!(lost, DirectoryError::KeyTaken { .. }),
            "round {round}: {lost}"
        );
    }
    // One key added to two accounts at once.
    let a = create(d.as_ref(), "owner-a", 300).await;
    let b = create(d.as_ref(), "owner-b", 301).await;
    for round in 0..8u32 {
        let shared = key(400 + round);
        let (d1, d2) = (Arc::clone(&d), Arc::clone(&d));
        let (k1, k2) = (shared.clone(), shared.clone());
        let (ia, ib) = (a.id.clone(), b.id.clone());
        let first = tokio::spawn(async move { d1.add_key(&ia, k1, &actor(), at(1)).await });
        let second = tokio::spawn(async move { d2.add_key(&ib, k2, &actor(), at(1)).await });
        let results = [first.await.unwrap(), second.await.unwrap()];
        assert_eq!(
            results.iter().filter(|r| r.is_ok()).count(),
            1,
            "round {round}: {results:?}"
        );
        let in_a = d.account_by_id(&a.id).await.unwrap().unwrap();
        let in_b = d.account_by_id(&b.id).await.unwrap().unwrap();
        let holders = [&in_a, &in_b]
            .iter()
            .filter(|acc| acc.keys.iter().any(|k| k.fingerprint == shared.fingerprint))
            .count();
        assert_eq!(holders, 1, "round {round}");
        let login = d.login(&shared.fingerprint, None).await.unwrap();
        assert!(login.account.is_some());
    }
}

async fn keys_added_and_removed(d: Arc<dyn Directory>) {
    let alice = create(d.as_ref(), "alice", 1).await;
    let bob = create(d.as_ref(), "bob", 9).await;
    let mut laptop = key(2);
    laptop.label = "laptop".to_owned();
    let after = d.add_key(&alice.id, laptop, &actor(), at(5)).await.unwrap();
    assert_eq!(after.keys.len(), 2);
    assert_eq!(
        after.keys[1].fingerprint,
        key(2).fingerprint,
        "oldest first"
    );
    assert_eq!(after.keys[1].label, "laptop");
    assert_eq!(after.keys[1].added_at, at(5));
    let login = d.login(&key(2).fingerprint, None).await.unwrap();
    assert_eq!(login.account.map(|a| a.id), Some(alice.id.clone()));

    // Another account cannot remove alice's key.
    let error = d
        .remove_key(&key(2).fingerprint, Some(&bob.id), &actor())
        .await
        .unwrap_err();
    assert_eq!(
        error,
        DirectoryError::NoSuchKey {
            fingerprint: key(2).fingerprint,
            in_account: true
        }
    );
    let after = d
        .remove_key(&key(1).fingerprint, Some(&alice.id), &actor())
        .await
        .unwrap();
    assert_eq!(after.keys.len(), 1);
    assert_eq!(
        d.login(&key(1).fingerprint, None).await.unwrap().account,
        None
    );
    // The last key stays, with or without naming the account.
    for account in [Some(alice.id.as_str()), None] {
        let error = d
            .remove_key(&key(2).fingerprint, account, &actor())
            .await
            .unwrap_err();
        assert_eq!(error, DirectoryError::LastKey);
    }
    let error = d
        .remove_key(&key(7).fingerprint, None, &actor())
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            DirectoryError::NoSuchKey {
                in_account: false,
                ..
            }
        ),
        "{error}"
    );
    // A removed key is free for another account.
    let again = d.add_key(&bob.id, key(1), &actor(), at(6)).await.unwrap();
    assert_eq!(again.keys.len(), 2);
    let error = d
        .add_key("no-such-account", key(8), &actor(), at(6))
        .await
        .unwrap_err();
    assert_eq!(error, DirectoryError::NoSuchAccount);
}

async fn keys_are_bounded(d: Arc<dyn Directory>) {
    let alice = create(d.as_ref(), "alice", 0).await;
    for n in 1..MAX_KEYS_PER_ACCOUNT as u32 {
        d.add_key(&alice.id, key(n), &actor(), at(i64::from(n)))
            .await
            .unwrap();
    }
    let error = d
        .add_key(&alice.id, key(999), &actor(), at(99))
        .await
        .unwrap_err();
    assert_eq!(
        error,
        DirectoryError::TooManyKeys {
            max: MAX_KEYS_PER_ACCOUNT
        }
    );
    let full = d.account_by_id(&alice.id).await.unwrap().unwrap();
    assert_eq!(full.keys.len(), MAX_KEYS_PER_ACCOUNT);
    assert_eq!(
        d.login(&key(999).fingerprint, None).await.unwrap().account,
        None
    );
}

async fn renaming(d: Arc<dyn Directory>) {
    let alice = create(d.as_ref(), "alice", 1).await;
    create(d.as_ref(), "bob", 2).await;
    let renamed = d
        .rename_account(&alice.id, "Alicia", &actor())
        .await
        .unwrap();
    assert_eq!(renamed.name, "Alicia");
    assert_eq!(renamed.id, alice.id);
    assert_eq!(d.account_by_name("alice").await.unwrap(), None);
    assert_eq!(
        d.account_by_name("alicia").await.unwrap().map(|a| a.id),
        Some(alice.id.clone())
    );
    let login = d.login(&key(1).fingerprint, None).await.unwrap();
    assert_eq!(login.account.map(|a| a.name), Some("Alicia".to_owned()));
    // The old name is free for someone else.
    create(d.as_ref(), "alice", 3).await;
    let error = d
        .rename_account(&alice.id, "B0B", &actor())
        .await
        .unwrap_err();
    assert_eq!(
        error,
        DirectoryError::NameTaken {
            wanted: "B0B".to_owned(),
            taken: "bob".to_owned()
        }
    );
    // A change of case only is a rename to one's own name, and allowed.
    let recased = d
        .rename_account(&alice.id, "ALICIA", &actor())
        .await
        .unwrap();
    assert_eq!(recased.name, "ALICIA");
    let error = d
        .rename_account("no-such-account", "zed", &actor())
        .await
        .unwrap_err();
    assert_eq!(error, DirectoryError::NoSuchAccount);
}

async fn deleting(d: Arc<dyn Directory>) {
    let alice = create(d.as_ref(), "alice", 1).await;
    d.add_key(&alice.id, key(2), &actor(), at(1)).await.unwrap();
    d.delete_account(&alice.id, &actor()).await.unwrap();
    assert_eq!(d.account_by_id(&alice.id).await.unwrap(), None);
    assert_eq!(d.account_by_name("alice").await.unwrap(), None);
    for n in [1, 2] {
        assert_eq!(
            d.login(&key(n).fingerprint, None).await.unwrap().account,
            None
        );
    }
    // Name and keys are free again.
    let again = d
        .create_account("alice", key(2), false, &actor(), at(3))
        .await
        .unwrap();
    assert_ne!(again.id, alice.id);
    assert_eq!(
        d.delete_account(&alice.id, &actor()).await.unwrap_err(),
        DirectoryError::NoSuchAccount
    );
}

async fn labels_and_operators(d: Arc<dyn Directory>) {
    let alice = d
        .create_account("alice", key(1), true, &actor(), at(0))
        .await
        .unwrap();
    assert!(alice.operator);
    let after = d
        .set_label(&alice.id, &key(1).fingerprint, "  desktop  ", &actor())
        .await
        .unwrap();
    assert_eq!(after.keys[0].label, "desktop", "trimmed");
    let after = d.set_operator(&alice.id, false, &actor()).await.unwrap();
    assert!(!after.operator);
    let login = d.login(&key(1).fingerprint, None).await.unwrap();
    assert_eq!(login.account.map(|a| a.operator), Some(false));
    let error = d
        .set_label(&alice.id, &key(5).fingerprint, "x", &actor())
        .await
        .unwrap_err();
    assert!(matches!(error, DirectoryError::NoSuchKey { .. }), "{error}");
    let error = d
        .set_operator("no-such-account", true, &actor())
        .await
        .unwrap_err();
    assert_eq!(error, DirectoryError::NoSuchAccount);
}

async fn touching(d: Arc<dyn Directory>) {
    // A key that came from a name claim before accounts existed: no algorithm or line yet.
    let mut migrated = key(1);
    migrated.algorithm = String::new();
    migrated.public_key = String::new();
    let alice = d
        .create_account("alice", migrated, false, &actor(), at(0))
        .await
        .unwrap();
    assert_eq!(alice.keys[0].algorithm, "");
    d.touch_key(
        &key(1).fingerprint,
        "ssh-ed25519",
        &key(1).public_key,
        at(30),
    )
    .await
    .unwrap();
    let after = d.account_by_id(&alice.id).await.unwrap().unwrap();
    assert_eq!(after.keys[0].last_used_at, Some(at(30)));
    assert_eq!(after.keys[0].algorithm, "ssh-ed25519");
    assert_eq!(after.keys[0].public_key, key(1).public_key);
    // What is known is not overwritten; an unknown key is ignored.
    d.touch_key(&key(1).fingerprint, "rsa-sha2-512", "ssh-rsa AAAA", at(40))
        .await
        .unwrap();
    let after = d.account_by_id(&alice.id).await.unwrap().unwrap();
    assert_eq!(after.keys[0].last_used_at, Some(at(40)));
    assert_eq!(after.keys[0].algorithm, "ssh-ed25519");
    d.touch_key(&key(2).fingerprint, "ssh-ed25519", "x", at(41))
        .await
        .unwrap();
    assert_eq!(
        d.login(&key(2).fingerprint, None).await.unwrap().account,
        None
    );
}

async fn listing(d: Arc<dyn Directory>) {
    assert!(d.accounts().await.unwrap().is_empty());
    for (n, name) in [(1, "carol"), (2, "Alice"), (3, "bob")] {
        create(d.as_ref(), name, n).await;
    }
    let names: Vec<String> = d
        .accounts()
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.name)
        .collect();
    assert_eq!(
        names,
        ["Alice", "bob", "carol"],
        "sorted regardless of case"
    );
}

async fn account_refs_match_accounts(d: Arc<dyn Directory>) {
    assert!(d.account_refs().await.unwrap().is_empty());
    let alice = create(d.as_ref(), "alice", 1).await;
    create(d.as_ref(), "bob", 2).await;
    d.set_operator(&alice.id, true, &actor()).await.unwrap();
    d.rename_account(&alice.id, "alicia", &actor())
        .await
        .unwrap();
    let mut refs = d.account_refs().await.unwrap();
    refs.sort_by(|a, b| a.name.cmp(&b.name));
    let mut expected: Vec<AccountRef> = d
        .accounts()
        .await
        .unwrap()
        .iter()
        .map(AccountRef::from)
        .collect();
    expected.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(refs, expected);
    assert_eq!(
        refs.iter()
            .map(|r| (r.name.as_str(), r.operator))
            .collect::<Vec<_>>(),
        [("alicia", true), ("bob", false)],
        "renames and operator grants show"
    );
}

async fn auditing(d: Arc<dyn Directory>) {
    let who = Actor::new("alice (ssh)", Some(key(1).fingerprint));
    let alice = d
        .create_account("alice", key(1), false, &who, at(0))
        .await
        .unwrap();
    d.add_key(&alice.id, key(2), &who, at(1)).await.unwrap();
    d.remove_key(&key(2).fingerprint, Some(&alice.id), &who)
        .await
        .unwrap();
    d.rename_account(
        &alice.id,
        "alicia",
        &Actor::new("operator (chat-cli)", None),
    )
    .await
    .unwrap();
    // A refused change is not a change.
    let _ = d.remove_key(&key(1).fingerprint, None, &who).await;
    let log = d.audit_log(10).await.unwrap();
    assert_eq!(log.len(), 4, "{log:#?}");
    assert_eq!(log[0].actor.who, "operator (chat-cli)", "newest first");
    assert!(log[0].action.contains("alicia"), "{}", log[0].action);
    assert!(log[3].action.contains("alice"), "{}", log[3].action);
    assert_eq!(log[3].actor.fingerprint, Some(key(1).fingerprint));
    assert!(
        log.iter().all(|entry| !entry.action.is_empty()),
        "every entry says what was done"
    );
    assert_eq!(d.audit_log(2).await.unwrap().len(), 2);
}

async fn bad_input(d: Arc<dyn Directory>) {
    for bad in ["", "!!!", "al ice", "a:b"] {
        let error = d
            .create_account(bad, key(1), false, &actor(), at(0))
            .await
            .unwrap_err();
        assert!(
            matches!(error, DirectoryError::InvalidName(_)),
            "{bad:?}: {error}"
        );
    }
    let alice = create(d.as_ref(), "alice", 1).await;
    let error = d
        .rename_account(&alice.id, "no way", &actor())
        .await
        .unwrap_err();
    assert!(matches!(error, DirectoryError::InvalidName(_)), "{error}");
    let mut long_label = key(2);
    long_label.label = "x".repeat(65);
    let error = d
        .add_key(&alice.id, long_label, &actor(), at(1))
        .await
        .unwrap_err();
    assert!(matches!(error, DirectoryError::InvalidLabel(_)), "{error}");
    let error = d
        .set_label(&alice.id, &key(1).fingerprint, "bell\u{7}", &actor())
        .await
        .unwrap_err();
    assert!(matches!(error, DirectoryError::InvalidLabel(_)), "{error}");
    assert_eq!(
        d.accounts().await.unwrap().len(),
        1,
        "nothing else was made"
    );
}

async fn importing(d: Arc<dyn Directory>) {
    let copied = Account {
        id: "0123456789abcdef0123456789abcdef".to_owned(),
        name: "Zoë".to_owned(),
        operator: true,
        created_at: at(-100),
        keys: vec![
            super::AccountKey {
                fingerprint: key(1).fingerprint,
                algorithm: "ssh-ed25519".to_owned(),
                public_key: key(1).public_key,
                label: "desk".to_owned(),
                added_at: at(-100),
                last_used_at: Some(at(-5)),
            },
            super::AccountKey {
                fingerprint: key(2).fingerprint,
                algorithm: String::new(),
                public_key: String::new(),
                label: String::new(),
                added_at: at(-50),
                last_used_at: None,
            },
        ],
    };
    let imported = d.import_account(&copied, &actor()).await.unwrap();
    assert_eq!(imported, copied);
    assert_eq!(
        d.account_by_id(&copied.id).await.unwrap(),
        Some(copied.clone())
    );
    let login = d.login(&key(2).fingerprint, None).await.unwrap();
    assert_eq!(login.account, Some(copied.clone()));
    // Again, or under another id with a key or name that is taken: refused, nothing copied.
    assert!(d.import_account(&copied, &actor()).await.is_err());
    let mut clash = copied.clone();
    clash.id = "fedcba9876543210fedcba9876543210".to_owned();
    clash.name = "other".to_owned();
    clash.keys.truncate(1);
    let error = d.import_account(&clash, &actor()).await.unwrap_err();
    assert!(matches!(error, DirectoryError::KeyTaken { .. }), "{error}");
    clash.name = "ZOË".to_owned();
    clash.keys = vec![super::AccountKey {
        fingerprint: key(3).fingerprint,
        ..copied.keys[0].clone()
    }];
    let error = d.import_account(&clash, &actor()).await.unwrap_err();
    assert!(matches!(error, DirectoryError::NameTaken { .. }), "{error}");
    assert_eq!(d.accounts().await.unwrap().len(), 1);
    assert_eq!(
        d.login(&key(3).fingerprint, None).await.unwrap().account,
        None
    );
}
