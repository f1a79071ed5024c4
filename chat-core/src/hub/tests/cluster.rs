//! Three hubs as nodes of one cluster, with a `Vec` for the cluster's log: what each node
//! publishes is appended in some interleaving, and each node applies the log in order, as the
//! Redis bus does.

use std::sync::{Arc as StdArc, Mutex as StdMutex};

use proptest::prelude::*;

use super::*;
use crate::hub::cluster::{BusEvent, Change, Departure, RemoteId};

/// A bus that the test can drain.
#[derive(Debug, Clone, Default)]
struct TestBus(StdArc<StdMutex<Vec<BusEvent>>>);

impl crate::hub::cluster::Bus for TestBus {
    fn publish(&mut self, event: BusEvent) {
        self.0.lock().unwrap().push(event);
    }
}

struct Node {
    name: String,
    hub: Hub<Mailbox, Vec<Record>>,
    bus: TestBus,
    boxes: HashMap<MemberId, Mailbox>,
    /// How far into the log this node has applied.
    cursor: usize,
}

struct Cluster {
    nodes: Vec<Node>,
    /// The log: (origin, event), in the one order every node applies.
    log: Vec<(String, BusEvent)>,
    now: DateTime<Utc>,
}

impl Cluster {
    fn new(count: usize) -> Self {
        Self::with_config(count, HubConfig::default())
    }

    fn with_config(count: usize, config: HubConfig) -> Self {
        let nodes = (0..count)
            .map(|i| {
                let bus = TestBus::default();
                let mut hub = Hub::with_journal(config.clone(), Vec::new());
                hub.set_bus(Box::new(bus.clone()));
                Node {
                    name: format!("n{i}"),
                    hub,
                    bus,
                    boxes: HashMap::new(),
                    cursor: 0,
                }
            })
            .collect();
        Self {
            nodes,
            log: Vec::new(),
            now: t0(),
        }
    }

    fn join(&mut self, node: usize, name: &str) -> MemberId {
        self.join_with(node, JoinRequest::named(name))
    }

    fn join_with(&mut self, node: usize, request: JoinRequest) -> MemberId {
        let n = &mut self.nodes[node];
        let mailbox = Mailbox::new(1000);
        let id = n.hub.join(request, mailbox.clone(), self.now);
        n.boxes.insert(id, mailbox);
        id
    }

    fn say(&mut self, node: usize, id: MemberId, line: &str) -> Outcome {
        self.nodes[node].hub.submit(id, line, self.now)
    }

    /// Appends what `node` published to the log; answers name claims as Redis would (the
    /// first to ask gets it).
    fn publish(&mut self, node: usize) {
        let events: Vec<BusEvent> = std::mem::take(&mut *self.nodes[node].bus.0.lock().unwrap());
        let origin = self.nodes[node].name.clone();
        for event in events {
            if let BusEvent::WantName { member, name } = &event {
                let (member, name) = (*member, name.clone());
                let taken = self.nodes.iter().enumerate().any(|(i, n)| {
                    i != node && n.hub.find(&name).is_some()
                        || n.hub.remote_holder(&name).is_some() && i == node
                });
                let hub = &mut self.nodes[node].hub;
                if taken {
                    hub.name_refused(member, &name, self.now);
                } else {
                    hub.name_granted(member, &name, self.now);
                }
                // What the grant published goes out after this.
                let more: Vec<BusEvent> =
                    std::mem::take(&mut *self.nodes[node].bus.0.lock().unwrap());
                self.log
                    .extend(more.into_iter().map(|e| (origin.clone(), e)));
                continue;
            }
            self.log.push((origin.clone(), event));
        }
    }

    /// `node` applies the log up to its end.
    fn apply(&mut self, node: usize) {
        let n = &mut self.nodes[node];
        while n.cursor < self.log.len() {
            let (origin, event) = self.log[n.cursor].clone();
            n.hub.apply_from(&origin, &n.name, event, self.now);
            n.cursor += 1;
        }
    }

    /// Everyone publishes and applies until nothing moves.
    fn settle(&mut self) {
        for _ in 0..10 {
            for i in 0..self.nodes.len() {
                self.publish(i);
            }
            for i in 0..self.nodes.len() {
                self.apply(i);
            }
            if self
                .nodes
                .iter()
                .all(|n| n.bus.0.lock().unwrap().is_empty())
            {
                return;
            }
        }
        panic!("the cluster did not settle");
    }

    /// What `id` on `node` received since last asked, a room's history on entering read as
    /// the lines it holds (as a terminal shows them).
    fn events(&self, node: usize, id: MemberId) -> Vec<EventKind> {
        self.nodes[node].boxes[&id]
            .take()
            .into_iter()
            .flat_map(|e| match &e.kind {
                EventKind::History { lines, .. } => lines.iter().map(|l| l.kind.clone()).collect(),
                other => vec![other.clone()],
            })
            .collect()
    }

    fn notices(&self, node: usize, id: MemberId) -> Vec<String> {
        self.events(node, id)
            .into_iter()
            .filter_map(|e| match e {
                EventKind::Notice { text, .. } => Some(text),
                EventKind::Reply(reply) => Some(reply.text()),
                _ => None,
            })
            .collect()
    }
}

fn said(events: &[EventKind]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            EventKind::Said { from, text, .. } => Some(format!("{from}: {text}")),
            _ => None,
        })
        .collect()
}

#[test]
fn a_line_is_delivered_only_from_the_log_to_every_node_the_senders_included() {
    let mut c = Cluster::new(2);
    let alice = c.join(0, "alice");
    let bob = c.join(1, "bob");
    c.settle();
    c.events(0, alice);
    c.events(1, bob);
    c.say(0, alice, "hello");
    assert!(said(&c.events(0, alice)).is_empty(), "not before the log");
    c.settle();
    assert_eq!(said(&c.events(0, alice)), ["alice: hello"]);
    assert_eq!(said(&c.events(1, bob)), ["alice: hello"]);
    assert_eq!(
        c.nodes[1].hub.recent_history("#lobby", 10).len(),
        1,
        "and into every node's history"
    );
}

#[test]
fn who_rooms_and_completion_cover_every_node() {
    let mut c = Cluster::new(3);
    let alice = c.join(0, "alice");
    c.join(1, "bob");
    let carol = c.join(2, "carol");
    c.say(2, carol, "/join #rust");
    c.settle();
    c.events(0, alice);
    c.say(0, alice, "/who");
    c.say(0, alice, "/rooms");
    let notices = c.notices(0, alice);
    assert!(
        notices[0].contains("2 connected: alice, bob"),
        "{notices:?}"
    );
    assert!(notices[1].contains("#lobby (2)"), "{notices:?}");
    assert!(notices[1].contains("#rust (1)"), "{notices:?}");
    let mut names = c.nodes[0].hub.complete(alice, "");
    names.sort();
    assert_eq!(names, ["bob", "carol"]);
    assert_eq!(c.nodes[0].hub.complete(alice, "#ru"), ["#rust"]);
}

#[test]
fn remote_joins_and_leaves_are_announced() {
    let mut c = Cluster::new(2);
    let alice = c.join(0, "alice");
    c.settle();
    c.events(0, alice);
    let bob = c.join(1, "bob");
    c.settle();
    assert!(
        c.events(0, alice)
            .iter()
            .any(|e| matches!(e, EventKind::Joined { name, count: 2, .. } if name == "bob"))
    );
    c.nodes[1].hub.leave(bob, c.now);
    c.settle();
    assert!(
        c.events(0, alice)
            .iter()
            .any(|e| matches!(e, EventKind::Left { name, .. } if name == "bob"))
    );
    assert_eq!(c.nodes[0].hub.names_in("#lobby"), ["alice"]);
}

#[test]
fn a_room_big_across_the_cluster_waits_as_long_between_announcements_on_every_node() {
    let mut c = Cluster::with_config(
        2,
        HubConfig {
            presence_window: TimeDelta::milliseconds(250),
            presence_window_per_member: TimeDelta::milliseconds(10),
            ..HubConfig::default()
        },
    );
    // Node 0 holds one member of a room of 60: a window of 600 ms there too, not 250.
    let alice = c.join(0, "alice");
    for i in 0..59 {
        c.join(1, &format!("guest{i}"));
    }
    c.settle();
    c.now += TimeDelta::milliseconds(700);
    for node in 0..2 {
        c.nodes[node].hub.tick(c.now);
    }
    c.settle();
    c.events(0, alice);
    c.join(1, "late");
    c.settle();
    let joined = |events: Vec<EventKind>| {
        events
            .iter()
            .filter(|e| matches!(e, EventKind::Joined { .. } | EventKind::JoinedMany { .. }))
            .count()
    };
    c.now += TimeDelta::milliseconds(300);
    c.nodes[0].hub.tick(c.now);
    assert_eq!(
        joined(c.events(0, alice)),
        0,
        "a window sized by node 0's own member would have announced it by now"
    );
    c.now += TimeDelta::milliseconds(400);
    c.nodes[0].hub.tick(c.now);
    assert_eq!(joined(c.events(0, alice)), 1);
}

#[test]
fn a_dead_node_s_members_leave_and_free_their_names() {
    let mut c = Cluster::new(2);
    let alice = c.join(0, "alice");
    c.join(1, "bob");
    c.settle();
    c.events(0, alice);
    c.nodes[0].hub.node_gone("n1", c.now);
    assert!(
        c.events(0, alice)
            .iter()
            .any(|e| matches!(e, EventKind::Left { name, .. } if name == "bob"))
    );
    assert_eq!(c.nodes[0].hub.names_in("#lobby"), ["alice"]);
    assert!(c.nodes[0].hub.remote_holder("bob").is_none());
    assert_eq!(c.nodes[0].hub.name_for_newcomer("bob"), "bob");
}

#[test]
fn a_snapshot_replaces_what_a_node_is_known_to_have() {
    let mut c = Cluster::new(2);
    let alice = c.join(0, "alice");
    let bob = c.join(1, "bob");
    c.join(1, "dave");
    c.settle();
    c.events(0, alice);
    let states = vec![c.nodes[1].hub.member_state(bob).unwrap()];
    c.nodes[0].hub.node_snapshot("n1", states, c.now);
    assert_eq!(c.nodes[0].hub.names_in("#lobby"), ["alice", "bob"]);
    let events = c.events(0, alice);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, EventKind::Left { name, .. } if name == "dave")),
        "{events:?}"
    );
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, EventKind::Joined { name, .. } if name == "bob")),
        "someone already known is not announced again: {events:?}"
    );
}

#[test]
fn names_held_on_another_node_are_numbered_and_refused() {
    let mut c = Cluster::new(2);
    c.join(0, "bob");
    c.settle();
    let other = c.join(1, "bob");
    assert_eq!(c.nodes[1].hub.name_of(other), Some("bob2"));
    let carol = c.join(1, "carol");
    c.events(1, carol);
    c.say(1, carol, "/nick B0b");
    let notices = c.notices(1, carol);
    assert!(
        notices
            .iter()
            .any(|n| n.contains("looks too much like bob")),
        "{notices:?}"
    );
}

#[test]
fn nick_waits_for_the_bus_and_exactly_one_of_two_racing_nodes_gets_the_name() {
    let mut c = Cluster::new(2);
    let alice = c.join(0, "alice");
    let carol = c.join(1, "carol");
    c.settle();
    c.events(0, alice);
    c.events(1, carol);
    c.say(0, alice, "/nick dave");
    c.say(1, carol, "/nick dave");
    assert_eq!(
        c.nodes[0].hub.name_of(alice),
        Some("alice"),
        "not before the bus grants it"
    );
    c.settle();
    let names = [
        c.nodes[0].hub.name_of(alice).unwrap().to_owned(),
        c.nodes[1].hub.name_of(carol).unwrap().to_owned(),
    ];
    assert_eq!(
        names.iter().filter(|n| *n == "dave").count(),
        1,
        "{names:?}"
    );
    let loser = if names[0] == "dave" {
        (1, carol)
    } else {
        (0, alice)
    };
    assert!(
        c.notices(loser.0, loser.1)
            .iter()
            .any(|n| n.contains("taken")),
        "the other is told"
    );
    let winner_node = if names[0] == "dave" { 0 } else { 1 };
    let other_node = 1 - winner_node;
    assert!(c.nodes[other_node].hub.remote_holder("dave").is_some());
}

#[test]
fn a_name_lost_in_a_race_moves_to_a_free_variant() {
    let mut c = Cluster::new(1);
    let bob = c.join(0, "bob");
    c.events(0, bob);
    c.nodes[0].hub.name_lost(bob, c.now);
    assert_eq!(c.nodes[0].hub.name_of(bob), Some("bob2"));
    assert!(c.notices(0, bob).iter().any(|n| n.contains("you are bob2")));
}

#[test]
fn private_messages_and_replies_cross_nodes() {
    let mut c = Cluster::new(2);
    let alice = c.join(0, "alice");
    let bob = c.join(1, "bob");
    c.settle();
    c.events(0, alice);
    c.events(1, bob);
    c.say(0, alice, "/msg bob psst");
    assert!(
        c.events(0, alice)
            .iter()
            .any(|e| matches!(e, EventKind::PrivateTo { to, .. } if to == "bob"))
    );
    c.settle();
    assert!(c.events(1, bob).iter().any(
        |e| matches!(e, EventKind::PrivateFrom { from, text } if from == "alice" && text == "psst")
    ));
    c.say(1, bob, "/reply back");
    c.settle();
    assert!(c.events(0, alice).iter().any(
        |e| matches!(e, EventKind::PrivateFrom { from, text } if from == "bob" && text == "back")
    ));
}

#[test]
fn a_reply_never_reaches_whoever_a_restarted_node_numbered_like_the_sender() {
    let mut c = Cluster::new(2);
    let alice = c.join(0, "alice");
    let bob = c.join(1, "bob");
    c.settle();
    c.say(0, alice, "/msg bob psst");
    c.settle();
    // n0 dies and comes back: it numbers its members afresh, so its first newcomer, carol,
    // has the number alice had.
    let mut carol = c.nodes[0].hub.member_state(alice).unwrap();
    c.nodes[1].hub.node_gone("n0", c.now);
    carol.name = "carol".to_owned();
    carol.connected_at = c.now + TimeDelta::seconds(5);
    c.nodes[1]
        .hub
        .remote_present("n0", carol, Change::Joined, c.now);
    c.events(1, bob);
    assert!(c.say(1, bob, "/reply are you still there?").failed);
    assert!(
        c.notices(1, bob)
            .iter()
            .any(|n| n.starts_with("nobody to reply to")),
        "carol is not who wrote to bob"
    );
    assert!(
        c.nodes[1]
            .bus
            .0
            .lock()
            .unwrap()
            .iter()
            .all(|e| !matches!(e, BusEvent::Private { .. }))
    );
}

#[test]
fn whois_and_ignore_work_on_remote_members() {
    let mut c = Cluster::new(2);
    let alice = c.join(0, "alice");
    let bob = c.join_with(1, JoinRequest::named("bob").with_key("SHA256:bob"));
    c.say(1, bob, "/away lunch");
    c.settle();
    c.events(0, alice);
    c.say(0, alice, "/whois bob");
    let notices = c.notices(0, alice);
    assert!(notices[0].contains("key: SHA256:bob"), "{notices:?}");
    assert!(notices[0].contains("server: n1"), "{notices:?}");
    assert!(notices[0].contains("away: lunch"), "{notices:?}");
    c.say(0, alice, "/ignore bob");
    c.say(1, bob, "hi");
    c.settle();
    assert!(
        said(&c.events(0, alice)).is_empty(),
        "an ignored remote line is hidden"
    );
}

fn operator(c: &mut Cluster, node: usize, name: &str) -> MemberId {
    let request = JoinRequest::named(name)
        .with_key(format!("SHA256:{name}"))
        .with_account(AccountRef {
            id: format!("acct-{name}"),
            name: name.to_owned(),
            operator: true,
        });
    c.join_with(node, request)
}

#[test]
fn an_operator_kicks_mutes_and_renames_a_member_of_another_node() {
    let mut c = Cluster::new(2);
    let op = operator(&mut c, 0, "op");
    let bob = c.join(1, "bob");
    let carol = c.join(1, "carol");
    c.settle();
    c.say(0, op, "/mute bob");
    c.settle();
    assert!(c.say(1, bob, "hi").failed, "muted on its own node");
    c.say(0, op, "/rename carol caroline");
    c.settle();
    assert_eq!(c.nodes[1].hub.name_of(carol), Some("caroline"));
    assert!(c.nodes[0].hub.remote_holder("caroline").is_some());
    c.events(0, op);
    c.say(0, op, "/kick bob spam");
    c.settle();
    assert!(
        c.nodes[1].boxes[&bob].disconnected().is_some(),
        "disconnected"
    );
    assert_eq!(c.nodes[1].hub.name_of(bob), None);
    assert!(
        c.events(0, op)
            .iter()
            .any(|e| matches!(e, EventKind::Removed { name, banned: false, .. } if name == "bob"))
    );
}

/// Regression: an unmute sent before the operator's node saw the mute in the member's state
/// was refused as "not muted" there, and the member stayed muted.
#[test]
fn an_unmute_right_after_a_mute_is_not_refused_by_a_stale_mirror() {
    let mut c = Cluster::new(2);
    let op = operator(&mut c, 0, "op");
    let bob = c.join(1, "bob");
    c.settle();
    c.say(0, op, "/mute bob");
    c.publish(0);
    c.apply(1);
    assert!(c.say(1, bob, "hi").failed, "muted on its own node");
    // Node 0 has not yet applied bob's new state.
    assert!(!c.say(0, op, "/unmute bob").failed);
    c.settle();
    assert!(!c.say(1, bob, "hi again").failed, "unmuted");
    assert!(
        c.notices(1, bob)
            .iter()
            .any(|n| n.contains("op unmuted you")),
        "bob is told"
    );
}

#[test]
fn a_ban_reaches_every_node_and_covers_who_is_there() {
    let mut c = Cluster::new(3);
    let op = operator(&mut c, 0, "op");
    let bob = c.join_with(1, JoinRequest::named("bob").with_key("SHA256:bob"));
    c.settle();
    c.say(0, op, "/ban bob 1h spam");
    c.settle();
    assert!(c.nodes[1].boxes[&bob].disconnected().is_some());
    for node in 0..3 {
        assert!(
            c.nodes[node]
                .hub
                .ban_for(Some("SHA256:bob"), None, None, c.now)
                .is_some(),
            "node {node} enforces it"
        );
    }
    c.say(0, op, "/unban bob");
    c.settle();
    assert!(
        c.nodes[2]
            .hub
            .ban_for(Some("SHA256:bob"), None, None, c.now)
            .is_none()
    );
}

#[test]
fn an_operator_grant_reaches_the_member_on_its_node() {
    let mut c = Cluster::new(2);
    let op = operator(&mut c, 0, "op");
    let request = JoinRequest::named("bob")
        .with_key("SHA256:bob")
        .with_account(AccountRef {
            id: "acct-bob".into(),
            name: "bob".into(),
            operator: false,
        });
    let bob = c.join_with(1, request);
    c.settle();
    c.events(1, bob);
    c.say(0, op, "/op bob");
    c.settle();
    assert!(
        c.notices(1, bob)
            .iter()
            .any(|n| n.contains("made you an operator"))
    );
    assert!(c.nodes[1].hub.is_operator(None, Some("acct-bob")));
}

#[test]
fn a_replaced_session_closes_and_leaves() {
    let mut c = Cluster::new(2);
    let bob = c.join(1, "bob");
    c.settle();
    c.nodes[1].hub.apply_from(
        "n0",
        "n1",
        BusEvent::Act {
            target: RemoteId {
                node: "n1".into(),
                member: bob.get(),
            },
            act: crate::hub::cluster::RemoteAct::Replace,
        },
        c.now,
    );
    assert!(c.nodes[1].boxes[&bob].disconnected().is_some());
    c.settle();
    assert!(c.nodes[0].hub.remote_holder("bob").is_none());
}

#[test]
fn a_refused_line_is_told_to_its_sender() {
    let mut c = Cluster::new(1);
    let alice = c.join(0, "alice");
    c.events(0, alice);
    c.say(0, alice, "hello there");
    let events: Vec<BusEvent> = std::mem::take(&mut *c.nodes[0].bus.0.lock().unwrap());
    let Some(BusEvent::Line { sender, line, .. }) = events.last() else {
        panic!("a line: {events:?}")
    };
    c.nodes[0]
        .hub
        .line_refused(*sender, line, "the bus is down", c.now);
    let notices = c.notices(0, alice);
    assert!(
        notices[0].starts_with("not sent: \"hello there\""),
        "{notices:?}"
    );
}

#[test]
fn a_removed_remote_member_is_announced_as_removed() {
    let mut c = Cluster::new(2);
    let alice = c.join(0, "alice");
    c.join(1, "bob");
    c.settle();
    c.events(0, alice);
    let id = c.nodes[0].hub.remote_holder("bob").unwrap().clone();
    c.nodes[0].hub.remote_gone(
        &id,
        Departure::Removed {
            by: "op".into(),
            reason: None,
            banned: true,
        },
        c.now,
    );
    assert!(
        c.events(0, alice)
            .iter()
            .any(|e| matches!(e, EventKind::Removed { banned: true, .. }))
    );
}

#[test]
fn history_on_join_and_moves_follow_the_log() {
    let mut c = Cluster::new(2);
    let alice = c.join(0, "alice");
    c.say(0, alice, "first");
    c.settle();
    let bob = c.join(1, "bob");
    assert_eq!(
        said(&c.events(1, bob)),
        ["alice: first"],
        "history from another node"
    );
    c.say(0, alice, "/join #rust");
    c.settle();
    assert!(c.events(1, bob).iter().any(
        |e| matches!(e, EventKind::Moved { name, to, .. } if name == "alice" && to == "#rust")
    ));
    assert_eq!(c.nodes[1].hub.names_in("#rust"), ["alice"]);
}

/// One step of the order model: a member says a line, a node publishes what it has, or a
/// node applies what is in the log.
#[derive(Debug, Clone)]
enum Step {
    Say(usize),
    Publish(usize),
    Apply(usize),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0..6usize).prop_map(Step::Say),
        (0..3usize).prop_map(Step::Publish),
        (0..3usize).prop_map(Step::Apply),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Lines said on three nodes in any interleaving of saying, publishing and applying:
    /// every member on every node sees the same sequence, and every line said once.
    #[test]
    fn every_member_sees_one_order_per_room(steps in proptest::collection::vec(step(), 1..120)) {
        let mut c = Cluster::new(3);
        let members: Vec<(usize, MemberId)> = (0..6)
            .map(|i| (i % 3, c.join(i % 3, &format!("m{i}"))))
            .collect();
        c.settle();
        for &(node, id) in &members {
            c.events(node, id);
        }
        let mut count = 0;
        for step in steps {
            match step {
                Step::Say(who) => {
                    let (node, id) = members[who];
                    c.nodes[node].hub.submit(id, &format!("line {count}"), c.now);
                    count += 1;
                    // Keep within the flood limit: each line a second apart.
                    c.now += TimeDelta::seconds(1);
                }
                Step::Publish(node) => c.publish(node),
                Step::Apply(node) => c.apply(node),
            }
        }
        c.settle();
        let views: Vec<Vec<String>> = members
            .iter()
            .map(|&(node, id)| said(&c.events(node, id)))
            .collect();
        // The bus's order: the lines as the log holds them.
        let log: Vec<String> = c
            .log
            .iter()
            .filter_map(|(_, e)| match e {
                BusEvent::Line { line, .. } => Some(format!("{}: {}", line.from, line.text)),
                _ => None,
            })
            .collect();
        prop_assert_eq!(log.len(), count, "every line said reached the log once");
        for view in &views {
            prop_assert_eq!(view, &log, "a member's view is the log's order");
        }
    }
}
