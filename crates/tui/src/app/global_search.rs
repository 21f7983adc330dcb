//! The search across every thread: live as the query is typed, Enter opens the thread
//! of the chosen hit with its message selected.

use super::*;
use agentdeck_model::SearchHit;

/// The search across every thread: what is typed, and the hits of the latest answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GlobalSearch {
    pub query: String,
    pub hits: Vec<agentdeck_model::SearchHit>,
    pub selected: usize,
    /// Bumped by every query sent; an answer to an older one is dropped.
    pub seq: u64,
    /// The hits are for this query (`None`: nothing answered yet).
    pub answered: Option<String>,
    /// The query number the hits answer.
    pub answered_seq: Option<u64>,
    pub error: Option<String>,
}

impl GlobalSearch {
    /// The query changed: the question to ask, if any (an empty query clears the hits).
    pub(super) fn set_query(&mut self, query: String) -> Option<Effect> {
        self.query = query;
        self.seq += 1;
        self.selected = 0;
        if self.query.trim().is_empty() {
            self.hits.clear();
            self.answered = None;
            self.error = None;
            return None;
        }
        Some(Effect::SearchAll {
            query: self.query.trim().to_string(),
            seq: self.seq,
        })
    }

    /// An answer to query `seq` (one to an older query is dropped). With several
    /// runtimes each answers the same query: their hits add up, best first, and one that
    /// fails leaves the others' hits.
    pub(super) fn answer(
        &mut self,
        seq: u64,
        hits: Result<Vec<SearchHit>, String>,
        several_runtimes: bool,
    ) {
        if seq != self.seq {
            return;
        }
        let more = several_runtimes && self.answered_seq == Some(seq);
        self.answered_seq = Some(seq);
        match hits {
            Ok(hits) if more => {
                self.hits.extend(hits);
                self.hits.sort_by(|a, b| b.score.total_cmp(&a.score));
            }
            Err(_) if more => {}
            Ok(hits) => {
                self.hits = hits;
                self.error = None;
            }
            Err(why) => {
                self.hits.clear();
                self.error = Some(why);
            }
        }
        self.answered = Some(self.query.trim().to_string());
        self.selected = self.selected.min(self.hits.len().saturating_sub(1));
    }

    /// Moves the choice among the hits.
    pub fn step(&mut self, down: bool) {
        let action = if down { Action::Down } else { Action::Up };
        if let Some(at) = super::actions::moved(action, self.hits.len(), self.selected) {
            self.selected = at;
        }
    }

    /// The hit chosen.
    pub fn chosen(&self) -> Option<&SearchHit> {
        self.hits.get(self.selected)
    }
}

impl App {
    /// `ctrl-f` or `:search [words]`: the view opens with the last query (or the words).
    pub fn open_global_search(&mut self, words: &str) -> Vec<Effect> {
        self.mode = Mode::GlobalSearch;
        if words.is_empty() {
            self.line_cursor = self.global_search.query.chars().count();
            Vec::new()
        } else {
            self.line_cursor = words.chars().count();
            self.set_global_query(words.to_string())
        }
    }

    /// The query changed: ask again (an empty query clears the hits).
    pub fn set_global_query(&mut self, query: String) -> Vec<Effect> {
        self.global_search.set_query(query).into_iter().collect()
    }

    pub(super) fn search_results(&mut self, seq: u64, hits: Result<Vec<SearchHit>, String>) {
        let several_runtimes = self.runtimes.len() > 1;
        self.global_search.answer(seq, hits, several_runtimes);
    }

    /// Moves the choice among the hits.
    pub fn step_hit(&mut self, down: bool) {
        self.global_search.step(down);
    }

    /// Enter: opens the chosen hit's thread and selects its message once loaded.
    pub fn open_hit(&mut self) -> Vec<Effect> {
        let Some(hit) = self.global_search.chosen().cloned() else {
            return Vec::new();
        };
        self.mode = Mode::Normal;
        self.conversation.pending_selection = hit.message_id.clone().map(|message_id| MessageRef {
            thread_id: hit.thread_id.clone(),
            message_id,
        });
        let Some(thread) = self
            .list
            .threads
            .iter()
            .find(|t| t.id == hit.thread_id)
            .cloned()
        else {
            self.notice = Some("Opening the thread…".into());
            return vec![Effect::FetchThread(hit.thread_id)];
        };
        let already_open = self.conversation.open_thread.as_deref() == Some(thread.id.as_str());
        let effects = self.apply(AppEvent::Open(thread));
        if already_open {
            self.select_pending();
        }
        self.focus = Pane::Conversation;
        effects
    }

    /// Selects the message a hit named, if its thread is open and the message loaded.
    pub(super) fn select_pending(&mut self) {
        if self.conversation.select_pending() {
            self.focus = Pane::Conversation;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(thread: &str, score: f32) -> SearchHit {
        serde_json::from_value(serde_json::json!({
            "thread_id": thread, "assistant_id": "asst_triage", "kind": "message",
            "snippet": "refund", "highlights": [], "score": score, "created_at": 1
        }))
        .unwrap()
    }

    #[test]
    fn only_the_latest_query_is_answered_and_several_runtimes_add_up() {
        let mut search = GlobalSearch::default();
        let Some(Effect::SearchAll { seq: first, .. }) = search.set_query("refun".into()) else {
            panic!("a query is asked");
        };
        let Some(Effect::SearchAll { query, seq }) = search.set_query(" refund ".into()) else {
            panic!("a query is asked");
        };
        assert_eq!(query, "refund");
        search.answer(first, Ok(vec![hit("thread_old", 9.0)]), true);
        assert!(search.hits.is_empty(), "an older query's answer is dropped");
        search.answer(seq, Ok(vec![hit("thread_a", 1.0)]), true);
        search.answer(seq, Err("lab is down".into()), true);
        search.answer(seq, Ok(vec![hit("thread_b", 2.0)]), true);
        let threads: Vec<&str> = search.hits.iter().map(|h| h.thread_id.as_str()).collect();
        assert_eq!(
            threads,
            ["thread_b", "thread_a"],
            "best first, across runtimes"
        );
        assert_eq!(search.answered.as_deref(), Some("refund"));
        search.step(true);
        search.step(true);
        assert_eq!(
            search.chosen().map(|h| h.thread_id.as_str()),
            Some("thread_a")
        );
        assert_eq!(search.set_query("  ".into()), None);
        assert!(search.hits.is_empty() && search.answered.is_none());
    }
}
