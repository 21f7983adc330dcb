//! A webhook tool: the call's arguments POSTed to a URL, its answer the output.

use super::{Call, Policy, Started, ToolKind};
use crate::net::NetRules;
use crate::run::Run;
use crate::run::calls::{WHOLE_OUTPUT_LIMIT, timed};
use agentdeck_model::{ToolCallType, WebhookTool};
use agentdeck_providers::ToolSpec;

pub(super) struct Webhook<'t>(pub(super) &'t WebhookTool);

impl ToolKind for Webhook<'_> {
    fn kind(&self) -> ToolCallType {
        ToolCallType::Webhook
    }

    fn describe(&self) -> ToolSpec {
        ToolSpec {
            name: self.0.name.as_deref().unwrap_or("webhook").to_string(),
            description: self
                .0
                .description
                .clone()
                .unwrap_or_else(|| "Send a JSON payload to an external service.".to_string()),
            parameters: self
                .0
                .parameters
                .clone()
                .unwrap_or_else(agentdeck_model::empty_object_schema),
        }
    }

    fn policy(&self) -> Policy {
        Policy {
            approval: self.0.approval,
            read_only: false,
            trusted: self.0.trusted,
        }
    }

    fn start(&self, run: &Run, call: Call) -> Started {
        let engine = run.engine.clone();
        let rules = NetRules::of(&run.assistant.safety);
        let webhook = self.0.clone();
        let Call {
            index,
            arguments,
            sink,
            cut,
            ..
        } = call;
        Started::Running(timed(index, cut, async move {
            engine
                .inner
                .tools
                .webhooks
                .call(&webhook, &rules, &arguments, WHOLE_OUTPUT_LIMIT, &sink)
                .await
        }))
    }
}
