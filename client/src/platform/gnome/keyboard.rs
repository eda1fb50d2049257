//! Keystrokes into other applications on GNOME Wayland, through a
//! remote-desktop session of the portal ([`super::remote_desktop`]).
//!
//! The session is opened when a rewrite first needs the keyboard; GNOME
//! asks the user then. Where the portal remembers the answer (version 2
//! on), the session is closed after [`KEEP_OPEN`] without use and reopened
//! silently with the stored restore token (0600 in the config directory).
//! Where it does not, closing would mean asking again at the next Apply,
//! so the session stays open while the app runs.

use super::portal::{Answer, Portal, TokenFile};
use super::remote_desktop::{self, REMOTE_DESKTOP, TOKEN_TABLE};
use crate::error::ClientError;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use zbus::zvariant::OwnedObjectPath;

/// How long a remembered session stays open after its last key.
const KEEP_OPEN: Duration = Duration::from_secs(60);
/// Mutter drops the first keys of a new virtual keyboard.
const FRESH_DEVICE: Duration = Duration::from_millis(300);
/// After the focus moved, the first key can reach the window that had it;
/// a lone Shift and this pause come first.
const SETTLE: Duration = Duration::from_millis(100);

const SHIFT: u32 = 0xffe1;
const CONTROL: u32 = 0xffe3;
const ALT: u32 = 0xffe9;
const TAB: u32 = 0xff09;
const RETURN: u32 = 0xff0d;

fn failed(detail: impl std::fmt::Display) -> ClientError {
    ClientError::Injection(format!("GNOME's keyboard for Sightline: {detail}"))
}

struct Session {
    portal: Portal,
    remote_desktop: zbus::blocking::Proxy<'static>,
    session: OwnedObjectPath,
    opened: Instant,
    last_used: Instant,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.portal.close_session(&self.session);
    }
}

struct Inner {
    token: TokenFile,
    /// The RemoteDesktop portal's version; `None` where there is none.
    version: Option<u32>,
    session: Mutex<Option<Session>>,
}

/// The keyboard of a remote-desktop session, opened when needed.
#[derive(Clone)]
pub(crate) struct GnomeKeyboard {
    inner: Arc<Inner>,
}

/// The keysym that types `c`, for the characters that are typed rather
/// than pasted: printable ASCII (whose keysyms are their codes), line
/// breaks and tabs.
fn keysym_of(c: char) -> Option<u32> {
    match c {
        '\n' | '\r' => Some(RETURN),
        '\t' => Some(TAB),
        ' '..='~' => Some(u32::from(c)),
        _ => None,
    }
}

impl Inner {
    fn session(&self) -> MutexGuard<'_, Option<Session>> {
        self.session.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn persists(&self) -> bool {
        self.version.is_some_and(remote_desktop::persists)
    }

    fn close_if_unused(&self) {
        let mut session = self.session();
        if self.persists()
            && session
                .as_ref()
                .is_some_and(|s| s.last_used.elapsed() > KEEP_OPEN)
        {
            tracing::info!("closing the unused keyboard session");
            *session = None;
        }
    }
}

impl GnomeKeyboard {
    pub(crate) fn new(token_path: PathBuf) -> Self {
        let version = Portal::connect()
            .ok()
            .and_then(|portal| portal.version(REMOTE_DESKTOP));
        tracing::info!(?version, "the RemoteDesktop portal");
        let inner = Arc::new(Inner {
            token: TokenFile {
                path: token_path,
                what: "keyboard",
            },
            version,
            session: Mutex::new(None),
        });
        let weak = Arc::downgrade(&inner);
        let _ = std::thread::Builder::new()
            .name("keyboard-idle".into())
            .spawn(move || loop {
                std::thread::sleep(Duration::from_secs(5));
                let Some(inner) = weak.upgrade() else { return };
                inner.close_if_unused();
            });
        Self { inner }
    }

    /// Why keys cannot be pressed in this session, if they cannot.
    pub(crate) fn unavailable(&self) -> Option<String> {
        self.inner.version.is_none().then(|| {
            "this desktop offers no way to type into other applications (no RemoteDesktop portal)".to_owned()
        })
    }

    /// Opens the session if it is not open, asking the user where GNOME
    /// does not remember their answer. Returns whether a dialog may have
    /// been shown (the focus may have moved to it and back).
    pub(crate) fn ready(&self) -> Result<bool, ClientError> {
        if let Some(reason) = self.unavailable() {
            return Err(ClientError::Injection(reason));
        }
        if self.inner.session().is_some() {
            return Ok(false);
        }
        let portal = Portal::connect()?;
        let version = self.inner.version.unwrap_or(1);
        let token = self
            .inner
            .token
            .read()
            .filter(|_| remote_desktop::persists(version));
        let asked = !token
            .as_deref()
            .is_some_and(|token| portal.remembered(TOKEN_TABLE, token));
        let started = Instant::now();
        // Not under the lock: the dialog may take the user a while.
        let session = match remote_desktop::start(&portal, version, token.as_deref())? {
            Answer::Granted(session) => session,
            Answer::Refused => {
                return Err(ClientError::Injection(
                    "typing into other applications was not allowed in GNOME's dialog; press the shortcut again to be asked again".into(),
                ))
            }
            Answer::Ended => return Err(failed("GNOME ended the request")),
        };
        if remote_desktop::persists(version) {
            self.inner.token.save(session.restore_token.as_deref());
        }
        tracing::info!(
            elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            asked,
            "keyboard session started"
        );
        let remote_desktop = portal.interface(REMOTE_DESKTOP)?;
        let now = Instant::now();
        *self.inner.session() = Some(Session {
            portal,
            remote_desktop,
            session: session.session,
            opened: now,
            last_used: now,
        });
        Ok(asked)
    }

    /// Presses and lets go of keys, in order. A session GNOME ended (the
    /// user stopped it from the top bar) is forgotten, so the next use
    /// opens a new one.
    fn send(&self, keys: &[(u32, bool)]) -> Result<(), ClientError> {
        self.ready()?;
        let mut guard = self.inner.session();
        let session = guard.as_mut().ok_or_else(|| failed("the session closed"))?;
        let young = session.opened.elapsed();
        if young < FRESH_DEVICE {
            std::thread::sleep(FRESH_DEVICE - young);
        }
        // A lone Shift first: harmless wherever it lands.
        let mut sent = remote_desktop::keysym(&session.remote_desktop, &session.session, SHIFT, true)
            .and_then(|()| remote_desktop::keysym(&session.remote_desktop, &session.session, SHIFT, false));
        if sent.is_ok() {
            std::thread::sleep(SETTLE);
            sent = keys.iter().try_for_each(|&(keysym, down)| {
                remote_desktop::keysym(&session.remote_desktop, &session.session, keysym, down)
            });
        }
        session.last_used = Instant::now();
        if sent.is_err() {
            *guard = None;
        }
        sent
    }

    /// `modifier` held while `key` is pressed.
    fn chord(&self, modifier: u32, key: u32) -> Result<(), ClientError> {
        self.send(&[(modifier, true), (key, true), (key, false), (modifier, false)])
    }

    /// Ctrl+C.
    pub(crate) fn copy(&self) -> Result<(), ClientError> {
        self.chord(CONTROL, u32::from('c'))
    }

    /// Ctrl+V.
    pub(crate) fn paste(&self) -> Result<(), ClientError> {
        self.chord(CONTROL, u32::from('v'))
    }

    /// Alt+Tab: GNOME's switch back to the application used before.
    pub(crate) fn switch_back(&self) -> Result<(), ClientError> {
        self.chord(ALT, TAB)
    }

    /// Types `text`: printable ASCII, line breaks and tabs. Anything else
    /// is refused before a key is pressed (the rewrite pastes it instead),
    /// so text is never typed in part.
    pub(crate) fn type_text(&self, text: &str) -> Result<(), ClientError> {
        let text = text.replace("\r\n", "\n");
        let keys = text
            .chars()
            .map(|c| {
                keysym_of(c)
                    .map(|keysym| [(keysym, true), (keysym, false)])
                    .ok_or_else(|| failed(format!("“{c}” cannot be typed here; it is pasted instead")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.send(&keys.concat())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typeable_characters_have_keysyms() {
        assert_eq!(keysym_of('a'), Some(0x61));
        assert_eq!(keysym_of('~'), Some(0x7e));
        assert_eq!(keysym_of(' '), Some(0x20));
        assert_eq!(keysym_of('\n'), Some(RETURN));
        assert_eq!(keysym_of('\t'), Some(TAB));
        // Pasted instead: the layout may have no key for them.
        assert_eq!(keysym_of('é'), None);
        assert_eq!(keysym_of('\u{7}'), None);
    }
}
