//! `agentdeck export`: a thread as Markdown.

use crate::model::{Message, MessageStatus, Role, Thread};

/// A UTC timestamp such as 2026-11-24 21:42 from unix seconds.
fn format_time(secs: u64) -> String {
    // 2026-11-24T21:42:05Z → 2026-11-24 21:42 UTC
    let stamp = crate::model::rfc3339(secs);
    format!("{} {} UTC", &stamp[..10], &stamp[11..16])
}

pub(super) use crate::model::wire_name;

pub fn export_markdown(
    thread: &Thread,
    messages: &[Message],
    name_of: &dyn Fn(&str) -> String,
) -> String {
    let mut md = String::new();
    md.push_str(&format!(
        "# {}\n\n",
        thread.title.as_deref().unwrap_or(&thread.id)
    ));
    md.push_str(&format!("- thread: `{}`\n", thread.id));
    md.push_str(&format!(
        "- assistant: {} (`{}`)\n",
        name_of(&thread.assistant_id),
        thread.assistant_id
    ));
    md.push_str(&format!("- status: {}\n", thread.status.as_str()));
    md.push_str(&format!("- created: {}\n", format_time(thread.created_at)));
    if let Some(parent) = &thread.parent_thread_id {
        md.push_str(&format!("- routed from: `{parent}`\n"));
    }
    for (key, value) in &thread.metadata {
        md.push_str(&format!("- {key}: {value}\n"));
    }
    for message in messages {
        let who = match message.role {
            Role::User => "user".to_string(),
            Role::Assistant => message
                .assistant_id
                .as_deref()
                .map_or("assistant".into(), name_of),
            Role::Tool => format!(
                "tool answer to `{}`",
                message.tool_call_id.as_deref().unwrap_or("?")
            ),
            Role::System => "system".into(),
        };
        md.push_str(&format!("\n## {who} · {}", format_time(message.created_at)));
        if message.status != MessageStatus::Completed {
            md.push_str(&format!(" ({})", wire_name(&message.status)));
        }
        md.push_str("\n\n");
        for step in &message.reasoning {
            md.push_str(&format!("> _reasoning:_ {}\n", step.text.trim()));
        }
        if !message.reasoning.is_empty() {
            md.push('\n');
        }
        for call in &message.tool_calls {
            md.push_str(&format!(
                "**Tool call** `{}` ({}{})\n\n```json\n{}\n```\n\n",
                call.function.name,
                wire_name(&call.status),
                call.latency_ms
                    .map_or(String::new(), |ms| format!(", {ms} ms")),
                call.function.arguments
            ));
            if let Some(output) = &call.output {
                md.push_str(&format!("```text\n{}\n```\n\n", output.trim_end()));
            }
        }
        let text = message.text();
        if !text.is_empty() {
            md.push_str(text.trim_end());
            md.push('\n');
        }
        if let Some(error) = &message.error {
            md.push_str(&format!("\n_error: {}_\n", error.message));
        }
    }
    md
}

#[cfg(test)]
mod tests {
    use super::format_time;

    #[test]
    fn formats_utc_dates() {
        assert_eq!(format_time(0), "1970-01-01 00:00 UTC");
        assert_eq!(format_time(1_717_020_000), "2024-05-29 22:00 UTC");
    }
}
