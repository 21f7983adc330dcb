//! Held answers in each wire format: which events start a tool call (so the stream is
//! held from there), and a denied call replaced by a notice, in a stream or a whole body,
//! so that the client's SDK reads an ordinary answer.

use super::{Denied, Wire};
use agentdeck_model::sse::SseEvent;
use serde_json::{Value, json};
use std::collections::HashMap;

impl Wire {
    /// The names of the tool calls a streamed event starts.
    pub fn started_tools(self, event: &SseEvent) -> Vec<String> {
        if !event.data.contains("\"name\"") {
            return Vec::new();
        }
        let Ok(data) = serde_json::from_str::<Value>(&event.data) else {
            return Vec::new();
        };
        let name = |value: Option<&Value>| value.and_then(Value::as_str).map(str::to_string);
        match self {
            Wire::Chat => data
                .get("choices")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|choice| choice.pointer("/delta/tool_calls")?.as_array())
                .flatten()
                .filter_map(|call| name(call.pointer("/function/name")))
                .filter(|name| !name.is_empty())
                .collect(),
            Wire::Responses => {
                let item = data.get("item");
                let is_call = item.and_then(|i| i.get("type")).and_then(Value::as_str)
                    == Some("function_call");
                let added =
                    data.get("type").and_then(Value::as_str) == Some("response.output_item.added");
                (added && is_call)
                    .then(|| name(item.and_then(|i| i.get("name"))))
                    .flatten()
                    .into_iter()
                    .collect()
            }
            Wire::Messages => {
                let block = data.get("content_block");
                let is_use =
                    block.and_then(|b| b.get("type")).and_then(Value::as_str) == Some("tool_use");
                (is_use)
                    .then(|| name(block.and_then(|b| b.get("name"))))
                    .flatten()
                    .into_iter()
                    .collect()
            }
        }
    }

    /// A held stream's events with each denied call replaced by its notice.
    pub fn deny_events(self, events: Vec<SseEvent>, denied: &[Denied]) -> Vec<SseEvent> {
        if denied.is_empty() {
            return events;
        }
        match self {
            Wire::Chat => deny_chat_stream(events, denied),
            Wire::Responses => deny_responses_stream(events, denied),
            Wire::Messages => deny_messages_stream(events, denied),
        }
    }

    /// A whole answer with each denied call replaced by its notice.
    pub fn deny_whole(self, answer: &mut Value, denied: &[Denied]) {
        if denied.is_empty() {
            return;
        }
        let notice_of = |id: &str| denied.iter().find(|d| d.call_id == id);
        match self {
            Wire::Chat => {
                let Some(choice) = answer.pointer_mut("/choices/0") else {
                    return;
                };
                let mut notices = Vec::new();
                let mut kept = 0;
                if let Some(calls) = choice
                    .pointer_mut("/message/tool_calls")
                    .and_then(Value::as_array_mut)
                {
                    calls.retain(|call| {
                        match notice_of(call.get("id").and_then(Value::as_str).unwrap_or("")) {
                            Some(denied) => {
                                notices.push(denied.notice.clone());
                                false
                            }
                            None => true,
                        }
                    });
                    kept = calls.len();
                }
                if let Some(message) = choice.get_mut("message").and_then(Value::as_object_mut) {
                    if kept == 0 {
                        message.remove("tool_calls");
                    }
                    let before = message
                        .get("content")
                        .and_then(Value::as_str)
                        .filter(|t| !t.is_empty())
                        .map(|t| format!("{t}\n\n"))
                        .unwrap_or_default();
                    message.insert(
                        "content".into(),
                        Value::String(before + &notices.join("\n")),
                    );
                }
                if kept == 0 {
                    choice["finish_reason"] = json!("stop");
                }
            }
            Wire::Responses => {
                if let Some(output) = answer.get_mut("output").and_then(Value::as_array_mut) {
                    for item in output.iter_mut() {
                        let call_id = item.get("call_id").and_then(Value::as_str).unwrap_or("");
                        if let Some(denied) = notice_of(call_id) {
                            *item = notice_item(denied, "completed");
                        }
                    }
                }
            }
            Wire::Messages => {
                let mut kept = 0;
                if let Some(blocks) = answer.get_mut("content").and_then(Value::as_array_mut) {
                    for block in blocks.iter_mut() {
                        if block.get("type").and_then(Value::as_str) != Some("tool_use") {
                            continue;
                        }
                        match notice_of(block.get("id").and_then(Value::as_str).unwrap_or("")) {
                            Some(denied) => *block = json!({"type": "text", "text": denied.notice}),
                            None => kept += 1,
                        }
                    }
                }
                if kept == 0 && answer.get("stop_reason") == Some(&json!("tool_use")) {
                    answer["stop_reason"] = json!("end_turn");
                }
            }
        }
    }
}

fn parsed(event: &SseEvent) -> Option<Value> {
    serde_json::from_str(&event.data).ok()
}

fn event_of(kind: &str, data: Value) -> SseEvent {
    SseEvent {
        event: kind.to_string(),
        data: data.to_string(),
        ..SseEvent::default()
    }
}

/// Chat Completions: the denied calls' pieces leave the chunks, a content chunk with the
/// notices goes before the finishing one, and with no call left the finish is "stop".
fn deny_chat_stream(events: Vec<SseEvent>, denied: &[Denied]) -> Vec<SseEvent> {
    // A call's id comes in its first chunk only; its later chunks carry its index.
    let mut denied_indexes = Vec::new();
    let mut kept_indexes = Vec::new();
    let mut template = None;
    for data in events.iter().filter_map(parsed) {
        template.get_or_insert_with(|| data.clone());
        let calls = data
            .pointer("/choices/0/delta/tool_calls")
            .and_then(Value::as_array);
        for call in calls.into_iter().flatten() {
            let index = call.get("index").and_then(Value::as_u64).unwrap_or(0);
            match call.get("id").and_then(Value::as_str) {
                Some(id) if denied.iter().any(|d| d.call_id == id) => denied_indexes.push(index),
                Some(_) => kept_indexes.push(index),
                None => {}
            }
        }
    }
    let notice = template.map(|mut chunk| {
        let text = denied
            .iter()
            .map(|d| d.notice.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        chunk["choices"] = json!([{"index": 0, "delta": {"content": text}, "finish_reason": null}]);
        if let Some(fields) = chunk.as_object_mut() {
            fields.remove("usage");
        }
        event_of("", chunk)
    });
    let mut notice = notice;
    let mut out = Vec::new();
    for event in events {
        let Some(mut data) = parsed(&event) else {
            // `[DONE]`: the notice goes before it at the latest.
            out.extend(notice.take());
            out.push(event);
            continue;
        };
        let mut finishing = false;
        if let Some(choice) = data.pointer_mut("/choices/0") {
            if let Some(calls) = choice
                .pointer_mut("/delta/tool_calls")
                .and_then(Value::as_array_mut)
            {
                calls.retain(|call| {
                    let index = call.get("index").and_then(Value::as_u64).unwrap_or(0);
                    !denied_indexes.contains(&index)
                });
                if calls.is_empty() {
                    if let Some(delta) = choice.get_mut("delta").and_then(Value::as_object_mut) {
                        delta.remove("tool_calls");
                    }
                }
            }
            if choice.get("finish_reason").is_some_and(|f| !f.is_null()) {
                finishing = true;
                if kept_indexes.is_empty() && choice["finish_reason"] == "tool_calls" {
                    choice["finish_reason"] = json!("stop");
                }
            }
            let empty = choice
                .get("delta")
                .and_then(Value::as_object)
                .is_none_or(|delta| delta.is_empty());
            if empty && !finishing {
                continue;
            }
        }
        if finishing {
            out.extend(notice.take());
        }
        out.push(SseEvent {
            data: data.to_string(),
            ..event
        });
    }
    out.extend(notice);
    out
}

/// Responses: a denied function call's item becomes a message item at the same output
/// index, its events those of a message, and the finished response lists it so.
fn deny_responses_stream(events: Vec<SseEvent>, denied: &[Denied]) -> Vec<SseEvent> {
    let mut denied_at: HashMap<u64, &Denied> = HashMap::new();
    let mut out = Vec::new();
    for event in events {
        let Some(mut data) = parsed(&event) else {
            out.push(event);
            continue;
        };
        let kind = data
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let index = data
            .get("output_index")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let sequence = data.get("sequence_number").cloned().unwrap_or(json!(0));
        if kind == "response.output_item.added" {
            let call_id = data
                .pointer("/item/call_id")
                .and_then(Value::as_str)
                .unwrap_or("");
            if let Some(denied) = denied.iter().find(|d| d.call_id == call_id) {
                denied_at.insert(index, denied);
                let item = notice_item(denied, "in_progress");
                let item_id = item["id"].clone();
                let part = json!({"type": "output_text", "text": "", "annotations": []});
                let whole =
                    json!({"type": "output_text", "text": denied.notice, "annotations": []});
                let common = |kind: &str, extra: Value| {
                    let mut data = json!({"type": kind, "sequence_number": sequence,
                        "output_index": index, "item_id": item_id, "content_index": 0});
                    if let (Some(data), Some(extra)) = (data.as_object_mut(), extra.as_object()) {
                        data.extend(extra.clone());
                    }
                    event_of(kind, data)
                };
                let mut added = item.clone();
                added["content"] = json!([]);
                out.push(event_of(
                    kind.as_str(),
                    json!({"type": kind, "sequence_number": sequence,
                    "output_index": index, "item": added}),
                ));
                out.push(common("response.content_part.added", json!({"part": part})));
                out.push(common(
                    "response.output_text.delta",
                    json!({"delta": denied.notice, "logprobs": []}),
                ));
                out.push(common(
                    "response.output_text.done",
                    json!({"text": denied.notice, "logprobs": []}),
                ));
                out.push(common("response.content_part.done", json!({"part": whole})));
                continue;
            }
        }
        if let Some(denied) = denied_at
            .get(&index)
            .filter(|_| kind.starts_with("response."))
        {
            if kind == "response.output_item.done" {
                data["item"] = notice_item(denied, "completed");
                out.push(SseEvent {
                    data: data.to_string(),
                    ..event
                });
            } else if kind.starts_with("response.function_call_arguments.") {
                // The denied call's arguments are not the client's to see.
            } else if !kind.starts_with("response.output_item.")
                && data.get("output_index").is_some()
            {
                // Another event of the denied item: dropped with it.
            } else {
                out.push(deny_in_response(event, data, denied_at.values().copied()));
            }
            continue;
        }
        if data.get("response").is_some() {
            out.push(deny_in_response(event, data, denied_at.values().copied()));
        } else {
            out.push(event);
        }
    }
    out
}

/// An event carrying the whole response (`response.completed`): its denied calls listed
/// as their notices.
fn deny_in_response<'a>(
    event: SseEvent,
    mut data: Value,
    denied: impl Iterator<Item = &'a Denied> + Clone,
) -> SseEvent {
    if let Some(output) = data
        .pointer_mut("/response/output")
        .and_then(Value::as_array_mut)
    {
        for item in output.iter_mut() {
            let call_id = item.get("call_id").and_then(Value::as_str).unwrap_or("");
            if let Some(denied) = denied.clone().find(|d| d.call_id == call_id) {
                *item = notice_item(denied, "completed");
            }
        }
    }
    SseEvent {
        data: data.to_string(),
        ..event
    }
}

/// A Responses message item saying why a call was not made.
fn notice_item(denied: &Denied, status: &str) -> Value {
    json!({"type": "message", "id": format!("msg_denied_{}", denied.call_id), "role": "assistant",
        "status": status,
        "content": [{"type": "output_text", "text": denied.notice, "annotations": []}]})
}

/// Anthropic Messages: a denied `tool_use` block becomes a text block with the notice at
/// the same index; with no tool use left the stop reason is `end_turn`.
fn deny_messages_stream(events: Vec<SseEvent>, denied: &[Denied]) -> Vec<SseEvent> {
    let mut denied_blocks = Vec::new();
    let mut kept_uses = 0;
    let mut out = Vec::new();
    for event in events {
        let Some(mut data) = parsed(&event) else {
            out.push(event);
            continue;
        };
        let index = data.get("index").and_then(Value::as_u64).unwrap_or(0);
        match data.get("type").and_then(Value::as_str).unwrap_or("") {
            "content_block_start"
                if data.pointer("/content_block/type") == Some(&json!("tool_use")) =>
            {
                let id = data
                    .pointer("/content_block/id")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let Some(denied) = denied.iter().find(|d| d.call_id == id) else {
                    kept_uses += 1;
                    out.push(event);
                    continue;
                };
                denied_blocks.push(index);
                out.push(event_of(
                    "content_block_start",
                    json!({"type": "content_block_start",
                    "index": index, "content_block": {"type": "text", "text": ""}}),
                ));
                out.push(event_of(
                    "content_block_delta",
                    json!({"type": "content_block_delta",
                    "index": index, "delta": {"type": "text_delta", "text": denied.notice}}),
                ));
            }
            "content_block_delta" if denied_blocks.contains(&index) => {}
            "message_delta" if kept_uses == 0 => {
                if data.pointer("/delta/stop_reason") == Some(&json!("tool_use")) {
                    data["delta"]["stop_reason"] = json!("end_turn");
                }
                out.push(SseEvent {
                    data: data.to_string(),
                    ..event
                });
            }
            _ => out.push(event),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn denied() -> Vec<Denied> {
        vec![Denied {
            call_id: "call_9".into(),
            name: "refund".into(),
            notice: "The call to `refund` was not made. The operator denied this call.".into(),
        }]
    }

    fn chat(data: Value) -> SseEvent {
        event_of("", data)
    }

    #[test]
    fn a_denied_chat_call_becomes_content_and_the_answer_stops() {
        let events = vec![
            chat(
                json!({"id": "c", "model": "m", "choices": [{"index": 0, "delta": {"role": "assistant", "tool_calls": [
                {"index": 0, "id": "call_9", "type": "function", "function": {"name": "refund", "arguments": ""}}]}}]}),
            ),
            chat(
                json!({"id": "c", "model": "m", "choices": [{"index": 0, "delta": {"tool_calls": [
                {"index": 0, "function": {"arguments": "{\"order\":1}"}}]}}]}),
            ),
            chat(
                json!({"id": "c", "model": "m", "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}),
            ),
            SseEvent {
                data: "[DONE]".into(),
                ..SseEvent::default()
            },
        ];
        assert_eq!(
            Wire::Chat.started_tools(&events[0]),
            vec!["refund".to_string()]
        );
        let out = Wire::Chat.deny_events(events, &denied());
        let text: Vec<&str> = out.iter().map(|e| e.data.as_str()).collect();
        assert_eq!(out.len(), 4, "{text:#?}");
        assert!(!out.iter().any(|e| e.data.contains("order")), "{text:#?}");
        assert!(out[1].data.contains("was not made"), "{text:#?}");
        assert!(
            out[2].data.contains("\"finish_reason\":\"stop\""),
            "{text:#?}"
        );
        assert_eq!(out[3].data, "[DONE]");

        let mut whole = json!({"choices": [{"message": {"role": "assistant", "content": null,
            "tool_calls": [{"id": "call_9", "function": {"name": "refund", "arguments": "{}"}}]},
            "finish_reason": "tool_calls"}]});
        Wire::Chat.deny_whole(&mut whole, &denied());
        assert_eq!(whole["choices"][0]["finish_reason"], "stop");
        assert!(whole["choices"][0]["message"].get("tool_calls").is_none());
        assert!(
            whole["choices"][0]["message"]["content"]
                .as_str()
                .unwrap()
                .contains("refund")
        );
    }

    #[test]
    fn a_denied_responses_call_becomes_a_message_item() {
        let item = json!({"type": "function_call", "id": "fc_1", "call_id": "call_9", "name": "refund", "arguments": ""});
        let event = |kind: &str, data: Value| event_of(kind, data);
        let events = vec![
            event(
                "response.output_item.added",
                json!({"type": "response.output_item.added", "output_index": 0, "item": item}),
            ),
            event(
                "response.function_call_arguments.delta",
                json!({"type": "response.function_call_arguments.delta", "output_index": 0, "delta": "{}"}),
            ),
            event(
                "response.output_item.done",
                json!({"type": "response.output_item.done", "output_index": 0, "item": item}),
            ),
            event(
                "response.completed",
                json!({"type": "response.completed", "response": {"output": [item]}}),
            ),
        ];
        assert_eq!(
            Wire::Responses.started_tools(&events[0]),
            vec!["refund".to_string()]
        );
        let out = Wire::Responses.deny_events(events, &denied());
        let kinds: Vec<&str> = out.iter().map(|e| e.event.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.completed"
            ]
        );
        let completed: Value = serde_json::from_str(&out[6].data).unwrap();
        assert_eq!(completed["response"]["output"][0]["type"], "message");
    }

    #[test]
    fn a_denied_anthropic_tool_use_becomes_a_text_block() {
        let event = |kind: &str, data: Value| event_of(kind, data);
        let events = vec![
            event(
                "content_block_start",
                json!({"type": "content_block_start", "index": 1,
                "content_block": {"type": "tool_use", "id": "call_9", "name": "refund", "input": {}}}),
            ),
            event(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 1,
                "delta": {"type": "input_json_delta", "partial_json": "{\"order\":1}"}}),
            ),
            event(
                "content_block_stop",
                json!({"type": "content_block_stop", "index": 1}),
            ),
            event(
                "message_delta",
                json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"}}),
            ),
        ];
        let out = Wire::Messages.deny_events(events, &denied());
        assert_eq!(out.len(), 4);
        assert!(out[1].data.contains("text_delta") && out[1].data.contains("refund"));
        assert!(out[3].data.contains("end_turn"));
        let mut whole = json!({"content": [{"type": "tool_use", "id": "call_9", "name": "refund", "input": {}}],
            "stop_reason": "tool_use"});
        Wire::Messages.deny_whole(&mut whole, &denied());
        assert_eq!(whole["content"][0]["type"], "text");
        assert_eq!(whole["stop_reason"], "end_turn");
    }
}
