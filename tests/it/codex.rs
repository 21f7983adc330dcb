//! Codex as an assistant: the real Codex (`codex app-server`, as `bash .ci/run` installs it
//! from npm) pointed at llmock's Responses through agentdeck's config, in a temporary git
//! repository. Its commands and patches are tool calls that wait for the operator; an
//! approved patch is made, a denied command never runs, an edited command runs as the
//! operator wrote it, a second message resumes the same Codex thread, a cancel ends its
//! process group and a `serve` killed with SIGKILL leaves no Codex behind.

use crate::coding::{operate, repository, wait_for_agent, wait_for_none};
use crate::support::{TestServer, new_thread};
use agentdeck::model::{MessageStatus, ToolCallStatus};
use std::time::{Duration, Instant};

pub(crate) fn codex() -> String {
    std::env::var("CODEX_BIN")
        .expect("CODEX_BIN is not set: this test needs the Codex that `bash .ci/run` installs")
}

/// The config whose provider serves Codex's model: the Responses of the llmock (or the
/// shim in front of it) at `url`.
pub(crate) fn codex_config(url: &str) -> String {
    format!(
        "[providers.responses]\nkind = \"openai-responses\"\nbase_url = \"{url}/v1\"\napi_key_env = \"HOME\"\nmodels = [\"gpt-*\"]\n"
    )
}

/// llmock, and a server whose config points Codex's model at it.
async fn codex_server() -> (crate::llmock::Llmock, TestServer) {
    crate::coding::mock_server(codex_config).await
}

pub(crate) fn coder(
    repo: &std::path::Path,
    name: &str,
) -> agentdeck::model::requests::AssistantCreate {
    serde_json::from_value(serde_json::json!({
        "name": name,
        "model": "codex",
        "agent": {"workdir": repo.display().to_string(), "command": [codex()],
            "model": "gpt-5.1-codex"},
    }))
    .unwrap()
}

/// A patch in the form Codex's `apply_patch` takes, run as a command (Codex makes it a
/// file change).
pub(crate) fn apply_patch() -> serde_json::Value {
    let patch = "*** Begin Patch\n*** Update File: README.md\n@@\n-hello\n+hello world\n*** Add File: notes.txt\n+from codex\n*** End Patch\n";
    serde_json::json!({"cmd": format!("apply_patch <<'EOF'\n{patch}EOF\n")})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_runs_as_an_assistant_and_its_commands_and_patches_wait_for_the_operator() {
    let (mock, server) = codex_server().await;
    let (_, client) = server.project("codex").await;
    let repo = repository();
    let coder = client
        .create_assistant(&coder(repo.path(), "codex-coder"))
        .await
        .unwrap();
    let thread = new_thread(&client, &coder.id).await;

    // The model patches two files and runs a command: the operator approves the patch and
    // denies the command.
    mock.script(
        serde_json::json!([{"type": "reply", "match": {"tools": true}, "tool_calls": [
        {"name": "exec_command", "arguments": apply_patch()},
        {"name": "exec_command", "arguments": {"cmd": "touch denied.txt"}}]}]),
    )
    .await;
    let asking = tokio::spawn({
        let (client, thread) = (client.clone(), thread.clone());
        async move { crate::support::ask(&client, &thread, "Patch the readme, please").await }
    });
    let reply = operate(&client, &thread, asking, |call| {
        (call.function.name == "apply_patch")
            .then_some(None)
            .ok_or("not in this repository")
    })
    .await;
    assert_eq!(reply.status, MessageStatus::Completed, "{reply:?}");
    assert!(!reply.text().is_empty(), "{reply:?}");
    let Some(patch) = reply
        .tool_calls
        .iter()
        .find(|c| c.function.name == "apply_patch")
    else {
        // Seen once in CI, under load: Codex's request got llmock's default reply, as if
        // the scripted one had gone to an earlier request. What llmock saw says which.
        panic!("a patch: {reply:?}\nllmock saw:\n{}", mock.summary().await);
    };
    assert!(patch.approved, "{patch:?}");
    assert_eq!(patch.status, ToolCallStatus::Completed, "{patch:?}");
    assert!(patch.function.arguments.contains("README.md"), "{patch:?}");
    let diff = patch.output.as_deref().unwrap_or("");
    assert!(
        diff.contains("+hello world") && diff.contains("notes.txt"),
        "the diff: {diff}"
    );
    assert_eq!(
        std::fs::read_to_string(repo.path().join("README.md")).unwrap(),
        "hello world\n",
        "the patch was made in the repository"
    );
    let command = reply
        .tool_calls
        .iter()
        .find(|c| c.function.name == "shell")
        .unwrap_or_else(|| panic!("a command: {reply:?}"));
    assert!(
        command.function.arguments.contains("touch denied.txt"),
        "{command:?}"
    );
    assert_eq!(command.status, ToolCallStatus::Denied, "{command:?}");
    assert!(
        !repo.path().join("denied.txt").exists(),
        "a denied command never runs"
    );
    assert!(
        reply.usage.input_tokens > 0 && reply.usage.output_tokens > 0,
        "{reply:?}"
    );
    let session = client.thread(&thread).await.unwrap().metadata["codex_thread_id"].clone();
    assert!(!session.is_empty());

    // The second message goes on in the same Codex thread; its command is approved with
    // the operator's own command in place of the agent's, which is what runs.
    mock.script(
        serde_json::json!([{"type": "reply", "match": {"tools": true}, "tool_calls": [
        {"name": "exec_command", "arguments": {"cmd": "echo approved > ran.txt"}}]}]),
    )
    .await;
    let asking = tokio::spawn({
        let (client, thread) = (client.clone(), thread.clone());
        async move { crate::support::ask(&client, &thread, "And now leave a mark").await }
    });
    let again = operate(&client, &thread, asking, |_| {
        Ok(Some(
            serde_json::json!({"command": "echo edited > ran.txt"}),
        ))
    })
    .await;
    assert_eq!(again.status, MessageStatus::Completed, "{again:?}");
    let ran = &again.tool_calls[0];
    assert!(ran.approved, "{ran:?}");
    assert!(ran.function.arguments.contains("edited"), "{ran:?}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(repo.path().join("ran.txt")).is_err() {
        assert!(
            Instant::now() < deadline,
            "the operator's command did not run: {again:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        std::fs::read_to_string(repo.path().join("ran.txt"))
            .unwrap()
            .trim(),
        "edited",
        "the operator's command ran, not the agent's"
    );
    assert_eq!(
        client.thread(&thread).await.unwrap().metadata["codex_thread_id"],
        session
    );
    let said = mock.last_request_body().await["input"].to_string();
    assert!(
        said.contains("Patch the readme, please") && said.contains("And now leave a mark"),
        "the resumed thread carries the first turn: {said}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_codex_sub_agent_is_a_routed_child_whose_commands_wait_in_its_own_thread() {
    let mock = crate::llmock::start_llmock(&[]).await;
    // Codex offers its sub-agent tools in a namespace, which llmock does not read.
    let shim = crate::coding::shim(&mock).await;
    let server = TestServer::start_with_config(&codex_config(&shim.1)).await;
    let (_, client) = server.project("codex-sub-agents").await;
    let repo = repository();
    let lead = client
        .create_assistant(&coder(repo.path(), "lead"))
        .await
        .unwrap();
    let thread = new_thread(&client, &lead.id).await;
    // The lead spawns a sub-agent. Then the lead and the sub-agent each ask llmock at
    // once, in either order: both are given the same command, which needs the operator.
    let command = serde_json::json!({"name": "exec_command",
        "arguments": {"cmd": "touch from-the-sub-agent.txt"}});
    mock.script(serde_json::json!([
        {"type": "reply", "match": {"tools": true}, "tool_calls": [
            {"name": "spawn_agent", "arguments": {"message": "Leave a mark in the repository"}}]},
        {"type": "reply", "match": {"tools": true}, "tool_calls": [command]},
        {"type": "reply", "match": {"tools": true}, "tool_calls": [command]}]))
        .await;
    let reply = crate::support::post(&client, &thread, "Delegate the marking").await;
    // The sub-agent's command waits in its own thread (the lead's in the lead's); the
    // operator approves each where it waits.
    let deadline = Instant::now() + Duration::from_secs(120);
    let (child, answer) = loop {
        let lead_reply = client.message(&thread, &reply).await.unwrap();
        let child = lead_reply
            .tool_calls
            .iter()
            .find_map(|c| c.thread_id.clone());
        if Instant::now() > deadline {
            let theirs = match &child {
                Some(child) => format!("{:#?}", client.all_messages(child).await),
                None => "no thread".into(),
            };
            panic!("the sub-agent did not answer within 120 s: {lead_reply:#?}\n{theirs}");
        }
        for at in std::iter::once(thread.clone()).chain(child.clone()) {
            let messages = client.all_messages(&at).await.unwrap();
            let waiting = messages
                .iter()
                .flat_map(|m| &m.tool_calls)
                .find(|c| c.status == ToolCallStatus::RequiresApproval);
            if let Some(call) = waiting {
                client.approve(&at, &call.id, None).await.unwrap();
            }
        }
        if let Some(child) = child {
            let messages = client.all_messages(&child).await.unwrap();
            let done = messages
                .iter()
                .find(|m| m.role == agentdeck::model::Role::Assistant && m.status.is_final());
            if let Some(answer) = done {
                break (child, answer.clone());
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(answer.status, MessageStatus::Completed, "{answer:?}");
    assert!(
        !answer.text().is_empty(),
        "the sub-agent's answer: {answer:?}"
    );
    let command = &answer.tool_calls[0];
    assert!(
        command
            .function
            .arguments
            .contains("from-the-sub-agent.txt"),
        "{command:?}"
    );
    assert!(
        command.approved && command.status == ToolCallStatus::Completed,
        "{command:?}"
    );
    assert!(repo.path().join("from-the-sub-agent.txt").exists());
    let lead_reply = crate::support::wait_reply(&client, &thread, &reply).await;
    assert_eq!(
        lead_reply.status,
        MessageStatus::Completed,
        "{lead_reply:?}"
    );
    let spawn = lead_reply
        .tool_calls
        .iter()
        .find(|c| c.thread_id.as_deref() == Some(child.as_str()))
        .unwrap();
    assert_eq!(
        spawn.kind,
        agentdeck::model::ToolCallType::AgentRouting,
        "{spawn:?}"
    );
    let sub = client
        .assistant(spawn.target_assistant_id.as_deref().unwrap())
        .await
        .unwrap();
    assert_eq!(sub.name, "lead/sub-agent");
    assert!(sub.external, "{sub:?}");
    let child_thread = client.thread(&child).await.unwrap();
    assert_eq!(
        child_thread.parent_thread_id.as_deref(),
        Some(thread.as_str())
    );
    let messages = client.all_messages(&child).await.unwrap();
    assert_eq!(messages[0].text(), "Leave a mark in the repository");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_assistant_hands_work_to_codex_by_routing() {
    let (mock, server) = codex_server().await;
    let (_, client) = server.project("codex-routed").await;
    let repo = repository();
    let codex = client
        .create_assistant(&coder(repo.path(), "codex-coder"))
        .await
        .unwrap();
    let mut triage =
        crate::support::assistant("triage", serde_json::json!([]), vec![codex.id.clone()]);
    triage.model = "gpt-4o".into();
    let triage = client.create_assistant(&triage).await.unwrap();
    let thread = new_thread(&client, &triage.id).await;
    // Triage (a model through agentdeck) routes the work; Codex answers it in its thread.
    mock.script(serde_json::json!([
        {"type": "reply", "match": {"tools": true}, "tool_calls": [{"name": "route_to_assistant",
            "arguments": {"assistant": "codex-coder", "message": "Summarise the repository"}}]},
        {"type": "reply", "match": {"tools": true}, "text": "The repository holds a README."}]))
        .await;
    let reply = tokio::time::timeout(
        Duration::from_secs(120),
        crate::support::ask(&client, &thread, "What is in the repository?"),
    )
    .await
    .expect("the turn ended within 120 s");
    assert_eq!(reply.status, MessageStatus::Completed, "{reply:?}");
    let hop = &reply.tool_calls[0];
    assert_eq!(
        hop.kind,
        agentdeck::model::ToolCallType::AgentRouting,
        "{hop:?}"
    );
    assert_eq!(hop.target_assistant_id.as_deref(), Some(codex.id.as_str()));
    assert!(
        hop.output
            .as_deref()
            .is_some_and(|o| o.contains("The repository holds a README.")),
        "Codex's answer is the hop's result: {hop:?}"
    );
    let child = hop.thread_id.clone().expect("the routed thread");
    let answer = client.all_messages(&child).await.unwrap().pop().unwrap();
    assert_eq!(answer.assistant_id.as_deref(), Some(codex.id.as_str()));
    assert!(
        client
            .thread(&child)
            .await
            .unwrap()
            .metadata
            .contains_key("codex_thread_id")
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_codex_turn_ends_its_whole_process_group() {
    let (mock, server) = codex_server().await;
    let repo = repository();
    let body = coder(repo.path(), "slow-codex");
    crate::coding::cancel_ends_the_process_group(&mock, &server, &body, repo.path()).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_that_dies_mid_turn_leaves_the_reply_incomplete_with_its_stderr() {
    let server = TestServer::start().await;
    let (_, client) = server.project("codex-crash").await;
    let repo = repository();
    // A "Codex" that dies at once, saying why on stderr.
    let body: agentdeck::model::requests::AssistantCreate =
        serde_json::from_value(serde_json::json!({
            "name": "crashing", "model": "codex",
            "agent": {"workdir": repo.path().display().to_string(),
                "command": ["sh", "-c", "echo 'out of memory, giving up' >&2; exit 3", "sh"]},
        }))
        .unwrap();
    let coder = client.create_assistant(&body).await.unwrap();
    let thread = new_thread(&client, &coder.id).await;
    let reply = tokio::time::timeout(
        Duration::from_secs(30),
        crate::support::ask(&client, &thread, "Do something"),
    )
    .await
    .expect("the turn ended within 30 s");
    assert_eq!(reply.status, MessageStatus::Incomplete, "{reply:?}");
    let error = reply
        .error
        .as_ref()
        .map(|e| e.message.clone())
        .unwrap_or_default();
    assert!(
        error.contains("out of memory, giving up") && error.contains('3'),
        "the exit and the stderr tail: {error}"
    );
    server.stop().await;
}

/// A real `serve` killed with SIGKILL — nothing of its own runs to end anything — takes
/// its coding agents with it: Codex and Claude Code, mid-turn.
#[test]
fn a_serve_killed_with_sigkill_leaves_no_coding_agent_behind() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mock = rt.block_on(crate::llmock::start_llmock(&[]));
    let config = format!(
        "{}\n{}",
        codex_config(&mock.url),
        crate::coding::claude_config(&mock.url)
    );
    let (server, info, _, key) = crate::support::serve_with_project(
        &rt,
        dir.path(),
        &config,
        "coding-kill-admin-key-0123456789abcdef",
        "killed",
    );
    let client = agentdeck::client::Client::new(&info.url, &key);
    rt.block_on(mock.script(serde_json::json!([
        {"type": "delay", "seconds": 60, "match": {"tools": true}},
        {"type": "delay", "seconds": 60, "match": {"tools": true}}])));
    let codex_repo = repository();
    let claude_repo = repository();
    let claude = crate::coding::claude_coder(
        "claude-coder",
        claude_repo.path(),
        serde_json::json!({"tools": ["Bash"]}),
    );
    for (body, repo) in [
        (coder(codex_repo.path(), "codex-coder"), &codex_repo),
        (claude, &claude_repo),
    ] {
        let assistant = rt.block_on(client.create_assistant(&body)).unwrap();
        let thread = rt.block_on(new_thread(&client, &assistant.id));
        rt.block_on(crate::support::post(
            &client,
            &thread,
            "Think for a long time",
        ));
        rt.block_on(wait_for_agent(repo.path()));
    }
    drop(server);
    rt.block_on(wait_for_none(codex_repo.path(), "serve (Codex)"));
    rt.block_on(wait_for_none(claude_repo.path(), "serve (Claude Code)"));
}
