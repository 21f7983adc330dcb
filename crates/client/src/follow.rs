//! Following a runtime: what a workspace shows first (assistants, the newest threads),
//! then every event the key may see from the moment that snapshot was current, resumed
//! with `Last-Event-ID` across reconnects. The terminal UI feeds this into its channel;
//! anything else (a script, a second UI) can follow a runtime the same way.

use super::{Client, ClientResult, ServerEvent};
use agentdeck_model::{Assistant, Thread};
use futures::{Stream, StreamExt};
use std::time::Duration;

/// Threads loaded at a time; more are paged in on demand.
pub const THREAD_PAGE: &str = "500";

/// One item of [`follow`].
#[derive(Debug, Clone, PartialEq)]
pub enum Followed {
    /// What to show first, current as of the events that follow it.
    Snapshot {
        assistants: Vec<Assistant>,
        threads: Vec<Thread>,
        has_more: bool,
    },
    Event(ServerEvent),
    /// The connection dropped; it is being retried.
    Reconnecting(String),
    /// The runtime answered (after the snapshot, and after every reconnect): connected,
    /// whether or not an event comes.
    Connected,
}

/// Assistants, the newest threads (and whether there are more), and the event id they
/// are current as of.
async fn snapshot(
    client: &Client,
) -> ClientResult<(Vec<Assistant>, Vec<Thread>, bool, Option<u64>)> {
    let (threads, as_of) = client.list_threads_as_of(&[("limit", THREAD_PAGE)]).await?;
    let assistants = client.list_assistants().await?.data;
    Ok((assistants, threads.data, threads.has_more, as_of))
}

/// A snapshot first (retried every second until it comes), then the live events.
pub fn follow(client: Client) -> impl Stream<Item = Followed> + Send {
    async_stream::stream! {
        let from = loop {
            match snapshot(&client).await {
                Ok((assistants, threads, has_more, last_id)) => {
                    yield Followed::Snapshot { assistants, threads, has_more };
                    break last_id;
                }
                Err(err) => {
                    yield Followed::Reconnecting(err.to_string());
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        };
        let stream = client.watch("/v2/events", from);
        futures::pin_mut!(stream);
        while let Some(item) = stream.next().await {
            yield match item {
                Ok(super::Watched::Open) => Followed::Connected,
                Ok(super::Watched::Event(event)) => Followed::Event(event),
                Err(err) => Followed::Reconnecting(err.to_string()),
            };
        }
    }
}
