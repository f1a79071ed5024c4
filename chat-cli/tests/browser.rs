//! The web front-end in a real browser, run once by `cargo test --workspace` against the test
//! build: `chat-cli serve` on loopback ports, then `node chat-web/tests/browser/e2e.test.mjs`
//! (Debian's Chromium driven by playwright-core, axe-core for accessibility, OpenSSH for the
//! keys, signatures and logins). The script writes its screenshots to target/screenshots/, or to
//! docs/screenshots/ (the ones the README shows) with `UPDATE_SCREENSHOTS=1`, so that a test run
//! leaves the tree as it was.
//!
//! Without node, the script's node_modules (`npm ci` in chat-web/tests/browser) or
//! /usr/bin/chromium the test says so and passes, unless `CI=true`: CI must run it.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::ServerProcess;

const CHROMIUM: &str = "/usr/bin/chromium";

/// Where the screenshots go: the committed ones only when asked for.
fn screenshot_dir(root: &Path) -> PathBuf {
    if std::env::var_os("UPDATE_SCREENSHOTS").is_some_and(|v| v == "1") {
        root.join("docs/screenshots")
    } else {
        root.join("target/screenshots")
    }
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("chat-cli sits in the workspace")
        .to_owned()
}

/// What is missing to run the browser test, if anything.
fn missing(script_dir: &Path) -> Option<String> {
    if !script_dir.join("node_modules/playwright-core").is_dir()
        || !script_dir.join("node_modules/axe-core").is_dir()
    {
        return Some(format!(
            "{}/node_modules (run `npm ci` there)",
            script_dir.display()
        ));
    }
    if !Path::new(CHROMIUM).exists() {
        return Some(format!("{CHROMIUM} (apt-get install chromium)"));
    }
    if Command::new("node").arg("--version").output().is_err() {
        return Some("node (apt-get install nodejs)".to_owned());
    }
    None
}

/// The web front-end's URL, from the server's log.
fn web_url(server: &ServerProcess) -> String {
    server
        .log()
        .into_iter()
        .find(|l| l.contains("web front-end listening"))
        .and_then(|line| {
            let url = line.split("url=").nth(1)?;
            Some(url.split_whitespace().next()?.to_owned())
        })
        .expect("the web front-end said where it listens")
}

#[test]
fn a_newcomer_registers_in_chromium_chats_over_openssh_and_manages_keys() {
    let root = repo_root();
    let script_dir = root.join("chat-web/tests/browser");
    if let Some(what) = missing(&script_dir) {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("CI=true but the browser test cannot run: missing {what}");
        }
        eprintln!("skipping the browser test: missing {what}");
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(
        data.path(),
        &["--web-bind", "127.0.0.1:0", "--join", "registered"],
    );
    let url = web_url(&server);
    let out = Command::new("node")
        .arg("--test")
        .arg("--test-concurrency=1")
        .arg(script_dir.join("e2e.test.mjs"))
        .current_dir(&root)
        .env("CHAT_WEB_URL", &url)
        .env("CHAT_SSH_PORT", server.port.to_string())
        .env("CHAT_E2E_WORK", work.path())
        .env("SCREENSHOTS", screenshot_dir(&root))
        .env("CHROMIUM", CHROMIUM)
        .output()
        .expect("node runs");
    assert!(
        out.status.success(),
        "the browser test failed ({}):\n{}\n{}\n--- the server said:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        server.log().join("\n")
    );
}
