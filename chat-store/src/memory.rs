//! A store in memory: for tests, and for running without a disk.

use std::collections::HashMap;

use chat_core::journal::{
    AuditEntry, Ban, OfflineMessage, Profile, Record, Settings, Snapshot, StoredLine,
};
use chat_core::name;
use chrono::{DateTime, Utc};
use parking_lot::Mutex;

use crate::{Retention, Store, StoreError};

#[derive(Debug, Default)]
struct State {
    /// Every line, in the order written.
    lines: Vec<StoredLine>,
    settings: HashMap<String, Settings>,
    /// Fingerprint → messages waiting, oldest first.
    offline: HashMap<String, Vec<OfflineMessage>>,
    bans: Vec<Ban>,
    audit: Vec<AuditEntry>,
}

/// Everything in a `Mutex`, gone when dropped.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }
}

impl Store for MemoryStore {
    fn snapshot(&self, lines_per_room: usize, rooms: usize) -> Result<Snapshot, StoreError> {
        let state = self.state.lock();
        // Rooms by their most recent line, newest first.
        let mut last_seen: Vec<(String, usize)> = Vec::new();
        for (index, line) in state.lines.iter().enumerate().rev() {
            let room = name::fold(&line.room);
            if !last_seen.iter().any(|(r, _)| *r == room) {
                last_seen.push((room, index));
            }
        }
        last_seen.truncate(rooms);
        let mut history = Vec::new();
        for (room, _) in last_seen.iter().rev() {
            let lines: Vec<&StoredLine> = state
                .lines
                .iter()
                .filter(|l| name::fold(&l.room) == *room)
                .collect();
            let skip = lines.len().saturating_sub(lines_per_room);
            history.extend(lines.into_iter().skip(skip).cloned());
        }
        Ok(Snapshot {
            // Names belong to accounts, which the directory keeps.
            claims: Vec::new(),
            history,
            offline_counts: state
                .offline
                .iter()
                .filter(|(_, m)| !m.is_empty())
                .map(|(fp, m)| (fp.clone(), m.len()))
                .collect(),
            bans: state.bans.clone(),
            // Operators are accounts', which the directory keeps.
            operators: Vec::new(),
        })
    }

    fn profile(&self, owner: &str) -> Result<Profile, StoreError> {
        let state = self.state.lock();
        Ok(Profile {
            settings: state.settings.get(owner).cloned().unwrap_or_default(),
            offline: state.offline.get(owner).cloned().unwrap_or_default(),
        })
    }

    fn apply(&self, records: &[Record]) -> Result<(), StoreError> {
        let mut state = self.state.lock();
        for record in records {
            match record {
                Record::Line(line) => state.lines.push(line.clone()),
                Record::Claim { .. } => {}
                Record::Profile { owner, settings } => {
                    state.settings.insert(owner.clone(), settings.clone());
                }
                Record::Offline(message) => state
                    .offline
                    .entry(message.to.clone())
                    .or_default()
                    .push(message.clone()),
                Record::Ban(ban) => {
                    state.bans.retain(|b| b.target != ban.target);
                    state.bans.push(ban.clone());
                }
                Record::Unban(target) => state.bans.retain(|b| b.target != *target),
                // Operators are accounts', which the directory keeps.
                Record::Operator { .. } => {}
                Record::Audit(entry) => state.audit.push(entry.clone()),
                Record::OfflineDelivered { owner, count } => {
                    if let Some(waiting) = state.offline.get_mut(owner) {
                        waiting.drain(..(*count).min(waiting.len()));
                    }
                }
            }
        }
        Ok(())
    }

    fn history(&self, room: &str, limit: usize) -> Result<Vec<StoredLine>, StoreError> {
        let state = self.state.lock();
        let room = name::fold(room);
        let lines: Vec<&StoredLine> = state
            .lines
            .iter()
            .filter(|l| name::fold(&l.room) == room)
            .collect();
        let skip = lines.len().saturating_sub(limit);
        Ok(lines.into_iter().skip(skip).cloned().collect())
    }

    fn prune(&self, retention: Retention, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let mut state = self.state.lock();
        let before = state.lines.len();
        if let Some(max_age) = retention.max_age {
            let cutoff =
                now - chrono::TimeDelta::from_std(max_age).unwrap_or(chrono::TimeDelta::MAX);
            state.lines.retain(|l| l.at >= cutoff);
        }
        let mut kept_per_room: HashMap<String, usize> = HashMap::new();
        let mut keep = vec![false; state.lines.len()];
        for (index, line) in state.lines.iter().enumerate().rev() {
            let count = kept_per_room.entry(name::fold(&line.room)).or_insert(0);
            if *count < retention.lines_per_room {
                *count += 1;
                keep[index] = true;
            }
        }
        let mut index = 0;
        state.lines.retain(|_| {
            index += 1;
            keep[index - 1]
        });
        Ok(before - state.lines.len())
    }

    fn line_count(&self) -> Result<usize, StoreError> {
        Ok(self.state.lock().lines.len())
    }
}
