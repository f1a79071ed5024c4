//! Several `chat-cli serve` nodes on one Redis, over real SSH (the OpenSSH client): one chat.
//! Every bound is a time the issue asks for or a generous one for a loaded machine; every
//! wait is for an event, never a sleep.

mod redis_support;
mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use support::{Identity, PlainSession, ServerProcess, exec, http_get, make_key, metric};

const WAIT: Duration = Duration::from_secs(20);

/// Three (or more) nodes on one Redis and one shared key directory (one SQLite file, which
/// every node on this machine opens: the directory a cluster on one machine can share).
struct Cluster {
    nodes: Vec<ServerProcess>,
    _dirs: Vec<tempfile::TempDir>,
}

fn start_node(
    url: &str,
    name: &str,
    shared: &Path,
    extra: &[&str],
) -> (ServerProcess, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let directory = format!("sqlite:{}", shared.join("accounts.db").display());
    let mut args = vec![
        "--cluster",
        url,
        "--node-name",
        name,
        "--directory",
        &directory,
    ];
    args.extend_from_slice(extra);
    (ServerProcess::start(dir.path(), &args), dir)
}

fn start(url: &str, shared: &Path, names: &[&str], extra: &[&str]) -> Cluster {
    let mut nodes = Vec::new();
    let mut dirs = Vec::new();
    for name in names {
        let (node, dir) = start_node(url, name, shared, extra);
        nodes.push(node);
        dirs.push(dir);
    }
    Cluster { nodes, _dirs: dirs }
}

fn join(node: &ServerProcess, user: &str, identity: &Identity) -> PlainSession {
    let mut session = PlainSession::open(node, user, identity);
    session.wait_for("Welcome, ", WAIT);
    session
}

fn pub_line(key: &Path) -> String {
    std::fs::read_to_string(key.with_extension("pub")).unwrap()
}

/// The said lines a session saw whose text starts with `prefix`, as `name: text`.
fn said(session: &PlainSession, prefix: &str) -> Vec<String> {
    session
        .seen
        .iter()
        .filter_map(|l| {
            let (_, rest) = l.split_once(' ')?;
            let (_, text) = rest.split_once(": ")?;
            text.starts_with(prefix).then(|| rest.to_owned())
        })
        .collect()
}

#[test]
fn three_nodes_are_one_chat() {
    let (url, _redis) = redis_support::shared(1);
    let shared = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let op_key = make_key(keys.path(), "op");
    let admins = shared.path().join("admins");
    std::fs::write(&admins, pub_line(&op_key)).unwrap();
    let admins = admins.to_str().unwrap().to_owned();
    let mut cluster = start(
        &url,
        shared.path(),
        &["a", "b", "c"],
        &["--admins", &admins],
    );
    let [a, b, c] = [&cluster.nodes[0], &cluster.nodes[1], &cluster.nodes[2]];

    let alice_key = Identity::Key(make_key(keys.path(), "alice"));
    let bob_key = Identity::Key(make_key(keys.path(), "bob"));
    let carol_key = Identity::Key(make_key(keys.path(), "carol"));
    let mut alice = join(a, "alice", &alice_key);
    let mut bob = join(b, "bob", &bob_key);
    let mut carol = join(c, "carol", &carol_key);
    alice.wait_for("carol joined", WAIT);

    // A line said on any node reaches every node, its sender's included.
    alice.send("hello from a");
    for session in [&mut alice, &mut bob, &mut carol] {
        session.wait_for("alice: hello from a", Duration::from_secs(5));
    }

    // /who, /whois and Tab's names cover every node.
    let (who, _, status) = exec(a, "op", &Identity::Key(op_key.clone()), "/who");
    assert!(status.success(), "{who}");
    assert!(
        who.contains("alice") && who.contains("bob") && who.contains("carol"),
        "{who}"
    );
    let (whois, _, _) = exec(a, "op", &Identity::Key(op_key.clone()), "/whois carol");
    assert!(whois.contains("server: c"), "{whois}");

    // One order per room: lines said at once on three nodes are seen in one sequence.
    for i in 0..5 {
        alice.send(&format!("order a{i}"));
        bob.send(&format!("order b{i}"));
        carol.send(&format!("order c{i}"));
    }
    for session in [&mut alice, &mut bob, &mut carol] {
        for i in 0..5 {
            for who in ["alice: order a", "bob: order b", "carol: order c"] {
                session.wait_for(&format!("{who}{i}"), WAIT);
            }
        }
    }
    let order = said(&alice, "order");
    assert_eq!(order.len(), 15, "{order:?}");
    assert_eq!(said(&bob, "order"), order);
    assert_eq!(said(&carol, "order"), order);

    // History on join and /history show every node's lines in the room's order.
    let dave_key = Identity::Key(make_key(keys.path(), "dave"));
    let mut dave = join(c, "dave", &dave_key);
    dave.wait_for(order.last().expect("fifteen lines"), WAIT);
    assert_eq!(said(&dave, "order"), order, "history on join");
    let (history, _, _) = exec(b, "dave", &dave_key, "/history 15");
    let lines: Vec<String> = history
        .lines()
        .filter_map(|l| l.split_once(' ').map(|(_, r)| r.to_owned()))
        .filter(|r| {
            r.split_once(": ")
                .is_some_and(|(_, t)| t.starts_with("order"))
        })
        .collect();
    assert_eq!(lines, order, "/history on another node: {history}");

    // Names are unique across the cluster: two people asking for `erin` at once on two
    // nodes, exactly one gets it.
    let mut first = PlainSession::open(a, "erin", &Identity::Keyless);
    let mut second = PlainSession::open(b, "erin", &Identity::Keyless);
    let one = first.wait_for("Welcome, ", WAIT);
    let two = second.wait_for("Welcome, ", WAIT);
    let got = [&one, &two]
        .iter()
        .filter(|l| l.contains("Welcome, erin!"))
        .count();
    assert_eq!(got, 1, "{one} / {two}");

    // Private messages and /reply across nodes.
    alice.send("/msg bob psst");
    bob.wait_for("psst", Duration::from_secs(5));
    bob.send("/reply back at you");
    alice.wait_for("back at you", Duration::from_secs(5));

    // Offline messages: kept for a registered name whose owner is away, shown on any node.
    drop(dave);
    alice.wait_for("dave left", WAIT);
    alice.send("/msg dave while you were out");
    alice.wait_for("they will get your message", WAIT);
    let mut dave = join(a, "dave", &dave_key);
    dave.wait_for("while you were out", WAIT);

    // Operators act across nodes: a grant, a mute, a kick within 1 s, a ban.
    let mut op = join(a, "op", &Identity::Key(op_key.clone()));
    op.send("/op dave");
    dave.wait_for("made you an operator", WAIT);
    op.send("/mute bob");
    bob.wait_for("muted you", WAIT);
    bob.send("can anyone hear me");
    bob.wait_for("you are muted", WAIT);
    op.send("/unmute bob");
    bob.wait_for("unmuted you", WAIT);

    let kicked_at = Instant::now();
    op.send("/kick carol enough");
    carol.wait_for("you were kicked out by op", Duration::from_secs(5));
    let told = kicked_at.elapsed();
    assert!(
        told <= Duration::from_secs(1),
        "carol on c was told {told:?} after the kick on a"
    );
    // The node closes the connection right after the notice (carol's stdin stays open).
    assert!(
        carol.closed_by_server_within(Duration::from_secs(2)),
        "carol's connection still open {:?} after the kick on a",
        kicked_at.elapsed()
    );
    op.wait_for("carol was kicked out", WAIT);

    op.send("/ban bob 1h spam");
    bob.wait_for("you were banned", WAIT);
    drop(bob);
    let out = support::ssh(c, "bob", &bob_key)
        .arg("/who")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("banned"),
        "the ban holds on another node: {stderr}"
    );

    // A node that falls behind (paused) catches up and makes nobody wait.
    let b_pid = cluster.nodes[1].pid().to_string();
    let mut frank = join(&cluster.nodes[1], "frank", &Identity::Keyless);
    assert!(
        Command::new("kill")
            .args(["-STOP", &b_pid])
            .status()
            .unwrap()
            .success()
    );
    let paused_at = Instant::now();
    alice.send("while b sleeps");
    dave.wait_for("alice: while b sleeps", Duration::from_secs(2));
    assert!(
        paused_at.elapsed() < Duration::from_secs(2),
        "nobody waits for b"
    );
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        Command::new("kill")
            .args(["-CONT", &b_pid])
            .status()
            .unwrap()
            .success()
    );
    frank.wait_for("alice: while b sleeps", WAIT);

    // A node killed with SIGKILL: its members leave everyone's /who within 10 s, announced
    // as leaving, and their names are free again.
    cluster.nodes[1].kill_hard();
    let killed_at = Instant::now();
    alice.wait_for("frank left", Duration::from_secs(12));
    let took = killed_at.elapsed();
    assert!(took <= Duration::from_secs(10), "frank left after {took:?}");
    let (who, _, _) = exec(
        &cluster.nodes[0],
        "op",
        &Identity::Key(op_key.clone()),
        "/who",
    );
    assert!(!who.contains("frank"), "{who}");
    let mut again = PlainSession::open(&cluster.nodes[2], "frank", &Identity::Keyless);
    again.wait_for("Welcome, frank!", WAIT);
}

#[test]
fn nodes_ride_out_redis_stopping_and_restarting() {
    let mut redis = redis_support::RedisServer::start();
    let url = redis.url();
    let shared = tempfile::tempdir().unwrap();
    let metrics = [support::free_port(), support::free_port()];
    let binds: Vec<String> = metrics.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let (a, _da) = start_node(&url, "a", shared.path(), &["--metrics-bind", &binds[0]]);
    let (b, _db) = start_node(&url, "b", shared.path(), &["--metrics-bind", &binds[1]]);
    let mut alice = join(&a, "alice", &Identity::Keyless);
    let mut bob = join(&b, "bob", &Identity::Keyless);
    alice.wait_for("bob joined", WAIT);
    assert_eq!(http_get(metrics[0], "/healthz").0, "HTTP/1.1 200 OK");

    // Redis stopped for 5 s: sessions stay, /healthz says degraded, errors are counted, and
    // a line said meanwhile is delivered once Redis is back.
    redis.pause();
    let paused_at = Instant::now();
    alice.send("said while redis sleeps");
    support::eventually(Duration::from_secs(10), || {
        http_get(metrics[0], "/healthz").0.contains("503")
    });
    let (_, body) = http_get(metrics[0], "/healthz");
    assert!(body.starts_with("degraded"), "{body}");
    let left = Duration::from_secs(5).saturating_sub(paused_at.elapsed());
    std::thread::sleep(left);
    redis.resume();
    bob.wait_for("alice: said while redis sleeps", WAIT);
    alice.wait_for("alice: said while redis sleeps", WAIT);
    support::eventually(WAIT, || http_get(metrics[0], "/healthz").0.contains("200"));
    assert!(metric(metrics[0], "chat_bus_errors_total") >= 1.0);
    assert_eq!(
        said(&bob, "said while").len(),
        1,
        "delivered once: {:?}",
        bob.seen
    );

    // Redis restarted (its AOF kept everything): the nodes reconnect and go on.
    redis.restart();
    support::eventually(WAIT, || http_get(metrics[0], "/healthz").0.contains("200"));
    support::eventually(WAIT, || http_get(metrics[1], "/healthz").0.contains("200"));
    bob.send("after the restart");
    alice.wait_for("bob: after the restart", WAIT);
    let (who, _, _) = exec(&a, "x", &Identity::Keyless, "/who");
    assert!(who.contains("alice") && who.contains("bob"), "{who}");
}

#[test]
fn cluster_mode_refuses_a_directory_only_this_node_has() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stderr) = support::serve_failure(
        dir.path(),
        &["--cluster".as_ref(), "redis://127.0.0.1:1".as_ref()],
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("needs a key directory every node shares"),
        "{stderr}"
    );
}
