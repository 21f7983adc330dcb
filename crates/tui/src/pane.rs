//! The panes of the workspace as data: which one has the focus, what it is called, and
//! which keymap context it reads its keys from.

use super::keymap::Context;
use serde::{Deserialize, Serialize};

/// The panes, as saved in the UI state: lowercase names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pane {
    #[default]
    Threads,
    Conversation,
    Tools,
    Routing,
    Memory,
}

impl Pane {
    pub const ALL: [Pane; 5] = [
        Pane::Threads,
        Pane::Conversation,
        Pane::Tools,
        Pane::Routing,
        Pane::Memory,
    ];

    pub fn from_title(name: &str) -> Option<Pane> {
        Pane::ALL
            .into_iter()
            .find(|p| p.title().eq_ignore_ascii_case(name))
    }

    pub fn title(self) -> &'static str {
        match self {
            Pane::Threads => "Threads",
            Pane::Conversation => "Conversation",
            Pane::Tools => "Tools",
            Pane::Routing => "Routing",
            Pane::Memory => "Memory",
        }
    }

    /// The keymap context of a focused pane.
    pub fn context(self) -> Context {
        match self {
            Pane::Threads => Context::Threads,
            Pane::Conversation => Context::Conversation,
            Pane::Tools => Context::Tools,
            Pane::Routing => Context::Routing,
            Pane::Memory => Context::Memory,
        }
    }
}
