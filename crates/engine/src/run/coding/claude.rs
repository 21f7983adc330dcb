//! Claude Code (`"model": "claude-code"`): a reply is one turn of a headless Claude Code
//! session (`claude -p`, JSON lines in and out, `--resume` with the thread's session id).
//! Its permission requests come on its own output (`--permission-prompt-tool stdio`)
//! and are answered on its input.

use super::super::{Outcome, Run};
use super::{AgentProcess, Next, agent_error};
use agentdeck_model::{CodingAgent, ReasoningStep, ToolCallStatus, Usage};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::path::Path;

/// The agent's tools when the assistant names none.
const DEFAULT_TOOLS: &[&str] = &["Bash", "Read", "Edit", "Write", "Glob", "Grep"];
/// The thread's metadata key for the session the next message resumes.
pub(crate) const SESSION_KEY: &str = "claude_session_id";

/// Claude Code's tools that start a sub-agent (`Task`, named `Agent` in later versions).
const SUB_AGENT_TOOLS: &[&str] = &["Task", "Agent"];

/// A sub-agent the session started: its own thread, a routed child of the turn's, whose
/// reply mirrors what the sub-agent does.
struct SubAgent {
    run: Run,
    turn: Turn,
}

/// What one turn has seen so far.
#[derive(Default)]
struct Turn {
    /// Sub-agents running, by the call that started them.
    children: std::collections::HashMap<String, SubAgent>,
    /// Calls that start a sub-agent, seen but not yet given their thread: their inputs.
    starting: Vec<(String, Value)>,
    /// Sub-agents whose call has its result: their answers.
    ended: Vec<(String, String)>,
    /// The calls that started the session's sub-agents, by the sub-agent's id (its
    /// permission requests name it).
    tasks: std::collections::HashMap<String, String>,
    /// Agent messages whose text came as stream deltas (their whole text is not added again).
    streamed: HashSet<String>,
    /// The agent message the stream deltas belong to.
    streaming: Option<String>,
    /// This agent message's text has begun (later messages' text is set off from it).
    text_started: bool,
}

impl Run {
    /// One turn of the assistant's Claude Code session.
    pub(in crate::run) async fn drive_claude_code(&mut self) -> Outcome {
        let agent = self.assistant.agent.as_deref().cloned().unwrap_or_default();
        let (mut process, _) = match self
            .start_agent(&agent, "Claude Code", "claude", Self::claude_command)
            .await
        {
            Ok(started) => started,
            Err(outcome) => return outcome,
        };
        // One user message; the input stays open for the operator's answers to its
        // permission requests, and closes with the turn's result.
        let asked = self.asked().unwrap_or_default();
        let line = json!({"type": "user", "message": {"role": "user", "content": asked}});
        if !process.send(&line).await {
            return process.exited().await;
        }
        let mut turn = Turn::default();
        let outcome = match self.read_claude_turn(&mut process, &mut turn, &agent).await {
            Some(outcome) => outcome,
            None => process.exited().await,
        };
        // Sub-agents the session left without an answer end with it.
        Run::end_sub_agents(turn.children.into_values().map(|sub| sub.run), &outcome).await;
        outcome
    }

    /// The session's lines until the turn's end (`None`: the agent's output ended first,
    /// or its input closed).
    async fn read_claude_turn(
        &mut self,
        process: &mut AgentProcess,
        turn: &mut Turn,
        agent: &CodingAgent,
    ) -> Option<Outcome> {
        loop {
            let event = match process.next(&self.cancel).await {
                Next::Line(event) => event,
                Next::Ended => return None,
                Next::Cancelled => return Some(Outcome::Cancelled),
            };
            if event.get("type").and_then(Value::as_str) == Some("control_request") {
                let Some(answer) = self.agent_permission(&event, turn).await else {
                    return Some(Outcome::Cancelled);
                };
                if !process.send(&answer).await {
                    return None;
                }
                continue;
            }
            // A sub-agent's line goes to its own thread.
            if let Some(parent) = event.get("parent_tool_use_id").and_then(Value::as_str) {
                if let Some(SubAgent { run, turn }) = turn.children.get_mut(parent) {
                    run.on_agent_event(&event, turn, agent);
                }
                continue;
            }
            if let Some(outcome) = self.on_agent_event(&event, turn, agent) {
                return Some(outcome);
            }
            for (call, input) in std::mem::take(&mut turn.starting) {
                if let Some(sub) = self.start_sub_agent(&call, &input).await {
                    turn.children.insert(call, sub);
                }
            }
            for (call, answer) in std::mem::take(&mut turn.ended) {
                if let Some(mut sub) = turn.children.remove(&call) {
                    // Its last words come only in the call's result.
                    if sub.run.reply.text().is_empty() {
                        sub.run.add_text(&mut sub.turn.text_started, answer);
                    }
                    sub.run.finish(Outcome::Completed).await;
                }
            }
        }
    }

    /// The sub-agent a `Task` call starts, as a routed child of this reply.
    async fn start_sub_agent(&mut self, call: &str, input: &Value) -> Option<SubAgent> {
        let text = |key: &str| input.get(key).and_then(Value::as_str).unwrap_or("");
        let kind = Some(text("subagent_type"))
            .filter(|k| !k.is_empty())
            .unwrap_or("general-purpose");
        let title = Some(text("description"))
            .filter(|d| !d.is_empty())
            .unwrap_or(text("prompt"));
        let run = self
            .routed_sub_agent(call, kind, text("prompt"), title)
            .await?;
        Some(SubAgent {
            run,
            turn: Turn::default(),
        })
    }

    /// `claude -p` in stream-json both ways, resuming the thread's session, with only
    /// the environment it is given.
    fn claude_command(
        &self,
        agent: &CodingAgent,
        workdir: &Path,
    ) -> Result<tokio::process::Command, String> {
        let home = self.agent_dir(&["home"])?;
        let mut command = Self::agent_command(agent, "claude", workdir, &home)?;
        let tools = agent
            .tools
            .clone()
            .unwrap_or_else(|| DEFAULT_TOOLS.iter().map(|t| t.to_string()).collect());
        command.args([
            "-p",
            "--output-format",
            "stream-json",
            "--input-format",
            "stream-json",
            "--verbose",
            "--include-partial-messages",
            "--tools",
            &tools.join(","),
            "--permission-mode",
            agent.permission_mode.as_deref().unwrap_or("default"),
            // Its permission requests come to agentdeck, on its own output.
            "--permission-prompt-tool",
            "stdio",
        ]);
        if let Some(model) = &agent.model {
            command.args(["--model", model]);
        }
        if let Some(session) = self.thread.metadata.get(SESSION_KEY) {
            command.args(["--resume", session]);
        }
        // Nothing of agentdeck's own leaves; nothing calls home.
        for (name, value) in [
            ("DISABLE_TELEMETRY", "1"),
            ("DISABLE_AUTOUPDATER", "1"),
            ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1"),
        ] {
            command.env(name, value);
        }
        // The provider of agentdeck's config that serves the agent's model.
        let provider = self.agent_provider(agent, agentdeck_model::config::ProviderKind::Anthropic);
        if let Some((base, key)) = provider {
            if let Some(base) = base {
                let base = base.trim_end_matches('/');
                command.env(
                    "ANTHROPIC_BASE_URL",
                    base.strip_suffix("/v1").unwrap_or(base),
                );
            }
            if let Some(key) = key {
                command.env("ANTHROPIC_API_KEY", key);
            }
        }
        command.envs(&agent.env);
        Ok(command)
    }

    /// One line of the agent's output; `Some` when the turn ended.
    fn on_agent_event(
        &mut self,
        event: &Value,
        turn: &mut Turn,
        agent: &CodingAgent,
    ) -> Option<Outcome> {
        let text = |value: Option<&Value>| crate::gateway::content_text(value);
        match event.get("type").and_then(Value::as_str).unwrap_or("") {
            "system" => {
                if event.get("subtype").and_then(Value::as_str) == Some("task_started") {
                    let task = event.get("task_id").and_then(Value::as_str)?;
                    let call = event.get("tool_use_id").and_then(Value::as_str)?;
                    turn.tasks.insert(task.to_string(), call.to_string());
                }
                let session = event.get("session_id").and_then(Value::as_str)?;
                self.keep_session(SESSION_KEY, session);
            }
            "stream_event" => {
                let inner = event.get("event")?;
                match inner.get("type").and_then(Value::as_str) {
                    Some("message_start") => {
                        turn.streaming = inner
                            .pointer("/message/id")
                            .and_then(Value::as_str)
                            .map(str::to_string);
                        turn.text_started = false;
                    }
                    Some("content_block_delta") => {
                        let delta = inner.pointer("/delta/text").and_then(Value::as_str)?;
                        if let Some(id) = &turn.streaming {
                            turn.streamed.insert(id.clone());
                        }
                        self.agent_text(turn, delta);
                    }
                    _ => {}
                }
            }
            "assistant" => {
                let message = event.get("message")?;
                let id = message.get("id").and_then(Value::as_str).unwrap_or("");
                let streamed = turn.streamed.contains(id);
                if !streamed {
                    turn.text_started = false;
                }
                let blocks = message.get("content").and_then(Value::as_array)?;
                for block in blocks {
                    match block.get("type").and_then(Value::as_str) {
                        Some("text") if !streamed => {
                            self.agent_text(turn, &text(block.get("text")));
                        }
                        Some("thinking") => {
                            let thought = text(block.get("thinking"));
                            if !thought.is_empty() {
                                self.reply.reasoning.push(ReasoningStep { text: thought });
                            }
                        }
                        Some("tool_use") => self.agent_tool_use(block, turn),
                        _ => {}
                    }
                }
            }
            "user" => {
                let blocks = event
                    .pointer("/message/content")
                    .and_then(Value::as_array)?;
                for block in blocks {
                    if block.get("type").and_then(Value::as_str) == Some("tool_result") {
                        self.agent_tool_result(block, turn);
                    }
                }
            }
            "result" => return Some(self.agent_result(event, agent)),
            _ => {}
        }
        None
    }

    /// The agent asks whether it may use a tool: the call waits in the workspace for the
    /// operator (approve, with the arguments edited or not, or deny), and the answer goes
    /// back to the agent. `None` when the run was cancelled meanwhile.
    async fn agent_permission(&mut self, event: &Value, turn: &mut Turn) -> Option<Value> {
        let request_id = event.get("request_id").cloned().unwrap_or(Value::Null);
        let request = event.get("request").cloned().unwrap_or(Value::Null);
        let answer = |response: Value| {
            json!({"type": "control_response", "response": {"subtype": "success",
                "request_id": request_id, "response": response}})
        };
        if request.get("subtype").and_then(Value::as_str) != Some("can_use_tool") {
            // Another control request: not one agentdeck answers.
            return Some(
                json!({"type": "control_response", "response": {"subtype": "error",
                "request_id": request_id, "error": "not supported"}}),
            );
        }
        let tool = request
            .get("tool_name")
            .and_then(Value::as_str)
            .unwrap_or("");
        let input = request.get("input").cloned().unwrap_or_else(|| json!({}));
        let wanted = request.get("tool_use_id").and_then(Value::as_str);
        let find = |run: &Run| {
            run.reply.tool_calls.iter().rposition(|c| match wanted {
                Some(id) => c.id == id,
                None => c.function.name == tool && c.status == ToolCallStatus::InProgress,
            })
        };
        // A sub-agent's request (it names the sub-agent) waits in the sub-agent's thread;
        // it may come before the sub-agent's message with the call, which then is made
        // from the request.
        let sub_agent = request
            .get("agent_id")
            .and_then(Value::as_str)
            .and_then(|agent| turn.tasks.get(agent))
            .cloned();
        let holder = match sub_agent.and_then(|call| turn.children.get_mut(&call)) {
            Some(sub) => &mut sub.run,
            None => self,
        };
        let at = find(holder).or_else(|| {
            let id = wanted?;
            holder.agent_call(id.to_string(), tool, &input.to_string());
            holder.reply.tool_calls.iter().rposition(|c| c.id == id)
        });
        let Some(at) = at else {
            let message = "agentdeck found no call this request is for.";
            return Some(answer(json!({"behavior": "deny", "message": message})));
        };
        let decided = holder.operator_answer(at).await?;
        if decided.status == ToolCallStatus::Denied {
            let why = decided
                .output
                .unwrap_or_else(|| "The operator denied this call.".into());
            return Some(answer(json!({"behavior": "deny", "message": why})));
        }
        // Approved, perhaps with the operator's own arguments.
        let updated = serde_json::from_str::<Value>(&decided.function.arguments)
            .ok()
            .filter(Value::is_object)
            .unwrap_or(input);
        Some(answer(
            json!({"behavior": "allow", "updatedInput": updated}),
        ))
    }

    fn agent_text(&mut self, turn: &mut Turn, delta: &str) {
        self.add_text(&mut turn.text_started, delta.to_string());
    }

    /// A tool the agent runs: a call of the reply, running until its result comes.
    /// A call that starts a sub-agent is given its thread once this line is read.
    fn agent_tool_use(&mut self, block: &Value, turn: &mut Turn) {
        let id = block
            .get("id")
            .and_then(Value::as_str)
            .map_or_else(|| agentdeck_model::new_id("call_"), str::to_string);
        let name = block.get("name").and_then(Value::as_str).unwrap_or("tool");
        let arguments = block
            .get("input")
            .map_or_else(|| "{}".to_string(), Value::to_string);
        let known = self.reply.tool_calls.iter().any(|c| c.id == id);
        self.agent_call(id.clone(), name, &arguments);
        if !known && SUB_AGENT_TOOLS.contains(&name) {
            turn.starting
                .push((id, block.get("input").cloned().unwrap_or(Value::Null)));
        }
    }

    /// A call's result; a sub-agent's call's result is its answer, and its end.
    fn agent_tool_result(&mut self, block: &Value, turn: &mut Turn) {
        let Some(id) = block.get("tool_use_id").and_then(Value::as_str) else {
            return;
        };
        let failed = block.get("is_error").and_then(Value::as_bool) == Some(true);
        let output = crate::gateway::content_text(block.get("content"));
        if turn.children.contains_key(id) {
            turn.ended
                .push((id.to_string(), sub_agent_answer(block.get("content"))));
        }
        let status = if failed {
            ToolCallStatus::Failed
        } else {
            ToolCallStatus::Completed
        };
        self.agent_call_done(id, status, &output);
    }

    /// The turn's end: its tokens and cost as the agent reports them.
    fn agent_result(&mut self, event: &Value, agent: &CodingAgent) -> Outcome {
        let count = |key: &str| {
            event
                .pointer(&format!("/usage/{key}"))
                .and_then(Value::as_u64)
                .unwrap_or(0)
        };
        let usage = Usage {
            input_tokens: count("input_tokens")
                + count("cache_creation_input_tokens")
                + count("cache_read_input_tokens"),
            output_tokens: count("output_tokens"),
        };
        let model = agent
            .model
            .clone()
            .unwrap_or_else(|| agentdeck_model::CLAUDE_CODE_MODEL.into());
        self.engine
            .count_usage(&mut self.reply, &self.thread.project_id, &model, usage);
        // The agent's own price of the turn, when it gives one.
        if let Some(cost) = event.get("total_cost_usd").and_then(Value::as_f64) {
            self.reply.estimated_cost = cost;
        }
        self.reply.metadata.insert("model".into(), model);
        if event.get("is_error").and_then(Value::as_bool) == Some(true) {
            let why = event
                .get("result")
                .and_then(Value::as_str)
                .unwrap_or("Claude Code reported an error.");
            return Outcome::Failed(agent_error("agent_failed", why));
        }
        Outcome::Completed
    }
}

/// A sub-agent's answer in its call's result: the text, without the note Claude Code
/// adds for the model (`agentId: …`).
fn sub_agent_answer(content: Option<&Value>) -> String {
    match content {
        Some(Value::Array(blocks)) => blocks
            .iter()
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .filter(|t| !t.trim_start().starts_with("agentId:"))
            .collect::<Vec<_>>()
            .join("\n\n"),
        other => crate::gateway::content_text(other),
    }
}
