//! How values are laid out in the trees (schema 3).
//!
//! A stored value is one of four forms, told apart by its first byte:
//! - JSON, as every record was up to schema 1 and as small ones still are (a JSON text
//!   never starts with the tags below);
//! - [`ZSTD_TAG`] and a zstd frame without its 4-byte magic number, compressed against
//!   the fixed dictionary `codec/dictionary-v1.txt` (the keys and shapes records share),
//!   with a context reused per thread; written when it is smaller than the JSON;
//! - [`EVENT_TAG`] and a logged event in the binary layout of [`encode_event`]: its name
//!   as a number, ids packed (a `thread_` id in 19 bytes rather than 31), its event id
//!   left to the key, its JSON data compressed like any value;
//! - [`EVENTS_TAG`] and the logged events of one commit round in the layout of
//!   [`encode_events`] (schema 3): one record, keyed by the last id, each id written once.
//!
//! Readers take all four, so a data dir written before keeps working and is rewritten
//! record by record as records change. A tag's layout and dictionary never change: a
//! new layout takes a new tag and a new schema version.

use agentdeck_model::{LoggedData, LoggedEvent};
use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::OnceLock;

/// A zstd frame (less its magic number) of JSON, against dictionary v1.
const ZSTD_TAG: u8 = 0x01;
/// A logged event in the binary layout of [`encode_event`].
const EVENT_TAG: u8 = 0x02;
/// Logged events in the batch layout of [`encode_events`].
const EVENTS_TAG: u8 = 0x03;
/// The magic number every zstd frame starts with, left out on disk.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];
/// Shorter values are left as JSON: a frame's header would eat what it saves.
const COMPRESS_FROM: usize = 64;
/// zstd's fastest standard level: with the dictionary, most of the gain on records of a
/// few hundred bytes, at a few µs each.
const LEVEL: i32 = 1;
/// No record is this large; a frame claiming more is damaged.
const MAX_EXPANDED: u64 = 1 << 30;

static DICTIONARY_V1: &[u8] = include_bytes!("codec/dictionary-v1.txt");

fn cdict() -> &'static zstd_safe::CDict<'static> {
    static CDICT: OnceLock<zstd_safe::CDict<'static>> = OnceLock::new();
    CDICT.get_or_init(|| zstd_safe::create_cdict(DICTIONARY_V1, LEVEL))
}

fn ddict() -> &'static zstd_safe::DDict<'static> {
    static DDICT: OnceLock<zstd_safe::DDict<'static>> = OnceLock::new();
    DDICT.get_or_init(|| zstd_safe::create_ddict(DICTIONARY_V1))
}

thread_local! {
    static CCTX: RefCell<zstd_safe::CCtx<'static>> = RefCell::new(zstd_safe::create_cctx());
    static DCTX: RefCell<zstd_safe::DCtx<'static>> = RefCell::new(zstd_safe::create_dctx());
}

/// `json` as it is written: compressed when that makes it smaller.
pub(super) fn pack(json: Vec<u8>) -> Vec<u8> {
    if json.len() < COMPRESS_FROM {
        return json;
    }
    match compress(&json) {
        Some(packed) if packed.len() < json.len() => packed,
        _ => json,
    }
}

/// `ZSTD_TAG` and the frame of `bytes`, or None if zstd refused (then the JSON is kept).
fn compress(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut frame = Vec::with_capacity(zstd_safe::compress_bound(bytes.len()));
    CCTX.with(|cctx| {
        cctx.borrow_mut()
            .compress_using_cdict(&mut frame, bytes, cdict())
            .ok()
    })?;
    if frame.get(..4) != Some(&ZSTD_MAGIC[..]) {
        return None;
    }
    frame[0] = ZSTD_TAG;
    frame.drain(1..4);
    Some(frame)
}

/// The JSON of a stored value, whichever form it was written in (not an event's).
pub(super) fn unpack(bytes: &[u8]) -> Result<Cow<'_, [u8]>, String> {
    match bytes.first() {
        Some(&ZSTD_TAG) => expand(&bytes[1..]).map(Cow::Owned),
        _ => Ok(Cow::Borrowed(bytes)),
    }
}

/// Decompresses a frame stored without its magic number.
fn expand(body: &[u8]) -> Result<Vec<u8>, String> {
    let mut frame = Vec::with_capacity(body.len() + 4);
    frame.extend_from_slice(&ZSTD_MAGIC);
    frame.extend_from_slice(body);
    let size = zstd_safe::get_frame_content_size(&frame);
    if size == zstd_safe::CONTENTSIZE_ERROR
        || size == zstd_safe::CONTENTSIZE_UNKNOWN
        || size > MAX_EXPANDED
    {
        return Err("a compressed record with no valid size".into());
    }
    let mut out = Vec::with_capacity(size as usize);
    DCTX.with(|dctx| {
        dctx.borrow_mut()
            .decompress_using_ddict(&mut out, &frame, ddict())
    })
    .map_err(|code| {
        format!(
            "a compressed record does not expand: {}",
            zstd_safe::get_error_name(code)
        )
    })?;
    if out.len() as u64 != size {
        return Err("a compressed record expands to another size than it says".into());
    }
    Ok(out)
}

/// Event names as numbers in the binary layout. Append only: a name's number is
/// written in every event that has it.
const EVENT_NAMES: &[&str] = &[
    "thread.created",
    "thread.updated",
    "message.created",
    "message.delta",
    "message.completed",
    "tool_call.created",
    "tool_call.delta",
    "tool_call.output",
    "reasoning.delta",
    "memory.updated",
    "routing",
    "telemetry",
    "done",
    "error",
    "tool_call.output.delta",
];
/// The name follows as a string (one not in [`EVENT_NAMES`]).
const NAME_LITERAL: u8 = 0xFF;

/// Id prefixes packed to one byte. Append only, like [`EVENT_NAMES`].
const ID_PREFIXES: &[&str] = &[
    "proj_", "thread_", "asst_", "msg_", "call_", "file_", "vs_", "key_", "node_", "batch_",
    "round_", "up_",
];
/// The id follows as a string (not a prefix and 24 base62 characters).
const ID_LITERAL: u8 = 0;
/// In a batch of events: an id the record wrote before, by its number (see
/// [`encode_events`]). Beyond any prefix number.
const ID_SEEN: u8 = 0xFE;
const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// An id's random part: 24 characters, packed as two halves of 12 (62^12 < 2^72).
const RANDOM_CHARS: usize = 24;
const HALF_BYTES: usize = 9;

const HAS_ASSISTANT: u8 = 1;
const HAS_MESSAGE: u8 = 2;

const DATA_JSON: u8 = 0;
const DATA_MESSAGE: u8 = 1;
const DATA_TOOL_CALL: u8 = 2;
const DATA_THREAD: u8 = 3;
const DATA_MEMORY: u8 = 4;

/// A logged event in its binary layout (its id is the key's):
/// `EVENT_TAG, name, flags, project, thread, [assistant], [message], data`, where a
/// name is a number of [`EVENT_NAMES`] (or `NAME_LITERAL` and a string), an id a
/// prefix number and 18 bytes (or `ID_LITERAL` and a string), a string a LEB128 length
/// and UTF-8, and data a kind and its fields (JSON data as a value of [`pack`]).
/// Schema 2 wrote each event so; schema 3 writes rounds ([`encode_events`]), and this
/// stays to make schema 2's records in tests.
#[cfg(test)]
pub(super) fn encode_event(event: &LoggedEvent) -> Vec<u8> {
    let mut out = Vec::with_capacity(96);
    out.push(EVENT_TAG);
    put_event(&mut out, event, &mut Ids { seen: None });
    out
}

/// A batch of logged events with rising ids, as one record keyed by the last id:
/// `EVENTS_TAG, count`, then per event the distance of its id below the last one and
/// its layout as in [`encode_event`] (without the tag), where an id already written in
/// the record is `ID_SEEN` and its number in order of first writing. A round's events
/// mostly share their project, thread and message: each is written once.
pub(super) fn encode_events(events: &[LoggedEvent]) -> Vec<u8> {
    let last = events.last().map_or(0, |event| event.id);
    let mut out = Vec::with_capacity(16 + 64 * events.len());
    out.push(EVENTS_TAG);
    put_varint(&mut out, events.len() as u64);
    let mut ids = Ids {
        seen: Some(HashMap::new()),
    };
    for event in events {
        put_varint(&mut out, last.saturating_sub(event.id));
        put_event(&mut out, event, &mut ids);
    }
    out
}

/// The ids a record has written so far and their numbers, when it writes each once
/// (None: schema 2's single events, which write every id).
struct Ids<'a> {
    seen: Option<HashMap<&'a str, u64>>,
}

impl<'a> Ids<'a> {
    fn put(&mut self, out: &mut Vec<u8>, id: &'a str) {
        if let Some(seen) = &mut self.seen {
            let next = seen.len() as u64;
            let at = *seen.entry(id).or_insert(next);
            if at != next {
                out.push(ID_SEEN);
                put_varint(out, at);
                return;
            }
        }
        put_id(out, id);
    }
}

fn put_event<'a>(out: &mut Vec<u8>, event: &'a LoggedEvent, ids: &mut Ids<'a>) {
    match EVENT_NAMES.iter().position(|name| *name == event.event) {
        Some(at) => out.push(at as u8),
        None => {
            out.push(NAME_LITERAL);
            put_str(out, &event.event);
        }
    }
    let mut flags = 0;
    if event.assistant_id.is_some() {
        flags |= HAS_ASSISTANT;
    }
    if event.message_id.is_some() {
        flags |= HAS_MESSAGE;
    }
    out.push(flags);
    ids.put(out, &event.project_id);
    ids.put(out, &event.thread_id);
    if let Some(id) = &event.assistant_id {
        ids.put(out, id);
    }
    if let Some(id) = &event.message_id {
        ids.put(out, id);
    }
    match &event.data {
        LoggedData::Json(json) => {
            out.push(DATA_JSON);
            put_bytes(out, &pack(json.as_bytes().to_vec()));
        }
        LoggedData::Message => out.push(DATA_MESSAGE),
        LoggedData::ToolCall { call_id, status } => {
            out.push(DATA_TOOL_CALL);
            ids.put(out, call_id);
            put_str(out, &serde_name(status));
        }
        LoggedData::Thread { status } => {
            out.push(DATA_THREAD);
            put_str(out, &serde_name(status));
        }
        LoggedData::Memory => out.push(DATA_MEMORY),
    }
}

/// A logged event as [`encode_event`] wrote it, or as JSON (schema 1).
pub(super) fn decode_event(id: u64, bytes: &[u8]) -> Result<LoggedEvent, String> {
    if bytes.first() != Some(&EVENT_TAG) {
        let json = unpack(bytes)?;
        return serde_json::from_slice(&json).map_err(|err| err.to_string());
    }
    let mut reader = Reader {
        rest: &bytes[1..],
        seen: None,
    };
    let event = reader.event(id)?;
    if !reader.rest.is_empty() {
        return Err("bytes left after an event".into());
    }
    Ok(event)
}

/// The events of a record keyed by `key_id`, in order: a batch of [`encode_events`] or
/// its JSON form (an array, as PostgreSQL keeps it), or one event as [`decode_event`]
/// reads it (the key being its id).
pub(super) fn decode_events(key_id: u64, bytes: &[u8]) -> Result<Vec<LoggedEvent>, String> {
    if bytes.first() == Some(&b'[') {
        let events: Vec<LoggedEvent> =
            serde_json::from_slice(bytes).map_err(|err| err.to_string())?;
        let rising = events.windows(2).all(|pair| pair[0].id < pair[1].id);
        if !rising || events.last().map(|event| event.id) != Some(key_id) {
            return Err("a batch of events out of order or not ending at its key".into());
        }
        return Ok(events);
    }
    if bytes.first() != Some(&EVENTS_TAG) {
        return decode_event(key_id, bytes).map(|event| vec![event]);
    }
    let mut reader = Reader {
        rest: &bytes[1..],
        seen: Some(Vec::new()),
    };
    let count = reader.varint()?;
    // Each event takes several bytes: a count beyond the record's length is damage.
    if count > reader.rest.len() as u64 {
        return Err("a batch of events claims more than it holds".into());
    }
    let mut events = Vec::with_capacity(count as usize);
    let mut previous = None;
    for _ in 0..count {
        let below = reader.varint()?;
        let id = key_id.checked_sub(below).ok_or("an event id below zero")?;
        if previous.is_some_and(|previous| previous >= id) {
            return Err("event ids out of order in a batch".into());
        }
        previous = Some(id);
        events.push(reader.event(id)?);
    }
    if previous != Some(key_id) {
        return Err("a batch of events that does not end at its key".into());
    }
    if !reader.rest.is_empty() {
        return Err("bytes left after a batch of events".into());
    }
    Ok(events)
}

/// The id of the first event of a record keyed by `key_id`, read from its head alone
/// (a round's record holds up to thousands of events, their data compressed).
pub(super) fn first_event_id(key_id: u64, bytes: &[u8]) -> Result<u64, String> {
    match bytes.first() {
        Some(&EVENTS_TAG) => {
            let mut reader = Reader {
                rest: &bytes[1..],
                seen: None,
            };
            reader.varint()?;
            let below = reader.varint()?;
            key_id
                .checked_sub(below)
                .ok_or_else(|| "an event id below zero".into())
        }
        Some(&b'[') => {
            /// An event's id alone (the rest of each event is skipped, not kept).
            #[derive(serde::Deserialize)]
            struct Id {
                i: u64,
            }
            let ids: Vec<Id> = serde_json::from_slice(bytes).map_err(|err| err.to_string())?;
            ids.first()
                .map(|id| id.i)
                .ok_or_else(|| "an empty batch of events".into())
        }
        // One event: its id is the key.
        _ => Ok(key_id),
    }
}

/// The trees whose values are JSON records in one of the forms above; the others
/// (`message_loc`, `inflight`, `message_events`) hold keys and ids as raw bytes.
const JSON_TREES: &[&str] = &[
    "meta",
    "projects",
    "api_keys",
    "assistants",
    "threads",
    "messages",
    "events",
    "reply_parts",
    "usage",
    "memory",
    "files",
    "vector_stores",
    "thread_stores",
    "leases",
];

/// A value of `tree` in the plain JSON form PostgreSQL keeps (its `v_*` views read it),
/// or None when it is in that form already (or the tree's values are not JSON): a
/// compressed record expanded, logged events as a JSON object (one) or array (a round).
pub(super) fn as_json(tree: &str, key: &[u8], value: &[u8]) -> Result<Option<Vec<u8>>, String> {
    if !JSON_TREES.contains(&tree) {
        return Ok(None);
    }
    match value.first() {
        Some(&ZSTD_TAG) => expand(&value[1..]).map(Some),
        Some(&EVENT_TAG) | Some(&EVENTS_TAG) if tree == "events" => {
            let id =
                u64::from_be_bytes(key.try_into().map_err(|_| "an event key of another size")?);
            let events = decode_events(id, value)?;
            let json = match events.as_slice() {
                [one] => serde_json::to_vec(one),
                round => serde_json::to_vec(round),
            };
            json.map(Some).map_err(|err| err.to_string())
        }
        _ => Ok(None),
    }
}

/// A unit variant's serde name (`in_progress`), as the JSON form writes it.
fn serde_name<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        _ => String::new(),
    }
}

fn from_serde_name<T: serde::de::DeserializeOwned>(name: &str) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::String(name.to_string()))
        .map_err(|err| format!("unknown status {name:?}: {err}"))
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn put_str(out: &mut Vec<u8>, text: &str) {
    put_bytes(out, text.as_bytes());
}

fn put_id(out: &mut Vec<u8>, id: &str) {
    let packed = ID_PREFIXES.iter().enumerate().find_map(|(at, prefix)| {
        let random = id.strip_prefix(prefix)?;
        Some((at, pack_random(random)?))
    });
    match packed {
        Some((at, halves)) => {
            out.push(at as u8 + 1);
            for half in halves {
                out.extend_from_slice(&half.to_be_bytes()[16 - HALF_BYTES..]);
            }
        }
        None => {
            out.push(ID_LITERAL);
            put_str(out, id);
        }
    }
}

/// 24 base62 characters as two numbers below 62^12; None for anything else.
fn pack_random(random: &str) -> Option<[u128; 2]> {
    if random.len() != RANDOM_CHARS {
        return None;
    }
    let mut halves = [0u128; 2];
    for (half, chars) in halves
        .iter_mut()
        .zip(random.as_bytes().chunks(RANDOM_CHARS / 2))
    {
        for c in chars {
            let digit = BASE62.iter().position(|b| b == c)?;
            *half = *half * 62 + digit as u128;
        }
    }
    Some(halves)
}

fn unpack_random(halves: [u128; 2]) -> Result<String, String> {
    let mut text = Vec::with_capacity(RANDOM_CHARS);
    for mut half in halves {
        let mut chars = [0u8; RANDOM_CHARS / 2];
        for slot in chars.iter_mut().rev() {
            *slot = BASE62[(half % 62) as usize];
            half /= 62;
        }
        if half != 0 {
            return Err("a packed id out of range".into());
        }
        text.extend_from_slice(&chars);
    }
    String::from_utf8(text).map_err(|err| err.to_string())
}

struct Reader<'a> {
    rest: &'a [u8],
    /// The ids read so far, in a record that writes each once.
    seen: Option<Vec<String>>,
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8], String> {
        if self.rest.len() < len {
            return Err("an event cut short".into());
        }
        let (head, tail) = self.rest.split_at(len);
        self.rest = tail;
        Ok(head)
    }

    fn byte(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            value |= u64::from(byte & 0x7F) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("a length too long".into())
    }

    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let len = usize::try_from(self.varint()?).map_err(|err| err.to_string())?;
        self.take(len)
    }

    fn string(&mut self) -> Result<String, String> {
        String::from_utf8(self.bytes()?.to_vec()).map_err(|err| err.to_string())
    }

    fn id(&mut self) -> Result<String, String> {
        let id = match self.byte()? {
            ID_SEEN if self.seen.is_some() => {
                let at = self.varint()?;
                return usize::try_from(at)
                    .ok()
                    .and_then(|at| self.seen.as_ref()?.get(at))
                    .cloned()
                    .ok_or_else(|| format!("an id refers to id {at}, not yet written"));
            }
            ID_LITERAL => self.string()?,
            code => {
                let prefix = ID_PREFIXES
                    .get(usize::from(code) - 1)
                    .ok_or_else(|| format!("unknown id prefix number {code}"))?;
                let mut halves = [0u128; 2];
                for half in &mut halves {
                    let mut wide = [0u8; 16];
                    wide[16 - HALF_BYTES..].copy_from_slice(self.take(HALF_BYTES)?);
                    *half = u128::from_be_bytes(wide);
                }
                format!("{prefix}{}", unpack_random(halves)?)
            }
        };
        if let Some(seen) = &mut self.seen {
            seen.push(id.clone());
        }
        Ok(id)
    }

    /// An event's layout after its tag (see [`encode_event`]).
    fn event(&mut self, id: u64) -> Result<LoggedEvent, String> {
        let event = match self.byte()? {
            NAME_LITERAL => self.string()?,
            at => EVENT_NAMES
                .get(usize::from(at))
                .ok_or_else(|| format!("unknown event name number {at}"))?
                .to_string(),
        };
        let flags = self.byte()?;
        let project_id = self.id()?;
        let thread_id = self.id()?;
        let assistant_id = if flags & HAS_ASSISTANT != 0 {
            Some(self.id()?)
        } else {
            None
        };
        let message_id = if flags & HAS_MESSAGE != 0 {
            Some(self.id()?)
        } else {
            None
        };
        let data = match self.byte()? {
            DATA_JSON => {
                let json = unpack(self.bytes()?)?.into_owned();
                LoggedData::Json(String::from_utf8(json).map_err(|err| err.to_string())?)
            }
            DATA_MESSAGE => LoggedData::Message,
            DATA_TOOL_CALL => LoggedData::ToolCall {
                call_id: self.id()?,
                status: from_serde_name(&self.string()?)?,
            },
            DATA_THREAD => LoggedData::Thread {
                status: from_serde_name(&self.string()?)?,
            },
            DATA_MEMORY => LoggedData::Memory,
            other => return Err(format!("unknown event data kind {other}")),
        };
        Ok(LoggedEvent {
            id,
            event,
            project_id,
            thread_id,
            assistant_id,
            message_id,
            data,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agentdeck_model::{ThreadStatus, ToolCallStatus};

    fn event(data: LoggedData) -> LoggedEvent {
        LoggedEvent {
            id: 42,
            event: "message.completed".into(),
            project_id: "proj_sUgV9YClXE8XO9FBDK4t9SxI".into(),
            thread_id: "thread_gHPWQ72ThkwZ7qDHHcLPi41h".into(),
            assistant_id: Some("asst_zzzzzzzzzzzzzzzzzzzzzzzz".into()),
            message_id: Some("msg_000000000000000000000000".into()),
            data,
        }
    }

    #[test]
    fn events_round_trip_in_the_binary_layout() {
        let telemetry = r#"{"event":"model_call","timestamp":"2026-12-07T13:10:01Z","assistant_id":"asst_Fy6jzp3OAmi61rOLnavw0wWO","thread_id":"thread_WfkmWLHNMgXMyXkoyrvKagIv","tool":null,"latency_ms":0,"input_tokens":71,"output_tokens":34,"safety_flag":null}"#;
        let cases = [
            event(LoggedData::Message),
            event(LoggedData::Memory),
            event(LoggedData::Json(telemetry.into())),
            event(LoggedData::Json("{}".into())),
            event(LoggedData::ToolCall {
                call_id: "call_fQjOjWjzaRNlQRVEwgUGAaft".into(),
                status: ToolCallStatus::RequiresAction,
            }),
            event(LoggedData::Thread {
                status: ThreadStatus::Running,
            }),
            LoggedEvent {
                id: u64::MAX,
                event: "agent.dreamed".into(),
                // Ids not made here: external conversation ids, odd lengths, non-base62.
                project_id: "proj_short".into(),
                thread_id: "thread_ünïcode-and-more-than-24-characters".into(),
                assistant_id: None,
                message_id: Some(String::new()),
                data: LoggedData::Json(String::new()),
            },
            event(LoggedData::ToolCall {
                call_id: "toolu_01A09q90qw90lq917835lq9".into(),
                status: ToolCallStatus::Completed,
            }),
        ];
        for (at, case) in cases.into_iter().enumerate() {
            let bytes = encode_event(&case);
            assert_eq!(decode_event(case.id, &bytes), Ok(case.clone()));
            let json = serde_json::to_vec(&case).unwrap_or_default();
            // Ours pack to less than half their JSON; literal ones at least do not grow.
            let bound = if at < 6 { json.len() / 2 } else { json.len() };
            assert!(
                bytes.len() < bound,
                "{at}: {} vs {}",
                bytes.len(),
                json.len()
            );
        }
    }

    #[test]
    fn events_written_as_json_still_read() {
        let case = event(LoggedData::Thread {
            status: ThreadStatus::Active,
        });
        let json = serde_json::to_vec(&case).unwrap_or_default();
        assert_eq!(decode_event(case.id, &json), Ok(case));
    }

    #[test]
    fn damaged_events_are_errors_not_panics() {
        let bytes = encode_event(&event(LoggedData::Json("x".repeat(500))));
        for cut in 0..bytes.len() {
            let _ = decode_event(1, &bytes[..cut]);
        }
        let mut bad = bytes.clone();
        bad[1] = 200;
        assert!(decode_event(1, &bad).is_err());
        assert!(decode_event(1, &[EVENT_TAG]).is_err());
    }

    #[test]
    fn a_round_of_events_round_trips_as_one_record_with_each_id_once() {
        let mut round: Vec<LoggedEvent> = [
            LoggedData::Message,
            LoggedData::ToolCall {
                call_id: "call_fQjOjWjzaRNlQRVEwgUGAaft".into(),
                status: ToolCallStatus::InProgress,
            },
            LoggedData::ToolCall {
                call_id: "call_fQjOjWjzaRNlQRVEwgUGAaft".into(),
                status: ToolCallStatus::Completed,
            },
            LoggedData::Json(r#"{"x":1}"#.into()),
            LoggedData::Thread {
                status: ThreadStatus::Active,
            },
        ]
        .into_iter()
        .enumerate()
        .map(|(at, data)| LoggedEvent {
            id: 100 + 3 * at as u64,
            ..event(data)
        })
        .collect();
        round[3].thread_id = "thread with a literal id".into();
        round[4].assistant_id = None;
        let bytes = encode_events(&round);
        assert_eq!(bytes[0], EVENTS_TAG);
        assert_eq!(decode_events(112, &bytes), Ok(round.clone()));
        let one_by_one: usize = round.iter().map(|e| encode_event(e).len()).sum();
        // The project, thread, assistant, message and call ids are written once.
        assert!(
            bytes.len() * 2 < one_by_one,
            "{} vs {one_by_one}",
            bytes.len()
        );
        // The first id reads from the record's head, in either form of a round.
        assert_eq!(first_event_id(112, &bytes), Ok(100));
        let json = serde_json::to_vec(&round).unwrap_or_default();
        assert_eq!(first_event_id(112, &json), Ok(100));
        assert!(first_event_id(112, &[EVENTS_TAG, 1]).is_err());
        assert!(first_event_id(5, &bytes).is_err());
        // A record of schema 2 reads as a round of one.
        let single = encode_event(&round[0]);
        assert_eq!(first_event_id(100, &single), Ok(100));
        assert_eq!(decode_events(100, &single), Ok(vec![round[0].clone()]));
        // Damage is an error, never a panic: cut anywhere, a key below the distances, a
        // bad reference, a count beyond the bytes.
        for cut in 0..bytes.len() {
            assert!(decode_events(112, &bytes[..cut]).is_err(), "cut at {cut}");
        }
        assert!(decode_events(5, &bytes).is_err());
        let mut forward = vec![EVENTS_TAG, 1, 0];
        forward.extend_from_slice(&single[1..3]);
        forward.extend_from_slice(&[ID_SEEN, 0]);
        assert!(decode_events(7, &forward).is_err());
        assert!(decode_events(7, &[EVENTS_TAG, 200, 1]).is_err());
        // Outside a batch, a reference to an earlier id means nothing.
        let mut unshared = single.clone();
        unshared[3] = ID_SEEN;
        assert!(decode_event(100, &unshared).is_err());
    }

    #[test]
    fn values_compress_only_when_it_pays_and_read_back() {
        let small = br#"{"a":1}"#.to_vec();
        assert_eq!(pack(small.clone()), small);
        let message = br#"{"id":"msg_hlJpTfNjE2lp4kKCNCNWJg06","object":"thread.message","thread_id":"thread_S9N3EQucuE9ZkceOr2QUDULS","assistant_id":"asst_p5RkXtHByeuRQuQdoqnDYDwd","role":"assistant","content":"Here is what I found.","attachments":[],"tool_calls":[],"tool_call_id":null,"reasoning":[],"status":"completed","usage":{"input_tokens":20,"output_tokens":60},"created_at":1796648532}"#.to_vec();
        let packed = pack(message.clone());
        assert_eq!(packed[0], ZSTD_TAG);
        assert!(packed.len() * 2 < message.len(), "{}", packed.len());
        assert_eq!(unpack(&packed).as_deref(), Ok(&message[..]));
        // Incompressible text stays as it was.
        let random: String = (0..200u32)
            .map(|i| char::from(BASE62[((i * 7919 + i * i * 31) % 62) as usize]))
            .collect();
        let json = serde_json::to_vec(&random).unwrap_or_default();
        let packed = pack(json.clone());
        assert!(packed.len() <= json.len());
        assert_eq!(unpack(&packed).as_deref(), Ok(&json[..]));
        assert!(unpack(&[ZSTD_TAG, 1, 2, 3]).is_err());
    }

    /// Values written under `ZSTD_TAG` read only with this exact dictionary: an edit of
    /// the file would make every data dir unreadable.
    #[test]
    fn the_dictionary_never_changes() {
        // FNV-1a: a hash whose value no toolchain changes.
        let hash = DICTIONARY_V1
            .iter()
            .fold(0xcbf2_9ce4_8422_2325u64, |hash, byte| {
                (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
            });
        assert_eq!(
            (DICTIONARY_V1.len(), hash),
            (4046, 9148988672836166712),
            "dictionary-v1.txt changed: add a new tag and dictionary instead"
        );
    }
}
