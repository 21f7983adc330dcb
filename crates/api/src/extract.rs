//! Request extractors that fail with clear OpenAI-style errors.

use super::AppState;
use super::error::ApiError;
use agentdeck_engine::Scope;
use agentdeck_model::hash_key;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

/// The largest request body accepted.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// Path parameters. A path that does not decode (`%FF` is not UTF-8) is a JSON error
/// like every other, not axum's plain-text one.
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(rejection) => Err(ApiError::invalid(
                format!("The path is not valid: {}", rejection.body_text()),
                None,
            )),
        }
    }
}

/// Refuses a body declared larger than its route takes before reading any of it, so a
/// client cannot hold a connection open by announcing a huge body and sending none:
/// [`BODY_LIMIT`], or for an upload `upload_limit` (the file limit and its framing), or
/// for OTLP's spans `otlp_limit` (`[otlp] max_body_bytes`).
pub async fn refuse_oversize(
    axum::extract::State((upload_limit, otlp_limit)): axum::extract::State<(usize, usize)>,
    request: Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let limit = match request.uri().path() {
        "/v2/files" => upload_limit,
        "/v1/traces" => otlp_limit,
        path if path.starts_with("/v1/") => crate::gateway::BODY_LIMIT,
        _ => BODY_LIMIT,
    };
    let declared = request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return ApiError::too_large(limit).into_response();
    }
    next.run(request).await
}

/// A JSON body, decoded strictly: wrong types and unknown fields name the field.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = read_body(req, state).await?;
        decode(&bytes).map(JsonBody)
    }
}

/// Like [`JsonBody`], but an empty body is the type's default.
pub struct OptionalJsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalJsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = read_body(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJsonBody(T::default()));
        }
        decode(&bytes).map(OptionalJsonBody)
    }
}

/// A body that sends nothing for this long is given up on.
const BODY_STALL: std::time::Duration = std::time::Duration::from_secs(30);

/// The body, within [`BODY_LIMIT`], arriving without a pause of [`BODY_STALL`] (it is
/// at most 1 MiB: the whole of it in that time is a pause of that time).
async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    let read = tokio::time::timeout(BODY_STALL, Bytes::from_request(req, state)).await;
    let Ok(read) = read else {
        return Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "invalid_request_error",
            "body_timeout",
            format!(
                "The request body did not arrive within {} s.",
                BODY_STALL.as_secs()
            ),
        ));
    };
    read.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large(BODY_LIMIT)
        } else {
            ApiError::invalid(
                format!("Could not read the request body: {}", rejection.body_text()),
                None,
            )
        }
    })
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::invalid(
            "The request body is empty; a JSON object was expected.",
            None,
        ));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::invalid(format!("The request body is not valid JSON: {inner}"), None)
        } else if path == "." {
            ApiError::invalid(format!("Invalid request body: {inner}"), None)
        } else {
            ApiError::invalid(format!("Invalid '{path}': {inner}"), Some(path))
        }
    })?;
    deserializer.end().map_err(|err| {
        ApiError::invalid(format!("The request body is not valid JSON: {err}"), None)
    })?;
    Ok(value)
}

/// The caller: what it may see, and whether it holds the admin key.
pub struct Caller {
    pub scope: Scope,
    pub admin: bool,
}

impl Caller {
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.admin {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "This needs the admin key; project keys cannot do it.",
            ))
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Caller::authenticate(parts, state, true).await
    }
}

impl Caller {
    /// Who sends the request, by its bearer key; `limit_rate`: a project key's request
    /// counts against its rate (OTLP's receiver counts spans instead).
    pub async fn authenticate(
        parts: &mut Parts,
        state: &AppState,
        limit_rate: bool,
    ) -> Result<Caller, ApiError> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| {
                ApiError::unauthorized(
                    "missing_api_key",
                    "Missing bearer authentication: send 'Authorization: Bearer KEY'.",
                )
            })?;
        let key = header
            .to_str()
            .ok()
            .and_then(|value| {
                value
                    .strip_prefix("Bearer ")
                    .or_else(|| value.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|key| !key.is_empty())
            .ok_or_else(|| {
                ApiError::unauthorized(
                    "invalid_api_key",
                    "The Authorization header must be 'Bearer KEY'.",
                )
            })?;
        let project_header = match parts.headers.get("openai-project") {
            Some(value) => Some(
                value
                    .to_str()
                    .map_err(|_| {
                        ApiError::invalid(
                            "The OpenAI-Project header is not text.",
                            Some("OpenAI-Project".into()),
                        )
                    })?
                    .trim()
                    .to_string(),
            )
            .filter(|p| !p.is_empty()),
            None => None,
        };
        let hash = hash_key(key);
        if hash == state.admin_key_hash {
            let scope = match project_header {
                Some(project) => {
                    // A project that is not there is 404 on every route, before any of
                    // them looks (one route listing nothing and another refusing, for the
                    // same header, told the caller nothing).
                    state
                        .engine
                        .project(&Scope::All, &project)
                        .map_err(ApiError::from)?;
                    Scope::Project(project)
                }
                None => Scope::All,
            };
            return Ok(Caller { scope, admin: true });
        }
        let project = state
            .engine
            .project_of_key(key)
            .map_err(ApiError::from)?
            .ok_or_else(|| {
                ApiError::unauthorized("invalid_api_key", "Incorrect API key provided.")
            })?;
        if project_header
            .as_ref()
            .is_some_and(|named| *named != project)
        {
            return Err(ApiError::unauthorized(
                "project_mismatch",
                "The OpenAI-Project header names a project this key does not belong to.",
            ));
        }
        if limit_rate && !state.rates.take(&hash) {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                "rate_limit_exceeded",
                "Too many requests with this key; wait a moment (see Retry-After).",
            ));
        }
        Ok(Caller {
            scope: Scope::Project(project),
            admin: false,
        })
    }
}

/// Query parameters, read by hand so that bad values get clear errors.
pub struct Params(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or("");
        Ok(Params(
            form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect(),
        ))
    }
}

impl Params {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn limit(&self, default: usize, max: usize) -> Result<usize, ApiError> {
        match self.get("limit") {
            None => Ok(default),
            Some(text) => match text.parse::<usize>() {
                Ok(n) if (1..=max).contains(&n) => Ok(n),
                _ => Err(ApiError::invalid(
                    format!("limit must be a number from 1 to {max}."),
                    Some("limit".into()),
                )),
            },
        }
    }

    /// `order=asc|desc`; true for ascending.
    pub fn ascending(&self) -> Result<bool, ApiError> {
        match self.get("order") {
            None | Some("desc") => Ok(false),
            Some("asc") => Ok(true),
            Some(_) => Err(ApiError::invalid(
                "order must be 'asc' or 'desc'.",
                Some("order".into()),
            )),
        }
    }

    pub fn flag(&self, name: &str) -> Result<bool, ApiError> {
        match self.get(name) {
            None | Some("false") | Some("0") => Ok(false),
            Some("true") | Some("1") | Some("") => Ok(true),
            Some(_) => Err(ApiError::invalid(
                format!("{name} must be true or false."),
                Some(name.into()),
            )),
        }
    }
}
