//! Several hubs, one chat: what a hub hands a cluster bus, and what it takes back from it.
//!
//! With a [`Bus`] ([`Hub::set_bus`]), the hub stops being the whole chat and becomes one node
//! of it. It still owns its own members; what the others need to know goes into the bus as a
//! [`BusEvent`], and what happened elsewhere comes back as a method call. The bus (the edge's:
//! Redis in `chat-server`) gives every room one order; the hub never talks to it directly and
//! stays sans-IO, so all of this is tested here with a `Vec` for a bus.
//!
//! - **Lines** are not delivered when said: [`BusEvent::Line`] goes to the bus, which puts it
//!   in the room's order and hands it back to every node, the sender's included, through
//!   [`Hub::line_arrived`]. So every member on every node sees a room's lines in one order.
//!   If the bus cannot take it, [`Hub::line_refused`] tells the sender.
//! - **Presence**: a member's joins, moves, renames and away state go out as
//!   [`BusEvent::Present`]; its leaving as [`BusEvent::Gone`]. Other nodes keep a mirror of
//!   remote members ([`Hub::remote_present`], [`Hub::remote_gone`], [`Hub::node_gone`],
//!   [`Hub::node_snapshot`]) so that `/who`, `/rooms`, `/whois`, Tab and name checks cover the
//!   whole cluster. A member's own node announces it at once; the others when they hear.
//! - **Names**: `/nick` asks the bus first ([`BusEvent::WantName`]) and renames only when
//!   the bus grants it ([`Hub::name_granted`], [`Hub::name_refused`]); a name the member lost
//!   anyway (a race with another node) moves it to a free variant ([`Hub::name_lost`]).
//! - **Directed events** (private messages, kicks, mutes, renames, replaced sessions, moving
//!   aside) name a [`RemoteId`]; bans, unbans and operator grants go to every node.

use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::{Hub, MemberId, Outbox};
use crate::event::{Event, EventKind, NoticeLevel};
use crate::journal::{Ban, BanTarget, Journal, StoredLine};
use crate::name;

/// A member of another node: the node's name and the member's id there.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RemoteId {
    pub node: String,
    pub member: u64,
}

/// A visible member as its node describes it to the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberState {
    /// The member's id on its own node.
    pub member: u64,
    pub name: String,
    /// The room's display name, with `#`.
    pub room: String,
    pub account: Option<String>,
    pub fingerprint: Option<String>,
    pub ip: Option<IpAddr>,
    pub connected_at: DateTime<Utc>,
    pub away: Option<String>,
    pub muted: bool,
}

/// What changed about a member, for the nodes that announce it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// It connected.
    Joined,
    /// It went to another room (its state holds the new one).
    Moved { from: String },
    /// It took another name (its state holds the new one).
    Renamed { old: String },
    /// Nothing to announce (away, back, muted).
    Updated,
}

/// How a member went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Departure {
    Left,
    Removed {
        by: String,
        reason: Option<String>,
        banned: bool,
    },
}

/// What the hub hands the bus. The bus adds the node's name where others need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BusEvent {
    /// A line said here, to be put in its room's order and handed back to every node.
    Line {
        sender: MemberId,
        line: StoredLine,
        /// The sender's account, so that members who ignore it skip the line.
        account: Option<String>,
    },
    /// A visible member here is now as described.
    Present {
        state: MemberState,
        change: Change,
    },
    /// A visible member here went.
    Gone {
        member: u64,
        name: String,
        room: String,
        how: Departure,
    },
    /// A member here asks for a name: the bus claims it cluster-wide and answers with
    /// [`Hub::name_granted`] or [`Hub::name_refused`].
    WantName {
        member: MemberId,
        name: String,
    },
    /// A private message for a member of another node.
    Private {
        to: RemoteId,
        from_member: u64,
        from: String,
        from_account: Option<String>,
        text: String,
        at: DateTime<Utc>,
    },
    /// An operator here acts on a member of another node.
    Act {
        target: RemoteId,
        act: RemoteAct,
    },
    /// A ban made here: every node enforces it.
    Ban(Ban),
    Unban(BanTarget),
    /// An account was made an operator (or stopped being one) here.
    Operator {
        account: String,
        granted: bool,
        by: String,
    },
}

/// What one node asks another to do to one of its members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteAct {
    Kick {
        by: String,
        reason: Option<String>,
    },
    Mute {
        by: String,
        muted: bool,
    },
    Rename {
        by: String,
        new: String,
    },
    /// A newer session of the member's account took its name elsewhere: close this one.
    Replace,
    /// The owner of the registered name the member holds has arrived elsewhere.
    MoveAside,
}

/// Where the hub puts what other nodes must hear. It must not block: queue and return.
pub trait Bus: Send + std::fmt::Debug {
    fn publish(&mut self, event: BusEvent);
}

/// A bus that keeps events in a `Vec`: for tests.
impl Bus for Vec<BusEvent> {
    fn publish(&mut self, event: BusEvent) {
        self.push(event);
    }
}

/// A member of another node, as this hub mirrors it.
#[derive(Debug, Clone)]
pub(super) struct RemoteMember {
    pub state: MemberState,
    /// The folded key of its room.
    pub room_key: String,
}

/// Who a command names: a member here, or one elsewhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Target {
    Local(MemberId),
    Remote(RemoteId),
}

impl<O: Outbox, J: Journal> Hub<O, J> {
    /// Makes this hub one node of a cluster: from now on lines, presence and moderation go
    /// through `bus`. Call it before anyone joins.
    pub fn set_bus(&mut self, bus: Box<dyn Bus>) {
        self.bus = Some(bus);
    }

    /// Whether the hub is a node of a cluster.
    pub fn is_clustered(&self) -> bool {
        self.bus.is_some()
    }

    pub(super) fn publish(&mut self, event: BusEvent) {
        if let Some(bus) = self.bus.as_mut() {
            bus.publish(event);
        }
    }

    /// Applies one event from the cluster's log: `origin` is the node that published it, `me`
    /// this node's name. Lines are delivered whoever said them (the log is their order);
    /// what this node published about itself it already applied, and directed events are
    /// applied only by the node they are for. [`BusEvent::WantName`] is the bus's own
    /// business and never in the log.
    pub fn apply_from(&mut self, origin: &str, me: &str, event: BusEvent, now: DateTime<Utc>) {
        let mine = origin == me;
        match event {
            BusEvent::Line { line, account, .. } => {
                self.line_arrived(line, account.as_deref(), now);
            }
            BusEvent::Present { state, change } if !mine => {
                self.remote_present(origin, state, change, now);
            }
            BusEvent::Gone { member, how, .. } if !mine => {
                let id = RemoteId {
                    node: origin.to_owned(),
                    member,
                };
                self.remote_gone(&id, how, now);
            }
            BusEvent::Private {
                to,
                from_member,
                from,
                from_account,
                text,
                at,
            } if to.node == me => {
                let sender = RemoteId {
                    node: origin.to_owned(),
                    member: from_member,
                };
                self.remote_private(to.member, sender, &from, from_account.as_deref(), &text, at);
            }
            BusEvent::Act { target, act } if target.node == me => {
                self.remote_act(target.member, act, now);
            }
            BusEvent::Ban(ban) if !mine => self.remote_ban(ban, now),
            BusEvent::Unban(target) if !mine => self.remote_unban(&target),
            BusEvent::Operator {
                account,
                granted,
                by,
            } if !mine => self.remote_operator(&account, granted, &by, now),
            _ => {}
        }
    }

    /// The state of a visible member here, as other nodes mirror it.
    pub fn member_state(&self, id: MemberId) -> Option<MemberState> {
        let m = self.members.get(&id).filter(|m| m.visible)?;
        Some(MemberState {
            member: id.get(),
            name: m.name.clone(),
            room: self.room_name(&m.room),
            account: m.account.clone(),
            fingerprint: m.fingerprint.clone(),
            ip: m.ip,
            connected_at: m.connected_at,
            away: m.away.clone(),
            muted: m.muted,
        })
    }

    /// Every visible member here: what the bus tells the others after it (re)connects.
    pub fn local_states(&self) -> Vec<MemberState> {
        let mut ids: Vec<MemberId> = self.members.keys().copied().collect();
        ids.sort();
        ids.into_iter()
            .filter_map(|id| self.member_state(id))
            .collect()
    }

    /// Tells the bus about a change to a visible member here.
    pub(super) fn publish_state(&mut self, id: MemberId, change: Change) {
        if self.bus.is_none() {
            return;
        }
        if let Some(state) = self.member_state(id) {
            self.publish(BusEvent::Present { state, change });
        }
    }

    /// The member here with this id on this node, if any.
    pub fn local_member(&self, raw: u64) -> Option<MemberId> {
        let id = MemberId::new(raw);
        self.members.contains_key(&id).then_some(id)
    }

    /// A line came back from the bus in its room's order (from this node or another):
    /// into the room's history and out to its members here.
    pub fn line_arrived(&mut self, line: StoredLine, account: Option<&str>, now: DateTime<Utc>) {
        let _ = now;
        let Some(display) = name::clean_room(&line.room) else {
            return;
        };
        let key = name::fold(&display);
        let limit = self.config.history_len;
        let event = Arc::new(line.to_event());
        let room = self
            .rooms
            .entry(key.clone())
            .or_insert_with(|| super::Room::new(display));
        if limit > 0 {
            if room.history.len() >= limit {
                room.history.pop_front();
            }
            room.history.push_back(Arc::clone(&event));
        }
        let members = room.members.clone();
        for id in members {
            let Some(member) = self.members.get_mut(&id) else {
                continue;
            };
            let by_account = account.is_some_and(|a| {
                member
                    .ignoring
                    .iter()
                    .any(|i| i.account.as_deref() == Some(a))
            });
            if by_account || member.ignores_name_in(&event) {
                continue;
            }
            member.deliver(Arc::clone(&event), &mut self.stats);
        }
        self.drop_room_if_idle(&key);
    }

    /// The bus could not take a line the member said: it reached nobody, and they are told.
    pub fn line_refused(&mut self, id: MemberId, line: &StoredLine, why: &str, now: DateTime<Utc>) {
        let text: String = line.text.chars().take(40).collect();
        let more = if line.text.chars().count() > 40 {
            "…"
        } else {
            ""
        };
        self.notify(
            id,
            now,
            NoticeLevel::Error,
            format!("not sent: \"{text}{more}\" reached nobody ({why}); send it again"),
        );
    }

    /// A member of another node joined, moved, was renamed or changed its state.
    pub fn remote_present(
        &mut self,
        node: &str,
        state: MemberState,
        change: Change,
        now: DateTime<Utc>,
    ) {
        let Some(display) = name::clean_room(&state.room) else {
            return;
        };
        let id = RemoteId {
            node: node.to_owned(),
            member: state.member,
        };
        let key = name::fold(&display);
        let before = self.remote.get(&id).cloned();
        if let Some(old) = &before {
            if self.remote_names.get(&name::fold(&old.state.name)) == Some(&id) {
                self.remote_names.remove(&name::fold(&old.state.name));
            }
            if old.room_key != key
                && let Some(room) = self.rooms.get_mut(&old.room_key)
            {
                room.remote.remove(&id);
            }
        }
        self.remote_names
            .insert(name::fold(&state.name), id.clone());
        if let Some(account) = &state.account {
            // The node it is on took the name for its account from the shared directory:
            // learn it now rather than at the next refresh (for offline messages, say).
            self.claims.claim(account, &state.name);
        }
        self.rooms
            .entry(key.clone())
            .or_insert_with(|| super::Room::new(display.clone()))
            .remote
            .insert(id.clone());
        let name = state.name.clone();
        self.remote_by_node
            .entry(id.node.clone())
            .or_default()
            .insert(id.member);
        self.remote.insert(
            id,
            RemoteMember {
                state,
                room_key: key.clone(),
            },
        );
        match (before, change) {
            // A snapshot or a repeat of what we know: nothing to announce.
            (Some(old), Change::Joined) if old.room_key == key && old.state.name == name => {}
            (Some(old), Change::Moved { .. } | Change::Joined) if old.room_key != key => {
                let kind = EventKind::Moved {
                    room: self.room_name(&old.room_key),
                    name: old.state.name.clone(),
                    to: display,
                };
                self.broadcast(&old.room_key, None, Arc::new(Event::new(now, kind)));
                self.drop_room_if_idle(&old.room_key);
                self.announce_join(&key, name, now);
            }
            (Some(old), Change::Renamed { .. } | Change::Joined) if old.state.name != name => {
                let kind = EventKind::Renamed {
                    room: display,
                    old: old.state.name,
                    new: name,
                };
                self.broadcast(&key, None, Arc::new(Event::new(now, kind)));
            }
            (Some(_), _) => {}
            (None, Change::Updated) => {}
            (None, _) => self.announce_join(&key, name, now),
        }
    }

    /// A member of another node went.
    pub fn remote_gone(&mut self, id: &RemoteId, how: Departure, now: DateTime<Utc>) {
        let Some(gone) = self.forget_remote(id) else {
            return;
        };
        let key = gone.room_key.clone();
        match how {
            Departure::Left => {
                let after = now - gone.state.connected_at;
                self.announce_leave(&key, None, gone.state.name, after, now);
            }
            Departure::Removed { by, reason, banned } => {
                let kind = EventKind::Removed {
                    room: self.room_name(&key),
                    name: gone.state.name,
                    by,
                    reason,
                    banned,
                };
                self.broadcast(&key, None, Arc::new(Event::new(now, kind)));
            }
        }
        self.drop_room_if_idle(&key);
    }

    fn forget_remote(&mut self, id: &RemoteId) -> Option<RemoteMember> {
        let gone = self.remote.remove(id)?;
        if self.remote_names.get(&name::fold(&gone.state.name)) == Some(id) {
            self.remote_names.remove(&name::fold(&gone.state.name));
        }
        if let Some(room) = self.rooms.get_mut(&gone.room_key) {
            room.remote.remove(id);
        }
        if let Some(ids) = self.remote_by_node.get_mut(&id.node) {
            ids.remove(&id.member);
            if ids.is_empty() {
                self.remote_by_node.remove(&id.node);
            }
        }
        // Members whose `/reply` would go to it are not looked for (that would scan every
        // member at each departure): `/reply` checks its target is still the same member.
        Some(gone)
    }

    /// A node stopped answering (killed, cut off): its members are announced as leaving.
    pub fn node_gone(&mut self, node: &str, now: DateTime<Utc>) {
        for id in self.remote_of(node) {
            self.remote_gone(&id, Departure::Left, now);
        }
    }

    /// Everything a node says it has: members it no longer lists left, new ones joined.
    pub fn node_snapshot(&mut self, node: &str, states: Vec<MemberState>, now: DateTime<Utc>) {
        let listed: std::collections::HashSet<u64> = states.iter().map(|s| s.member).collect();
        for id in self.remote_of(node) {
            if !listed.contains(&id.member) {
                self.remote_gone(&id, Departure::Left, now);
            }
        }
        for state in states {
            self.remote_present(node, state, Change::Joined, now);
        }
    }

    /// The nodes this hub knows members of.
    pub fn remote_nodes(&self) -> Vec<String> {
        let mut nodes: Vec<String> = self.remote_by_node.keys().cloned().collect();
        nodes.sort();
        nodes
    }

    /// The members of `node` mirrored here, in id order.
    fn remote_of(&self, node: &str) -> Vec<RemoteId> {
        self.remote_by_node
            .get(node)
            .into_iter()
            .flatten()
            .map(|&member| RemoteId {
                node: node.to_owned(),
                member,
            })
            .collect()
    }

    /// How many members of other nodes this hub mirrors.
    pub fn remote_len(&self) -> usize {
        self.remote.len()
    }

    /// The member of another node holding `name` (any case, look-alikes included), if any.
    pub fn remote_holder(&self, name: &str) -> Option<&RemoteId> {
        self.remote_names.get(&name::fold(name))
    }

    /// A private message from a member of another node for member `to` here.
    #[allow(clippy::too_many_arguments)]
    pub fn remote_private(
        &mut self,
        to: u64,
        from: RemoteId,
        from_name: &str,
        from_account: Option<&str>,
        text: &str,
        at: DateTime<Utc>,
    ) {
        let Some(id) = self.local_member(to) else {
            return;
        };
        let member = self.members.get_mut(&id).expect("local_member found it");
        let by_account = from_account.is_some_and(|a| {
            member
                .ignoring
                .iter()
                .any(|i| i.account.as_deref() == Some(a))
        });
        let by_name = member
            .ignoring
            .iter()
            .any(|i| name::fold(&i.name) == name::fold(from_name));
        if by_account || by_name {
            return;
        }
        member.reply_to = None;
        let since = self.remote.get(&from).map(|m| m.state.connected_at);
        let member = self.members.get_mut(&id).expect("local_member found it");
        member.reply_remote = since.map(|since| (from, since));
        let event = Event::new(
            at,
            EventKind::PrivateFrom {
                from: from_name.to_owned(),
                text: text.to_owned(),
            },
        );
        self.deliver_to(id, Arc::new(event));
    }

    /// An operator of another node acts on member `target` here.
    pub fn remote_act(&mut self, target: u64, act: RemoteAct, now: DateTime<Utc>) {
        let Some(id) = self.local_member(target) else {
            return;
        };
        match act {
            RemoteAct::Kick { by, reason } => self.remove(id, &by, reason.as_deref(), false, now),
            RemoteAct::Mute { by, muted } => {
                let member = self.members.get_mut(&id).expect("local_member found it");
                if member.muted == muted {
                    return;
                }
                member.muted = muted;
                let told = if muted {
                    format!("{by} muted you: you can read, but what you say reaches nobody")
                } else {
                    format!("{by} unmuted you: you can talk again")
                };
                self.notify(id, now, NoticeLevel::Info, told);
                self.publish_state(id, Change::Updated);
            }
            RemoteAct::Rename { by, new } => {
                if super::commands::rename(self, id, &new, now).is_ok() {
                    let new = self.members[&id].name.clone();
                    self.notify(
                        id,
                        now,
                        NoticeLevel::Info,
                        format!("{by} renamed you to {new}"),
                    );
                }
            }
            RemoteAct::Replace => {
                if let Some(member) = self.members.get(&id) {
                    member
                        .outbox
                        .disconnect("you connected again from another session; this one is closed");
                }
                self.leave(id, now);
            }
            RemoteAct::MoveAside => self.name_lost(id, now),
        }
    }

    /// A ban made on another node: enforced here too, on whoever it covers.
    pub fn remote_ban(&mut self, ban: Ban, now: DateTime<Utc>) {
        self.bans.retain(|b| b.target != ban.target);
        let (by, reason) = (ban.by.clone(), ban.reason.clone());
        let covered = self.covered_by(&ban.target);
        self.bans.push(ban);
        for id in covered {
            self.remove(id, &by, Some(&reason), true, now);
        }
    }

    /// A ban lifted on another node.
    pub fn remote_unban(&mut self, target: &BanTarget) {
        self.bans.retain(|b| &b.target != target);
    }

    /// An account was made an operator (or stopped being one) on another node.
    pub fn remote_operator(&mut self, account: &str, granted: bool, by: &str, now: DateTime<Utc>) {
        if granted {
            self.operators.insert(account.to_owned());
        } else {
            self.operators.remove(account);
        }
        for id in self.members_of(account) {
            let was = self.members[&id].op;
            self.refresh_operator(id);
            if self.members[&id].op != was {
                let told = if granted {
                    format!("{by} made you an operator; /help lists your commands")
                } else {
                    format!("{by} took your operator rights away")
                };
                self.notify(id, now, NoticeLevel::Info, told);
            }
        }
    }

    /// The bus claimed `name` for the member across the cluster: it takes it now, if it still
    /// may here.
    pub fn name_granted(&mut self, id: MemberId, name: &str, now: DateTime<Utc>) {
        if let Err(super::commands::Refusal(why)) = super::commands::rename(self, id, name, now) {
            self.notify(id, now, NoticeLevel::Error, why);
        } else if let Some(m) = self.members.get(&id).filter(|m| !m.visible) {
            let notice = format!("you are now {}", m.name);
            self.notify(id, now, NoticeLevel::Info, notice);
        }
    }

    /// Someone elsewhere in the cluster holds `name`: the member keeps its own.
    pub fn name_refused(&mut self, id: MemberId, name: &str, now: DateTime<Utc>) {
        self.notify(
            id,
            now,
            NoticeLevel::Error,
            format!("the name {name} is taken (by someone on another server)"),
        );
    }

    /// The member's name turned out to be someone else's across the cluster (two nodes gave
    /// it out at the same moment, or its registered owner arrived): it moves to a free
    /// variant and is told.
    pub fn name_lost(&mut self, id: MemberId, now: DateTime<Utc>) {
        let Some(member) = self.members.get(&id) else {
            return;
        };
        let current = member.name.clone();
        let account = member.account.clone();
        let variant = name::numbered_variants(&current)
            .find(|n| self.name_is_free(n, account.as_deref(), Some(id)))
            .expect("the numbered variants of a name are endless");
        self.rename_session(id, variant.clone(), now);
        self.notify(
            id,
            now,
            NoticeLevel::Info,
            format!("{current} is held by someone else in this chat; you are {variant} now"),
        );
    }

    /// A member here or elsewhere, by name (an `@` in front is allowed).
    pub(super) fn target(&self, name: &str) -> Option<Target> {
        let bare = name.trim_start_matches('@');
        if let Some(id) = self.by_name.get(&name::fold(bare))
            && self.members.get(id).is_some_and(|m| m.visible)
        {
            return Some(Target::Local(*id));
        }
        self.remote_names
            .get(&name::fold(bare))
            .map(|id| Target::Remote(id.clone()))
    }

    pub(super) fn remote_state(&self, id: &RemoteId) -> Option<&MemberState> {
        self.remote.get(id).map(|r| &r.state)
    }

    /// `/whois` of a member on another node.
    pub(super) fn remote_whois(&self, id: &RemoteId, now: DateTime<Utc>) -> String {
        let Some(remote) = self.remote.get(id) else {
            return "gone".to_owned();
        };
        let m = &remote.state;
        let verified = m
            .account
            .as_deref()
            .is_some_and(|account| self.claims.owner(&m.name) == Some(account));
        let mut text = format!(
            "name: {} ({})\nkey: {}\nconnected: {} UTC ({} ago)\nroom: {}\nserver: {}",
            m.name,
            if verified { "verified" } else { "unverified" },
            m.fingerprint.as_deref().unwrap_or("none"),
            m.connected_at.format("%Y-%m-%d %H:%M"),
            crate::render::humanize(now - m.connected_at),
            m.room,
            id.node,
        );
        if let Some(reason) = &m.away {
            text.push_str(&format!(
                "\naway: {}",
                if reason.is_empty() { "yes" } else { reason }
            ));
        }
        text
    }

    /// The local members a ban target covers.
    pub(super) fn covered_by(&self, target: &BanTarget) -> Vec<MemberId> {
        let mut ids: Vec<MemberId> = self
            .members
            .iter()
            .filter(|(_, m)| match target {
                BanTarget::Account(id) => m.account.as_deref() == Some(id.as_str()),
                BanTarget::Key(fp) => m.fingerprint.as_deref() == Some(fp.as_str()),
                BanTarget::Ip(ip) => m.ip == Some(*ip),
            })
            .map(|(id, _)| *id)
            .collect();
        ids.sort();
        ids
    }
}
