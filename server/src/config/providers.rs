//! `[[providers]]`: the model servers and local tools that modes name.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// Any OpenAI-compatible chat-completions server (Ollama, vLLM, llama.cpp, OpenAI, ...).
    Openai,
    /// Local OCR with the `tesseract` command.
    Tesseract,
}

/// One `[[providers]]` entry. Secrets come from the environment or a file,
/// never from this file or the database.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    pub id: String,
    pub kind: ProviderKind,
    /// `openai`: e.g. `http://127.0.0.1:11434/v1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_file: Option<std::path::PathBuf>,
    /// Model used when a mode names none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_model: Option<String>,
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_secs: u64,
    /// Longest wait for the first piece of the answer.
    #[serde(default = "default_first_token_timeout")]
    pub first_token_timeout_secs: u64,
    #[serde(default = "default_total_timeout")]
    pub total_timeout_secs: u64,
    /// Images are downscaled to this longest side before they are sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_image_side: Option<u32>,
    /// `tesseract`: the command and language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
}

fn default_connect_timeout() -> u64 {
    5
}

fn default_first_token_timeout() -> u64 {
    60
}

fn default_total_timeout() -> u64 {
    300
}

impl ProviderConfig {
    pub fn openai(id: &str, base_url: &str) -> Self {
        Self {
            id: id.into(),
            kind: ProviderKind::Openai,
            base_url: Some(base_url.into()),
            api_key_env: None,
            api_key_file: None,
            default_model: None,
            connect_timeout_secs: default_connect_timeout(),
            first_token_timeout_secs: default_first_token_timeout(),
            total_timeout_secs: default_total_timeout(),
            max_image_side: None,
            command: None,
            language: None,
        }
    }

    pub fn tesseract(id: &str) -> Self {
        Self {
            kind: ProviderKind::Tesseract,
            base_url: None,
            language: Some("eng".into()),
            ..Self::openai(id, "")
        }
    }
}

/// A local Ollama for the chat and rewrite modes, and local OCR.
pub fn default_providers() -> Vec<ProviderConfig> {
    vec![
        ProviderConfig::openai("ollama", "http://127.0.0.1:11434/v1"),
        ProviderConfig::tesseract("ocr"),
    ]
}
