//! Running the real `chat-cli serve` and talking to it with the real OpenSSH client.

#![allow(dead_code)] // each test file uses its own part of this

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A `chat-cli serve` process, killed when dropped (even if the test fails).
pub struct ServerProcess {
    child: Option<Child>,
    pub port: u16,
    pub data_dir: PathBuf,
    /// What the server printed on stderr, line by line.
    log: mpsc::Receiver<String>,
    /// Lines read from `log` while waiting for start-up, given back by [`Self::log`].
    early_log: std::cell::RefCell<Vec<String>>,
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("the loopback interface is there")
}

impl ServerProcess {
    /// Starts `chat-cli serve` on a free port with `data_dir`, and waits until it accepts.
    pub fn start(data_dir: &Path, extra: &[&str]) -> Self {
        Self::start_on(free_port(), data_dir, extra)
    }

    pub fn start_on(port: u16, data_dir: &Path, extra: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_chat-cli"))
            .arg("serve")
            .args(["--bind", &format!("127.0.0.1:{port}")])
            .arg("--data-dir")
            .arg(data_dir)
            .args(extra)
            .env("RUST_LOG", "info")
            // Parallel tests would all want the default 127.0.0.1:8080; a test of the web
            // front-end passes --web-bind.
            .env("CHAT_WEB_BIND", "off")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the chat-cli binary runs");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (tx, log) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let server = Self {
            child: Some(child),
            port,
            data_dir: data_dir.to_owned(),
            log,
            early_log: Default::default(),
        };
        server.wait_until_listening();
        server
    }

    /// Waits for the server to say it listens: reading its log rather than connecting, so
    /// that no probe connection shows up in what the test measures.
    fn wait_until_listening(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut early = self.early_log.borrow_mut();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.log.recv_timeout(left) {
                Ok(line) => {
                    let ready = line.contains("listening; connect with");
                    early.push(line);
                    if ready {
                        return;
                    }
                }
                Err(_) => break,
            }
        }
        panic!(
            "chat-cli serve did not listen on port {} within 20 s; it said:\n{}",
            self.port,
            early.join("\n")
        );
    }

    /// Kills the server with SIGKILL: no shutdown, no flushing.
    pub fn kill_hard(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("the server is running");
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        child.wait().expect("the server exits")
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the server is running").id()
    }

    /// Everything the server logged so far.
    pub fn log(&self) -> Vec<String> {
        let mut lines = std::mem::take(&mut *self.early_log.borrow_mut());
        lines.extend(self.log.try_iter());
        lines
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill_hard();
    }
}

/// Runs `chat-cli serve` on `data_dir` expecting it not to start; returns its exit code and
/// what it printed on stderr.
pub fn serve_failure(data_dir: &Path, extra: &[&std::ffi::OsStr]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_chat-cli"))
        .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .args(extra)
        .env("CHAT_WEB_BIND", "off")
        .output()
        .expect("the chat-cli binary runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// An SSH identity for the OpenSSH client: a key file, or none.
#[derive(Debug, Clone)]
pub enum Identity {
    Key(PathBuf),
    Keyless,
}

/// Makes an Ed25519 key with `ssh-keygen` in `dir`; returns its private key path.
pub fn make_key(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&path)
        .status()
        .expect("ssh-keygen runs");
    assert!(status.success(), "ssh-keygen failed");
    path
}

/// The SHA256 fingerprint `ssh-keygen -lf` reports for a key file.
pub fn fingerprint(key: &Path) -> String {
    let out = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(key)
        .output()
        .expect("ssh-keygen runs");
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .nth(1)
        .expect("ssh-keygen -l prints a fingerprint")
        .to_owned()
}

/// An `ssh` command line for `user` at the server, as `identity`, with no host key checking
/// and no interaction.
pub fn ssh(server: &ServerProcess, user: &str, identity: &Identity) -> Command {
    let mut command = Command::new("ssh");
    command.args([
        "-p",
        &server.port.to_string(),
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "ConnectTimeout=10",
        "-F",
        "/dev/null",
    ]);
    match identity {
        Identity::Key(path) => {
            command.args([
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                "PasswordAuthentication=no",
                "-i",
            ]);
            command.arg(path);
        }
        Identity::Keyless => {
            command.args(["-o", "PubkeyAuthentication=no", "-o", "IdentitiesOnly=yes"]);
        }
    }
    command.arg(format!("{user}@127.0.0.1"));
    command
}

/// The same, connecting from a given local source address (`ssh -b`), as another host would.
pub fn ssh_from(server: &ServerProcess, user: &str, identity: &Identity, source: &str) -> Command {
    let mut command = ssh(server, user, identity);
    command.args(["-b", source]);
    command
}

/// Waits until `condition` holds, checking every 100 ms; panics after `timeout`.
pub fn eventually(timeout: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "the condition did not hold within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Runs one command over `ssh ... /command` and returns (stdout, stderr, status).
pub fn exec(
    server: &ServerProcess,
    user: &str,
    identity: &Identity,
    command: &str,
) -> (String, String, ExitStatus) {
    let out = ssh(server, user, identity)
        .arg(command)
        .stdin(Stdio::null())
        .output()
        .expect("ssh runs");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status,
    )
}

/// A plain session (`ssh -T`): lines in, lines out.
pub struct PlainSession {
    child: Child,
    lines: mpsc::Receiver<String>,
    pub seen: Vec<String>,
}

impl PlainSession {
    pub fn open(server: &ServerProcess, user: &str, identity: &Identity) -> Self {
        Self::spawn(ssh(server, user, identity))
    }

    /// Opens a session from a given local source address.
    pub fn open_from(
        server: &ServerProcess,
        user: &str,
        identity: &Identity,
        source: &str,
    ) -> Self {
        Self::spawn(ssh_from(server, user, identity, source))
    }

    fn spawn(mut command: Command) -> Self {
        let mut child = command
            .arg("-T")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("ssh runs");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                let _ = tx.send(line.trim_end_matches(['\r', '\n']).to_owned());
                line.clear();
            }
        });
        Self {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    pub fn send(&mut self, line: &str) {
        let stdin = self.child.stdin.as_mut().expect("stdin is piped");
        stdin.write_all(line.as_bytes()).expect("ssh takes input");
        stdin.write_all(b"\n").expect("ssh takes input");
        stdin.flush().expect("ssh takes input");
    }

    /// Waits for a line containing `needle`; returns it. Panics after `timeout` with what was
    /// seen.
    pub fn wait_for(&mut self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        if let Some(line) = self.seen.iter().find(|l| l.contains(needle)) {
            return line.clone();
        }
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no line with {needle:?} within {timeout:?}; saw:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Waits, with stdin still open, for the server to end the session: whether the client
    /// exited within `timeout`.
    pub fn closed_by_server_within(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Ends the session (closes stdin) and collects the rest of its output.
    pub fn finish(mut self) -> Vec<String> {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
        // The reader thread ends with the process; give it a moment to pass on the last lines.
        while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(500)) {
            self.seen.push(line);
        }
        std::mem::take(&mut self.seen)
    }
}

impl Drop for PlainSession {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Fetches `path` from the metrics endpoint (`--metrics-bind`): (status line, body).
pub fn http_get(port: u16, path: &str) -> (String, String) {
    use std::io::Read;
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut text = String::new();
    let _ = stream.read_to_string(&mut text);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (
        head.lines().next().unwrap_or("").to_owned(),
        body.to_owned(),
    )
}

/// A metric's value from the metrics endpoint; 0 if it is not there.
pub fn metric(port: u16, name: &str) -> f64 {
    let (_, body) = http_get(port, "/metrics");
    body.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}
