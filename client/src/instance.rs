//! One sidebar per user. The first instance listens on a socket in the
//! config directory; a second start connects, asks the first to show its
//! window, and exits. A socket left behind by a crashed instance refuses
//! connections, so it is replaced.

use crate::error::ClientError;
use std::path::Path;

/// The running instance's claim; [`Instance::on_activate`] hears later starts.
#[derive(Debug)]
pub struct Instance {
    #[cfg(unix)]
    listener: std::os::unix::net::UnixListener,
}

const ACTIVATE: &[u8] = b"activate\n";

/// Claims the instance, or tells the running one to come forward and
/// answers `None`.
#[cfg(unix)]
pub fn acquire(dir: &Path) -> Result<Option<Instance>, ClientError> {
    use std::io::Write;
    use std::os::unix::net::{UnixListener, UnixStream};
    let io = |e: std::io::Error| ClientError::Io(format!("{}: {e}", dir.display()));
    std::fs::create_dir_all(dir).map_err(io)?;
    let path = dir.join("instance.sock");
    if let Ok(mut running) = UnixStream::connect(&path) {
        running.write_all(ACTIVATE).map_err(io)?;
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
pub fn acquire(dir: &Path) -> Result<Option<Instance>, ClientError> {
    let _ = dir;
    Ok(Some(Instance {}))
}

impl Instance {
    /// Calls `activate` (on a thread of its own) each time another start
    /// asks this instance to come forward.
    pub fn on_activate(self, activate: impl Fn() + Send + 'static) {
        #[cfg(unix)]
        std::thread::spawn(move || {
            use std::io::Read;
            for connection in self.listener.incoming() {
                let Ok(mut connection) = connection else { continue };
                let mut message = [0u8; ACTIVATE.len()];
                if connection.read_exact(&mut message).is_ok() && message == ACTIVATE {
                    activate();
                }
            }
        });
        #[cfg(not(unix))]
        let _ = activate;
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
        let first = acquire(dir.path())
            .unwrap()
            .expect("the first start owns the instance");
        let (sender, activations) = mpsc::channel();
        first.on_activate(move || {
            let _ = sender.send(());
        });
        assert!(acquire(dir.path()).unwrap().is_none());
        activations.recv_timeout(Duration::from_secs(5)).unwrap();
    }

    #[test]
    fn a_stale_socket_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        // An instance that ended without cleaning up.
        drop(acquire(dir.path()).unwrap().unwrap());
        assert!(dir.path().join("instance.sock").exists());
        assert!(acquire(dir.path()).unwrap().is_some());
    }
}
