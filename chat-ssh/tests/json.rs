//! `ssh host json`: the JSON protocol over a real SSH connection (russh as the client), with
//! terminal users in the same rooms.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::{Connect, Session, TestServer, WAIT, eventually, unthrottled};

/// A program on the protocol: an SSH session running `json`, read message by message.
struct Bot {
    session: Session,
    /// Messages already taken by `next`.
    read: usize,
}

impl Bot {
    async fn connect(server: &TestServer, name: &str) -> Bot {
        let session = server.connect(name).await.exec("json").await;
        Bot { session, read: 0 }
    }

    async fn send(&self, message: Value) {
        self.session.send(format!("{message}\n")).await;
    }

    /// Every whole line received so far, parsed; a line that is not JSON fails the test.
    fn messages(&self) -> Vec<Value> {
        let text = self.session.stdout_text();
        let whole = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
        whole
            .lines()
            .map(|line| {
                serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"))
            })
            .collect()
    }

    /// Waits for the next message of `kind` after those taken, skipping others, and takes
    /// it.
    async fn next(&mut self, kind: &str) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let messages = self.messages();
            if let Some(at) = messages[self.read..].iter().position(|m| m["type"] == kind) {
                self.read += at + 1;
                return messages[self.read - 1].clone();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no {kind:?} within {WAIT:?}; received {messages:#?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

#[tokio::test]
async fn hello_comes_first_and_who_is_a_list_that_shows_the_bot() {
    let server = TestServer::start().await;
    let mut alice = server.plain("alice").await;
    let mut bot = Bot::connect(&server, "timebot").await;
    let hello = bot.next("hello").await;
    assert_eq!(bot.messages()[0], hello, "hello is the first message");
    assert_eq!(hello["protocol"], 1);
    assert_eq!(hello["name"], "timebot");
    assert_eq!(hello["room"], "#lobby");
    assert!(
        hello["server"]
            .as_str()
            .unwrap()
            .starts_with("chat-server ")
    );
    assert_eq!(hello["id"], 1);
    assert!(hello["at"].as_str().unwrap().ends_with('Z'));
    alice.expect("timebot joined.").await;

    bot.send(json!({"type": "command", "text": "/who"})).await;
    let who = bot.next("who").await;
    assert_eq!(
        who["members"],
        json!([
            {"name": "alice", "away": false, "bot": false},
            {"name": "timebot", "away": false, "bot": true},
        ])
    );

    alice.say("/who").await;
    alice.expect("2 connected: alice, timebot (bot)").await;
    alice.say("/whois timebot").await;
    alice.expect("name: timebot (unverified, a bot)").await;
}

#[tokio::test]
async fn a_bot_and_a_terminal_user_talk_both_ways() {
    let server = TestServer::start().await;
    let mut alice = server.plain("alice").await;
    let mut bot = Bot::connect(&server, "echo").await;
    bot.next("hello").await;
    alice.expect("echo joined.").await;
    alice.say("hello \u{1b}[31mbot").await;
    let said = bot.next("said").await;
    assert_eq!(said["from"], "alice");
    assert_eq!(
        said["text"], "hello bot",
        "escape sequences never reach a program"
    );
    assert_eq!(said["room"], "#lobby");
    bot.send(json!({"type": "say", "text": "/not a command, said"}))
        .await;
    alice.expect("echo: /not a command, said").await;
    bot.send(json!({"type": "emote", "text": "beeps"})).await;
    alice.expect("** echo beeps").await;
    bot.send(json!({"type": "msg", "to": "alice", "text": "psst"}))
        .await;
    alice.expect("[PM from echo] psst").await;
    let sent = bot.next("private_sent").await;
    assert_eq!(sent["to"], "alice");
    alice.say("/msg echo back").await;
    let private = bot.next("private").await;
    assert_eq!(
        (&private["from"], &private["text"]),
        (&json!("alice"), &json!("back"))
    );

    bot.send(json!({"type": "join", "room": "#bots"})).await;
    alice.expect("echo left for #bots.").await;
    let joined = bot.next("joined").await;
    assert_eq!(
        (&joined["room"], &joined["names"]),
        (&json!("#bots"), &json!(["echo"]))
    );
    bot.send(json!({"type": "part"})).await;
    alice.expect("echo joined.").await;

    // Leaving by EOF, as a pipe does.
    bot.session.eof().await;
    alice.expect("echo left.").await;
}

#[tokio::test]
async fn a_malformed_line_gets_an_error_and_the_bot_stays_connected() {
    let server = TestServer::start().await;
    let mut alice = server.plain("alice").await;
    let mut bot = Bot::connect(&server, "clumsy").await;
    bot.next("hello").await;
    bot.session.send("this is not json\n").await;
    let error = bot.next("error").await;
    assert_eq!(error["code"], "malformed");
    bot.session
        .send("{\"type\":\"dance\"}\n\u{0}\u{ff}\n")
        .await;
    assert_eq!(bot.next("error").await["code"], "unknown_type");
    assert_eq!(bot.next("error").await["code"], "malformed");
    bot.send(json!({"type": "command", "text": "/nosuchcommand"}))
        .await;
    assert_eq!(bot.next("error").await["code"], "refused");
    bot.send(json!({"type": "ping", "token": "t1"})).await;
    assert_eq!(bot.next("pong").await["token"], "t1");
    bot.send(json!({"type": "say", "text": "still here"})).await;
    alice.expect("clumsy: still here").await;
    let ids: Vec<u64> = bot
        .messages()
        .iter()
        .map(|m| m["id"].as_u64().unwrap())
        .collect();
    assert_eq!(
        ids,
        (1..=ids.len() as u64).collect::<Vec<_>>(),
        "ids count up"
    );
}

#[tokio::test]
async fn a_flooding_bot_is_throttled_like_a_terminal() {
    let server = TestServer::start().await;
    let mut alice = server.plain("alice").await;
    let mut bot = Bot::connect(&server, "flood").await;
    bot.next("hello").await;
    alice.expect("flood joined.").await;
    let lines: String = (0..200)
        .map(|i| format!("{}\n", json!({"type": "say", "text": format!("spam {i}")})))
        .collect();
    bot.session.send(lines).await;
    let refused = bot.next("error").await;
    assert_eq!(refused["code"], "refused");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("sending too fast"),
        "{refused}"
    );
    // Garbage at the same rate is answered up to the same limit, then told once.
    let garbage = "x\n".repeat(200);
    bot.session.send(garbage).await;
    bot.send(json!({"type": "ping"})).await;
    bot.next("pong").await;
    let messages = bot.messages();
    let errors = messages.iter().filter(|m| m["type"] == "error").count();
    let too_many = messages
        .iter()
        .filter(|m| m["code"] == "too_many_errors")
        .count();
    assert_eq!(too_many, 1, "told once: {messages:#?}");
    assert!(errors < 30, "{errors} errors for 400 bad or refused lines");
    let seen = alice.stdout_text().matches("flood: spam").count();
    assert!(seen < 50, "alice saw {seen} of 200 spam lines");
    assert!(
        !bot.session.with_output(|o| o.closed),
        "throttled, not disconnected"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_that_stops_reading_misses_messages_and_is_cut_off_after_the_stall_limit() {
    let server = TestServer::start_with(|c| {
        unthrottled(c);
        c.runtime.outbox_capacity = 4;
        // Long enough for alice's lines to fill the outbox before the stall limit cuts the
        // bot off, even on a loaded machine (at 1 s, a CI run beside a benchmark saw the bot
        // cut off first, with nothing yet dropped).
        c.ssh.stall_timeout = Duration::from_secs(3);
    })
    .await;
    let mut alice = server.plain("alice").await;
    let session = Connect::user("sleepy")
        .window(8 * 1024)
        .to(server.addr)
        .await
        .unwrap()
        .exec("json")
        .await;
    let mut bot = Bot { session, read: 0 };
    bot.next("hello").await;
    alice.expect("sleepy joined.").await;
    bot.session.conn.pause_reading();
    let padding = "z".repeat(400);
    let deadline = std::time::Instant::now() + WAIT;
    let mut n = 0;
    while server.hub.lock().stats().dropped == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the bot's outbox never filled"
        );
        assert!(
            server.lobby().iter().any(|n| n == "sleepy"),
            "the bot was cut off before its outbox filled"
        );
        alice.say(&format!("filler {n} {padding}")).await;
        n += 1;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    eventually("the stalled bot to be cut off", WAIT, || {
        server.lobby() == ["alice"]
    })
    .await
    .unwrap();
    alice.expect("* sleepy left.").await;
    bot.session.conn.resume_reading();
    bot.session
        .conn
        .wait_disconnected(WAIT)
        .await
        .expect("the connection is closed");
}

#[path = "../examples/time_bot.rs"]
mod time_bot;

#[tokio::test]
async fn the_example_bot_answers_the_time() {
    let server = TestServer::start().await;
    let mut alice = server.plain("alice").await;
    let addr = server.addr.to_string();
    let bot =
        tokio::spawn(async move { time_bot::run(&addr, "timebot", support::ed25519_key()).await });
    alice.expect("timebot joined.").await;
    alice.say("!time").await;
    let line = alice.expect(" UTC.\n").await;
    assert!(line.contains("timebot: It is 20"), "{line:?}");
    bot.abort();
}
