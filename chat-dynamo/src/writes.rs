//! Every change is one `TransactWriteItems`, planned from the account as read and as it
//! should be.
//!
//! [`plan`] turns "this account was like this (at this `rev`) and shall be like that" into
//! the elements of one transaction: the `ACCOUNT#` item (guarded by its `rev`), every
//! `KEY#` item (new ones claimed with `attribute_not_exists(pk)`, kept ones rewritten as
//! the account's copy, removed ones deleted), the `NAME#` claim (a new name claimed with
//! `attribute_not_exists(pk)`, the old one released), and for audited changes the audit
//! counter (guarded by the value read) and the new audit entry. DynamoDB applies all of
//! them or none, and when it refuses it says which element's condition failed; [`Role`]
//! turns that index back into what it means.
//!
//! A failed guard (`rev`, counter) means someone else changed something first: the caller
//! reads again and retries ([`DynamoDirectory::retrying`]). A failed claim is the answer:
//! the name or key is taken. The SDK gives each transaction a `ClientRequestToken`, so its
//! own retry of a transaction whose answer was lost does not fail on its own claims.

use std::collections::HashSet;
use std::future::Future;
use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};
use chat_store::directory::{Account, Actor, DirectoryError, MAX_KEYS_PER_ACCOUNT, new_account_id};
use rand::RngExt;

use crate::DynamoDirectory;
use crate::errors::{self, Cancelled};
use crate::items::{
    self, ACCOUNT_ID, AUDIT_COUNTER_PK, COUNTER, Item, PK, REV, Stored, account_pk, key_pk, name_pk,
};

/// Reads-and-retries of one change before it gives up as `Unavailable`: only other
/// changes committing first cause a retry, so this is plenty for a human-paced directory.
const CHANGE_ATTEMPTS: u32 = 8;

/// What an element of the transaction is, so a failed condition can be explained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The `ACCOUNT#` item: created (the id must be free) or guarded by its `rev`.
    Account,
    /// A `KEY#` item claimed for this account: fails if the key is in any account.
    NewKey,
    /// A `KEY#` item the account already holds, rewritten or deleted.
    Key,
    /// A `NAME#` item claimed for this account: fails if the name (or a look-alike) is taken.
    NewName,
    /// The account's own `NAME#` item, respelled or released.
    Name,
    /// The audit counter, guarded by the value read.
    Counter,
    /// The new audit entry.
    Audit,
}

/// An audited change: the counter's value as read, who, and what in words.
#[derive(Debug, Clone)]
pub struct Audit<'a> {
    pub seen: u64,
    pub actor: &'a Actor,
    pub action: String,
}

/// The elements of one transaction, each with its role.
#[derive(Debug, Default)]
pub struct Plan {
    elements: Vec<(Role, TransactWriteItem)>,
}

/// A condition on one element.
enum Guard<'a> {
    /// `attribute_not_exists(pk)`: a claim.
    Free,
    /// The account item still has the `rev` that was read.
    Rev(&'a str),
    /// The item belongs to this account.
    OwnedBy(&'a str),
    /// The audit counter still has the value that was read (0: it does not exist yet).
    Counter(u64),
}

/// What an element does to its item.
enum Op {
    Put(Item),
    /// By `pk`.
    Delete(String),
}

impl Plan {
    fn push(
        &mut self,
        table: &str,
        role: Role,
        op: Op,
        guard: Guard<'_>,
    ) -> Result<(), DirectoryError> {
        let (expression, name, value) = match guard {
            Guard::Free | Guard::Counter(0) => ("attribute_not_exists(#a)", PK, None),
            Guard::Rev(rev) => ("#a = :v", REV, Some(AttributeValue::S(rev.to_owned()))),
            Guard::OwnedBy(id) => (
                "#a = :v",
                ACCOUNT_ID,
                Some(AttributeValue::S(id.to_owned())),
            ),
            Guard::Counter(n) => ("#a = :v", COUNTER, Some(AttributeValue::N(n.to_string()))),
        };
        let expression = Some(expression.to_owned());
        let names = Some([("#a".to_owned(), name.to_owned())].into());
        let values = value.map(|value| [(":v".to_owned(), value)].into());
        let bad = |e: aws_sdk_dynamodb::error::BuildError| {
            DirectoryError::Backend(format!("a bad change: {e}"))
        };
        let element = match op {
            Op::Put(item) => TransactWriteItem::builder().put(
                Put::builder()
                    .table_name(table)
                    .set_item(Some(item))
                    .set_condition_expression(expression)
                    .set_expression_attribute_names(names)
                    .set_expression_attribute_values(values)
                    .build()
                    .map_err(bad)?,
            ),
            Op::Delete(pk) => TransactWriteItem::builder().delete(
                Delete::builder()
                    .table_name(table)
                    .key(PK, AttributeValue::S(pk))
                    .set_condition_expression(expression)
                    .set_expression_attribute_names(names)
                    .set_expression_attribute_values(values)
                    .build()
                    .map_err(bad)?,
            ),
        };
        self.elements.push((role, element.build()));
        Ok(())
    }

    fn put(
        &mut self,
        table: &str,
        role: Role,
        item: Item,
        guard: Guard<'_>,
    ) -> Result<(), DirectoryError> {
        self.push(table, role, Op::Put(item), guard)
    }

    fn delete(
        &mut self,
        table: &str,
        role: Role,
        pk: String,
        guard: Guard<'_>,
    ) -> Result<(), DirectoryError> {
        self.push(table, role, Op::Delete(pk), guard)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.elements.len()
    }
}

/// Plans the change of one account from `before` (as read; `None` to create it) to `after`
/// (`None` to delete it).
pub fn plan(
    table: &str,
    before: Option<&Stored>,
    after: Option<&Account>,
    audit: Option<Audit<'_>>,
) -> Result<Plan, DirectoryError> {
    let mut plan = Plan::default();
    let Some(id) = after
        .map(|a| a.id.as_str())
        .or(before.map(|b| b.account.id.as_str()))
    else {
        return Ok(plan);
    };
    let rev = new_account_id();
    if let Some(after) = after {
        // Checked here, for every path: each key is one element, and one item may appear in
        // a transaction only once.
        if after.keys.len() > MAX_KEYS_PER_ACCOUNT {
            return Err(DirectoryError::TooManyKeys {
                max: MAX_KEYS_PER_ACCOUNT,
            });
        }
        let mut seen = HashSet::new();
        if !after.keys.iter().all(|k| seen.insert(&k.fingerprint)) {
            return Err(DirectoryError::KeyTaken { account: None });
        }
        if after
            .keys
            .iter()
            .any(|k| k.fingerprint.len() > items::MAX_FINGERPRINT_BYTES)
        {
            return Err(DirectoryError::Backend(format!(
                "a fingerprint longer than {} bytes",
                items::MAX_FINGERPRINT_BYTES
            )));
        }
    }
    let held: HashSet<&str> = before
        .map(|b| {
            b.account
                .keys
                .iter()
                .map(|k| k.fingerprint.as_str())
                .collect()
        })
        .unwrap_or_default();

    // The account item.
    let guard = || before.map_or(Guard::Free, |b| Guard::Rev(&b.rev));
    match after {
        Some(after) => plan.put(
            table,
            Role::Account,
            items::account_item(account_pk(id), items::KIND_ACCOUNT, after, &rev),
            guard(),
        )?,
        None => plan.delete(table, Role::Account, account_pk(id), guard())?,
    }

    // Its keys: claimed, rewritten with the new copy of the account, or released.
    let keep: HashSet<&str> = after
        .map(|a| a.keys.iter().map(|k| k.fingerprint.as_str()).collect())
        .unwrap_or_default();
    if let Some(account) = after {
        for key in &account.keys {
            let item = items::account_item(key_pk(&key.fingerprint), "key", account, &rev);
            if held.contains(key.fingerprint.as_str()) {
                plan.put(table, Role::Key, item, Guard::OwnedBy(id))?;
            } else {
                plan.put(table, Role::NewKey, item, Guard::Free)?;
            }
        }
    }
    for fingerprint in held.iter().filter(|fp| !keep.contains(**fp)) {
        plan.delete(table, Role::Key, key_pk(fingerprint), Guard::OwnedBy(id))?;
    }

    // Its name.
    let old_name = before.map(|b| b.account.name.as_str());
    match (old_name, after) {
        (None, Some(after)) => {
            plan.put(table, Role::NewName, items::name_item(after), Guard::Free)?
        }
        (Some(old), Some(after)) if name_pk(old) != name_pk(&after.name) => {
            plan.put(table, Role::NewName, items::name_item(after), Guard::Free)?;
            plan.delete(table, Role::Name, name_pk(old), Guard::OwnedBy(id))?;
        }
        (Some(old), Some(after)) if old != after.name => {
            plan.put(
                table,
                Role::Name,
                items::name_item(after),
                Guard::OwnedBy(id),
            )?;
        }
        (Some(old), None) => plan.delete(table, Role::Name, name_pk(old), Guard::OwnedBy(id))?,
        _ => {}
    }

    if let Some(audit) = audit {
        let next = audit.seen + 1;
        let counter = [
            (
                PK.to_owned(),
                AttributeValue::S(AUDIT_COUNTER_PK.to_owned()),
            ),
            (COUNTER.to_owned(), AttributeValue::N(next.to_string())),
        ]
        .into();
        plan.put(table, Role::Counter, counter, Guard::Counter(audit.seen))?;
        plan.put(
            table,
            Role::Audit,
            items::audit_item(next, id, audit.actor, &audit.action),
            Guard::Free,
        )?;
    }
    Ok(plan)
}

/// Why a transaction did not commit.
#[derive(Debug)]
pub enum Refused {
    /// These elements' conditions failed.
    Conditions(Vec<Role>),
    /// DynamoDB refused it for another transaction on the same items: retry.
    Conflict,
    Failed(DirectoryError),
}

/// What a refused change means, most decisive first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The account id exists (an import of an account that is there already).
    IdTaken,
    NameTaken,
    KeyTaken,
    /// Someone changed the account or the directory first: read again and retry.
    Again,
}

impl Refused {
    /// What the failed conditions mean for a change.
    pub fn verdict(&self, creating: bool) -> Result<Verdict, DirectoryError> {
        match self {
            Refused::Failed(error) => Err(error.clone()),
            Refused::Conflict => Ok(Verdict::Again),
            Refused::Conditions(roles) => Ok(if creating && roles.contains(&Role::Account) {
                Verdict::IdTaken
            } else if roles.contains(&Role::NewName) {
                Verdict::NameTaken
            } else if roles.contains(&Role::NewKey) {
                Verdict::KeyTaken
            } else {
                Verdict::Again
            }),
        }
    }
}

/// One attempt of a change: its result, or "read again".
pub enum Attempt<T> {
    Done(T),
    Again,
}

impl DynamoDirectory {
    /// Runs one transaction.
    pub(crate) async fn commit(&self, plan: Plan) -> Result<(), Refused> {
        if plan.elements.is_empty() {
            return Ok(());
        }
        let (roles, elements): (Vec<Role>, Vec<TransactWriteItem>) =
            plan.elements.into_iter().unzip();
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(elements))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(error) => Err(
                match errors::transaction(error, self.table(), &self.url()) {
                    Cancelled::Conditions(failed) => Refused::Conditions(
                        failed
                            .iter()
                            .filter_map(|i| roles.get(*i).copied())
                            .collect(),
                    ),
                    Cancelled::Conflict => Refused::Conflict,
                    Cancelled::Failed(error) => Refused::Failed(error),
                },
            ),
        }
    }

    /// Runs `attempt` until it is done, pausing (with jitter, so that two racing changes
    /// fall out of step) between tries; `Unavailable` after [`CHANGE_ATTEMPTS`].
    pub(crate) async fn retrying<T, F, Fut>(&self, mut attempt: F) -> Result<T, DirectoryError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Attempt<T>, DirectoryError>>,
    {
        for round in 0..CHANGE_ATTEMPTS {
            if round > 0 {
                let base = 10u64 << round.min(5);
                let jitter = rand::rng().random_range(0..=base);
                tokio::time::sleep(Duration::from_millis(base + jitter)).await;
            }
            if let Attempt::Done(value) = attempt().await? {
                return Ok(value);
            }
            tracing::debug!(
                table = self.table(),
                round,
                "another change committed first; reading again"
            );
        }
        Err(DirectoryError::Unavailable(
            "the directory kept changing under this change; try again".to_owned(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use chat_store::directory::AccountKey;

    fn account(name: &str, keys: &[&str]) -> Account {
        Account {
            id: "id1".to_owned(),
            name: name.to_owned(),
            operator: false,
            created_at: Utc::now(),
            keys: keys
                .iter()
                .map(|fp| AccountKey {
                    fingerprint: (*fp).to_owned(),
                    algorithm: String::new(),
                    public_key: String::new(),
                    label: String::new(),
                    added_at: Utc::now(),
                    last_used_at: None,
                })
                .collect(),
        }
    }

    fn roles(plan: &Plan) -> Vec<Role> {
        plan.elements.iter().map(|(role, _)| *role).collect()
    }

    #[test]
    fn a_create_claims_the_account_its_name_and_its_key_and_counts() {
        let actor = Actor::new("t", None);
        let audit = Audit {
            seen: 0,
            actor: &actor,
            action: "create".to_owned(),
        };
        let plan = plan("t", None, Some(&account("bob", &["k1"])), Some(audit)).unwrap();
        assert_eq!(
            roles(&plan),
            [
                Role::Account,
                Role::NewKey,
                Role::NewName,
                Role::Counter,
                Role::Audit
            ]
        );
    }

    #[test]
    fn a_respelling_keeps_the_claim_and_a_rename_moves_it() {
        let before = Stored {
            account: account("bob", &["k1", "k2"]),
            rev: "r".to_owned(),
        };
        let plan_for = |name: &str| {
            plan(
                "t",
                Some(&before),
                Some(&account(name, &["k1", "k2"])),
                None,
            )
            .unwrap()
        };
        assert_eq!(
            roles(&plan_for("BOB")),
            [Role::Account, Role::Key, Role::Key, Role::Name]
        );
        assert_eq!(
            roles(&plan_for("robert")),
            [
                Role::Account,
                Role::Key,
                Role::Key,
                Role::NewName,
                Role::Name
            ]
        );
        assert_eq!(
            roles(&plan_for("bob")),
            [Role::Account, Role::Key, Role::Key]
        );
    }

    #[test]
    fn a_delete_releases_everything() {
        let before = Stored {
            account: account("bob", &["k1", "k2"]),
            rev: "r".to_owned(),
        };
        let plan = plan("t", Some(&before), None, None).unwrap();
        assert_eq!(
            roles(&plan),
            [Role::Account, Role::Key, Role::Key, Role::Name]
        );
    }

    #[test]
    fn a_full_account_fits_in_one_transaction() {
        let fps: Vec<String> = (0..MAX_KEYS_PER_ACCOUNT).map(|n| format!("k{n}")).collect();
        let fps: Vec<&str> = fps.iter().map(String::as_str).collect();
        let before = Stored {
            account: account("bob", &fps),
            rev: "r".to_owned(),
        };
        let actor = Actor::new("t", None);
        let audit = Audit {
            seen: 7,
            actor: &actor,
            action: "rename".to_owned(),
        };
        let plan = plan(
            "t",
            Some(&before),
            Some(&account("robert", &fps)),
            Some(audit),
        )
        .unwrap();
        assert!(plan.len() <= 100, "{}", plan.len());
        let mut over = fps.clone();
        over.push("one too many");
        assert_eq!(
            super::plan("t", None, Some(&account("bob", &over)), None).unwrap_err(),
            DirectoryError::TooManyKeys {
                max: MAX_KEYS_PER_ACCOUNT
            }
        );
        assert!(matches!(
            super::plan("t", None, Some(&account("bob", &["k", "k"])), None).unwrap_err(),
            DirectoryError::KeyTaken { .. }
        ));
    }

    #[test]
    fn a_failed_claim_is_an_answer_and_a_failed_guard_a_retry() {
        let verdict =
            |roles: Vec<Role>, creating| Refused::Conditions(roles).verdict(creating).unwrap();
        assert_eq!(
            verdict(vec![Role::NewName, Role::Counter], true),
            Verdict::NameTaken
        );
        assert_eq!(
            verdict(vec![Role::NewKey, Role::Counter], false),
            Verdict::KeyTaken
        );
        assert_eq!(
            verdict(vec![Role::NewKey, Role::NewName], true),
            Verdict::NameTaken
        );
        assert_eq!(
            verdict(vec![Role::Account, Role::NewName], true),
            Verdict::IdTaken
        );
        assert_eq!(verdict(vec![Role::Account], false), Verdict::Again);
        assert_eq!(verdict(vec![Role::Counter], true), Verdict::Again);
        assert_eq!(Refused::Conflict.verdict(false).unwrap(), Verdict::Again);
    }
}
