//! `[telemetry] otlp_endpoint`: a server's own runs exported as GenAI spans by the
//! OpenTelemetry SDK's exporter, over each of OTLP's transports, into a receiver —
//! another agentdeck's `/v1/traces` here, Arize Phoenix in `phoenix_export`.

use crate::otlp::external_threads;
use crate::support::*;
use agentdeck::config::Config;
use agentdeck::model::{Message, Thread};
use std::time::Duration;

/// The config of a server that exports its runs to `endpoint`.
pub fn exporting_config(endpoint: &str, protocol: &str, headers: &str) -> Config {
    Config::parse(&format!(
        "[telemetry]\notlp_endpoint = \"{endpoint}\"\notlp_protocol = \"{protocol}\"\notlp_capture_content = true\notlp_headers = {{ {headers} }}\n"
    ))
    .unwrap()
}

/// A routed run on the exporting server: alpha hands "check the refund" to beta.
pub async fn routed_run(server: &TestServer) -> (Thread, Message) {
    let (_, client) = server.project("exported").await;
    let beta = client
        .create_assistant(&assistant("beta", serde_json::json!([]), vec![]))
        .await
        .unwrap();
    let alpha = client
        .create_assistant(&assistant("alpha", serde_json::json!([]), vec![beta.id]))
        .await
        .unwrap();
    let thread_id = new_thread(&client, &alpha.id).await;
    let reply = ask(&client, &thread_id, "/route beta check the refund").await;
    let thread = client.thread(&thread_id).await.unwrap();
    (thread, reply)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_are_exported_as_genai_spans_over_each_transport() {
    let receiver = TestServer::start().await;
    let (project, watcher) = receiver.project("watch").await;
    let key = receiver
        .admin()
        .create_key(&project.id, Some("export".into()))
        .await
        .unwrap()
        .key;
    let mut seen = 0;
    for protocol in ["http/protobuf", "http/json", "grpc"] {
        let config = exporting_config(
            &receiver.url,
            protocol,
            &format!("\"Authorization\" = \"Bearer {key}\""),
        );
        let exporter =
            TestServer::start_with(tempfile::tempdir().unwrap(), |o| o.config = config).await;
        let (thread, reply) = routed_run(&exporter).await;
        assert_eq!(reply.tool_calls.len(), 1, "{reply:?}");
        // The last spans leave when the server stops, if the batch delay has not sent them.
        exporter.stop().await;

        // The receiver shows the two agents, the run's thread (its conversation id is
        // the exporter's thread id) and the routed child under it.
        let threads = tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                let threads = external_threads(&watcher).await;
                if threads.len() == seen + 2 {
                    break threads;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{protocol}: the exported run's two threads within 30 s"));
        seen += 2;
        let parent = threads
            .iter()
            .find(|t| {
                t.metadata.get("conversation_id") == Some(&thread.id)
                    && t.parent_thread_id.is_none()
            })
            .unwrap_or_else(|| panic!("{protocol}: {threads:#?}"));
        let child = threads
            .iter()
            .find(|t| t.parent_thread_id.as_deref() == Some(parent.id.as_str()))
            .unwrap_or_else(|| panic!("{protocol}: no routed child of {parent:?} in {threads:#?}"));
        let alpha = watcher.assistant(&parent.assistant_id).await.unwrap();
        let beta = watcher.assistant(&child.assistant_id).await.unwrap();
        assert_eq!((alpha.name.as_str(), beta.name.as_str()), ("alpha", "beta"));
        assert!(alpha.external && beta.external);
        assert_eq!(alpha.source.as_ref().unwrap().service, "agentdeck");
        assert_eq!(
            parent.title.as_deref(),
            Some("/route beta check the refund")
        );
        assert_eq!(child.title.as_deref(), Some("check the refund"));

        // The route is the routing call, with its arguments; the model calls carry
        // their tokens (counted once) and the reply's text.
        let messages = watcher.all_messages(&parent.id).await.unwrap();
        let route = messages
            .iter()
            .flat_map(|m| &m.tool_calls)
            .find(|c| c.target_assistant_id.as_deref() == Some(beta.id.as_str()))
            .unwrap_or_else(|| panic!("{protocol}: no route in {messages:#?}"));
        assert_eq!(route.thread_id.as_deref(), Some(child.id.as_str()));
        assert!(
            route.function.arguments.contains("check the refund"),
            "{route:?}"
        );
        let tokens: u64 = messages.iter().map(|m| m.usage.output_tokens).sum();
        assert_eq!(
            tokens, reply.usage.output_tokens,
            "{protocol}: {messages:#?}"
        );
        let child_messages = watcher.all_messages(&child.id).await.unwrap();
        assert!(
            child_messages.iter().any(|m| m.usage.output_tokens > 0
                && m.metadata.get("model").map(String::as_str) == Some("local")),
            "{protocol}: {child_messages:#?}"
        );
    }
    receiver.stop().await;
}

#[tokio::test]
async fn a_bad_export_config_is_refused_with_the_key_named() {
    let err = Config::parse("[telemetry]\notlp_endpoint = \"collector:4318\"\n").unwrap_err();
    assert!(err.to_string().contains("telemetry.otlp_endpoint"), "{err}");
    let err = Config::parse(
        "[telemetry]\notlp_endpoint = \"https://collector\"\notlp_protocol = \"grpc\"\n",
    )
    .unwrap_err();
    assert!(err.to_string().contains("http/protobuf"), "{err}");
    let err = Config::parse("[telemetry]\notlp_protocol = \"thrift\"\n").unwrap_err();
    assert!(err.to_string().contains("otlp_protocol"), "{err}");
}
