//! Configuration (SPEC §2) and the places agentdeck keeps its files.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub providers: BTreeMap<String, ProviderConfig>,
    #[serde(default)]
    pub model_aliases: BTreeMap<String, String>,
    #[serde(default)]
    pub prices: BTreeMap<String, Price>,
    #[serde(default)]
    pub ui: UiConfig,
    #[serde(default)]
    pub limits: ServerLimits,
    #[serde(default)]
    pub telemetry: TelemetryConfig,
    #[serde(default)]
    pub api: ApiConfig,
    #[serde(default)]
    pub otlp: OtlpConfig,
    #[serde(default)]
    pub gateway: GatewayConfig,
    /// `[[remotes]]`: runtimes the workspace may watch, by name (`--remote NAME`).
    #[serde(default)]
    pub remotes: Vec<RemoteConfig>,
}

/// One `[[remotes]]` entry: a runtime's name, its URL, and the environment variable that
/// holds its API key (a key never sits in the config file).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RemoteConfig {
    pub name: String,
    pub url: String,
    #[serde(default = "default_api_key_env")]
    pub api_key_env: String,
}

fn default_api_key_env() -> String {
    "AGENTDECK_API_KEY".into()
}

/// `[api]`: how much one project key may ask of the server.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Requests per second a project key may make, on average.
    #[serde(default = "default_requests_per_second")]
    pub requests_per_second: f64,
    /// Requests a project key may make at once after a quiet spell.
    #[serde(default = "default_request_burst")]
    pub request_burst: u32,
}

fn default_requests_per_second() -> f64 {
    50.0
}

fn default_request_burst() -> u32 {
    200
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            requests_per_second: default_requests_per_second(),
            request_burst: default_request_burst(),
        }
    }
}

/// `[otlp]`: what `POST /v1/traces` (and its gRPC twin) takes from the agents that send
/// their spans to `serve`.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OtlpConfig {
    /// The largest request body, compressed or not (and what a gzip body may inflate to).
    #[serde(default = "default_otlp_body_bytes")]
    pub max_body_bytes: usize,
    /// Spans one request may carry.
    #[serde(default = "default_otlp_spans_per_request")]
    pub max_spans_per_request: usize,
    /// Bytes of one attribute value kept (longer text is cut, and says so).
    #[serde(default = "default_otlp_attribute_bytes")]
    pub max_attribute_bytes: usize,
    /// Attributes of one span kept.
    #[serde(default = "default_otlp_attributes")]
    pub max_attributes: usize,
    /// Spans per second one project may send, on average (twice that at once).
    #[serde(default = "default_otlp_spans_per_second")]
    pub spans_per_second: f64,
    /// How long a span whose parent has not arrived waits for it before it is placed by
    /// what is known (exporters send a parent after its children).
    #[serde(default = "default_otlp_settle_ms")]
    pub settle_ms: u64,
    /// Days an external thread is kept after its last span (its messages with it);
    /// 0 keeps them forever.
    #[serde(default = "default_otlp_retention_days")]
    pub retention_days: f64,
}

fn default_otlp_retention_days() -> f64 {
    30.0
}

fn default_otlp_body_bytes() -> usize {
    16 * 1024 * 1024
}

fn default_otlp_spans_per_request() -> usize {
    20_000
}

fn default_otlp_attribute_bytes() -> usize {
    16 * 1024
}

fn default_otlp_attributes() -> usize {
    128
}

fn default_otlp_spans_per_second() -> f64 {
    50_000.0
}

fn default_otlp_settle_ms() -> u64 {
    2_000
}

impl Default for OtlpConfig {
    fn default() -> Self {
        OtlpConfig {
            max_body_bytes: default_otlp_body_bytes(),
            max_spans_per_request: default_otlp_spans_per_request(),
            max_attribute_bytes: default_otlp_attribute_bytes(),
            max_attributes: default_otlp_attributes(),
            spans_per_second: default_otlp_spans_per_second(),
            settle_ms: default_otlp_settle_ms(),
            retention_days: default_otlp_retention_days(),
        }
    }
}

/// `[gateway]`: what the model gateway (`/v1/chat/completions`, `/v1/responses`,
/// `/v1/messages`) does to the calls agents make through it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    /// Globs of tool names: an answer that asks for one waits for an operator's approval
    /// before the client gets it.
    #[serde(default)]
    pub hold_tools: Vec<String>,
    /// How long a held answer waits for an operator before it is denied ("10m", "90s").
    #[serde(default = "default_hold_timeout", deserialize_with = "duration")]
    pub hold_timeout: std::time::Duration,
    /// Personal data in what clients send is replaced by placeholders before it reaches
    /// the provider, and restored in what the client gets back (`mode = "strict"`).
    #[serde(default)]
    pub privacy: crate::Privacy,
}

fn default_hold_timeout() -> std::time::Duration {
    std::time::Duration::from_secs(600)
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            hold_tools: Vec::new(),
            hold_timeout: default_hold_timeout(),
            privacy: crate::Privacy::default(),
        }
    }
}

impl GatewayConfig {
    /// Whether a call to the tool `name` waits for an operator.
    pub fn holds(&self, name: &str) -> bool {
        self.hold_tools
            .iter()
            .any(|pattern| glob_match(pattern, name))
    }
}

/// A duration as people write one: `500ms`, `90s`, `10m`, `2h` (a bare number is seconds).
pub fn parse_duration(text: &str) -> Option<std::time::Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .ok()
        .filter(|n: &f64| n.is_finite() && *n >= 0.0)?;
    let seconds = match unit.trim() {
        "ms" => number / 1000.0,
        "" | "s" => number,
        "m" => number * 60.0,
        "h" => number * 3600.0,
        _ => return None,
    };
    Some(std::time::Duration::from_secs_f64(seconds))
}

fn duration<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<std::time::Duration, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse_duration(&text).ok_or_else(|| {
        serde::de::Error::custom(format!(
            "`{text}` is not a duration: write it as 500ms, 90s, 10m or 2h"
        ))
    })
}

/// `[telemetry]`: where projects' `logs_webhook`s may point, and where the runtime's own
/// runs go as OpenTelemetry spans.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {
    /// Hosts a `logs_webhook` may reach although they are loopback or private (the same
    /// rule as an assistant's `safety.allowed_domains`: the exact host).
    #[serde(default)]
    pub allowed_domains: Vec<String>,
    /// A collector's base URL (as `OTEL_EXPORTER_OTLP_ENDPOINT`): every run is sent there
    /// as GenAI-convention spans. None: nothing is exported.
    #[serde(default)]
    pub otlp_endpoint: Option<String>,
    #[serde(default)]
    pub otlp_protocol: OtlpProtocol,
    /// Headers on every export; a value `env:NAME` is read from that variable.
    #[serde(default)]
    pub otlp_headers: BTreeMap<String, String>,
    /// Messages, tool arguments and results in the spans too (off by default: they may
    /// hold what users would not send to a tracing backend).
    #[serde(default)]
    pub otlp_capture_content: bool,
}

/// OTLP's transports, named as `OTEL_EXPORTER_OTLP_PROTOCOL` names them.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
pub enum OtlpProtocol {
    #[default]
    #[serde(rename = "http/protobuf")]
    HttpProtobuf,
    #[serde(rename = "http/json")]
    HttpJson,
    #[serde(rename = "grpc")]
    Grpc,
}

/// The ceiling on any one reply's output, whatever an assistant asks for.
pub const DEFAULT_MAX_OUTPUT_TOKENS: u32 = 32_000;
/// A reply's output bound when its assistant sets none.
pub const DEFAULT_REPLY_OUTPUT_TOKENS: u32 = 16_000;

/// `[limits]`: bounds the server holds every run to.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServerLimits {
    /// Server ceiling for any one reply (output tokens, all model steps together).
    #[serde(default = "default_max_output_tokens")]
    pub max_output_tokens: u32,
    /// The largest file `POST /v2/files` takes.
    #[serde(default = "default_max_file_bytes")]
    pub max_file_bytes: u64,
}

fn default_max_file_bytes() -> u64 {
    32 * 1024 * 1024
}

fn default_max_output_tokens() -> u32 {
    DEFAULT_MAX_OUTPUT_TOKENS
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            max_output_tokens: DEFAULT_MAX_OUTPUT_TOKENS,
            max_file_bytes: default_max_file_bytes(),
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ProviderKind {
    OpenaiResponses,
    OpenaiChat,
    Anthropic,
    Local,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    pub kind: ProviderKind,
    #[serde(default)]
    pub base_url: Option<String>,
    #[serde(default)]
    pub api_key_env: Option<String>,
    #[serde(default)]
    pub models: Vec<String>,
    #[serde(default)]
    pub project_header: Option<String>,
    /// Attempts per model call, the first included (default 4).
    #[serde(default)]
    pub attempts: Option<u32>,
    /// First retry backoff in ms, doubled per attempt (default 500).
    #[serde(default)]
    pub retry_base_ms: Option<u64>,
    /// Give up on a connection after this many ms (default 10000).
    #[serde(default)]
    pub connect_timeout_ms: Option<u64>,
    /// Give up on a stream silent for this many ms (default 120000).
    #[serde(default)]
    pub idle_timeout_ms: Option<u64>,
    /// Whether its models take images (default true); when false, an attached image is
    /// named in the message with a note instead of sent.
    #[serde(default = "yes")]
    pub images: bool,
    /// A model of its OpenAI-compatible `POST {base_url}/embeddings`: vector stores then
    /// rank chunks by BM25 and by these vectors together (the first provider that names
    /// one is used).
    #[serde(default)]
    pub embeddings_model: Option<String>,
}

fn yes() -> bool {
    true
}

/// USD per one million tokens.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Price {
    pub input: f64,
    pub output: f64,
}

impl Config {
    /// USD for `usage` of `model` (prices are per million tokens); a model without a
    /// price costs nothing.
    pub fn cost(&self, model: &str, input_tokens: u64, output_tokens: u64) -> f64 {
        self.prices.get(model).map_or(0.0, |price| {
            (input_tokens as f64 * price.input + output_tokens as f64 * price.output) / 1_000_000.0
        })
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct UiConfig {
    #[serde(default = "default_name")]
    pub theme: String,
    #[serde(default = "default_name")]
    pub keymap: String,
    /// Capture the mouse (click to focus and select, wheel to scroll). Off by default:
    /// capturing it takes the terminal's own text selection away.
    #[serde(default)]
    pub mouse: bool,
    /// When a thread needs the operator (it waits for them, or a run failed): ring the
    /// terminal bell.
    #[serde(default = "yes")]
    pub bell: bool,
    /// ... and send a desktop notification through the terminal (OSC 9 and OSC 777; they
    /// work over SSH in terminals that support them).
    #[serde(default = "yes")]
    pub notifications: bool,
    /// ... and run this command (no shell), the alert's text as its last argument, e.g.
    /// `["notify-send", "agentdeck"]`.
    #[serde(default)]
    pub notify_command: Option<Vec<String>>,
}

fn default_name() -> String {
    "default".into()
}

impl Default for UiConfig {
    fn default() -> Self {
        UiConfig {
            theme: default_name(),
            keymap: default_name(),
            mouse: false,
            bell: true,
            notifications: true,
            notify_command: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

impl Config {
    /// Loads `path`; a missing file is the empty configuration unless it was asked for.
    pub fn load(path: &Path, required: bool) -> Result<Config, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound && !required => {
                return Ok(Config::default());
            }
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        Config::parse(&text).map_err(|message| ConfigError::Invalid {
            path: path.to_path_buf(),
            message,
        })
    }

    /// Parses and checks a configuration; the error names the key and what is wrong.
    pub fn parse(text: &str) -> Result<Config, String> {
        let config: Config =
            toml::from_str(text).map_err(|err| err.to_string().trim().to_string())?;
        for (name, provider) in &config.providers {
            if let Some(url) = &provider.base_url {
                let ok = (url.starts_with("http://") || url.starts_with("https://"))
                    && url.len() > "https://".len();
                if !ok {
                    return Err(format!(
                        "providers.{name}.base_url: {url:?} is not an http(s) URL"
                    ));
                }
            } else if provider.kind != ProviderKind::Local {
                return Err(format!("providers.{name}.base_url: missing"));
            }
            if provider.attempts == Some(0) {
                return Err(format!("providers.{name}.attempts: must be at least 1"));
            }
            for (key, value) in [
                ("connect_timeout_ms", provider.connect_timeout_ms),
                ("idle_timeout_ms", provider.idle_timeout_ms),
            ] {
                if value == Some(0) {
                    return Err(format!("providers.{name}.{key}: must be more than 0"));
                }
            }
        }
        for (model, price) in &config.prices {
            for (side, value) in [("input", price.input), ("output", price.output)] {
                // No negative (or negative-zero) price: a cost only ever grows.
                if !(value.is_finite() && value >= 0.0) || value.is_sign_negative() {
                    return Err(format!(
                        "prices.{model}.{side}: must be a number of USD per million tokens, 0 or more"
                    ));
                }
            }
        }
        if !(config.api.requests_per_second > 0.0 && config.api.requests_per_second.is_finite())
            || config.api.request_burst == 0
        {
            return Err(
                "api.requests_per_second and api.request_burst: must be greater than zero".into(),
            );
        }
        let otlp = &config.otlp;
        if otlp.max_body_bytes == 0
            || otlp.max_spans_per_request == 0
            || otlp.max_attribute_bytes == 0
            || !(otlp.spans_per_second > 0.0 && otlp.spans_per_second.is_finite())
        {
            return Err("otlp.max_body_bytes, max_spans_per_request, max_attribute_bytes and spans_per_second: must be greater than zero".into());
        }
        if !(otlp.retention_days >= 0.0 && otlp.retention_days.is_finite()) {
            return Err("otlp.retention_days: must be zero (keep forever) or more".into());
        }
        if let Some(endpoint) = &config.telemetry.otlp_endpoint {
            let https = endpoint.starts_with("https://");
            if !https && !endpoint.starts_with("http://") {
                return Err(format!(
                    "telemetry.otlp_endpoint {endpoint:?}: must be an http:// or https:// URL"
                ));
            }
            if https && config.telemetry.otlp_protocol == OtlpProtocol::Grpc {
                return Err("telemetry.otlp_endpoint: gRPC export is cleartext only here; for an https collector set otlp_protocol = \"http/protobuf\"".into());
            }
        }
        if config.limits.max_output_tokens == 0 {
            return Err("limits.max_output_tokens: must be at least 1".into());
        }
        for (model, price) in &config.prices {
            if !(price.input >= 0.0 && price.output >= 0.0) {
                return Err(format!("prices.{model:?}: prices must be zero or more"));
            }
        }
        Ok(config)
    }

    /// The real model name behind an alias.
    pub fn resolve_model<'a>(&'a self, model: &'a str) -> &'a str {
        self.model_aliases.get(model).map_or(model, String::as_str)
    }

    /// The configured provider that claims `model` by one of its globs.
    /// The provider (name, config) and model that embed text, if one is configured.
    pub fn embeddings(&self) -> Option<(&str, &ProviderConfig, &str)> {
        self.providers.iter().find_map(|(name, provider)| {
            provider
                .embeddings_model
                .as_deref()
                .map(|model| (name.as_str(), provider, model))
        })
    }

    /// Whether a (resolved) model takes images: the local model does, a provider's
    /// models unless its `images = false`.
    pub fn takes_images(&self, model: &str) -> bool {
        self.provider_for(model)
            .is_none_or(|(_, provider)| provider.images)
    }

    /// The model an assistant names runs on the built-in `local` model only because no
    /// provider claims it (not because it asks for `local`).
    pub fn falls_back_to_local(&self, model: &str) -> bool {
        let resolved = self.resolve_model(model);
        resolved != "local" && self.provider_for(resolved).is_none()
    }

    /// One line per configured provider: its name, kind, address and the models it serves.
    pub fn describe_providers(&self) -> Vec<String> {
        self.providers
            .iter()
            .map(|(name, provider)| {
                let kind = match provider.kind {
                    ProviderKind::OpenaiResponses => "openai-responses",
                    ProviderKind::OpenaiChat => "openai-chat",
                    ProviderKind::Anthropic => "anthropic",
                    ProviderKind::Local => "local",
                };
                format!(
                    "{name} ({kind}{}): models {}",
                    provider
                        .base_url
                        .as_deref()
                        .map_or(String::new(), |url| format!(", {url}")),
                    if provider.models.is_empty() {
                        "none listed".to_string()
                    } else {
                        provider.models.join(", ")
                    }
                )
            })
            .collect()
    }

    pub fn provider_for(&self, model: &str) -> Option<(&str, &ProviderConfig)> {
        self.providers
            .iter()
            .find(|(_, provider)| provider.models.iter().any(|glob| glob_match(glob, model)))
            .map(|(name, provider)| (name.as_str(), provider))
    }
}

/// `*` matches any run of characters, `?` one character; everything else literally.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == '?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((star_p, star_t)) = star {
            p = star_p + 1;
            t = star_t + 1;
            star = Some((star_p, star_t + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

fn env_dir(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
}

fn home_dir(rest: &str) -> PathBuf {
    env_dir("HOME")
        .unwrap_or_else(|| PathBuf::from("."))
        .join(rest)
}

/// `AGENTDECK_DATA_DIR`, else `$XDG_DATA_HOME/agentdeck`, else `~/.local/share/agentdeck`.
pub fn default_data_dir() -> PathBuf {
    env_dir("AGENTDECK_DATA_DIR").unwrap_or_else(|| {
        env_dir("XDG_DATA_HOME")
            .unwrap_or_else(|| home_dir(".local/share"))
            .join("agentdeck")
    })
}

/// `AGENTDECK_CONFIG`, else `$XDG_CONFIG_HOME/agentdeck/config.toml`.
pub fn default_config_file() -> PathBuf {
    env_dir("AGENTDECK_CONFIG").unwrap_or_else(|| config_dir().join("config.toml"))
}

pub fn config_dir() -> PathBuf {
    env_dir("XDG_CONFIG_HOME")
        .unwrap_or_else(|| home_dir(".config"))
        .join("agentdeck")
}

/// `$XDG_STATE_HOME/agentdeck`, where the log file goes.
pub fn state_dir() -> PathBuf {
    env_dir("XDG_STATE_HOME")
        .unwrap_or_else(|| home_dir(".local/state"))
        .join("agentdeck")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_example_parses_and_resolves() {
        let config = Config::parse(
            r#"
[providers.openai]
kind = "openai-responses"
base_url = "https://api.openai.com/v1"
api_key_env = "OPENAI_API_KEY"
models = ["gpt-*", "o*"]
project_header = "OPENAI_PROJECT_ID"

[providers.ollama]
kind = "openai-chat"
base_url = "http://127.0.0.1:11434/v1"
models = ["llama*", "qwen*"]

[model_aliases]
"gpt-4-reasoner-2026" = "o4-mini"

[prices."o4-mini"]
input = 1.10
output = 4.40

[ui]
theme = "default"
keymap = "default"
"#,
        )
        .unwrap();
        let model = config.resolve_model("gpt-4-reasoner-2026");
        assert_eq!(model, "o4-mini");
        assert_eq!(config.provider_for(model).unwrap().0, "openai");
        assert_eq!(config.provider_for("qwen2.5").unwrap().0, "ollama");
        assert!(config.provider_for("claude-x").is_none());
    }

    #[test]
    fn errors_name_the_key() {
        let err =
            Config::parse("[providers.x]\nkind = \"grok\"\nbase_url = \"http://h\"\n").unwrap_err();
        assert!(err.contains("kind") && err.contains("grok"), "{err}");
        let err = Config::parse("[providers.x]\nkind = \"openai-chat\"\nbase_url = \"ftp://h\"\n")
            .unwrap_err();
        assert!(err.contains("providers.x.base_url"), "{err}");
        let err = Config::parse("[uii]\n").unwrap_err();
        assert!(err.contains("uii"), "{err}");
        for bad in ["-1.0", "-0.0", "nan", "inf"] {
            let err =
                Config::parse(&format!("[prices.m]\ninput = {bad}\noutput = 1.0\n")).unwrap_err();
            assert!(err.contains("prices.m.input"), "{bad}: {err}");
        }
        let err = Config::parse("[api]\nrequests_per_second = 0\n").unwrap_err();
        assert!(err.contains("api.requests_per_second"), "{err}");
    }

    #[test]
    fn globs() {
        assert!(glob_match("gpt-*", "gpt-4o"));
        assert!(glob_match("o*", "o4-mini"));
        assert!(!glob_match("o*", "gpt-o"));
        assert!(glob_match("*-mini", "o4-mini"));
        assert!(glob_match("a?c", "abc"));
    }

    #[test]
    fn the_gateway_section_reads_its_holds_timeout_and_privacy() {
        let config = Config::parse(
            "[gateway]\nhold_tools = [\"refund\", \"delete_*\"]\nhold_timeout = \"90s\"\nprivacy = { mode = \"strict\", allowed_entities = [\"ip\"] }\n",
        )
        .unwrap();
        assert!(config.gateway.holds("refund"));
        assert!(config.gateway.holds("delete_user"));
        assert!(!config.gateway.holds("lookup_order"));
        assert_eq!(
            config.gateway.hold_timeout,
            std::time::Duration::from_secs(90)
        );
        assert_eq!(config.gateway.privacy.mode, crate::PrivacyMode::Strict);
        assert_eq!(Config::default().gateway.hold_timeout.as_secs(), 600);
        assert_eq!(
            parse_duration("500ms"),
            Some(std::time::Duration::from_millis(500))
        );
        assert_eq!(
            parse_duration("2h"),
            Some(std::time::Duration::from_secs(7200))
        );
        let bad = Config::parse("[gateway]\nhold_timeout = \"soon\"\n").unwrap_err();
        assert!(bad.to_string().contains("not a duration"), "{bad}");
    }
}
