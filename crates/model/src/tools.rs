//! The tools an assistant may call, as the seed writes them (tagged by `type`), with
//! their handlers, limits and approval.

use super::Approval;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// A tool an assistant may call, tagged by `type` as the seed writes it.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Tool {
    Function(FunctionTool),
    FileSearch(FileSearchTool),
    CodeInterpreter(CodeInterpreterTool),
    Webhook(WebhookTool),
    Mcp(McpTool),
}

// Decoded by hand so that an error names the field inside the tool
// (`function.name: invalid type ...`); serde's tagged enums lose that path.
impl<'de> Deserialize<'de> for Tool {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        fn variant<T: serde::de::DeserializeOwned, E: Error>(value: Value) -> Result<T, E> {
            serde_path_to_error::deserialize(value).map_err(|err| {
                let path = err.path().to_string();
                let inner = err.into_inner();
                if path == "." {
                    E::custom(inner)
                } else {
                    E::custom(format!("{path}: {inner}"))
                }
            })
        }
        let mut value = Value::deserialize(deserializer)?;
        let Some(object) = value.as_object_mut() else {
            return Err(D::Error::custom("a tool must be an object with a \"type\""));
        };
        let kind = match object.remove("type") {
            Some(Value::String(kind)) => kind,
            Some(_) => return Err(D::Error::custom("type: expected a string")),
            None => return Err(D::Error::missing_field("type")),
        };
        match kind.as_str() {
            "function" => variant(value).map(Tool::Function),
            "file_search" => variant(value).map(Tool::FileSearch),
            "code_interpreter" => variant(value).map(Tool::CodeInterpreter),
            "webhook" => variant(value).map(Tool::Webhook),
            "mcp" => variant(value).map(Tool::Mcp),
            other => Err(D::Error::unknown_variant(
                other,
                &[
                    "function",
                    "file_search",
                    "code_interpreter",
                    "webhook",
                    "mcp",
                ],
            )),
        }
    }
}

impl Tool {
    /// The name the model calls this tool by, if it is a single named tool.
    pub fn call_name(&self) -> Option<&str> {
        match self {
            Tool::Function(f) => Some(&f.function.name),
            Tool::FileSearch(_) => Some("file_search"),
            Tool::CodeInterpreter(c) => c.enabled.then_some("code_interpreter"),
            Tool::Webhook(w) => Some(w.name.as_deref().unwrap_or("webhook")),
            Tool::Mcp(_) => None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FunctionTool {
    pub function: FunctionDef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handler: Option<Handler>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<Approval>,
    /// A read-only tool never needs approval under `approval: "on-write"`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
    /// Under privacy "strict", the values behind the placeholders of the arguments the
    /// model writes are put back before this tool runs (other tools get placeholders).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub trusted: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FunctionDef {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default = "empty_object_schema")]
    pub parameters: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

pub fn empty_object_schema() -> Value {
    serde_json::json!({"type": "object", "properties": {}})
}

/// A command that answers a function tool: JSON arguments on stdin, output on stdout.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Handler {
    pub command: Vec<String>,
    #[serde(default = "default_handler_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_handler_timeout_ms() -> u64 {
    10_000
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FileSearchTool {
    #[serde(default)]
    pub vector_store_ids: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CodeInterpreterTool {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Wall time of one run of code; its CPU time is bounded by this too (at most 60 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

impl CodeInterpreterTool {
    /// Wall time of one run of code, unless the tool says otherwise.
    pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;

    pub fn timeout_ms(&self) -> u64 {
        self.timeout_ms.unwrap_or(Self::DEFAULT_TIMEOUT_MS)
    }
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WebhookTool {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub parameters: Option<Value>,
    pub endpoint: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<WebhookAuth>,
    /// The whole call (token included) must be done within this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Under privacy "strict", the values behind the placeholders of the arguments the
    /// model writes are put back before this tool runs (other tools get placeholders).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub trusted: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<Approval>,
}

impl WebhookTool {
    /// Time for the whole call (token included), unless the tool says otherwise.
    pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;

    pub fn timeout_ms(&self) -> u64 {
        self.timeout_ms.unwrap_or(Self::DEFAULT_TIMEOUT_MS)
    }
}

/// How a webhook authenticates.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type")]
pub enum WebhookAuth {
    /// The OAuth2 client-credentials flow: a token from `token_url` for the client whose
    /// id and secret are in the runtime's environment variables named here.
    #[serde(rename = "oauth2")]
    OAuth2(OAuth2),
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OAuth2 {
    pub token_url: String,
    /// The server's environment variable holding the client id (default
    /// [`OAuth2::DEFAULT_CLIENT_ID_ENV`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id_env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

impl OAuth2 {
    /// Where the client id is read from when `client_id_env` names no variable.
    pub const DEFAULT_CLIENT_ID_ENV: &'static str = "AGENTDECK_OAUTH_CLIENT_ID";
    /// Where the client secret is read from when `client_secret_env` names none.
    pub const DEFAULT_CLIENT_SECRET_ENV: &'static str = "AGENTDECK_OAUTH_CLIENT_SECRET";

    /// The variable holding the client id.
    pub fn client_id_var(&self) -> &str {
        self.client_id_env
            .as_deref()
            .unwrap_or(Self::DEFAULT_CLIENT_ID_ENV)
    }

    /// The variable holding the client secret.
    pub fn client_secret_var(&self) -> &str {
        self.client_secret_env
            .as_deref()
            .unwrap_or(Self::DEFAULT_CLIENT_SECRET_ENV)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct McpTool {
    pub server_label: String,
    #[serde(default)]
    pub command: Option<Vec<String>>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub allowed_tools: Option<Vec<String>>,
    /// Environment of a stdio server, on top of PATH, HOME, LANG and TZ (nothing else of
    /// the runtime's environment is passed on).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// How long one call may take.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Under privacy "strict", the values behind the placeholders of the arguments the
    /// model writes are put back before this tool runs (other tools get placeholders).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub trusted: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<Approval>,
}

impl McpTool {
    /// Time for one call, unless the tool says otherwise.
    pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;

    pub fn timeout_ms(&self) -> u64 {
        self.timeout_ms.unwrap_or(Self::DEFAULT_TIMEOUT_MS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_assistant_tools_parse_and_unknown_fields_are_rejected() {
        let tools: Vec<Tool> = serde_json::from_value(serde_json::json!([
            {"type": "file_search", "vector_store_ids": ["vs_legal_docs_2026"]},
            {"type": "code_interpreter", "enabled": true},
            {"type": "function", "function": {"name": "retrieve_clauses"}}
        ]))
        .unwrap();
        assert_eq!(tools.len(), 3);
        assert_eq!(tools[2].call_name(), Some("retrieve_clauses"));
        let bad = serde_json::from_value::<Tool>(serde_json::json!(
            {"type": "function", "function": {"name": "x"}, "handlr": {}}
        ));
        assert!(bad.unwrap_err().to_string().contains("handlr"));
    }
}
