//! Model providers: each turns its wire format into one internal event stream.

pub mod anthropic;
pub mod embeddings;
pub mod http;
pub mod local;
pub mod openai_chat;
pub mod openai_responses;

use futures::stream::BoxStream;
use serde_json::Value;

/// What a model sees of a thread.
#[derive(Debug, Clone, PartialEq)]
pub enum ContextItem {
    User(String),
    /// An image the user message before it carries (each wire format puts it in that
    /// message, in its own shape).
    Image(ImageInput),
    Assistant(String),
    /// The calls one model step made.
    ToolCalls(Vec<ContextToolCall>),
    ToolResult {
        call_id: String,
        name: String,
        output: String,
    },
}

/// An image for the model: already within the size a provider takes.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageInput {
    pub name: String,
    /// `image/png`, `image/jpeg`, `image/gif` or `image/webp`.
    pub media_type: String,
    pub width: u32,
    pub height: u32,
    /// The bytes, base64 (shared: a context is rebuilt for every model step).
    pub base64: std::sync::Arc<str>,
}

impl ImageInput {
    pub fn data_url(&self) -> String {
        format!("data:{};base64,{}", self.media_type, self.base64)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ContextToolCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

/// A tool as offered to the model.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    pub parameters: Value,
}

/// An assistant this one may route to, for the `route_to_assistant` tool.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteTarget {
    pub id: String,
    pub name: String,
}

/// The name of the tool that hands work to another assistant.
pub const ROUTING_TOOL: &str = "route_to_assistant";

#[derive(Debug, Clone, PartialEq)]
pub struct ModelRequest {
    pub purpose: Purpose,
    pub model: String,
    pub assistant_name: String,
    pub instructions: String,
    pub context: Vec<ContextItem>,
    pub tools: Vec<ToolSpec>,
    pub routes: Vec<RouteTarget>,
    /// The most output tokens this call may produce (the reply's remaining budget).
    pub max_output_tokens: u32,
}

/// What a model call is for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Purpose {
    /// The assistant's reply in a run.
    #[default]
    Reply,
    /// Rewriting a thread's memory summary (no tools).
    Summary,
}

/// One event of a model's stream, the same for every provider.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelEvent {
    TextDelta(String),
    ReasoningDelta(String),
    /// A new reasoning step begins (a summary part, a thinking block).
    ReasoningStep,
    ToolCallStart {
        index: usize,
        id: String,
        name: String,
    },
    ToolCallArguments {
        index: usize,
        delta: String,
    },
    Usage {
        input_tokens: u64,
        output_tokens: u64,
    },
    Finished,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ProviderError {
    /// HTTP status, when the provider gave one.
    pub status: Option<u16>,
    pub code: String,
    pub message: String,
    /// Worth trying again (before anything reached a client).
    pub retryable: bool,
    /// How long the provider asked us to wait.
    pub retry_after: Option<std::time::Duration>,
}

/// Error codes that mean "try again later".
pub fn retryable_code(code: &str) -> bool {
    matches!(
        code,
        "rate_limit_exceeded"
            | "rate_limit_error"
            | "server_error"
            | "api_error"
            | "overloaded"
            | "overloaded_error"
            | "timeout"
            | "connection_error"
            | "stream_cut"
            | "idle_timeout"
    )
}

impl ProviderError {
    /// An error reported by code (in a stream or an error body); retryable by its code.
    /// The code comes from the provider, so it is kept to what a code is made of (ASCII
    /// letters, digits, `_ . -`, at most 64), and an empty one becomes `provider_error`.
    pub fn coded(code: impl Into<String>, message: impl Into<String>) -> Self {
        let code: String = code
            .into()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
            .take(64)
            .collect();
        let code = if code.is_empty() {
            "provider_error".to_string()
        } else {
            code
        };
        let message = message.into();
        let message = if message.trim().is_empty() {
            "the provider reported an error".to_string()
        } else {
            message
        };
        ProviderError {
            status: None,
            retryable: retryable_code(&code),
            code,
            message,
            retry_after: None,
        }
    }

    pub fn from_status(status: u16, message: impl Into<String>) -> Self {
        let code = match status {
            400 => "invalid_request_error",
            401 => "invalid_api_key",
            402 => "insufficient_quota",
            403 => "permission_denied",
            404 => "model_not_found",
            408 => "timeout",
            409 => "conflict",
            429 => "rate_limit_exceeded",
            503 => "overloaded",
            _ if status >= 500 => "server_error",
            _ => "provider_error",
        };
        ProviderError {
            status: Some(status),
            code: code.into(),
            message: message.into(),
            retryable: matches!(status, 408 | 409 | 429 | 500..=599),
            retry_after: None,
        }
    }
}

pub type ModelStream = BoxStream<'static, Result<ModelEvent, ProviderError>>;

/// A source of model streams.
pub trait Provider: Send + Sync {
    fn stream(&self, request: ModelRequest) -> ModelStream;
}
