//! A token bucket: a burst allowance that refills at a steady rate. Time is passed in.

use chrono::{DateTime, TimeDelta, Utc};

/// `capacity` tokens at most, refilled at `per_second`; each action takes some.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TokenBucket {
    capacity: f64,
    per_second: f64,
    tokens: f64,
    updated: Option<DateTime<Utc>>,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(capacity: f64, per_second: f64) -> Self {
        Self {
            capacity: capacity.max(0.0),
            per_second: per_second.max(0.0),
            tokens: capacity.max(0.0),
            updated: None,
        }
    }

    fn refill(&mut self, now: DateTime<Utc>) {
        if let Some(then) = self.updated {
            let elapsed = (now - then).num_microseconds().unwrap_or(i64::MAX).max(0) as f64 / 1e6;
            self.tokens = (self.tokens + elapsed * self.per_second).min(self.capacity);
        }
        // A clock that steps backwards refills nothing and is taken as the new reference.
        self.updated = Some(self.updated.map_or(now, |then| then.max(now)));
    }

    /// Takes `cost` tokens if there are that many.
    pub fn try_take(&mut self, now: DateTime<Utc>, cost: f64) -> bool {
        self.refill(now);
        if self.tokens >= cost {
            self.tokens -= cost;
            true
        } else {
            false
        }
    }

    /// Takes `cost` tokens even if that leaves a debt, and says how long until the bucket is
    /// back in credit: the caller waits that long (throttling rather than refusing).
    pub fn take_or_wait(&mut self, now: DateTime<Utc>, cost: f64) -> TimeDelta {
        self.refill(now);
        self.tokens -= cost;
        if self.tokens >= 0.0 || self.per_second <= 0.0 {
            return TimeDelta::zero();
        }
        TimeDelta::microseconds((-self.tokens / self.per_second * 1e6).ceil() as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn at(ms: i64) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(1_700_000_000_000 + ms).unwrap()
    }

    #[test]
    fn a_burst_then_the_steady_rate() {
        let mut bucket = TokenBucket::new(10.0, 2.0);
        let burst = (0..20).filter(|_| bucket.try_take(at(0), 1.0)).count();
        assert_eq!(burst, 10);
        assert!(!bucket.try_take(at(400), 1.0));
        assert!(
            bucket.try_take(at(500), 1.0),
            "2 per second: one every 500 ms"
        );
        assert!(!bucket.try_take(at(600), 1.0));
    }

    #[test]
    fn waiting_pays_off_a_debt() {
        let mut bucket = TokenBucket::new(100.0, 100.0);
        assert_eq!(bucket.take_or_wait(at(0), 100.0), TimeDelta::zero());
        assert_eq!(
            bucket.take_or_wait(at(0), 50.0),
            TimeDelta::milliseconds(500)
        );
        assert_eq!(bucket.take_or_wait(at(500), 0.0), TimeDelta::zero());
    }

    #[test]
    fn a_clock_going_backwards_gives_nothing_away() {
        let mut bucket = TokenBucket::new(1.0, 1.0);
        assert!(bucket.try_take(at(10_000), 1.0));
        assert!(!bucket.try_take(at(0), 1.0));
        assert!(!bucket.try_take(at(10_500), 1.0));
        assert!(bucket.try_take(at(11_000), 1.0));
    }

    proptest! {
        #[test]
        fn never_more_than_the_burst_plus_the_rate(times in proptest::collection::vec(0i64..10_000, 1..200)) {
            let mut times = times;
            times.sort_unstable();
            let mut bucket = TokenBucket::new(10.0, 2.0);
            let taken = times.iter().filter(|&&t| bucket.try_take(at(t), 1.0)).count() as f64;
            let span = (times[times.len() - 1] - times[0]) as f64 / 1000.0;
            prop_assert!(taken <= 10.0 + span * 2.0 + 1e-9);
        }
    }
}
