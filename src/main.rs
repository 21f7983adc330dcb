#![allow(clippy::print_stdout, clippy::print_stderr)] // the command layer prints
use agentdeck::cli::{Cli, Command, run_command};
use clap::Parser;
use std::process::ExitCode;

/// jemalloc returns freed memory to the system: with glibc's malloc a server's RSS kept
/// the peak of every burst (per-thread arenas, fragmented), ~3× a fresh server after
/// 1,000 replies; see `cargo bench --bench log_growth`.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn init_logging(to_stderr: bool) -> Option<tracing_appender::non_blocking::WorkerGuard> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("AGENTDECK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    if to_stderr {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
        return None;
    }
    // Nothing may reach the terminal of a command (or, later, the UI): log to a file.
    let dir = agentdeck::config::state_dir();
    std::fs::create_dir_all(&dir).ok()?;
    let appender = tracing_appender::rolling::never(dir, "agentdeck.log");
    let (writer, guard) = tracing_appender::non_blocking(appender);
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(writer)
        .init();
    Some(guard)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Only `serve` logs to the terminal; the UI and the commands log to a file.
    let serving = matches!(cli.command, Some(Command::Serve { .. }));
    let _log_guard = init_logging(serving);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("agentdeck: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Some(command) => run_command(&cli.global, command).await,
            None => agentdeck::cli::open_ui(&cli.global).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("agentdeck: {err:#}");
            ExitCode::FAILURE
        }
    }
}
