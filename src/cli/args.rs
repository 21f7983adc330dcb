//! The command line's definition: the commands, their flags and the flags they share
//! (clap's derive; completions and the man page are made from it).

use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

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
