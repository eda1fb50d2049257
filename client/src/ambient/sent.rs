//! "What was sent": the last few pictures ambient awareness sent, exactly
//! as they left (redacted and encoded), kept on this computer so the user
//! can look at them from the insight. Older ones are deleted; files are
//! 0600 in a 0700 directory, named by their SHA-256.

use crate::error::ClientError;
use std::path::{Path, PathBuf};

#[derive(Debug)]
pub struct SentPictures {
    dir: PathBuf,
}

fn io(error: std::io::Error) -> ClientError {
    ClientError::Io(format!("the sent pictures: {error}"))
}

impl SentPictures {
    pub fn open(config_dir: &Path) -> Self {
        Self {
            dir: config_dir.join("sent"),
        }
    }

    /// Keeps `bytes` (as sent, `sha256` hex its name) and deletes all but
    /// the newest `keep`; with `keep` 0 nothing is kept at all.
    pub fn keep(&self, sha256: &str, bytes: &[u8], keep: u32) -> Result<(), ClientError> {
        if keep > 0 {
            create_private_dir(&self.dir).map_err(io)?;
            let path = self.path(sha256)?;
            write_private(&path, bytes).map_err(io)?;
        }
        self.prune(keep as usize)
    }

    /// The picture sent as `sha256`, if it is still kept.
    pub fn read(&self, sha256: &str) -> Result<Option<Vec<u8>>, ClientError> {
        match std::fs::read(self.path(sha256)?) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(e)),
        }
    }

    fn path(&self, sha256: &str) -> Result<PathBuf, ClientError> {
        let valid = sha256.len() == 64
            && sha256
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
        if !valid {
            return Err(ClientError::invalid("picture", "not a picture's SHA-256"));
        }
        Ok(self.dir.join(format!("{sha256}.jpg")))
    }

    /// Deletes all but the newest `keep` (the setting was lowered).
    pub fn keep_newest(&self, keep: u32) -> Result<(), ClientError> {
        self.prune(keep as usize)
    }

    fn prune(&self, keep: usize) -> Result<(), ClientError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io(e)),
        };
        let mut files: Vec<(std::time::SystemTime, PathBuf)> = entries
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "jpg"))
            .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
            .collect();
        files.sort_by_key(|file| std::cmp::Reverse(file.0));
        for (_, path) in files.into_iter().skip(keep) {
            std::fs::remove_file(&path).map_err(io)?;
        }
        Ok(())
    }
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(n: u8) -> String {
        format!("{:064x}", n)
    }

    #[test]
    fn only_the_newest_are_kept_privately() {
        let dir = tempfile::tempdir().unwrap();
        let sent = SentPictures::open(dir.path());
        for n in 1..=4u8 {
            sent.keep(&sha(n), &[n], 2).unwrap();
            // Modification times must differ for the order.
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_eq!(sent.read(&sha(1)).unwrap(), None);
        assert_eq!(sent.read(&sha(4)).unwrap(), Some(vec![4]));
        assert_eq!(sent.read(&sha(3)).unwrap(), Some(vec![3]));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("sent").join(format!("{}.jpg", sha(4))))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        sent.keep(&sha(5), &[5], 0).unwrap();
        assert_eq!(sent.read(&sha(4)).unwrap(), None);
        assert!(sent.read("../../etc/passwd").is_err());
    }
}
