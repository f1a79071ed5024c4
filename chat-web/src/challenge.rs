//! Challenges to sign with `ssh-keygen -Y sign`: self-contained, so a visitor costs no state.
//!
//! A challenge reads `register-1767225600-9f8e7d6c5b4a3921-<tag>`: what it is for, when it
//! expires (Unix seconds), a random nonce, and an HMAC over all of it (and over what it is
//! bound to, such as the account a key is being added to) with the server's [`Secret`]. The
//! server checks the tag and the expiry when the form comes back; nothing is stored until
//! then. Once a challenge has done its work it is remembered as spent until it expires, so a
//! signature seen once cannot sign anyone in again.
//!
//! Each purpose has its own SSH signature namespace (`register@HOST`), so a signature made to
//! register cannot be replayed to sign in, nor one made for another program or server.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use parking_lot::Mutex;
use thiserror::Error;

use crate::secret::{self, Secret};

/// Spent challenges remembered at most; past this the ones expiring soonest are dropped
/// first (they are the least useful to replay).
const MAX_SPENT: usize = 100_000;
/// Hex digits of the tag kept in the challenge (128 bits).
const TAG_CHARS: usize = 32;

/// What a challenge proves possession of a key for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Register,
    SignIn,
    AddKey,
}

impl Purpose {
    pub fn word(self) -> &'static str {
        match self {
            Purpose::Register => "register",
            Purpose::SignIn => "signin",
            Purpose::AddKey => "addkey",
        }
    }
}

/// Why a challenge that came back is not accepted, in words for the page.
#[derive(Debug, Clone, Copy, Error, PartialEq, Eq)]
pub enum ChallengeError {
    #[error("the form's challenge is missing or damaged; sign the new one below")]
    Malformed,
    #[error("this challenge was made for another form; sign the one below")]
    WrongPurpose,
    #[error("this challenge was not made by this server; sign the one below")]
    Forged,
    #[error("the challenge expired (they last {minutes} minutes); sign the new one below")]
    Expired { minutes: i64 },
    #[error("this challenge was used already; sign the new one below")]
    Spent,
}

/// A challenge as a page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The text to sign, and the hidden `challenge` field.
    pub text: String,
    /// The `-n` of `ssh-keygen -Y sign`, and the hidden `namespace` field.
    pub namespace: String,
    pub expires_at: DateTime<Utc>,
}

/// Makes and checks challenges.
#[derive(Debug)]
pub struct Challenges {
    secret: Secret,
    host: String,
    ttl: TimeDelta,
    spent: Mutex<HashMap<String, DateTime<Utc>>>,
}

impl Challenges {
    /// Challenges signed with `secret`, for the server called `host`, valid for `ttl`.
    pub fn new(secret: Secret, host: &str, ttl: TimeDelta) -> Self {
        Self {
            secret,
            host: host.to_owned(),
            ttl,
            spent: Mutex::new(HashMap::new()),
        }
    }

    /// The SSH signature namespace of `purpose` on this server.
    pub fn namespace(&self, purpose: Purpose) -> String {
        format!("{}@{}", purpose.word(), self.host)
    }

    /// A fresh challenge for `purpose`, bound to `binding` (an account id, or empty).
    pub fn issue(&self, purpose: Purpose, binding: &str, now: DateTime<Utc>) -> Challenge {
        let expires_at = now + self.ttl;
        let head = format!(
            "{}-{}-{}",
            purpose.word(),
            expires_at.timestamp(),
            secret::random_hex(8)
        );
        let tag = self.tag(&head, binding);
        Challenge {
            text: format!("{head}-{tag}"),
            namespace: self.namespace(purpose),
            expires_at,
        }
    }

    /// The challenge `text` came back, as it was issued, if it is this server's, for
    /// `purpose` and `binding`, unexpired and unspent.
    pub fn check(
        &self,
        purpose: Purpose,
        binding: &str,
        text: &str,
        now: DateTime<Utc>,
    ) -> Result<Challenge, ChallengeError> {
        let text = text.trim();
        let (head, tag) = text.rsplit_once('-').ok_or(ChallengeError::Malformed)?;
        let mut parts = head.splitn(3, '-');
        let (Some(word), Some(expiry), Some(nonce)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(ChallengeError::Malformed);
        };
        if tag.len() != TAG_CHARS || nonce.len() != 16 || expiry.len() > 12 {
            return Err(ChallengeError::Malformed);
        }
        let expires_at = expiry
            .parse::<i64>()
            .ok()
            .and_then(|secs| DateTime::from_timestamp(secs, 0))
            .ok_or(ChallengeError::Malformed)?;
        if !secret::same(&self.tag(head, binding), tag) {
            // Distinguish a challenge of another form (a user's mix-up) from a forgery.
            let other = [Purpose::Register, Purpose::SignIn, Purpose::AddKey]
                .into_iter()
                .any(|p| p.word() == word && p != purpose);
            return Err(if other {
                ChallengeError::WrongPurpose
            } else {
                ChallengeError::Forged
            });
        }
        if word != purpose.word() {
            return Err(ChallengeError::WrongPurpose);
        }
        if expires_at <= now {
            return Err(ChallengeError::Expired {
                minutes: self.ttl.num_minutes(),
            });
        }
        if self.spent.lock().contains_key(text) {
            return Err(ChallengeError::Spent);
        }
        Ok(Challenge {
            text: text.to_owned(),
            namespace: self.namespace(purpose),
            expires_at,
        })
    }

    /// Marks a checked challenge spent; fails if it was spent meanwhile (two submissions of
    /// one form race: one wins).
    pub fn spend(&self, challenge: &Challenge, now: DateTime<Utc>) -> Result<(), ChallengeError> {
        let mut spent = self.spent.lock();
        if spent.len() >= MAX_SPENT {
            spent.retain(|_, expires| *expires > now);
            while spent.len() >= MAX_SPENT {
                let Some(first) = spent
                    .iter()
                    .min_by_key(|(_, at)| **at)
                    .map(|(text, _)| text.clone())
                else {
                    break;
                };
                spent.remove(&first);
            }
        }
        match spent.insert(challenge.text.clone(), challenge.expires_at) {
            None => Ok(()),
            Some(_) => Err(ChallengeError::Spent),
        }
    }

    fn tag(&self, head: &str, binding: &str) -> String {
        let mac = self
            .secret
            .sign("challenge", &[head.as_bytes(), binding.as_bytes()]);
        secret::hex(&mac)[..TAG_CHARS].to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    fn challenges() -> Challenges {
        Challenges::new(Secret::random(), "chat.test", TimeDelta::minutes(15))
    }

    #[test]
    fn a_challenge_comes_back_valid_until_it_expires() {
        let c = challenges();
        let issued = c.issue(Purpose::Register, "", now());
        assert_eq!(issued.namespace, "register@chat.test");
        assert!(issued.text.starts_with("register-"));
        let back = c.check(Purpose::Register, "", &issued.text, now()).unwrap();
        assert_eq!(back, issued);
        let late = now() + TimeDelta::minutes(15);
        assert_eq!(
            c.check(Purpose::Register, "", &issued.text, late),
            Err(ChallengeError::Expired { minutes: 15 })
        );
    }

    #[test]
    fn a_spent_challenge_is_refused() {
        let c = challenges();
        let issued = c.issue(Purpose::SignIn, "", now());
        c.spend(&issued, now()).unwrap();
        assert_eq!(c.spend(&issued, now()), Err(ChallengeError::Spent));
        assert_eq!(
            c.check(Purpose::SignIn, "", &issued.text, now()),
            Err(ChallengeError::Spent)
        );
    }

    #[test]
    fn tampering_binding_and_purpose_are_caught() {
        let c = challenges();
        let issued = c.issue(Purpose::AddKey, "account-a", now());
        assert_eq!(
            c.check(Purpose::AddKey, "account-b", &issued.text, now()),
            Err(ChallengeError::Forged)
        );
        assert_eq!(
            c.check(Purpose::SignIn, "account-a", &issued.text, now()),
            Err(ChallengeError::WrongPurpose)
        );
        let later = issued.text.replacen("addkey-18", "addkey-19", 1);
        assert_eq!(
            c.check(Purpose::AddKey, "account-a", &later, now()),
            Err(ChallengeError::Forged)
        );
        let other_server = challenges().issue(Purpose::AddKey, "account-a", now());
        assert_eq!(
            c.check(Purpose::AddKey, "account-a", &other_server.text, now()),
            Err(ChallengeError::Forged)
        );
        for junk in ["", "-", "register", "register-x-y-z", "a-b-c-d-e"] {
            assert!(
                c.check(Purpose::Register, "", junk, now()).is_err(),
                "{junk}"
            );
        }
    }
}
