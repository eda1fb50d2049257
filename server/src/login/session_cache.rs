//! A short-lived cache of what the database said about a login session, so
//! that a kept-alive client's requests do not each cost a database round
//! trip on PostgreSQL (on SQLite the query is in-process and nothing is
//! cached).
//!
//! Only sessions found valid are kept, for at most [`TTL`]. Whatever ends or
//! changes a user's access (logout, disabling, a reset second factor, a
//! revoked certificate, changed rights) forgets that user's entries here at
//! once and announces it to the other instances, which forget theirs
//! (`announce`); a lost announcement channel clears everything. A lookup
//! that raced with such a change is not stored: each change moves a
//! generation counter, and an entry read under an older generation is
//! dropped.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The longest an entry is trusted, announcements or not.
pub const TTL: Duration = Duration::from_secs(10);
/// Entries kept at most; past it, expired ones go, then everything.
const CAPACITY: usize = 100_000;

/// What a valid session's row said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedSession {
    pub thumbprint: [u8; 32],
    pub user_id: i64,
    pub username: String,
    pub email: String,
    pub is_admin: bool,
    pub certificate_serial: String,
}

#[derive(Debug)]
pub struct SessionCache {
    enabled: bool,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    generation: u64,
    entries: HashMap<String, (CachedSession, Instant)>,
}

impl SessionCache {
    /// A cache that keeps entries only when `enabled` (PostgreSQL).
    pub fn new(enabled: bool) -> Self {
        Self {
            enabled,
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Taken before the database is asked; handed back to [`Self::put`].
    pub fn generation(&self) -> u64 {
        self.state().generation
    }

    /// The session `sid` as last found valid over `thumbprint`'s connection.
    pub fn get(&self, sid: &str, thumbprint: &[u8; 32]) -> Option<CachedSession> {
        if !self.enabled {
            return None;
        }
        let state = self.state();
        let (session, stored_at) = state.entries.get(sid)?;
        (stored_at.elapsed() < TTL && session.thumbprint == *thumbprint).then(|| session.clone())
    }

    /// Keeps a session found valid, unless access changed since `generation`.
    pub fn put(&self, sid: &str, session: CachedSession, generation: u64) {
        if !self.enabled {
            return;
        }
        let mut state = self.state();
        if state.generation != generation {
            return;
        }
        if state.entries.len() >= CAPACITY {
            state
                .entries
                .retain(|_, (_, stored_at)| stored_at.elapsed() < TTL);
            if state.entries.len() >= CAPACITY {
                state.entries.clear();
            }
        }
        state.entries.insert(sid.to_owned(), (session, Instant::now()));
    }

    /// Forgets every session of `user_id`.
    pub fn forget_user(&self, user_id: i64) {
        let mut state = self.state();
        state.generation += 1;
        state.entries.retain(|_, (session, _)| session.user_id != user_id);
    }

    /// Forgets everything (the announcements may have been missed).
    pub fn clear(&self) {
        let mut state = self.state();
        state.generation += 1;
        state.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(user_id: i64) -> CachedSession {
        CachedSession {
            thumbprint: [7; 32],
            user_id,
            username: format!("user{user_id}"),
            email: format!("user{user_id}@example.com"),
            is_admin: false,
            certificate_serial: "01".into(),
        }
    }

    #[test]
    fn entries_serve_their_own_certificate_until_the_user_changes() {
        let cache = SessionCache::new(true);
        cache.put("s1", session(1), cache.generation());
        cache.put("s2", session(2), cache.generation());
        assert_eq!(cache.get("s1", &[7; 32]), Some(session(1)));
        assert_eq!(cache.get("s1", &[8; 32]), None, "another certificate");
        cache.forget_user(1);
        assert_eq!(cache.get("s1", &[7; 32]), None);
        assert_eq!(cache.get("s2", &[7; 32]), Some(session(2)));
        cache.clear();
        assert_eq!(cache.get("s2", &[7; 32]), None);
    }

    #[test]
    fn a_lookup_that_raced_with_a_change_is_not_kept() {
        let cache = SessionCache::new(true);
        let before = cache.generation();
        cache.forget_user(1);
        cache.put("s1", session(1), before);
        assert_eq!(cache.get("s1", &[7; 32]), None);
    }

    #[test]
    fn a_disabled_cache_keeps_nothing() {
        let cache = SessionCache::new(false);
        cache.put("s1", session(1), cache.generation());
        assert_eq!(cache.get("s1", &[7; 32]), None);
    }
}
