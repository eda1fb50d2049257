//! `[metrics]` and `[log]`: how an operator watches a running server.

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

/// `[metrics]`: Prometheus metrics on a listener of their own, so they are
/// never served to the clients of the main port. Off unless `listen` is set.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Plain HTTP, `GET /metrics`; keep it on loopback or a private network.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
}

impl MetricsConfig {
    pub fn is_unset(&self) -> bool {
        self.listen.is_none()
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// `[log]`: the shape of the server's log on standard error.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    pub format: LogFormat,
    /// One line per request: request id, route, status, duration, client
    /// address and user id; never a token, a query string or a body.
    pub access_log: bool,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            access_log: true,
        }
    }
}
