//! Domain types of the v2 API: the JSON shapes of SPEC §3, ids and timestamps. No I/O.

pub mod event;
mod ids;
pub mod memory;
pub mod requests;

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

/// A tool an assistant may call, tagged by `type` as the seed writes it.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Tool {
    Function(FunctionTool),
    FileSearch(FileSearchTool),
    CodeInterpreter(CodeInterpreterTool),
    Webhook(WebhookTool),
    Mcp(McpTool),
}

// Decoded by hand so that an error names the field inside the tool
// (`function.name: invalid type ...`); serde's tagged enums lose that path.
impl<'de> Deserialize<'de> for Tool {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        fn variant<T: serde::de::DeserializeOwned, E: Error>(value: Value) -> Result<T, E> {
            serde_path_to_error::deserialize(value).map_err(|err| {
                let path = err.path().to_string();
                let inner = err.into_inner();
                if path == "." {
                    E::custom(inner)
                } else {
                    E::custom(format!("{path}: {inner}"))
                }
            })
        }
        let mut value = Value::deserialize(deserializer)?;
        let Some(object) = value.as_object_mut() else {
            return Err(D::Error::custom("a tool must be an object with a \"type\""));
        };
        let kind = match object.remove("type") {
            Some(Value::String(kind)) => kind,
            Some(_) => return Err(D::Error::custom("type: expected a string")),
            None => return Err(D::Error::missing_field("type")),
        };
        match kind.as_str() {
            "function" => variant(value).map(Tool::Function),
            "file_search" => variant(value).map(Tool::FileSearch),
            "code_interpreter" => variant(value).map(Tool::CodeInterpreter),
            "webhook" => variant(value).map(Tool::Webhook),
            "mcp" => variant(value).map(Tool::Mcp),
            other => Err(D::Error::unknown_variant(
                other,
                &[
                    "function",
                    "file_search",
                    "code_interpreter",
                    "webhook",
                    "mcp",
                ],
            )),
        }
    }
}

impl Tool {
    /// The name the model calls this tool by, if it is a single named tool.
    pub fn call_name(&self) -> Option<&str> {
        match self {
            Tool::Function(f) => Some(&f.function.name),
            Tool::FileSearch(_) => Some("file_search"),
            Tool::CodeInterpreter(c) => c.enabled.then_some("code_interpreter"),
            Tool::Webhook(w) => Some(w.name.as_deref().unwrap_or("webhook")),
            Tool::Mcp(_) => None,
        }
    }

    /// Whether the operator trusts this tool with the values privacy keeps from the model.
    pub fn trusted(&self) -> bool {
        match self {
            Tool::Function(f) => f.trusted,
            Tool::Webhook(w) => w.trusted,
            Tool::Mcp(m) => m.trusted,
            Tool::FileSearch(_) | Tool::CodeInterpreter(_) => false,
        }
    }

    pub fn approval(&self) -> Option<Approval> {
        match self {
            Tool::Function(f) => f.approval,
            Tool::Webhook(w) => w.approval,
            Tool::Mcp(m) => m.approval,
            Tool::FileSearch(_) | Tool::CodeInterpreter(_) => None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FunctionTool {
    pub function: FunctionDef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handler: Option<Handler>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<Approval>,
    /// A read-only tool never needs approval under `approval: "on-write"`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
    /// Under privacy "strict", the values behind the placeholders of the arguments the
    /// model writes are put back before this tool runs (other tools get placeholders).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub trusted: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FunctionDef {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default = "empty_object_schema")]
    pub parameters: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

pub fn empty_object_schema() -> Value {
    serde_json::json!({"type": "object", "properties": {}})
}

/// A command that answers a function tool: JSON arguments on stdin, output on stdout.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Handler {
    pub command: Vec<String>,
    #[serde(default = "default_handler_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_handler_timeout_ms() -> u64 {
    10_000
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FileSearchTool {
    #[serde(default)]
    pub vector_store_ids: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CodeInterpreterTool {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Wall time of one run of code; its CPU time is bounded by this too (at most 60 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

impl CodeInterpreterTool {
    /// Wall time of one run of code, unless the tool says otherwise.
    pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;

    pub fn timeout_ms(&self) -> u64 {
        self.timeout_ms.unwrap_or(Self::DEFAULT_TIMEOUT_MS)
    }
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WebhookTool {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub parameters: Option<Value>,
    pub endpoint: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<WebhookAuth>,
    /// The whole call (token included) must be done within this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Under privacy "strict", the values behind the placeholders of the arguments the
    /// model writes are put back before this tool runs (other tools get placeholders).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub trusted: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<Approval>,
}

impl WebhookTool {
    /// Time for the whole call (token included), unless the tool says otherwise.
    pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;

    pub fn timeout_ms(&self) -> u64 {
        self.timeout_ms.unwrap_or(Self::DEFAULT_TIMEOUT_MS)
    }
}

/// How a webhook authenticates.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type")]
pub enum WebhookAuth {
    /// The OAuth2 client-credentials flow: a token from `token_url` for the client whose
    /// id and secret are in the runtime's environment variables named here.
    #[serde(rename = "oauth2")]
    OAuth2(OAuth2),
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OAuth2 {
    pub token_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id_env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct McpTool {
    pub server_label: String,
    #[serde(default)]
    pub command: Option<Vec<String>>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub allowed_tools: Option<Vec<String>>,
    /// Environment of a stdio server, on top of PATH, HOME, LANG and TZ (nothing else of
    /// the runtime's environment is passed on).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// How long one call may take.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Under privacy "strict", the values behind the placeholders of the arguments the
    /// model writes are put back before this tool runs (other tools get placeholders).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub trusted: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<Approval>,
}

impl McpTool {
    /// Time for one call, unless the tool says otherwise.
    pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;

    pub fn timeout_ms(&self) -> u64 {
        self.timeout_ms.unwrap_or(Self::DEFAULT_TIMEOUT_MS)
    }
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
}

/// A file a message names, described.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FileSummary {
    pub file_id: String,
    pub filename: String,
    pub content_type: String,
    pub bytes: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
}

impl From<&FileObject> for FileSummary {
    fn from(file: &FileObject) -> Self {
        FileSummary {
            file_id: file.id.clone(),
            filename: file.filename.clone(),
            content_type: file.content_type.clone(),
            bytes: file.bytes,
            width: file.width,
            height: file.height,
        }
    }
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

/// The ids of the files a message names: its attachments, then its `file` parts.
pub fn file_ids<'a>(attachments: &'a [Attachment], content: Option<&'a Content>) -> Vec<&'a str> {
    let mut ids: Vec<&str> = attachments.iter().map(|a| a.file_id.as_str()).collect();
    if let Some(Content::Parts(parts)) = content {
        ids.extend(parts.iter().filter_map(|part| match part {
            ContentPart::File { file_id } => Some(file_id.as_str()),
            ContentPart::Text { .. } => None,
        }));
    }
    ids
}

/// An uploaded file (OpenAI's file object, plus the project it belongs to and the type
/// sniffed from its content).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FileObject {
    pub id: String,
    pub object: String,
    pub bytes: u64,
    pub created_at: u64,
    pub filename: String,
    pub purpose: String,
    pub project_id: String,
    /// From the bytes, never from the name: `application/pdf`, `image/png`, `text/plain`...
    pub content_type: String,
    /// An image's size in pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
}

impl HasId for FileObject {
    fn id(&self) -> &str {
        &self.id
    }
}

/// A searchable collection of files: their text in chunks, ranked by `file_search`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct VectorStore {
    pub id: String,
    pub object: String,
    pub name: String,
    pub file_ids: Vec<String>,
    pub created_at: u64,
    pub project_id: String,
    /// The thread whose attachments made this store, if a thread's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<String>,
    /// `in_progress` while any file is being read, else `completed`.
    pub status: IngestStatus,
    pub file_counts: FileCounts,
    /// Each file's ingestion, in the order of `file_ids`.
    pub files: Vec<VectorStoreFile>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum IngestStatus {
    InProgress,
    Completed,
    Failed,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct FileCounts {
    pub in_progress: u64,
    pub completed: u64,
    pub failed: u64,
    pub total: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct VectorStoreFile {
    pub file_id: String,
    pub status: IngestStatus,
    /// Chunks indexed (0 until completed).
    pub chunks: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

impl VectorStore {
    /// Makes `file_ids`, `status` and `file_counts` agree with `files`.
    pub fn settle(&mut self) {
        self.file_ids = self.files.iter().map(|f| f.file_id.clone()).collect();
        let count = |status| self.files.iter().filter(|f| f.status == status).count() as u64;
        self.file_counts = FileCounts {
            in_progress: count(IngestStatus::InProgress),
            completed: count(IngestStatus::Completed),
            failed: count(IngestStatus::Failed),
            total: self.files.len() as u64,
        };
        self.status = if self.file_counts.in_progress > 0 {
            IngestStatus::InProgress
        } else {
            IngestStatus::Completed
        };
    }
}

impl HasId for VectorStore {
    fn id(&self) -> &str {
        &self.id
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_assistant_tools_parse_and_unknown_fields_are_rejected() {
        let tools: Vec<Tool> = serde_json::from_value(serde_json::json!([
            {"type": "file_search", "vector_store_ids": ["vs_legal_docs_2026"]},
            {"type": "code_interpreter", "enabled": true},
            {"type": "function", "function": {"name": "retrieve_clauses"}}
        ]))
        .unwrap();
        assert_eq!(tools.len(), 3);
        assert_eq!(tools[2].call_name(), Some("retrieve_clauses"));
        let bad = serde_json::from_value::<Tool>(serde_json::json!(
            {"type": "function", "function": {"name": "x"}, "handlr": {}}
        ));
        assert!(bad.unwrap_err().to_string().contains("handlr"));
    }

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

/// What a document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HitKind {
    Message,
    ToolOutput,
    Title,
}

impl HitKind {
    pub fn as_str(self) -> &'static str {
        match self {
            HitKind::Message => "message",
            HitKind::ToolOutput => "tool_output",
            HitKind::Title => "title",
        }
    }

    pub fn parse(text: &str) -> HitKind {
        match text {
            "tool_output" => HitKind::ToolOutput,
            "title" => HitKind::Title,
            _ => HitKind::Message,
        }
    }
}

/// A match, as `GET /v2/search` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchHit {
    pub thread_id: String,
    /// Absent for a match in a thread's title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    pub assistant_id: String,
    pub kind: HitKind,
    pub snippet: String,
    /// Byte ranges of `snippet` that matched.
    pub highlights: Vec<[usize; 2]>,
    pub score: f32,
    pub created_at: u64,
}
