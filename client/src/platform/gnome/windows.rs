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
    x11: Option<X11>,
    atspi: Mutex<Option<Atspi>>,
    /// The session bus, for GNOME's screen saver (asked at every gate).
    session_bus: Mutex<Option<zbus::blocking::Connection>>,
    own_pid: u32,
    last_foreign: Mutex<Option<WindowRef>>,
    listeners: Mutex<Vec<FocusListener>>,
}

/// The GNOME Wayland [`Windows`].
pub struct GnomeWindows {
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

    /// The focused window: XWayland's if an X11 window has it, else the
    /// accessibility bus's.
    fn focused(&self) -> Result<WindowRef, ClientError> {
        if let Some(x11) = &self.x11 {
            if let Some(window) = x11.active_window()? {
                return Ok(window);
            }
        }
        self.accessible_focus()
    }

    /// Keeps `window` as the last foreign one; tells the listeners if the
    /// focus moved to another application's window.
    fn remember(&self, window: &WindowRef) {
        if window.pid == Some(self.own_pid) {
            return;
        }
        let moved = {
            let mut last = lock(&self.last_foreign);
            let moved = last.as_ref().is_none_or(|last| last.id != window.id);
            *last = Some(window.clone());
            moved
        };
        if moved {
            lock(&self.listeners).iter().for_each(|listener| listener());
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
        let shared = Arc::new(Shared {
            x11,
            atspi: Mutex::new(None),
            session_bus: Mutex::new(None),
            own_pid: std::process::id(),
            last_foreign: Mutex::new(None),
            listeners: Mutex::new(Vec::new()),
        });
        follow_focus(&shared);
        Self { shared }
    }

    /// XWayland, where the app's own windows and X11 applications live.
    pub(crate) fn x11(&self) -> Option<&X11> {
        self.shared.x11.as_ref()
    }
}

/// Follows the focus from the start, so the window the user left for the
/// sidebar is known to the rewrite whether or not anyone listens: XWayland
/// reports its own focus changes at once, moves between Wayland windows
/// only the accessibility bus sees, so it is asked every [`FOCUS_POLL`].
fn follow_focus(shared: &Arc<Shared>) {
    if let Some(x11) = &shared.x11 {
        let weak = Arc::downgrade(shared);
        x11.on_focus_change(Box::new(move || {
            if let Some(shared) = weak.upgrade() {
                if let Some(window) = shared.x11.as_ref().and_then(X11::last_foreign_window) {
                    shared.remember(&window);
                }
            }
        }));
    }
    let weak = Arc::downgrade(shared);
    let _ = std::thread::Builder::new()
        .name("focus-poll".into())
        .spawn(move || loop {
            std::thread::sleep(FOCUS_POLL);
            let Some(shared) = weak.upgrade() else { return };
            if let Ok(window) = shared.focused() {
                shared.remember(&window);
            }
        });
}

impl Windows for GnomeWindows {
    fn active_window(&self) -> Result<Option<WindowRef>, ClientError> {
        let window = self.shared.focused()?;
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
        lock(&self.shared.listeners).push(listener);
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
        match &self.shared.x11 {
            Some(x11) => x11.visible_windows(),
            None => Ok(Vec::new()),
        }
    }
}
