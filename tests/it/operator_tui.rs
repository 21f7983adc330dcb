//! The operator's day in tmux, with the real keys of the real keymap: the real binary
//! attached with `--remote` to a real `serve`, at 80x24 and 120x36.

use crate::tui_e2e::Session;
use agentdeck::client::Client;
use agentdeck::model::requests::MessageCreate;
use agentdeck::model::{Approval, Content, MessageStatus, Role, ThreadStatus, ToolCallStatus};
use std::time::{Duration, Instant};

fn user(text: &str) -> MessageCreate {
    MessageCreate {
        role: Role::User,
        content: Some(Content::Text(text.into())),
        attachments: vec![],
        tool_call_id: None,
    }
}

/// Polls `check` (an API question) for up to 20 s.
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check() {
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The tool calls of every thread the client sees.
async fn all_calls(client: &Client) -> Vec<(String, agentdeck::model::ToolCall)> {
    let mut calls = Vec::new();
    for thread in client.list_threads(&[("limit", "100")]).await.unwrap().data {
        for message in client.all_messages(&thread.id).await.unwrap() {
            for call in message.tool_calls {
                calls.push((thread.id.clone(), call));
            }
        }
    }
    calls
}

/// At 80x24 over `--remote`: what waited and failed before the workspace came counts;
/// `!` opens it; the Tools pane says whose each call is, Enter shows one whole, and
/// `m m a` approves two; failed threads filter and show ✗, an unknown status says so,
/// ctrl-u clears the line; `x` asks first; `s` by status shows the waiting row on top;
/// help scrolls to the filter's terms; the palette completes; a replay plays on.
#[test]
fn an_operator_at_80x24_clears_the_inbox_with_the_keymaps_keys() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = "operator-admin-key-0123456789abcdef";
    let (server, info) = rt.block_on(crate::support::spawn_serve(
        &dir.path().join("served"),
        Some(key),
    ));
    let _server = server;
    let admin = Client::new(&info.url, key);
    let project = rt.block_on(admin.list_projects()).unwrap().data[0]
        .id
        .clone();
    let client = Client::new(&info.url, key).with_project(Some(project));
    // Two payments wait for approval; one run fails; legal-review's example call waits.
    let mut cautious = crate::support::assistant(
        "cautious",
        serde_json::json!([{"type": "function", "function": {"name": "pay", "description": "Pays"},
            "handler": {"command": ["sh", "-c", "cat"], "timeout_ms": 5000}}]),
        vec![],
    );
    cautious.approval = Approval::Always;
    let cautious = rt.block_on(client.create_assistant(&cautious)).unwrap();
    let order = "ORD-9-XYZ-000000000000000000777";
    for amount in [5, 7] {
        let thread = rt.block_on(crate::support::new_thread(&client, &cautious.id));
        rt.block_on(client.post_message(
            &thread,
            &user(&format!(
                "/tool pay {{\"order_id\": \"{order}\", \"amount\": {amount}, \"note\": \"refund the duplicate charge on the customer's card\"}}"
            )),
        ))
        .unwrap();
    }
    let billing = rt
        .block_on(client.list_assistants())
        .unwrap()
        .data
        .into_iter()
        .find(|a| a.name == "billing")
        .unwrap();
    let failing = rt.block_on(crate::support::new_thread(&client, &billing.id));
    rt.block_on(client.post_message(&failing, &user("this one breaks /fail 400")))
        .unwrap();
    eventually("two approvals waiting, one run failed", || {
        rt.block_on(async {
            let calls = all_calls(&client).await;
            let approvals = calls
                .iter()
                .filter(|(_, c)| c.status == ToolCallStatus::RequiresApproval)
                .count();
            let failed = client.thread(&failing).await.unwrap().last_reply_status
                == Some(MessageStatus::Failed);
            approvals == 2 && failed
        })
    });

    let env = format!("AGENTDECK_API_KEY={key}");
    let remote = format!("--remote {}", info.url);
    let session = Session::start_with_args(&dir, "operator", &env, &remote, "", (80, 24));
    // What waited before the workspace attached needs the operator at once.
    session.wait_for("⚑ 4 need you");
    // `!` opens one that waits (those that started in the same second come in id order).
    session.wait_for("┌ 2 billing · this one breaks");
    // The first `!` goes to one that waits, though the workspace opened a failed thread by
    // itself; `!` again goes on to the next one that waits, until each of the three (two
    // payments, legal-review's call) was opened once. The two payments tell apart by the
    // amount in the user's message (the Tools pane writes its JSON without the space).
    let waiting_thread = |screen: &str| {
        if screen.contains("┌ 2 legal-review") {
            Some("legal-review")
        } else if screen.contains("┌ 2 cautious") && screen.contains("\"amount\": 5") {
            Some("pay 5")
        } else if screen.contains("┌ 2 cautious") && screen.contains("\"amount\": 7") {
            Some("pay 7")
        } else {
            None
        }
    };
    let mut visited: Vec<&str> = Vec::new();
    for _ in 0..3 {
        session.keys(&["!"]);
        let screen = session.wait_until("`!` opened a waiting thread not opened before", |s| {
            waiting_thread(s).is_some_and(|which| !visited.contains(&which))
        });
        visited.extend(waiting_thread(&screen));
    }
    assert_eq!(visited.len(), 3, "{visited:?}");

    // The Tools pane: whose each call is, and one whole.
    session.keys(&["3"]);
    session.wait_for("Tools · 3 waiting");
    session.wait_for("cautious");
    session.keys(&["Enter"]);
    let screen = session.wait_for("Tool call · pay");
    assert!(screen.contains(order), "the whole order id: {screen}");
    assert!(screen.contains("waiting for your approval"), "{screen}");
    session.keys(&["Escape"]);
    session.wait_until("the detail closed", |s| !s.contains("Tool call · pay"));
    // `m m a`: two marked, both approved.
    session.keys(&["m", "m"]);
    session.wait_for("2 marked");
    session.keys(&["a"]);
    eventually("both payments approved and done", || {
        rt.block_on(async {
            let paid = all_calls(&client)
                .await
                .iter()
                .filter(|(_, c)| {
                    c.function.name == "pay" && c.approved && c.status == ToolCallStatus::Completed
                })
                .count();
            paid == 2
        })
    });
    session.wait_for("Tools · 1 waiting");

    // Failed threads: a filter, a mark of their own.
    session.keys(&["1", "/"]);
    session.type_text("status:failed");
    session.keys(&["Enter"]);
    let screen = session.wait_for("Threads 1/");
    assert!(screen.contains('✗'), "{screen}");
    // ctrl-u clears what was typed; an unknown status says so.
    session.keys(&["/", "C-u"]);
    session.type_text("status:bogus");
    session.keys(&["Enter"]);
    session.wait_for("status:bogus matches nothing");
    session.keys(&["/", "C-u", "Enter"]);
    session.wait_until("the filter cleared", |s| !s.contains("/status:"));

    // `x` asks; any other key keeps the thread; `y` closes it.
    session.keys(&["x"]);
    session.wait_for("y closes ·");
    session.keys(&["n"]);
    session.wait_for("Nothing closed");
    let open_before = rt
        .block_on(client.list_threads(&[("status", "closed")]))
        .unwrap()
        .data
        .len();
    session.keys(&["x"]);
    session.wait_for("y closes ·");
    session.keys(&["y"]);
    session.wait_for("Closed ");
    eventually("one more thread closed", || {
        rt.block_on(async {
            let closed = client
                .list_threads(&[("status", "closed")])
                .await
                .unwrap()
                .data
                .len();
            closed == open_before + 1
        })
    });

    // By status: what waits is on top, in view.
    session.keys(&["s", "s"]);
    let screen = session.wait_for("by status");
    let first_row = screen
        .lines()
        .skip_while(|l| !l.contains("1 Threads"))
        .nth(1)
        .unwrap_or_default()
        .to_string();
    assert!(
        first_row.starts_with("│!"),
        "the waiting thread first: {screen}"
    );

    // Help scrolls to the end, where the filter's terms are.
    session.keys(&["?"]);
    session.wait_for("Keys, from the keymap");
    session.keys(&["G"]);
    session.wait_for("status:failed");
    // Closed: its title gone (its first line scrolled off with G, so that line cannot
    // tell; a `:` sent while help is still open would arrive glued to the Escape as alt-:).
    session.keys(&["Escape"]);
    session.wait_until("help closed", |s| {
        !s.contains(" Help ") && !s.contains("status:failed")
    });

    // The palette completes a command with Tab (typed once it is open: a `:` that came
    // right behind the Escape would read as alt-:).
    session.keys(&[":"]);
    session.wait_for(":█");
    session.type_text("the");
    session.keys(&["Tab"]);
    session.wait_for(":theme █");
    session.keys(&["Escape"]);
    // Closed before the next key, which would otherwise arrive glued to the Escape.
    session.wait_until("the palette closed", |s| !s.contains(":theme"));

    // A replay plays on after stepping: t, three steps, space.
    session.keys(&["/", "C-u"]);
    session.wait_for(" /█");
    session.type_text("assistant:triage");
    session.keys(&["Enter", "t"]);
    session.wait_for("Trace ·");
    session.wait_until("the trace loaded", |s| s.contains("events"));
    session.keys(&["Right", "Right", "Right"]);
    session.wait_for("replay 3/");
    session.keys(&["Space"]);
    session.wait_until("the replay played past step 3", |s| {
        s.split("replay ")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .and_then(|n| n.trim().parse::<u32>().ok())
            .is_some_and(|n| n > 4)
    });
    session.press_apart(&["Escape", "Escape"]);
    session.wait_until("the trace closed", |s| !s.contains("Trace ·"));
    session.keys(&["q"]);
    session.wait_for("EXITED-0");
}

/// A free loopback port (bound, then let go).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn spawn_serve_on(dir: &std::path::Path, key: &str, port: u16) -> crate::support::KillOnDrop {
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_agentdeck"))
        .arg("--data-dir")
        .arg(dir)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("AGENTDECK_LOCAL_TPS", "0")
        .env("AGENTDECK_ADMIN_KEY", key)
        .env_remove("AGENTDECK_DATABASE_URL")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    crate::support::KillOnDrop(child)
}

/// At 120x36: routes used before the workspace came are counted; an assistant made after
/// it started shows by name; after `serve` restarts the workspace is connected as soon as
/// the runtime answers, whether or not anything happens.
#[test]
fn a_workspace_follows_the_catalog_and_reconnects_at_once() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("served");
    let key = "catalog-admin-key-0123456789abcdef";
    let port = free_port();
    let mut server = spawn_serve_on(&data, key, port);
    let url = format!("http://127.0.0.1:{port}");
    let client = Client::new(&url, key);
    // The example run that routes triage's refund question to billing, done.
    eventually("the example route done", || {
        rt.block_on(async {
            let Ok(threads) = client.list_threads(&[]).await else {
                return false;
            };
            let routed = threads.data.iter().any(|t| t.parent_thread_id.is_some());
            let busy = threads
                .data
                .iter()
                .any(|t| t.status == ThreadStatus::Running);
            routed && !busy
        })
    });
    let env = format!("AGENTDECK_API_KEY={key}");
    let remote = format!("--remote {url}");
    let session = Session::start_with_args(&dir, "catalog", &env, &remote, "", (120, 36));
    session.wait_for("Threads ");
    // The route used before attaching is counted on its edge.
    session.keys(&["4"]);
    session.wait_for("×1");

    // An assistant made now, and a thread of it: shown by its name.
    let project = rt.block_on(client.list_projects()).unwrap().data[0]
        .id
        .clone();
    let scoped = Client::new(&url, key).with_project(Some(project));
    let night = rt
        .block_on(scoped.create_assistant(&crate::support::assistant(
            "night-shift",
            serde_json::json!([]),
            vec![],
        )))
        .unwrap();
    let thread = rt.block_on(crate::support::new_thread(&scoped, &night.id));
    rt.block_on(scoped.post_message(&thread, &user("anything overnight?")))
        .unwrap();
    let screen = session.wait_for("night-shift");
    assert!(
        !screen.contains(&night.id[..11]),
        "shown by its id: {screen}"
    );

    // serve goes away, then comes back on the same address: connected at once.
    let _ = server.0.kill();
    let _ = server.0.wait();
    session.wait_for("◌ reconnecting");
    server = spawn_serve_on(&data, key, port);
    let started = Instant::now();
    session.wait_until("connected again", |s| {
        s.contains("● connected") && !s.contains("reconnecting")
    });
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );
    session.keys(&["q"]);
    session.wait_for("EXITED-0");
    drop(server);
}
