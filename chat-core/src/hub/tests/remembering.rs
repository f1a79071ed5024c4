//! What the hub hands its journal, and what it does with what it is given back: names owned
//! by accounts, settings, history after a restart, and messages left for someone offline.

use super::*;
use crate::journal::{IgnoredAccount, OfflineMessage, Profile, Settings, Snapshot, StoredLine};
use crate::prefs::Theme;

const ALICE_KEY: &str = "SHA256:alice";
const ALICE_LAPTOP: &str = "SHA256:alice-laptop";
const ALICE: &str = "alice-account";
const MALLORY_KEY: &str = "SHA256:mallory";
const MALLORY: &str = "mallory-account";

fn account(id: &str, name: &str) -> AccountRef {
    AccountRef {
        id: id.into(),
        name: name.into(),
        operator: false,
    }
}

/// A member logging in with `key`, which belongs to the account `id` called `name`, while
/// asking (as an SSH username does) for `asked`.
fn registered(asked: &str, key: &str, id: &str, name: &str) -> JoinRequest {
    JoinRequest::named(asked)
        .with_key(key)
        .with_account(account(id, name))
}

fn join_alice(h: &mut Harness) -> MemberId {
    h.join_with(registered("alice", ALICE_KEY, ALICE, "alice"), 1000)
}

#[test]
fn an_accounts_name_is_nobody_elses() {
    let mut h = Harness::new();
    let alice = join_alice(&mut h);
    assert!(h.records().is_empty(), "the directory already knows");
    assert_eq!(h.hub.owner_of("ALICE"), Some(ALICE));
    h.hub.leave(alice, h.now);

    let mallory = h.join_with(registered("alice", MALLORY_KEY, MALLORY, "mallory"), 1000);
    assert_eq!(
        h.hub.name_of(mallory),
        Some("mallory"),
        "an account gets its own name"
    );
    assert!(h.say(mallory, "/nick Alice").failed);
    assert_eq!(
        h.notices(mallory).last().unwrap(),
        "the name Alice is registered to someone else"
    );
    let unregistered = h.join_with(JoinRequest::named("a1ice").with_key("SHA256:new"), 100);
    assert_eq!(
        h.hub.name_of(unregistered),
        Some("a1ice2"),
        "someone without an account cannot take it, nor a look-alike"
    );
    let notices = h.notices(unregistered);
    assert!(
        notices[0].starts_with("a1ice looks too much like alice"),
        "{notices:?}"
    );
    let keyless = h.join("alice");
    assert_eq!(h.hub.name_of(keyless), Some("alice3"));
}

#[test]
fn a_member_gets_its_accounts_name_whatever_username_it_uses() {
    let mut h = Harness::new();
    let again = h.join_with(registered("root", ALICE_KEY, ALICE, "alice"), 1000);
    assert_eq!(h.hub.name_of(again), Some("alice"));
}

#[test]
fn an_account_owns_one_name_the_last_it_used() {
    let mut h = Harness::new();
    let alice = join_alice(&mut h);
    h.records();
    h.say(alice, "/nick ally");
    assert_eq!(
        h.records(),
        [Record::Claim {
            account: ALICE.into(),
            name: "ally".into()
        }]
    );
    assert_eq!(h.hub.owner_of("alice"), None, "the old name is free again");
    assert_eq!(h.hub.owner_of("ally"), Some(ALICE));
    let other = h.join("alice");
    assert_eq!(h.hub.name_of(other), Some("alice"));
}

#[test]
fn members_without_an_account_claim_nothing() {
    let mut h = Harness::new();
    let guest = h.join_with(JoinRequest::named("guest").with_key("SHA256:guest"), 100);
    h.say(guest, "/nick visitor");
    h.say(guest, "/theme mono");
    assert!(h.records().is_empty());
    assert_eq!(h.hub.owner_of("visitor"), None);
}

#[test]
fn a_new_session_of_the_same_account_replaces_the_ghost_whichever_key() {
    let mut h = Harness::new();
    let ghost = join_alice(&mut h);
    let bob = h.join("bob");
    h.clear();
    let fresh = h.join_with(registered("alice", ALICE_LAPTOP, ALICE, "alice"), 1000);
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
fn an_owner_arriving_moves_aside_whoever_holds_its_name() {
    // Someone took the name while the hub did not know it was registered (a registration on
    // the web, say); the owner's arrival is the hub's first word of it.
    let mut h = Harness::new();
    let squatter = h.join("alice");
    let bob = h.join("bob");
    h.clear();
    let alice = join_alice(&mut h);
    assert_eq!(h.hub.name_of(alice), Some("alice"));
    assert_eq!(h.hub.name_of(squatter), Some("alice2"));
    assert_eq!(
        h.notices(squatter),
        ["alice is a registered name and its owner is here; you are alice2 now"]
    );
    assert!(h.events(bob).iter().any(
        |e| matches!(e, EventKind::Renamed { old, new, .. } if old == "alice" && new == "alice2")
    ));
    assert!(h.records().is_empty(), "nobody's account was renamed");
}

#[test]
fn an_invisible_exec_never_replaces_or_moves_a_claim() {
    let mut h = Harness::new();
    let alice = join_alice(&mut h);
    h.records();
    let exec = h.join_with(
        registered("alice", ALICE_KEY, ALICE, "alice").invisible(),
        100,
    );
    assert_eq!(
        h.hub.name_of(alice),
        Some("alice"),
        "the interactive session stays"
    );
    assert_eq!(h.hub.name_of(exec), Some("alice2"));
    assert!(h.records().is_empty(), "no claim moved to alice2");
    assert_eq!(h.hub.owner_of("alice"), Some(ALICE));
}

#[test]
fn a_rename_the_directory_refuses_is_undone() {
    let mut h = Harness::new();
    let alice = join_alice(&mut h);
    h.say(alice, "/nick zed");
    assert_eq!(h.hub.name_of(alice), Some("zed"));
    h.clear();
    // Meanwhile, someone registered zed on another server.
    h.hub.claim_refused(
        ALICE,
        "zed",
        Some(("zed-account".into(), "Zed".into())),
        h.now,
    );
    assert_eq!(h.hub.name_of(alice), Some("zed2"));
    assert_eq!(h.hub.owner_of("zed"), Some("zed-account"));
    assert_eq!(
        h.notices(alice),
        ["zed is registered to someone else, so it could not be yours; you are zed2 for now"]
    );
}

#[test]
fn changes_made_elsewhere_reach_the_members_online() {
    let mut h = Harness::new();
    let alice = join_alice(&mut h);
    h.join("guest");
    h.clear();
    let mut changed = account(ALICE, "alicia");
    changed.operator = true;
    h.hub.account_changed(&changed, h.now);
    assert_eq!(h.hub.name_of(alice), Some("alicia"));
    assert_eq!(h.hub.owner_of("alicia"), Some(ALICE));
    assert_eq!(h.hub.owner_of("alice"), None);
    assert_eq!(h.notices(alice), ["your account is now called alicia"]);
    assert!(!h.say(alice, "/kick guest").failed, "and an operator");

    h.hub.account_deleted(ALICE, h.now);
    assert_eq!(h.hub.owner_of("alicia"), None);
    assert!(h.say(alice, "/banned").failed, "no longer an operator");
    assert!(h.say(alice, "/keys").failed, "no account, no keys");
}

#[test]
fn keys_are_the_edges_to_manage() {
    let mut h = Harness::new();
    let alice = join_alice(&mut h);
    let outcome = h.say(alice, "/keys remove SHA256:x --yes");
    assert!(!outcome.failed);
    assert_eq!(
        outcome.request,
        Some(Request::Keys(crate::command::KeysCommand::Remove {
            fingerprint: "SHA256:x".into(),
            confirmed: true
        }))
    );
    let guest = h.join("guest");
    let outcome = h.say(guest, "/keys");
    assert!(outcome.failed);
    assert_eq!(outcome.request, None);
    assert!(
        h.notices(guest)
            .last()
            .unwrap()
            .starts_with("you have no account")
    );
}

#[test]
fn a_newcomer_is_offered_a_free_name() {
    let mut h = Harness::new();
    join_alice(&mut h);
    h.join("bob");
    assert_eq!(h.hub.name_for_newcomer("carol"), "carol");
    assert_eq!(h.hub.name_for_newcomer("Bob"), "Bob2", "held online");
    assert_eq!(h.hub.name_for_newcomer("al1ce"), "al1ce2", "owned, by look");
    assert_eq!(h.hub.name_for_newcomer("!!!"), "anon");
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
fn settings_of_a_member_with_an_account_are_recorded_and_restored() {
    let mut h = Harness::new();
    let alice = join_alice(&mut h);
    let mallory = h.join_with(registered("mallory", MALLORY_KEY, MALLORY, "mallory"), 1000);
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
        ignoring: vec![IgnoredAccount {
            account: MALLORY.into(),
            name: "mallory".into(),
        }],
        last_room: Some("#rust".into()),
    };
    assert_eq!(
        last,
        Record::Profile {
            owner: ALICE.into(),
            settings: expected.clone()
        }
    );

    h.hub.leave(alice, h.now);
    h.hub.leave(mallory, h.now);
    let profile = Profile {
        settings: expected,
        offline: Vec::new(),
    };
    // Back from the laptop; mallory back with another key of hers.
    let back = h.join_with(
        registered("alice", ALICE_LAPTOP, ALICE, "alice").with_profile(profile),
        100,
    );
    assert_eq!(h.hub.me(back).unwrap().prefs.theme, Theme::Mono);
    assert_eq!(h.hub.room_of(back), Some("#rust"), "back in the last room");
    let mallory = h.join_with(
        registered("m", "SHA256:mallory-2", MALLORY, "mallory"),
        1000,
    );
    h.say(mallory, "/join #rust");
    h.clear();
    h.say(mallory, "still ignored?");
    assert!(
        h.events(back).is_empty(),
        "the ignore survived, matched by account"
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
    let alice = join_alice(&mut h);
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
        to: ALICE.into(),
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
    let back = h.join_with(
        registered("alice", ALICE_LAPTOP, ALICE, "alice").with_profile(profile),
        100,
    );
    let events = h.boxes[&back].take();
    let message = events
        .iter()
        .find(|e| matches!(e.kind, EventKind::PrivateFrom { .. }))
        .expect("the message is delivered");
    assert_eq!(message.at, sent_at, "marked with when it was sent");
    assert_eq!(
        h.records(),
        [Record::OfflineDelivered {
            owner: ALICE.into(),
            count: 1
        }]
    );
}

#[test]
fn answers_that_promise_a_record_are_marked_as_promises_and_no_others() {
    let mut h = Harness::new();
    let alice = join_alice(&mut h);
    h.hub.leave(alice, h.now);
    let bob = h.join("bob");
    let carol = join_with_account(&mut h, "carol", "SHA256:carol", "acct-carol");
    h.clear();
    h.say(bob, "/msg alice see you tomorrow");
    assert_eq!(
        h.answers(bob),
        [(
            "alice is offline; they will get your message when they next join".to_owned(),
            true
        )],
        "a message kept for someone offline"
    );
    h.say(carol, "/timestamp off");
    let answers = h.answers(carol);
    assert!(
        answers.len() == 1 && answers[0].1,
        "a setting changed: {answers:?}"
    );
    for (who, line) in [(bob, "/timestamp off"), (carol, "/motd"), (carol, "/nope")] {
        h.say(who, line);
        let answers = h.answers(who);
        assert!(
            !answers.is_empty() && answers.iter().all(|(_, promise)| !promise),
            "{line} promises nothing stored: {answers:?}"
        );
    }
    h.say(carol, "/msg bob hi");
    h.say(bob, "hello");
    assert!(
        h.answers(carol).iter().all(|(_, promise)| !promise),
        "nor do other members' events"
    );
}

fn join_with_account(h: &mut Harness, name: &str, key: &str, id: &str) -> MemberId {
    h.join_with(registered(name, key, id, name), 100)
}

#[test]
fn offline_messages_are_bounded_per_recipient() {
    let mut h = Harness::with_config(HubConfig {
        max_offline_messages: 2,
        ..HubConfig::default()
    });
    let alice = join_alice(&mut h);
    h.hub.leave(alice, h.now);
    let bob = h.join("bob");
    assert!(!h.say(bob, "/msg alice one").failed);
    assert!(!h.say(bob, "/msg alice two").failed);
    assert!(h.say(bob, "/msg alice three").failed);
    assert!(
        h.say(bob, "/msg nobody hi").failed,
        "a name no account owns has nobody to keep it for"
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
        claims: vec![("alice".into(), ALICE.into())],
        history: vec![
            line("#lobby", "one"),
            line("#lobby", "two"),
            line("#lobby", "three"),
            line("#rust", "r"),
        ],
        offline_counts: vec![(ALICE.into(), 1)],
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

/// What happens to accounts and their members, for the index of members by account.
#[derive(Debug, Clone)]
enum AccountStep {
    /// A member joins, of account `Some(n)` or of none.
    Join(Option<usize>),
    /// The n-th member still online (modulo how many) leaves.
    Leave(usize),
    /// Account n is renamed elsewhere (a web page, `chat-cli accounts`).
    Rename(usize, usize),
    /// Account n is deleted.
    Delete(usize),
}

fn account_step() -> impl proptest::strategy::Strategy<Value = AccountStep> {
    use proptest::prelude::*;
    prop_oneof![
        3 => proptest::option::of(0..3usize).prop_map(AccountStep::Join),
        2 => any::<usize>().prop_map(AccountStep::Leave),
        1 => (0..3usize, 0..4usize).prop_map(|(a, n)| AccountStep::Rename(a, n)),
        1 => (0..3usize).prop_map(AccountStep::Delete),
    ]
}

proptest::proptest! {
    /// The hub finds an account's members through an index (so that news of one account
    /// does not scan every member); whatever joins, leaves, renames and deletions come, the
    /// index lists exactly the members a scan would.
    #[test]
    fn an_accounts_members_are_exactly_those_online_with_it(
        steps in proptest::collection::vec(account_step(), 1..60)
    ) {
        let mut h = Harness::new();
        let mut online: Vec<MemberId> = Vec::new();
        for (i, step) in steps.into_iter().enumerate() {
            match step {
                AccountStep::Join(Some(a)) => {
                    let request = registered("m", &format!("SHA256:{i}"), &format!("acct-{a}"), &format!("name{a}"));
                    online.push(h.join_with(request, 100));
                }
                AccountStep::Join(None) => online.push(h.join("guest")),
                AccountStep::Leave(n) if !online.is_empty() => {
                    let id = online.remove(n % online.len());
                    h.hub.leave(id, h.now);
                }
                AccountStep::Leave(_) => {}
                AccountStep::Rename(a, n) => {
                    h.hub.account_changed(&account(&format!("acct-{a}"), &format!("new{n}")), h.now);
                }
                AccountStep::Delete(a) => h.hub.account_deleted(&format!("acct-{a}"), h.now),
            }
            for a in 0..3 {
                let id = format!("acct-{a}");
                let mut scanned: Vec<MemberId> = h
                    .hub
                    .members
                    .iter()
                    .filter(|(_, m)| m.account.as_deref() == Some(id.as_str()))
                    .map(|(id, _)| *id)
                    .collect();
                scanned.sort();
                proptest::prop_assert_eq!(h.hub.members_of(&id), scanned);
            }
        }
    }
}
