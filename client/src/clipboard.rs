//! The system clipboard. One handle lives as long as the app: on X11 the
//! clipboard's content belongs to the program that set it and vanishes
//! when that handle is dropped.

use crate::error::ClientError;
use std::sync::Mutex;

pub struct Clipboard {
    inner: Mutex<Option<arboard::Clipboard>>,
}

impl std::fmt::Debug for Clipboard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Clipboard")
    }
}

impl Default for Clipboard {
    fn default() -> Self {
        Self::new()
    }
}

impl Clipboard {
    /// Opens lazily: a session without a clipboard (no display) still
    /// starts, and copying then says why it failed.
    pub fn new() -> Self {
        Self {
            inner: Mutex::new(None),
        }
    }

    pub fn set_text(&self, text: &str) -> Result<(), ClientError> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if inner.is_none() {
            *inner = Some(arboard::Clipboard::new().map_err(|e| ClientError::Clipboard(e.to_string()))?);
        }
        match inner.as_mut() {
            Some(clipboard) => clipboard
                .set_text(text.to_owned())
                .map_err(|e| ClientError::Clipboard(e.to_string())),
            None => Err(ClientError::Clipboard("no clipboard".into())),
        }
    }
}
