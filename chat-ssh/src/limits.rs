//! Connection limits: in all, per IP address (open at once, and new per minute), and not yet
//! authenticated.
//!
//! A slot is taken when a TCP connection is accepted and given back when its guard drops, so
//! a connection that ends in any way (error, kill, timeout, panic in its task) frees it.
//!
//! Connections still in their handshake are the cheap weapon of a flood (hundreds of idle TCP
//! connections, or handshakes that never finish). When all their slots are taken, a new
//! connection does not wait or get refused: the oldest unfinished handshake is cut off to
//! make room. A real login finishes in milliseconds, so it is never the oldest for long, and a
//! flood cannot keep people out.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use chat_core::rate::TokenBucket;
use chrono::Utc;
use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The server holds as many connections as it may.
    ServerFull,
    /// This address holds as many connections as one address may.
    PerIp,
    /// This address opened too many connections in the last minute.
    PerIpRate,
    /// The address is banned.
    Banned,
}

impl Refusal {
    /// A label for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::ServerFull => "server_full",
            Refusal::PerIp => "per_ip",
            Refusal::PerIpRate => "per_ip_rate",
            Refusal::Banned => "banned",
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Refusal::ServerFull => "the server is full; try again later",
            Refusal::PerIp => "too many connections from your address; close one and try again",
            Refusal::PerIpRate => "too many new connections from your address; wait a minute",
            Refusal::Banned => "you are banned from this server",
        })
    }
}

/// The limits a server enforces.
#[derive(Debug, Clone, Copy)]
pub struct LimitConfig {
    pub max_total: usize,
    pub max_per_ip: usize,
    pub max_new_per_ip_per_minute: u32,
    pub max_unauthenticated: usize,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
    /// New connections per address, as a bucket refilling over a minute.
    arrivals: HashMap<IpAddr, TokenBucket>,
    /// Unfinished handshakes, oldest first, each with the switch that cuts it off.
    handshakes: VecDeque<(u64, CancellationToken)>,
    next_handshake: u64,
    /// Handshakes cut off to make room, for metrics.
    evicted: u64,
}

/// The limits and what is in use.
#[derive(Debug)]
pub struct ConnectionLimits {
    config: LimitConfig,
    counts: Mutex<Counts>,
}

/// Past this many addresses remembered, the ones with full buckets are forgotten.
const ARRIVALS_TO_KEEP: usize = 10_000;

impl ConnectionLimits {
    pub fn new(config: LimitConfig) -> Arc<Self> {
        Arc::new(Self {
            config,
            counts: Mutex::new(Counts::default()),
        })
    }

    /// Takes a slot for a new connection from `ip`, or says why there is none. `kill` cuts
    /// this connection off if its handshake has to make room for a newer one.
    pub fn admit(
        self: &Arc<Self>,
        ip: IpAddr,
        kill: CancellationToken,
    ) -> Result<(ConnectionSlot, HandshakeSlot), Refusal> {
        let mut counts = self.counts.lock();
        let from_ip = counts.per_ip.get(&ip).copied().unwrap_or(0);
        if counts.total >= self.config.max_total {
            return Err(Refusal::ServerFull);
        }
        if from_ip >= self.config.max_per_ip {
            return Err(Refusal::PerIp);
        }
        let per_minute = f64::from(self.config.max_new_per_ip_per_minute);
        if counts.arrivals.len() > ARRIVALS_TO_KEEP {
            let now = Utc::now();
            counts
                .arrivals
                .retain(|_, bucket| !bucket.clone().try_take(now, per_minute));
        }
        let arrivals = counts
            .arrivals
            .entry(ip)
            .or_insert_with(|| TokenBucket::new(per_minute, per_minute / 60.0));
        if !arrivals.try_take(Utc::now(), 1.0) {
            return Err(Refusal::PerIpRate);
        }
        while counts.handshakes.len() >= self.config.max_unauthenticated.max(1) {
            if let Some((_, oldest)) = counts.handshakes.pop_front() {
                oldest.cancel();
                counts.evicted += 1;
            }
        }
        counts.total += 1;
        *counts.per_ip.entry(ip).or_insert(0) += 1;
        let id = counts.next_handshake;
        counts.next_handshake += 1;
        counts.handshakes.push_back((id, kill));
        Ok((
            ConnectionSlot {
                limits: Arc::clone(self),
                ip,
            },
            HandshakeSlot {
                limits: Arc::clone(self),
                id,
            },
        ))
    }

    /// Connections open now, and how many of them have not authenticated.
    pub fn in_use(&self) -> (usize, usize) {
        let counts = self.counts.lock();
        (counts.total, counts.handshakes.len())
    }

    /// How many unfinished handshakes were cut off to make room for newer ones.
    pub fn evicted(&self) -> u64 {
        self.counts.lock().evicted
    }
}

/// Held for as long as the connection is open.
#[derive(Debug)]
pub struct ConnectionSlot {
    limits: Arc<ConnectionLimits>,
    ip: IpAddr,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut counts = self.limits.counts.lock();
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                counts.per_ip.remove(&self.ip);
            }
        }
    }
}

/// Held until the connection authenticates (or ends).
#[derive(Debug)]
pub struct HandshakeSlot {
    limits: Arc<ConnectionLimits>,
    id: u64,
}

impl Drop for HandshakeSlot {
    fn drop(&mut self) {
        let mut counts = self.limits.counts.lock();
        if let Some(at) = counts.handshakes.iter().position(|(id, _)| *id == self.id) {
            counts.handshakes.remove(at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    fn limits(
        max_total: usize,
        max_per_ip: usize,
        per_minute: u32,
        max_unauthenticated: usize,
    ) -> Arc<ConnectionLimits> {
        ConnectionLimits::new(LimitConfig {
            max_total,
            max_per_ip,
            max_new_per_ip_per_minute: per_minute,
            max_unauthenticated,
        })
    }

    fn admit(
        l: &Arc<ConnectionLimits>,
        from: u8,
    ) -> Result<(ConnectionSlot, HandshakeSlot), Refusal> {
        l.admit(ip(from), CancellationToken::new())
    }

    #[test]
    fn per_ip_limit_refuses_and_frees() {
        let limits = limits(10, 2, 100, 10);
        let a = admit(&limits, 1).unwrap();
        let _b = admit(&limits, 1).unwrap();
        assert_eq!(admit(&limits, 1).unwrap_err(), Refusal::PerIp);
        assert!(
            admit(&limits, 2).is_ok(),
            "other addresses are not affected"
        );
        drop(a);
        assert!(admit(&limits, 1).is_ok());
    }

    #[test]
    fn new_connections_per_address_are_rate_limited() {
        let limits = limits(100, 100, 3, 100);
        for _ in 0..3 {
            drop(admit(&limits, 1).unwrap());
        }
        assert_eq!(admit(&limits, 1).unwrap_err(), Refusal::PerIpRate);
        assert!(admit(&limits, 2).is_ok());
    }

    #[test]
    fn a_full_handshake_pool_cuts_off_the_oldest_not_the_newest() {
        let limits = limits(10, 10, 100, 2);
        let first_kill = CancellationToken::new();
        let _first = limits.admit(ip(1), first_kill.clone()).unwrap();
        let _second = admit(&limits, 2).unwrap();
        let _third = admit(&limits, 3).unwrap();
        assert!(first_kill.is_cancelled(), "the oldest handshake made room");
        assert_eq!(limits.evicted(), 1);
        assert_eq!(limits.in_use().1, 2);
    }

    #[test]
    fn authenticated_connections_free_their_handshake_slot() {
        let limits = limits(10, 10, 100, 5);
        let (conn, handshake) = admit(&limits, 1).unwrap();
        drop(handshake);
        assert_eq!(limits.in_use(), (1, 0));
        drop(conn);
        assert_eq!(limits.in_use(), (0, 0));
    }

    #[test]
    fn total_limit() {
        let limits = limits(1, 10, 100, 10);
        let _a = admit(&limits, 1).unwrap();
        assert_eq!(admit(&limits, 2).unwrap_err(), Refusal::ServerFull);
    }
}
