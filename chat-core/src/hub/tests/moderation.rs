//! Operators and their commands, bans, mutes, and the flood limit on lines.

use std::collections::HashSet;
use std::net::IpAddr;

use chrono::TimeDelta;

use super::*;
use crate::journal::{Ban, BanTarget};

const OP_KEY: &str = "SHA256:op";
const OP_ACCOUNT: &str = "op-account";
const BOB_KEY: &str = "SHA256:bob";
const BOB_ACCOUNT: &str = "bob-account";

/// A join request of a member with a key and an account.
fn registered(name: &str, key: &str, account: &str) -> JoinRequest {
    JoinRequest::named(name)
        .with_key(key)
        .with_account(AccountRef {
            id: account.into(),
            name: name.into(),
            operator: false,
        })
}

/// A hub with an admin online (`op`) and a registered member (`bob`).
fn with_an_operator() -> (Harness, MemberId, MemberId) {
    let mut h = Harness::new();
    h.hub.set_admins(HashSet::from([OP_KEY.to_owned()]));
    let op = h.join_with(registered("op", OP_KEY, OP_ACCOUNT), 1000);
    let bob = h.join_with(registered("bob", BOB_KEY, BOB_ACCOUNT), 1000);
    h.clear();
    h.records();
    (h, op, bob)
}

fn keyless_from(h: &mut Harness, name: &str, ip: &str) -> MemberId {
    let mut request = JoinRequest::named(name);
    request.ip = Some(ip.parse().unwrap());
    h.join_with(request, 1000)
}

fn audits(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .filter_map(|r| match r {
            Record::Audit(entry) => Some(format!("{}: {}", entry.by, entry.action)),
            _ => None,
        })
        .collect()
}

#[test]
fn members_who_are_not_operators_cannot_moderate() {
    let (mut h, _, bob) = with_an_operator();
    for line in [
        "/kick op",
        "/ban op",
        "/unban op",
        "/banned",
        "/mute op",
        "/unmute op",
        "/op bob",
        "/deop op",
        "/rename op x",
        "/reload",
        "/motd new motd",
    ] {
        h.later(1);
        let outcome = h.say(bob, line);
        assert!(outcome.failed, "{line}");
        assert_eq!(outcome.request, None, "{line}");
        let word = line.split(' ').next().unwrap();
        assert_eq!(
            h.notices(bob),
            [format!("only operators can use {word}")],
            "{line}"
        );
    }
    assert!(h.records().is_empty(), "nothing happened");
    assert!(
        !h.say(bob, "/motd").failed,
        "reading the MOTD is for everyone"
    );
}

#[test]
fn a_kick_removes_the_member_at_once_and_is_audited() {
    let (mut h, op, bob) = with_an_operator();
    let carol = h.join("carol");
    h.clear();
    assert!(!h.say(op, "/kick bob spamming").failed);
    assert_eq!(h.hub.name_of(bob), None);
    assert_eq!(
        h.boxes[&bob].disconnected().as_deref(),
        Some("you were kicked out by op: spamming")
    );
    assert_eq!(
        h.events(carol),
        [EventKind::Removed {
            room: LOBBY.into(),
            name: "bob".into(),
            by: "op".into(),
            reason: Some("spamming".into()),
            banned: false
        }]
    );
    assert_eq!(audits(&h.records()), ["op: kick bob (spamming)"]);
    assert!(h.say(op, "/kick op").failed, "not yourself");
}

#[test]
fn a_kick_works_on_a_member_whose_outbox_is_full() {
    let (mut h, op, _) = with_an_operator();
    let stuck = h.join_with(JoinRequest::named("stuck"), 1);
    assert!(!h.say(op, "/kick stuck").failed);
    assert!(h.boxes[&stuck].disconnected().is_some());
    assert_eq!(h.hub.name_of(stuck), None);
}

#[test]
fn a_ban_by_name_bans_the_account_and_survives_in_the_store() {
    let (mut h, op, bob) = with_an_operator();
    assert!(!h.say(op, "/ban bob 2h flooding").failed);
    assert_eq!(h.hub.name_of(bob), None, "banned members go at once");
    let records = h.records();
    let ban = records
        .iter()
        .find_map(|r| match r {
            Record::Ban(ban) => Some(ban.clone()),
            _ => None,
        })
        .expect("the ban is recorded");
    assert_eq!(ban.target, BanTarget::Account(BOB_ACCOUNT.into()));
    assert_eq!(ban.until, Some(h.now + TimeDelta::hours(2)));
    assert_eq!(
        audits(&records),
        [format!(
            "op: ban bob (account:{BOB_ACCOUNT}) for 2h (flooding)"
        )]
    );
    assert!(
        h.hub
            .ban_for(Some(BOB_KEY), Some(BOB_ACCOUNT), None, h.now)
            .is_some()
    );
    assert!(
        h.hub
            .ban_for(Some("SHA256:laptop"), Some(BOB_ACCOUNT), None, h.now)
            .is_some(),
        "every key of the account is banned"
    );
    assert!(
        h.hub
            .ban_for(
                Some(BOB_KEY),
                Some(BOB_ACCOUNT),
                None,
                h.now + TimeDelta::hours(3)
            )
            .is_none(),
        "it expires"
    );

    h.say(op, "/banned");
    let list = h.notices(op).pop().unwrap();
    assert!(
        list.contains(&format!(
            "account:{BOB_ACCOUNT} (bob) until 2026-11-25 14:04 UTC, by op: flooding"
        )),
        "{list}"
    );
    assert!(!h.say(op, "/unban bob").failed);
    assert!(
        h.hub
            .ban_for(Some(BOB_KEY), Some(BOB_ACCOUNT), None, h.now)
            .is_none()
    );
    assert!(
        h.records()
            .contains(&Record::Unban(BanTarget::Account(BOB_ACCOUNT.into())))
    );
}

#[test]
fn a_keyless_member_is_banned_by_address() {
    let (mut h, op, _) = with_an_operator();
    let guest = keyless_from(&mut h, "guest", "192.0.2.7");
    let same_place = keyless_from(&mut h, "friend", "192.0.2.7");
    assert!(!h.say(op, "/ban guest").failed);
    let ip: IpAddr = "192.0.2.7".parse().unwrap();
    assert!(h.hub.ban_for(None, None, Some(ip), h.now).is_some());
    assert_eq!(h.hub.name_of(guest), None);
    assert_eq!(
        h.hub.name_of(same_place),
        None,
        "everyone at that address goes"
    );
    assert!(!h.say(op, "/ban ip:198.51.100.1 5m").failed);
    assert!(h.say(op, "/ban ip:not-an-address").failed);
    assert!(h.say(op, "/ban nobody").failed);
}

#[test]
fn an_operator_cannot_ban_the_address_they_connect_from() {
    // Regression: the ban covered the operator too and removed them, and the hub panicked
    // writing the audit entry for an operator who was no longer there.
    let mut h = Harness::new();
    h.hub.set_admins(HashSet::from([OP_KEY.to_owned()]));
    let mut request = registered("op", OP_KEY, OP_ACCOUNT);
    request.ip = Some("192.0.2.7".parse().unwrap());
    let op = h.join_with(request, 1000);
    let guest = keyless_from(&mut h, "guest", "192.0.2.7");
    h.clear();
    for line in ["/ban guest", "/ban ip:192.0.2.7 1h"] {
        assert!(h.say(op, line).failed, "{line}");
        assert_eq!(
            h.notices(op),
            ["you connect from 192.0.2.7 yourself: banning it would shut you out too"]
        );
    }
    assert_eq!(h.hub.name_of(op), Some("op"));
    assert_eq!(h.hub.name_of(guest), Some("guest"));
    assert!(
        h.hub
            .ban_for(None, None, "192.0.2.7".parse().ok(), h.now)
            .is_none()
    );
}

#[test]
fn an_offline_owner_is_banned_by_the_account_that_owns_the_name() {
    let (mut h, op, bob) = with_an_operator();
    h.hub.leave(bob, h.now);
    assert!(!h.say(op, "/ban bob").failed);
    assert!(
        h.hub
            .ban_for(None, Some(BOB_ACCOUNT), None, h.now)
            .is_some()
    );
}

#[test]
fn a_key_ban_covers_that_key_alone() {
    let (mut h, op, bob) = with_an_operator();
    assert!(!h.say(op, &format!("/ban fingerprint:{BOB_KEY}")).failed);
    assert_eq!(h.hub.name_of(bob), None);
    assert!(h.hub.ban_for(Some(BOB_KEY), None, None, h.now).is_some());
    assert!(
        h.hub
            .ban_for(Some("SHA256:laptop"), Some(BOB_ACCOUNT), None, h.now)
            .is_none(),
        "the account's other keys may come in"
    );
}

#[test]
fn muted_members_can_read_but_not_talk() {
    let (mut h, op, bob) = with_an_operator();
    assert!(!h.say(op, "/mute bob").failed);
    assert_eq!(
        h.notices(bob),
        ["op muted you: you can read, but what you say reaches nobody"]
    );
    h.clear();
    assert!(h.say(bob, "hello?").failed);
    assert!(h.say(bob, "/msg op hello?").failed);
    assert!(h.events(op).is_empty());
    assert!(!h.say(bob, "/who").failed, "reading commands still work");
    h.say(op, "/unmute bob");
    assert!(!h.say(bob, "thanks").failed);
}

#[test]
fn bans_unbans_and_grants_answer_with_promises() {
    let (mut h, op, _bob) = with_an_operator();
    let guest = keyless_from(&mut h, "guest", "198.51.100.7");
    for line in ["/ban guest", "/unban guest", "/op bob", "/deop bob"] {
        h.clear();
        assert!(!h.say(op, line).failed, "{line}");
        let answers = h.answers(op);
        assert!(
            !answers.is_empty() && answers.iter().all(|(_, promise)| *promise),
            "{line}: {answers:?}"
        );
    }
    h.clear();
    assert!(!h.say(op, "/kick bob").failed);
    assert!(
        h.answers(op).iter().all(|(_, promise)| !promise),
        "a kick keeps nothing"
    );
    let _ = guest;
}

#[test]
fn operators_can_be_made_and_unmade_but_admins_stay() {
    let (mut h, op, bob) = with_an_operator();
    let guest = h.join("guest");
    assert!(!h.say(op, "/op bob").failed);
    assert!(h.records().contains(&Record::Operator {
        account: BOB_ACCOUNT.into(),
        granted: true
    }));
    assert!(!h.say(bob, "/kick guest").failed, "bob can moderate now");
    assert!(
        h.say(op, "/op guest").failed,
        "a member without an account cannot be an operator"
    );
    assert!(h.say(bob, "/deop op").failed, "an admin stays one");
    assert!(!h.say(op, "/deop bob").failed);
    assert!(h.say(bob, "/banned").failed);
    let _ = guest;
}

#[test]
fn operators_rename_members_and_set_the_motd() {
    let (mut h, op, bob) = with_an_operator();
    assert!(!h.say(op, "/rename bob robert").failed);
    assert_eq!(h.hub.name_of(bob), Some("robert"));
    assert_eq!(
        h.hub.owner_of("robert"),
        Some(BOB_ACCOUNT),
        "the account owns its new name"
    );
    assert!(h.records().contains(&Record::Claim {
        account: BOB_ACCOUNT.into(),
        name: "robert".into()
    }));
    assert!(
        h.notices(bob)
            .contains(&"op renamed you to robert".to_owned())
    );
    assert!(!h.say(op, "/motd be excellent").failed);
    h.say(bob, "/motd");
    assert_eq!(h.notices(bob), ["be excellent"]);
    let outcome = h.say(op, "/reload");
    assert_eq!(outcome.request, Some(Request::Reload));
}

#[test]
fn bans_and_operators_come_back_after_a_restart() {
    let mut h = Harness::new();
    h.hub.restore(Snapshot {
        bans: vec![Ban {
            target: BanTarget::Account(BOB_ACCOUNT.into()),
            name: Some("bob".into()),
            until: None,
            reason: "old".into(),
            by: "op".into(),
            at: h.now,
        }],
        operators: vec![OP_ACCOUNT.into()],
        ..Snapshot::default()
    });
    assert!(
        h.hub
            .ban_for(None, Some(BOB_ACCOUNT), None, h.now)
            .is_some()
    );
    let op = h.join_with(registered("op", OP_KEY, OP_ACCOUNT), 100);
    h.join("guest");
    assert!(!h.say(op, "/kick guest").failed);
}

#[test]
fn a_flood_of_lines_is_refused_after_the_burst_with_one_notice() {
    let mut h = Harness::new();
    let flooder = h.join("flooder");
    let reader = h.join("reader");
    h.clear();
    let accepted = (0..30)
        .filter(|i| !h.say(flooder, &format!("spam {i}")).failed)
        .count();
    assert_eq!(accepted, 10, "a burst of 10");
    let said = h
        .events(reader)
        .iter()
        .filter(|e| matches!(e, EventKind::Said { .. }))
        .count();
    assert_eq!(said, 10);
    let notices = h.notices(flooder);
    assert_eq!(
        notices.len(),
        1,
        "one notice per flood, not one per line: {notices:?}"
    );
    assert!(
        notices[0].starts_with("you are sending too fast"),
        "{}",
        notices[0]
    );
    assert_eq!(h.hub.stats().rate_limited, 20);
    h.now += TimeDelta::milliseconds(500);
    assert!(!h.say(flooder, "a fast typist never notices").failed);
}
