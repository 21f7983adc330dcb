//! What a span means, read under both conventions agents are traced with: OpenTelemetry's
//! GenAI semantic conventions (`gen_ai.*`, current and earlier drafts) and OpenInference's
//! (`openinference.span.kind`, `llm.*`, `input.value`, `output.value`, `graph.node.*`).

use agentdeck_model::spans::Span;
use serde_json::Value;

/// What a span is to the workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpanRole {
    /// One run of an agent (`invoke_agent`, OpenInference `AGENT`).
    Agent { name: String },
    /// One call of a model (`chat`, `text_completion`, OpenInference `LLM`).
    ModelCall,
    /// One call of a tool (`execute_tool`, OpenInference `TOOL`).
    Tool { name: String },
    /// Control passing from one agent to another (`handoff to billing`).
    Handoff { to: String },
    /// Anything else (chains, workflows, retrievers, HTTP): its children are placed
    /// through it.
    Other,
}

pub fn role(span: &Span) -> SpanRole {
    let operation = span.text(&["gen_ai.operation.name"]);
    let kind = span
        .text(&["openinference.span.kind"])
        .map(|k| k.to_ascii_uppercase());
    let name = span.name.trim();
    if let Some(to) = handoff_target(span) {
        return SpanRole::Handoff { to };
    }
    match (operation.as_deref(), kind.as_deref()) {
        (Some("invoke_agent" | "create_agent"), _) | (None, Some("AGENT")) => {
            match agent_name(span) {
                Some(name) => SpanRole::Agent { name },
                None => SpanRole::Other,
            }
        }
        (Some("chat" | "text_completion" | "generate_content"), _) | (None, Some("LLM")) => {
            SpanRole::ModelCall
        }
        (Some("execute_tool"), _) | (None, Some("TOOL")) => SpanRole::Tool {
            name: span
                .text(&["gen_ai.tool.name", "tool.name"])
                .unwrap_or_else(|| {
                    name.strip_prefix("execute_tool ")
                        .unwrap_or(name)
                        .to_string()
                }),
        },
        _ => SpanRole::Other,
    }
}

/// The agent a span runs: its name attribute, else the name an `invoke_agent NAME` span
/// carries, else (OpenInference) the span's own name — except for a trace's nameless
/// root, which is a workflow around the agents, not one of them.
fn agent_name(span: &Span) -> Option<String> {
    if let Some(name) = span.text(&["gen_ai.agent.name", "agent.name", "graph.node.id"]) {
        return Some(name);
    }
    let name = span.name.trim();
    if let Some(rest) = name.strip_prefix("invoke_agent") {
        let rest = rest.trim();
        return (!rest.is_empty()).then(|| rest.to_string());
    }
    (span.parent_span_id.is_some() && !name.is_empty()).then(|| name.to_string())
}

/// `handoff to billing` (the OpenAI Agents SDK's spans under either convention), or a
/// span that says `gen_ai.operation.name = handoff`.
fn handoff_target(span: &Span) -> Option<String> {
    let named = span
        .name
        .trim()
        .strip_prefix("handoff to ")
        .map(str::to_string);
    let operation = span.text(&["gen_ai.operation.name"]).as_deref() == Some("handoff");
    if named.is_none() && !operation {
        return None;
    }
    span.text(&["gen_ai.handoff.to_agent", "output.value"])
        .or(named)
        .filter(|to| !to.is_empty())
}

/// The agent a handoff came from, or that a routed agent's span names as its parent
/// (`graph.node.parent_id`).
pub fn handed_from(span: &Span) -> Option<String> {
    span.text(&["gen_ai.handoff.from_agent", "graph.node.parent_id"])
        .filter(|from| from.len() <= 256)
}

/// The conversation a span belongs to, if its instrumentation said.
pub fn conversation(span: &Span) -> Option<String> {
    span.text(&["gen_ai.conversation.id", "session.id", "conversation.id"])
}

pub fn model(span: &Span) -> Option<String> {
    span.text(&[
        "gen_ai.response.model",
        "gen_ai.request.model",
        "llm.model_name",
    ])
}

/// Input and output tokens of one model call.
pub fn usage(span: &Span) -> (u64, u64) {
    let input = span
        .count(&[
            "gen_ai.usage.input_tokens",
            "gen_ai.usage.prompt_tokens",
            "llm.token_count.prompt",
        ])
        .unwrap_or(0);
    let output = span
        .count(&[
            "gen_ai.usage.output_tokens",
            "gen_ai.usage.completion_tokens",
            "llm.token_count.completion",
        ])
        .unwrap_or(0);
    (input, output)
}

/// A tool call a model asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestedCall {
    pub id: Option<String>,
    pub name: String,
    pub arguments: String,
}

/// What a model call answered: its text and the tools it asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelOutput {
    pub text: String,
    pub calls: Vec<RequestedCall>,
}

pub fn output(span: &Span) -> ModelOutput {
    let mut out = ModelOutput::default();
    // GenAI (current): `gen_ai.output.messages`, JSON of messages with typed parts.
    if let Some(messages) = json_attr(span, "gen_ai.output.messages") {
        for message in messages.as_array().into_iter().flatten() {
            read_parts(message, &mut out);
        }
        return out;
    }
    // OpenInference: `llm.output_messages.N.message.*`, flattened.
    let flat = indexed(span, "llm.output_messages.");
    if !flat.is_empty() {
        for (_, fields) in flat {
            push_text(
                &mut out.text,
                fields.get("message.content").map(String::as_str),
            );
            let mut parts: Vec<(usize, &str)> = fields
                .iter()
                .filter_map(|(key, value)| {
                    let rest = key.strip_prefix("message.contents.")?;
                    let (index, field) = rest.split_once('.')?;
                    (field == "message_content.text")
                        .then(|| Some((index.parse().ok()?, value.as_str())))?
                })
                .collect();
            parts.sort();
            if !fields.contains_key("message.content") {
                for (_, text) in parts {
                    push_text(&mut out.text, Some(text));
                }
            }
            out.calls.extend(flat_calls(&fields));
        }
        return out;
    }
    // GenAI (earlier drafts, OpenLLMetry): `gen_ai.completion.N.content`.
    for (_, fields) in indexed(span, "gen_ai.completion.") {
        push_text(&mut out.text, fields.get("content").map(String::as_str));
    }
    if out.text.is_empty() {
        // Span events of the earlier drafts: `gen_ai.choice` with a `message` body.
        for event in span.events.iter().filter(|e| e.name == "gen_ai.choice") {
            for (key, value) in &event.attributes {
                if key == "message"
                    && let Some(message) = value
                        .as_str()
                        .and_then(|text| serde_json::from_str::<Value>(text).ok())
                {
                    push_text(
                        &mut out.text,
                        message.get("content").and_then(Value::as_str),
                    );
                }
            }
        }
    }
    out
}

/// The newest user message a model call was sent: what the agent was asked.
pub fn user_input(span: &Span) -> Option<String> {
    if let Some(messages) = json_attr(span, "gen_ai.input.messages") {
        return messages
            .as_array()?
            .iter()
            .rev()
            .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
            .map(|m| {
                let mut out = ModelOutput::default();
                read_parts(m, &mut out);
                out.text
            })
            .filter(|text| !text.is_empty());
    }
    for prefix in ["llm.input_messages.", "gen_ai.prompt."] {
        let flat = indexed(span, prefix);
        if flat.is_empty() {
            continue;
        }
        let (role_key, content_key) = if prefix.starts_with("llm") {
            ("message.role", "message.content")
        } else {
            ("role", "content")
        };
        return flat
            .iter()
            .rev()
            .find(|(_, fields)| fields.get(role_key).map(String::as_str) == Some("user"))
            .and_then(|(_, fields)| fields.get(content_key).cloned())
            .filter(|text| !text.is_empty());
    }
    None
}

/// What an agent or a routed agent was given to do: its input, when it is plain text
/// (OpenInference writes the messages as JSON there; the last user message is taken).
pub fn agent_input(span: &Span) -> Option<String> {
    if let Some(text) = user_input(span) {
        return Some(text);
    }
    let value = span.text(&["input.value", "gen_ai.prompt"])?;
    match serde_json::from_str::<Value>(&value) {
        Ok(Value::Array(messages)) => messages
            .iter()
            .rev()
            .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
            .and_then(|m| m.get("content"))
            .and_then(Value::as_str)
            .map(str::to_string),
        Ok(Value::Object(object)) => object
            .get("input")
            .or_else(|| object.get("message"))
            .and_then(Value::as_str)
            .map(str::to_string),
        _ => Some(value),
    }
}

/// A tool call's id, arguments and result.
pub fn tool_call(span: &Span) -> (Option<String>, String, Option<String>) {
    let id = span.text(&["gen_ai.tool.call.id", "tool_call.id", "tool.call_id"]);
    let arguments = span
        .text(&[
            "gen_ai.tool.call.arguments",
            "tool.parameters",
            "input.value",
        ])
        .unwrap_or_default();
    let result = span.text(&["gen_ai.tool.call.result", "output.value"]);
    (id, arguments, result)
}

/// Attributes every mapping above reads: what is left goes to a message's metadata.
pub fn mapped(key: &str) -> bool {
    const PREFIXES: [&str; 6] = [
        "llm.input_messages.",
        "llm.output_messages.",
        "gen_ai.prompt.",
        "gen_ai.completion.",
        "llm.token_count.",
        "gen_ai.usage.",
    ];
    const KEYS: [&str; 24] = [
        "gen_ai.operation.name",
        "openinference.span.kind",
        "gen_ai.agent.name",
        "agent.name",
        "graph.node.id",
        "graph.node.parent_id",
        "gen_ai.conversation.id",
        "session.id",
        "gen_ai.response.model",
        "gen_ai.request.model",
        "llm.model_name",
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.tool.name",
        "tool.name",
        "gen_ai.tool.call.id",
        "gen_ai.tool.call.arguments",
        "gen_ai.tool.call.result",
        "input.value",
        "output.value",
        "input.mime_type",
        "output.mime_type",
        "gen_ai.system",
        "llm.system",
    ];
    KEYS.contains(&key) || PREFIXES.iter().any(|p| key.starts_with(p))
}

fn json_attr(span: &Span, key: &str) -> Option<Value> {
    match span.attr(key)? {
        Value::String(text) => serde_json::from_str(text).ok(),
        value @ Value::Array(_) => Some(value.clone()),
        _ => None,
    }
}

/// `prefix.N.rest = value` attributes, grouped by N in order: N → rest → value as text.
fn indexed(span: &Span, prefix: &str) -> Vec<(usize, std::collections::BTreeMap<String, String>)> {
    let mut groups: std::collections::BTreeMap<usize, std::collections::BTreeMap<String, String>> =
        Default::default();
    for (key, value) in &span.attributes {
        let Some(rest) = key.strip_prefix(prefix) else {
            continue;
        };
        let Some((index, field)) = rest.split_once('.') else {
            continue;
        };
        let Ok(index) = index.parse::<usize>() else {
            continue;
        };
        let text = match value {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        groups
            .entry(index)
            .or_default()
            .insert(field.to_string(), text);
    }
    groups.into_iter().collect()
}

fn flat_calls(fields: &std::collections::BTreeMap<String, String>) -> Vec<RequestedCall> {
    let mut calls: std::collections::BTreeMap<usize, RequestedCall> = Default::default();
    for (key, value) in fields {
        let Some(rest) = key.strip_prefix("message.tool_calls.") else {
            continue;
        };
        let Some((index, field)) = rest.split_once('.') else {
            continue;
        };
        let Ok(index) = index.parse::<usize>() else {
            continue;
        };
        let call = calls.entry(index).or_insert_with(|| RequestedCall {
            id: None,
            name: String::new(),
            arguments: String::new(),
        });
        match field {
            "tool_call.id" => call.id = Some(value.clone()),
            "tool_call.function.name" => call.name = value.clone(),
            "tool_call.function.arguments" => call.arguments = value.clone(),
            _ => {}
        }
    }
    calls.into_values().filter(|c| !c.name.is_empty()).collect()
}

/// Text and tool calls of one GenAI-convention message (`parts`, or a plain `content`).
fn read_parts(message: &Value, out: &mut ModelOutput) {
    if let Some(text) = message.get("content").and_then(Value::as_str) {
        push_text(&mut out.text, Some(text));
    }
    for part in message
        .get("parts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match part.get("type").and_then(Value::as_str) {
            Some("text") => push_text(&mut out.text, part.get("content").and_then(Value::as_str)),
            Some("tool_call") => out.calls.push(RequestedCall {
                id: part.get("id").and_then(Value::as_str).map(str::to_string),
                name: part
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                arguments: match part.get("arguments") {
                    Some(Value::String(text)) => text.clone(),
                    Some(other) => other.to_string(),
                    None => String::new(),
                },
            }),
            _ => {}
        }
    }
}

fn push_text(text: &mut String, more: Option<&str>) {
    let Some(more) = more.filter(|m| !m.is_empty()) else {
        return;
    };
    if !text.is_empty() {
        text.push('\n');
    }
    text.push_str(more);
}
