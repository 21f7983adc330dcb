//! Local UI state that survives restarts and crashes: the filter, the focused pane, zoom,
//! the selected thread, the composer's draft and unread counts. Kept in sled in the state
//! dir, one store per workspace (data dir or remote URL), saved within a second of a change.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UiState {
    pub filter: String,
    pub focus: String,
    pub zoom: bool,
    pub selected_thread: Option<String>,
    pub draft: String,
    pub unread: HashMap<String, u32>,
}

pub struct UiStateStore {
    db: sled::Db,
}

impl UiStateStore {
    /// Opens the store for `workspace` under `state_dir`; `None` (with the reason) when it
    /// cannot, for example because another workspace window holds it: the UI then works
    /// without remembering.
    pub fn open(state_dir: &Path, workspace: &str) -> Result<UiStateStore, String> {
        let key = crate::model::hash_key(workspace);
        let path = state_dir.join("ui").join(&key[..16]);
        sled::Config::new()
            .path(&path)
            // Saves flush themselves (at most one a second): no flusher thread waking an
            // idle workspace.
            .flush_every_ms(None)
            .open()
            .map(|db| UiStateStore { db })
            .map_err(|err| format!("UI state at {} is not available: {err}", path.display()))
    }

    pub fn load(&self) -> UiState {
        self.db
            .get("state")
            .ok()
            .flatten()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    pub fn save(&self, state: &UiState) {
        match serde_json::to_vec(state) {
            Ok(bytes) => {
                if let Err(err) = self.db.insert("state", bytes) {
                    tracing::warn!("could not save the UI state: {err}");
                }
                self.flush();
            }
            Err(err) => tracing::warn!("could not encode the UI state: {err}"),
        }
    }

    pub fn flush(&self) {
        let _ = self.db.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_per_workspace() {
        let dir = tempfile::tempdir().unwrap();
        let state = UiState {
            filter: "status:requires_action".into(),
            focus: "tools".into(),
            zoom: true,
            selected_thread: Some("thread_1".into()),
            draft: "half a sentence".into(),
            unread: HashMap::from([("thread_2".to_string(), 3)]),
        };
        {
            let store = UiStateStore::open(dir.path(), "/data/one").unwrap();
            store.save(&state);
            store.flush();
        }
        assert_eq!(
            UiStateStore::open(dir.path(), "/data/one").unwrap().load(),
            state
        );
        assert_eq!(
            UiStateStore::open(dir.path(), "/data/two").unwrap().load(),
            UiState::default()
        );
    }
}
