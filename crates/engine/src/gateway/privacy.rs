//! `[gateway] privacy`: personal data in what a client sends is replaced by placeholders
//! before the call leaves for the provider, and the placeholders in the answer are
//! restored — in what the client receives and in what the workspace shows. A streamed
//! placeholder split across deltas is held back until it is whole, per streamed field.

use super::Wire;
use crate::privacy::{Redactor, Restorer};
use agentdeck_model::sse::SseEvent;
use serde_json::Value;
use std::collections::HashMap;

/// Keys whose values are structure, not what someone wrote: never redacted.
const STRUCTURAL_KEYS: &[&str] = &[
    "role",
    "type",
    "id",
    "call_id",
    "tool_call_id",
    "tool_use_id",
    "name",
    "model",
    "url",
    "image_url",
    "data",
    "media_type",
    "cache_control",
    "status",
    "signature",
    "file_id",
    "detail",
    "format",
];

/// One call's redaction: what it replaced, to restore the answer with.
pub struct Redaction {
    redactor: Redactor,
}

impl Redaction {
    /// The call's redaction, when `[gateway] privacy` asks for one.
    pub fn new(privacy: &agentdeck_model::Privacy) -> Option<Redaction> {
        Redactor::new(privacy).map(|redactor| Redaction { redactor })
    }

    /// Redacts everything the client wrote: the conversation (messages, tool calls and
    /// their results) and the instructions, in `wire`'s request shape.
    pub fn redact_request(&mut self, wire: Wire, body: &mut Value) {
        let fields: &[&str] = match wire {
            Wire::Chat => &["messages"],
            Wire::Responses => &["instructions", "input"],
            Wire::Messages => &["system", "messages"],
        };
        for field in fields {
            if let Some(value) = body.get_mut(*field) {
                self.redact_value(value);
            }
        }
    }

    fn redact_value(&mut self, value: &mut Value) {
        match value {
            Value::String(text) => *text = self.redactor.redact(text),
            Value::Array(items) => items.iter_mut().for_each(|item| self.redact_value(item)),
            Value::Object(fields) => {
                for (key, value) in fields.iter_mut() {
                    if !STRUCTURAL_KEYS.contains(&key.as_str()) {
                        self.redact_value(value);
                    }
                }
            }
            _ => {}
        }
    }

    /// Whether anything was replaced (the call's telemetry flags it).
    pub fn replaced_any(&self) -> bool {
        self.redactor.replaced_any()
    }

    /// What restores the answer in `wire`'s shape.
    pub fn restorer(&self, wire: Wire) -> AnswerRestorer {
        AnswerRestorer {
            wire,
            whole: self.redactor.restorer(),
            open: HashMap::new(),
        }
    }
}

/// Restores the placeholders of one answer: whole bodies at once, streams event by event.
pub struct AnswerRestorer {
    wire: Wire,
    whole: Restorer,
    /// Streamed fields by key (which choice, item or block, and which of its texts).
    open: HashMap<String, OpenField>,
}

/// A streamed field: its restorer, and the last event that carried it (the shape a
/// held-back remainder goes out in).
struct OpenField {
    restorer: Restorer,
    template: Option<(SseEvent, Value, String)>,
}

impl AnswerRestorer {
    /// Every placeholder in every string of a whole answer, restored.
    pub fn whole(&self, answer: &mut Value) {
        restore_strings(answer, &self.whole);
    }

    /// Text (an error body) with its placeholders restored.
    pub fn text(&self, text: &str) -> String {
        self.whole.restore(text)
    }

    /// One streamed event, restored: none while a placeholder it starts is incomplete,
    /// or more than one when held-back text must go out before it.
    pub fn event(&mut self, event: SseEvent) -> Vec<SseEvent> {
        let holding = self.open.values().any(|field| field.restorer.holds());
        if !holding && !event.data.contains('[') {
            return vec![event];
        }
        let Ok(mut data) = serde_json::from_str::<Value>(&event.data) else {
            return vec![event];
        };
        let fields = self.wire.streamed_fields(&event.event, &data);
        if fields.is_empty() {
            let mut out = self.finish();
            restore_strings(&mut data, &self.whole);
            out.push(with_data(event, &data));
            return out;
        }
        for (key, pointer) in &fields {
            let field = self.open.entry(key.clone()).or_insert_with(|| OpenField {
                restorer: self.whole.fresh(),
                template: None,
            });
            if let Some(Value::String(text)) = data.pointer_mut(pointer) {
                *text = field.restorer.push(text);
            }
        }
        // The shape a remainder goes out in: this event with only that field's text.
        for (key, pointer) in &fields {
            if let Some(field) = self.open.get_mut(key).filter(|f| f.restorer.holds()) {
                let mut template = data.clone();
                for (_, other) in &fields {
                    if let Some(Value::String(text)) = template.pointer_mut(other) {
                        text.clear();
                    }
                }
                field.template = Some((event.clone(), template, pointer.clone()));
            }
        }
        vec![with_data(event, &data)]
    }

    /// The text still held back, each field's in an event of its own shape: before an
    /// event that is not a delta (the fields have ended) and at the end of the stream.
    pub fn finish(&mut self) -> Vec<SseEvent> {
        let mut out = Vec::new();
        for field in self.open.values_mut() {
            if !field.restorer.holds() {
                continue;
            }
            let rest = field.restorer.finish();
            if let Some((event, mut template, pointer)) = field.template.take() {
                if let Some(slot) = template.pointer_mut(&pointer) {
                    *slot = Value::String(rest);
                }
                out.push(with_data(event, &template));
            }
        }
        out
    }
}

fn with_data(mut event: SseEvent, data: &Value) -> SseEvent {
    event.data = data.to_string();
    event
}

fn restore_strings(value: &mut Value, restorer: &Restorer) {
    match value {
        Value::String(text) if text.contains('[') => *text = restorer.restore(text),
        Value::Array(items) => items.iter_mut().for_each(|v| restore_strings(v, restorer)),
        Value::Object(fields) => fields
            .values_mut()
            .for_each(|v| restore_strings(v, restorer)),
        _ => {}
    }
}

impl Wire {
    /// The streamed text an event carries: (the field's key, its JSON pointer).
    pub(super) fn streamed_fields(self, event_type: &str, data: &Value) -> Vec<(String, String)> {
        let mut fields = Vec::new();
        match self {
            Wire::Chat => {
                let choices = data.get("choices").and_then(Value::as_array);
                for (i, choice) in choices.into_iter().flatten().enumerate() {
                    let n = choice.get("index").and_then(Value::as_u64).unwrap_or(0);
                    if choice
                        .pointer("/delta/content")
                        .is_some_and(Value::is_string)
                    {
                        fields.push((format!("c{n}"), format!("/choices/{i}/delta/content")));
                    }
                    let calls = choice
                        .pointer("/delta/tool_calls")
                        .and_then(Value::as_array);
                    for (j, call) in calls.into_iter().flatten().enumerate() {
                        let k = call.get("index").and_then(Value::as_u64).unwrap_or(0);
                        if call
                            .pointer("/function/arguments")
                            .is_some_and(Value::is_string)
                        {
                            fields.push((
                                format!("t{n}/{k}"),
                                format!("/choices/{i}/delta/tool_calls/{j}/function/arguments"),
                            ));
                        }
                    }
                }
            }
            Wire::Responses => {
                let kind = data
                    .get("type")
                    .and_then(Value::as_str)
                    .unwrap_or(event_type);
                if kind.ends_with(".delta") && data.get("delta").is_some_and(Value::is_string) {
                    let at = |key: &str| data.get(key).and_then(Value::as_u64).unwrap_or(0);
                    fields.push((
                        format!("{kind}/{}/{}", at("output_index"), at("content_index")),
                        "/delta".to_string(),
                    ));
                }
            }
            Wire::Messages => {
                if data.get("type").and_then(Value::as_str) == Some("content_block_delta") {
                    let n = data.get("index").and_then(Value::as_u64).unwrap_or(0);
                    for name in ["text", "partial_json", "thinking"] {
                        let pointer = format!("/delta/{name}");
                        if data.pointer(&pointer).is_some_and(Value::is_string) {
                            fields.push((format!("b{n}"), pointer));
                        }
                    }
                }
            }
        }
        fields
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agentdeck_model::{Privacy, PrivacyMode};

    fn strict() -> Redaction {
        Redaction::new(&Privacy {
            mode: PrivacyMode::Strict,
            allowed_entities: Vec::new(),
        })
        .unwrap()
    }

    fn event(kind: &str, data: Value) -> SseEvent {
        SseEvent {
            event: kind.into(),
            data: data.to_string(),
            ..SseEvent::default()
        }
    }

    #[test]
    fn a_request_loses_its_personal_data_but_not_its_structure() {
        let mut redaction = strict();
        let mut body = serde_json::json!({"model": "claude-x", "system": "Escalate to legal@firm.example",
            "messages": [{"role": "user", "content": [{"type": "text", "text": "I am jane@example.com"}]},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "tu_1", "name": "refund",
                    "input": {"card": "4111 1111 1111 1111"}}]}]});
        redaction.redact_request(Wire::Messages, &mut body);
        let sent = body.to_string();
        assert!(
            !sent.contains("jane@") && !sent.contains("legal@") && !sent.contains("4111"),
            "{sent}"
        );
        assert!(
            sent.contains("[EMAIL_1]") && sent.contains("[EMAIL_2]") && sent.contains("[CARD_1]")
        );
        assert_eq!(body["messages"][1]["content"][0]["name"], "refund");
        assert!(redaction.replaced_any());
    }

    #[test]
    fn a_streamed_placeholder_split_across_chunks_comes_back_whole() {
        let mut redaction = strict();
        let mut body =
            serde_json::json!({"messages": [{"role": "user", "content": "mail jane@example.com"}]});
        redaction.redact_request(Wire::Chat, &mut body);
        let mut restorer = redaction.restorer(Wire::Chat);
        let chunk = |text: &str| {
            event(
                "",
                serde_json::json!({"choices": [{"index": 0, "delta": {"content": text}}]}),
            )
        };
        let mut shown = String::new();
        let mut events = Vec::new();
        for piece in ["Writing to [EMA", "IL_1] now [EMAIL_"] {
            events.extend(restorer.event(chunk(piece)));
        }
        events.extend(restorer.event(event(
            "",
            serde_json::json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
        )));
        for event in &events {
            let data: Value = serde_json::from_str(&event.data).unwrap();
            shown.push_str(
                data.pointer("/choices/0/delta/content")
                    .and_then(Value::as_str)
                    .unwrap_or(""),
            );
        }
        assert_eq!(shown, "Writing to jane@example.com now [EMAIL_");
        // The held remainder went out before the finishing chunk.
        let last: Value = serde_json::from_str(&events.last().unwrap().data).unwrap();
        assert_eq!(last["choices"][0]["finish_reason"], "stop");
    }

    #[test]
    fn whole_answers_and_anthropic_blocks_are_restored() {
        let mut redaction = strict();
        let mut body = serde_json::json!({"input": "card 4111 1111 1111 1111"});
        redaction.redact_request(Wire::Responses, &mut body);
        assert_eq!(body["input"], "card [CARD_1]");
        let mut restorer = redaction.restorer(Wire::Messages);
        let mut answer =
            serde_json::json!({"content": [{"type": "text", "text": "Charged [CARD_1]."}]});
        restorer.whole(&mut answer);
        assert_eq!(answer["content"][0]["text"], "Charged 4111 1111 1111 1111.");
        let delta = |text: &str| {
            event(
                "content_block_delta",
                serde_json::json!({"type": "content_block_delta", "index": 0,
                "delta": {"type": "text_delta", "text": text}}),
            )
        };
        let mut shown = String::new();
        for piece in ["on [CA", "RD_1]!"] {
            for event in restorer.event(delta(piece)) {
                let data: Value = serde_json::from_str(&event.data).unwrap();
                shown.push_str(data["delta"]["text"].as_str().unwrap());
            }
        }
        assert_eq!(shown, "on 4111 1111 1111 1111!");
    }
}
