//! The hub driven by plain method calls on a virtual clock, with [`Mailbox`] outboxes.

mod cluster;
mod model;
mod moderation;
mod presence;
mod remembering;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};

use super::*;
use crate::journal::Record;
use crate::outbox::Mailbox;
use crate::prefs::TimestampMode;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 12, 4, 0).unwrap()
}

/// A hub and the mailboxes of the members joined to it.
struct Harness {
    hub: Hub<Mailbox, Vec<Record>>,
    boxes: HashMap<MemberId, Mailbox>,
    now: DateTime<Utc>,
}

impl Harness {
    fn new() -> Self {
        Self::with_config(HubConfig::default())
    }

    fn with_config(config: HubConfig) -> Self {
        Self {
            hub: Hub::with_journal(config, Vec::new()),
            boxes: HashMap::new(),
            now: t0(),
        }
    }

    fn join(&mut self, name: &str) -> MemberId {
        self.join_with(JoinRequest::named(name), 1000)
    }

    fn join_with(&mut self, request: JoinRequest, capacity: usize) -> MemberId {
        let mailbox = Mailbox::new(capacity);
        let id = self.hub.join(request, mailbox.clone(), self.now);
        self.boxes.insert(id, mailbox);
        id
    }

    fn say(&mut self, id: MemberId, line: &str) -> Outcome {
        self.hub.submit(id, line, self.now)
    }

    fn later(&mut self, minutes: i64) {
        self.now += TimeDelta::minutes(minutes);
    }

    /// Everything `id` received since last asked, as it arrived.
    fn raw_events(&self, id: MemberId) -> Vec<EventKind> {
        self.boxes[&id]
            .take()
            .iter()
            .map(|e| e.kind.clone())
            .collect()
    }

    /// Everything `id` received since last asked, a room's history on entering read as the
    /// lines it holds (as a terminal shows them).
    fn events(&self, id: MemberId) -> Vec<EventKind> {
        self.raw_events(id)
            .into_iter()
            .flat_map(|kind| match kind {
                EventKind::History { lines, .. } => lines.iter().map(|e| e.kind.clone()).collect(),
                other => vec![other],
            })
            .collect()
    }

    /// The text of the notices `id` received since last asked, answers to `/who` and the like
    /// read as the notice a terminal shows.
    fn notices(&self, id: MemberId) -> Vec<String> {
        self.events(id)
            .into_iter()
            .filter_map(|k| match k {
                EventKind::Notice { text, .. } => Some(text),
                EventKind::Reply(reply) => Some(reply.text()),
                _ => None,
            })
            .collect()
    }

    /// The notices `id` received since last asked, each with whether it is a promise (held
    /// back by the edge until what it promises is stored).
    fn answers(&self, id: MemberId) -> Vec<(String, bool)> {
        self.boxes[&id]
            .take()
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Notice { text, .. } => Some((text.clone(), e.promise)),
                _ => None,
            })
            .collect()
    }

    /// The records the hub handed to its journal since last asked.
    fn records(&mut self) -> Vec<Record> {
        std::mem::take(self.hub.journal_mut())
    }

    fn clear(&self) {
        self.boxes.values().for_each(|b| drop(b.take()));
    }
}

fn said(from: &str, text: &str) -> EventKind {
    EventKind::Said {
        room: LOBBY.into(),
        from: from.into(),
        text: text.into(),
    }
}

#[test]
fn joining_greets_and_announces_to_the_room() {
    let mut h = Harness::new();
    let alice = h.join("alice");
    h.clear();
    let bob = h.join("bob");
    assert_eq!(
        h.events(alice),
        [EventKind::Joined {
            room: LOBBY.into(),
            name: "bob".into(),
            count: 2
        }]
    );
    let bobs = h.events(bob);
    assert!(
        matches!(&bobs[0], EventKind::Notice { text, .. } if text.starts_with("Welcome, bob!"))
    );
    assert!(matches!(&bobs[1], EventKind::Joined { name, .. } if name == "bob"));
}

#[test]
fn taken_names_get_a_number_not_a_guest_name() {
    let mut h = Harness::new();
    h.join("bob");
    let second = h.join("Bob");
    let third = h.join("bob");
    assert_eq!(h.hub.name_of(second), Some("Bob2"));
    assert_eq!(h.hub.name_of(third), Some("bob3"));
    assert!(h.notices(second)[0].starts_with("Bob is taken, so you are Bob2."));
}

#[test]
fn names_that_clean_to_nothing_get_a_safe_default() {
    let mut h = Harness::new();
    let a = h.join("!!!");
    let b = h.join("\u{1b}[");
    assert_eq!(h.hub.name_of(a), Some(name::DEFAULT_NAME));
    assert_eq!(h.hub.name_of(b), Some("anon2"));
}

#[test]
fn said_lines_reach_the_room_including_the_sender() {
    let mut h = Harness::new();
    let alice = h.join("alice");
    let bob = h.join("bob");
    h.clear();
    let outcome = h.say(alice, "hello world");
    assert!(!outcome.failed);
    assert_eq!(h.events(alice), [said("alice", "hello world")]);
    assert_eq!(h.events(bob), [said("alice", "hello world")]);
    assert_eq!(h.hub.stats().said, 1);
}

#[test]
fn nick_renames_and_refuses_taken_names() {
    let mut h = Harness::new();
    let alice = h.join("alice");
    let bob = h.join("bob");
    h.clear();
    let outcome = h.say(bob, "/nick robert");
    assert_eq!(outcome.me.name, "robert");
    let rename = EventKind::Renamed {
        room: LOBBY.into(),
        old: "bob".into(),
        new: "robert".into(),
    };
    assert_eq!(h.events(alice), [rename]);

    let outcome = h.say(bob, "/nick ALICE");
    assert!(outcome.failed);
    assert_eq!(h.notices(bob), ["the name ALICE is taken"]);
    assert!(
        h.events(alice).is_empty(),
        "errors reach only the one who typed"
    );

    assert!(
        !h.say(bob, "/nick Robert").failed,
        "changing your own name's case is fine"
    );
    assert_eq!(h.hub.find("ROBERT"), Some(bob));
}

#[test]
fn rooms_separate_conversations_and_replay_history() {
    let mut h = Harness::new();
    let alice = h.join("alice");
    let bob = h.join("bob");
    h.say(alice, "/join #rust");
    h.say(alice, "anyone here?");
    h.clear();
    assert_eq!(h.hub.room_of(alice), Some("#rust"));
    h.say(bob, "lobby talk");
    assert!(h.events(alice).is_empty());
    h.clear();

    h.say(bob, "/join rust");
    let replay = h.events(bob);
    assert_eq!(
        replay[0],
        EventKind::Said {
            room: "#rust".into(),
            from: "alice".into(),
            text: "anyone here?".into()
        }
    );
    assert!(matches!(&replay[1], EventKind::Joined { count: 2, .. }));

    assert!(!h.say(bob, "/rooms").failed);
    assert_eq!(h.notices(bob), ["rooms: #lobby (0), #rust (2)"]);

    h.say(alice, "/part");
    assert_eq!(h.hub.room_of(alice), Some(LOBBY));
    assert!(h.say(alice, "/part").failed);
    h.say(bob, "/part");
    h.clear();
    h.say(bob, "/rooms");
    assert_eq!(
        h.notices(bob),
        ["rooms: #lobby (2)"],
        "rooms nobody is in are not listed"
    );
}

#[test]
fn history_keeps_the_last_lines_only() {
    let mut h = Harness::with_config(HubConfig {
        history_len: 3,
        ..HubConfig::default()
    });
    let alice = h.join("alice");
    for i in 0..5 {
        h.say(alice, &format!("line {i}"));
    }
    let bob = h.join("bob");
    let texts: Vec<EventKind> = h
        .events(bob)
        .into_iter()
        .filter(|e| matches!(e, EventKind::Said { .. }))
        .collect();
    assert_eq!(
        texts,
        [
            said("alice", "line 2"),
            said("alice", "line 3"),
            said("alice", "line 4")
        ]
    );
}

#[test]
fn private_messages_reach_only_their_target_and_can_be_answered() {
    let mut h = Harness::new();
    let alice = h.join("alice");
    let bob = h.join("bob");
    let carol = h.join("carol");
    h.clear();
    h.say(carol, "/msg @alice psst");
    assert_eq!(
        h.events(alice),
        [EventKind::PrivateFrom {
            from: "carol".into(),
            text: "psst".into()
        }]
    );
    assert_eq!(
        h.events(carol),
        [EventKind::PrivateTo {
            to: "alice".into(),
            text: "psst".into()
        }]
    );
    assert!(h.events(bob).is_empty());

    h.say(alice, "/reply hi back");
    assert_eq!(
        h.events(carol),
        [EventKind::PrivateFrom {
            from: "alice".into(),
            text: "hi back".into()
        }]
    );
    assert!(h.say(bob, "/reply nobody").failed);
    assert!(h.say(bob, "/msg nobody hi").failed);
    assert_eq!(
        h.notices(bob),
        [
            "nobody to reply to: no one still here has sent you a private message",
            "no one here is called nobody"
        ]
    );
}

#[test]
fn ignore_hides_messages_until_unignored() {
    let mut h = Harness::new();
    let alice = h.join("alice");
    let bob = h.join("bob");
    h.say(alice, "/ignore bob");
    h.clear();
    h.say(bob, "can you hear me");
    h.say(bob, "/msg alice hello?");
    assert!(h.events(alice).is_empty());
    h.say(alice, "/ignore");
    assert_eq!(h.notices(alice), ["ignoring: bob"]);
    assert!(h.say(alice, "/ignore alice").failed);
    h.say(alice, "/unignore bob");
    h.clear();
    h.say(bob, "now?");
    assert_eq!(h.events(alice), [said("bob", "now?")]);
}

#[test]
fn quiet_hides_joins_and_leaves() {
    let mut h = Harness::new();
    let alice = h.join("alice");
    h.say(alice, "/quiet");
    h.clear();
    let bob = h.join("bob");
    h.hub.leave(bob, h.now);
    assert!(h.events(alice).is_empty());
    h.say(alice, "/quiet");
    h.clear();
    let carol = h.join("carol");
    h.later(3);
    h.hub.leave(carol, h.now);
    let events = h.events(alice);
    assert!(matches!(&events[0], EventKind::Joined { name, .. } if name == "carol"));
    assert_eq!(
        events[1],
        EventKind::Left {
            room: LOBBY.into(),
            name: "carol".into(),
            after: TimeDelta::minutes(3)
        }
    );
}

#[test]
fn away_back_and_whois() {
    let mut h = Harness::with_config(HubConfig {
        motd: Some("be nice".into()),
        ..HubConfig::default()
    });
    let alice = h.join_with(
        JoinRequest {
            name: "alice".into(),
            fingerprint: Some("SHA256:abc".into()),
            account: Some(AccountRef {
                id: "alice-account".into(),
                name: "alice".into(),
                operator: false,
            }),
            visible: true,
            profile: None,
            ip: None,
            reserved: None,
            bot: false,
        },
        100,
    );
    let bob = h.join("bob");
    assert_eq!(h.notices(bob)[0], "be nice");
    h.later(5);
    h.say(alice, "/away lunch");
    h.later(2);
    h.say(bob, "/whois ALICE");
    let whois = h.notices(bob).pop().unwrap();
    assert_eq!(
        whois,
        "name: alice (verified)\nkey: SHA256:abc\nconnected: 2026-11-25 12:04 UTC (7 minutes ago)\nidle: 2 minutes\nroom: #lobby\naway: lunch"
    );
    h.say(bob, "/who");
    assert_eq!(h.notices(bob), ["2 connected: alice (away), bob"]);
    h.say(alice, "/back");
    assert!(h.say(alice, "/back").failed);
    h.say(bob, "/whois bob");
    assert!(h.notices(bob)[0].starts_with("name: bob (unverified)\nkey: none\n"));
}

#[test]
fn preferences_come_back_in_the_outcome() {
    let mut h = Harness::new();
    let alice = h.join("alice");
    let outcome = h.say(alice, "/timestamp datetime +02:00");
    assert_eq!(outcome.me.prefs.timestamp, TimestampMode::DateTime);
    assert_eq!(outcome.me.prefs.offset.minutes(), 120);
    let outcome = h.say(alice, "/theme mono");
    assert_eq!(outcome.me.prefs.theme, crate::prefs::Theme::Mono);
    assert!(h.say(alice, "/timestamp sometimes").failed);
}

#[test]
fn unknown_commands_and_missing_arguments_are_explained() {
    let mut h = Harness::new();
    let alice = h.join("alice");
    h.clear();
    assert!(h.say(alice, "/frob").failed);
    assert!(h.say(alice, "/msg bob").failed);
    assert_eq!(
        h.notices(alice),
        [
            "unknown command /frob; type /help for the list",
            "missing argument; usage: /msg NAME TEXT"
        ]
    );
    assert!(
        !h.say(alice, "   ").failed,
        "a blank line is nothing, not an error"
    );
    assert!(h.events(alice).is_empty());
    assert!(h.say(alice, "/exit").exit);
}

#[test]
fn overlong_and_empty_messages_are_refused() {
    let mut h = Harness::with_config(HubConfig {
        max_message_chars: 10,
        ..HubConfig::default()
    });
    let alice = h.join("alice");
    let bob = h.join("bob");
    h.clear();
    assert!(h.say(alice, "12345678901").failed);
    assert!(h.say(alice, "\u{1b}[2J\u{7}").failed);
    assert!(!h.say(alice, "1234567890").failed);
    assert_eq!(h.events(bob), [said("alice", "1234567890")]);
    assert_eq!(
        h.notices(alice)[0],
        "message too long: 11 characters, the limit is 10; nothing was sent"
    );
}

#[test]
fn control_sequences_are_stripped_from_said_lines() {
    let mut h = Harness::new();
    let alice = h.join("alice");
    let bob = h.join("bob");
    h.clear();
    h.say(alice, "hi\u{1b}]0;owned\u{7} there\u{202e}");
    assert_eq!(h.events(bob), [said("alice", "hi there")]);
}

#[test]
fn a_full_outbox_drops_events_and_reports_the_count() {
    let mut h = Harness::with_config(HubConfig {
        line_burst: 100,
        ..HubConfig::default()
    });
    let alice = h.join("alice");
    let slow = h.join_with(JoinRequest::named("slow"), 4);
    h.clear();
    for i in 0..10 {
        h.say(alice, &format!("m{i}"));
    }
    assert_eq!(h.events(slow).len(), 4);
    assert_eq!(h.hub.stats().dropped, 6);
    h.say(alice, "after");
    assert_eq!(
        h.events(slow),
        [EventKind::Missed { count: 6 }, said("alice", "after")]
    );
    assert_eq!(h.events(alice).len(), 11, "the fast reader missed nothing");
}

#[test]
fn flush_missed_reports_without_waiting_for_the_next_message() {
    let mut h = Harness::new();
    let alice = h.join("alice");
    let slow = h.join_with(JoinRequest::named("slow"), 1);
    assert!(
        matches!(&h.events(slow)[..], [EventKind::Notice { .. }]),
        "the greeting fit"
    );
    h.hub.flush_missed(slow, h.now);
    assert_eq!(
        h.events(slow),
        [EventKind::Missed { count: 1 }],
        "its own join did not"
    );
    h.say(alice, "one");
    h.say(alice, "two");
    assert_eq!(h.events(slow), [said("alice", "one")]);
    h.hub.flush_missed(slow, h.now);
    assert_eq!(h.events(slow), [EventKind::Missed { count: 1 }]);
    h.hub.flush_missed(slow, h.now);
    assert!(h.events(slow).is_empty());
}

#[test]
fn invisible_members_run_commands_unseen() {
    let mut h = Harness::new();
    let alice = h.join("alice");
    h.clear();
    let bot = h.join_with(
        JoinRequest {
            name: "bot".into(),
            fingerprint: None,
            account: None,
            visible: false,
            profile: None,
            ip: None,
            reserved: None,
            bot: false,
        },
        100,
    );
    assert!(h.events(alice).is_empty(), "no join announcement");
    assert!(h.events(bot).is_empty(), "no greeting or history");
    h.say(bot, "/who");
    assert_eq!(h.notices(bot), ["1 connected: alice"]);
    h.say(bot, "/msg alice ping");
    assert_eq!(h.events(alice).len(), 1);
    assert!(h.say(bot, "hello room").failed);
    h.hub.leave(bot, h.now);
    assert!(h.events(alice).is_empty(), "no leave announcement");
}

#[test]
fn completion_offers_names_and_rooms() {
    let mut h = Harness::new();
    let alice = h.join("alice");
    h.join("Albert");
    h.join("bob");
    let mut names = h.hub.complete(alice, "al");
    names.sort();
    assert_eq!(names, ["Albert"], "not yourself");
    assert_eq!(h.hub.complete(alice, "@b"), ["@bob"]);
    assert_eq!(h.hub.complete(alice, "#lo"), ["#lobby"]);
}

#[test]
fn leaving_twice_and_stale_ids_are_harmless() {
    let mut h = Harness::new();
    let alice = h.join("alice");
    h.hub.leave(alice, h.now);
    h.hub.leave(alice, h.now);
    let outcome = h.say(alice, "hello?");
    assert!(outcome.failed);
    assert!(h.hub.is_empty());
    let again = h.join("alice");
    assert_eq!(
        h.hub.name_of(again),
        Some("alice"),
        "the name is free again"
    );
}

#[test]
fn help_lists_every_command_and_the_message_limit() {
    let mut h = Harness::new();
    let alice = h.join("alice");
    h.clear();
    h.say(alice, "/help");
    let help = h.notices(alice).pop().unwrap();
    for spec in crate::command::COMMANDS {
        assert_eq!(help.contains(spec.usage), !spec.operator, "{}", spec.name);
    }
    assert!(help.contains("1000 characters"));
}

#[test]
fn history_on_entering_is_one_event_and_answers_are_data() {
    let mut h = Harness::new();
    let alice = h.join("alice");
    h.say(alice, "one");
    h.say(alice, "/me waves");
    let mut request = JoinRequest::named("robot");
    request.bot = true;
    let robot = h.join_with(request, 100);
    let events = h.raw_events(robot);
    let history: Vec<&EventKind> = events
        .iter()
        .filter(|e| matches!(e, EventKind::History { .. }))
        .collect();
    let [EventKind::History { room, lines }] = history.as_slice() else {
        panic!("one history event, got {events:?}");
    };
    assert_eq!(room, LOBBY);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0].kind, said("alice", "one"));

    h.say(alice, "/who");
    assert_eq!(
        h.raw_events(alice).pop(),
        Some(EventKind::Reply(crate::Reply::Who {
            room: LOBBY.into(),
            members: vec![
                crate::reply::WhoEntry {
                    name: "alice".into(),
                    away: false,
                    bot: false
                },
                crate::reply::WhoEntry {
                    name: "robot".into(),
                    away: false,
                    bot: true
                },
            ],
        }))
    );
    h.say(alice, "/whois robot");
    let whois = h.notices(alice).pop().unwrap();
    assert!(
        whois.starts_with("name: robot (unverified, a bot)"),
        "{whois}"
    );
}
