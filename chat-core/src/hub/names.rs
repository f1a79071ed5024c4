//! Who may have which name: names held online, and names owned by accounts.
//!
//! An account owns one name, the last it used: taking another name gives the old one up.
//! Owning only one name keeps an account from squatting on many. Nobody else (another
//! account, or someone without one) can take an owned name, online or not; the account's
//! members get it on every visit. The key directory is the authority on which account owns
//! which name; the hub keeps what it has been told, so that it can answer at once.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::{Hub, MemberId, Outbox};
use crate::journal::Journal;
use crate::name;

/// Names owned by accounts.
#[derive(Debug, Default)]
pub(super) struct Claims {
    /// Folded name → owning account id.
    owners: HashMap<String, String>,
    /// Account id → the name it owns, as spelled.
    names: HashMap<String, String>,
}

impl Claims {
    /// The account that owns `name` (any case).
    pub fn owner(&self, name: &str) -> Option<&str> {
        self.owners.get(&name::fold(name)).map(String::as_str)
    }

    /// The name `account` owns.
    pub fn owned_by(&self, account: &str) -> Option<&str> {
        self.names.get(account).map(String::as_str)
    }

    /// Gives `name` to `account`, releasing the name it owned before. Another account that
    /// was thought to own `name` no longer does: the newest word (the directory's, or a
    /// rename it will be told of) wins.
    pub fn claim(&mut self, account: &str, name: &str) {
        if let Some(old) = self.names.insert(account.to_owned(), name.to_owned()) {
            self.owners.remove(&name::fold(&old));
        }
        if let Some(previous) = self.owners.insert(name::fold(name), account.to_owned())
            && previous != account
        {
            self.names.remove(&previous);
        }
    }

    /// Forgets the account and its name.
    pub fn release(&mut self, account: &str) {
        if let Some(old) = self.names.remove(account) {
            self.owners.remove(&name::fold(&old));
        }
    }
}

impl<O: Outbox, J: Journal> Hub<O, J> {
    /// Whether a newcomer of `account` (if any) may take `candidate`, as far as this hub
    /// knows: nobody here or on another node holds it, and no other account owns it.
    pub fn may_take(&self, candidate: &str, account: Option<&str>) -> bool {
        self.name_is_free(candidate, account, None)
    }

    /// Whether `candidate` may be taken by the member `except` (if it is renaming) of
    /// `account`: nobody else holds it online, and no other account owns it.
    pub(super) fn name_is_free(
        &self,
        candidate: &str,
        account: Option<&str>,
        except: Option<MemberId>,
    ) -> bool {
        let held = self
            .by_name
            .get(&name::fold(candidate))
            .is_some_and(|holder| Some(*holder) != except);
        let held = held || self.remote_names.contains_key(&name::fold(candidate));
        let owned_by_other = self
            .claims
            .owner(candidate)
            .is_some_and(|owner| Some(owner) != account);
        !held && !owned_by_other
    }

    /// `wanted`, or its first numbered variant that is free.
    pub(super) fn free_name(
        &self,
        wanted: &str,
        account: Option<&str>,
        except: Option<MemberId>,
    ) -> String {
        if self.name_is_free(wanted, account, except) {
            return wanted.to_owned();
        }
        name::numbered_variants(wanted)
            .find(|n| self.name_is_free(n, account, except))
            .expect(
                "the numbered variants of a name are endless, and members and claims are finite",
            )
    }

    /// Why `wanted` is not free for a member of `account`, in words.
    pub(super) fn why_taken(&self, wanted: &str, account: Option<&str>) -> String {
        let holder = self
            .by_name
            .get(&name::fold(wanted))
            .and_then(|id| self.members.get(id))
            .map(|m| m.name.clone())
            .or_else(|| {
                let id = self.remote_names.get(&name::fold(wanted))?;
                self.remote.get(id).map(|r| r.state.name.clone())
            });
        let owned = self
            .claims
            .owner(wanted)
            .filter(|owner| Some(*owner) != account)
            .and_then(|owner| self.claims.owned_by(owner))
            .map(str::to_owned);
        match holder.or(owned) {
            Some(theirs) if !name::same_but_case(&theirs, wanted) => {
                format!("{wanted} looks too much like {theirs}")
            }
            _ => format!("{wanted} is taken"),
        }
    }

    /// If a visible session of the same account holds `wanted`, it is a ghost of this member
    /// (an old connection not yet timed out, or a second terminal): close it and free the name.
    pub(super) fn replace_ghost(&mut self, wanted: &str, account: &str, now: DateTime<Utc>) {
        let Some(&holder) = self.by_name.get(&name::fold(wanted)) else {
            return;
        };
        let same_account = self
            .members
            .get(&holder)
            .is_some_and(|m| m.visible && m.account.as_deref() == Some(account));
        if same_account {
            if let Some(member) = self.members.get(&holder) {
                member
                    .outbox
                    .disconnect("you connected again from another session; this one is closed");
            }
            self.leave(holder, now);
        }
    }
}
