//! The kinds of tool a run calls, one file each, behind one trait: what the model is
//! offered (`describe`), when a call waits for the operator (`policy`), whether its
//! arguments will do (`validate`) and running it (`start`). The registry below (`of`,
//! `named`, `check_definition`, `complete_definition`) is the one place that knows every
//! kind: adding one is its file and a line in each. Each kind's file also checks its
//! definition, and fills its defaults, when an assistant is stored.

mod code_interpreter;
mod command;
mod file_search;
mod mcp;
mod routing;
mod webhook;

pub(super) use mcp::OfferedMcp;
pub(super) use routing::Routing;

use super::Run;
use super::calls::{CallResult, OutputCut, RunningCall};
use crate::tools::OutputSink;
use agentdeck_model::{Approval, Tool, ToolCallStatus, ToolCallType};
use agentdeck_providers::{ROUTING_TOOL, ToolSpec};
use serde_json::{Map, Value};

/// When a call of a tool waits for the operator, and what privacy lets it see.
pub(super) struct Policy {
    /// The tool's own approval setting; `None` takes the assistant's.
    pub(super) approval: Option<Approval>,
    /// It only reads: `approval: "on-write"` lets it run.
    pub(super) read_only: bool,
    /// Under privacy "strict" it gets the values behind the model's placeholders.
    pub(super) trusted: bool,
}

/// A call about to start: its place in the reply, its arguments (placeholders put back
/// for a trusted tool) as written and as the object they are, where its output goes.
pub(super) struct Call {
    pub(super) index: usize,
    pub(super) id: String,
    pub(super) arguments: String,
    pub(super) input: Map<String, Value>,
    pub(super) sink: OutputSink,
    pub(super) cut: OutputCut,
}

/// What starting a call gave.
pub(super) enum Started {
    /// It runs; its result comes when the future ends.
    Running(RunningCall),
    /// It ended at once (a call nothing here answers waits for the client's output).
    Ended(CallResult),
}

/// One kind of tool.
pub(super) trait ToolKind: Send + Sync {
    /// What its calls are, in the reply.
    fn kind(&self) -> ToolCallType;

    /// How the model is offered it.
    fn describe(&self) -> ToolSpec;

    /// When its calls wait for the operator.
    fn policy(&self) -> Policy;

    /// Whether a call's arguments will do; the error is the call's output.
    fn validate(&self, _input: &Map<String, Value>) -> Result<(), String> {
        Ok(())
    }

    /// Starts a call (approved, its arguments valid).
    fn start(&self, run: &Run, call: Call) -> Started;
}

/// An assistant's tool as its kind: `None` for an MCP server (its tools are listed per
/// run, see [`OfferedMcp`]) and a code interpreter turned off.
pub(super) fn of(tool: &Tool) -> Option<Box<dyn ToolKind + '_>> {
    match tool {
        Tool::Function(function) => Some(Box::new(command::Command(function))),
        Tool::Webhook(webhook) => Some(Box::new(webhook::Webhook(webhook))),
        Tool::FileSearch(search) => Some(Box::new(file_search::FileSearch(search))),
        Tool::CodeInterpreter(interpreter) if interpreter.enabled => {
            Some(Box::new(code_interpreter::CodeInterpreter(interpreter)))
        }
        Tool::CodeInterpreter(_) | Tool::Mcp(_) => None,
    }
}

/// Whether an assistant's tool definition (`tools[i]` of the request) will do: each
/// kind checks its own fields.
pub(crate) fn check_definition(i: usize, tool: &Tool) -> crate::EngineResult<()> {
    match tool {
        Tool::Function(function) => command::check_definition(i, function),
        Tool::Webhook(webhook) => webhook::check_definition(i, webhook),
        Tool::Mcp(server) => mcp::check_definition(i, server),
        Tool::CodeInterpreter(interpreter) => code_interpreter::check_definition(i, interpreter),
        // Its vector stores are looked up when the assistant is stored.
        Tool::FileSearch(_) => Ok(()),
    }
}

/// Fills what a tool's definition leaves to its default (a webhook's name).
pub(crate) fn complete_definition(tool: &mut Tool) {
    if let Tool::Webhook(webhook) = tool {
        webhook::complete_definition(webhook);
    }
}

/// The tool a call names in this run: routing, an MCP tool offered, or one of the
/// assistant's own.
pub(super) fn named<'r>(run: &'r Run, name: &str) -> Option<Box<dyn ToolKind + 'r>> {
    if name == ROUTING_TOOL {
        return Some(Box::new(Routing::for_calls()));
    }
    if let Some(offered) = mcp::find(&run.mcp_tools, name) {
        return Some(Box::new(offered));
    }
    run.assistant
        .tools
        .iter()
        .find(|tool| tool.call_name() == Some(name))
        .and_then(of)
}

/// A failed call's result, with the reason as its output.
fn failed(index: usize, why: impl Into<String>) -> Started {
    Started::Ended(CallResult::new(
        index,
        ToolCallStatus::Failed,
        Some(why.into()),
    ))
}

/// The string `field` of a call's input, if it is one.
fn text_field<'a>(input: &'a Map<String, Value>, field: &str) -> Option<&'a str> {
    input.get(field).and_then(Value::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tools() -> Vec<Tool> {
        serde_json::from_value(json!([
            {"type": "function", "function": {"name": "lookup_order"}, "read_only": true,
             "trusted": true, "approval": "on-write"},
            {"type": "webhook", "endpoint": "http://127.0.0.1:9/hook", "approval": "always"},
            {"type": "file_search", "vector_store_ids": ["vs_1"]},
            {"type": "code_interpreter"},
            {"type": "code_interpreter", "enabled": false},
            {"type": "mcp", "server_label": "time", "command": ["mcp-server-time"]}
        ]))
        .unwrap()
    }

    /// Each kind says what its calls are, the name the model calls it by, and its
    /// policy; an MCP server and a disabled interpreter offer nothing by themselves.
    #[test]
    fn every_kind_describes_itself_and_its_policy() {
        let tools = tools();
        let found: Vec<_> = tools
            .iter()
            .map(|tool| {
                of(tool).map(|kind| {
                    let policy = kind.policy();
                    (
                        kind.kind(),
                        kind.describe().name,
                        policy.approval,
                        policy.read_only,
                        policy.trusted,
                    )
                })
            })
            .collect();
        assert_eq!(
            found,
            [
                Some((
                    ToolCallType::Function,
                    "lookup_order".into(),
                    Some(Approval::OnWrite),
                    true,
                    true
                )),
                Some((
                    ToolCallType::Webhook,
                    "webhook".into(),
                    Some(Approval::Always),
                    false,
                    false
                )),
                Some((
                    ToolCallType::FileSearch,
                    "file_search".into(),
                    None,
                    true,
                    false
                )),
                Some((
                    ToolCallType::CodeInterpreter,
                    "code_interpreter".into(),
                    None,
                    false,
                    false
                )),
                None,
                None,
            ]
        );
        // Every name described is the name calls find it by.
        for tool in &tools {
            if let Some(kind) = of(tool) {
                assert_eq!(tool.call_name(), Some(kind.describe().name.as_str()));
            }
        }
        let routing = Routing::to(&[]);
        assert_eq!(
            (routing.kind(), routing.policy().approval),
            (ToolCallType::AgentRouting, Some(Approval::Never))
        );
    }

    /// What a call's arguments must hold is checked before it runs, and the model is
    /// told what the tool takes.
    #[test]
    fn file_search_and_the_interpreter_say_what_their_arguments_lack() {
        let tools = tools();
        let search = of(&tools[2]).unwrap();
        let interpreter = of(&tools[3]).unwrap();
        let input = |value: serde_json::Value| value.as_object().unwrap().clone();
        assert_eq!(
            search.validate(&input(json!({"query": "refund policy"}))),
            Ok(())
        );
        for bad in [json!({}), json!({"query": "  "}), json!({"query": 5})] {
            assert_eq!(
                search.validate(&input(bad)),
                Err("file_search takes {\"query\": \"...\"}.".into())
            );
        }
        assert_eq!(
            interpreter.validate(&input(json!({"code": "print(1)"}))),
            Ok(())
        );
        assert!(
            interpreter
                .validate(&input(json!({"source": "print(1)"})))
                .unwrap_err()
                .contains("{\"code\": \"...\"}")
        );
        // The others take what their schemas say; nothing is checked here.
        assert_eq!(of(&tools[0]).unwrap().validate(&input(json!({}))), Ok(()));
    }

    /// Each kind checks its own definition and names the field that will not do.
    #[test]
    fn every_kind_checks_its_definition_and_names_the_field() {
        let cases = [
            (
                json!({"type": "function", "function": {"name": "route_to_assistant"}}),
                "tools[3].function.name",
            ),
            (
                json!({"type": "function", "function": {"name": "ok", "parameters": {"type": 5}}}),
                "tools[3].function.parameters",
            ),
            (
                json!({"type": "webhook", "endpoint": "ftp://example.com"}),
                "tools[3].endpoint",
            ),
            (json!({"type": "mcp", "server_label": "time"}), "tools[3]"),
            (
                json!({"type": "mcp", "server_label": "t i", "url": "http://127.0.0.1:9/mcp"}),
                "tools[3].server_label",
            ),
            (
                json!({"type": "code_interpreter", "timeout_ms": 0}),
                "tools[3].timeout_ms",
            ),
        ];
        for (definition, param) in cases {
            let tool: Tool = serde_json::from_value(definition.clone()).unwrap();
            match check_definition(3, &tool) {
                Err(crate::EngineError::Invalid {
                    param: Some(found), ..
                }) => {
                    assert_eq!(found, param, "{definition}")
                }
                other => panic!("{definition}: {other:?}"),
            }
        }
        for tool in tools() {
            assert!(check_definition(0, &tool).is_ok(), "{tool:?}");
        }
        // A webhook's default name is filled in, so the stored tool says it.
        let mut tools = tools();
        for tool in &mut tools {
            complete_definition(tool);
        }
        let Tool::Webhook(webhook) = &tools[1] else {
            panic!("{:?}", tools[1]);
        };
        assert_eq!(webhook.name.as_deref(), Some("webhook"));
    }
}
