//! Spans received over OTLP, as the engine reads them: the wire's nesting (resource →
//! scope → span) flattened, ids in hex, attribute values as JSON. The API layer decodes
//! the wire (protobuf or JSON) into these; the engine maps them onto assistants, threads,
//! messages, tool calls and routes.

use serde_json::Value;

/// One span, with what its resource says about the process that sent it.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    /// 32 hex digits.
    pub trace_id: String,
    /// 16 hex digits.
    pub span_id: String,
    /// None for a trace's root span.
    pub parent_span_id: Option<String>,
    pub name: String,
    /// Nanoseconds since the Unix epoch, as the sender's clock read them.
    pub start_unix_nano: u64,
    pub end_unix_nano: u64,
    pub status: SpanStatus,
    /// The span's attributes, in the order they came, bounded by the receiver.
    pub attributes: Vec<(String, Value)>,
    /// The span's events (OTel span events), each a name with attributes.
    pub events: Vec<SpanEvent>,
    /// `service.name` of the resource (`unknown_service` when the sender set none).
    pub service: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SpanEvent {
    pub name: String,
    pub time_unix_nano: u64,
    pub attributes: Vec<(String, Value)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpanStatus {
    Unset,
    Ok,
    Error(String),
}

impl Span {
    /// The first attribute named `key`.
    pub fn attr(&self, key: &str) -> Option<&Value> {
        self.attributes
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value)
    }

    /// The first of `keys` that is set to a non-empty string (numbers and booleans are
    /// written as text).
    pub fn text(&self, keys: &[&str]) -> Option<String> {
        keys.iter().find_map(|key| match self.attr(key)? {
            Value::String(text) if !text.is_empty() => Some(text.clone()),
            Value::Number(number) => Some(number.to_string()),
            Value::Bool(flag) => Some(flag.to_string()),
            _ => None,
        })
    }

    /// The first of `keys` that holds a whole number (or text that reads as one).
    pub fn count(&self, keys: &[&str]) -> Option<u64> {
        keys.iter().find_map(|key| match self.attr(key)? {
            Value::Number(number) => number
                .as_u64()
                .or_else(|| number.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
            Value::String(text) => text.trim().parse().ok(),
            _ => None,
        })
    }

    /// How long the span took, in whole milliseconds.
    pub fn duration_ms(&self) -> u64 {
        self.end_unix_nano.saturating_sub(self.start_unix_nano) / 1_000_000
    }

    /// When the span started, in whole seconds since the epoch.
    pub fn start_secs(&self) -> u64 {
        self.start_unix_nano / 1_000_000_000
    }
}
