//! A keyboard through the RemoteDesktop portal: the only way GNOME lets an
//! app press keys in other applications' windows, native Wayland ones
//! included. GNOME asks the user once in its own dialog; from version 2
//! of the portal the answer is remembered with a restore token (single
//! use, like the screen cast's), before that it is asked for each session.
//!
//! Keys go as keysyms (`NotifyKeyboardKeysym`), which the portal offers in
//! every version; mutter maps each to a key of the current layout,
//! pressing Shift where the layout needs it.

use super::portal::{failed, Answer, Portal};
use crate::error::ClientError;
use std::collections::HashMap;
use zbus::zvariant::{DeserializeDict, OwnedObjectPath, Type, Value};

pub(super) const REMOTE_DESKTOP: &str = "org.freedesktop.portal.RemoteDesktop";
/// The permission store's table for remembered remote-desktop sessions.
pub(super) const TOKEN_TABLE: &str = "remote-desktop";

/// The keyboard only: no pointer, no touch screen.
const DEVICE_KEYBOARD: u32 = 1;
/// Remember the choice until the user revokes it.
const PERSIST_UNTIL_REVOKED: u32 = 2;
/// `persist_mode` and restore tokens came with version 2.
const PERSISTING_VERSION: u32 = 2;

#[derive(DeserializeDict, Type, Debug)]
#[zvariant(signature = "dict")]
struct SessionCreated {
    session_handle: String,
}

#[derive(DeserializeDict, Type, Debug)]
#[zvariant(signature = "dict")]
struct Nothing {}

#[derive(DeserializeDict, Type, Debug)]
#[zvariant(signature = "dict")]
struct Started {
    devices: Option<u32>,
    restore_token: Option<String>,
}

/// A started remote-desktop session with a keyboard.
pub(super) struct KeyboardSession {
    pub session: OwnedObjectPath,
    /// Starts the next session without a dialog (portal version 2 on).
    pub restore_token: Option<String>,
}

/// Whether this portal version remembers the user's answer.
pub(super) fn persists(version: u32) -> bool {
    version >= PERSISTING_VERSION
}

/// Starts a session with a keyboard. With a `restore_token` that the
/// desktop remembers it starts silently; otherwise the desktop asks the
/// user, and this waits for their answer.
pub(super) fn start(
    portal: &Portal,
    version: u32,
    restore_token: Option<&str>,
) -> Result<Answer<KeyboardSession>, ClientError> {
    let session_token = portal.token();
    let created: Answer<SessionCreated> = portal.request(REMOTE_DESKTOP, "CreateSession", |handle| {
        let options: HashMap<&str, Value> = HashMap::from([
            ("handle_token", Value::from(handle)),
            ("session_handle_token", Value::from(session_token.as_str())),
        ]);
        (options,)
    })?;
    let session = match created {
        Answer::Granted(created) => OwnedObjectPath::try_from(created.session_handle).map_err(failed)?,
        Answer::Refused => return Ok(Answer::Refused),
        Answer::Ended => return Ok(Answer::Ended),
    };
    match select_and_start(portal, &session, version, restore_token) {
        Ok(Answer::Granted(started)) if started.devices.unwrap_or(0) & DEVICE_KEYBOARD != 0 => {
            Ok(Answer::Granted(KeyboardSession {
                session,
                restore_token: started.restore_token,
            }))
        }
        other => {
            portal.close_session(&session);
            other.map(|answer| match answer {
                // Allowed, but without the keyboard: as good as no.
                Answer::Refused | Answer::Granted(_) => Answer::Refused,
                Answer::Ended => Answer::Ended,
            })
        }
    }
}

fn select_and_start(
    portal: &Portal,
    session: &OwnedObjectPath,
    version: u32,
    restore_token: Option<&str>,
) -> Result<Answer<Started>, ClientError> {
    let selected: Answer<Nothing> = portal.request(REMOTE_DESKTOP, "SelectDevices", |handle| {
        let mut options: HashMap<&str, Value> = HashMap::from([
            ("handle_token", Value::from(handle)),
            ("types", Value::from(DEVICE_KEYBOARD)),
        ]);
        if persists(version) {
            options.insert("persist_mode", Value::from(PERSIST_UNTIL_REVOKED));
            if let Some(token) = restore_token {
                options.insert("restore_token", Value::from(token));
            }
        }
        (session.as_ref(), options)
    })?;
    match selected {
        Answer::Granted(Nothing {}) => {}
        Answer::Refused => return Ok(Answer::Refused),
        Answer::Ended => return Ok(Answer::Ended),
    }
    portal.request(REMOTE_DESKTOP, "Start", |handle| {
        let options: HashMap<&str, Value> = HashMap::from([("handle_token", Value::from(handle))]);
        (session.as_ref(), "", options)
    })
}

/// Presses (`down`) or lets go of the key that makes `keysym`, through
/// `remote_desktop` (the portal's RemoteDesktop interface).
pub(super) fn keysym(
    remote_desktop: &zbus::blocking::Proxy<'_>,
    session: &OwnedObjectPath,
    keysym: u32,
    down: bool,
) -> Result<(), ClientError> {
    let options: HashMap<&str, Value> = HashMap::new();
    let keysym = i32::try_from(keysym).map_err(|_| failed("a keysym out of range"))?;
    remote_desktop
        .call_method(
            "NotifyKeyboardKeysym",
            &(session.as_ref(), options, keysym, u32::from(down)),
        )
        .map_err(failed)?;
    Ok(())
}
