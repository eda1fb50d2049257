//! The platform boundary: what the desktop jobs need from the user's
//! desktop, behind one interface per concern, with one backend per kind of
//! session.
//!
//! - [`Screens`]: the monitors and their frames (region selection, "attach
//!   screen", ambient looks);
//! - [`crate::seat::Seat`]: the focused window and visible windows, the
//!   keyboard and the clipboard (rewrite, the privacy gate);
//! - [`Shortcuts`]: global shortcuts that fire whichever window has the
//!   focus.
//!
//! [`Platform::detect`] picks the backends at start from the session
//! ([`session::DisplayServer`]) and, on Wayland, from the desktop portals
//! the session offers and their `version` properties — never from the
//! desktop's version number. X11 sessions get the X11 backend
//! ([`x11`]); GNOME on Wayland gets [`gnome`] (ScreenCast portal and
//! PipeWire for frames, GNOME's own keybindings for shortcuts). Where a
//! session lacks what a job needs, the backend says so in words a person
//! understands ([`Capabilities`]), and the sidebar shows them.

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

/// What this session offers each desktop job, in the user's words where it
/// does not.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Capabilities {
    /// A sentence naming the session ("GNOME on Wayland").
    pub session: String,
    /// Why typing into other applications does not work here, if it does
    /// not.
    pub typing: Option<String>,
    /// Why global shortcuts do not work here, if they do not.
    pub shortcuts: Option<String>,
}

/// The backends chosen for this session.
pub struct Platform {
    pub session: DisplayServer,
    pub screens: Arc<dyn Screens>,
    /// The focused and visible windows where the seat (which types into
    /// other apps, and knows them too) is not available.
    pub windows: Option<Arc<dyn crate::seat::Windows>>,
    pub shortcuts: ShortcutRoute,
    pub capabilities: Capabilities,
}

impl std::fmt::Debug for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Platform")
            .field("session", &self.session)
            .field("shortcuts", &self.shortcuts)
            .field("capabilities", &self.capabilities)
            .finish_non_exhaustive()
    }
}

impl Platform {
    /// Picks the backends for the session this process runs in; state the
    /// backends keep (the cast's restore token) lives in `config_dir`.
    pub fn detect(config_dir: &Path) -> Self {
        let session = DisplayServer::current();
        match session {
            #[cfg(target_os = "linux")]
            DisplayServer::Wayland {
                gnome: true,
                xwayland,
            } => Self::gnome(session, xwayland, config_dir),
            DisplayServer::Wayland { .. } => {
                let _ = config_dir;
                Self {
                    session,
                    screens: Arc::new(x11::X11Screens),
                    windows: None,
                    shortcuts: ShortcutRoute::KeyGrabs,
                    capabilities: Capabilities {
                        session: "a Wayland desktop other than GNOME".into(),
                        typing: Some(
                            "this Wayland desktop offers no supported way to type into other applications"
                                .into(),
                        ),
                        shortcuts: Some(
                            "global shortcuts work only while Sightline has the focus on this Wayland desktop"
                                .into(),
                        ),
                    },
                }
            }
            _ => Self {
                session,
                screens: Arc::new(x11::X11Screens),
                windows: None,
                shortcuts: ShortcutRoute::KeyGrabs,
                capabilities: Capabilities {
                    session: match session {
                        DisplayServer::X11 => "X11".into(),
                        _ => "this desktop".into(),
                    },
                    typing: crate::seat::injection_blocked(),
                    shortcuts: None,
                },
            },
        }
    }
}

impl Platform {
    /// GNOME on Wayland, after asking the portals what they offer.
    #[cfg(target_os = "linux")]
    fn gnome(session: DisplayServer, xwayland: bool, config_dir: &Path) -> Self {
        let shortcuts_available = gnome::shortcuts::available();
        Self {
            session,
            screens: Arc::new(gnome::screens::GnomeScreens::new(
                config_dir.join("screencast-token"),
                gnome::screen_cast_problem(),
            )),
            windows: Some(Arc::new(gnome::windows::GnomeWindows::open())),
            shortcuts: if shortcuts_available {
                ShortcutRoute::GnomeKeybindings
            } else {
                ShortcutRoute::KeyGrabs
            },
            capabilities: Capabilities {
                session: "GNOME on Wayland".into(),
                typing: Some(if xwayland {
                    "on GNOME Wayland, Sightline cannot yet type into other applications".into()
                } else {
                    "this GNOME session runs no XWayland, which Sightline needs".into()
                }),
                shortcuts: (!shortcuts_available).then(|| {
                    "GNOME's keyboard settings are missing, so shortcuts work only while Sightline has the focus"
                        .into()
                }),
            },
        }
    }
}
