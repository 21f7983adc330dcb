//! The in-memory index of threads, ordered by last activity (newest first).

use agentdeck_model::{Thread, ThreadQuery, ThreadStatus};
use serde::{Deserialize, Serialize};
use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap};

/// How a thread is stored: the thread and its place in the activity order.
#[derive(Deserialize)]
pub(super) struct ThreadRecord {
    pub thread: Thread,
    pub activity: u64,
}

#[derive(Serialize)]
pub(super) struct ThreadRecordRef<'a> {
    pub thread: &'a Thread,
    pub activity: u64,
}

/// Whether a thread passes a listing's query.
fn query_matches(query: &ThreadQuery, thread: &Thread) -> bool {
    if query
        .project_id
        .as_ref()
        .is_some_and(|p| *p != thread.project_id)
        || query
            .assistant_id
            .as_ref()
            .is_some_and(|a| *a != thread.assistant_id)
        || query.status.is_some_and(|s| s != thread.status)
        || query
            .parent_thread_id
            .as_ref()
            .is_some_and(|p| thread.parent_thread_id.as_ref() != Some(p))
    {
        return false;
    }
    if !query
        .metadata
        .iter()
        .all(|(key, value)| thread.metadata.get(key) == Some(value))
    {
        return false;
    }
    match &query.q {
        None => true,
        Some(needle) => {
            let needle = needle.to_lowercase();
            let has = |text: &str| text.to_lowercase().contains(&needle);
            thread.title.as_deref().is_some_and(has)
                || has(&thread.id)
                || thread.metadata.values().any(|value| has(value))
        }
    }
}

type OrderKey = (Reverse<u64>, String);

#[derive(Default)]
pub(super) struct ThreadIndex {
    by_id: HashMap<String, (Thread, u64)>,
    order: BTreeSet<OrderKey>,
    last_activity: u64,
}

impl ThreadIndex {
    pub fn next_activity(&mut self) -> u64 {
        self.last_activity += 1;
        self.last_activity
    }

    pub fn insert(&mut self, thread: Thread, activity: u64) {
        self.last_activity = self.last_activity.max(activity);
        if let Some((_, old)) = self.by_id.get(&thread.id) {
            self.order.remove(&(Reverse(*old), thread.id.clone()));
        }
        self.order.insert((Reverse(activity), thread.id.clone()));
        self.by_id.insert(thread.id.clone(), (thread, activity));
    }

    pub fn remove(&mut self, id: &str) -> Option<Thread> {
        let (thread, activity) = self.by_id.remove(id)?;
        self.order.remove(&(Reverse(activity), id.to_string()));
        Some(thread)
    }

    pub fn get(&self, id: &str) -> Option<&Thread> {
        self.by_id.get(id).map(|(thread, _)| thread)
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn matching(&self, pick: impl Fn(&Thread) -> bool) -> Vec<Thread> {
        self.by_id
            .values()
            .filter(|(thread, _)| pick(thread))
            .map(|(thread, _)| thread.clone())
            .collect()
    }

    pub fn with_status(&self, status: ThreadStatus) -> Vec<Thread> {
        self.by_id
            .values()
            .filter(|(thread, _)| thread.status == status)
            .map(|(thread, _)| thread.clone())
            .collect()
    }

    pub fn list(&self, query: &ThreadQuery) -> (Vec<Thread>, bool) {
        let start = query
            .after
            .as_ref()
            .and_then(|id| self.by_id.get(id))
            .map(|(thread, activity)| (Reverse(*activity), thread.id.clone()));
        let keys: Box<dyn Iterator<Item = &OrderKey>> = match (start, query.ascending) {
            (Some(key), false) => Box::new(
                self.order
                    .range((std::ops::Bound::Excluded(key), std::ops::Bound::Unbounded)),
            ),
            (Some(key), true) => Box::new(
                self.order
                    .range((std::ops::Bound::Unbounded, std::ops::Bound::Excluded(key)))
                    .rev(),
            ),
            (None, false) => Box::new(self.order.iter()),
            (None, true) => Box::new(self.order.iter().rev()),
        };
        let mut page = Vec::new();
        let mut has_more = false;
        for (_, id) in keys {
            let Some((thread, _)) = self.by_id.get(id) else {
                continue;
            };
            if !query_matches(query, thread) {
                continue;
            }
            if page.len() == query.limit {
                has_more = true;
                break;
            }
            page.push(thread.clone());
        }
        (page, has_more)
    }
}
