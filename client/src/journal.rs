//! Local logs the user can open: one JSON object per line, in a file only
//! they can read. They record that something happened (an injection, an
//! upload), never the content itself.

use crate::error::ClientError;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The time entries are stamped with: seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// Older entries are dropped once the file holds this many lines.
const MAX_ENTRIES: usize = 1000;

#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    /// Appends and trims one at a time.
    write: Mutex<()>,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> ClientError + '_ {
    move |error| ClientError::Io(format!("{}: {error}", path.display()))
}

impl Journal {
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            write: Mutex::new(()),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn append<T: Serialize>(&self, entry: &T) -> Result<(), ClientError> {
        let _guard = self.write.lock().unwrap_or_else(|p| p.into_inner());
        let mut line = serde_json::to_string(entry).map_err(|e| ClientError::Io(e.to_string()))?;
        line.push('\n');
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(io(&self.path))?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&self.path).map_err(io(&self.path))?;
        file.write_all(line.as_bytes()).map_err(io(&self.path))?;
        drop(file);
        self.trim()
    }

    /// Keeps the newest [`MAX_ENTRIES`] lines (rewritten atomically).
    fn trim(&self) -> Result<(), ClientError> {
        let text = std::fs::read_to_string(&self.path).map_err(io(&self.path))?;
        let lines: Vec<&str> = text.lines().collect();
        if lines.len() <= MAX_ENTRIES {
            return Ok(());
        }
        let kept = lines[lines.len() - MAX_ENTRIES..].join("\n") + "\n";
        let temporary = self.path.with_extension("tmp");
        let mut options = std::fs::OpenOptions::new();
        options.create(true).write(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&temporary).map_err(io(&temporary))?;
        file.write_all(kept.as_bytes()).map_err(io(&temporary))?;
        std::fs::rename(&temporary, &self.path).map_err(io(&self.path))
    }

    /// The newest `limit` entries, newest first; lines that do not parse
    /// (a cut-off write) are skipped.
    pub fn recent<T: DeserializeOwned>(&self, limit: usize) -> Result<Vec<T>, ClientError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(io(&self.path)(error)),
        };
        Ok(text
            .lines()
            .rev()
            .filter_map(|line| serde_json::from_str(line).ok())
            .take(limit)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, serde::Deserialize)]
    struct Entry {
        n: usize,
    }

    #[test]
    fn newest_first_trimmed_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::new(dir.path().join("logs").join("test.log"));
        assert!(journal.recent::<Entry>(5).unwrap().is_empty());
        for n in 0..MAX_ENTRIES + 5 {
            journal.append(&Entry { n }).unwrap();
        }
        let recent: Vec<Entry> = journal.recent(2).unwrap();
        assert_eq!(
            recent,
            vec![Entry { n: MAX_ENTRIES + 4 }, Entry { n: MAX_ENTRIES + 3 }]
        );
        let text = std::fs::read_to_string(journal.path()).unwrap();
        assert_eq!(text.lines().count(), MAX_ENTRIES);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(journal.path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // A torn last line is skipped, not fatal.
        std::fs::write(journal.path(), format!("{text}{{\"n\":")).unwrap();
        assert_eq!(journal.recent::<Entry>(1).unwrap()[0].n, MAX_ENTRIES + 4);
    }
}
