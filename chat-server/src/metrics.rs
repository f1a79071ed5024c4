//! What an operator's Prometheus scrapes: counters the server keeps as things happen, and
//! gauges read from the hub and the limits at scrape time.
//!
//! The registry is explicit (no global recorder), so two servers in one process (as in the
//! tests) each have their own figures.

use std::sync::Arc;

use std::time::Duration;

use parking_lot::Mutex;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Reason {
    pub reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AuthLabels {
    pub method: &'static str,
    pub result: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Kind {
    pub kind: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Room {
    pub room: String,
}

/// Every metric the server exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub connections_accepted: Counter,
    pub connections_refused: Family<Reason, Counter>,
    pub auth: Family<AuthLabels, Counter>,
    pub sessions: Family<Kind, Gauge>,
    pub stall_disconnects: Counter,
    pub input_throttled: Counter,
    pub handshake_seconds: Histogram,
    pub delivery_seconds: Histogram,
    connections_open: Gauge,
    connections_unauthenticated: Gauge,
    room_members: Family<Room, Gauge>,
    lines_said: Counter,
    deliveries: Counter,
    events_dropped: Counter,
    lines_rate_limited: Counter,
    handshakes_evicted: Counter,
    store_write_failures: Counter,
    bus_errors: Counter,
    bus_degraded: Gauge,
    tasks_alive: Gauge,
    /// Calls to the key directory that failed or timed out.
    pub directory_errors: Counter,
    /// Accounts created, keys added and removed, from any front-end.
    pub account_changes: Counter,
    /// What the hub's own counters said at the last scrape, to add only the difference.
    seen: Mutex<Seen>,
}

#[derive(Debug, Default)]
struct Seen {
    said: u64,
    delivered: u64,
    dropped: u64,
    rate_limited: u64,
    evicted: u64,
    store_failures: u64,
    bus_errors: u64,
}

/// The figures read at scrape time.
#[derive(Debug, Default)]
pub struct Reading {
    pub connections_open: usize,
    pub unauthenticated: usize,
    pub handshakes_evicted: u64,
    pub hub: chat_core::HubStats,
    pub store_failures: u64,
    /// Calls to the cluster bus's Redis that failed (0 for a single server).
    pub bus_errors: u64,
    /// Whether the cluster bus is down (`false` for a single server).
    pub bus_degraded: bool,
    /// Tasks alive in the async runtime: with open files and memory, what a soak watches
    /// for growth (a task leaked per connection shows here first).
    pub tasks_alive: usize,
    /// Members per room, largest first.
    pub rooms: Vec<(String, usize)>,
}

/// Rooms past this many are left out of the per-room gauge (the largest are kept).
const MAX_ROOMS_EXPORTED: usize = 100;

impl Metrics {
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::with_prefix("chat");
        let m = Self {
            connections_accepted: Counter::default(),
            connections_refused: Family::default(),
            auth: Family::default(),
            sessions: Family::default(),
            stall_disconnects: Counter::default(),
            input_throttled: Counter::default(),
            // 100 µs to ~13 s.
            handshake_seconds: Histogram::new(exponential_buckets(0.0001, 2.0, 18)),
            // 50 µs to ~6.5 s.
            delivery_seconds: Histogram::new(exponential_buckets(0.00005, 2.0, 18)),
            connections_open: Gauge::default(),
            connections_unauthenticated: Gauge::default(),
            room_members: Family::default(),
            lines_said: Counter::default(),
            deliveries: Counter::default(),
            events_dropped: Counter::default(),
            lines_rate_limited: Counter::default(),
            handshakes_evicted: Counter::default(),
            store_write_failures: Counter::default(),
            bus_errors: Counter::default(),
            bus_degraded: Gauge::default(),
            tasks_alive: Gauge::default(),
            directory_errors: Counter::default(),
            account_changes: Counter::default(),
            seen: Mutex::default(),
            registry: Registry::default(),
        };
        let r = &mut registry;
        r.register(
            "connections_accepted",
            "TCP connections taken in",
            m.connections_accepted.clone(),
        );
        r.register(
            "connections_refused",
            "TCP connections refused, by reason",
            m.connections_refused.clone(),
        );
        r.register(
            "authentications",
            "Authentication attempts, by method and result",
            m.auth.clone(),
        );
        r.register(
            "sessions",
            "Chat sessions open, by kind",
            m.sessions.clone(),
        );
        r.register(
            "connections_open",
            "TCP connections open",
            m.connections_open.clone(),
        );
        r.register(
            "connections_unauthenticated",
            "Connections still in their handshake or login",
            m.connections_unauthenticated.clone(),
        );
        r.register(
            "room_members",
            "Members per room (the largest 100 rooms)",
            m.room_members.clone(),
        );
        r.register(
            "lines_said",
            "Lines said and emotes made",
            m.lines_said.clone(),
        );
        r.register(
            "deliveries",
            "Events put into members' outboxes",
            m.deliveries.clone(),
        );
        r.register(
            "events_dropped",
            "Events dropped because a member's outbox was full",
            m.events_dropped.clone(),
        );
        r.register(
            "lines_rate_limited",
            "Lines refused because their sender was too fast",
            m.lines_rate_limited.clone(),
        );
        r.register(
            "input_throttled",
            "Times a member's typing was slowed to the byte rate",
            m.input_throttled.clone(),
        );
        r.register(
            "stall_disconnects",
            "Clients cut off for not reading",
            m.stall_disconnects.clone(),
        );
        r.register(
            "handshakes_evicted",
            "Unfinished handshakes cut off to make room",
            m.handshakes_evicted.clone(),
        );
        r.register(
            "store_write_failures",
            "Batches the store failed to write (retried)",
            m.store_write_failures.clone(),
        );
        r.register(
            "bus_errors",
            "Calls to the cluster bus (Redis) that failed or timed out",
            m.bus_errors.clone(),
        );
        r.register(
            "bus_degraded",
            "1 while the cluster bus is unreachable (local sessions go on)",
            m.bus_degraded.clone(),
        );
        r.register(
            "tasks_alive",
            "Tasks alive in the server's async runtime",
            m.tasks_alive.clone(),
        );
        r.register(
            "directory_errors",
            "Calls to the key directory that failed or timed out",
            m.directory_errors.clone(),
        );
        r.register(
            "account_changes",
            "Accounts created and keys added or removed",
            m.account_changes.clone(),
        );
        r.register_with_unit(
            "handshake_duration",
            "From TCP accept to successful authentication",
            prometheus_client::registry::Unit::Seconds,
            m.handshake_seconds.clone(),
        );
        r.register_with_unit(
            "delivery_latency",
            "From the hub stamping an event to its bytes being queued for the client's SSH channel",
            prometheus_client::registry::Unit::Seconds,
            m.delivery_seconds.clone(),
        );
        Arc::new(Self { registry, ..m })
    }

    pub fn refused(&self, reason: &'static str) {
        self.connections_refused
            .get_or_create(&Reason { reason })
            .inc();
    }

    pub fn authenticated(&self, method: &'static str, accepted: bool) {
        let result = if accepted { "accepted" } else { "rejected" };
        self.auth
            .get_or_create(&AuthLabels { method, result })
            .inc();
    }

    pub fn session_opened(&self, kind: &'static str) {
        self.sessions.get_or_create(&Kind { kind }).inc();
    }

    pub fn session_closed(&self, kind: &'static str) {
        self.sessions.get_or_create(&Kind { kind }).dec();
    }

    pub fn delivered_after(&self, latency: Duration) {
        self.delivery_seconds.observe(latency.as_secs_f64());
    }

    /// Brings the scrape-time figures up to date and encodes everything.
    pub fn render(&self, reading: Reading) -> String {
        self.connections_open.set(reading.connections_open as i64);
        self.connections_unauthenticated
            .set(reading.unauthenticated as i64);
        {
            let mut seen = self.seen.lock();
            let add = |counter: &Counter, now: u64, before: &mut u64| {
                counter.inc_by(now.saturating_sub(*before));
                *before = now.max(*before);
            };
            add(&self.lines_said, reading.hub.said, &mut seen.said);
            add(&self.deliveries, reading.hub.delivered, &mut seen.delivered);
            add(&self.events_dropped, reading.hub.dropped, &mut seen.dropped);
            add(
                &self.lines_rate_limited,
                reading.hub.rate_limited,
                &mut seen.rate_limited,
            );
            add(
                &self.handshakes_evicted,
                reading.handshakes_evicted,
                &mut seen.evicted,
            );
            add(
                &self.store_write_failures,
                reading.store_failures,
                &mut seen.store_failures,
            );
            add(&self.bus_errors, reading.bus_errors, &mut seen.bus_errors);
        }
        self.bus_degraded.set(i64::from(reading.bus_degraded));
        self.tasks_alive.set(reading.tasks_alive as i64);
        self.room_members.clear();
        for (room, members) in reading.rooms.into_iter().take(MAX_ROOMS_EXPORTED) {
            self.room_members
                .get_or_create(&Room { room })
                .set(members as i64);
        }
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_format_holds_every_metric() {
        let metrics = Metrics::new();
        metrics.connections_accepted.inc();
        metrics.refused("per_ip");
        metrics.authenticated("publickey", true);
        metrics.session_opened("interactive");
        metrics.delivered_after(Duration::from_millis(3));
        let text = metrics.render(Reading {
            connections_open: 2,
            hub: chat_core::HubStats {
                said: 5,
                ..Default::default()
            },
            rooms: vec![("#lobby".into(), 2)],
            tasks_alive: 12,
            ..Reading::default()
        });
        for expected in [
            "chat_connections_accepted_total 1",
            "chat_connections_refused_total{reason=\"per_ip\"} 1",
            "chat_authentications_total{method=\"publickey\",result=\"accepted\"} 1",
            "chat_sessions{kind=\"interactive\"} 1",
            "chat_connections_open 2",
            "chat_room_members{room=\"#lobby\"} 2",
            "chat_lines_said_total 5",
            "chat_tasks_alive 12",
            "chat_delivery_latency_seconds_count 1",
            "chat_handshake_duration_seconds_bucket",
        ] {
            assert!(text.contains(expected), "missing {expected} in:\n{text}");
        }
        let again = metrics.render(Reading {
            hub: chat_core::HubStats {
                said: 7,
                ..Default::default()
            },
            ..Reading::default()
        });
        assert!(
            again.contains("chat_lines_said_total 7"),
            "counters follow the hub:\n{again}"
        );
    }
}
