//! The memory of a thread, as stored and as the memory endpoint shows it, and the pure
//! parts of how it works: which turns fit the short-term window, and the vectors that
//! long-term memory compares turns by.
//!
//! The vectors are hashed bags of words and word pairs (feature hashing), weighted by
//! log term frequency and normalised: cosine similarity then scores shared vocabulary.
//! They need no model and no network, so memory works on a fresh machine; they match
//! words, not meanings.

use crate::Role;
use serde::{Deserialize, Serialize};

/// Tokens of recent turns kept verbatim in context when an assistant does not say.
pub const DEFAULT_WINDOW_TOKENS: u32 = 2000;
/// Earlier turns retrieved into context at most.
pub const RETRIEVED_TURNS: usize = 3;
/// Below this similarity an earlier turn is not worth the context it costs.
pub const MIN_SCORE: f32 = 0.12;
/// Turns kept in the long-term index of one thread; the oldest go first.
pub const INDEXED_TURNS_KEPT: usize = 5000;
/// Changes remembered for the "how it changed" list.
pub const CHANGES_KEPT: usize = 12;
/// Characters of a turn kept in the index (and shown when retrieved).
pub const ENTRY_CHARS: usize = 600;

/// How memory is introduced in a reply's instructions.
pub const SUMMARY_HEADER: &str = "Summary of the earlier conversation:";
pub const RETRIEVED_HEADER: &str = "Earlier turns that may be relevant (similarity score):";

const DIMENSIONS: u32 = 4096;

/// A sparse, unit-length vector: (dimension, weight), sorted by dimension.
pub type Vector = Vec<(u16, f32)>;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct MemoryState {
    /// What the model wrote of the turns that fell out of the window.
    pub summary: Option<String>,
    /// Turns (from the oldest) that the summary covers.
    pub folded_turns: usize,
    /// Turns (from the oldest) in the long-term index.
    pub indexed_turns: usize,
    pub entries: Vec<MemoryEntry>,
    /// What the latest run retrieved.
    pub vector_context: Vec<Retrieved>,
    pub window_turns: usize,
    pub window_tokens: u32,
    pub changes: Vec<MemoryChange>,
    pub updated_at: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(from = "StoredEntry")]
pub struct MemoryEntry {
    pub message_id: String,
    /// `user` or `assistant`.
    pub role: Role,
    /// The assistant who wrote the turn, by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assistant: Option<String>,
    pub text: String,
    pub vector: Vector,
    /// The turn's vector from the configured embeddings model (unit length), if any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dense: Vec<f32>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(from = "StoredRetrieved")]
pub struct Retrieved {
    pub text: String,
    pub score: f32,
    pub message_id: String,
    /// `user` or `assistant`, as the guide's memory shows it.
    pub role: Role,
    /// The assistant who wrote an `assistant` turn, by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assistant: Option<String>,
}

impl Retrieved {
    /// Who said it, for people: the assistant's name, else the role.
    pub fn speaker(&self) -> &str {
        self.assistant.as_deref().unwrap_or(self.role.as_str())
    }
}

/// A role as older data dirs wrote it: before names were kept apart, an assistant's turn
/// held the assistant's name as its role. Such a turn reads as an assistant's, by that
/// name.
fn role_as_stored(role: String, assistant: Option<String>) -> (Role, Option<String>) {
    match Role::parse(&role) {
        Some(role) => (role, assistant),
        None => (Role::Assistant, assistant.or(Some(role))),
    }
}

/// A [`MemoryEntry`] as read: any data dir's.
#[derive(Deserialize)]
struct StoredEntry {
    message_id: String,
    role: String,
    #[serde(default)]
    assistant: Option<String>,
    text: String,
    vector: Vector,
    #[serde(default)]
    dense: Vec<f32>,
}

impl From<StoredEntry> for MemoryEntry {
    fn from(stored: StoredEntry) -> MemoryEntry {
        let (role, assistant) = role_as_stored(stored.role, stored.assistant);
        MemoryEntry {
            message_id: stored.message_id,
            role,
            assistant,
            text: stored.text,
            vector: stored.vector,
            dense: stored.dense,
        }
    }
}

/// A [`Retrieved`] as read: any data dir's.
#[derive(Deserialize)]
struct StoredRetrieved {
    text: String,
    score: f32,
    message_id: String,
    role: String,
    #[serde(default)]
    assistant: Option<String>,
}

impl From<StoredRetrieved> for Retrieved {
    fn from(stored: StoredRetrieved) -> Retrieved {
        let (role, assistant) = role_as_stored(stored.role, stored.assistant);
        Retrieved {
            text: stored.text,
            score: stored.score,
            message_id: stored.message_id,
            role,
            assistant,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MemoryChange {
    pub at: u64,
    pub what: String,
}

impl MemoryState {
    pub fn note(&mut self, at: u64, what: String) {
        self.updated_at = at;
        self.changes.push(MemoryChange { at, what });
        let extra = self.changes.len().saturating_sub(CHANGES_KEPT);
        self.changes.drain(..extra);
    }
}

/// `GET /v2/threads/{id}/memory`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MemoryView {
    pub object: String,
    pub thread_id: String,
    pub enabled: bool,
    pub summary_method: Option<String>,
    pub summary: Option<String>,
    pub vector_context: Vec<Retrieved>,
    pub window: WindowView,
    pub indexed_turns: usize,
    pub folded_turns: usize,
    pub changes: Vec<MemoryChange>,
    pub updated_at: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WindowView {
    pub turns: usize,
    pub tokens: u32,
    pub budget_tokens: u32,
}

impl MemoryView {
    pub fn new(
        thread_id: &str,
        config: &super::MemoryConfig,
        state: Option<&MemoryState>,
    ) -> MemoryView {
        let empty = MemoryState::default();
        let state = state.unwrap_or(&empty);
        MemoryView {
            object: "thread.memory".into(),
            thread_id: thread_id.to_string(),
            enabled: config.enabled,
            summary_method: config.summary_method.clone(),
            summary: state.summary.clone(),
            vector_context: state.vector_context.clone(),
            window: WindowView {
                turns: state.window_turns,
                tokens: state.window_tokens,
                budget_tokens: config.window_budget(),
            },
            indexed_turns: state.indexed_turns,
            folded_turns: state.folded_turns,
            changes: state.changes.clone(),
            updated_at: (state.updated_at > 0).then_some(state.updated_at),
        }
    }
}

impl super::MemoryConfig {
    pub fn window_budget(&self) -> u32 {
        self.window_tokens.unwrap_or(DEFAULT_WINDOW_TOKENS)
    }

    pub fn reflects(&self) -> bool {
        self.summary_method.as_deref() == Some("reflection")
    }
}

/// A rough token count (four bytes a token), the same estimate everywhere.
pub fn estimate_tokens(text: &str) -> u32 {
    u32::try_from(text.len().div_ceil(4)).unwrap_or(u32::MAX)
}

/// Where the short-term window starts: the newest turns whose tokens fit the budget,
/// and always at least the newest one. Returns (first turn in the window, its tokens).
pub fn window_start(turn_tokens: &[u32], budget: u32) -> (usize, u32) {
    let mut used: u32 = 0;
    let mut start = turn_tokens.len();
    for (index, tokens) in turn_tokens.iter().enumerate().rev() {
        if start < turn_tokens.len() && used.saturating_add(*tokens) > budget {
            break;
        }
        used = used.saturating_add(*tokens);
        start = index;
    }
    (start, used)
}

const STOP_WORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "can", "do", "for", "from", "has",
    "have", "i", "if", "in", "is", "it", "its", "me", "my", "of", "on", "or", "our", "so", "that",
    "the", "their", "this", "to", "was", "we", "were", "what", "will", "with", "you", "your",
];

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .filter(|w| !STOP_WORDS.contains(&w.as_str()))
        // A crude plural fold: "caps" and "cap" are the same word here.
        .map(|w| match w.strip_suffix('s') {
            Some(stem) if stem.len() > 2 && !stem.ends_with('s') => stem.to_string(),
            _ => w,
        })
        .collect()
}

fn bucket(feature: &str) -> u16 {
    // FNV-1a: stable across runs and builds, unlike the std hasher.
    let mut hash: u32 = 0x811c_9dc5;
    for byte in feature.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    u16::try_from(hash % DIMENSIONS).unwrap_or(0)
}

/// The vector of a text: its words and neighbouring word pairs.
pub fn embed(text: &str) -> Vector {
    let words = words(text);
    let mut counts: std::collections::BTreeMap<u16, f32> = Default::default();
    for word in &words {
        *counts.entry(bucket(word)).or_default() += 1.0;
    }
    for pair in words.windows(2) {
        // Pairs count half: they sharpen a match without drowning single words.
        *counts
            .entry(bucket(&format!("{} {}", pair[0], pair[1])))
            .or_default() += 0.5;
    }
    let mut vector: Vector = counts
        .into_iter()
        .map(|(dimension, count)| (dimension, 1.0 + count.ln().max(0.0)))
        .collect();
    let norm = vector.iter().map(|(_, w)| w * w).sum::<f32>().sqrt();
    if norm > 0.0 {
        for (_, weight) in &mut vector {
            *weight /= norm;
        }
    }
    vector
}

/// Cosine similarity of two unit vectors.
pub fn similarity(a: &Vector, b: &Vector) -> f32 {
    let (mut i, mut j, mut sum) = (0, 0, 0.0);
    while i < a.len() && j < b.len() {
        match a[i].0.cmp(&b[j].0) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                sum += a[i].1 * b[j].1;
                i += 1;
                j += 1;
            }
        }
    }
    sum
}

/// The entries most similar to `query`, best first, skipping those `exclude` rejects.
/// The least cosine of an embeddings model's vectors for a turn to be retrieved (such
/// models place unrelated sentences near 0.1, related ones from about 0.4).
pub const MIN_DENSE_SCORE: f32 = 0.35;

/// The turns most similar to `query`: by the embeddings model's vectors where both the
/// query (`dense_query`) and the turn have them, else by the offline hashed vectors.
pub fn retrieve(
    entries: &[MemoryEntry],
    query: &str,
    dense_query: Option<&[f32]>,
    exclude: impl Fn(&MemoryEntry) -> bool,
) -> Vec<Retrieved> {
    let sparse_query = embed(query);
    let mut scored: Vec<(f32, &MemoryEntry)> = entries
        .iter()
        .filter(|entry| !exclude(entry))
        .filter_map(|entry| match dense_query {
            Some(dense) if entry.dense.len() == dense.len() && !dense.is_empty() => {
                let score: f32 = entry.dense.iter().zip(dense).map(|(a, b)| a * b).sum();
                (score >= MIN_DENSE_SCORE).then_some((score, entry))
            }
            _ => {
                let score = similarity(&sparse_query, &entry.vector);
                (score >= MIN_SCORE).then_some((score, entry))
            }
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored
        .into_iter()
        .take(RETRIEVED_TURNS)
        .map(|(score, entry)| Retrieved {
            text: entry.text.clone(),
            score: (score * 1000.0).round() / 1000.0,
            message_id: entry.message_id.clone(),
            role: entry.role,
            assistant: entry.assistant.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, text: &str) -> MemoryEntry {
        MemoryEntry {
            message_id: id.into(),
            role: Role::User,
            assistant: None,
            text: text.into(),
            vector: embed(text),
            dense: Vec::new(),
        }
    }

    #[test]
    fn similar_turns_score_higher_and_identical_ones_score_one() {
        let a = embed("The liability clause caps damages at $5M annually");
        assert!((similarity(&a, &a) - 1.0).abs() < 1e-5);
        let related = embed("What is the liability cap for damages?");
        let unrelated = embed("Please reset my password for the billing portal");
        assert!(similarity(&a, &related) > 0.3);
        assert!(similarity(&a, &unrelated) < 0.05);
    }

    #[test]
    fn retrieval_ranks_filters_and_excludes() {
        let entries = vec![
            entry("msg_1", "Order ORD-4521 was charged twice"),
            entry("msg_2", "The liability clause caps damages at $5M annually"),
            entry("msg_3", "Refund the second charge of order ORD-4521"),
        ];
        let found = retrieve(&entries, "was order ORD-4521 charged twice?", None, |_| {
            false
        });
        assert_eq!(found[0].message_id, "msg_1");
        assert!(found.iter().all(|r| r.message_id != "msg_2"));
        assert!(found[0].score > found[1].score);
        let excluded = retrieve(&entries, "order ORD-4521 charged twice", None, |e| {
            e.message_id == "msg_1"
        });
        assert_eq!(excluded[0].message_id, "msg_3");
        // With an embeddings model's vectors, those decide where both have them.
        let mut dense = entries.clone();
        dense[1].dense = vec![1.0, 0.0];
        dense[0].dense = vec![0.0, 1.0];
        let found = retrieve(
            &dense,
            "how much can we be held responsible for",
            Some(&[0.9, 0.1]),
            |_| false,
        );
        assert_eq!(found[0].message_id, "msg_2");
        assert!(
            found.iter().all(|r| r.message_id != "msg_1"),
            "below the dense floor"
        );
    }

    #[test]
    fn the_window_keeps_the_newest_turns_that_fit_and_at_least_one() {
        assert_eq!(window_start(&[100, 100, 100], 250), (1, 200));
        assert_eq!(window_start(&[100, 100, 100], 1000), (0, 300));
        assert_eq!(window_start(&[100, 100, 900], 500), (2, 900));
        assert_eq!(window_start(&[], 500), (0, 0));
    }

    /// Entries of older data dirs held an assistant's name as the role: they read as the
    /// assistant's turns, by that name; the roles of today read as themselves, and both
    /// write back as today's.
    #[test]
    fn an_older_entry_with_a_name_for_a_role_reads_as_that_assistants_turn() {
        let mut stored = serde_json::to_value(entry("msg_1", "refund sent")).unwrap();
        stored["role"] = "keeper".into();
        let old: MemoryEntry = serde_json::from_value(stored.clone()).unwrap();
        assert_eq!(
            (old.role, old.assistant.as_deref()),
            (Role::Assistant, Some("keeper"))
        );
        let written = serde_json::to_value(&old).unwrap();
        assert_eq!(
            (&written["role"], &written["assistant"]),
            (&"assistant".into(), &"keeper".into())
        );
        stored["role"] = "user".into();
        let today: MemoryEntry = serde_json::from_value(stored).unwrap();
        assert_eq!((today.role, today.assistant), (Role::User, None));
        let retrieved: Retrieved = serde_json::from_value(serde_json::json!({
            "text": "t", "score": 0.5, "message_id": "msg_2", "role": "triage"
        }))
        .unwrap();
        assert_eq!(retrieved.speaker(), "triage");
        assert_eq!(retrieved.role, Role::Assistant);
    }
}
