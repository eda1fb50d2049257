//! Throttling of failed attempts (and of requests, where each counts),
//! keyed by account name, client address or user. Each failure past the
//! allowance locks the key for a period that doubles, up to a ceiling; a
//! success clears the key.
//!
//! The counts live in the database (`throttles`), so every instance behind
//! a load balancer counts against the same allowance: each failure is one
//! atomic upsert that returns the new count, so parallel attempts on
//! different instances each see their own number.
//!
//! Where each attempt is slow to judge (a password's hash), checking the
//! lock and counting the attempt are one statement ([`Throttle::reserve`]):
//! the attempt counts as a failure before it is judged, so however many
//! guesses arrive at once, at most the allowance is judged before the lock.
//! A success gives the place back.

use crate::db::Db;
use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Failures allowed before the first lock.
    pub allowance: u32,
    /// Failures older than this are forgotten.
    pub window_secs: i64,
    pub first_lock_secs: i64,
    pub max_lock_secs: i64,
}

/// An attempt counted before it was judged: its number in the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "a reserved attempt is settled as a failure or given back"]
pub struct Reserved {
    failures: i64,
}

/// One kind of count (`scope`), such as password failures per account.
#[derive(Debug)]
pub struct Throttle {
    scope: &'static str,
    policy: Policy,
}

impl Throttle {
    pub fn new(scope: &'static str, policy: Policy) -> Self {
        Self { scope, policy }
    }

    /// Seconds to wait if `key` is locked at `now`.
    pub async fn locked_for(&self, db: &Db, key: &str, now: i64) -> Result<Option<u64>> {
        let locked_until: Option<i64> =
            sqlx::query_scalar("SELECT locked_until FROM throttles WHERE scope = $1 AND key = $2")
                .bind(self.scope)
                .bind(key)
                .fetch_optional(db)
                .await?;
        Ok(locked_until
            .filter(|until| *until > now)
            .map(|until| u64::try_from(until - now).unwrap_or(1)))
    }

    /// Records a failure; returns the lock period if this failure locks.
    pub async fn failure(&self, db: &Db, key: &str, now: i64) -> Result<Option<u64>> {
        // A count older than the window starts again at this failure.
        let failures: i64 = sqlx::query_scalar(
            "INSERT INTO throttles (scope, key, failures, first_failure_at, locked_until)
             VALUES ($1, $2, 1, $3, 0)
             ON CONFLICT (scope, key) DO UPDATE SET
                 failures = CASE WHEN throttles.first_failure_at <= $3 - $4 THEN 1 ELSE throttles.failures + 1 END,
                 first_failure_at = CASE WHEN throttles.first_failure_at <= $3 - $4 THEN $3 ELSE throttles.first_failure_at END
             RETURNING failures",
        )
        .bind(self.scope)
        .bind(key)
        .bind(now)
        .bind(self.policy.window_secs)
        .fetch_one(db)
        .await?;
        self.lock(db, key, now, failures).await
    }

    /// Counts an attempt as a failure and checks the lock, in one
    /// statement; refused (`TooManyAttempts`) while the key is locked.
    /// The attempt that could earn the lock holds it while it is judged
    /// (for the first lock's length, should the judging never end), so
    /// attempts arriving meanwhile are refused as if it had failed.
    pub async fn reserve(&self, db: &Db, key: &str, now: i64) -> Result<Reserved> {
        // On a locked key the update does not happen and nothing returns;
        // a count older than the window starts again at this attempt.
        let failures: Option<i64> = sqlx::query_scalar(
            "INSERT INTO throttles (scope, key, failures, first_failure_at, locked_until)
             VALUES ($1, $2, 1, $3, CASE WHEN 1 >= $5 THEN $3 + $6 ELSE 0 END)
             ON CONFLICT (scope, key) DO UPDATE SET
                 failures = CASE WHEN throttles.first_failure_at <= $3 - $4 THEN 1
                                 ELSE throttles.failures + 1 END,
                 first_failure_at = CASE WHEN throttles.first_failure_at <= $3 - $4 THEN $3
                                         ELSE throttles.first_failure_at END,
                 locked_until = CASE WHEN (CASE WHEN throttles.first_failure_at <= $3 - $4 THEN 1
                                                ELSE throttles.failures + 1 END) >= $5 THEN $3 + $6
                                     ELSE throttles.locked_until END
             WHERE throttles.locked_until <= $3
             RETURNING failures",
        )
        .bind(self.scope)
        .bind(key)
        .bind(now)
        .bind(self.policy.window_secs)
        .bind(i64::from(self.policy.allowance))
        .bind(self.policy.first_lock_secs)
        .fetch_optional(db)
        .await?;
        match failures {
            Some(failures) => Ok(Reserved { failures }),
            None => Err(Error::TooManyAttempts {
                retry_after: self.locked_for(db, key, now).await?.unwrap_or(1),
            }),
        }
    }

    /// The reserved attempt failed: sets the lock its number earns (in
    /// place of the one it held while judged).
    pub async fn settle_failure(
        &self,
        db: &Db,
        key: &str,
        now: i64,
        attempt: Reserved,
    ) -> Result<Option<u64>> {
        // The lock it earns is never shorter than the one it held (the
        // first lock, from the same moment), so the usual "only ever
        // longer" update replaces it.
        self.lock(db, key, now, attempt.failures).await
    }

    /// The reserved attempt was not a failure (it succeeded, or was refused
    /// elsewhere before being judged): its count, and the lock it held
    /// while judged, are taken back.
    pub async fn give_back(&self, db: &Db, key: &str, attempt: Reserved) -> Result<()> {
        let held_lock = self.lock_after(attempt.failures).is_some();
        sqlx::query(
            "UPDATE throttles SET failures = CASE WHEN failures > 0 THEN failures - 1 ELSE 0 END,
                 locked_until = CASE WHEN $3 THEN 0 ELSE locked_until END
             WHERE scope = $1 AND key = $2",
        )
        .bind(self.scope)
        .bind(key)
        .bind(held_lock)
        .execute(db)
        .await?;
        Ok(())
    }

    async fn lock(&self, db: &Db, key: &str, now: i64, failures: i64) -> Result<Option<u64>> {
        let Some(lock) = self.lock_after(failures) else {
            return Ok(None);
        };
        sqlx::query(
            "UPDATE throttles SET locked_until = $3 WHERE scope = $1 AND key = $2 AND locked_until < $3",
        )
        .bind(self.scope)
        .bind(key)
        .bind(now + lock)
        .execute(db)
        .await?;
        Ok(u64::try_from(lock).ok())
    }

    pub async fn success(&self, db: &Db, key: &str) -> Result<()> {
        sqlx::query("DELETE FROM throttles WHERE scope = $1 AND key = $2")
            .bind(self.scope)
            .bind(key)
            .execute(db)
            .await?;
        Ok(())
    }

    /// The lock that the `failures`-th failure earns, if any.
    fn lock_after(&self, failures: i64) -> Option<i64> {
        let over = failures.checked_sub(i64::from(self.policy.allowance))?;
        if over < 0 {
            return None;
        }
        let doublings = over.min(16);
        Some((self.policy.first_lock_secs << doublings).min(self.policy.max_lock_secs))
    }
}

/// Forgets counts that can no longer lock anything (run periodically), so
/// a flood of distinct keys cannot grow the table without bound.
pub async fn prune(db: &Db, now: i64, longest_window_secs: i64) -> Result<u64> {
    Ok(
        sqlx::query("DELETE FROM throttles WHERE locked_until <= $1 AND first_failure_at < $2")
            .bind(now)
            .bind(now - longest_window_secs)
            .execute(db)
            .await?
            .rows_affected(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::testing::sqlite;

    fn throttle() -> Throttle {
        Throttle::new(
            "test",
            Policy {
                allowance: 3,
                window_secs: 600,
                first_lock_secs: 10,
                max_lock_secs: 60,
            },
        )
    }

    #[tokio::test]
    async fn locks_after_allowance_with_growing_periods() {
        let dir = tempfile::tempdir().unwrap();
        let db = sqlite(dir.path()).await;
        let throttle = throttle();
        assert_eq!(throttle.failure(&db, "ada", 0).await.unwrap(), None);
        assert_eq!(throttle.failure(&db, "ada", 0).await.unwrap(), None);
        assert_eq!(throttle.locked_for(&db, "ada", 0).await.unwrap(), None);
        assert_eq!(throttle.failure(&db, "ada", 0).await.unwrap(), Some(10));
        assert_eq!(throttle.locked_for(&db, "ada", 5).await.unwrap(), Some(5));
        assert_eq!(throttle.locked_for(&db, "ada", 10).await.unwrap(), None);
        assert_eq!(throttle.failure(&db, "ada", 11).await.unwrap(), Some(20));
        assert_eq!(throttle.failure(&db, "ada", 40).await.unwrap(), Some(40));
        assert_eq!(throttle.failure(&db, "ada", 90).await.unwrap(), Some(60));
        assert_eq!(throttle.locked_for(&db, "bob", 90).await.unwrap(), None);
        // Another scope with the same key counts on its own.
        let other = Throttle::new("other", throttle.policy);
        assert_eq!(other.locked_for(&db, "ada", 90).await.unwrap(), None);
    }

    #[tokio::test]
    async fn success_and_time_forget_failures() {
        let dir = tempfile::tempdir().unwrap();
        let db = sqlite(dir.path()).await;
        let throttle = throttle();
        throttle.failure(&db, "ada", 0).await.unwrap();
        throttle.failure(&db, "ada", 0).await.unwrap();
        throttle.success(&db, "ada").await.unwrap();
        assert_eq!(throttle.failure(&db, "ada", 0).await.unwrap(), None);
        throttle.failure(&db, "ada", 0).await.unwrap();
        assert_eq!(throttle.failure(&db, "ada", 1000).await.unwrap(), None);
        assert_eq!(prune(&db, 5000, 600).await.unwrap(), 1);
    }

    #[tokio::test]
    async fn parallel_reservations_are_held_to_the_allowance() {
        let dir = tempfile::tempdir().unwrap();
        let db = sqlite(dir.path()).await;
        let throttle = std::sync::Arc::new(throttle());
        let attempts: Vec<_> = (0..16)
            .map(|_| {
                let (db, throttle) = (db.clone(), throttle.clone());
                tokio::spawn(async move { throttle.reserve(&db, "ada", 0).await })
            })
            .collect();
        let mut judged = Vec::new();
        for attempt in attempts {
            if let Ok(reserved) = attempt.await.unwrap() {
                judged.push(reserved);
            }
        }
        assert_eq!(judged.len(), 3, "only the allowance is judged");
        assert!(throttle.locked_for(&db, "ada", 1).await.unwrap().is_some());
        // The judged ones fail: the third earns the first lock.
        assert_eq!(
            throttle.settle_failure(&db, "ada", 0, judged[0]).await.unwrap(),
            if judged[0].failures == 3 { Some(10) } else { None }
        );
    }

    #[tokio::test]
    async fn a_reservation_given_back_leaves_the_count_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let db = sqlite(dir.path()).await;
        let throttle = throttle();
        for _ in 0..10 {
            let reserved = throttle.reserve(&db, "office", 0).await.unwrap();
            throttle.give_back(&db, "office", reserved).await.unwrap();
        }
        let reserved = throttle.reserve(&db, "office", 0).await.unwrap();
        assert_eq!(reserved.failures, 1);
        assert_eq!(
            throttle.settle_failure(&db, "office", 0, reserved).await.unwrap(),
            None
        );
        // A locked key refuses without counting.
        for _ in 0..2 {
            let reserved = throttle.reserve(&db, "office", 0).await.unwrap();
            let _ = throttle.settle_failure(&db, "office", 0, reserved).await.unwrap();
        }
        let error = throttle.reserve(&db, "office", 5).await.unwrap_err();
        assert!(
            matches!(error, Error::TooManyAttempts { retry_after: 5 }),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn parallel_failures_each_count() {
        let dir = tempfile::tempdir().unwrap();
        let db = sqlite(dir.path()).await;
        let throttle = std::sync::Arc::new(throttle());
        let attempts: Vec<_> = (0..8)
            .map(|_| {
                let (db, throttle) = (db.clone(), throttle.clone());
                tokio::spawn(async move { throttle.failure(&db, "ada", 0).await.unwrap() })
            })
            .collect();
        let mut locks = 0;
        for attempt in attempts {
            locks += usize::from(attempt.await.unwrap().is_some());
        }
        // Failures 3 to 8 lock: none was lost to a race.
        assert_eq!(locks, 6);
    }
}
