//! The background tasks that feed the UI's one typed channel: the stream multiplexer
//! (a snapshot first, then every event the key may see) and the limits poller.

use super::app::{AppEvent, Connection as ConnState};
use agentdeck_client::Client;
use agentdeck_client::follow::{Followed, follow};
use futures::StreamExt;
use std::time::Duration;
use tokio::sync::mpsc;

/// The stream multiplexer: forwards what [`follow`] yields (a snapshot, then every event
/// the key may see) into the one typed channel of the UI.
pub fn spawn_multiplexer(
    client: Client,
    events: mpsc::UnboundedSender<AppEvent>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let followed = follow(client);
        futures::pin_mut!(followed);
        while let Some(item) = followed.next().await {
            let event = match item {
                Followed::Snapshot {
                    assistants,
                    threads,
                    has_more,
                } => AppEvent::Snapshot {
                    assistants,
                    threads,
                    has_more,
                },
                Followed::Event(event) => AppEvent::Server(event),
                Followed::Reconnecting(why) => AppEvent::Connection(ConnState::Reconnecting(why)),
                Followed::Connected => AppEvent::Connection(ConnState::Connected),
            };
            if events.send(event).is_err() {
                return;
            }
        }
    })
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
                let mut total: Option<agentdeck_model::LimitsView> = None;
                for project in projects.data {
                    let Ok(limits) = client.limits(&project.id).await else {
                        continue;
                    };
                    match total.as_mut() {
                        None => total = Some(limits),
                        Some(sum) => sum.add(&limits),
                    }
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
