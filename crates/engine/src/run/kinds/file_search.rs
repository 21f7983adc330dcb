//! `file_search`: the best passages of the assistant's and the thread's documents, each
//! with a citation.

use super::{Call, Policy, Started, ToolKind, text_field};
use crate::run::Run;
use crate::run::calls::timed;
use agentdeck_model::{FileSearchTool, ToolCallType};
use agentdeck_providers::ToolSpec;
use serde_json::{Map, Value, json};

pub(super) struct FileSearch<'t>(pub(super) &'t FileSearchTool);

const USAGE: &str = "file_search takes {\"query\": \"...\"}.";

fn query(input: &Map<String, Value>) -> Option<&str> {
    text_field(input, "query").filter(|q| !q.trim().is_empty())
}

impl ToolKind for FileSearch<'_> {
    fn kind(&self) -> ToolCallType {
        ToolCallType::FileSearch
    }

    fn describe(&self) -> ToolSpec {
        ToolSpec {
            name: "file_search".into(),
            description: "Search this assistant's and this thread's documents; returns \
                the best passages, each with a citation (file, page or lines) to quote."
                .into(),
            parameters: json!({
                "type": "object",
                "properties": {"query": {"type": "string", "description": "What to look for."}},
                "required": ["query"]
            }),
        }
    }

    fn policy(&self) -> Policy {
        Policy {
            approval: None,
            read_only: true,
            trusted: false,
        }
    }

    fn validate(&self, input: &Map<String, Value>) -> Result<(), String> {
        query(input).map(|_| ()).ok_or_else(|| USAGE.to_string())
    }

    fn start(&self, run: &Run, call: Call) -> Started {
        let Some(query) = query(&call.input).map(str::to_string) else {
            return super::failed(call.index, USAGE);
        };
        let engine = run.engine.clone();
        let project_id = run.thread.project_id.clone();
        let cancel = run.cancel.clone();
        let store_ids = self.0.vector_store_ids.clone();
        Started::Running(timed(call.index, call.cut, async move {
            engine
                .file_search(&project_id, &store_ids, &query, &cancel)
                .await
                .map(|found| found.to_output())
        }))
    }
}
