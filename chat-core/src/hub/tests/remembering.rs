//! What the hub hands its journal, and what it does with what it is given back: names owned
//! by keys, settings, history after a restart, and messages left for someone offline.

use super::*;
use crate::journal::{IgnoredKey, OfflineMessage, Profile, Settings, Snapshot, StoredLine};
use crate::prefs::Theme;

const ALICE_KEY: &str = "SHA256:alice";
const MALLORY_KEY: &str = "SHA256:mallory";

fn keyed(name: &str, key: &str) -> JoinRequest {
    JoinRequest::named(name).with_key(key)
}

fn join_keyed(h: &mut Harness, name: &str, key: &str) -> MemberId {
    h.join_with(keyed(name, key), 1000)
}

#[test]
fn the_first_key_to_use_a_name_owns_it() {
    let mut h = Harness::new();
    let alice = join_keyed(&mut h, "alice", ALICE_KEY);
    assert_eq!(
        h.records(),
        [Record::Claim {
            fingerprint: ALICE_KEY.into(),
            name: "alice".into()
        }]
    );
    assert_eq!(h.hub.owner_of("ALICE"), Some(ALICE_KEY));
    h.hub.leave(alice, h.now);

    let mallory = join_keyed(&mut h, "alice", MALLORY_KEY);
    assert_eq!(
        h.hub.name_of(mallory),
        Some("alice2"),
        "another key gets a numbered variant"
    );
    assert!(h.say(mallory, "/nick Alice").failed);
    assert_eq!(
        h.notices(mallory).last().unwrap(),
        "the name Alice belongs to someone else's key"
    );

    let keyless = h.join("alice");
    assert_eq!(
        h.hub.name_of(keyless),
        Some("alice3"),
        "a keyless user cannot take it either"
    );
}

#[test]
fn the_owner_gets_its_name_back_whatever_username_it_uses() {
    let mut h = Harness::new();
    let alice = join_keyed(&mut h, "alice", ALICE_KEY);
    h.hub.leave(alice, h.now);
    let again = join_keyed(&mut h, "root", ALICE_KEY);
    assert_eq!(h.hub.name_of(again), Some("alice"));
}

#[test]
fn a_key_owns_one_name_the_last_it_used() {
    let mut h = Harness::new();
    let alice = join_keyed(&mut h, "alice", ALICE_KEY);
    h.records();
    h.say(alice, "/nick ally");
    assert_eq!(
        h.records(),
        [Record::Claim {
            fingerprint: ALICE_KEY.into(),
            name: "ally".into()
        }]
    );
    assert_eq!(h.hub.owner_of("alice"), None, "the old name is free again");
    let other = h.join("alice");
    assert_eq!(h.hub.name_of(other), Some("alice"));
}

#[test]
fn a_new_session_of_the_same_key_replaces_the_ghost() {
    let mut h = Harness::new();
    let ghost = join_keyed(&mut h, "alice", ALICE_KEY);
    let bob = h.join("bob");
    h.clear();
    let fresh = join_keyed(&mut h, "alice", ALICE_KEY);
    assert_eq!(h.hub.name_of(fresh), Some("alice"));
    assert_eq!(h.hub.name_of(ghost), None, "the old session is gone");
    let reason = h.boxes[&ghost]
        .disconnected()
        .expect("the edge is told to close it");
    assert!(reason.contains("another session"), "{reason}");
    let seen = h.events(bob);
    assert!(matches!(&seen[0], EventKind::Left { name, .. } if name == "alice"));
    assert!(matches!(&seen[1], EventKind::Joined { name, .. } if name == "alice"));
}

#[test]
fn an_invisible_exec_never_replaces_or_moves_a_claim() {
    let mut h = Harness::new();
    let alice = join_keyed(&mut h, "alice", ALICE_KEY);
    h.records();
    let exec = h.join_with(keyed("alice", ALICE_KEY).invisible(), 100);
    assert_eq!(
        h.hub.name_of(alice),
        Some("alice"),
        "the interactive session stays"
    );
    assert_eq!(h.hub.name_of(exec), Some("alice2"));
    assert!(h.records().is_empty(), "no claim moved to alice2");
    assert_eq!(h.hub.owner_of("alice"), Some(ALICE_KEY));
}

#[test]
fn said_lines_are_recorded_for_history() {
    let mut h = Harness::new();
    let alice = h.join("alice");
    h.say(alice, "hello");
    h.say(alice, "/me waves");
    let lines: Vec<Record> = h.records();
    assert_eq!(
        lines,
        [
            Record::Line(StoredLine {
                room: LOBBY.into(),
                from: "alice".into(),
                text: "hello".into(),
                at: h.now,
                emote: false
            }),
            Record::Line(StoredLine {
                room: LOBBY.into(),
                from: "alice".into(),
                text: "waves".into(),
                at: h.now,
                emote: true
            }),
        ]
    );
}

#[test]
fn settings_of_a_keyed_member_are_recorded_and_restored() {
    let mut h = Harness::new();
    let alice = join_keyed(&mut h, "alice", ALICE_KEY);
    let mallory = join_keyed(&mut h, "mallory", MALLORY_KEY);
    h.records();
    h.say(alice, "/theme mono");
    h.say(alice, "/ignore mallory");
    h.say(alice, "/join #rust");
    let last = h.records().into_iter().last().unwrap();
    let expected = Settings {
        prefs: Prefs {
            theme: Theme::Mono,
            ..Prefs::default()
        },
        ignoring: vec![IgnoredKey {
            fingerprint: MALLORY_KEY.into(),
            name: "mallory".into(),
        }],
        last_room: Some("#rust".into()),
    };
    assert_eq!(
        last,
        Record::Profile {
            fingerprint: ALICE_KEY.into(),
            settings: expected.clone()
        }
    );

    h.hub.leave(alice, h.now);
    let profile = Profile {
        settings: expected,
        offline: Vec::new(),
    };
    let back = h.join_with(keyed("alice", ALICE_KEY).with_profile(profile), 100);
    assert_eq!(h.hub.me(back).unwrap().prefs.theme, Theme::Mono);
    assert_eq!(h.hub.room_of(back), Some("#rust"), "back in the last room");
    h.say(mallory, "/join #rust");
    h.clear();
    h.say(mallory, "still ignored?");
    assert!(
        h.events(back).is_empty(),
        "the ignore survived, matched by key"
    );
}

#[test]
fn keyless_members_leave_no_settings_behind() {
    let mut h = Harness::new();
    let bob = h.join("bob");
    h.say(bob, "/theme mono");
    assert!(h.records().is_empty());
}

#[test]
fn messages_for_an_offline_owner_are_kept_and_delivered_on_return() {
    let mut h = Harness::new();
    let alice = join_keyed(&mut h, "alice", ALICE_KEY);
    h.hub.leave(alice, h.now);
    let bob = h.join("bob");
    h.clear();
    h.records();
    let outcome = h.say(bob, "/msg alice see you tomorrow");
    assert!(!outcome.failed);
    assert_eq!(
        h.notices(bob),
        ["alice is offline; they will get your message when they next join"]
    );
    let sent_at = h.now;
    let kept = OfflineMessage {
        to_fingerprint: ALICE_KEY.into(),
        from: "bob".into(),
        text: "see you tomorrow".into(),
        at: sent_at,
    };
    assert_eq!(h.records(), [Record::Offline(kept.clone())]);

    h.later(60);
    let profile = Profile {
        settings: Settings::default(),
        offline: vec![kept],
    };
    let back = h.join_with(keyed("alice", ALICE_KEY).with_profile(profile), 100);
    let events = h.boxes[&back].take();
    let message = events
        .iter()
        .find(|e| matches!(e.kind, EventKind::PrivateFrom { .. }))
        .expect("the message is delivered");
    assert_eq!(message.at, sent_at, "marked with when it was sent");
    assert_eq!(
        h.records(),
        [Record::OfflineDelivered {
            fingerprint: ALICE_KEY.into(),
            count: 1
        }]
    );
}

#[test]
fn offline_messages_are_bounded_per_recipient() {
    let mut h = Harness::with_config(HubConfig {
        max_offline_messages: 2,
        ..HubConfig::default()
    });
    let alice = join_keyed(&mut h, "alice", ALICE_KEY);
    h.hub.leave(alice, h.now);
    let bob = h.join("bob");
    assert!(!h.say(bob, "/msg alice one").failed);
    assert!(!h.say(bob, "/msg alice two").failed);
    assert!(h.say(bob, "/msg alice three").failed);
    assert!(
        h.say(bob, "/msg nobody hi").failed,
        "a name no key owns has nobody to keep it for"
    );
}

#[test]
fn a_restored_hub_replays_history_and_honours_claims() {
    let mut h = Harness::with_config(HubConfig {
        history_len: 2,
        ..HubConfig::default()
    });
    let line = |room: &str, text: &str| StoredLine {
        room: room.into(),
        from: "old".into(),
        text: text.into(),
        at: t0(),
        emote: false,
    };
    h.hub.restore(Snapshot {
        claims: vec![("alice".into(), ALICE_KEY.into())],
        history: vec![
            line("#lobby", "one"),
            line("#lobby", "two"),
            line("#lobby", "three"),
            line("#rust", "r"),
        ],
        offline_counts: vec![(ALICE_KEY.into(), 1)],
        ..Snapshot::default()
    });
    let bob = h.join("alice");
    assert_eq!(h.hub.name_of(bob), Some("alice2"));
    let texts: Vec<String> = h
        .events(bob)
        .into_iter()
        .filter_map(|e| match e {
            EventKind::Said { text, .. } => Some(text),
            _ => None,
        })
        .collect();
    assert_eq!(texts, ["two", "three"]);
    h.say(bob, "/join #rust");
    assert!(
        h.events(bob)
            .iter()
            .any(|e| matches!(e, EventKind::Said { text, .. } if text == "r"))
    );
}

#[test]
fn history_is_a_query_for_the_edge() {
    let mut h = Harness::new();
    let alice = h.join("alice");
    let outcome = h.say(alice, "/history 500");
    assert_eq!(
        outcome.request,
        Some(Request::History {
            room: LOBBY.into(),
            limit: 200
        })
    );
    h.say(alice, "one");
    h.say(alice, "two");
    let recent = h.hub.recent_history(LOBBY, 1);
    assert_eq!(recent.len(), 1);
    assert!(matches!(&recent[0].kind, EventKind::Said { text, .. } if text == "two"));
}

#[test]
fn idle_rooms_keep_their_history_within_a_bound() {
    let mut h = Harness::with_config(HubConfig {
        max_idle_rooms: 1,
        ..HubConfig::default()
    });
    let alice = h.join("alice");
    h.say(alice, "/join #a");
    h.say(alice, "in a");
    h.later(1);
    h.say(alice, "/join #b");
    h.say(alice, "in b");
    h.say(alice, "/part");
    assert!(
        h.hub.recent_history("#a", 10).is_empty(),
        "the older idle room went"
    );
    assert_eq!(h.hub.recent_history("#b", 10).len(), 1);
}
