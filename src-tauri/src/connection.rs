//! The connection status line: the client's connection watch, reported to
//! the sidebar as it changes; and the device certificate's renewal, with
//! what the sidebar shows about it.

use crate::ambient::Ambient;
use crate::events::{CertificateChanged, StatusChanged};
use sightline_client::desktop::Desktop;
use std::sync::Arc;
use tauri::{AppHandle, Manager};
use tauri_specta::Event;

/// Reports the connection to the UI for as long as the app runs.
pub fn spawn_watch(app: AppHandle, desktop: Arc<Desktop>) {
    tauri::async_runtime::spawn(desktop.watch_connection(move |status| {
        tracing::info!(status = %status.describe(), "connection");
        if let Err(error) = StatusChanged::from(status).emit(&app) {
            tracing::warn!(%error, "the status could not be shown");
        }
        // Ambient awareness does not look while nothing could be sent.
        if let Some(ambient) = app.try_state::<Ambient>() {
            ambient.watch.refresh();
        }
    }));
}

/// Renews the device certificate when it is due, for as long as the app
/// runs, and tells the sidebar when renewal keeps failing near expiry.
pub fn spawn_renewal(app: AppHandle, desktop: Arc<Desktop>) {
    tauri::async_runtime::spawn(desktop.keep_certificate_fresh(move |notice| {
        tracing::info!(?notice, "device certificate");
        let event = CertificateChanged {
            notice: notice.clone(),
        };
        if let Err(error) = event.emit(&app) {
            tracing::warn!(%error, "the certificate notice could not be shown");
        }
    }));
}
