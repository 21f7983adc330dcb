//! Export into a receiver nobody here wrote: Arize Phoenix (from PyPI, in its own venv
//! made by `.ci/run`), which takes OTLP over HTTP and answers span queries. A routed run
//! arrives as one trace: `invoke_agent alpha` → `execute_tool route_to_assistant` →
//! `invoke_agent beta`, each with the GenAI attributes.

use crate::otlp_export::{exporting_config, routed_run};
use crate::support::*;
use serde_json::Value;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// `phoenix serve` on loopback ports of its own, ended (its whole group) when dropped.
struct Phoenix {
    child: Child,
    url: String,
    dir: tempfile::TempDir,
}

impl Drop for Phoenix {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-9", "--", &group]).status();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Phoenix, answering on its ports. Ports are picked free and then handed to Phoenix, so
/// another process may take one in between: a Phoenix that exits (it could not bind) is
/// started again on new ports, and only an answer while our Phoenix runs counts.
async fn start_phoenix() -> Phoenix {
    let program = std::env::var("PHOENIX").unwrap_or_else(|_| {
        panic!("PHOENIX is not set: `.ci/run` installs arize-phoenix and sets it to its `phoenix`")
    });
    let mut logs = String::new();
    for _ in 0..3 {
        let mut phoenix = spawn_phoenix(&program);
        let health = format!("{}/healthz", phoenix.url);
        let http = reqwest::Client::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        loop {
            if let Ok(Some(status)) = phoenix.child.try_wait() {
                logs.push_str(&format!(
                    "\n--- Phoenix exited ({status}):\n{}",
                    phoenix.log()
                ));
                break;
            }
            let up = http
                .get(&health)
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if up && phoenix.child.try_wait().is_ok_and(|s| s.is_none()) {
                return phoenix;
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "Phoenix did not answer {health} within 120 s:\n{}",
                    phoenix.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    panic!("Phoenix did not stay up in three starts:{logs}");
}

fn spawn_phoenix(program: &str) -> Phoenix {
    let dir = tempfile::tempdir().unwrap();
    let (port, grpc_port) = (free_port(), free_port());
    let mut command = Command::new(program);
    command
        .args(["serve"])
        .env("PHOENIX_WORKING_DIR", dir.path())
        .env("PHOENIX_HOST", "127.0.0.1")
        .env("PHOENIX_PORT", port.to_string())
        .env("PHOENIX_GRPC_PORT", grpc_port.to_string())
        .env("PHOENIX_TELEMETRY_ENABLED", "false")
        .env("DO_NOT_TRACK", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(
            std::fs::File::create(dir.path().join("phoenix.log")).unwrap(),
        ));
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let child = command
        .spawn()
        .unwrap_or_else(|err| panic!("could not start {program}: {err}"));
    Phoenix {
        child,
        url: format!("http://127.0.0.1:{port}"),
        dir,
    }
}

impl Phoenix {
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("phoenix.log")).unwrap_or_default()
    }
}

/// Phoenix's spans of its default project.
async fn phoenix_spans(phoenix: &Phoenix) -> Vec<Value> {
    let url = format!("{}/v1/projects/default/spans?limit=100", phoenix.url);
    let answer: Value = match reqwest::get(&url).await {
        Ok(answer) => answer.json().await.unwrap(),
        Err(err) => panic!("Phoenix did not answer {url}: {err}\n{}", phoenix.log()),
    };
    answer["data"].as_array().cloned().unwrap_or_default()
}

fn named<'a>(spans: &'a [Value], name: &str) -> &'a Value {
    spans
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no span {name:?} in {spans:#?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_routed_run_arrives_in_phoenix_as_one_trace_with_genai_attributes() {
    let phoenix = start_phoenix().await;
    let config = exporting_config(&phoenix.url, "http/protobuf", "");
    let exporter =
        TestServer::start_with(tempfile::tempdir().unwrap(), |o| o.config = config).await;
    let (thread, reply) = routed_run(&exporter).await;
    exporter.stop().await;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let spans = loop {
        let spans = phoenix_spans(&phoenix).await;
        // Two agents, two model calls each at most, the routing call.
        if spans
            .iter()
            .filter(|s| {
                s["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("invoke_agent"))
            })
            .count()
            == 2
        {
            break spans;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "Phoenix did not show the two agents' spans within 60 s: {spans:#?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let alpha = named(&spans, "invoke_agent alpha");
    let beta = named(&spans, "invoke_agent beta");
    let route = spans
        .iter()
        .find(|s| s["attributes"]["gen_ai.operation.name"] == "execute_tool")
        .unwrap_or_else(|| panic!("no execute_tool span in {spans:#?}"));
    let trace = &alpha["context"]["trace_id"];
    assert!(
        spans.iter().all(|s| &s["context"]["trace_id"] == trace),
        "one trace: {spans:#?}"
    );
    // The tree: alpha (a root) → the routing call → beta; each chat under its agent.
    assert!(alpha["parent_id"].is_null(), "{alpha:#?}");
    assert_eq!(
        route["parent_id"], alpha["context"]["span_id"],
        "{route:#?}"
    );
    assert_eq!(beta["parent_id"], route["context"]["span_id"], "{beta:#?}");
    let chats: Vec<&Value> = spans
        .iter()
        .filter(|s| s["attributes"]["gen_ai.operation.name"] == "chat")
        .collect();
    assert!(chats.len() >= 2, "{spans:#?}");
    for chat in &chats {
        let parent = &chat["parent_id"];
        assert!(
            parent == &alpha["context"]["span_id"] || parent == &beta["context"]["span_id"],
            "{chat:#?}"
        );
        assert_eq!(chat["attributes"]["gen_ai.request.model"], "local");
        assert_eq!(
            chat["attributes"]["gen_ai.provider.name"],
            "agentdeck.local"
        );
    }
    // Alpha's own model calls add up to its reply's tokens (beta's are its own).
    let output_tokens: i64 = chats
        .iter()
        .filter(|c| c["parent_id"] == alpha["context"]["span_id"])
        .map(|c| {
            c["attributes"]["gen_ai.usage.output_tokens"]
                .as_i64()
                .unwrap_or(0)
        })
        .sum();
    assert_eq!(
        output_tokens as u64, reply.usage.output_tokens,
        "{chats:#?}"
    );
    // The GenAI attributes of the agents and the routing call.
    assert_eq!(alpha["attributes"]["gen_ai.operation.name"], "invoke_agent");
    assert_eq!(
        alpha["attributes"]["gen_ai.conversation.id"],
        thread.id.as_str()
    );
    assert_eq!(
        route["attributes"]["gen_ai.tool.name"],
        "route_to_assistant"
    );
    assert_eq!(route["attributes"]["gen_ai.tool.type"], "extension");
    assert!(
        route["attributes"]["gen_ai.tool.call.arguments"]
            .as_str()
            .is_some_and(|a| a.contains("check the refund")),
        "{route:#?}"
    );
    assert_eq!(alpha["status_code"], "OK", "{alpha:#?}");
}
