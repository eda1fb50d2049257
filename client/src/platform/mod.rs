//! The platform boundary: what the desktop jobs need from the user's
//! desktop, behind one interface per concern, with one backend per kind of
//! session.
//!
//! - [`Screens`]: the monitors and their frames (region selection, "attach
//!   screen", ambient looks);
//! - [`crate::seat::Windows`] and [`crate::seat::Seat`]: the focused and
//!   visible windows (the privacy gate), the keyboard and the clipboard
//!   (rewrite);
//! - [`ShortcutRoute`]: how global shortcuts fire whichever window has the
//!   focus.
//!
//! [`Platform::detect`] picks the backends at start from the session
//! ([`session::DisplayServer`]) and, on Wayland, from the desktop portals
//! the session offers and their `version` properties — never from the
//! desktop's version number. X11 sessions get the X11 backend
//! ([`x11`]); GNOME on Wayland gets [`gnome`] (ScreenCast portal and
//! PipeWire for frames, GNOME's own keybindings for shortcuts). Where a
//! session lacks what a job needs, that job says so in words a person
//! understands: `ScreenAccess::Unavailable`, `ClientError::FocusUnknown`,
//! the seat's refusal to type.

pub(crate) mod access;
pub(crate) mod action;
#[cfg(target_os = "linux")]
pub mod gnome;
pub(crate) mod screens;
pub mod session;
mod x11;

use crate::error::ClientError;
use std::path::Path;
use std::sync::Arc;

pub use access::ScreenAccess;
pub use action::Action;
pub use screens::{grab_primary, AccessListener, Screens};
pub use session::DisplayServer;

/// How global shortcuts reach the app in this session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShortcutRoute {
    /// The toolkit's own key grabs (X11, Windows, macOS).
    KeyGrabs,
    /// GNOME custom keybindings that run `sightline --action …`
    /// ([`gnome::shortcuts`]).
    GnomeKeybindings,
}

/// Makes the desktop's own keybindings (GNOME's) match `hotkeys`: each
/// runs this program with `--action`, for the instance kept in
/// `config_dir`.
pub fn install_desktop_shortcuts(
    hotkeys: &crate::settings::Hotkeys,
    config_dir: &Path,
) -> Result<(), ClientError> {
    #[cfg(target_os = "linux")]
    {
        let program =
            std::env::current_exe().map_err(|e| ClientError::Io(format!("the app's own path: {e}")))?;
        gnome::shortcuts::install(&Action::bindings(hotkeys), &program, config_dir)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (hotkeys, config_dir);
        Err(ClientError::invalid(
            "shortcut",
            "this desktop has no keybindings Sightline can set",
        ))
    }
}

/// The backends chosen for this session.
pub struct Platform {
    pub screens: Arc<dyn Screens>,
    /// The focused and visible windows where the seat (which types into
    /// other apps, and knows them too) is not available.
    pub windows: Option<Arc<dyn crate::seat::Windows>>,
    pub shortcuts: ShortcutRoute,
    seat: SeatBackend,
}

/// Which [`Seat`](crate::seat::Seat) types into other applications.
enum SeatBackend {
    /// X11 keys ([`crate::seat::SystemSeat`]).
    System,
    /// The RemoteDesktop portal, with the restore token kept at `token`.
    #[cfg(target_os = "linux")]
    Gnome {
        windows: Arc<gnome::windows::GnomeWindows>,
        token: std::path::PathBuf,
    },
}

impl std::fmt::Debug for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Platform")
            .field("shortcuts", &self.shortcuts)
            .finish_non_exhaustive()
    }
}

impl Platform {
    /// Picks the backends for the session this process runs in; state the
    /// backends keep (the cast's restore token) lives in `config_dir`.
    /// What a session lacks is said where it shows: the seat's refusal for
    /// typing (`seat::injection_blocked`), `ScreenAccess::Unavailable` for
    /// the screen, a logged warning for a shortcut that cannot be had.
    pub fn detect(config_dir: &Path) -> Self {
        match DisplayServer::current() {
            #[cfg(target_os = "linux")]
            DisplayServer::Wayland { gnome: true, .. } => Self::gnome(config_dir),
            _ => {
                let _ = config_dir;
                Self {
                    screens: Arc::new(x11::X11Screens),
                    windows: None,
                    shortcuts: ShortcutRoute::KeyGrabs,
                    seat: SeatBackend::System,
                }
            }
        }
    }

    /// GNOME on Wayland, after asking the portals what they offer.
    #[cfg(target_os = "linux")]
    fn gnome(config_dir: &Path) -> Self {
        let windows = Arc::new(gnome::windows::GnomeWindows::open());
        Self {
            screens: Arc::new(gnome::screens::GnomeScreens::new(
                config_dir.join("screencast-token"),
                gnome::screen_cast_problem(),
            )),
            windows: Some(windows.clone()),
            seat: SeatBackend::Gnome {
                windows,
                token: config_dir.join("remote-desktop-token"),
            },
            shortcuts: if gnome::shortcuts::available() {
                ShortcutRoute::GnomeKeybindings
            } else {
                tracing::warn!("GNOME's keyboard settings are missing: shortcuts work only while Sightline has the focus");
                ShortcutRoute::KeyGrabs
            },
        }
    }

    /// The seat that types into other applications for a rewrite: X11
    /// keys from `keyboard` (opened only here), or GNOME's RemoteDesktop
    /// portal. Fails, in words for the sidebar, where this session offers
    /// no way.
    pub fn open_seat(
        &self,
        clipboard: Arc<crate::clipboard::Clipboard>,
        keyboard: impl FnOnce() -> Result<crate::seat::keyboard::Keyboard, ClientError>,
    ) -> Result<Arc<dyn crate::seat::Seat>, ClientError> {
        match &self.seat {
            SeatBackend::System => Ok(Arc::new(crate::seat::SystemSeat::open(clipboard, keyboard()?)?)),
            #[cfg(target_os = "linux")]
            SeatBackend::Gnome { windows, token } => Ok(Arc::new(gnome::seat::GnomeSeat::open(
                windows.clone(),
                clipboard,
                token.clone(),
            )?)),
        }
    }
}
