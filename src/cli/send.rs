//! `agentdeck send`: post a message and stream the reply to the terminal.

use super::export::wire_name;
use crate::client::{Client, ServerEvent};
use crate::model::requests::{MessageCreate, ThreadCreate};
use crate::model::{Content, EventPayload, Message, MessageStatus, Role, Thread};
use anyhow::{Result, anyhow, bail};
use futures::StreamExt;
use std::io::Write;
use std::process::ExitCode;

pub(super) async fn send(
    client: &Client,
    assistant: Option<String>,
    thread: Option<String>,
    json: bool,
    text: String,
) -> Result<ExitCode> {
    let thread: Thread = match thread {
        Some(id) => client.thread(&id).await?,
        None => {
            let assistants = client.list_assistants().await?.data;
            let chosen =
                match &assistant {
                    Some(wanted) => super::find_assistant(&assistants, wanted),
                    None => assistants.iter().find(|a| a.name == "triage").or(
                        if assistants.len() == 1 {
                            assistants.first()
                        } else {
                            None
                        },
                    ),
                };
            let Some(chosen) = chosen else {
                let names: Vec<&str> = assistants.iter().map(|a| a.name.as_str()).collect();
                bail!(
                    "choose an assistant with --assistant; there are: {}",
                    names.join(", ")
                );
            };
            client
                .create_thread(&ThreadCreate {
                    assistant_id: chosen.id.clone(),
                    ..Default::default()
                })
                .await?
        }
    };
    eprintln!("thread: {}", thread.id);
    let posted = client
        .post_message(
            &thread.id,
            &MessageCreate {
                role: Role::User,
                content: Some(Content::Text(text)),
                attachments: Vec::new(),
                tool_call_id: None,
            },
        )
        .await?;
    let reply_id = posted
        .response_message_id
        .ok_or_else(|| anyhow!("the server started no reply"))?;
    let mut stdout = std::io::stdout();
    let stream = client.message_stream(&thread.id, &reply_id);
    futures::pin_mut!(stream);
    let mut waiting = None;
    // What of the reply's text went out: a resume whose deltas were compacted sends the
    // rest with the completed message instead.
    let mut printed = String::new();
    while let Some(item) = stream.next().await {
        let event = match item {
            Ok(event) => event,
            Err(err) if err.status().is_some() => return Err(err.into()),
            Err(err) => {
                eprintln!("agentdeck: {err}; reconnecting");
                continue;
            }
        };
        if json {
            let line = crate::text::json_line(
                &serde_json::json!({"id": event.id, "event": event.name(), "data": event.data()}),
            );
            writeln!(stdout, "{line}")?;
        } else {
            print_event(&mut stdout, &event, &reply_id, &mut printed)?;
        }
        stdout.flush()?;
        if let EventPayload::ToolCallOutput(output) = &event.payload {
            if output.status.is_waiting() {
                waiting = Some(output.tool_call_id.clone());
                break;
            }
        }
    }
    if let Some(call_id) = waiting {
        if !json {
            writeln!(stdout)?;
        }
        eprintln!(
            "agentdeck: the reply waits for an operator on tool call {call_id} (thread {}); answer it with a role \"tool\" message or approve/deny it",
            thread.id
        );
        return Ok(ExitCode::from(3));
    }
    let message: Message = client.message(&thread.id, &reply_id).await?;
    if !json {
        writeln!(stdout)?;
    }
    match message.status {
        MessageStatus::Completed => Ok(ExitCode::SUCCESS),
        status => {
            let why = message.error.map_or_else(
                || "no reason given".to_string(),
                |e| format!("{} ({})", e.message, e.code.unwrap_or_default()),
            );
            eprintln!("agentdeck: the reply ended {}: {why}", wire_name(&status));
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Prints one event of a reply: its text to `out`, tool calls and routing to stderr.
fn print_event(
    out: &mut impl Write,
    event: &ServerEvent,
    reply_id: &str,
    printed: &mut String,
) -> std::io::Result<()> {
    use crate::text::sanitize;
    match &event.payload {
        EventPayload::MessageDelta(delta) if delta.message_id == reply_id => {
            printed.push_str(&delta.delta);
            write!(out, "{}", sanitize(&delta.delta))
        }
        EventPayload::MessageCreated(e) | EventPayload::MessageCompleted(e)
            if e.message_id == reply_id =>
        {
            // A snapshot or the final message: print whatever text went out without deltas.
            let text = e.message.text();
            if let Some(rest) = text.strip_prefix(printed.as_str()) {
                if !rest.is_empty() {
                    write!(out, "{}", sanitize(rest))?;
                    *printed = text;
                }
            }
            Ok(())
        }
        EventPayload::ToolCallCreated(created) => {
            eprintln!(
                "\n[tool call: {}]",
                sanitize(&created.tool_call.function.name)
            );
            Ok(())
        }
        EventPayload::ToolCallOutputDelta(delta) => {
            // What a running tool prints, as it prints it.
            eprint!("{}", sanitize(&delta.delta));
            Ok(())
        }
        EventPayload::ToolCallOutput(output) => {
            let text = sanitize(output.output.as_deref().unwrap_or(""));
            let first = text.lines().next().unwrap_or("");
            eprintln!(
                "[tool {}: {}] {first}",
                wire_name(&output.status),
                output
                    .latency_ms
                    .map_or("-".into(), |ms| format!("{ms} ms"))
            );
            Ok(())
        }
        EventPayload::Routing(routing) => {
            eprintln!(
                "[routed to {} in {}]",
                sanitize(&routing.to_assistant_id),
                sanitize(&routing.to_thread_id)
            );
            Ok(())
        }
        EventPayload::Error(error) => {
            eprintln!("\n[error: {}]", sanitize(&error.error.message));
            Ok(())
        }
        _ => Ok(()),
    }
}
