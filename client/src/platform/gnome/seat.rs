//! The rewrite's [`Seat`] on GNOME Wayland: windows from [`GnomeWindows`],
//! keys from the RemoteDesktop portal ([`GnomeKeyboard`]), the clipboard
//! through XWayland (mutter carries it both ways between X11 and Wayland
//! applications).
//!
//! Bringing the target back: an XWayland window is activated as on X11; a
//! Wayland window cannot be activated by another app, so GNOME's own
//! "switch to the previous application" (Alt+Tab) is pressed — the
//! rewrite only gets here when the window the user left for the sidebar
//! is the target, and it types only once that window has the focus again.

use super::atspi::is_accessible_id;
use super::keyboard::GnomeKeyboard;
use super::windows::GnomeWindows;
use crate::capture::geometry::PixelRect;
use crate::clipboard::{Clipboard, Snapshot};
use crate::error::ClientError;
use crate::seat::{FocusListener, Seat, WindowRef, Windows};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long the user may take to let go of a shortcut.
const MODIFIER_GRACE: Duration = Duration::from_millis(800);
/// Where the modifiers cannot be seen (a Wayland window has the focus), a
/// shortcut is let go of within this, in practice.
const SHORTCUT_RELEASE: Duration = Duration::from_millis(300);
/// How long the focus may take to come back after GNOME's dialog.
const DIALOG_FOCUS: Duration = Duration::from_secs(2);
/// How long a check that no modifier is held stands: Apply waits for the
/// modifiers while the sidebar has the focus, and does not wait again
/// blind once Alt+Tab has brought a Wayland window back.
const MODIFIERS_SEEN_FREE: Duration = Duration::from_secs(1);

/// The GNOME Wayland [`Seat`].
pub struct GnomeSeat {
    windows: Arc<GnomeWindows>,
    keyboard: GnomeKeyboard,
    clipboard: Arc<Clipboard>,
    /// When XWayland last showed no modifier held.
    modifiers_free: std::sync::Mutex<Option<Instant>>,
}

impl std::fmt::Debug for GnomeSeat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GnomeSeat")
    }
}

impl GnomeSeat {
    /// A seat typing through the RemoteDesktop portal, its restore token
    /// kept at `token_path`. Fails where the desktop has no such portal.
    pub(crate) fn open(
        windows: Arc<GnomeWindows>,
        clipboard: Arc<Clipboard>,
        token_path: PathBuf,
    ) -> Result<Self, ClientError> {
        let keyboard = GnomeKeyboard::new(token_path);
        if let Some(reason) = keyboard.unavailable() {
            return Err(ClientError::Injection(reason));
        }
        Ok(Self {
            windows,
            keyboard,
            clipboard,
            modifiers_free: std::sync::Mutex::new(None),
        })
    }

    /// Waits (up to `grace`) until no modifier is held, where XWayland can
    /// tell: while one of its windows (the sidebar, an X11 target) has the
    /// focus. Elsewhere it waits [`SHORTCUT_RELEASE`], unless XWayland saw
    /// them all let go a moment ago.
    fn wait_for_modifiers(&self, grace: Duration) -> Result<(), ClientError> {
        let mut free = self.modifiers_free.lock().unwrap_or_else(|p| p.into_inner());
        let x11 = match self.windows.x11() {
            Some(x11) if x11.active_window()?.is_some() => x11,
            _ => {
                if !free.is_some_and(|seen| seen.elapsed() < MODIFIERS_SEEN_FREE) {
                    std::thread::sleep(SHORTCUT_RELEASE);
                }
                return Ok(());
            }
        };
        let deadline = Instant::now() + grace;
        loop {
            if !x11.modifiers_held()? {
                *free = Some(Instant::now());
                return Ok(());
            }
            if Instant::now() >= deadline {
                // Still held: GNOME lets no app let go of the user's keys;
                // the copy is pressed again if the first one is lost.
                *free = None;
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Windows for GnomeSeat {
    fn active_window(&self) -> Result<Option<WindowRef>, ClientError> {
        self.windows.active_window()
    }

    fn last_foreign_window(&self) -> Option<WindowRef> {
        self.windows.last_foreign_window()
    }

    fn is_own(&self, window: &WindowRef) -> bool {
        self.windows.is_own(window)
    }

    fn on_focus_change(&self, listener: FocusListener) {
        self.windows.on_focus_change(listener);
    }

    fn screen_locked(&self) -> bool {
        self.windows.screen_locked()
    }

    fn visible_windows(&self) -> Result<Vec<(WindowRef, PixelRect)>, ClientError> {
        self.windows.visible_windows()
    }
}

impl Seat for GnomeSeat {
    fn prepare(&self) -> Result<(), ClientError> {
        let focused = self.windows.active_window().ok().flatten();
        if self.keyboard.ready()? {
            // GNOME's dialog had the focus: wait for it to come back.
            let deadline = Instant::now() + DIALOG_FOCUS;
            while Instant::now() < deadline {
                let now = self.windows.active_window().ok().flatten();
                if now.as_ref().map(|w| w.id) == focused.as_ref().map(|w| w.id) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Ok(())
    }

    fn activate(&self, window: &WindowRef) -> Result<(), ClientError> {
        if !is_accessible_id(window.id) {
            let x11 = self
                .windows
                .x11()
                .ok_or_else(|| ClientError::Injection("XWayland is not running".into()))?;
            return x11.activate(window.id);
        }
        if self
            .windows
            .active_window()?
            .is_some_and(|active| active.id == window.id)
        {
            return Ok(());
        }
        // Alt+Tab with the Apply shortcut's Ctrl still down would be
        // another shortcut.
        self.wait_for_modifiers(MODIFIER_GRACE)?;
        self.keyboard.switch_back()
    }

    fn release_modifiers(&self) -> Result<(), ClientError> {
        self.wait_for_modifiers(MODIFIER_GRACE)
    }

    fn button_held(&self) -> Result<bool, ClientError> {
        match self.windows.x11() {
            Some(x11) => x11.button_held(),
            None => Ok(false),
        }
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
