//! Announcing joins and leaves: at once when a room is calm, gathered into one line when many
//! come together (a server restarting, everyone reconnecting), so that N arrivals cost N
//! announcements to the room rather than one per arrival to everyone: N² deliveries.
//!
//! With a zero [`HubConfig::presence_window`](super::HubConfig) (the default) every join and
//! leave is announced at once. Otherwise a join or leave within the window after the room's
//! last announcement waits, and [`Hub::tick`] announces what has waited once the window has
//! passed: the edge calls it a few times a second.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};

use super::{Hub, MemberId, Outbox};
use crate::event::{Event, EventKind};
use crate::journal::Journal;

/// A room's announcements that are waiting.
#[derive(Debug, Default)]
pub(super) struct Presence {
    joins: Vec<String>,
    leaves: Vec<(String, TimeDelta)>,
    /// When the room last had a join or leave announced.
    last: Option<DateTime<Utc>>,
}

/// Rooms with announcements waiting, by folded name.
pub(super) type Due = BTreeSet<String>;

impl<O: Outbox, J: Journal> Hub<O, J> {
    /// Announces (now or soon) that `name` joined the room `key`.
    pub(super) fn announce_join(&mut self, key: &str, name: String, now: DateTime<Utc>) {
        if self.is_calm(key, now) {
            let Some(room) = self.rooms.get_mut(key) else {
                return;
            };
            room.presence.last = Some(now);
            let kind = EventKind::Joined {
                room: room.name.clone(),
                name,
                count: room.members.len() + room.remote.len(),
            };
            self.broadcast(key, None, Arc::new(Event::new(now, kind)));
        } else if let Some(room) = self.rooms.get_mut(key) {
            room.presence.joins.push(name);
            self.presence_due.insert(key.to_owned());
        }
    }

    /// Announces (now or soon) that `name` (member `id`, connected for `after`) left `key`.
    pub(super) fn announce_leave(
        &mut self,
        key: &str,
        id: Option<MemberId>,
        name: String,
        after: TimeDelta,
        now: DateTime<Utc>,
    ) {
        if self.is_calm(key, now) {
            let Some(room) = self.rooms.get_mut(key) else {
                return;
            };
            room.presence.last = Some(now);
            let kind = EventKind::Left {
                room: room.name.clone(),
                name,
                after,
            };
            self.broadcast(key, id, Arc::new(Event::new(now, kind)));
        } else if let Some(room) = self.rooms.get_mut(key) {
            // Someone who came and went within one window is not worth two lines.
            if let Some(at) = room.presence.joins.iter().position(|n| *n == name) {
                room.presence.joins.remove(at);
            } else {
                room.presence.leaves.push((name, after));
            }
            self.presence_due.insert(key.to_owned());
        }
    }

    /// Whether an announcement in room `key` may go out at once.
    fn is_calm(&self, key: &str, now: DateTime<Utc>) -> bool {
        if self.config.presence_window <= TimeDelta::zero() {
            return true;
        }
        self.rooms.get(key).is_none_or(|room| {
            let window = self.presence_window_for(room.members.len() + room.remote.len());
            let p = &room.presence;
            p.joins.is_empty()
                && p.leaves.is_empty()
                && p.last.is_none_or(|last| now - last >= window)
        })
    }

    /// Announces the joins and leaves that have waited out their window. Cheap when nothing
    /// waits; the edge calls it a few times a second.
    pub fn tick(&mut self, now: DateTime<Utc>) {
        if self.presence_due.is_empty() {
            return;
        }
        let due: Vec<String> = self
            .presence_due
            .iter()
            .filter(|key| {
                self.rooms.get(*key).is_none_or(|room| {
                    let window = self.presence_window_for(room.members.len() + room.remote.len());
                    room.presence.last.is_none_or(|last| now - last >= window)
                })
            })
            .cloned()
            .collect();
        for key in due {
            self.presence_due.remove(&key);
            self.flush_presence(&key, now);
        }
    }

    /// How long announcements wait in a room of `members`, counted on every node of a
    /// cluster: each node announces to its own members, so a room of 100,000 over six nodes
    /// would otherwise hear of arrivals six times as often as one of 100,000 on one.
    fn presence_window_for(&self, members: usize) -> TimeDelta {
        let per_member = self.config.presence_window_per_member;
        let extra = i32::try_from(members).map_or(TimeDelta::MAX, |n| per_member * n);
        self.config.presence_window.max(extra)
    }

    fn flush_presence(&mut self, key: &str, now: DateTime<Utc>) {
        let Some(room) = self.rooms.get_mut(key) else {
            return;
        };
        let joins = std::mem::take(&mut room.presence.joins);
        let mut leaves = std::mem::take(&mut room.presence.leaves);
        room.presence.last = Some(now);
        let (room_name, count) = (room.name.clone(), room.members.len() + room.remote.len());
        let mut events = Vec::new();
        match joins.len() {
            0 => {}
            1 => events.push(EventKind::Joined {
                room: room_name.clone(),
                name: joins.into_iter().next().expect("one join"),
                count,
            }),
            _ => events.push(EventKind::JoinedMany {
                room: room_name.clone(),
                names: joins,
                count,
            }),
        }
        match leaves.len() {
            0 => {}
            1 => {
                let (name, after) = leaves.pop().expect("one leave");
                events.push(EventKind::Left {
                    room: room_name,
                    name,
                    after,
                });
            }
            _ => events.push(EventKind::LeftMany {
                room: room_name,
                names: leaves.into_iter().map(|(name, _)| name).collect(),
                count,
            }),
        }
        for kind in events {
            self.broadcast(key, None, Arc::new(Event::new(now, kind)));
        }
    }
}
