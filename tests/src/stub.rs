//! A stand-in for an OpenAI-compatible model server: real HTTP on loopback,
//! the real `chat/completions` streaming format (`data: {...}` chunks, then
//! `data: [DONE]`), with configurable answers, delays and failures. It
//! records what arrived and notices when a client hangs up mid-answer.
#![allow(clippy::expect_used)]

use anyhow::Result;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// How the stub answers the next requests.
#[derive(Debug, Clone)]
pub struct Behaviour {
    pub deltas: Vec<String>,
    /// Before the first delta.
    pub first_delay: Duration,
    /// Between deltas.
    pub delay: Duration,
    /// Answer with this status and a JSON error instead of a stream.
    pub status: Option<u16>,
    /// Send a chunk that is not JSON.
    pub malformed: bool,
    /// Make the first delta `stamp:<nanoseconds since epoch()>`, the moment
    /// it was handed to the network, so a client in this process can tell
    /// how long the server took to pass it on.
    pub stamp_first: bool,
}

/// The reference point of `stamp_first`.
pub fn epoch() -> Instant {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            deltas: vec!["Hello".into(), ", ".into(), "world".into(), "!".into()],
            first_delay: Duration::ZERO,
            delay: Duration::ZERO,
            status: None,
            malformed: false,
            stamp_first: false,
        }
    }
}

#[derive(Debug, Default)]
struct Shared {
    behaviour: Mutex<Behaviour>,
    requests: Mutex<Vec<serde_json::Value>>,
    /// When each first delta was handed to the network.
    first_sent: Mutex<Vec<Instant>>,
    cancelled: AtomicUsize,
    completed: AtomicUsize,
}

#[derive(Debug, Clone)]
pub struct StubProvider {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

impl StubProvider {
    pub async fn start() -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let accept_shared = shared.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let shared = accept_shared.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| handle(shared.clone(), request));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), service)
                        .await;
                });
            }
        });
        Ok(Self { addr, shared })
    }

    /// The `base_url` to configure.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The server configuration's `[[providers]]` entry for this stub,
    /// with the id `stub`.
    pub fn provider_toml(&self) -> String {
        format!(
            "[[providers]]\nid = \"stub\"\nkind = \"openai\"\nbase_url = \"{}\"\ndefault_model = \"stub-vision\"\n",
            self.base_url()
        )
    }

    /// The picture that went with the newest request's last message, as
    /// its MIME type and bytes.
    pub fn last_image(&self) -> anyhow::Result<(String, Vec<u8>)> {
        use anyhow::Context;
        let request = self.requests().pop().context("nothing reached the stub")?;
        let message = request["messages"]
            .as_array()
            .and_then(|messages| messages.last())
            .context("no messages")?;
        let url = message["content"][1]["image_url"]["url"]
            .as_str()
            .context("no image went to the model")?;
        let (mime, data) = url
            .strip_prefix("data:")
            .and_then(|rest| rest.split_once(";base64,"))
            .context("the image is not a base64 data URL")?;
        Ok((mime.to_owned(), data_encoding::BASE64.decode(data.as_bytes())?))
    }

    pub fn set(&self, behaviour: Behaviour) {
        *self.shared.behaviour.lock().unwrap_or_else(|p| p.into_inner()) = behaviour;
    }

    /// The JSON bodies received so far.
    /// Waits until `wanted` requests have arrived, or fails after `timeout`.
    pub async fn wait_for_requests(&self, wanted: usize, timeout: std::time::Duration) -> anyhow::Result<()> {
        let deadline = std::time::Instant::now() + timeout;
        while self.requests().len() < wanted {
            anyhow::ensure!(
                std::time::Instant::now() < deadline,
                "{} requests reached the model, {wanted} expected",
                self.requests().len()
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        Ok(())
    }

    pub fn requests(&self) -> Vec<serde_json::Value> {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn first_sent(&self) -> Vec<Instant> {
        self.shared
            .first_sent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Answers abandoned by the client before they were complete.
    pub fn cancelled(&self) -> usize {
        self.shared.cancelled.load(Ordering::SeqCst)
    }

    pub fn completed(&self) -> usize {
        self.shared.completed.load(Ordering::SeqCst)
    }
}

type StubBody = http_body_util::Either<
    Full<Bytes>,
    StreamBody<futures_util::stream::BoxStream<'static, Result<Frame<Bytes>, std::convert::Infallible>>>,
>;

async fn handle(
    shared: Arc<Shared>,
    request: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<StubBody>, std::convert::Infallible> {
    let body = request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    shared
        .requests
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(json);
    let behaviour = shared.behaviour.lock().unwrap_or_else(|p| p.into_inner()).clone();
    if let Some(status) = behaviour.status {
        let body =
            serde_json::json!({"error": {"message": "the stub was told to fail", "type": "server_error"}})
                .to_string();
        let response = hyper::Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(http_body_util::Either::Left(Full::new(Bytes::from(body))))
            .expect("a valid response");
        return Ok(response);
    }
    let (sender, receiver) = mpsc::channel::<Bytes>(4);
    tokio::spawn(async move {
        tokio::time::sleep(behaviour.first_delay).await;
        if behaviour.malformed {
            let _ = sender
                .send(Bytes::from_static(b"data: {this is not json\n\n"))
                .await;
            return;
        }
        for (index, delta) in behaviour.deltas.iter().enumerate() {
            if index > 0 {
                tokio::time::sleep(behaviour.delay).await;
            }
            let content = if index == 0 && behaviour.stamp_first {
                format!("stamp:{}", epoch().elapsed().as_nanos())
            } else {
                delta.clone()
            };
            let chunk = serde_json::json!({
                "id": "chatcmpl-stub", "object": "chat.completion.chunk", "model": "stub",
                "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": null}]
            });
            if index == 0 {
                shared
                    .first_sent
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(Instant::now());
            }
            if sender
                .send(Bytes::from(format!("data: {chunk}\n\n")))
                .await
                .is_err()
            {
                shared.cancelled.fetch_add(1, Ordering::SeqCst);
                return;
            }
        }
        let usage = serde_json::json!({
            "id": "chatcmpl-stub", "object": "chat.completion.chunk", "choices": [],
            "usage": {"prompt_tokens": 11, "completion_tokens": behaviour.deltas.len(), "total_tokens": 11 + behaviour.deltas.len()}
        });
        let finished = sender
            .send(Bytes::from(format!("data: {usage}\n\ndata: [DONE]\n\n")))
            .await
            .is_ok();
        // Wait until the client has taken everything or hung up.
        sender.closed().await;
        if finished {
            shared.completed.fetch_add(1, Ordering::SeqCst);
        }
    });
    let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
        let chunk = receiver.recv().await?;
        Some((Ok(Frame::data(chunk)), receiver))
    });
    let body: futures_util::stream::BoxStream<'static, _> = Box::pin(stream);
    let response = hyper::Response::builder()
        .header("content-type", "text/event-stream")
        .body(http_body_util::Either::Right(StreamBody::new(body)))
        .expect("a valid response");
    Ok(response)
}
