//! Rate limits: a token bucket per key (an IP address, an account), on the given clock.
//!
//! Register, sign-in and key changes each cost a token from the client's address and one
//! from the account concerned; an empty bucket is a `429 Too Many Requests` with the seconds
//! until the next token in `Retry-After`. The table is bounded: past [`MAX_KEYS`] keys, full
//! buckets (which remember nothing useful) are forgotten first, then all.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use parking_lot::Mutex;

/// Keys remembered at most per limiter.
const MAX_KEYS: usize = 100_000;

/// A limit: `burst` at once, then one more every `every`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub burst: u32,
    pub every: Duration,
}

impl Rate {
    pub const fn new(burst: u32, every: Duration) -> Self {
        Self { burst, every }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: DateTime<Utc>,
}

/// One limit applied per key.
#[derive(Debug)]
pub struct RateLimiter {
    rate: Rate,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    pub fn new(rate: Rate) -> Self {
        Self {
            rate,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token for `key`; if there is none, how long until there is.
    pub fn take(&self, key: &str, now: DateTime<Utc>) -> Result<(), Duration> {
        let burst = f64::from(self.rate.burst.max(1));
        let every = self.rate.every.as_secs_f64().max(0.001);
        let mut buckets = self.buckets.lock();
        if buckets.len() >= MAX_KEYS && !buckets.contains_key(key) {
            buckets.retain(|_, b| refill(b, now, every, burst) < burst);
            if buckets.len() >= MAX_KEYS {
                buckets.clear();
            }
        }
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let tokens = refill(bucket, now, every, burst);
        *bucket = Bucket { tokens, at: now };
        if tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - tokens) * every))
        }
    }
}

/// The bucket's tokens at `now`.
fn refill(bucket: &Bucket, now: DateTime<Utc>, every: f64, burst: f64) -> f64 {
    let elapsed = (now - bucket.at).as_seconds_f64().max(0.0);
    (bucket.tokens + elapsed / every).min(burst)
}

/// Seconds to put in `Retry-After`: rounded up, at least one.
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    #[test]
    fn a_burst_then_one_per_period() {
        let limiter = RateLimiter::new(Rate::new(3, Duration::from_secs(10)));
        let t = Utc::now();
        for _ in 0..3 {
            limiter.take("ip", t).unwrap();
        }
        let wait = limiter.take("ip", t).unwrap_err();
        assert_eq!(retry_after_secs(wait), 10);
        assert!(limiter.take("other", t).is_ok(), "keys are separate");
        let later = t + TimeDelta::seconds(4);
        assert_eq!(retry_after_secs(limiter.take("ip", later).unwrap_err()), 6);
        assert!(limiter.take("ip", t + TimeDelta::seconds(10)).is_ok());
        assert!(limiter.take("ip", t + TimeDelta::seconds(10)).is_err());
    }
}
