//! `agentdeck serve`: the runtime for others, until SIGINT or SIGTERM.

use super::{Global, data_dir, load_config};
use crate::client::Client;
use crate::config::{Config, default_config_file};
use crate::runtime::{Runtime, RuntimeOptions, admin_key, read_serve_info};
use anyhow::{Result, bail};
use std::net::SocketAddr;
use std::process::ExitCode;

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
