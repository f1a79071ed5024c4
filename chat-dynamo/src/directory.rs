//! [`Directory`] on DynamoDB: the reads each call makes, and each change as an edit of one
//! account that [`writes::plan`] turns into one transaction.

use async_trait::async_trait;
use chat_core::name;
use chat_store::directory::{
    Account, AccountKey, Actor, Directory, DirectoryAudit, DirectoryError, Login,
    MAX_KEYS_PER_ACCOUNT, NewKey, check_name, clean_label, new_account_id,
};
use chrono::{DateTime, Utc};

use crate::DynamoDirectory;
use crate::items::{
    self, AUDIT_COUNTER_PK, MAX_FINGERPRINT_BYTES, account_pk, audit_pk, key_pk, name_pk,
};
use crate::writes::{self, Attempt, Audit, Verdict};

/// `BatchGetItem`'s limit, and so how many audit entries one read fetches.
const AUDIT_BATCH: u64 = 100;

/// Which account a change is about.
enum Target<'a> {
    Id(&'a str),
    /// The account holding this key; with `Some(id)`, only if it is that account.
    Key(&'a str, Option<&'a str>),
}

/// What a change does to the account it read: the account as it shall be (`None` deletes
/// it), and the audit entry's words.
struct Edit {
    after: Option<Account>,
    action: String,
}

fn new_key(key: NewKey, now: DateTime<Utc>) -> Result<AccountKey, DirectoryError> {
    Ok(AccountKey {
        label: clean_label(&key.label)?,
        fingerprint: key.fingerprint,
        algorithm: key.algorithm,
        public_key: key.public_key,
        added_at: items::as_stored(now),
        last_used_at: None,
    })
}

impl DynamoDirectory {
    /// The spelling of whoever holds `wanted` (or a look-alike), read after a claim failed;
    /// `None` if it was released since (then the change is tried again).
    async fn holder(&self, wanted: &str) -> Result<Option<String>, DirectoryError> {
        match self.get(&name_pk(wanted)).await? {
            Some(item) => Ok(Some(items::parse_name(&item)?.1)),
            None => Ok(None),
        }
    }

    /// What a refused claim means, as the caller's error (`None`: try again).
    async fn refusal(
        &self,
        verdict: Verdict,
        account: &Account,
    ) -> Result<Option<DirectoryError>, DirectoryError> {
        Ok(match verdict {
            Verdict::IdTaken => Some(DirectoryError::Backend(format!(
                "an account with id {} exists",
                account.id
            ))),
            Verdict::NameTaken => {
                self.holder(&account.name)
                    .await?
                    .map(|taken| DirectoryError::NameTaken {
                        wanted: account.name.clone(),
                        taken,
                    })
            }
            Verdict::KeyTaken => Some(DirectoryError::KeyTaken { account: None }),
            Verdict::Again => None,
        })
    }

    /// Creates `account` as it is (a new one, or an import), audited.
    async fn insert(
        &self,
        make: impl Fn() -> Account,
        actor: &Actor,
        action: &str,
    ) -> Result<Account, DirectoryError> {
        self.retrying(|| async {
            let account = make();
            let seen = items::parse_counter(self.get(AUDIT_COUNTER_PK).await?.as_ref())?;
            let audit = Audit {
                seen,
                actor,
                action: action.to_owned(),
            };
            let plan = writes::plan(self.table(), None, Some(&account), Some(audit))?;
            match self.commit(plan).await {
                Ok(()) => Ok(Attempt::Done(account)),
                Err(refused) => match self.refusal(refused.verdict(true)?, &account).await? {
                    Some(error) => Err(error),
                    None => Ok(Attempt::Again),
                },
            }
        })
        .await
    }

    /// Reads the account `target` names (and the audit counter, in the same round trip),
    /// lets `edit` decide what becomes of it, and commits that with its audit entry.
    /// Returns the account as it is after.
    async fn change<F>(
        &self,
        target: Target<'_>,
        actor: &Actor,
        edit: F,
    ) -> Result<Option<Account>, DirectoryError>
    where
        F: Fn(&Account) -> Result<Edit, DirectoryError>,
    {
        let pk = match target {
            Target::Id(id) => account_pk(id),
            Target::Key(fingerprint, _) => key_pk(fingerprint),
        };
        self.retrying(|| async {
            let mut read = self
                .get_many(&[AUDIT_COUNTER_PK.to_owned(), pk.clone()])
                .await?;
            let seen = items::parse_counter(read.get(AUDIT_COUNTER_PK))?;
            let stored = read
                .remove(&pk)
                .map(|item| items::parse_account(&item))
                .transpose()?;
            let stored = match (stored, &target) {
                (Some(stored), Target::Key(_, Some(only))) if stored.account.id != *only => None,
                (stored, _) => stored,
            };
            let Some(before) = stored else {
                return Err(match target {
                    Target::Id(_) => DirectoryError::NoSuchAccount,
                    Target::Key(fingerprint, only) => DirectoryError::NoSuchKey {
                        fingerprint: fingerprint.to_owned(),
                        in_account: only.is_some(),
                    },
                });
            };
            let Edit { after, action } = edit(&before.account)?;
            let audit = Audit {
                seen,
                actor,
                action,
            };
            let plan = writes::plan(self.table(), Some(&before), after.as_ref(), Some(audit))?;
            match self.commit(plan).await {
                Ok(()) => Ok(Attempt::Done(after)),
                Err(refused) => {
                    let verdict = refused.verdict(false)?;
                    let wanted = after.as_ref().unwrap_or(&before.account);
                    match self.refusal(verdict, wanted).await? {
                        Some(error) => Err(error),
                        None => Ok(Attempt::Again),
                    }
                }
            }
        })
        .await
    }

    /// [`DynamoDirectory::change`] for edits that keep the account.
    async fn edit<F>(
        &self,
        target: Target<'_>,
        actor: &Actor,
        edit: F,
    ) -> Result<Account, DirectoryError>
    where
        F: Fn(&Account) -> Result<(Account, String), DirectoryError>,
    {
        let after = self
            .change(target, actor, |account| {
                let (after, action) = edit(account)?;
                Ok(Edit {
                    after: Some(after),
                    action,
                })
            })
            .await?;
        after.ok_or_else(|| {
            DirectoryError::Backend("the account vanished during the change".to_owned())
        })
    }
}

#[async_trait]
impl Directory for DynamoDirectory {
    fn describe(&self) -> String {
        match &self.url.endpoint {
            Some(endpoint) => format!(
                "dynamodb://{} ({}, at {endpoint})",
                self.table(),
                self.region
            ),
            None => format!("dynamodb://{} ({})", self.table(), self.region),
        }
    }

    /// One `BatchGetItem`: the key's item carries its whole account, the name's item its
    /// owner.
    async fn login(
        &self,
        fingerprint: &str,
        wanted_name: Option<&str>,
    ) -> Result<Login, DirectoryError> {
        let mut pks = Vec::with_capacity(2);
        let key = key_pk(fingerprint);
        if fingerprint.len() <= MAX_FINGERPRINT_BYTES {
            pks.push(key.clone());
        }
        let name = wanted_name.and_then(name::clean_name).map(|n| name_pk(&n));
        pks.extend(name.clone());
        if pks.is_empty() {
            return Ok(Login::default());
        }
        let mut found = self.get_many(&pks).await?;
        let account = found
            .remove(&key)
            .map(|item| items::parse_account(&item).map(|s| s.account))
            .transpose()?;
        let name_owner = name
            .and_then(|pk| found.remove(&pk))
            .map(|item| items::parse_name(&item))
            .transpose()?;
        Ok(Login {
            account,
            name_owner,
        })
    }

    async fn account_by_name(&self, name: &str) -> Result<Option<Account>, DirectoryError> {
        // Stored names are clean (at most 24 characters): a longer one cannot be there, and
        // DynamoDB would refuse its key.
        if name.len() > MAX_FINGERPRINT_BYTES {
            return Ok(None);
        }
        let Some(item) = self.get(&name_pk(name)).await? else {
            return Ok(None);
        };
        let (id, _) = items::parse_name(&item)?;
        self.account_by_id(&id).await
    }

    async fn account_by_id(&self, id: &str) -> Result<Option<Account>, DirectoryError> {
        match self.get(&account_pk(id)).await? {
            Some(item) => Ok(Some(items::parse_account(&item)?.account)),
            None => Ok(None),
        }
    }

    async fn accounts(&self) -> Result<Vec<Account>, DirectoryError> {
        let mut all = self
            .scan_accounts()
            .await?
            .iter()
            .map(|item| items::parse_account(item).map(|s| s.account))
            .collect::<Result<Vec<_>, _>>()?;
        all.sort_by(|a, b| {
            a.name
                .to_lowercase()
                .cmp(&b.name.to_lowercase())
                .then_with(|| a.name.cmp(&b.name))
        });
        Ok(all)
    }

    async fn create_account(
        &self,
        name: &str,
        key: NewKey,
        operator: bool,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Account, DirectoryError> {
        check_name(name)?;
        let key = new_key(key, now)?;
        let action = format!("create account {name} with key {}", key.fingerprint);
        let make = || Account {
            id: new_account_id(),
            name: name.to_owned(),
            operator,
            created_at: items::as_stored(now),
            keys: vec![key.clone()],
        };
        self.insert(make, actor, &action).await
    }

    async fn import_account(
        &self,
        account: &Account,
        actor: &Actor,
    ) -> Result<Account, DirectoryError> {
        check_name(&account.name)?;
        for key in &account.keys {
            clean_label(&key.label)?;
        }
        let action = format!(
            "import account {} with {} keys",
            account.name,
            account.keys.len()
        );
        self.insert(|| account.clone(), actor, &action).await
    }

    async fn add_key(
        &self,
        account_id: &str,
        key: NewKey,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Account, DirectoryError> {
        let key = new_key(key, now)?;
        self.edit(Target::Id(account_id), actor, |account| {
            if account.keys.len() >= MAX_KEYS_PER_ACCOUNT {
                return Err(DirectoryError::TooManyKeys {
                    max: MAX_KEYS_PER_ACCOUNT,
                });
            }
            if account
                .keys
                .iter()
                .any(|k| k.fingerprint == key.fingerprint)
            {
                return Err(DirectoryError::KeyTaken { account: None });
            }
            let mut after = account.clone();
            after.keys.push(key.clone());
            Ok((
                after,
                format!("add key {} to {}", key.fingerprint, account.name),
            ))
        })
        .await
    }

    async fn remove_key(
        &self,
        fingerprint: &str,
        account_id: Option<&str>,
        actor: &Actor,
    ) -> Result<Account, DirectoryError> {
        if fingerprint.len() > MAX_FINGERPRINT_BYTES {
            return Err(DirectoryError::NoSuchKey {
                fingerprint: fingerprint.to_owned(),
                in_account: account_id.is_some(),
            });
        }
        self.edit(Target::Key(fingerprint, account_id), actor, |account| {
            if account.keys.len() <= 1 {
                return Err(DirectoryError::LastKey);
            }
            let mut after = account.clone();
            after.keys.retain(|k| k.fingerprint != fingerprint);
            Ok((
                after,
                format!("remove key {fingerprint} from {}", account.name),
            ))
        })
        .await
    }

    async fn rename_account(
        &self,
        account_id: &str,
        new_name: &str,
        actor: &Actor,
    ) -> Result<Account, DirectoryError> {
        check_name(new_name)?;
        self.edit(Target::Id(account_id), actor, |account| {
            let mut after = account.clone();
            after.name = new_name.to_owned();
            Ok((
                after,
                format!("rename account {} to {new_name}", account.name),
            ))
        })
        .await
    }

    async fn set_label(
        &self,
        account_id: &str,
        fingerprint: &str,
        label: &str,
        actor: &Actor,
    ) -> Result<Account, DirectoryError> {
        let label = clean_label(label)?;
        self.edit(Target::Id(account_id), actor, |account| {
            let mut after = account.clone();
            let Some(key) = after.keys.iter_mut().find(|k| k.fingerprint == fingerprint) else {
                return Err(DirectoryError::NoSuchKey {
                    fingerprint: fingerprint.to_owned(),
                    in_account: true,
                });
            };
            key.label = label.clone();
            Ok((
                after,
                format!("label key {fingerprint} of {} {label:?}", account.name),
            ))
        })
        .await
    }

    async fn set_operator(
        &self,
        account_id: &str,
        operator: bool,
        actor: &Actor,
    ) -> Result<Account, DirectoryError> {
        self.edit(Target::Id(account_id), actor, |account| {
            let mut after = account.clone();
            after.operator = operator;
            let what = if operator { "make" } else { "unmake" };
            Ok((after, format!("{what} {} an operator", account.name)))
        })
        .await
    }

    async fn delete_account(&self, account_id: &str, actor: &Actor) -> Result<(), DirectoryError> {
        self.change(Target::Id(account_id), actor, |account| {
            Ok(Edit {
                after: None,
                action: format!(
                    "delete account {} and its {} keys",
                    account.name,
                    account.keys.len()
                ),
            })
        })
        .await
        .map(drop)
    }

    /// Not audited and not counted: it rewrites the account and its key items (every copy
    /// of the account must say when each key was last used), guarded by `rev` only.
    async fn touch_key(
        &self,
        fingerprint: &str,
        algorithm: &str,
        public_key: &str,
        at: DateTime<Utc>,
    ) -> Result<(), DirectoryError> {
        if fingerprint.len() > MAX_FINGERPRINT_BYTES {
            return Ok(());
        }
        self.retrying(|| async {
            let Some(item) = self.get(&key_pk(fingerprint)).await? else {
                return Ok(Attempt::Done(()));
            };
            let before = items::parse_account(&item)?;
            let mut after = before.account.clone();
            if let Some(key) = after.keys.iter_mut().find(|k| k.fingerprint == fingerprint) {
                key.last_used_at = Some(at);
                if key.algorithm.is_empty() {
                    key.algorithm = algorithm.to_owned();
                }
                if key.public_key.is_empty() {
                    key.public_key = public_key.to_owned();
                }
            }
            let plan = writes::plan(self.table(), Some(&before), Some(&after), None)?;
            match self.commit(plan).await {
                Ok(()) => Ok(Attempt::Done(())),
                Err(refused) => {
                    refused.verdict(false)?;
                    Ok(Attempt::Again)
                }
            }
        })
        .await
    }

    /// The counter says which entry is newest; the entries below it are read in batches
    /// of 100, newest first.
    async fn audit_log(&self, limit: usize) -> Result<Vec<DirectoryAudit>, DirectoryError> {
        let newest = items::parse_counter(self.get(AUDIT_COUNTER_PK).await?.as_ref())?;
        let oldest_wanted = newest.saturating_sub(u64::try_from(limit).unwrap_or(u64::MAX));
        let mut log = Vec::new();
        let mut top = newest;
        while top > oldest_wanted {
            let bottom = top.saturating_sub(AUDIT_BATCH).max(oldest_wanted);
            let pks: Vec<String> = (bottom + 1..=top).rev().map(audit_pk).collect();
            let found = self.get_many(&pks).await?;
            for pk in &pks {
                if let Some(item) = found.get(pk) {
                    log.push(items::parse_audit(item)?);
                }
            }
            top = bottom;
        }
        Ok(log)
    }
}
