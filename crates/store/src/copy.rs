//! Copying one store into another (`agentdeck migrate`): tree by tree in key order, a
//! page at a time, adding only what the target lacks, so an interrupted copy resumes by
//! running it again. Every page is then read back from the target and compared.

use super::{Store, StoreResult, kv};
use std::collections::HashMap;
use std::ops::Bound;

/// Records per page read from the source.
const PAGE: usize = 1000;

/// What the copy did to one tree.
#[derive(Debug, Clone, PartialEq)]
pub struct TreeCopy {
    pub name: &'static str,
    /// Records in the source.
    pub source: u64,
    /// Records the target lacked and now has.
    pub added: u64,
    /// Source records found in the target with the same value.
    pub verified: u64,
}

impl Store {
    /// Copies every tree into `target`; `progress` hears each page's running count.
    pub fn copy_into(
        &self,
        target: &Store,
        progress: &mut dyn FnMut(&str, u64),
    ) -> StoreResult<Vec<TreeCopy>> {
        let mut report = Vec::new();
        for ((name, from), (_, to)) in self.trees().into_iter().zip(target.trees()) {
            let mut copy = TreeCopy {
                name,
                source: 0,
                added: 0,
                verified: 0,
            };
            let mut after: Option<Vec<u8>> = None;
            loop {
                let range = match &after {
                    Some(key) => (Bound::Excluded(key.as_slice()), Bound::Unbounded),
                    None => kv::ALL,
                };
                let page = from.range(range, false, PAGE)?;
                let (Some(first), Some(last)) = (page.first(), page.last()) else {
                    break;
                };
                copy.source += page.len() as u64;
                copy.added += to.insert_missing(&page)?;
                let written: HashMap<Vec<u8>, Vec<u8>> = to
                    .range(
                        (Bound::Included(&first.0[..]), Bound::Included(&last.0[..])),
                        false,
                        usize::MAX,
                    )?
                    .into_iter()
                    .collect();
                copy.verified += page
                    .iter()
                    .filter(|(key, value)| written.get(key) == Some(value))
                    .count() as u64;
                after = Some(last.0.clone());
                progress(name, copy.source);
            }
            report.push(copy);
        }
        // Event ids continue above both stores' (the target may have logged its own).
        let floor = self.event_id_floor()?.max(target.event_id_floor()?);
        target.reserve_event_ids(floor)?;
        target.flush_blocking()?;
        Ok(report)
    }

    /// Every tree with its name, as sled names it and as PostgreSQL names its table.
    fn trees(&self) -> [(&'static str, &kv::Tree); 17] {
        let inner = &self.inner;
        [
            ("meta", &inner.meta),
            ("projects", &inner.projects),
            ("api_keys", &inner.keys),
            ("assistants", &inner.assistants),
            ("threads", &inner.threads),
            ("messages", &inner.messages),
            ("message_loc", &inner.message_loc),
            ("inflight", &inner.inflight),
            ("events", &inner.events),
            ("message_events", &inner.message_events),
            ("reply_parts", &inner.reply_parts),
            ("usage", &inner.usage),
            ("memory", &inner.memory),
            ("files", &inner.files),
            ("vector_stores", &inner.vector_stores),
            ("thread_stores", &inner.thread_stores),
            ("leases", &inner.leases),
        ]
    }
}
