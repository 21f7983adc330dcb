//! Coding agents as an assistant's model: a reply is one turn of a headless agent's
//! session — Claude Code (`"model": "claude-code"`, [`claude`]) or Codex (`"model":
//! "codex"`, [`codex`]). Its text streams into the reply, the commands it runs and the
//! files it edits are the reply's tool calls with their results, what it asks permission
//! for waits for the operator like any approval, and the thread keeps the session id so
//! the next message resumes the same session. What both share is here: the directory it
//! works in, its process group — ended on cancel, on shutdown and when this process dies,
//! even by SIGKILL — an environment of only what it is given, and the operator's answer.

mod claude;
mod codex;

use super::Run;
use crate::Engine;
use agentdeck_model::{
    CodingAgent, ErrorBody, EventPayload, ToolCall, ToolCallStatus, ToolCallType,
};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};

/// How much of the agent's stderr a failed reply quotes.
const STDERR_TAIL: usize = 2000;
/// How much of a tool's result the reply keeps.
const RESULT_CHARS: usize = 64 * 1024;

fn agent_error(code: &str, message: impl Into<String>) -> ErrorBody {
    Engine::error_body("agent_error", code, message)
}

/// A tool's result as the reply keeps it: made safe, bounded.
fn result_text(output: &str) -> String {
    agentdeck_model::text::sanitize(output)
        .chars()
        .take(RESULT_CHARS)
        .collect()
}

/// A coding agent's process for one turn: JSON lines in and out, the tail of its stderr
/// read as it goes (so a chatty agent never blocks on a full pipe), and its process
/// group, ended — the agent and everything it started — when this is dropped, or when
/// this process dies.
struct AgentProcess {
    /// The agent's name, as messages give it.
    name: &'static str,
    child: tokio::process::Child,
    stdin: Option<tokio::process::ChildStdin>,
    lines: Lines<BufReader<tokio::process::ChildStdout>>,
    stderr: Option<tokio::task::JoinHandle<String>>,
    _group: crate::tools::LifelineGroup,
}

/// What the agent said next.
enum Next {
    Line(serde_json::Value),
    /// Its output ended.
    Ended,
    /// The run was cancelled meanwhile.
    Cancelled,
}

impl AgentProcess {
    /// One JSON line to the agent; false when it can no longer be written to (it has
    /// ended, and [`AgentProcess::exited`] says how).
    async fn send(&mut self, line: &serde_json::Value) -> bool {
        let Some(stdin) = &mut self.stdin else {
            return true;
        };
        let written = stdin.write_all(format!("{line}\n").as_bytes()).await;
        written.is_ok() && stdin.flush().await.is_ok()
    }

    /// The agent's next JSON line (a line that is not JSON is passed over).
    async fn next(&mut self, cancel: &tokio_util::sync::CancellationToken) -> Next {
        loop {
            let line = tokio::select! {
                biased;
                _ = cancel.cancelled() => return Next::Cancelled,
                line = self.lines.next_line() => line,
            };
            let Ok(Some(line)) = line else {
                return Next::Ended;
            };
            if let Ok(value) = serde_json::from_str(&line) {
                return Next::Line(value);
            }
        }
    }

    /// The agent's process ended before its answer: the reply is incomplete, with how it
    /// exited and its stderr's tail.
    async fn exited(mut self) -> super::Outcome {
        let status = self.child.wait().await;
        let tail = match self.stderr.take() {
            Some(task) => task.await.unwrap_or_default(),
            None => String::new(),
        };
        let exit = status.map_or_else(|err| err.to_string(), |s| s.to_string());
        super::Outcome::Incomplete(agent_error(
            "agent_exited",
            format!("{} ended before its answer ({exit}): {tail}", self.name),
        ))
    }
}

/// The last [`STDERR_TAIL`] bytes the agent writes to stderr, read as it goes.
fn stderr_tail(child: &mut tokio::process::Child) -> Option<tokio::task::JoinHandle<String>> {
    let mut stderr = child.stderr.take()?;
    Some(tokio::spawn(async move {
        let mut all = Vec::new();
        let _ = stderr.read_to_end(&mut all).await;
        let text = String::from_utf8_lossy(&all).into_owned();
        let cut = text.len().saturating_sub(STDERR_TAIL);
        let cut = (cut..text.len())
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(text.len());
        text[cut..].trim().to_string()
    }))
}

impl Run {
    /// Starts the coding agent `name` for this turn: in its directory, as the command
    /// `make` builds there (its program `default` unless the assistant names one). The
    /// reply's end when it cannot start.
    async fn start_agent(
        &self,
        agent: &CodingAgent,
        name: &'static str,
        default: &str,
        make: impl FnOnce(&Self, &CodingAgent, &Path) -> Result<tokio::process::Command, String>,
    ) -> Result<(AgentProcess, PathBuf), super::Outcome> {
        let failed = |code: &str, why: String| super::Outcome::Failed(agent_error(code, why));
        let workdir = self
            .workdir(agent)
            .await
            .map_err(|why| failed("agent_workdir", why))?;
        let mut command =
            make(self, agent, &workdir).map_err(|why| failed("agent_unavailable", why))?;
        let mut child = command.spawn().map_err(|err| {
            let program = agent
                .command
                .as_ref()
                .and_then(|c| c.first().cloned())
                .unwrap_or_else(|| default.into());
            failed(
                "agent_unavailable",
                format!("Could not start `{program}` ({name}): {err}"),
            )
        })?;
        let group = crate::tools::LifelineGroup::of(child.id(), &self.engine.inner.tools.processes);
        let stdin = child.stdin.take();
        let stderr = stderr_tail(&mut child);
        let Some(stdout) = child.stdout.take() else {
            return Err(failed("agent_failed", format!("{name} has no output.")));
        };
        let process = AgentProcess {
            name,
            child,
            stdin,
            lines: BufReader::new(stdout).lines(),
            stderr,
            _group: group,
        };
        Ok((process, workdir))
    }

    /// The agent's directory: the assistant's (it must exist) or, with `worktree`, the
    /// thread's own worktree of it; without a workdir, a directory of the thread's own.
    async fn workdir(&self, agent: &CodingAgent) -> Result<PathBuf, String> {
        if let Some(dir) = &agent.workdir {
            let dir = PathBuf::from(dir);
            if !dir.is_dir() {
                return Err(format!(
                    "The agent's workdir {} is not a directory.",
                    dir.display()
                ));
            }
            if agent.worktree {
                return self.worktree(&dir).await;
            }
            return Ok(dir);
        }
        self.agent_dir(&["threads", &self.thread.id])
    }

    /// Keeps the agent's session id in the thread's metadata under `key`, for the next
    /// message to resume it.
    fn keep_session(&mut self, key: &str, id: &str) {
        if self.thread.metadata.get(key).map(String::as_str) == Some(id) {
            return;
        }
        let (key, id) = (key.to_string(), id.to_string());
        if let Ok(thread) = self.engine.update_thread(&self.thread.id, |t| {
            t.metadata.insert(key, id);
        }) {
            self.thread = thread;
        }
    }

    /// A directory of the coding agents' own under the data dir, made if missing.
    fn agent_dir(&self, parts: &[&str]) -> Result<PathBuf, String> {
        let mut dir = self.engine.store().dir().join("coding-agents");
        dir.extend(parts);
        std::fs::create_dir_all(&dir)
            .map_err(|err| format!("Could not make {}: {err}", dir.display()))?;
        Ok(dir)
    }

    /// The thread's worktree of `repository`, made on its first turn on a branch of its
    /// own (the work stays when the thread ends: it is the operator's to merge or drop).
    async fn worktree(&self, repository: &std::path::Path) -> Result<PathBuf, String> {
        let tree = self
            .engine
            .store()
            .dir()
            .join("coding-agents")
            .join("worktrees")
            .join(&self.thread.id);
        if tree.is_dir() {
            return Ok(tree);
        }
        let branch = format!("agentdeck/{}", self.thread.id);
        let made = tokio::process::Command::new("git")
            .arg("-C")
            .arg(repository)
            .args(["worktree", "add", "-b", &branch])
            .arg(&tree)
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(|err| format!("Could not run git: {err}"))?;
        if !made.status.success() {
            return Err(format!(
                "git could not make the thread's worktree of {}: {}",
                repository.display(),
                String::from_utf8_lossy(&made.stderr).trim()
            ));
        }
        Ok(tree)
    }

    /// The agent's program and its first arguments (`default` from `PATH` unless the
    /// assistant names one), in `workdir`, a [`crate::tools::grouped_command`], with only
    /// `PATH`, the `HOME` given and what the assistant lists (the caller adds the
    /// provider's).
    fn agent_command(
        agent: &CodingAgent,
        default: &str,
        workdir: &Path,
        home: &Path,
    ) -> Result<tokio::process::Command, String> {
        let default = vec![default.to_string()];
        let words = agent.command.as_ref().unwrap_or(&default);
        let Some((program, first_args)) = words.split_first() else {
            return Err("The agent's command is empty.".into());
        };
        let mut command = crate::tools::grouped_command(program);
        command.args(first_args).current_dir(workdir).env_clear();
        if let Some(path) = std::env::var_os("PATH") {
            command.env("PATH", path);
        }
        command.env("HOME", home);
        Ok(command)
    }

    /// The provider of agentdeck's config that serves the agent's model, if it speaks
    /// `kind`'s format: its address and key.
    fn agent_provider(
        &self,
        agent: &CodingAgent,
        kind: agentdeck_model::config::ProviderKind,
    ) -> Option<(Option<String>, Option<String>)> {
        let config = self.engine.config();
        let (_, provider) = agent
            .model
            .as_deref()
            .and_then(|m| config.provider_for(config.resolve_model(m)))
            .filter(|(_, p)| p.kind == kind)?;
        let key = provider
            .api_key_env
            .as_deref()
            .and_then(|name| std::env::var(name).ok());
        Some((provider.base_url.clone(), key))
    }

    /// A call the agent makes: a call of the reply, running until its result comes
    /// (none when the reply has it already).
    fn agent_call(&mut self, id: String, name: &str, arguments: &str) {
        if self.reply.tool_calls.iter().any(|c| c.id == id) {
            return;
        }
        // The agent's text is untrusted as any model's: made safe as it is stored.
        let call = crate::ingest::span_call(id, ToolCallType::Function, name, arguments);
        self.reply.tool_calls.push(call.clone());
        self.persist();
        self.emit(EventPayload::tool_call_created(&self.reply, &call));
    }

    /// A call's end: its status (one the operator denied stays denied) and its result.
    fn agent_call_done(&mut self, id: &str, status: ToolCallStatus, output: &str) {
        let Some(call) = self.reply.tool_calls.iter_mut().find(|c| c.id == id) else {
            return;
        };
        if call.status != ToolCallStatus::Denied {
            call.status = status;
        }
        call.output = Some(result_text(output));
        let call = call.clone();
        self.persist();
        self.emit(EventPayload::tool_call_output(&self.reply, &call));
    }

    /// The call at `at` waits in the workspace for the operator — the Tools pane, the
    /// approvals inbox, the approve and deny routes — and takes their answer (approved,
    /// with the arguments edited or not, or denied with a reason). `None` when the run was
    /// cancelled meanwhile.
    async fn operator_answer(&mut self, at: usize) -> Option<ToolCall> {
        let id = self.reply.tool_calls[at].id.clone();
        let engine = self.engine.clone();
        let (wake, mut woken) = tokio::sync::mpsc::unbounded_channel();
        agentdeck_model::sync::lock(&engine.inner.runs.held).insert(self.reply.id.clone(), wake);
        self.reply.tool_calls[at].status = ToolCallStatus::RequiresApproval;
        self.persist();
        let call = self.reply.tool_calls[at].clone();
        self.emit(EventPayload::tool_call_output(&self.reply, &call));
        engine.bus().sync().await;
        let _ = engine.update_thread(&self.thread.id, |t| {
            t.status = agentdeck_model::ThreadStatus::RequiresAction;
        });
        let decided = loop {
            let stored = engine.store().message(&self.reply.id).ok().flatten();
            let answered = stored
                .and_then(|m| m.tool_calls.into_iter().find(|c| c.id == id))
                .filter(|c| !c.status.is_waiting());
            if let Some(answered) = answered {
                break Some(answered);
            }
            // Woken by an answer on this node; another node's is read back each second.
            tokio::select! {
                _ = woken.recv() => {}
                () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                () = self.cancel.cancelled() => break None,
            }
        };
        agentdeck_model::sync::lock(&engine.inner.runs.held).remove(&self.reply.id);
        let _ = engine.update_thread(&self.thread.id, |t| {
            if t.status == agentdeck_model::ThreadStatus::RequiresAction {
                t.status = agentdeck_model::ThreadStatus::Running;
            }
        });
        let decided = decided?;
        let call = &mut self.reply.tool_calls[at];
        call.status = decided.status;
        call.approved = decided.approved;
        call.output = decided.output.clone();
        if decided.status != ToolCallStatus::Denied {
            call.function.arguments = decided.function.arguments.clone();
        }
        Some(decided)
    }

    /// The sub-agent the call `call` starts, as a routed child of this reply: an
    /// assistant `LEAD/KIND` (external: it runs only inside this one's session), a thread
    /// of its own under this one whose first message is `prompt`, and the call the route
    /// to it. The run that mirrors the sub-agent's reply.
    async fn routed_sub_agent(
        &mut self,
        call: &str,
        kind: &str,
        prompt: &str,
        title: &str,
    ) -> Option<Run> {
        let engine = self.engine.clone();
        let name = format!("{}/{kind}", self.assistant.name);
        let sub = engine
            .external_assistant(
                &self.thread.project_id,
                &self.assistant.model,
                &self.assistant.name,
                &name,
            )
            .map_err(|err| tracing::warn!("sub-agent {name}: {err}"))
            .ok()?;
        let now = agentdeck_model::now_secs();
        let child = agentdeck_model::Thread {
            id: agentdeck_model::new_id("thread_"),
            object: "thread".into(),
            project_id: self.thread.project_id.clone(),
            assistant_id: sub.id.clone(),
            created_at: now,
            updated_at: now,
            status: agentdeck_model::ThreadStatus::Active,
            metadata: [("sub_agent".to_string(), kind.to_string())].into(),
            title: Some(crate::validate::clip_title(if title.is_empty() {
                prompt
            } else {
                title
            })),
            parent_thread_id: Some(self.thread.id.clone()),
            estimated_cost: 0.0,
            last_reply_status: None,
        };
        engine
            .add_thread(&child)
            .map_err(|err| tracing::warn!("sub-agent thread: {err}"))
            .ok()?;
        let cancel = self.cancel.child_token();
        let (message, reply) = engine
            .start_reply(
                &child,
                &sub.id,
                Some(agentdeck_model::Content::Text(prompt.to_string())),
                Vec::new(),
                cancel.clone(),
            )
            .await
            .map_err(|err| tracing::warn!("sub-agent reply: {err}"))
            .ok()?;
        // The call is the route: the threads tree nests the child, the graph draws it.
        let routed = self.reply.tool_calls.iter_mut().find(|c| c.id == call)?;
        routed.kind = ToolCallType::AgentRouting;
        routed.target_assistant_id = Some(sub.id.clone());
        routed.thread_id = Some(child.id.clone());
        let routed = routed.clone();
        self.persist();
        self.emit(EventPayload::Routing(agentdeck_model::event::Routing {
            thread_id: self.thread.id.clone(),
            message_id: Some(self.reply.id.clone()),
            tool_call_id: call.to_string(),
            from_assistant_id: self.assistant.id.clone(),
            to_assistant_id: sub.id.clone(),
            from_thread_id: self.thread.id.clone(),
            to_thread_id: child.id.clone(),
            to_message_id: message.id.clone(),
        }));
        self.emit(EventPayload::tool_call_output(&self.reply, &routed));
        let mut chain = self.chain.clone();
        chain.push(sub.id.clone());
        Some(Run::mirror(engine, child, sub, reply, chain, cancel))
    }

    /// The end of sub-agents the session left without an answer: with the turn's
    /// cancel, or cut short.
    async fn end_sub_agents(runs: impl IntoIterator<Item = Run>, outcome: &super::Outcome) {
        for run in runs {
            let ended = match outcome {
                super::Outcome::Cancelled => super::Outcome::Cancelled,
                _ => super::Outcome::Incomplete(agent_error(
                    "agent_exited",
                    "The session ended before the sub-agent's answer.",
                )),
            };
            run.finish(ended).await;
        }
    }
}
