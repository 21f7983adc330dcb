//! A support-desk morning on the `local` model, played through the API, so that every
//! pane of a watching workspace comes alive without any key: customer threads arrive with
//! case ids and priorities, triage looks up orders and routes to billing and legal-review,
//! one tool call waits for an operator, and several replies stream at the same time.

use crate::{Client, ClientError, ClientResult};
use agentdeck_model::requests::{MessageCreate, ThreadCreate};
use agentdeck_model::{Content, Role};
use futures::StreamExt;
use std::collections::BTreeMap;

const MORNING: [(&str, &str, &str, &str); 6] = [
    (
        "triage",
        "CASE-2026-0501",
        "high",
        "Order ORD-7731 arrived damaged. Please lookup order ORD-7731 and ask billing about the refund status.",
    ),
    (
        "billing",
        "CASE-2026-0502",
        "normal",
        "/slow 25 /long 160 Can you summarise this month's invoices for ACME Corp?",
    ),
    (
        "legal-review",
        "CASE-2026-0503",
        "high",
        "Please retrieve clauses on termination from the Initech contract.",
    ),
    (
        "triage",
        "CASE-2026-0504",
        "low",
        "Is the liability in our Globex contract capped? Please check with legal-review.",
    ),
    (
        "triage",
        "CASE-2026-0505",
        "normal",
        "/slow 30 /long 120 Customer 4411 asks for a status update on their support ticket.",
    ),
    (
        "billing",
        "CASE-2026-0506",
        "high",
        "What is the refund status of order ORD-8842?",
    ),
];

/// A started demo thread and the reply it is waiting for.
#[derive(Debug, Clone)]
pub struct Started {
    pub assistant: String,
    pub thread_id: String,
    pub reply_id: String,
}

/// Starts the morning's threads; they run on the server.
pub async fn start(client: &Client) -> ClientResult<Vec<Started>> {
    let assistants = client.list_assistants().await?.data;
    let mut by_name = BTreeMap::new();
    // Prefer the Getting-started assistants when several share a name.
    let getting_started = client
        .list_projects()
        .await?
        .data
        .into_iter()
        .find(|p| p.name == agentdeck_model::GETTING_STARTED_PROJECT)
        .map(|p| p.id);
    for assistant in &assistants {
        let preferred = getting_started.as_deref() == Some(assistant.project_id.as_str());
        if preferred || !by_name.contains_key(assistant.name.as_str()) {
            by_name.insert(assistant.name.as_str(), assistant.id.clone());
        }
    }
    let mut started = Vec::new();
    for (name, case_id, priority, text) in MORNING {
        let Some(assistant_id) = by_name.get(name) else {
            return Err(ClientError::Decode {
                url: client.base_url().to_string(),
                message: format!(
                    "the demo needs an assistant named '{name}' (the Getting started project has it)"
                ),
            });
        };
        let metadata = BTreeMap::from([
            ("case_id".to_string(), case_id.to_string()),
            ("priority".to_string(), priority.to_string()),
        ]);
        let thread = client
            .create_thread(&ThreadCreate {
                assistant_id: assistant_id.clone(),
                metadata,
                title: None,
            })
            .await?;
        let message = MessageCreate {
            role: Role::User,
            content: Some(Content::Text(text.into())),
            attachments: vec![],
            tool_call_id: None,
        };
        let posted = client.post_message(&thread.id, &message).await?;
        started.push(Started {
            assistant: name.to_string(),
            thread_id: thread.id,
            reply_id: posted.response_message_id.unwrap_or_default(),
        });
    }
    Ok(started)
}

/// Follows a started reply until it is done or waits for an operator; says which.
pub async fn follow(client: &Client, started: &Started) -> String {
    let stream = client.message_stream(&started.thread_id, &started.reply_id);
    futures::pin_mut!(stream);
    while let Some(item) = stream.next().await {
        let Ok(event) = item else { continue };
        if let agentdeck_model::EventPayload::ToolCallOutput(output) = &event.payload {
            if output.status.is_waiting() {
                return "waits for an operator".into();
            }
        }
    }
    match client.message(&started.thread_id, &started.reply_id).await {
        Ok(message) => match serde_json::to_value(message.status) {
            Ok(serde_json::Value::String(status)) => status,
            _ => "ended".into(),
        },
        Err(err) => format!("unknown ({err})"),
    }
}
