//! SSH protocol abuse over real sockets: after the handshake, a client misbehaves in one way
//! per test (hundreds of channels, absurd PTYs, floods of requests, forwarding, data after
//! EOF, re-keying in a loop, connections that hold a slot and do nothing). Each time the
//! server refuses or bounds it, two ordinary members keep chatting through it (their slowest
//! line is printed), and what the abuser held is given back when it goes.
//!
//! Floods of idle TCP connections, garbage instead of SSH and handshakes that never
//! authenticate are in `abuse.rs` and `limits.rs`.
//!
//! The tests of this file run one at a time: they measure the memory of the process (the
//! server runs in it) and the latency of the ordinary members, which other tests running
//! beside them would blur.

mod support;

use std::cell::Cell;
use std::future::Future;
use std::time::{Duration, Instant};

use chat_ssh::MIN_CLIENT_REKEY_INTERVAL;
use russh::Pty;
use support::{
    Connect, Connection, Ending, Session, TestServer, WAIT, eventually, loopback, resident_kib,
};
use tokio::sync::Mutex;

/// One test at a time (see the module's comment).
static SERIAL: Mutex<()> = Mutex::const_new(());

/// How long an ordinary member's line may take to reach the other during an abuse: generous,
/// for a loaded 2-core machine; a line normally arrives in a few milliseconds.
const DELIVERY: Duration = Duration::from_secs(2);

/// Between two ordinary lines: they speak in turn, each within the 2 lines a second (after a
/// burst of 10) the default limits allow.
const PACE: Duration = Duration::from_millis(250);

/// How long each abuse goes on, in as many rounds as fit (at least one): long enough for the
/// ordinary members to say several lines while it runs.
const ABUSE_FOR: Duration = Duration::from_secs(2);

/// How much the process may have grown once an abuser has come and gone. Generous (a debug
/// build, allocator caches); what it guards against is growth in proportion to the abuse.
const MEMORY_SLACK_KIB: u64 = 32 * 1024;

/// How much more a second wave of the same abuse may leave behind than the first did.
const WAVE_SLACK_KIB: u64 = 8 * 1024;

/// Two ordinary members, each from an address of their own, who talk while an abuser does its
/// worst.
struct Bystanders {
    alice: Session,
    bob: Session,
    lines: usize,
}

impl Bystanders {
    async fn join(server: &TestServer) -> Bystanders {
        let alice = member(server, "alice", 2).await;
        let bob = member(server, "bob", 3).await;
        let mut bystanders = Bystanders {
            alice,
            bob,
            lines: 0,
        };
        let first = bystanders.exchange().await;
        eprintln!("before any abuse, an ordinary line took {first:?}");
        bystanders
    }

    /// One line from one of them (in turn) to the other; how long it took to arrive. Fails the
    /// test past [`DELIVERY`].
    async fn exchange(&mut self) -> Duration {
        self.lines += 1;
        let (from, to) = if self.lines.is_multiple_of(2) {
            (&self.alice, &mut self.bob)
        } else {
            (&self.bob, &mut self.alice)
        };
        let text = format!("ordinary line {}", self.lines);
        let sent = Instant::now();
        from.say(&text).await;
        to.expect_within(&format!("{}: {text}\n", from.conn.user), DELIVERY)
            .await;
        sent.elapsed()
    }

    /// Keeps talking (a line every [`PACE`]) while `abuse` runs beside them, and at least three
    /// lines in all, then once more; prints how long the abuse took and the slowest line sent
    /// while it ran, and returns what `abuse` returned. Both run in this task, so a line's
    /// time also counts any moment the abuser's client side kept it waiting: the figure can
    /// only err on the slow side.
    async fn talk_through<T>(&mut self, what: &str, abuse: impl Future<Output = T>) -> T {
        let done = Cell::new(false);
        let abuse = async {
            let started = Instant::now();
            let result = abuse.await;
            done.set(true);
            (result, started.elapsed())
        };
        let talk = async {
            let started = Instant::now();
            let (mut during, mut slowest, mut lines) = (0, Duration::ZERO, 0);
            while !done.get() || lines < 3 {
                let running = !done.get();
                let took = self.exchange().await;
                lines += 1;
                if running {
                    during += 1;
                    slowest = slowest.max(took);
                }
                assert!(
                    started.elapsed() < Duration::from_secs(120),
                    "{what} did not end within 2 minutes"
                );
                tokio::time::sleep(PACE).await;
            }
            (during, slowest)
        };
        let ((result, took), (during, slowest)) = tokio::join!(abuse, talk);
        let after = self.exchange().await;
        eprintln!(
            "{what}: the abuse took {took:?}; {during} ordinary lines sent while it ran, the \
             slowest delivered in {slowest:?}; one right after in {after:?}"
        );
        result
    }

    /// Everything either of them has received.
    fn seen(&self) -> String {
        self.alice.stdout_text() + &self.bob.stdout_text()
    }
}

/// A member in a plain session from `127.0.0.last`.
async fn member(server: &TestServer, name: &str, last: u8) -> Session {
    let mut session = Connect::user(name)
        .from(loopback(last))
        .to(server.addr)
        .await
        .expect("an ordinary member gets in")
        .plain_shell()
        .await;
    session.expect(&format!("{name} joined.")).await;
    session
}

/// The abuser: authenticated from 127.0.0.1, nothing opened yet.
async fn abuser(server: &TestServer, name: &str) -> Connection {
    Connect::user(name)
        .to(server.addr)
        .await
        .expect("the abuser authenticates like anyone")
}

/// Waits until only the two bystanders are left, in the hub and in the connection slots.
async fn only_bystanders_left(server: &TestServer) {
    eventually("only the two bystanders to be left", WAIT, || {
        server.members() == 2 && server.limits.in_use() == (2, 0)
    })
    .await
    .unwrap_or_else(|e| {
        panic!(
            "{e}: {} members ({:?}), slots in use {:?}",
            server.members(),
            server.lobby(),
            server.limits.in_use()
        )
    });
}

/// The resident memory of the process over an abuse, to show it comes back. What the abuse
/// costs the server is freed when the abuser goes, but the allocator keeps the pages for
/// reuse, and the abuser's own client (in this process too) holds what it was sent until it
/// goes: so the test runs the abuse twice, and the second wave must fit in the first one's
/// room. A cost that stayed behind would grow with each wave.
struct Memory {
    before: u64,
    peak: u64,
    after: Vec<u64>,
}

impl Memory {
    fn before() -> Memory {
        let before = resident_kib();
        Memory {
            before,
            peak: before,
            after: Vec::new(),
        }
    }

    /// While the abuser is still connected.
    fn during(&mut self) {
        self.peak = self.peak.max(resident_kib());
    }

    /// Once the abuser has gone.
    fn after_wave(&mut self) {
        self.after.push(resident_kib());
    }

    fn came_back(&self, what: &str) {
        eprintln!(
            "{what}: resident memory {} KiB before, {} KiB at most during, {:?} KiB after each \
             wave",
            self.before, self.peak, self.after
        );
        let first = *self.after.first().expect("a wave");
        let last = *self.after.last().expect("a wave");
        assert!(
            first <= self.before + MEMORY_SLACK_KIB,
            "{what}: {first} KiB after the first wave, {} KiB before",
            self.before
        );
        assert!(
            last <= first + WAVE_SLACK_KIB,
            "{what}: {last} KiB after the last wave, {first} KiB after the first"
        );
    }
}

/// Runs `round` (given its number) again and again until [`ABUSE_FOR`] has passed, at least
/// once; returns how many rounds ran.
async fn rounds(mut round: impl AsyncFnMut(usize)) -> usize {
    let until = Instant::now() + ABUSE_FOR;
    let mut done = 0;
    loop {
        round(done).await;
        done += 1;
        if Instant::now() >= until {
            return done;
        }
    }
}

/// A fresh address for round `n` of an abuse that opens a connection each round: one address
/// may open only 30 a minute.
fn round_address(n: usize) -> std::net::IpAddr {
    loopback(10 + (n % 200) as u8)
}

/// Polls all of `futures` together (the client's requests in flight at once, as a flood
/// sends them) and returns their outputs in order.
async fn all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => *output = Some(value),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs
        .into_iter()
        .map(|o| o.expect("every future is done"))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Channels
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundreds_of_session_channels_on_one_connection_are_refused_and_harm_nobody() {
    let _serial = SERIAL.lock().await;
    let server = TestServer::start().await;
    let mut bystanders = Bystanders::join(&server).await;
    let mut memory = Memory::before();

    // Two abusers, one after the other (see `Memory`).
    for wave in 1..=2 {
        let name = format!("abuser{wave}");
        let mut abuser = abuser(&server, &name).await.plain_shell().await;
        abuser.expect(&format!("{name} joined.")).await;
        // Beside the one it has, rounds of 300 more session channels asked for all at once.
        let (abuser, refused, rounds) = bystanders
            .talk_through("rounds of 300 session channels at once", async move {
                let mut refused = 0;
                let rounds = rounds(async |_| {
                    let handle = &abuser.conn.handle;
                    let opens = (0..300)
                        .map(|_| tokio::time::timeout(WAIT, handle.channel_open_session()))
                        .collect();
                    for answer in all(opens).await {
                        let opened = answer.expect("an answer to every channel open");
                        assert!(opened.is_err(), "one session channel per connection");
                        refused += 1;
                    }
                })
                .await;
                (abuser, refused, rounds)
            })
            .await;
        memory.during();
        eprintln!("{refused} session channels refused in {rounds} rounds");
        assert_eq!(
            server.members(),
            3,
            "no member came of the refused channels"
        );

        // Its one session is unharmed.
        let mut abuser = abuser;
        abuser.say("/who").await;
        abuser
            .expect(&format!("-> 3 connected: {name}, alice, bob\n"))
            .await;

        drop(abuser);
        only_bystanders_left(&server).await;
        memory.after_wave();
    }
    memory.came_back("hundreds of session channels");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundreds_of_channels_opened_and_closed_in_turn_leave_nothing_behind() {
    let _serial = SERIAL.lock().await;
    let server = TestServer::start().await;
    let mut bystanders = Bystanders::join(&server).await;
    let mut memory = Memory::before();
    let connection = abuser(&server, "churner").await;

    // 300 times: open a session channel, ask for a PTY, close it. One at a time, each is
    // granted (the connection has no other), and none leaves anything behind.
    let churning = Instant::now();
    let connection = bystanders
        .talk_through("300 channels opened and closed in turn", async move {
            for i in 0..300 {
                let channel = tokio::time::timeout(WAIT, connection.handle.channel_open_session())
                    .await
                    .expect("an answer to the channel open")
                    .unwrap_or_else(|e| panic!("channel {i} refused although alone: {e}"));
                channel
                    .request_pty(false, "xterm", 80, 24, 0, 0, &[])
                    .await
                    .expect("sending the PTY request");
                channel.close().await.expect("closing the channel");
            }
            connection
        })
        .await;
    // Regression: each cycle waited out the client's delayed ACK (40 ms) behind the
    // server's previous packet, 13.5 s for 300, until the server set TCP_NODELAY on the
    // sockets it hands to russh. About 0.1 s now.
    let churned = churning.elapsed();
    assert!(
        churned < Duration::from_secs(6),
        "300 cycles took {churned:?}: are replies waiting for delayed ACKs (TCP_NODELAY)?"
    );
    memory.during();
    assert_eq!(server.members(), 2, "no session ever started");

    // The connection still opens a session and chats.
    let mut churner = connection.plain_shell().await;
    churner.expect("churner joined.").await;
    churner.say("done churning").await;
    bystanders.bob.wait_text("churner: done churning\n").await;

    drop(churner);
    only_bystanders_left(&server).await;
    memory.after_wave();
    memory.came_back("300 channels opened and closed");
}

// ---------------------------------------------------------------------------------------------
// PTY requests
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absurd_pty_sizes_are_clamped_and_harm_nobody() {
    let _serial = SERIAL.lock().await;
    let server = TestServer::start().await;
    let mut bystanders = Bystanders::join(&server).await;
    let mut memory = Memory::before();
    let huge = abuser(&server, "huge").await.session(None).await;
    let zero = abuser(&server, "zero").await.session(None).await;

    // 65535×65535 cells and u32::MAX pixels: granted, as a terminal of the most the server
    // draws for. Zero cells: the server's default size.
    huge.request("pty", |w| async move {
        w.request_pty(true, "xterm", 65_535, 65_535, u32::MAX, u32::MAX, &[])
            .await
    })
    .await;
    zero.request("pty", |w| async move {
        w.request_pty(true, "xterm", 0, 0, 0, 0, &[]).await
    })
    .await;
    for session in [&huge, &zero] {
        session
            .request("shell", |w| async move { w.request_shell(true).await })
            .await;
    }
    huge.wait_text("Welcome, huge!").await;
    zero.wait_text("Welcome, zero!").await;
    let joined = huge.stdout().len();
    // A second PTY request on a running session is refused.
    assert!(
        !huge
            .try_request("a second pty", |w| async move {
                w.request_pty(true, "vt100", 80, 24, 0, 0, &[]).await
            })
            .await,
        "a PTY request on a running session is refused"
    );

    // A storm of resizes between the absurd and nothing, each answered by a repaint.
    const SIZES: [(u32, u32); 4] = [(u32::MAX, u32::MAX), (0, 0), (65_535, 1), (1, 65_535)];
    let (huge, zero, resizes) = bystanders
        .talk_through("a storm of absurd resizes", async move {
            let mut resizes = 0;
            rounds(async |_| {
                for (cols, rows) in SIZES.iter().cycle().take(1_000) {
                    huge.writer()
                        .window_change(*cols, *rows, u32::MAX, u32::MAX)
                        .await
                        .expect("sending a window change");
                    resizes += 1;
                }
                // A round trip, so that the resizes do not pile up in the client.
                tokio::time::timeout(WAIT, huge.conn.handle.send_ping())
                    .await
                    .expect("an answer to a ping")
                    .expect("a ping");
            })
            .await;
            // Enter, on a PTY.
            huge.send("still typing\r").await;
            zero.send("me too\r").await;
            (huge, zero, resizes)
        })
        .await;
    bystanders.bob.wait_text("huge: still typing\n").await;
    bystanders.bob.wait_text("zero: me too\n").await;
    memory.during();
    let drawn = huge.stdout().len();
    eprintln!(
        "the 65535×65535 session was sent {joined} bytes on joining, {drawn} after {resizes} \
         resizes and a line"
    );
    assert!(
        joined < 16 << 10,
        "{joined} bytes to join: drawing is bounded by the clamped size"
    );
    assert!(
        drawn < joined + resizes * 256,
        "{drawn} bytes: each resize repaints the prompt, not a screen"
    );

    drop((huge, zero));
    only_bystanders_left(&server).await;
    memory.after_wave();
    memory.came_back("absurd PTY sizes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absurd_terminal_modes_are_ignored_or_cut_off_and_harm_nobody() {
    let _serial = SERIAL.lock().await;
    let server = TestServer::start().await;
    let mut bystanders = Bystanders::join(&server).await;
    let extreme = abuser(&server, "extreme").await.session(None).await;

    // Every mode at its most and a terminal type of 100,000 characters: granted, and the modes
    // are ignored (the chat has no line discipline to set up).
    let modes: Vec<(Pty, u32)> = (1..=160u8)
        .filter_map(Pty::from_u8)
        .filter(|&m| m != Pty::TTY_OP_END)
        .map(|m| (m, u32::MAX))
        .collect();
    let term = "x".repeat(100_000);
    extreme
        .request("pty", |w| async move {
            w.request_pty(true, &term, 80, 24, 0, 0, &modes).await
        })
        .await;
    extreme
        .request("shell", |w| async move { w.request_shell(true).await })
        .await;
    extreme.wait_text("Welcome, extreme!").await;

    // More modes than there are (200 entries, the same one over and over), from one fresh
    // connection after another: the request is malformed, and each connection is cut.
    let addr = server.addr;
    let cut = bystanders
        .talk_through("PTY requests with 200 modes", async move {
            rounds(async |n| {
                let flood = Connect::user("modeflood")
                    .from(round_address(n))
                    .to(addr)
                    .await
                    .expect("the abuser authenticates like anyone")
                    .session(None)
                    .await;
                let too_many = vec![(Pty::VINTR, 3); 200];
                let granted = flood
                    .try_request("pty with 200 modes", |w| async move {
                        w.request_pty(true, "xterm", 80, 24, 0, 0, &too_many).await
                    })
                    .await;
                assert!(!granted, "a PTY request with 200 modes is not granted");
                flood
                    .conn
                    .wait_disconnected(WAIT)
                    .await
                    .expect("the connection that sent 200 modes is cut");
            })
            .await
        })
        .await;
    eprintln!("{cut} connections sent 200 modes and were cut");
    extreme.send("modes ignored\r").await;
    bystanders.bob.wait_text("extreme: modes ignored\n").await;
    assert!(!bystanders.seen().contains("modeflood"), "it never joined");

    drop(extreme);
    only_bystanders_left(&server).await;
}

// ---------------------------------------------------------------------------------------------
// env and exec
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_env_requests_is_answered_in_constant_memory_and_harms_nobody() {
    let _serial = SERIAL.lock().await;
    let server = TestServer::start().await;
    let mut bystanders = Bystanders::join(&server).await;
    let mut memory = Memory::before();

    // Two abusers, one after the other (see `Memory`).
    for wave in 1..=2 {
        let name = format!("envflood{wave}");
        let session = abuser(&server, &name).await.session(None).await;
        // Rounds of 1,000 variables with 1 KiB values and 200 TERMs, sent without waiting for
        // the answers.
        let (session, asked, replies) = bystanders
            .talk_through("a flood of env requests", async move {
                let value = "v".repeat(1024);
                let mut asked = 0;
                rounds(async |round| {
                    for i in 0..1_000usize {
                        let w = session.writer();
                        w.set_env(true, format!("VAR_{round}_{i}"), value.as_str())
                            .await
                            .expect("sending an env request");
                        if i.is_multiple_of(5) {
                            w.set_env(true, "TERM", format!("xterm-{i}-{value}"))
                                .await
                                .expect("sending an env request");
                        }
                    }
                    asked += 1_200;
                    session
                        .wait_replies(asked, WAIT)
                        .await
                        .expect("an answer to every env request");
                })
                .await;
                let replies = session.with_output(|o| (o.successes, o.failures));
                (session, asked, replies)
            })
            .await;
        memory.during();
        eprintln!("{asked} env requests answered");
        assert_eq!(
            replies,
            (asked / 6, asked / 6 * 5),
            "TERM is taken (the last one wins), every other variable refused"
        );

        // The session then starts as any other.
        assert!(
            session
                .try_request("shell", |w| async move { w.request_shell(true).await })
                .await,
            "a shell after the flood"
        );
        session.wait_text(&format!("{name} joined.")).await;
        session.say("after the flood").await;
        bystanders
            .bob
            .wait_text(&format!("{name}: after the flood\n"))
            .await;

        drop(session);
        only_bystanders_left(&server).await;
        memory.after_wave();
    }
    memory.came_back("a flood of env requests");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exec_of_a_mebibyte_is_refused_and_harms_nobody() {
    let _serial = SERIAL.lock().await;
    let server = TestServer::start().await;
    let mut bystanders = Bystanders::join(&server).await;
    let addr = server.addr;

    let (rounds, answer) = bystanders
        .talk_through("execs of 1 MiB and of 200 KiB", async move {
            let mut answer = String::new();
            let rounds = rounds(async |n| {
                let connect = Connect::user("mebibyte").from(round_address(n));
                let mebibyte = connect.to(addr).await.unwrap().session(None).await;
                let large = connect.to(addr).await.unwrap().session(None).await;
                // 1 MiB is more than an SSH packet may hold (256 KiB): the connection is cut.
                let command = vec![b'a'; 1 << 20];
                let granted = mebibyte
                    .try_request(
                        "exec of 1 MiB",
                        |w| async move { w.exec(true, command).await },
                    )
                    .await;
                assert!(!granted, "an exec of 1 MiB is not run");
                mebibyte
                    .conn
                    .wait_disconnected(WAIT)
                    .await
                    .expect("the connection that sent 1 MiB is cut");
                // 200 KiB fits in a packet: it runs, as an unknown command, and fails.
                let command = format!("/{}", "b".repeat(200 << 10));
                large
                    .request(
                        "exec of 200 KiB",
                        |w| async move { w.exec(true, command).await },
                    )
                    .await;
                assert_eq!(large.wait_exit().await, 1, "an unknown command fails");
                answer = large.stdout_text() + &large.stderr_text();
            })
            .await;
            (rounds, answer)
        })
        .await;
    eprintln!(
        "{rounds} rounds; the answer to an exec of 200 KiB was {} bytes: {answer:?}",
        answer.len()
    );
    assert!(answer.contains("unknown command"), "{answer:?}");
    assert!(answer.len() < 1024, "the answer does not echo the command");
    assert!(!bystanders.seen().contains("bbbbbbbb"), "nobody saw it");
    only_bystanders_left(&server).await;
}

// ---------------------------------------------------------------------------------------------
// Subsystems and forwarding
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subsystems_are_refused_and_harm_nobody() {
    let _serial = SERIAL.lock().await;
    let server = TestServer::start().await;
    let mut bystanders = Bystanders::join(&server).await;
    let session = abuser(&server, "sftp").await.session(None).await;

    let junk = "j".repeat(10_000);
    for name in [
        "sftp",
        "netconf",
        "",
        "../../bin/sh",
        "sftp\0",
        junk.as_str(),
    ] {
        let name = name.to_owned();
        let shown: String = name.chars().take(16).collect();
        assert!(
            !session
                .try_request(&format!("subsystem {shown:?}"), |w| async move {
                    w.request_subsystem(true, name).await
                })
                .await,
            "subsystem {shown:?} refused"
        );
    }

    // Rounds of 500 more, sent without waiting for the answers.
    let (session, asked) = bystanders
        .talk_through("a flood of subsystem requests", async move {
            let mut asked = 6;
            rounds(async |round| {
                for i in 0..500 {
                    session
                        .writer()
                        .request_subsystem(true, format!("junk-{round}-{i}"))
                        .await
                        .expect("sending a subsystem request");
                }
                asked += 500;
                let replies = session
                    .wait_replies(asked, WAIT)
                    .await
                    .expect("an answer to every subsystem request");
                assert_eq!(replies, (0, asked), "all refused");
            })
            .await;
            (session, asked)
        })
        .await;
    eprintln!("{asked} subsystem requests refused");

    // The channel is still good for a shell.
    assert!(
        session
            .try_request("shell", |w| async move { w.request_shell(true).await })
            .await,
        "a shell after the refused subsystems"
    );
    session.wait_text("sftp joined.").await;
    session.say("no files here").await;
    bystanders.bob.wait_text("sftp: no files here\n").await;

    drop(session);
    only_bystanders_left(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_agent_and_x11_forwarding_are_refused_and_harm_nobody() {
    let _serial = SERIAL.lock().await;
    let server = TestServer::start().await;
    let mut bystanders = Bystanders::join(&server).await;
    // Something the server could be asked to connect to: it never is.
    let target = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = u32::from(target.local_addr().unwrap().port());
    let mut session = abuser(&server, "forwarder").await.plain_shell().await;
    session.expect("forwarder joined.").await;

    let (session, rounds) = bystanders
        .talk_through("rounds of forwarding requests", async move {
            let rounds = rounds(async |_| refuses_forwarding(&session, port).await).await;
            (session, rounds)
        })
        .await;
    eprintln!("{rounds} rounds of forwarding requests, all refused");
    let connected = tokio::time::timeout(Duration::ZERO, target.accept()).await;
    assert!(connected.is_err(), "the server connected to nothing");

    // The session is unharmed.
    session.say("nothing forwarded").await;
    bystanders
        .bob
        .wait_text("forwarder: nothing forwarded\n")
        .await;

    drop(session);
    only_bystanders_left(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_x11_request_is_answered_so_later_replies_stay_in_order() {
    // russh's default handler did not answer `x11-req` at all. Replies to channel requests
    // carry no id, only their order: `ssh -X` took the answer to its PTY request for the one
    // to X11, the shell's for the PTY's, and waited for the last.
    let _serial = SERIAL.lock().await;
    let server = TestServer::start().await;
    let _bob = member(&server, "bob", 3).await;
    let session = abuser(&server, "xuser").await.session(None).await;
    let w = session.writer();
    w.request_x11(true, false, "MIT-MAGIC-COOKIE-1", "00ff".repeat(16), 0)
        .await
        .unwrap();
    w.request_pty(true, "xterm", 80, 24, 0, 0, &[])
        .await
        .unwrap();
    w.request_shell(true).await.unwrap();
    let replies = session
        .wait_replies(3, WAIT)
        .await
        .expect("three requests, three replies");
    assert_eq!(
        replies,
        (2, 1),
        "X11 refused, the PTY and the shell granted"
    );
    session.wait_text("Welcome, xuser!").await;
}

/// Asks for every kind of forwarding on `session`'s connection, and checks each is refused.
async fn refuses_forwarding(session: &Session, port: u32) {
    let handle = &session.conn.handle;
    // Local forwarding (ssh -L), 20 times, to a port that listens.
    for _ in 0..20 {
        let opened = tokio::time::timeout(
            WAIT,
            handle.channel_open_direct_tcpip("127.0.0.1", port, "127.0.0.1", 40_000),
        )
        .await
        .expect("an answer to direct-tcpip");
        assert!(opened.is_err(), "direct-tcpip refused");
    }
    let opened = tokio::time::timeout(
        WAIT,
        handle.channel_open_direct_streamlocal("/var/run/docker.sock"),
    )
    .await
    .expect("an answer to direct-streamlocal");
    assert!(opened.is_err(), "direct-streamlocal refused");
    // Remote forwarding (ssh -R), on a chosen port and on any.
    for (address, port) in [("0.0.0.0", 2222), ("127.0.0.1", 0), ("", 80)] {
        let forwarded = tokio::time::timeout(WAIT, handle.tcpip_forward(address, port))
            .await
            .expect("an answer to tcpip-forward");
        assert!(forwarded.is_err(), "tcpip-forward {address}:{port} refused");
    }
    let cancelled = tokio::time::timeout(WAIT, handle.cancel_tcpip_forward("0.0.0.0", 2222))
        .await
        .expect("an answer to cancel-tcpip-forward");
    assert!(cancelled.is_err(), "nothing to cancel");
    let forwarded = tokio::time::timeout(WAIT, handle.streamlocal_forward("/tmp/chat.sock"))
        .await
        .expect("an answer to streamlocal-forward");
    assert!(forwarded.is_err(), "streamlocal-forward refused");
    let junk = tokio::time::timeout(
        WAIT,
        handle.send_global_request("junk@example.com", b"\xff\x00", true),
    )
    .await
    .expect("an answer to a junk global request");
    assert!(junk.is_err(), "a junk global request refused");
    // X11 channels the client opens itself.
    let opened = tokio::time::timeout(WAIT, handle.channel_open_x11("127.0.0.1", 6010))
        .await
        .expect("an answer to an x11 channel");
    assert!(opened.is_err(), "an x11 channel refused");
    // Agent and X11 forwarding on the session channel. russh did not answer X11 requests at
    // all (a client waiting for the answer hung, or took the next reply for it).
    assert!(
        !session
            .try_request("agent forwarding", |w| async move {
                w.agent_forward(true).await
            })
            .await,
        "agent forwarding refused"
    );
    assert!(
        !session
            .try_request("x11 forwarding", |w| async move {
                w.request_x11(true, false, "MIT-MAGIC-COOKIE-1", "00ff".repeat(16), 0)
                    .await
            })
            .await,
        "X11 forwarding refused"
    );
}

// ---------------------------------------------------------------------------------------------
// Closed and closing channels
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_after_eof_is_ignored_and_harms_nobody() {
    let _serial = SERIAL.lock().await;
    let server = TestServer::start().await;
    let mut bystanders = Bystanders::join(&server).await;
    let mut session = abuser(&server, "eofer").await.plain_shell().await;
    session.expect("eofer joined.").await;

    let session = bystanders
        .talk_through("1 MiB of data after EOF", async move {
            session.say("before eof").await;
            session.eof().await;
            let junk = "after eof\n".repeat(6_554);
            for _ in 0..16 {
                session.send(&junk).await;
            }
            session
                .writer()
                .window_change(100, 40, 0, 0)
                .await
                .expect("sending a window change");
            assert_eq!(session.wait_exit().await, 0, "EOF ends a plain session");
            // Everything sent is processed by the server before it answers the ping.
            tokio::time::timeout(WAIT, session.conn.handle.send_ping())
                .await
                .expect("the connection answers a ping")
                .expect("a ping");
            session
        })
        .await;
    bystanders.alice.wait_text("eofer: before eof\n").await;
    bystanders.alice.wait_text("eofer left").await;
    // One more line each way, well after anything the abuser sent.
    bystanders.exchange().await;
    bystanders.exchange().await;
    assert!(
        !bystanders.seen().contains("after eof"),
        "nothing sent after EOF was said: {}",
        bystanders.seen()
    );
    assert_eq!(server.members(), 2);

    drop(session);
    only_bystanders_left(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_on_a_channel_the_server_closed_are_ignored_and_harm_nobody() {
    let _serial = SERIAL.lock().await;
    let server = TestServer::start().await;
    let mut bystanders = Bystanders::join(&server).await;
    let session = abuser(&server, "closer").await.session(None).await;

    // The client stops reading: it will not learn that the server closed the channel once
    // its command was done, and goes on using it.
    session.conn.pause_reading();
    session
        .writer()
        .exec(true, "/msg bob first-pm")
        .await
        .expect("sending exec");
    // The command ran (and the server then closed the channel).
    bystanders.bob.wait_text("first-pm").await;

    let session = bystanders
        .talk_through("requests on a closed channel", async move {
            let w = session.writer();
            for i in 0..100 {
                w.exec(true, format!("/msg bob second-pm {i}"))
                    .await
                    .unwrap();
                w.request_shell(true).await.unwrap();
                w.request_pty(true, "xterm", 80, 24, 0, 0, &[])
                    .await
                    .unwrap();
                w.set_env(true, "TERM", "vt100").await.unwrap();
                w.request_subsystem(true, "sftp").await.unwrap();
                w.agent_forward(true).await.unwrap();
                w.window_change(10, 10, 0, 0).await.unwrap();
                w.data_bytes(format!("/msg bob third-pm {i}\n").into_bytes())
                    .await
                    .unwrap();
            }
            w.eof().await.unwrap();
            session.conn.resume_reading();
            session
                .wait_closed(WAIT)
                .await
                .expect("the server closed the channel");
            tokio::time::timeout(WAIT, session.conn.handle.send_ping())
                .await
                .expect("the connection answers a ping")
                .expect("a ping");
            session
        })
        .await;
    let successes = session.with_output(|o| o.successes);
    assert_eq!(successes, 1, "only the first exec was granted");
    assert_eq!(session.exit_status(), Some(0));

    bystanders.exchange().await;
    bystanders.exchange().await;
    let seen = bystanders.seen();
    assert!(
        !seen.contains("second-pm") && !seen.contains("third-pm"),
        "nothing sent on the closed channel ran: {seen}"
    );
    assert_eq!(server.members(), 2);
    drop(session);
    only_bystanders_left(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_session_may_follow_one_the_server_ended_on_the_same_connection() {
    // As an OpenSSH control master does: `ssh host who`, then `ssh host` over the same
    // connection. The server closes the first channel when its command is done; russh does not
    // tell the handler when the client then confirms the close, and the handler took the
    // channel for still open and refused every later one.
    let _serial = SERIAL.lock().await;
    let server = TestServer::start().await;
    let _bob = member(&server, "bob", 3).await;
    let mut connection = abuser(&server, "master").await;
    for round in 0..3 {
        let session = connection.exec("/who").await;
        assert_eq!(session.wait_exit().await, 0, "round {round}");
        assert_eq!(
            session.stdout_text(),
            "-> 1 connected: bob\n",
            "round {round}"
        );
        connection = session.conn;
    }
    let mut session = connection.plain_shell().await;
    session.expect("master joined.").await;
    session.say("/who").await;
    session.expect("-> 2 connected: bob, master\n").await;
}

// ---------------------------------------------------------------------------------------------
// Re-keying
// ---------------------------------------------------------------------------------------------

/// Waits until a key exchange that has just ended is past the server's re-key interval, by a
/// margin for a loaded machine.
async fn wait_past_rekey_interval() {
    tokio::time::sleep(MIN_CLIENT_REKEY_INTERVAL + Duration::from_millis(250)).await;
}

/// Asks for a key exchange and waits for a round trip after it: the client holds the ping until
/// its exchange is done, so the next one starts only then. If the server ends the connection
/// first, the client notes how (in [`Connection::ending`]) and then drops the ping.
async fn rekey(session: &Session, n: usize) {
    if session.conn.handle.rekey_soon().await.is_err() {
        return;
    }
    let _ = tokio::time::timeout(WAIT, session.conn.handle.send_ping())
        .await
        .unwrap_or_else(|_| panic!("no answer after key exchange {n}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rekey_loop_is_cut_off_at_its_second_exchange_within_the_interval_and_harms_nobody() {
    let _serial = SERIAL.lock().await;
    let server = TestServer::start().await;
    let mut bystanders = Bystanders::join(&server).await;
    let mut session = abuser(&server, "rekeyer").await.plain_shell().await;
    session.expect("rekeyer joined.").await;
    // The interval counts from the exchange at login too: start past it, so that the loop's
    // first exchange is allowed.
    wait_past_rekey_interval().await;

    let (session, exchanges, took) = bystanders
        .talk_through("key exchanges in a loop", async move {
            let started = Instant::now();
            let mut exchanges = 0;
            while session.conn.ending().is_none() && exchanges < 100 {
                exchanges += 1;
                rekey(&session, exchanges).await;
            }
            session
                .conn
                .wait_disconnected(WAIT)
                .await
                .expect("the re-keyer is disconnected");
            (session, exchanges, started.elapsed())
        })
        .await;
    eprintln!("cut off at key exchange {exchanges}, {took:?} after the loop began");
    assert_eq!(
        exchanges, 2,
        "the first exchange past the interval is allowed, the second within it is not"
    );
    match session.conn.ending() {
        Some(Ending::Disconnect(why)) if why.contains("re-key too soon") => {}
        other => panic!("the server says why it disconnects: {other:?}"),
    }
    drop(session);
    only_bystanders_left(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_rekeys_once_the_interval_has_passed_keeps_its_session() {
    let _serial = SERIAL.lock().await;
    let server = TestServer::start().await;
    let mut bystanders = Bystanders::join(&server).await;
    let session = member(&server, "patient", 4).await;

    for n in 1..=2 {
        wait_past_rekey_interval().await;
        rekey(&session, n).await;
        assert_eq!(session.conn.ending(), None, "after key exchange {n}");
    }
    session.say("still here after two key exchanges").await;
    bystanders
        .bob
        .wait_text("patient: still here after two key exchanges\n")
        .await;
    bystanders.exchange().await;
    assert!(!session.conn.handle.is_closed());
    assert_eq!(server.members(), 3);
}

// ---------------------------------------------------------------------------------------------
// Connections that hold a slot and do nothing
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authenticated_connection_that_never_starts_a_session_is_closed() {
    let _serial = SERIAL.lock().await;
    let server =
        TestServer::start_with(|c| c.ssh.no_session_timeout = Duration::from_secs(1)).await;
    let mut bystanders = Bystanders::join(&server).await;
    let addr = server.addr;

    let (no_channel, no_shell) = bystanders
        .talk_through("two connections that never start a session", async move {
            let started = Instant::now();
            // One that opens nothing (as `ssh -N` would), one that opens a channel and asks
            // for nothing on it.
            let nothing = Connect::user("nothing").to(addr).await.unwrap();
            let channel = Connect::user("channel")
                .to(addr)
                .await
                .unwrap()
                .session(None)
                .await;
            nothing
                .wait_disconnected(WAIT)
                .await
                .expect("a connection without a channel is closed");
            let no_channel = started.elapsed();
            channel
                .conn
                .wait_disconnected(WAIT)
                .await
                .expect("a connection whose channel runs nothing is closed");
            (no_channel, started.elapsed())
        })
        .await;
    eprintln!(
        "with no_session_timeout = 1 s, closed after {no_channel:?} (no channel) and \
         {no_shell:?} (a channel, no shell)"
    );
    // The server's clock starts at authentication, after the test's.
    assert!(no_channel >= Duration::from_millis(990), "{no_channel:?}");
    assert!(no_shell < Duration::from_secs(5), "{no_shell:?}");
    only_bystanders_left(&server).await;
    // The bystanders, in their sessions far longer than that, are still here.
    bystanders.exchange().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_left_open_after_its_session_ended_is_closed() {
    let _serial = SERIAL.lock().await;
    let server =
        TestServer::start_with(|c| c.ssh.no_session_timeout = Duration::from_secs(1)).await;
    let mut bystanders = Bystanders::join(&server).await;
    let addr = server.addr;

    let (lingered, after_start, status) = bystanders
        .talk_through("a connection that lingers after its command", async move {
            let started = Instant::now();
            let session = Connect::user("lingerer")
                .to(addr)
                .await
                .unwrap()
                .exec("/who")
                .await;
            let status = session.wait_exit().await;
            let ended = Instant::now();
            session
                .conn
                .wait_disconnected(WAIT)
                .await
                .expect("a connection left open after its session is closed");
            (ended.elapsed(), started.elapsed(), status)
        })
        .await;
    eprintln!("with no_session_timeout = 1 s, closed {lingered:?} after its session ended");
    assert_eq!(status, 0);
    // The server's clock starts when the session ends, after the test's and a moment before
    // the client sees the end.
    assert!(after_start >= Duration::from_millis(990), "{after_start:?}");
    assert!(lingered < Duration::from_secs(5), "{lingered:?}");
    only_bystanders_left(&server).await;
}
