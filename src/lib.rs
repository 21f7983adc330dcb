//! agentdeck: a runtime for many LLM assistants with an HTTP API, and a terminal UI on it.

pub mod model;
pub mod store;
pub mod providers;
pub mod config;
pub mod engine;
pub mod api;
pub mod runtime;
pub mod seed;
pub mod client;
pub mod cli;
pub mod text;
