//! The analysis service: checks a request against the user's limits and the
//! mode, prepares the image, and starts the provider. The caller gets a
//! channel of events and decides how to answer (SSE or JSON).

use crate::auth::throttle::{Policy, Throttle};
use crate::context::Context;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::imagecheck::{self, ImageInfo};
use crate::metrics::Metrics;
use crate::modes::{self, Mode};
use crate::providers::{CompletionRequest, ImageInput, Providers};
use sightline_proto::{ModeKind, StreamEvent};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

/// The analysis service of a running server: the configured providers and
/// the per-user limits in front of them.
#[derive(Debug)]
pub struct Analysis {
    providers: Providers,
    limits: Limits,
    metrics: Arc<Metrics>,
}

impl Analysis {
    pub fn new(
        providers: Providers,
        metrics: Arc<Metrics>,
        concurrent_per_user: usize,
        requests_per_minute: u32,
    ) -> Self {
        Self {
            providers,
            metrics,
            limits: Limits::new(concurrent_per_user, requests_per_minute),
        }
    }

    /// Starts `mode` on `text` (and `image`) for `user_id`.
    pub async fn start(
        &self,
        ctx: &Context,
        user_id: i64,
        mode: Mode,
        text: String,
        image: Option<CheckedImage>,
    ) -> Result<mpsc::Receiver<StreamEvent>> {
        let permit = self.limits.admit(&ctx.db, user_id, ctx.clock.now()).await?;
        let provider = self
            .providers
            .get(&mode.provider)
            .ok_or_else(|| Error::ProviderUnavailable(mode.name.clone()))?;
        let image = match image {
            Some(image) => Some(prepare_image(image, provider.max_image_side()).await?),
            None => None,
        };
        let system_prompt = match mode.kind {
            ModeKind::Rewrite => format!(
                "{}\n\nReply with the rewritten text only: no introduction, no quotation marks, no explanation.",
                mode.system_prompt.trim()
            ),
            _ => mode.system_prompt.clone(),
        };
        let request = CompletionRequest {
            model: mode.model.clone(),
            system_prompt,
            text,
            image,
            options: mode.options.clone(),
        };
        let (events, from_provider) = mpsc::channel(64);
        let (to_caller, receiver) = mpsc::channel(64);
        tokio::spawn(async move {
            let _permit = permit;
            provider.run(request, events).await;
        });
        tokio::spawn(observe_provider(
            from_provider,
            to_caller,
            mode.provider,
            self.metrics.clone(),
        ));
        Ok(receiver)
    }
}

/// Passes the provider's events on, timing the first and counting an
/// error's code. When the caller goes away the provider's channel closes
/// too, which cancels the provider's work as before.
async fn observe_provider(
    mut from_provider: mpsc::Receiver<StreamEvent>,
    to_caller: mpsc::Sender<StreamEvent>,
    provider: String,
    metrics: Arc<Metrics>,
) {
    let started = std::time::Instant::now();
    let mut first = true;
    loop {
        let event = tokio::select! {
            // The caller left: dropping the provider's channel cancels it.
            () = to_caller.closed() => return,
            event = from_provider.recv() => match event {
                Some(event) => event,
                None => return,
            },
        };
        if first {
            first = false;
            if !matches!(event, StreamEvent::Error { .. }) {
                metrics.provider_first_token(&provider, started.elapsed());
            }
        }
        if let StreamEvent::Error { code, .. } = &event {
            metrics.provider_error(&provider, code.as_str());
        }
        if to_caller.send(event).await.is_err() {
            return;
        }
    }
}

/// Per-user concurrency and rate limits. The rate is counted in the
/// database, so instances behind a balancer share one allowance; the
/// number running at once is held per instance (a stream lives on one).
#[derive(Debug)]
struct Limits {
    concurrent_per_user: usize,
    running: Mutex<HashMap<i64, Arc<Semaphore>>>,
    rate: Throttle,
}

impl Limits {
    fn new(concurrent_per_user: usize, requests_per_minute: u32) -> Self {
        Self {
            concurrent_per_user: concurrent_per_user.max(1),
            running: Mutex::new(HashMap::new()),
            rate: Throttle::new(
                "analysis-user",
                Policy {
                    allowance: requests_per_minute.max(1),
                    window_secs: 60,
                    first_lock_secs: 10,
                    max_lock_secs: 60,
                },
            ),
        }
    }

    /// A slot for one request of `user_id`, or [`Error::RateLimited`].
    async fn admit(&self, db: &Db, user_id: i64, now: i64) -> Result<OwnedSemaphorePermit> {
        let key = user_id.to_string();
        if let Some(wait) = self.rate.locked_for(db, &key, now).await? {
            return Err(Error::RateLimited {
                retry_after: wait,
                reason: "Too many requests; slow down a little.",
            });
        }
        let semaphore = {
            let mut running = self
                .running
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            running
                .entry(user_id)
                .or_insert_with(|| Arc::new(Semaphore::new(self.concurrent_per_user)))
                .clone()
        };
        let permit = semaphore.try_acquire_owned().map_err(|_| Error::RateLimited {
            retry_after: 1,
            reason: "Too many requests at once; wait for one to finish.",
        })?;
        self.rate.failure(db, &key, now).await?;
        Ok(permit)
    }
}

/// A mode that exists and is of one of the `expected` kinds.
pub async fn mode_for(ctx: &Context, slug: &str, expected: &[ModeKind]) -> Result<Mode> {
    let mode = modes::get(ctx, slug.trim())
        .await?
        .ok_or_else(|| Error::UnknownMode(slug.to_owned()))?;
    if !expected.contains(&mode.kind) {
        let wanted: Vec<&str> = expected.iter().map(|k| k.as_str()).collect();
        return Err(Error::WrongModeKind {
            mode: mode.name,
            kind: mode.kind.as_str(),
            wanted: wanted.join(" or "),
        });
    }
    Ok(mode)
}

/// An image accepted by [`imagecheck`].
#[derive(Debug)]
pub struct CheckedImage {
    pub bytes: bytes::Bytes,
    pub info: ImageInfo,
}

pub fn check_image(ctx: &Context, bytes: bytes::Bytes) -> Result<CheckedImage> {
    let info = imagecheck::inspect(&bytes, ctx.config.analysis.max_image_side).map_err(Error::Image)?;
    Ok(CheckedImage { bytes, info })
}

/// Downscales to the provider's limit when it has one (off the runtime).
async fn prepare_image(image: CheckedImage, max_side: Option<u32>) -> Result<ImageInput> {
    let mime = image.info.kind.mime();
    let Some(max_side) = max_side.filter(|max| image.info.width.max(image.info.height) > *max) else {
        return Ok(ImageInput {
            mime,
            bytes: image.bytes,
        });
    };
    // Decoding is memory- and CPU-heavy: a few at a time, server-wide.
    static DOWNSCALES: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);
    // The semaphore is never closed; were it, downscaling would go on unbounded.
    let _permit = DOWNSCALES.acquire().await.ok();
    let bytes = image.bytes.clone();
    let info = image.info;
    let smaller = tokio::task::spawn_blocking(move || imagecheck::downscale(&bytes, info, max_side))
        .await?
        .map_err(Error::Image)?;
    Ok(match smaller {
        Some(jpeg) => ImageInput {
            mime: "image/jpeg",
            bytes: jpeg.into(),
        },
        None => ImageInput {
            mime,
            bytes: image.bytes,
        },
    })
}
