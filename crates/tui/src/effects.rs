//! Carries out the app's effects through the API, off the loop, and reports back.

use super::app::{AppEvent, CostRow, Effect, LiveCall};
use agentdeck_client::follow::THREAD_PAGE;
use agentdeck_client::{Client, ClientError};
use agentdeck_model::requests::{MessageCreate, ThreadCreate, ThreadPatch};
use agentdeck_model::{Content, Role, ThreadStatus};
use std::collections::HashMap;
use tokio::sync::mpsc;

/// Carries out effects off the loop. Effects that change one thread run in the order
/// they were asked for (a post then a close never swap), each thread in its own lane;
/// the rest run at once.
pub(super) fn spawn_worker(
    client: Client,
    events: mpsc::UnboundedSender<AppEvent>,
) -> mpsc::UnboundedSender<Effect> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Effect>();
    tokio::spawn(async move {
        let mut lanes: HashMap<String, mpsc::UnboundedSender<Effect>> = HashMap::new();
        while let Some(effect) = rx.recv().await {
            let Some(thread_id) = effect.changed_thread().map(str::to_string) else {
                tokio::spawn(execute(client.clone(), events.clone(), effect));
                continue;
            };
            let lane = lanes.entry(thread_id).or_insert_with(|| {
                let (lane_tx, mut lane_rx) = mpsc::unbounded_channel::<Effect>();
                let (client, events) = (client.clone(), events.clone());
                tokio::spawn(async move {
                    while let Some(effect) = lane_rx.recv().await {
                        execute(client.clone(), events.clone(), effect).await;
                    }
                });
                lane_tx
            });
            if let Err(failed) = lane.send(effect) {
                tokio::spawn(execute(client.clone(), events.clone(), failed.0));
            }
        }
    });
    tx
}

pub(super) async fn execute(
    client: Client,
    events: mpsc::UnboundedSender<AppEvent>,
    effect: Effect,
) {
    // What the user wrote comes back to the composer if sending fails.
    let draft = match &effect {
        Effect::Post { text, .. }
        | Effect::NewThread { text, .. }
        | Effect::AnswerTool { text, .. } => Some(text.clone()),
        _ => None,
    };
    if let Err(err) = carry_out(&client, &events, effect).await {
        let _ = events.send(AppEvent::Notice(err.to_string()));
        if let Some(draft) = draft {
            let _ = events.send(AppEvent::RestoreDraft(draft));
        }
    }
}

/// One effect through the API; what it loads goes back to the app as an event.
async fn carry_out(
    client: &Client,
    events: &mpsc::UnboundedSender<AppEvent>,
    effect: Effect,
) -> Result<(), ClientError> {
    let event = match effect {
        Effect::LoadMessages(thread_id) => {
            let messages = client.all_messages(&thread_id).await?;
            AppEvent::Messages {
                thread_id,
                messages,
            }
        }
        Effect::LoadToolHistory(thread_ids) => {
            AppEvent::ToolHistory(tool_history(client, thread_ids).await)
        }
        Effect::LoadTrace(root) => {
            let logs = trace_logs(client, &root).await;
            AppEvent::TraceLoaded { root, events: logs }
        }
        Effect::LoadTails(thread_ids) => {
            send_tails(client, events, thread_ids).await;
            return Ok(());
        }
        Effect::LoadMemory(thread_id) => AppEvent::Memory(client.memory(&thread_id).await?),
        Effect::LoadMoreThreads(after) => {
            let page = client
                .list_threads(&[("limit", THREAD_PAGE), ("after", &after)])
                .await?;
            AppEvent::MoreThreads {
                threads: page.data,
                has_more: page.has_more,
            }
        }
        Effect::LoadCosts => costs(client).await?,
        Effect::LoadAssistant(id) => AppEvent::Assistant(client.assistant(&id).await?),
        Effect::FetchThread(thread_id) => AppEvent::Open(client.thread(&thread_id).await?),
        Effect::Attach(path) => match read_attachment(&path).await {
            Ok((name, text)) => AppEvent::Attached { name, text },
            Err(why) => AppEvent::Notice(why),
        },
        Effect::SearchAll { query, seq } => {
            let hits = client
                .search(&query, None, None, 50)
                .await
                .map_err(|err| err.to_string());
            AppEvent::SearchResults { seq, hits }
        }
        Effect::FilterSearch { query, seq } => {
            // A search that fails leaves the filter to what the workspace holds.
            let Ok(hits) = client.search(&query, None, None, 200).await else {
                return Ok(());
            };
            let threads = hits.into_iter().map(|hit| hit.thread_id).collect();
            AppEvent::FilterHits { seq, threads }
        }
        Effect::Demo => {
            let started = agentdeck_client::demo::start(client).await?;
            AppEvent::Notice(format!("The demo started {} threads.", started.len()))
        }
        Effect::NewThread { assistant_id, text } => {
            let thread = client
                .create_thread(&ThreadCreate {
                    assistant_id,
                    ..Default::default()
                })
                .await?;
            let thread_id = thread.id.clone();
            let _ = events.send(AppEvent::Open(thread));
            client.post_message(&thread_id, &user_message(text)).await?;
            return Ok(());
        }
        change @ (Effect::Post { .. }
        | Effect::AnswerTool { .. }
        | Effect::Approve { .. }
        | Effect::Deny { .. }
        | Effect::Cancel(_)
        | Effect::Close(_)
        | Effect::Reassign { .. }) => return change_thread(client, change).await,
        // Carried out by the loop: they need the terminal.
        Effect::Quit
        | Effect::Theme(_)
        | Effect::Copy(_)
        | Effect::EditTool { .. }
        | Effect::DebugPanic => return Ok(()),
    };
    let _ = events.send(event);
    Ok(())
}

/// The effects that change a thread and report nothing back but a failure.
async fn change_thread(client: &Client, effect: Effect) -> Result<(), ClientError> {
    match effect {
        Effect::Post { thread_id, text } => {
            client.post_message(&thread_id, &user_message(text)).await?;
        }
        Effect::AnswerTool {
            thread_id,
            call_id,
            text,
        } => {
            let answer = MessageCreate {
                role: Role::Tool,
                content: Some(Content::Text(text)),
                attachments: vec![],
                tool_call_id: Some(call_id),
            };
            client.post_message(&thread_id, &answer).await?;
        }
        Effect::Approve {
            thread_id,
            call_id,
            arguments,
        } => {
            let arguments = arguments.map(serde_json::Value::String);
            client.approve(&thread_id, &call_id, arguments).await?;
        }
        Effect::Deny { thread_id, call_id } => {
            let reason = Some("denied from the workspace".into());
            client.deny(&thread_id, &call_id, reason).await?;
        }
        Effect::Cancel(thread_id) => {
            client.cancel(&thread_id).await?;
        }
        Effect::Close(thread_id) => {
            let patch = ThreadPatch {
                status: Some(ThreadStatus::Closed),
                ..Default::default()
            };
            client.patch_thread(&thread_id, &patch).await?;
        }
        Effect::Reassign {
            thread_id,
            assistant_id,
        } => {
            let patch = ThreadPatch {
                assistant_id: Some(assistant_id),
                ..Default::default()
            };
            client.patch_thread(&thread_id, &patch).await?;
        }
        // carry_out hands over only the changes above.
        _ => {}
    }
    Ok(())
}

fn user_message(text: String) -> MessageCreate {
    MessageCreate {
        role: Role::User,
        content: Some(Content::Text(text)),
        attachments: vec![],
        tool_call_id: None,
    }
}

/// The latest tool calls of the given threads, newest first.
async fn tool_history(client: &Client, thread_ids: Vec<String>) -> Vec<LiveCall> {
    let mut found: Vec<(u64, LiveCall)> = Vec::new();
    for thread_id in thread_ids {
        // A thread that went away meanwhile is no reason to stop.
        let Ok(page) = client
            .list_messages(&thread_id, &[("order", "desc"), ("limit", "20")])
            .await
        else {
            continue;
        };
        for message in page.data {
            for call in message.tool_calls {
                let thread_id = thread_id.clone();
                found.push((message.created_at, LiveCall { thread_id, call }));
            }
        }
    }
    found.sort_by_key(|(at, _)| std::cmp::Reverse(*at));
    found.into_iter().map(|(_, call)| call).collect()
}

/// The last few messages of each wall tile's thread, one event per thread.
async fn send_tails(
    client: &Client,
    events: &mpsc::UnboundedSender<AppEvent>,
    thread_ids: Vec<String>,
) {
    for thread_id in thread_ids {
        // A thread that went away meanwhile leaves its tile empty.
        let Ok(page) = client
            .list_messages(&thread_id, &[("order", "desc"), ("limit", "4")])
            .await
        else {
            continue;
        };
        let mut messages = page.data;
        messages.reverse();
        let _ = events.send(AppEvent::Tail {
            thread_id,
            messages,
        });
    }
}

/// Each project's costs by assistant, dearest first, and their total.
async fn costs(client: &Client) -> Result<AppEvent, ClientError> {
    let mut rows = Vec::new();
    let mut total = 0.0;
    for project in client.list_projects().await?.data {
        let costs = client.costs(&project.id).await?;
        total += costs["estimated_cost"].as_f64().unwrap_or(0.0);
        for row in costs["data"].as_array().into_iter().flatten() {
            rows.push(CostRow {
                assistant: row["name"].as_str().unwrap_or("?").to_string(),
                threads: row["threads"].as_u64().unwrap_or(0),
                cost: row["estimated_cost"].as_f64().unwrap_or(0.0),
            });
        }
    }
    rows.sort_by(|a, b| b.cost.total_cmp(&a.cost));
    Ok(AppEvent::Costs { rows, total })
}

/// Bytes of a file `:attach` takes; the runtime has no file store yet, so it goes as text.
pub(super) const ATTACH_LIMIT: u64 = 256 * 1024;

/// Reads a text file for `:attach PATH` (a leading `~/` is the home directory).
/// The logged events of `root` and of the threads it routed to, recursively (at most
/// `TRACE_THREADS` threads and `TRACE_EVENTS` events in all).
async fn trace_logs(
    client: &Client,
    root: &str,
) -> Result<Vec<agentdeck_client::ServerEvent>, String> {
    use super::app::{TRACE_EVENTS, TRACE_THREADS};
    let mut all = Vec::new();
    let mut queue = std::collections::VecDeque::from([root.to_string()]);
    let mut seen = std::collections::HashSet::from([root.to_string()]);
    while let Some(thread) = queue.pop_front() {
        let log = match client
            .thread_log(&thread, TRACE_EVENTS.saturating_sub(all.len()))
            .await
        {
            Ok(log) => log,
            // The root must load; a routed thread that went away leaves its hop empty.
            Err(err) if thread == root => return Err(err.to_string()),
            Err(_) => continue,
        };
        for event in &log {
            if let agentdeck_model::EventPayload::Routing(r) = &event.payload {
                if seen.len() < TRACE_THREADS && seen.insert(r.to_thread_id.clone()) {
                    queue.push_back(r.to_thread_id.clone());
                }
            }
        }
        all.extend(log);
        if all.len() >= TRACE_EVENTS {
            break;
        }
    }
    Ok(all)
}

pub(super) async fn read_attachment(path: &str) -> Result<(String, String), String> {
    let expanded = match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => std::path::PathBuf::from(home).join(rest),
        _ => std::path::PathBuf::from(path),
    };
    let metadata = tokio::fs::metadata(&expanded)
        .await
        .map_err(|err| format!("Cannot attach {path}: {err}"))?;
    if !metadata.is_file() {
        return Err(format!("Cannot attach {path}: not a file"));
    }
    if metadata.len() > ATTACH_LIMIT {
        return Err(format!(
            "Cannot attach {path}: {} bytes is over the {} KiB limit",
            metadata.len(),
            ATTACH_LIMIT / 1024
        ));
    }
    let bytes = tokio::fs::read(&expanded)
        .await
        .map_err(|err| format!("Cannot attach {path}: {err}"))?;
    let text =
        String::from_utf8(bytes).map_err(|_| format!("Cannot attach {path}: not UTF-8 text"))?;
    let name = expanded
        .file_name()
        .map_or_else(|| path.to_string(), |n| n.to_string_lossy().into_owned());
    Ok((name, text))
}
