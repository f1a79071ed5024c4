//! `/account`: add a key (with its own proof), remove one (never the last), label one,
//! delete the account; each audited, rate limited and told to the hub.

mod support;

use std::time::Duration;

use chat_server::chat_store::directory::Actor;
use chat_web::WebLimits;
use chat_web::ratelimit::Rate;
use support::{Client, CrateKey, KeyFile, TestWeb, loose_limits, register};

/// A browser signed in as a new account `name`; returns it with the account's first key.
fn signed_in(web: &TestWeb, name: &str) -> (Client, CrateKey) {
    let key = CrateKey::new();
    let mut browser = web.client();
    register(&mut browser, name, &key.public(), |ns, ch| key.sign(ns, ch)).assert_status(200);
    (browser, key)
}

fn add_key(
    browser: &mut Client,
    public: &str,
    label: &str,
    sign: impl Fn(&str, &str) -> String,
) -> support::Response {
    let page = browser.get("/account");
    let (challenge, namespace) = (page.field("challenge"), page.field("namespace"));
    browser.post(
        "/account/keys",
        &[
            ("csrf", &page.field("csrf")),
            ("public_key", public),
            ("label", label),
            ("signature", &sign(&namespace, &challenge)),
            ("challenge", &challenge),
            ("namespace", &namespace),
        ],
    )
}

#[test]
fn a_key_is_added_with_its_own_proof_then_labelled_and_removed() {
    let web = TestWeb::start();
    let (mut browser, first) = signed_in(&web, "alice");
    let dir = tempfile::tempdir().unwrap();
    let laptop = KeyFile::generate(dir.path(), "laptop");
    let added = add_key(&mut browser, &laptop.public(), "my laptop", |ns, ch| {
        laptop.sign(ns, ch)
    });
    added.assert_status(303);
    assert_eq!(added.header("location"), Some("/account?done=added"));
    let page = browser.get("/account?done=added");
    page.assert_says("The key is added")
        .assert_says(&laptop.fingerprint())
        .assert_says("my laptop");
    let account = web.account("alice");
    assert_eq!(account.keys.len(), 2);
    let audit = support::block({
        let directory = std::sync::Arc::clone(web.runtime.directory.directory());
        async move { directory.audit_log(10).await.unwrap() }
    });
    assert!(
        audit.iter().any(|e| e
            .action
            .contains(&format!("add key {}", laptop.fingerprint()))
            && e.actor.who.starts_with("alice (web 127.0.0.1)")),
        "{audit:?}"
    );

    let csrf = page.field("csrf");
    browser
        .post(
            "/account/keys/label",
            &[
                ("csrf", &csrf),
                ("fingerprint", &first.fingerprint()),
                ("label", "desk"),
            ],
        )
        .assert_status(303);
    assert!(web.account("alice").keys.iter().any(|k| k.label == "desk"));
    browser
        .post(
            "/account/keys/label",
            &[
                ("csrf", &csrf),
                ("fingerprint", &first.fingerprint()),
                ("label", &"x".repeat(65)),
            ],
        )
        .assert_status(400)
        .assert_says("at most 64 characters");

    browser
        .post(
            "/account/keys/remove",
            &[("csrf", &csrf), ("fingerprint", &laptop.fingerprint())],
        )
        .assert_status(303);
    assert_eq!(web.account("alice").keys.len(), 1);
    // The last key stays.
    browser
        .post(
            "/account/keys/remove",
            &[("csrf", &csrf), ("fingerprint", &first.fingerprint())],
        )
        .assert_status(400)
        .assert_says("this is your only key");
    assert_eq!(web.account("alice").keys.len(), 1);
}

#[test]
fn adding_a_key_needs_a_proof_by_that_key_for_this_account() {
    let web = TestWeb::start();
    let (mut browser, _) = signed_in(&web, "bob");
    let new = CrateKey::new();
    let someone = CrateKey::new();
    add_key(&mut browser, &new.public(), "", |ns, ch| {
        someone.sign(ns, ch)
    })
    .assert_status(400)
    .assert_says("made with another key");
    // A proof made for another account's page does not carry over.
    let (mut carol, _) = signed_in(&web, "carol");
    let carol_page = carol.get("/account");
    let signature = new.sign(
        &carol_page.field("namespace"),
        &carol_page.field("challenge"),
    );
    let page = browser.get("/account");
    let refused = browser.post(
        "/account/keys",
        &[
            ("csrf", &page.field("csrf")),
            ("public_key", &new.public()),
            ("signature", &signature),
            ("challenge", &carol_page.field("challenge")),
        ],
    );
    refused
        .assert_status(400)
        .assert_says("not made by this server");
    assert_eq!(
        refused.textarea("public_key").trim(),
        new.public().trim(),
        "what was typed is kept"
    );
    // A key already in an account.
    let (_, dave_key) = signed_in(&web, "dave");
    add_key(&mut browser, &dave_key.public(), "", |ns, ch| {
        dave_key.sign(ns, ch)
    })
    .assert_status(400)
    .assert_says("already in an account");
    assert_eq!(web.account("bob").keys.len(), 1);
}

#[test]
fn deleting_the_account_takes_its_name() {
    let web = TestWeb::start();
    let (mut browser, key) = signed_in(&web, "erin");
    let id = web.account("erin").id;
    let csrf = browser.get("/account").field("csrf");
    browser
        .post("/account/delete", &[("csrf", &csrf), ("name", "nope")])
        .assert_status(400)
        .assert_says("type erin to confirm");
    assert_eq!(web.accounts().len(), 1);
    browser
        .post("/account/delete", &[("csrf", &csrf), ("name", "erin")])
        .assert_status(200)
        .assert_says("erin is deleted");
    assert!(web.accounts().is_empty());
    assert_eq!(
        web.runtime.hub.lock().owner_of("erin"),
        None,
        "the hub freed the name"
    );
    browser.get("/account").assert_status(303);
    // The key may register again.
    register(&mut web.client(), "erin", &key.public(), |ns, ch| {
        key.sign(ns, ch)
    })
    .assert_status(200);
    assert_ne!(web.account("erin").id, id);
}

#[test]
fn a_session_of_an_account_deleted_elsewhere_is_ended() {
    let web = TestWeb::start();
    let (mut browser, _) = signed_in(&web, "gus");
    let id = web.account("gus").id;
    let directory = std::sync::Arc::clone(web.runtime.directory.directory());
    support::block(async move {
        directory
            .delete_account(&id, &Actor::new("test", None))
            .await
            .unwrap()
    });
    browser.get("/account").assert_status(303);
}

#[test]
fn key_changes_are_rate_limited_per_account() {
    let limits = WebLimits {
        per_account: Rate::new(3, Duration::from_secs(60)),
        ..loose_limits()
    };
    let web = TestWeb::with_limits(limits);
    // Registering costs one token of the key's, not the account's.
    let (mut browser, key) = signed_in(&web, "hana");
    let csrf = browser.get("/account").field("csrf");
    for _ in 0..3 {
        browser
            .post(
                "/account/keys/label",
                &[
                    ("csrf", &csrf),
                    ("fingerprint", &key.fingerprint()),
                    ("label", "x"),
                ],
            )
            .assert_status(303);
    }
    let refused = browser.post(
        "/account/keys/label",
        &[
            ("csrf", &csrf),
            ("fingerprint", &key.fingerprint()),
            ("label", "y"),
        ],
    );
    refused.assert_status(429);
    assert_eq!(refused.header("retry-after"), Some("60"));
    assert!(web.account("hana").keys.iter().all(|k| k.label == "x"));
}
