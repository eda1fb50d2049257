//! In-memory throttling of failed attempts, keyed by account name or client
//! address. Each failure past the allowance locks the key for a period that
//! doubles, up to a ceiling; a success clears the key.
//!
//! The state lives in memory: a restart forgets it, and several instances
//! each keep their own. The second factor's lockout, which matters most, is
//! stored in the database instead.

use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Failures allowed before the first lock.
    pub allowance: u32,
    /// Failures older than this are forgotten.
    pub window_secs: i64,
    pub first_lock_secs: i64,
    pub max_lock_secs: i64,
}

#[derive(Debug, Default, Clone, Copy)]
struct Entry {
    failures: u32,
    first_failure_at: i64,
    locked_until: i64,
}

/// Keys are kept until they age out; [`Throttle::failure`] prunes when the
/// map grows, so a flood of distinct keys cannot grow it without bound.
#[derive(Debug)]
pub struct Throttle {
    policy: Policy,
    entries: Mutex<HashMap<String, Entry>>,
}

const PRUNE_ABOVE: usize = 10_000;

impl Throttle {
    pub fn new(policy: Policy) -> Self {
        Self {
            policy,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Seconds to wait if `key` is locked at `now`.
    pub fn locked_for(&self, key: &str, now: i64) -> Option<u64> {
        let entries = self
            .entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        entries
            .get(key)
            .filter(|entry| entry.locked_until > now)
            .map(|entry| u64::try_from(entry.locked_until - now).unwrap_or(1))
    }

    /// Records a failure; returns the lock period if this failure locks.
    pub fn failure(&self, key: &str, now: i64) -> Option<u64> {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if entries.len() > PRUNE_ABOVE {
            let window = self.policy.window_secs;
            entries.retain(|_, entry| entry.locked_until > now || now - entry.first_failure_at < window);
        }
        let entry = entries.entry(key.to_owned()).or_default();
        if entry.failures == 0 || now - entry.first_failure_at >= self.policy.window_secs {
            *entry = Entry {
                failures: 0,
                first_failure_at: now,
                locked_until: entry.locked_until,
            };
        }
        entry.failures += 1;
        let over = entry.failures.checked_sub(self.policy.allowance)?;
        let doublings = over.min(16);
        let lock = (self.policy.first_lock_secs << doublings).min(self.policy.max_lock_secs);
        entry.locked_until = now + lock;
        u64::try_from(lock).ok()
    }

    pub fn success(&self, key: &str) {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        entries.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle() -> Throttle {
        Throttle::new(Policy {
            allowance: 3,
            window_secs: 600,
            first_lock_secs: 10,
            max_lock_secs: 60,
        })
    }

    #[test]
    fn locks_after_allowance_with_growing_periods() {
        let throttle = throttle();
        assert_eq!(throttle.failure("ada", 0), None);
        assert_eq!(throttle.failure("ada", 0), None);
        assert_eq!(throttle.locked_for("ada", 0), None);
        assert_eq!(throttle.failure("ada", 0), Some(10));
        assert_eq!(throttle.locked_for("ada", 5), Some(5));
        assert_eq!(throttle.locked_for("ada", 10), None);
        assert_eq!(throttle.failure("ada", 11), Some(20));
        assert_eq!(throttle.failure("ada", 40), Some(40));
        assert_eq!(throttle.failure("ada", 90), Some(60));
        assert_eq!(throttle.locked_for("bob", 90), None);
    }

    #[test]
    fn success_and_time_forget_failures() {
        let throttle = throttle();
        throttle.failure("ada", 0);
        throttle.failure("ada", 0);
        throttle.success("ada");
        assert_eq!(throttle.failure("ada", 0), None);
        throttle.failure("ada", 0);
        assert_eq!(throttle.failure("ada", 1000), None);
    }
}
