//! agentdeck: a runtime for many LLM assistants with an HTTP API, and a terminal UI on it.
//!
//! This package is the command layer (`cli`, the runtime's wiring in `runtime`, the
//! Getting-started project in `seed`) and the `agentdeck` binary; the layers are crates of
//! their own (`crates/`), re-exported here under the names the tests and benches use.

pub use agentdeck_api as api;
pub use agentdeck_client as client;
pub use agentdeck_engine as engine;
pub use agentdeck_model as model;
pub use agentdeck_model::{config, sse, text};
pub use agentdeck_providers as providers;
pub use agentdeck_search as search;
pub use agentdeck_store as store;
pub use agentdeck_tui as tui;

pub mod cli;
pub mod runtime;
pub mod seed;
