//! Who gets in, and as whom: a key's SHA256 fingerprint is the identity; keyless users come in
//! by keyboard-interactive as unverified names; `none` and SHA-1 RSA signatures are refused.

mod support;

use russh::MethodKind;
use russh::client::AuthResult;
use russh::keys::{Algorithm, HashAlg, PrivateKey};
use support::{Connect, TestServer, ed25519_key, fingerprint_of};

/// What `/whois name` says about its key, asked from another session.
async fn whois_key(server: &TestServer, name: &str) -> String {
    let (stdout, stderr, status) = server.exec("asker", &format!("/whois {name}")).await;
    assert_eq!((stderr.as_str(), status), ("", 0), "{stdout}");
    stdout
        .lines()
        .find_map(|l| l.trim_start_matches("-> ").trim().strip_prefix("key: "))
        .unwrap_or_else(|| panic!("no key line in {stdout:?}"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_key_login_is_identified_by_its_sha256_fingerprint() {
    let server = TestServer::start().await;
    let key = ed25519_key();
    let alice = Connect::user("alice")
        .key(&key, None)
        .to(server.addr)
        .await
        .expect("an ed25519 key logs in");
    let mut alice = alice.plain_shell().await;
    alice.expect("alice joined.").await;
    let expected = fingerprint_of(key.public_key());
    assert!(expected.starts_with("SHA256:"));
    assert_eq!(whois_key(&server, "alice").await, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keyless_login_gets_in_by_keyboard_interactive_as_an_unverified_name() {
    let server = TestServer::start().await;
    let _bob = server.plain("bob").await;
    let key = whois_key(&server, "bob").await;
    assert!(
        key.starts_with("none"),
        "no key for a keyless login: {key:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_none_is_refused_and_publickey_and_keyboard_interactive_are_offered() {
    let server = TestServer::start().await;
    let mut connection = Connect::user("sneaky")
        .unauthenticated(server.addr)
        .await
        .unwrap();
    let result = connection
        .handle
        .authenticate_none("sneaky")
        .await
        .expect("an answer");
    match result {
        AuthResult::Success => panic!("`none` must not let anyone in"),
        AuthResult::Failure {
            remaining_methods, ..
        } => {
            assert!(
                remaining_methods.contains(&MethodKind::PublicKey),
                "{remaining_methods:?}"
            );
            assert!(
                remaining_methods.contains(&MethodKind::KeyboardInteractive),
                "{remaining_methods:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsa_keys_log_in_with_sha2_signatures_but_not_with_sha1() {
    let server = TestServer::start().await;
    let rsa = || PrivateKey::random(&mut rand::rng(), Algorithm::Rsa { hash: None }).unwrap();

    let old = rsa();
    let sha1 = Connect::user("old").key(&old, None).to(server.addr).await;
    assert!(
        sha1.is_err(),
        "an ssh-rsa (SHA-1) signature must be refused"
    );

    // A key of its own for each, since a key keeps its name across sessions.
    for (name, hash) in [("rsa256", HashAlg::Sha256), ("rsa512", HashAlg::Sha512)] {
        let key = rsa();
        let session = Connect::user(name)
            .key(&key, Some(hash))
            .to(server.addr)
            .await
            .unwrap_or_else(|e| panic!("RSA with {hash:?} logs in: {e}"));
        let mut session = session.plain_shell().await;
        session.expect(&format!("{name} joined.")).await;
        assert_eq!(
            whois_key(&server, name).await,
            fingerprint_of(key.public_key())
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_sees_the_host_key_the_server_reports() {
    let server = TestServer::start().await;
    let connection = server.connect("alice").await;
    let seen = connection.server_key().expect("the client saw a host key");
    assert_eq!(fingerprint_of(&seen), server.fingerprint);
    assert_eq!(seen.algorithm(), Algorithm::Ed25519);
}
