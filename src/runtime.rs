//! A running runtime: the store of a data dir, the engine, and the HTTP server on it.

use crate::api::{self, AppState};
use crate::config::Config;
use crate::engine::cluster::Cluster;
use crate::engine::{Engine, EngineOptions};
use crate::model::hash_key;
use crate::model::new_secret;
use crate::store::Store;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub struct RuntimeOptions {
    pub data_dir: PathBuf,
    pub config: Config,
    pub listen: SocketAddr,
    /// Write DATA_DIR/serve.json so that other processes find this server.
    pub announce: bool,
    /// Start the Getting-started threads on a fresh data dir.
    pub seed_threads: bool,
    pub engine: EngineOptions,
    /// How often idle SSE streams get a `: ping` comment.
    pub sse_keepalive: Duration,
    /// How long a client has to send a request's headers, and how long an idle kept-alive
    /// connection stays open.
    pub header_timeout: Duration,
    /// Serve HTTPS with this certificate chain and key (PEM files).
    pub tls: Option<TlsFiles>,
    /// Keep the state in PostgreSQL rather than the data dir's sled database.
    pub database_url: Option<String>,
    /// Share the database with other nodes, joined through this Redis.
    pub redis_url: Option<String>,
    /// Connections open at once, at most; more are answered `503` and closed (so idle
    /// sockets cannot use up the process's file descriptors).
    pub max_connections: usize,
}

/// Connections served at once by default: three quarters of the file descriptors the
/// process may open (the rest are the store's, the tools', the providers'), at least 64.
pub fn default_max_connections() -> usize {
    let soft_limit = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| {
            limits
                .lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3))
                .and_then(|n| n.parse::<usize>().ok())
        })
        .unwrap_or(1024);
    (soft_limit / 4 * 3).saturating_sub(64).clamp(64, 65_536)
}

/// A certificate chain and its private key, PEM files.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TlsFiles {
    /// The acceptor for these files; the error names the file and what is wrong with it.
    fn acceptor(&self) -> Result<tokio_rustls::TlsAcceptor> {
        use rustls_pki_types::pem::PemObject;
        use rustls_pki_types::{CertificateDer, PrivateKeyDer};
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&self.cert)
            .and_then(|certs| certs.collect())
            .with_context(|| format!("--tls-cert {}: no PEM certificates", self.cert.display()))?;
        if certs.is_empty() {
            anyhow::bail!("--tls-cert {}: no PEM certificates", self.cert.display());
        }
        let key = PrivateKeyDer::from_pem_file(&self.key)
            .with_context(|| format!("--tls-key {}: no PEM private key", self.key.display()))?;
        let provider =
            std::sync::Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
        let mut config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .context("--tls-cert and --tls-key do not make a usable pair")?;
        // h2 for gRPC's OTLP exporters; everything else speaks HTTP/1.1.
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config)))
    }
}

impl RuntimeOptions {
    /// A runtime for `data_dir` on an ephemeral loopback port, announcing nothing and
    /// starting no example threads.
    pub fn new(data_dir: PathBuf, config: Config) -> Self {
        RuntimeOptions {
            data_dir,
            config,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            announce: false,
            seed_threads: false,
            engine: EngineOptions::default(),
            sse_keepalive: Duration::from_secs(15),
            header_timeout: HEADER_TIMEOUT,
            tls: None,
            database_url: None,
            redis_url: None,
            max_connections: default_max_connections(),
        }
    }
}

/// What DATA_DIR/serve.json says about the server running on a data dir.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ServeInfo {
    pub url: String,
    pub pid: u32,
}

pub struct Runtime {
    engine: Engine,
    addr: SocketAddr,
    /// `http` or `https`.
    scheme: &'static str,
    admin_key: String,
    data_dir: PathBuf,
    announced: bool,
    stop_server: CancellationToken,
    server: JoinHandle<()>,
}

pub fn serve_json_path(data_dir: &Path) -> PathBuf {
    data_dir.join("serve.json")
}

pub fn read_serve_info(data_dir: &Path) -> Option<ServeInfo> {
    let text = std::fs::read_to_string(serve_json_path(data_dir)).ok()?;
    serde_json::from_str(&text).ok()
}

/// The admin key: `AGENTDECK_ADMIN_KEY`, else DATA_DIR/admin.key.
pub fn admin_key(data_dir: &Path) -> Option<String> {
    if let Ok(key) = std::env::var("AGENTDECK_ADMIN_KEY") {
        if !key.trim().is_empty() {
            return Some(key.trim().to_string());
        }
    }
    std::fs::read_to_string(data_dir.join("admin.key"))
        .ok()
        .map(|k| k.trim().to_string())
        .filter(|k| !k.is_empty())
}

fn ensure_admin_key(data_dir: &Path) -> Result<String> {
    if let Some(key) = admin_key(data_dir) {
        return Ok(key);
    }
    let key = new_secret("sk-admin-");
    let path = data_dir.join("admin.key");
    write_private(&path, &key)
        .with_context(|| format!("cannot write the admin key to {}", path.display()))?;
    Ok(key)
}

/// A client has this long to send a request's headers, and an idle kept-alive
/// connection is closed after it: a slow or silent client cannot hold a connection.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves HTTP/1.1 (and HTTP/2, which gRPC needs) on `listener` until `stop` is cancelled: TCP_NODELAY on every
/// connection (small SSE frames and JSON answers would otherwise wait ~40 ms on Nagle and
/// delayed ACKs), and a header timeout (which `axum::serve` cannot set). On stop, open
/// connections finish what they are doing.
async fn serve_http(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
    header_timeout: Duration,
    max_connections: usize,
    stop: CancellationToken,
) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    /// One open connection counted until it ends.
    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::Relaxed);
        }
    }
    let open = Arc::new(AtomicUsize::new(0));
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto::Builder;
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    // HTTP/2 only for OTLP over gRPC: pings find a dead peer as the header timeout would.
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(header_timeout))
        .keep_alive_timeout(header_timeout)
        .max_concurrent_streams(64);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.cancelled() => break,
        };
        let tcp = match accepted {
            Ok((tcp, _)) => tcp,
            Err(err) => {
                // Out of file descriptors and the like: wait a moment rather than spin.
                tracing::warn!("accept failed: {err}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if open.load(Ordering::Relaxed) >= max_connections {
            // Full: a plain answer, then the socket goes (it is not counted).
            tokio::spawn(async move {
                use tokio::io::AsyncWriteExt;
                let mut tcp = tcp;
                let answer = api::json_answer(
                    503,
                    "too_many_connections",
                    &format!(
                        "The server has {max_connections} connections open, its most; try again in a moment."
                    ),
                );
                let _ = tokio::time::timeout(Duration::from_secs(2), async {
                    let _ = tcp.write_all(answer.as_bytes()).await;
                    let _ = tcp.shutdown().await;
                })
                .await;
            });
            continue;
        }
        open.fetch_add(1, Ordering::Relaxed);
        let counted = Counted(open.clone());
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::warn!("could not set TCP_NODELAY: {err}");
        }
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let (tls, builder, watcher) = (tls.clone(), builder.clone(), graceful.watcher());
        tokio::spawn(async move {
            let _counted = counted;
            // The handshake and the first request's head are bounded like a header.
            match tls {
                None => {
                    if let Some(stream) = api::screen_request_line(tcp, header_timeout).await {
                        let connection = builder
                            .serve_connection_with_upgrades(TokioIo::new(stream), service)
                            .into_owned();
                        if let Err(err) = watcher.watch(connection).await {
                            tracing::trace!("connection ended: {err}");
                        }
                    }
                }
                Some(acceptor) => {
                    let Ok(Ok(tls_stream)) =
                        tokio::time::timeout(header_timeout, acceptor.accept(tcp)).await
                    else {
                        return;
                    };
                    if let Some(stream) = api::screen_request_line(tls_stream, header_timeout).await
                    {
                        let connection = builder
                            .serve_connection_with_upgrades(TokioIo::new(stream), service)
                            .into_owned();
                        if let Err(err) = watcher.watch(connection).await {
                            tracing::trace!("connection ended: {err}");
                        }
                    }
                }
            }
        });
    }
    graceful.shutdown().await;
}

/// Writes a file readable by its owner only.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

impl Runtime {
    pub async fn start(options: RuntimeOptions) -> Result<Runtime> {
        let data_dir = options.data_dir;
        create_private_dir(&data_dir)?;
        let store = match (&options.database_url, &options.redis_url) {
            (Some(url), redis) => Store::open_postgres(&data_dir, url, redis.is_none())?,
            (None, None) => Store::open(&data_dir)?,
            (None, Some(_)) => anyhow::bail!(
                "--redis-url joins nodes that share a PostgreSQL database: give --database-url too"
            ),
        };
        let mut engine_options = options.engine;
        if let Some(url) = &options.redis_url {
            let cluster = Cluster::connect(url, &store.location()).await?;
            tracing::info!(
                "joined the cluster of {} as {}",
                store.location(),
                cluster.node()
            );
            engine_options.cluster = Some(cluster);
        }
        let admin_key = ensure_admin_key(&data_dir)?;
        let engine = Engine::new(store, options.config, engine_options)?;
        let recovery = engine.recover()?;
        if !recovery.incomplete.is_empty() || recovery.threads_reset > 0 {
            tracing::warn!(
                "recovered after an unclean stop: {} replies marked incomplete, {} threads reset",
                recovery.incomplete.len(),
                recovery.threads_reset
            );
        }
        engine.close_recovered(&recovery.incomplete).await;
        engine
            .start_span_export()
            .map_err(|err| anyhow::anyhow!("config: {err}"))?;
        engine.start_background();
        let listener = tokio::net::TcpListener::bind(options.listen)
            .await
            .with_context(|| format!("cannot listen on {}", options.listen))?;
        let addr = listener.local_addr()?;
        let state = AppState::new(engine.clone(), hash_key(&admin_key), options.sse_keepalive);
        let stop_server = CancellationToken::new();
        let stopped = stop_server.clone();
        let app = api::router(state);
        let acceptor = options.tls.as_ref().map(TlsFiles::acceptor).transpose()?;
        let scheme = if acceptor.is_some() { "https" } else { "http" };
        let server = tokio::spawn(serve_http(
            listener,
            app,
            acceptor,
            options.header_timeout,
            options.max_connections,
            stopped,
        ));
        crate::seed::ensure(&engine, options.seed_threads).await?;
        let runtime = Runtime {
            engine,
            addr,
            scheme,
            admin_key,
            data_dir,
            announced: options.announce,
            stop_server,
            server,
        };
        if runtime.announced {
            let info = ServeInfo {
                url: runtime.url(),
                pid: std::process::id(),
            };
            let path = serve_json_path(&runtime.data_dir);
            write_private(&path, &serde_json::to_string_pretty(&info)?)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        Ok(runtime)
    }

    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn admin_key(&self) -> &str {
        &self.admin_key
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Stops runs (they end incomplete, with their text), the server, and flushes.
    /// Every assistant of every project (for what `serve` says at start).
    pub fn assistants(&self) -> Vec<crate::model::Assistant> {
        self.engine
            .list_assistants(&crate::engine::Scope::All)
            .unwrap_or_default()
    }

    pub async fn stop(self) {
        self.engine.shutdown(Duration::from_secs(3)).await;
        self.stop_server.cancel();
        // Open SSE streams would hold a graceful shutdown forever: give it a moment.
        let mut server = self.server;
        if tokio::time::timeout(Duration::from_secs(2), &mut server)
            .await
            .is_err()
        {
            server.abort();
        }
        if self.announced {
            let path = serve_json_path(&self.data_dir);
            if read_serve_info(&self.data_dir).is_some_and(|info| info.pid == std::process::id()) {
                let _ = std::fs::remove_file(path);
            }
        }
        if let Err(err) = self.engine.flush().await {
            tracing::error!("final flush failed: {err}");
        }
    }
}

/// Copies the data dir `from`'s database into the PostgreSQL database `to` (see
/// [`Store::copy_into`]); where it went, and what it did per tree.
pub fn migrate(
    from: &Path,
    to: &str,
    progress: &mut dyn FnMut(&str, u64),
) -> Result<(String, Vec<crate::store::TreeCopy>)> {
    if !from.join("db").exists() {
        anyhow::bail!(
            "{} holds no agentdeck database (no db/ in it)",
            from.display()
        );
    }
    let source = Store::open(from).with_context(|| format!("cannot open {}", from.display()))?;
    let target = Store::open_postgres(from, to, true).context("cannot open the target database")?;
    let report = source.copy_into(&target, progress)?;
    Ok((target.location(), report))
}

fn create_private_dir(dir: &Path) -> Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .with_context(|| format!("cannot create the data dir {}", dir.display()))
}
