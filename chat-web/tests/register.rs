//! `/register` over a real socket: signatures from `ssh-keygen -Y sign` and from the ssh-key
//! crate, every error the page must explain (keeping what was typed), and nothing created
//! by a refusal.

mod support;

use chrono::TimeDelta;
use support::{CrateKey, KeyFile, TestWeb, fixture, register};

#[test]
fn a_key_signed_with_ssh_keygen_registers_and_the_page_says_what_to_type_next() {
    let web = TestWeb::start();
    let dir = tempfile::tempdir().unwrap();
    let key = KeyFile::generate(dir.path(), "alice");
    let mut browser = web.client();
    let page = browser.get("/register");
    page.assert_status(200)
        .assert_says("ssh-keygen -Y sign -f ~/.ssh/id_ed25519 -n register@127.0.0.1")
        .assert_says("cat ~/.ssh/id_ed25519.pub")
        .assert_says("ssh-keygen -t ed25519");
    assert_eq!(page.field("namespace"), "register@127.0.0.1");
    let done = register(&mut browser, "alice", &key.public(), |ns, ch| {
        key.sign(ns, ch)
    });
    done.assert_status(200)
        .assert_says("Welcome, alice!")
        .assert_says("ssh -p 2222 127.0.0.1")
        .assert_says(&key.fingerprint())
        .assert_says("SHA256:testhostkeyfingerprint");
    let account = web.account("alice");
    assert_eq!(account.keys.len(), 1);
    assert_eq!(account.keys[0].fingerprint, key.fingerprint());
    assert_eq!(
        account.keys[0].label, "alice@test",
        "the key's comment labels it"
    );
    // The hub knows at once that the name is taken.
    assert_eq!(
        web.runtime.hub.lock().owner_of("alice"),
        Some(account.id.as_str())
    );
    // And the browser is signed in.
    browser
        .get("/account")
        .assert_status(200)
        .assert_says("Your keys");
}

#[test]
fn a_key_signed_with_the_ssh_key_crate_registers_too() {
    let web = TestWeb::start();
    let key = CrateKey::new();
    let mut browser = web.client();
    register(&mut browser, "bob", &key.public(), |ns, ch| {
        key.sign(ns, ch)
    })
    .assert_status(200)
    .assert_says("Welcome, bob!");
    assert_eq!(web.account("bob").keys[0].fingerprint, key.fingerprint());
}

/// Submits the form with one field replaced; checks the page and that nothing was created.
fn refused(web: &TestWeb, fields: &[(&str, &str)], says: &str) -> support::Response {
    let mut browser = web.client();
    let page = browser.get("/register");
    let mut form: Vec<(&str, String)> = vec![
        ("csrf", page.field("csrf")),
        ("challenge", page.field("challenge")),
        ("namespace", page.field("namespace")),
        ("name", "carol".into()),
        ("public_key", String::new()),
        ("signature", String::new()),
    ];
    for (name, value) in fields {
        form.retain(|(n, _)| n != name);
        form.push((name, (*value).to_owned()));
    }
    let borrowed: Vec<(&str, &str)> = form.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let before = web.accounts().len();
    let response = browser.post("/register", &borrowed);
    response.assert_status(400).assert_says(says);
    assert_eq!(web.accounts().len(), before, "a refusal creates nothing");
    response
}

#[test]
fn bad_keys_are_refused_with_the_reason_and_the_form_kept() {
    let web = TestWeb::start();
    let page = refused(
        &web,
        &[("public_key", "ssh-ed25519 nonsense"), ("name", "carol")],
        "this is not a public key line",
    );
    assert_eq!(page.field("name"), "carol", "what was typed is kept");
    assert_eq!(page.textarea("public_key"), "ssh-ed25519 nonsense");
    refused(
        &web,
        &[("public_key", &fixture("dsa"))],
        "DSA keys are refused",
    );
    refused(
        &web,
        &[("public_key", &fixture("rsa1024"))],
        "this RSA key has 1024 bits",
    );
    refused(&web, &[("public_key", "")], "there is no key here");
}

#[test]
fn a_private_key_is_refused_loudly_and_never_echoed_or_stored() {
    let web = TestWeb::start();
    let dir = tempfile::tempdir().unwrap();
    let key = KeyFile::generate(dir.path(), "oops");
    let private = key.private_text();
    let secret_line = private.lines().nth(1).unwrap().to_owned();
    for field in ["public_key", "signature", "name"] {
        let page = refused(&web, &[(field, &private)], "PRIVATE key");
        assert!(
            !page.body.contains(&secret_line),
            "{field}: the private key came back"
        );
        assert!(!page.body.contains("BEGIN OPENSSH PRIVATE KEY"), "{field}");
    }
}

#[test]
fn names_follow_the_chats_rules_next_to_the_field() {
    let web = TestWeb::start();
    let dir = tempfile::tempdir().unwrap();
    let (alice, other) = (
        KeyFile::generate(dir.path(), "a"),
        KeyFile::generate(dir.path(), "b"),
    );
    register(&mut web.client(), "alice", &alice.public(), |ns, ch| {
        alice.sign(ns, ch)
    })
    .assert_status(200);
    let sign = |ns: &str, ch: &str| other.sign(ns, ch);
    for (name, says) in [
        ("alice", "alice is taken"),
        ("ALICE", "ALICE is taken"),
        ("a1ice", "looks too much like alice"),
        ("al ice!", "how about alice?"),
        ("", "pick a name"),
        ("!!!", "at least one letter or digit"),
    ] {
        let mut browser = web.client();
        let page = register(&mut browser, name, &other.public(), sign);
        page.assert_status(400).assert_says(says);
        assert!(
            page.body.contains("id=\"name-error\""),
            "the error is beside the field"
        );
        // The signature was good: fixing the name needs no new one.
        assert!(
            page.textarea("signature").contains("BEGIN SSH SIGNATURE"),
            "{name}"
        );
    }
    assert_eq!(web.accounts().len(), 1);
}

#[test]
fn a_key_already_in_an_account_is_refused() {
    let web = TestWeb::start();
    let key = CrateKey::new();
    register(&mut web.client(), "dave", &key.public(), |ns, ch| {
        key.sign(ns, ch)
    })
    .assert_status(200);
    register(&mut web.client(), "dave2", &key.public(), |ns, ch| {
        key.sign(ns, ch)
    })
    .assert_status(400)
    .assert_says("that key is already in an account (dave)");
    assert_eq!(web.accounts().len(), 1);
}

#[test]
fn signatures_that_prove_nothing_are_refused() {
    let web = TestWeb::start();
    let key = CrateKey::new();
    let someone = CrateKey::new();
    let mut browser = web.client();
    let page = browser.get("/register");
    let (challenge, namespace, csrf) = (
        page.field("challenge"),
        page.field("namespace"),
        page.field("csrf"),
    );
    let other_challenge = browser.get("/register").field("challenge");
    let submit = |browser: &mut support::Client, signature: &str, challenge: &str| {
        browser.post(
            "/register",
            &[
                ("csrf", &csrf),
                ("name", "erin"),
                ("public_key", &key.public()),
                ("signature", signature),
                ("challenge", challenge),
                ("namespace", &namespace),
            ],
        )
    };
    submit(&mut browser, &key.sign("file", &challenge), &challenge)
        .assert_status(400)
        .assert_says("made for the namespace &quot;file&quot;");
    submit(
        &mut browser,
        &key.sign(&namespace, &other_challenge),
        &challenge,
    )
    .assert_status(400)
    .assert_says("does not match this page");
    submit(
        &mut browser,
        &someone.sign(&namespace, &challenge),
        &challenge,
    )
    .assert_status(400)
    .assert_says("made with another key");
    submit(
        &mut browser,
        "-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----",
        &challenge,
    )
    .assert_status(400)
    .assert_says("this is not an SSH signature");
    submit(&mut browser, "", &challenge)
        .assert_status(400)
        .assert_says("paste the signature");
    let forged = format!("{}0", &challenge[..challenge.len() - 1]);
    submit(&mut browser, &key.sign(&namespace, &forged), &forged)
        .assert_status(400)
        .assert_says("not made by this server");
    assert!(web.accounts().is_empty());
}

#[test]
fn an_expired_challenge_is_refused_and_a_new_one_given() {
    let web = TestWeb::start();
    let key = CrateKey::new();
    let mut browser = web.client();
    let page = browser.get("/register");
    let (challenge, namespace) = (page.field("challenge"), page.field("namespace"));
    let signature = key.sign(&namespace, &challenge);
    web.clock.advance(TimeDelta::minutes(16));
    let again = browser.post(
        "/register",
        &[
            ("csrf", &page.field("csrf")),
            ("name", "frank"),
            ("public_key", &key.public()),
            ("signature", &signature),
            ("challenge", &challenge),
            ("namespace", &namespace),
        ],
    );
    again
        .assert_status(400)
        .assert_says("the challenge expired");
    assert_ne!(
        again.field("challenge"),
        challenge,
        "a fresh challenge to sign"
    );
    assert_eq!(again.field("name"), "frank");
    assert!(web.accounts().is_empty());
    // Signing the new one works.
    let fresh = again.field("challenge");
    browser
        .post(
            "/register",
            &[
                ("csrf", &again.field("csrf")),
                ("name", "frank"),
                ("public_key", &key.public()),
                ("signature", &key.sign(&namespace, &fresh)),
                ("challenge", &fresh),
                ("namespace", &namespace),
            ],
        )
        .assert_status(200);
}

#[test]
fn a_used_challenge_cannot_register_again() {
    let web = TestWeb::start();
    let key = CrateKey::new();
    let mut browser = web.client();
    let page = browser.get("/register");
    let (challenge, namespace) = (page.field("challenge"), page.field("namespace"));
    let fields = |name: &'static str, signature: String| {
        vec![
            ("csrf", page.field("csrf")),
            ("name", name.to_owned()),
            ("public_key", key.public()),
            ("signature", signature),
            ("challenge", challenge.clone()),
            ("namespace", namespace.clone()),
        ]
    };
    let first = fields("gina", key.sign(&namespace, &challenge));
    let borrowed: Vec<(&str, &str)> = first.iter().map(|(n, v)| (*n, v.as_str())).collect();
    browser.post("/register", &borrowed).assert_status(200);
    // The account is deleted elsewhere; the old signature must not bring it back.
    let id = web.account("gina").id;
    let directory = std::sync::Arc::clone(web.runtime.directory.directory());
    support::block(async move {
        let actor = chat_server::chat_store::directory::Actor::new("test", None);
        directory.delete_account(&id, &actor).await.unwrap()
    });
    let mut other = web.client();
    let page2 = other.get("/register");
    let mut replay = fields("gina", key.sign(&namespace, &challenge));
    replay[0].1 = page2.field("csrf");
    let borrowed: Vec<(&str, &str)> = replay.iter().map(|(n, v)| (*n, v.as_str())).collect();
    other
        .post("/register", &borrowed)
        .assert_status(400)
        .assert_says("used already");
}
