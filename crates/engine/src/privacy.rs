//! Privacy `mode: "strict"`: personal data is replaced by placeholders before any text
//! leaves for a model provider, and the placeholders in the model's answer are mapped
//! back for the operator.
//!
//! Detected kinds: `email`, `phone`, `card` (payment card numbers, Luhn-checked), `iban`
//! (mod-97-checked), `ssn` (US), `ip` (IPv4 and IPv6) and `secret` (API-key-like tokens).
//! A kind listed in `allowed_entities` is left as it is. Placeholders are stable within
//! a request: the same value is always `[EMAIL_1]`, and since a request is redacted in
//! the thread's order, the same value keeps its placeholder from one model call to the
//! next.

use agentdeck_model::{Privacy, PrivacyMode};
use agentdeck_providers::{ContextItem, ModelRequest};
use regex::Regex;
use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

/// The kinds of personal data and their patterns, in the order they are looked for (a
/// secret that looks like an email is a secret).
static PATTERNS: LazyLock<Vec<(&'static str, Regex)>> = LazyLock::new(|| {
    let pattern = |kind: &'static str, re: &str| Regex::new(re).ok().map(|re| (kind, re));
    [
        pattern(
            "secret",
            r"\b(?:sk|pk|rk)-(?:[a-z]+-)?[A-Za-z0-9_\-]{16,}|\bAKIA[0-9A-Z]{16}\b|\bgh[pousr]_[A-Za-z0-9]{30,}\b|\bxox[abprs]-[A-Za-z0-9\-]{10,}",
        ),
        pattern(
            "email",
            r"(?i)\b[a-z0-9._%+\-]+@[a-z0-9\-]+(?:\.[a-z0-9\-]+)*\.[a-z]{2,}\b",
        ),
        pattern("iban", r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b"),
        pattern("card", r"\b\d(?:[ \-]?\d){12,18}\b"),
        pattern("ssn", r"\b\d{3}-\d{2}-\d{4}\b"),
        pattern(
            "ip",
            r"\b(?:\d{1,3}\.){3}\d{1,3}\b|\b(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}\b|\b(?:[0-9A-Fa-f]{1,4}:){1,6}:[0-9A-Fa-f]{0,4}\b",
        ),
        pattern(
            "phone",
            // International (+CC ...), or the North American shapes (555) 123-4567 and
            // 555-123-4567: digit groups with spaces alone are too often other numbers.
            r"\+\d{1,3}[ .\-]?(?:\(\d{1,4}\)[ .\-]?)?\d{1,4}(?:[ .\-]?\d{2,4}){1,4}|\(\d{3}\)[ .\-]?\d{3}[ .\-]\d{4}\b|\b\d{3}[.\-]\d{3}[.\-]\d{4}\b",
        ),
    ]
    .into_iter()
    .flatten()
    .collect()
});

static PLACEHOLDER: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"\[(?:SECRET|EMAIL|IBAN|CARD|SSN|IP|PHONE)_\d+\]").ok());

fn digits(text: &str) -> Vec<u32> {
    text.chars().filter_map(|c| c.to_digit(10)).collect()
}

fn luhn(number: &[u32]) -> bool {
    let sum: u32 = number
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

fn iban_valid(text: &str) -> bool {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if !(15..=34).contains(&compact.len()) {
        return false;
    }
    let (head, tail) = compact.split_at(4);
    let mut remainder: u64 = 0;
    for c in tail.chars().chain(head.chars()) {
        let value = match c {
            '0'..='9' => c as u64 - '0' as u64,
            'A'..='Z' => c as u64 - 'A' as u64 + 10,
            _ => return false,
        };
        remainder = if value >= 10 {
            (remainder * 100 + value) % 97
        } else {
            (remainder * 10 + value) % 97
        };
    }
    remainder == 1
}

/// Whether a match of `kind` is really one (checksums, ranges, lengths).
fn confirmed(kind: &str, text: &str) -> bool {
    match kind {
        "card" => {
            let number = digits(text);
            (13..=19).contains(&number.len()) && luhn(&number)
        }
        "iban" => iban_valid(text),
        "ip" if text.contains('.') => text.split('.').all(|octet| octet.parse::<u8>().is_ok()),
        "phone" => (9..=15).contains(&digits(text).len()),
        _ => true,
    }
}

/// Replaces personal data with placeholders, remembering what each stands for.
#[derive(Debug, Default)]
pub struct Redactor {
    allowed: HashSet<String>,
    by_value: HashMap<String, String>,
    counts: HashMap<&'static str, usize>,
    by_placeholder: HashMap<String, String>,
}

impl Redactor {
    /// The redactor of an assistant's privacy settings; `None` when they ask for none.
    pub fn new(privacy: &Privacy) -> Option<Redactor> {
        (privacy.mode == PrivacyMode::Strict).then(|| Redactor {
            allowed: privacy
                .allowed_entities
                .iter()
                .map(|kind| kind.to_ascii_lowercase())
                .collect(),
            ..Redactor::default()
        })
    }

    /// The text with every detected value of a kind not allowed replaced.
    pub fn redact(&mut self, text: &str) -> String {
        let mut found: Vec<(usize, usize, &'static str)> = Vec::new();
        for (kind, pattern) in PATTERNS.iter() {
            if self.allowed.contains(*kind) {
                continue;
            }
            for m in pattern.find_iter(text) {
                let overlaps = found
                    .iter()
                    .any(|&(start, end, _)| m.start() < end && start < m.end());
                if !overlaps && confirmed(kind, m.as_str()) {
                    found.push((m.start(), m.end(), kind));
                }
            }
        }
        if found.is_empty() {
            return text.to_string();
        }
        found.sort_by_key(|&(start, _, _)| start);
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for (start, end, kind) in found {
            out.push_str(&text[at..start]);
            out.push_str(&self.placeholder(kind, &text[start..end]));
            at = end;
        }
        out.push_str(&text[at..]);
        out
    }

    fn placeholder(&mut self, kind: &'static str, value: &str) -> String {
        if let Some(existing) = self.by_value.get(value) {
            return existing.clone();
        }
        let count = self.counts.entry(kind).or_default();
        *count += 1;
        let placeholder = format!("[{}_{}]", kind.to_ascii_uppercase(), count);
        self.by_value.insert(value.to_string(), placeholder.clone());
        self.by_placeholder
            .insert(placeholder.clone(), value.to_string());
        placeholder
    }

    /// Redacts everything of a request that leaves for the provider: instructions (with
    /// the memory they carry), every message, tool call and tool output of the context.
    pub fn redact_request(&mut self, request: &mut ModelRequest) {
        request.instructions = self.redact(&request.instructions);
        for item in &mut request.context {
            match item {
                ContextItem::User(text) | ContextItem::Assistant(text) => {
                    *text = self.redact(text);
                }
                ContextItem::ToolCalls(calls) => {
                    for call in calls {
                        call.arguments = self.redact(&call.arguments);
                    }
                }
                ContextItem::ToolResult { output, .. } => *output = self.redact(output),
                // Pixels are not read for personal data: the operator decides to send them.
                ContextItem::Image(_) => {}
            }
        }
    }

    /// Whether anything was replaced: a safety event, flagged in telemetry.
    pub fn replaced_any(&self) -> bool {
        !self.by_placeholder.is_empty()
    }

    /// What maps the model's placeholders back.
    pub fn restorer(&self) -> Restorer {
        Restorer {
            originals: self.by_placeholder.clone(),
            held: String::new(),
        }
    }
}

/// Maps placeholders in the model's streamed answer back to the values they stand for.
/// A placeholder split across deltas (`[EMA` then `IL_1]`) is held back until it is whole.
#[derive(Debug, Default, Clone)]
pub struct Restorer {
    originals: HashMap<String, String>,
    held: String,
}

/// The longest a placeholder is (`[SECRET_` and a number): held text longer than this
/// is not one.
const PLACEHOLDER_MAX: usize = 24;

impl Restorer {
    /// The text of `delta` that can be shown now, placeholders restored.
    pub fn push(&mut self, delta: &str) -> String {
        self.held.push_str(delta);
        // Hold back an unfinished `[` that could still become a placeholder.
        let keep_from = self.held.rfind('[').filter(|&open| {
            let tail = &self.held[open..];
            !tail.contains(']')
                && tail.len() < PLACEHOLDER_MAX
                && tail[1..]
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        });
        let ready = match keep_from {
            Some(open) => {
                let tail = self.held.split_off(open);
                std::mem::replace(&mut self.held, tail)
            }
            None => std::mem::take(&mut self.held),
        };
        self.restore(&ready)
    }

    /// Whether text is held back, waiting for the rest of a placeholder.
    pub fn holds(&self) -> bool {
        !self.held.is_empty()
    }

    /// A restorer of the same placeholders with nothing held: for another stream.
    pub fn fresh(&self) -> Restorer {
        Restorer {
            originals: self.originals.clone(),
            held: String::new(),
        }
    }

    /// What is still held back, at the end of the stream.
    pub fn finish(&mut self) -> String {
        let rest = std::mem::take(&mut self.held);
        self.restore(&rest)
    }

    /// Every placeholder of `text` this request made, replaced by its value.
    pub fn restore(&self, text: &str) -> String {
        if self.originals.is_empty() {
            return text.to_string();
        }
        let Some(pattern) = PLACEHOLDER.as_ref() else {
            return text.to_string();
        };
        pattern
            .replace_all(text, |caps: &regex::Captures| {
                let placeholder = &caps[0];
                self.originals
                    .get(placeholder)
                    .cloned()
                    .unwrap_or_else(|| placeholder.to_string())
            })
            .into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strict(allowed: &[&str]) -> Redactor {
        Redactor::new(&Privacy {
            mode: PrivacyMode::Strict,
            allowed_entities: allowed.iter().map(|s| s.to_string()).collect(),
        })
        .unwrap()
    }

    #[test]
    fn every_kind_is_replaced_with_a_stable_placeholder() {
        let mut r = strict(&[]);
        let text = "Mail jane.doe@example.com or call +44 20 7946 0958; card 4111 1111 1111 1111, \
                    IBAN GB82 WEST 1234 5698 7654 32, SSN 123-45-6789, from 192.168.1.20, \
                    key sk-proj-abcdefghijklmnop1234. Again: jane.doe@example.com.";
        let out = r.redact(text);
        for leaked in [
            "jane.doe",
            "7946",
            "4111",
            "WEST",
            "123-45-6789",
            "192.168",
            "sk-proj",
        ] {
            assert!(!out.contains(leaked), "{leaked} in {out}");
        }
        assert_eq!(out.matches("[EMAIL_1]").count(), 2, "{out}");
        for placeholder in [
            "[PHONE_1]",
            "[CARD_1]",
            "[IBAN_1]",
            "[SSN_1]",
            "[IP_1]",
            "[SECRET_1]",
        ] {
            assert!(out.contains(placeholder), "{placeholder} in {out}");
        }
        assert_eq!(r.restorer().restore(&out), text);
    }

    #[test]
    fn lookalikes_stay_and_allowed_kinds_stay() {
        let mut r = strict(&["email"]);
        // Not Luhn, a date, an order number, a version, a bad IBAN checksum.
        let text = "card 4111 1111 1111 1112 on 2026-11-20 for ORD-4521 v1.2.3 GB00 WEST 1234 5698 7654 32 to a@b.co";
        assert_eq!(r.redact(text), text);
    }

    #[test]
    fn a_placeholder_split_across_deltas_is_restored_whole() {
        let mut r = strict(&[]);
        r.redact("write to jane@example.com");
        let mut restorer = r.restorer();
        let mut shown = String::new();
        for piece in [
            "I wrote to [EMA",
            "IL_1",
            "] and [",
            "not a placeholder] ok [",
        ] {
            shown.push_str(&restorer.push(piece));
        }
        shown.push_str(&restorer.finish());
        assert_eq!(
            shown,
            "I wrote to jane@example.com and [not a placeholder] ok ["
        );
    }
}
