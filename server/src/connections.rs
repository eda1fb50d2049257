//! The caps on open connections: in all (`[server] max_connections`) and
//! per client address (`max_connections_per_address`). A connection over
//! a cap is not served: it gets one clear answer, `503
//! too_many_connections` with `Retry-After`, and is closed. Far over the
//! cap (a flood) it is closed at once, without the cost of a handshake.
//!
//! The address is the client's, read after the PROXY header when a
//! balancer sends one, so one busy balancer does not count as one client.

use prometheus_client::metrics::gauge::Gauge;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

/// Which cap a connection ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Over the cap, still within the headroom: answered, then closed.
    Total,
    PerAddress,
    /// Far over the cap: closed without a handshake.
    Flood,
}

impl Refusal {
    pub fn reason(self) -> &'static str {
        match self {
            Self::Total => "max_connections",
            Self::PerAddress => "max_connections_per_address",
            Self::Flood => "max_connections_flood",
        }
    }
}

#[derive(Debug)]
pub struct ConnectionLimits {
    max_total: usize,
    max_per_address: usize,
    /// Every open connection, refused ones included (each holds a socket).
    open: Gauge,
    per_address: Mutex<HashMap<IpAddr, usize>>,
}

/// One open connection; closing it (dropping this) frees its places.
#[derive(Debug)]
pub struct OpenConnection {
    limits: Arc<ConnectionLimits>,
    address: Option<IpAddr>,
}

impl ConnectionLimits {
    /// `open` is the gauge the metrics export, so the cap and the metric
    /// can never disagree.
    pub fn new(max_total: usize, max_per_address: usize, open: Gauge) -> Arc<Self> {
        Arc::new(Self {
            max_total,
            max_per_address,
            open,
            per_address: Mutex::new(HashMap::new()),
        })
    }

    /// Counts a newly accepted connection; `Err` when it is over the cap.
    pub fn open(self: &Arc<Self>) -> (OpenConnection, Result<(), Refusal>) {
        let before = usize::try_from(self.open.inc()).unwrap_or(0);
        let connection = OpenConnection {
            limits: self.clone(),
            address: None,
        };
        // Refusing politely costs a handshake; past this headroom a flood
        // is cut off instead.
        let headroom = (self.max_total / 16).max(16);
        let verdict = if before >= self.max_total + headroom {
            Err(Refusal::Flood)
        } else if before >= self.max_total {
            Err(Refusal::Total)
        } else {
            Ok(())
        };
        (connection, verdict)
    }

    /// Takes a place for the client at `address` on `connection`.
    pub fn claim_address(&self, connection: &mut OpenConnection, address: IpAddr) -> Result<(), Refusal> {
        let mut counts = self.per_address.lock().unwrap_or_else(PoisonError::into_inner);
        let count = counts.entry(address).or_insert(0);
        if *count >= self.max_per_address {
            return Err(Refusal::PerAddress);
        }
        *count += 1;
        connection.address = Some(address);
        Ok(())
    }

    pub fn open_count(&self) -> usize {
        usize::try_from(self.open.get()).unwrap_or(0)
    }

    fn release(&self, address: Option<IpAddr>) {
        self.open.dec();
        let Some(address) = address else {
            return;
        };
        let mut counts = self.per_address.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = counts.get_mut(&address) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                // Forget idle addresses, so the map holds only open clients.
                counts.remove(&address);
            }
        }
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.limits.release(self.address);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(last: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, last])
    }

    #[test]
    fn the_total_cap_refuses_the_surplus_and_frees_places_on_close() {
        let limits = ConnectionLimits::new(2, 2, Gauge::default());
        let (first, verdict) = limits.open();
        assert_eq!(verdict, Ok(()));
        let (_second, verdict) = limits.open();
        assert_eq!(verdict, Ok(()));
        let (third, verdict) = limits.open();
        assert_eq!(verdict, Err(Refusal::Total));
        assert_eq!(limits.open_count(), 3);
        drop(third);
        drop(first);
        assert_eq!(limits.open_count(), 1);
        let (_again, verdict) = limits.open();
        assert_eq!(verdict, Ok(()));
    }

    #[test]
    fn a_flood_far_over_the_cap_is_cut_off() {
        let limits = ConnectionLimits::new(1, 1, Gauge::default());
        let held: Vec<_> = (0..17).map(|_| limits.open().0).collect();
        assert_eq!(limits.open().1, Err(Refusal::Flood));
        drop(held);
        assert_eq!(limits.open_count(), 0);
    }

    #[test]
    fn each_address_has_its_own_allowance() {
        let limits = ConnectionLimits::new(10, 1, Gauge::default());
        let (mut first, _) = limits.open();
        assert_eq!(limits.claim_address(&mut first, address(1)), Ok(()));
        let (mut second, _) = limits.open();
        assert_eq!(
            limits.claim_address(&mut second, address(1)),
            Err(Refusal::PerAddress)
        );
        let (mut other, _) = limits.open();
        assert_eq!(limits.claim_address(&mut other, address(2)), Ok(()));
        drop(first);
        let (mut again, _) = limits.open();
        assert_eq!(limits.claim_address(&mut again, address(1)), Ok(()));
        drop((second, other, again));
        assert!(limits.per_address.lock().unwrap().is_empty());
    }
}
