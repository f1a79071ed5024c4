//! A web front-end on a real socket, a blocking HTTP/1.1 client with a cookie jar, and keys
//! signed with `ssh-keygen` or the ssh-key crate.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use chat_server::chat_store::directory::Account;
use chat_server::{Runtime, RuntimeConfig};
use chat_web::clock::ManualClock;
use chat_web::ratelimit::Rate;
use chat_web::{AppState, PublicUrl, SshInfo, WebConfig, WebLimits, WebServer};
use russh::keys::ssh_key::{HashAlg, LineEnding, PrivateKey};
use tokio_util::sync::CancellationToken;

/// A running web front-end with its own runtime and a clock that moves only when told.
pub struct TestWeb {
    pub addr: SocketAddr,
    pub clock: Arc<ManualClock>,
    pub runtime: Arc<Runtime>,
    pub state: Arc<AppState>,
    shutdown: CancellationToken,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Limits loose enough that tests which do not test them never meet them.
pub fn loose_limits() -> WebLimits {
    WebLimits {
        per_ip: Rate::new(10_000, Duration::from_millis(1)),
        per_account: Rate::new(10_000, Duration::from_millis(1)),
        ..WebLimits::default()
    }
}

impl TestWeb {
    pub fn start() -> Self {
        Self::with_limits(loose_limits())
    }

    pub fn with_limits(limits: WebLimits) -> Self {
        Self::with(limits, None)
    }

    /// A server with `limits` and, if given, TLS from these files.
    pub fn with(limits: WebLimits, tls: Option<chat_web::TlsFiles>) -> Self {
        let clock = Arc::new(ManualClock::new());
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        let clock_for_server = Arc::clone(&clock);
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let scheme = if tls.is_some() { "https" } else { "http" };
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap();
                let url: PublicUrl = format!("{scheme}://127.0.0.1:{}", addr.port()).parse().unwrap();
                let runtime_config = RuntimeConfig {
                    web_url: Some(url.url.clone()),
                    ..RuntimeConfig::default()
                };
                let runtime = Runtime::new(runtime_config).unwrap();
                runtime.start();
                let ssh = SshInfo {
                    host: "127.0.0.1".into(),
                    port: 2222,
                    host_fingerprint: "SHA256:testhostkeyfingerprint".into(),
                    host_public_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIh8wpbTszHvcXMbDCvnlD7LQXiJmPJ3/JrmlBspY3sO".into(),
                };
                let mut config = WebConfig::new(url, ssh);
                config.limits = limits;
                config.clock = clock_for_server;
                config.tls = tls;
                let web = WebServer::new(config, Arc::clone(&runtime)).unwrap();
                ready_tx.send((addr, Arc::clone(&runtime), web.state())).unwrap();
                web.run(listener, stop).await;
            });
        });
        let (addr, runtime, state) = ready_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        Self {
            addr,
            clock,
            runtime,
            state,
            shutdown,
            thread: Some(thread),
        }
    }

    pub fn client(&self) -> Client {
        Client {
            addr: self.addr,
            cookies: BTreeMap::new(),
        }
    }

    /// Every account in the directory.
    pub fn accounts(&self) -> Vec<Account> {
        let directory = Arc::clone(self.runtime.directory.directory());
        block(async move { directory.accounts().await.unwrap() })
    }

    /// The one account called `name`.
    pub fn account(&self, name: &str) -> Account {
        self.accounts()
            .into_iter()
            .find(|a| a.name == name)
            .unwrap_or_else(|| panic!("no account {name}"))
    }
}

impl Drop for TestWeb {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Runs a future to completion on a small runtime of its own.
pub fn block<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

/// A response as the test sees it.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The value of the first input or hidden field called `name`.
    pub fn field(&self, name: &str) -> String {
        let needle = format!("name=\"{name}\" value=\"");
        let start = self
            .body
            .find(&needle)
            .unwrap_or_else(|| panic!("no field {name} in:\n{}", self.body))
            + needle.len();
        let end = start + self.body[start..].find('"').unwrap();
        unescape(&self.body[start..end])
    }

    /// The text of the textarea called `name`.
    pub fn textarea(&self, name: &str) -> String {
        let needle = format!("name=\"{name}\"");
        let at = self
            .body
            .find(&needle)
            .unwrap_or_else(|| panic!("no textarea {name}"));
        let start = at + self.body[at..].find('>').unwrap() + 1;
        let end = start + self.body[start..].find("</textarea>").unwrap();
        unescape(&self.body[start..end])
    }

    #[track_caller]
    pub fn assert_status(&self, status: u16) -> &Self {
        assert_eq!(self.status, status, "body:\n{}", self.body);
        self
    }

    #[track_caller]
    pub fn assert_says(&self, text: &str) -> &Self {
        assert!(self.body.contains(text), "{text:?} not in:\n{}", self.body);
        self
    }
}

fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// A browser, as far as these tests need one: requests over a fresh connection each, and a
/// cookie jar.
#[derive(Debug, Clone)]
pub struct Client {
    pub addr: SocketAddr,
    pub cookies: BTreeMap<String, String>,
}

impl Client {
    pub fn get(&mut self, path: &str) -> Response {
        self.request("GET", path, &[], b"")
    }

    /// POSTs a form with these fields, urlencoded.
    pub fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Response {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        self.post_raw(path, body.as_bytes())
    }

    pub fn post_raw(&mut self, path: &str, body: &[u8]) -> Response {
        self.request(
            "POST",
            path,
            &[("Content-Type", "application/x-www-form-urlencoded")],
            body,
        )
    }

    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        let mut stream = TcpStream::connect(self.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if !self.cookies.is_empty() {
            let jar: Vec<String> = self
                .cookies
                .iter()
                .map(|(n, v)| format!("{n}={v}"))
                .collect();
            head.push_str(&format!("Cookie: {}\r\n", jar.join("; ")));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(body).unwrap();
        let mut raw = Vec::new();
        let _ = stream.read_to_end(&mut raw);
        let response = parse_response(&raw);
        for cookie in response.headers_named("set-cookie") {
            let (pair, attributes) = cookie.split_once(';').unwrap_or((cookie, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if attributes.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        response
    }
}

/// Parses an HTTP/1.1 response (Content-Length or chunked).
pub fn parse_response(raw: &[u8]) -> Response {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        let mut out = Vec::new();
        let mut rest = &body[..];
        while let Some(end) = rest.windows(2).position(|w| w == b"\r\n") {
            let size = usize::from_str_radix(std::str::from_utf8(&rest[..end]).unwrap().trim(), 16)
                .unwrap();
            if size == 0 {
                break;
            }
            out.extend_from_slice(&rest[end + 2..end + 2 + size]);
            rest = &rest[end + 2 + size + 2..];
        }
        body = out;
    }
    Response {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// An Ed25519 key made by `ssh-keygen` in `dir`.
#[derive(Debug, Clone)]
pub struct KeyFile {
    pub private: PathBuf,
}

impl KeyFile {
    pub fn generate(dir: &Path, name: &str) -> Self {
        Self::generate_typed(dir, name, &["-t", "ed25519"])
    }

    pub fn generate_typed(dir: &Path, name: &str, kind: &[&str]) -> Self {
        let private = dir.join(name);
        let status = Command::new("ssh-keygen")
            .args(["-q", "-N", "", "-C", &format!("{name}@test"), "-f"])
            .arg(&private)
            .args(kind)
            .status()
            .expect("ssh-keygen runs");
        assert!(status.success());
        Self { private }
    }

    pub fn public(&self) -> String {
        std::fs::read_to_string(self.private.with_extension("pub")).unwrap()
    }

    pub fn private_text(&self) -> String {
        std::fs::read_to_string(&self.private).unwrap()
    }

    /// What `echo CHALLENGE | ssh-keygen -Y sign -f KEY -n NAMESPACE` prints.
    pub fn sign(&self, namespace: &str, challenge: &str) -> String {
        let mut child = Command::new("ssh-keygen")
            .args(["-Y", "sign", "-f"])
            .arg(&self.private)
            .args(["-n", namespace])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("ssh-keygen runs");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{challenge}\n").as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "ssh-keygen -Y sign failed");
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn fingerprint(&self) -> String {
        chat_server::keys::check_line(&self.public())
            .unwrap()
            .fingerprint
    }
}

/// A key made and used by the ssh-key crate alone.
pub struct CrateKey(pub PrivateKey);

impl CrateKey {
    pub fn new() -> Self {
        Self(PrivateKey::random(&mut rand::rng(), russh::keys::Algorithm::Ed25519).unwrap())
    }

    pub fn public(&self) -> String {
        self.0.public_key().to_openssh().unwrap()
    }

    /// Signs exactly `challenge` (no newline).
    pub fn sign(&self, namespace: &str, challenge: &str) -> String {
        self.0
            .sign(namespace, HashAlg::Sha512, challenge.as_bytes())
            .unwrap()
            .to_pem(LineEnding::LF)
            .unwrap()
    }

    pub fn fingerprint(&self) -> String {
        self.0.public_key().fingerprint(HashAlg::Sha256).to_string()
    }
}

/// A key fixture of chat-server's (DSA, short RSA…).
pub fn fixture(name: &str) -> String {
    let path = format!(
        "{}/../chat-server/tests/fixtures/keys/{name}.pub",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(path).unwrap()
}

/// Registers `name` with `key` through the page; returns the final response.
pub fn register(
    client: &mut Client,
    name: &str,
    public: &str,
    sign: impl Fn(&str, &str) -> String,
) -> Response {
    let page = client.get("/register");
    let challenge = page.field("challenge");
    let namespace = page.field("namespace");
    let signature = sign(&namespace, &challenge);
    client.post(
        "/register",
        &[
            ("csrf", &page.field("csrf")),
            ("name", name),
            ("public_key", public),
            ("signature", &signature),
            ("challenge", &challenge),
            ("namespace", &namespace),
        ],
    )
}
