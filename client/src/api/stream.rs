//! A streamed answer, read event by event from the server's SSE.

use super::transport::classify;
use crate::error::ClientError;
use sightline_proto::sse::SseParser;
use sightline_proto::StreamEvent;
use std::collections::VecDeque;

/// A streamed answer: `delta` pieces, then `done` or `error`. Dropping it
/// closes the connection, which cancels the work on the server.
pub struct EventStream {
    response: reqwest::Response,
    parser: SseParser,
    pending: VecDeque<StreamEvent>,
    finished: bool,
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream")
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl EventStream {
    pub(super) fn new(response: reqwest::Response) -> Self {
        Self {
            response,
            parser: SseParser::new(),
            pending: VecDeque::new(),
            finished: false,
        }
    }

    /// The next event; `None` after `done` or `error`.
    pub async fn next(&mut self) -> Option<Result<StreamEvent, ClientError>> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                if !matches!(event, StreamEvent::Delta { .. }) {
                    self.finished = true;
                    self.pending.clear();
                }
                return Some(Ok(event));
            }
            if self.finished {
                return None;
            }
            match self.response.chunk().await {
                Ok(Some(chunk)) => match self.parser.push(&chunk) {
                    Ok(events) => self.pending.extend(
                        events
                            .iter()
                            .filter_map(|e| StreamEvent::parse(&e.event, &e.data)),
                    ),
                    Err(_) => {
                        self.finished = true;
                        return Some(Err(ClientError::Protocol("an oversized event".into())));
                    }
                },
                Ok(None) => {
                    self.finished = true;
                    return Some(Err(ClientError::Protocol("the answer ended without done".into())));
                }
                Err(error) => {
                    self.finished = true;
                    return Some(Err(classify(error)));
                }
            }
        }
    }

    /// Reads to the end, handing each piece of text to `on_delta`; an
    /// `error` event becomes the error.
    pub async fn each_delta(mut self, mut on_delta: impl FnMut(String)) -> Result<(), ClientError> {
        while let Some(event) = self.next().await {
            match event? {
                StreamEvent::Delta { text } => on_delta(text),
                StreamEvent::Done { .. } => return Ok(()),
                StreamEvent::Error { code, message } => {
                    return Err(ClientError::Api {
                        status: 502,
                        code,
                        message,
                        retry_after: None,
                    })
                }
            }
        }
        Ok(())
    }

    /// Reads to the end and joins the text (for callers that do not stream).
    pub async fn collect_text(self) -> Result<String, ClientError> {
        let mut text = String::new();
        self.each_delta(|piece| text.push_str(&piece)).await?;
        Ok(text)
    }
}
