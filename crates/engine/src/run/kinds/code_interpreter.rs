//! `code_interpreter`: Python 3 in a sandbox without network, in a scratch directory of
//! the call's own.

use super::{Call, Policy, Started, ToolKind, text_field};
use crate::run::Run;
use crate::run::calls::{WHOLE_OUTPUT_LIMIT, timed};
use crate::{EngineError, EngineResult};
use agentdeck_model::{CodeInterpreterTool, ToolCallType};
use agentdeck_providers::ToolSpec;
use serde_json::{Map, Value, json};

pub(super) struct CodeInterpreter<'t>(pub(super) &'t CodeInterpreterTool);

const USAGE: &str = "code_interpreter takes {\"code\": \"...\"} (Python 3 source).";

impl ToolKind for CodeInterpreter<'_> {
    fn kind(&self) -> ToolCallType {
        ToolCallType::CodeInterpreter
    }

    fn describe(&self) -> ToolSpec {
        ToolSpec {
            name: "code_interpreter".into(),
            description: "Run Python 3 code in a sandbox without network access; \
                returns its exit status, stdout, stderr and the files it wrote."
                .into(),
            parameters: json!({
                "type": "object",
                "properties": {"code": {"type": "string", "description": "Python 3 source."}},
                "required": ["code"]
            }),
        }
    }

    fn policy(&self) -> Policy {
        Policy {
            approval: None,
            read_only: false,
            trusted: false,
        }
    }

    fn validate(&self, input: &Map<String, Value>) -> Result<(), String> {
        text_field(input, "code")
            .map(|_| ())
            .ok_or_else(|| USAGE.to_string())
    }

    fn start(&self, run: &Run, call: Call) -> Started {
        let Some(code) = text_field(&call.input, "code").map(str::to_string) else {
            return super::failed(call.index, USAGE);
        };
        let scratch = crate::interpreter::scratch_dir(run.engine.store().dir(), &call.id);
        let timeout = std::time::Duration::from_millis(self.0.timeout_ms());
        let groups = run.engine.inner.tools.processes.clone();
        let Call {
            index, sink, cut, ..
        } = call;
        Started::Running(timed(index, cut, async move {
            crate::interpreter::run(&code, &scratch, timeout, WHOLE_OUTPUT_LIMIT, &sink, &groups)
                .await
        }))
    }
}

/// Whether a code interpreter's definition (`tools[i]`) will do.
pub(super) fn check_definition(i: usize, c: &CodeInterpreterTool) -> EngineResult<()> {
    if c.timeout_ms().clamp(1, 600_000) != c.timeout_ms() {
        return Err(EngineError::Invalid {
            message: format!("tools[{i}].timeout_ms must be 1 to 600000."),
            param: Some(format!("tools[{i}].timeout_ms")),
        });
    }

    Ok(())
}
