#![allow(clippy::print_stdout, clippy::print_stderr)] // the command layer prints
use agentdeck::cli::{Cli, Command, LogFormat, run_command};
use clap::Parser;
use std::process::ExitCode;

/// jemalloc returns freed memory to the system: with glibc's malloc a server's RSS kept
/// the peak of every burst (per-thread arenas, fragmented), ~3× a fresh server after
/// 1,000 replies; see `cargo bench --bench log_growth`.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// What is logged: `RUST_LOG` (or `AGENTDECK_LOG`) if set, else warnings from every
/// dependency and agentdeck's own info: one line per request and per run.
fn log_filter() -> tracing_subscriber::EnvFilter {
    ["RUST_LOG", "AGENTDECK_LOG"]
        .iter()
        .find_map(|name| tracing_subscriber::EnvFilter::try_from_env(name).ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new("warn,agentdeck=info"))
}

fn init_logging(
    to_stderr: bool,
    format: LogFormat,
) -> Option<tracing_appender::non_blocking::WorkerGuard> {
    use std::io::IsTerminal;
    if to_stderr {
        // Colour only for a person at a terminal; never into a file or a pipe.
        let ansi = std::io::stderr().is_terminal();
        let builder = tracing_subscriber::fmt()
            .with_env_filter(log_filter())
            .with_writer(std::io::stderr)
            .with_ansi(ansi);
        match format {
            LogFormat::Json => builder.json().flatten_event(true).init(),
            LogFormat::Text => builder.init(),
        }
        return None;
    }
    // Nothing may reach the terminal of a command (or, later, the UI): log to a file.
    let dir = agentdeck::config::state_dir();
    std::fs::create_dir_all(&dir).ok()?;
    let appender = tracing_appender::rolling::never(dir, "agentdeck.log");
    let (writer, guard) = tracing_appender::non_blocking(appender);
    tracing_subscriber::fmt()
        .with_env_filter(log_filter())
        .with_ansi(false)
        .with_writer(writer)
        .init();
    Some(guard)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Only `serve` logs to the terminal; the UI and the commands log to a file.
    let (serving, format) = match &cli.command {
        Some(Command::Serve { log_format, .. }) => (true, *log_format),
        _ => (false, LogFormat::Text),
    };
    let _log_guard = init_logging(serving, format);
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
