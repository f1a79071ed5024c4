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

/// The directories every test runs against: SQLite always, and DynamoDB on the server whose
/// endpoint `CHAT_TEST_DYNAMODB` gives (`.ci/run` starts dynalite; under `CI=true` it must be
/// there). Each DynamoDB backend gets a fresh table.
fn backends() -> Vec<Backend> {
    let mut backends = vec![Backend {
        name: "sqlite",
        directory: "sqlite".to_owned(),
    }];
    match std::env::var("CHAT_TEST_DYNAMODB") {
        Ok(endpoint) => {
            use std::sync::atomic::{AtomicU32, Ordering};
            static NEXT: AtomicU32 = AtomicU32::new(0);
            let table = format!(
                "accounts-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            );
            let directory = format!("dynamodb://{table}?region=us-east-1&endpoint={endpoint}");
            let out = Command::new(env!("CARGO_BIN_EXE_chat-cli"))
                .args(["directory", "create-table", "--directory", &directory])
                .output()
                .expect("chat-cli runs");
            assert!(
                out.status.success(),
                "cannot create the test table: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            backends.push(Backend {
                name: "dynamodb",
                directory,
            });
        }
        Err(_) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("CHAT_TEST_DYNAMODB is not set: .ci/run starts dynalite for these tests")
        }
        Err(_) => eprintln!(
            "CHAT_TEST_DYNAMODB is not set: testing accounts on SQLite only (start dynalite, see \
             chat-dynamo/README.md, to test DynamoDB too)"
        ),
    }
    backends
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

/// A dynalite of the test's own (so stopping it disturbs no other test), on a free port.
struct OwnDynalite {
    child: std::process::Child,
    endpoint: String,
}

impl OwnDynalite {
    fn start() -> Option<Self> {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../tools/dynalite/server.js");
        let installed = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tools/dynalite/node_modules"
        );
        if !Path::new(installed).exists() {
            assert_ne!(
                std::env::var("CI").as_deref(),
                Ok("true"),
                "tools/dynalite is not installed (.ci/run runs npm ci there)"
            );
            eprintln!("tools/dynalite is not installed: skipping the DynamoDB outage test");
            return None;
        }
        let mut child = Command::new("node")
            .arg(script)
            .args(["--port", "0", "--createTableMs", "0"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("node runs");
        let stdout = child.stdout.take().expect("piped");
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line)
            .expect("dynalite says where it listens");
        let endpoint = line
            .trim()
            .strip_prefix("listening on ")
            .expect("a listening line")
            .to_owned();
        Some(Self { child, endpoint })
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }
}

impl Drop for OwnDynalite {
    fn drop(&mut self) {
        self.signal("-CONT");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn with_dynamodb_stopped_known_keys_get_in_and_unknown_ones_are_told_to_try_again() {
    let Some(dynalite) = OwnDynalite::start() else {
        return;
    };
    let backend = Backend {
        name: "dynamodb (own)",
        directory: format!(
            "dynamodb://outage?region=us-east-1&endpoint={}",
            dynalite.endpoint
        ),
    };
    let out = Command::new(env!("CARGO_BIN_EXE_chat-cli"))
        .args([
            "directory",
            "create-table",
            "--directory",
            &backend.directory,
        ])
        .output()
        .expect("chat-cli runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let known = make_key(keys.path(), "known");
    let unknown = make_key(keys.path(), "unknown");
    let server = serve(&backend, dir.path(), &["--join", "registered"]);
    ok(accounts(
        &backend,
        dir.path(),
        &["add", "erin", known.with_extension("pub").to_str().unwrap()],
    ));
    let known_id = Identity::Key(known.clone());
    assert!(exec(&server, "erin", &known_id, "/who").2.success());

    dynalite.signal("-STOP");
    // Past the cache's lifetime, so the server asks the stopped directory again.
    std::thread::sleep(Duration::from_secs(16));
    let started = Instant::now();
    let (out, err, status) = exec(&server, "erin", &known_id, "/who");
    assert!(
        status.success(),
        "a key seen recently still gets in: {out}{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "the login waited {:?}",
        started.elapsed()
    );
    let (_, err, status) = exec(&server, "x", &Identity::Key(unknown.clone()), "/who");
    assert_eq!(status.code(), Some(255), "{err}");
    assert!(err.contains("key store is unavailable"), "{err}");

    dynalite.signal("-CONT");
    ok(accounts(
        &backend,
        dir.path(),
        &[
            "add",
            "frank",
            unknown.with_extension("pub").to_str().unwrap(),
        ],
    ));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (out, _, status) = exec(&server, "x", &Identity::Key(unknown.clone()), "/who");
        if status.success() {
            assert!(out.contains("connected"), "{out}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no recovery after the directory came back"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}
