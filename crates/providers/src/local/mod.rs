//! The built-in `local` model: no network, deterministic, scriptable.
//!
//! It streams word by word at `AGENTDECK_LOCAL_TPS` words per second (default 40; 0 means
//! as fast as possible), emits reasoning steps, calls a function tool that the user's
//! message mentions by name or description, and routes to an assistant the message names.
//! Directives make it scriptable: `/tool NAME {json}`, `/route ASSISTANT text`,
//! `/fail CODE`, `/slow TPS`, `/long N`; several combine in one message.

mod directives;

use super::{
    ContextItem, ModelEvent, ModelRequest, ModelStream, Provider, ProviderError, Purpose,
    ROUTING_TOOL, ToolSpec,
};
use agentdeck_model::memory::{RETRIEVED_HEADER, SUMMARY_HEADER};
pub use directives::without_directives;
use directives::{Directives, parse_directives};
use serde_json::{Map, Value, json};
use std::time::Duration;
use tokio::time::Instant;

pub const DEFAULT_TPS: f64 = 40.0;

pub struct LocalProvider {
    tps: f64,
}

impl LocalProvider {
    pub fn new(tps: f64) -> Self {
        LocalProvider { tps }
    }

    /// Words per second from `AGENTDECK_LOCAL_TPS` (0 = unlimited), else the default.
    pub fn from_env_tps() -> f64 {
        std::env::var("AGENTDECK_LOCAL_TPS")
            .ok()
            .and_then(|value| value.trim().parse::<f64>().ok())
            .filter(|tps| tps.is_finite() && *tps >= 0.0)
            .unwrap_or(DEFAULT_TPS)
    }
}

/// What the local model will do for one request; a pure function of the request.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub reasoning: Vec<String>,
    pub tool_calls: Vec<(String, String)>,
    pub text: String,
    pub fail: Option<u16>,
    pub tps: f64,
    pub input_tokens: u64,
    /// `/long N`: N generated words after the text, produced lazily as they stream.
    pub long: Option<usize>,
}

fn mentions(haystack_lower: &str, name: &str) -> bool {
    let name = name.to_lowercase();
    if name.is_empty() {
        return false;
    }
    let spaced = name.replace(['_', '-'], " ");
    contains_word(haystack_lower, &name) || contains_word(haystack_lower, &spaced)
}

/// `needle` occurs in `haystack` not glued to letters or digits on either side.
fn contains_word(haystack: &str, needle: &str) -> bool {
    let mut from = 0;
    while let Some(offset) = haystack[from..].find(needle) {
        let start = from + offset;
        let end = start + needle.len();
        let before = haystack[..start].chars().next_back();
        let after = haystack[end..].chars().next();
        let glued = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric());
        if !glued(before) && !glued(after) {
            return true;
        }
        from = start + needle.len().max(1);
        while !haystack.is_char_boundary(from) {
            from += 1;
        }
    }
    false
}

/// Arguments for a tool from its JSON schema, filled from the message.
fn arguments_for(spec: &ToolSpec, message: &str) -> String {
    let mut args = Map::new();
    let properties = spec.parameters.get("properties").and_then(Value::as_object);
    let required: Vec<&str> = spec
        .parameters
        .get("required")
        .and_then(Value::as_array)
        .map(|list| list.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let token_with_digit = message
        .split_whitespace()
        .map(|word| word.trim_matches(|c: char| !c.is_alphanumeric() && c != '-' && c != '_'))
        .find(|word| word.chars().any(|c| c.is_ascii_digit()));
    let first_number = message
        .split(|c: char| !c.is_ascii_digit() && c != '.')
        .find_map(|part| part.parse::<f64>().ok());
    if let Some(properties) = properties {
        for (name, schema) in properties {
            if !required.is_empty() && !required.contains(&name.as_str()) {
                continue;
            }
            let kind = schema
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("string");
            let value = if let Some(first) = schema
                .get("enum")
                .and_then(Value::as_array)
                .and_then(|values| values.first())
            {
                first.clone()
            } else {
                match kind {
                    "integer" => json!(first_number.map_or(1, |n| n as i64)),
                    "number" => json!(first_number.unwrap_or(1.0)),
                    "boolean" => json!(true),
                    "array" => json!([]),
                    "object" => json!({}),
                    _ => {
                        let lower = name.to_lowercase();
                        let identifier = lower.ends_with("id")
                            || lower.ends_with("number")
                            || lower.ends_with("code");
                        match token_with_digit {
                            Some(token) if identifier => json!(token),
                            _ => json!(message),
                        }
                    }
                }
            };
            args.insert(name.clone(), value);
        }
    }
    Value::Object(args).to_string()
}

const LONG_WORDS: [&str; 24] = [
    "the",
    "assistant",
    "reviews",
    "each",
    "ticket",
    "and",
    "checks",
    "the",
    "order",
    "history",
    "before",
    "it",
    "answers",
    "with",
    "care",
    "so",
    "that",
    "nothing",
    "is",
    "lost",
    "between",
    "shifts",
    "or",
    "agents",
];

/// Word `i` of `count` words of deterministic text in paragraphs, with the space or
/// paragraph break before it: made one at a time, so `/long N` takes constant memory.
fn long_word(i: usize, count: usize) -> String {
    let mut delta = String::with_capacity(12);
    if i > 0 {
        delta.push_str(if i.is_multiple_of(60) { "\n\n" } else { " " });
    }
    delta.push_str(LONG_WORDS[(i * 7 + i / 24) % LONG_WORDS.len()]);
    if i + 1 == count {
        delta.push('.');
    }
    delta
}

#[cfg(test)]
fn long_text(count: usize) -> String {
    (0..count).map(|i| long_word(i, count)).collect()
}

fn clip(text: &str, max_chars: usize) -> String {
    let mut clipped: String = text.chars().take(max_chars).collect();
    if clipped.len() < text.len() {
        clipped.push('…');
    }
    clipped
}

/// At most `max_chars` characters of `text`, cut after the last whole sentence that fits
/// (else after the last whole word), so a quote never ends mid-clause.
fn clip_at_sentence(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    let head: String = text.chars().take(max_chars).collect();
    let sentence_end = head
        .char_indices()
        .filter(|(i, c)| {
            matches!(c, '.' | '!' | '?' | ';')
                && head[i + c.len_utf8()..].starts_with(char::is_whitespace)
        })
        .map(|(i, c)| i + c.len_utf8())
        .next_back();
    match sentence_end {
        // A sentence at least a third of the room long: end there.
        Some(end) if end * 3 >= head.len() => head[..end].to_string(),
        _ => {
            let word_end = head.rfind(char::is_whitespace).unwrap_or(head.len());
            format!("{}…", head[..word_end].trim_end())
        }
    }
}

fn estimate_tokens(text: &str) -> u64 {
    (text.len() as u64).div_ceil(4)
}

fn input_tokens(request: &ModelRequest) -> u64 {
    estimate_tokens(&request.instructions)
        + request
            .context
            .iter()
            .map(|item| match item {
                ContextItem::User(text) | ContextItem::Assistant(text) => estimate_tokens(text),
                ContextItem::ToolCalls(calls) => calls
                    .iter()
                    .map(|call| estimate_tokens(&call.arguments) + 4)
                    .sum(),
                ContextItem::ToolResult { output, .. } => estimate_tokens(output),
                // About what the hosted models charge for an image of this size.
                ContextItem::Image(image) => {
                    85 + u64::from(image.width) * u64::from(image.height) / 750
                }
            })
            .sum::<u64>()
}

/// What the images of the last user message are: "photo.png (image/png, 640×480)".
fn images_received(request: &ModelRequest) -> Vec<String> {
    let last_user = request
        .context
        .iter()
        .rposition(|item| matches!(item, ContextItem::User(_)));
    last_user
        .map(|at| &request.context[at + 1..])
        .unwrap_or_default()
        .iter()
        .map_while(|item| match item {
            ContextItem::Image(image) => Some(format!(
                "{} ({}, {}\u{d7}{})",
                image.name, image.media_type, image.width, image.height
            )),
            _ => None,
        })
        .collect()
}

/// Words a summary keeps at most; the oldest sentences go first.
const SUMMARY_WORDS: usize = 120;

/// The local model's memory summary: the earlier summary and one sentence per new turn
/// (see `engine::memory` for the prompt), extractive and deterministic.
fn summarise(prompt: &str) -> String {
    let mut sentences: Vec<String> = Vec::new();
    for line in prompt.lines() {
        if let Some(earlier) = line.strip_prefix("Earlier summary: ") {
            if earlier != "none" {
                sentences.extend(
                    earlier
                        .split_inclusive(". ")
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty()),
                );
            }
        } else if let Some(text) = line.strip_prefix("user: ") {
            let asked = first_words(&parse_directives(text).rest, 14);
            if !asked.is_empty() {
                sentences.push(format!("The user asked: \u{201c}{asked}\u{201d}."));
            }
        } else if let Some((who, text)) = line
            .strip_prefix("assistant (")
            .and_then(|rest| rest.split_once("): "))
        {
            if text.contains("I read your message") {
                // This model's own direct answer: it only quotes the question back.
                sentences.push(format!("{who} answered directly, without tools."));
                continue;
            }
            let answered = first_words(text, 20);
            if !answered.is_empty() {
                sentences.push(format!("{who} answered: \u{201c}{answered}\u{201d}."));
            }
        }
    }
    // Keep the newest sentences that fit.
    let mut kept: Vec<String> = Vec::new();
    let mut count = 0;
    for sentence in sentences.into_iter().rev() {
        let words = sentence.split_whitespace().count();
        if count + words > SUMMARY_WORDS && !kept.is_empty() {
            break;
        }
        count += words;
        kept.push(sentence);
    }
    kept.reverse();
    kept.join(" ")
}

/// The first `count` words of a turn, without markdown marks and quoted lines.
fn first_words(text: &str, count: usize) -> String {
    let plain: String = text
        .split(" > ")
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| !matches!(c, '*' | '`' | '#' | '>' | '\u{201c}' | '\u{201d}'))
        .collect();
    let words: Vec<&str> = plain.split_whitespace().collect();
    let mut out = words
        .iter()
        .take(count)
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    if words.len() > count {
        out.push('…');
    }
    out
}

pub fn plan(request: &ModelRequest, default_tps: f64) -> Plan {
    let last_user = request
        .context
        .iter()
        .rposition(|item| matches!(item, ContextItem::User(_)));
    let message = match last_user.map(|i| &request.context[i]) {
        Some(ContextItem::User(text)) => text.as_str(),
        _ => "",
    };
    let input_tokens = input_tokens(request);
    if request.purpose == Purpose::Summary {
        return Plan {
            reasoning: Vec::new(),
            tool_calls: Vec::new(),
            text: summarise(message),
            fail: None,
            tps: 0.0,
            input_tokens,
            long: None,
        };
    }
    let directives = parse_directives(message);
    let results: Vec<(&str, &str)> = last_user
        .map(|i| &request.context[i + 1..])
        .unwrap_or_default()
        .iter()
        .filter_map(|item| match item {
            ContextItem::ToolResult { name, output, .. } => Some((name.as_str(), output.as_str())),
            _ => None,
        })
        .collect();
    let mut plan = Plan {
        reasoning: vec![format!(
            "The user asks: \u{201c}{}\u{201d}.",
            clip(&directives.rest, 80)
        )],
        tool_calls: Vec::new(),
        text: String::new(),
        fail: None,
        tps: directives.slow.unwrap_or(default_tps),
        input_tokens,
        long: directives.long.filter(|n| *n > 0),
    };
    if let Some(line) = memory_line(request) {
        plan.reasoning.push(line);
    }
    if !results.is_empty() {
        // Tools have answered this turn: write the final answer from their outputs.
        answer_from_results(&mut plan, &results);
        return plan;
    }
    plan.fail = directives.fail;
    let function_tools: Vec<&ToolSpec> = request
        .tools
        .iter()
        .filter(|tool| tool.name != ROUTING_TOOL)
        .collect();
    plan.tool_calls = calls_asked_for(request, &directives, &function_tools);
    if plan.tool_calls.is_empty() {
        answer_directly(&mut plan, request, &directives, &function_tools);
    } else {
        // The words of `/long` come with a direct answer only.
        plan.long = None;
        let names: Vec<String> = plan.tool_calls.iter().map(describe_call).collect();
        plan.reasoning
            .push(format!("I will {}.", names.join(" and ")));
    }
    plan
}

/// What memory brought into the instructions, so it is visible in the trace.
fn memory_line(request: &ModelRequest) -> Option<String> {
    let recalled = request
        .instructions
        .split_once(RETRIEVED_HEADER)
        .map_or(0, |(_, rest)| {
            rest.lines().filter(|l| l.starts_with("- (")).count()
        });
    let summarised = request.instructions.contains(SUMMARY_HEADER);
    if !summarised && recalled == 0 {
        return None;
    }
    Some(format!(
        "Memory gives me {}{}{}.",
        if summarised {
            "a summary of the earlier conversation"
        } else {
            ""
        },
        if summarised && recalled > 0 {
            " and "
        } else {
            ""
        },
        match recalled {
            0 => String::new(),
            1 => "one related earlier turn".to_string(),
            n => format!("{n} related earlier turns"),
        }
    ))
}

/// The final answer of a turn whose tools have answered: their outputs, summarised.
fn answer_from_results(plan: &mut Plan, results: &[(&str, &str)]) {
    plan.reasoning.push(format!(
        "{} tool result{} came back; I will summarise {}.",
        results.len(),
        if results.len() == 1 { "" } else { "s" },
        if results.len() == 1 { "it" } else { "them" }
    ));
    if let [(name, output)] = results {
        if *name == FILE_SEARCH_TOOL {
            plan.text = answer_from_documents(output);
            return;
        }
    }
    let mut text = String::from("Here is what I found:\n");
    for (name, output) in results {
        let output = clip(output.trim(), 600).replace('\n', " ");
        if *name == ROUTING_TOOL {
            text.push_str(&format!("\n- Routed answer: {output}"));
        } else {
            text.push_str(&format!("\n- `{name}`: {output}"));
        }
    }
    plan.text = text;
}

/// The calls the message asks for: by directive (`/tool`, `/route`), else by mentioning a
/// tool (by name or description) or a colleague.
fn calls_asked_for(
    request: &ModelRequest,
    directives: &Directives,
    function_tools: &[&ToolSpec],
) -> Vec<(String, String)> {
    let mut calls = Vec::new();
    for (name, args) in &directives.tools {
        let resolved = function_tools
            .iter()
            .find(|tool| tool.name == *name || tool.name.ends_with(&format!("__{name}")))
            .map_or(name.clone(), |tool| tool.name.clone());
        calls.push((resolved, args.clone()));
    }
    for (target, text) in &directives.routes {
        let text = if text.is_empty() {
            &directives.rest
        } else {
            text
        };
        calls.push((
            ROUTING_TOOL.to_string(),
            json!({"assistant": target, "message": text}).to_string(),
        ));
    }
    if !calls.is_empty() {
        return calls;
    }
    let lower = directives.rest.to_lowercase();
    for tool in function_tools {
        if tool.name == FILE_SEARCH_TOOL {
            continue;
        }
        let by_description =
            !tool.description.is_empty() && lower.contains(&tool.description.to_lowercase());
        if mentions(&lower, &tool.name) || by_description {
            calls.push((tool.name.clone(), arguments_for(tool, &directives.rest)));
        }
    }
    for route in &request.routes {
        if mentions(&lower, &route.name) {
            calls.push((
                ROUTING_TOOL.to_string(),
                json!({"assistant": route.name, "message": directives.rest}).to_string(),
            ));
        }
    }
    // With documents to search and nothing else to do, a question goes to them first.
    let question = without_file_notes(&directives.rest);
    if calls.is_empty()
        && !question.trim().is_empty()
        && function_tools.iter().any(|t| t.name == FILE_SEARCH_TOOL)
    {
        calls.push((
            FILE_SEARCH_TOOL.to_string(),
            json!({"query": question.trim()}).to_string(),
        ));
    }
    calls
}

/// The name of the document search tool.
const FILE_SEARCH_TOOL: &str = "file_search";

/// A message without the notes the runtime appends about its files (`[file …]`).
fn without_file_notes(text: &str) -> &str {
    text.find("\n\n[file ").map_or(text, |at| &text[..at])
}

/// The answer from `file_search` results: the best passage quoted with its citation,
/// the others cited.
fn answer_from_documents(output: &str) -> String {
    let parsed: Value = serde_json::from_str(output).unwrap_or(Value::Null);
    let query = parsed.get("query").and_then(Value::as_str).unwrap_or("");
    let results = parsed
        .get("results")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let field = |result: &Value, name: &str| {
        result
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let Some(best) = results.first() else {
        return format!(
            "I searched the documents for \u{201c}{}\u{201d} and found no passage about it.",
            clip(query, 120)
        );
    };
    let passage = clip_at_sentence(
        &field(best, "text")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" "),
        400,
    );
    let mut text = format!(
        "According to {}: \u{201c}{passage}\u{201d}",
        field(best, "citation")
    );
    let others: Vec<String> = results[1..]
        .iter()
        .map(|r| field(r, "citation"))
        .filter(|c| !c.is_empty())
        .collect();
    if !others.is_empty() {
        text.push_str(&format!("\n\nSee also {}.", others.join(", ")));
    }
    text
}

/// The answer when no tool or colleague is needed: what was read, and what could be asked.
fn answer_directly(
    plan: &mut Plan,
    request: &ModelRequest,
    directives: &Directives,
    function_tools: &[&ToolSpec],
) {
    plan.reasoning
        .push("No tool or colleague is needed; I will answer directly.".to_string());
    let mut text = format!(
        "**{}** here. I read your message ({} words):\n\n> {}\n\n",
        request.assistant_name,
        directives.rest.split_whitespace().count(),
        clip(&directives.rest, 200)
    );
    let images = images_received(request);
    if !images.is_empty() {
        text.push_str(&format!(
            "I received {} image{}: {}.\n\n",
            images.len(),
            if images.len() == 1 { "" } else { "s" },
            images.join(", ")
        ));
    }
    let tools: Vec<String> = function_tools
        .iter()
        .map(|t| format!("`{}`", t.name))
        .collect();
    let routes: Vec<&str> = request.routes.iter().map(|r| r.name.as_str()).collect();
    text.push_str("I am the built-in `local` model: offline and deterministic.");
    if !tools.is_empty() {
        text.push_str(&format!(
            " Mention a tool ({}) and I will call it.",
            tools.join(", ")
        ));
    }
    if !routes.is_empty() {
        text.push_str(&format!(
            " Name a colleague ({}) and I will route to them.",
            routes.join(", ")
        ));
    }
    plan.text = text;
}

/// "call `name`" or "route to colleague", for the reasoning.
fn describe_call((name, args): &(String, String)) -> String {
    if name == ROUTING_TOOL {
        let target = serde_json::from_str::<Value>(args)
            .ok()
            .and_then(|v| {
                v.get("assistant")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .unwrap_or_default();
        format!("route to {target}")
    } else {
        format!("call `{name}`")
    }
}

/// Splits text into deltas of one word each, keeping the whitespace.
fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split_inclusive(' ')
}

/// The error that ends a reply cut at its output bound (not retried).
/// One piece of the local model's output, in order.
enum Piece {
    /// A new reasoning step begins (costs no token).
    Step,
    Reasoning(String),
    Text(String),
}

fn truncated(bound: u64) -> ProviderError {
    ProviderError {
        retryable: false,
        ..ProviderError::coded(
            "max_output_tokens",
            format!("the reply reached its output bound of {bound} tokens"),
        )
    }
}

/// Paces deltas at `tps` per second; 0 means no pacing.
struct Pacer {
    start: Instant,
    interval: Option<Duration>,
    sent: u32,
}

impl Pacer {
    fn new(tps: f64) -> Self {
        Pacer {
            start: Instant::now(),
            interval: (tps > 0.0).then(|| Duration::from_secs_f64(1.0 / tps)),
            sent: 0,
        }
    }

    async fn tick(&mut self) {
        if let Some(interval) = self.interval {
            self.sent += 1;
            tokio::time::sleep_until(self.start + interval * self.sent).await;
        }
    }
}

impl Provider for LocalProvider {
    fn stream(&self, request: ModelRequest) -> ModelStream {
        let plan = plan(&request, self.tps);
        let request_bound = request.max_output_tokens;
        Box::pin(async_stream::stream! {
            if let Some(code) = plan.fail {
                yield Err(ProviderError::from_status(
                    code,
                    format!("the local model failed as asked (/fail {code})"),
                ));
                return;
            }
            let mut pacer = Pacer::new(plan.tps);
            let mut output_tokens = 0u64;
            // The reply's output bound: a word (or piece of arguments) is a token here.
            let bound = u64::from(request_bound);
            let over = |tokens: u64| tokens >= bound;
            // Reasoning steps, their words, then the text's: each word is a token. The
            // reasoning is short (from the prompt); the text may be `/long`, so it stays lazy.
            let reasoning: Vec<Piece> = plan
                .reasoning
                .iter()
                .flat_map(|step| {
                    std::iter::once(Piece::Step)
                        .chain(words(step).map(|word| Piece::Reasoning(word.to_string())))
                })
                .collect();
            let long = plan.long.unwrap_or(0);
            let text = words(&plan.text)
                .map(str::to_string)
                .chain((0..long).map(|i| {
                    let word = long_word(i, long);
                    if i == 0 { format!("\n\n{word}") } else { word }
                }))
                .map(Piece::Text);
            for piece in reasoning.into_iter().chain(text) {
                let event = match piece {
                    Piece::Step => {
                        yield Ok(ModelEvent::ReasoningStep);
                        continue;
                    }
                    Piece::Reasoning(word) => ModelEvent::ReasoningDelta(word),
                    Piece::Text(word) => ModelEvent::TextDelta(word),
                };
                if over(output_tokens) {
                    yield Ok(ModelEvent::Usage { input_tokens: plan.input_tokens, output_tokens });
                    yield Err(truncated(bound));
                    return;
                }
                pacer.tick().await;
                output_tokens += 1;
                yield Ok(event);
            }
            for (index, (name, args)) in plan.tool_calls.iter().enumerate() {
                pacer.tick().await;
                yield Ok(ModelEvent::ToolCallStart {
                    index,
                    id: agentdeck_model::new_id("call_"),
                    name: name.clone(),
                });
                let chars: Vec<char> = args.chars().collect();
                for piece in chars.chunks(24) {
                    pacer.tick().await;
                    output_tokens += 1;
                    yield Ok(ModelEvent::ToolCallArguments {
                        index,
                        delta: piece.iter().collect(),
                    });
                }
            }
            yield Ok(ModelEvent::Usage { input_tokens: plan.input_tokens, output_tokens });
            yield Ok(ModelEvent::Finished);
        })
    }
}

#[cfg(test)]
mod quote_tests {
    #[test]
    fn quotes_end_at_a_sentence() {
        let text = format!(
            "Liability shall not exceed $5M per annum. {} The rest follows here and goes on",
            "Each party indemnifies the other for claims arising from its own negligence, wilful misconduct or breach of this agreement, and for reasonable costs of defence. ".repeat(3)
        );
        let quote = super::clip_at_sentence(&text, 400);
        assert!(quote.chars().count() <= 400);
        assert!(quote.ends_with('.'), "{quote}");
        assert_eq!(super::clip_at_sentence("short.", 400), "short.");
        let words = "word ".repeat(200);
        let cut = super::clip_at_sentence(&words, 50);
        assert!(cut.ends_with("word…"), "{cut}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RouteTarget;

    fn request(message: &str) -> ModelRequest {
        ModelRequest {
            purpose: Default::default(),
            model: "local".into(),
            assistant_name: "triage".into(),
            instructions: String::new(),
            context: vec![ContextItem::User(message.into())],
            tools: vec![
                ToolSpec {
                    name: "lookup_order".into(),
                    description: "Look up an order".into(),
                    parameters: json!({"type":"object","properties":{"order_id":{"type":"string"}},"required":["order_id"]}),
                },
                ToolSpec {
                    name: ROUTING_TOOL.into(),
                    description: String::new(),
                    parameters: json!({}),
                },
            ],
            routes: vec![RouteTarget {
                id: "asst_1".into(),
                name: "billing".into(),
            }],
            max_output_tokens: 16_000,
        }
    }

    #[test]
    fn mentioned_tool_and_colleague_are_called_with_arguments_from_the_message() {
        let plan = plan(
            &request("Please lookup order ORD-4521 and ask Billing for a refund"),
            0.0,
        );
        assert_eq!(plan.tool_calls.len(), 2);
        assert_eq!(
            plan.tool_calls[0],
            ("lookup_order".into(), r#"{"order_id":"ORD-4521"}"#.into())
        );
        assert_eq!(plan.tool_calls[1].0, ROUTING_TOOL);
        assert!(plan.tool_calls[1].1.contains("\"assistant\":\"billing\""));
        assert!(plan.text.is_empty());
    }

    #[test]
    fn final_answer_after_tool_results_and_determinism() {
        let mut req = request("lookup order 7");
        req.context.push(ContextItem::ToolCalls(vec![]));
        req.context.push(ContextItem::ToolResult {
            call_id: "call_1".into(),
            name: "lookup_order".into(),
            output: "shipped".into(),
        });
        let first = plan(&req, 0.0);
        assert!(first.tool_calls.is_empty());
        assert!(first.text.contains("`lookup_order`: shipped"));
        assert_eq!(first, plan(&req, 0.0));
        assert!(!contains_word("billings", "billing"));
    }

    #[test]
    fn summaries_keep_the_earlier_one_and_stay_short() {
        let prompt = "Earlier summary: The user asked: \u{201c}where is ORD-1\u{201d}.\n\nTurns to fold in:\nuser: /slow 5 refund ORD-2 please\nassistant (billing): Here is what I found: - `refund_status`: approved\nassistant (triage): **triage** here. I read your message (3 words): > hi\n";
        let summary = summarise(prompt);
        assert_eq!(
            summary,
            "The user asked: \u{201c}where is ORD-1\u{201d}. The user asked: \u{201c}refund ORD-2 please\u{201d}. billing answered: \u{201c}Here is what I found: - refund_status: approved\u{201d}. triage answered directly, without tools."
        );
        let long = format!(
            "Turns to fold in:\n{}",
            "user: word word word word word word word word word word word word word word\n"
                .repeat(40)
        );
        assert!(summarise(&long).split_whitespace().count() <= SUMMARY_WORDS);
    }

    #[test]
    fn long_text_has_the_asked_number_of_words() {
        assert_eq!(long_text(2000).split_whitespace().count(), 2000);
    }
}
