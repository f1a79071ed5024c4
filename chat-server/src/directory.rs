//! The key directory as logins see it: one lookup per new connection, cached.
//!
//! Every login asks "which account holds this key?". The answer is cached for
//! [`POSITIVE_TTL`] (a key in an account) or [`NEGATIVE_TTL`] (a key in none), so a burst of
//! logins costs the directory one lookup per key, and a key removed from an account is refused
//! within [`POSITIVE_TTL`] on every server using the directory. When the directory cannot be
//! reached, an answer up to [`STALE_FOR`] old still lets a key the server saw recently in; a
//! key it has not seen gets [`Lookup::Unavailable`]. Lookups are bounded by the caller's
//! deadline (the auth timeout): the directory never holds a login longer than that.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chat_store::directory::{Account, Directory, DirectoryError, Login};
use parking_lot::Mutex;
use prometheus_client::metrics::counter::Counter;
use tracing::warn;

/// How long "this key belongs to this account" is trusted without asking again.
pub const POSITIVE_TTL: Duration = Duration::from_secs(15);
/// How long "this key belongs to no account" is trusted (short: someone who just registered
/// should not wait).
pub const NEGATIVE_TTL: Duration = Duration::from_secs(5);
/// How old an answer may be and still let a key in while the directory is unreachable.
pub const STALE_FOR: Duration = Duration::from_secs(3600);
/// Entries kept at most; past this, those older than [`STALE_FOR`] go, then all.
const MAX_ENTRIES: usize = 200_000;

/// What a login learns about a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The directory answered, now or recently enough.
    Known(Login),
    /// The directory did not answer in time. `cached` is the last answer, if there is one
    /// young enough to use.
    Unavailable {
        cached: Option<Option<Account>>,
        reason: String,
    },
}

impl Lookup {
    /// The account to log in as, whether the answer is fresh or from before an outage.
    pub fn account(&self) -> Option<&Account> {
        match self {
            Lookup::Known(login) => login.account.as_ref(),
            Lookup::Unavailable { cached, .. } => cached.as_ref().and_then(Option::as_ref),
        }
    }

    /// Whether the directory could not say (and nothing cached says either).
    pub fn is_unknown(&self) -> bool {
        matches!(self, Lookup::Unavailable { cached: None, .. })
    }
}

struct Entry {
    account: Option<Account>,
    at: Instant,
}

/// The directory with a cache in front. Cheap to share.
pub struct DirectoryCache {
    directory: Arc<dyn Directory>,
    entries: Mutex<HashMap<String, Entry>>,
    errors: Counter,
}

impl std::fmt::Debug for DirectoryCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectoryCache")
            .field("directory", &self.directory.describe())
            .finish_non_exhaustive()
    }
}

impl DirectoryCache {
    /// A cache in front of `directory`; every failed call counts in `errors`.
    pub fn new(directory: Arc<dyn Directory>, errors: Counter) -> Self {
        Self {
            directory,
            entries: Mutex::new(HashMap::new()),
            errors,
        }
    }

    /// The directory itself, for changes (which are never cached).
    pub fn directory(&self) -> &Arc<dyn Directory> {
        &self.directory
    }

    /// Counts a failed directory call (for changes made around the cache).
    pub fn count_error(&self, error: &DirectoryError) {
        if error.is_outage() || matches!(error, DirectoryError::NotSetUp(_)) {
            self.errors.inc();
        }
    }

    /// Which account holds `fingerprint` (and who owns `wanted`), from the cache if the
    /// answer there is fresh, else from the directory within `deadline`.
    pub async fn login(
        &self,
        fingerprint: &str,
        wanted: Option<&str>,
        deadline: Duration,
    ) -> Lookup {
        let now = Instant::now();
        let cached = {
            let entries = self.entries.lock();
            entries
                .get(fingerprint)
                .map(|e| (e.account.clone(), now.duration_since(e.at)))
        };
        if let Some((account, age)) = &cached {
            let ttl = if account.is_some() {
                POSITIVE_TTL
            } else {
                NEGATIVE_TTL
            };
            if *age < ttl {
                return Lookup::Known(Login {
                    account: account.clone(),
                    name_owner: None,
                });
            }
        }
        let answer =
            tokio::time::timeout(deadline, self.directory.login(fingerprint, wanted)).await;
        let reason = match answer {
            Ok(Ok(login)) => {
                self.remember(fingerprint, login.account.clone());
                return Lookup::Known(login);
            }
            Ok(Err(error)) => {
                self.count_error(&error);
                error.to_string()
            }
            Err(_) => {
                self.errors.inc();
                format!("no answer within {deadline:?}")
            }
        };
        warn!(directory = %self.directory.describe(), %reason, "the key directory did not answer a login");
        let cached = cached
            .filter(|(_, age)| *age < STALE_FOR)
            .map(|(account, _)| account);
        Lookup::Unavailable { cached, reason }
    }

    /// Caches what the directory said about a key.
    pub fn remember(&self, fingerprint: &str, account: Option<Account>) {
        let mut entries = self.entries.lock();
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, e| e.at.elapsed() < STALE_FOR);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(
            fingerprint.to_owned(),
            Entry {
                account,
                at: Instant::now(),
            },
        );
    }

    /// Forgets what was cached about a key (it was just added or removed here).
    pub fn forget_key(&self, fingerprint: &str) {
        self.entries.lock().remove(fingerprint);
    }

    /// Forgets every key of an account (it was just renamed, changed or deleted here).
    pub fn forget_account(&self, id: &str) {
        self.entries
            .lock()
            .retain(|_, e| e.account.as_ref().is_none_or(|a| a.id != id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chat_store::directory::{Actor, MemoryDirectory, conformance::key};

    fn cache() -> (DirectoryCache, Arc<MemoryDirectory>, Counter) {
        let directory = Arc::new(MemoryDirectory::new());
        let errors = Counter::default();
        let cache = DirectoryCache::new(directory.clone(), errors.clone());
        (cache, directory, errors)
    }

    #[tokio::test]
    async fn an_answer_is_reused_until_it_expires() {
        let (cache, directory, _) = cache();
        let actor = Actor::new("test", None);
        let fp = key(1).fingerprint;
        let first = cache.login(&fp, None, Duration::from_secs(1)).await;
        assert_eq!(first.account(), None);
        directory
            .create_account("alice", key(1), false, &actor, chrono::Utc::now())
            .await
            .unwrap();
        // Within the negative TTL the cache still says "no account"...
        assert_eq!(
            cache
                .login(&fp, None, Duration::from_secs(1))
                .await
                .account(),
            None
        );
        // ...until it is told, or the entry expires.
        cache.forget_key(&fp);
        let found = cache.login(&fp, None, Duration::from_secs(1)).await;
        assert_eq!(found.account().map(|a| a.name.as_str()), Some("alice"));
    }

    /// A directory that never answers.
    #[derive(Debug)]
    struct Silent;

    #[async_trait::async_trait]
    impl Directory for Silent {
        fn describe(&self) -> String {
            "silent".into()
        }
        async fn login(&self, _: &str, _: Option<&str>) -> Result<Login, DirectoryError> {
            std::future::pending().await
        }
        async fn account_by_name(&self, _: &str) -> Result<Option<Account>, DirectoryError> {
            std::future::pending().await
        }
        async fn account_by_id(&self, _: &str) -> Result<Option<Account>, DirectoryError> {
            std::future::pending().await
        }
        async fn accounts(&self) -> Result<Vec<Account>, DirectoryError> {
            std::future::pending().await
        }
        async fn create_account(
            &self,
            _: &str,
            _: chat_store::directory::NewKey,
            _: bool,
            _: &Actor,
            _: chrono::DateTime<chrono::Utc>,
        ) -> Result<Account, DirectoryError> {
            std::future::pending().await
        }
        async fn import_account(&self, _: &Account, _: &Actor) -> Result<Account, DirectoryError> {
            std::future::pending().await
        }
        async fn add_key(
            &self,
            _: &str,
            _: chat_store::directory::NewKey,
            _: &Actor,
            _: chrono::DateTime<chrono::Utc>,
        ) -> Result<Account, DirectoryError> {
            std::future::pending().await
        }
        async fn remove_key(
            &self,
            _: &str,
            _: Option<&str>,
            _: &Actor,
        ) -> Result<Account, DirectoryError> {
            std::future::pending().await
        }
        async fn rename_account(
            &self,
            _: &str,
            _: &str,
            _: &Actor,
        ) -> Result<Account, DirectoryError> {
            std::future::pending().await
        }
        async fn set_label(
            &self,
            _: &str,
            _: &str,
            _: &str,
            _: &Actor,
        ) -> Result<Account, DirectoryError> {
            std::future::pending().await
        }
        async fn set_operator(
            &self,
            _: &str,
            _: bool,
            _: &Actor,
        ) -> Result<Account, DirectoryError> {
            std::future::pending().await
        }
        async fn delete_account(&self, _: &str, _: &Actor) -> Result<(), DirectoryError> {
            std::future::pending().await
        }
        async fn touch_key(
            &self,
            _: &str,
            _: &str,
            _: &str,
            _: chrono::DateTime<chrono::Utc>,
        ) -> Result<(), DirectoryError> {
            std::future::pending().await
        }
        async fn audit_log(
            &self,
            _: usize,
        ) -> Result<Vec<chat_store::directory::DirectoryAudit>, DirectoryError> {
            std::future::pending().await
        }
    }

    #[tokio::test]
    async fn a_silent_directory_costs_a_login_its_deadline_and_no_more() {
        let errors = Counter::default();
        let cache = DirectoryCache::new(Arc::new(Silent), errors.clone());
        let started = std::time::Instant::now();
        let lookup = cache
            .login("SHA256:x", None, Duration::from_millis(100))
            .await;
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(100), "{took:?}");
        assert!(
            took < Duration::from_secs(5),
            "bounded by the deadline: {took:?}"
        );
        assert!(lookup.is_unknown(), "{lookup:?}");
        assert_eq!(errors.get(), 1);
    }

    #[tokio::test]
    async fn a_key_seen_recently_gets_in_while_the_directory_is_down() {
        let errors = Counter::default();
        let cache = DirectoryCache::new(Arc::new(Silent), errors.clone());
        let alice = Account {
            id: "a".into(),
            name: "alice".into(),
            operator: false,
            created_at: chrono::Utc::now(),
            keys: Vec::new(),
        };
        cache.remember("SHA256:alice", Some(alice.clone()));
        // Make the entry old enough to be checked again, but not too old to use.
        cache.entries.lock().get_mut("SHA256:alice").unwrap().at -= POSITIVE_TTL * 2;
        let lookup = cache
            .login("SHA256:alice", None, Duration::from_millis(50))
            .await;
        assert!(matches!(lookup, Lookup::Unavailable { .. }));
        assert_eq!(lookup.account(), Some(&alice));
        assert!(!lookup.is_unknown());
    }
}
