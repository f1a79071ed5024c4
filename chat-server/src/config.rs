//! Settings of the runtime every front-end shares: the chat itself, what it remembers, who may
//! come in, and how it shuts down.

use std::sync::Arc;
use std::time::Duration;

use chat_core::HubConfig;
use chat_store::{Directory, MemoryDirectory, Retention, Store};

use crate::access::AccessFiles;

/// Everything [`Runtime`](crate::Runtime) needs. `Default` gives the values a public server
/// should start with.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// The chat itself: history length, message limit, MOTD, flood limits.
    pub hub: HubConfig,
    /// Where history, settings, bans and offline messages are kept. Without one the server
    /// forgets everything when it stops.
    pub store: Option<Arc<dyn Store>>,
    /// How much history the store keeps.
    pub retention: Retention,
    /// Log every said line (off by default: chat text is the users', not the log's).
    pub log_messages: bool,
    /// The admins and allowlist files.
    pub access: AccessFiles,
    /// Where accounts and their keys live. The default, in memory, forgets them on exit.
    pub directory: Arc<dyn Directory>,
    /// Who gets in: anyone, or only keys in the directory.
    pub join: JoinPolicy,
    /// What someone refused for want of an account is told to do: where to register.
    pub registration_hint: String,
    /// Where the web front-end is (`https://chat.example.org`), if it runs: `ssh host web`
    /// prints sign-in links there, and says the web is off without it.
    pub web_url: Option<String>,
    /// How often the list of accounts is read again, to learn of names registered, renamed
    /// or deleted elsewhere (another server, the web, `chat-cli accounts`).
    pub account_refresh: Duration,
    /// Events that may wait for one member before the hub drops some for it.
    pub outbox_capacity: usize,
    /// How long shutdown waits for sessions to say goodbye before cutting them off.
    pub shutdown_grace: Duration,
    /// The cluster this server is a node of (`--cluster`); `None` for a single server.
    /// The store should then be one every node shares (a `RedisStore`).
    pub cluster: Option<Arc<chat_cluster::Cluster>>,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            hub: HubConfig {
                // A crowd arriving at once (a restart, a reconnect) is announced in a few
                // lines, not one per arrival to everyone.
                presence_window: chrono::TimeDelta::milliseconds(150),
                // Past 1,500 members, longer: a room of 10,000 hears of arrivals once a second.
                presence_window_per_member: chrono::TimeDelta::microseconds(100),
                ..HubConfig::default()
            },
            store: None,
            retention: Retention::default(),
            log_messages: false,
            access: AccessFiles::default(),
            directory: Arc::new(MemoryDirectory::new()),
            join: JoinPolicy::Open,
            registration_hint: "Ask an operator to add your key.".to_owned(),
            web_url: None,
            account_refresh: Duration::from_secs(30),
            outbox_capacity: 256,
            shutdown_grace: Duration::from_secs(3),
            cluster: None,
        }
    }
}

/// Who may come in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JoinPolicy {
    /// Anyone: a registered key gets its account's name; the first visit of any other key
    /// registers the name it takes as a new account; without a key, an unverified name.
    #[default]
    Open,
    /// Only keys in the directory get a session; everyone else is told how to register.
    Registered,
}

impl std::str::FromStr for JoinPolicy {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "open" => Ok(JoinPolicy::Open),
            "registered" => Ok(JoinPolicy::Registered),
            other => Err(format!(
                "{other:?} is not a join policy: open or registered"
            )),
        }
    }
}
