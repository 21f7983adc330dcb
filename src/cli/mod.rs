//! The command line: `serve`, `keys`, `projects`, `assistants`, `send`, `export`.
//!
//! Every command except `serve` speaks the v2 API: to `--remote`, to the server running on
//! the data dir (DATA_DIR/serve.json), or else to a runtime started inside this process.
#![allow(clippy::print_stdout, clippy::print_stderr)] // the command layer prints

use crate::client::Client;
use crate::config::{Config, default_config_file, default_data_dir};
use crate::model::requests::{AssistantCreate, ProjectCreate};
use crate::runtime::{Runtime, RuntimeOptions, admin_key, read_serve_info};
use crate::text::one_line;
use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Parser, Subcommand};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod export;
mod send;

pub use export::export_markdown;
use send::send;

#[derive(Parser, Debug)]
#[command(
    name = "agentdeck",
    version,
    about = "A terminal workspace for running and watching many LLM assistants at once"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What the workspace (no command) takes; a command takes its own, below.
#[derive(Args, Debug, Clone, Default)]
pub struct Global {
    /// Where state lives [default: $AGENTDECK_DATA_DIR, else $XDG_DATA_HOME/agentdeck]
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Configuration file, read at start [default: $AGENTDECK_CONFIG, else $XDG_CONFIG_HOME/agentdeck/config.toml]
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Use a remote `agentdeck serve`: a URL (key from AGENTDECK_API_KEY) or the name of
    /// a `[[remotes]]` entry of the config. The workspace may be given several.
    #[arg(long, value_name = "URL|NAME")]
    pub remote: Vec<String>,
    /// Terminal UI theme
    #[arg(long, value_name = "NAME")]
    pub theme: Option<String>,
    /// Terminal UI keymap
    #[arg(long, value_name = "NAME")]
    pub keymap: Option<String>,
    /// Terminal UI: capture the mouse (or `mouse = true` under [ui] in the config)
    #[arg(long)]
    pub mouse: bool,
}

impl Global {
    /// These settings with a command's own on top (given after the command, they win).
    pub fn with(&self, place: Option<&Place>, remote: Option<&str>) -> Global {
        let mut merged = self.clone();
        if let Some(place) = place {
            if place.data_dir.is_some() {
                merged.data_dir = place.data_dir.clone();
            }
            if place.config.is_some() {
                merged.config = place.config.clone();
            }
        }
        if let Some(remote) = remote {
            merged.remote = vec![remote.to_string()];
        }
        merged
    }
}

/// Where a runtime's state and configuration are.
#[derive(Args, Debug, Clone, Default)]
pub struct Place {
    /// Where state lives [default: $AGENTDECK_DATA_DIR, else $XDG_DATA_HOME/agentdeck]
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Configuration file, read at start [default: $AGENTDECK_CONFIG, else $XDG_CONFIG_HOME/agentdeck/config.toml]
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// The runtime a command speaks to: the one of a data dir, or a remote one.
#[derive(Args, Debug, Clone, Default)]
pub struct Target {
    #[command(flatten)]
    pub place: Place,
    /// Use a remote `agentdeck serve`: a URL (key from AGENTDECK_API_KEY) or the name of
    /// a `[[remotes]]` entry of the config
    #[arg(long, value_name = "URL|NAME")]
    pub remote: Option<String>,
}

/// How `serve` writes its log to stderr.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// One line per event, for people
    #[default]
    Text,
    /// One JSON object per line, for log collectors
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the runtime headless with the HTTP API
    Serve {
        #[arg(long, default_value = "127.0.0.1:7878", value_name = "ADDR")]
        listen: SocketAddr,
        #[command(flatten)]
        place: Place,
        /// Serve HTTPS with this certificate chain (PEM); needs --tls-key
        #[arg(long, value_name = "PEM", requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The private key of --tls-cert (PEM)
        #[arg(long, value_name = "PEM", requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Serve plain HTTP on an address other machines reach (keys travel in clear)
        #[arg(long)]
        insecure_listen: bool,
        /// Keep the state in PostgreSQL (postgres://USER@HOST:PORT/DB) instead of the
        /// data dir's embedded database; the data dir keeps uploaded files' contents
        #[arg(
            long,
            env = "AGENTDECK_DATABASE_URL",
            hide_env_values = true,
            value_name = "URL"
        )]
        database_url: Option<String>,
        /// Share the database with other `serve` nodes, joined through this Redis
        /// (redis://HOST:PORT); needs --database-url
        #[arg(
            long,
            env = "AGENTDECK_REDIS_URL",
            hide_env_values = true,
            value_name = "URL"
        )]
        redis_url: Option<String>,
        /// The log on stderr: one line per request and per run at info (RUST_LOG filters)
        #[arg(long, value_enum, default_value_t = LogFormat::Text)]
        log_format: LogFormat,
        /// Connections open at once, at most; more are answered 503 [default: three
        /// quarters of the process's file descriptor limit]
        #[arg(long, value_name = "N")]
        max_connections: Option<usize>,
    },
    /// Copy a data dir's embedded database into PostgreSQL (safe to run again: it adds
    /// what is missing and checks every record)
    Migrate {
        /// The data dir to copy (no `serve` may be running on it)
        #[arg(long, value_name = "DATA_DIR")]
        from: PathBuf,
        /// The PostgreSQL database to copy into (no node may be serving it)
        #[arg(long, value_name = "URL")]
        to: String,
    },
    /// API keys
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Projects
    #[command(subcommand)]
    Projects(ProjectsCommand),
    /// Assistants
    #[command(subcommand)]
    Assistants(AssistantsCommand),
    /// Files
    #[command(subcommand)]
    Files(FilesCommand),
    /// Post a user message and stream the reply to stdout
    Send {
        /// Assistant name or id [default: triage, or the only assistant]
        #[arg(long)]
        assistant: Option<String>,
        /// Continue this thread instead of starting one
        #[arg(long)]
        thread: Option<String>,
        /// One JSON event per line instead of plain text
        #[arg(long)]
        json: bool,
        text: String,
        #[command(flatten)]
        target: Target,
    },
    /// Full-text search across every thread the key may see
    Search {
        query: String,
        /// Only threads of this assistant (name or id)
        #[arg(long)]
        assistant: Option<String>,
        /// Only threads with this status (active, queued, running, requires_action, closed)
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// The hits as JSON
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        target: Target,
    },
    /// Play a support-desk morning on the local model through the API of a running
    /// runtime (`serve`, or a workspace), for a workspace to watch
    Demo {
        #[command(flatten)]
        target: Target,
    },
    /// Print a thread as Markdown or JSON
    Export {
        thread_id: String,
        #[arg(long, default_value = "md", value_parser = ["md", "json"])]
        format: String,
        #[command(flatten)]
        target: Target,
    },
    /// Print a completion script for a shell (e.g. `agentdeck completions bash >
    /// ~/.local/share/bash-completion/completions/agentdeck`)
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff; e.g. `agentdeck man | man -l -`)
    Man,
}

impl Command {
    /// The runtime the command speaks to, as it was given after the command.
    pub fn target(&self) -> Option<&Target> {
        match self {
            Command::Keys(KeysCommand::Create { target, .. })
            | Command::Projects(ProjectsCommand::Create { target, .. })
            | Command::Projects(ProjectsCommand::List { target })
            | Command::Assistants(AssistantsCommand::Create { target, .. })
            | Command::Assistants(AssistantsCommand::Update { target, .. })
            | Command::Assistants(AssistantsCommand::List { target })
            | Command::Files(FilesCommand::Upload { target, .. })
            | Command::Files(FilesCommand::List { target })
            | Command::Send { target, .. }
            | Command::Search { target, .. }
            | Command::Demo { target }
            | Command::Export { target, .. } => Some(target),
            Command::Serve { .. }
            | Command::Migrate { .. }
            | Command::Completions { .. }
            | Command::Man => None,
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Print a new project-scoped API key (shown once)
    Create {
        #[arg(long)]
        project: String,
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        target: Target,
    },
}

#[derive(Subcommand, Debug)]
pub enum ProjectsCommand {
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        description: Option<String>,
        #[command(flatten)]
        target: Target,
    },
    List {
        #[command(flatten)]
        target: Target,
    },
}

#[derive(Subcommand, Debug)]
pub enum AssistantsCommand {
    /// Create an assistant from a JSON file in the seed's shape (`-` reads stdin)
    Create {
        #[arg(long)]
        file: PathBuf,
        /// The project [default: the only project, if there is one]
        #[arg(long)]
        project: Option<String>,
        #[command(flatten)]
        target: Target,
    },
    /// Change an assistant: the fields of a JSON file (`-` reads stdin) replace its own
    Update {
        /// The assistant's id or name
        id: String,
        #[arg(long)]
        file: PathBuf,
        #[command(flatten)]
        target: Target,
    },
    List {
        #[command(flatten)]
        target: Target,
    },
}

#[derive(Subcommand, Debug)]
pub enum FilesCommand {
    /// Upload a file (its type is sniffed from its bytes)
    Upload {
        path: PathBuf,
        #[arg(long, default_value = "assistants")]
        purpose: String,
        /// The project [default: the only project, if there is one]
        #[arg(long)]
        project: Option<String>,
        #[command(flatten)]
        target: Target,
    },
    List {
        #[command(flatten)]
        target: Target,
    },
}

pub fn data_dir(global: &Global) -> PathBuf {
    global.data_dir.clone().unwrap_or_else(default_data_dir)
}

pub fn load_config(global: &Global) -> Result<Config> {
    let (path, required) = match &global.config {
        Some(path) => (path.clone(), true),
        None => (
            default_config_file(),
            std::env::var_os("AGENTDECK_CONFIG").is_some(),
        ),
    };
    Ok(Config::load(&path, required)?)
}

/// A client for the runtime, and the in-process runtime behind it, if one was started.
pub struct Connection {
    pub client: Client,
    pub local: Option<Runtime>,
    /// Where the runtime is, for the status bar: "remote URL", "attached URL", "local URL".
    pub origin: String,
}

impl Connection {
    pub async fn close(self) {
        if let Some(runtime) = self.local {
            runtime.stop().await;
        }
    }
}

/// Connects to the runtime. `long_lived` (the terminal UI) starts an in-process runtime
/// the way `serve` does: announced in serve.json, with the example threads.
pub async fn connect(global: &Global, long_lived: bool) -> Result<Connection> {
    if global.remote.len() > 1 {
        bail!("only the workspace watches several runtimes: give this command one --remote");
    }
    if let Some(wanted) = global.remote.first() {
        let remote = resolve_remote(global, wanted)?;
        let client = Client::new(&remote.url, &remote.key);
        client
            .healthz()
            .await
            .with_context(|| format!("cannot reach {}", remote.url))?;
        let origin = format!("remote {}", remote.url);
        return Ok(Connection {
            client,
            local: None,
            origin,
        });
    }
    let dir = data_dir(global);
    if let Some(info) = read_serve_info(&dir) {
        if let Some(key) = admin_key(&dir) {
            let client = Client::new(&info.url, &key);
            if client.healthz().await.is_ok() {
                let origin = format!("attached {}", info.url);
                return Ok(Connection {
                    client,
                    local: None,
                    origin,
                });
            }
        }
    }
    let runtime = Runtime::start(RuntimeOptions {
        announce: long_lived,
        seed_threads: long_lived,
        ..RuntimeOptions::new(dir, load_config(global)?)
    })
    .await?;
    let client = Client::new(&runtime.url(), runtime.admin_key());
    let origin = format!("local {}", runtime.url());
    Ok(Connection {
        client,
        local: Some(runtime),
        origin,
    })
}

/// A runtime named on the command line, with its key.
pub struct Remote {
    pub name: String,
    pub url: String,
    pub key: String,
}

/// `--remote` as given: the name of a `[[remotes]]` entry, or a URL (named by a config
/// entry with that URL, else by its host and port; the key from AGENTDECK_API_KEY).
pub fn resolve_remote(global: &Global, wanted: &str) -> Result<Remote> {
    let remotes = load_config(global)?.remotes;
    let entry = remotes.iter().find(|r| r.name == wanted).or_else(|| {
        remotes
            .iter()
            .find(|r| r.url.trim_end_matches('/') == wanted.trim_end_matches('/'))
    });
    // A URL takes its key from AGENTDECK_API_KEY as the README says, or from the
    // variable of a [[remotes]] entry with that URL (whichever is set); a name, from its
    // entry's variable.
    let given_as_url = wanted.contains("://");
    let (name, url, key_envs) = match entry {
        Some(r) if given_as_url => (
            r.name.clone(),
            r.url.clone(),
            vec![r.api_key_env.clone(), "AGENTDECK_API_KEY".to_string()],
        ),
        Some(r) => (r.name.clone(), r.url.clone(), vec![r.api_key_env.clone()]),
        None if given_as_url => {
            let host = wanted
                .split("://")
                .nth(1)
                .unwrap_or(wanted)
                .split('/')
                .next()
                .unwrap_or(wanted)
                .to_string();
            (
                host,
                wanted.to_string(),
                vec!["AGENTDECK_API_KEY".to_string()],
            )
        }
        None => bail!(
            "--remote {wanted} is neither a URL nor the name of a [[remotes]] entry in the config{}",
            if remotes.is_empty() {
                String::new()
            } else {
                format!(
                    " (known: {})",
                    remotes
                        .iter()
                        .map(|r| r.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        ),
    };
    let key = key_envs
        .iter()
        .find_map(|env| std::env::var(env).ok().filter(|k| !k.is_empty()))
        .ok_or_else(|| {
            anyhow!(
                "--remote {wanted} needs its API key in {}",
                key_envs.join(" or ")
            )
        })?;
    Ok(Remote { name, url, key })
}

/// An assistant by id, else by name (in any case).
pub(crate) fn find_assistant<'a>(
    assistants: &'a [crate::model::Assistant],
    wanted: &str,
) -> Option<&'a crate::model::Assistant> {
    assistants.iter().find(|a| a.id == wanted).or_else(|| {
        assistants
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(wanted))
    })
}

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

/// How `serve` listens: where, and with TLS or not.
pub struct Listen {
    pub addr: SocketAddr,
    pub tls: Option<crate::runtime::TlsFiles>,
    pub insecure: bool,
    pub database_url: Option<String>,
    pub redis_url: Option<String>,
    pub max_connections: Option<usize>,
}

pub async fn serve(global: &Global, listen: Listen) -> Result<ExitCode> {
    // API keys are bearer tokens: on an address others reach they need TLS, unless the
    // operator says plainly that the network is trusted.
    if !listen.addr.ip().is_loopback() && listen.tls.is_none() && !listen.insecure {
        bail!(
            "serve --listen {} is reachable from other machines: give --tls-cert and --tls-key \
             to serve HTTPS, or --insecure-listen to serve plain HTTP anyway",
            listen.addr
        );
    }
    let dir = data_dir(global);
    if let Some(info) = read_serve_info(&dir) {
        if let Some(key) = admin_key(&dir) {
            if Client::new(&info.url, &key).healthz().await.is_ok() {
                bail!(
                    "{} is already served at {} (pid {})",
                    dir.display(),
                    info.url,
                    info.pid
                );
            }
        }
    }
    let config = load_config(global)?;
    let mut options = RuntimeOptions {
        listen: listen.addr,
        tls: listen.tls,
        announce: true,
        seed_threads: true,
        database_url: listen.database_url,
        redis_url: listen.redis_url,
        ..RuntimeOptions::new(dir.clone(), config.clone())
    };
    if let Some(max) = listen.max_connections {
        options.max_connections = max.max(1);
    }
    let runtime = Runtime::start(options).await?;
    eprintln!(
        "agentdeck serve: {} (state in {}; admin key in {})",
        runtime.url(),
        runtime.engine().storage_location(),
        if std::env::var_os("AGENTDECK_ADMIN_KEY").is_some() {
            "AGENTDECK_ADMIN_KEY".to_string()
        } else {
            dir.join("admin.key").display().to_string()
        }
    );
    announce_models(&config, &runtime, global);
    wait_for_stop_signal().await;
    eprintln!("agentdeck serve: stopping");
    runtime.stop().await;
    Ok(ExitCode::SUCCESS)
}

/// Says, at start, which providers serve which models (the config is read only now), and
/// warns about every assistant whose model runs on `local` for want of a provider.
fn announce_models(config: &Config, runtime: &Runtime, global: &Global) {
    let file = global.config.clone().unwrap_or_else(default_config_file);
    let providers = config.describe_providers();
    if providers.is_empty() {
        eprintln!(
            "agentdeck serve: no providers configured in {}: every model runs on the built-in local model",
            file.display()
        );
    } else {
        eprintln!(
            "agentdeck serve: providers from {} (read at start: restart to apply a change):",
            file.display()
        );
        for line in providers {
            eprintln!("  {}", crate::text::one_line(&line));
        }
    }
    for assistant in runtime.assistants() {
        if config.falls_back_to_local(&assistant.model) && !config.providers.is_empty() {
            eprintln!(
                "agentdeck serve: WARNING: assistant {} ({}) asks for model {:?}{}, which no provider serves: it runs on the built-in local model",
                crate::text::one_line(&assistant.name),
                assistant.id,
                crate::text::one_line(&assistant.model),
                match config.resolve_model(&assistant.model) {
                    resolved if resolved != assistant.model => {
                        format!(" (an alias of {:?})", crate::text::one_line(resolved))
                    }
                    _ => String::new(),
                }
            );
        }
    }
}

/// `agentdeck migrate --from DATA_DIR --to URL`.
fn migrate(from: &Path, to: &str) -> Result<ExitCode> {
    eprintln!("copying {} into the database", from.display());
    let (target, report) = crate::runtime::migrate(from, to, &mut |tree, copied| {
        eprintln!("  {tree}: {copied} records read");
    })?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{:<16} {:>10} {:>10} {:>10}",
        "tree", "source", "added", "verified"
    )?;
    for tree in &report {
        writeln!(
            out,
            "{:<16} {:>10} {:>10} {:>10}",
            tree.name, tree.source, tree.added, tree.verified
        )?;
    }
    let differing: Vec<_> = report.iter().filter(|t| t.verified != t.source).collect();
    if differing.is_empty() {
        eprintln!(
            "done: every record of {} is in {}. Uploaded files' contents stay in {}/files: \
             serve with this data dir, or copy that folder to the node's.",
            from.display(),
            target,
            from.display()
        );
        Ok(ExitCode::SUCCESS)
    } else {
        for tree in differing {
            eprintln!(
                "error: {}: {} of {} records are not in the target as in the source (changed there since?)",
                tree.name,
                tree.source - tree.verified,
                tree.source
            );
        }
        Ok(ExitCode::FAILURE)
    }
}

async fn wait_for_stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
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

async fn run_client_command(client: &Client, command: Command) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match command {
        Command::Serve { .. } => bail!("`serve` runs a server; it is not a client command"),
        Command::Migrate { .. } => bail!("`migrate` works on storage; it is not a client command"),
        Command::Completions { .. } | Command::Man => {
            bail!("`completions` and `man` print; they are not client commands")
        }
        Command::Keys(KeysCommand::Create { project, name, .. }) => {
            let key = client.create_key(&project, name).await?;
            eprintln!(
                "New key {} for {project}; it is shown only this once:",
                key.id
            );
            writeln!(out, "{}", key.key)?;
        }
        Command::Projects(command) => projects(client, command, &mut out).await?,
        Command::Assistants(command) => assistants(client, command, &mut out).await?,
        Command::Files(command) => files(client, command, &mut out).await?,
        Command::Search {
            query,
            assistant,
            status,
            limit,
            json,
            ..
        } => {
            let query = SearchQuery {
                query,
                assistant,
                status,
                limit,
                json,
            };
            search(client, query, &mut out).await?;
        }
        Command::Send {
            assistant,
            thread,
            json,
            text,
            ..
        } => {
            drop(out);
            return send(client, assistant, thread, json, text).await;
        }
        Command::Demo { .. } => demo(client, &mut out).await?,
        Command::Export {
            thread_id, format, ..
        } => export(client, &thread_id, &format, &mut out).await?,
    }
    Ok(ExitCode::SUCCESS)
}

async fn projects(client: &Client, command: ProjectsCommand, out: &mut impl Write) -> Result<()> {
    match command {
        ProjectsCommand::Create {
            name, description, ..
        } => {
            let project = client
                .create_project(&ProjectCreate {
                    name,
                    description,
                    ..Default::default()
                })
                .await?;
            writeln!(out, "{}", crate::text::json_pretty(&project))?;
        }
        ProjectsCommand::List { .. } => {
            for project in client.list_projects().await?.data {
                writeln!(
                    out,
                    "{}\t{}\t{}",
                    one_line(&project.id),
                    one_line(&project.name),
                    one_line(&project.description.unwrap_or_default())
                )?;
            }
        }
    }
    Ok(())
}

async fn assistants(
    client: &Client,
    command: AssistantsCommand,
    out: &mut impl Write,
) -> Result<()> {
    match command {
        AssistantsCommand::Create { file, project, .. } => {
            let mut body = read_assistant_file(&file)?;
            if body.project_id.is_none() {
                body.project_id = Some(match project {
                    Some(project) => project,
                    None => only_project(client).await?,
                });
            }
            let assistant = client.create_assistant(&body).await?;
            writeln!(out, "{}", crate::text::json_pretty(&assistant))?;
        }
        AssistantsCommand::Update { id, file, .. } => {
            let patch = read_json_file::<crate::model::requests::AssistantPatch>(&file)?;
            let assistants = client.list_assistants().await?.data;
            let Some(found) = find_assistant(&assistants, &id) else {
                bail!("no assistant is named or has the id '{}'", one_line(&id));
            };
            let updated: crate::model::Assistant = client
                .patch(
                    &format!("/v2/assistants/{}", found.id),
                    &serde_json::to_value(&patch)?,
                )
                .await?;
            writeln!(out, "{}", crate::text::json_pretty(&updated))?;
        }
        AssistantsCommand::List { .. } => {
            for a in client.list_assistants().await?.data {
                writeln!(
                    out,
                    "{}\t{}\t{}\t{}",
                    one_line(&a.id),
                    one_line(&a.name),
                    one_line(&a.model),
                    one_line(&a.project_id)
                )?;
            }
        }
    }
    Ok(())
}

async fn files(client: &Client, command: FilesCommand, out: &mut impl Write) -> Result<()> {
    match command {
        FilesCommand::Upload {
            path,
            purpose,
            project,
            ..
        } => {
            let contents =
                std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
            let project = match project {
                Some(project) => project,
                None => only_project(client).await?,
            };
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "upload".into());
            let file = client
                .clone()
                .with_project(Some(project))
                .upload_file(&name, &contents, &purpose)
                .await?;
            writeln!(out, "{}", crate::text::json_pretty(&file))?;
        }
        FilesCommand::List { .. } => {
            for file in client.list_files().await?.data {
                writeln!(
                    out,
                    "{}\t{}\t{}\t{}",
                    one_line(&file.id),
                    one_line(&file.filename),
                    file.bytes,
                    one_line(&file.content_type)
                )?;
            }
        }
    }
    Ok(())
}

/// `agentdeck search`'s arguments.
struct SearchQuery {
    query: String,
    assistant: Option<String>,
    status: Option<String>,
    limit: usize,
    json: bool,
}

async fn search(client: &Client, query: SearchQuery, out: &mut impl Write) -> Result<()> {
    let assistant_id = match query.assistant {
        Some(wanted) => {
            let assistants = client.list_assistants().await?.data;
            match find_assistant(&assistants, &wanted) {
                Some(found) => Some(found.id.clone()),
                None => bail!(
                    "no assistant is named or has the id '{}'",
                    one_line(&wanted)
                ),
            }
        }
        None => None,
    };
    let hits = client
        .search(
            &query.query,
            assistant_id.as_deref(),
            query.status.as_deref(),
            query.limit,
        )
        .await?;
    if query.json {
        writeln!(out, "{}", crate::text::json_pretty(&hits))?;
    } else if hits.is_empty() {
        writeln!(out, "no matches")?;
    } else {
        for hit in hits {
            writeln!(
                out,
                "{}\t{}\t{:.2}\t{}",
                one_line(&hit.thread_id),
                one_line(hit.message_id.as_deref().unwrap_or("(title)")),
                hit.score,
                one_line(&hit.snippet)
            )?;
        }
    }
    Ok(())
}

/// Starts the demo's threads and follows each to its outcome.
async fn demo(client: &Client, out: &mut impl Write) -> Result<()> {
    let started = crate::client::demo::start(client).await?;
    writeln!(
        out,
        "The demo started {} threads; following them:",
        started.len()
    )?;
    let outcomes = futures::future::join_all(
        started
            .iter()
            .map(|s| crate::client::demo::follow(client, s)),
    )
    .await;
    for (thread, outcome) in started.iter().zip(outcomes) {
        writeln!(
            out,
            "{}\t{}\t{}",
            one_line(&thread.thread_id),
            one_line(&thread.assistant),
            one_line(&outcome)
        )?;
    }
    Ok(())
}

async fn export(
    client: &Client,
    thread_id: &str,
    format: &str,
    out: &mut impl Write,
) -> Result<()> {
    let thread = client.thread(thread_id).await?;
    let messages = client.all_messages(thread_id).await?;
    if format == "json" {
        let doc = serde_json::json!({"thread": thread, "messages": messages});
        writeln!(out, "{}", crate::text::json_pretty(&doc))?;
        return Ok(());
    }
    let names = client
        .list_assistants()
        .await
        .map(|l| l.data)
        .unwrap_or_default();
    let name_of = |id: &str| {
        names
            .iter()
            .find(|a| a.id == id)
            .map_or(id.to_string(), |a| a.name.clone())
    };
    // Markdown is for reading in a terminal: no escape reaches it. JSON stays exact (its
    // strings escape control characters).
    let markdown = export_markdown(&thread, &messages, &name_of);
    write!(out, "{}", crate::text::sanitize(&markdown))?;
    Ok(())
}

fn read_assistant_file(path: &Path) -> Result<AssistantCreate> {
    read_json_file(path)
}

/// A JSON file (`-` reads stdin) in the shape `T`; a mistake names the file and where.
fn read_json_file<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = if path == Path::new("-") {
        std::io::read_to_string(std::io::stdin()).context("cannot read the JSON from stdin")?
    } else {
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?
    };
    let mut deserializer = serde_json::Deserializer::from_str(&text);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let at = err.path().to_string();
        anyhow!("{}: {} (at {at})", path.display(), err.into_inner())
    })
}

async fn only_project(client: &Client) -> Result<String> {
    let projects = client.list_projects().await?.data;
    match projects.as_slice() {
        [one] => Ok(one.id.clone()),
        [] => bail!(
            "there is no project yet: create one with `agentdeck projects create --name NAME`"
        ),
        many => {
            let names: Vec<String> = many
                .iter()
                .map(|p| format!("{} ({})", p.id, p.name))
                .collect();
            bail!(
                "several projects exist; choose one with --project: {}",
                names.join(", ")
            )
        }
    }
}
