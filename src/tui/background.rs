//! The background tasks that feed the UI's one typed channel: the stream multiplexer
//! (a snapshot first, then every event the key may see) and the limits poller.

use super::app::{AppEvent, Connection as ConnState};
use crate::client::Client;
use futures::StreamExt;
use std::time::Duration;
use tokio::sync::mpsc;

/// The stream multiplexer: loads what the workspace shows first, then follows every
/// event the key may see (one subscription per server, resumed with Last-Event-ID) into
/// the one typed channel of the UI.
pub fn spawn_multiplexer(
    client: Client,
    events: mpsc::UnboundedSender<AppEvent>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let from = loop {
            match snapshot(&client).await {
                Ok((assistants, threads, has_more, last_id)) => {
                    let _ = events.send(AppEvent::Snapshot {
                        assistants,
                        threads,
                        has_more,
                    });
                    break last_id;
                }
                Err(err) => {
                    let _ = events.send(AppEvent::Connection(ConnState::Reconnecting(
                        err.to_string(),
                    )));
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        };
        let stream = client.events("/v2/events", from);
        futures::pin_mut!(stream);
        while let Some(item) = stream.next().await {
            let event = match item {
                Ok(event) => AppEvent::Server(event),
                Err(err) => AppEvent::Connection(ConnState::Reconnecting(err.to_string())),
            };
            if events.send(event).is_err() {
                return;
            }
        }
    })
}

/// Threads loaded at a time; more come as the cursor nears the end.
pub(super) const THREAD_PAGE: &str = "500";

/// Assistants, the newest threads (and whether there are more), and the event id they
/// are current as of.
pub(super) async fn snapshot(
    client: &Client,
) -> crate::client::ClientResult<(
    Vec<crate::model::Assistant>,
    Vec<crate::model::Thread>,
    bool,
    Option<u64>,
)> {
    let (threads, as_of) = client.list_threads_as_of(&[("limit", THREAD_PAGE)]).await?;
    let assistants = client.list_assistants().await?.data;
    Ok((assistants, threads.data, threads.has_more, as_of))
}

/// Tokens in the last minute, limits and estimated cost, summed over the projects the key
/// sees: refreshed at most every 2 s while something happens, once more a minute after the
/// last activity (the window has emptied by then), and never while all is idle.
pub(super) fn spawn_limits(
    client: Client,
    events: mpsc::UnboundedSender<AppEvent>,
    activity: std::sync::Arc<tokio::sync::Notify>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut settle_pending = false;
        loop {
            if let Ok(projects) = client.list_projects().await {
                let mut total: Option<crate::model::LimitsView> = None;
                for project in projects.data {
                    let Ok(limits) = client.limits(&project.id).await else {
                        continue;
                    };
                    total = Some(match total {
                        None => limits,
                        Some(mut sum) => {
                            sum.tokens_per_minute += limits.tokens_per_minute;
                            sum.tokens_used_last_minute += limits.tokens_used_last_minute;
                            sum.estimated_cost += limits.estimated_cost;
                            sum.running_threads += limits.running_threads;
                            sum.queued_threads += limits.queued_threads;
                            sum
                        }
                    });
                }
                if let Some(total) = total {
                    if events.send(AppEvent::Limits(total)).is_err() {
                        return;
                    }
                }
            }
            tokio::select! {
                _ = activity.notified() => {
                    settle_pending = true;
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
                _ = tokio::time::sleep(Duration::from_secs(61)), if settle_pending => settle_pending = false,
            }
        }
    })
}
