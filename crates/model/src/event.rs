//! The event protocol of SPEC §3: one enum, a payload struct per SSE event type.
//!
//! The engine builds these values, the SSE writer serialises each once, and the client
//! decodes the wire back into the same enum. Nothing outside this module matches event
//! names or probes event JSON.

use super::memory::MemoryView;
use super::{ErrorBody, Message, Thread, ToolCall, ToolCallStatus};
use serde::{Deserialize, Serialize};

/// `thread.created`, `thread.updated`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ThreadEvent {
    pub thread_id: String,
    pub thread: Thread,
}

/// `message.created`, `message.completed`: the whole message.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MessageEvent {
    pub thread_id: String,
    pub message_id: String,
    pub message: Message,
}

/// `message.delta`, `reasoning.delta`: the new text.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TextDelta {
    pub thread_id: String,
    pub message_id: String,
    pub delta: String,
}

/// `tool_call.created`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ToolCallCreated {
    pub thread_id: String,
    pub message_id: String,
    pub tool_call: ToolCall,
}

/// `tool_call.delta`: arguments as they stream.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ToolCallDelta {
    pub thread_id: String,
    pub message_id: String,
    pub tool_call_id: String,
    pub delta: String,
}

/// `tool_call.output.delta`: output of a call as it runs (a command's stdout and stderr,
/// the interpreter's prints, an MCP server's progress, a webhook's body as it arrives),
/// bounded like every output; `tool_call.output` then brings the whole result.
pub type ToolCallOutputDelta = ToolCallDelta;

/// `tool_call.output`: a call's result or new status.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ToolCallOutput {
    pub thread_id: String,
    pub message_id: String,
    pub tool_call_id: String,
    pub output: Option<String>,
    pub latency_ms: Option<u64>,
    pub status: ToolCallStatus,
}

/// `routing`: one hop of agent-to-agent routing.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Routing {
    pub thread_id: String,
    pub message_id: Option<String>,
    pub tool_call_id: String,
    pub from_assistant_id: String,
    pub to_assistant_id: String,
    pub from_thread_id: String,
    pub to_thread_id: String,
    pub to_message_id: String,
}

/// `memory.updated`: the thread's memory as it now is.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MemoryUpdated {
    pub thread_id: String,
    pub memory: MemoryView,
}

/// `telemetry`: one model or tool call, in the seed guide's shape.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Telemetry {
    pub event: TelemetryKind,
    /// RFC 3339, UTC (`2026-06-01T12:00:00Z`).
    pub timestamp: String,
    pub assistant_id: Option<String>,
    pub thread_id: String,
    /// The tool called (`tool_call`), or none.
    pub tool: Option<String>,
    pub latency_ms: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Why the call is of note to safety, or null.
    pub safety_flag: Option<SafetyFlag>,
}

/// What a telemetry line is about.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TelemetryKind {
    ModelCall,
    ToolCall,
}

/// Why a call is of note to safety.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SafetyFlag {
    /// Personal data was redacted from what the model was sent.
    PiiRedacted,
}

/// `error`: why a reply failed or ended incomplete.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ErrorEvent {
    pub thread_id: String,
    pub message_id: String,
    pub error: ErrorBody,
}

/// `done`: the last event of a reply.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Done {
    pub thread_id: String,
    pub message_id: String,
}

/// Every SSE event type, with its payload.
#[derive(Debug, Clone, PartialEq)]
pub enum EventPayload {
    ThreadCreated(Box<ThreadEvent>),
    ThreadUpdated(Box<ThreadEvent>),
    MessageCreated(Box<MessageEvent>),
    MessageDelta(TextDelta),
    ReasoningDelta(TextDelta),
    ToolCallCreated(Box<ToolCallCreated>),
    ToolCallDelta(ToolCallDelta),
    ToolCallOutput(ToolCallOutput),
    ToolCallOutputDelta(ToolCallOutputDelta),
    Routing(Routing),
    MemoryUpdated(Box<MemoryUpdated>),
    MessageCompleted(Box<MessageEvent>),
    Telemetry(Box<Telemetry>),
    Error(ErrorEvent),
    Done(Done),
    /// An event type this build does not know (a newer server), or one whose data did
    /// not decode: kept as received, never an error.
    Other {
        event: String,
        data: String,
    },
}

/// The kind of an event without its payload, for filters and the log's bookkeeping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    ThreadCreated,
    ThreadUpdated,
    MessageCreated,
    MessageDelta,
    ReasoningDelta,
    ToolCallCreated,
    ToolCallDelta,
    ToolCallOutput,
    ToolCallOutputDelta,
    Routing,
    MemoryUpdated,
    MessageCompleted,
    Telemetry,
    Error,
    Done,
    Other,
}

impl EventKind {
    pub const ALL: [EventKind; 15] = [
        EventKind::ThreadCreated,
        EventKind::ThreadUpdated,
        EventKind::MessageCreated,
        EventKind::MessageDelta,
        EventKind::ReasoningDelta,
        EventKind::ToolCallCreated,
        EventKind::ToolCallDelta,
        EventKind::ToolCallOutput,
        EventKind::ToolCallOutputDelta,
        EventKind::Routing,
        EventKind::MemoryUpdated,
        EventKind::MessageCompleted,
        EventKind::Telemetry,
        EventKind::Error,
        EventKind::Done,
    ];

    /// The SSE `event:` name.
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
            EventKind::ToolCallOutputDelta => "tool_call.output.delta",
            EventKind::Routing => "routing",
            EventKind::MemoryUpdated => "memory.updated",
            EventKind::MessageCompleted => "message.completed",
            EventKind::Telemetry => "telemetry",
            EventKind::Error => "error",
            EventKind::Done => "done",
            EventKind::Other => "other",
        }
    }

    pub fn from_name(name: &str) -> EventKind {
        EventKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name)
            .unwrap_or(EventKind::Other)
    }

    /// Streamed fragments: kept in memory for live readers and resumes, compacted into
    /// their message rather than logged one by one.
    pub fn is_delta(self) -> bool {
        matches!(
            self,
            EventKind::MessageDelta
                | EventKind::ReasoningDelta
                | EventKind::ToolCallDelta
                | EventKind::ToolCallOutputDelta
        )
    }
}

impl EventPayload {
    pub fn thread_created(thread: &Thread) -> Self {
        EventPayload::ThreadCreated(Box::new(ThreadEvent {
            thread_id: thread.id.clone(),
            thread: thread.clone(),
        }))
    }

    pub fn thread_updated(thread: &Thread) -> Self {
        EventPayload::ThreadUpdated(Box::new(ThreadEvent {
            thread_id: thread.id.clone(),
            thread: thread.clone(),
        }))
    }

    pub fn message_created(message: &Message) -> Self {
        EventPayload::MessageCreated(Box::new(MessageEvent {
            thread_id: message.thread_id.clone(),
            message_id: message.id.clone(),
            message: message.clone(),
        }))
    }

    pub fn message_completed(message: &Message) -> Self {
        EventPayload::MessageCompleted(Box::new(MessageEvent {
            thread_id: message.thread_id.clone(),
            message_id: message.id.clone(),
            message: message.clone(),
        }))
    }

    pub fn tool_call_created(message: &Message, call: &ToolCall) -> Self {
        EventPayload::ToolCallCreated(Box::new(ToolCallCreated {
            thread_id: message.thread_id.clone(),
            message_id: message.id.clone(),
            tool_call: call.clone(),
        }))
    }

    /// `tool_call.delta`: more of a call's arguments as they stream.
    pub fn tool_call_delta(message: &Message, tool_call_id: &str, delta: String) -> Self {
        EventPayload::ToolCallDelta(ToolCallDelta {
            thread_id: message.thread_id.clone(),
            message_id: message.id.clone(),
            tool_call_id: tool_call_id.to_string(),
            delta,
        })
    }

    pub fn tool_call_output(message: &Message, call: &ToolCall) -> Self {
        EventPayload::ToolCallOutput(ToolCallOutput {
            thread_id: message.thread_id.clone(),
            message_id: message.id.clone(),
            tool_call_id: call.id.clone(),
            output: call.output.clone(),
            latency_ms: call.latency_ms,
            status: call.status,
        })
    }

    pub fn error(message: &Message, error: &ErrorBody) -> Self {
        EventPayload::Error(ErrorEvent {
            thread_id: message.thread_id.clone(),
            message_id: message.id.clone(),
            error: error.clone(),
        })
    }

    pub fn done(message: &Message) -> Self {
        EventPayload::Done(Done {
            thread_id: message.thread_id.clone(),
            message_id: message.id.clone(),
        })
    }

    pub fn kind(&self) -> EventKind {
        match self {
            EventPayload::ThreadCreated(_) => EventKind::ThreadCreated,
            EventPayload::ThreadUpdated(_) => EventKind::ThreadUpdated,
            EventPayload::MessageCreated(_) => EventKind::MessageCreated,
            EventPayload::MessageDelta(_) => EventKind::MessageDelta,
            EventPayload::ReasoningDelta(_) => EventKind::ReasoningDelta,
            EventPayload::ToolCallCreated(_) => EventKind::ToolCallCreated,
            EventPayload::ToolCallDelta(_) => EventKind::ToolCallDelta,
            EventPayload::ToolCallOutput(_) => EventKind::ToolCallOutput,
            EventPayload::ToolCallOutputDelta(_) => EventKind::ToolCallOutputDelta,
            EventPayload::Routing(_) => EventKind::Routing,
            EventPayload::MemoryUpdated(_) => EventKind::MemoryUpdated,
            EventPayload::MessageCompleted(_) => EventKind::MessageCompleted,
            EventPayload::Telemetry(_) => EventKind::Telemetry,
            EventPayload::Error(_) => EventKind::Error,
            EventPayload::Done(_) => EventKind::Done,
            EventPayload::Other { .. } => EventKind::Other,
        }
    }

    /// The SSE `event:` name (an unknown event keeps the name it came with).
    pub fn name(&self) -> &str {
        match self {
            EventPayload::Other { event, .. } => event,
            other => other.kind().as_str(),
        }
    }

    /// The thread the event belongs to ("" for an unknown event without one).
    pub fn thread_id(&self) -> &str {
        match self {
            EventPayload::ThreadCreated(e) | EventPayload::ThreadUpdated(e) => &e.thread_id,
            EventPayload::MessageCreated(e) | EventPayload::MessageCompleted(e) => &e.thread_id,
            EventPayload::MessageDelta(e) | EventPayload::ReasoningDelta(e) => &e.thread_id,
            EventPayload::ToolCallCreated(e) => &e.thread_id,
            EventPayload::ToolCallDelta(e) | EventPayload::ToolCallOutputDelta(e) => &e.thread_id,
            EventPayload::ToolCallOutput(e) => &e.thread_id,
            EventPayload::Routing(e) => &e.thread_id,
            EventPayload::MemoryUpdated(e) => &e.thread_id,
            EventPayload::Telemetry(e) => &e.thread_id,
            EventPayload::Error(e) => &e.thread_id,
            EventPayload::Done(e) => &e.thread_id,
            EventPayload::Other { .. } => "",
        }
    }

    /// The message the event is about, if any.
    pub fn message_id(&self) -> Option<&str> {
        match self {
            EventPayload::MessageCreated(e) | EventPayload::MessageCompleted(e) => {
                Some(&e.message_id)
            }
            EventPayload::MessageDelta(e) | EventPayload::ReasoningDelta(e) => Some(&e.message_id),
            EventPayload::ToolCallCreated(e) => Some(&e.message_id),
            EventPayload::ToolCallDelta(e) | EventPayload::ToolCallOutputDelta(e) => {
                Some(&e.message_id)
            }
            EventPayload::ToolCallOutput(e) => Some(&e.message_id),
            EventPayload::Routing(e) => e.message_id.as_deref(),
            EventPayload::Error(e) => Some(&e.message_id),
            EventPayload::Done(e) => Some(&e.message_id),
            _ => None,
        }
    }

    /// The `data:` JSON of the event, written once per event.
    pub fn to_json(&self) -> String {
        fn json<T: Serialize>(value: &T) -> String {
            // These payloads are plain data (strings, numbers, maps with string keys):
            // serialising them cannot fail.
            serde_json::to_string(value).unwrap_or_else(|_| "{}".into())
        }
        match self {
            EventPayload::ThreadCreated(e) | EventPayload::ThreadUpdated(e) => json(e),
            EventPayload::MessageCreated(e) | EventPayload::MessageCompleted(e) => json(e),
            EventPayload::MessageDelta(e) | EventPayload::ReasoningDelta(e) => json(e),
            EventPayload::ToolCallCreated(e) => json(e),
            EventPayload::ToolCallDelta(e) | EventPayload::ToolCallOutputDelta(e) => json(e),
            EventPayload::ToolCallOutput(e) => json(e),
            EventPayload::Routing(e) => json(e),
            EventPayload::MemoryUpdated(e) => json(e),
            EventPayload::Telemetry(e) => json(e),
            EventPayload::Error(e) => json(e),
            EventPayload::Done(e) => json(e),
            EventPayload::Other { data, .. } => data.clone(),
        }
    }

    /// Decodes an event from its name and `data:` JSON. Never fails: an unknown name, or
    /// data that does not fit the name, becomes [`EventPayload::Other`].
    pub fn decode(name: &str, data: &str) -> EventPayload {
        fn parse<T: serde::de::DeserializeOwned>(data: &str) -> Option<T> {
            serde_json::from_str(data).ok()
        }
        let decoded = match EventKind::from_name(name) {
            EventKind::ThreadCreated => {
                parse(data).map(|e| EventPayload::ThreadCreated(Box::new(e)))
            }
            EventKind::ThreadUpdated => {
                parse(data).map(|e| EventPayload::ThreadUpdated(Box::new(e)))
            }
            EventKind::MessageCreated => {
                parse(data).map(|e| EventPayload::MessageCreated(Box::new(e)))
            }
            EventKind::MessageDelta => parse(data).map(EventPayload::MessageDelta),
            EventKind::ReasoningDelta => parse(data).map(EventPayload::ReasoningDelta),
            EventKind::ToolCallCreated => {
                parse(data).map(|e| EventPayload::ToolCallCreated(Box::new(e)))
            }
            EventKind::ToolCallDelta => parse(data).map(EventPayload::ToolCallDelta),
            EventKind::ToolCallOutput => parse(data).map(EventPayload::ToolCallOutput),
            EventKind::ToolCallOutputDelta => parse(data).map(EventPayload::ToolCallOutputDelta),
            EventKind::Routing => parse(data).map(EventPayload::Routing),
            EventKind::MemoryUpdated => {
                parse(data).map(|e| EventPayload::MemoryUpdated(Box::new(e)))
            }
            EventKind::MessageCompleted => {
                parse(data).map(|e| EventPayload::MessageCompleted(Box::new(e)))
            }
            EventKind::Telemetry => parse(data).map(|e| EventPayload::Telemetry(Box::new(e))),
            EventKind::Error => parse(data).map(EventPayload::Error),
            EventKind::Done => parse(data).map(EventPayload::Done),
            EventKind::Other => None,
        };
        decoded.unwrap_or_else(|| EventPayload::Other {
            event: name.to_string(),
            data: data.to_string(),
        })
    }
}

/// One event of the runtime: its id in the per-server sequence, where it belongs (for
/// filtering who may see it), and its payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: u64,
    pub project_id: String,
    pub assistant_id: Option<String>,
    pub payload: EventPayload,
}

impl Event {
    pub fn kind(&self) -> EventKind {
        self.payload.kind()
    }

    pub fn thread_id(&self) -> &str {
        self.payload.thread_id()
    }

    pub fn message_id(&self) -> Option<&str> {
        self.payload.message_id()
    }
}

/// How an event is kept in the durable log: the routing fields, and its data either as
/// written or as a reference to what it showed, which lives once in the store (a message,
/// a tool call in it, a thread, a memory) and is read back when the event is replayed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LoggedEvent {
    #[serde(rename = "i")]
    pub id: u64,
    #[serde(rename = "e")]
    pub event: String,
    #[serde(rename = "p")]
    pub project_id: String,
    #[serde(rename = "t")]
    pub thread_id: String,
    #[serde(rename = "a", default, skip_serializing_if = "Option::is_none")]
    pub assistant_id: Option<String>,
    #[serde(rename = "m", default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(rename = "d")]
    pub data: LoggedData,
}

/// The data of a logged event.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub enum LoggedData {
    /// The `data:` JSON as written (small events: routing, errors, `done`, telemetry).
    #[serde(rename = "j")]
    Json(String),
    /// `message.created` / `message.completed`: the stored message (as it was created,
    /// for a reply's `message.created`).
    #[serde(rename = "m")]
    Message,
    /// `tool_call.created` / `tool_call.output`: a call of the stored message, with the
    /// status the event reported.
    #[serde(rename = "c")]
    ToolCall {
        #[serde(rename = "c")]
        call_id: String,
        #[serde(rename = "s")]
        status: ToolCallStatus,
    },
    /// `thread.created` / `thread.updated`: the stored thread, with the status it had.
    #[serde(rename = "t")]
    Thread {
        #[serde(rename = "s")]
        status: super::ThreadStatus,
    },
    /// `memory.updated`: the thread's memory.
    #[serde(rename = "y")]
    Memory,
}

impl LoggedData {
    /// What the log keeps of a payload (its JSON, or a reference).
    pub fn of(payload: &EventPayload, json: &str) -> LoggedData {
        match payload {
            EventPayload::MessageCreated(_) | EventPayload::MessageCompleted(_) => {
                LoggedData::Message
            }
            EventPayload::ToolCallCreated(e) => LoggedData::ToolCall {
                call_id: e.tool_call.id.clone(),
                status: e.tool_call.status,
            },
            EventPayload::ToolCallOutput(e) => LoggedData::ToolCall {
                call_id: e.tool_call_id.clone(),
                status: e.status,
            },
            EventPayload::ThreadCreated(e) | EventPayload::ThreadUpdated(e) => LoggedData::Thread {
                status: e.thread.status,
            },
            EventPayload::MemoryUpdated(_) => LoggedData::Memory,
            _ => LoggedData::Json(json.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_its_name() {
        for kind in EventKind::ALL {
            assert_eq!(EventKind::from_name(kind.as_str()), kind);
        }
        assert_eq!(EventKind::from_name("nope"), EventKind::Other);
    }

    #[test]
    fn a_delta_round_trips_through_its_wire_form() {
        let payload = EventPayload::MessageDelta(TextDelta {
            thread_id: "thread_1".into(),
            message_id: "msg_1".into(),
            delta: "héllo \"world\"\n".into(),
        });
        let data = payload.to_json();
        assert_eq!(EventPayload::decode("message.delta", &data), payload);
        assert!(data.contains("\"thread_id\":\"thread_1\""));
    }

    #[test]
    fn unknown_or_mismatched_events_decode_to_other() {
        let unknown = EventPayload::decode("agent.dreamed", "{\"x\":1}");
        assert_eq!(unknown.name(), "agent.dreamed");
        assert_eq!(unknown.kind(), EventKind::Other);
        let mismatched = EventPayload::decode("message.delta", "{\"nope\":true}");
        assert_eq!(mismatched.kind(), EventKind::Other);
        let garbage = EventPayload::decode("done", "not json");
        assert_eq!(garbage.to_json(), "not json");
    }
}

#[cfg(test)]
mod log_tests {
    use super::*;

    #[test]
    fn big_payloads_are_logged_as_references() {
        let done = EventPayload::Done(Done {
            thread_id: "t".into(),
            message_id: "m".into(),
        });
        let json = done.to_json();
        assert_eq!(LoggedData::of(&done, &json), LoggedData::Json(json.clone()));
        let logged = LoggedEvent {
            id: 9,
            event: "done".into(),
            project_id: "p".into(),
            thread_id: "t".into(),
            assistant_id: None,
            message_id: Some("m".into()),
            data: LoggedData::Thread {
                status: crate::ThreadStatus::Running,
            },
        };
        let bytes = serde_json::to_string(&logged).unwrap();
        assert!(bytes.len() < 80, "{bytes}");
        assert_eq!(serde_json::from_str::<LoggedEvent>(&bytes).unwrap(), logged);
    }
}
