//! Arbitrary bytes in every field of every form never panic the server, never get a 5xx,
//! and never create (or delete) an account.

mod support;

use proptest::prelude::*;
use support::{CrateKey, TestWeb, register};

const FIELDS: &[&str] = &[
    "name",
    "public_key",
    "signature",
    "label",
    "challenge",
    "namespace",
    "fingerprint",
];
const FORMS: &[&str] = &[
    "/register",
    "/signin",
    "/account/keys",
    "/account/keys/label",
    "/account/keys/remove",
    "/account/delete",
];

fn encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("%{b:02X}")).collect()
}

/// Bytes that look like what a field might hold, or do not look like anything.
fn field_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..600),
        "[ -~\\n]{0,300}".prop_map(String::into_bytes),
        Just(b"-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----".to_vec()),
        Just(b"register-99999999999-0123456789abcdef-0123456789abcdef0123456789abcdef".to_vec()),
        Just(
            b"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIh8wpbTszHvcXMbDCvnlD7LQXiJmPJ3/JrmlBspY3sO"
                .to_vec()
        ),
    ]
}

#[test]
fn arbitrary_bytes_in_every_field_are_harmless() {
    let web = TestWeb::start();
    let key = CrateKey::new();
    let mut browser = web.client();
    register(&mut browser, "fuzzbase", &key.public(), |ns, ch| {
        key.sign(ns, ch)
    })
    .assert_status(200);
    let csrf = browser.get("/account").field("csrf");
    let before = web.accounts();
    let config = ProptestConfig {
        cases: 48,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(form in 0..FORMS.len(), values in proptest::collection::vec(field_bytes(), FIELDS.len()), raw in proptest::collection::vec(any::<u8>(), 0..300))| {
        let mut body = format!("csrf={csrf}");
        for (name, value) in FIELDS.iter().zip(&values) {
            body.push_str(&format!("&{name}={}", encode(value)));
        }
        let response = browser.clone().post_raw(FORMS[form], body.as_bytes());
        prop_assert!(response.status < 500, "{} -> {}", FORMS[form], response.status);
        // Raw bytes, not even a form.
        let response = browser.clone().post_raw(FORMS[form], &raw);
        prop_assert!(response.status < 500, "raw {} -> {}", FORMS[form], response.status);
        let token_path = format!("/signin/{}", encode(&raw[..raw.len().min(40)]));
        let response = browser.clone().get(&token_path);
        prop_assert!(response.status < 500);
    });
    assert_eq!(
        web.accounts(),
        before,
        "nothing was created, changed or deleted"
    );
    web.client().get("/").assert_status(200);
}
