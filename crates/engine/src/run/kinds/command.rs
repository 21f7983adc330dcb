//! A function tool: answered by its configured command, or (without one) by the client,
//! who posts the output.

use super::{Call, Policy, Started, ToolKind};
use crate::run::Run;
use crate::run::calls::{CallResult, WHOLE_OUTPUT_LIMIT, timed};
use agentdeck_model::{FunctionTool, ToolCallStatus, ToolCallType};
use agentdeck_providers::ToolSpec;

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
