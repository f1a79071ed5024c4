//! Accounts end to end: `chat-cli accounts` against the directory of a running server, and
//! OpenSSH logging in with the keys it holds.

mod support;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use support::{Identity, PlainSession, ServerProcess, exec, fingerprint, make_key};

const WAIT: Duration = Duration::from_secs(20);

/// Where the accounts of a test live: the server's flags and `chat-cli accounts`' flags.
struct Backend {
    name: &'static str,
    /// `--directory` for both.
    directory: String,
}

/// The directories every test runs against.
fn backends() -> Vec<Backend> {
    vec![Backend {
        name: "sqlite",
        directory: "sqlite".to_owned(),
    }]
}

/// Runs `chat-cli accounts ARGS` on the server's data directory.
fn accounts(backend: &Backend, data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_chat-cli"))
        .arg("accounts")
        .args(["--directory", &backend.directory])
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .output()
        .expect("chat-cli runs")
}

fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "chat-cli accounts failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn serve(backend: &Backend, data_dir: &Path, extra: &[&str]) -> ServerProcess {
    let mut args = vec!["--directory", backend.directory.as_str()];
    args.extend_from_slice(extra);
    ServerProcess::start(data_dir, &args)
}

/// The name a session is welcomed by.
fn welcomed_as(server: &ServerProcess, user: &str, identity: &Identity) -> String {
    let mut session = PlainSession::open(server, user, identity);
    let line = session.wait_for("Welcome, ", WAIT);
    line.split("Welcome, ")
        .nth(1)
        .and_then(|rest| rest.split('!').next())
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn an_account_added_by_an_operator_logs_in_with_its_name() {
    for backend in backends() {
        let dir = tempfile::tempdir().unwrap();
        let keys = tempfile::tempdir().unwrap();
        let key = make_key(keys.path(), "alice");
        let server = serve(&backend, dir.path(), &[]);
        // Added while the server runs: the server's lock does not keep chat-cli out.
        let done = ok(accounts(
            &backend,
            dir.path(),
            &[
                "add",
                "Alice",
                key.with_extension("pub").to_str().unwrap(),
                "--label",
                "laptop",
            ],
        ));
        assert!(
            done.contains("Alice: created the account"),
            "{}: {done}",
            backend.name
        );
        let mut session = PlainSession::open(&server, "whoever", &Identity::Key(key.clone()));
        session.wait_for("Welcome, Alice!", WAIT);
        let (whois, _, _) = exec(&server, "x", &Identity::Keyless, "/whois Alice");
        assert!(whois.contains("(verified)"), "{}: {whois}", backend.name);
        let shown = ok(accounts(&backend, dir.path(), &["show", "alice"]));
        assert!(shown.contains(&fingerprint(&key)), "{shown}");
        assert!(shown.contains("\"laptop\""), "{shown}");
        assert!(shown.contains("last used"), "the login was noted: {shown}");
    }
}

#[test]
fn registered_mode_refuses_unknown_keys_and_keyless_users_with_how_to_register() {
    for backend in backends() {
        let dir = tempfile::tempdir().unwrap();
        let keys = tempfile::tempdir().unwrap();
        let member = make_key(keys.path(), "member");
        let stranger = make_key(keys.path(), "stranger");
        let server = serve(&backend, dir.path(), &["--join", "registered"]);
        ok(accounts(
            &backend,
            dir.path(),
            &[
                "add",
                "member",
                member.with_extension("pub").to_str().unwrap(),
            ],
        ));
        let (out, _, status) = exec(&server, "member", &Identity::Key(member), "/who");
        assert!(status.success(), "{}: {out}", backend.name);
        for identity in [Identity::Key(stranger), Identity::Keyless] {
            let (_, err, status) = exec(&server, "stranger", &identity, "/who");
            assert_eq!(status.code(), Some(255), "{}: {err}", backend.name);
            assert!(
                err.contains("admits registered keys only"),
                "{}: OpenSSH shows why: {err}",
                backend.name
            );
            assert!(err.contains("Ask an operator"), "{err}");
        }
    }
}

#[test]
fn a_removed_key_is_refused_within_the_cache_lifetime() {
    for backend in backends() {
        let dir = tempfile::tempdir().unwrap();
        let keys = tempfile::tempdir().unwrap();
        let desk = make_key(keys.path(), "desk");
        let laptop = make_key(keys.path(), "laptop");
        let server = serve(&backend, dir.path(), &["--join", "registered"]);
        for key in [&desk, &laptop] {
            ok(accounts(
                &backend,
                dir.path(),
                &["add", "carol", key.with_extension("pub").to_str().unwrap()],
            ));
        }
        let laptop_id = Identity::Key(laptop.clone());
        // Logged in once, so the server has the key cached.
        assert!(exec(&server, "carol", &laptop_id, "/who").2.success());
        ok(accounts(
            &backend,
            dir.path(),
            &["remove-key", &fingerprint(&laptop)],
        ));
        let removed = Instant::now();
        loop {
            let (_, err, status) = exec(&server, "carol", &laptop_id, "/who");
            if status.code() == Some(255) {
                assert!(err.contains("not registered"), "{err}");
                break;
            }
            assert!(
                removed.elapsed() < Duration::from_secs(30),
                "{}: the removed key still logs in after 30 s",
                backend.name
            );
            std::thread::sleep(Duration::from_millis(500));
        }
        eprintln!(
            "{}: refused {:?} after removal",
            backend.name,
            removed.elapsed()
        );
        assert!(
            exec(&server, "carol", &Identity::Key(desk), "/who")
                .2
                .success(),
            "the other key still works"
        );
    }
}

#[test]
fn a_key_added_over_ssh_logs_in_as_the_same_account() {
    for backend in backends() {
        let dir = tempfile::tempdir().unwrap();
        let keys = tempfile::tempdir().unwrap();
        let desk = make_key(keys.path(), "desk");
        let laptop = make_key(keys.path(), "laptop");
        let server = serve(&backend, dir.path(), &[]);
        // The first visit of a key in open mode registers the name it takes.
        assert_eq!(
            welcomed_as(&server, "dave", &Identity::Key(desk.clone())),
            "dave"
        );
        let line = std::fs::read_to_string(laptop.with_extension("pub")).unwrap();
        let (out, err, status) = exec(
            &server,
            "dave",
            &Identity::Key(desk.clone()),
            &format!("/keys add {}", line.trim()),
        );
        assert!(status.success(), "{}: {out}{err}", backend.name);
        assert!(out.contains("it logs in as dave"), "{out}");
        assert_eq!(
            welcomed_as(&server, "someone-else", &Identity::Key(laptop.clone())),
            "dave",
            "{}",
            backend.name
        );
        let (listed, _, _) = exec(&server, "dave", &Identity::Key(laptop.clone()), "/keys");
        assert!(listed.contains(&fingerprint(&desk)), "{listed}");
        assert!(
            listed.contains(&format!("{} ssh-ed25519", fingerprint(&laptop))),
            "{listed}"
        );
        assert!(listed.contains("(this session)"), "{listed}");
        // Removing the key one is logged in with needs a confirmation; the last key stays.
        let fp = fingerprint(&laptop);
        let (_, err, status) = exec(
            &server,
            "dave",
            &Identity::Key(laptop.clone()),
            &format!("/keys remove {fp}"),
        );
        assert_eq!(status.code(), Some(1));
        assert!(err.contains("--yes"), "{err}");
        let (out, _, status) = exec(
            &server,
            "dave",
            &Identity::Key(laptop.clone()),
            &format!("/keys remove {fp} --yes"),
        );
        assert!(status.success(), "{out}");
        let (_, err, status) = exec(
            &server,
            "dave",
            &Identity::Key(desk.clone()),
            &format!("/keys remove {}", fingerprint(&desk)),
        );
        assert_eq!(status.code(), Some(1));
        assert!(err.contains("--yes"), "{err}");
        let (_, err, _) = exec(
            &server,
            "dave",
            &Identity::Key(desk.clone()),
            &format!("/keys remove {} --yes", fingerprint(&desk)),
        );
        assert!(err.contains("last key"), "{err}");
        // A private key pasted by mistake is refused, and not echoed.
        let private = std::fs::read_to_string(&desk).unwrap();
        let first_line = private.lines().nth(1).unwrap();
        let (_, err, status) = exec(
            &server,
            "dave",
            &Identity::Key(desk.clone()),
            &format!("/keys add -----BEGIN OPENSSH PRIVATE KEY----- {first_line}"),
        );
        assert_eq!(status.code(), Some(1));
        assert!(err.contains("PRIVATE"), "{err}");
        assert!(!err.contains(first_line), "never echoed");
    }
}

#[test]
fn chat_cli_accounts_says_what_is_wrong() {
    let backend = &backends()[0];
    let dir = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let missing = accounts(backend, dir.path(), &["list"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("there is no database"),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );
    let server = serve(backend, dir.path(), &[]);
    let key = make_key(keys.path(), "x");
    for (args, expected) in [
        (
            vec!["add", "!!!", key.with_extension("pub").to_str().unwrap()],
            "is not a name",
        ),
        (vec!["add", "x", key.to_str().unwrap()], "PRIVATE key"),
        (vec!["show", "nobody"], "no account called nobody"),
        (
            vec!["remove-key", "SHA256:nothing"],
            "no key SHA256:nothing",
        ),
    ] {
        let out = accounts(backend, dir.path(), &args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expected), "{args:?}: {err}");
    }
    assert!(ok(accounts(backend, dir.path(), &["list"])).contains("no accounts"));
    drop(server);
}
