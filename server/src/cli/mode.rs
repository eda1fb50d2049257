//! `mode`: list, add, update and remove the modes the desktop app offers.

use clap::Subcommand;
use sightline_server::audit::Actor;
use sightline_server::datadir::DataDir;
use sightline_server::modes;

#[derive(Debug, Subcommand)]
pub enum ModeCommand {
    /// List modes with their provider and model.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Add a mode.
    Add {
        #[arg(long)]
        name: String,
        #[arg(long, value_parser = ["chat", "ocr", "rewrite"])]
        kind: String,
        /// The id of a [[providers]] entry in config.toml.
        #[arg(long)]
        provider: String,
        #[arg(long)]
        model: Option<String>,
        /// The system prompt.
        #[arg(long)]
        prompt: Option<String>,
        #[arg(long)]
        description: Option<String>,
        #[arg(long)]
        temperature: Option<f32>,
        #[arg(long)]
        max_tokens: Option<u32>,
    },
    /// Change a mode; options not given keep their value.
    Update {
        id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long, value_parser = ["chat", "ocr", "rewrite"])]
        kind: Option<String>,
        #[arg(long)]
        provider: Option<String>,
        #[arg(long)]
        model: Option<String>,
        #[arg(long)]
        prompt: Option<String>,
        #[arg(long)]
        description: Option<String>,
        #[arg(long)]
        temperature: Option<f32>,
        #[arg(long)]
        max_tokens: Option<u32>,
    },
    /// Remove a mode.
    Remove { id: String },
}

pub async fn run(dir: &DataDir, command: ModeCommand) -> anyhow::Result<()> {
    let ctx = dir.system_context().await?;
    let kind = |text: &str| {
        sightline_proto::ModeKind::parse(text).ok_or_else(|| anyhow::anyhow!("unknown kind {text:?}"))
    };
    match command {
        ModeCommand::List { json } => {
            let list = modes::list(&ctx).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                println!(
                    "{:<22} {:<24} {:<8} {:<10} MODEL",
                    "ID", "NAME", "KIND", "PROVIDER"
                );
                for m in list {
                    println!(
                        "{:<22} {:<24} {:<8} {:<10} {}",
                        m.slug,
                        m.name,
                        m.kind.as_str(),
                        m.provider,
                        m.model.unwrap_or_default()
                    );
                }
            }
        }
        ModeCommand::Add {
            name,
            kind: k,
            provider,
            model,
            prompt,
            description,
            temperature,
            max_tokens,
        } => {
            let mode = modes::Mode {
                slug: String::new(),
                name,
                description: description.unwrap_or_default(),
                kind: kind(&k)?,
                system_prompt: prompt.unwrap_or_default(),
                provider,
                model,
                options: modes::ModeOptions {
                    temperature,
                    max_tokens,
                },
            };
            let added = modes::add(&ctx, &mode, Actor::Cli).await?;
            println!("Added mode {} ({})", added.slug, added.name);
        }
        ModeCommand::Update {
            id,
            name,
            kind: k,
            provider,
            model,
            prompt,
            description,
            temperature,
            max_tokens,
        } => {
            let mut mode = modes::get(&ctx, &id)
                .await?
                .ok_or_else(|| anyhow::anyhow!("there is no mode {id:?}"))?;
            if let Some(name) = name {
                mode.name = name;
            }
            if let Some(k) = k {
                mode.kind = kind(&k)?;
            }
            if let Some(provider) = provider {
                mode.provider = provider;
            }
            if let Some(model) = model {
                mode.model = Some(model).filter(|m| !m.is_empty());
            }
            if let Some(prompt) = prompt {
                mode.system_prompt = prompt;
            }
            if let Some(description) = description {
                mode.description = description;
            }
            if temperature.is_some() {
                mode.options.temperature = temperature;
            }
            if max_tokens.is_some() {
                mode.options.max_tokens = max_tokens;
            }
            let updated = modes::update(&ctx, &id, &mode, Actor::Cli).await?;
            println!("Updated mode {} ({})", updated.slug, updated.name);
        }
        ModeCommand::Remove { id } => {
            modes::remove(&ctx, &id, Actor::Cli).await?;
            println!("Removed mode {id}");
        }
    }
    ctx.db.close().await;
    Ok(())
}
