//! One sidebar per user. The first instance listens on a socket in the
//! config directory (0600); a second start connects, hands it a
//! [`Message`] — come to the front, or run a shortcut's action (GNOME's
//! keybindings start `sightline --action …`) — and exits. A socket left
//! behind by a crashed instance refuses connections, so it is replaced.

use crate::error::ClientError;
use crate::platform::Action;
use std::path::Path;

/// What a later start asks of the running instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message {
    /// Show the sidebar.
    Activate,
    /// Do what a global shortcut does.
    Action(Action),
}

impl Message {
    fn encode(self) -> String {
        match self {
            Message::Activate => "activate\n".to_owned(),
            Message::Action(action) => format!("action {}\n", action.as_str()),
        }
    }

    /// One line; anything else is ignored.
    fn decode(line: &str) -> Option<Self> {
        match line.trim_end_matches('\n') {
            "activate" => Some(Message::Activate),
            other => other
                .strip_prefix("action ")
                .and_then(Action::parse)
                .map(Message::Action),
        }
    }
}

/// The longest message a later start may send.
const MAX_MESSAGE: u64 = 64;

/// The running instance's claim; [`Instance::on_activate`] hears later starts.
#[derive(Debug)]
pub struct Instance {
    #[cfg(unix)]
    listener: std::os::unix::net::UnixListener,
}

/// Claims the instance, or hands `message` to the running one and answers
/// `None`.
#[cfg(unix)]
pub fn acquire(dir: &Path, message: Message) -> Result<Option<Instance>, ClientError> {
    use std::io::Write;
    use std::os::unix::net::{UnixListener, UnixStream};
    let io = |e: std::io::Error| ClientError::Io(format!("{}: {e}", dir.display()));
    std::fs::create_dir_all(dir).map_err(io)?;
    let path = dir.join("instance.sock");
    if let Ok(mut running) = UnixStream::connect(&path) {
        running.write_all(message.encode().as_bytes()).map_err(io)?;
        return Ok(None);
    }
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    let listener = UnixListener::bind(&path).map_err(io)?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    }
    Ok(Some(Instance { listener }))
}

/// Elsewhere the shell's own single-instance support is used.
#[cfg(not(unix))]
pub fn acquire(dir: &Path, message: Message) -> Result<Option<Instance>, ClientError> {
    let _ = (dir, message);
    Ok(Some(Instance {}))
}

impl Instance {
    /// Calls `heard` (on a thread of its own) with each message a later
    /// start hands over.
    pub fn on_message(self, heard: impl Fn(Message) + Send + 'static) {
        #[cfg(unix)]
        std::thread::spawn(move || {
            use std::io::{BufRead, Read};
            for connection in self.listener.incoming() {
                let Ok(connection) = connection else { continue };
                let mut line = String::new();
                let mut reader = std::io::BufReader::new(connection.take(MAX_MESSAGE));
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                match Message::decode(&line) {
                    Some(message) => heard(message),
                    None => tracing::warn!("a later start sent something unknown"),
                }
            }
        });
        #[cfg(not(unix))]
        let _ = heard;
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn a_second_start_activates_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let first = acquire(dir.path(), Message::Activate)
            .unwrap()
            .expect("the first start owns the instance");
        let (sender, heard) = mpsc::channel();
        first.on_message(move |message| {
            let _ = sender.send(message);
        });
        assert!(acquire(dir.path(), Message::Activate).unwrap().is_none());
        assert_eq!(
            heard.recv_timeout(Duration::from_secs(5)).unwrap(),
            Message::Activate
        );
        let region = Message::Action(Action::SelectRegion);
        assert!(acquire(dir.path(), region).unwrap().is_none());
        assert_eq!(heard.recv_timeout(Duration::from_secs(5)).unwrap(), region);
    }

    #[test]
    fn messages_round_trip_and_strangers_are_ignored() {
        for action in Action::ALL {
            let message = Message::Action(action);
            assert_eq!(Message::decode(&message.encode()), Some(message));
        }
        assert_eq!(Message::decode("action format-disk\n"), None);
        assert_eq!(Message::decode(""), None);
    }

    #[test]
    fn a_stale_socket_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        // An instance that ended without cleaning up.
        drop(acquire(dir.path(), Message::Activate).unwrap().unwrap());
        assert!(dir.path().join("instance.sock").exists());
        assert!(acquire(dir.path(), Message::Activate).unwrap().is_some());
    }
}
