//! A model-based test: random sequences of member actions against a small reference model.
//!
//! The model knows only who is connected, which room each is in and whom each ignores. After
//! every step it checks the hub's deliveries against it: names stay unique (without regard to
//! case), each said line reaches exactly the members of its room who do not ignore the sender
//! (the sender included: it sees its own line), and a private message reaches only its target.

use std::collections::{HashMap, HashSet};

use proptest::prelude::*;

use super::*;

const NAMES: [&str; 7] = ["alice", "Alice", "bob", "b0b", "carol", "ALICE2", "x"];
const ROOMS: [&str; 3] = ["#lobby", "#rust", "#Rust"];

#[derive(Debug, Clone)]
enum Action {
    Join(usize),
    Leave(usize),
    Nick(usize, usize),
    Say(usize),
    Msg(usize, usize),
    JoinRoom(usize, usize),
    Part(usize),
    Ignore(usize, usize),
    Unignore(usize, usize),
}

fn action() -> impl Strategy<Value = Action> {
    let who = 0usize..8;
    prop_oneof![
        2 => (0..NAMES.len()).prop_map(Action::Join),
        1 => who.clone().prop_map(Action::Leave),
        1 => (who.clone(), 0..NAMES.len()).prop_map(|(m, n)| Action::Nick(m, n)),
        4 => who.clone().prop_map(Action::Say),
        2 => (who.clone(), who.clone()).prop_map(|(a, b)| Action::Msg(a, b)),
        1 => (who.clone(), 0..ROOMS.len()).prop_map(|(m, r)| Action::JoinRoom(m, r)),
        1 => who.clone().prop_map(Action::Part),
        1 => (who.clone(), who.clone()).prop_map(|(a, b)| Action::Ignore(a, b)),
        1 => (who.clone(), who).prop_map(|(a, b)| Action::Unignore(a, b)),
    ]
}

#[derive(Debug)]
struct ModelMember {
    id: MemberId,
    room: String,
    ignoring: HashSet<MemberId>,
}

#[derive(Default)]
struct Model {
    members: Vec<ModelMember>,
}

impl Model {
    /// The connected member an index points at, if any (indices wrap around).
    fn pick(&self, i: usize) -> Option<usize> {
        (!self.members.is_empty()).then(|| i % self.members.len())
    }
}

fn run(actions: Vec<Action>) -> Result<(), TestCaseError> {
    let mut h = Harness::new();
    let mut model = Model::default();
    let mut token = 0u32;
    for action in actions {
        h.later(1);
        let mut expect: Option<(String, HashSet<MemberId>)> = None;
        match action {
            Action::Join(n) => {
                let id = h.join(NAMES[n]);
                model.members.push(ModelMember {
                    id,
                    room: "#lobby".into(),
                    ignoring: HashSet::new(),
                });
            }
            Action::Leave(i) => {
                if let Some(i) = model.pick(i) {
                    let gone = model.members.remove(i);
                    h.hub.leave(gone.id, h.now);
                    h.boxes.remove(&gone.id);
                }
            }
            Action::Nick(i, n) => {
                if let Some(i) = model.pick(i) {
                    h.say(model.members[i].id, &format!("/nick {}", NAMES[n]));
                }
            }
            Action::Say(i) => {
                if let Some(i) = model.pick(i) {
                    token += 1;
                    let text = format!("token{token}");
                    let sender = &model.members[i];
                    let receivers = model
                        .members
                        .iter()
                        .filter(|m| m.room == sender.room && !m.ignoring.contains(&sender.id))
                        .map(|m| m.id)
                        .collect();
                    h.say(sender.id, &text);
                    expect = Some((text, receivers));
                }
            }
            Action::Msg(a, b) => {
                if let (Some(a), Some(b)) = (model.pick(a), model.pick(b)) {
                    token += 1;
                    let text = format!("token{token}");
                    let (from, to) = (&model.members[a], &model.members[b]);
                    let mut receivers = HashSet::from([from.id]);
                    if !to.ignoring.contains(&from.id) {
                        receivers.insert(to.id);
                    }
                    let target = h.hub.name_of(to.id).unwrap().to_owned();
                    h.say(from.id, &format!("/msg {target} {text}"));
                    expect = Some((text, receivers));
                }
            }
            Action::JoinRoom(i, r) => {
                if let Some(i) = model.pick(i) {
                    h.say(model.members[i].id, &format!("/join {}", ROOMS[r]));
                    model.members[i].room = ROOMS[r].to_lowercase();
                }
            }
            Action::Part(i) => {
                if let Some(i) = model.pick(i) {
                    h.say(model.members[i].id, "/part");
                    model.members[i].room = "#lobby".into();
                }
            }
            Action::Ignore(a, b) => {
                if let (Some(a), Some(b)) = (model.pick(a), model.pick(b)) {
                    let target = h.hub.name_of(model.members[b].id).unwrap().to_owned();
                    h.say(model.members[a].id, &format!("/ignore {target}"));
                    if a != b {
                        let target = model.members[b].id;
                        model.members[a].ignoring.insert(target);
                    }
                }
            }
            Action::Unignore(a, b) => {
                if let (Some(a), Some(b)) = (model.pick(a), model.pick(b)) {
                    let target = h.hub.name_of(model.members[b].id).unwrap().to_owned();
                    h.say(model.members[a].id, &format!("/unignore {target}"));
                    let target = model.members[b].id;
                    model.members[a].ignoring.remove(&target);
                }
            }
        }

        // Names are unique regardless of case and look-alike characters, and every member has one.
        let names: Vec<String> = model
            .members
            .iter()
            .map(|m| crate::name::fold(h.hub.name_of(m.id).expect("connected members have names")))
            .collect();
        let distinct: HashSet<&String> = names.iter().collect();
        prop_assert_eq!(distinct.len(), names.len(), "names collide: {:?}", names);
        prop_assert_eq!(h.hub.len(), model.members.len());
        for m in &model.members {
            prop_assert_eq!(
                h.hub.room_of(m.id).map(str::to_lowercase),
                Some(m.room.clone())
            );
        }

        // Deliveries of this step's message match the model exactly.
        let received: HashMap<MemberId, Vec<EventKind>> = model
            .members
            .iter()
            .map(|m| (m.id, h.events(m.id)))
            .collect();
        if let Some((text, receivers)) = expect {
            let got: HashSet<MemberId> = received
                .iter()
                .filter(|(_, events)| events.iter().any(|e| carries(e, &text)))
                .map(|(id, _)| *id)
                .collect();
            prop_assert_eq!(got, receivers, "deliveries of {}", text);
        }
    }
    Ok(())
}

fn carries(event: &EventKind, token: &str) -> bool {
    match event {
        EventKind::Said { text, .. }
        | EventKind::PrivateFrom { text, .. }
        | EventKind::PrivateTo { text, .. } => text == token,
        _ => false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn deliveries_match_the_model(actions in proptest::collection::vec(action(), 1..60)) {
        run(actions)?;
    }
}
