//! Frames on GNOME Wayland: a screen cast through the ScreenCast portal,
//! kept open while it is being used and closed when it has not been for
//! [`KEEP_OPEN`].
//!
//! The user allows it once in GNOME's dialog ("Remember this selection");
//! the restore token from each start is stored (0600) and starts the next
//! cast silently. A grab never shows the dialog: without a remembered
//! token it fails with [`ScreenAccess::NotAsked`], and the sidebar explains
//! what GNOME will ask before [`Screens::ask`] shows it. If the user stops
//! sharing from GNOME's indicator, nothing is restarted until they ask for
//! it in the sidebar.

use super::pipewire::Frames;
use super::portal::{Answer, Portal, TokenFile};
use super::screencast::{self, CastStream, TOKEN_TABLE};
use crate::capture::geometry::{MonitorInfo, PixelRect};
use crate::capture::{self, Frame};
use crate::error::ClientError;
use crate::platform::access::ScreenAccess;
use crate::platform::screens::{AccessListener, Screens};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long a cast stays open after its last use. Opening one costs a few
/// hundred milliseconds (too slow for the overlay), a still open cast
/// nothing while the screen is still, so it stays open while ambient
/// awareness looks and for a while after a region selection.
const KEEP_OPEN: Duration = Duration::from_secs(60);
/// How long a grab waits for the first frame of a fresh cast.
const FIRST_FRAME: Duration = Duration::from_secs(3);

struct Cast {
    portal: Portal,
    session: zbus::zvariant::OwnedObjectPath,
    streams: Vec<CastStream>,
    /// How many monitors there were when the cast started.
    monitors: usize,
    frames: Frames,
    last_used: Instant,
}

impl Drop for Cast {
    fn drop(&mut self) {
        self.portal.close_session(&self.session);
    }
}

enum State {
    Closed,
    Open(Cast),
    /// The user stopped sharing, or refused: nothing is started until they
    /// ask again.
    Held(ScreenAccess),
}

struct Inner {
    token: TokenFile,
    state: Mutex<State>,
    listeners: Mutex<Vec<AccessListener>>,
    /// What the listeners last heard, so each change is told once.
    reported: Mutex<Option<ScreenAccess>>,
    /// Set when the ScreenCast portal is missing.
    unavailable: Option<String>,
}

/// The GNOME Wayland [`Screens`].
pub struct GnomeScreens {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for GnomeScreens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GnomeScreens")
    }
}

impl GnomeScreens {
    pub(crate) fn new(token_path: PathBuf, unavailable: Option<String>) -> Self {
        let inner = Arc::new(Inner {
            token: TokenFile {
                path: token_path,
                what: "screen cast",
            },
            state: Mutex::new(State::Closed),
            listeners: Mutex::new(Vec::new()),
            reported: Mutex::new(None),
            unavailable,
        });
        // Closes an unused cast (and notices one the user stopped).
        let weak = Arc::downgrade(&inner);
        let _ = std::thread::Builder::new()
            .name("screen-cast-idle".into())
            .spawn(move || loop {
                std::thread::sleep(Duration::from_secs(2));
                let Some(inner) = weak.upgrade() else { return };
                inner.check();
            });
        Self { inner }
    }
}

impl Inner {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Tells the listeners (the sidebar) when the access changed: a grab
    /// that was refused, the user stopping the sharing, an answer to the
    /// dialog. Every job that grabs is covered by this one place.
    fn report(&self, access: ScreenAccess) {
        {
            let mut reported = self.reported.lock().unwrap_or_else(|p| p.into_inner());
            if reported.as_ref() == Some(&access) {
                return;
            }
            *reported = Some(access.clone());
        }
        for listener in self.listeners.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            listener(access.clone());
        }
    }

    /// Closes the cast if unused for [`KEEP_OPEN`]; holds it if the user
    /// stopped it.
    fn check(&self) {
        let mut state = self.state();
        let State::Open(cast) = &*state else { return };
        if let Some(reason) = cast.frames.ended() {
            tracing::info!(%reason, "the screen cast ended");
            *state = State::Held(ScreenAccess::Stopped);
            drop(state);
            self.report(ScreenAccess::Stopped);
        } else if cast.last_used.elapsed() > KEEP_OPEN {
            tracing::debug!("closing the unused screen cast");
            *state = State::Closed;
        }
    }

    /// Starts a cast; `silent` refuses to start one that would show the
    /// dialog.
    fn open(&self, silent: bool) -> Result<Result<Cast, ScreenAccess>, ClientError> {
        let portal = Portal::connect()?;
        let token = self.token.read();
        if silent
            && !token
                .as_deref()
                .is_some_and(|t| portal.remembered(TOKEN_TABLE, t))
        {
            return Ok(Err(ScreenAccess::NotAsked));
        }
        let started = std::time::Instant::now();
        let session = match screencast::start(&portal, token.as_deref())? {
            Answer::Granted(session) => session,
            Answer::Refused => return Ok(Err(ScreenAccess::Refused)),
            Answer::Ended => return Ok(Err(ScreenAccess::NotAsked)),
        };
        // Single use: the next start needs the one this start gave.
        self.token.save(session.restore_token.as_deref());
        let fd = screencast::open_pipewire_remote(&portal, &session.session)?;
        let frames = Frames::start(fd, session.streams.iter().map(|s| s.node).collect())?;
        tracing::info!(
            elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            streams = session.streams.len(),
            "screen cast started"
        );
        Ok(Ok(Cast {
            portal,
            session: session.session,
            streams: session.streams,
            monitors: capture::x_monitors().map(|m| m.len()).unwrap_or(1),
            frames,
            last_used: Instant::now(),
        }))
    }
}

impl GnomeScreens {
    fn grab_frame(&self, monitor: &MonitorInfo) -> Result<Frame, ClientError> {
        let inner = &self.inner;
        if let Some(reason) = &inner.unavailable {
            return Err(ClientError::ScreenAccess(ScreenAccess::Unavailable(
                reason.clone(),
            )));
        }
        inner.check();
        let mut state = inner.state();
        if let State::Held(access) = &*state {
            return Err(ClientError::ScreenAccess(access.clone()));
        }
        if let State::Closed = &*state {
            *state = State::Open(inner.open(true)?.map_err(ClientError::ScreenAccess)?);
        }
        let State::Open(cast) = &mut *state else {
            return Err(ClientError::ScreenAccess(ScreenAccess::NotAsked));
        };
        cast.last_used = Instant::now();
        let node = stream_for(&cast.streams, monitor, cast.monitors).ok_or_else(|| {
            ClientError::Capture(format!(
                "GNOME shares another monitor than {}; stop sharing and allow this one",
                monitor.name
            ))
        })?;
        let latest = cast.frames.latest(node, FIRST_FRAME);
        drop(state);
        if latest.is_err() {
            // No frame because the user stopped the sharing?
            inner.check();
            if let State::Held(access) = &*inner.state() {
                return Err(ClientError::ScreenAccess(access.clone()));
            }
        }
        latest
    }
}

/// The cast stream that shows `monitor`: the one at its place, or the only
/// one where there is one monitor.
fn stream_for(streams: &[CastStream], monitor: &MonitorInfo, monitors: usize) -> Option<u32> {
    streams
        .iter()
        .find(|s| s.properties.position == Some((monitor.bounds.x, monitor.bounds.y)))
        .or_else(|| streams.first().filter(|_| streams.len() == 1 && monitors == 1))
        .map(|s| s.node)
}

impl Screens for GnomeScreens {
    fn monitors(&self) -> Result<Vec<MonitorInfo>, ClientError> {
        // XWayland reports mutter's monitor layout, the same coordinates
        // the app's own (XWayland) windows are placed in.
        capture::x_monitors()
    }

    fn grab(&self, monitor: &MonitorInfo) -> Result<Frame, ClientError> {
        let grabbed = self.grab_frame(monitor);
        match &grabbed {
            Ok(_) => self.inner.report(ScreenAccess::Granted),
            Err(ClientError::ScreenAccess(access)) => self.inner.report(access.clone()),
            Err(_) => {}
        }
        grabbed
    }

    fn window_frames(&self) -> Vec<PixelRect> {
        // Only XWayland windows are listed; GNOME tells no app where
        // native Wayland windows are.
        capture::window_frames()
    }

    fn access(&self) -> ScreenAccess {
        if let Some(reason) = &self.inner.unavailable {
            return ScreenAccess::Unavailable(reason.clone());
        }
        match &*self.inner.state() {
            State::Open(_) => return ScreenAccess::Granted,
            State::Held(access) => return access.clone(),
            State::Closed => {}
        }
        let remembered = self.inner.token.read().is_some_and(|token| {
            Portal::connect().is_ok_and(|portal| portal.remembered(TOKEN_TABLE, &token))
        });
        if remembered {
            ScreenAccess::Granted
        } else {
            ScreenAccess::NotAsked
        }
    }

    fn ask(&self) -> Result<ScreenAccess, ClientError> {
        if let Some(reason) = &self.inner.unavailable {
            return Ok(ScreenAccess::Unavailable(reason.clone()));
        }
        // The dialog may take the user a while: not under the lock.
        *self.inner.state() = State::Closed;
        let access = match self.inner.open(false)? {
            Ok(cast) => {
                *self.inner.state() = State::Open(cast);
                ScreenAccess::Granted
            }
            Err(access) => {
                *self.inner.state() = State::Held(access.clone());
                access
            }
        };
        self.inner.report(access.clone());
        Ok(access)
    }

    fn on_access_change(&self, listener: AccessListener) {
        self.inner
            .listeners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(listener);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::gnome::screencast::StreamProperties;

    fn monitor(x: i32, y: i32) -> MonitorInfo {
        MonitorInfo {
            id: 1,
            name: "m".into(),
            bounds: PixelRect {
                x,
                y,
                width: 1920,
                height: 1080,
            },
            scale: 1.0,
            primary: true,
        }
    }

    fn stream(node: u32, position: Option<(i32, i32)>) -> CastStream {
        CastStream {
            node,
            properties: StreamProperties { position },
        }
    }

    #[test]
    fn monitors_are_matched_to_streams_by_place() {
        let streams = [stream(40, Some((0, 0))), stream(41, Some((1920, 0)))];
        assert_eq!(stream_for(&streams, &monitor(1920, 0), 2), Some(41));
        assert_eq!(stream_for(&streams, &monitor(0, 0), 2), Some(40));
        assert_eq!(stream_for(&streams, &monitor(0, 1080), 3), None);
        // One monitor, one stream: that one, wherever the portal says it is.
        assert_eq!(stream_for(&[stream(7, None)], &monitor(0, 0), 1), Some(7));
        // Two monitors but one stream elsewhere: not a guess.
        assert_eq!(stream_for(&[stream(7, Some((5, 5)))], &monitor(0, 0), 2), None);
    }
}
