//! The upload log: one line per picture that left the computer — when,
//! why, in which mode, how many bytes and their SHA-256, and how many
//! secrets of which kind redaction blacked out — never the picture itself.

use super::scheduler::Trigger;
use crate::api::Attachment;
use crate::error::ClientError;
use crate::journal::{self, Journal};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// One line of the upload log: what left the computer, never the image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct UploadEntry {
    /// Seconds since the Unix epoch.
    pub at: u64,
    pub trigger: Trigger,
    pub mode: String,
    pub bytes: u32,
    /// SHA-256 of the uploaded file, hex.
    pub sha256: String,
    /// Secrets blacked out before it left, by category.
    #[serde(default)]
    pub redactions: std::collections::BTreeMap<crate::redaction::Category, u32>,
    /// Sent unredacted: the user checked this one picture and chose so.
    #[serde(default)]
    pub unredacted: bool,
}

/// The log file in the app's config directory.
#[derive(Debug)]
pub struct UploadLog {
    journal: Journal,
}

impl UploadLog {
    pub fn open(config_dir: &Path) -> Self {
        Self {
            journal: Journal::new(config_dir.join("uploads.log")),
        }
    }

    /// Notes a picture that left.
    pub fn record(&self, entry: &UploadEntry) {
        if let Err(error) = self.journal.append(entry) {
            tracing::warn!(%error, "the upload log could not be written");
        }
    }

    /// The newest entries, newest first.
    pub fn recent(&self, limit: usize) -> Result<Vec<UploadEntry>, ClientError> {
        self.journal.recent(limit)
    }
}

/// SHA-256 of an uploaded file, hex: its name in the log and in "What
/// was sent".
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
}

/// The log line for `attachment`, sent now.
pub(crate) fn upload_entry(attachment: &Attachment, trigger: Trigger, mode: &str) -> UploadEntry {
    UploadEntry {
        at: journal::unix_now(),
        trigger,
        mode: mode.to_owned(),
        bytes: u32::try_from(attachment.bytes.len()).unwrap_or(u32::MAX),
        sha256: sha256_hex(&attachment.bytes),
        redactions: attachment.redaction.counts.clone(),
        unredacted: attachment.redaction.skipped_by_user,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_upload_log_keeps_size_and_hash_never_the_pixels() {
        let attachment = Attachment {
            bytes: bytes::Bytes::from_static(b"PIXELS-OF-THE-SCREEN"),
            file_name: "screen.jpg".into(),
            mime: "image/jpeg",
            redaction: crate::redaction::RedactionReport {
                counts: [(crate::redaction::Category::Token, 2)].into(),
                ..Default::default()
            },
            trigger: None,
        };
        let entry = upload_entry(&attachment, Trigger::Click, "describe");
        assert_eq!(entry.bytes, 20);
        assert_eq!(
            entry.sha256,
            "af77c622729af80a3c7d2fc6c9d9b8d3e4df15782fe424ddb6f4ebf66a16693e"
        );
        let line = serde_json::to_string(&entry).unwrap();
        assert!(line.contains("\"trigger\":\"click\""), "{line}");
        assert!(line.contains("\"redactions\":{\"token\":2}"), "{line}");
        // Neither the bytes nor any encoding of them are in the log.
        assert!(
            !line.contains("PIXELS") && !line.contains("UElYRUxTLU9G"),
            "{line}"
        );
    }
}
