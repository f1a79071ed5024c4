//! Connection limits (per address, in all, not yet authenticated) and the auth deadline: a
//! connection over a limit gets one line saying why and is closed; the next one is served as
//! soon as a slot frees; nobody else is disturbed.

mod support;

use std::time::{Duration, Instant};

use support::{Connect, TestServer, WAIT, eventually, loopback, read_until_closed, tcp_from};

const PER_IP: &str =
    "chat server: too many connections from your address; close one and try again\r\n";
const FULL: &str = "chat server: the server is full; try again later\r\n";
const RATE: &str = "chat server: too many new connections from your address; wait a minute\r\n";

/// Opens a raw TCP connection from `127.0.0.last` and returns everything it receives before
/// the server closes it.
async fn refused_from(server: &TestServer, last: u8) -> String {
    let mut stream = tcp_from(Some(loopback(last)), server.addr)
        .await
        .expect("TCP connect");
    let (received, _) = read_until_closed(&mut stream, WAIT).await;
    String::from_utf8(received).expect("a text line")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_per_ip_limit_refuses_with_a_reason_and_serves_again_once_a_slot_frees() {
    let server = TestServer::start_with(|c| c.ssh.max_per_ip = 3).await;
    let mut first = server.plain("one").await;
    let second = server.plain("two").await;
    let _third = server.plain("three").await;
    assert_eq!(server.limits.in_use(), (3, 0));

    // The fourth from 127.0.0.1: one clear line before any SSH, then closed.
    assert_eq!(refused_from(&server, 1).await, PER_IP);
    let ssh = Connect::user("four").to(server.addr).await;
    assert!(ssh.is_err(), "an SSH client is refused too");

    // Another address is not affected by 127.0.0.1's count.
    let mut other = Connect::user("elsewhere")
        .from(loopback(2))
        .to(server.addr)
        .await
        .expect("127.0.0.2 has its own count")
        .plain_shell()
        .await;
    other.expect("elsewhere joined.").await;

    // Those already in were not disturbed.
    first.say("/who").await;
    first
        .expect("-> 4 connected: elsewhere, one, three, two\n")
        .await;

    // Once one leaves, the next from 127.0.0.1 gets in.
    second.drop_connection();
    eventually("the slot to free", WAIT, || {
        server.limits.in_use() == (3, 0)
    })
    .await
    .unwrap();
    let mut again = server.plain("again").await;
    again.say("/who").await;
    again
        .expect("-> 4 connected: again, elsewhere, one, three\n")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_total_limit_refuses_with_a_reason_and_serves_again_once_a_slot_frees() {
    let server = TestServer::start_with(|c| c.ssh.max_connections = 3).await;
    let mut sessions = Vec::new();
    for last in 1..=3u8 {
        let mut s = Connect::user(&format!("host{last}"))
            .from(loopback(last))
            .to(server.addr)
            .await
            .unwrap()
            .plain_shell()
            .await;
        s.expect(&format!("host{last} joined.")).await;
        sessions.push(s);
    }
    assert_eq!(refused_from(&server, 4).await, FULL);
    assert_eq!(refused_from(&server, 1).await, FULL);

    // One leaves the polite way (EOF); then a newcomer is served.
    let leaving = sessions.pop().unwrap();
    leaving.eof().await;
    assert_eq!(leaving.wait_exit().await, 0);
    drop(leaving);
    eventually("the slot to free", WAIT, || {
        server.limits.in_use() == (2, 0)
    })
    .await
    .unwrap();
    let mut newcomer = Connect::user("newcomer")
        .from(loopback(4))
        .to(server.addr)
        .await
        .expect("a free slot serves the next connection")
        .plain_shell()
        .await;
    newcomer.say("/who").await;
    let who = newcomer.expect("-> 3 connected: ").await;
    drop(who);
    let listed = newcomer.expect("\n").await;
    let mut names: Vec<&str> = listed.trim_end().split(", ").collect();
    names.sort_unstable();
    assert_eq!(names, ["host1", "host2", "newcomer"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_handshake_pool_cuts_off_the_oldest_handshake_to_let_a_login_in() {
    let server = TestServer::start_with(|c| c.ssh.max_unauthenticated = 2).await;
    let _alice = server.plain("alice").await;
    // Two silent TCP connections fill the pool of unfinished handshakes.
    let mut oldest = tcp_from(None, server.addr).await.unwrap();
    eventually("the first handshake to count", WAIT, || {
        server.limits.in_use() == (2, 1)
    })
    .await
    .unwrap();
    let _newer = tcp_from(Some(loopback(2)), server.addr).await.unwrap();
    eventually("both handshakes to count", WAIT, || {
        server.limits.in_use() == (3, 2)
    })
    .await
    .unwrap();

    // A real login is not kept out: the oldest silent one makes room.
    let mut bob = Connect::user("bob")
        .from(loopback(3))
        .to(server.addr)
        .await
        .expect("a login gets in although the pool was full")
        .plain_shell()
        .await;
    let (received, _) = read_until_closed(&mut oldest, WAIT).await;
    assert!(received.starts_with(b"SSH-2.0-"), "{received:?}");
    eventually("the pool to hold only the newer silent one", WAIT, || {
        server.limits.in_use() == (3, 1)
    })
    .await
    .unwrap();
    bob.say("/who").await;
    bob.expect("-> 2 connected: alice, bob\n").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_connections_per_address_per_minute_are_limited() {
    let server = TestServer::start_with(|c| c.ssh.max_new_per_ip_per_minute = 3).await;
    for _ in 0..3 {
        let connection = server.connect("brief").await;
        drop(connection);
    }
    assert_eq!(refused_from(&server, 1).await, RATE);
    // Only that address: another one connects.
    let mut other = Connect::user("other")
        .from(loopback(2))
        .to(server.addr)
        .await
        .expect("127.0.0.2 has its own allowance")
        .plain_shell()
        .await;
    other.expect("other joined.").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_sends_nothing_is_dropped_after_the_auth_timeout() {
    let server = TestServer::start_with(|c| c.ssh.auth_timeout = Duration::from_secs(1)).await;
    // The clock starts before the connection exists, so the server's can only start later.
    let started = Instant::now();
    let mut silent = tcp_from(None, server.addr).await.unwrap();
    eventually("the connection to count", WAIT, || {
        server.limits.in_use() == (1, 1)
    })
    .await
    .unwrap();
    let (received, _) = read_until_closed(&mut silent, WAIT).await;
    let after = started.elapsed();
    let received = String::from_utf8_lossy(&received);
    assert!(received.starts_with("SSH-2.0-"), "{received:?}");
    assert!(
        after >= Duration::from_millis(950),
        "dropped after {after:?}, before the 1 s deadline"
    );
    assert!(
        after < Duration::from_secs(5),
        "dropped only after {after:?}"
    );
    eprintln!("a silent connection was dropped after {after:?} (auth_timeout 1 s)");
    server.wait_empty().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ssh_client_that_never_authenticates_is_dropped_but_a_member_is_not() {
    let server = TestServer::start_with(|c| c.ssh.auth_timeout = Duration::from_secs(1)).await;
    let mut member = server.plain("member").await;
    let started = Instant::now();
    let lingering = Connect::user("lingering")
        .unauthenticated(server.addr)
        .await
        .unwrap();
    lingering
        .wait_disconnected(WAIT)
        .await
        .expect("dropped at the auth deadline");
    let after = started.elapsed();
    assert!(after >= Duration::from_millis(950), "{after:?}");
    eventually("its slots to free", WAIT, || {
        server.limits.in_use() == (1, 0)
    })
    .await
    .unwrap();
    // The member, authenticated well within the deadline, is still here past it.
    member.say("/who").await;
    member.expect("-> 1 connected: member\n").await;
}
