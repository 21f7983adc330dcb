//! Tools of MCP servers: each server an assistant names is started (or reused) and asked
//! for its tools when a model call is made; each tool is offered as `LABEL__TOOL`.

use super::{Call, Policy, Started, ToolKind};
use crate::net::NetRules;
use crate::run::Run;
use crate::run::calls::{WHOLE_OUTPUT_LIMIT, timed};
use crate::validate::{function_name, is_http_url};
use crate::{EngineError, EngineResult};
use agentdeck_model::{Tool, ToolCallType};
use agentdeck_providers::ToolSpec;

/// An MCP tool offered to the model in this run.
#[derive(Clone)]
pub(in crate::run) struct OfferedMcp {
    /// `LABEL__TOOL`.
    pub(in crate::run) offered_name: String,
    pub(in crate::run) info: crate::mcp::McpToolInfo,
    pub(in crate::run) tool: agentdeck_model::McpTool,
}

/// An MCP tool by the name offered (`LABEL__TOOL`), or by its bare name when only one
/// server has a tool of that name.
pub(super) fn find<'r>(offered: &'r [OfferedMcp], name: &str) -> Option<&'r OfferedMcp> {
    if let Some(found) = offered.iter().find(|t| t.offered_name == name) {
        return Some(found);
    }
    let mut bare = offered.iter().filter(|t| t.info.name == name);
    match (bare.next(), bare.next()) {
        (Some(only), None) => Some(only),
        _ => None,
    }
}

impl ToolKind for &OfferedMcp {
    fn kind(&self) -> ToolCallType {
        ToolCallType::Mcp
    }

    fn describe(&self) -> ToolSpec {
        ToolSpec {
            name: self.offered_name.clone(),
            description: self.info.description.clone(),
            parameters: self.info.schema.clone(),
        }
    }

    fn policy(&self) -> Policy {
        Policy {
            approval: self.tool.approval,
            read_only: self.info.read_only,
            trusted: self.tool.trusted,
        }
    }

    fn start(&self, run: &Run, call: Call) -> Started {
        let engine = run.engine.clone();
        let rules = NetRules::of(&run.assistant.safety);
        let assistant_id = run.assistant.id.clone();
        let offered = (*self).clone();
        let Call {
            index,
            input,
            sink,
            cut,
            ..
        } = call;
        Started::Running(timed(index, cut, async move {
            engine
                .inner
                .tools
                .mcp
                .call(
                    &assistant_id,
                    &offered.tool,
                    &rules,
                    &offered.info.name,
                    input,
                    WHOLE_OUTPUT_LIMIT,
                    &sink,
                )
                .await
        }))
    }
}

impl Run {
    /// Starts (or reuses) the assistant's MCP servers and lists their tools, so this
    /// model call is offered them.
    pub(in crate::run) async fn refresh_mcp_tools(&mut self) {
        let servers: Vec<agentdeck_model::McpTool> = self
            .assistant
            .tools
            .iter()
            .filter_map(|t| match t {
                Tool::Mcp(m) => Some(m.clone()),
                _ => None,
            })
            .collect();
        if servers.is_empty() {
            return;
        }
        let rules = NetRules::of(&self.assistant.safety);
        self.mcp_listed = true;
        self.mcp_tools.clear();
        self.mcp_unavailable.clear();
        for server in servers {
            let listed = tokio::select! {
                biased;
                _ = self.cancel.cancelled() => return,
                listed = self.engine.inner.tools.mcp.tools(&self.assistant.id, &server, &rules) => listed,
            };
            match listed {
                Ok(tools) => self
                    .mcp_tools
                    .extend(tools.into_iter().map(|info| OfferedMcp {
                        offered_name: format!(
                            "{}{}{}",
                            server.server_label,
                            crate::mcp::NAME_SEPARATOR,
                            info.name
                        ),
                        info,
                        tool: server.clone(),
                    })),
                Err(why) => {
                    tracing::warn!("{why}");
                    self.mcp_unavailable
                        .push((server.server_label.clone(), why));
                }
            }
        }
    }
}

/// Whether an MCP server's definition (`tools[i]`) will do.
pub(super) fn check_definition(i: usize, m: &agentdeck_model::McpTool) -> EngineResult<()> {
    if m.timeout_ms().clamp(1, 600_000) != m.timeout_ms() {
        return Err(EngineError::Invalid {
            message: format!("tools[{i}].timeout_ms must be 1 to 600000."),
            param: Some(format!("tools[{i}].timeout_ms")),
        });
    }
    if m.command.is_some() == m.url.is_some() {
        return Err(EngineError::Invalid {
            message: format!("tools[{i}]: an mcp tool needs exactly one of 'command' and 'url'."),
            param: Some(format!("tools[{i}]")),
        });
    }
    if let Some(command) = &m.command {
        if command.first().is_none_or(|prog| prog.trim().is_empty()) {
            return Err(EngineError::Invalid {
                message: format!(
                    "tools[{i}].command must name a program (as [\"prog\", \"arg\", ...])."
                ),
                param: Some(format!("tools[{i}].command")),
            });
        }
    }
    if let Some(url) = &m.url {
        if !is_http_url(url) {
            return Err(EngineError::Invalid {
                message: format!("tools[{i}].url {url:?} is not an http(s) URL."),
                param: Some(format!("tools[{i}].url")),
            });
        }
    }
    if m.server_label.trim().is_empty() || !function_name(&m.server_label) {
        return Err(EngineError::Invalid {
            message: format!(
                "tools[{i}].server_label {:?} must be 1-64 letters, digits, '_' or '-' (it prefixes the tools' names).",
                m.server_label
            ),
            param: Some(format!("tools[{i}].server_label")),
        });
    }

    Ok(())
}
