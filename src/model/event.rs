use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The SSE event types of SPEC §3.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum EventKind {
    #[serde(rename = "thread.created")]
    ThreadCreated,
    #[serde(rename = "thread.updated")]
    ThreadUpdated,
    #[serde(rename = "message.created")]
    MessageCreated,
    #[serde(rename = "message.delta")]
    MessageDelta,
    #[serde(rename = "reasoning.delta")]
    ReasoningDelta,
    #[serde(rename = "tool_call.created")]
    ToolCallCreated,
    #[serde(rename = "tool_call.delta")]
    ToolCallDelta,
    #[serde(rename = "tool_call.output")]
    ToolCallOutput,
    #[serde(rename = "routing")]
    Routing,
    #[serde(rename = "memory.updated")]
    MemoryUpdated,
    #[serde(rename = "message.completed")]
    MessageCompleted,
    #[serde(rename = "telemetry")]
    Telemetry,
    #[serde(rename = "error")]
    Error,
    #[serde(rename = "done")]
    Done,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::ThreadCreated => "thread.created",
            EventKind::ThreadUpdated => "thread.updated",
            EventKind::MessageCreated => "message.created",
            EventKind::MessageDelta => "message.delta",
            EventKind::ReasoningDelta => "reasoning.delta",
            EventKind::ToolCallCreated => "tool_call.created",
            EventKind::ToolCallDelta => "tool_call.delta",
            EventKind::ToolCallOutput => "tool_call.output",
            EventKind::Routing => "routing",
            EventKind::MemoryUpdated => "memory.updated",
            EventKind::MessageCompleted => "message.completed",
            EventKind::Telemetry => "telemetry",
            EventKind::Error => "error",
            EventKind::Done => "done",
        }
    }
}

/// One event of the log that SSE streams and resumes from.
///
/// `data` is what goes on the wire; the other fields route and scope it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Event {
    pub id: u64,
    pub kind: EventKind,
    pub project_id: String,
    pub thread_id: String,
    pub assistant_id: Option<String>,
    /// The reply message this event belongs to, for the per-message stream.
    pub message_id: Option<String>,
    pub data: Value,
}
