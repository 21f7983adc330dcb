//! Coding agents as assistants: the real Claude Code (`claude -p`, stream-json both
//! ways, as `bash .ci/run` installs it from npm) pointed at llmock's Anthropic Messages
//! through agentdeck's config, in a temporary git repository. The reply streams its
//! text, its commands are tool calls with their results, its own report gives tokens and
//! cost, and a second message resumes the same session.

use crate::support::{TestServer, ask, new_thread};
use agentdeck::model::{MessageStatus, ToolCall, ToolCallStatus};
use std::time::{Duration, Instant};

pub(crate) fn claude_code() -> String {
    std::env::var("CLAUDE_CODE_BIN").expect(
        "CLAUDE_CODE_BIN is not set: this test needs the Claude Code that `bash .ci/run` installs",
    )
}

/// A temporary git repository with one file.
pub(crate) fn repository() -> tempfile::TempDir {
    let repo = tempfile::tempdir().unwrap();
    let git = |args: &[&str]| {
        let status = std::process::Command::new("git")
            .args(args)
            .current_dir(repo.path())
            .stdout(std::process::Stdio::null())
            .status()
            .expect("git runs");
        assert!(status.success(), "git {args:?}");
    };
    git(&["init", "-q"]);
    std::fs::write(repo.path().join("README.md"), "hello\n").unwrap();
    git(&["add", "README.md"]);
    git(&[
        "-c",
        "user.name=test",
        "-c",
        "user.email=test@example.com",
        "commit",
        "-q",
        "-m",
        "first",
    ]);
    repo
}

/// The config whose provider serves Claude Code's models: the Anthropic Messages of the
/// llmock (or the shim in front of it) at `url`.
pub(crate) fn claude_config(url: &str) -> String {
    format!(
        "[providers.claude]\nkind = \"anthropic\"\nbase_url = \"{url}/anthropic/v1\"\napi_key_env = \"HOME\"\nmodels = [\"claude-*\"]\n"
    )
}

/// llmock, and a server whose config (`config` of llmock's URL) points an agent's models
/// at it.
pub(crate) async fn mock_server(
    config: impl Fn(&str) -> String,
) -> (crate::llmock::Llmock, TestServer) {
    let mock = crate::llmock::start_llmock(&[]).await;
    let server = TestServer::start_with_config(&config(&mock.url)).await;
    (mock, server)
}

/// llmock, and a server whose config points Claude Code's models at it.
async fn claude_server() -> (crate::llmock::Llmock, TestServer) {
    mock_server(claude_config).await
}

/// A Claude Code assistant `name` working in `workdir` on claude-sonnet-4-5, with the
/// further agent settings of `agent` (its tools, permission mode, ...).
pub(crate) fn claude_coder(
    name: &str,
    workdir: &std::path::Path,
    agent: serde_json::Value,
) -> agentdeck::model::requests::AssistantCreate {
    let mut settings = serde_json::json!({"workdir": workdir.display().to_string(),
        "command": [claude_code()], "model": "claude-sonnet-4-5"});
    for (key, value) in agent.as_object().unwrap() {
        settings[key] = value.clone();
    }
    serde_json::from_value(
        serde_json::json!({"name": name, "model": "claude-code", "agent": settings}),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claude_code_runs_as_an_assistant_and_a_second_message_resumes_its_session() {
    let (mock, server) = claude_server().await;
    let (_, client) = server.project("coding").await;
    let repo = repository();
    let body = claude_coder(
        "coder",
        repo.path(),
        serde_json::json!({"tools": ["Bash", "Read", "Edit", "Write"], "permission_mode": "default"}),
    );
    let coder = client.create_assistant(&body).await.unwrap();
    let thread = new_thread(&client, &coder.id).await;

    // The model asks to write a file and to run a command; each needs a permission and
    // waits in the workspace: the operator approves the edit and denies the command.
    let made = repo.path().join("made.txt");
    mock.script(
        serde_json::json!([{"type": "reply", "match": {"tools": true}, "tool_calls": [
            {"name": "Write", "arguments": {"file_path": made.display().to_string(),
                "content": "from-the-agent\n"}},
            {"name": "Bash", "arguments": {"command": "touch denied.txt", "description": "Touch a file"}}]}]),
    )
    .await;
    let asking = tokio::spawn({
        let (client, thread) = (client.clone(), thread.clone());
        async move { ask(&client, &thread, "Write a file, please").await }
    });
    // The operator approves the edit and denies the command.
    let reply = operate(&client, &thread, asking, |call| {
        (call.function.name == "Write")
            .then_some(None)
            .ok_or("not in this repository")
    })
    .await;
    assert_eq!(reply.status, MessageStatus::Completed, "{reply:?}");
    assert!(!reply.text().is_empty(), "{reply:?}");
    let [write, command] = &reply.tool_calls[..] else {
        panic!("two tool calls: {reply:?}");
    };
    assert_eq!(write.function.name, "Write");
    assert!(write.function.arguments.contains("made.txt"), "{write:?}");
    assert_eq!(write.status, ToolCallStatus::Completed, "{write:?}");
    assert!(write.approved, "{write:?}");
    assert_eq!(
        std::fs::read_to_string(&made).unwrap().trim(),
        "from-the-agent",
        "the edit was made in the repository"
    );
    // Denied: not run, and the agent was told why.
    assert_eq!(command.status, ToolCallStatus::Denied, "{command:?}");
    assert!(
        command
            .output
            .as_deref()
            .is_some_and(|o| o.contains("not in this repository")),
        "{command:?}"
    );
    assert!(!repo.path().join("denied.txt").exists());
    assert!(reply.usage.output_tokens > 0, "{reply:?}");
    assert!(
        reply.estimated_cost > 0.0,
        "the agent's own cost: {reply:?}"
    );
    let session = client.thread(&thread).await.unwrap().metadata["claude_session_id"].clone();
    assert!(!session.is_empty());

    // The second message goes on in the same session: the model sees the first turn.
    // Its command is approved, and runs in the repository.
    mock.script(
        serde_json::json!([{"type": "reply", "match": {"tools": true}, "tool_calls": [
            {"name": "Bash", "arguments": {"command": "echo approved > ran.txt",
                "description": "Leave a mark"}}]}]),
    )
    .await;
    let asking = tokio::spawn({
        let (client, thread) = (client.clone(), thread.clone());
        async move { ask(&client, &thread, "And now leave a mark").await }
    });
    // Approved with the operator's own command in place of the agent's.
    let again = operate(&client, &thread, asking, |_| {
        Ok(Some(serde_json::json!({"command": "echo edited > ran.txt",
            "description": "Leave a mark"})))
    })
    .await;
    assert_eq!(again.status, MessageStatus::Completed, "{again:?}");
    let ran = &again.tool_calls[0];
    assert!(ran.approved, "{ran:?}");
    assert_eq!(ran.status, ToolCallStatus::Completed, "{ran:?}");
    assert!(ran.function.arguments.contains("edited"), "{ran:?}");
    assert_eq!(
        std::fs::read_to_string(repo.path().join("ran.txt"))
            .unwrap()
            .trim(),
        "edited",
        "the agent ran the operator's command"
    );
    assert_eq!(
        client.thread(&thread).await.unwrap().metadata["claude_session_id"],
        session
    );
    let said = mock.last_request_body().await["messages"].to_string();
    assert!(
        said.contains("Write a file, please") && said.contains("made.txt"),
        "the resumed session carries the first turn: {said}"
    );
    server.stop().await;
}

/// Plays the operator until the turn `asking` ends: each call that waits is approved
/// when `decide` says `Ok` (with the arguments it gives, if any), else denied with its
/// reason. The turn's reply.
pub(crate) async fn operate(
    client: &agentdeck::client::Client,
    thread: &str,
    asking: tokio::task::JoinHandle<agentdeck::model::Message>,
    decide: impl Fn(&ToolCall) -> Result<Option<serde_json::Value>, &'static str>,
) -> agentdeck::model::Message {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !asking.is_finished() {
        assert!(
            Instant::now() < deadline,
            "the agent's turn did not end within 120 s"
        );
        // Polled gently: the key has a request rate of its own.
        let messages = client.all_messages(thread).await.unwrap();
        let waiting = messages
            .iter()
            .flat_map(|m| &m.tool_calls)
            .find(|c| c.status == ToolCallStatus::RequiresApproval);
        if let Some(call) = waiting {
            match decide(call) {
                Ok(arguments) => client.approve(thread, &call.id, arguments).await.map(drop),
                Err(why) => client
                    .deny(thread, &call.id, Some(why.into()))
                    .await
                    .map(drop),
            }
            .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    asking.await.unwrap()
}

/// The processes whose working directory is `dir`: the agent and what it started.
pub(crate) fn processes_in(dir: &std::path::Path) -> Vec<u32> {
    let dir = dir.canonicalize().unwrap();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd == dir))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_claude_code_turn_ends_its_whole_process_group() {
    let (mock, server) = claude_server().await;
    let repo = repository();
    let body = claude_coder(
        "slow-coder",
        repo.path(),
        serde_json::json!({"tools": ["Bash", "Read"]}),
    );
    cancel_ends_the_process_group(&mock, &server, &body, repo.path()).await;
    server.stop().await;
}

/// A turn of the coding assistant `body` (working in `workdir`) whose model takes its
/// time is cancelled while it runs: the reply ends incomplete, and every process working
/// in `workdir` — the agent and what it started — is gone.
pub(crate) async fn cancel_ends_the_process_group(
    mock: &crate::llmock::Llmock,
    server: &TestServer,
    body: &agentdeck::model::requests::AssistantCreate,
    workdir: &std::path::Path,
) {
    let (_, client) = server.project("cancelling").await;
    let coder = client.create_assistant(body).await.unwrap();
    let thread = new_thread(&client, &coder.id).await;
    mock.script(serde_json::json!([{"type": "delay", "seconds": 60, "match": {"tools": true}}]))
        .await;
    let reply = crate::support::post(&client, &thread, "Think for a long time").await;
    wait_for_agent(workdir).await;
    client.cancel(&thread).await.unwrap();
    let ended = tokio::time::timeout(
        Duration::from_secs(20),
        crate::support::wait_reply(&client, &thread, &reply),
    )
    .await
    .expect("the cancelled turn ended within 20 s");
    assert_eq!(ended.status, MessageStatus::Incomplete, "{ended:?}");
    wait_for_none(workdir, "the cancel").await;
}

/// Until a process works in `dir` (30 s at most), and a moment more for it to settle.
pub(crate) async fn wait_for_agent(dir: &std::path::Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while processes_in(dir).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the agent did not start within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
}

/// Until no process works in `dir` (10 s at most).
pub(crate) async fn wait_for_none(dir: &std::path::Path, after: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !processes_in(dir).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the agent's processes outlived {after}: {:?}",
            processes_in(dir)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_thread_of_a_worktree_agent_works_in_a_worktree_of_its_own() {
    let (mock, server) = claude_server().await;
    let (_, client) = server.project("worktrees").await;
    let repo = repository();
    let body = claude_coder(
        "branching-coder",
        repo.path(),
        serde_json::json!({"worktree": true, "tools": ["Write"], "permission_mode": "acceptEdits"}),
    );
    let coder = client.create_assistant(&body).await.unwrap();
    let mut trees = Vec::new();
    for (n, thread) in [
        new_thread(&client, &coder.id).await,
        new_thread(&client, &coder.id).await,
    ]
    .into_iter()
    .enumerate()
    {
        // A relative path: the file lands in the thread's own worktree.
        mock.script(
            serde_json::json!([{"type": "reply", "match": {"tools": true}, "tool_calls": [
                {"name": "Write", "arguments": {"file_path": "made.txt",
                    "content": format!("thread {n}\n")}}]}]),
        )
        .await;
        let reply = tokio::time::timeout(
            Duration::from_secs(120),
            ask(&client, &thread, "Write a file, please"),
        )
        .await
        .expect("the turn ended within 120 s");
        assert_eq!(reply.status, MessageStatus::Completed, "{reply:?}");
        trees.push((thread, n));
    }
    let listed = std::process::Command::new("git")
        .args(["worktree", "list", "--porcelain"])
        .current_dir(repo.path())
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&listed.stdout).to_string();
    for (thread, n) in trees {
        let tree = listed
            .lines()
            .filter_map(|l| l.strip_prefix("worktree "))
            .find(|path| path.ends_with(&thread))
            .unwrap_or_else(|| panic!("no worktree for {thread}: {listed}"));
        assert!(
            listed.contains(&format!("branch refs/heads/agentdeck/{thread}")),
            "{listed}"
        );
        let made = std::fs::read_to_string(std::path::Path::new(tree).join("made.txt"))
            .unwrap_or_else(|err| panic!("made.txt in {tree}: {err}"));
        assert_eq!(made.trim(), format!("thread {n}"));
    }
    // The repository itself is untouched.
    assert!(!repo.path().join("made.txt").exists());
    server.stop().await;
}

/// The shim that lets llmock serve the coding agents with their sub-agent tools on
/// (`tests/fixtures/coding/llmock_shim.py`), ended when dropped; its address.
pub(crate) struct Shim(
    #[allow(dead_code)] crate::support::KillOnDrop,
    pub(crate) String,
);

pub(crate) async fn shim(mock: &crate::llmock::Llmock) -> Shim {
    let python = std::env::var("TEST_PYTHON")
        .expect("TEST_PYTHON is not set: this test needs the venv `bash .ci/run` makes");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = std::process::Command::new(python)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/coding/llmock_shim.py"
        ))
        .args([&port.to_string(), &mock.url])
        .spawn()
        .unwrap();
    let shim = Shim(
        crate::support::KillOnDrop(child),
        format!("http://127.0.0.1:{port}"),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            Instant::now() < deadline,
            "the shim did not listen within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    shim
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claude_code_sub_agent_is_a_routed_child_whose_calls_wait_in_its_own_thread() {
    let mock = crate::llmock::start_llmock(&[]).await;
    let shim = shim(&mock).await;
    let server = TestServer::start_with_config(&claude_config(&shim.1)).await;
    let (_, client) = server.project("sub-agents").await;
    let repo = repository();
    let body = claude_coder(
        "lead",
        repo.path(),
        serde_json::json!({"tools": ["Task", "Bash"]}),
    );
    let lead = client.create_assistant(&body).await.unwrap();
    let thread = new_thread(&client, &lead.id).await;
    // The lead hands the work to a sub-agent, whose command needs a permission.
    mock.script(serde_json::json!([
        {"type": "reply", "match": {"tools": true}, "tool_calls": [{"name": "Task",
            "arguments": {"description": "Mark the repository", "prompt": "Leave a mark here",
                "subagent_type": "general-purpose"}}]},
        {"type": "reply", "match": {"tools": true}, "tool_calls": [{"name": "Bash",
            "arguments": {"command": "touch from-the-sub-agent.txt", "description": "Mark"}}]}]))
        .await;
    let asking = tokio::spawn({
        let (client, thread) = (client.clone(), thread.clone());
        async move { ask(&client, &thread, "Delegate the marking").await }
    });
    // The sub-agent's command waits in the sub-agent's thread; the operator approves it.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut approved = false;
    while !asking.is_finished() {
        assert!(
            Instant::now() < deadline,
            "the turn did not end within 120 s"
        );
        let children: Vec<String> = client
            .all_messages(&thread)
            .await
            .unwrap()
            .iter()
            .flat_map(|m| &m.tool_calls)
            .filter_map(|c| c.thread_id.clone())
            .collect();
        for child in children {
            let messages = client.all_messages(&child).await.unwrap();
            let waiting = messages
                .iter()
                .flat_map(|m| &m.tool_calls)
                .find(|c| c.status == ToolCallStatus::RequiresApproval);
            if let Some(call) = waiting {
                client.approve(&child, &call.id, None).await.unwrap();
                approved = true;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let reply = asking.await.unwrap();
    assert!(
        approved,
        "the sub-agent's command waited for the operator: {reply:?}"
    );
    assert_eq!(reply.status, MessageStatus::Completed, "{reply:?}");
    let task = &reply.tool_calls[0];
    assert_eq!(task.function.name, "Task", "{reply:?}");
    assert_eq!(
        task.kind,
        agentdeck::model::ToolCallType::AgentRouting,
        "{task:?}"
    );
    assert_eq!(task.status, ToolCallStatus::Completed, "{task:?}");
    let child = task.thread_id.clone().expect("the route's thread");
    let sub = client
        .assistant(task.target_assistant_id.as_deref().unwrap())
        .await
        .unwrap();
    assert_eq!(sub.name, "lead/general-purpose");
    assert!(
        sub.external,
        "a sub-agent runs only inside its lead's session: {sub:?}"
    );
    assert_eq!(
        client
            .thread(&child)
            .await
            .unwrap()
            .parent_thread_id
            .as_deref(),
        Some(thread.as_str())
    );
    let messages = client.all_messages(&child).await.unwrap();
    let [prompt, answer] = &messages[..] else {
        panic!("the sub-agent's prompt and reply: {messages:?}");
    };
    assert_eq!(prompt.text(), "Leave a mark here");
    assert_eq!(answer.status, MessageStatus::Completed, "{answer:?}");
    assert!(
        !answer.text().is_empty(),
        "the sub-agent's answer: {answer:?}"
    );
    let command = &answer.tool_calls[0];
    assert_eq!(command.function.name, "Bash");
    assert!(
        command.approved && command.status == ToolCallStatus::Completed,
        "{command:?}"
    );
    assert!(repo.path().join("from-the-sub-agent.txt").exists());
    server.stop().await;
}
