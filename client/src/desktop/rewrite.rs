//! The rewrite panel's entry points. The state machine (one rewrite at a
//! time, Apply once) is [`crate::rewrite::session`]; here it meets the
//! session's server connection and the user's settings.

use super::chat::{forward, ChatEvent};
use super::Desktop;
use crate::error::ClientError;
use crate::rewrite::session::{InjectionEntry, RewriteAsk, RewriteBegun, RewritePanel};
use crate::rewrite::Injected;
use crate::seat::Seat;
use std::sync::atomic::Ordering;
use std::sync::Arc;

impl Desktop {
    /// The open rewrite, for a page that starts after it was opened.
    pub fn rewrite_panel(&self) -> Option<RewritePanel> {
        self.rewrite.panel()
    }

    /// The rewrite shortcut: records the focused window and reads its
    /// selection. While a rewrite is open (or being read) it starts
    /// nothing: a second press must never lead to a second injection.
    pub async fn begin_rewrite(&self, seat: Arc<dyn Seat>) -> Result<RewriteBegun, ClientError> {
        self.rewrite
            .begin(seat, || self.next_ask.fetch_add(1, Ordering::Relaxed))
            .await
    }

    /// Asks the server for a replacement of the panel's text; it streams to
    /// `sink`. A new request replaces one still running.
    pub fn rewrite<F>(self: &Arc<Self>, ask: RewriteAsk, sink: F) -> Result<(), ClientError>
    where
        F: Fn(ChatEvent) + Send + Sync + 'static,
    {
        ask.validate()?;
        let api = self.require_api()?;
        let desktop = self.clone();
        let mode = ask.mode.clone();
        // The text leaves with its secrets masked; the proposal gets them
        // back here, so the diff and what is typed keep the originals.
        let masked = self.mask_text(&ask.text)?;
        if masked.total() > 0 {
            tracing::info!(masked = masked.total(), "secrets masked in the rewrite text");
        }
        let instruction = match ask.instruction.as_deref().filter(|i| !i.trim().is_empty()) {
            Some(instruction) => Some(self.mask_text(instruction)?.text),
            None => None,
        };
        let restorer = std::sync::Mutex::new(masked.restorer());
        let sink = move |event: ChatEvent| {
            let mut restorer = restorer.lock().unwrap_or_else(|p| p.into_inner());
            match event {
                ChatEvent::Delta { text } => {
                    let text = restorer.push(&text);
                    if !text.is_empty() {
                        sink(ChatEvent::Delta { text });
                    }
                }
                ending => {
                    let text = restorer.finish();
                    if !text.is_empty() {
                        sink(ChatEvent::Delta { text });
                    }
                    sink(ending);
                }
            }
        };
        self.rewrite.stream(ask, move |ask| {
            tokio::spawn(async move {
                let result = forward(
                    api.rewrite(&masked.text, instruction.as_deref(), &ask.mode).await,
                    &sink,
                )
                .await;
                desktop.notice(&result);
                sink(ChatEvent::ending(result));
            })
            .abort_handle()
        })?;
        // The request runs either way; only remembering the mode failed.
        if let Err(error) = self.update_settings(|s| s.rewrite.mode = Some(mode)) {
            tracing::warn!(%error, "the rewrite mode could not be remembered");
        }
        Ok(())
    }

    /// Puts the approved `replacement` into the target window — or types
    /// nothing and says why (the panel then stays open).
    pub async fn apply_rewrite(
        &self,
        seat: Arc<dyn Seat>,
        id: u32,
        replacement: String,
    ) -> Result<Injected, ClientError> {
        let settings = self.settings().rewrite;
        self.rewrite.apply(seat, id, replacement, &settings).await
    }

    /// Closes the rewrite without typing anything.
    pub fn cancel_rewrite(&self, id: u32) -> bool {
        self.rewrite.cancel(id)
    }

    /// The newest entries of the injection log, newest first.
    pub fn injection_log(&self, limit: usize) -> Result<Vec<InjectionEntry>, ClientError> {
        self.rewrite.injection_log(limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rewrite::Method;

    #[tokio::test]
    async fn one_rewrite_at_a_time_and_only_approved_text_is_typed() {
        use crate::rewrite::tests::{window, FakeSeat};
        let dir = tempfile::tempdir().unwrap();
        let desktop = Desktop::open(dir.path(), false).await.unwrap();
        let mut fake = FakeSeat::focused_on(window(7, "gedit"));
        fake.selection = Some("teh text".into());
        let seat = Arc::new(fake);

        let RewriteBegun::Opened { panel } = desktop.begin_rewrite(seat.clone()).await.unwrap() else {
            panic!("not opened");
        };
        assert_eq!(panel.original.as_deref(), Some("teh text"));
        // A second press while it is open starts nothing and copies nothing.
        let copies = seat.log.lock().unwrap().len();
        assert!(matches!(
            desktop.begin_rewrite(seat.clone()).await.unwrap(),
            RewriteBegun::AlreadyOpen { panel: Some(_) }
        ));
        assert_eq!(seat.log.lock().unwrap().len(), copies);

        // Too long for the limit: refused before anything is typed.
        desktop.update_settings(|s| s.rewrite.max_chars = 5).unwrap();
        assert!(desktop
            .apply_rewrite(seat.clone(), panel.id, "the text".into())
            .await
            .is_err());
        desktop.update_settings(|s| s.rewrite.max_chars = 100).unwrap();

        let injected = desktop
            .apply_rewrite(seat.clone(), panel.id, "the text".into())
            .await
            .unwrap();
        assert_eq!(injected.method, Method::Type);
        assert_eq!(seat.typed(), vec!["type:the text"]);
        // Applied once: the rewrite is closed and cannot be applied again.
        assert!(desktop
            .apply_rewrite(seat.clone(), panel.id, "the text".into())
            .await
            .is_err());
        assert_eq!(seat.typed().len(), 1);

        // Cancel types nothing.
        let RewriteBegun::Opened { panel } = desktop.begin_rewrite(seat.clone()).await.unwrap() else {
            panic!("not opened");
        };
        assert!(desktop.cancel_rewrite(panel.id));
        assert!(desktop.rewrite_panel().is_none());
        assert_eq!(seat.typed().len(), 1);

        // The log says where and how much, never what.
        let log = desktop.injection_log(10).unwrap();
        assert_eq!(log.len(), 1);
        assert_eq!(
            (log[0].app.as_str(), log[0].chars, log[0].outcome.as_str()),
            ("gedit", 8, "typed")
        );
        let text = std::fs::read_to_string(dir.path().join("injections.log")).unwrap();
        assert!(!text.contains("the text"), "{text}");
    }
}
