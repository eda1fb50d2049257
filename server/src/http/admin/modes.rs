//! Modes: the list, adding, editing and deleting one.

use super::page::{back, outcome, render, Admin, CsrfOnly, Flash};
use crate::error::Error;
use crate::http::error::ApiError;
use crate::modes::{self, Mode, ModeOptions};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use sightline_proto::ModeKind;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/modes", get(modes_page).post(create_mode))
        .route("/admin/modes/{slug}", get(mode_page).post(update_mode))
        .route("/admin/modes/{slug}/delete", post(delete_mode))
}

struct ModeFormView {
    action: String,
    submit: &'static str,
    name: String,
    kind: String,
    provider: String,
    model: String,
    description: String,
    prompt: String,
    temperature: String,
}

impl ModeFormView {
    fn new_mode() -> Self {
        Self {
            action: "/admin/modes".into(),
            submit: "Create mode",
            name: String::new(),
            kind: "chat".into(),
            provider: String::new(),
            model: String::new(),
            description: String::new(),
            prompt: String::new(),
            temperature: String::new(),
        }
    }

    fn of(mode: &Mode) -> Self {
        Self {
            action: format!("/admin/modes/{}", mode.slug),
            submit: "Save changes",
            name: mode.name.clone(),
            kind: mode.kind.as_str().into(),
            provider: mode.provider.clone(),
            model: mode.model.clone().unwrap_or_default(),
            description: mode.description.clone(),
            prompt: mode.system_prompt.clone(),
            temperature: mode
                .options
                .temperature
                .map(|t| t.to_string())
                .unwrap_or_default(),
        }
    }
}

#[derive(Template)]
#[template(path = "admin_modes.html")]
struct ModesPage {
    section: &'static str,
    admin: String,
    csrf: String,
    notice: Option<String>,
    error: Option<String>,
    modes: Vec<Mode>,
    providers: Vec<String>,
    form: ModeFormView,
}

#[derive(Template)]
#[template(path = "admin_mode_edit.html")]
struct ModeEditPage {
    section: &'static str,
    admin: String,
    csrf: String,
    notice: Option<String>,
    error: Option<String>,
    providers: Vec<String>,
    form: ModeFormView,
}

async fn modes_page(
    State(state): State<AppState>,
    admin: Admin,
    Query(flash): Query<Flash>,
) -> Result<Response, ApiError> {
    Ok(render(
        StatusCode::OK,
        &ModesPage {
            section: "modes",
            admin: admin.session.username.clone(),
            csrf: admin.session.csrf_token.clone(),
            notice: flash.notice,
            error: flash.error,
            modes: modes::list(&state.ctx).await?,
            providers: state.ctx.config.providers.iter().map(|p| p.id.clone()).collect(),
            form: ModeFormView::new_mode(),
        },
    ))
}

async fn mode_page(
    State(state): State<AppState>,
    admin: Admin,
    Path(slug): Path<String>,
    Query(flash): Query<Flash>,
) -> Result<Response, ApiError> {
    let mode = modes::get(&state.ctx, &slug)
        .await?
        .ok_or_else(|| ApiError::from(Error::NotFound(format!("mode {slug:?}"))))?;
    Ok(render(
        StatusCode::OK,
        &ModeEditPage {
            section: "modes",
            admin: admin.session.username.clone(),
            csrf: admin.session.csrf_token.clone(),
            notice: flash.notice,
            error: flash.error,
            providers: state.ctx.config.providers.iter().map(|p| p.id.clone()).collect(),
            form: ModeFormView::of(&mode),
        },
    ))
}

#[derive(Deserialize)]
struct ModeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    provider: String,
    #[serde(default)]
    model: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    prompt: String,
    #[serde(default)]
    temperature: String,
}

fn mode_from_form(form: ModeForm, slug: String) -> Result<Mode, Error> {
    let kind =
        ModeKind::parse(&form.kind).ok_or_else(|| Error::invalid("kind", "choose chat, ocr or rewrite"))?;
    let temperature = match form.temperature.trim() {
        "" => None,
        text => Some(
            text.parse::<f32>()
                .map_err(|_| Error::invalid("temperature", "must be a number between 0 and 2"))?,
        ),
    };
    Ok(Mode {
        slug,
        name: form.name.trim().to_owned(),
        description: form.description.trim().to_owned(),
        kind,
        system_prompt: form.prompt.trim().to_owned(),
        provider: form.provider,
        model: Some(form.model.trim().to_owned()).filter(|m| !m.is_empty()),
        options: ModeOptions {
            temperature,
            max_tokens: None,
        },
    })
}

async fn create_mode(State(state): State<AppState>, admin: Admin, Form(form): Form<ModeForm>) -> Response {
    if let Some(refused) = admin.refuse_unless_csrf(&form.csrf) {
        return refused;
    }
    let result = match mode_from_form(form, String::new()) {
        Ok(mode) => modes::add(&state.ctx, &mode, admin.actor())
            .await
            .map(|m| format!("Created the mode {}.", m.name)),
        Err(error) => Err(error),
    };
    outcome("/admin/modes", result)
}

async fn update_mode(
    State(state): State<AppState>,
    admin: Admin,
    Path(slug): Path<String>,
    Form(form): Form<ModeForm>,
) -> Response {
    if let Some(refused) = admin.refuse_unless_csrf(&form.csrf) {
        return refused;
    }
    let result = match mode_from_form(form, slug.clone()) {
        Ok(mode) => modes::update(&state.ctx, &slug, &mode, admin.actor())
            .await
            .map(|m| format!("Saved the mode {}.", m.name)),
        Err(error) => Err(error),
    };
    match result {
        Ok(notice) => back("/admin/modes", "notice", &notice),
        Err(error) => outcome(&format!("/admin/modes/{slug}"), Err(error)),
    }
}

async fn delete_mode(
    State(state): State<AppState>,
    admin: Admin,
    Path(slug): Path<String>,
    Form(form): Form<CsrfOnly>,
) -> Response {
    if let Some(refused) = admin.refuse_unless_csrf(&form.csrf) {
        return refused;
    }
    let result = modes::remove(&state.ctx, &slug, admin.actor())
        .await
        .map(|()| format!("Deleted the mode {slug}."));
    outcome("/admin/modes", result)
}
