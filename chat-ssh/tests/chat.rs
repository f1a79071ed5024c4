//! Chatting over SSH: two users, plain sessions (no PTY), one-shot commands with `exec`.

mod support;

use support::{TestServer, WAIT, eventually, line_with, strip_stamp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_users_chat_and_each_sees_the_others_lines() {
    let server = TestServer::start().await;
    let mut alice = server.pty("alice", 80, 24).await;
    let mut bob = server.pty("bob", 80, 24).await;
    let screen = alice
        .wait_screen("bob's arrival", |s| s.contains("bob joined."))
        .await;
    let joined = line_with(&screen, "bob joined.").unwrap();
    assert_eq!(strip_stamp(joined), "* bob joined. (Connected: 2)");

    alice.send("hello bob\r").await;
    let screen = bob
        .wait_screen("alice's line", |s| s.contains("alice: hello bob"))
        .await;
    assert_eq!(
        strip_stamp(line_with(&screen, "alice: hello bob").unwrap()),
        "alice: hello bob"
    );

    bob.send("hi alice, how are you?\r").await;
    let screen = alice
        .wait_screen("bob's answer", |s| {
            s.contains("bob: hi alice, how are you?")
        })
        .await;
    assert_eq!(
        strip_stamp(line_with(&screen, "bob: hi alice").unwrap()),
        "bob: hi alice, how are you?"
    );
    // Each also sees its own line, in order, with the prompt below.
    let rows: Vec<&str> = screen.split('\n').collect();
    let mine = rows
        .iter()
        .position(|r| r.contains("alice: hello bob"))
        .unwrap();
    let theirs = rows
        .iter()
        .position(|r| r.contains("bob: hi alice"))
        .unwrap();
    let prompt = rows.iter().rposition(|r| r.starts_with("[alice]")).unwrap();
    assert!(mine < theirs && theirs < prompt, "{screen}");

    assert_eq!(server.lobby(), ["alice", "bob"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ssh_username_is_the_first_nick_and_a_taken_one_is_numbered() {
    let server = TestServer::start().await;
    let _bob = server.plain("bob").await;
    let mut other = server.connect("bob").await.plain_shell().await;
    let welcome = other.expect(" joined. (Connected: 2)").await;
    assert!(
        welcome.contains("bob is taken, so you are bob2."),
        "{welcome:?}"
    );
    assert!(
        welcome.contains("* bob2 joined. (Connected: 2)"),
        "{welcome:?}"
    );
    assert_eq!(server.lobby(), ["bob", "bob2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_session_reads_lines_and_writes_clean_lines_and_ends_at_eof() {
    let server = TestServer::start().await;
    let mut alice = server.plain("alice").await;
    let mut bob = server.plain("bob").await;
    alice.expect("* bob joined. (Connected: 2)\n").await;

    alice.say("hello bob").await;
    bob.expect("alice: hello bob\n").await;
    alice.expect("alice: hello bob\n").await;

    // A UTF-8 character cut in two across packets, as a pipe may send it.
    alice.send(b"caf\xc3").await;
    alice.send(b"\xa9 au lait\n").await;
    bob.expect("alice: caf\u{e9} au lait\n").await;

    // Commands work, and their answer is a plain line too.
    alice.say("/who").await;
    let who = alice.expect("-> 2 connected: alice, bob\n").await;
    assert!(!who.contains("/who"), "no echo in a plain session: {who:?}");

    // An unterminated last line is still said; EOF then ends the session cleanly.
    bob.send("bye for now").await;
    bob.eof().await;
    assert_eq!(bob.wait_exit().await, 0, "EOF ends with exit status 0");
    assert!(bob.got_eof(), "the server sends EOF before closing");
    alice.expect("bob: bye for now\n").await;
    alice.expect("* bob left. (After ").await;
    eventually("bob to leave the hub", WAIT, || server.lobby() == ["alice"])
        .await
        .unwrap();

    alice.eof().await;
    assert_eq!(alice.wait_exit().await, 0);

    for session in [&alice, &bob] {
        let out = session.stdout();
        assert!(
            !out.contains(&0x1b),
            "{}: no escape byte in a plain session: {:?}",
            session.conn.user,
            session.stdout_text()
        );
        assert!(
            !out.contains(&b'\r'),
            "{}: lines end in \\n alone",
            session.conn.user
        );
        assert!(!out.contains(&0x07), "{}: no bell", session.conn.user);
        let text = session.stdout_text();
        assert!(text.ends_with('\n'), "{text:?}");
        for line in text.lines() {
            assert!(
                line.starts_with("-> ") || line.starts_with("   ") || strip_stamp(line).len() > 1,
                "{line:?}"
            );
        }
    }
    // What alice read, event by event, in order.
    let alice_text = alice.stdout_text();
    let events: Vec<&str> = alice_text
        .lines()
        .filter(|l| !l.starts_with("-> "))
        .map(strip_stamp)
        .collect();
    assert_eq!(events.len(), 6, "{alice_text}");
    assert_eq!(
        events[..5],
        [
            "* alice joined. (Connected: 1)",
            "* bob joined. (Connected: 2)",
            "alice: hello bob",
            "alice: caf\u{e9} au lait",
            "bob: bye for now",
        ]
    );
    assert!(events[5].starts_with("* bob left. (After "), "{alice_text}");

    drop((alice, bob));
    server.wait_empty().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_who_prints_the_room_and_exits_0() {
    let server = TestServer::start().await;
    let mut alice = server.plain("alice").await;
    let _bob = server.plain("bob").await;
    alice.expect("bob joined.").await;

    let (stdout, stderr, status) = server.exec("ops", "/who").await;
    assert_eq!(stdout, "-> 2 connected: alice, bob\n");
    assert_eq!(stderr, "");
    assert_eq!(status, 0);

    // `ssh host who` works too.
    let (stdout, _, status) = server.exec("ops", "who").await;
    assert_eq!(
        (stdout.as_str(), status),
        ("-> 2 connected: alice, bob\n", 0)
    );

    // The one-shot member is invisible: nobody saw it come or go, and it is gone.
    alice.say("/who").await;
    alice.expect("-> 2 connected: alice, bob\n").await;
    assert!(
        !alice.stdout_text().contains("ops"),
        "{}",
        alice.stdout_text()
    );
    eventually("the exec members to leave", WAIT, || server.members() == 2)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_of_an_unknown_command_prints_to_stderr_and_exits_1() {
    let server = TestServer::start().await;
    let (stdout, stderr, status) = server.exec("ops", "/frob").await;
    assert_eq!(stdout, "");
    assert_eq!(
        stderr,
        "-> unknown command /frob; type /help for the list\n"
    );
    assert_eq!(status, 1);

    // With nobody connected, /who still answers and succeeds.
    let (stdout, stderr, status) = server.exec("ops", "/who").await;
    assert_eq!(
        (stdout.as_str(), stderr.as_str(), status),
        ("-> nobody is connected\n", "", 0)
    );
    server.wait_empty().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_session_channel_on_one_connection_is_refused() {
    let server = TestServer::start().await;
    let mut alice = server.plain("alice").await;
    let second = tokio::time::timeout(WAIT, alice.conn.handle.channel_open_session())
        .await
        .expect("an answer to the channel open");
    assert!(second.is_err(), "one session channel per connection");
    // The first one still works.
    alice.say("/who").await;
    alice.expect("-> 1 connected: alice\n").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_with_a_pty_ends_its_lines_with_crlf() {
    let server = TestServer::start().await;
    let _bob = server.plain("bob").await;
    let session = server.connect("ops").await.session(Some((80, 24))).await;
    session
        .request("pty", |w| async move {
            w.request_pty(true, "xterm", 80, 24, 0, 0, &[]).await
        })
        .await;
    session
        .request("exec", |w| async move { w.exec(true, "/who").await })
        .await;
    assert_eq!(session.wait_exit().await, 0);
    assert_eq!(session.stdout_text(), "-> 1 connected: bob\r\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_sequences_from_a_user_never_reach_another_terminal() {
    let server = TestServer::start().await;
    let mut carol = server.pty("carol", 80, 24).await;
    let mut bob = server.plain("bob").await;
    carol
        .wait_screen("carol's welcome", |s| s.contains("Welcome, carol!"))
        .await;

    // A name and a line full of escapes: clear screen, home, a title, a bidi override, a bell.
    let mut evil = server.connect("ev\x1b[2Jil").await.plain_shell().await;
    evil.expect(" joined.").await;
    evil.send("\x1b[2J\x1b[Hgot\x1b]0;pwned\x07cha \u{202e}desrever\u{202c}\n")
        .await;

    bob.expect("gotcha").await;
    bob.expect("\n").await;
    let screen = carol
        .wait_screen("evil's line", |s| s.contains("gotcha"))
        .await;
    assert!(
        screen.contains("Welcome, carol!"),
        "the screen was not cleared:\n{screen}"
    );

    let bob_out = bob.stdout();
    assert!(
        !bob_out.contains(&0x1b),
        "a plain session gets no escape byte: {:?}",
        bob.stdout_text()
    );
    let carol_out = carol.stdout_text();
    for forbidden in ["\x1b[2J", "\x1b[H", "\x1b]0;", "pwned\x07", "\u{202e}"] {
        assert!(
            !carol_out.contains(forbidden) && !bob.stdout_text().contains(forbidden),
            "{forbidden:?} reached a terminal: {carol_out:?}"
        );
    }
}
