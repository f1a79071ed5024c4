//! What the hub is told about accounts, and by whom.
//!
//! The key directory (the edge's) is the authority on which account owns which name and who
//! is an operator; the hub keeps what it was told so that it can answer at once, under its
//! lock, without waiting on the directory. The edge tells it at start-up
//! ([`Hub::restore`](super::Hub::restore)), with each member that joins
//! ([`JoinRequest::account`](super::JoinRequest)), when a change is made elsewhere (a web
//! page, `chat-cli accounts`: [`Hub::account_changed`]), and when the directory refuses a
//! rename the hub already made ([`Hub::claim_refused`]).

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::{AccountRef, Hub, MemberId, Outbox};
use crate::event::{Event, EventKind, NoticeLevel};
use crate::journal::Journal;
use crate::name;

impl<O: Outbox, J: Journal> Hub<O, J> {
    /// Learns which account owns which name (`(name, account id)` pairs, as the directory
    /// lists them). A name that would not pass as a name today is not honoured.
    pub fn learn_names(&mut self, names: Vec<(String, String)>) {
        for (name, account) in names {
            if name::clean_name(&name).as_deref() == Some(name.as_str()) {
                self.claims.claim(&account, &name);
            }
        }
    }

    /// Whether a member with this key and account is an operator: its key is in the admins
    /// file, or its account is an operator's.
    pub fn is_operator(&self, fingerprint: Option<&str>, account: Option<&str>) -> bool {
        fingerprint.is_some_and(|fp| self.admins.contains(fp))
            || account.is_some_and(|a| self.operators.contains(a))
    }

    /// The directory says this is what `account` is now (renamed or made an operator
    /// somewhere else): its members online take the new name (if nobody else holds it) and
    /// rights at once.
    pub fn account_changed(&mut self, account: &AccountRef, now: DateTime<Utc>) {
        self.claims.claim(&account.id, &account.name);
        if account.operator {
            self.operators.insert(account.id.clone());
        } else {
            self.operators.remove(&account.id);
        }
        for id in self.members_of(&account.id) {
            self.refresh_operator(id);
            let holds_it = self.members[&id].name == account.name;
            if !holds_it
                && self.members[&id].visible
                && self.name_is_free(&account.name, Some(&account.id), Some(id))
            {
                let notice = format!("your account is now called {}", account.name);
                self.rename_session(id, account.name.clone(), now);
                self.notify(id, now, NoticeLevel::Info, notice);
            }
        }
    }

    /// The directory refused to give `name` to `account` (the hub had already renamed its
    /// member, believing the name free): `owner` (id and spelling) has it. The member moves
    /// to a free variant and is told why.
    pub fn claim_refused(
        &mut self,
        account: &str,
        name: &str,
        owner: Option<(String, String)>,
        now: DateTime<Utc>,
    ) {
        match owner {
            Some((owner, spelling)) => self.claims.claim(&owner, &spelling),
            None => {
                if self
                    .claims
                    .owned_by(account)
                    .is_some_and(|n| name::fold(n) == name::fold(name))
                {
                    self.claims.release(account);
                }
            }
        }
        for id in self.members_of(account) {
            if name::fold(&self.members[&id].name) != name::fold(name) {
                continue;
            }
            let variant = self.free_name(name, None, Some(id));
            self.rename_session(id, variant.clone(), now);
            self.notify(
                id,
                now,
                NoticeLevel::Error,
                format!(
                    "{name} is registered to someone else, so it could not be yours; you are {variant} for now"
                ),
            );
        }
    }

    /// The account is gone from the directory: its members stay, unverified, and its name is
    /// free.
    pub fn account_deleted(&mut self, account: &str, now: DateTime<Utc>) {
        self.claims.release(account);
        self.operators.remove(account);
        for id in self.by_account.remove(account).unwrap_or_default() {
            if let Some(member) = self.members.get_mut(&id) {
                member.account = None;
            }
            self.refresh_operator(id);
            self.notify(
                id,
                now,
                NoticeLevel::Info,
                "your account was deleted; you stay in as an unverified name".to_owned(),
            );
        }
    }

    /// If someone who is not of `account` holds `wanted` online while `account` owns it (they
    /// took it before the hub knew it was registered), they move to a free variant: the
    /// owner has arrived.
    pub(super) fn move_aside(&mut self, wanted: &str, account: &str, now: DateTime<Utc>) {
        if self.claims.owner(wanted) != Some(account) {
            return;
        }
        let Some(&holder) = self.by_name.get(&name::fold(wanted)) else {
            return;
        };
        if self.members[&holder].account.as_deref() == Some(account) {
            return;
        }
        let current = self.members[&holder].name.clone();
        let holder_account = self.members[&holder].account.clone();
        let variant = self.free_name(&current, holder_account.as_deref(), Some(holder));
        self.rename_session(holder, variant.clone(), now);
        self.notify(
            holder,
            now,
            NoticeLevel::Info,
            format!("{current} is a registered name and its owner is here; you are {variant} now"),
        );
    }

    /// The members of an account online, in id order.
    pub(super) fn members_of(&self, account: &str) -> Vec<MemberId> {
        self.by_account
            .get(account)
            .map(|ids| ids.iter().copied().collect())
            .unwrap_or_default()
    }

    /// A member of `account` left: the index of members by account forgets it.
    pub(super) fn forget_account_member(&mut self, account: &str, id: MemberId) {
        if let Some(ids) = self.by_account.get_mut(account) {
            ids.remove(&id);
            if ids.is_empty() {
                self.by_account.remove(account);
            }
        }
    }

    /// Renames a member's session (not its account: nothing is recorded) and tells its room.
    pub(super) fn rename_session(&mut self, id: MemberId, new: String, now: DateTime<Utc>) {
        let Some(member) = self.members.get_mut(&id) else {
            return;
        };
        let old = std::mem::replace(&mut member.name, new.clone());
        let (visible, room) = (member.visible, member.room.clone());
        if self.by_name.get(&name::fold(&old)) == Some(&id) {
            self.by_name.remove(&name::fold(&old));
        }
        self.by_name.insert(name::fold(&new), id);
        if visible {
            let kind = EventKind::Renamed {
                room: self.room_name(&room),
                old: old.clone(),
                new,
            };
            self.broadcast(&room, None, Arc::new(Event::new(now, kind)));
            self.publish_state(id, super::cluster::Change::Renamed { old });
        }
    }
}
