//! The real OpenSSH client (`/usr/bin/ssh`) against the server: a PTY session with piped
//! input (`ssh -tt`), one-shot commands, and RSA keys (SHA-2 in, SHA-1 out).

mod support;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::{TestServer, WAIT};

const SSH: &str = "/usr/bin/ssh";

/// Makes a key pair with `ssh-keygen` in `dir` and returns the private key's path.
fn keygen(dir: &Path, name: &str, kind: &[&str]) -> PathBuf {
    let path = dir.join(name);
    let status = Command::new("ssh-keygen")
        .args(["-q", "-N", "", "-C", name])
        .args(kind)
        .arg("-f")
        .arg(&path)
        .status()
        .expect("ssh-keygen runs (install openssh-client)");
    assert!(status.success(), "ssh-keygen failed");
    path
}

/// The fingerprint `ssh-keygen -lf` prints for the key at `path`.
fn keygen_fingerprint(path: &Path) -> String {
    let out = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(path.with_extension("pub"))
        .output()
        .expect("ssh-keygen -lf");
    let text = String::from_utf8(out.stdout).unwrap();
    text.split_whitespace()
        .nth(1)
        .unwrap_or_else(|| panic!("{text:?}"))
        .to_owned()
}

/// `ssh` to the server as `user` with `key`, ignoring any local configuration, agent or known
/// hosts; `extra` goes before the destination, `command` after it.
fn ssh(server: &TestServer, key: &Path, user: &str, extra: &[&str], command: &[&str]) -> Command {
    assert!(
        Path::new(SSH).exists(),
        "{SSH} is needed for these tests (install openssh-client)"
    );
    let mut cmd = Command::new(SSH);
    cmd.args(["-F", "/dev/null", "-p", &server.addr.port().to_string()])
        .args(["-o", "StrictHostKeyChecking=no"])
        .args(["-o", "UserKnownHostsFile=/dev/null"])
        .args(["-o", "BatchMode=no"])
        .args(["-o", "IdentitiesOnly=yes"])
        .args(["-o", "IdentityAgent=none"])
        .args(["-o", "LogLevel=ERROR"])
        .args(["-o", "ConnectTimeout=10"])
        .arg("-i")
        .arg(key)
        .args(extra)
        .arg(format!("{user}@127.0.0.1"))
        .args(command);
    cmd
}

/// A running `ssh` whose output is collected as it arrives.
struct OpenSsh {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
}

impl OpenSsh {
    fn spawn(mut cmd: Command) -> OpenSsh {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ssh starts");
        let collect = |mut from: Box<dyn Read + Send>| {
            let buffer = Arc::new(Mutex::new(Vec::new()));
            let into = Arc::clone(&buffer);
            std::thread::spawn(move || {
                let mut chunk = [0u8; 4096];
                while let Ok(n @ 1..) = from.read(&mut chunk) {
                    into.lock().unwrap().extend_from_slice(&chunk[..n]);
                }
            });
            buffer
        };
        let stdout = collect(Box::new(child.stdout.take().unwrap()));
        let stderr = collect(Box::new(child.stderr.take().unwrap()));
        OpenSsh {
            stdin: child.stdin.take(),
            child,
            stdout,
            stderr,
        }
    }

    /// Types `text` into ssh's (piped) standard input.
    fn write(&mut self, text: &str) {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        stdin.write_all(text.as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    /// Closes ssh's standard input: EOF.
    fn close_stdin(&mut self) {
        self.stdin = None;
    }

    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout.lock().unwrap()).into_owned()
    }

    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    /// What an 80×24 terminal would show of ssh's output so far.
    fn screen(&self) -> String {
        let size = |n| std::num::NonZeroU16::new(n).unwrap();
        let mut terminal = vt100::Parser::new(size(24), size(80), 0);
        terminal.process(&self.stdout.lock().unwrap());
        terminal.screen().contents()
    }

    /// Waits until the terminal fed ssh's output shows `pattern`.
    async fn wait_screen(&self, pattern: &str) {
        let deadline = Instant::now() + WAIT;
        while !self.screen().contains(pattern) {
            assert!(
                Instant::now() < deadline,
                "ssh's screen did not show {pattern:?} within {WAIT:?}; it shows\n{}\nstderr {:?}",
                self.screen(),
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits for ssh to exit.
    async fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Let the reader threads take the last bytes.
                tokio::time::sleep(Duration::from_millis(50)).await;
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "ssh did not exit within {WAIT:?}; stdout {:?}, stderr {:?}",
                self.stdout(),
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for OpenSsh {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a one-shot `ssh ... command` to the end: (stdout, stderr, exit code, time taken).
async fn ssh_exec(
    server: &TestServer,
    key: &Path,
    user: &str,
    command: &str,
) -> (String, String, i32, Duration) {
    let started = Instant::now();
    let mut ssh = OpenSsh::spawn(ssh(server, key, user, &[], &[command]));
    ssh.close_stdin();
    let status = ssh.wait().await;
    let took = started.elapsed();
    (
        ssh.stdout(),
        ssh.stderr(),
        status.code().unwrap_or(-1),
        took,
    )
}

/// What `/whois name` says about its key.
async fn whois_key(server: &TestServer, name: &str) -> String {
    let (stdout, _, _) = server.exec("asker", &format!("/whois {name}")).await;
    stdout
        .lines()
        .find_map(|l| l.trim_start_matches("-> ").trim().strip_prefix("key: "))
        .unwrap_or_else(|| panic!("no key line in {stdout:?}"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_openssh_user_joins_says_a_line_and_a_russh_user_sees_it() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path(), "alice_key", &["-t", "ed25519"]);
    let server = TestServer::start().await;
    let mut bob = server.plain("bob").await;

    // `ssh -tt` with piped input: a PTY (of 0×0, which means 80×24).
    let mut alice = OpenSsh::spawn(ssh(&server, &key, "alice", &["-tt"], &[]));
    bob.expect("* alice joined. (Connected: 2)\n").await;
    alice.wait_screen("[alice] ").await;

    alice.write("hello from openssh\n");
    bob.expect("alice: hello from openssh\n").await;
    alice.wait_screen("alice: hello from openssh").await;

    bob.say("hi back").await;
    alice.wait_screen("bob: hi back").await;
    assert!(alice.stdout().contains("\r\n"), "a PTY gets CRLF line ends");

    // OpenSSH offered the key: it is alice's identity.
    assert_eq!(whois_key(&server, "alice").await, keygen_fingerprint(&key));

    alice.write("/exit\n");
    let status = alice.wait().await;
    assert!(status.success(), "{status:?}; stderr {:?}", alice.stderr());
    bob.expect("* alice left.").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_bot_and_an_openssh_terminal_user_talk_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let alice_key = keygen(dir.path(), "alice_key", &["-t", "ed25519"]);
    let bot_key = keygen(dir.path(), "bot_key", &["-t", "ed25519"]);
    let server = TestServer::start().await;
    let mut alice = OpenSsh::spawn(ssh(&server, &alice_key, "alice", &["-tt"], &[]));
    alice.wait_screen("[alice] ").await;

    // `ssh host json` with piped input, as a shell script bot runs it.
    let mut bot = OpenSsh::spawn(ssh(&server, &bot_key, "robot", &[], &["json"]));
    alice.wait_screen("robot joined.").await;
    let wait_bot = |pattern: &'static str| {
        let deadline = Instant::now() + WAIT;
        let stdout = Arc::clone(&bot.stdout);
        async move {
            loop {
                let text = String::from_utf8_lossy(&stdout.lock().unwrap()).into_owned();
                if text.contains(pattern) {
                    return text;
                }
                assert!(
                    Instant::now() < deadline,
                    "the bot did not get {pattern:?}: {text:?}"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    let hello = wait_bot("\"type\":\"hello\"").await;
    assert!(
        hello.starts_with('{') && hello.contains("\"name\":\"robot\""),
        "{hello}"
    );

    alice.write("hi robot\n");
    let text = wait_bot("\"text\":\"hi robot\"").await;
    let said = text
        .lines()
        .find(|l| l.contains("hi robot"))
        .expect("the line is there");
    assert!(
        said.contains("\"type\":\"said\"") && said.contains("\"from\":\"alice\""),
        "{said}"
    );

    bot.write("{\"type\":\"say\",\"text\":\"hello alice\"}\n");
    alice.wait_screen("robot: hello alice").await;

    bot.close_stdin();
    let status = bot.wait().await;
    assert!(status.success(), "{status:?}; stderr {:?}", bot.stderr());
    alice.wait_screen("robot left.").await;
    alice.write("/exit\n");
    alice.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openssh_exec_prints_who_exits_0_and_an_unknown_command_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path(), "key", &["-t", "ed25519"]);
    let server = TestServer::start().await;
    let _bob = server.plain("bob").await;

    let (stdout, stderr, code, took_who) = ssh_exec(&server, &key, "carol", "/who").await;
    assert_eq!(
        (stdout.as_str(), code),
        ("-> 1 connected: bob\n", 0),
        "stderr {stderr:?}"
    );

    let (stdout, stderr, code, took_frob) = ssh_exec(&server, &key, "carol", "/frob").await;
    assert_eq!(stdout, "");
    assert!(
        stderr.contains("-> unknown command /frob; type /help for the list"),
        "{stderr:?}"
    );
    assert_eq!(code, 1);

    // Logins are quick (no second-long wait after OpenSSH's first `none` attempt): the
    // fastest of the runs, which noise on a shared machine only slows, is well under 1 s.
    let (_, _, _, took_again) = ssh_exec(&server, &key, "carol", "/who").await;
    let fastest = took_who.min(took_frob).min(took_again);
    eprintln!("ssh login + exec: {took_who:?}, {took_frob:?}, {took_again:?}");
    assert!(
        fastest < Duration::from_secs(1),
        "ssh exec took {fastest:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_openssh_rsa_key_logs_in_with_sha2_and_is_identified_by_its_fingerprint() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path(), "rsa_key", &["-t", "rsa", "-b", "2048"]);
    let server = TestServer::start().await;
    let mut bob = server.plain("bob").await;

    let mut rosa = OpenSsh::spawn(ssh(&server, &key, "rosa", &["-tt"], &[]));
    bob.expect("* rosa joined.").await;
    assert_eq!(
        whois_key(&server, "rosa").await,
        keygen_fingerprint(&key),
        "the RSA key was accepted and is the identity"
    );
    // EOF on a PTY session's input ends it, and ssh exits 0.
    rosa.close_stdin();
    let status = rosa.wait().await;
    assert!(status.success(), "{status:?}; stderr {:?}", rosa.stderr());
    bob.expect("* rosa left.").await;

    // Forced to sign with SHA-1 (`ssh-rsa`) and to use only its key, it is refused.
    let (_, stderr, code, _) = {
        let started = Instant::now();
        let cmd = ssh(
            &server,
            &key,
            "rosa",
            &[
                "-o",
                "PubkeyAcceptedAlgorithms=ssh-rsa",
                "-o",
                "PreferredAuthentications=publickey",
            ],
            &["/who"],
        );
        let mut old = OpenSsh::spawn(cmd);
        old.close_stdin();
        let status = old.wait().await;
        (
            old.stdout(),
            old.stderr(),
            status.code().unwrap_or(-1),
            started.elapsed(),
        )
    };
    assert_eq!(code, 255, "{stderr:?}");
    assert!(stderr.contains("Permission denied"), "{stderr:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_openssh_client_over_the_limit_is_refused_and_ssh_v_shows_why() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path(), "key", &["-t", "ed25519"]);
    let server = TestServer::start_with(|c| c.ssh.max_per_ip = 1).await;
    let _bob = server.plain("bob").await;

    let mut refused = OpenSsh::spawn(ssh(&server, &key, "carol", &["-v"], &["/who"]));
    refused.close_stdin();
    let status = refused.wait().await;
    assert_eq!(status.code(), Some(255));
    // The line comes before SSH's own banner: OpenSSH logs it with -v.
    let stderr = refused.stderr();
    assert!(
        stderr.contains(
            "chat server: too many connections from your address; close one and try again"
        ),
        "{stderr}"
    );
}
