//! What people see: sessions driven through the public API, their output fed into a terminal
//! emulator (`vt100`), and the visible screen snapshotted with `insta`.

use std::collections::HashMap;
use std::num::NonZeroU16;

use chat_core::outbox::Mailbox;
use chat_core::{AccountRef, Hub, HubConfig, JoinRequest, Session, SessionKind, TermSize};
use chrono::{DateTime, TimeDelta, TimeZone, Utc};

/// A hub with a few people at their terminals, on a virtual clock.
struct Room {
    hub: Hub<Mailbox>,
    people: HashMap<&'static str, Person>,
    now: DateTime<Utc>,
}

struct Person {
    session: Session,
    mailbox: Mailbox,
    terminal: vt100::Parser,
    /// Every byte written to this person's terminal.
    written: Vec<u8>,
}

impl Room {
    fn new() -> Self {
        Self::with_config(HubConfig {
            motd: Some("Welcome to the test server. Be kind.".into()),
            ..HubConfig::default()
        })
    }

    fn with_config(config: HubConfig) -> Self {
        Self {
            hub: Hub::new(config),
            people: HashMap::new(),
            now: Utc.with_ymd_and_hms(2026, 11, 25, 12, 4, 0).unwrap(),
        }
    }

    fn join(&mut self, name: &'static str, kind: SessionKind) {
        let mailbox = Mailbox::new(256);
        let request = JoinRequest {
            name: name.into(),
            fingerprint: Some(format!("SHA256:{name}-key")),
            account: Some(AccountRef {
                id: format!("{name}-account"),
                name: name.into(),
                operator: false,
            }),
            visible: true,
            profile: None,
            ip: None,
            reserved: None,
            bot: false,
        };
        let id = self.hub.join(request, mailbox.clone(), self.now);
        let me = self.hub.me(id).unwrap();
        let session = Session::new(id, me, kind, self.hub.config().max_message_chars);
        let size = match kind {
            SessionKind::Interactive(size) => size,
            SessionKind::Plain => TermSize::DEFAULT,
        };
        let rows = NonZeroU16::new(size.height as u16).unwrap();
        let cols = NonZeroU16::new(size.width as u16).unwrap();
        let mut person = Person {
            session,
            mailbox,
            terminal: vt100::Parser::new(rows, cols, 0),
            written: Vec::new(),
        };
        let mut out = Vec::new();
        person.session.start(&mut out);
        person.write(&out);
        self.people.insert(name, person);
        self.deliver();
    }

    fn terminal(&mut self, name: &str) -> &mut Person {
        self.people
            .get_mut(name)
            .expect("the test joined this person")
    }

    /// `name` types `bytes` (which may end in `\r` to submit); then everyone's events arrive.
    fn types(&mut self, name: &str, bytes: &str) {
        let now = self.now;
        let person = self
            .people
            .get_mut(name)
            .expect("the test joined this person");
        let mut out = Vec::new();
        person
            .session
            .feed(bytes.as_bytes(), now, &mut self.hub, &mut out);
        person.write(&out);
        self.deliver();
    }

    /// Moves the clock on.
    fn later(&mut self, minutes: i64) {
        self.now += TimeDelta::minutes(minutes);
    }

    /// Shows each person what arrived in their outbox.
    fn deliver(&mut self) {
        for person in self.people.values_mut() {
            let events = person.mailbox.take();
            if !events.is_empty() {
                let mut out = Vec::new();
                person.session.show(&events, &mut out);
                person.write(&out);
            }
        }
    }

    /// The screen `name` sees, with the cursor marked `█`, trailing blank rows dropped.
    fn screen(&self, name: &str) -> String {
        let person = &self.people[name];
        let screen = person.terminal.screen();
        let (cols, _) = (screen.size().1.get(), ());
        let (cursor_row, cursor_col) = screen.cursor_position();
        let mut rows: Vec<String> = screen
            .rows(0, cols)
            .enumerate()
            .map(|(r, text)| {
                if r as u16 != cursor_row {
                    return text.trim_end().to_owned();
                }
                let mut chars: Vec<char> = text.chars().collect();
                let col = cursor_col as usize;
                // A row's text skips the second cell of wide characters; count cells instead.
                let mut cells = 0;
                let mut index = chars.len();
                for (i, c) in chars.iter().enumerate() {
                    if cells >= col {
                        index = i;
                        break;
                    }
                    cells += unicode_width::UnicodeWidthChar::width(*c)
                        .unwrap_or(0)
                        .max(1);
                }
                while chars.len() < index {
                    chars.push(' ');
                }
                if cells < col {
                    chars.extend(std::iter::repeat_n(' ', col - cells));
                    index = chars.len();
                }
                chars.insert(index, '█');
                chars.into_iter().collect::<String>().trim_end().to_owned()
            })
            .collect();
        while rows.last().is_some_and(String::is_empty) {
            rows.pop();
        }
        rows.join("\n")
    }
}

impl Person {
    fn write(&mut self, bytes: &[u8]) {
        self.terminal.process(bytes);
        self.written.extend_from_slice(bytes);
    }
}

fn tty(width: usize, height: usize) -> SessionKind {
    SessionKind::Interactive(TermSize { width, height })
}

#[test]
fn a_conversation_with_timestamps() {
    let mut room = Room::new();
    room.join("alice", tty(60, 12));
    room.join("bob", tty(60, 12));
    room.types("alice", "hello world\r");
    room.later(1);
    room.types("bob", "hi alice!\r");
    room.types("alice", "/me waves\r");
    room.later(2);
    room.types("bob", "/nick robert\r");
    insta::assert_snapshot!(room.screen("alice"));
}

#[test]
fn typing_while_a_message_arrives_keeps_the_input_intact() {
    let mut room = Room::new();
    room.join("alice", tty(50, 10));
    room.join("bob", tty(50, 10));
    room.types("alice", "I was typing th");
    room.types("alice", "\x1b[D\x1b[D"); // cursor two to the left
    room.types("bob", "interrupting!\r");
    room.types("bob", "twice\r");
    insta::assert_snapshot!(room.screen("alice"));
    room.types("alice", "X");
    assert!(
        room.screen("alice").ends_with("[alice] I was typing X█th"),
        "{}",
        room.screen("alice")
    );
}

#[test]
fn help() {
    let mut room = Room::new();
    room.join("alice", tty(90, 30));
    room.types("alice", "\x0c/help\r"); // Ctrl-L first, so the screen holds just the help
    insta::assert_snapshot!(room.screen("alice"));
}

#[test]
fn who() {
    let mut room = Room::new();
    for name in ["carol", "alice", "robert"] {
        room.join(name, tty(60, 8));
    }
    room.types("alice", "\x0c/who\r");
    insta::assert_snapshot!(room.screen("alice"));
}

#[test]
fn whois() {
    let mut room = Room::new();
    room.join("alice", tty(60, 12));
    room.later(5);
    room.join("bob", tty(60, 12));
    room.types("alice", "/away making tea\r");
    room.later(3);
    room.types("bob", "\x0c/whois alice\r");
    insta::assert_snapshot!(room.screen("bob"));
}

#[test]
fn input_wraps_at_width_20() {
    let mut room = Room::new();
    room.join("al", tty(20, 8));
    room.types("al", "\x0cthe quick brown fox jumps over the lazy dog");
    insta::assert_snapshot!(room.screen("al"));
    room.join("bob", tty(20, 8));
    room.types("bob", "a message long enough to wrap too\r");
    insta::assert_snapshot!("input_wraps_at_width_20_after_messages", room.screen("al"));
}

#[test]
fn wide_and_emoji_characters() {
    let mut room = Room::new();
    room.join("alice", tty(24, 10));
    room.join("bob", tty(24, 10));
    room.types("bob", "\x0c");
    room.types("alice", "日本語のテキストを折り返す\r");
    room.types("alice", "thumbs 👍🏽 and é\r");
    room.types("bob", "日本👍🏽\x7f");
    insta::assert_snapshot!(room.screen("bob"));
}

#[test]
fn the_mono_theme_has_no_colours() {
    let mut room = Room::new();
    room.join("alice", tty(50, 8));
    room.join("bob", tty(50, 8));
    room.types("bob", "/theme mono\r\x0c");
    room.terminal("bob").written.clear();
    room.types("alice", "hey bob, plain text please\r");
    room.types("alice", "/msg bob a secret\r");
    let written = String::from_utf8(room.terminal("bob").written.clone()).unwrap();
    assert!(!has_sgr(&written), "no colours or attributes: {written:?}");
    insta::assert_snapshot!(room.screen("bob"));
}

#[test]
fn a_plain_session_gets_clean_lines_and_no_echo() {
    let mut room = Room::new();
    room.join("alice", tty(60, 8));
    room.join("bot", SessionKind::Plain);
    room.types("alice", "hello \x1b[31mbot\x1b[0m\r");
    room.types("bot", "beep\n/who\n");
    let written = String::from_utf8(room.terminal("bot").written.clone()).unwrap();
    assert!(
        !written.contains('\x1b'),
        "no escape bytes at all: {written:?}"
    );
    assert!(
        !written.contains('\r'),
        "plain lines end in \\n: {written:?}"
    );
    insta::assert_snapshot!(written);
}

/// Whether `text` holds an SGR sequence (`ESC [ digits;… m`): colours or text attributes.
fn has_sgr(text: &str) -> bool {
    text.match_indices("\x1b[").any(|(at, _)| {
        let rest = &text[at + 2..];
        let params = rest.trim_start_matches(|c: char| c.is_ascii_digit() || c == ';');
        params.starts_with('m')
    })
}

#[test]
fn colours_are_used_by_default() {
    let mut room = Room::new();
    room.join("alice", tty(50, 8));
    room.join("bob", tty(50, 8));
    room.terminal("bob").written.clear();
    room.types("alice", "hi\r");
    let written = String::from_utf8(room.terminal("bob").written.clone()).unwrap();
    assert!(has_sgr(&written));
}
