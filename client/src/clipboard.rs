//! The system clipboard. One handle lives as long as the app: on X11 the
//! clipboard's content belongs to the program that set it and vanishes
//! when that handle is dropped.
//!
//! Reading a selection and pasting a rewrite both borrow the clipboard;
//! [`Clipboard::snapshot`] and [`Clipboard::restore`] put back what the
//! user had there (text, HTML with its text, a picture, or a file list).

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

/// What the clipboard held, to be put back later. Never logged.
pub enum Snapshot {
    Empty,
    Text(String),
    Html { html: String, text: Option<String> },
    Image(arboard::ImageData<'static>),
    Files(Vec<std::path::PathBuf>),
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Empty => "Snapshot::Empty",
            Self::Text(_) => "Snapshot::Text(<redacted>)",
            Self::Html { .. } => "Snapshot::Html(<redacted>)",
            Self::Image(_) => "Snapshot::Image",
            Self::Files(_) => "Snapshot::Files",
        })
    }
}

fn failed(error: impl std::fmt::Display) -> ClientError {
    ClientError::Clipboard(error.to_string())
}

/// A format the clipboard does not hold is not an error. Owners that do
/// not offer a format answer in several ways (no data, data of another
/// type), so only a clipboard that cannot be reached at all counts.
fn absent<T>(result: Result<T, arboard::Error>) -> Result<Option<T>, arboard::Error> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(error @ (arboard::Error::ClipboardNotSupported | arboard::Error::ClipboardOccupied)) => {
            Err(error)
        }
        Err(_) => Ok(None),
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

    fn with<T>(
        &self,
        action: impl FnOnce(&mut arboard::Clipboard) -> Result<T, arboard::Error>,
    ) -> Result<T, ClientError> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if inner.is_none() {
            *inner = Some(arboard::Clipboard::new().map_err(failed)?);
        }
        match inner.as_mut() {
            Some(clipboard) => action(clipboard).map_err(failed),
            None => Err(ClientError::Clipboard("no clipboard".into())),
        }
    }

    pub fn set_text(&self, text: &str) -> Result<(), ClientError> {
        self.with(|clipboard| clipboard.set_text(text.to_owned()))
    }

    /// Text for a moment only (a paste): kept out of clipboard managers'
    /// history where the platform has a way to say so.
    pub fn set_text_privately(&self, text: &str) -> Result<(), ClientError> {
        self.with(|clipboard| {
            let set = clipboard.set();
            #[cfg(target_os = "linux")]
            let set = arboard::SetExtLinux::exclude_from_history(set);
            #[cfg(windows)]
            let set = arboard::SetExtWindows::exclude_from_history(set);
            set.text(text.to_owned())
        })
    }

    /// The clipboard's text, `None` when it holds none.
    pub fn text(&self) -> Result<Option<String>, ClientError> {
        self.with(|clipboard| absent(clipboard.get_text()))
    }

    pub fn clear(&self) -> Result<(), ClientError> {
        self.with(|clipboard| clipboard.clear())
    }

    /// What the clipboard holds now, in its richest form we can put back.
    pub fn snapshot(&self) -> Result<Snapshot, ClientError> {
        self.with(|clipboard| {
            if let Some(files) = absent(clipboard.get().file_list())?.filter(|f: &Vec<_>| !f.is_empty()) {
                return Ok(Snapshot::Files(files));
            }
            if let Some(html) = absent(clipboard.get().html())? {
                let text = absent(clipboard.get_text())?;
                return Ok(Snapshot::Html { html, text });
            }
            if let Some(text) = absent(clipboard.get_text())? {
                return Ok(Snapshot::Text(text));
            }
            if let Some(image) = absent(clipboard.get_image())? {
                return Ok(Snapshot::Image(image.to_owned_img()));
            }
            Ok(Snapshot::Empty)
        })
    }

    pub fn restore(&self, snapshot: Snapshot) -> Result<(), ClientError> {
        self.with(|clipboard| match snapshot {
            Snapshot::Empty => clipboard.clear(),
            Snapshot::Text(text) => clipboard.set_text(text),
            Snapshot::Html { html, text } => clipboard.set_html(html, text),
            Snapshot::Image(image) => clipboard.set_image(image),
            Snapshot::Files(files) => clipboard.set().file_list(&files),
        })
    }
}
