//! Redaction as the sidebar meets it: the rules in force (the user's
//! settings, or the administrator's policy over them), checking pictures
//! and text before they go, the upload log and the pictures kept for
//! "What was sent".

use super::{lock, Desktop};
use crate::ambient::uploads::{upload_entry, UploadLog};
use crate::api::Attachment;
use crate::capture::{self, Encoding, Frame};
use crate::error::ClientError;
use crate::redaction::{self, MaskedText, RedactionReport, RedactionSettings, Redactor};
use crate::settings::Settings;
use serde::Serialize;

/// What the settings page shows of redaction.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct RedactionOverview {
    /// The user's own choice.
    pub settings: RedactionSettings,
    /// The administrator requires redaction: it is on with every default
    /// category whatever the settings say, and nothing goes unredacted.
    pub enforced: bool,
}

/// A picture ready to go: what will be sent, and a look at it first.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub attachment: Attachment,
    pub preview: PicturePreview,
}

/// What the sidebar shows of a picture before the question goes.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct PicturePreview {
    /// In the frame's pixels.
    pub width: u32,
    pub height: u32,
    /// The picture as it will be sent, redactions visible, as a `data:` URL.
    pub thumbnail: String,
    /// Secrets blacked out, by category.
    pub redactions: std::collections::BTreeMap<redaction::Category, u32>,
    /// In words: "2 blacked out: 1 token, 1 card number".
    pub summary: String,
    /// Sent as it is: the user checked it.
    pub unredacted: bool,
    /// The administrator requires redaction (the sidebar says so).
    pub enforced: bool,
}

/// The longest side of the preview the sidebar shows before sending.
const PREVIEW_SIDE: u32 = 640;

impl Desktop {
    /// The rules in force now; rebuilt only when the settings or the
    /// policy changed.
    pub fn redactor(&self) -> Result<Redactor, ClientError> {
        let settings = self.settings().redaction;
        let enforced = self.redaction_enforced();
        let mut cached = lock(&self.redactor);
        if let Some((s, e, redactor)) = cached.as_ref() {
            if *s == settings && *e == enforced {
                return Ok(redactor.clone());
            }
        }
        let redactor = Redactor::new(&settings, enforced)?;
        *cached = Some((settings, enforced, redactor.clone()));
        Ok(redactor)
    }

    /// Whether redaction is to be enforced: the administrator's policy as
    /// the server last sent it, and, until it has been heard in this run,
    /// assumed (a user who turned redaction off gets it for the first
    /// moments after a start rather than an administrator's rule broken).
    pub fn redaction_enforced(&self) -> bool {
        self.api()
            .is_some_and(|api| api.policy().is_none_or(|policy| policy.require_redaction))
    }

    /// The policy as the server sent it, for the sidebar to say so.
    fn policy_announced(&self) -> bool {
        self.api()
            .and_then(|api| api.policy())
            .is_some_and(|policy| policy.require_redaction)
    }

    pub fn redaction_overview(&self) -> RedactionOverview {
        RedactionOverview {
            settings: self.settings().redaction,
            enforced: self.policy_announced(),
        }
    }

    /// Changes the redaction settings; own patterns are checked first.
    pub fn set_redaction(&self, settings: RedactionSettings) -> Result<Settings, ClientError> {
        redaction::check_patterns(&settings.custom_patterns)?;
        if settings.keep_sent_looks > redaction::MAX_KEPT_LOOKS {
            return Err(ClientError::invalid(
                "kept pictures",
                format!("keep at most {}", redaction::MAX_KEPT_LOOKS),
            ));
        }
        let keep = settings.keep_sent_looks;
        let updated = self.update_settings(|s| s.redaction = settings)?;
        // Fewer to keep applies at once, not at the next look.
        self.sent.keep_newest(keep)?;
        Ok(updated)
    }

    /// `text` as it may leave: its secrets masked under the rules in force.
    pub fn mask_text(&self, text: &str) -> Result<MaskedText, ClientError> {
        Ok(self.redactor()?.mask_text(text))
    }

    /// Redacts `frame`, encodes it for upload and makes its preview.
    /// Blocking (OCR): call it off the UI thread.
    pub fn prepare_picture(&self, frame: Frame, encoding: Encoding) -> Result<Prepared, ClientError> {
        let redacted = self.redactor()?.redact_frame(frame)?;
        self.finish_picture(&redacted, encoding)
    }

    /// A region of a frozen screen whose reading started when the overlay
    /// opened: usually done by now, so only the rules and the fill are left.
    pub fn prepare_region(
        &self,
        reading: Option<&redaction::ReadAhead>,
        region: Frame,
        rect: &crate::capture::geometry::PixelRect,
        encoding: Encoding,
    ) -> Result<Prepared, ClientError> {
        let redacted = self.redactor()?.redact_region(reading, region, rect)?;
        self.finish_picture(&redacted, encoding)
    }

    /// Like [`Desktop::prepare_picture`] but unredacted, for one region the
    /// user looked at; refused under the administrator's policy.
    pub fn prepare_unredacted(&self, frame: Frame, encoding: Encoding) -> Result<Prepared, ClientError> {
        let redacted = self.redactor()?.unredacted_once(frame)?;
        self.finish_picture(&redacted, encoding)
    }

    fn finish_picture(
        &self,
        redacted: &redaction::Redacted,
        encoding: Encoding,
    ) -> Result<Prepared, ClientError> {
        let options = self.settings().capture;
        let report = redacted.report();
        Ok(Prepared {
            attachment: capture::encode(redacted, options.max_side, encoding)?,
            preview: PicturePreview {
                width: redacted.frame().width,
                height: redacted.frame().height,
                thumbnail: capture::preview(redacted.frame(), PREVIEW_SIDE)?,
                redactions: report.counts.clone(),
                summary: describe(report),
                unredacted: report.skipped_by_user,
                enforced: self.policy_announced(),
            },
        })
    }

    /// The upload log.
    pub fn uploads(&self) -> &UploadLog {
        &self.uploads
    }

    /// Notes a picture the server accepted, and keeps it for "What was
    /// sent" when it was one of ambient awareness's looks.
    pub(super) fn record_upload(&self, attachment: &Attachment, mode: &str) {
        let Some(trigger) = attachment.trigger else {
            return;
        };
        let entry = upload_entry(attachment, trigger, mode);
        self.uploads.record(&entry);
        if trigger.is_ambient() {
            let keep = self.settings().redaction.keep_sent_looks;
            if let Err(error) = self.sent.keep(&entry.sha256, &attachment.bytes, keep) {
                tracing::warn!(%error, "the sent picture could not be kept");
            }
        }
    }

    /// A look's picture exactly as it was sent, as a `data:` URL; `None`
    /// once it is no longer kept.
    pub fn sent_picture(&self, sha256: &str) -> Result<Option<String>, ClientError> {
        Ok(self
            .sent
            .read(sha256)?
            .map(|bytes| format!("data:image/jpeg;base64,{}", data_encoding::BASE64.encode(&bytes))))
    }
}

/// The report of what a prepared picture had redacted, for the sidebar.
pub fn describe(report: &RedactionReport) -> String {
    if report.skipped_by_user {
        return "Sent unredacted: you checked it".into();
    }
    if report.off {
        return "Redaction is off".into();
    }
    match report.total() {
        0 => "No secrets found".into(),
        n => {
            let kinds: Vec<String> = report
                .counts
                .iter()
                .map(|(category, count)| format!("{count} {}", category.label()))
                .collect();
            format!("{n} blacked out: {}", kinds.join(", "))
        }
    }
}
