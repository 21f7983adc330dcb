//! Checks of request bodies, so that nothing invalid is stored.

use super::{EngineError, EngineResult};
use agentdeck_model::requests::MessageCreate;
use agentdeck_model::{Content, ContentPart, Limits, MemoryConfig, Role, Tool};
use std::collections::{BTreeMap, HashSet};

pub fn name(value: &str, param: &'static str) -> EngineResult<()> {
    if value.trim().is_empty() {
        return Err(EngineError::invalid(
            format!("'{param}' must not be empty."),
            param,
        ));
    }
    if value.chars().count() > 256 {
        return Err(EngineError::invalid(
            format!("'{param}' is longer than 256 characters."),
            param,
        ));
    }
    Ok(())
}

pub fn model(model: String) -> EngineResult<String> {
    name(&model, "model")?;
    Ok(model)
}

/// The most tokens a minute a project may be given (a trillion: beyond any provider).
const MAX_TOKENS_PER_MINUTE: u64 = 1_000_000_000_000;
/// The most runs a project may have at once.
const MAX_CONCURRENT_THREADS: u64 = 100_000;

pub fn limits(limits: Option<&Limits>) -> EngineResult<()> {
    if let Some(limits) = limits {
        if limits.tokens_per_minute == 0 || limits.concurrent_threads == 0 {
            return Err(EngineError::invalid(
                "limits must be greater than zero.",
                "limits",
            ));
        }
        if limits.tokens_per_minute > MAX_TOKENS_PER_MINUTE {
            return Err(EngineError::invalid(
                format!("limits.tokens_per_minute must be at most {MAX_TOKENS_PER_MINUTE}."),
                "limits.tokens_per_minute",
            ));
        }
        if limits.concurrent_threads > MAX_CONCURRENT_THREADS {
            return Err(EngineError::invalid(
                format!("limits.concurrent_threads must be at most {MAX_CONCURRENT_THREADS}."),
                "limits.concurrent_threads",
            ));
        }
    }
    Ok(())
}

/// An assistant's output bound: at least 1 token, at most the server's ceiling.
pub fn max_output_tokens(bound: Option<u32>, ceiling: u32) -> EngineResult<()> {
    match bound {
        Some(tokens) if tokens == 0 || tokens > ceiling => Err(EngineError::invalid(
            format!("max_output_tokens must be between 1 and the server's ceiling of {ceiling}."),
            "max_output_tokens",
        )),
        _ => Ok(()),
    }
}

pub fn memory(memory: &MemoryConfig) -> EngineResult<()> {
    if let Some(method) = memory.summary_method.as_deref() {
        if !matches!(method, "reflection" | "none") {
            return Err(EngineError::invalid(
                format!("memory.summary_method '{method}' is not one of: reflection, none."),
                "memory.summary_method",
            ));
        }
    }
    if memory
        .window_tokens
        .is_some_and(|t| !(50..=1_000_000).contains(&t))
    {
        return Err(EngineError::invalid(
            "memory.window_tokens must be between 50 and 1000000.",
            "memory.window_tokens",
        ));
    }
    Ok(())
}

pub(crate) fn is_http_url(url: &str) -> bool {
    (url.starts_with("http://") || url.starts_with("https://")) && url.len() > "https://".len()
}

pub fn webhook_url(url: Option<&str>) -> EngineResult<()> {
    match url {
        Some(url) if !is_http_url(url) => Err(EngineError::invalid(
            format!("logs_webhook {url:?} is not an http(s) URL."),
            "logs_webhook",
        )),
        _ => Ok(()),
    }
}

/// A name a model can call: 1-64 letters, digits, `_` or `-`.
pub(crate) fn function_name(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 64
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Fills what each tool leaves to its default, so the stored (and echoed) tool says it.
pub fn complete_tools(tools: &mut [Tool]) {
    for tool in tools {
        crate::run::complete_definition(tool);
    }
}

/// The most characters a thread's title may have.
pub const MAX_TITLE: usize = 512;

/// A title given by a caller: one line, at most [`MAX_TITLE`] characters, kept whole.
pub fn title(text: &str) -> EngineResult<String> {
    let title = text.trim();
    if title.contains(['\n', '\r']) {
        return Err(EngineError::invalid("title must be one line.", "title"));
    }
    let count = title.chars().count();
    if count > MAX_TITLE {
        return Err(EngineError::invalid(
            format!("title is {count} characters; the most is {MAX_TITLE}."),
            "title",
        ));
    }
    Ok(title.to_string())
}

/// An assistant's tools: each kind checks its own definition; no two share a name.
pub fn tools(tools: &[Tool]) -> EngineResult<()> {
    let mut names = HashSet::new();
    for (i, tool) in tools.iter().enumerate() {
        crate::run::check_definition(i, tool)?;
        if let Some(name) = tool.call_name() {
            if !names.insert(name.to_string()) {
                return Err(EngineError::Invalid {
                    message: format!("tools[{i}]: a second tool named '{name}'."),
                    param: Some(format!("tools[{i}]")),
                });
            }
        }
    }
    Ok(())
}

pub fn metadata(metadata: &BTreeMap<String, String>) -> EngineResult<()> {
    if metadata.len() > 16 {
        return Err(EngineError::invalid(
            "metadata has more than 16 keys.",
            "metadata",
        ));
    }
    for (key, value) in metadata {
        if key.is_empty() || key.chars().count() > 64 {
            return Err(EngineError::invalid(
                format!("metadata key {key:?} must be 1-64 characters."),
                "metadata",
            ));
        }
        if value.chars().count() > 512 {
            return Err(EngineError::invalid(
                format!("metadata.{key} is longer than 512 characters."),
                "metadata",
            ));
        }
    }
    Ok(())
}

/// A title from free text: its first line, at most 80 characters.
pub fn clip_title(text: &str) -> String {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    let mut title: String = line.chars().take(80).collect();
    if title.len() < line.len() {
        title.push('…');
    }
    title
}

fn file_id(id: &str, param: &'static str) -> EngineResult<()> {
    if !id.starts_with("file_") || id.len() > 128 {
        return Err(EngineError::invalid(
            format!("{id:?} is not a file id."),
            param,
        ));
    }
    Ok(())
}

pub fn message(request: &MessageCreate) -> EngineResult<()> {
    match &request.content {
        None if request.role == Role::User => {
            return Err(EngineError::invalid(
                "A user message needs content.",
                "content",
            ));
        }
        Some(Content::Text(text)) if request.role == Role::User && text.trim().is_empty() => {
            return Err(EngineError::invalid(
                "content must not be empty.",
                "content",
            ));
        }
        Some(Content::Parts(parts)) => {
            if parts.is_empty() {
                return Err(EngineError::invalid(
                    "content must not be an empty list.",
                    "content",
                ));
            }
            for part in parts {
                if let ContentPart::File { file_id: id } = part {
                    file_id(id, "content")?;
                }
            }
        }
        _ => {}
    }
    for attachment in &request.attachments {
        file_id(&attachment.file_id, "attachments")?;
    }
    if request.role != Role::Tool && request.tool_call_id.is_some() {
        return Err(EngineError::invalid(
            "tool_call_id belongs on role 'tool' messages.",
            "tool_call_id",
        ));
    }
    Ok(())
}
