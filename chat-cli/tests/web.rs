//! The web front-end as `chat-cli serve` runs it: `ssh host web` prints a one-time link the
//! web redeems, refusals point at the registration page, `--web-bind off` turns it off.

mod support;

use std::process::Command;
use std::time::Duration;

use support::{Identity, PlainSession, ServerProcess, exec, make_key};

const WAIT: Duration = Duration::from_secs(20);

/// The web front-end's URL, from the server's log.
fn web_url(server: &ServerProcess) -> String {
    let line = server
        .log()
        .into_iter()
        .find(|l| l.contains("web front-end listening"))
        .expect("the web front-end said where it listens");
    let url = line.split("url=").nth(1).expect("the line has the URL");
    url.split_whitespace().next().unwrap().to_owned()
}

fn curl(url: &str) -> String {
    let out = Command::new("curl")
        .args(["-s", "--max-time", "10", url])
        .output()
        .expect("curl runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn ssh_web_prints_a_link_that_signs_the_browser_in() {
    let dir = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let key = make_key(keys.path(), "alice");
    let stranger = make_key(keys.path(), "stranger");
    let server = ServerProcess::start(dir.path(), &["--web-bind", "127.0.0.1:0"]);
    let url = web_url(&server);
    assert!(curl(&format!("{url}/")).contains(&format!("ssh -p {} 127.0.0.1", server.port)));
    // A first login makes the key's account (open mode).
    let mut session = PlainSession::open(&server, "alice", &Identity::Key(key.clone()));
    session.wait_for("Welcome, alice!", WAIT);
    drop(session);
    let (out, err, status) = exec(&server, "alice", &Identity::Key(key), "web");
    assert!(status.success(), "{err}");
    assert!(out.contains("to sign in as alice"), "{out}");
    let link = out
        .split_whitespace()
        .find(|w| w.starts_with(&format!("{url}/signin/")))
        .unwrap_or_else(|| panic!("no link in {out}"));
    assert!(
        curl(link).contains("Sign in as alice?"),
        "the web knows the link"
    );
    // No account, no key: said, with status 1.
    let (_, err, status) = exec(&server, "x", &Identity::Key(stranger), "/web");
    assert_eq!(status.code(), Some(1));
    assert!(
        err.contains(&format!("Register it at {url}/register")),
        "{err}"
    );
    let (_, err, status) = exec(&server, "x", &Identity::Keyless, "web");
    assert_eq!(status.code(), Some(1));
    assert!(err.contains("without a key"), "{err}");
}

#[test]
fn registered_mode_refusals_point_at_the_registration_page() {
    let dir = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let stranger = make_key(keys.path(), "stranger");
    let server = ServerProcess::start(
        dir.path(),
        &["--web-bind", "127.0.0.1:0", "--join", "registered"],
    );
    let url = web_url(&server);
    let (_, err, _) = exec(&server, "x", &Identity::Key(stranger), "/who");
    assert!(
        err.contains(&format!("Register your key at {url}/register")),
        "{err}"
    );
}

#[test]
fn with_the_web_off_ssh_web_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let key = make_key(keys.path(), "bob");
    let server = ServerProcess::start(dir.path(), &["--web-bind", "off"]);
    let mut session = PlainSession::open(&server, "bob", &Identity::Key(key.clone()));
    session.wait_for("Welcome, bob!", WAIT);
    drop(session);
    let (_, err, status) = exec(&server, "bob", &Identity::Key(key), "web");
    assert_eq!(status.code(), Some(1));
    assert!(err.contains("web front-end is off"), "{err}");
}
