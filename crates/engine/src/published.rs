//! One event as the bus publishes it: where it belongs and its SSE frame, serialised
//! once. Its own module because both the bus and the cluster (which relays events
//! between nodes) hold it, and neither should import the other for it.

use agentdeck_model::sse::frame;
use agentdeck_model::{EventKind, EventPayload};
use bytes::Bytes;

/// One published event: where it belongs and its SSE frame, serialised once.
#[derive(Debug)]
pub struct Published {
    /// 0 for a snapshot, which carries no `id:` line (resuming from it is not possible).
    pub id: u64,
    pub kind: EventKind,
    pub project_id: String,
    pub thread_id: String,
    pub assistant_id: Option<String>,
    pub message_id: Option<String>,
    pub frame: Bytes,
    /// A `message.created` of a reply that will stream (tracked until it completes).
    pub opens_reply: bool,
}

impl Published {
    /// An event made for one subscriber (a snapshot), without an id; its thread and
    /// message come from the payload.
    pub fn unnumbered(
        project_id: &str,
        assistant_id: Option<&str>,
        payload: &EventPayload,
    ) -> Published {
        Published {
            id: 0,
            kind: payload.kind(),
            project_id: project_id.to_string(),
            thread_id: payload.thread_id().to_string(),
            assistant_id: assistant_id.map(str::to_string),
            message_id: payload.message_id().map(str::to_string),
            frame: frame(0, payload.name(), &payload.to_json()),
            opens_reply: false,
        }
    }
}
