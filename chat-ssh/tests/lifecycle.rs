//! The server's life: its host key survives a restart; shutdown tells everyone and returns in
//! time.

mod support;

use std::time::Duration;

use support::{Ending, TestServer, WAIT, fingerprint_of, tcp_from};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_key_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("host_ed25519_key");

    let first = TestServer::start_in(dir.path(), |_| {}).await;
    let seen_first = first.connect("alice").await.server_key().unwrap();
    assert_eq!(fingerprint_of(&seen_first), first.fingerprint);
    let fingerprint = first.fingerprint.clone();
    first.stop_within(WAIT).await;

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the host key is private");
    }
    // OpenSSH's own tool reads the file and agrees on the fingerprint.
    if let Ok(out) = std::process::Command::new("ssh-keygen")
        .arg("-lf")
        .arg(&path)
        .output()
    {
        let printed = String::from_utf8_lossy(&out.stdout);
        assert!(printed.contains(&fingerprint), "ssh-keygen -lf: {printed}");
    }

    let second = TestServer::start_in(dir.path(), |_| {}).await;
    assert_eq!(
        second.fingerprint, fingerprint,
        "same data dir, same fingerprint"
    );
    let seen_second = second.connect("alice").await.server_key().unwrap();
    assert_eq!(seen_second, seen_first, "the client sees the same key");

    // A fresh data dir gets a key of its own (so the check above means something).
    let other = TestServer::start().await;
    assert_ne!(other.fingerprint, fingerprint);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_tells_every_session_closes_them_and_run_returns_in_time() {
    let server = TestServer::start().await;
    let mut alice = server.pty("alice", 80, 24).await;
    let mut bob = server.plain("bob").await;
    let mut carol = server.plain("carol").await;
    bob.expect("carol joined.").await;
    let addr = server.addr;

    let took = server.stop_within(Duration::from_secs(5)).await;
    eprintln!("Server::run returned {took:?} after the shutdown");

    const NOTICE: &str = "-> the server is shutting down; see you soon";
    alice
        .wait_screen("the shutdown notice", |s| s.contains(NOTICE))
        .await;
    bob.expect(&format!("{NOTICE}\n")).await;
    carol.expect(&format!("{NOTICE}\n")).await;
    for session in [&alice, &bob, &carol] {
        session
            .wait_closed(WAIT)
            .await
            .expect("the channel is closed");
        session
            .conn
            .wait_disconnected(WAIT)
            .await
            .expect("and the connection");
    }
    // Nothing listens any more.
    assert!(
        tcp_from(None, addr).await.is_err(),
        "the listener is closed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_disconnects_every_connection_without_waiting_out_the_grace() {
    // A long grace, as an operator may set: it is for clients too slow to say goodbye, and
    // nobody here is slow.
    let server =
        TestServer::start_with(|c| c.runtime.shutdown_grace = Duration::from_secs(10)).await;
    let mut alice = server.plain("alice").await;
    // Authenticated, but no session yet (as `ssh -N` would be).
    let idle = server.connect("idle").await;

    let took = server.stop_within(Duration::from_secs(5)).await;
    eprintln!("with a 10 s grace and nobody slow, Server::run returned after {took:?}");
    alice
        .expect("-> the server is shutting down; see you soon\n")
        .await;
    for connection in [&alice.conn, &idle] {
        connection.wait_disconnected(WAIT).await.unwrap();
        assert!(
            matches!(connection.ending(), Some(Ending::Disconnect(_))),
            "{}: the server says goodbye with an SSH disconnect, not a cut TCP stream: {:?}",
            connection.user,
            connection.ending()
        );
    }
}
