//! A simple [`Outbox`] for tests and single-threaded embedders.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;

use crate::event::Event;
use crate::hub::Outbox;

/// A bounded queue of events: the hub offers into one clone, the reader takes from another.
/// When it holds `capacity` events it refuses more, as a slow member's outbox would.
#[derive(Debug, Clone)]
pub struct Mailbox {
    queue: Rc<RefCell<VecDeque<Arc<Event>>>>,
    capacity: usize,
    /// Why the hub asked for the member to be disconnected, if it did.
    disconnected: Rc<RefCell<Option<String>>>,
}

impl Mailbox {
    pub fn new(capacity: usize) -> Self {
        Self {
            queue: Rc::default(),
            capacity,
            disconnected: Rc::default(),
        }
    }

    /// Takes everything queued so far.
    pub fn take(&self) -> Vec<Arc<Event>> {
        self.queue.borrow_mut().drain(..).collect()
    }

    pub fn len(&self) -> usize {
        self.queue.borrow().len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.borrow().is_empty()
    }

    /// The reason the hub gave for disconnecting the member, if it did.
    pub fn disconnected(&self) -> Option<String> {
        self.disconnected.borrow().clone()
    }
}

impl Outbox for Mailbox {
    fn offer(&self, event: Arc<Event>) -> bool {
        let mut queue = self.queue.borrow_mut();
        if queue.len() >= self.capacity {
            return false;
        }
        queue.push_back(event);
        true
    }

    fn disconnect(&self, reason: &str) {
        *self.disconnected.borrow_mut() = Some(reason.to_owned());
    }
}
