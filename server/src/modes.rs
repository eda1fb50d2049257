//! Modes: what the desktop offers in its dropdown. Each names a kind, a
//! system prompt and a configured provider. The command line and the admin
//! pages manage them through this module; clients see only summaries.

use crate::audit::{audit, Actor, AuditEvent};
use crate::config::{Config, ProviderKind};
use crate::context::Context;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use sightline_proto::{ModeKind, ModeSummary};

pub const MAX_NAME_CHARS: usize = 100;
pub const MAX_DESCRIPTION_CHARS: usize = 500;
pub const MAX_PROMPT_BYTES: usize = 16 * 1024;

/// Tunables passed to the model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModeOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mode {
    pub slug: String,
    pub name: String,
    pub description: String,
    pub kind: ModeKind,
    pub system_prompt: String,
    pub provider: String,
    pub model: Option<String>,
    pub options: ModeOptions,
}

impl Mode {
    pub fn summary(&self) -> ModeSummary {
        ModeSummary {
            id: self.slug.clone(),
            name: self.name.clone(),
            description: self.description.clone(),
            kind: self.kind,
        }
    }
}

#[derive(sqlx::FromRow)]
struct ModeRow {
    slug: String,
    name: String,
    description: String,
    kind: String,
    system_prompt: String,
    provider: String,
    model: Option<String>,
    options: String,
}

impl TryFrom<ModeRow> for Mode {
    type Error = Error;

    fn try_from(row: ModeRow) -> Result<Self> {
        Ok(Self {
            kind: ModeKind::parse(&row.kind).ok_or_else(|| Error::invalid("mode kind", row.kind.clone()))?,
            options: serde_json::from_str(&row.options)
                .map_err(|e| Error::invalid("mode options", e.to_string()))?,
            slug: row.slug,
            name: row.name,
            description: row.description,
            system_prompt: row.system_prompt,
            provider: row.provider,
            model: row.model,
        })
    }
}

const COLUMNS: &str = "slug, name, description, kind, system_prompt, provider, model, options";

pub async fn list(ctx: &Context) -> Result<Vec<Mode>> {
    sqlx::query_as::<_, ModeRow>(&format!(
        "SELECT {COLUMNS} FROM modes ORDER BY kind = 'rewrite', id"
    ))
    .fetch_all(&ctx.db)
    .await?
    .into_iter()
    .map(Mode::try_from)
    .collect()
}

pub async fn get(ctx: &Context, slug: &str) -> Result<Option<Mode>> {
    sqlx::query_as::<_, ModeRow>(&format!("SELECT {COLUMNS} FROM modes WHERE slug = $1"))
        .bind(slug)
        .fetch_optional(&ctx.db)
        .await?
        .map(Mode::try_from)
        .transpose()
}

/// Checks a mode against the rules and the configured providers.
pub fn validate(mode: &Mode, config: &Config) -> Result<()> {
    let name_chars = mode.name.trim().chars().count();
    if name_chars == 0 || name_chars > MAX_NAME_CHARS {
        return Err(Error::invalid(
            "mode name",
            format!("use 1–{MAX_NAME_CHARS} characters"),
        ));
    }
    if mode.description.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(Error::invalid(
            "mode description",
            format!("use at most {MAX_DESCRIPTION_CHARS} characters"),
        ));
    }
    if mode.system_prompt.len() > MAX_PROMPT_BYTES {
        return Err(Error::invalid(
            "system prompt",
            format!("use at most {} KiB", MAX_PROMPT_BYTES / 1024),
        ));
    }
    if let Some(t) = mode.options.temperature {
        if !(0.0..=2.0).contains(&t) {
            return Err(Error::invalid("temperature", "must be between 0 and 2"));
        }
    }
    let provider = config.provider(&mode.provider).ok_or_else(|| {
        Error::invalid(
            "provider",
            format!(
                "{:?} is not configured; add a [[providers]] entry to config.toml",
                mode.provider
            ),
        )
    })?;
    let fits = match mode.kind {
        ModeKind::Ocr => provider.kind == ProviderKind::Tesseract,
        ModeKind::Chat | ModeKind::Rewrite => provider.kind == ProviderKind::Openai,
    };
    if !fits {
        return Err(Error::invalid(
            "provider",
            format!(
                "a {} mode needs {} provider",
                mode.kind.as_str(),
                if mode.kind == ModeKind::Ocr {
                    "a tesseract"
                } else {
                    "an openai"
                }
            ),
        ));
    }
    if mode.kind != ModeKind::Ocr
        && mode
            .model
            .as_deref()
            .or(provider.default_model.as_deref())
            .is_none()
    {
        return Err(Error::invalid(
            "model",
            "name the model (or give the provider a default_model)",
        ));
    }
    Ok(())
}

/// A stable identifier from a name: `Rewrite: clearer` → `rewrite-clearer`.
pub fn slugify(name: &str) -> String {
    let mut slug = String::new();
    for c in name.to_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    let slug = slug.trim_end_matches('-').chars().take(48).collect::<String>();
    if slug.is_empty() {
        "mode".into()
    } else {
        slug
    }
}

pub async fn add(ctx: &Context, mode: &Mode, actor: Actor<'_>) -> Result<Mode> {
    validate(mode, &ctx.config)?;
    let now = ctx.clock.now();
    let mut tx = ctx.db.begin().await?;
    let mut slug = if mode.slug.is_empty() {
        slugify(&mode.name)
    } else {
        mode.slug.clone()
    };
    let base = slug.clone();
    let mut n = 1;
    while sqlx::query_scalar::<_, i64>("SELECT id FROM modes WHERE slug = $1")
        .bind(&slug)
        .fetch_optional(&mut *tx)
        .await?
        .is_some()
    {
        n += 1;
        slug = format!("{base}-{n}");
    }
    let taken: Option<i64> = sqlx::query_scalar("SELECT id FROM modes WHERE lower(name) = lower($1)")
        .bind(mode.name.trim())
        .fetch_optional(&mut *tx)
        .await?;
    if taken.is_some() {
        return Err(Error::Conflict(format!("a mode named {:?}", mode.name.trim())));
    }
    insert(
        &mut tx,
        now,
        &Mode {
            slug: slug.clone(),
            name: mode.name.trim().to_owned(),
            ..mode.clone()
        },
    )
    .await?;
    audit(
        &mut *tx,
        now,
        AuditEvent {
            actor,
            action: "mode.add",
            subject: Some(&slug),
            client_addr: None,
            detail: Some(mode.kind.as_str()),
        },
    )
    .await?;
    tx.commit().await?;
    get(ctx, &slug)
        .await?
        .ok_or_else(|| Error::NotFound(format!("mode {slug}")))
}

async fn insert(conn: &mut sqlx::AnyConnection, now: i64, mode: &Mode) -> Result<()> {
    let options =
        serde_json::to_string(&mode.options).map_err(|e| Error::invalid("mode options", e.to_string()))?;
    sqlx::query(
        "INSERT INTO modes (slug, name, description, kind, system_prompt, provider, model, options, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&mode.slug)
    .bind(&mode.name)
    .bind(&mode.description)
    .bind(mode.kind.as_str())
    .bind(&mode.system_prompt)
    .bind(&mode.provider)
    .bind(&mode.model)
    .bind(options)
    .bind(now)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Replaces a mode's settings (its slug stays, so clients' choices survive).
pub async fn update(ctx: &Context, slug: &str, mode: &Mode, actor: Actor<'_>) -> Result<Mode> {
    validate(mode, &ctx.config)?;
    let now = ctx.clock.now();
    let options =
        serde_json::to_string(&mode.options).map_err(|e| Error::invalid("mode options", e.to_string()))?;
    let mut tx = ctx.db.begin().await?;
    let clash: Option<String> =
        sqlx::query_scalar("SELECT slug FROM modes WHERE lower(name) = lower($1) AND slug != $2")
            .bind(mode.name.trim())
            .bind(slug)
            .fetch_optional(&mut *tx)
            .await?;
    if clash.is_some() {
        return Err(Error::Conflict(format!("a mode named {:?}", mode.name.trim())));
    }
    let changed = sqlx::query(
        "UPDATE modes SET name = $1, description = $2, kind = $3, system_prompt = $4, provider = $5, model = $6, options = $7, updated_at = $8
         WHERE slug = $9",
    )
    .bind(mode.name.trim())
    .bind(&mode.description)
    .bind(mode.kind.as_str())
    .bind(&mode.system_prompt)
    .bind(&mode.provider)
    .bind(&mode.model)
    .bind(options)
    .bind(now)
    .bind(slug)
    .execute(&mut *tx)
    .await?;
    if changed.rows_affected() != 1 {
        return Err(Error::NotFound(format!("mode {slug:?}")));
    }
    audit(&mut *tx, now, AuditEvent::of(actor, "mode.update", slug)).await?;
    tx.commit().await?;
    get(ctx, slug)
        .await?
        .ok_or_else(|| Error::NotFound(format!("mode {slug}")))
}

pub async fn remove(ctx: &Context, slug: &str, actor: Actor<'_>) -> Result<()> {
    let now = ctx.clock.now();
    let mut tx = ctx.db.begin().await?;
    let removed = sqlx::query("DELETE FROM modes WHERE slug = $1")
        .bind(slug)
        .execute(&mut *tx)
        .await?;
    if removed.rows_affected() != 1 {
        return Err(Error::NotFound(format!("mode {slug:?}")));
    }
    audit(&mut *tx, now, AuditEvent::of(actor, "mode.remove", slug)).await?;
    tx.commit().await?;
    Ok(())
}

/// The modes a new installation starts with.
pub fn defaults() -> Vec<Mode> {
    let chat = |slug: &str, name: &str, description: &str, prompt: &str| Mode {
        slug: slug.into(),
        name: name.into(),
        description: description.into(),
        kind: ModeKind::Chat,
        system_prompt: prompt.into(),
        provider: "ollama".into(),
        model: Some("llava".into()),
        options: ModeOptions::default(),
    };
    let rewrite = |slug: &str, name: &str, description: &str, prompt: &str| Mode {
        kind: ModeKind::Rewrite,
        model: Some("llama3.2".into()),
        options: ModeOptions {
            temperature: Some(0.2),
            max_tokens: None,
        },
        ..chat(slug, name, description, prompt)
    };
    vec![
        chat(
            "explain-screen",
            "Explain my screen",
            "Explains what is on the screen or the selected region.",
            "You are Sightline, an assistant that can see the user's screen. Answer the user's question about \
             the screenshot. Be concise and concrete, and say which part of the screen you mean.",
        ),
        chat(
            "coding-assistant",
            "Coding assistant",
            "Reads code, errors and terminals on screen and suggests fixes.",
            "You are a senior software engineer looking at the user's screen (an editor, a terminal or a \
             browser). Find the code or error that matters, explain the cause in a few sentences, and propose \
             a fix with a short code snippet.",
        ),
        Mode {
            slug: "extract-text".into(),
            name: "Extract text".into(),
            description: "Reads the text in the image locally; no model needed.".into(),
            kind: ModeKind::Ocr,
            system_prompt: String::new(),
            provider: "ocr".into(),
            model: None,
            options: ModeOptions::default(),
        },
        rewrite(
            "rewrite-clearer",
            "Rewrite: clearer",
            "Makes the selected text clearer and more concise.",
            "Rewrite the user's text so that it is clearer and more concise. Keep its meaning, language, tone \
             and formatting.",
        ),
        rewrite(
            "rewrite-grammar",
            "Rewrite: fix grammar",
            "Corrects spelling, grammar and punctuation, nothing else.",
            "Correct the spelling, grammar and punctuation of the user's text. Change nothing else: keep its \
             wording, language and formatting.",
        ),
    ]
}

/// Seeds [`defaults`] into a new database.
pub async fn seed_defaults(conn: &mut sqlx::AnyConnection, now: i64) -> Result<()> {
    for mode in defaults() {
        insert(conn, now, &mode).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(slugify("Rewrite: clearer"), "rewrite-clearer");
        assert_eq!(slugify("  Ünïcode!! "), "n-code");
        assert_eq!(slugify("***"), "mode");
    }

    #[test]
    fn defaults_fit_the_default_providers() {
        let config = Config::default();
        for mode in defaults() {
            validate(&mode, &config).unwrap();
        }
    }

    #[test]
    fn a_mode_must_fit_its_provider() {
        let config = Config::default();
        let mut mode = defaults().remove(0);
        mode.provider = "ocr".into();
        assert!(validate(&mode, &config).is_err());
        mode.provider = "nowhere".into();
        assert!(validate(&mode, &config)
            .unwrap_err()
            .to_string()
            .contains("not configured"));
    }

    #[tokio::test]
    async fn add_update_remove() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = crate::context::testing::context(dir.path(), crate::clock::Clock::system()).await;
        let mut mode = defaults().remove(0);
        mode.slug = String::new();
        mode.name = "Summarise".into();
        let added = add(&ctx, &mode, Actor::Cli).await.unwrap();
        assert_eq!(added.slug, "summarise");
        assert!(add(&ctx, &mode, Actor::Cli).await.is_err(), "names are unique");
        let mut changed = added.clone();
        changed.system_prompt = "Summarise in three bullet points.".into();
        let updated = update(&ctx, "summarise", &changed, Actor::Cli).await.unwrap();
        assert_eq!(updated.system_prompt, "Summarise in three bullet points.");
        remove(&ctx, "summarise", Actor::Cli).await.unwrap();
        assert!(get(&ctx, "summarise").await.unwrap().is_none());
        assert!(matches!(
            remove(&ctx, "summarise", Actor::Cli).await,
            Err(Error::NotFound(_))
        ));
    }
}
