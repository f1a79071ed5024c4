//! The codec: decoding whatever a client sends, encoding every event, and both round trips.

use std::sync::Arc;

use chat_core::event::{Event, EventKind, NoticeLevel};
use chat_core::reply::{Reply, RoomEntry, WhoEntry, Whois};
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use proptest::prelude::*;

use super::LineReader;
use super::protocol::*;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 12, 4, 0).unwrap()
}

#[test]
fn the_contract_shapes_decode() {
    assert_eq!(
        decode(br#"{"type":"say","text":"hi"}"#),
        Ok(ClientMessage::Say { text: "hi".into() })
    );
    assert_eq!(
        decode(br#"{"type":"msg","to":"bob","text":"psst","extra":1}"#),
        Ok(ClientMessage::Msg {
            to: "bob".into(),
            text: "psst".into()
        }),
        "unknown fields are ignored"
    );
    assert_eq!(
        decode(br#"{"type":"ping"}"#),
        Ok(ClientMessage::Ping { token: None })
    );
    assert_eq!(decode(br#"{"type":"part"}"#), Ok(ClientMessage::Part));
}

#[test]
fn bad_lines_get_a_code() {
    let code = |line: &[u8]| decode(line).map_err(|e| e.code());
    assert_eq!(code(b"hello"), Err("malformed"));
    assert_eq!(code(b"\xff\xfe"), Err("malformed"));
    assert_eq!(code(b"[1,2]"), Err("missing_type"));
    assert_eq!(code(br#"{"type":7}"#), Err("missing_type"));
    assert_eq!(code(br#"{"type":"dance"}"#), Err("unknown_type"));
    assert_eq!(code(br#"{"type":"say"}"#), Err("invalid_message"));
    assert_eq!(code(br#"{"type":"say","text":3}"#), Err("invalid_message"));
    assert_eq!(code(&vec![b' '; MAX_LINE_BYTES + 1]), Err("line_too_long"));
}

#[test]
fn messages_become_the_lines_a_terminal_user_types() {
    let line = |m: ClientMessage| m.to_line().map_err(|e| e.code());
    let say = |t: &str| ClientMessage::Say { text: t.into() };
    assert_eq!(line(say("hi")), Ok(Some("hi".into())));
    assert_eq!(line(say("/who")), Ok(Some("//who".into())), "said, not run");
    assert_eq!(line(say("a\nb")), Err("invalid_message"));
    assert_eq!(
        line(ClientMessage::Emote {
            text: "waves".into()
        }),
        Ok(Some("/me waves".into()))
    );
    assert_eq!(
        line(ClientMessage::Msg {
            to: "bob smith".into(),
            text: "x".into()
        }),
        Err("invalid_message")
    );
    assert_eq!(
        line(ClientMessage::Command { text: "who".into() }),
        Err("not_a_command")
    );
    assert_eq!(
        line(ClientMessage::Join {
            room: "#rust".into()
        }),
        Ok(Some("/join #rust".into()))
    );
    assert_eq!(line(ClientMessage::Ping { token: None }), Ok(None));
}

#[test]
fn lines_split_across_chunks_and_overlong_ones_are_dropped() {
    let mut reader = LineReader::new(8);
    assert!(reader.feed(b"{\"a").is_empty());
    assert_eq!(reader.feed(b"\":1}\r\nxy"), [Ok(b"{\"a\":1}".to_vec())]);
    assert_eq!(reader.feed(b"0123456789"), [Err(ProtocolError::TooLong)]);
    assert!(reader.feed(b"more of it").is_empty(), "reported once");
    assert_eq!(reader.feed(b"\nok\n"), [Ok(b"ok".to_vec())]);
    assert!(reader.feed(b"last").is_empty());
    assert_eq!(reader.finish(), [Ok(b"last".to_vec())]);
}

#[test]
fn said_encodes_as_the_contract_says() {
    let mut encoder = Encoder::new();
    let event = Event::new(
        t0(),
        EventKind::Said {
            room: "#lobby".into(),
            from: "alice".into(),
            text: "hi \u{1b}[2Jthere\u{7}".into(),
        },
    );
    let line = encoder.event(&event).to_line();
    let value: serde_json::Value = serde_json::from_slice(&line).unwrap();
    assert_eq!(
        value,
        serde_json::json!({
            "type": "said", "id": 1, "at": "2026-11-25T12:04:00.000Z",
            "room": "#lobby", "from": "alice", "text": "hi there"
        })
    );
    assert_eq!(encoder.event(&event).id, 2, "ids go up by one");
}

#[test]
fn a_who_answer_is_a_list() {
    let mut encoder = Encoder::new();
    let reply = Reply::Who {
        room: "#lobby".into(),
        members: vec![WhoEntry {
            name: "timebot".into(),
            away: false,
            bot: true,
        }],
    };
    let message = encoder.event(&Event::new(t0(), EventKind::Reply(reply)));
    assert_eq!(
        message.body,
        ServerBody::Who {
            room: "#lobby".into(),
            members: vec![WhoMember {
                name: "timebot".into(),
                away: false,
                bot: true
            }]
        }
    );
}

/// Every kind of event the hub makes, for the property tests and the schema test.
pub(crate) fn every_event_kind(text: &str, at: DateTime<Utc>) -> Vec<EventKind> {
    let s = || text.to_owned();
    let said = Arc::new(Event::new(
        at,
        EventKind::Said {
            room: "#lobby".into(),
            from: s(),
            text: s(),
        },
    ));
    let emote = Arc::new(Event::new(
        at,
        EventKind::Emote {
            room: "#lobby".into(),
            from: "bob".into(),
            text: s(),
        },
    ));
    vec![
        EventKind::Said {
            room: s(),
            from: s(),
            text: s(),
        },
        EventKind::Emote {
            room: s(),
            from: s(),
            text: s(),
        },
        EventKind::Joined {
            room: s(),
            name: s(),
            count: 3,
        },
        EventKind::JoinedMany {
            room: s(),
            names: vec![s(), "bob".into()],
            count: 4,
        },
        EventKind::Left {
            room: s(),
            name: s(),
            after: TimeDelta::seconds(190),
        },
        EventKind::LeftMany {
            room: s(),
            names: vec![s(), "bob".into()],
            count: 1,
        },
        EventKind::Moved {
            room: s(),
            name: s(),
            to: "#rust".into(),
        },
        EventKind::Removed {
            room: s(),
            name: s(),
            by: "op".into(),
            reason: Some(s()),
            banned: true,
        },
        EventKind::Removed {
            room: s(),
            name: s(),
            by: "op".into(),
            reason: None,
            banned: false,
        },
        EventKind::Renamed {
            room: s(),
            old: s(),
            new: "robert".into(),
        },
        EventKind::PrivateFrom {
            from: s(),
            text: s(),
        },
        EventKind::PrivateTo { to: s(), text: s() },
        EventKind::Notice {
            level: NoticeLevel::Info,
            text: format!("{text}\nsecond line"),
        },
        EventKind::Notice {
            level: NoticeLevel::Error,
            text: s(),
        },
        EventKind::Missed { count: 7 },
        EventKind::History {
            room: "#lobby".into(),
            lines: vec![said, emote],
        },
        EventKind::Reply(Reply::Who {
            room: s(),
            members: vec![
                WhoEntry {
                    name: s(),
                    away: true,
                    bot: false,
                },
                WhoEntry {
                    name: "timebot".into(),
                    away: false,
                    bot: true,
                },
            ],
        }),
        EventKind::Reply(Reply::Rooms {
            rooms: vec![RoomEntry {
                name: s(),
                members: 2,
            }],
        }),
        EventKind::Reply(Reply::Whois(Whois {
            name: s(),
            verified: true,
            fingerprint: Some("SHA256:abc".into()),
            connected_at: at - TimeDelta::minutes(7),
            connected_for: TimeDelta::minutes(7),
            idle: TimeDelta::seconds(5),
            room: "#lobby".into(),
            away: Some(s()),
            bot: false,
        })),
        EventKind::Reply(Reply::Whois(Whois {
            name: s(),
            verified: false,
            fingerprint: None,
            connected_at: at,
            connected_for: TimeDelta::zero(),
            idle: TimeDelta::zero(),
            room: "#lobby".into(),
            away: None,
            bot: true,
        })),
    ]
}

/// Strings as users send them: anything, control characters and escapes included.
fn user_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z #]{0,12}",
        any::<String>(),
        "[\\x00-\\x1f\\x7f\\u{80}-\\u{9f}\\u{202e}a]{0,8}",
    ]
}

fn client_message() -> impl Strategy<Value = ClientMessage> {
    let t = any::<String>;
    prop_oneof![
        t().prop_map(|text| ClientMessage::Say { text }),
        t().prop_map(|text| ClientMessage::Emote { text }),
        (t(), t()).prop_map(|(to, text)| ClientMessage::Msg { to, text }),
        t().prop_map(|room| ClientMessage::Join { room }),
        Just(ClientMessage::Part),
        t().prop_map(|text| ClientMessage::Command { text }),
        proptest::option::of(t()).prop_map(|token| ClientMessage::Ping { token }),
    ]
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(message) = decode(&bytes) {
            let _ = message.to_line();
        }
        let mut reader = LineReader::new(64);
        for chunk in bytes.chunks(7) {
            for line in reader.feed(chunk).into_iter().flatten() {
                prop_assert!(line.len() <= 64);
            }
        }
        let _ = reader.finish();
    }

    #[test]
    fn json_ish_lines_never_panic(line in r#"\{("type":"(say|msg|ping|join|x)"|,|"text":|"to":|"token":|null|1|"[^"]*"|\[|\]|\{|\})*\}"#) {
        if let Ok(message) = decode(line.as_bytes()) {
            let _ = message.to_line();
        }
    }

    #[test]
    fn every_client_message_round_trips(message in client_message()) {
        let line = serde_json::to_vec(&message).unwrap();
        prop_assert_eq!(decode(&line), Ok(message));
    }

    #[test]
    fn every_event_round_trips_and_carries_no_control_characters(
        text in user_text(),
        millis in 0i64..4_000_000_000_000,
    ) {
        let at = DateTime::from_timestamp_millis(millis).unwrap();
        let mut encoder = Encoder::new();
        for kind in every_event_kind(&text, at) {
            let message = encoder.event(&Event::new(at, kind));
            let line = message.to_line();
            prop_assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1, "one line");
            let back: ServerMessage = serde_json::from_slice(&line).unwrap();
            prop_assert_eq!(&back, &message);
            let value: serde_json::Value = serde_json::from_slice(&line).unwrap();
            let mut strings = Vec::new();
            collect_strings(&value, &mut strings);
            for s in strings {
                prop_assert!(
                    !s.chars().any(|c| (c.is_control() && c != '\n') || c == '\u{202e}'),
                    "{:?}", s
                );
            }
        }
    }
}

fn collect_strings(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_strings(v, out)),
        serde_json::Value::Object(map) => map.values().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}
