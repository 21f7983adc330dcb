//! `[telemetry] otlp_endpoint`: the runtime's own runs, sent as OpenTelemetry spans under
//! the GenAI conventions — `invoke_agent` per reply, `chat` per model call, `execute_tool`
//! per tool call, a routed reply's `invoke_agent` under the routing call's span.
//!
//! Spans are made whole when what they describe ends (a run pauses and resumes, even in
//! another task, so no live span is held) and handed to the SDK's batch processor, which
//! queues them (bounded: what does not fit is dropped and counted by the SDK), exports
//! them from a thread of its own and retries what the collector throttles. A run never
//! waits on any of it. Ids are derived from the reply's and the call's ids, so a child is
//! linked to its parent before the parent's span exists.

use agentdeck_model::config::{Config, OtlpProtocol, ProviderKind, TelemetryConfig};
use agentdeck_model::{Assistant, Message, MessageStatus, ToolCall, ToolCallStatus, Usage};
use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig, WithTonicConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SpanData, SpanProcessor};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Spans waiting for the exporter before new ones are dropped.
const QUEUE: usize = 8192;
/// Replies whose start time or routing parent is remembered at once.
const REMEMBERED: usize = 100_000;

pub struct SpanExport {
    processor: BatchSpanProcessor,
    scope: InstrumentationScope,
    capture_content: bool,
    replies: Mutex<HashMap<String, ReplySpan>>,
}

/// What a reply's span needs from before it ends.
#[derive(Clone, Copy, Default)]
struct ReplySpan {
    /// When the run first started (a resumed run keeps it).
    started: Option<SystemTime>,
    /// A routed reply: its trace and the routing call's span.
    parent: Option<(TraceId, SpanId)>,
}

/// One model call as it ended.
pub struct ChatSpan<'a> {
    pub project_id: &'a str,
    pub thread_id: &'a str,
    pub reply_id: &'a str,
    pub assistant: &'a Assistant,
    pub step: u32,
    pub model: &'a str,
    pub usage: Usage,
    pub latency: Duration,
    /// The provider's error, when the call failed.
    pub error: Option<&'a str>,
}

impl SpanExport {
    /// The exporter `[telemetry]` asks for, or none when it names no endpoint. Must run
    /// inside the server's runtime (the gRPC client keeps its connection there).
    pub fn start(config: &TelemetryConfig) -> Result<Option<SpanExport>, String> {
        let Some(endpoint) = config.otlp_endpoint.as_deref() else {
            return Ok(None);
        };
        let mut headers = HashMap::new();
        for (name, value) in &config.otlp_headers {
            let value = match value.strip_prefix("env:") {
                Some(variable) => std::env::var(variable).map_err(|_| {
                    format!("telemetry.otlp_headers.{name}: the variable {variable} is not set")
                })?,
                None => value.clone(),
            };
            headers.insert(name.clone(), value);
        }
        // One export waits at most this long, and so does the flush when `serve` stops.
        let timeout = Duration::from_secs(5);
        let base = endpoint.trim_end_matches('/');
        let built = match config.otlp_protocol {
            OtlpProtocol::Grpc => {
                let mut metadata = tonic::metadata::MetadataMap::new();
                for (name, value) in &headers {
                    let key = tonic::metadata::MetadataKey::from_bytes(
                        name.to_ascii_lowercase().as_bytes(),
                    )
                    .map_err(|_| {
                        format!("telemetry.otlp_headers: {name:?} is not a header name")
                    })?;
                    let value = value.parse().map_err(|_| {
                        format!("telemetry.otlp_headers.{name}: not a header value")
                    })?;
                    metadata.insert(key, value);
                }
                opentelemetry_otlp::SpanExporter::builder()
                    .with_tonic()
                    .with_endpoint(base)
                    .with_timeout(timeout)
                    .with_metadata(metadata)
                    .build()
            }
            protocol => opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_endpoint(format!("{base}/v1/traces"))
                .with_protocol(if protocol == OtlpProtocol::HttpJson {
                    Protocol::HttpJson
                } else {
                    Protocol::HttpBinary
                })
                .with_timeout(timeout)
                .with_headers(headers)
                .build(),
        };
        let exporter =
            built.map_err(|err| format!("telemetry.otlp_endpoint {endpoint:?}: {err}"))?;
        let batches = BatchConfigBuilder::default()
            .with_max_queue_size(QUEUE)
            .with_max_export_batch_size(512)
            .with_scheduled_delay(Duration::from_millis(500))
            .build();
        let mut processor = BatchSpanProcessor::builder(exporter)
            .with_batch_config(batches)
            .build();
        processor.set_resource(
            &Resource::builder_empty()
                .with_attributes([
                    KeyValue::new("service.name", "agentdeck"),
                    KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
                ])
                .build(),
        );
        Ok(Some(SpanExport {
            processor,
            scope: InstrumentationScope::builder("agentdeck")
                .with_version(env!("CARGO_PKG_VERSION"))
                .build(),
            capture_content: config.otlp_capture_content,
            replies: Mutex::new(HashMap::new()),
        }))
    }

    /// Messages, arguments and results go into the spans.
    pub fn captures_content(&self) -> bool {
        self.capture_content
    }

    /// A run of `reply_id` starts (or resumes: its first start is kept).
    pub fn run_started(&self, reply_id: &str) {
        self.remember(reply_id, |reply| {
            reply.started.get_or_insert_with(SystemTime::now);
        });
    }

    /// A routing call of `parent_reply_id` handed work to `child_reply_id`: the child's
    /// spans join the parent's trace, under the call's span.
    pub fn routed(&self, parent_reply_id: &str, call_id: &str, child_reply_id: &str) {
        let (trace, _) = self.trace_of(parent_reply_id);
        let call = derived_span_id(&["tool", parent_reply_id, call_id]);
        self.remember(child_reply_id, |reply| reply.parent = Some((trace, call)));
    }

    /// A model call ended.
    pub fn chat(&self, call: &ChatSpan<'_>, config: &Config) {
        let end = SystemTime::now();
        let (trace, _) = self.trace_of(call.reply_id);
        let mut attributes = vec![
            KeyValue::new("gen_ai.operation.name", "chat"),
            KeyValue::new("gen_ai.provider.name", provider_name(config, call.model)),
            KeyValue::new("gen_ai.request.model", call.model.to_string()),
            KeyValue::new("gen_ai.response.model", call.model.to_string()),
            KeyValue::new("gen_ai.agent.name", call.assistant.name.clone()),
            KeyValue::new("gen_ai.conversation.id", call.thread_id.to_string()),
            KeyValue::new("gen_ai.usage.input_tokens", call.usage.input_tokens as i64),
            KeyValue::new(
                "gen_ai.usage.output_tokens",
                call.usage.output_tokens as i64,
            ),
            KeyValue::new("agentdeck.project.id", call.project_id.to_string()),
            KeyValue::new("agentdeck.step", i64::from(call.step)),
        ];
        let status = match call.error {
            Some(error) => {
                attributes.push(KeyValue::new("error.type", "provider_error"));
                Status::error(error.to_string())
            }
            None => Status::Unset,
        };
        self.send(Whole {
            trace,
            id: derived_span_id(&["chat", call.reply_id, &call.step.to_string()]),
            parent: derived_span_id(&["run", call.reply_id]),
            kind: SpanKind::Client,
            name: format!("chat {}", call.model),
            start: end.checked_sub(call.latency).unwrap_or(end),
            end,
            attributes,
            status,
        });
    }

    /// A tool call ran to its end (`latency_ms` is set).
    pub fn tool(&self, project_id: &str, reply: &Message, assistant: &Assistant, call: &ToolCall) {
        let end = SystemTime::now();
        let latency = Duration::from_millis(call.latency_ms.unwrap_or(0));
        let (trace, _) = self.trace_of(&reply.id);
        let mut attributes = vec![
            KeyValue::new("gen_ai.operation.name", "execute_tool"),
            KeyValue::new("gen_ai.tool.name", call.function.name.clone()),
            KeyValue::new("gen_ai.tool.call.id", call.id.clone()),
            KeyValue::new("gen_ai.tool.type", tool_type(call)),
            KeyValue::new("gen_ai.agent.name", assistant.name.clone()),
            KeyValue::new("gen_ai.conversation.id", reply.thread_id.clone()),
            KeyValue::new("agentdeck.project.id", project_id.to_string()),
            KeyValue::new(
                "agentdeck.tool_call.status",
                agentdeck_model::wire_name(&call.status),
            ),
        ];
        if let Some(target) = &call.target_assistant_id {
            attributes.push(KeyValue::new(
                "agentdeck.route.to_assistant_id",
                target.clone(),
            ));
        }
        if let Some(thread) = &call.thread_id {
            attributes.push(KeyValue::new(
                "agentdeck.route.to_thread_id",
                thread.clone(),
            ));
        }
        if self.capture_content {
            attributes.push(KeyValue::new(
                "gen_ai.tool.call.arguments",
                call.function.arguments.clone(),
            ));
            if let Some(output) = &call.output {
                attributes.push(KeyValue::new("gen_ai.tool.call.result", output.clone()));
            }
        }
        let status = match call.status {
            ToolCallStatus::Failed | ToolCallStatus::Denied | ToolCallStatus::Cancelled => {
                attributes.push(KeyValue::new(
                    "error.type",
                    agentdeck_model::wire_name(&call.status),
                ));
                Status::error(call.output.clone().unwrap_or_default())
            }
            _ => Status::Unset,
        };
        self.send(Whole {
            trace,
            id: derived_span_id(&["tool", &reply.id, &call.id]),
            parent: derived_span_id(&["run", &reply.id]),
            kind: SpanKind::Internal,
            name: format!("execute_tool {}", call.function.name),
            start: end.checked_sub(latency).unwrap_or(end),
            end,
            attributes,
            status,
        });
    }

    /// A reply ended (not paused): its `invoke_agent` span, which its calls' spans are
    /// under. Usage is on the `chat` spans only, so a backend that sums it counts it once.
    /// `asked`: the user's message it answers, sent when content is captured.
    pub fn run_ended(
        &self,
        project_id: &str,
        reply: &Message,
        assistant: &Assistant,
        asked: Option<&str>,
    ) {
        let end = SystemTime::now();
        let (trace, parent) = self.trace_of(&reply.id);
        let remembered = agentdeck_model::sync::lock(&self.replies).remove(&reply.id);
        let start = remembered
            .and_then(|r| r.started)
            .unwrap_or_else(|| UNIX_EPOCH + Duration::from_secs(reply.created_at));
        let mut attributes = vec![
            KeyValue::new("gen_ai.operation.name", "invoke_agent"),
            KeyValue::new("gen_ai.agent.name", assistant.name.clone()),
            KeyValue::new("gen_ai.agent.id", assistant.id.clone()),
            KeyValue::new("gen_ai.request.model", assistant.model.clone()),
            KeyValue::new("gen_ai.conversation.id", reply.thread_id.clone()),
            KeyValue::new("agentdeck.project.id", project_id.to_string()),
            KeyValue::new("agentdeck.message.id", reply.id.clone()),
            KeyValue::new(
                "agentdeck.message.status",
                agentdeck_model::wire_name(&reply.status),
            ),
            KeyValue::new("agentdeck.estimated_cost_usd", reply.estimated_cost),
        ];
        if let Some(asked) = asked.filter(|_| self.capture_content) {
            let input = serde_json::json!([{
                "role": "user",
                "parts": [{"type": "text", "content": asked}],
            }]);
            attributes.push(KeyValue::new("gen_ai.input.messages", input.to_string()));
        }
        if self.capture_content {
            let output = serde_json::json!([{
                "role": "assistant",
                "parts": [{"type": "text", "content": reply.text()}],
            }]);
            attributes.push(KeyValue::new("gen_ai.output.messages", output.to_string()));
        }
        let status = match (&reply.status, &reply.error) {
            (MessageStatus::Completed, _) => Status::Ok,
            (_, Some(error)) => {
                attributes.push(KeyValue::new(
                    "error.type",
                    error.code.clone().unwrap_or_else(|| error.kind.clone()),
                ));
                Status::error(error.message.clone())
            }
            (status, None) => Status::error(agentdeck_model::wire_name(status)),
        };
        self.send(Whole {
            trace,
            id: derived_span_id(&["run", &reply.id]),
            parent: parent.unwrap_or(SpanId::INVALID),
            kind: SpanKind::Internal,
            name: format!("invoke_agent {}", assistant.name),
            start,
            end,
            attributes,
            status,
        });
    }

    /// Sends what is queued, waiting at most for the exporter's own timeout.
    pub fn flush(&self) {
        if let Err(err) = self.processor.force_flush() {
            tracing::warn!("span export: the last spans were not all sent: {err}");
        }
    }

    /// The reply's trace, and its parent span if it was routed.
    fn trace_of(&self, reply_id: &str) -> (TraceId, Option<SpanId>) {
        match agentdeck_model::sync::lock(&self.replies)
            .get(reply_id)
            .and_then(|r| r.parent)
        {
            Some((trace, call)) => (trace, Some(call)),
            None => (derived_trace_id(reply_id), None),
        }
    }

    fn remember(&self, reply_id: &str, change: impl FnOnce(&mut ReplySpan)) {
        let mut replies = agentdeck_model::sync::lock(&self.replies);
        // Replies that never end here (the process stopped them) are not kept forever.
        if replies.len() >= REMEMBERED && !replies.contains_key(reply_id) {
            replies.clear();
        }
        change(replies.entry(reply_id.to_string()).or_default());
    }

    fn send(&self, span: Whole) {
        let data = SpanData {
            span_context: SpanContext::new(
                span.trace,
                span.id,
                TraceFlags::SAMPLED,
                false,
                TraceState::default(),
            ),
            parent_span_id: span.parent,
            parent_span_is_remote: false,
            span_kind: span.kind,
            name: span.name.into(),
            start_time: span.start,
            end_time: span.end,
            attributes: span.attributes,
            dropped_attributes_count: 0,
            events: Default::default(),
            links: Default::default(),
            status: span.status,
            instrumentation_scope: self.scope.clone(),
        };
        self.processor.on_end(data);
    }
}

impl Drop for SpanExport {
    fn drop(&mut self) {
        let _ = self.processor.shutdown_with_timeout(Duration::from_secs(5));
    }
}

/// A finished span, before the SDK's shape.
struct Whole {
    trace: TraceId,
    id: SpanId,
    parent: SpanId,
    kind: SpanKind,
    name: String,
    start: SystemTime,
    end: SystemTime,
    attributes: Vec<KeyValue>,
    status: Status,
}

fn digest(parts: &[&str]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    hasher.finalize().into()
}

fn derived_trace_id(reply_id: &str) -> TraceId {
    let bytes = digest(&["trace", reply_id]);
    let mut id = [0u8; 16];
    id.copy_from_slice(&bytes[..16]);
    TraceId::from_bytes(id)
}

fn derived_span_id(parts: &[&str]) -> SpanId {
    let bytes = digest(parts);
    let mut id = [0u8; 8];
    id.copy_from_slice(&bytes[..8]);
    // All zeros is "no span"; a digest that starts so is moved off it.
    if id == [0; 8] {
        id[7] = 1;
    }
    SpanId::from_bytes(id)
}

/// `gen_ai.provider.name` of the provider serving `model`.
fn provider_name(config: &Config, model: &str) -> &'static str {
    match config
        .provider_for(model)
        .map(|(_, provider)| provider.kind)
    {
        Some(ProviderKind::OpenaiResponses | ProviderKind::OpenaiChat) => "openai",
        Some(ProviderKind::Anthropic) => "anthropic",
        Some(ProviderKind::Local) | None => "agentdeck.local",
    }
}

/// `gen_ai.tool.type`: a function the model's caller runs, or an extension (routing,
/// MCP, the built-in kinds) the runtime runs.
fn tool_type(call: &ToolCall) -> &'static str {
    match call.kind {
        agentdeck_model::ToolCallType::Function => "function",
        agentdeck_model::ToolCallType::FileSearch => "datastore",
        _ => "extension",
    }
}
