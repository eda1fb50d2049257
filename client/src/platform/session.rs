//! Which display server the user's session runs on, read from the
//! environment at start: X11, or Wayland (GNOME's or another) with or
//! without XWayland beside it.
//!
//! It decides how the app's own windows are shown. On GNOME's Wayland
//! compositor a native Wayland window can neither place itself nor stay
//! above other windows, while mutter honours both for X11 windows; so there
//! the app's windows go through XWayland, which keeps the sidebar docked at
//! the right edge and above a focused Wayland window.

/// The kind of graphical session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisplayServer {
    X11,
    Wayland {
        /// GNOME Shell (mutter) is the compositor.
        gnome: bool,
        /// An X server (XWayland) runs beside it, so X11 clients work.
        xwayland: bool,
    },
    /// No graphical session (a terminal, a service).
    None,
}

impl DisplayServer {
    /// The session this process runs in.
    pub fn current() -> Self {
        Self::from_env(|name| std::env::var(name).ok().filter(|value| !value.is_empty()))
    }

    /// The session that `var` (the environment) describes.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Self {
        let wayland = var("WAYLAND_DISPLAY").is_some()
            || var("XDG_SESSION_TYPE").is_some_and(|kind| kind.eq_ignore_ascii_case("wayland"));
        let x11 = var("DISPLAY").is_some();
        if wayland {
            // XDG_CURRENT_DESKTOP is a colon-separated list, e.g.
            // "ubuntu:GNOME" on Ubuntu's default session.
            let gnome = var("XDG_CURRENT_DESKTOP").is_some_and(|desktops| {
                desktops
                    .split(':')
                    .any(|desktop| desktop.eq_ignore_ascii_case("gnome"))
            });
            Self::Wayland { gnome, xwayland: x11 }
        } else if x11 {
            Self::X11
        } else {
            Self::None
        }
    }

    /// Whether the app's own windows should be X11 windows (through
    /// XWayland) to be placed and kept on top. Only GNOME's compositor is
    /// known to need and honour it; elsewhere the toolkit's choice stands.
    pub fn windows_through_xwayland(self) -> bool {
        matches!(
            self,
            Self::Wayland {
                gnome: true,
                xwayland: true
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(pairs: &[(&str, &str)]) -> DisplayServer {
        DisplayServer::from_env(|name| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        })
    }

    #[test]
    fn sessions_are_told_apart() {
        assert_eq!(session(&[("DISPLAY", ":0")]), DisplayServer::X11);
        assert_eq!(session(&[]), DisplayServer::None);
        // Ubuntu 24.04's default session: GNOME on Wayland with XWayland.
        let ubuntu = session(&[
            ("XDG_SESSION_TYPE", "wayland"),
            ("WAYLAND_DISPLAY", "wayland-0"),
            ("DISPLAY", ":0"),
            ("XDG_CURRENT_DESKTOP", "ubuntu:GNOME"),
        ]);
        assert_eq!(
            ubuntu,
            DisplayServer::Wayland {
                gnome: true,
                xwayland: true
            }
        );
        assert!(ubuntu.windows_through_xwayland());
        // Another compositor, or GNOME without XWayland: left alone.
        let kde = session(&[
            ("WAYLAND_DISPLAY", "wayland-0"),
            ("DISPLAY", ":1"),
            ("XDG_CURRENT_DESKTOP", "KDE"),
        ]);
        assert!(!kde.windows_through_xwayland());
        let gnome_without_x = session(&[("WAYLAND_DISPLAY", "wayland-0"), ("XDG_CURRENT_DESKTOP", "GNOME")]);
        assert_eq!(
            gnome_without_x,
            DisplayServer::Wayland {
                gnome: true,
                xwayland: false
            }
        );
        assert!(!gnome_without_x.windows_through_xwayland());
        // A plain X11 session that only says its type.
        assert!(!session(&[("XDG_SESSION_TYPE", "x11"), ("DISPLAY", ":0")]).windows_through_xwayland());
    }
}
