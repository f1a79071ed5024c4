//! The DynamoDB directory against a real DynamoDB-compatible server on loopback: dynalite,
//! from `tools/dynalite` (see chat-dynamo/README.md to start it by hand; `.ci/run` starts
//! it and sets `CHAT_TEST_DYNAMODB`). Under `CI=true` a missing server fails these tests;
//! elsewhere they are skipped with a loud message.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use chat_dynamo::{DirectoryError, DynamoDirectory, Options, Timeouts};
use chat_store::directory::{Actor, Directory, conformance};
use chrono::Utc;

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Says why a test is skipped on the terminal itself: the test harness captures
/// `eprintln!` of passing tests, and a silent skip looks like a pass.
fn loud(why: &str) {
    let _ = writeln!(std::io::stderr(), "\n*** SKIPPED: {why} ***\n");
}

/// Where dynalite listens, or `None` (after saying so loudly) when these tests cannot run.
fn endpoint() -> Option<String> {
    match std::env::var("CHAT_TEST_DYNAMODB") {
        Ok(endpoint) if !endpoint.is_empty() => Some(endpoint),
        _ if in_ci() => panic!(
            "CHAT_TEST_DYNAMODB is not set: under CI=true the DynamoDB tests must run \
             (.ci/run starts dynalite and sets it)"
        ),
        _ => {
            loud(
                "the DynamoDB tests need dynalite: see chat-dynamo/README.md, \
                 then set CHAT_TEST_DYNAMODB=http://127.0.0.1:PORT",
            );
            None
        }
    }
}

/// Short bounds: a test that waits on a dead server waits seconds, not minutes.
fn quick() -> Timeouts {
    Timeouts {
        connect: Duration::from_millis(500),
        attempt: Duration::from_millis(700),
        operation: Duration::from_millis(1500),
        attempts: 2,
    }
}

/// Fixed fake credentials: nothing in a test may ask an instance-metadata service.
fn options(timeouts: Timeouts) -> Options {
    Options {
        timeouts,
        static_credentials: Some(("test".to_owned(), "test".to_owned())),
    }
}

fn url(table: &str, endpoint: &str) -> String {
    format!("dynamodb://{table}?region=us-east-1&endpoint={endpoint}")
}

static NEXT_TABLE: AtomicU32 = AtomicU32::new(0);

/// A table no other test (or earlier run against the same server) uses.
fn table_name() -> String {
    let n = NEXT_TABLE.fetch_add(1, Ordering::Relaxed);
    let nanos = Utc::now().timestamp_subsec_nanos();
    format!("chat-test-{}-{nanos}-{n}", std::process::id())
}

async fn fresh(endpoint: &str) -> DynamoDirectory {
    let directory =
        DynamoDirectory::connect_with(&url(&table_name(), endpoint), options(Timeouts::default()))
            .await
            .expect("a good URL");
    directory
        .create_table()
        .await
        .expect("dynalite creates tables");
    directory
}

fn actor() -> Actor {
    Actor::new("test", None)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dynamodb_directory_conforms() {
    let Some(endpoint) = endpoint() else { return };
    let endpoint = Arc::new(endpoint);
    conformance::run_all(&move || {
        let endpoint = Arc::clone(&endpoint);
        Box::pin(async move { Arc::new(fresh(&endpoint).await) as Arc<dyn Directory> })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_racing_on_one_table_still_create_one_account() {
    // Two clients are two servers (or a server and chat-cli): only DynamoDB's conditions
    // keep them apart.
    let Some(endpoint) = endpoint() else { return };
    let first = fresh(&endpoint).await;
    let second = DynamoDirectory::connect_with(&first.url(), options(Timeouts::default()))
        .await
        .unwrap();
    for round in 0..5u32 {
        let name = format!("bob{round}");
        let (now, who, upper) = (Utc::now(), actor(), name.to_uppercase());
        let (a, b) = tokio::join!(
            first.create_account(&name, conformance::key(round * 2), false, &who, now),
            second.create_account(&upper, conformance::key(round * 2 + 1), false, &who, now)
        );
        assert_eq!(
            [a.is_ok(), b.is_ok()].iter().filter(|ok| **ok).count(),
            1,
            "{a:?} {b:?}"
        );
        let lost = a.err().or(b.err()).unwrap();
        assert!(matches!(lost, DirectoryError::NameTaken { .. }), "{lost}");
    }
    assert_eq!(first.accounts().await.unwrap().len(), 5);
    assert_eq!(
        second.audit_log(100).await.unwrap().len(),
        5,
        "one entry per success"
    );
}

#[tokio::test]
async fn a_missing_table_is_not_set_up_and_says_how_to_create_it() {
    let Some(endpoint) = endpoint() else { return };
    let url = url("no-such-table", &endpoint);
    let directory = DynamoDirectory::connect_with(&url, options(quick()))
        .await
        .unwrap();
    let error = directory.check().await.unwrap_err();
    let message = error.to_string();
    eprintln!("missing table: {message}");
    assert!(matches!(error, DirectoryError::NotSetUp(_)), "{message}");
    assert!(message.contains("no-such-table"), "{message}");
    assert!(
        message.contains(&format!(
            "chat-cli directory create-table --directory {url}"
        )),
        "{message}"
    );
    let error = directory.login("SHA256:x", Some("bob")).await.unwrap_err();
    assert!(matches!(error, DirectoryError::NotSetUp(_)), "{error}");
}

#[tokio::test]
async fn a_closed_port_is_unavailable_at_once() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let endpoint = format!("http://127.0.0.1:{port}");
    let directory = DynamoDirectory::connect_with(&url("chat", &endpoint), options(quick()))
        .await
        .unwrap();
    let started = Instant::now();
    let error = directory.check().await.unwrap_err();
    eprintln!("closed port: {error} after {:?}", started.elapsed());
    assert!(matches!(error, DirectoryError::Unavailable(_)), "{error}");
    assert!(error.to_string().contains("connect"), "{error}");
    let error = directory.login("SHA256:x", None).await.unwrap_err();
    assert!(matches!(error, DirectoryError::Unavailable(_)), "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_server_that_never_answers_is_unavailable_within_the_bound() {
    // Accepts connections and reads nothing: what a hung or overloaded endpoint looks like.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            open.push(socket);
        }
    });
    let directory = DynamoDirectory::connect_with(&url("chat", &endpoint), options(quick()))
        .await
        .unwrap();
    let started = Instant::now();
    let error = directory.login("SHA256:x", Some("bob")).await.unwrap_err();
    let took = started.elapsed();
    eprintln!("no answer: {error} after {took:?}");
    assert!(matches!(error, DirectoryError::Unavailable(_)), "{error}");
    assert!(
        took < quick().operation + Duration::from_millis(700),
        "{took:?}"
    );
    let error = directory
        .create_account("bob", conformance::key(1), false, &actor(), Utc::now())
        .await
        .unwrap_err();
    assert!(matches!(error, DirectoryError::Unavailable(_)), "{error}");
    held.abort();
}

/// A dynalite of the test's own, so that stopping it disturbs no other test.
struct OwnServer {
    child: Child,
    endpoint: String,
}

impl OwnServer {
    fn start() -> Option<Self> {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tools/dynalite");
        if !dir.join("node_modules/dynalite").exists() {
            assert!(
                !in_ci(),
                "tools/dynalite is not installed (.ci/run runs npm ci there)"
            );
            loud("run `npm ci` in tools/dynalite for this test");
            return None;
        }
        let mut child = Command::new("node")
            .arg(dir.join("server.js"))
            .args(["--port", "0", "--createTableMs", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node runs");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("piped");
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("dynalite says where it listens");
        let endpoint = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line from server.js: {line:?}"))
            .to_owned();
        Some(Self { child, endpoint })
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill {signal}");
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        // SIGKILL ends a stopped process too.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_server_is_unavailable_within_the_bound_and_then_recovers() {
    if endpoint().is_none() {
        return;
    }
    let Some(server) = OwnServer::start() else {
        return;
    };
    let directory =
        DynamoDirectory::connect_with(&url(&table_name(), &server.endpoint), options(quick()))
            .await
            .unwrap();
    directory.create_table().await.unwrap();
    let alice = directory
        .create_account("alice", conformance::key(1), false, &actor(), Utc::now())
        .await
        .unwrap();

    server.signal("-STOP");
    let started = Instant::now();
    let error = directory
        .login(&conformance::key(1).fingerprint, None)
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(matches!(error, DirectoryError::Unavailable(_)), "{error}");
    assert!(
        took < quick().operation + Duration::from_millis(700),
        "{took:?}"
    );
    let error = directory
        .add_key(&alice.id, conformance::key(2), &actor(), Utc::now())
        .await
        .unwrap_err();
    assert!(matches!(error, DirectoryError::Unavailable(_)), "{error}");

    server.signal("-CONT");
    // Recovering is the event waited for: dynalite first works through what queued while it
    // was stopped, and on a loaded machine a call may still miss the short bound meanwhile.
    let recovered = Instant::now();
    let login = loop {
        match directory
            .login(&conformance::key(1).fingerprint, None)
            .await
        {
            Ok(login) => break login,
            Err(DirectoryError::Unavailable(e))
                if recovered.elapsed() < Duration::from_secs(30) =>
            {
                eprintln!("not yet recovered after {:?}: {e}", recovered.elapsed());
            }
            Err(e) => panic!("no recovery within 30 s: {e}"),
        }
    };
    assert_eq!(login.account.map(|a| a.id), Some(alice.id.clone()));
    // The change that timed out may or may not have landed; either way the directory is whole.
    let now = directory.account_by_id(&alice.id).await.unwrap().unwrap();
    assert!(matches!(now.keys.len(), 1 | 2), "{now:?}");
}

#[tokio::test]
async fn the_standard_credential_chain_works_against_a_local_endpoint() {
    let Some(endpoint) = endpoint() else { return };
    if std::env::var("AWS_ACCESS_KEY_ID").is_err() {
        assert!(!in_ci(), ".ci/run sets fake AWS credentials for dynalite");
        loud("set fake AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY for this test");
        return;
    }
    let directory = DynamoDirectory::connect(&url(&table_name(), &endpoint))
        .await
        .unwrap();
    directory.create_table().await.unwrap();
    directory.check().await.unwrap();
    assert!(
        directory.describe().starts_with("dynamodb://chat-test-"),
        "{}",
        directory.describe()
    );
    assert_eq!(directory.accounts().await.unwrap(), []);
}
