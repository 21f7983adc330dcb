//! Integration tests: the real server on a loopback port, driven through the real client.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api_errors;
mod auth;
mod bounds;
#[path = "../checks/mod.rs"]
mod checks;
mod cli;
mod cluster;
mod crash;
mod documents;
mod embeddings;
mod events;
mod fake_provider;
mod files;
mod interpreter;
mod layers;
mod limits;
mod llmock;
mod logs_webhook;
mod mcp;
mod memory;
mod operator;
mod operator_tui;
mod otlp;
mod otlp_export;
mod otlp_tui;
mod phoenix_export;
mod postgres;
mod properties;
mod providers;
mod runs;
mod seed_flow;
mod support;
mod telemetry;
mod tui_e2e;
mod webhook;
