//! The search across every thread: live as the query is typed, Enter opens the thread
//! of the chosen hit with its message selected.

use super::*;

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
        let search = &mut self.global_search;
        search.query = query;
        search.seq += 1;
        search.selected = 0;
        if search.query.trim().is_empty() {
            search.hits.clear();
            search.answered = None;
            search.error = None;
            return Vec::new();
        }
        vec![Effect::SearchAll {
            query: search.query.trim().to_string(),
            seq: search.seq,
        }]
    }

    pub(super) fn search_results(
        &mut self,
        seq: u64,
        hits: Result<Vec<agentdeck_model::SearchHit>, String>,
    ) {
        let search = &mut self.global_search;
        if seq != search.seq {
            return;
        }
        // With several runtimes each answers the same query: their hits add up, best
        // first.
        let more = self.runtimes.len() > 1 && search.answered_seq == Some(seq);
        search.answered_seq = Some(seq);
        match hits {
            Ok(hits) if more => {
                search.hits.extend(hits);
                search.hits.sort_by(|a, b| b.score.total_cmp(&a.score));
            }
            Err(_) if more => {}
            Ok(hits) => {
                search.hits = hits;
                search.error = None;
            }
            Err(why) => {
                search.hits.clear();
                search.error = Some(why);
            }
        }
        search.answered = Some(search.query.trim().to_string());
        search.selected = search.selected.min(search.hits.len().saturating_sub(1));
    }

    /// Moves the choice among the hits.
    pub fn step_hit(&mut self, down: bool) {
        let search = &mut self.global_search;
        let last = search.hits.len().saturating_sub(1);
        search.selected = if down {
            (search.selected + 1).min(last)
        } else {
            search.selected.saturating_sub(1)
        };
    }

    /// Enter: opens the chosen hit's thread and selects its message once loaded.
    pub fn open_hit(&mut self) -> Vec<Effect> {
        let Some(hit) = self
            .global_search
            .hits
            .get(self.global_search.selected)
            .cloned()
        else {
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
