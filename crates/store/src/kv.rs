//! The ordered key-value trees the store is written on, over either backend: sled (the
//! embedded default) or PostgreSQL (one table per tree, see `pg`).
//!
//! Keys order bytewise in both (sled's order, and PostgreSQL's for `bytea`), so every
//! range the store reads means the same on either.

use super::pg::PgTree;
use super::{Entry, StoreResult};
use std::ops::Bound;

#[derive(Clone)]
pub(super) enum Tree {
    Sled(sled::Tree),
    Pg(PgTree),
}

/// Whole-tree ranges: `Tree::range(ALL, …)`.
pub(super) const ALL: (Bound<&[u8]>, Bound<&[u8]>) = (Bound::Unbounded, Bound::Unbounded);

/// Keys from `start` (included) to `end` (excluded).
pub(super) fn between<'a>(start: &'a [u8], end: &'a [u8]) -> (Bound<&'a [u8]>, Bound<&'a [u8]>) {
    (Bound::Included(start), Bound::Excluded(end))
}

impl Tree {
    pub fn get(&self, key: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        match self {
            Tree::Sled(tree) => Ok(tree.get(key)?.map(|v| v.to_vec())),
            Tree::Pg(tree) => tree.get(key),
        }
    }

    pub fn contains_key(&self, key: &[u8]) -> StoreResult<bool> {
        match self {
            Tree::Sled(tree) => Ok(tree.contains_key(key)?),
            Tree::Pg(tree) => Ok(tree.get(key)?.is_some()),
        }
    }

    pub fn insert(&self, key: &[u8], value: &[u8]) -> StoreResult<()> {
        match self {
            Tree::Sled(tree) => {
                tree.insert(key, value)?;
                Ok(())
            }
            Tree::Pg(tree) => tree.insert(key, value),
        }
    }

    /// Removes a key; its value, if it had one.
    pub fn remove(&self, key: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        match self {
            Tree::Sled(tree) => Ok(tree.remove(key)?.map(|v| v.to_vec())),
            Tree::Pg(tree) => tree.remove(key),
        }
    }

    /// Up to `limit` entries with keys in `range`, in key order (descending with `rev`).
    pub fn range(
        &self,
        range: (Bound<&[u8]>, Bound<&[u8]>),
        rev: bool,
        limit: usize,
    ) -> StoreResult<Vec<Entry>> {
        match self {
            Tree::Sled(tree) => {
                let iter = tree.range::<&[u8], _>(range);
                let iter: Box<dyn Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>> = if rev
                {
                    Box::new(iter.rev())
                } else {
                    Box::new(iter)
                };
                iter.take(limit)
                    .map(|entry| {
                        let (key, value) = entry?;
                        Ok((key.to_vec(), value.to_vec()))
                    })
                    .collect()
            }
            Tree::Pg(tree) => tree.range(range, rev, limit, true),
        }
    }

    /// Like [`Tree::range`], keys only.
    pub fn range_keys(
        &self,
        range: (Bound<&[u8]>, Bound<&[u8]>),
        limit: usize,
    ) -> StoreResult<Vec<Vec<u8>>> {
        match self {
            Tree::Sled(tree) => tree
                .range::<&[u8], _>(range)
                .keys()
                .take(limit)
                .map(|key| Ok(key?.to_vec()))
                .collect(),
            Tree::Pg(tree) => Ok(tree
                .range(range, false, limit, false)?
                .into_iter()
                .map(|(key, _)| key)
                .collect()),
        }
    }

    /// Every entry whose key starts with `prefix`, in key order (descending with `rev`),
    /// read a page of `page` at a time until `visit` returns false.
    pub fn scan_prefix(
        &self,
        prefix: &[u8],
        rev: bool,
        page: usize,
        mut visit: impl FnMut(Entry) -> StoreResult<bool>,
    ) -> StoreResult<()> {
        let end = super::prefix_end(prefix);
        let mut cursor: Option<Vec<u8>> = None;
        loop {
            let range = match (&cursor, rev) {
                (None, _) => between(prefix, &end),
                (Some(key), false) => (Bound::Excluded(key.as_slice()), Bound::Excluded(&end[..])),
                (Some(key), true) => (Bound::Included(prefix), Bound::Excluded(key.as_slice())),
            };
            let entries = self.range(range, rev, page)?;
            let full = entries.len() == page;
            for entry in entries {
                cursor = Some(entry.0.clone());
                if !visit(entry)? {
                    return Ok(());
                }
            }
            if !full {
                return Ok(());
            }
        }
    }

    /// Every entry from `start` on, in key order, handed to `visit` a page of `page` at a
    /// time until it returns false.
    pub fn pages(
        &self,
        start: Bound<&[u8]>,
        page: usize,
        mut visit: impl FnMut(Vec<Entry>) -> StoreResult<bool>,
    ) -> StoreResult<()> {
        let mut cursor: Option<Vec<u8>> = None;
        loop {
            let lower = match &cursor {
                Some(key) => Bound::Excluded(key.as_slice()),
                None => start,
            };
            let entries = self.range((lower, Bound::Unbounded), false, page)?;
            let full = entries.len() == page;
            let Some((last, _)) = entries.last() else {
                return Ok(());
            };
            cursor = Some(last.clone());
            if !visit(entries)? || !full {
                return Ok(());
            }
        }
    }

    pub fn first(&self) -> StoreResult<Option<Entry>> {
        Ok(self.range(ALL, false, 1)?.into_iter().next())
    }

    pub fn last(&self) -> StoreResult<Option<Entry>> {
        Ok(self.range(ALL, true, 1)?.into_iter().next())
    }

    /// Removes every key in `start..end` (or below `end` without a start); how many.
    pub fn remove_range(&self, start: Option<&[u8]>, end: &[u8]) -> StoreResult<usize> {
        let range = match start {
            Some(start) => between(start, end),
            None => (Bound::Unbounded, Bound::Excluded(end)),
        };
        match self {
            Tree::Sled(tree) => {
                let mut batch = sled::Batch::default();
                let mut removed = 0;
                for key in tree.range::<&[u8], _>(range).keys() {
                    batch.remove(key?);
                    removed += 1;
                }
                if removed > 0 {
                    tree.apply_batch(batch)?;
                }
                Ok(removed)
            }
            Tree::Pg(tree) => tree.remove_range(range),
        }
    }

    /// Removes every key in `start..end`, not saying how many (on PostgreSQL, inside a
    /// transaction, without waiting for the answer).
    pub fn clear_range(&self, start: &[u8], end: &[u8]) -> StoreResult<()> {
        match self {
            Tree::Sled(_) => self.remove_range(Some(start), end).map(drop),
            Tree::Pg(tree) => tree.clear_range(between(start, end)),
        }
    }

    /// Sets `key` to `new` only if its value is still `old` (`None`: absent); whether it did.
    pub fn compare_and_swap(
        &self,
        key: &[u8],
        old: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> StoreResult<bool> {
        match self {
            Tree::Sled(tree) => Ok(tree.compare_and_swap(key, old, new)?.is_ok()),
            Tree::Pg(tree) => tree.compare_and_swap(key, old, new),
        }
    }

    /// Changes a value in place, retrying when another writer got there first.
    pub fn update(
        &self,
        key: &[u8],
        mut change: impl FnMut(Option<&[u8]>) -> StoreResult<Option<Vec<u8>>>,
    ) -> StoreResult<Option<Vec<u8>>> {
        loop {
            let old = self.get(key)?;
            let new = change(old.as_deref())?;
            if self.compare_and_swap(key, old.as_deref(), new.as_deref())? {
                return Ok(new);
            }
        }
    }

    /// Inserts entries whose keys are not there yet (a copy that can be run again).
    pub fn insert_missing(&self, entries: &[Entry]) -> StoreResult<u64> {
        match self {
            Tree::Sled(tree) => {
                let mut added = 0;
                for (key, value) in entries {
                    if tree
                        .compare_and_swap(key, None as Option<&[u8]>, Some(value.as_slice()))?
                        .is_ok()
                    {
                        added += 1;
                    }
                }
                Ok(added)
            }
            Tree::Pg(tree) => tree.insert_missing(entries),
        }
    }
}
