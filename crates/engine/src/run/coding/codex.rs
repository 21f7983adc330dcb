//! Codex (`"model": "codex"`): a reply is one turn of a Codex thread, driven through
//! Codex's app-server (JSON-RPC, one JSON object per line on stdio): `initialize`, then
//! `thread/start` — or `thread/resume` with the id the thread keeps — then `turn/start`
//! with the user's message. Its items become the reply: agent messages its text,
//! reasoning its reasoning, command executions, file changes (with their diff), MCP and
//! other tool calls its tool calls. Its approval requests for a command or a patch wait
//! for the operator, and an approval with the command edited runs the operator's command
//! in the thread (`thread/shellCommand`) in place of the agent's.

use super::super::{Outcome, Run};
use super::{AgentProcess, Next, agent_error};
use agentdeck_model::{CodingAgent, ReasoningStep, ToolCallStatus, Usage};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::Path;

/// The thread's metadata key for the Codex thread the next message resumes.
pub(crate) const THREAD_KEY: &str = "codex_thread_id";
/// The provider name agentdeck's own provider has in Codex's config.
const PROVIDER: &str = "agentdeck";
/// The variable that carries that provider's key to Codex.
const PROVIDER_KEY_ENV: &str = "AGENTDECK_PROVIDER_KEY";

/// The app-server's requests this client makes, by id.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Asked {
    Initialize,
    StartThread,
    ResumeThread,
    StartTurn,
    ShellCommand,
}

/// A sub-agent the session spawned: its own thread, a routed child of the turn's, whose
/// reply mirrors the sub-agent's Codex thread.
struct SubAgent {
    run: Run,
    turn: Turn,
}

/// What one turn has seen so far.
#[derive(Default)]
struct Turn {
    /// The Codex thread, once started or resumed.
    thread: Option<String>,
    /// The turn, once started.
    turn: Option<String>,
    /// Requests in flight, by id.
    asked: HashMap<u64, Asked>,
    next_id: u64,
    /// Agent messages whose text came as deltas (their whole text is not added again).
    streamed: std::collections::HashSet<String>,
    /// The agent message the deltas belong to.
    streaming: Option<String>,
    text_started: bool,
    /// Sub-agents running, by their Codex thread.
    children: HashMap<String, SubAgent>,
    /// Sub-agents just spawned, not yet given their thread: the call, their Codex
    /// thread, their prompt.
    spawned: Vec<(String, String, String)>,
    /// How the turn ended, while sub-agents it spawned still work (it ends with them).
    ended: Option<Outcome>,
    /// Output published so far per running command, bounded like a tool's.
    published: HashMap<String, usize>,
    usage: Usage,
    /// The operator's commands (`thread/shellCommand`) asked for and not started yet,
    /// and those running, by item: the turn's end waits for them (the app-server, and
    /// their commands with it, ends with the turn; the model's next answer can come first).
    operator_asked: usize,
    operator_running: std::collections::HashSet<String>,
    /// The turn's own `turn/completed`, held while operator commands run.
    completed: Option<Value>,
}

impl Turn {
    fn operators_running(&self) -> bool {
        self.operator_asked > 0 || !self.operator_running.is_empty()
    }

    fn request(&mut self, what: Asked, method: &str, params: Value) -> Value {
        self.next_id += 1;
        self.asked.insert(self.next_id, what);
        json!({"id": self.next_id, "method": method, "params": params})
    }
}

impl Run {
    /// One turn of the assistant's Codex thread.
    pub(in crate::run) async fn drive_codex(&mut self) -> Outcome {
        let agent = self.assistant.agent.as_deref().cloned().unwrap_or_default();
        let (mut process, workdir) = match self
            .start_agent(&agent, "Codex", "codex", Self::codex_command)
            .await
        {
            Ok(started) => started,
            Err(outcome) => return outcome,
        };
        let mut turn = Turn::default();
        let opening = [
            turn.request(
                Asked::Initialize,
                "initialize",
                json!({"clientInfo": {"name": "agentdeck", "version": env!("CARGO_PKG_VERSION")},
                    "capabilities": null}),
            ),
            json!({"method": "initialized"}),
            self.open_thread(&mut turn, &agent, &workdir),
        ];
        for line in &opening {
            if !process.send(line).await {
                return process.exited().await;
            }
        }
        let outcome = match self
            .read_codex_turn(&mut process, &mut turn, &agent, &workdir)
            .await
        {
            Some(outcome) => outcome,
            None => process.exited().await,
        };
        // Sub-agents still running when the turn ends end with it.
        Run::end_sub_agents(turn.children.into_values().map(|sub| sub.run), &outcome).await;
        outcome
    }

    /// The app-server's lines until the turn's end (`None`: its output ended first, or
    /// its input closed).
    async fn read_codex_turn(
        &mut self,
        process: &mut AgentProcess,
        turn: &mut Turn,
        agent: &CodingAgent,
        workdir: &Path,
    ) -> Option<Outcome> {
        loop {
            let message = match process.next(&self.cancel).await {
                Next::Line(message) => message,
                Next::Ended => return None,
                Next::Cancelled => return Some(Outcome::Cancelled),
            };
            let answers = match self.on_codex_message(&message, turn, agent, workdir).await {
                Ok(answers) => answers,
                Err(outcome) => return Some(outcome),
            };
            for answer in &answers {
                if !process.send(answer).await {
                    return None;
                }
            }
        }
    }

    /// `codex app-server`, with agentdeck's provider for the agent's model when one
    /// speaks OpenAI's Responses, Codex's state under the data dir (so a thread resumes
    /// after a restart), and only the environment it is given.
    fn codex_command(
        &self,
        agent: &CodingAgent,
        workdir: &Path,
    ) -> Result<tokio::process::Command, String> {
        let home = self.agent_dir(&["home"])?;
        let codex_home = self.agent_dir(&["codex"])?;
        let mut command = Self::agent_command(agent, "codex", workdir, &home)?;
        command.arg("app-server");
        command.env("CODEX_HOME", &codex_home);
        let provider = self.agent_provider(
            agent,
            agentdeck_model::config::ProviderKind::OpenaiResponses,
        );
        if let Some((base, key)) = provider {
            // Values are TOML; a JSON string is a TOML string.
            let mut settings = vec![
                format!("model_provider={}", json!(PROVIDER)),
                format!("model_providers.{PROVIDER}.name={}", json!(PROVIDER)),
                format!("model_providers.{PROVIDER}.wire_api=\"responses\""),
            ];
            if let Some(base) = base {
                settings.push(format!(
                    "model_providers.{PROVIDER}.base_url={}",
                    json!(base.trim_end_matches('/'))
                ));
            }
            if let Some(key) = key {
                settings.push(format!(
                    "model_providers.{PROVIDER}.env_key={}",
                    json!(PROVIDER_KEY_ENV)
                ));
                command.env(PROVIDER_KEY_ENV, key);
            }
            for setting in settings {
                command.args(["-c", &setting]);
            }
        }
        // Nothing calls home.
        command.args([
            "-c",
            "check_for_update_on_startup=false",
            "-c",
            "analytics.enabled=false",
        ]);
        command.envs(&agent.env);
        Ok(command)
    }

    /// The request that opens the thread's Codex thread: resumed when the thread has one.
    fn open_thread(&self, turn: &mut Turn, agent: &CodingAgent, workdir: &Path) -> Value {
        let mut params = json!({
            "cwd": workdir.display().to_string(),
            "approvalPolicy": agent.approval_policy.as_deref().unwrap_or("untrusted"),
            "sandbox": agent.sandbox.as_deref().unwrap_or("workspace-write"),
        });
        if let Some(model) = &agent.model {
            params["model"] = json!(model);
        }
        if let Some(instructions) = Some(&self.assistant.instructions).filter(|i| !i.is_empty()) {
            params["developerInstructions"] = json!(instructions);
        }
        match self.thread.metadata.get(THREAD_KEY) {
            Some(id) => {
                params["threadId"] = json!(id);
                turn.request(Asked::ResumeThread, "thread/resume", params)
            }
            None => turn.request(Asked::StartThread, "thread/start", params),
        }
    }

    /// One message from the app-server: what to send back, or the turn's end.
    async fn on_codex_message(
        &mut self,
        message: &Value,
        turn: &mut Turn,
        agent: &CodingAgent,
        workdir: &Path,
    ) -> Result<Vec<Value>, Outcome> {
        let method = message.get("method").and_then(Value::as_str);
        let id = message.get("id");
        match (method, id) {
            (Some(method), Some(id)) => self.codex_request(method, id, message, turn).await,
            (Some(method), None) => {
                let params = message.get("params").unwrap_or(&Value::Null);
                // Another thread's items are a sub-agent's, for its own thread.
                let thread = params.get("threadId").and_then(Value::as_str);
                if let Some(thread) = thread.filter(|t| Some(*t) != turn.thread.as_deref()) {
                    let ended = turn.children.get_mut(thread).and_then(|sub| {
                        sub.run
                            .codex_notification(method, params, &mut sub.turn, agent)
                    });
                    if let Some(outcome) = ended
                        && let Some(sub) = turn.children.remove(thread)
                    {
                        sub.run.finish(outcome).await;
                    }
                    // The last of them done: the turn that waited for them ends.
                    if turn.children.is_empty() {
                        if let Some(outcome) = turn.ended.take() {
                            return Err(outcome);
                        }
                    }
                    return Ok(Vec::new());
                }
                let mut ended = self.codex_notification(method, params, turn, agent);
                // Its sub-agents still working, the turn's end waits for theirs: they
                // live in this app-server, which ends with the turn.
                if !turn.children.is_empty() {
                    turn.ended = ended.take().or(turn.ended.take());
                }
                for (call, thread, prompt) in std::mem::take(&mut turn.spawned) {
                    if let Some(run) = self
                        .routed_sub_agent(&call, "sub-agent", &prompt, &prompt)
                        .await
                    {
                        let sub_turn = Turn {
                            thread: Some(thread.clone()),
                            ..Turn::default()
                        };
                        turn.children.insert(
                            thread,
                            SubAgent {
                                run,
                                turn: sub_turn,
                            },
                        );
                    }
                }
                ended.map_or(Ok(Vec::new()), Err)
            }
            (None, Some(id)) => self.codex_response(id, message, turn, agent, workdir),
            (None, None) => Ok(Vec::new()),
        }
    }

    /// The answer to one of this client's requests.
    fn codex_response(
        &mut self,
        id: &Value,
        message: &Value,
        turn: &mut Turn,
        agent: &CodingAgent,
        workdir: &Path,
    ) -> Result<Vec<Value>, Outcome> {
        let Some(asked) = id.as_u64().and_then(|id| turn.asked.remove(&id)) else {
            return Ok(Vec::new());
        };
        if let Some(error) = message.get("error") {
            let why = error
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("an error");
            return match asked {
                // A thread Codex no longer has (its state was removed): a new one.
                Asked::ResumeThread => {
                    tracing::warn!(thread = %self.thread.id, error = %why, "Codex could not resume the thread's session; starting a new one");
                    let _ = self.engine.update_thread(&self.thread.id, |t| {
                        t.metadata.remove(THREAD_KEY);
                    });
                    self.thread.metadata.remove(THREAD_KEY);
                    Ok(vec![self.open_thread(turn, agent, workdir)])
                }
                // The operator's command did not run: the reply says so.
                Asked::ShellCommand => {
                    self.add_text(
                        &mut turn.text_started,
                        format!("\n\n(The operator's command could not run: {why})"),
                    );
                    turn.operator_asked = turn.operator_asked.saturating_sub(1);
                    match self.held_turn_end(turn, agent) {
                        Some(outcome) => Err(outcome),
                        None => Ok(Vec::new()),
                    }
                }
                _ => Err(Outcome::Failed(agent_error(
                    "agent_failed",
                    format!("Codex refused {asked:?}: {why}"),
                ))),
            };
        }
        let result = message.get("result").unwrap_or(&Value::Null);
        match asked {
            Asked::StartThread | Asked::ResumeThread => {
                let Some(thread) = result.pointer("/thread/id").and_then(Value::as_str) else {
                    return Err(Outcome::Failed(agent_error(
                        "agent_failed",
                        "Codex opened no thread.",
                    )));
                };
                turn.thread = Some(thread.to_string());
                self.keep_session(THREAD_KEY, thread);
                let asked = self.asked().unwrap_or_default();
                Ok(vec![turn.request(
                    Asked::StartTurn,
                    "turn/start",
                    json!({"threadId": thread, "input": [{"type": "text", "text": asked}]}),
                )])
            }
            Asked::StartTurn => {
                turn.turn = result
                    .pointer("/turn/id")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                Ok(Vec::new())
            }
            Asked::Initialize | Asked::ShellCommand => Ok(Vec::new()),
        }
    }

    /// A request of the app-server's: an approval waits for the operator; anything else
    /// is refused (agentdeck answers no questions on the agent's behalf).
    async fn codex_request(
        &mut self,
        method: &str,
        id: &Value,
        message: &Value,
        turn: &mut Turn,
    ) -> Result<Vec<Value>, Outcome> {
        let params = message.get("params").unwrap_or(&Value::Null);
        let refuse = |why: &str| vec![json!({"id": id, "error": {"code": -32601, "message": why}})];
        let decide = |decision: &str| vec![json!({"id": id, "result": {"decision": decision}})];
        let is_command = method == "item/commandExecution/requestApproval";
        if !is_command && method != "item/fileChange/requestApproval" {
            return Ok(refuse("agentdeck does not answer this request"));
        }
        let Some(item) = params.get("itemId").and_then(Value::as_str) else {
            return Ok(refuse("no item"));
        };
        // This reply's call, or a sub-agent's (its request may name this thread or the
        // sub-agent's): the call waits in the thread that has it.
        let asking = params.get("threadId").and_then(Value::as_str);
        let sub_agent = turn
            .children
            .iter()
            .find(|(thread, sub)| {
                Some(thread.as_str()) == asking
                    || sub.run.reply.tool_calls.iter().any(|c| c.id == item)
            })
            .map(|(thread, _)| thread.clone());
        if sub_agent.is_none() && asking.is_some() && asking != turn.thread.as_deref() {
            return Ok(decide("decline"));
        }
        let codex_thread = sub_agent.clone().or_else(|| turn.thread.clone());
        let holder = match sub_agent.and_then(|thread| turn.children.get_mut(&thread)) {
            Some(sub) => &mut sub.run,
            None => self,
        };
        // Asked before its item was announced: the call from the request itself.
        if !holder.reply.tool_calls.iter().any(|c| c.id == item) {
            let arguments = json!({"command": params.get("command"), "cwd": params.get("cwd")});
            holder.agent_call(item.to_string(), "shell", &arguments.to_string());
        }
        let Some(at) = holder.reply.tool_calls.iter().position(|c| c.id == item) else {
            return Ok(refuse("no call"));
        };
        let asked_with = holder.reply.tool_calls[at].function.arguments.clone();
        let Some(decided) = holder.operator_answer(at).await else {
            return Err(Outcome::Cancelled);
        };
        if decided.status == ToolCallStatus::Denied {
            return Ok(decide("decline"));
        }
        // Approved with the command edited: the agent's is declined and the operator's
        // runs in the thread, where the agent sees it and its output.
        let edited = (is_command && decided.function.arguments != asked_with)
            .then(|| serde_json::from_str::<Value>(&decided.function.arguments).ok())
            .flatten()
            .and_then(|a| a.get("command").and_then(Value::as_str).map(str::to_string));
        match (edited, codex_thread) {
            (Some(command), Some(thread)) => {
                let mut answers = decide("decline");
                turn.operator_asked += 1;
                answers.push(turn.request(
                    Asked::ShellCommand,
                    "thread/shellCommand",
                    json!({"threadId": thread, "command": command}),
                ));
                Ok(answers)
            }
            _ => Ok(decide("accept")),
        }
    }

    /// A notification of this thread's: the reply grows, or the turn ends.
    fn codex_notification(
        &mut self,
        method: &str,
        params: &Value,
        turn: &mut Turn,
        agent: &CodingAgent,
    ) -> Option<Outcome> {
        let str_at = |pointer: &str| params.pointer(pointer).and_then(Value::as_str);
        match method {
            "item/agentMessage/delta" => {
                let item = str_at("/itemId").unwrap_or("");
                if turn.streaming.as_deref() != Some(item) {
                    turn.streaming = Some(item.to_string());
                    turn.streamed.insert(item.to_string());
                    turn.text_started = false;
                }
                let delta = str_at("/delta").unwrap_or("").to_string();
                self.add_text(&mut turn.text_started, delta);
            }
            "item/commandExecution/outputDelta" => {
                let item = str_at("/itemId").unwrap_or("");
                let delta = str_at("/delta").unwrap_or("");
                self.codex_output(turn, item, delta);
            }
            "item/started" => self.codex_item(params.get("item")?, turn, false),
            "item/completed" => {
                self.codex_item(params.get("item")?, turn, true);
                return self.held_turn_end(turn, agent);
            }
            "thread/tokenUsage/updated" => {
                // Each model call's own count (`last`); the turn's is their sum.
                let count = |key: &str| {
                    params
                        .pointer(&format!("/tokenUsage/last/{key}"))
                        .and_then(Value::as_u64)
                        .unwrap_or(0)
                };
                turn.usage.input_tokens += count("inputTokens");
                turn.usage.output_tokens += count("outputTokens");
            }
            "turn/completed" => {
                let ours = str_at("/turn/id");
                if turn.turn.is_some() && ours != turn.turn.as_deref() {
                    return None;
                }
                if turn.operators_running() {
                    turn.completed = Some(params.clone());
                    return None;
                }
                return Some(self.codex_turn_end(params, turn, agent));
            }
            _ => {}
        }
        None
    }

    /// A command's output as it comes, published as the call's output (made safe, and
    /// bounded like a tool's).
    fn codex_output(&mut self, turn: &mut Turn, item: &str, delta: &str) {
        let Some(index) = self.reply.tool_calls.iter().position(|c| c.id == item) else {
            return;
        };
        let published = turn.published.entry(item.to_string()).or_default();
        let left = super::RESULT_CHARS.saturating_sub(*published);
        let delta: String = agentdeck_model::text::sanitize(delta)
            .chars()
            .take(left)
            .collect();
        *published += delta.chars().count();
        self.output_delta(index, delta);
    }

    /// The turn's end held for the operator's commands, once the last of them is done.
    fn held_turn_end(&mut self, turn: &mut Turn, agent: &CodingAgent) -> Option<Outcome> {
        if turn.operators_running() {
            return None;
        }
        let params = turn.completed.take()?;
        Some(self.codex_turn_end(&params, turn, agent))
    }

    /// An item begun or done: text, reasoning, or a call of the reply.
    fn codex_item(&mut self, item: &Value, turn: &mut Turn, done: bool) {
        let Some(id) = item.get("id").and_then(Value::as_str).map(str::to_string) else {
            return;
        };
        let text = |key: &str| item.get(key).and_then(Value::as_str).unwrap_or("");
        let kind = text("type");
        if kind == "commandExecution" && text("source") == "userShell" {
            let started = turn.operator_running.contains(&id);
            if !started {
                turn.operator_asked = turn.operator_asked.saturating_sub(1);
            }
            if done {
                turn.operator_running.remove(&id);
            } else {
                turn.operator_running.insert(id.clone());
            }
        }
        match kind {
            "agentMessage" if done && !turn.streamed.contains(&id) => {
                turn.text_started = false;
                let whole = text("text").to_string();
                self.add_text(&mut turn.text_started, whole);
            }
            "reasoning" if done => {
                let strings = |key: &str| -> Vec<String> {
                    item.get(key)
                        .and_then(Value::as_array)
                        .map(|all| {
                            all.iter()
                                .filter_map(Value::as_str)
                                .map(str::to_string)
                                .collect()
                        })
                        .unwrap_or_default()
                };
                let mut said = strings("summary");
                said.extend(strings("content"));
                let thought = said.join("\n\n");
                if !thought.trim().is_empty() {
                    self.reply.reasoning.push(ReasoningStep { text: thought });
                }
            }
            "commandExecution"
            | "fileChange"
            | "mcpToolCall"
            | "dynamicToolCall"
            | "webSearch"
            | "collabAgentToolCall"
            | "imageView" => {
                let (name, arguments) = codex_call(kind, item);
                self.agent_call(id.clone(), &name, &arguments.to_string());
                // A sub-agent spawned: its thread once this notification is read.
                if done && kind == "collabAgentToolCall" && text("tool") == "spawnAgent" {
                    let receivers = item.get("receiverThreadIds").and_then(Value::as_array);
                    for receiver in receivers.into_iter().flatten().filter_map(Value::as_str) {
                        if !turn.children.contains_key(receiver) {
                            let prompt = text("prompt").to_string();
                            turn.spawned
                                .push((id.clone(), receiver.to_string(), prompt));
                        }
                    }
                }
                if done {
                    let (status, output) = codex_result(kind, item);
                    self.agent_call_done(&id, status, &output);
                }
            }
            _ => {}
        }
    }

    /// The turn's end: its tokens (Codex's own counts), and how it ended.
    fn codex_turn_end(&mut self, params: &Value, turn: &mut Turn, agent: &CodingAgent) -> Outcome {
        let model = agent
            .model
            .clone()
            .unwrap_or_else(|| agentdeck_model::CODEX_MODEL.into());
        let usage = std::mem::take(&mut turn.usage);
        self.engine
            .count_usage(&mut self.reply, &self.thread.project_id, &model, usage);
        self.reply.metadata.insert("model".into(), model);
        // Calls Codex left unfinished (an interrupted turn) end with it.
        for call in &mut self.reply.tool_calls {
            if !call.status.is_final() && !call.status.is_waiting() {
                call.status = ToolCallStatus::Cancelled;
            }
        }
        let why = params
            .pointer("/turn/error/message")
            .and_then(Value::as_str)
            .map(str::to_string);
        match params.pointer("/turn/status").and_then(Value::as_str) {
            Some("completed") => Outcome::Completed,
            Some("interrupted") => Outcome::Incomplete(agent_error(
                "agent_interrupted",
                why.unwrap_or_else(|| "Codex interrupted the turn.".into()),
            )),
            _ => Outcome::Failed(agent_error(
                "agent_failed",
                why.unwrap_or_else(|| "Codex reported the turn failed.".into()),
            )),
        }
    }
}

/// A Codex item that is a call: its name and arguments, as the Tools pane shows them.
fn codex_call(kind: &str, item: &Value) -> (String, Value) {
    let field = |key: &str| item.get(key).cloned().unwrap_or(Value::Null);
    match kind {
        "commandExecution" => (
            "shell".into(),
            json!({"command": field("command"), "cwd": field("cwd")}),
        ),
        // The patch, file by file, with its diff.
        "fileChange" => ("apply_patch".into(), json!({"changes": field("changes")})),
        "mcpToolCall" => (
            format!(
                "{}.{}",
                item.get("server").and_then(Value::as_str).unwrap_or("mcp"),
                item.get("tool").and_then(Value::as_str).unwrap_or("tool")
            ),
            field("arguments"),
        ),
        "dynamicToolCall" => (
            item.get("tool")
                .and_then(Value::as_str)
                .unwrap_or("tool")
                .to_string(),
            field("arguments"),
        ),
        "webSearch" => ("web_search".into(), json!({"query": field("query")})),
        "collabAgentToolCall" => (
            item.get("tool")
                .and_then(Value::as_str)
                .unwrap_or("agent")
                .to_string(),
            json!({"prompt": field("prompt"), "receiverThreadIds": field("receiverThreadIds")}),
        ),
        _ => (kind.to_string(), json!({"path": field("path")})),
    }
}

/// A finished Codex call's status and what it gave: a command's output, a patch's diff,
/// a tool's result.
fn codex_result(kind: &str, item: &Value) -> (ToolCallStatus, String) {
    let status = match item.get("status").and_then(Value::as_str) {
        Some("failed") => ToolCallStatus::Failed,
        Some("declined") => ToolCallStatus::Denied,
        _ => ToolCallStatus::Completed,
    };
    let output = match kind {
        "commandExecution" => {
            let out = item
                .get("aggregatedOutput")
                .and_then(Value::as_str)
                .unwrap_or("");
            match item.get("exitCode").and_then(Value::as_i64) {
                Some(code) if code != 0 => format!("{out}\n(exit code {code})"),
                _ => out.to_string(),
            }
        }
        "fileChange" => patch_text(item.get("changes")),
        "mcpToolCall" => match item.get("error").filter(|e| !e.is_null()) {
            Some(error) => error
                .get("message")
                .and_then(Value::as_str)
                .map_or_else(|| error.to_string(), str::to_string),
            None => crate::gateway::content_text(item.pointer("/result/content")),
        },
        _ => item
            .get("result")
            .or_else(|| item.get("contentItems"))
            .map(|r| r.as_str().map_or_else(|| r.to_string(), str::to_string))
            .unwrap_or_default(),
    };
    (status, output)
}

/// A patch's changes as one unified diff, a header per file.
fn patch_text(changes: Option<&Value>) -> String {
    let Some(changes) = changes.and_then(Value::as_array) else {
        return String::new();
    };
    let mut text = String::new();
    for change in changes {
        let path = change.get("path").and_then(Value::as_str).unwrap_or("?");
        let kind = change
            .pointer("/kind/type")
            .and_then(Value::as_str)
            .unwrap_or("update");
        let diff = change.get("diff").and_then(Value::as_str).unwrap_or("");
        text.push_str(&format!("{kind} {path}\n{diff}"));
        if !diff.ends_with('\n') {
            text.push('\n');
        }
    }
    text
}
