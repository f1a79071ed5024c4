//! Who may have which name: names held online, and names owned by keys.
//!
//! A key owns one name, the last it used: the first key to take a free name owns it, and
//! taking another name gives the old one up. Owning only one name keeps a key from squatting
//! on many. Nobody else (another key, or a keyless user) can take an owned name, online or
//! not; its key gets it back on every visit.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::{Hub, MemberId, Outbox};
use crate::journal::Journal;
use crate::name;

/// Names owned by keys.
#[derive(Debug, Default)]
pub(super) struct Claims {
    /// Folded name → owning fingerprint.
    owners: HashMap<String, String>,
    /// Fingerprint → the name it owns, as spelled when claimed.
    names: HashMap<String, String>,
}

impl Claims {
    /// The key that owns `name` (any case).
    pub fn owner(&self, name: &str) -> Option<&str> {
        self.owners.get(&name::fold(name)).map(String::as_str)
    }

    /// The name `fingerprint` owns.
    pub fn owned_by(&self, fingerprint: &str) -> Option<&str> {
        self.names.get(fingerprint).map(String::as_str)
    }

    /// Gives `name` to `fingerprint`, releasing the name it owned before. The caller checks
    /// that no other key owns `name`.
    pub fn claim(&mut self, fingerprint: &str, name: &str) {
        if let Some(old) = self.names.insert(fingerprint.to_owned(), name.to_owned()) {
            self.owners.remove(&name::fold(&old));
        }
        self.owners.insert(name::fold(name), fingerprint.to_owned());
    }
}

impl<O: Outbox, J: Journal> Hub<O, J> {
    /// Whether `candidate` may be taken by the member `except` (if it is renaming) with key
    /// `fingerprint`: nobody else holds it online, and no other key owns it.
    pub(super) fn name_is_free(
        &self,
        candidate: &str,
        fingerprint: Option<&str>,
        except: Option<MemberId>,
    ) -> bool {
        let held = self
            .by_name
            .get(&name::fold(candidate))
            .is_some_and(|holder| Some(*holder) != except);
        let owned_by_other = self
            .claims
            .owner(candidate)
            .is_some_and(|owner| Some(owner) != fingerprint);
        !held && !owned_by_other
    }

    /// `wanted`, or its first numbered variant that is free.
    pub(super) fn free_name(
        &self,
        wanted: &str,
        fingerprint: Option<&str>,
        except: Option<MemberId>,
    ) -> String {
        if self.name_is_free(wanted, fingerprint, except) {
            return wanted.to_owned();
        }
        name::numbered_variants(wanted)
            .find(|n| self.name_is_free(n, fingerprint, except))
            .expect(
                "the numbered variants of a name are endless, and members and claims are finite",
            )
    }

    /// Why `wanted` is not free for a member with `fingerprint`, in words.
    pub(super) fn why_taken(&self, wanted: &str, fingerprint: Option<&str>) -> String {
        let holder = self
            .by_name
            .get(&name::fold(wanted))
            .and_then(|id| self.members.get(id))
            .map(|m| m.name.clone());
        let owned = self
            .claims
            .owner(wanted)
            .filter(|owner| Some(*owner) != fingerprint)
            .and_then(|owner| self.claims.owned_by(owner))
            .map(str::to_owned);
        match holder.or(owned) {
            Some(theirs) if !name::same_but_case(&theirs, wanted) => {
                format!("{wanted} looks too much like {theirs}")
            }
            _ => format!("{wanted} is taken"),
        }
    }

    /// If a visible session of the same key holds `wanted`, it is a ghost of this member
    /// (an old connection not yet timed out, or a second terminal): close it and free the name.
    pub(super) fn replace_ghost(&mut self, wanted: &str, fingerprint: &str, now: DateTime<Utc>) {
        let Some(&holder) = self.by_name.get(&name::fold(wanted)) else {
            return;
        };
        let same_key = self
            .members
            .get(&holder)
            .is_some_and(|m| m.visible && m.fingerprint.as_deref() == Some(fingerprint));
        if same_key {
            if let Some(member) = self.members.get(&holder) {
                member
                    .outbox
                    .disconnect("you connected again from another session; this one is closed");
            }
            self.leave(holder, now);
        }
    }
}
