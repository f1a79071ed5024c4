//! A member who stops reading: its SSH window fills, its outbox fills, it misses messages (and
//! is told how many), it never slows anyone else, and past the stall limit it is cut off.
//!
//! "Stops reading" is real here: the client's TCP stream is wrapped so that its reads can be
//! paused, and with a small SSH window the server's writes to it block after a few KB.

mod support;

use std::time::{Duration, Instant};

use support::{Connect, Session, TestServer, WAIT, eventually, find, unthrottled};
use tokio::sync::Mutex;

/// The delivery-time test measures latency: it runs alone, not beside the other tests here.
static SERIAL: Mutex<()> = Mutex::const_new(());

/// A PTY session for `name` with an 8 KB window, at its prompt, that then stops reading.
async fn stalled_member(server: &TestServer, name: &str) -> Session {
    let connection = Connect::user(name)
        .window(8 * 1024)
        .to(server.addr)
        .await
        .unwrap();
    let mut session = connection.pty_shell(80, 24).await;
    session
        .wait_screen("the prompt", |s| s.contains(&format!("[{name}]")))
        .await;
    session.conn.pause_reading();
    session
}

/// Sends long lines from `from` until the hub has dropped events for somebody (whoever is not
/// reading), which proves that member's window and outbox are full.
async fn fill_until_dropping(server: &TestServer, from: &Session) {
    let padding = "z".repeat(400);
    let deadline = Instant::now() + WAIT;
    let mut n = 0;
    while server.hub.lock().stats().dropped == 0 {
        assert!(
            Instant::now() < deadline,
            "the stalled member's outbox never filled"
        );
        from.say(&format!("filler {n} {padding}")).await;
        n += 1;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_who_stops_reading_does_not_delay_three_others_exchanging_100_messages() {
    let _serial = SERIAL.lock().await;
    let server = TestServer::start_with(|c| {
        unthrottled(c);
        c.runtime.outbox_capacity = 16;
    })
    .await;
    let mut sleepy = stalled_member(&server, "sleepy").await;
    let names = ["alice", "bob", "carol"];
    let mut active = Vec::new();
    for name in names {
        active.push(server.plain(name).await);
    }
    for member in &active {
        member.wait_text("carol joined.").await;
    }
    // First make the sleeper's stall real: its window, its backlog and its outbox all full.
    fill_until_dropping(&server, &active[0]).await;

    // 100 long lines, taking turns, one every 10 ms.
    let padding = "x".repeat(300);
    let text = |i: usize| format!("m{i:03} {padding}");
    let mut sent = Vec::with_capacity(100);
    let mut ticks = tokio::time::interval(Duration::from_millis(10));
    for i in 0..100 {
        ticks.tick().await;
        sent.push(Instant::now());
        active[i % 3].say(&text(i)).await;
    }

    // Every active member gets all 100, each within 1 s of being sent.
    let mut latencies = Vec::new();
    for member in &active {
        for (i, at) in sent.iter().enumerate() {
            let line = format!("{}: {}\n", names[i % 3], text(i));
            member.wait_text(&line).await;
            let arrived = member.with_output(|o| {
                let offset = find(&o.stdout, line.as_bytes()).unwrap();
                o.arrival_of(offset + line.len() - 1).unwrap()
            });
            latencies.push((arrived - *at, i, member.conn.user.clone()));
        }
        assert!(
            !member.stdout_text().contains("skipped"),
            "{} missed nothing",
            member.conn.user
        );
    }
    latencies.sort();
    let (worst, which, whom) = latencies.last().unwrap().clone();
    let median = latencies[latencies.len() / 2].0;
    eprintln!(
        "delivery of 100 messages to 3 active members: median {median:?}, worst {worst:?} \
         (message {which} to {whom}), with one member not reading"
    );
    assert!(
        worst < Duration::from_secs(1),
        "message {which} reached {whom} after {worst:?}"
    );

    // The sleeper really was stalled: the hub dropped events for it, and it is still there.
    let dropped = server.hub.lock().stats().dropped;
    assert!(dropped > 0, "the stalled member's outbox never overflowed");
    assert_eq!(server.lobby(), ["alice", "bob", "carol", "sleepy"]);

    // The server is healthy: a newcomer gets in and is answered at once.
    let started = Instant::now();
    let (who, _, status) = server.exec("ops", "/who").await;
    assert_eq!(
        (who.as_str(), status),
        ("-> 4 connected: alice, bob, carol, sleepy\n", 0)
    );
    eprintln!(
        "an exec /who beside the stalled member took {:?}",
        started.elapsed()
    );

    // Reading again, the sleeper is told how much it missed, and can talk.
    sleepy.conn.resume_reading();
    let screen = sleepy
        .wait_screen("the count of missed messages", |s| {
            s.contains("messages skipped")
        })
        .await;
    eprintln!(
        "the stalled member was told: {}",
        screen
            .lines()
            .find(|l| l.contains("skipped"))
            .unwrap_or_default()
    );
    sleepy.send("back\r").await;
    active[0].expect("sleepy: back\n").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_stalled_past_the_stall_timeout_is_cut_off() {
    let _serial = SERIAL.lock().await;
    let server = TestServer::start_with(|c| {
        unthrottled(c);
        c.runtime.outbox_capacity = 4;
        c.ssh.stall_timeout = Duration::from_secs(1);
    })
    .await;
    let sleepy = stalled_member(&server, "sleepy").await;
    let mut alice = server.plain("alice").await;

    fill_until_dropping(&server, &alice).await;
    let filled = Instant::now();
    eventually("the stalled member to be cut off", WAIT, || {
        server.lobby() == ["alice"]
    })
    .await
    .unwrap();
    eprintln!(
        "the stalled member was cut off {:?} after its outbox overflowed (stall_timeout 1 s)",
        filled.elapsed()
    );
    eventually("its connection slot to free", WAIT, || {
        server.limits.in_use() == (1, 0)
    })
    .await
    .unwrap();

    // Its connection is gone, and alice never noticed anything but its leaving.
    sleepy.conn.resume_reading();
    sleepy
        .conn
        .wait_disconnected(WAIT)
        .await
        .expect("the connection is closed");
    alice.expect("* sleepy left.").await;
    alice.say("/who").await;
    alice.expect("-> 1 connected: alice\n").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_returns_within_5s_even_with_a_stalled_member() {
    let _serial = SERIAL.lock().await;
    let server = TestServer::start_with(|c| {
        unthrottled(c);
        c.runtime.outbox_capacity = 4;
    })
    .await;
    let _sleepy = stalled_member(&server, "sleepy").await;
    let mut alice = server.plain("alice").await;
    fill_until_dropping(&server, &alice).await;

    let took = server.stop_within(Duration::from_secs(5)).await;
    eprintln!("shutdown with a stalled member took {took:?}");
    alice
        .expect("-> the server is shutting down; see you soon\n")
        .await;
    alice.wait_closed(WAIT).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fast_typist_with_a_small_window_who_reads_everything_is_not_wedged() {
    let _serial = SERIAL.lock().await;
    let server = TestServer::start_with(unthrottled).await;
    let mut watcher = server.plain("watcher").await;
    // 24 KB is dropbear's default receive window. This client reads everything promptly.
    let typist = Connect::user("typist")
        .window(24 * 1024)
        .to(server.addr)
        .await
        .unwrap();
    let mut typist = typist.pty_shell(80, 24).await;
    typist
        .wait_screen("the prompt", |s| s.contains("[typist]"))
        .await;
    watcher.expect("typist joined.").await;

    // A paste of 1000 words in 20 lines, arriving as 1000 packets: each is echoed.
    for i in 0..1000 {
        let end = if i % 50 == 49 { "\r" } else { " " };
        typist.send(format!("w{i}{end}")).await;
    }
    let delivered = watcher.wait_count("typist: w", 20, WAIT).await;
    let received = typist.stdout().len();
    delivered.unwrap_or_else(|e| {
        panic!("{e}; the typist, reading all along, received {received} bytes")
    });
    typist
        .wait_screen("the typist's last line", |s| s.contains("w999"))
        .await;
}
