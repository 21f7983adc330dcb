//! A function tool: answered by its configured command, or (without one) by the client,
//! who posts the output.

use super::{Call, Policy, Started, ToolKind};
use crate::run::Run;
use crate::run::calls::{CallResult, WHOLE_OUTPUT_LIMIT, timed};
use crate::validate::function_name;
use crate::{EngineError, EngineResult};
use agentdeck_model::{FunctionTool, ToolCallStatus, ToolCallType};
use agentdeck_providers::{ROUTING_TOOL, ToolSpec};

pub(super) struct Command<'t>(pub(super) &'t FunctionTool);

impl ToolKind for Command<'_> {
    fn kind(&self) -> ToolCallType {
        ToolCallType::Function
    }

    fn describe(&self) -> ToolSpec {
        ToolSpec {
            name: self.0.function.name.clone(),
            description: self.0.function.description.clone().unwrap_or_default(),
            parameters: self.0.function.parameters.clone(),
        }
    }

    fn policy(&self) -> Policy {
        Policy {
            approval: self.0.approval,
            read_only: self.0.read_only,
            trusted: self.0.trusted,
        }
    }

    fn start(&self, run: &Run, call: Call) -> Started {
        let Some(handler) = self.0.handler.clone() else {
            return Started::Ended(CallResult::new(
                call.index,
                ToolCallStatus::RequiresAction,
                None,
            ));
        };
        let groups = run.engine.inner.tools.processes.clone();
        let Call {
            index,
            arguments,
            sink,
            cut,
            ..
        } = call;
        Started::Running(timed(index, cut, async move {
            crate::tools::run_command(&handler, &arguments, WHOLE_OUTPUT_LIMIT, &sink, &groups)
                .await
        }))
    }
}

/// Whether a function tool's definition (`tools[i]`) will do.
pub(super) fn check_definition(i: usize, f: &FunctionTool) -> EngineResult<()> {
    if !function_name(&f.function.name) {
        return Err(EngineError::Invalid {
            message: format!(
                "tools[{i}].function.name {:?} must be 1-64 letters, digits, '_' or '-'.",
                f.function.name
            ),
            param: Some(format!("tools[{i}].function.name")),
        });
    }
    if f.function.name == ROUTING_TOOL {
        return Err(EngineError::Invalid {
            message: format!("tools[{i}]: the name '{ROUTING_TOOL}' is reserved for routing."),
            param: Some(format!("tools[{i}].function.name")),
        });
    }
    if !f.function.parameters.is_object() {
        return Err(EngineError::Invalid {
            message: format!("tools[{i}].function.parameters must be a JSON schema object."),
            param: Some(format!("tools[{i}].function.parameters")),
        });
    }
    // A schema the model is given and the runtime checks against: it must be
    // one (`{"type": 5}` is an object but no schema).
    if let Err(err) = jsonschema::validator_for(&f.function.parameters) {
        return Err(EngineError::Invalid {
            message: format!("tools[{i}].function.parameters is not a valid JSON Schema: {err}"),
            param: Some(format!("tools[{i}].function.parameters")),
        });
    }
    if let Some(handler) = &f.handler {
        if handler.command.first().is_none_or(|prog| prog.is_empty()) {
            return Err(EngineError::Invalid {
                message: format!("tools[{i}].handler.command must name a program."),
                param: Some(format!("tools[{i}].handler.command")),
            });
        }
        if handler.timeout_ms == 0 || handler.timeout_ms > 600_000 {
            return Err(EngineError::Invalid {
                message: format!("tools[{i}].handler.timeout_ms must be 1 to 600000."),
                param: Some(format!("tools[{i}].handler.timeout_ms")),
            });
        }
    }

    Ok(())
}
