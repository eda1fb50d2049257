//! The events the shell sends to the sidebar's pages. Their names and
//! payloads are part of the generated bindings (`bindings.rs`).

use serde::Serialize;
use sightline_client::ambient::{AmbientStatus, Insight};
use sightline_client::desktop::chat::ChatEvent;
use sightline_client::desktop::redaction::PicturePreview;
use sightline_client::desktop::renewal::CertificateNotice;
use sightline_client::platform::ScreenAccess;
use sightline_client::rewrite::session::RewritePanel;
use sightline_client::status::ConnectionStatus;
use sightline_client::ClientError;
use tauri_specta::Event;

/// The connection changed (the status line).
#[derive(Debug, Clone, Serialize, specta::Type, Event)]
pub struct StatusChanged {
    pub status: ConnectionStatus,
    pub text: String,
}

impl From<&ConnectionStatus> for StatusChanged {
    fn from(status: &ConnectionStatus) -> Self {
        Self {
            status: status.clone(),
            text: status.describe(),
        }
    }
}

/// What the sidebar shows about the device certificate changed.
#[derive(Debug, Clone, Serialize, specta::Type, Event)]
pub struct CertificateChanged {
    pub notice: CertificateNotice,
}

/// The sidebar was folded or unfolded (by hotkey, tray or tab).
#[derive(Debug, Clone, Serialize, specta::Type, Event)]
pub struct SidebarChanged {
    pub collapsed: bool,
}

/// Ambient awareness changed: on, off, paused, or not looking (and why).
#[derive(Debug, Clone, Serialize, specta::Type, Event)]
pub struct AmbientChanged {
    pub status: AmbientStatus,
}

/// An insight from ambient awareness: `event` is `null` when it begins,
/// then its answer streams in.
#[derive(Debug, Clone, Serialize, specta::Type, Event)]
pub struct AmbientInsight {
    pub insight: Insight,
    pub event: Option<ChatEvent>,
}

/// The rewrite shortcut opened a rewrite (or brought the open one back).
#[derive(Debug, Clone, Serialize, specta::Type, Event)]
pub struct RewriteOpened {
    pub panel: RewritePanel,
}

/// A shortcut's action could not be carried out (the rewrite could not
/// read a selection, the selection overlay could not open); the sidebar
/// shows why.
#[derive(Debug, Clone, Serialize, specta::Type, Event)]
pub struct ShortcutFailed {
    pub error: ClientError,
}

/// A region was selected on the overlay and checked for secrets; it goes
/// with the next question, as its preview shows it.
#[derive(Debug, Clone, Serialize, specta::Type, Event)]
pub struct RegionSelected {
    pub picture: PicturePreview,
}

/// A region was selected and is being checked for secrets: the sidebar
/// holds the question until the region arrives.
#[derive(Debug, Clone, Serialize, specta::Type, Event)]
pub struct RegionChecking {
    pub width: u32,
    pub height: u32,
}

/// The selection overlays opened (their pages fetch the new frame) or
/// closed (they drop it).
#[derive(Debug, Clone, Serialize, specta::Type, Event)]
pub struct OverlayChanged {
    pub generation: u32,
    pub open: bool,
}

/// Whether the app may see the screen changed on its own: the user stopped
/// GNOME's screen sharing, or answered its dialog.
#[derive(Debug, Clone, Serialize, specta::Type, Event)]
pub struct ScreenAccessChanged {
    pub access: ScreenAccess,
}
