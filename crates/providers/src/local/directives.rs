//! The local model's directives, which make it scriptable: `/tool NAME {json}`,
//! `/route ASSISTANT text`, `/fail STATUS`, `/slow TPS`, `/long N`; parsed out of a
//! message, leaving the text a person wrote.

use serde_json::Value;

#[derive(Debug, Default, PartialEq)]
pub(super) struct Directives {
    pub(super) tools: Vec<(String, String)>,
    pub(super) routes: Vec<(String, String)>,
    pub(super) fail: Option<u16>,
    pub(super) slow: Option<f64>,
    pub(super) long: Option<usize>,
    /// The message without its directives.
    pub(super) rest: String,
}

const DIRECTIVES: [&str; 5] = ["tool", "route", "fail", "slow", "long"];

/// The byte offset and name of the next directive at or after `from`: a `/` that starts a
/// word, followed by a directive name and then whitespace or the end.
fn next_directive(text: &str, from: usize) -> Option<(usize, &'static str)> {
    let bytes = text.as_bytes();
    let mut at = from;
    while let Some(offset) = text[at..].find('/') {
        let pos = at + offset;
        let word_start = pos == 0 || bytes[pos - 1].is_ascii_whitespace();
        if word_start {
            for name in DIRECTIVES {
                let end = pos + 1 + name.len();
                if text[pos + 1..].starts_with(name)
                    && bytes.get(end).is_none_or(|b| b.is_ascii_whitespace())
                {
                    return Some((pos, name));
                }
            }
        }
        at = pos + 1;
    }
    None
}

/// Splits off the first whitespace-delimited word of `text`.
fn first_word(text: &str) -> (&str, &str) {
    let text = text.trim_start();
    match text.find(char::is_whitespace) {
        Some(end) => (&text[..end], &text[end..]),
        None => (text, ""),
    }
}

pub(super) fn parse_directives(message: &str) -> Directives {
    let mut found = Directives::default();
    let mut rest = String::new();
    let mut at = 0;
    while let Some((start, name)) = next_directive(message, at) {
        rest.push_str(&message[at..start]);
        let body_start = start + 1 + name.len();
        let body_end = next_directive(message, body_start).map_or(message.len(), |(next, _)| next);
        let body = &message[body_start..body_end];
        match name {
            "tool" => {
                let (tool, args) = first_word(body);
                let args = args.trim();
                let args = if args.starts_with('{') {
                    let mut values = serde_json::Deserializer::from_str(args).into_iter::<Value>();
                    match values.next() {
                        Some(Ok(value)) => {
                            rest.push_str(&args[values.byte_offset()..]);
                            value.to_string()
                        }
                        _ => args.to_string(),
                    }
                } else {
                    // Words after the name are message text; the call gets no arguments.
                    rest.push_str(args);
                    "{}".to_string()
                };
                if !tool.is_empty() {
                    found.tools.push((tool.to_string(), args));
                }
            }
            "route" => {
                let (target, text) = first_word(body);
                if !target.is_empty() {
                    found
                        .routes
                        .push((target.to_string(), text.trim().to_string()));
                }
            }
            _ => {
                let (value, text) = first_word(body);
                rest.push(' ');
                rest.push_str(text);
                match name {
                    "fail" => found.fail = value.parse().ok(),
                    "slow" => {
                        found.slow = value
                            .parse::<f64>()
                            .ok()
                            .filter(|tps| tps.is_finite() && *tps >= 0.0)
                    }
                    _ => found.long = value.parse().ok(),
                }
            }
        }
        at = body_end;
    }
    rest.push_str(&message[at..]);
    found.rest = rest.split_whitespace().collect::<Vec<_>>().join(" ");
    found
}

/// A message as a person reads it: without the local model's directives (`/slow 25`,
/// `/long 160`, `/tool …`, `/route NAME …`), for titles. A message of directives only
/// keeps what it asks a colleague, else its own text.
pub fn without_directives(message: &str) -> String {
    let found = parse_directives(message);
    if !found.rest.is_empty() {
        return found.rest;
    }
    let routed: Vec<&str> = found
        .routes
        .iter()
        .map(|(_, text)| text.as_str())
        .filter(|text| !text.is_empty())
        .collect();
    if routed.is_empty() {
        message.to_string()
    } else {
        routed.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_leave_directives_out() {
        assert_eq!(
            without_directives("/slow 25 /long 160 Can you check my order?"),
            "Can you check my order?"
        );
        assert_eq!(
            without_directives("/route billing refund ORD-1"),
            "refund ORD-1"
        );
        assert_eq!(
            without_directives("a/slow b"),
            "a/slow b",
            "not a directive"
        );
        assert_eq!(
            without_directives("/fail 429"),
            "/fail 429",
            "nothing else to show"
        );
    }

    #[test]
    fn directives_combine_and_leave_the_rest() {
        let found = parse_directives(
            "hello /slow 40 /long 2000 /tool x {\"a\": [1, 2]} /route billing pay me /fail 429 bye",
        );
        assert_eq!(found.slow, Some(40.0));
        assert_eq!(found.long, Some(2000));
        assert_eq!(found.tools, vec![("x".into(), "{\"a\":[1,2]}".into())]);
        assert_eq!(found.routes, vec![("billing".into(), "pay me".into())]);
        assert_eq!(found.fail, Some(429));
        assert_eq!(found.rest, "hello bye");
        assert_eq!(
            parse_directives("a/tool b").tools,
            vec![],
            "a directive starts a word"
        );
    }
}
