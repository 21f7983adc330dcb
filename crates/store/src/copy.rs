//! Copying one store into another (`agentdeck migrate`): tree by tree in key order, a
//! page at a time, adding only what the target lacks, so an interrupted copy resumes by
//! running it again. Every page is then read back from the target and compared. Into
//! PostgreSQL, records go in the plain JSON form it keeps (see `codec::as_json`).

use super::{Store, StoreError, StoreResult, codec, kv};
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
            from.pages(Bound::Unbounded, PAGE, |mut page| {
                if target.is_postgres() {
                    for (key, value) in &mut page {
                        if let Some(json) = json_form(name, key, value)? {
                            *value = json;
                        }
                    }
                }
                let (Some(first), Some(last)) = (page.first(), page.last()) else {
                    return Ok(false);
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
                progress(name, copy.source);
                Ok(true)
            })?;
            report.push(copy);
        }
        // Event ids continue above both stores' (the target may have logged its own).
        let floor = self.event_id_floor()?.max(target.event_id_floor()?);
        target.reserve_event_ids(floor)?;
        target.flush_blocking()?;
        Ok(report)
    }

    /// Rewrites the records of an older build's forms (compressed, binary events) in the
    /// plain JSON form PostgreSQL keeps; each only if no one changed it meanwhile. Run
    /// once, when a database of schema 2 or older is opened by this build.
    pub(super) fn rewrite_in_json_form(&self) -> StoreResult<u64> {
        let mut rewritten = 0;
        for (name, tree) in self.trees() {
            tree.pages(Bound::Unbounded, PAGE, |page| {
                for (key, value) in &page {
                    if let Some(json) = json_form(name, key, value)? {
                        if tree.compare_and_swap(key, Some(value), Some(&json))? {
                            rewritten += 1;
                        }
                    }
                }
                Ok(true)
            })?;
        }
        Ok(rewritten)
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

/// A record of `tree` in plain JSON, if it is in another form (see `codec::as_json`).
fn json_form(tree: &'static str, key: &[u8], value: &[u8]) -> StoreResult<Option<Vec<u8>>> {
    codec::as_json(tree, key, value).map_err(|reason| StoreError::Corrupt {
        tree,
        key: String::from_utf8_lossy(key).into_owned(),
        reason,
    })
}
