//! A public server on its first day: allowlists, kicks of members who stopped reading, floods
//! of lines, floods of idle connections, and garbage in place of SSH. Each with the default
//! limits a public server starts with, unless a test says otherwise.

mod support;

use std::io::Write as _;
use std::time::{Duration, Instant};

use chat_ssh::chat_server::access::AccessFiles;
use russh::keys::PrivateKey;
use support::{
    Connect, Session, TestServer, WAIT, ed25519_key, eventually, loopback, read_until_closed,
    tcp_from,
};
use tokio::io::AsyncWriteExt;

/// An `authorized_keys` file holding `keys`, in `dir`.
fn authorized_keys(dir: &std::path::Path, name: &str, keys: &[&PrivateKey]) -> std::path::PathBuf {
    let path = dir.join(name);
    let mut file = std::fs::File::create(&path).unwrap();
    writeln!(file, "# written by the test").unwrap();
    for key in keys {
        writeln!(file, "{}", key.public_key().to_openssh().unwrap()).unwrap();
    }
    path
}

async fn plain_with_key(server: &TestServer, user: &str, key: &PrivateKey) -> Session {
    let mut session = Connect::user(user)
        .key(key, None)
        .to(server.addr)
        .await
        .expect("a listed key gets in")
        .plain_shell()
        .await;
    session.expect(&format!("{user} joined.")).await;
    session
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_allowlist_refuses_an_unknown_key_and_admits_a_listed_one() {
    let files = tempfile::tempdir().unwrap();
    let listed = ed25519_key();
    let stranger = ed25519_key();
    let allowlist = authorized_keys(files.path(), "allowlist", &[&listed]);
    let server = TestServer::start_with(|c| {
        c.runtime.access = AccessFiles {
            admins: None,
            allowlist: Some(allowlist),
        }
    })
    .await;

    let _listed = plain_with_key(&server, "listed", &listed).await;
    let refused = Connect::user("stranger")
        .key(&stranger, None)
        .to(server.addr)
        .await;
    assert!(refused.is_err(), "an unlisted key is refused");
    let keyless = Connect::user("guest").to(server.addr).await;
    assert!(keyless.is_err(), "so is a client without a key");
    assert_eq!(server.members(), 1);
}

/// A server with an admin (`op`, online) and `sleeper`, a keyless member from another
/// address with a 4 KB window who has stopped reading and whose window and outbox are full.
async fn an_operator_and_a_sleeper() -> (TestServer, Session, Session) {
    let files = tempfile::tempdir().unwrap();
    let op_key = ed25519_key();
    let admins = authorized_keys(files.path(), "admins", &[&op_key]);
    let server = TestServer::start_with(|c| {
        support::unthrottled(c);
        c.runtime.outbox_capacity = 8;
        c.runtime.access = AccessFiles {
            admins: Some(admins),
            allowlist: None,
        };
    })
    .await;
    let op = plain_with_key(&server, "op", &op_key).await;
    let sleeper = Connect::user("sleeper")
        .window(4 * 1024)
        .from(loopback(2))
        .to(server.addr)
        .await
        .unwrap();
    let mut sleeper = sleeper.pty_shell(80, 24).await;
    sleeper
        .wait_screen("the prompt", |s| s.contains("[sleeper]"))
        .await;
    sleeper.conn.pause_reading();
    // Fill its window and outbox: the hub drops events for it.
    let padding = "p".repeat(400);
    let mut n = 0;
    while server.hub.lock().stats().dropped == 0 {
        op.say(&format!("filler {n} {padding}")).await;
        n += 1;
        assert!(n < 2_000, "the sleeper's outbox never filled");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    (server, op, sleeper)
}

/// Runs `command` as the operator against the sleeper: the operator's answer comes at once,
/// and the sleeper's connection is cut at once, although it reads nothing (the target is
/// 100 ms; the bound here leaves room for a loaded machine, and is well under the 2 s a
/// goodbye used to wait on the shut window).
async fn cuts_off_the_sleeper_at_once(command: &str, answer: &str) {
    let (server, mut op, sleeper) = an_operator_and_a_sleeper().await;
    let asked = Instant::now();
    op.say(command).await;
    op.expect(answer).await;
    let answered = asked.elapsed();
    // The sleeper reads nothing, so it cannot notice; the server's side shows the cut: only
    // the operator's connection is left.
    eventually(
        "the sleeper's connection to be cut",
        Duration::from_secs(5),
        || server.limits.in_use().0 == 1,
    )
    .await
    .expect("its connection is cut although it reads nothing");
    let cut = asked.elapsed();
    eprintln!("{command}: answered in {answered:?}, the sleeper's connection cut in {cut:?}");
    assert!(!server.lobby().contains(&"sleeper".to_owned()));
    assert!(
        answered < Duration::from_secs(1),
        "answered in {answered:?}"
    );
    assert!(cut < Duration::from_secs(1), "cut in {cut:?}");
    drop(sleeper);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kick_cuts_off_a_member_who_stopped_reading_at_once() {
    cuts_off_the_sleeper_at_once("/kick sleeper not listening", "sleeper was kicked out").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ban_cuts_off_a_member_who_stopped_reading_at_once() {
    cuts_off_the_sleeper_at_once("/ban sleeper 1h not listening", "sleeper is banned").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_from_one_member_does_not_delay_anyone_else() {
    let server = TestServer::start().await;
    let mut alice = server.plain("alice").await;
    let bob = server.plain("bob").await;
    let flooder = server.plain("flooder").await;
    alice.expect("flooder joined.").await;

    // 1,000 lines as fast as the client can send them, while bob talks at a human pace.
    let flood = tokio::spawn(async move {
        for i in 0..1_000 {
            flooder.say(&format!("spam {i}")).await;
        }
        flooder
    });
    let mut worst = Duration::ZERO;
    for i in 0..10 {
        let sent = Instant::now();
        let line = format!("bob: ordinary message {i}");
        bob.say(&format!("ordinary message {i}")).await;
        alice.expect_within(&line, Duration::from_secs(1)).await;
        worst = worst.max(sent.elapsed());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut flooder = flood.await.unwrap();
    eprintln!("worst delivery of bob's lines during the flood: {worst:?}");
    assert!(worst < Duration::from_secs(1));

    flooder.expect("you are sending too fast").await;
    let text = flooder.stdout_text();
    assert_eq!(
        text.matches("you are sending too fast").count(),
        1,
        "one notice per flood"
    );
    let spam_seen = alice.stdout_text().matches("flooder: spam").count();
    assert!(
        (10..=20).contains(&spam_seen),
        "only the burst got through: {spam_seen}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hundred_idle_connections_do_not_keep_a_real_user_out() {
    let server = TestServer::start().await;
    // 300 connections that never say a word, from 20 addresses (15 each: under the default
    // limits per address, but three times the default pool of unfinished handshakes).
    let mut idle = Vec::new();
    for i in 0..300u16 {
        let source = loopback(10 + (i % 20) as u8);
        match tcp_from(Some(source), server.addr).await {
            Ok(stream) => idle.push(stream),
            Err(e) => panic!("idle connection {i}: {e}"),
        }
    }
    eventually("the server to see them", WAIT, || {
        server.limits.in_use().1 >= 50
    })
    .await
    .unwrap();

    let started = Instant::now();
    let mut real = Connect::user("real")
        .to(server.addr)
        .await
        .expect("a real user gets in during the flood")
        .plain_shell()
        .await;
    real.expect("real joined.").await;
    let took = started.elapsed();
    eprintln!("a real login beside 300 idle connections took {took:?}");
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert!(server.limits.evicted() > 0, "old idle handshakes made room");
    drop(idle);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_instead_of_a_handshake_is_dropped_and_harms_nobody() {
    let server = TestServer::start().await;
    let alice = server.plain("alice").await;
    let mut bob = server.plain("bob").await;
    let garbage: [&[u8]; 4] = [
        b"GET / HTTP/1.1\r\nHost: example\r\n\r\n",
        b"SSH-2.0-evil\r\n\x00\x00\x00\x0c\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff",
        &[0xff; 4096],
        b"SSH-1.5-ancient\r\n",
    ];
    for bytes in garbage {
        let mut stream = tcp_from(None, server.addr).await.unwrap();
        let _ = stream.write_all(bytes).await;
        let (_, took) = read_until_closed(&mut stream, Duration::from_secs(10)).await;
        assert!(took < Duration::from_secs(10));
    }
    alice.say("still here").await;
    bob.expect("alice: still here").await;
    assert_eq!(server.members(), 2);
    assert_eq!(
        server.limits.in_use(),
        (2, 0),
        "the garbage connections are gone"
    );
}
