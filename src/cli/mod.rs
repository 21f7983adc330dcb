//! The command line: `serve`, `keys`, `projects`, `assistants`, `send`, `export`.
//!
//! Every command except `serve` speaks the v2 API: to `--remote`, to the server running on
//! the data dir (DATA_DIR/serve.json), or else to a runtime started inside this process.
//! Here: opening the workspace and dispatching a command; each job has its file (`args`,
//! `connect`, `serve`, `migrate`, `client_commands`, `send`, `export`).
#![allow(clippy::print_stdout, clippy::print_stderr)] // the command layer prints

use crate::client::Client;
use anyhow::{Context, Result, anyhow, bail};
use std::process::ExitCode;

mod args;
mod client_commands;
mod connect;
mod export;
mod migrate;
mod send;
mod serve;

pub use args::*;
pub(crate) use client_commands::find_assistant;
use client_commands::run_client_command;
pub use connect::{Connection, Remote, connect, data_dir, load_config, resolve_remote};
pub use export::export_markdown;
use migrate::migrate;
pub use serve::{Listen, serve};

/// The terminal UI. Everything that can be wrong with the keymap, the theme or the config
/// is reported before the terminal is touched.
pub async fn open_ui(global: &Global) -> Result<ExitCode> {
    use crate::tui::{keymap::Keymap, theme::Theme, ui::Ui};
    let config = load_config(global)?;
    let config_dir = crate::config::config_dir();
    let keymap_name = global.keymap.as_deref().unwrap_or(&config.ui.keymap);
    let keymap = Keymap::load(keymap_name, &config_dir).map_err(|e| anyhow!(e))?;
    let theme_name = global.theme.as_deref().unwrap_or(&config.ui.theme);
    let theme = Theme::load(theme_name, &config_dir).map_err(|e| anyhow!(e))?;
    // Several runtimes: each its own connection, named; none is started here.
    let several = if global.remote.len() > 1 {
        let mut remotes = Vec::new();
        for wanted in &global.remote {
            remotes.push(resolve_remote(global, wanted)?);
        }
        Some(remotes)
    } else {
        None
    };
    let connection = match several {
        Some(_) => None,
        None => Some(connect(global, true).await?),
    };
    let ui = Ui::new(keymap, theme);
    // UI state is remembered per workspace: the remote URLs, or the data dir.
    let workspace = if global.remote.is_empty() {
        data_dir(global).display().to_string()
    } else {
        global.remote.join(" ")
    };
    let (clients, origin) = match (&connection, several) {
        (Some(connection), _) => (
            vec![("".to_string(), connection.client.clone())],
            connection.origin.clone(),
        ),
        (None, Some(remotes)) => {
            let origin = format!(
                "{} runtimes: {}",
                remotes.len(),
                remotes
                    .iter()
                    .map(|r| r.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            let clients = remotes
                .into_iter()
                .map(|r| (r.name, Client::new(&r.url, &r.key)))
                .collect();
            (clients, origin)
        }
        (None, None) => bail!("no runtime to watch"),
    };
    let options = crate::tui::run::Options {
        origin,
        workspace,
        mouse: global.mouse || config.ui.mouse,
        alerts: crate::tui::host::AlertSettings {
            bell: config.ui.bell,
            notifications: config.ui.notifications,
            command: config
                .ui
                .notify_command
                .clone()
                .filter(|argv| !argv.is_empty()),
        },
    };
    let result = crate::tui::run::run(clients, options, ui).await;
    if let Some(connection) = connection {
        connection.close().await;
    }
    result.context("the terminal failed")?;
    Ok(ExitCode::SUCCESS)
}

pub async fn run_command(global: &Global, command: Command) -> Result<ExitCode> {
    match &command {
        Command::Migrate { from, to } => return migrate(from, to),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut cli = Cli::command();
            clap_complete::generate(*shell, &mut cli, "agentdeck", &mut std::io::stdout());
            return Ok(ExitCode::SUCCESS);
        }
        Command::Man => {
            use clap::CommandFactory;
            clap_mangen::Man::new(Cli::command())
                .render(&mut std::io::stdout())
                .context("cannot write the manual page")?;
            return Ok(ExitCode::SUCCESS);
        }
        _ => {}
    }
    if let Command::Serve {
        listen,
        place,
        tls_cert,
        tls_key,
        insecure_listen,
        database_url,
        redis_url,
        log_format: _,
        max_connections,
    } = command
    {
        let tls = tls_cert
            .zip(tls_key)
            .map(|(cert, key)| crate::runtime::TlsFiles { cert, key });
        return serve(
            &global.with(Some(&place), None),
            Listen {
                addr: listen,
                tls,
                insecure: insecure_listen,
                database_url,
                redis_url,
                max_connections,
            },
        )
        .await;
    }
    let target = command.target().cloned().unwrap_or_default();
    let global = global.with(Some(&target.place), target.remote.as_deref());
    let connection = connect(&global, false).await?;
    if matches!(command, Command::Demo { .. }) && connection.local.is_some() {
        connection.close().await;
        eprintln!(
            "agentdeck demo: no runtime is running on {}, and a demo no workspace watches shows nothing. Start one first, then run the demo again:\n  agentdeck serve --data-dir {dir}      (headless; watch it with `agentdeck --data-dir {dir}`)\n  agentdeck --data-dir {dir}            (the workspace, with its runtime inside; or press :demo in it)\nor point the demo at a remote runtime with --remote URL.",
            data_dir(&global).display(),
            dir = data_dir(&global).display()
        );
        return Ok(ExitCode::from(2));
    }
    let result = run_client_command(&connection.client, command).await;
    connection.close().await;
    result
}
