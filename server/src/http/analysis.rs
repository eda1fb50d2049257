//! `/native/modes`, `/native/analyze` and `/native/rewrite`: answers stream
//! as server-sent events when the client asks (`Accept: text/event-stream`),
//! otherwise they are collected into one JSON answer.

use super::extract::{ApiJson, Session};
use crate::analysis::{self, CheckedImage};
use crate::http::error::ApiError;
use crate::modes;
use crate::state::AppState;
use axum::extract::multipart::MultipartError;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use sightline_proto::{
    CompletionResponse, ErrorCode, ModeKind, ModeSummary, RewriteRequest, StreamEvent, Usage,
};
use std::convert::Infallible;
use tokio::sync::mpsc;

pub async fn list_modes(
    State(state): State<AppState>,
    _session: Session,
) -> Result<Json<Vec<ModeSummary>>, ApiError> {
    Ok(Json(
        modes::list(&state.ctx)
            .await?
            .iter()
            .map(modes::Mode::summary)
            .collect(),
    ))
}

fn wants_stream(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"))
}

fn missing(field: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCode::MissingField,
        format!("The request has no {field:?} part."),
    )
}

fn multipart_error(error: MultipartError, state: &AppState) -> ApiError {
    if error.status() == StatusCode::PAYLOAD_TOO_LARGE {
        image_too_large(state)
    } else {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidRequest,
            format!("The upload could not be read: {}", error.body_text()),
        )
    }
}

fn image_too_large(state: &AppState) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::ImageTooLarge,
        format!(
            "The image is larger than {} MiB.",
            state.ctx.config.analysis.max_image_bytes / (1024 * 1024)
        ),
    )
}

/// Reads a text part, refusing more than `limit` bytes.
async fn text_part(
    mut field: axum::extract::multipart::Field<'_>,
    limit: usize,
    too_large: impl Fn() -> ApiError,
    state: &AppState,
) -> Result<String, ApiError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(|e| multipart_error(e, state))? {
        if bytes.len() + chunk.len() > limit {
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    String::from_utf8(bytes).map_err(|_| ApiError::invalid_request("Text parts must be UTF-8."))
}

/// `POST /native/analyze` (multipart: `image`, `context`, `mode`).
pub async fn analyze(
    State(state): State<AppState>,
    session: Session,
    request: Request,
) -> Result<Response, ApiError> {
    let stream = wants_stream(request.headers());
    // The whole upload's size, to allocate the image buffer once.
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0)
        .min(state.ctx.config.analysis.max_image_bytes);
    let mut multipart = Multipart::from_request(request, &state).await.map_err(|_| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedMediaType,
            "Send the request as multipart/form-data.",
        )
    })?;
    let limits = &state.ctx.config.analysis;
    let (mut image, mut context, mut mode) = (None, None, None);
    while let Some(mut field) = multipart
        .next_field()
        .await
        .map_err(|e| multipart_error(e, &state))?
    {
        match field.name().unwrap_or_default() {
            "image" => {
                let mut bytes = bytes::BytesMut::with_capacity(declared);
                while let Some(chunk) = field.chunk().await.map_err(|e| multipart_error(e, &state))? {
                    if bytes.len() + chunk.len() > limits.max_image_bytes {
                        return Err(image_too_large(&state));
                    }
                    bytes.extend_from_slice(&chunk);
                }
                image = Some(bytes.freeze());
            }
            "context" => {
                let limit = limits.max_context_bytes;
                context = Some(
                    text_part(
                        field,
                        limit,
                        || {
                            ApiError::new(
                                StatusCode::PAYLOAD_TOO_LARGE,
                                ErrorCode::ContextTooLarge,
                                format!("The context is longer than {} KiB.", limit / 1024),
                            )
                        },
                        &state,
                    )
                    .await?,
                );
            }
            "mode" => {
                mode = Some(
                    text_part(
                        field,
                        200,
                        || ApiError::invalid_request("The mode id is too long."),
                        &state,
                    )
                    .await?,
                )
            }
            _ => {}
        }
    }
    let mode = analysis::mode_for(
        &state.ctx,
        &mode.ok_or_else(|| missing("mode"))?,
        &[ModeKind::Chat, ModeKind::Ocr],
    )
    .await?;
    let context = context.unwrap_or_default();
    // A chat question may come without a picture; reading text needs one.
    let image: Option<CheckedImage> = match image {
        Some(image) => Some(analysis::check_image(&state.ctx, image)?),
        None if mode.kind == ModeKind::Chat && !context.trim().is_empty() => None,
        None => return Err(missing("image")),
    };
    let events = state
        .analysis
        .start(&state.ctx, session.user_id, mode, context, image)
        .await?;
    Ok(answer(events, stream).await)
}

/// `POST /native/rewrite` `{text, instruction?, mode}`.
pub async fn rewrite(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    ApiJson(request): ApiJson<RewriteRequest>,
) -> Result<Response, ApiError> {
    let limit = state.ctx.config.analysis.max_rewrite_bytes;
    if request.text.len() > limit {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::TextTooLarge,
            format!("The text is longer than {} KiB.", limit / 1024),
        ));
    }
    if request.text.trim().is_empty() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::MissingField,
            "There is no text to rewrite.",
        ));
    }
    let mode = analysis::mode_for(&state.ctx, &request.mode, &[ModeKind::Rewrite]).await?;
    let instruction = request
        .instruction
        .as_deref()
        .map(str::trim)
        .filter(|i| !i.is_empty());
    if instruction.is_some_and(|i| i.len() > 2000) {
        return Err(ApiError::invalid_request(
            "The instruction is longer than 2000 bytes.",
        ));
    }
    let text = match instruction {
        Some(instruction) => format!("Instruction: {instruction}\n\nText:\n{}", request.text),
        None => request.text,
    };
    let events = state
        .analysis
        .start(&state.ctx, session.user_id, mode, text, None)
        .await?;
    Ok(answer(events, wants_stream(&headers)).await)
}

/// Streams the events as SSE, or collects them into JSON.
async fn answer(mut events: mpsc::Receiver<StreamEvent>, stream: bool) -> Response {
    if stream {
        let stream = futures_util::stream::unfold(events, |mut events| async move {
            let event = events.recv().await?;
            let sse = Event::default().event(event.name()).data(event.data());
            Some((Ok::<_, Infallible>(sse), events))
        });
        return Sse::new(stream).keep_alive(KeepAlive::default()).into_response();
    }
    let mut text = String::new();
    let mut usage = Usage::default();
    while let Some(event) = events.recv().await {
        match event {
            StreamEvent::Delta { text: piece } => text.push_str(&piece),
            StreamEvent::Done { usage: reported } => {
                usage = reported;
                break;
            }
            StreamEvent::Error { code, message } => {
                let status = if code == ErrorCode::ProviderTimeout {
                    StatusCode::GATEWAY_TIMEOUT
                } else {
                    StatusCode::BAD_GATEWAY
                };
                return ApiError::new(status, code, message).into_response();
            }
        }
    }
    Json(CompletionResponse { text, usage }).into_response()
}
