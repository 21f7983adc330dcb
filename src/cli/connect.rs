//! Where a command's runtime is: `--remote` (a URL or a `[[remotes]]` name), the server
//! announced in the data dir, or one started in this process; and the config they read.

use super::Global;
use crate::client::Client;
use crate::config::{Config, default_config_file, default_data_dir};
use crate::runtime::{Runtime, RuntimeOptions, admin_key, read_serve_info};
use anyhow::{Context, Result, anyhow, bail};
use std::path::PathBuf;

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
