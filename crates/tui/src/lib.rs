//! The terminal UI. It speaks only the v2 API, whether the runtime runs in this process or
//! on a server across SSH.

pub mod app;
mod background;
mod effects;
pub mod filter;
#[cfg(test)]
mod fixtures;
pub mod graph;
pub mod highlight;
pub mod host;
mod input;
pub mod keymap;
pub mod markdown;
pub mod pane;
pub mod pane_cache;
pub mod panes;
pub mod run;
pub mod screen;
pub mod state;
pub mod terminal;
pub mod theme;
pub mod trace;
pub mod ui;
