use chrono::TimeZone;
use proptest::prelude::*;

use super::*;
use crate::prefs::UtcOffset;

fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 12, 4, 0).unwrap()
}

fn plain_of(event: EventKind, me: &str, prefs: &Prefs) -> Vec<String> {
    let rendered = event_lines(&Event::new(at(), event), &View { me, prefs });
    rendered.lines.iter().map(StyledLine::plain).collect()
}

fn said(from: &str, text: &str) -> EventKind {
    EventKind::Said {
        room: "#lobby".into(),
        from: from.into(),
        text: text.into(),
    }
}

#[test]
fn lines_read_like_ssh_chat_with_a_time_in_front() {
    let p = Prefs::default();
    assert_eq!(
        plain_of(said("alice", "hello world"), "bob", &p),
        ["12:04 alice: hello world"]
    );
    let emote = EventKind::Emote {
        room: "#lobby".into(),
        from: "alice".into(),
        text: "waves".into(),
    };
    assert_eq!(plain_of(emote, "bob", &p), ["12:04 ** alice waves"]);
    let joined = EventKind::Joined {
        room: "#lobby".into(),
        name: "alice".into(),
        count: 3,
    };
    assert_eq!(
        plain_of(joined, "bob", &p),
        ["12:04 * alice joined. (Connected: 3)"]
    );
    let left = EventKind::Left {
        room: "#lobby".into(),
        name: "alice".into(),
        after: TimeDelta::minutes(3),
    };
    assert_eq!(
        plain_of(left, "bob", &p),
        ["12:04 * alice left. (After 3 minutes)"]
    );
    let renamed = EventKind::Renamed {
        room: "#lobby".into(),
        old: "bob".into(),
        new: "robert".into(),
    };
    assert_eq!(
        plain_of(renamed, "x", &p),
        ["12:04 * bob is now known as robert."]
    );
    let pm = EventKind::PrivateFrom {
        from: "carol".into(),
        text: "psst".into(),
    };
    assert_eq!(plain_of(pm, "bob", &p), ["12:04 [PM from carol] psst"]);
    let notice = EventKind::Notice {
        level: NoticeLevel::Info,
        text: "3 connected: a, b, c\nsecond".into(),
    };
    assert_eq!(
        plain_of(notice, "bob", &p),
        ["-> 3 connected: a, b, c", "   second"]
    );
    assert_eq!(
        plain_of(EventKind::Missed { count: 7 }, "bob", &p),
        ["-> 7 messages skipped"]
    );
}

#[test]
fn timestamps_follow_the_readers_settings() {
    let mut p = Prefs {
        timestamp: TimestampMode::DateTime,
        offset: UtcOffset::parse("-05:30").unwrap(),
        ..Prefs::default()
    };
    assert_eq!(plain_of(said("a", "x"), "b", &p), ["2026-11-25 06:34 a: x"]);
    p.timestamp = TimestampMode::Off;
    assert_eq!(plain_of(said("a", "x"), "b", &p), ["a: x"]);
}

#[test]
fn mentions_are_whole_words_and_ring_the_bell() {
    assert!(mentions("hey bob!", "bob"));
    assert!(mentions("@Bob look", "bob"));
    assert!(!mentions("bobby", "bob"));
    assert!(!mentions("kebob", "bob"));
    let p = Prefs::default();
    let rendered = event_lines(
        &Event::new(at(), said("alice", "hi bob")),
        &View {
            me: "bob",
            prefs: &p,
        },
    );
    assert!(rendered.bell);
    assert_eq!(
        rendered.lines[0].spans.last().unwrap().style,
        Style::Mention
    );
    let own = event_lines(
        &Event::new(at(), said("bob", "I am bob")),
        &View {
            me: "bob",
            prefs: &p,
        },
    );
    assert!(!own.bell, "your own lines do not ring");
}

#[test]
fn durations_read_naturally() {
    assert_eq!(humanize(TimeDelta::seconds(1)), "1 second");
    assert_eq!(humanize(TimeDelta::seconds(59)), "59 seconds");
    assert_eq!(humanize(TimeDelta::minutes(1)), "1 minute");
    assert_eq!(humanize(TimeDelta::minutes(65)), "1 hour 5 minutes");
    assert_eq!(humanize(TimeDelta::hours(2)), "2 hours");
    assert_eq!(humanize(TimeDelta::hours(50)), "2 days 2 hours");
    assert_eq!(humanize(TimeDelta::seconds(-5)), "0 seconds");
}

#[test]
fn mono_writes_no_escape_codes_and_colors_does() {
    let p = Prefs::default();
    let lines = event_lines(
        &Event::new(at(), said("alice", "hi")),
        &View {
            me: "bob",
            prefs: &p,
        },
    )
    .lines;
    let mut colors = Vec::new();
    write_lines(&lines, 80, Theme::Colors, &mut colors);
    assert!(colors.contains(&0x1b));
    let mut mono = Vec::new();
    write_lines(&lines, 80, Theme::Mono, &mut mono);
    assert_eq!(mono, b"12:04 alice: hi\r\n");
}

fn text() -> impl Strategy<Value = String> {
    any::<String>()
}

fn any_event() -> impl Strategy<Value = EventKind> {
    prop_oneof![
        (text(), text()).prop_map(|(from, text)| EventKind::Said {
            room: "#lobby".into(),
            from,
            text
        }),
        (text(), text()).prop_map(|(from, text)| EventKind::Emote {
            room: "#x".into(),
            from,
            text
        }),
        (text(), 0usize..10_000).prop_map(|(name, count)| EventKind::Joined {
            room: "#lobby".into(),
            name,
            count
        }),
        (text(), text()).prop_map(|(old, new)| EventKind::Renamed {
            room: "#lobby".into(),
            old,
            new
        }),
        (text(), text()).prop_map(|(from, text)| EventKind::PrivateFrom { from, text }),
        text().prop_map(|text| EventKind::Notice {
            level: NoticeLevel::Info,
            text
        }),
    ]
}

proptest! {
    #[test]
    fn no_rendered_row_exceeds_the_width(event in any_event(), width in 1usize..120, me in "[a-z]{1,5}") {
        let p = Prefs::default();
        let rendered = event_lines(&Event::new(at(), event), &View { me: &me, prefs: &p });
        for line in &rendered.lines {
            for row in wrap(line, width) {
                prop_assert!(row.width() <= width);
            }
        }
    }

    #[test]
    fn user_text_never_reaches_the_terminal_as_control_bytes(event in any_event(), width in 1usize..120) {
        let p = Prefs { theme: Theme::Mono, ..Prefs::default() };
        let rendered = event_lines(&Event::new(at(), event), &View { me: "me", prefs: &p });
        let mut out = Vec::new();
        write_lines(&rendered.lines, width, Theme::Mono, &mut out);
        let text = String::from_utf8(out).unwrap();
        let body = text.replace("\r\n", "");
        prop_assert!(!body.chars().any(crate::sanitize::is_forbidden_char), "{:?}", body);

        let mut plain = Vec::new();
        write_plain(&rendered.lines, &mut plain);
        let plain = String::from_utf8(plain).unwrap().replace('\n', "");
        prop_assert!(!plain.chars().any(crate::sanitize::is_forbidden_char));
    }
}

#[test]
fn crowds_are_named_a_few_at_a_time() {
    let p = Prefs {
        timestamp: TimestampMode::Off,
        ..Prefs::default()
    };
    let joined = |n: usize| EventKind::JoinedMany {
        room: "#lobby".into(),
        names: (0..n).map(|i| format!("g{i}")).collect(),
        count: 60,
    };
    assert_eq!(
        plain_of(joined(2), "me", &p),
        ["* g0 and g1 joined. (Connected: 60)"]
    );
    assert_eq!(
        plain_of(joined(4), "me", &p),
        ["* g0, g1, g2 and g3 joined. (Connected: 60)"]
    );
    assert_eq!(
        plain_of(joined(50), "me", &p),
        ["* g0, g1, g2 and 47 others joined. (Connected: 60)"]
    );
    let left = EventKind::LeftMany {
        room: "#lobby".into(),
        names: vec!["a".into(), "b".into(), "c".into()],
        count: 2,
    };
    assert_eq!(
        plain_of(left, "me", &p),
        ["* a, b and c left. (Connected: 2)"]
    );
}
