//! A screen cast through the ScreenCast portal: which monitors the user
//! lets the app see, and the restore token that starts the next cast
//! without asking again.
//!
//! `persist_mode` 2 keeps the user's choice until they revoke it. A restore
//! token is good for one start only: each start answers with the next one,
//! which is stored at once.

use super::portal::{failed, Answer, Portal};
use crate::error::ClientError;
use std::collections::HashMap;
use zbus::zvariant::{DeserializeDict, OwnedFd, OwnedObjectPath, Type, Value};

const SCREEN_CAST: &str = "org.freedesktop.portal.ScreenCast";
/// The permission store's table for remembered casts.
pub(super) const TOKEN_TABLE: &str = "screencast";

/// Monitors only (not single windows, not virtual screens).
const SOURCE_MONITOR: u32 = 1;
/// The pointer is left out of the frames: it is not part of what the user
/// asks about.
const CURSOR_HIDDEN: u32 = 1;
/// Remember the choice until the user revokes it.
const PERSIST_UNTIL_REVOKED: u32 = 2;

#[derive(DeserializeDict, Type, Debug)]
#[zvariant(signature = "dict")]
struct SessionCreated {
    session_handle: String,
}

#[derive(DeserializeDict, Type, Debug)]
#[zvariant(signature = "dict")]
struct Nothing {}

#[derive(DeserializeDict, Type, Debug, Clone)]
#[zvariant(signature = "dict")]
pub(super) struct StreamProperties {
    /// Where the monitor is in the desktop's layout (logical pixels).
    pub position: Option<(i32, i32)>,
}

#[derive(DeserializeDict, Type, Debug)]
#[zvariant(signature = "dict")]
struct Started {
    streams: Option<Vec<(u32, StreamProperties)>>,
    restore_token: Option<String>,
}

/// One PipeWire stream of a cast: a monitor.
#[derive(Debug, Clone)]
pub(super) struct CastStream {
    pub node: u32,
    pub properties: StreamProperties,
}

/// A running cast session.
pub(super) struct CastSession {
    pub session: OwnedObjectPath,
    pub streams: Vec<CastStream>,
    /// Starts the next cast without a dialog (if the user chose to be
    /// remembered).
    pub restore_token: Option<String>,
}

/// Opens a cast of every monitor. With a `restore_token` the desktop the
/// user allowed before starts silently; without one (or with one it forgot)
/// it asks the user, and this waits for their answer.
pub(super) fn start(
    portal: &Portal,
    restore_token: Option<&str>,
) -> Result<Answer<CastSession>, ClientError> {
    let session_token = portal.token();
    let created: Answer<SessionCreated> = portal.request(SCREEN_CAST, "CreateSession", |handle| {
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
    match select_and_start(portal, &session, restore_token) {
        Ok(Answer::Granted(started)) => Ok(Answer::Granted(CastSession {
            session,
            streams: started
                .streams
                .unwrap_or_default()
                .into_iter()
                .map(|(node, properties)| CastStream { node, properties })
                .collect(),
            restore_token: started.restore_token,
        })),
        other => {
            portal.close_session(&session);
            other.map(|answer| match answer {
                Answer::Refused => Answer::Refused,
                _ => Answer::Ended,
            })
        }
    }
}

fn select_and_start(
    portal: &Portal,
    session: &OwnedObjectPath,
    restore_token: Option<&str>,
) -> Result<Answer<Started>, ClientError> {
    let selected: Answer<Nothing> = portal.request(SCREEN_CAST, "SelectSources", |handle| {
        let mut options: HashMap<&str, Value> = HashMap::from([
            ("handle_token", Value::from(handle)),
            ("types", Value::from(SOURCE_MONITOR)),
            ("multiple", Value::from(true)),
            ("cursor_mode", Value::from(CURSOR_HIDDEN)),
            ("persist_mode", Value::from(PERSIST_UNTIL_REVOKED)),
        ]);
        if let Some(token) = restore_token {
            options.insert("restore_token", Value::from(token));
        }
        (session.as_ref(), options)
    })?;
    match selected {
        Answer::Granted(Nothing {}) => {}
        Answer::Refused => return Ok(Answer::Refused),
        Answer::Ended => return Ok(Answer::Ended),
    }
    portal.request(SCREEN_CAST, "Start", |handle| {
        let options: HashMap<&str, Value> = HashMap::from([("handle_token", Value::from(handle))]);
        (session.as_ref(), "", options)
    })
}

/// The PipeWire connection that carries the cast's frames.
pub(super) fn open_pipewire_remote(
    portal: &Portal,
    session: &OwnedObjectPath,
) -> Result<std::os::fd::OwnedFd, ClientError> {
    let options: HashMap<&str, Value> = HashMap::new();
    let fd: OwnedFd = portal
        .interface(SCREEN_CAST)?
        .call("OpenPipeWireRemote", &(session.as_ref(), options))
        .map_err(failed)?;
    Ok(fd.into())
}
