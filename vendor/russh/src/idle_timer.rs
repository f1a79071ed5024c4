//! A timer that fires a fixed time after the last activity, without touching tokio's timer
//! wheel on every activity.
//!
//! The session loops used to call `Sleep::reset` for the inactivity (and keepalive) timer after
//! every turn of the loop, that is for every packet sent or received: a removal from and an
//! insertion into the timer wheel each time, a few percent of a busy server's CPU. An
//! [`IdleTimer`] only records the new deadline; when the armed sleep fires early (because
//! activity moved the deadline on), it re-arms itself once for the recorded deadline. It
//! fires exactly when a timer reset on every activity would have.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

/// Fires `period` after the last [`touch`](IdleTimer::touch), or never if there is no period.
#[derive(Debug)]
pub(crate) struct IdleTimer {
    /// `None`: never fires.
    armed: Option<(Duration, Pin<Box<Sleep>>)>,
    /// When it should fire: at or after the armed sleep's deadline.
    deadline: Instant,
}

impl IdleTimer {
    pub(crate) fn new(period: Option<Duration>) -> Self {
        let now = Instant::now();
        let deadline = period.map_or(now, |p| now + p);
        Self {
            armed: period.map(|p| (p, Box::pin(tokio::time::sleep_until(deadline)))),
            deadline,
        }
    }

    /// Moves the deadline to `period` from now (cheap: the wheel is not touched).
    pub(crate) fn touch(&mut self) {
        if let Some((period, _)) = &self.armed {
            self.deadline = Instant::now() + *period;
        }
    }
}

impl Future for IdleTimer {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let Some((_, sleep)) = &mut this.armed else {
            return Poll::Pending;
        };
        loop {
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            if sleep.deadline() >= this.deadline {
                // Fired for the current deadline. Until touched again, it stays ready (as a
                // completed `Sleep` does).
                return Poll::Ready(());
            }
            // Activity moved the deadline on since it was armed: wait for the new one.
            let deadline = this.deadline;
            sleep.as_mut().reset(deadline);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn fires_within(timer: &mut IdleTimer, within: Duration) -> bool {
        tokio::time::timeout(within, &mut *timer).await.is_ok()
    }

    #[tokio::test(start_paused = true)]
    async fn fires_a_period_after_the_last_touch() {
        let mut timer = IdleTimer::new(Some(Duration::from_secs(10)));
        let start = Instant::now();
        for _ in 0..5 {
            tokio::time::sleep(Duration::from_secs(4)).await;
            timer.touch();
        }
        // Touched last at 20 s: not before 30 s...
        assert!(!fires_within(&mut timer, Duration::from_millis(9_900)).await);
        // ...and then at 30 s.
        assert!(fires_within(&mut timer, Duration::from_millis(200)).await);
        let fired = start.elapsed();
        assert!(
            fired >= Duration::from_secs(30) && fired < Duration::from_millis(30_200),
            "{fired:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_period_it_never_fires() {
        let mut timer = IdleTimer::new(None);
        timer.touch();
        assert!(!fires_within(&mut timer, Duration::from_secs(3600)).await);
    }

    #[tokio::test(start_paused = true)]
    async fn a_touch_after_firing_rearms_it() {
        let mut timer = IdleTimer::new(Some(Duration::from_secs(1)));
        assert!(fires_within(&mut timer, Duration::from_millis(1_100)).await);
        timer.touch();
        assert!(!fires_within(&mut timer, Duration::from_millis(900)).await);
        assert!(fires_within(&mut timer, Duration::from_millis(200)).await);
    }
}
