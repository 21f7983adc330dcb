use agentdeck::client::{Client, ServerEvent};
use agentdeck::config::Config;
use agentdeck::engine::EngineOptions;
use agentdeck::model::requests::{AssistantCreate, MessageCreate, ProjectCreate, ThreadCreate};
use agentdeck::model::{Content, Message, Project, Role};
use agentdeck::runtime::{Runtime, RuntimeOptions};
use futures::{Stream, StreamExt};
use serde_json::Value;
use std::time::Duration;

pub struct TestServer {
    pub runtime: Option<Runtime>,
    pub dir: tempfile::TempDir,
    pub url: String,
    pub admin_key: String,
}

pub fn engine_options() -> EngineOptions {
    EngineOptions {
        local_tps: 0.0,
        ..EngineOptions::default()
    }
}

impl TestServer {
    pub async fn start() -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        Self::start_in(dir).await
    }

    pub async fn start_in(dir: tempfile::TempDir) -> TestServer {
        Self::start_with(dir, |_| {}).await
    }

    /// Starts on `dir` with options adjusted by `adjust`.
    pub async fn start_with(
        dir: tempfile::TempDir,
        adjust: impl FnOnce(&mut RuntimeOptions),
    ) -> TestServer {
        let mut options = RuntimeOptions {
            engine: engine_options(),
            database_url: test_database(dir.path()),
            ..RuntimeOptions::new(dir.path().to_path_buf(), Config::default())
        };
        adjust(&mut options);
        let runtime = Runtime::start(options).await.unwrap();
        TestServer {
            url: runtime.url(),
            admin_key: runtime.admin_key().to_string(),
            runtime: Some(runtime),
            dir,
        }
    }

    /// Starts on a fresh directory with the config `text`.
    pub async fn start_with_config(text: &str) -> TestServer {
        let config = Config::parse(text).unwrap();
        Self::start_with(tempfile::tempdir().unwrap(), |o| o.config = config).await
    }

    pub fn admin(&self) -> Client {
        Client::new(&self.url, &self.admin_key)
    }

    /// A fresh project and a client holding a key scoped to it.
    pub async fn project(&self, name: &str) -> (Project, Client) {
        let project = self
            .admin()
            .create_project(&ProjectCreate {
                name: name.into(),
                ..Default::default()
            })
            .await
            .unwrap();
        let key = self
            .admin()
            .create_key(&project.id, Some("test".into()))
            .await
            .unwrap();
        (project, Client::new(&self.url, &key.key))
    }

    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some(runtime) = self.runtime.take() {
            runtime.stop().await;
        }
        self.dir
    }
}

pub fn assistant(name: &str, tools: Value, routes_to: Vec<String>) -> AssistantCreate {
    serde_json::from_value(serde_json::json!({
        "name": name,
        "instructions": format!("You are {name}."),
        "model": "local",
        "tools": tools,
        "routes_to": routes_to,
    }))
    .unwrap()
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

/// Collects a finite stream, failing the test if it takes longer than 20 s.
pub async fn collect(
    stream: impl Stream<Item = agentdeck::client::ClientResult<ServerEvent>>,
) -> Vec<ServerEvent> {
    let events = tokio::time::timeout(Duration::from_secs(20), stream.collect::<Vec<_>>())
        .await
        .expect("the stream did not end within 20 s");
    events
        .into_iter()
        .map(|e| e.expect("stream error"))
        .collect()
}

/// Posts a user message and waits for the reply to end; returns the final reply.
pub async fn ask(client: &Client, thread_id: &str, text: &str) -> Message {
    let reply = post(client, thread_id, text).await;
    wait_reply(client, thread_id, &reply).await
}

/// Posts a user message and returns the id of the reply it started.
pub async fn post(client: &Client, thread_id: &str, text: &str) -> String {
    let posted = client.post_message(thread_id, &user(text)).await.unwrap();
    posted.response_message_id.unwrap()
}

pub async fn wait_reply(client: &Client, thread_id: &str, reply_id: &str) -> Message {
    let events = collect(client.message_stream(thread_id, reply_id)).await;
    assert!(!events.is_empty());
    client.message(thread_id, reply_id).await.unwrap()
}

/// Polls until `check` holds, for up to 10 s.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    // Quick at first, then gently: checks often go through a project key, whose request
    // rate is bounded (50 a second), and a slow CI machine must not make them trip it.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut pause = Duration::from_millis(10);
    loop {
        if check().await {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(250));
    }
}

pub fn deltas(events: &[ServerEvent], kind: &str) -> String {
    events
        .iter()
        .filter(|e| e.name() == kind)
        .map(|e| e.data()["delta"].as_str().unwrap().to_string())
        .collect()
}

/// Which backend the suite runs on: `AGENTDECK_TEST_BACKEND=postgres` (with
/// `AGENTDECK_TEST_DATABASE_URL`, as `.ci/run` sets both) puts every test server's state
/// in PostgreSQL; anything else, the embedded sled default.
pub fn on_postgres() -> bool {
    std::env::var("AGENTDECK_TEST_BACKEND").is_ok_and(|b| b == "postgres")
}

/// The database of the test server on `dir` when the suite runs on PostgreSQL: made
/// fresh for a new dir and kept in it, so a restart on the same dir finds its state.
pub fn test_database(dir: &std::path::Path) -> Option<String> {
    if !on_postgres() {
        return None;
    }
    let remembered = dir.join("test-database-url");
    if let Ok(url) = std::fs::read_to_string(&remembered) {
        return Some(url);
    }
    let url = fresh_database();
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(&remembered, &url).unwrap();
    Some(url)
}

/// A new, empty database on the test server.
pub fn fresh_database() -> String {
    let admin = std::env::var("AGENTDECK_TEST_DATABASE_URL").expect(
        "AGENTDECK_TEST_DATABASE_URL is not set: the PostgreSQL tests need a server \
         (bash .ci/run starts one; by hand: source .ci/services.sh && start_postgres DIR PORT)",
    );
    let name = agentdeck::model::new_id("agentdeck_it_").to_lowercase();
    let create = format!("CREATE DATABASE {name}");
    // On a thread of its own: callers may be inside a runtime already.
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
                .await
                .expect("the test PostgreSQL server does not answer");
            tokio::spawn(connection);
            client.batch_execute(&create).await.unwrap();
        });
    })
    .join()
    .unwrap();
    let admin = std::env::var("AGENTDECK_TEST_DATABASE_URL").unwrap();
    let base = admin
        .rsplit_once('/')
        .map_or(admin.as_str(), |(base, _)| base);
    format!("{base}/{name}")
}

/// Waits up to 10 s for a `serve` process to announce itself in DIR/serve.json.
pub async fn wait_for_serve_info(dir: &std::path::Path) -> agentdeck::runtime::ServeInfo {
    for _ in 0..500 {
        if let Some(info) = agentdeck::runtime::read_serve_info(dir) {
            return info;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no serve.json in {} within 10 s", dir.display());
}

/// Starts the real `agentdeck serve` binary on `dir` (loopback, any port, the local model
/// unpaced), with `AGENTDECK_ADMIN_KEY` set to `admin_key` or unset, and waits until it
/// announces itself.
pub async fn spawn_serve(
    dir: &std::path::Path,
    admin_key: Option<&str>,
) -> (KillOnDrop, agentdeck::runtime::ServeInfo) {
    spawn_serve_with_env(dir, admin_key, &[]).await
}

/// [`spawn_serve`] with more environment variables (secrets that tools name, say).
pub async fn spawn_serve_with_env(
    dir: &std::path::Path,
    admin_key: Option<&str>,
    env: &[(&str, &str)],
) -> (KillOnDrop, agentdeck::runtime::ServeInfo) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_agentdeck"));
    command.envs(env.iter().copied());
    command
        .arg("--data-dir")
        .arg(dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("AGENTDECK_LOCAL_TPS", "0")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    match admin_key {
        Some(key) => command.env("AGENTDECK_ADMIN_KEY", key),
        None => command.env_remove("AGENTDECK_ADMIN_KEY"),
    };
    match test_database(dir) {
        Some(url) => command.env("AGENTDECK_DATABASE_URL", url),
        None => command.env_remove("AGENTDECK_DATABASE_URL"),
    };
    // Killed when dropped: a test that fails while it runs leaves no server behind.
    let child = KillOnDrop(command.spawn().unwrap());
    let info = wait_for_serve_info(dir).await;
    (child, info)
}

/// `POST /v2/files` with a hand-built multipart body (`purpose` and `file`): the answer's
/// status and JSON.
pub async fn upload(
    url: &str,
    key: &str,
    project: Option<&str>,
    name: &str,
    contents: &[u8],
) -> (u16, Value) {
    let boundary = "agentdeck-test-boundary-7f3a";
    let mut body = Vec::new();
    body.extend_from_slice(
        format!(
            "--{boundary}\r\ncontent-disposition: form-data; name=\"purpose\"\r\n\r\nassistants\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(
        format!(
            "--{boundary}\r\ncontent-disposition: form-data; name=\"file\"; filename=\"{name}\"\r\ncontent-type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(contents);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let mut request = reqwest::Client::new()
        .post(format!("{url}/v2/files"))
        .bearer_auth(key)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body);
    if let Some(project) = project {
        request = request.header("OpenAI-Project", project);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}")),
    )
}

/// A real PNG of `width`×`height` pixels (a gradient, so it compresses like a picture).
pub fn png(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x ^ y) % 256) as u8])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// A child process killed (and waited for) when dropped, so a failing test leaves no
/// server behind.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl std::ops::Deref for KillOnDrop {
    type Target = std::process::Child;
    fn deref(&self) -> &std::process::Child {
        &self.0
    }
}

impl std::ops::DerefMut for KillOnDrop {
    fn deref_mut(&mut self) -> &mut std::process::Child {
        &mut self.0
    }
}

/// Runs the test venv's Python (`TEST_PYTHON`, made by `.ci/run`) on `args` with `env`,
/// killed if it has not finished within `deadline`; the last line it printed, as JSON.
pub fn run_python(args: &[&str], env: &[(&str, &str)], deadline: Duration) -> serde_json::Value {
    let python = std::env::var("TEST_PYTHON")
        .expect("TEST_PYTHON is not set: this test needs the venv `bash .ci/run` installs");
    let child = std::process::Command::new(&python)
        .args(args)
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("could not run {python}: {err}"));
    let pid = child.id();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || sender.send(child.wait_with_output()));
    let Ok(output) = receiver.recv_timeout(deadline) else {
        let _ = std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status();
        panic!("{args:?} did not finish within {deadline:?}");
    };
    let output = output.unwrap_or_else(|err| panic!("{args:?}: {err}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{args:?} failed:\n{stdout}\n{stderr}"
    );
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last)
        .unwrap_or_else(|err| panic!("{args:?} printed {last:?} ({err}):\n{stderr}"))
}

/// A real `serve` for the tmux tests: on `dir`, with `config` as its config file and
/// `admin_key`, ended when the first value is dropped; a new project `name` on it and a
/// key of that project.
pub fn serve_with_project(
    rt: &tokio::runtime::Runtime,
    dir: &std::path::Path,
    config: &str,
    admin_key: &str,
    name: &str,
) -> (
    KillOnDrop,
    agentdeck::runtime::ServeInfo,
    agentdeck::model::Project,
    String,
) {
    let config_path = dir.join("serve.toml");
    std::fs::write(&config_path, config).unwrap();
    let config_path = config_path.display().to_string();
    let (server, info) = rt.block_on(spawn_serve_with_env(
        &dir.join("served"),
        Some(admin_key),
        &[("AGENTDECK_CONFIG", &config_path)],
    ));
    let admin = Client::new(&info.url, admin_key);
    let project: agentdeck::model::requests::ProjectCreate =
        serde_json::from_value(serde_json::json!({ "name": name })).unwrap();
    let project = rt.block_on(admin.create_project(&project)).unwrap();
    let key = rt
        .block_on(admin.create_key(&project.id, Some(name.into())))
        .unwrap()
        .key;
    (server, info, project, key)
}

/// A random source for a property test: seeded from `AGENTDECK_TEST_SEED` if set, else
/// at random, and the seed printed so a failing run can be repeated (the test harness
/// shows it on failure).
pub fn seeded_rng() -> rand::rngs::StdRng {
    use rand::SeedableRng;
    let seed: u64 = std::env::var("AGENTDECK_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    #[allow(clippy::print_stderr)]
    {
        eprintln!("seed {seed} (AGENTDECK_TEST_SEED={seed} repeats this run)");
    }
    rand::rngs::StdRng::seed_from_u64(seed)
}

/// A subscriber of `/v2/events` whose connections are cut: what it read across them.
pub struct CutReader {
    /// The ids read, in order.
    pub ids: Vec<u64>,
    /// The text each message's deltas made.
    pub text: std::collections::HashMap<String, String>,
    /// The messages whose `done` was read.
    pub done: std::collections::HashSet<String>,
    last: Option<u64>,
}

impl CutReader {
    /// A subscriber from the start of the log.
    pub fn new() -> CutReader {
        CutReader {
            ids: Vec::new(),
            text: Default::default(),
            done: Default::default(),
            last: Some(0),
        }
    }

    pub fn all_done(&self, wanted: &std::collections::HashSet<String>) -> bool {
        wanted.iter().all(|r| self.done.contains(r))
    }

    /// One connection through `client`, resumed with the last id read, cut after `take`
    /// events (or once every reply of `wanted` is done); ids must rise across all.
    pub async fn read(
        &mut self,
        client: &Client,
        take: usize,
        wanted: &std::collections::HashSet<String>,
    ) {
        let stream = client.events("/v2/events", self.last);
        futures::pin_mut!(stream);
        let mut read = 0;
        while read < take && !self.all_done(wanted) {
            let Some(event) = stream.next().await else {
                break;
            };
            let event = event.unwrap();
            let data = event.data();
            match event.name() {
                "message.delta" => self
                    .text
                    .entry(data["message_id"].as_str().unwrap().to_string())
                    .or_default()
                    .push_str(data["delta"].as_str().unwrap()),
                "done" => {
                    self.done
                        .insert(data["message_id"].as_str().unwrap().to_string());
                }
                _ => {}
            }
            if let Some(id) = event.id {
                assert!(
                    self.ids.last().is_none_or(|last| *last < id),
                    "id {id} after {:?}",
                    self.ids
                );
                self.ids.push(id);
                self.last = Some(id);
            }
            read += 1;
        }
    }
}

/// Posts `prompt(i)` to the i-th thread, 150 ms apart: each reply starts while the ones
/// before it stream, and they end apart. The (thread, reply) pairs, and the replies.
pub async fn start_overlapping(
    client: &Client,
    threads: &[String],
    prompt: impl Fn(usize) -> String,
) -> (Vec<(String, String)>, std::collections::HashSet<String>) {
    let mut replies = Vec::new();
    for (i, thread) in threads.iter().enumerate() {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let reply = post(client, thread, &prompt(i)).await;
        replies.push((thread.clone(), reply));
    }
    let wanted = replies.iter().map(|(_, reply)| reply.clone()).collect();
    (replies, wanted)
}

/// `/v2/events` through `client` from the start, never cut, until every reply of
/// `wanted` is done: the ids, checked to rise.
pub async fn ids_until_done(client: Client, wanted: std::collections::HashSet<String>) -> Vec<u64> {
    let mut reader = CutReader::new();
    reader.read(&client, usize::MAX, &wanted).await;
    reader.ids
}
