//! The one piece of state connections share: the hub, behind a mutex, and the outbox that
//! connects it to a connection's task.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chat_core::{Chat, Event, Hub, MemberId, Outbox, Outcome};
use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use tokio::sync::mpsc;

/// The hub as every connection sees it. Lock it for a method call at a time and never across
/// an `.await` (a `parking_lot` guard is not `Send`, so the compiler enforces this).
pub type SharedHub = Arc<Mutex<Hub<SshOutbox>>>;

/// A member's outbox: the sending side of a bounded channel to its connection's task.
#[derive(Debug)]
pub struct SshOutbox {
    events: mpsc::Sender<Arc<Event>>,
    /// Set when an event was refused, so the task asks the hub to report the count once it
    /// has caught up.
    refused: Arc<AtomicBool>,
}

impl SshOutbox {
    /// An outbox holding at most `capacity` events, the receiving end, and the refusal flag.
    pub fn channel(capacity: usize) -> (Self, mpsc::Receiver<Arc<Event>>, Arc<AtomicBool>) {
        let (events, receiver) = mpsc::channel(capacity.max(1));
        let refused = Arc::new(AtomicBool::new(false));
        let outbox = Self {
            events,
            refused: Arc::clone(&refused),
        };
        (outbox, receiver, refused)
    }
}

impl Outbox for SshOutbox {
    fn offer(&self, event: Arc<Event>) -> bool {
        let accepted = self.events.try_send(event).is_ok();
        if !accepted {
            self.refused.store(true, Ordering::Relaxed);
        }
        accepted
    }
}

/// Lets a session call into the shared hub, taking the lock for each call.
#[derive(Debug)]
pub struct Locked<'a>(pub &'a SharedHub);

impl Chat for Locked<'_> {
    fn submit(&mut self, id: MemberId, line: &str, now: DateTime<Utc>) -> Outcome {
        self.0.lock().submit(id, line, now)
    }

    fn complete(&mut self, id: MemberId, word: &str) -> Vec<String> {
        self.0.lock().complete(id, word)
    }
}
