//! Which window has the focus on GNOME Wayland, from the accessibility bus
//! (AT-SPI): GNOME tells no ordinary app about native Wayland windows, but
//! every GTK, Qt, Firefox and Chromium window is on the accessibility bus
//! with its title and an `ACTIVE` state while it has the focus.
//!
//! Apps without accessibility support do not appear, so a caller must treat
//! "no active window found" as "cannot tell", never as "nothing focused".

use crate::error::ClientError;
use crate::seat::WindowRef;
use std::time::Duration;
use zbus::blocking::{Connection, Proxy};
use zbus::zvariant::OwnedObjectPath;

const ACCESSIBLE: &str = "org.a11y.atspi.Accessible";
const REGISTRY: &str = "org.a11y.atspi.Registry";
const ROOT: &str = "/org/a11y/atspi/accessible/root";
/// `ATSPI_STATE_ACTIVE`: the window has the focus.
const STATE_ACTIVE: u32 = 1;
/// `ATSPI_ROLE_FRAME`, `ATSPI_ROLE_WINDOW`, `ATSPI_ROLE_DIALOG`.
const WINDOW_ROLES: [u32; 3] = [23, 69, 16];
/// A hung application must not hold up the privacy gate.
const CALL_TIMEOUT: Duration = Duration::from_millis(500);

fn failed(error: impl std::fmt::Display) -> ClientError {
    ClientError::FocusUnknown(format!("the accessibility bus: {error}"))
}

/// A connection to the accessibility bus.
pub(crate) struct Atspi {
    connection: Connection,
}

impl Atspi {
    pub(crate) fn connect() -> Result<Self, ClientError> {
        let session = Connection::session().map_err(failed)?;
        let address: String = Proxy::new(&session, "org.a11y.Bus", "/org/a11y/bus", "org.a11y.Bus")
            .map_err(failed)?
            .call("GetAddress", &())
            .map_err(failed)?;
        let connection = zbus::blocking::connection::Builder::address(address.as_str())
            .map_err(failed)?
            .method_timeout(CALL_TIMEOUT)
            .build()
            .map_err(failed)?;
        Ok(Self { connection })
    }

    fn accessible(&self, bus: &str, path: &str) -> Result<Proxy<'static>, ClientError> {
        Proxy::new(&self.connection, bus.to_owned(), path.to_owned(), ACCESSIBLE).map_err(failed)
    }

    fn children(&self, bus: &str, path: &str) -> Result<Vec<(String, OwnedObjectPath)>, ClientError> {
        self.accessible(bus, path)?
            .call("GetChildren", &())
            .map_err(failed)
    }

    /// The top-level windows that say they have the focus. More than one,
    /// or none, means the focus cannot be told from here.
    pub(crate) fn active_windows(&self) -> Result<Vec<WindowRef>, ClientError> {
        let mut active = Vec::new();
        for (app_bus, app_path) in self.children(REGISTRY, ROOT)? {
            // One application that does not answer does not hide the others.
            let Ok(windows) = self.children(&app_bus, app_path.as_str()) else {
                continue;
            };
            let mut app_name: Option<String> = None;
            for (bus, path) in windows {
                let Ok(window) = self.accessible(&bus, path.as_str()) else {
                    continue;
                };
                let role: u32 = window.call("GetRole", &()).unwrap_or(0);
                if !WINDOW_ROLES.contains(&role) {
                    continue;
                }
                let Ok(states) = window.call::<_, _, Vec<u32>>("GetState", &()) else {
                    continue;
                };
                if states.first().is_none_or(|bits| bits & (1 << STATE_ACTIVE) == 0) {
                    continue;
                }
                let app = match &app_name {
                    Some(name) => name.clone(),
                    None => {
                        let name = self
                            .accessible(&app_bus, app_path.as_str())?
                            .get_property::<String>("Name")
                            .unwrap_or_default();
                        app_name = Some(name.clone());
                        name
                    }
                };
                active.push(WindowRef {
                    id: window_id(&bus, path.as_str()),
                    pid: self.pid(&bus),
                    app,
                    title: window.get_property::<String>("Name").unwrap_or_default(),
                });
            }
        }
        Ok(active)
    }

    /// The process behind a name on the accessibility bus.
    fn pid(&self, bus: &str) -> Option<u32> {
        Proxy::new(
            &self.connection,
            "org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus",
        )
        .ok()?
        .call("GetConnectionUnixProcessID", &(bus,))
        .ok()
    }
}

/// The bit that marks ids of windows known only from the accessibility
/// bus (native Wayland ones), kept apart from X window ids (which fit in
/// 32 bits).
const ACCESSIBLE_ID: u64 = 1 << 63;

/// Whether `id` names a window known only from the accessibility bus.
pub(crate) fn is_accessible_id(id: u64) -> bool {
    id & ACCESSIBLE_ID != 0
}

/// A stable id for a window known only by its place on the accessibility
/// bus.
fn window_id(bus: &str, path: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (bus, path).hash(&mut hasher);
    hasher.finish() | ACCESSIBLE_ID
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_ids_never_look_like_x_windows() {
        let id = window_id(":1.42", "/org/a11y/atspi/accessible/7");
        assert!(id > u64::from(u32::MAX));
        assert!(is_accessible_id(id));
        assert!(!is_accessible_id(0x0260_0007));
        assert_eq!(id, window_id(":1.42", "/org/a11y/atspi/accessible/7"));
        assert_ne!(id, window_id(":1.43", "/org/a11y/atspi/accessible/7"));
    }
}
