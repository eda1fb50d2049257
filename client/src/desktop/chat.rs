//! Questions from the chat box (and from ambient awareness): each is one
//! request whose answer streams to a sink until it is done, fails or is
//! stopped; stopping drops the request, which ends the work on the server.

use super::{lock, Desktop};
use crate::api::{Attachment, EventStream};
use crate::error::ClientError;
use serde::Serialize;
use sightline_proto::ModeSummary;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// A question from the chat box.
#[derive(Debug, Clone, serde::Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Question {
    pub text: String,
    pub mode: String,
}

/// One step of a streamed answer, as the chat thread shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChatEvent {
    Delta { text: String },
    Done,
    Stopped,
    Failed { error: ClientError },
}

impl ChatEvent {
    pub(super) fn ending(result: Result<(), ClientError>) -> Self {
        match result {
            Ok(()) => Self::Done,
            Err(error) => Self::Failed { error },
        }
    }
}

/// Passes a streamed answer on to `sink` as deltas, until it is done.
pub(super) async fn forward<F>(stream: Result<EventStream, ClientError>, sink: &F) -> Result<(), ClientError>
where
    F: Fn(ChatEvent),
{
    stream?.each_delta(|text| sink(ChatEvent::Delta { text })).await
}

impl Desktop {
    pub async fn modes(&self) -> Result<Vec<ModeSummary>, ClientError> {
        let result = self.require_api()?.modes().await;
        self.notice(&result);
        result
    }

    /// Starts a question; events go to `sink` until the answer is done,
    /// fails or is stopped. Returns the id to stop it with.
    pub async fn ask<F>(
        self: &Arc<Self>,
        question: Question,
        image: Option<Attachment>,
        sink: F,
    ) -> Result<u32, ClientError>
    where
        F: Fn(ChatEvent) + Send + Sync + 'static,
    {
        Ok(self.start_ask(question, image, sink)?.0)
    }

    /// Like [`Desktop::ask`], but returns only once the server has accepted
    /// the question (its answer has begun), or with the reason it refused:
    /// for callers that must know whether their picture left.
    pub async fn ask_accepted<F>(
        self: &Arc<Self>,
        question: Question,
        image: Option<Attachment>,
        sink: F,
    ) -> Result<u32, ClientError>
    where
        F: Fn(ChatEvent) + Send + Sync + 'static,
    {
        let (id, accepted) = self.start_ask(question, image, sink)?;
        match accepted.await {
            Ok(result) => result.map(|()| id),
            // The task ended without a word: it was stopped.
            Err(_) => Err(ClientError::Io("the question was stopped".into())),
        }
    }

    fn start_ask<F>(
        self: &Arc<Self>,
        question: Question,
        image: Option<Attachment>,
        sink: F,
    ) -> Result<(u32, tokio::sync::oneshot::Receiver<Result<(), ClientError>>), ClientError>
    where
        F: Fn(ChatEvent) + Send + Sync + 'static,
    {
        let text = question.text.trim().to_owned();
        if text.is_empty() && image.is_none() {
            return Err(ClientError::invalid("question", "type a question first"));
        }
        if question.mode.is_empty() {
            return Err(ClientError::invalid("question", "choose a mode first"));
        }
        let api = self.require_api()?;
        // The question's own text goes masked like everything else.
        let text = self.mask_text(&text)?.text;
        let id = self.next_ask.fetch_add(1, Ordering::Relaxed);
        let desktop = self.clone();
        let (accept, accepted) = tokio::sync::oneshot::channel();
        // Held while the task is spawned and registered: the task removes
        // its entry when it ends, which must come after the insert.
        let mut asks = lock(&self.asks);
        let task = tokio::spawn(async move {
            let sent = image.clone();
            let stream = api.analyze(image, &text, &question.mode).await;
            if let (Ok(_), Some(picture)) = (&stream, &sent) {
                desktop.record_upload(picture, &question.mode);
            }
            let _ = accept.send(stream.as_ref().map(|_| ()).map_err(Clone::clone));
            let result = forward(stream, &sink).await;
            desktop.notice(&result);
            lock(&desktop.asks).remove(&id);
            sink(ChatEvent::ending(result));
        });
        asks.insert(id, task.abort_handle());
        Ok((id, accepted))
    }

    /// Stops a running question: the request is dropped, which closes the
    /// stream and ends the work on the server. False if it had finished.
    pub fn stop(&self, id: u32) -> bool {
        match lock(&self.asks).remove(&id) {
            Some(task) => {
                task.abort();
                true
            }
            None => false,
        }
    }
}
