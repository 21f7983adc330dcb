//! Thread memory (`memory.enabled` on the assistant), SPEC §4:
//! - a short-term window: the newest turns within a token budget go to the model verbatim;
//! - reflection (`summary_method: "reflection"`): after each run (a moment after, so a
//!   burst of runs makes one), the assistant's model rewrites the thread's summary to
//!   cover the turns it did not yet cover — from the earlier summary and those turns
//!   only, so each reflection is small;
//! - long-term memory: every turn is indexed, and at the start of a run the earlier turns
//!   most similar to the new message (outside the window) are retrieved, with scores.
//!
//! Indexing and summarising happen after a run, in the background, one update per thread
//! at a time; a run never waits for them. Every change emits `memory.updated` with the
//! thread's memory as the endpoint shows it.

use super::{Engine, EngineResult, Scope, lock};
use agentdeck_model::memory::{
    self, INDEXED_TURNS_KEPT, MemoryEntry, MemoryView, RETRIEVED_HEADER, SUMMARY_HEADER,
    estimate_tokens,
};
use agentdeck_model::{Assistant, Message, MessageStatus, Role, Thread, Usage, now_secs};
use agentdeck_providers::{ContextItem, ModelEvent, ModelRequest, Purpose};
use futures::StreamExt;
use std::time::Duration;

/// Messages read back when laying out the window of a run.
pub(crate) const WINDOW_SCAN: usize = 400;
/// How long after a run its memory is updated (runs that end meanwhile share the update).
const REFLECT_DELAY: Duration = Duration::from_millis(300);
/// A summary that takes longer than this is given up (and tried again after the next run).
const SUMMARY_TIMEOUT: Duration = Duration::from_secs(120);

const SUMMARY_INSTRUCTIONS: &str = "You keep the memory of a support conversation. Rewrite \
the earlier summary so that it also covers the new turns. Keep names, ids, amounts, \
decisions and open questions; drop pleasantries. At most 120 words. Answer with the summary \
only.";

/// What memory adds to a run: where its window starts, and the text for the instructions.
#[derive(Debug, Clone, Default)]
pub(crate) struct RunMemory {
    /// The oldest message sent verbatim; `None` sends what the scan found.
    pub first_message_id: Option<String>,
    pub prelude: String,
}

/// A turn: a user message or an assistant's finished text.
struct Turn<'a> {
    message: &'a Message,
    text: String,
    tokens: u32,
}

fn turns<'a>(messages: &'a [Message], reply_id: Option<&str>) -> Vec<Turn<'a>> {
    messages
        .iter()
        .filter(|m| Some(m.id.as_str()) != reply_id)
        .filter(|m| match m.role {
            Role::User => true,
            Role::Assistant => {
                matches!(
                    m.status,
                    MessageStatus::Completed | MessageStatus::Incomplete
                )
            }
            Role::Tool | Role::System => false,
        })
        .filter_map(|message| {
            let text = message.text();
            (!text.trim().is_empty()).then(|| Turn {
                message,
                tokens: estimate_tokens(&text),
                text,
            })
        })
        .collect()
}

fn one_line(text: &str, max_chars: usize) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > max_chars {
        let mut clipped: String = flat.chars().take(max_chars).collect();
        clipped.push('…');
        clipped
    } else {
        flat
    }
}

impl Engine {
    /// A thread's memory, as `GET /v2/threads/{id}/memory` shows it.
    pub fn memory(&self, scope: &Scope, thread_id: &str) -> EngineResult<MemoryView> {
        let thread = self.thread(scope, thread_id)?;
        let config = self
            .inner
            .store
            .assistant(&thread.assistant_id)?
            .map(|a| a.memory)
            .unwrap_or_default();
        let state = self.inner.store.memory(thread_id)?;
        Ok(MemoryView::new(thread_id, &config, state.as_ref()))
    }

    /// Announces a thread's memory as it now is (what `update_memory` just stored).
    fn emit_memory(
        &self,
        thread: &Thread,
        config: &agentdeck_model::MemoryConfig,
        state: &memory::MemoryState,
    ) {
        let view = MemoryView::new(&thread.id, config, Some(state));
        self.emit(
            &Self::thread_scope(thread, None),
            agentdeck_model::EventPayload::MemoryUpdated(Box::new(
                agentdeck_model::event::MemoryUpdated {
                    thread_id: thread.id.clone(),
                    memory: view,
                },
            )),
        );
    }

    /// At the start of a run: the window, and the summary and retrieved turns to add to
    /// the instructions. Records what was retrieved.
    pub(crate) async fn run_memory(
        &self,
        thread: &Thread,
        assistant: &Assistant,
        reply_id: &str,
    ) -> EngineResult<Option<RunMemory>> {
        let config = &assistant.memory;
        if !config.enabled {
            return Ok(None);
        }
        let store = &self.inner.store;
        let messages = store.recent_messages(&thread.id, WINDOW_SCAN)?;
        let turns = turns(&messages, Some(reply_id));
        let tokens: Vec<u32> = turns.iter().map(|t| t.tokens).collect();
        let (start, used) = memory::window_start(&tokens, config.window_budget());
        let in_window: std::collections::HashSet<&str> = turns[start..]
            .iter()
            .map(|t| t.message.id.as_str())
            .collect();
        let state = store.memory(&thread.id)?.unwrap_or_default();
        let query = turns
            .iter()
            .rev()
            .find(|t| t.message.role == Role::User)
            .map_or(String::new(), |t| t.text.clone());
        // The embeddings model's vector of the question, when turns have such vectors.
        let dense_query = match &self.inner.documents.embedder {
            Some(embedder) if state.entries.iter().any(|e| !e.dense.is_empty()) => {
                let embedded = tokio::time::timeout(
                    std::time::Duration::from_secs(10),
                    embedder.embed(std::slice::from_ref(&query)),
                )
                .await;
                match embedded {
                    Ok(Ok(mut vectors)) => vectors.pop(),
                    Ok(Err(why)) => {
                        tracing::warn!("memory of {}: {why}", thread.id);
                        None
                    }
                    Err(_) => None,
                }
            }
            _ => None,
        };
        let retrieved = memory::retrieve(&state.entries, &query, dense_query.as_deref(), |entry| {
            in_window.contains(entry.message_id.as_str())
        });
        let mut prelude = String::new();
        if let Some(summary) = state.summary.as_deref().filter(|_| config.reflects()) {
            prelude.push_str(&format!("\n\n{SUMMARY_HEADER}\n{summary}"));
        }
        if !retrieved.is_empty() {
            prelude.push_str(&format!("\n\n{RETRIEVED_HEADER}"));
            for turn in &retrieved {
                prelude.push_str(&format!(
                    "\n- ({:.2}) {}: {}",
                    turn.score,
                    turn.speaker(),
                    one_line(&turn.text, 300)
                ));
            }
        }
        let window_turns = turns.len() - start;
        let changed = state.vector_context != retrieved
            || state.window_turns != window_turns
            || state.window_tokens != used;
        if changed {
            let best = retrieved.first().map(|r| r.score);
            let state = store.update_memory(&thread.id, |state| {
                state.window_turns = window_turns;
                state.window_tokens = used;
                if state.vector_context != retrieved {
                    state.vector_context = retrieved.clone();
                    let what = match (retrieved.len(), best) {
                        (0, _) | (_, None) => "retrieved nothing similar enough".to_string(),
                        (n, Some(best)) => format!(
                            "retrieved {n} earlier turn{} (best {best:.2}) for “{}”",
                            if n == 1 { "" } else { "s" },
                            one_line(&query, 40)
                        ),
                    };
                    state.note(now_secs(), what);
                }
            })?;
            self.emit_memory(thread, config, &state);
        }
        Ok(Some(RunMemory {
            first_message_id: turns
                .get(start)
                .filter(|_| start > 0)
                .map(|t| t.message.id.clone()),
            prelude,
        }))
    }

    /// After a run: index its turns and, with reflection, fold the turns that left the
    /// window into the summary. One update per thread at a time; a request that comes
    /// while one runs makes it go round once more.
    pub(crate) fn schedule_memory_update(&self, thread_id: &str) {
        {
            let mut pending = lock(&self.inner.runs.memory_updates);
            if let Some(again) = pending.get_mut(thread_id) {
                *again = true;
                return;
            }
            pending.insert(thread_id.to_string(), false);
        }
        let engine = self.clone();
        let thread_id = thread_id.to_string();
        tokio::spawn(async move {
            // A moment's wait: the runs of a burst (a routed hop, an answer right after)
            // are reflected on once.
            tokio::time::sleep(REFLECT_DELAY).await;
            loop {
                if let Err(err) = engine.update_memory(&thread_id).await {
                    tracing::error!("memory update of {thread_id}: {err}");
                }
                let mut pending = lock(&engine.inner.runs.memory_updates);
                if pending.get(&thread_id) == Some(&true) {
                    pending.insert(thread_id.clone(), false);
                    continue;
                }
                pending.remove(&thread_id);
                break;
            }
        });
    }

    async fn update_memory(&self, thread_id: &str) -> EngineResult<()> {
        let store = &self.inner.store;
        let Some(thread) = store.thread(thread_id) else {
            return Ok(());
        };
        let Some(assistant) = store.assistant(&thread.assistant_id)? else {
            return Ok(());
        };
        let config = &assistant.memory;
        if !config.enabled {
            return Ok(());
        }
        let messages = self.all_messages(thread_id)?;
        let turns = turns(&messages, None);
        let state = store.memory(thread_id)?.unwrap_or_default();
        let mut new_entries: Vec<MemoryEntry> = turns
            .iter()
            .skip(state.indexed_turns)
            .map(|turn| MemoryEntry {
                message_id: turn.message.id.clone(),
                role: match turn.message.role {
                    Role::User => Role::User,
                    _ => Role::Assistant,
                },
                assistant: (turn.message.role != Role::User)
                    .then(|| self.assistant_label(turn.message)),
                text: one_line(&turn.text, memory::ENTRY_CHARS),
                vector: memory::embed(&turn.text),
                dense: Vec::new(),
            })
            .collect();
        // With an embeddings model, turns get its vectors too (else the hashed ones serve).
        let mut embedded_with = None;
        if let (Some(embedder), false) = (&self.inner.documents.embedder, new_entries.is_empty()) {
            let texts: Vec<String> = turns
                .iter()
                .skip(state.indexed_turns)
                .map(|turn| one_line(&turn.text, 2_000))
                .collect();
            match embedder.embed(&texts).await {
                Ok(vectors) => {
                    for (entry, vector) in new_entries.iter_mut().zip(vectors) {
                        entry.dense = vector;
                    }
                    embedded_with = Some(embedder.describe());
                }
                Err(why) => tracing::warn!("memory of {thread_id}: {why}"),
            }
        }
        let tokens: Vec<u32> = turns.iter().map(|t| t.tokens).collect();
        let (start, used) = memory::window_start(&tokens, config.window_budget());
        let mut summary: Option<Result<String, String>> = None;
        // Every turn not yet in the summary is folded in: so the summary says what the
        // thread is about from its first run on, not only once turns leave the window.
        let folded_from = state.folded_turns.min(turns.len());
        let fold_to = turns.len();
        if config.reflects() && folded_from < fold_to {
            let mut prompt = format!(
                "Earlier summary: {}\n\nTurns to fold in:\n",
                state.summary.as_deref().unwrap_or("none")
            );
            for turn in &turns[folded_from..fold_to] {
                let who = match turn.message.role {
                    Role::User => "user".to_string(),
                    _ => format!("assistant ({})", self.assistant_label(turn.message)),
                };
                prompt.push_str(&format!("{who}: {}\n", one_line(&turn.text, 2000)));
            }
            summary = Some(self.summarise(&thread, &assistant, prompt).await);
        }
        if new_entries.is_empty() && summary.is_none() && state.window_turns == turns.len() - start
        {
            return Ok(());
        }
        let indexed = turns.len();
        let window_turns = turns.len() - start;
        let state = store.update_memory(thread_id, |state| {
            let now = now_secs();
            if !new_entries.is_empty() {
                state.entries.extend(new_entries.iter().cloned());
                let extra = state.entries.len().saturating_sub(INDEXED_TURNS_KEPT);
                state.entries.drain(..extra);
                state.indexed_turns = indexed;
                state.note(
                    now,
                    format!(
                        "indexed {} new turn{} ({} in all){}",
                        new_entries.len(),
                        if new_entries.len() == 1 { "" } else { "s" },
                        indexed,
                        embedded_with
                            .as_deref()
                            .map_or(String::new(), |model| format!(" with {model}"))
                    ),
                );
            }
            state.window_turns = window_turns;
            state.window_tokens = used;
            match &summary {
                Some(Ok(text)) => {
                    let folded = fold_to - folded_from;
                    state.summary = Some(text.clone());
                    state.folded_turns = fold_to;
                    state.note(
                        now,
                        format!(
                            "summary rewritten to cover {folded} more turn{} ({} words now)",
                            if folded == 1 { "" } else { "s" },
                            text.split_whitespace().count()
                        ),
                    );
                }
                Some(Err(why)) => state.note(now, format!("summary failed: {why}")),
                None => {}
            }
        })?;
        self.emit_memory(&thread, config, &state);
        Ok(())
    }

    fn assistant_label(&self, message: &Message) -> String {
        message
            .assistant_id
            .as_deref()
            .and_then(|id| self.inner.store.assistant(id).ok().flatten())
            .map_or_else(|| "assistant".to_string(), |a| a.name)
    }

    fn all_messages(&self, thread_id: &str) -> EngineResult<Vec<Message>> {
        let mut all = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let (page, more) =
                self.inner
                    .store
                    .list_messages(thread_id, after.as_deref(), 1000, true)?;
            after = page.last().map(|m| m.id.clone());
            all.extend(page);
            if !more || after.is_none() {
                return Ok(all);
            }
        }
    }

    /// Asks the assistant's model for the new summary.
    async fn summarise(
        &self,
        thread: &Thread,
        assistant: &Assistant,
        prompt: String,
    ) -> Result<String, String> {
        let model = self.config().resolve_model(&assistant.model).to_string();
        let mut request = ModelRequest {
            purpose: Purpose::Summary,
            model: model.clone(),
            assistant_name: assistant.name.clone(),
            instructions: SUMMARY_INSTRUCTIONS.into(),
            context: vec![ContextItem::User(prompt)],
            tools: Vec::new(),
            routes: Vec::new(),
            max_output_tokens: 1024,
        };
        // Privacy "strict" holds for the summary's model call too; the summary is kept
        // with the values back in place, like any answer.
        let restorer = super::privacy::Redactor::new(&assistant.privacy).map(|mut redactor| {
            redactor.redact_request(&mut request);
            redactor.restorer()
        });
        let mut stream = self.provider_for(&assistant.model).stream(request);
        let collect = async {
            let mut text = String::new();
            while let Some(event) = stream.next().await {
                match event.map_err(|err| err.to_string())? {
                    ModelEvent::TextDelta(delta) => text.push_str(&delta),
                    ModelEvent::Usage {
                        input_tokens,
                        output_tokens,
                    } => self.inner.runs.usage.record(
                        &thread.project_id,
                        &model,
                        Usage {
                            input_tokens,
                            output_tokens,
                        },
                    ),
                    ModelEvent::Finished => break,
                    _ => {}
                }
            }
            Ok::<String, String>(text)
        };
        let text = tokio::time::timeout(SUMMARY_TIMEOUT, collect)
            .await
            .map_err(|_| format!("no answer within {} s", SUMMARY_TIMEOUT.as_secs()))??;
        let text = match &restorer {
            Some(restorer) => restorer.restore(text.trim()),
            None => text.trim().to_string(),
        };
        if text.is_empty() {
            return Err("the model answered with an empty summary".into());
        }
        Ok(text)
    }
}
