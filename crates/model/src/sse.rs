//! Server-Sent Events framing, shared by the server, the API client and the providers:
//! the one parser (provider streams, the client) and the one frame writer (the API).
//!
//! Incremental and linear: bytes are scanned once for line ends whatever the chunking,
//! LF, CRLF and CR all end lines (a CR at the end of a chunk is remembered, so a CRLF split
//! across chunks is one line end), and data lines may be split anywhere, even inside a
//! UTF-8 character.

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// The `event:` field; empty means the default type, "message".
    pub event: String,
    pub data: String,
    /// The last `id:` seen on this stream so far.
    pub id: Option<String>,
    /// This event carried an `id:` line of its own (else `id` is an earlier event's).
    pub own_id: bool,
    /// A valid `retry:` value, in milliseconds.
    pub retry: Option<u64>,
}

#[derive(Debug, Default)]
pub struct SseParser {
    line: Vec<u8>,
    /// The previous chunk ended in CR: a leading LF of the next one belongs to it.
    after_cr: bool,
    /// The first line may start with a byte-order mark.
    started: bool,
    event: String,
    data: String,
    has_data: bool,
    last_id: Option<String>,
    own_id: bool,
    retry: Option<u64>,
}

impl SseParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes; complete events are appended to `out`.
    pub fn feed(&mut self, mut bytes: &[u8], out: &mut Vec<SseEvent>) {
        if self.after_cr {
            self.after_cr = false;
            if let Some(rest) = bytes.strip_prefix(b"\n") {
                bytes = rest;
            }
        }
        while let Some(pos) = bytes.iter().position(|&b| b == b'\n' || b == b'\r') {
            self.line.extend_from_slice(&bytes[..pos]);
            let was_cr = bytes[pos] == b'\r';
            bytes = &bytes[pos + 1..];
            if was_cr {
                match bytes.first() {
                    Some(b'\n') => bytes = &bytes[1..],
                    None => self.after_cr = true,
                    Some(_) => {}
                }
            }
            let line = std::mem::take(&mut self.line);
            self.process_line(&line, out);
        }
        self.line.extend_from_slice(bytes);
    }

    /// Call at end of stream: a final event without its blank line is dropped, as the
    /// SSE standard says; returns whether such a partial event was pending.
    pub fn finish(&mut self) -> bool {
        let pending = self.has_data || !self.line.is_empty();
        self.line.clear();
        self.data.clear();
        self.event.clear();
        self.has_data = false;
        pending
    }

    fn process_line(&mut self, mut line: &[u8], out: &mut Vec<SseEvent>) {
        if !self.started {
            self.started = true;
            if let Some(rest) = line.strip_prefix("\u{feff}".as_bytes()) {
                line = rest;
            }
        }
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        if line[0] == b':' {
            return;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        let value = String::from_utf8_lossy(value);
        match field {
            b"event" => self.event = value.into_owned(),
            b"data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(&value);
                self.has_data = true;
            }
            b"id" if !value.contains('\0') => {
                self.last_id = Some(value.into_owned());
                self.own_id = true;
            }
            b"retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                self.retry = value.parse().ok();
            }
            _ => {}
        }
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        let own_id = std::mem::take(&mut self.own_id);
        if !self.has_data {
            self.event.clear();
            return;
        }
        out.push(SseEvent {
            event: std::mem::take(&mut self.event),
            data: std::mem::take(&mut self.data),
            id: self.last_id.clone(),
            own_id,
            retry: self.retry,
        });
        self.has_data = false;
    }
}

/// One event as written on the wire: `id:` (none for 0, an event that cannot be resumed
/// from), `event:`, and the data as `data:` lines.
pub fn frame(id: u64, name: &str, data: &str) -> bytes::Bytes {
    let mut out = String::with_capacity(data.len() + name.len() + 32);
    if id > 0 {
        out.push_str("id: ");
        out.push_str(&id.to_string());
        out.push('\n');
    }
    out.push_str("event: ");
    out.push_str(name);
    out.push('\n');
    for line in data.split('\n') {
        out.push_str("data: ");
        out.push_str(line);
        out.push('\n');
    }
    out.push('\n');
    bytes::Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_frames_parse_back_with_their_own_ids() {
        let mut parser = SseParser::new();
        let mut out = Vec::new();
        let mut wire = frame(7, "message.delta", "{\"a\":1}").to_vec();
        wire.extend_from_slice(&frame(0, "message.created", "{}\n{}"));
        parser.feed(&wire, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!((out[0].id.as_deref(), out[0].own_id), (Some("7"), true));
        assert_eq!(out[0].data, "{\"a\":1}");
        assert_eq!((out[1].id.as_deref(), out[1].own_id), (Some("7"), false));
        assert_eq!(out[1].data, "{}\n{}");
    }

    fn parse_chunks(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut parser = SseParser::new();
        let mut out = Vec::new();
        for chunk in chunks {
            parser.feed(chunk, &mut out);
        }
        out
    }

    #[test]
    fn every_line_ending_and_every_split_gives_the_same_events() {
        let text = "\u{feff}: comment\nid: 7\nevent: message.delta\ndata: {\"a\":\ndata: \"é\"}\n\nretry: x1\ndata: [DONE]\n\n";
        for ending in ["\n", "\r\n", "\r"] {
            let stream = text.replace('\n', ending);
            let whole = parse_chunks(&[stream.as_bytes()]);
            assert_eq!(whole.len(), 2, "{ending:?}");
            assert_eq!(whole[0].event, "message.delta");
            assert_eq!(whole[0].data, "{\"a\":\n\"é\"}");
            assert_eq!(whole[0].id.as_deref(), Some("7"));
            assert_eq!(whole[1].data, "[DONE]");
            assert_eq!(whole[1].retry, None, "an invalid retry is ignored");
            let bytes = stream.as_bytes();
            for split in 0..bytes.len() {
                let (a, b) = bytes.split_at(split);
                assert_eq!(
                    parse_chunks(&[a, b]),
                    whole,
                    "split at {split} with {ending:?}"
                );
            }
            let singles: Vec<&[u8]> = bytes.chunks(1).collect();
            assert_eq!(parse_chunks(&singles), whole);
        }
    }

    #[test]
    fn an_unterminated_event_is_not_dispatched() {
        let mut parser = SseParser::new();
        let mut out = Vec::new();
        parser.feed(b"data: {\"trunc", &mut out);
        assert!(out.is_empty());
        assert!(parser.finish());
    }
}
