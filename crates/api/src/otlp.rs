//! `POST /v1/traces`: the OTLP/HTTP receiver, and [`GrpcTraces`], the same over gRPC. Exporters send protobuf (their default)
//! or JSON, gzip-compressed or not, with a project key; the answer is OTLP's own
//! (`ExportTraceServiceResponse`, with partial success), and so are its errors
//! (`google.rpc.Status`, with `Retry-After` on 429). The spans are decoded here into
//! the engine's flat [`Span`]s, each attribute bounded by `[otlp]`.

use super::AppState;
use agentdeck_model::config::OtlpConfig;
use agentdeck_model::spans::{Span, SpanEvent, SpanStatus};
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use prost::Message as _;
use serde_json::Value;
use std::io::Read;

const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";

/// `google.rpc.Status`, the body of OTLP's error answers.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// `google.rpc.Status` with its details, as gRPC's `grpc-status-details-bin` carries it.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatusDetails {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
    #[prost(message, repeated, tag = "3")]
    details: Vec<ProtoAny>,
}

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, prost::Message)]
struct ProtoAny {
    #[prost(string, tag = "1")]
    type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    value: Vec<u8>,
}

/// `google.rpc.RetryInfo`: how long a throttled exporter waits.
#[derive(Clone, PartialEq, prost::Message)]
struct RetryInfo {
    #[prost(message, optional, tag = "1")]
    retry_delay: Option<ProtoDuration>,
}

/// `google.protobuf.Duration`.
#[derive(Clone, PartialEq, prost::Message)]
struct ProtoDuration {
    #[prost(int64, tag = "1")]
    seconds: i64,
    #[prost(int32, tag = "2")]
    nanos: i32,
}

fn prost_types_duration(seconds: u64) -> ProtoDuration {
    ProtoDuration {
        seconds: i64::try_from(seconds).unwrap_or(i64::MAX),
        nanos: 0,
    }
}

/// The body's encoding, which the answer uses too.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Protobuf,
    Json,
}

/// An answer OTLP's exporters understand: status, `google.rpc.Status` in the request's
/// encoding, `Retry-After` when they should come back.
struct OtlpError {
    status: StatusCode,
    message: String,
    retry_after: Option<u64>,
}

impl OtlpError {
    fn new(status: StatusCode, message: impl Into<String>) -> OtlpError {
        OtlpError {
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    /// gRPC's code for the HTTP status: INVALID_ARGUMENT, UNAUTHENTICATED, RESOURCE_EXHAUSTED, ...
    fn grpc_code(&self) -> i32 {
        match self.status {
            StatusCode::BAD_REQUEST | StatusCode::UNSUPPORTED_MEDIA_TYPE => 3,
            StatusCode::UNAUTHORIZED => 16,
            StatusCode::FORBIDDEN => 7,
            StatusCode::NOT_FOUND => 5,
            StatusCode::PAYLOAD_TOO_LARGE | StatusCode::TOO_MANY_REQUESTS => 8,
            StatusCode::SERVICE_UNAVAILABLE => 14,
            _ => 13,
        }
    }

    /// The same error as a gRPC status. Exporters retry RESOURCE_EXHAUSTED only with a
    /// `RetryInfo`, which the rate limit's carries (its delay); a body too large has none.
    fn into_grpc(self) -> tonic::Status {
        let code = tonic::Code::from_i32(self.grpc_code());
        match self.retry_after {
            Some(seconds) => {
                let info = RetryInfo {
                    retry_delay: Some(prost_types_duration(seconds)),
                };
                let details = RpcStatusDetails {
                    code: code as i32,
                    message: self.message.clone(),
                    details: vec![ProtoAny {
                        type_url: "type.googleapis.com/google.rpc.RetryInfo".into(),
                        value: info.encode_to_vec(),
                    }],
                };
                tonic::Status::with_details(code, self.message, details.encode_to_vec().into())
            }
            None => tonic::Status::new(code, self.message),
        }
    }

    fn respond(self, encoding: Encoding) -> Response {
        let status = RpcStatus {
            code: self.grpc_code(),
            message: self.message,
        };
        let mut response = match encoding {
            Encoding::Protobuf => (
                self.status,
                [(header::CONTENT_TYPE, PROTOBUF)],
                status.encode_to_vec(),
            )
                .into_response(),
            Encoding::Json => (
                self.status,
                [(header::CONTENT_TYPE, JSON)],
                serde_json::json!({ "code": status.code, "message": status.message }).to_string(),
            )
                .into_response(),
        };
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

pub async fn export_traces(State(state): State<AppState>, request: Request) -> Response {
    let (mut parts, body) = request.into_parts();
    let encoding = match content_type(&parts.headers) {
        Ok(encoding) => encoding,
        // Neither of OTLP's encodings: the error is told in JSON, which a person reads.
        Err(err) => return err.respond(Encoding::Json),
    };
    match export(&state, &mut parts, body, encoding).await {
        Ok(response) => response,
        Err(err) => err.respond(encoding),
    }
}

async fn export(
    state: &AppState,
    parts: &mut axum::http::request::Parts,
    body: axum::body::Body,
    encoding: Encoding,
) -> Result<Response, OtlpError> {
    let limits = state.engine.config().otlp;
    let project = span_project(parts, state).await?;
    let bytes = read_body(body, &parts.headers, limits.max_body_bytes).await?;
    let request = decode(&bytes, encoding)?;
    let response = accept(state, &project, request).await?;
    Ok(match encoding {
        Encoding::Protobuf => {
            ([(header::CONTENT_TYPE, PROTOBUF)], response.encode_to_vec()).into_response()
        }
        Encoding::Json => (
            [(header::CONTENT_TYPE, JSON)],
            serde_json::to_string(&response).unwrap_or_else(|_| "{}".into()),
        )
            .into_response(),
    })
}

/// The project the caller's key sends spans into.
async fn span_project(
    parts: &mut axum::http::request::Parts,
    state: &AppState,
) -> Result<String, OtlpError> {
    let caller = crate::extract::Caller::authenticate(parts, state, false)
        .await
        .map_err(|err| OtlpError::new(err.status, err.body.message))?;
    caller.scope.project().map(str::to_string).ok_or_else(|| {
        OtlpError::new(
            StatusCode::BAD_REQUEST,
            "Spans belong to a project: send a project key (or the admin key with an OpenAI-Project header).",
        )
    })
}

/// A decoded request, whichever transport brought it: counted and rate-limited against
/// the project, flattened, ingested; the answer tells what was rejected.
async fn accept(
    state: &AppState,
    project: &str,
    request: ExportTraceServiceRequest,
) -> Result<ExportTraceServiceResponse, OtlpError> {
    let limits = state.engine.config().otlp;
    let count: usize = request
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len())
        .sum();
    if count > limits.max_spans_per_request {
        return Err(OtlpError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "{count} spans in one request; at most {} are taken (the exporter's batch size, OTEL_BSP_MAX_EXPORT_BATCH_SIZE, should be lower).",
                limits.max_spans_per_request
            ),
        ));
    }
    if !state.span_rates.take_many(project, count as f64) {
        let mut err = OtlpError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "This project sends more than {} spans per second; these were not taken, send them again shortly.",
                limits.spans_per_second
            ),
        );
        err.retry_after = Some(1);
        return Err(err);
    }
    let spans = flatten(request, &limits);
    let report = state
        .engine
        .ingest_spans(project, spans)
        .await
        .map_err(|err| {
            let err = crate::error::ApiError::from(err);
            OtlpError::new(err.status, err.body.message)
        })?;
    Ok(ExportTraceServiceResponse {
        partial_success: (report.rejected > 0).then(|| ExportTracePartialSuccess {
            rejected_spans: report.rejected as i64,
            error_message: report.message.unwrap_or_default(),
        }),
    })
}

/// OTLP over gRPC: `TraceService/Export` served by tonic on the API's own port (HTTP/2,
/// cleartext or TLS), so an exporter's gRPC default works with only the endpoint set.
/// The same key, limits and mapping as `/v1/traces`; errors are gRPC statuses.
#[derive(Clone)]
pub struct GrpcTraces {
    state: AppState,
}

/// The tonic service for `router`'s gRPC path: gzip accepted, messages bounded by
/// `[otlp] max_body_bytes`.
pub fn grpc_service(state: AppState) -> TraceServiceServer<GrpcTraces> {
    let limit = state.engine.config().otlp.max_body_bytes;
    TraceServiceServer::new(GrpcTraces { state })
        .accept_compressed(tonic::codec::CompressionEncoding::Gzip)
        .max_decoding_message_size(limit)
}

#[tonic::async_trait]
impl TraceService for GrpcTraces {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let (metadata, _, request) = request.into_parts();
        let (mut parts, ()) = axum::http::Request::new(()).into_parts();
        parts.headers = metadata.into_headers();
        let answer = async {
            let project = span_project(&mut parts, &self.state).await?;
            accept(&self.state, &project, request).await
        };
        answer
            .await
            .map(tonic::Response::new)
            .map_err(OtlpError::into_grpc)
    }
}

fn content_type(headers: &HeaderMap) -> Result<Encoding, OtlpError> {
    let value = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or(PROTOBUF);
    let mime = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match mime.as_str() {
        PROTOBUF | "application/protobuf" => Ok(Encoding::Protobuf),
        JSON => Ok(Encoding::Json),
        other => Err(OtlpError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "Content-Type {other:?} is not OTLP's: send application/x-protobuf or application/json."
            ),
        )),
    }
}

/// The body, at most `limit` bytes as sent and, for gzip, as inflated.
async fn read_body(
    body: axum::body::Body,
    headers: &HeaderMap,
    limit: usize,
) -> Result<Bytes, OtlpError> {
    let too_large = || {
        OtlpError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("The request body is larger than {limit} bytes ([otlp] max_body_bytes)."),
        )
    };
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        axum::body::to_bytes(body, limit),
    )
    .await
    .map_err(|_| {
        OtlpError::new(
            StatusCode::REQUEST_TIMEOUT,
            "The request body did not arrive within 60 s.",
        )
    })?;
    let bytes = read.map_err(|_| too_large())?;
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("identity")
        .trim()
        .to_ascii_lowercase();
    match encoding.as_str() {
        "identity" | "" => Ok(bytes),
        "gzip" => {
            let mut inflated = Vec::new();
            flate2::read::GzDecoder::new(bytes.as_ref())
                .take(limit as u64 + 1)
                .read_to_end(&mut inflated)
                .map_err(|err| {
                    OtlpError::new(
                        StatusCode::BAD_REQUEST,
                        format!("The gzip body does not inflate: {err}"),
                    )
                })?;
            if inflated.len() > limit {
                return Err(too_large());
            }
            Ok(Bytes::from(inflated))
        }
        other => Err(OtlpError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Content-Encoding {other:?} is not taken: send gzip or none."),
        )),
    }
}

fn decode(bytes: &[u8], encoding: Encoding) -> Result<ExportTraceServiceRequest, OtlpError> {
    match encoding {
        Encoding::Protobuf => ExportTraceServiceRequest::decode(bytes).map_err(|err| {
            OtlpError::new(
                StatusCode::BAD_REQUEST,
                format!("The body is not an OTLP ExportTraceServiceRequest in protobuf: {err}"),
            )
        }),
        Encoding::Json => serde_json::from_slice(bytes).map_err(|err| {
            OtlpError::new(
                StatusCode::BAD_REQUEST,
                format!("The body is not an OTLP ExportTraceServiceRequest in JSON: {err}"),
            )
        }),
    }
}

/// The wire's resource → scope → span nesting, flattened into the engine's spans.
pub fn flatten(request: ExportTraceServiceRequest, limits: &OtlpConfig) -> Vec<Span> {
    let mut spans = Vec::new();
    for resource_spans in request.resource_spans {
        let service = resource_spans
            .resource
            .as_ref()
            .and_then(|r| r.attributes.iter().find(|kv| kv.key == "service.name"))
            .and_then(|kv| kv.value.as_ref())
            .and_then(|v| match &v.value {
                Some(any_value::Value::StringValue(name)) if !name.is_empty() => Some(name.clone()),
                _ => None,
            })
            .unwrap_or_else(|| "unknown_service".into());
        for scope_spans in resource_spans.scope_spans {
            for span in scope_spans.spans {
                let status = match span.status {
                    Some(status) if status.code == 2 => {
                        SpanStatus::Error(clip(status.message, limits))
                    }
                    Some(status) if status.code == 1 => SpanStatus::Ok,
                    _ => SpanStatus::Unset,
                };
                spans.push(Span {
                    trace_id: hex::encode(&span.trace_id),
                    span_id: hex::encode(&span.span_id),
                    parent_span_id: (!span.parent_span_id.is_empty())
                        .then(|| hex::encode(&span.parent_span_id)),
                    name: clip(span.name, limits),
                    start_unix_nano: span.start_time_unix_nano,
                    end_unix_nano: span.end_time_unix_nano.max(span.start_time_unix_nano),
                    status,
                    attributes: attributes(span.attributes, limits),
                    events: span
                        .events
                        .into_iter()
                        .take(limits.max_attributes)
                        .map(|event| SpanEvent {
                            name: clip(event.name, limits),
                            time_unix_nano: event.time_unix_nano,
                            attributes: attributes(event.attributes, limits),
                        })
                        .collect(),
                    service: service.clone(),
                });
            }
        }
    }
    spans
}

fn attributes(list: Vec<KeyValue>, limits: &OtlpConfig) -> Vec<(String, Value)> {
    list.into_iter()
        .take(limits.max_attributes)
        .map(|kv| {
            let value = kv.value.map_or(Value::Null, |v| any_value(v, limits, 0));
            (clip(kv.key, limits), value)
        })
        .collect()
}

fn any_value(value: AnyValue, limits: &OtlpConfig, depth: usize) -> Value {
    use any_value::Value as V;
    if depth > 8 {
        return Value::Null;
    }
    match value.value {
        // A string table index (profiles only): nothing to read it against here.
        None | Some(V::StringValueStrindex(_)) => Value::Null,
        Some(V::StringValue(text)) => Value::String(clip(text, limits)),
        Some(V::BoolValue(flag)) => Value::Bool(flag),
        Some(V::IntValue(number)) => Value::from(number),
        Some(V::DoubleValue(number)) => {
            serde_json::Number::from_f64(number).map_or(Value::Null, Value::Number)
        }
        Some(V::BytesValue(bytes)) => Value::String(clip(hex::encode(bytes), limits)),
        Some(V::ArrayValue(array)) => Value::Array(
            array
                .values
                .into_iter()
                .take(limits.max_attributes)
                .map(|v| any_value(v, limits, depth + 1))
                .collect(),
        ),
        Some(V::KvlistValue(list)) => Value::Object(
            list.values
                .into_iter()
                .take(limits.max_attributes)
                .map(|kv| {
                    let value = kv
                        .value
                        .map_or(Value::Null, |v| any_value(v, limits, depth + 1));
                    (clip(kv.key, limits), value)
                })
                .collect(),
        ),
    }
}

/// Text cut to `max_attribute_bytes` (at a character's edge), marked when cut.
fn clip(mut text: String, limits: &OtlpConfig) -> String {
    if text.len() > limits.max_attribute_bytes {
        let mut at = limits.max_attribute_bytes;
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        text.truncate(at);
        text.push('…');
    }
    text
}
