//! One-time sign-in links: `ssh host web` asks for one, a browser spends it.
//!
//! The SSH front-end issues a token for the account of the key that just logged in; the web
//! front-end redeems it once, within [`LINK_TTL`], and signs the browser in as that account.
//! They live here, in the runtime both front-ends share, so neither depends on the other.
//!
//! A token is 32 random bytes in hex: the first 8 find the entry, the other 24 are the secret,
//! compared in constant time, so neither a lookup nor a comparison tells an attacker how much
//! of a guess was right. Everything is in memory and bounded: a restart forgets pending links
//! (their owners ask again), and no account holds more than [`MAX_PER_ACCOUNT`] at once.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use parking_lot::Mutex;
use subtle::ConstantTimeEq;

/// How long a link stays valid.
pub const LINK_TTL: TimeDelta = TimeDelta::minutes(5);
/// Links pending at once for one account: asking again drops the oldest.
pub const MAX_PER_ACCOUNT: usize = 3;
/// Links pending at once in all; past this the oldest go first.
const MAX_LINKS: usize = 10_000;

const ID_BYTES: usize = 8;
const SECRET_BYTES: usize = 24;
/// A token's length in hex digits.
pub const TOKEN_CHARS: usize = 2 * (ID_BYTES + SECRET_BYTES);

/// What a link grants: a browser session as this account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub account_id: String,
    /// The key that asked for the link, if known (for the audit trail and the account page).
    pub fingerprint: Option<String>,
    pub expires_at: DateTime<Utc>,
}

struct Pending {
    secret: [u8; SECRET_BYTES],
    grant: Grant,
}

/// The pending links. Cheap to share behind the runtime.
#[derive(Default)]
pub struct SigninLinks {
    pending: Mutex<HashMap<[u8; ID_BYTES], Pending>>,
}

impl std::fmt::Debug for SigninLinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigninLinks")
            .field("pending", &self.pending.lock().len())
            .finish()
    }
}

impl SigninLinks {
    /// A new token for `account_id`, valid for [`LINK_TTL`] from `now`.
    pub fn issue(&self, account_id: &str, fingerprint: Option<&str>, now: DateTime<Utc>) -> String {
        use rand::RngExt;
        let mut rng = rand::rng();
        let id: [u8; ID_BYTES] = rng.random();
        let secret: [u8; SECRET_BYTES] = rng.random();
        let grant = Grant {
            account_id: account_id.to_owned(),
            fingerprint: fingerprint.map(str::to_owned),
            expires_at: now + LINK_TTL,
        };
        let mut pending = self.pending.lock();
        pending.retain(|_, p| p.grant.expires_at > now);
        let mut mine: Vec<([u8; ID_BYTES], DateTime<Utc>)> = pending
            .iter()
            .filter(|(_, p)| p.grant.account_id == account_id)
            .map(|(id, p)| (*id, p.grant.expires_at))
            .collect();
        mine.sort_by_key(|(_, at)| *at);
        for (old, _) in mine
            .iter()
            .take((mine.len() + 1).saturating_sub(MAX_PER_ACCOUNT))
        {
            pending.remove(old);
        }
        if pending.len() >= MAX_LINKS
            && let Some(oldest) = pending
                .iter()
                .min_by_key(|(_, p)| p.grant.expires_at)
                .map(|(id, _)| *id)
        {
            pending.remove(&oldest);
        }
        pending.insert(id, Pending { secret, grant });
        drop(pending);
        let mut token = hex(&id);
        token.push_str(&hex(&secret));
        token
    }

    /// What `token` would grant, without spending it (for a page that asks "sign in as …?").
    pub fn peek(&self, token: &str, now: DateTime<Utc>) -> Option<Grant> {
        let (id, secret) = split(token)?;
        let pending = self.pending.lock();
        let entry = pending.get(&id)?;
        let matches: bool = entry.secret.ct_eq(&secret).into();
        (matches && entry.grant.expires_at > now).then(|| entry.grant.clone())
    }

    /// Spends `token`: what it grants, once. An expired, spent or wrong token gives `None`.
    pub fn redeem(&self, token: &str, now: DateTime<Utc>) -> Option<Grant> {
        let (id, secret) = split(token)?;
        let mut pending = self.pending.lock();
        let matches: bool = pending.get(&id)?.secret.ct_eq(&secret).into();
        if !matches {
            return None;
        }
        let entry = pending.remove(&id)?;
        (entry.grant.expires_at > now).then_some(entry.grant)
    }

    /// Forgets every link of an account (it was deleted).
    pub fn forget_account(&self, account_id: &str) {
        self.pending
            .lock()
            .retain(|_, p| p.grant.account_id != account_id);
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The id and secret of a well-formed token (exactly [`TOKEN_CHARS`] lowercase hex digits).
fn split(token: &str) -> Option<([u8; ID_BYTES], [u8; SECRET_BYTES])> {
    let bytes = token.as_bytes();
    if bytes.len() != TOKEN_CHARS {
        return None;
    }
    let mut decoded = [0u8; ID_BYTES + SECRET_BYTES];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        decoded[i] = (digit(pair[0])? << 4) | digit(pair[1])?;
    }
    let mut id = [0u8; ID_BYTES];
    let mut secret = [0u8; SECRET_BYTES];
    id.copy_from_slice(&decoded[..ID_BYTES]);
    secret.copy_from_slice(&decoded[ID_BYTES..]);
    Some((id, secret))
}

fn digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    #[test]
    fn a_link_works_once() {
        let links = SigninLinks::default();
        let token = links.issue("acct", Some("SHA256:k"), now());
        assert_eq!(token.len(), TOKEN_CHARS);
        let seen = links.peek(&token, now()).unwrap();
        assert_eq!(seen.account_id, "acct");
        assert_eq!(links.redeem(&token, now()), Some(seen));
        assert_eq!(links.redeem(&token, now()), None, "spent");
        assert_eq!(links.peek(&token, now()), None);
    }

    #[test]
    fn a_link_expires_after_five_minutes() {
        let links = SigninLinks::default();
        let token = links.issue("acct", None, now());
        let late = now() + LINK_TTL;
        assert_eq!(links.peek(&token, late), None);
        assert_eq!(links.redeem(&token, late), None);
        let token = links.issue("acct", None, now());
        assert!(links.redeem(&token, late - TimeDelta::seconds(1)).is_some());
    }

    #[test]
    fn a_wrong_secret_spends_nothing() {
        let links = SigninLinks::default();
        let token = links.issue("acct", None, now());
        let mut wrong = token.clone();
        let last = if token.ends_with('0') { "1" } else { "0" };
        wrong.replace_range(TOKEN_CHARS - 1.., last);
        assert_eq!(links.redeem(&wrong, now()), None);
        assert!(links.redeem(&token, now()).is_some(), "still valid");
        for junk in [
            "",
            "zz",
            &"A".repeat(TOKEN_CHARS),
            &"é".repeat(TOKEN_CHARS / 2),
        ] {
            assert_eq!(links.redeem(junk, now()), None, "{junk}");
        }
    }

    #[test]
    fn an_account_holds_a_few_links_at_most() {
        let links = SigninLinks::default();
        let tokens: Vec<String> = (0..MAX_PER_ACCOUNT + 2)
            .map(|i| links.issue("acct", None, now() + TimeDelta::seconds(i as i64)))
            .collect();
        let valid = tokens
            .iter()
            .filter(|t| links.peek(t, now()).is_some())
            .count();
        assert_eq!(valid, MAX_PER_ACCOUNT);
        assert!(
            links.peek(tokens.last().unwrap(), now()).is_some(),
            "newest kept"
        );
        links.forget_account("acct");
        assert!(links.peek(tokens.last().unwrap(), now()).is_none());
    }
}
