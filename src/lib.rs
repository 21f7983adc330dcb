//! agentdeck: a runtime for many LLM assistants with an HTTP API, and a terminal UI on it.

pub mod api;
pub mod cli;
pub mod client;
pub mod config;

pub mod engine;
pub mod model;
pub mod providers;
pub mod runtime;
pub mod search;
pub mod seed;
pub mod sse;
pub mod store;
pub mod text;
pub mod tui;
