//! Windows and focus on X11, through the window manager's EWMH hints:
//! which window is active, which other window had the focus before one of
//! ours took it, activating a window, and whether modifier keys are held.

use super::window::{FocusListener, WindowRef};
use crate::capture::geometry::PixelRect;
use crate::error::ClientError;
use std::sync::{Arc, Mutex};
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{
    Atom, AtomEnum, ChangeWindowAttributesAux, ClientMessageEvent, ConnectionExt, EventMask, KeyButMask,
    Window,
};
use x11rb::protocol::Event;
use x11rb::rust_connection::RustConnection;

fn failed(error: impl std::fmt::Display) -> ClientError {
    ClientError::Injection(format!("the X display: {error}"))
}

#[derive(Debug, Clone, Copy)]
struct Atoms {
    active_window: Atom,
    client_list: Atom,
    frame_extents: Atom,
    wm_pid: Atom,
    wm_name: Atom,
    utf8_string: Atom,
}

impl Atoms {
    fn intern(conn: &RustConnection) -> Result<Self, ClientError> {
        let atom = |name: &[u8]| -> Result<Atom, ClientError> {
            Ok(conn
                .intern_atom(false, name)
                .map_err(failed)?
                .reply()
                .map_err(failed)?
                .atom)
        };
        Ok(Self {
            active_window: atom(b"_NET_ACTIVE_WINDOW")?,
            client_list: atom(b"_NET_CLIENT_LIST")?,
            frame_extents: atom(b"_NET_FRAME_EXTENTS")?,
            wm_pid: atom(b"_NET_WM_PID")?,
            wm_name: atom(b"_NET_WM_NAME")?,
            utf8_string: atom(b"UTF8_STRING")?,
        })
    }
}

/// One connection for queries and requests; a second one, on its own
/// thread, follows focus changes.
pub struct X11 {
    conn: Mutex<RustConnection>,
    root: Window,
    atoms: Atoms,
    own_pid: u32,
    last_foreign: Arc<Mutex<Option<WindowRef>>>,
    focus_listeners: Arc<Mutex<Vec<FocusListener>>>,
}

impl std::fmt::Debug for X11 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("X11")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

impl X11 {
    /// Connects to `$DISPLAY` and starts following the focus.
    pub fn connect() -> Result<Self, ClientError> {
        let (conn, screen) = x11rb::connect(None).map_err(failed)?;
        let root = conn
            .setup()
            .roots
            .get(screen)
            .ok_or_else(|| failed("no screen"))?
            .root;
        let atoms = Atoms::intern(&conn)?;
        let x11 = Self {
            conn: Mutex::new(conn),
            root,
            atoms,
            own_pid: std::process::id(),
            last_foreign: Arc::new(Mutex::new(None)),
            focus_listeners: Arc::new(Mutex::new(Vec::new())),
        };
        if let Ok(Some(window)) = x11.active_window() {
            if window.pid != Some(x11.own_pid) {
                *lock(&x11.last_foreign) = Some(window);
            }
        }
        x11.follow_focus()?;
        Ok(x11)
    }

    fn follow_focus(&self) -> Result<(), ClientError> {
        let (conn, _) = x11rb::connect(None).map_err(failed)?;
        let root = self.root;
        let atoms = self.atoms;
        let own_pid = self.own_pid;
        let last_foreign = self.last_foreign.clone();
        let listeners = self.focus_listeners.clone();
        conn.change_window_attributes(
            root,
            &ChangeWindowAttributesAux::new().event_mask(EventMask::PROPERTY_CHANGE),
        )
        .map_err(failed)?
        .check()
        .map_err(failed)?;
        std::thread::Builder::new()
            .name("focus-watch".into())
            .spawn(move || loop {
                match conn.wait_for_event() {
                    Ok(Event::PropertyNotify(event)) if event.atom == atoms.active_window => {
                        if let Ok(Some(window)) = active_window(&conn, root, atoms) {
                            // Our own windows (the sidebar) do not count:
                            // the target is the window the user came from.
                            if window.pid != Some(own_pid) {
                                *lock(&last_foreign) = Some(window);
                                lock(&listeners).iter().for_each(|listener| listener());
                            }
                        }
                    }
                    Ok(_) => {}
                    Err(error) => {
                        tracing::warn!(%error, "the focus watch lost the display");
                        return;
                    }
                }
            })
            .map_err(|e| failed(format!("focus watch: {e}")))?;
        Ok(())
    }

    pub fn active_window(&self) -> Result<Option<WindowRef>, ClientError> {
        active_window(&lock(&self.conn), self.root, self.atoms)
    }

    pub fn last_foreign_window(&self) -> Option<WindowRef> {
        lock(&self.last_foreign).clone()
    }

    pub fn on_focus_change(&self, listener: FocusListener) {
        lock(&self.focus_listeners).push(listener);
    }

    /// Whether the X screen saver is on, which is what screen lockers on
    /// X11 (xscreensaver, light-locker, xss-lock setups) turn on.
    pub fn screen_locked(&self) -> bool {
        use x11rb::protocol::screensaver::{ConnectionExt as _, State};
        let conn = lock(&self.conn);
        conn.screensaver_query_info(self.root)
            .ok()
            .and_then(|cookie| cookie.reply().ok())
            .is_some_and(|info| info.state == u8::from(State::ON) || info.state == u8::from(State::CYCLE))
    }

    /// The applications' windows that are on screen (mapped), each with
    /// its place on the screen including the window manager's frame
    /// (whose title bar shows the title too).
    pub fn visible_windows(&self) -> Result<Vec<(WindowRef, PixelRect)>, ClientError> {
        use x11rb::protocol::xproto::MapState;
        let conn = lock(&self.conn);
        let list = conn
            .get_property(
                false,
                self.root,
                self.atoms.client_list,
                AtomEnum::WINDOW,
                0,
                4096,
            )
            .map_err(failed)?
            .reply()
            .map_err(failed)?;
        let ids: Vec<Window> = list.value32().map(Iterator::collect).unwrap_or_default();
        let mut visible = Vec::new();
        for id in ids {
            // A window that went away between the list and the question is
            // simply not on screen.
            let Some(attributes) = conn.get_window_attributes(id).ok().and_then(|c| c.reply().ok()) else {
                continue;
            };
            if attributes.map_state != MapState::VIEWABLE {
                continue;
            }
            let Some(geometry) = conn.get_geometry(id).ok().and_then(|c| c.reply().ok()) else {
                continue;
            };
            let Some(origin) = conn
                .translate_coordinates(id, self.root, 0, 0)
                .ok()
                .and_then(|c| c.reply().ok())
            else {
                continue;
            };
            let extents: Vec<u32> = conn
                .get_property(false, id, self.atoms.frame_extents, AtomEnum::CARDINAL, 0, 4)
                .ok()
                .and_then(|c| c.reply().ok())
                .and_then(|reply| reply.value32().map(Iterator::collect))
                .unwrap_or_default();
            let [left, right, top, bottom] = <[u32; 4]>::try_from(extents).unwrap_or([0; 4]);
            let rect = PixelRect {
                x: i32::from(origin.dst_x) - i32::try_from(left).unwrap_or(0),
                y: i32::from(origin.dst_y) - i32::try_from(top).unwrap_or(0),
                width: u32::from(geometry.width) + left + right,
                height: u32::from(geometry.height) + top + bottom,
            };
            visible.push((describe(&conn, id, self.atoms), rect));
        }
        Ok(visible)
    }

    pub fn own_pid(&self) -> u32 {
        self.own_pid
    }

    /// Asks the window manager to activate `window` (as a pager would, so
    /// focus-stealing prevention lets it through).
    pub fn activate(&self, window: u64) -> Result<(), ClientError> {
        let window = Window::try_from(window).map_err(|_| failed("not an X window id"))?;
        request_focus(&lock(&self.conn), self.root, self.atoms.active_window, window)
    }

    /// Whether Shift, Ctrl, Alt or Super is held down right now.
    pub fn modifiers_held(&self) -> Result<bool, ClientError> {
        self.any_held(KeyButMask::SHIFT | KeyButMask::CONTROL | KeyButMask::MOD1 | KeyButMask::MOD4)
    }

    /// Whether a mouse button is held down right now.
    pub fn button_held(&self) -> Result<bool, ClientError> {
        self.any_held(
            KeyButMask::BUTTON1
                | KeyButMask::BUTTON2
                | KeyButMask::BUTTON3
                | KeyButMask::BUTTON4
                | KeyButMask::BUTTON5,
        )
    }

    fn any_held(&self, keys: KeyButMask) -> Result<bool, ClientError> {
        let conn = lock(&self.conn);
        let pointer = conn
            .query_pointer(self.root)
            .map_err(failed)?
            .reply()
            .map_err(failed)?;
        Ok(u16::from(pointer.mask) & u16::from(keys) != 0)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn active_window(
    conn: &RustConnection,
    root: Window,
    atoms: Atoms,
) -> Result<Option<WindowRef>, ClientError> {
    let reply = conn
        .get_property(false, root, atoms.active_window, AtomEnum::WINDOW, 0, 1)
        .map_err(failed)?
        .reply()
        .map_err(failed)?;
    let Some(id) = reply.value32().and_then(|mut values| values.next()) else {
        return Ok(None);
    };
    if id == 0 {
        return Ok(None);
    }
    Ok(Some(describe(conn, id, atoms)))
}

/// Process, application and title of `window`, as far as it tells them.
fn describe(conn: &RustConnection, window: Window, atoms: Atoms) -> WindowRef {
    let property = |name: Atom, kind: Atom, length: u32| {
        conn.get_property(false, window, name, kind, 0, length)
            .ok()
            .and_then(|cookie| cookie.reply().ok())
    };
    let pid = property(atoms.wm_pid, AtomEnum::CARDINAL.into(), 1)
        .and_then(|reply| reply.value32().and_then(|mut values| values.next()));
    let title = property(atoms.wm_name, atoms.utf8_string, 1024)
        .map(|reply| String::from_utf8_lossy(&reply.value).into_owned())
        .filter(|title| !title.is_empty())
        .or_else(|| {
            property(AtomEnum::WM_NAME.into(), AtomEnum::ANY.into(), 1024)
                .map(|reply| String::from_utf8_lossy(&reply.value).into_owned())
        })
        .unwrap_or_default();
    // WM_CLASS is "instance\0Class\0"; the class names the application.
    let class = property(AtomEnum::WM_CLASS.into(), AtomEnum::STRING.into(), 256)
        .map(|reply| {
            let parts: Vec<String> = reply
                .value
                .split(|byte| *byte == 0)
                .filter(|part| !part.is_empty())
                .map(|part| String::from_utf8_lossy(part).into_owned())
                .collect();
            parts.last().cloned().unwrap_or_default()
        })
        .unwrap_or_default();
    let app = if class.is_empty() {
        pid.and_then(process_name).unwrap_or_default()
    } else {
        class
    };
    WindowRef {
        id: u64::from(window),
        pid,
        app,
        title,
    }
}

fn process_name(pid: u32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|name| name.trim().to_owned())
}

/// `_NET_ACTIVE_WINDOW` for `window`, marked as coming from a pager
/// (source 2): window managers honour that over their focus-stealing rules.
fn request_focus(
    conn: &RustConnection,
    root: Window,
    active: Atom,
    window: Window,
) -> Result<(), ClientError> {
    let event = ClientMessageEvent::new(32, window, active, [2, 0, 0, 0, 0]);
    conn.send_event(
        false,
        root,
        EventMask::SUBSTRUCTURE_REDIRECT | EventMask::SUBSTRUCTURE_NOTIFY,
        event,
    )
    .map_err(failed)?;
    conn.flush().map_err(failed)
}

/// Asks the window manager to give the keyboard focus to `window`, one of
/// the app's own X windows. The request says it comes from a pager (source
/// 2): on GNOME Wayland mutter refuses an application's own request while
/// a Wayland window has the focus, and the app's windows that ask (the
/// selection overlay) open because the user just pressed the app's shortcut.
/// A window that is still being mapped ignores the request, so it is made
/// again until the window has the focus (for up to a second).
pub fn activate_own(window: u64) -> Result<(), ClientError> {
    let window = Window::try_from(window).map_err(|_| failed("not an X window id"))?;
    let (conn, screen) = x11rb::connect(None).map_err(failed)?;
    let root = conn
        .setup()
        .roots
        .get(screen)
        .ok_or_else(|| failed("no X screen"))?
        .root;
    let active = conn
        .intern_atom(false, b"_NET_ACTIVE_WINDOW")
        .map_err(failed)?
        .reply()
        .map_err(failed)?
        .atom;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    loop {
        request_focus(&conn, root, active, window)?;
        std::thread::sleep(std::time::Duration::from_millis(40));
        let focused = conn
            .get_property(false, root, active, AtomEnum::WINDOW, 0, 1)
            .map_err(failed)?
            .reply()
            .map_err(failed)?
            .value32()
            .and_then(|mut values| values.next());
        if focused == Some(window) {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            return Err(failed("the window manager did not give the window the focus"));
        }
    }
}
