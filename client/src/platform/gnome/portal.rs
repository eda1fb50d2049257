//! Calls to the desktop portals (`org.freedesktop.portal.*`) over the
//! session bus. A portal method answers at once with a request object and
//! later, once the desktop (or the user, in a dialog) has decided, with a
//! `Response` signal on it; [`Portal::request`] subscribes before it calls,
//! so an answer that comes at once is not missed.

use crate::error::ClientError;
use serde::de::DeserializeOwned;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use zbus::blocking::{Connection, Proxy};
use zbus::zvariant::{DynamicType, OwnedObjectPath, Type};

pub(crate) const DESKTOP: &str = "org.freedesktop.portal.Desktop";
const DESKTOP_PATH: &str = "/org/freedesktop/portal/desktop";

pub(crate) fn failed(error: impl std::fmt::Display) -> ClientError {
    ClientError::Capture(format!("the desktop portal: {error}"))
}

/// How the desktop answered a request.
#[derive(Debug)]
pub(crate) enum Answer<T> {
    Granted(T),
    /// The user said no (closed the dialog or pressed Cancel).
    Refused,
    /// The desktop ended the request for another reason.
    Ended,
}

/// One connection to the session bus, for portal calls.
#[derive(Clone)]
pub(crate) struct Portal {
    connection: Connection,
}

impl Portal {
    pub(crate) fn connect() -> Result<Self, ClientError> {
        Ok(Self {
            connection: Connection::session().map_err(failed)?,
        })
    }

    /// The `version` property of a portal interface, or `None` where the
    /// desktop does not offer that portal at all.
    pub(crate) fn version(&self, interface: &str) -> Option<u32> {
        let proxy = Proxy::new(&self.connection, DESKTOP, DESKTOP_PATH, interface).ok()?;
        proxy.get_property::<u32>("version").ok()
    }

    /// A proxy for a portal interface on the portal's main object. It
    /// caches no properties: fetching them would cost a round trip for
    /// every proxy, and method calls are all it is used for.
    pub(crate) fn interface(&self, interface: &'static str) -> Result<Proxy<'static>, ClientError> {
        zbus::blocking::proxy::Builder::new(&self.connection)
            .destination(DESKTOP)
            .and_then(|builder| builder.path(DESKTOP_PATH))
            .and_then(|builder| builder.interface(interface))
            .map(|builder| builder.cache_properties(zbus::proxy::CacheProperties::No))
            .and_then(|builder| builder.build())
            .map_err(failed)
    }

    /// A token unique in this connection, for `handle_token` and
    /// `session_handle_token`.
    pub(crate) fn token(&self) -> String {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        format!(
            "sightline{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// Calls `method`, whose arguments `body` builds around the request's
    /// `handle_token`, and waits for its `Response`: the results decoded as
    /// `T` when the answer is yes. This blocks until the desktop answers,
    /// which, where a dialog is shown, is when the user does.
    pub(crate) fn request<B, T>(
        &self,
        interface: &'static str,
        method: &str,
        body: impl FnOnce(String) -> B,
    ) -> Result<Answer<T>, ClientError>
    where
        B: serde::Serialize + DynamicType,
        T: DeserializeOwned + Type,
    {
        let token = self.token();
        let sender = self
            .connection
            .unique_name()
            .ok_or_else(|| failed("no name on the session bus"))?
            .trim_start_matches(':')
            .replace('.', "_");
        let path = format!("{DESKTOP_PATH}/request/{sender}/{token}");
        let request =
            Proxy::new(&self.connection, DESKTOP, path, "org.freedesktop.portal.Request").map_err(failed)?;
        let mut responses = request.receive_signal("Response").map_err(failed)?;
        let _handle: OwnedObjectPath = self
            .interface(interface)?
            .call(method, &body(token.clone()))
            .map_err(failed)?;
        let response = responses
            .next()
            .ok_or_else(|| failed(format!("{method} got no answer")))?;
        let (code, results): (u32, T) = response.body().deserialize().map_err(failed)?;
        Ok(match code {
            0 => Answer::Granted(results),
            1 => Answer::Refused,
            _ => Answer::Ended,
        })
    }

    /// Ends a portal session (a cast, a remote-desktop session).
    pub(crate) fn close_session(&self, session: &OwnedObjectPath) {
        let closed = Proxy::new(
            &self.connection,
            DESKTOP,
            session.as_str(),
            "org.freedesktop.portal.Session",
        )
        .and_then(|proxy| proxy.call_method("Close", &()));
        if let Err(error) = closed {
            tracing::debug!(%error, "the portal session was already closed");
        }
    }

    /// Whether the desktop still remembers what the user allowed under
    /// `id` in its permission store `table` (a restore token of a screen
    /// cast, for one). Starting with a forgotten token would show the
    /// dialog again, which must not happen in the middle of a silent look.
    pub(crate) fn remembered(&self, table: &str, id: &str) -> bool {
        let Ok(store) = Proxy::new(
            &self.connection,
            "org.freedesktop.impl.portal.PermissionStore",
            "/org/freedesktop/impl/portal/PermissionStore",
            "org.freedesktop.impl.portal.PermissionStore",
        ) else {
            return false;
        };
        store.call_method("Lookup", &(table, id)).is_ok()
    }
}

/// A portal's restore token, kept 0600 in the config directory. Tokens
/// are single-use: each start answers with the next one, saved at once.
pub(crate) struct TokenFile {
    pub(crate) path: PathBuf,
    /// What the token restores, for the log.
    pub(crate) what: &'static str,
}

impl TokenFile {
    pub(crate) fn read(&self) -> Option<String> {
        std::fs::read_to_string(&self.path)
            .ok()
            .map(|token| token.trim().to_owned())
            .filter(|token| !token.is_empty())
    }

    pub(crate) fn save(&self, token: Option<&str>) {
        let saved = match token {
            Some(token) => crate::store::write_private(&self.path, token.as_bytes()),
            None => crate::store::remove_if_present(&self.path),
        };
        if let Err(error) = saved {
            tracing::warn!(%error, what = self.what, "a restore token could not be stored");
        }
    }
}
