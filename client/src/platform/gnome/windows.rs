//! The focused window and the visible windows on GNOME Wayland, for the
//! privacy gate of ambient awareness.
//!
//! XWayland's `_NET_ACTIVE_WINDOW` names the focused window when it is an
//! X11 one (and reads 0 when a Wayland window has the focus); otherwise the
//! accessibility bus must show exactly one active top-level window
//! ([`super::atspi`]). Anything else — none (an app without accessibility
//! support), several, or no accessibility bus — is "cannot tell", which
//! the gate treats as closed. Only XWayland windows have known places, so
//! only they can be blanked when excluded; an excluded Wayland window is
//! honoured while it has the focus.

use super::atspi::Atspi;
use crate::capture::geometry::PixelRect;
use crate::error::ClientError;
use crate::seat::x11::X11;
use crate::seat::{FocusListener, WindowRef, Windows};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// How often the accessibility bus is asked whether the focus moved
/// between Wayland windows (XWayland focus changes arrive as events).
const FOCUS_POLL: Duration = Duration::from_secs(1);

struct Shared {
    atspi: Mutex<Option<Atspi>>,
    /// The session bus, for GNOME's screen saver (asked at every gate).
    session_bus: Mutex<Option<zbus::blocking::Connection>>,
    own_pid: u32,
    last_foreign: Mutex<Option<WindowRef>>,
}

/// The GNOME Wayland [`Windows`].
pub struct GnomeWindows {
    x11: Option<X11>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for GnomeWindows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GnomeWindows")
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    /// The one active window on the accessibility bus.
    fn accessible_focus(&self) -> Result<WindowRef, ClientError> {
        let mut atspi = lock(&self.atspi);
        if atspi.is_none() {
            *atspi = Some(Atspi::connect()?);
        }
        let found = match atspi.as_ref() {
            Some(bus) => bus.active_windows(),
            None => return Err(ClientError::FocusUnknown("no accessibility bus".into())),
        };
        let mut active = match found {
            Ok(active) => active,
            Err(error) => {
                // Reconnect next time: the bus may have restarted.
                *atspi = None;
                return Err(error);
            }
        };
        match active.len() {
            1 => Ok(active.remove(0)),
            0 => Err(ClientError::FocusUnknown(
                "no window says it has the focus (its application may not support accessibility)".into(),
            )),
            _ => Err(ClientError::FocusUnknown(
                "several windows say they have the focus".into(),
            )),
        }
    }

    fn remember(&self, window: &WindowRef) {
        if window.pid != Some(self.own_pid) {
            *lock(&self.last_foreign) = Some(window.clone());
        }
    }
}

impl GnomeWindows {
    pub(crate) fn open() -> Self {
        let x11 = match X11::connect() {
            Ok(x11) => Some(x11),
            Err(error) => {
                tracing::warn!(%error, "no XWayland: only the accessibility bus tells the focus");
                None
            }
        };
        Self {
            x11,
            shared: Arc::new(Shared {
                atspi: Mutex::new(None),
                session_bus: Mutex::new(None),
                own_pid: std::process::id(),
                last_foreign: Mutex::new(None),
            }),
        }
    }
}

impl Windows for GnomeWindows {
    fn active_window(&self) -> Result<Option<WindowRef>, ClientError> {
        if let Some(x11) = &self.x11 {
            if let Some(window) = x11.active_window()? {
                self.shared.remember(&window);
                return Ok(Some(window));
            }
        }
        let window = self.shared.accessible_focus()?;
        self.shared.remember(&window);
        Ok(Some(window))
    }

    fn last_foreign_window(&self) -> Option<WindowRef> {
        lock(&self.shared.last_foreign).clone()
    }

    fn is_own(&self, window: &WindowRef) -> bool {
        window.pid == Some(self.shared.own_pid)
    }

    fn on_focus_change(&self, listener: FocusListener) {
        let listener: Arc<FocusListener> = Arc::new(listener);
        if let Some(x11) = &self.x11 {
            let heard = listener.clone();
            x11.on_focus_change(Box::new(move || heard()));
        }
        // Between Wayland windows only the accessibility bus sees the move.
        let shared = Arc::downgrade(&self.shared);
        let _ = std::thread::Builder::new()
            .name("focus-poll".into())
            .spawn(move || {
                let mut last: Option<u64> = None;
                loop {
                    std::thread::sleep(FOCUS_POLL);
                    let Some(shared) = shared.upgrade() else { return };
                    let Ok(window) = shared.accessible_focus() else {
                        continue;
                    };
                    if last.is_some_and(|id| id != window.id) && window.pid != Some(shared.own_pid) {
                        shared.remember(&window);
                        listener();
                    }
                    last = Some(window.id);
                }
            });
    }

    fn screen_locked(&self) -> bool {
        // GNOME's lock screen, as its screen saver interface reports it.
        let mut bus = lock(&self.shared.session_bus);
        if bus.is_none() {
            *bus = zbus::blocking::Connection::session().ok();
        }
        let Some(connection) = bus.as_ref() else {
            return false;
        };
        zbus::blocking::Proxy::new(
            connection,
            "org.gnome.ScreenSaver",
            "/org/gnome/ScreenSaver",
            "org.gnome.ScreenSaver",
        )
        .and_then(|proxy| proxy.call::<_, _, bool>("GetActive", &()))
        .unwrap_or(false)
    }

    fn visible_windows(&self) -> Result<Vec<(WindowRef, PixelRect)>, ClientError> {
        match &self.x11 {
            Some(x11) => x11.visible_windows(),
            None => Ok(Vec::new()),
        }
    }
}
