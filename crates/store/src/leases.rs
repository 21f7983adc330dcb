//! Run leases: which node runs a thread's reply, for nodes that share the store.

use super::{Store, StoreResult, decode, kv};

/// A node's claim on running a thread's reply, renewed while it runs.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Lease {
    pub node: String,
    /// Milliseconds since the Unix epoch: past this, another node may take the run over.
    pub until_ms: u64,
}

impl Store {
    /// Every lease, with its stored bytes (what [`Store::swap_lease`] compares).
    pub fn leases(&self) -> StoreResult<Vec<(String, Lease, Vec<u8>)>> {
        self.inner
            .leases
            .range(kv::ALL, false, usize::MAX)?
            .into_iter()
            .map(|(key, value)| {
                let lease = decode("leases", &key, &value)?;
                Ok((String::from_utf8_lossy(&key).into_owned(), lease, value))
            })
            .collect()
    }

    /// A thread's lease and its stored bytes.
    pub fn lease(&self, thread_id: &str) -> StoreResult<Option<(Lease, Vec<u8>)>> {
        match self.inner.leases.get(thread_id.as_bytes())? {
            Some(bytes) => Ok(Some((
                decode("leases", thread_id.as_bytes(), &bytes)?,
                bytes,
            ))),
            None => Ok(None),
        }
    }

    /// Sets a thread's lease to `new` (none: removes it) only if it is still `old` (the
    /// bytes read; none: there was none): exactly one of several nodes wins.
    pub fn swap_lease(
        &self,
        thread_id: &str,
        old: Option<&[u8]>,
        new: Option<&Lease>,
    ) -> StoreResult<bool> {
        let new = new.map(|lease| self.encode(lease)).transpose()?;
        self.inner
            .leases
            .compare_and_swap(thread_id.as_bytes(), old, new.as_deref())
    }
}
