//! Many sessions: 500 join (from five addresses), all are in the room at once, then they leave
//! in every way a session can end, and nothing is left behind.

mod support;

use std::time::{Duration, Instant};

use support::{Connect, Session, TestServer, loopback};
use tokio::task::JoinSet;

const SESSIONS: usize = 500;
/// Connections set up at once.
const BATCH: usize = 50;
/// Client addresses 127.0.0.2 ..= 127.0.0.6, 100 sessions each.
const HOSTS: usize = 5;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_sessions_join_and_leave_and_none_is_left_behind() {
    let server = TestServer::start_with(|c| {
        // Exactly the peak per address: a slot not given back would refuse someone.
        c.ssh.max_per_ip = SESSIONS / HOSTS;
        c.ssh.max_unauthenticated = BATCH * 2;
        c.ssh.max_new_per_ip_per_minute = 1_000;
    })
    .await;
    let started = Instant::now();

    let mut sessions: Vec<Option<Session>> = (0..SESSIONS).map(|_| None).collect();
    for batch in 0..SESSIONS / BATCH {
        let mut joining = JoinSet::new();
        for i in batch * BATCH..(batch + 1) * BATCH {
            let addr = server.addr;
            joining.spawn(async move {
                let name = format!("u{i}");
                let connect = Connect::user(&name).from(loopback(2 + (i % HOSTS) as u8));
                let connection = connect
                    .to(addr)
                    .await
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                // Every tenth one has a terminal; the rest are plain.
                let mut session = if i % 10 == 0 {
                    connection.pty_shell(80, 24).await
                } else {
                    connection.plain_shell().await
                };
                // (Its own "joined" line may come gathered with others': the welcome is at once.)
                session.expect(&format!("Welcome, {name}!")).await;
                (i, session)
            });
        }
        while let Some(joined) = joining.join_next().await {
            let (i, session) = joined.expect("a session joins");
            sessions[i] = Some(session);
        }
    }
    let joined = started.elapsed();
    assert_eq!(server.members(), SESSIONS);
    assert_eq!(server.limits.in_use(), (SESSIONS, 0));
    let (who, _, status) = server.exec("ops", "/who").await;
    assert_eq!(status, 0);
    let listed = who
        .strip_prefix(&format!("-> {SESSIONS} connected: "))
        .unwrap_or_else(|| panic!("{who:?}"));
    assert_eq!(listed.trim_end().split(", ").count(), SESSIONS);

    // Leave: a third with /exit, a third with EOF, a third by dropping the connection.
    let mut leaving = JoinSet::new();
    for (i, session) in sessions.into_iter().enumerate() {
        let session = session.unwrap();
        match i % 3 {
            0 => {
                leaving.spawn(async move {
                    session.say("/exit").await;
                    assert_eq!(session.wait_exit().await, 0);
                });
            }
            1 => {
                leaving.spawn(async move {
                    session.eof().await;
                    assert_eq!(session.wait_exit().await, 0);
                });
            }
            _ => session.drop_connection(),
        }
    }
    while let Some(left) = leaving.join_next().await {
        left.expect("a session leaves cleanly");
    }
    server.wait_empty().await;
    let (who, stderr, status) = server.exec("ops", "/who").await;
    assert_eq!(
        (who.as_str(), stderr.as_str(), status),
        ("-> nobody is connected\n", "", 0)
    );
    server.wait_empty().await;

    let took = started.elapsed();
    eprintln!("{SESSIONS} sessions: all joined after {joined:?}; all joined and left in {took:?}");
    assert!(
        took < Duration::from_secs(20),
        "{SESSIONS} sessions took {took:?}"
    );
}
