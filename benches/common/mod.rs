//! What several benches do alike: a runtime on a temporary data dir with a project, a
//! thread, a user message, one whole exchange. Each bench uses a part of it.
#![allow(dead_code, clippy::unwrap_used)]

use agentdeck::client::Client;
use agentdeck::config::Config;
use agentdeck::engine::EngineOptions;
use agentdeck::model::requests::{MessageCreate, ProjectCreate, ThreadCreate};
use agentdeck::model::{Content, Message, Role};
use agentdeck::runtime::{Runtime, RuntimeOptions};
use futures::StreamExt;
use std::time::{Duration, Instant};

/// A runtime in this process (the local model unpaced) and a client of a new project
/// whose limits are as high as they go: a bench measures the path, not the project's
/// token budget (at the default 100,000 tokens a minute, runs would soon wait for it).
pub struct Local {
    pub client: Client,
    /// The project the client is scoped to.
    pub project_id: String,
    pub runtime: Runtime,
    pub dir: tempfile::TempDir,
}

/// With `AGENTDECK_BENCH_DATABASE_URL` (an empty PostgreSQL database), the runtime keeps
/// its state there instead of in the data dir's sled: `benches/api.rs` on both backends.
pub async fn local_runtime(project: &str) -> Local {
    local_runtime_with(project, Config::default()).await
}

/// [`local_runtime`] with a config of its own.
pub async fn local_runtime_with(project: &str, config: Config) -> Local {
    let dir = tempfile::tempdir().unwrap();
    let runtime = Runtime::start(RuntimeOptions {
        engine: EngineOptions {
            local_tps: 0.0,
            ..EngineOptions::default()
        },
        database_url: std::env::var("AGENTDECK_BENCH_DATABASE_URL").ok(),
        ..RuntimeOptions::new(dir.path().to_path_buf(), config)
    })
    .await
    .unwrap();
    let admin = Client::new(&runtime.url(), runtime.admin_key());
    let project = admin
        .create_project(&ProjectCreate {
            name: project.into(),
            limits: Some(agentdeck::model::Limits {
                tokens_per_minute: 1_000_000_000_000,
                concurrent_threads: 100_000,
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    Local {
        project_id: project.id.clone(),
        client: admin.with_project(Some(project.id)),
        runtime,
        dir,
    }
}

/// A bench's size from the environment variable `name`, else `default`.
pub fn setting<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A field of a process's `/proc/PID/status` in KiB (`"VmRSS:"`, `"VmHWM:"`), 0 when
/// it cannot be read.
pub fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// A runtime of one worker thread: what "on one core" measures.
pub fn one_worker_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

/// CPU seconds (user and system) of this process, or of its threads whose names start
/// with one of `threads` (none: the whole process).
pub fn cpu_seconds(threads: &[&str]) -> f64 {
    let stats: Vec<String> = if threads.is_empty() {
        vec![std::fs::read_to_string("/proc/self/stat").unwrap_or_default()]
    } else {
        std::fs::read_dir("/proc/self/task")
            .map(|tasks| {
                tasks
                    .flatten()
                    .filter(|task| {
                        let comm =
                            std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
                        threads.iter().any(|name| comm.starts_with(name))
                    })
                    .map(|task| {
                        std::fs::read_to_string(task.path().join("stat")).unwrap_or_default()
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    stats
        .iter()
        .map(|stat| {
            // After the command's closing parenthesis, utime and stime are fields 12 and 13.
            let fields: Vec<&str> = stat
                .rsplit_once(')')
                .map_or("", |(_, rest)| rest)
                .split_whitespace()
                .collect();
            let ticks = |i: usize| {
                fields
                    .get(i)
                    .and_then(|v| v.parse::<f64>().ok())
                    .unwrap_or(0.0)
            };
            (ticks(11) + ticks(12)) / 100.0
        })
        .sum()
}

pub fn user(text: &str) -> MessageCreate {
    MessageCreate {
        role: Role::User,
        content: Some(Content::Text(text.into())),
        attachments: vec![],
        tool_call_id: None,
    }
}

pub async fn new_thread(client: &Client, assistant_id: &str) -> String {
    client
        .create_thread(&ThreadCreate {
            assistant_id: assistant_id.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .id
}

/// Posts `text`, follows the reply's stream to its end, and returns the reply.
pub async fn ask(client: &Client, thread: &str, text: &str) -> Message {
    let posted = client.post_message(thread, &user(text)).await.unwrap();
    let reply = posted.response_message_id.unwrap();
    let stream = client.message_stream(thread, &reply);
    futures::pin_mut!(stream);
    while stream.next().await.is_some() {}
    client.message(thread, &reply).await.unwrap()
}

/// The real `agentdeck serve` in its own process (`tps`: the local model's pace), so that
/// the bench process's CPU is the workspace side alone.
pub struct Server {
    pub child: std::process::Child,
    pub url: String,
    pub admin_key: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn spawn_server(dir: &std::path::Path, tps: &str) -> Server {
    spawn_server_with_env(dir, tps, &[])
}

impl Server {
    /// A client holding the key of a new project `name`: what a workspace connecting with
    /// `--remote` is given.
    pub async fn project_client(&self, name: &str) -> Client {
        let admin = Client::new(&self.url, &self.admin_key);
        let project = admin
            .create_project(&ProjectCreate {
                name: name.into(),
                ..Default::default()
            })
            .await
            .unwrap();
        let key = admin.create_key(&project.id, None).await.unwrap().key;
        Client::new(&self.url, &key)
    }
}

/// The `agentdeck` binary the benches run: this build, or `AGENTDECK_BIN` (to measure
/// another build the same way).
pub fn agentdeck_bin() -> String {
    std::env::var("AGENTDECK_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_agentdeck").into())
}

/// [`spawn_server`] with more environment (a config file, say).
pub fn spawn_server_with_env(dir: &std::path::Path, tps: &str, env: &[(&str, &str)]) -> Server {
    let child = std::process::Command::new(agentdeck_bin())
        .envs(env.iter().copied())
        .arg("--data-dir")
        .arg(dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("AGENTDECK_LOCAL_TPS", tps)
        .env_remove("AGENTDECK_ADMIN_KEY")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Owned by the guard from here on: killed and waited for whatever happens.
    let mut server = Server {
        child,
        url: String::new(),
        admin_key: String::new(),
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let (Some(info), Some(key)) = (
            agentdeck::runtime::read_serve_info(dir),
            agentdeck::runtime::admin_key(dir),
        ) {
            server.url = info.url;
            server.admin_key = key;
            return server;
        }
        assert!(Instant::now() < deadline, "agentdeck serve did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A child process, ended when this is dropped.
pub struct Child(pub std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// llmock (`LLMOCK`, else the venv `.ci/run` makes) on a free port, its chunks
/// `delay_ms` apart, with `tool_mode` as its `--tool-mode`; its port, once it listens.
pub async fn start_llmock(delay_ms: u64, tool_mode: &str) -> (Child, u16) {
    let binary = std::env::var("LLMOCK").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/target/pyenv/bin/llmock").to_string()
    });
    let port = free_port();
    let child = Child(
        std::process::Command::new(&binary)
            .args(["serve", "--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--tool-mode", tool_mode])
            .args(["--stream-chunk-delay-ms", &delay_ms.to_string()])
            .args(["--log-level", "warning"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|err| panic!("llmock is needed ({binary}): {err}")),
    );
    for _ in 0..300 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return (child, port);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("llmock did not listen within 15 s");
}

/// `tmux -L socket ARGS` (the benches that drive the real binary in a terminal): what it
/// printed.
pub fn tmux(socket: &str, args: &[&str]) -> String {
    let output = std::process::Command::new("tmux")
        .args(["-L", socket])
        .args(args)
        .output()
        .unwrap_or_else(|err| panic!("this bench needs tmux ({err})"));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A process's CPU so far (utime + stime, from /proc); none once it is gone.
pub fn process_cpu(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let Some(end) = stat.rfind(')') else {
        return Duration::ZERO;
    };
    let fields: Vec<&str> = stat[end + 2..].split(' ').collect();
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Duration::from_millis((field(11) + field(12)) * 10)
}

/// Polls `check` every `every` until it gives a value; past `within`, panics naming
/// `what` and showing `context()` (the screen, say).
pub fn poll<T>(
    what: &str,
    within: Duration,
    every: Duration,
    check: impl Fn() -> Option<T>,
    context: impl Fn() -> String,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within {within:?}:\n{}",
            context()
        );
        std::thread::sleep(every);
    }
}

/// Scripts the llmock at `url` with `behaviors` (its scenario API).
pub async fn script_llmock(url: &str, behaviors: serde_json::Value) {
    let scripted = reqwest::Client::new()
        .post(format!("{url}/_llmock/scenario"))
        .json(&serde_json::json!({ "behaviors": behaviors }))
        .send()
        .await
        .unwrap();
    assert_eq!(scripted.status().as_u16(), 201);
}
