//! File writing with the right permissions: keys 0600, their folders 0700.

use crate::error::{Error, Result};
use std::io::Write;
use std::path::Path;

/// Writes a file only its owner can read (private keys, secrets).
pub fn write_private(path: &Path, contents: &[u8]) -> Result<()> {
    write_with_mode(path, contents, 0o600)
}

/// Writes a file anyone may read (certificates, configuration).
pub fn write_public(path: &Path, contents: &[u8]) -> Result<()> {
    write_with_mode(path, contents, 0o644)
}

/// Creates a folder (and its parents) only its owner can enter.
pub fn create_private_dir(path: &Path) -> Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(path).map_err(|e| Error::io("creating", path, e))
}

/// Written beside and renamed over, so a reader (another instance, a
/// reload) sees the old file or the new one, never part of one.
fn write_with_mode(path: &Path, contents: &[u8], mode: u32) -> Result<()> {
    let mut staging = path.as_os_str().to_owned();
    staging.push(".new");
    let staging = std::path::PathBuf::from(staging);
    write_in_place(&staging, contents, mode)?;
    std::fs::rename(&staging, path).map_err(|e| Error::io("replacing", path, e))
}

fn write_in_place(path: &Path, contents: &[u8], mode: u32) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(path).map_err(|e| Error::io("creating", path, e))?;
    // The mode above applies only to new files; tighten an existing one too.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(|e| Error::io("setting permissions of", path, e))?;
    }
    file.write_all(contents)
        .map_err(|e| Error::io("writing", path, e))?;
    file.sync_all().map_err(|e| Error::io("syncing", path, e))
}
