//! The durable side of the event log: structural events, the streamed parts of replies in
//! progress, and the reservation of event ids.
//!
//! Deltas are not logged one by one. While a reply streams, the text, reasoning and
//! argument fragments that reached clients are held in memory as parts (adjacent ones
//! merged) and written here at each checkpoint, one part per reply; when the reply is
//! written whole (a tool call, its end) the parts are folded into the message and
//! deleted. Readers fold the written parts and then the held ones, so a reply reads the
//! same before and after a checkpoint. A crash leaves the message plus its written
//! parts, which recovery folds the same way.

use super::{Store, StoreError, StoreResult, codec, decode, kv, prefix_end};
use agentdeck_model::sync::lock;
use agentdeck_model::{LoggedEvent, Message, ReasoningStep};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::ops::Bound;

/// Parts held in memory until the next checkpoint, per message: `(seq, part)` in order,
/// `seq` being the event id of the last fragment the part holds.
pub(super) type HeldParts = HashMap<String, Vec<(u64, ReplyPart)>>;

/// One fragment of a streaming reply, as the committer appends it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub enum ReplyPart {
    #[serde(rename = "t")]
    Text(String),
    /// Appended to the last reasoning step (a new step is written with the whole message).
    #[serde(rename = "r")]
    Reasoning(String),
    #[serde(rename = "a")]
    Arguments { call_id: String, delta: String },
    /// A call's output as it ran (replaced by the whole output when the call ends).
    #[serde(rename = "o")]
    Output { call_id: String, delta: String },
}

impl ReplyPart {
    /// Adds `next` to this part when both extend the same thing; false if they do not.
    pub fn absorb(&mut self, next: &ReplyPart) -> bool {
        match (self, next) {
            (ReplyPart::Text(a), ReplyPart::Text(b)) => a.push_str(b),
            (ReplyPart::Reasoning(a), ReplyPart::Reasoning(b)) => a.push_str(b),
            (
                ReplyPart::Arguments { call_id, delta },
                ReplyPart::Arguments {
                    call_id: next_id,
                    delta: next_delta,
                },
            ) if call_id == next_id => delta.push_str(next_delta),
            (
                ReplyPart::Output { call_id, delta },
                ReplyPart::Output {
                    call_id: next_id,
                    delta: next_delta,
                },
            ) if call_id == next_id => delta.push_str(next_delta),
            _ => return false,
        }
        true
    }

    fn apply(self, message: &mut Message) {
        match self {
            ReplyPart::Text(text) => message.append_text(&text),
            ReplyPart::Reasoning(text) => match message.reasoning.last_mut() {
                // A new step's first fragment came with the break that set it apart.
                Some(step) if step.text.is_empty() => step
                    .text
                    .push_str(text.strip_prefix("\n\n").unwrap_or(&text)),
                Some(step) => step.text.push_str(&text),
                None => message.reasoning.push(ReasoningStep { text }),
            },
            ReplyPart::Arguments { call_id, delta } => {
                if let Some(call) = message.tool_calls.iter_mut().find(|c| c.id == call_id) {
                    call.function.arguments.push_str(&delta);
                }
            }
            ReplyPart::Output { call_id, delta } => {
                // Only while the call runs: a final output is whole already.
                if let Some(call) = message
                    .tool_calls
                    .iter_mut()
                    .find(|c| c.id == call_id && !c.status.is_final())
                {
                    call.output.get_or_insert_with(String::new).push_str(&delta);
                }
            }
        }
    }
}

const RESERVED_KEY: &str = "event_ids_reserved";

pub(super) fn part_prefix(message_id: &str) -> Vec<u8> {
    let mut key = message_id.as_bytes().to_vec();
    key.push(b'/');
    key
}

/// The seq at the end of a part's key (`MESSAGE_ID/SEQ`).
fn part_seq(key: &[u8]) -> u64 {
    key.len()
        .checked_sub(8)
        .map_or(0, |at| event_id(&key[at..]))
}

fn event_id(key: &[u8]) -> u64 {
    u64::from_be_bytes(key.try_into().unwrap_or([0; 8]))
}

/// Records of the event log read per page: a round's record holds from one event to a
/// few thousand.
const LOG_PAGE: usize = 16;

/// The events of one record of the log.
fn decode_logged(key: &[u8], value: &[u8]) -> StoreResult<Vec<LoggedEvent>> {
    let id = event_id(key);
    codec::decode_events(id, value).map_err(unreadable_record(id))
}

/// The error for a record of the log, keyed by `id`, that does not read.
fn unreadable_record(id: u64) -> impl FnOnce(String) -> StoreError {
    move |reason| StoreError::Corrupt {
        tree: "events",
        key: id.to_string(),
        reason,
    }
}

impl Store {
    /// The highest event id ever handed out may be above the last one logged (deltas are
    /// not logged): ids are reserved in blocks, and a restart continues above the block.
    pub fn event_id_floor(&self) -> StoreResult<u64> {
        let reserved = match self.inner.meta.get(RESERVED_KEY.as_bytes())? {
            Some(bytes) => decode::<u64>("meta", RESERVED_KEY.as_bytes(), &bytes)?,
            None => 0,
        };
        Ok(reserved.max(self.last_logged_event_id()?))
    }

    /// Records that ids up to `upto` may be in use. Durable with the next flush, which
    /// comes before any event with such an id is shown to anyone.
    pub fn reserve_event_ids(&self, upto: u64) -> StoreResult<()> {
        self.inner
            .meta
            .insert(RESERVED_KEY.as_bytes(), &self.encode(&upto)?)
    }

    /// Like [`Store::reserve_event_ids`], for nodes that share the store: the reservation
    /// only ever rises, whichever node writes last.
    pub fn raise_event_id_reservation(&self, upto: u64) -> StoreResult<()> {
        self.inner.meta.update(RESERVED_KEY.as_bytes(), |old| {
            let current = match old {
                Some(bytes) => decode::<u64>("meta", RESERVED_KEY.as_bytes(), bytes)?,
                None => 0,
            };
            self.encode(&current.max(upto)).map(Some)
        })?;
        Ok(())
    }

    /// The id of the newest logged event: the last record's key.
    pub fn last_logged_event_id(&self) -> StoreResult<u64> {
        Ok(self
            .inner
            .events
            .last()?
            .map_or(0, |(key, _)| event_id(&key)))
    }

    pub fn first_logged_event_id(&self) -> StoreResult<Option<u64>> {
        let Some((key, value)) = self.inner.events.first()? else {
            return Ok(None);
        };
        let id = event_id(&key);
        codec::first_event_id(id, &value)
            .map(Some)
            .map_err(unreadable_record(id))
    }

    /// Logs one round's structural events (ids rising) as one record, keyed by the last
    /// id: a round's events cost one write and one record's bookkeeping, not one each.
    /// Binary on sled; a JSON array on PostgreSQL, for its `v_events` view.
    pub fn log_events(&self, events: &[LoggedEvent]) -> StoreResult<()> {
        let Some(last) = events.last() else {
            return Ok(());
        };
        let value = if self.is_postgres() {
            serde_json::to_vec(events).map_err(StoreError::Encode)?
        } else {
            codec::encode_events(events)
        };
        self.inner.events.insert(&last.id.to_be_bytes(), &value)
    }

    /// Remembers where a message's events begin, so its stream replays from there.
    pub fn note_message_start(&self, message_id: &str, event_id: u64) -> StoreResult<()> {
        self.inner.message_events.compare_and_swap(
            message_id.as_bytes(),
            None,
            Some(&event_id.to_be_bytes()[..]),
        )?;
        Ok(())
    }

    /// Up to `limit` logged events with ids in `after+1..=upto`, in order. Records are
    /// keyed by their last event's id and never overlap (rounds are written one after
    /// another, over ids handed out in order), so the events wanted are in the records
    /// from the first key above `after`, up to the first record that begins past `upto`.
    pub fn logged_events(
        &self,
        after: u64,
        upto: u64,
        limit: usize,
    ) -> StoreResult<Vec<LoggedEvent>> {
        let mut events = Vec::new();
        if after >= upto || limit == 0 {
            return Ok(events);
        }
        let from = after.saturating_add(1).to_be_bytes();
        self.inner
            .events
            .pages(Bound::Included(&from[..]), LOG_PAGE, |records| {
                for (key, value) in records {
                    let batch = decode_logged(&key, &value)?;
                    if batch.first().is_some_and(|event| event.id > upto) {
                        return Ok(false);
                    }
                    events.extend(
                        batch
                            .into_iter()
                            .filter(|event| event.id > after && event.id <= upto),
                    );
                    if events.len() >= limit {
                        events.truncate(limit);
                        return Ok(false);
                    }
                }
                Ok(true)
            })?;
        Ok(events)
    }

    /// The retention rule: drops the logged records whose events all have ids below
    /// `keep_from` (one a round began before it and ended at or after it stays whole);
    /// how many records.
    pub fn prune_events_before(&self, keep_from: u64) -> StoreResult<usize> {
        self.inner
            .events
            .remove_range(None, &keep_from.to_be_bytes())
    }

    /// The id of the first event of a message, if any was logged.
    pub fn message_first_event(&self, message_id: &str) -> StoreResult<Option<u64>> {
        Ok(self
            .inner
            .message_events
            .get(message_id.as_bytes())?
            .map(|bytes| event_id(&bytes)))
    }

    /// Appends a streamed fragment to a reply in progress; `seq` orders its parts.
    pub fn append_reply_part(
        &self,
        message_id: &str,
        seq: u64,
        part: &ReplyPart,
    ) -> StoreResult<()> {
        let mut key = part_prefix(message_id);
        key.extend_from_slice(&seq.to_be_bytes());
        self.inner.reply_parts.insert(&key, &self.encode(part)?)
    }

    /// Holds a streamed fragment of a reply in progress in memory, merged into the
    /// previous one when it extends it; `seq` (its event id) orders the parts. Readers see
    /// it at once; [`Store::write_held_parts`] writes it at the next checkpoint.
    pub fn hold_reply_part(&self, message_id: &str, seq: u64, part: ReplyPart) {
        let mut held = lock(&self.inner.held_parts);
        let parts = held.entry(message_id.to_string()).or_default();
        if let Some((last_seq, last)) = parts.last_mut() {
            if last.absorb(&part) {
                *last_seq = seq;
                return;
            }
        }
        parts.push((seq, part));
    }

    /// Writes the held parts (one per run of fragments of the same kind and call). The
    /// hold is kept for the whole write, so a reader sees each part held or written,
    /// never neither; what could not be written stays held for the next checkpoint.
    pub fn write_held_parts(&self) -> StoreResult<()> {
        let mut held = lock(&self.inner.held_parts);
        let mut failed = None;
        held.retain(|message_id, parts| {
            if failed.is_some() {
                return true;
            }
            let written = parts
                .iter()
                .take_while(
                    |(seq, part)| match self.append_reply_part(message_id, *seq, part) {
                        Ok(()) => true,
                        Err(err) => {
                            failed = Some(err);
                            false
                        }
                    },
                )
                .count();
            parts.drain(..written);
            !parts.is_empty()
        });
        failed.map_or(Ok(()), Err)
    }

    /// Whether some parts wait in memory for a checkpoint.
    pub fn has_held_parts(&self) -> bool {
        !lock(&self.inner.held_parts).is_empty()
    }

    /// Writes a message whole (insert or update) and drops the parts it now contains,
    /// written or held. A final message's written parts are never read again, so the
    /// sweeper removes them, off the commit path.
    pub fn put_message(&self, message: &Message) -> StoreResult<()> {
        self.update_message(message)?;
        lock(&self.inner.held_parts).remove(&message.id);
        if message.status.is_final() && self.inner.part_sweeper.sweep(&message.id) {
            return Ok(());
        }
        self.drop_reply_parts(&message.id)
    }

    pub(super) fn drop_reply_parts(&self, message_id: &str) -> StoreResult<()> {
        clear_parts(&self.inner.reply_parts, message_id)
    }

    /// A message as written whole plus the parts streamed since: the written ones, then
    /// the held ones. The held ones are copied first; a checkpoint that writes them
    /// meanwhile writes them under the same seq, so those the scan finds are skipped.
    pub(super) fn with_parts(&self, mut message: Message) -> StoreResult<Message> {
        if message.status.is_final() {
            return Ok(message);
        }
        let held = lock(&self.inner.held_parts)
            .get(&message.id)
            .cloned()
            .unwrap_or_default();
        let prefix = part_prefix(&message.id);
        let mut written_upto = 0;
        self.inner
            .reply_parts
            .scan_prefix(&prefix, false, 256, |(key, value)| {
                let part: ReplyPart = decode("reply_parts", &key, &value)?;
                written_upto = part_seq(&key);
                part.apply(&mut message);
                Ok(true)
            })?;
        for (seq, part) in held {
            if seq > written_upto {
                part.apply(&mut message);
            }
        }
        Ok(message)
    }

    /// Drops parts whose message is final or gone (left by a crash between the whole
    /// write and the removal, which are not one atomic step).
    pub(super) fn drop_stray_parts(&self) -> StoreResult<()> {
        let mut last: Option<Vec<u8>> = None;
        let mut stray = Vec::new();
        for key in self.inner.reply_parts.range_keys(kv::ALL, usize::MAX)? {
            let Some(slash) = key.iter().position(|b| *b == b'/') else {
                self.inner.reply_parts.remove(&key)?;
                continue;
            };
            let id = key[..slash].to_vec();
            if last.as_ref() == Some(&id) {
                continue;
            }
            last = Some(id.clone());
            let id = String::from_utf8_lossy(&id).into_owned();
            let live = self
                .message_record(&id)?
                .is_some_and(|m| !m.status.is_final());
            if !live {
                stray.push(id);
            }
        }
        for id in stray {
            self.drop_reply_parts(&id)?;
        }
        Ok(())
    }

    /// Waits until the sweeper has removed every part it was given so far.
    pub fn swept(&self) {
        self.inner.part_sweeper.wait();
    }

    /// Makes every write so far durable, on the calling thread.
    pub fn flush_blocking(&self) -> StoreResult<()> {
        if let super::Backend::Sled(db) = &self.inner.backend {
            db.flush()?;
        }
        Ok(())
    }
}

/// A thread removing the parts of final replies. A part of a final message is never
/// read ([`Store::with_parts`] stops at the status), and parts a crash leaves behind
/// are dropped when the store opens, so the removal need not hold up a commit round.
pub(super) struct PartSweeper {
    /// None if the thread could not start: parts are then removed as replies end.
    queue: Option<std::sync::mpsc::Sender<Sweep>>,
}

/// Removes every part of one reply.
fn clear_parts(parts: &kv::Tree, message_id: &str) -> StoreResult<()> {
    let prefix = part_prefix(message_id);
    parts.clear_range(&prefix, &prefix_end(&prefix))
}

enum Sweep {
    Parts(String),
    /// Answered once everything queued before it is removed.
    Mark(std::sync::mpsc::Sender<()>),
}

impl PartSweeper {
    pub(super) fn start(parts: kv::Tree) -> PartSweeper {
        let (tx, rx) = std::sync::mpsc::channel::<Sweep>();
        let spawned = std::thread::Builder::new()
            .name("part-sweeper".into())
            .spawn(move || {
                // Ends when the store (the only sender) is gone.
                while let Ok(sweep) = rx.recv() {
                    match sweep {
                        Sweep::Parts(message_id) => {
                            if let Err(err) = clear_parts(&parts, &message_id) {
                                tracing::warn!("could not remove the parts of {message_id}: {err}");
                            }
                        }
                        Sweep::Mark(done) => {
                            let _ = done.send(());
                        }
                    }
                }
            });
        let queue = match spawned {
            Ok(_) => Some(tx),
            Err(err) => {
                tracing::warn!("no part sweeper ({err}); parts are removed as replies end");
                None
            }
        };
        PartSweeper { queue }
    }

    /// Queues the removal of a final message's parts; false if it must be done here.
    fn sweep(&self, message_id: &str) -> bool {
        self.queue
            .as_ref()
            .is_some_and(|tx| tx.send(Sweep::Parts(message_id.to_string())).is_ok())
    }

    fn wait(&self) {
        let (done, finished) = std::sync::mpsc::channel();
        let sent = self
            .queue
            .as_ref()
            .is_some_and(|tx| tx.send(Sweep::Mark(done)).is_ok());
        if sent {
            let _ = finished.recv();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_absorb_only_their_own_kind() {
        let mut part = ReplyPart::Text("a".into());
        assert!(part.absorb(&ReplyPart::Text("b".into())));
        assert!(!part.absorb(&ReplyPart::Reasoning("c".into())));
        assert_eq!(part, ReplyPart::Text("ab".into()));
        let mut args = ReplyPart::Arguments {
            call_id: "x".into(),
            delta: "{".into(),
        };
        assert!(!args.absorb(&ReplyPart::Arguments {
            call_id: "y".into(),
            delta: "}".into()
        }));
    }
}
