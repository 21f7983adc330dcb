//! What both sides of agentdeck share, and no I/O: the v2 API's JSON shapes of SPEC §3,
//! ids and timestamps, the typed event protocol (`event`), and the leaf pieces — SSE
//! framing (`sse`), sanitizing untrusted text for a terminal (`text`), the configuration
//! (`config`).

pub mod config;
pub mod sse;
pub mod sync;
pub mod text;

mod documents;
pub mod event;
mod ids;
pub mod memory;
pub mod requests;
pub mod spans;
mod tools;

pub use documents::*;
pub use tools::*;

pub use requests::ThreadQuery;

pub use event::{Event, EventKind, EventPayload, LoggedData, LoggedEvent};
pub use ids::{hash_key, new_id, new_secret, now_secs, path_segment, rfc3339};

/// The response header naming the event id a listing is current as of.
pub const EVENT_ID_HEADER: &str = "agentdeck-event-id";

/// The project made on first start of an empty data dir.
pub const GETTING_STARTED_PROJECT: &str = "Getting started";

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// Default project limits, the figures the seed guide shows.
pub const DEFAULT_TOKENS_PER_MINUTE: u64 = 100_000;
pub const DEFAULT_CONCURRENT_THREADS: u64 = 500;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Project {
    pub id: String,
    pub object: String,
    pub name: String,
    pub description: Option<String>,
    pub assistant_type: Option<String>,
    pub created_at: u64,
    pub limits: Limits,
    pub logs_webhook: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    pub tokens_per_minute: u64,
    pub concurrent_threads: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            tokens_per_minute: DEFAULT_TOKENS_PER_MINUTE,
            concurrent_threads: DEFAULT_CONCURRENT_THREADS,
        }
    }
}

/// Who may call tools of an assistant without an operator's approval.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Approval {
    #[default]
    Never,
    Always,
    OnWrite,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Assistant {
    pub id: String,
    pub object: String,
    pub project_id: String,
    pub name: String,
    pub instructions: String,
    pub model: String,
    pub tools: Vec<Tool>,
    pub memory: MemoryConfig,
    pub safety: Safety,
    pub privacy: Privacy,
    pub routes_to: Vec<String>,
    pub approval: Approval,
    /// The output bound of one reply (all its model calls); the server's default when
    /// unset, never above the server's ceiling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u32>,
    pub created_at: u64,
    /// An assistant that runs elsewhere and is only watched here (its spans arrive over
    /// OpenTelemetry, its model calls through the gateway): it cannot be posted to,
    /// edited or run.
    #[serde(
        default,
        skip_serializing_if = "std::ops::Not::not",
        deserialize_with = "external_flag"
    )]
    pub external: bool,
    /// Where an external assistant's runs come from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<AssistantSource>,
    /// A coding agent's settings (`"model": "claude-code"` or `"codex"`): where and how it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<Box<CodingAgent>>,
}

/// The model of an assistant that is Claude Code, run headless.
pub const CLAUDE_CODE_MODEL: &str = "claude-code";
/// The model of an assistant that is Codex, run through its app-server.
pub const CODEX_MODEL: &str = "codex";

/// How a coding agent runs (SPEC §3, `"agent"`): its directory, its environment, the
/// agent's own tools and permission mode, and the model it is pointed at.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct CodingAgent {
    /// The directory it works in; a directory of the thread's own under the data dir
    /// when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workdir: Option<String>,
    /// Each thread works in a git worktree of its own of `workdir` (a repository), on a
    /// branch `agentdeck/THREAD`, under the data dir.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub worktree: bool,
    /// The only environment it gets (besides `PATH`, its `HOME` and the provider's
    /// address and key).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub env: std::collections::BTreeMap<String, String>,
    /// The agent's own tools it may use, by its names (default Bash, Read, Edit, Write,
    /// Glob, Grep).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<String>>,
    /// Claude Code's permission mode: `default` (what needs a permission is refused), `acceptEdits`,
    /// `plan` or `bypassPermissions`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission_mode: Option<String>,
    /// Codex's approval policy: `untrusted` (the default: what is not known to be safe
    /// waits for the operator), `on-request`, `on-failure` or `never`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_policy: Option<String>,
    /// Codex's sandbox: `read-only`, `workspace-write` (the default) or
    /// `danger-full-access`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<String>,
    /// The model it uses, served by the provider of agentdeck's config that claims it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The program and its first arguments (default `claude` or `codex`, from `PATH`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
}

/// `external` as stored: a flag, or (written before it was one) the source object.
fn external_flag<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::Bool(flag) => flag,
        Value::Null => false,
        _ => true,
    })
}

/// Where an external assistant runs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AssistantSource {
    /// The process that runs it: its `service.name`, or the agent name a gateway call gave.
    pub service: String,
    /// How its runs reach agentdeck: `otlp` or `gateway`.
    pub via: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct MemoryConfig {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default)]
    pub summary_method: Option<String>,
    /// Tokens of recent turns kept verbatim (default 2000); older turns are summarised
    /// and retrieved instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_tokens: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct Safety {
    #[serde(default)]
    pub strict: bool,
    #[serde(default)]
    pub allowed_domains: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Privacy {
    #[serde(default = "privacy_mode_off")]
    pub mode: PrivacyMode,
    #[serde(default)]
    pub allowed_entities: Vec<String>,
}

fn privacy_mode_off() -> PrivacyMode {
    PrivacyMode::Off
}

impl Default for Privacy {
    fn default() -> Self {
        Privacy {
            mode: PrivacyMode::Off,
            allowed_entities: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PrivacyMode {
    Off,
    Strict,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum ThreadStatus {
    Active,
    /// A run waits for its project's limits (a free slot, tokens this minute).
    Queued,
    Running,
    RequiresAction,
    Closed,
}

impl ThreadStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ThreadStatus::Active => "active",
            ThreadStatus::Queued => "queued",
            ThreadStatus::Running => "running",
            ThreadStatus::RequiresAction => "requires_action",
            ThreadStatus::Closed => "closed",
        }
    }

    pub fn parse(text: &str) -> Option<ThreadStatus> {
        match text {
            "active" => Some(ThreadStatus::Active),
            "queued" => Some(ThreadStatus::Queued),
            "running" => Some(ThreadStatus::Running),
            "requires_action" => Some(ThreadStatus::RequiresAction),
            "closed" => Some(ThreadStatus::Closed),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Thread {
    pub id: String,
    pub object: String,
    pub project_id: String,
    pub assistant_id: String,
    pub created_at: u64,
    pub updated_at: u64,
    pub status: ThreadStatus,
    pub metadata: BTreeMap<String, String>,
    pub title: Option<String>,
    pub parent_thread_id: Option<String>,
    /// USD, from usage and the price table: every reply of the thread (an extension of
    /// the seed's shape, left out while zero).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub estimated_cost: f64,
    /// How the thread's newest reply ended (an extension of the seed's shape, left out
    /// before the first reply ends): a thread whose last run failed is `failed` here,
    /// whatever `status` says about what runs now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_reply_status: Option<MessageStatus>,
}

impl Thread {
    /// Its newest reply failed and nothing runs or waits in it now.
    pub fn failed(&self) -> bool {
        self.last_reply_status == Some(MessageStatus::Failed)
            && matches!(self.status, ThreadStatus::Active | ThreadStatus::Closed)
    }
}

fn is_zero(value: &f64) -> bool {
    *value == 0.0
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    User,
    Assistant,
    Tool,
    System,
}

impl Role {
    /// The role as the API writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
            Role::System => "system",
        }
    }

    /// A role as the API writes it; `None` for anything else.
    pub fn parse(name: &str) -> Option<Role> {
        [Role::User, Role::Assistant, Role::Tool, Role::System]
            .into_iter()
            .find(|role| role.as_str() == name)
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    InProgress,
    Completed,
    Incomplete,
    Failed,
}

impl MessageStatus {
    pub fn is_final(self) -> bool {
        self != MessageStatus::InProgress
    }
}

/// Message content: a plain string, or a list of parts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Content {
    Text(String),
    Parts(Vec<ContentPart>),
}

impl Content {
    /// The text a model or a reader sees; file parts become a short reference.
    pub fn to_text(&self) -> String {
        match self {
            Content::Text(text) => text.clone(),
            Content::Parts(parts) => parts
                .iter()
                .map(|part| match part {
                    ContentPart::Text { text } => text.clone(),
                    ContentPart::File { file_id } => format!("[file {file_id}]"),
                })
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ContentPart {
    Text { text: String },
    File { file_id: String },
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Attachment {
    pub file_id: String,
    #[serde(default)]
    pub tools: Vec<Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ReasoningStep {
    pub text: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Message {
    pub id: String,
    pub object: String,
    pub thread_id: String,
    pub assistant_id: Option<String>,
    pub role: Role,
    pub content: Option<Content>,
    pub attachments: Vec<Attachment>,
    pub tool_calls: Vec<ToolCall>,
    pub tool_call_id: Option<String>,
    pub reasoning: Vec<ReasoningStep>,
    pub status: MessageStatus,
    pub usage: Usage,
    /// USD, from this reply's usage and the price table (left out while zero).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub estimated_cost: f64,
    pub created_at: u64,
    /// Why a reply is `failed` or `incomplete`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
    /// The files the message names, as they were when it was posted: what a viewer
    /// shows (name, type, size, an image's pixels) without fetching each one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<FileSummary>,
    /// What the message's source recorded beyond these fields (a span's unmapped
    /// attributes, say), bounded; left out while empty.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

impl Message {
    pub fn text(&self) -> String {
        self.content
            .as_ref()
            .map(Content::to_text)
            .unwrap_or_default()
    }

    /// The length of [`Message::text`], without building it for plain text.
    pub fn text_len(&self) -> usize {
        match &self.content {
            Some(Content::Text(text)) => text.len(),
            Some(content) => content.to_text().len(),
            None => 0,
        }
    }

    /// Adds streamed text at the end, in place when the content is plain text (a long
    /// reply is not copied for every word).
    pub fn append_text(&mut self, delta: &str) {
        match &mut self.content {
            Some(Content::Text(text)) => text.push_str(delta),
            _ => {
                let mut text = self.text();
                text.push_str(delta);
                self.content = Some(Content::Text(text));
            }
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ToolCallType {
    Function,
    AgentRouting,
    FileSearch,
    CodeInterpreter,
    Webhook,
    Mcp,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ToolCallStatus {
    /// Arguments streaming or the tool running.
    InProgress,
    /// Waiting for an operator's `role:"tool"` answer.
    RequiresAction,
    /// Waiting for an operator to approve or deny it.
    RequiresApproval,
    Completed,
    Failed,
    Denied,
    Cancelled,
}

impl ToolCallStatus {
    pub fn is_waiting(self) -> bool {
        matches!(
            self,
            ToolCallStatus::RequiresAction | ToolCallStatus::RequiresApproval
        )
    }

    pub fn is_final(self) -> bool {
        matches!(
            self,
            ToolCallStatus::Completed
                | ToolCallStatus::Failed
                | ToolCallStatus::Denied
                | ToolCallStatus::Cancelled
        )
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FunctionCall {
    pub name: String,
    pub arguments: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ToolCall {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: ToolCallType,
    pub function: FunctionCall,
    pub target_assistant_id: Option<String>,
    pub thread_id: Option<String>,
    pub status: ToolCallStatus,
    pub output: Option<String>,
    pub latency_ms: Option<u64>,
    /// The step of the run (model call) that made this call.
    #[serde(default)]
    pub step: u32,
    /// An operator approved this call; it runs without asking again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub approved: bool,
}

/// The `error` object of every error answer and of failed messages.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ErrorBody {
    pub message: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub code: Option<String>,
    pub param: Option<String>,
}

/// The stored record of an API key; the key itself is kept only as a hash.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ApiKeyRecord {
    pub id: String,
    pub project_id: String,
    pub name: Option<String>,
    pub created_at: u64,
}

/// `{object:"list", data, first_id, last_id, has_more}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct List<T> {
    pub object: String,
    pub data: Vec<T>,
    pub first_id: Option<String>,
    pub last_id: Option<String>,
    pub has_more: bool,
}

/// Anything with an id, so lists can name their first and last.
pub trait HasId {
    fn id(&self) -> &str;
}

macro_rules! has_id {
    ($($t:ty),*) => { $(impl HasId for $t { fn id(&self) -> &str { &self.id } })* };
}
has_id!(Project, Assistant, Thread, Message);

impl<T: HasId> List<T> {
    pub fn new(data: Vec<T>, has_more: bool) -> Self {
        List {
            object: "list".into(),
            first_id: data.first().map(|item| item.id().to_string()),
            last_id: data.last().map(|item| item.id().to_string()),
            data,
            has_more,
        }
    }
}

/// A value as the API spells it (`requires_action`, `code_interpreter`), for enums that
/// serialize to a string; empty for anything else.
pub fn wire_name(value: &impl Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(Value::String(name)) => name,
        _ => String::new(),
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LimitsView {
    pub tokens_per_minute: u64,
    pub concurrent_threads: u64,
    pub estimated_cost: f64,
    pub tokens_used_last_minute: u64,
    pub running_threads: u64,
    pub queued_threads: u64,
    /// The last rate-limit headers of each model provider (`x-ratelimit-*`, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub provider_rate_limits: BTreeMap<String, BTreeMap<String, String>>,
}

impl LimitsView {
    /// Adds another project's (or runtime's) figures to these: tokens, cost and threads.
    pub fn add(&mut self, more: &LimitsView) {
        self.tokens_per_minute += more.tokens_per_minute;
        self.tokens_used_last_minute += more.tokens_used_last_minute;
        self.estimated_cost += more.estimated_cost;
        self.running_threads += more.running_threads;
        self.queued_threads += more.queued_threads;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_is_a_string_or_parts() {
        let text: Content = serde_json::from_str(r#""hello""#).unwrap();
        assert_eq!(text.to_text(), "hello");
        let parts: Content = serde_json::from_str(
            r#"[{"type":"text","text":"Review this"},{"type":"file","file_id":"file_1"}]"#,
        )
        .unwrap();
        assert_eq!(parts.to_text(), "Review this\n[file file_1]");
    }
}
