//! The user's seat: the focused window, the keyboard and the clipboard of
//! the user's session the app runs in. [`Seat`] is what the rewrite flow needs
//! from it, so that flow is tested with a recording fake; [`SystemSeat`]
//! is the real one.
//!
//! [`SystemSeat`] serves X11 sessions (EWMH windows, XTest keys); GNOME on
//! Wayland has its own (`platform::gnome::seat`). Where the focused window
//! cannot be told, the rewrite flow refuses to type: not typing is always
//! safe, typing into an unknown window is not.

pub mod keyboard;
mod window;
#[cfg(target_os = "linux")]
pub(crate) mod x11;

pub use window::{FocusListener, WindowRef};
#[cfg(target_os = "linux")]
pub use x11::activate_own as activate_own_x11_window;

use crate::capture::geometry::PixelRect;
use crate::clipboard::{Clipboard, Snapshot};
use crate::error::ClientError;
use std::sync::Arc;

/// The windows of the user's session: which has the focus, which are on
/// screen. What the privacy gate of ambient awareness needs.
pub trait Windows: Send + Sync + std::fmt::Debug {
    /// The window with the keyboard focus now. Where that cannot be told,
    /// an error ([`ClientError::FocusUnknown`]): a privacy gate must treat
    /// it as closed.
    fn active_window(&self) -> Result<Option<WindowRef>, ClientError>;
    /// The last window of another application that had the focus: the one
    /// the user left when they turned to the sidebar.
    fn last_foreign_window(&self) -> Option<WindowRef>;
    /// Is `window` one of this app's own?
    fn is_own(&self, window: &WindowRef) -> bool;
    /// Calls `listener` whenever another application's window gets the
    /// focus. Where focus cannot be followed, it is never called.
    fn on_focus_change(&self, listener: FocusListener) {
        drop(listener);
    }
    /// Whether the screen saver or lock screen is on. Where that cannot be
    /// told, `false`.
    fn screen_locked(&self) -> bool {
        false
    }
    /// Other applications' windows on screen, with their places on the
    /// screen (frames included). Where that cannot be told, none.
    fn visible_windows(&self) -> Result<Vec<(WindowRef, PixelRect)>, ClientError> {
        Ok(Vec::new())
    }
}

/// What typing into other applications needs from the user's session.
pub trait Seat: Windows {
    /// Gets the keyboard ready before the rewrite reads or types; where
    /// the desktop asks the user first (GNOME on Wayland), this is when.
    fn prepare(&self) -> Result<(), ClientError> {
        Ok(())
    }
    fn activate(&self, window: &WindowRef) -> Result<(), ClientError>;
    /// Waits (briefly) for the user to let go of the shortcut's modifiers.
    fn release_modifiers(&self) -> Result<(), ClientError>;
    /// Whether a mouse button is held down now (a drag in progress).
    fn button_held(&self) -> Result<bool, ClientError>;
    fn press_copy(&self) -> Result<(), ClientError>;
    fn press_paste(&self) -> Result<(), ClientError>;
    fn type_text(&self, text: &str) -> Result<(), ClientError>;
    fn clipboard_snapshot(&self) -> Result<Snapshot, ClientError>;
    fn clipboard_restore(&self, snapshot: Snapshot) -> Result<(), ClientError>;
    fn clipboard_clear(&self) -> Result<(), ClientError>;
    fn clipboard_text(&self) -> Result<Option<String>, ClientError>;
    fn clipboard_set_privately(&self, text: &str) -> Result<(), ClientError>;
}

/// Why [`SystemSeat`] (X11 keys) cannot type into other windows in this
/// session, if it can't.
pub fn injection_blocked() -> Option<String> {
    if cfg!(target_os = "linux") {
        let wayland = std::env::var_os("WAYLAND_DISPLAY").is_some()
            || std::env::var("XDG_SESSION_TYPE").is_ok_and(|kind| kind == "wayland");
        let x11 = std::env::var_os("DISPLAY").is_some();
        if wayland {
            // XTest through XWayland reaches only XWayland windows, and a
            // rewrite must reach whichever window the user selected in.
            // GNOME's own way is its RemoteDesktop portal, which other
            // Wayland desktops do not offer alike.
            return Some(
                "typing into other applications works on GNOME and X11 sessions; this Wayland desktop offers no supported way".into(),
            );
        }
        if !x11 {
            return Some("there is no graphical session".into());
        }
        None
    } else {
        Some("typing into other applications is supported on Linux (X11) only in this version".into())
    }
}

/// The real desktop.
pub struct SystemSeat {
    clipboard: Arc<Clipboard>,
    keyboard: keyboard::Keyboard,
    #[cfg(target_os = "linux")]
    x11: x11::X11,
}

impl std::fmt::Debug for SystemSeat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SystemSeat")
    }
}

/// How long the user may take to let go of the shortcut.
const MODIFIER_GRACE: std::time::Duration = std::time::Duration::from_millis(800);

impl SystemSeat {
    /// Connects to the user's session and starts following the focus. Fails where
    /// typing into other applications is not possible (see
    /// [`injection_blocked`]).
    pub fn open(clipboard: Arc<Clipboard>, keyboard: keyboard::Keyboard) -> Result<Self, ClientError> {
        if let Some(reason) = injection_blocked() {
            return Err(ClientError::Injection(reason));
        }
        Ok(Self {
            clipboard,
            keyboard,
            #[cfg(target_os = "linux")]
            x11: x11::X11::connect()?,
        })
    }
}

#[cfg(target_os = "linux")]
impl Windows for SystemSeat {
    fn active_window(&self) -> Result<Option<WindowRef>, ClientError> {
        self.x11.active_window()
    }

    fn last_foreign_window(&self) -> Option<WindowRef> {
        self.x11.last_foreign_window()
    }

    fn is_own(&self, window: &WindowRef) -> bool {
        window.pid == Some(self.x11.own_pid())
    }

    fn on_focus_change(&self, listener: FocusListener) {
        self.x11.on_focus_change(listener);
    }

    fn screen_locked(&self) -> bool {
        self.x11.screen_locked()
    }

    fn visible_windows(&self) -> Result<Vec<(WindowRef, PixelRect)>, ClientError> {
        self.x11.visible_windows()
    }
}

#[cfg(target_os = "linux")]
impl Seat for SystemSeat {
    fn activate(&self, window: &WindowRef) -> Result<(), ClientError> {
        self.x11.activate(window.id)
    }

    fn release_modifiers(&self) -> Result<(), ClientError> {
        let deadline = std::time::Instant::now() + MODIFIER_GRACE;
        while self.x11.modifiers_held()? {
            if std::time::Instant::now() > deadline {
                // Still held: let go of them for the user, or the copy
                // would arrive as another shortcut.
                return self.keyboard.release_modifiers();
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        Ok(())
    }

    fn button_held(&self) -> Result<bool, ClientError> {
        self.x11.button_held()
    }

    fn press_copy(&self) -> Result<(), ClientError> {
        self.keyboard.copy()
    }

    fn press_paste(&self) -> Result<(), ClientError> {
        self.keyboard.paste()
    }

    fn type_text(&self, text: &str) -> Result<(), ClientError> {
        self.keyboard.type_text(text)
    }

    fn clipboard_snapshot(&self) -> Result<Snapshot, ClientError> {
        self.clipboard.snapshot()
    }

    fn clipboard_restore(&self, snapshot: Snapshot) -> Result<(), ClientError> {
        self.clipboard.restore(snapshot)
    }

    fn clipboard_clear(&self) -> Result<(), ClientError> {
        self.clipboard.clear()
    }

    fn clipboard_text(&self) -> Result<Option<String>, ClientError> {
        self.clipboard.text()
    }

    fn clipboard_set_privately(&self, text: &str) -> Result<(), ClientError> {
        self.clipboard.set_text_privately(text)
    }
}
