//! Tool calls of a run: the tool a call names (its kind, see `kinds`), its approval,
//! running the ready calls at once, and their outputs, cut for the model and kept whole
//! for the operator.

use super::kinds::{self, Call, Started};
use super::{Outcome, Run};
use crate::tools;
use agentdeck_model::event::TelemetryKind;
use agentdeck_model::{EventPayload, Tool, ToolCallStatus, ToolCallType};
use serde_json::Value;
use std::time::Instant;

pub(super) struct CallResult {
    pub(super) index: usize,
    pub(super) status: ToolCallStatus,
    pub(super) output: Option<String>,
    pub(super) latency_ms: Option<u64>,
    pub(super) target_assistant_id: Option<String>,
    pub(super) thread_id: Option<String>,
}

impl CallResult {
    pub(super) fn new(index: usize, status: ToolCallStatus, output: Option<String>) -> Self {
        CallResult {
            index,
            status,
            output,
            latency_ms: None,
            target_assistant_id: None,
            thread_id: None,
        }
    }
}

/// A tool call under way: it ends with its result.
pub(super) type RunningCall =
    std::pin::Pin<Box<dyn std::future::Future<Output = CallResult> + Send>>;

/// How much of a tool's output a tool reads at most (the whole output the operator can
/// fetch); the model gets `tool_output_limit` of it.
pub(super) const WHOLE_OUTPUT_LIMIT: usize = 16 * 1024 * 1024;

/// Where a call's output is cut for the model and the whole of it kept for the operator.
pub(super) struct OutputCut {
    /// Bytes the model gets.
    limit: usize,
    /// `DATA_DIR/outputs/CALL_ID`, written when the output is longer.
    whole: std::path::PathBuf,
}

impl OutputCut {
    /// The output as the model sees it: whole when short, else its beginning and a note
    /// that says where the rest is (written to disk first, so the note is true).
    fn apply(&self, output: String) -> String {
        if output.len() <= self.limit {
            return output;
        }
        let kept = self
            .whole
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| {
                let mut file = std::fs::File::create(&self.whole)?;
                std::io::Write::write_all(&mut file, output.as_bytes())?;
                file.sync_all()
            });
        let mut cut = self.limit;
        while !output.is_char_boundary(cut) {
            cut -= 1;
        }
        let total = output.len();
        let mut shown = output;
        shown.truncate(cut);
        match kept {
            Ok(()) => shown.push_str(&format!(
                "\n[cut at {cut} of {total} bytes for the model; the operator can read it whole]"
            )),
            Err(err) => {
                tracing::warn!("the whole output could not be kept: {err}");
                shown.push_str(&format!("\n[cut at {cut} of {total} bytes]"));
            }
        }
        shown
    }
}

/// A tool call whose work ends in its output (`Ok`) or the reason it failed (`Err`),
/// timed, its output cut for the model.
pub(super) fn timed(
    index: usize,
    cut: OutputCut,
    work: impl std::future::Future<Output = Result<String, String>> + Send + 'static,
) -> RunningCall {
    Box::pin(async move {
        let started = Instant::now();
        let result = work.await;
        let latency = started.elapsed().as_millis() as u64;
        // Writing a long output whole is file I/O: off the async threads.
        let shown = tokio::task::spawn_blocking(move || match result {
            Ok(output) => Ok(cut.apply(output)),
            Err(why) => Err(cut.apply(why)),
        })
        .await
        .unwrap_or_else(|err| Err(format!("the tool's output was lost: {err}")));
        let mut outcome = match shown {
            Ok(output) => CallResult::new(index, ToolCallStatus::Completed, Some(output)),
            Err(why) => CallResult::new(index, ToolCallStatus::Failed, Some(why)),
        };
        outcome.latency_ms = Some(latency);
        outcome
    })
}

/// Where the whole output of a call is kept when the model got only its beginning.
pub(crate) fn whole_output_path(data_dir: &std::path::Path, call_id: &str) -> std::path::PathBuf {
    data_dir
        .join("outputs")
        .join(agentdeck_model::path_segment(call_id))
}

impl Run {
    pub(super) fn call_kind(&self, name: &str) -> ToolCallType {
        kinds::named(self, name).map_or(ToolCallType::Function, |kind| kind.kind())
    }

    /// Why a call names no tool: what is offered, and which MCP servers did not start.
    fn no_such_tool(&self, name: &str) -> String {
        let mut offered: Vec<&str> = self
            .assistant
            .tools
            .iter()
            .filter_map(Tool::call_name)
            .collect();
        offered.extend(self.mcp_tools.iter().map(|t| t.offered_name.as_str()));
        let mut text = format!(
            "There is no tool '{name}'. This assistant offers: {}.",
            if offered.is_empty() {
                "none".to_string()
            } else {
                offered.join(", ")
            }
        );
        for (label, why) in &self.mcp_unavailable {
            text.push_str(&format!(
                " The MCP server '{label}' is not available: {why}"
            ));
        }
        text
    }

    /// Runs the ready calls at once. `Some(outcome)` ends the run (paused or cancelled).
    pub(super) async fn execute_calls(&mut self, ready: Vec<usize>) -> Option<Outcome> {
        // A run resumed after an approval calls tools before any model call lists them.
        if !self.mcp_listed {
            self.refresh_mcp_tools().await;
        }
        let mut immediate = Vec::new();
        let mut running: Vec<RunningCall> = Vec::new();
        // Output of the calls as they run, published as it comes.
        let (output_tx, mut output_rx) = tokio::sync::mpsc::unbounded_channel::<(usize, String)>();
        let output_limit = self.engine.inner.options.tool_output_limit;
        let sink = |index: usize| tools::OutputSink::new(index, output_tx.clone(), output_limit);
        for index in ready {
            // A call without arguments (some providers send none) has empty ones.
            if self.reply.tool_calls[index]
                .function
                .arguments
                .trim()
                .is_empty()
            {
                self.reply.tool_calls[index].function.arguments = "{}".into();
            }
            let call = self.reply.tool_calls[index].clone();
            let arguments_ok =
                serde_json::from_str::<serde_json::Map<String, Value>>(&call.function.arguments);
            if let Err(err) = arguments_ok {
                immediate.push(CallResult::new(
                    index,
                    ToolCallStatus::Failed,
                    Some(format!("The arguments are not a JSON object: {err}")),
                ));
                continue;
            }
            let Some(kind) = kinds::named(self, &call.function.name) else {
                immediate.push(CallResult::new(
                    index,
                    ToolCallStatus::Failed,
                    Some(self.no_such_tool(&call.function.name)),
                ));
                continue;
            };
            let policy = kind.policy();
            let needs_approval = !call.approved
                && match policy.approval.unwrap_or(self.assistant.approval) {
                    agentdeck_model::Approval::Never => false,
                    agentdeck_model::Approval::Always => true,
                    agentdeck_model::Approval::OnWrite => !policy.read_only,
                };
            if needs_approval {
                immediate.push(CallResult::new(
                    index,
                    ToolCallStatus::RequiresApproval,
                    None,
                ));
                continue;
            }
            // Placeholders stay placeholders unless the operator trusts the tool.
            let arguments = match (&self.placeholders, policy.trusted) {
                (Some(placeholders), true) => placeholders.restore(&call.function.arguments),
                _ => call.function.arguments.clone(),
            };
            let input = match serde_json::from_str::<serde_json::Map<String, Value>>(&arguments) {
                Ok(input) => input,
                Err(err) => {
                    immediate.push(CallResult::new(
                        index,
                        ToolCallStatus::Failed,
                        Some(format!("The arguments are not a JSON object: {err}")),
                    ));
                    continue;
                }
            };
            if let Err(why) = kind.validate(&input) {
                immediate.push(CallResult::new(index, ToolCallStatus::Failed, Some(why)));
                continue;
            }
            let cut = OutputCut {
                limit: self.engine.inner.options.tool_output_limit,
                whole: whole_output_path(self.engine.store().dir(), &call.id),
            };
            let call = Call {
                index,
                id: call.id,
                arguments,
                input,
                sink: sink(index),
                cut,
            };
            match kind.start(self, call) {
                Started::Running(work) => running.push(work),
                Started::Ended(result) => immediate.push(result),
            }
        }
        for result in immediate {
            self.apply(result);
        }
        let mut all = std::pin::pin!(futures::future::join_all(running));
        let results = loop {
            tokio::select! {
                biased;
                _ = self.cancel.cancelled() => return Some(Outcome::Cancelled),
                Some((index, delta)) = output_rx.recv() => self.output_delta(index, delta),
                results = &mut all => break results,
            }
        };
        // What came out just before the calls ended goes before their results.
        while let Ok((index, delta)) = output_rx.try_recv() {
            self.output_delta(index, delta);
        }
        for result in results {
            self.apply(result);
        }
        self.persist();
        if self.reply.tool_calls.iter().any(|c| c.status.is_waiting()) {
            return Some(Outcome::Paused);
        }
        None
    }

    /// A call's share of the tokens of the model step that asked for it.
    fn call_share(&self, index: usize) -> (u64, u64) {
        let Some(call) = self.reply.tool_calls.get(index) else {
            return (0, 0);
        };
        let Some(usage) = self.step_usage.get(&call.step) else {
            return (0, 0);
        };
        let siblings: Vec<usize> = self
            .reply
            .tool_calls
            .iter()
            .enumerate()
            .filter(|(_, c)| c.step == call.step)
            .map(|(i, _)| i)
            .collect();
        let count = siblings.len().max(1) as u64;
        let first = siblings.first() == Some(&index);
        let share = |total: u64| total / count + if first { total % count } else { 0 };
        (share(usage.input_tokens), share(usage.output_tokens))
    }

    /// A piece of a running call's output, published as `tool_call.output.delta`.
    pub(in crate::run) fn output_delta(&mut self, index: usize, delta: String) {
        let Some(call) = self.reply.tool_calls.get(index) else {
            return;
        };
        if delta.is_empty() || call.status.is_final() {
            return;
        }
        let payload = EventPayload::ToolCallOutputDelta(agentdeck_model::event::ToolCallDelta {
            thread_id: self.reply.thread_id.clone(),
            message_id: self.reply.id.clone(),
            tool_call_id: call.id.clone(),
            delta,
        });
        self.emit(payload);
    }

    fn apply(&mut self, result: CallResult) {
        let call = &mut self.reply.tool_calls[result.index];
        call.status = result.status;
        call.output = result.output;
        call.latency_ms = result.latency_ms;
        if result.target_assistant_id.is_some() {
            call.target_assistant_id = result.target_assistant_id;
        }
        if result.thread_id.is_some() {
            call.thread_id = result.thread_id;
        }
        let payload =
            EventPayload::tool_call_output(&self.reply, &self.reply.tool_calls[result.index]);
        self.emit(payload);
        // A call that ran (not one waiting for an operator) is a telemetry event.
        if let Some(latency_ms) = result.latency_ms {
            let call = &self.reply.tool_calls[result.index];
            self.engine.inner.telemetry.metrics.tool_call(
                &self.thread.project_id,
                &agentdeck_model::wire_name(&call.kind),
                &agentdeck_model::wire_name(&call.status),
                latency_ms as f64 / 1000.0,
            );
            if let Some(export) = self.engine.span_export() {
                export.tool(&self.thread.project_id, &self.reply, &self.assistant, call);
            }
            let tool = call.function.name.clone();
            // The model step that asked for the call spent these tokens; its calls share
            // them (the first takes what does not divide evenly).
            let (input_tokens, output_tokens) = self.call_share(result.index);
            self.engine.telemetry(
                &self.scope,
                &self.thread.project_id,
                agentdeck_model::event::Telemetry {
                    event: TelemetryKind::ToolCall,
                    timestamp: agentdeck_model::rfc3339(agentdeck_model::now_secs()),
                    assistant_id: Some(self.assistant.id.clone()),
                    thread_id: self.thread.id.clone(),
                    tool: Some(tool),
                    latency_ms,
                    input_tokens,
                    output_tokens,
                    safety_flag: None,
                },
            );
        }
    }
}
