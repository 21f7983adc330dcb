//! Local UI state that survives restarts and crashes: the filter, the focused pane, zoom,
//! the selected thread, the composer's draft and unread counts. Kept in the state dir, one
//! file per workspace (data dir or remote URL), saved within a second of a change.

use super::pane::Pane;
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UiState {
    pub filter: String,
    /// A name this version does not know (a file of another version) reads as Threads,
    /// so the rest of the state (the draft above all) is not lost over it.
    #[serde(deserialize_with = "pane_or_threads")]
    pub focus: Pane,
    pub zoom: bool,
    pub selected_thread: Option<String>,
    pub draft: String,
    pub unread: HashMap<String, u32>,
    /// Failed threads the operator has opened since they failed: id → `updated_at` then.
    #[serde(default)]
    pub seen_failures: HashMap<String, u64>,
    /// The palette's commands, oldest first.
    #[serde(default)]
    pub palette_history: Vec<String>,
}

fn pane_or_threads<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Pane, D::Error> {
    let saved = serde_json::Value::deserialize(deserializer)?;
    Ok(saved
        .as_str()
        .and_then(Pane::from_title)
        .unwrap_or_default())
}

/// The UI state of one workspace, as a small JSON file. A plain file rather than an
/// embedded database: it is one value, and a database's background threads would wake
/// an idle workspace (sled's I/O pool polls every second).
pub struct UiStateStore {
    path: PathBuf,
}

impl UiStateStore {
    /// The store for `workspace` under `state_dir`; the error says why it cannot be
    /// used (the UI then works without remembering).
    pub fn open(state_dir: &Path, workspace: &str) -> Result<UiStateStore, String> {
        let key = agentdeck_model::hash_key(workspace);
        let dir = state_dir.join("ui");
        std::fs::create_dir_all(&dir)
            .map_err(|err| format!("UI state in {} is not available: {err}", dir.display()))?;
        Ok(UiStateStore {
            path: dir.join(format!("{}.json", &key[..16])),
        })
    }

    /// The remembered state; the default when there is none or it cannot be read.
    pub fn load(&self) -> UiState {
        std::fs::read(&self.path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    /// Replaces the remembered state whole: written beside it, then renamed over it, so
    /// a crash leaves the old state or the new one, never half of one.
    pub fn save(&self, state: &UiState) {
        let written = serde_json::to_vec(state)
            .map_err(std::io::Error::other)
            .and_then(|bytes| {
                let temporary = self.path.with_extension("json.new");
                std::fs::write(&temporary, bytes)?;
                std::fs::rename(&temporary, &self.path)
            });
        if let Err(err) = written {
            tracing::warn!("could not save the UI state: {err}");
        }
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
            focus: Pane::Tools,
            zoom: true,
            selected_thread: Some("thread_1".into()),
            draft: "half a sentence".into(),
            unread: HashMap::from([("thread_2".to_string(), 3)]),
            seen_failures: HashMap::from([("thread_3".to_string(), 1_795_000_000)]),
            palette_history: vec!["cost".into(), "theme light".into()],
        };
        {
            let store = UiStateStore::open(dir.path(), "/data/one").unwrap();
            store.save(&state);
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

    /// A file whose focus names a pane this version lacks keeps its draft and filter.
    #[test]
    fn an_unknown_focus_reads_as_threads_and_loses_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let store = UiStateStore::open(dir.path(), "/data/one").unwrap();
        let saved = serde_json::json!({
            "filter": "tag:vip", "focus": "Timeline", "zoom": false,
            "selected_thread": null, "draft": "half a sentence", "unread": {}
        });
        std::fs::write(&store.path, saved.to_string()).unwrap();
        let state = store.load();
        assert_eq!(
            (state.focus, state.filter.as_str(), state.draft.as_str()),
            (Pane::Threads, "tag:vip", "half a sentence")
        );
        let written = serde_json::to_value(UiState {
            focus: Pane::Routing,
            ..state
        })
        .unwrap();
        assert_eq!(written["focus"], "routing");
    }
}
