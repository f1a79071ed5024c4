//! Time as an input: every expiry on the web side (challenges, sessions, rate limits) reads
//! the clock it was given, so tests move time forward instead of sleeping.

use std::fmt::Debug;

use chrono::{DateTime, TimeDelta, Utc};
use parking_lot::Mutex;

/// Where the web front-end learns the time.
pub trait Clock: Send + Sync + Debug {
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that moves only when told: for tests of expiry.
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    /// A clock showing the wall clock's time now, standing still.
    pub fn new() -> Self {
        Self(Mutex::new(Utc::now()))
    }

    pub fn advance(&self, by: TimeDelta) {
        *self.0.lock() += by;
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock()
    }
}
