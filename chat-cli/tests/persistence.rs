//! The server remembers across restarts and crashes: the real binary, killed and started
//! again on the same data directory, and the real OpenSSH client.

mod support;

use std::time::Duration;

use support::{Identity, PlainSession, ServerProcess, exec, fingerprint, make_key, serve_failure};

const WAIT: Duration = Duration::from_secs(20);

#[test]
fn nothing_anyone_saw_is_lost_when_the_server_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let alice_key = Identity::Key(make_key(keys.path(), "alice"));
    // 200 lines at once are a flood by the default limits; this test is about the store.
    let mut server = ServerProcess::start(dir.path(), &["--line-burst", "1000"]);

    let mut bob = PlainSession::open(&server, "bob", &Identity::Keyless);
    bob.wait_for("bob joined", WAIT);
    let mut alice = PlainSession::open(&server, "alice", &alice_key);
    alice.wait_for("alice joined", WAIT);
    for i in 1..=200 {
        alice.send(&format!("message {i:03}"));
    }
    bob.wait_for("alice: message 200", WAIT);
    // The moment the last line has been seen, the server dies without any chance to flush.
    server.kill_hard();
    drop((alice, bob));

    let stored = count_lines(&dir.path().join("chat.db"));
    assert_eq!(
        stored, 200,
        "every line that was broadcast is in the database"
    );

    let server = ServerProcess::start_on(server.port, dir.path(), &[]);
    let mut carol = PlainSession::open(&server, "carol", &Identity::Keyless);
    carol.wait_for("carol joined", WAIT);
    let replayed: Vec<&String> = carol
        .seen
        .iter()
        .filter(|l| l.contains("alice: message"))
        .collect();
    assert_eq!(
        replayed.len(),
        50,
        "a newcomer sees the last 50 lines: {replayed:?}"
    );
    assert!(replayed[0].ends_with("message 151"), "{}", replayed[0]);
    assert!(replayed[49].ends_with("message 200"), "{}", replayed[49]);
}

/// Opens the database the way an operator would, with the sqlite library, after the server
/// has gone.
fn count_lines(path: &std::path::Path) -> i64 {
    let db = rusqlite::Connection::open(path).expect("the database opens");
    db.query_row("SELECT COUNT(*) FROM lines", [], |row| row.get(0))
        .expect("the lines table is there")
}

/// Joins visibly and leaves at once, which is how a key claims its name.
fn visit(server: &ServerProcess, user: &str, identity: &Identity) -> Vec<String> {
    let mut session = PlainSession::open(server, user, identity);
    session.wait_for("joined", WAIT);
    session.finish()
}

fn welcome_name(lines: &[String]) -> String {
    let welcome = lines
        .iter()
        .find_map(|l| l.split("Welcome, ").nth(1))
        .expect("a welcome line");
    welcome.split('!').next().unwrap().to_owned()
}

#[test]
fn a_name_stays_with_its_key_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let alice_key = make_key(keys.path(), "alice");
    let alice = Identity::Key(alice_key.clone());
    let mallory = Identity::Key(make_key(keys.path(), "mallory"));

    let mut server = ServerProcess::start(dir.path(), &[]);
    assert_eq!(welcome_name(&visit(&server, "alice", &alice)), "alice");
    assert_eq!(server.terminate().code(), Some(0));

    let server = ServerProcess::start_on(server.port, dir.path(), &[]);
    assert_eq!(
        welcome_name(&visit(&server, "alice", &mallory)),
        "alice2",
        "another key cannot take it"
    );
    assert_eq!(
        welcome_name(&visit(&server, "alice", &Identity::Keyless)),
        "alice3",
        "nor can a keyless user (and alice2 now belongs to mallory's key)"
    );
    assert_eq!(
        welcome_name(&visit(&server, "root", &alice)),
        "alice",
        "the owner gets it back, whatever username it uses"
    );

    let mut squatter = PlainSession::open(&server, "mal", &mallory);
    squatter.wait_for("joined", WAIT);
    squatter.send("/nick alice");
    squatter.wait_for("is registered to someone else", WAIT);

    let (whois, _, _) = exec(&server, "x", &Identity::Keyless, "/whois alice");
    assert!(
        whois.is_empty() || whois.contains("no one here"),
        "alice is offline: {whois}"
    );
    let mut owner = PlainSession::open(&server, "alice", &alice);
    owner.wait_for("joined", WAIT);
    let (whois, _, status) = exec(&server, "x", &Identity::Keyless, "/whois alice");
    assert!(status.success(), "{whois}");
    assert!(whois.contains("name: alice (verified)"), "{whois}");
    assert!(whois.contains(&fingerprint(&alice_key)), "{whois}");
}

#[test]
fn settings_and_offline_messages_survive_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let alice = Identity::Key(make_key(keys.path(), "alice"));

    let mut server = ServerProcess::start(dir.path(), &[]);
    let mut session = PlainSession::open(&server, "alice", &alice);
    session.wait_for("alice joined", WAIT);
    session.send("/timestamp off");
    session.wait_for("timestamps are now: off", WAIT);
    session.send("/join #rust");
    session.wait_for("alice joined", WAIT);
    session.finish();
    server.terminate();

    let mut server = ServerProcess::start_on(server.port, dir.path(), &[]);
    let (out, _, status) = exec(
        &server,
        "bob",
        &Identity::Keyless,
        "/msg alice see you tomorrow",
    );
    assert!(status.success(), "{out}");
    assert!(out.contains("alice is offline"), "{out}");
    server.kill_hard();

    let server = ServerProcess::start_on(server.port, dir.path(), &[]);
    let mut session = PlainSession::open(&server, "alice", &alice);
    let message = session.wait_for("[PM from bob] see you tomorrow", WAIT);
    assert!(
        !message.starts_with(char::is_numeric),
        "timestamps stay off: {message}"
    );
    session.send("/who");
    session.wait_for("connected in #rust: alice", WAIT);
    session.send("/whois alice");
    session.wait_for("room: #rust", WAIT);
}

#[test]
fn a_corrupt_database_is_a_clear_startup_error() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("chat.db");
    std::fs::write(&database, vec![0x5a_u8; 16 * 1024]).unwrap();
    let (code, stderr) = serve_failure(dir.path(), &[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("corrupt"), "{stderr}");
    assert!(
        stderr.contains(&database.display().to_string()),
        "names the file: {stderr}"
    );
    assert!(
        stderr.contains("move it aside"),
        "says what to do: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_second_server_on_the_same_data_dir_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _first = ServerProcess::start(dir.path(), &[]);
    let (code, stderr) = serve_failure(dir.path(), &[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("locked by another process"), "{stderr}");
}

#[test]
fn a_host_key_that_cannot_be_read_is_a_clear_startup_error() {
    let dir = tempfile::tempdir().unwrap();
    let host_key = dir.path().join("host_ed25519_key");
    // Root reads any file whatever its mode, and tests run as root in CI: a directory in
    // its place cannot be read by anyone.
    std::fs::create_dir(&host_key).unwrap();
    let (code, stderr) = serve_failure(dir.path(), &[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("cannot read the host key"), "{stderr}");
    assert!(stderr.contains(&host_key.display().to_string()), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    std::fs::remove_dir(&host_key).unwrap();
    std::fs::write(&host_key, "-----BEGIN OPENSSH PRIVATE KEY-----\ngarbage\n").unwrap();
    let (code, stderr) = serve_failure(dir.path(), &[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("is not a valid unencrypted OpenSSH private key"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_port_already_taken_is_a_start_up_error_that_names_its_flag() {
    // A second server on one machine wants the default 127.0.0.1:8080 for its web front-end
    // too: the error says which flag to change.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    for flag in ["--web-bind", "--metrics-bind"] {
        let dir = tempfile::tempdir().unwrap();
        let (code, stderr) = serve_failure(dir.path(), &[flag.as_ref(), addr.as_ref()]);
        assert_eq!(code, Some(1), "{stderr}");
        assert!(
            stderr.contains(&format!("cannot listen on {addr} ({flag})")),
            "{stderr}"
        );
    }
}
