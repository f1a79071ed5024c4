//! The items in the table, and how an [`Account`] becomes attributes and back.
//!
//! The table has one key, `pk` (a string), and one index, `by_account` (hash key
//! `account_id`, every attribute projected). What each item is, by its `pk`:
//!
//! | `pk` | what | attributes |
//! | --- | --- | --- |
//! | `ACCOUNT#<id>` | an account, whole | `account_id`, `name`, `operator`, `created_at`, `keys`, `rev` |
//! | `KEY#<fingerprint>` | a key's claim, and a copy of its account | the same as `ACCOUNT#` |
//! | `NAME#<folded name>` | a name's claim | `account_id`, `name` (as its owner spells it) |
//! | `AUDIT#<n>` | the n-th change (n from 1, 20 digits) | `at`, `who`, `fingerprint`, `action`, `account_id` |
//! | `META#audit` | the number of the newest change | `n` |
//!
//! A `KEY#` item holds the whole account (its name, operator flag and every key) so that a
//! login is one `BatchGetItem` of `KEY#fp` and `NAME#wanted`; every change to an account
//! rewrites its `ACCOUNT#` item and all its `KEY#` items in one transaction (at most
//! [`MAX_KEYS_PER_ACCOUNT`](chat_store::directory::MAX_KEYS_PER_ACCOUNT) of them), guarded
//! by the `rev` the change read. Times are milliseconds since the epoch, as in SQLite.
//! Empty strings are left out (and read back as empty), which every DynamoDB-compatible
//! server accepts.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chat_core::name;
use chat_store::directory::{Account, AccountKey, Actor, DirectoryAudit, DirectoryError};
use chrono::{DateTime, TimeZone, Utc};

/// An item as the SDK gives and takes it.
pub type Item = HashMap<String, AttributeValue>;

/// The table's only key attribute.
pub const PK: &str = "pk";
/// The `by_account` index's hash key: every item that belongs to an account has it.
pub const ACCOUNT_ID: &str = "account_id";
/// The version of an account that a change read and must still find when it writes.
pub const REV: &str = "rev";
/// The audit counter's attribute.
pub const COUNTER: &str = "n";
/// The audit counter's item.
pub const AUDIT_COUNTER_PK: &str = "META#audit";
/// What kind of item it is, for people reading the table and for the listing scan.
pub const KIND: &str = "kind";
pub const KIND_ACCOUNT: &str = "account";

/// The longest fingerprint the directory stores: SSH fingerprints are about 50 bytes, and
/// DynamoDB refuses a `pk` over 2048.
pub const MAX_FINGERPRINT_BYTES: usize = 512;

pub fn account_pk(id: &str) -> String {
    format!("ACCOUNT#{id}")
}

pub fn key_pk(fingerprint: &str) -> String {
    format!("KEY#{fingerprint}")
}

/// The claim on `name` and every name that looks like it.
pub fn name_pk(name: &str) -> String {
    format!("NAME#{}", name::fold(name))
}

pub fn audit_pk(n: u64) -> String {
    format!("AUDIT#{n:020}")
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// The attributes of an account item (`ACCOUNT#` or `KEY#`, with `pk` and `kind` given).
pub fn account_item(pk: String, kind: &str, account: &Account, rev: &str) -> Item {
    let keys = account.keys.iter().map(key_value).collect();
    HashMap::from([
        (PK.to_owned(), s(pk)),
        (KIND.to_owned(), s(kind)),
        (ACCOUNT_ID.to_owned(), s(&account.id)),
        ("name".to_owned(), s(&account.name)),
        (
            "operator".to_owned(),
            AttributeValue::Bool(account.operator),
        ),
        ("created_at".to_owned(), n(millis(account.created_at))),
        ("keys".to_owned(), AttributeValue::L(keys)),
        (REV.to_owned(), s(rev)),
    ])
}

fn key_value(key: &AccountKey) -> AttributeValue {
    let mut map = HashMap::from([
        ("fp".to_owned(), s(&key.fingerprint)),
        ("added".to_owned(), n(millis(key.added_at))),
    ]);
    for (field, value) in [
        ("alg", &key.algorithm),
        ("pub", &key.public_key),
        ("label", &key.label),
    ] {
        if !value.is_empty() {
            map.insert(field.to_owned(), s(value));
        }
    }
    if let Some(used) = key.last_used_at {
        map.insert("used".to_owned(), n(millis(used)));
    }
    AttributeValue::M(map)
}

pub fn name_item(account: &Account) -> Item {
    HashMap::from([
        (PK.to_owned(), s(name_pk(&account.name))),
        (KIND.to_owned(), s("name")),
        (ACCOUNT_ID.to_owned(), s(&account.id)),
        ("name".to_owned(), s(&account.name)),
    ])
}

pub fn audit_item(n_: u64, account_id: &str, actor: &Actor, action: &str) -> Item {
    let mut item = HashMap::from([
        (PK.to_owned(), s(audit_pk(n_))),
        (KIND.to_owned(), s("audit")),
        (ACCOUNT_ID.to_owned(), s(account_id)),
        ("at".to_owned(), n(millis(Utc::now()))),
        ("who".to_owned(), s(&actor.who)),
        ("action".to_owned(), s(action)),
    ]);
    if let Some(fingerprint) = &actor.fingerprint {
        item.insert("fingerprint".to_owned(), s(fingerprint));
    }
    item
}

/// An account as stored, with the `rev` a change must find.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub account: Account,
    pub rev: String,
}

/// Reads an `ACCOUNT#` or `KEY#` item. A damaged item is a [`DirectoryError::Backend`]
/// naming it, never a panic.
pub fn parse_account(item: &Item) -> Result<Stored, DirectoryError> {
    let pk = text(item, PK).unwrap_or("?");
    let damaged = |what: &str| DirectoryError::Backend(format!("item {pk} is damaged: {what}"));
    let keys = match item.get("keys") {
        Some(AttributeValue::L(keys)) => keys
            .iter()
            .map(|key| match key {
                AttributeValue::M(map) => parse_key(map).ok_or_else(|| damaged("a bad key")),
                _ => Err(damaged("a key that is not a map")),
            })
            .collect::<Result<Vec<_>, _>>()?,
        _ => return Err(damaged("no keys")),
    };
    Ok(Stored {
        account: Account {
            id: text(item, ACCOUNT_ID)
                .ok_or_else(|| damaged("no account_id"))?
                .to_owned(),
            name: text(item, "name")
                .ok_or_else(|| damaged("no name"))?
                .to_owned(),
            operator: matches!(item.get("operator"), Some(AttributeValue::Bool(true))),
            created_at: time(item, "created_at").ok_or_else(|| damaged("no created_at"))?,
            keys,
        },
        rev: text(item, REV).ok_or_else(|| damaged("no rev"))?.to_owned(),
    })
}

fn parse_key(map: &Item) -> Option<AccountKey> {
    let optional = |field: &str| text(map, field).unwrap_or_default().to_owned();
    Some(AccountKey {
        fingerprint: text(map, "fp")?.to_owned(),
        algorithm: optional("alg"),
        public_key: optional("pub"),
        label: optional("label"),
        added_at: time(map, "added")?,
        last_used_at: match map.get("used") {
            None => None,
            Some(_) => Some(time(map, "used")?),
        },
    })
}

/// A `NAME#` item's owner: `(account id, name as spelled)`.
pub fn parse_name(item: &Item) -> Result<(String, String), DirectoryError> {
    match (text(item, ACCOUNT_ID), text(item, "name")) {
        (Some(id), Some(name)) => Ok((id.to_owned(), name.to_owned())),
        _ => Err(DirectoryError::Backend(format!(
            "item {} is damaged: a name without its account",
            text(item, PK).unwrap_or("?")
        ))),
    }
}

pub fn parse_audit(item: &Item) -> Result<DirectoryAudit, DirectoryError> {
    let damaged = || {
        DirectoryError::Backend(format!(
            "item {} is damaged: an audit entry without its time or action",
            text(item, PK).unwrap_or("?")
        ))
    };
    Ok(DirectoryAudit {
        at: time(item, "at").ok_or_else(damaged)?,
        actor: Actor {
            who: text(item, "who").unwrap_or_default().to_owned(),
            fingerprint: text(item, "fingerprint").map(str::to_owned),
        },
        action: text(item, "action").ok_or_else(damaged)?.to_owned(),
    })
}

/// The audit counter's value; 0 when there is none yet.
pub fn parse_counter(item: Option<&Item>) -> Result<u64, DirectoryError> {
    match item.and_then(|item| item.get(COUNTER)) {
        None => Ok(0),
        Some(AttributeValue::N(value)) => value.parse().map_err(|_| {
            DirectoryError::Backend(format!("the audit counter is damaged: {value:?}"))
        }),
        Some(_) => Err(DirectoryError::Backend(
            "the audit counter is damaged: not a number".to_owned(),
        )),
    }
}

pub fn text<'a>(item: &'a Item, field: &str) -> Option<&'a str> {
    match item.get(field) {
        Some(AttributeValue::S(value)) => Some(value),
        _ => None,
    }
}

fn time(item: &Item, field: &str) -> Option<DateTime<Utc>> {
    match item.get(field) {
        Some(AttributeValue::N(value)) => Utc.timestamp_millis_opt(value.parse().ok()?).single(),
        _ => None,
    }
}

pub fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

/// `at` as it reads back: times are stored to the millisecond, so what a change returns is
/// cut to that too, or it would differ from the same account read later.
pub fn as_stored(at: DateTime<Utc>) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(millis(at)).single().unwrap_or(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Account {
        let at = |ms| Utc.timestamp_millis_opt(ms).single().unwrap();
        Account {
            id: "abc".to_owned(),
            name: "Zoë".to_owned(),
            operator: true,
            created_at: at(1_800_000_000_123),
            keys: vec![
                AccountKey {
                    fingerprint: "SHA256:one".to_owned(),
                    algorithm: "ssh-ed25519".to_owned(),
                    public_key: "ssh-ed25519 AAAA".to_owned(),
                    label: "desk".to_owned(),
                    added_at: at(1_800_000_000_000),
                    last_used_at: Some(at(1_800_000_100_000)),
                },
                AccountKey {
                    fingerprint: "SHA256:two".to_owned(),
                    algorithm: String::new(),
                    public_key: String::new(),
                    label: String::new(),
                    added_at: at(1_700_000_000_000),
                    last_used_at: None,
                },
            ],
        }
    }

    #[test]
    fn an_account_round_trips_through_its_item() {
        let account = sample();
        for (pk, kind) in [
            (account_pk("abc"), "account"),
            (key_pk("SHA256:one"), "key"),
        ] {
            let item = account_item(pk, kind, &account, "r1");
            let stored = parse_account(&item).unwrap();
            assert_eq!(stored.account, account);
            assert_eq!(stored.rev, "r1");
        }
    }

    #[test]
    fn names_are_claimed_in_their_folded_form() {
        assert_eq!(name_pk("Bob"), name_pk("b0b"));
        assert_eq!(
            parse_name(&name_item(&sample())).unwrap(),
            ("abc".to_owned(), "Zoë".to_owned())
        );
    }

    #[test]
    fn damaged_items_are_errors_not_panics() {
        let mut item = account_item(account_pk("abc"), "account", &sample(), "r1");
        item.insert("keys".to_owned(), AttributeValue::S("x".to_owned()));
        assert!(matches!(
            parse_account(&item),
            Err(DirectoryError::Backend(_))
        ));
        item.insert(
            "keys".to_owned(),
            AttributeValue::L(vec![AttributeValue::Null(true)]),
        );
        assert!(matches!(
            parse_account(&item),
            Err(DirectoryError::Backend(_))
        ));
        item.remove("keys");
        let message = parse_account(&item).unwrap_err().to_string();
        assert!(message.contains("ACCOUNT#abc"), "{message}");
        let mut counter = HashMap::new();
        counter.insert(COUNTER.to_owned(), AttributeValue::N("x".to_owned()));
        assert!(parse_counter(Some(&counter)).is_err());
        assert_eq!(parse_counter(None), Ok(0));
        let empty = Item::new();
        assert!(parse_name(&empty).is_err());
        assert!(parse_audit(&empty).is_err());
    }

    #[test]
    fn audit_entries_sort_by_their_key() {
        assert!(audit_pk(9) < audit_pk(10));
        assert!(audit_pk(99_999) < audit_pk(100_000));
    }
}
