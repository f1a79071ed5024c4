//! Interactive sessions (a PTY) as a terminal shows them: echo, line editing, wrapping, window
//! changes. The channel's output is fed to a VT100 emulator and the tests assert on its screen.

mod support;

use support::{Connect, TestServer, WAIT, eventually, strip_stamp};

/// The last screen row that starts with `name`'s prompt, and its index.
fn prompt_row(screen: &str, name: &str) -> Option<(usize, String)> {
    let prompt = format!("[{name}] ");
    let bare = format!("[{name}]");
    screen
        .split('\n')
        .enumerate()
        .filter(|(_, row)| row.starts_with(&prompt) || *row == bare)
        .last()
        .map(|(i, row)| (i, row.to_owned()))
}

/// Whether the prompt row of `name` shows exactly `input` after the prompt.
fn shows_input(screen: &str, name: &str, input: &str) -> bool {
    prompt_row(screen, name).is_some_and(|(_, row)| row == format!("[{name}] {input}").trim_end())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pty_echoes_typing_and_edits_with_backspace_arrows_and_ctrl_keys() {
    let server = TestServer::start().await;
    let mut alice = server.pty("alice", 80, 24).await;
    let screen = alice
        .wait_screen("alice's welcome", |s| s.contains("Welcome, alice!"))
        .await;
    assert!(
        shows_input(&screen, "alice", ""),
        "an empty prompt at first:\n{screen}"
    );

    alice.send("hello").await;
    alice
        .wait_screen("the echo of `hello`", |s| shows_input(s, "alice", "hello"))
        .await;
    let (row, _) = prompt_row(&alice.screen(), "alice").unwrap();
    assert_eq!(
        alice.cursor(),
        (row as u16, 13),
        "the cursor follows the input"
    );

    // Backspace arrives as DEL from a terminal.
    alice.send(b"\x7f\x7f").await;
    alice
        .wait_screen("`hel` after two backspaces", |s| {
            shows_input(s, "alice", "hel")
        })
        .await;

    // Two steps left, insert; one right, insert.
    alice.send(b"\x1b[D\x1b[DX").await;
    alice
        .wait_screen("`hXel`", |s| shows_input(s, "alice", "hXel"))
        .await;
    assert_eq!(alice.cursor().1, 10, "the cursor sits after the inserted X");
    alice.send(b"\x1b[CY").await;
    alice
        .wait_screen("`hXeYl`", |s| shows_input(s, "alice", "hXeYl"))
        .await;

    // Ctrl-U kills what is before the cursor; Ctrl-A/Ctrl-E move to the ends.
    alice.send(b"\x15").await;
    alice
        .wait_screen("`l` after Ctrl-U", |s| shows_input(s, "alice", "l"))
        .await;
    assert_eq!(
        alice.cursor().1,
        8,
        "the cursor is at the start of the input"
    );
    alice.send(b"\x05ook\x01L").await;
    alice
        .wait_screen("`Llook`", |s| shows_input(s, "alice", "Llook"))
        .await;
    alice.send(b"\x0b").await; // Ctrl-K: kill to the end
    alice
        .wait_screen("`L` after Ctrl-K", |s| shows_input(s, "alice", "L"))
        .await;
    alice.send(b"\x7f").await;
    alice
        .wait_screen("an empty input", |s| shows_input(s, "alice", ""))
        .await;

    // Enter sends what is on the line, and only that.
    alice.send("final words\r").await;
    let screen = alice
        .wait_screen("alice's said line and an empty prompt", |s| {
            s.contains("alice: final words") && shows_input(s, "alice", "")
        })
        .await;
    let said = screen
        .lines()
        .find(|l| l.contains("alice: final words"))
        .unwrap();
    assert_eq!(strip_stamp(said), "alice: final words");
    for gone in ["hello", "hXeYl", "Llook"] {
        assert!(
            !screen.contains(gone),
            "{gone:?} was edited away, yet the screen shows it:\n{screen}"
        );
    }
    let (row, _) = prompt_row(&screen, "alice").unwrap();
    assert_eq!(
        alice.cursor(),
        (row as u16, 8),
        "the cursor waits after the fresh prompt"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incoming_lines_print_above_the_half_typed_input() {
    let server = TestServer::start().await;
    let mut alice = server.pty("alice", 80, 24).await;
    let mut bob = server.pty("bob", 80, 24).await;
    alice
        .wait_screen("bob's join", |s| s.contains("* bob joined. (Connected: 2)"))
        .await;

    alice.send("half-typ").await;
    alice
        .wait_screen("the half-typed input", |s| {
            shows_input(s, "alice", "half-typ")
        })
        .await;
    bob.send("interrupting you\r").await;
    let screen = alice
        .wait_screen("bob's line above alice's input", |s| {
            s.contains("bob: interrupting you") && shows_input(s, "alice", "half-typ")
        })
        .await;
    let (prompt, _) = prompt_row(&screen, "alice").unwrap();
    let said = screen
        .split('\n')
        .position(|l| l.contains("bob: interrupting you"))
        .unwrap();
    assert!(
        said < prompt,
        "the message goes above the prompt:\n{screen}"
    );
    assert_eq!(
        screen.matches("half-typ").count(),
        1,
        "the input is drawn once, not smeared:\n{screen}"
    );
    assert_eq!(
        alice.cursor(),
        (prompt as u16, 16),
        "the cursor is back at the end of the input"
    );

    alice.send("ed\r").await;
    bob.wait_screen("alice's finished line", |s| s.contains("alice: half-typed"))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn window_change_rewraps_the_input_and_new_messages() {
    let server = TestServer::start().await;
    let mut alice = server.pty("alice", 80, 24).await;
    let mut bob = server.plain("bob").await;
    alice
        .wait_screen("bob's join", |s| s.contains("bob joined."))
        .await;
    drop(bob.expect("").await);

    alice.resize(20, 24).await;
    // 45 characters: `[alice] ` (8) + 45 = 53 cells, three rows at 20 columns.
    let input = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHI";
    alice.send(input).await;
    let screen = alice
        .wait_screen("the input wrapped at 20 columns", |s| {
            s.contains("ABCDEFGHI")
        })
        .await;
    let rows: Vec<&str> = screen.split('\n').collect();
    let first = rows
        .iter()
        .rposition(|r| r.starts_with("[alice] "))
        .expect("a prompt row");
    assert_eq!(rows[first], "[alice] abcdefghijkl", "{screen}");
    assert_eq!(rows[first + 1], "mnopqrstuvwxyz012345", "{screen}");
    assert_eq!(rows[first + 2], "6789ABCDEFGHI", "{screen}");
    assert_eq!(alice.cursor(), (first as u16 + 2, 13));

    // A message from bob wraps at 20 columns too and leaves the input intact below it.
    bob.say("a message long enough to wrap at least twice")
        .await;
    let screen = alice
        .wait_screen("bob's wrapped message", |s| s.contains("at least twice"))
        .await;
    let rows: Vec<&str> = screen.split('\n').collect();
    assert!(rows.iter().all(|r| r.chars().count() <= 20), "{screen}");
    let said = rows
        .iter()
        .position(|r| r.contains("bob: a message"))
        .expect("bob's line");
    let prompt = rows
        .iter()
        .rposition(|r| r.starts_with("[alice] "))
        .expect("a prompt row");
    assert!(said < prompt, "{screen}");
    // Wrapped at word boundaries, each row within the new width.
    assert_eq!(strip_stamp(rows[said]), "bob: a message", "{screen}");
    assert_eq!(
        &rows[said + 1..prompt],
        ["long enough to wrap", "at least twice"],
        "{screen}"
    );
    let typed: String = rows[prompt..].concat();
    assert_eq!(typed, format!("[alice] {input}"), "{screen}");

    // Deleting back across a row boundary redraws the rows, leaving nothing behind.
    alice.send([0x7fu8; 20]).await;
    let screen = alice
        .wait_screen("the shortened input", |s| {
            s.trim_end()
                .ends_with("[alice] abcdefghijkl\nmnopqrstuvwxy")
        })
        .await;
    assert!(!screen.contains("z0"), "deleted text is gone:\n{screen}");

    // Wider again: the input takes one row.
    alice.resize(80, 24).await;
    alice.send("!").await;
    let screen = alice
        .wait_screen("the input on one row", |s| {
            shows_input(s, "alice", "abcdefghijklmnopqrstuvwxy!")
        })
        .await;
    assert_eq!(screen.matches("mnop").count(), 1, "{screen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pty_of_zero_by_zero_is_treated_as_80_by_24() {
    let server = TestServer::start().await;
    // What `ssh -tt` sends when its input is a pipe; our screen is 80×24 then.
    let mut alice = server.pty("alice", 0, 0).await;
    let input = "x".repeat(100);
    alice.send(&input).await;
    let screen = alice
        .wait_screen("the input wrapped at 80 columns", |s| {
            s.matches('x').count() >= 100
        })
        .await;
    let rows: Vec<&str> = screen.split('\n').collect();
    let first = rows
        .iter()
        .rposition(|r| r.starts_with("[alice] "))
        .unwrap();
    assert_eq!(
        rows[first],
        format!("[alice] {}", "x".repeat(72)),
        "{screen}"
    );
    assert_eq!(rows[first + 1], "x".repeat(28), "{screen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn term_from_the_environment_wins_and_dumb_gets_no_colours() {
    let server = TestServer::start().await;
    let colours = |bytes: &[u8]| -> usize {
        // SGR sequences: ESC [ digits/semicolons m
        let text = String::from_utf8_lossy(bytes);
        text.split("\x1b[")
            .skip(1)
            .filter(|rest| {
                let end = rest.find(|c: char| !(c.is_ascii_digit() || c == ';'));
                end.is_some_and(|e| rest[e..].starts_with('m') && e > 0)
            })
            .count()
    };

    let mut xterm = server.pty("colourful", 80, 24).await;
    let session = server
        .connect("plainly")
        .await
        .session(Some((80, 24)))
        .await;
    session
        .request(
            "env",
            |w| async move { w.set_env(true, "TERM", "dumb").await },
        )
        .await;
    session
        .request("pty", |w| async move {
            w.request_pty(true, "xterm", 80, 24, 0, 0, &[]).await
        })
        .await;
    session
        .request("shell", |w| async move { w.request_shell(true).await })
        .await;
    let mut dumb = session;
    dumb.wait_screen("the prompt", |s| s.contains("[plainly]"))
        .await;

    xterm.say("hello in colour").await;
    dumb.wait_screen("colourful's line", |s| {
        s.contains("colourful: hello in colour")
    })
    .await;
    xterm
        .wait_screen("its own line", |s| s.contains("colourful: hello in colour"))
        .await;
    assert!(
        colours(&xterm.stdout()) > 0,
        "an xterm gets colours (or this check proves nothing)"
    );
    assert_eq!(
        colours(&dumb.stdout()),
        0,
        "TERM=dumb gets no colours: {:?}",
        dumb.stdout_text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_d_on_an_empty_line_ends_an_interactive_session() {
    let server = TestServer::start().await;
    let alice = Connect::user("alice")
        .to(server.addr)
        .await
        .unwrap()
        .pty_shell(80, 24)
        .await;
    let mut alice = alice;
    alice
        .wait_screen("the prompt", |s| s.contains("[alice]"))
        .await;
    alice.send(b"\x04").await;
    assert_eq!(alice.wait_exit().await, 0);
    eventually("alice to leave the hub", WAIT, || server.members() == 0)
        .await
        .unwrap();
    // The channel is closed; the client ends its connection, as OpenSSH does.
    drop(alice);
    server.wait_empty().await;
}
