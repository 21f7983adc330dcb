//! The code interpreter through the real server: output, exit status and files; no
//! network (a listener on this host stays untouched); CPU, wall time, memory, file size,
//! process and output limits; the files API serves only plain files of the run.

use crate::support::*;
use agentdeck::model::{ToolCall, ToolCallStatus};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

async fn run_code(
    client: &agentdeck::client::Client,
    assistant_id: &str,
    code: &str,
) -> (String, ToolCall) {
    let thread = new_thread(client, assistant_id).await;
    let arguments = json!({ "code": code });
    let reply = ask(
        client,
        &thread,
        &format!("/tool code_interpreter {arguments}"),
    )
    .await;
    assert_eq!(reply.tool_calls.len(), 1, "{reply:?}");
    (thread, reply.tool_calls[0].clone())
}

fn output(call: &ToolCall) -> &str {
    call.output.as_deref().unwrap_or_default()
}

#[tokio::test]
async fn code_runs_sandboxed_with_limits_and_its_files_are_served() {
    let server = TestServer::start().await;
    let (_, client) = server.project("code").await;
    let coder = client
        .create_assistant(&assistant(
            "coder",
            json!([{"type": "code_interpreter", "timeout_ms": 3000}]),
            vec![],
        ))
        .await
        .unwrap()
        .id;

    // Output, exit status, and the files it wrote, fetched back through the API.
    let (thread, call) = run_code(
        &client,
        &coder,
        "import os\nos.makedirs('out', exist_ok=True)\nopen('out/result.csv','w').write('a,b\\n1,2\\n')\nprint('sum', 1 + 2)",
    )
    .await;
    assert_eq!(call.status, ToolCallStatus::Completed, "{call:?}");
    assert!(
        output(&call).starts_with("exit status 0"),
        "{}",
        output(&call)
    );
    assert!(output(&call).contains("--- stdout ---\nsum 3"));
    assert!(output(&call).contains("out/result.csv (8 bytes)"));
    let files: Value = client
        .get(&format!(
            "/v2/threads/{thread}/tool_calls/{}/files",
            call.id
        ))
        .await
        .unwrap();
    assert_eq!(files["data"][0]["name"], "out/result.csv");
    let url = format!(
        "{}/v2/threads/{thread}/tool_calls/{}/files/out/result.csv",
        server.url, call.id
    );
    let http = reqwest::Client::new();
    let bytes = http
        .get(&url)
        .bearer_auth(&server.admin_key)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(&bytes[..], b"a,b\n1,2\n");

    // No network: a listener on this very host is not reached.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let (_, call) = run_code(
        &client,
        &coder,
        &format!(
            "import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)\nprint('connected')"
        ),
    )
    .await;
    assert_eq!(call.status, ToolCallStatus::Failed, "{call:?}");
    assert!(!output(&call).contains("connected"));
    assert!(
        output(&call).contains("OSError") || output(&call).contains("unreachable"),
        "{}",
        output(&call)
    );
    assert!(listener.accept().is_err(), "nothing connected to the host");

    // Limits: wall time, memory, file size, output, processes.
    let started = Instant::now();
    let (_, call) = run_code(&client, &coder, "while True:\n    pass").await;
    assert_eq!(call.status, ToolCallStatus::Failed);
    assert!(
        output(&call).contains("ran longer than 3000 ms") || output(&call).contains("CPU time"),
        "{}",
        output(&call)
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    let (_, call) = run_code(&client, &coder, "x = bytearray(4 * 1024**3)").await;
    assert_eq!(call.status, ToolCallStatus::Failed);
    assert!(output(&call).contains("MemoryError"), "{}", output(&call));
    let (_, call) = run_code(
        &client,
        &coder,
        "f = open('big', 'wb')\nfor _ in range(200):\n    f.write(b'x' * 1024 * 1024)",
    )
    .await;
    assert_eq!(call.status, ToolCallStatus::Failed);
    assert!(
        output(&call).contains("File too large"),
        "{}",
        output(&call)
    );
    let (_, call) = run_code(&client, &coder, "print('y' * 10_000_000)").await;
    assert_eq!(call.status, ToolCallStatus::Completed);
    assert!(output(&call).contains("for the model; the operator can read it whole]"));
    assert!(output(&call).len() < 70_000);
    let (_, call) = run_code(
        &client,
        &coder,
        "import os, time\nn = 0\nfor _ in range(1000):\n    try:\n        if os.fork() == 0:\n            time.sleep(30)\n            os._exit(0)\n        n += 1\n    except OSError:\n        break\nprint('forked', n)",
    )
    .await;
    let forked: u32 = output(&call)
        .split("forked ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{}", output(&call)));
    assert!(forked < 100, "the process limit held: {forked} forks");

    // The runtime carries on; links and paths out of the scratch dir are not served.
    let (thread, call) = run_code(
        &client,
        &coder,
        "import os\nos.symlink('/etc/passwd', 'link')\nopen('ok.txt','w').write('ok')",
    )
    .await;
    assert_eq!(call.status, ToolCallStatus::Completed, "{call:?}");
    assert!(!output(&call).contains("link"), "links are not listed");
    for name in ["link", "../../../../etc/passwd", "%2e%2e/%2e%2e/etc/passwd"] {
        let status = http
            .get(format!(
                "{}/v2/threads/{thread}/tool_calls/{}/files/{name}",
                server.url, call.id
            ))
            .bearer_auth(&server.admin_key)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 404, "{name}");
    }
}
