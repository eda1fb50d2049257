//! The connection watch: probes the server with backoff while it is away,
//! every ten seconds while it is healthy, and waits for a kick (set-up,
//! login, a failed request) when retrying cannot help. Only changes are
//! reported.

use super::{lock, Desktop};
use crate::error::ClientError;
use crate::status::{self, ConnectionStatus};
use std::sync::Arc;
use std::time::Duration;

/// How often a healthy connection is probed.
const HEALTHY_INTERVAL: Duration = Duration::from_secs(10);

impl Desktop {
    /// The connection as the watch last saw it (`None` before its first
    /// probe).
    pub fn status(&self) -> Option<ConnectionStatus> {
        lock(&self.status).clone()
    }

    /// Is the server there and does it accept this computer's certificate?
    pub async fn check_connection(&self) -> Result<(), ClientError> {
        self.require_api()?.check().await
    }

    /// A request that failed on the connection wakes the watch at once.
    pub(super) fn notice<T>(&self, result: &Result<T, ClientError>) {
        if let Err(error) = result {
            if ConnectionStatus::after(error).0 != ConnectionStatus::Connected {
                self.kick.notify_one();
            }
        }
    }

    /// Reports the connection status for as long as the app runs: probes
    /// with backoff while the server is away, and waits for a kick (set-up,
    /// login, a failed request) when retrying cannot help.
    pub async fn watch_connection<R>(self: Arc<Self>, report: R)
    where
        R: Fn(&ConnectionStatus) + Send + Sync,
    {
        // Only changes are reported; the latest is kept for `status()`.
        let report = |status: &ConnectionStatus| {
            let changed = {
                let mut last = lock(&self.status);
                let changed = last.as_ref() != Some(status);
                *last = Some(status.clone());
                changed
            };
            if changed {
                report(status);
            }
        };
        let kick = &self.kick;
        loop {
            let ended = status::watch(
                || async {
                    let api = self.require_api()?;
                    if api.logged_in().await {
                        api.me().await.map(|_| ())
                    } else {
                        api.check().await?;
                        Err(ClientError::LoginNeeded)
                    }
                },
                move |delay| async move {
                    // A kick cuts the wait short (the user just logged in).
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = kick.notified() => {}
                    }
                    true
                },
                report,
                HEALTHY_INTERVAL,
            )
            .await;
            tracing::debug!(?ended, "connection watch waits for a change");
            self.kick.notified().await;
        }
    }
}
