//! Connection limits: in all, per IP address, and not yet authenticated.
//!
//! A slot is taken when a TCP connection is accepted and given back when its guard drops, so
//! a connection that ends in any way (error, kill, timeout, panic in its task) frees it.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use parking_lot::Mutex;

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The server holds as many connections as it may.
    ServerFull,
    /// This address holds as many connections as one address may.
    PerIp,
    /// Too many connections are still in their handshake.
    Unauthenticated,
}

impl Refusal {
    /// A label for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::ServerFull => "server_full",
            Refusal::PerIp => "per_ip",
            Refusal::Unauthenticated => "unauthenticated",
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Refusal::ServerFull => "the server is full; try again later",
            Refusal::PerIp => "too many connections from your address; close one and try again",
            Refusal::Unauthenticated => {
                "the server is busy with other logins; try again in a moment"
            }
        })
    }
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    unauthenticated: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// The limits and what is in use.
#[derive(Debug)]
pub struct ConnectionLimits {
    max_total: usize,
    max_per_ip: usize,
    max_unauthenticated: usize,
    counts: Mutex<Counts>,
}

impl ConnectionLimits {
    pub fn new(max_total: usize, max_per_ip: usize, max_unauthenticated: usize) -> Arc<Self> {
        Arc::new(Self {
            max_total,
            max_per_ip,
            max_unauthenticated,
            counts: Mutex::new(Counts::default()),
        })
    }

    /// Takes a slot for a new connection from `ip`, or says why there is none.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<(ConnectionSlot, HandshakeSlot), Refusal> {
        let mut counts = self.counts.lock();
        let from_ip = counts.per_ip.get(&ip).copied().unwrap_or(0);
        if counts.total >= self.max_total {
            return Err(Refusal::ServerFull);
        }
        if from_ip >= self.max_per_ip {
            return Err(Refusal::PerIp);
        }
        if counts.unauthenticated >= self.max_unauthenticated {
            return Err(Refusal::Unauthenticated);
        }
        counts.total += 1;
        counts.unauthenticated += 1;
        *counts.per_ip.entry(ip).or_insert(0) += 1;
        Ok((
            ConnectionSlot {
                limits: Arc::clone(self),
                ip,
            },
            HandshakeSlot {
                limits: Arc::clone(self),
            },
        ))
    }

    /// Connections open now, and how many of them have not authenticated.
    pub fn in_use(&self) -> (usize, usize) {
        let counts = self.counts.lock();
        (counts.total, counts.unauthenticated)
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
}

impl Drop for HandshakeSlot {
    fn drop(&mut self) {
        let mut counts = self.limits.counts.lock();
        counts.unauthenticated = counts.unauthenticated.saturating_sub(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    #[test]
    fn per_ip_limit_refuses_and_frees() {
        let limits = ConnectionLimits::new(10, 2, 10);
        let a = limits.admit(ip(1)).unwrap();
        let _b = limits.admit(ip(1)).unwrap();
        assert_eq!(limits.admit(ip(1)).unwrap_err(), Refusal::PerIp);
        assert!(
            limits.admit(ip(2)).is_ok(),
            "other addresses are not affected"
        );
        drop(a);
        assert!(limits.admit(ip(1)).is_ok());
    }

    #[test]
    fn authenticated_connections_free_their_handshake_slot() {
        let limits = ConnectionLimits::new(10, 10, 1);
        let (conn, handshake) = limits.admit(ip(1)).unwrap();
        assert_eq!(limits.admit(ip(2)).unwrap_err(), Refusal::Unauthenticated);
        drop(handshake);
        let _second = limits.admit(ip(2)).unwrap();
        assert_eq!(limits.in_use(), (2, 1));
        drop(conn);
        assert_eq!(limits.in_use(), (1, 1));
    }

    #[test]
    fn total_limit() {
        let limits = ConnectionLimits::new(1, 10, 10);
        let _a = limits.admit(ip(1)).unwrap();
        assert_eq!(limits.admit(ip(2)).unwrap_err(), Refusal::ServerFull);
    }
}
