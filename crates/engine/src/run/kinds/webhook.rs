//! A webhook tool: the call's arguments POSTed to a URL, its answer the output.

use super::{Call, Policy, Started, ToolKind};
use crate::net::NetRules;
use crate::run::Run;
use crate::run::calls::{WHOLE_OUTPUT_LIMIT, timed};
use crate::validate::function_name;
use crate::{EngineError, EngineResult};
use agentdeck_model::{ToolCallType, WebhookTool};
use agentdeck_providers::{ROUTING_TOOL, ToolSpec};

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

/// A webhook without a name is called "webhook" (the name the model calls it by).
pub(super) fn complete_definition(w: &mut WebhookTool) {
    if w.name.is_none() {
        w.name = Some("webhook".into());
    }
}

/// Whether a webhook tool's definition (`tools[i]`) will do.
pub(super) fn check_definition(i: usize, w: &WebhookTool) -> EngineResult<()> {
    let invalid = |field: &str, message: String| EngineError::Invalid {
        message: format!("tools[{i}].{field} {message}"),
        param: Some(format!("tools[{i}].{field}")),
    };
    let http_url = |url: &str| {
        reqwest::Url::parse(url)
            .ok()
            .is_some_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
    };
    if !http_url(&w.endpoint) {
        return Err(invalid(
            "endpoint",
            format!("{:?} is not an http(s) URL.", w.endpoint),
        ));
    }
    if let Some(name) = &w.name {
        if !function_name(name) || name == ROUTING_TOOL {
            return Err(invalid(
                "name",
                format!(
                    "{name:?} must be 1-64 letters, digits, '_' or '-', and not '{ROUTING_TOOL}'."
                ),
            ));
        }
    }
    if let Some(schema) = &w.parameters {
        if !schema.is_object() {
            return Err(invalid(
                "parameters",
                "must be a JSON schema object.".into(),
            ));
        }
        if let Err(err) = jsonschema::validator_for(schema) {
            return Err(invalid(
                "parameters",
                format!("is not a valid JSON Schema: {err}"),
            ));
        }
    }
    if w.timeout_ms().clamp(1, 600_000) != w.timeout_ms() {
        return Err(invalid("timeout_ms", "must be 1 to 600000.".into()));
    }
    if let Some(agentdeck_model::WebhookAuth::OAuth2(oauth)) = &w.auth {
        if !http_url(&oauth.token_url) {
            return Err(invalid(
                "auth.token_url",
                format!("{:?} is not an http(s) URL.", oauth.token_url),
            ));
        }
        // Without credentials every call would fail: say so now, naming what is missing.
        let missing: Vec<&str> = [
            (
                &oauth.client_id_env,
                "client_id_env",
                agentdeck_model::OAuth2::DEFAULT_CLIENT_ID_ENV,
            ),
            (
                &oauth.client_secret_env,
                "client_secret_env",
                agentdeck_model::OAuth2::DEFAULT_CLIENT_SECRET_ENV,
            ),
        ]
        .into_iter()
        .filter(|(named, _, default)| {
            named.is_none() && std::env::var_os(default).is_none_or(|v| v.is_empty())
        })
        .map(|(_, field, _)| field)
        .collect();
        if !missing.is_empty() {
            return Err(invalid(
                "auth",
                format!(
                    "needs client credentials for OAuth2: {} not set. Name the server's environment variables that hold them (\"client_id_env\": \"MY_CLIENT_ID\", \"client_secret_env\": \"MY_CLIENT_SECRET\"), or set {} and {} where `agentdeck serve` runs.",
                    missing.join(" and "),
                    agentdeck_model::OAuth2::DEFAULT_CLIENT_ID_ENV,
                    agentdeck_model::OAuth2::DEFAULT_CLIENT_SECRET_ENV,
                ),
            ));
        }
    }
    Ok(())
}
