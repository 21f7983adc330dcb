//! Webhook tools: the model writes a JSON payload; the runtime checks it against the
//! tool's `parameters` (JSON Schema) and POSTs it to the endpoint under the assistant's
//! network rules, with an OAuth2 client-credentials token when the tool asks for one.
//! The output is the HTTP status and a bounded excerpt of the answer.

use super::net::{NetRules, http_error, shown_url};
use agentdeck_model::sync::lock;
use agentdeck_model::{OAuth2, WebhookAuth, WebhookTool};
use futures::StreamExt;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Clients kept (one per set of network rules and timeout); beyond this they start again.
const CLIENTS_KEPT: usize = 64;
/// A token is renewed this long before it expires, so it does not expire in flight.
const TOKEN_MARGIN: Duration = Duration::from_secs(30);
/// Lifetime of a token whose endpoint gives none.
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(300);
/// The most of a token endpoint's answer that is read.
const TOKEN_ANSWER_LIMIT: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct TokenKey {
    token_url: String,
    client_id: String,
    scope: Option<String>,
}

struct Token {
    value: String,
    renew_at: Instant,
}

/// The runtime's webhook caller: HTTP clients and OAuth2 tokens, shared by every run.
#[derive(Default)]
pub struct Webhooks {
    clients: Mutex<HashMap<(NetRules, Duration), reqwest::Client>>,
    tokens: Mutex<HashMap<TokenKey, Token>>,
}

/// A webhook call that did not complete, with the reason the model and operator see.
pub type CallError = String;

impl Webhooks {
    fn client(&self, rules: &NetRules, timeout: Duration) -> Result<reqwest::Client, CallError> {
        let key = (rules.clone(), timeout);
        if let Some(client) = lock(&self.clients).get(&key) {
            return Ok(client.clone());
        }
        let client = rules.client(timeout)?;
        let mut clients = lock(&self.clients);
        if clients.len() >= CLIENTS_KEPT {
            clients.clear();
        }
        clients.insert(key, client.clone());
        Ok(client)
    }

    /// Sends the payload. `Ok` is the output of a 2xx answer; `Err` says why the call
    /// failed (a bad payload, a refused host, an error status, a timeout...).
    pub async fn call(
        &self,
        tool: &WebhookTool,
        rules: &NetRules,
        arguments: &str,
        limit: usize,
        sink: &super::tools::OutputSink,
    ) -> Result<String, CallError> {
        let payload: serde_json::Value = serde_json::from_str(arguments)
            .map_err(|err| format!("the payload is not JSON: {err}"))?;
        if let Some(schema) = &tool.parameters {
            check_payload(schema, &payload)?;
        }
        let endpoint = reqwest::Url::parse(&tool.endpoint)
            .map_err(|err| format!("the endpoint is not a URL: {err}"))?;
        rules.check_url(&endpoint)?;
        let timeout = Duration::from_millis(tool.timeout_ms());
        let client = self.client(rules, timeout)?;
        let oauth = tool.auth.as_ref().map(|WebhookAuth::OAuth2(oauth)| oauth);
        let mut token = match oauth {
            Some(oauth) => Some(self.token(&client, rules, oauth, false).await?),
            None => None,
        };
        let mut refreshed = false;
        loop {
            let mut request = client.post(endpoint.clone()).json(&payload);
            if let Some(token) = &token {
                request = request.bearer_auth(token);
            }
            let response = request
                .send()
                .await
                .map_err(|err| describe(err, &tool.endpoint, timeout))?;
            // An expired or revoked token: one new token, one more try.
            if response.status() == reqwest::StatusCode::UNAUTHORIZED && !refreshed {
                if let Some(oauth) = oauth {
                    refreshed = true;
                    token = Some(self.token(&client, rules, oauth, true).await?);
                    continue;
                }
            }
            let status = response.status();
            let (body, more) = read_capped(response, limit, sink)
                .await
                .map_err(|err| describe(err, &tool.endpoint, timeout))?;
            let mut output = format!(
                "HTTP {} {}",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            )
            .trim_end()
            .to_string();
            if !body.is_empty() {
                output.push('\n');
                output.push_str(&String::from_utf8_lossy(&body));
            }
            if more {
                output.push_str(&format!(
                    "\n[the answer was cut at {limit} bytes; the rest was not read]"
                ));
            }
            return if status.is_success() {
                Ok(output)
            } else {
                Err(output)
            };
        }
    }

    /// A token for `oauth`: the cached one while it is good (unless `renew`), else a new
    /// one from the token endpoint (client credentials, under the same network rules).
    async fn token(
        &self,
        client: &reqwest::Client,
        rules: &NetRules,
        oauth: &OAuth2,
        renew: bool,
    ) -> Result<String, CallError> {
        let client_id = secret(oauth.client_id_var(), "client_id_env")?;
        let client_secret = secret(oauth.client_secret_var(), "client_secret_env")?;
        let key = TokenKey {
            token_url: oauth.token_url.clone(),
            client_id: client_id.clone(),
            scope: oauth.scope.clone(),
        };
        // Checked before a kept token is used too: an assistant that may not reach the
        // token endpoint does not borrow another's token for it.
        let url = reqwest::Url::parse(&oauth.token_url)
            .map_err(|err| format!("auth.token_url {:?} is not a URL: {err}", oauth.token_url))?;
        rules
            .check_url(&url)
            .map_err(|why| format!("the token endpoint is refused: {why}"))?;
        if !renew {
            if let Some(token) = lock(&self.tokens).get(&key) {
                if Instant::now() < token.renew_at {
                    return Ok(token.value.clone());
                }
            }
        }
        let mut form = vec![
            ("grant_type", "client_credentials".to_string()),
            ("client_id", client_id),
            ("client_secret", client_secret),
        ];
        if let Some(scope) = &oauth.scope {
            form.push(("scope", scope.clone()));
        }
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form.iter().map(|(k, v)| (*k, v.as_str())))
            .finish();
        let response = client
            .post(url)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(reqwest::header::ACCEPT, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|err| format!("the OAuth2 token endpoint failed: {}", http_error(err)))?;
        let status = response.status();
        let (answer, _) = read_capped(
            response,
            TOKEN_ANSWER_LIMIT,
            &super::tools::OutputSink::none(),
        )
        .await
        .map_err(|err| format!("the OAuth2 token endpoint failed: {}", http_error(err)))?;
        if !status.is_success() {
            return Err(format!(
                "the OAuth2 token endpoint answered HTTP {}: {}",
                status.as_u16(),
                String::from_utf8_lossy(&answer[..answer.len().min(500)])
            ));
        }
        #[derive(serde::Deserialize)]
        struct TokenAnswer {
            access_token: String,
            #[serde(default)]
            expires_in: Option<u64>,
        }
        let answer: TokenAnswer = serde_json::from_slice(&answer).map_err(|err| {
            format!("the OAuth2 token endpoint's answer has no access_token: {err}")
        })?;
        let lifetime = answer
            .expires_in
            .map_or(DEFAULT_TOKEN_LIFETIME, Duration::from_secs);
        let renew_at = Instant::now() + lifetime.saturating_sub(TOKEN_MARGIN);
        lock(&self.tokens).insert(
            key,
            Token {
                value: answer.access_token.clone(),
                renew_at,
            },
        );
        Ok(answer.access_token)
    }
}

/// The value of the environment variable an auth field names.
fn secret(name: &str, field: &str) -> Result<String, CallError> {
    std::env::var(name).map_err(|_| {
        format!(
            "auth.{field} reads {name}, which is not set in the runtime's environment (set it where `agentdeck serve` runs, or name another variable in auth.{field})"
        )
    })
}

/// Checks a payload against the tool's JSON Schema; the error lists what is wrong where.
pub fn check_payload(
    schema: &serde_json::Value,
    payload: &serde_json::Value,
) -> Result<(), CallError> {
    let validator = jsonschema::validator_for(schema)
        .map_err(|err| format!("the tool's parameters are not a valid JSON Schema: {err}"))?;
    let problems: Vec<String> = validator
        .iter_errors(payload)
        .take(5)
        .map(|err| {
            let at = err.instance_path().to_string();
            if at.is_empty() {
                err.to_string()
            } else {
                format!("{at}: {err}")
            }
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the payload does not match the tool's parameters, nothing was sent: {}",
            problems.join("; ")
        ))
    }
}

/// Reads at most `limit` bytes of an answer; says whether there was more.
/// A body read up to `limit` bytes (and whether there was more), each piece also sent to
/// `sink` as it arrives.
async fn read_capped(
    response: reqwest::Response,
    limit: usize,
    sink: &super::tools::OutputSink,
) -> Result<(Vec<u8>, bool), reqwest::Error> {
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    let mut pieces = super::tools::Utf8Pieces::default();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        let room = limit - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            sink.send(&pieces.push(&chunk[..room]));
            return Ok((body, true));
        }
        sink.send(&pieces.push(&chunk));
        body.extend_from_slice(&chunk);
    }
    Ok((body, false))
}

fn describe(err: reqwest::Error, endpoint: &str, timeout: Duration) -> CallError {
    let endpoint = shown_url(endpoint);
    if err.is_timeout() {
        format!(
            "{endpoint} did not answer within {} ms",
            timeout.as_millis()
        )
    } else {
        format!("the call to {endpoint} failed: {}", http_error(err))
    }
}
