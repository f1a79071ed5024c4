//! Browser sessions: a random token in an `HttpOnly; SameSite=Strict` cookie (and `Secure`,
//! with the `__Host-` prefix, unless the server is plain HTTP on loopback), and the session
//! itself on the server, where it expires and where signing out ends it.
//!
//! Sessions are kept by the SHA-256 of their token, so the table never holds a usable
//! token and a lookup's timing says nothing about one. Each session carries its own random
//! CSRF token for the forms of signed-in pages. They are in memory: a restart signs everyone
//! out, which costs a user one `ssh host /web`.

use std::collections::HashMap;

use axum::http::{HeaderMap, HeaderValue, header};
use chrono::{DateTime, TimeDelta, Utc};
use parking_lot::Mutex;
use sha2::{Digest, Sha256};

use crate::secret;

/// One signed-in browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub account_id: String,
    /// The key that signed in (by link or signature), to mark it on the account page.
    pub fingerprint: Option<String>,
    /// What every form of a signed-in page carries in its `csrf` field.
    pub csrf: String,
    pub created_at: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
}

/// How long sessions last.
#[derive(Debug, Clone, Copy)]
pub struct SessionLimits {
    /// From sign-in, whatever happens.
    pub lifetime: TimeDelta,
    /// Without a request.
    pub idle: TimeDelta,
    /// Sessions at once in all; past this the least recently seen go.
    pub max: usize,
}

impl Default for SessionLimits {
    fn default() -> Self {
        Self {
            lifetime: TimeDelta::hours(12),
            idle: TimeDelta::hours(2),
            max: 100_000,
        }
    }
}

/// The sessions of this server.
#[derive(Debug)]
pub struct Sessions {
    limits: SessionLimits,
    table: Mutex<HashMap<[u8; 32], Session>>,
}

impl Sessions {
    pub fn new(limits: SessionLimits) -> Self {
        Self {
            limits,
            table: Mutex::new(HashMap::new()),
        }
    }

    /// How long a session cookie should live in the browser.
    pub fn lifetime(&self) -> TimeDelta {
        self.limits.lifetime
    }

    /// Starts a session for `account_id`; returns the token for the cookie.
    pub fn start(&self, account_id: &str, fingerprint: Option<&str>, now: DateTime<Utc>) -> String {
        let token = secret::random_hex(32);
        let session = Session {
            account_id: account_id.to_owned(),
            fingerprint: fingerprint.map(str::to_owned),
            csrf: secret::random_hex(16),
            created_at: now,
            last_seen: now,
        };
        let mut table = self.table.lock();
        if table.len() >= self.limits.max {
            table.retain(|_, s| self.alive(s, now));
            while table.len() >= self.limits.max {
                let Some(oldest) = table
                    .iter()
                    .min_by_key(|(_, s)| s.last_seen)
                    .map(|(k, _)| *k)
                else {
                    break;
                };
                table.remove(&oldest);
            }
        }
        table.insert(digest(&token), session);
        token
    }

    /// The live session of `token`, seen now; an expired one is ended.
    pub fn get(&self, token: &str, now: DateTime<Utc>) -> Option<Session> {
        let key = digest(token);
        let mut table = self.table.lock();
        let session = table.get_mut(&key)?;
        if !self.alive(session, now) {
            table.remove(&key);
            return None;
        }
        session.last_seen = now;
        Some(session.clone())
    }

    /// Signs out.
    pub fn end(&self, token: &str) {
        self.table.lock().remove(&digest(token));
    }

    /// Signs every browser of an account out (it was deleted).
    pub fn end_account(&self, account_id: &str) {
        self.table.lock().retain(|_, s| s.account_id != account_id);
    }

    fn alive(&self, session: &Session, now: DateTime<Utc>) -> bool {
        now < session.created_at + self.limits.lifetime
            && now < session.last_seen + self.limits.idle
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The names and attributes of this server's cookies.
#[derive(Debug, Clone, Copy)]
pub struct Cookies {
    /// `Secure`, and the `__Host-` prefix that makes browsers insist on it.
    pub secure: bool,
}

impl Cookies {
    /// The session cookie.
    pub fn session(&self) -> &'static str {
        if self.secure {
            "__Host-chat_session"
        } else {
            "chat_session"
        }
    }

    /// The visitor cookie that anonymous forms' CSRF tokens are bound to.
    pub fn visitor(&self) -> &'static str {
        if self.secure {
            "__Host-chat_visitor"
        } else {
            "chat_visitor"
        }
    }

    /// A `Set-Cookie` value; `max_age` of zero deletes the cookie.
    pub fn set(&self, name: &str, value: &str, max_age: TimeDelta) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        let text = format!(
            "{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
            max_age.num_seconds().max(0)
        );
        HeaderValue::from_str(&text).expect("cookie names and hex values are valid in a header")
    }
}

/// The value of cookie `name` in the request, if it is there and looks like one of ours
/// (hex, of a sane length): anything else is as good as no cookie.
pub fn read_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.trim().to_owned())
        .filter(|v| (16..=128).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_expire_when_idle_and_at_their_end() {
        let sessions = Sessions::new(SessionLimits::default());
        let t = Utc::now();
        let token = sessions.start("a", None, t);
        assert!(sessions.get(&token, t + TimeDelta::minutes(119)).is_some());
        assert!(
            sessions
                .get(&token, t + TimeDelta::minutes(119 + 121))
                .is_none(),
            "idle"
        );
        let token = sessions.start("a", None, t);
        let mut at = t;
        while at < t + TimeDelta::hours(11) {
            at += TimeDelta::hours(1);
            assert!(sessions.get(&token, at).is_some());
        }
        assert!(
            sessions.get(&token, t + TimeDelta::hours(12)).is_none(),
            "lifetime"
        );
    }

    #[test]
    fn signing_out_ends_the_session_and_only_it() {
        let sessions = Sessions::new(SessionLimits::default());
        let t = Utc::now();
        let (a, b) = (sessions.start("a", None, t), sessions.start("a", None, t));
        sessions.end(&a);
        assert!(sessions.get(&a, t).is_none());
        assert!(sessions.get(&b, t).is_some());
        sessions.end_account("a");
        assert!(sessions.get(&b, t).is_none());
    }

    #[test]
    fn cookies_are_read_and_written_strictly() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("x=1; chat_session=abcdef0123456789ab; y=2"),
        );
        assert_eq!(
            read_cookie(&headers, "chat_session").as_deref(),
            Some("abcdef0123456789ab")
        );
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("chat_session=<script>"),
        );
        assert_eq!(read_cookie(&headers, "chat_session"), None);
        let set = Cookies { secure: true }.set("__Host-chat_session", "ab", TimeDelta::hours(1));
        let set = set.to_str().unwrap();
        for part in [
            "HttpOnly",
            "SameSite=Strict",
            "Secure",
            "Path=/",
            "Max-Age=3600",
        ] {
            assert!(set.contains(part), "{set}");
        }
        let plain = Cookies { secure: false }.set("chat_session", "ab", TimeDelta::zero());
        assert!(!plain.to_str().unwrap().contains("Secure"));
    }
}
