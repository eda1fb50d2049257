//! Model providers. Each turns a request into a stream of events sent on a
//! channel: `Delta` pieces as they arrive, then `Done`, or one `Error`. When
//! the receiving side goes away (the client disconnected), the provider's
//! work is dropped, which closes the upstream connection or kills the OCR
//! process.

use crate::config::{ProviderConfig, ProviderKind};
use crate::error::{Error, Result};
use crate::modes::ModeOptions;
use futures_util::StreamExt;
use sightline_proto::sse::SseParser;
use sightline_proto::{ErrorCode, StreamEvent, Usage};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// An image to send along, already checked.
#[derive(Debug, Clone)]
pub struct ImageInput {
    pub mime: &'static str,
    pub bytes: bytes::Bytes,
}

#[derive(Debug, Clone)]
pub struct CompletionRequest {
    pub model: Option<String>,
    pub system_prompt: String,
    pub text: String,
    pub image: Option<ImageInput>,
    pub options: ModeOptions,
}

/// Why a provider failed; each maps to a stable error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Timeout(String),
    #[error("{0}")]
    Failed(String),
    /// The client went away; nobody to tell.
    #[error("cancelled")]
    Cancelled,
}

impl ProviderError {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Unavailable(_) => ErrorCode::ProviderUnavailable,
            Self::Timeout(_) => ErrorCode::ProviderTimeout,
            Self::Failed(_) | Self::Cancelled => ErrorCode::ProviderError,
        }
    }
}

pub type Events = mpsc::Sender<StreamEvent>;

#[derive(Debug)]
pub enum Provider {
    OpenAi(OpenAi),
    Tesseract(Tesseract),
}

/// The configured providers by id.
#[derive(Debug, Default)]
pub struct Providers {
    entries: HashMap<String, Arc<Provider>>,
}

impl Providers {
    pub fn from_config(configs: &[ProviderConfig]) -> Result<Self> {
        let mut entries = HashMap::new();
        for config in configs {
            let provider = match config.kind {
                ProviderKind::Openai => Provider::OpenAi(OpenAi::new(config)?),
                ProviderKind::Tesseract => Provider::Tesseract(Tesseract::new(config)),
            };
            entries.insert(config.id.clone(), Arc::new(provider));
        }
        Ok(Self { entries })
    }

    pub fn get(&self, id: &str) -> Option<Arc<Provider>> {
        self.entries.get(id).cloned()
    }
}

impl Provider {
    pub fn max_image_side(&self) -> Option<u32> {
        match self {
            Self::OpenAi(p) => p.max_image_side,
            Self::Tesseract(_) => None,
        }
    }

    /// Runs `request`, sending events until it is done, fails, or the
    /// receiver is dropped (then the work is cancelled).
    pub async fn run(&self, request: CompletionRequest, events: Events) {
        let outcome = tokio::select! {
            () = events.closed() => Err(ProviderError::Cancelled),
            outcome = self.stream(request, &events) => outcome,
        };
        match outcome {
            Ok(()) => {}
            Err(ProviderError::Cancelled) => tracing::debug!("client went away; provider request cancelled"),
            Err(error) => {
                tracing::warn!(code = %error.code(), %error, "provider failed");
                let _ = events
                    .send(StreamEvent::Error {
                        code: error.code(),
                        message: error.to_string(),
                    })
                    .await;
            }
        }
    }

    async fn stream(&self, request: CompletionRequest, events: &Events) -> Result<(), ProviderError> {
        match self {
            Self::OpenAi(p) => p.stream(request, events).await,
            Self::Tesseract(p) => p.stream(request, events).await,
        }
    }
}

async fn send(events: &Events, event: StreamEvent) -> Result<(), ProviderError> {
    events.send(event).await.map_err(|_| ProviderError::Cancelled)
}

/// An OpenAI-compatible chat-completions endpoint, streamed.
pub struct OpenAi {
    client: reqwest::Client,
    url: String,
    api_key: Option<String>,
    default_model: Option<String>,
    first_token_timeout: Duration,
    total_timeout: Duration,
    max_image_side: Option<u32>,
}

impl std::fmt::Debug for OpenAi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAi")
            .field("url", &self.url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

/// Error bodies from upstream are quoted only this far.
const UPSTREAM_SNIPPET: usize = 300;

impl OpenAi {
    fn new(config: &ProviderConfig) -> Result<Self> {
        let base = config
            .base_url
            .as_deref()
            .unwrap_or_default()
            .trim_end_matches('/');
        let api_key = match (&config.api_key_env, &config.api_key_file) {
            (Some(name), _) => Some(std::env::var(name).map_err(|_| {
                Error::Config(format!(
                    "providers.{}: environment variable {name} is not set",
                    config.id
                ))
            })?),
            (None, Some(path)) => Some(
                std::fs::read_to_string(path)
                    .map_err(|e| Error::io("reading", path, e))?
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_owned(),
            ),
            (None, None) => None,
        };
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(config.connect_timeout_secs))
            .build()
            .map_err(|e| Error::Config(format!("providers.{}: {e}", config.id)))?;
        Ok(Self {
            client,
            url: format!("{base}/chat/completions"),
            api_key,
            default_model: config.default_model.clone(),
            first_token_timeout: Duration::from_secs(config.first_token_timeout_secs),
            total_timeout: Duration::from_secs(config.total_timeout_secs),
            max_image_side: config.max_image_side,
        })
    }

    /// The request body. The image goes in as a base64 data URL written
    /// straight into the body buffer, so an upload costs its own bytes plus
    /// one base64 copy, not several.
    fn body(&self, request: &CompletionRequest) -> Result<Vec<u8>, ProviderError> {
        const IMAGE_SLOT: &str = "\u{0}image\u{0}";
        let model = request
            .model
            .clone()
            .or_else(|| self.default_model.clone())
            .ok_or_else(|| ProviderError::Failed("the mode names no model".into()))?;
        let mut content = vec![serde_json::json!({"type": "text", "text": request.text})];
        if request.image.is_some() {
            content.push(serde_json::json!({"type": "image_url", "image_url": {"url": IMAGE_SLOT}}));
        }
        let mut messages = Vec::new();
        if !request.system_prompt.is_empty() {
            messages.push(serde_json::json!({"role": "system", "content": request.system_prompt}));
        }
        messages.push(serde_json::json!({"role": "user", "content": content}));
        let mut body = serde_json::json!({
            "model": model,
            "stream": true,
            "stream_options": {"include_usage": true},
            "messages": messages,
        });
        if let Some(temperature) = request.options.temperature {
            body["temperature"] = serde_json::json!(temperature);
        }
        if let Some(max_tokens) = request.options.max_tokens {
            body["max_tokens"] = serde_json::json!(max_tokens);
        }
        let json = serde_json::to_string(&body).map_err(|e| ProviderError::Failed(e.to_string()))?;
        let Some(image) = &request.image else {
            return Ok(json.into_bytes());
        };
        // serde_json writes the slot's NULs as `\u0000`. The image part comes
        // after the user's text, so its slot is the last occurrence even if
        // the text happens to contain the same characters.
        let slot = "\"\\u0000image\\u0000\"";
        let (before, after) = json
            .rsplit_once(slot)
            .ok_or_else(|| ProviderError::Failed("could not place the image in the request".into()))?;
        let encoded_len = data_encoding::BASE64.encode_len(image.bytes.len());
        let mut out = Vec::with_capacity(json.len() + encoded_len + 64);
        out.extend_from_slice(before.as_bytes());
        out.extend_from_slice(format!("\"data:{};base64,", image.mime).as_bytes());
        let start = out.len();
        out.resize(start + encoded_len, 0);
        data_encoding::BASE64.encode_mut(&image.bytes, &mut out[start..]);
        out.push(b'"');
        out.extend_from_slice(after.as_bytes());
        Ok(out)
    }

    async fn stream(&self, request: CompletionRequest, events: &Events) -> Result<(), ProviderError> {
        let started = Instant::now();
        let deadline = started + self.total_timeout;
        let first_deadline = (started + self.first_token_timeout).min(deadline);
        let body = self.body(&request)?;
        drop(request);
        let mut builder = self
            .client
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .body(body);
        if let Some(key) = &self.api_key {
            builder = builder.bearer_auth(key);
        }
        let timed_out = |what: &str, limit: Duration| {
            ProviderError::Timeout(format!("the model provider {what} within {} s", limit.as_secs()))
        };
        let response = tokio::time::timeout_at(first_deadline, builder.send())
            .await
            .map_err(|_| timed_out("did not answer", self.first_token_timeout))?
            .map_err(classify)?;
        let status = response.status();
        if !status.is_success() {
            // Read a little of the body, briefly, for the log: it may quote
            // provider settings, so the client gets only the status.
            let mut response = response;
            let mut body = Vec::new();
            while body.len() < 4096 {
                match tokio::time::timeout_at(first_deadline, response.chunk()).await {
                    Ok(Ok(Some(chunk))) => body.extend_from_slice(&chunk),
                    _ => break,
                }
            }
            let snippet: String = String::from_utf8_lossy(&body)
                .chars()
                .take(UPSTREAM_SNIPPET)
                .collect();
            tracing::warn!(%status, body = %snippet, "model provider refused the request");
            return Err(ProviderError::Failed(format!(
                "the model provider answered {status}"
            )));
        }
        let mut stream = response.bytes_stream();
        let mut parser = SseParser::new();
        let mut usage = Usage::default();
        let mut answered = false;
        loop {
            let (until, limit, what) = if answered {
                (deadline, self.total_timeout, "did not finish")
            } else {
                (first_deadline, self.first_token_timeout, "sent nothing")
            };
            let chunk = match tokio::time::timeout_at(until, stream.next()).await {
                Err(_) => return Err(timed_out(what, limit)),
                Ok(None) => break,
                Ok(Some(Err(error))) => return Err(classify(error)),
                Ok(Some(Ok(chunk))) => chunk,
            };
            let parsed = parser
                .push(&chunk)
                .map_err(|_| ProviderError::Failed("the model provider sent an oversized event".into()))?;
            for event in parsed {
                if event.data.trim() == "[DONE]" {
                    send(events, StreamEvent::Done { usage }).await?;
                    return Ok(());
                }
                let value: serde_json::Value = serde_json::from_str(&event.data)
                    .map_err(|_| ProviderError::Failed("the model provider sent malformed data".into()))?;
                if let Some(error) = value.get("error") {
                    let message = error["message"].as_str().unwrap_or("unknown error");
                    let snippet: String = message.chars().take(UPSTREAM_SNIPPET).collect();
                    tracing::warn!(error = %snippet, "model provider reported an error mid-answer");
                    return Err(ProviderError::Failed(
                        "the model provider stopped with an error".into(),
                    ));
                }
                if let Some(reported) = value.get("usage").filter(|u| u.is_object()) {
                    let count = |key: &str| reported[key].as_u64().unwrap_or(0);
                    usage = Usage {
                        prompt_tokens: count("prompt_tokens"),
                        completion_tokens: count("completion_tokens"),
                        total_tokens: count("total_tokens"),
                    };
                }
                if let Some(text) = value["choices"][0]["delta"]["content"]
                    .as_str()
                    .filter(|t| !t.is_empty())
                {
                    answered = true;
                    send(
                        events,
                        StreamEvent::Delta {
                            text: text.to_owned(),
                        },
                    )
                    .await?;
                }
            }
        }
        if answered {
            // Some servers close without `[DONE]`; what arrived is the answer.
            send(events, StreamEvent::Done { usage }).await
        } else {
            Err(ProviderError::Failed(
                "the model provider closed the stream without an answer".into(),
            ))
        }
    }
}

fn classify(error: reqwest::Error) -> ProviderError {
    if error.is_connect() {
        ProviderError::Unavailable("the model provider cannot be reached".into())
    } else if error.is_timeout() {
        ProviderError::Timeout("the model provider timed out".into())
    } else {
        // reqwest's text names the provider's URL: log it, do not send it.
        tracing::warn!(error = %error, "model provider connection failed");
        ProviderError::Failed("the model provider connection failed".into())
    }
}

/// Local OCR through the `tesseract` command (image on stdin, text on stdout).
#[derive(Debug)]
pub struct Tesseract {
    command: String,
    language: String,
    timeout: Duration,
}

/// OCR output beyond this is cut (a screen holds far less text).
const MAX_OCR_OUTPUT: usize = 1024 * 1024;

impl Tesseract {
    fn new(config: &ProviderConfig) -> Self {
        Self {
            command: config.command.clone().unwrap_or_else(|| "tesseract".into()),
            language: config.language.clone().unwrap_or_else(|| "eng".into()),
            timeout: Duration::from_secs(config.total_timeout_secs),
        }
    }

    async fn stream(&self, request: CompletionRequest, events: &Events) -> Result<(), ProviderError> {
        let image = request
            .image
            .ok_or_else(|| ProviderError::Failed("text recognition needs an image".into()))?;
        let mut child = tokio::process::Command::new(&self.command)
            .args(["stdin", "stdout", "-l", &self.language, "--psm", "3"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    ProviderError::Unavailable(format!("{} is not installed on the server", self.command))
                } else {
                    ProviderError::Failed(format!("text recognition could not start: {e}"))
                }
            })?;
        let (Some(mut stdin), Some(mut stdout), Some(mut stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(ProviderError::Failed("text recognition has no pipes".into()));
        };
        let work = async {
            // Feed and read at once, so a large output cannot block the input.
            let feed = async move {
                let _ = stdin.write_all(&image.bytes).await;
                drop(stdin);
            };
            let mut output = Vec::new();
            let mut errors = Vec::new();
            // Both pipes at once, so a chatty one cannot block the other.
            let mut limited_output = (&mut stdout).take(MAX_OCR_OUTPUT as u64);
            let mut limited_errors = (&mut stderr).take(64 * 1024);
            let _ = tokio::join!(
                feed,
                limited_output.read_to_end(&mut output),
                limited_errors.read_to_end(&mut errors)
            );
            if output.len() >= MAX_OCR_OUTPUT || errors.len() >= 64 * 1024 {
                // It has more to say than a screen holds: stop it.
                let _ = child.start_kill();
            }
            let status = child.wait().await;
            (status, output, errors)
        };
        let (status, output, errors) = tokio::time::timeout(self.timeout, work).await.map_err(|_| {
            ProviderError::Timeout(format!(
                "text recognition took longer than {} s",
                self.timeout.as_secs()
            ))
        })?;
        let status = status.map_err(|e| ProviderError::Failed(e.to_string()))?;
        if !status.success() {
            let detail = String::from_utf8_lossy(&errors)
                .lines()
                .last()
                .unwrap_or_default()
                .to_owned();
            return Err(ProviderError::Failed(format!(
                "text recognition failed: {detail}"
            )));
        }
        let text = String::from_utf8_lossy(&output)
            .trim_end_matches(|c: char| c.is_whitespace() || c == '\u{c}')
            .to_owned();
        send(events, StreamEvent::Delta { text }).await?;
        send(
            events,
            StreamEvent::Done {
                usage: Usage::default(),
            },
        )
        .await
    }
}
