//! Joins and leaves close together are announced together, so a crowd arriving does not cost
//! a line per arrival to everyone.

use chrono::TimeDelta;

use super::*;

fn batching() -> Harness {
    Harness::with_config(HubConfig {
        presence_window: TimeDelta::milliseconds(250),
        ..HubConfig::default()
    })
}

fn presence(events: &[EventKind]) -> Vec<&EventKind> {
    events
        .iter()
        .filter(|e| {
            matches!(
                e,
                EventKind::Joined { .. }
                    | EventKind::JoinedMany { .. }
                    | EventKind::Left { .. }
                    | EventKind::LeftMany { .. }
            )
        })
        .collect()
}

#[test]
fn a_join_in_a_calm_room_is_announced_at_once() {
    let mut h = batching();
    let alice = h.join("alice");
    assert!(matches!(
        presence(&h.events(alice))[..],
        [EventKind::Joined { .. }]
    ));
}

#[test]
fn a_crowd_is_announced_in_one_line_once_the_window_passes() {
    let mut h = batching();
    let alice = h.join("alice");
    h.clear();
    let crowd: Vec<MemberId> = (0..50).map(|i| h.join(&format!("guest{i}"))).collect();
    assert!(
        presence(&h.events(alice)).is_empty(),
        "nothing yet: the room is busy"
    );
    h.hub.tick(h.now + TimeDelta::milliseconds(100));
    assert!(
        presence(&h.events(alice)).is_empty(),
        "still within the window"
    );
    h.now += TimeDelta::milliseconds(300);
    h.hub.tick(h.now);
    let events = h.events(alice);
    let seen = presence(&events);
    assert_eq!(seen.len(), 1, "{seen:?}");
    let EventKind::JoinedMany { names, count, .. } = seen[0] else {
        panic!("{seen:?}");
    };
    assert_eq!(names.len(), 50);
    assert_eq!(*count, 51);
    assert!(
        presence(&h.events(crowd[49])).len() == 1,
        "the newcomers see the same single line"
    );
    h.hub.tick(h.now + TimeDelta::seconds(5));
    assert!(presence(&h.events(alice)).is_empty(), "nothing twice");
}

#[test]
fn someone_who_comes_and_goes_within_the_window_is_not_announced() {
    let mut h = batching();
    let alice = h.join("alice");
    let bob = h.join("bob");
    let flash = h.join("flash");
    h.hub.leave(flash, h.now);
    h.clear();
    h.now += TimeDelta::seconds(1);
    h.hub.tick(h.now);
    let events = h.events(alice);
    let seen = presence(&events);
    assert!(
        matches!(seen[..], [EventKind::Joined { name, .. }] if name == "bob"),
        "{seen:?}"
    );
    let _ = bob;
}

#[test]
fn many_leaving_together_make_one_line() {
    let mut h = batching();
    let alice = h.join("alice");
    let others: Vec<MemberId> = (0..5).map(|i| h.join(&format!("g{i}"))).collect();
    h.now += TimeDelta::seconds(1);
    h.hub.tick(h.now);
    h.now += TimeDelta::seconds(1);
    h.clear();
    for id in others {
        h.hub.leave(id, h.now);
    }
    h.now += TimeDelta::seconds(1);
    h.hub.tick(h.now);
    let events = h.events(alice);
    let seen = presence(&events);
    assert_eq!(
        seen.len(),
        2,
        "the first at once, the rest together: {seen:?}"
    );
    assert!(matches!(seen[0], EventKind::Left { name, .. } if name == "g0"));
    assert!(matches!(seen[1], EventKind::LeftMany { names, count: 1, .. } if names.len() == 4));
}

#[test]
fn quiet_members_see_no_batched_lines_either() {
    let mut h = batching();
    let alice = h.join("alice");
    h.say(alice, "/quiet");
    for i in 0..3 {
        h.join(&format!("g{i}"));
    }
    h.clear();
    h.now += TimeDelta::seconds(1);
    h.hub.tick(h.now);
    assert!(presence(&h.events(alice)).is_empty());
}

#[test]
fn a_big_room_waits_longer_between_announcements() {
    let mut h = Harness::with_config(HubConfig {
        presence_window: TimeDelta::milliseconds(250),
        presence_window_per_member: TimeDelta::milliseconds(10),
        ..HubConfig::default()
    });
    let alice = h.join("alice");
    // 60 members: a window of 600 ms rather than 250.
    for i in 0..59 {
        h.join(&format!("guest{i}"));
    }
    h.now += TimeDelta::milliseconds(700);
    h.hub.tick(h.now);
    h.clear();
    h.join("late");
    h.now += TimeDelta::milliseconds(300);
    h.hub.tick(h.now);
    assert!(
        presence(&h.events(alice)).is_empty(),
        "a 250 ms window would have announced it by now"
    );
    h.now += TimeDelta::milliseconds(400);
    h.hub.tick(h.now);
    assert_eq!(presence(&h.events(alice)).len(), 1);
}
