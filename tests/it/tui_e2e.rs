//! The real binary in tmux at 160x45 on a fresh data dir, driven with send-keys and read
//! with capture-pane.

use std::process::Command;
use std::time::{Duration, Instant};

pub(crate) struct Session {
    pub(crate) name: String,
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.name])
            .status();
    }
}

pub(crate) fn tmux(args: &[&str]) -> String {
    let output = Command::new("tmux").args(args).output().unwrap_or_else(|err| {
        panic!("tmux is required by the end-to-end test and could not run ({err}); `bash .ci/run` installs it")
    });
    assert!(
        output.status.success(),
        "tmux {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

impl Session {
    /// Runs the real binary on a fresh data dir under `dir`, with `env` set, in a detached
    /// tmux session of `size`. When it ends the shell prints `EXITED-<status>`, runs
    /// `after`, and waits, so the screen can still be read.
    pub(crate) fn start(
        dir: &tempfile::TempDir,
        tag: &str,
        env: &str,
        after: &str,
        size: (u16, u16),
    ) -> Session {
        Session::start_with_args(dir, tag, env, "", after, size)
    }

    /// [`Session::start`] with more arguments for the binary.
    pub(crate) fn start_with_args(
        dir: &tempfile::TempDir,
        tag: &str,
        env: &str,
        args: &str,
        after: &str,
        size: (u16, u16),
    ) -> Session {
        let name = format!("agentdeck-e2e-{tag}-{}", std::process::id());
        let command = format!(
            "env {env} XDG_STATE_HOME={state} XDG_CONFIG_HOME={config} {bin} --data-dir {data} {args}; echo EXITED-$?; {after}sleep 60",
            state = dir.path().join("state").display(),
            config = dir.path().join("config").display(),
            bin = env!("CARGO_BIN_EXE_agentdeck"),
            data = dir.path().join("data").display(),
        );
        let (width, height) = (size.0.to_string(), size.1.to_string());
        tmux(&[
            "new-session",
            "-d",
            "-s",
            &name,
            "-x",
            &width,
            "-y",
            &height,
            &command,
        ]);
        Session { name }
    }

    pub(crate) fn screen(&self) -> String {
        tmux(&["capture-pane", "-p", "-t", &self.name])
    }

    /// Waits up to 20 s for the screen to show `text`.
    pub(crate) fn wait_for(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "the screen never showed {text:?}; it shows:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits up to 20 s for the screen to satisfy `check`.
    pub(crate) fn wait_until(&self, what: &str, check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let screen = self.screen();
            if check(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "the screen never showed {what}; it shows:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub(crate) fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", &self.name];
        args.extend_from_slice(keys);
        tmux(&args);
    }

    /// Presses `keys` one by one, apart: an Escape and the key after it in one read of the
    /// terminal are one keystroke, alt-KEY, as terminals send it.
    pub(crate) fn press_apart(&self, keys: &[&str]) {
        for key in keys {
            self.keys(&[key]);
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    pub(crate) fn type_text(&self, text: &str) {
        tmux(&["send-keys", "-t", &self.name, "-l", text]);
    }
}

#[test]
fn the_workspace_comes_alive_streams_a_reply_routes_and_quits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let session = Session::start(&dir, "main", "AGENTDECK_LOCAL_TPS=60", "", (160, 45));

    // The Getting-started threads appear, several assistants stream, routing lights up.
    let screen = session.wait_for("Threads 4/4");
    assert!(
        // Titles win over chips: the case chip is in its short form at this width.
        screen.contains("…0456]") && screen.contains("legal-review"),
        "{screen}"
    );
    // The routing graph: triage's hand-off to billing, counted on its edge.
    session.wait_for("×1▶│local");
    session.wait_for("1 waiting");

    // A message typed in the composer streams a reply into the conversation.
    session.keys(&["n"]);
    session.wait_for("New thread with");
    session.type_text("hello from the end-to-end test /slow 15");
    session.keys(&["Enter"]);
    session.wait_for("Threads 5/5");
    // Sending while the reply still streams is refused, and nothing typed is lost.
    session.keys(&["i"]);
    session.wait_for("Message to “");
    session.type_text("a second thought");
    session.keys(&["Enter"]);
    session.wait_for("409");
    session.wait_for("│a second thought");
    let screen = session.wait_for("I will route to them.");
    assert!(
        screen.contains("hello from the end-to-end test"),
        "{screen}"
    );
    // The thread takes the restored draft once its reply is done.
    session.wait_for("· billing      hello from the end-to-end test");
    session.keys(&["i", "Enter"]);
    session.wait_for("(3 words):");
    session.wait_for("· billing      hello from the end-to-end test");

    // Billing does not remember; the memory pane says so.
    session.wait_for("Memory is off for billing");

    // `:attach` sends a file with the next message.
    let notes = dir.path().join("notes.txt");
    std::fs::write(&notes, "attached-marker-42\n").unwrap();
    session.keys(&[":"]);
    session.type_text(&format!("attach {}", notes.display()));
    session.keys(&["Enter"]);
    session.wait_for("Attached notes.txt");
    session.keys(&["i"]);
    session.wait_for("attached: notes.txt");
    session.type_text("see the file");
    session.keys(&["Enter"]);
    session.wait_for("│ attached-marker-42");
    session.wait_until("the reply to the attachment", |screen| {
        screen.contains("(8 words):")
            && screen.contains("· billing      hello from the end-to-end test")
    });

    // Search in the thread selects the message that matches.
    session.keys(&["2", "/"]);
    session.type_text("marker-42");
    session.keys(&["Enter"]);
    session.wait_for("messages match");
    session.keys(&["1"]);

    // A routed request: the linked thread and the edge count.
    session.keys(&["i"]);
    session.wait_for("Message to “");
    session.type_text("please ask legal-review about the contract");
    session.keys(&["Enter"]);
    session.wait_until("the edge to legal-review counted", |screen| {
        screen.matches("×1▶").count() >= 2
    });

    // Triage remembers: its thread shows the memory window, with turns indexed.
    session.keys(&["/"]);
    session.type_text("assistant:triage");
    session.keys(&["Enter"]);
    session.wait_for("5 Memory · window");
    session.wait_until("indexed turns", |screen| {
        screen.contains(" indexed") && !screen.contains("· 0 indexed")
    });
    session.keys(&["/"]);
    for _ in 0.."assistant:triage".len() {
        session.keys(&["BSpace"]);
    }
    session.keys(&["Enter"]);
    // The routed request added legal-review's linked thread.
    session.wait_for("Threads 6/6");

    // Search every thread (ctrl-f): the attachment's marker is found in billing's
    // thread, and Enter opens it there.
    session.keys(&["C-f"]);
    session.wait_for("Search every thread");
    session.type_text("marker");
    session.wait_until("search hits", |screen| {
        screen.contains(" match") && screen.contains("attached-marker-42")
    });
    session.keys(&["Enter"]);
    session.wait_until("the hit's thread opened", |screen| {
        !screen.contains("Search every thread") && screen.contains("│ attached-marker-42")
    });

    // `:demo` makes several threads stream at once.
    session.keys(&[":"]);
    session.type_text("demo");
    session.keys(&["Enter"]);
    session.wait_for("…0501]");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let screen = session.screen();
        let running = screen
            .split(" running")
            .next()
            .and_then(|before| before.rsplit(' ').next())
            .and_then(|n| n.parse::<u32>().ok())
            .unwrap_or(0);
        if running >= 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never saw two threads running at once:\n{screen}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // Help is generated from the keymap.
    session.keys(&["?"]);
    session.wait_for("Keys, from the keymap");
    session.keys(&["Escape"]);

    // q quits, and the terminal is given back: the workspace is gone from the screen.
    session.keys(&["q"]);
    let screen = session.wait_for("EXITED-0");
    assert!(
        !screen.contains("1 Threads"),
        "the alternate screen was left:\n{screen}"
    );
}

#[test]
fn a_panic_gives_the_terminal_back() {
    let dir = tempfile::tempdir().unwrap();
    // After the program ends, the shell also reports whether the terminal is back in
    // canonical (cooked) mode.
    let session = Session::start(
        &dir,
        "panic",
        "AGENTDECK_DEBUG_PANIC=1 RUST_BACKTRACE=0",
        "stty -a | tr ' ' '\\n' | grep -x -e icanon -e -icanon | sed 's/^/MODE-/'; ",
        (120, 30),
    );
    session.wait_for("Threads 4/4");
    assert_eq!(
        tmux(&["display", "-p", "-t", &session.name, "#{alternate_on}"]).trim(),
        "1",
        "the workspace runs on the alternate screen"
    );
    session.keys(&[":"]);
    session.type_text("debug-panic");
    session.keys(&["Enter"]);
    let screen = session.wait_for("MODE-");
    assert!(screen.contains("EXITED-101"), "{screen}");
    assert!(
        screen.contains("debug-panic asked for"),
        "the panic message is readable:\n{screen}"
    );
    assert!(
        screen.contains("MODE-icanon"),
        "raw mode is off again:\n{screen}"
    );
    assert!(!screen.contains("Threads 4/4"), "{screen}");
    assert_eq!(
        tmux(&["display", "-p", "-t", &session.name, "#{alternate_on}"]).trim(),
        "0",
        "the alternate screen was left"
    );
}

/// The screen cut into the wall's tiles (3×3 at 160x45, under the status bar's row).
fn tiles(screen: &str) -> Vec<String> {
    let lines: Vec<Vec<char>> = screen.lines().map(|l| l.chars().collect()).collect();
    let rows = lines.len().saturating_sub(1);
    let mut out = Vec::new();
    for row in 0..3 {
        for column in 0..3 {
            let (top, bottom) = (rows * row / 3, rows * (row + 1) / 3);
            let (left, right) = (160 * column / 3, 160 * (column + 1) / 3);
            let mut tile = String::new();
            for line in &lines[top..bottom] {
                tile.extend(line.iter().skip(left).take(right - left));
                tile.push('\n');
            }
            out.push(tile);
        }
    }
    out
}

#[test]
fn the_trace_shows_a_routed_child_the_wall_moves_and_a_waiting_thread_rings_the_bell() {
    let dir = tempfile::tempdir().unwrap();
    let session = Session::start(&dir, "watch", "AGENTDECK_LOCAL_TPS=40", "", (160, 45));
    // Everything the workspace writes to the terminal, to find the bell in.
    let output = dir.path().join("pane-output");
    tmux(&[
        "pipe-pane",
        "-o",
        "-t",
        &session.name,
        &format!("cat >> {}", output.display()),
    ]);
    session.wait_for("Threads 4/4");

    // The Getting-started routed thread: its trace shows the hop and billing's reply
    // under it.
    session.keys(&["/"]);
    session.type_text("assistant:triage");
    session.keys(&["Enter", "t"]);
    session.wait_for("Trace ·");
    let screen = session.wait_until("the hop and the routed reply", |screen| {
        screen.contains("⇢ → billing") && screen.contains("reply by billing")
    });
    assert!(screen.contains("model step 1"), "{screen}");
    // Replay: one step back from the end shows where it is.
    session.keys(&["Left"]);
    session.wait_for("replay ");
    session.press_apart(&["Escape", "Escape"]);
    session.wait_until("the trace closed", |s| !s.contains("Trace ·"));
    session.keys(&["/", "C-u"]);
    session.wait_for(" /█");
    session.keys(&["Enter"]);

    // `:demo` starts several threads at once; the wall shows them moving side by side.
    session.keys(&[":"]);
    session.type_text("demo");
    session.keys(&["Enter"]);
    session.wait_for("…0501]");
    session.keys(&["w"]);
    session.wait_for("wall │");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let before = tiles(&session.screen());
        std::thread::sleep(Duration::from_millis(600));
        let after = tiles(&session.screen());
        let changed = before.iter().zip(&after).filter(|(a, b)| a != b).count();
        if changed >= 3 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never saw three tiles change at once:\n{}",
            session.screen()
        );
    }
    session.keys(&["Escape"]);

    // A thread of the demo waits for the operator: the workspace rang the bell and sent a
    // desktop notification (OSC 9) through the terminal.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let written = std::fs::read(&output).unwrap_or_default();
        let bell = written.contains(&0x07);
        let osc9 = written.windows(4).any(|w| w == b"\x1b]9;");
        if bell && osc9 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no bell ({bell}) or OSC 9 ({osc9}) in {} bytes written",
            written.len()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    session.keys(&["q"]);
    session.wait_for("EXITED-0");
}

/// Two real `agentdeck serve` processes in one workspace: threads of both, each with its
/// runtime's chip, and a tool call on the second approved from the workspace runs there.
#[test]
fn a_workspace_over_two_runtimes_lists_both_and_approves_a_call_on_the_second() {
    use agentdeck::client::Client;
    use agentdeck::model::requests::MessageCreate;
    use agentdeck::model::{Content, Role, ToolCallStatus};
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (prod_key, lab_key) = (
        "prod-admin-key-0123456789abcdef",
        "lab-admin-key-0123456789abcdef",
    );
    let (prod, prod_info) = rt.block_on(crate::support::spawn_serve(
        &dir.path().join("prod"),
        Some(prod_key),
    ));
    let (mut lab, lab_info) = rt.block_on(crate::support::spawn_serve(
        &dir.path().join("lab"),
        Some(lab_key),
    ));
    let prod_client = Client::new(&prod_info.url, prod_key);
    let lab_client = Client::new(&lab_info.url, lab_key);
    // The waiting example thread of each runtime; prod's is answered here, so the one
    // call waiting in the workspace is lab's.
    let waiting = |client: &Client| {
        rt.block_on(async {
            for _ in 0..200 {
                let threads = client
                    .list_threads(&[("status", "requires_action")])
                    .await
                    .unwrap();
                if let Some(thread) = threads.data.first() {
                    let messages = client.all_messages(&thread.id).await.unwrap();
                    let call = messages
                        .iter()
                        .flat_map(|m| m.tool_calls.iter())
                        .find(|c| c.status == ToolCallStatus::RequiresAction)
                        .map(|c| c.id.clone());
                    if let Some(call) = call {
                        return Some((thread.id.clone(), call));
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            None
        })
    };
    let (prod_thread, prod_call) = waiting(&prod_client).expect("prod's example thread waits");
    rt.block_on(prod_client.post_message(
        &prod_thread,
        &MessageCreate {
            role: Role::Tool,
            content: Some(Content::Text("answered through the API".into())),
            attachments: vec![],
            tool_call_id: Some(prod_call),
        },
    ))
    .unwrap();
    // Lab's example call is answered too; what waits there is a payment that needs an
    // operator's approval, made here by an assistant that asks for it always.
    let answer = |client: &Client, thread: &str, call: String| {
        rt.block_on(client.post_message(
            thread,
            &MessageCreate {
                role: Role::Tool,
                content: Some(Content::Text("answered through the API".into())),
                attachments: vec![],
                tool_call_id: Some(call),
            },
        ))
        .unwrap();
    };
    let (lab_example, lab_example_call) = waiting(&lab_client).expect("lab's example thread waits");
    answer(&lab_client, &lab_example, lab_example_call);
    let project = rt.block_on(lab_client.list_projects()).unwrap().data[0]
        .id
        .clone();
    let lab_project = Client::new(&lab_info.url, lab_key).with_project(Some(project));
    let mut cautious = crate::support::assistant(
        "cautious",
        serde_json::json!([{"type": "function", "function": {"name": "pay", "description": "Pays"},
            "handler": {"command": ["sh", "-c", "cat"], "timeout_ms": 5000}}]),
        vec![],
    );
    cautious.approval = agentdeck::model::Approval::Always;
    let cautious = rt
        .block_on(lab_project.create_assistant(&cautious))
        .unwrap();
    let lab_thread = rt.block_on(crate::support::new_thread(&lab_project, &cautious.id));
    rt.block_on(lab_project.post_message(
        &lab_thread,
        &crate::support::user("/tool pay {\"amount\": 100}"),
    ))
    .unwrap();
    let approval = rt.block_on(async {
        for _ in 0..200 {
            let messages = lab_project.all_messages(&lab_thread).await.unwrap();
            let call = messages
                .iter()
                .flat_map(|m| m.tool_calls.iter())
                .find(|c| c.status == ToolCallStatus::RequiresApproval)
                .map(|c| c.id.clone());
            if call.is_some() {
                return call;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    });
    let approval = approval.expect("the payment waits for approval");

    let config = dir.path().join("config").join("agentdeck");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(
        config.join("config.toml"),
        format!(
            "[[remotes]]\nname = \"prod\"\nurl = \"{}\"\napi_key_env = \"PROD_KEY\"\n\n[[remotes]]\nname = \"lab\"\nurl = \"{}\"\napi_key_env = \"LAB_KEY\"\n",
            prod_info.url, lab_info.url
        ),
    )
    .unwrap();
    let session = Session::start_with_args(
        &dir,
        "two",
        &format!("PROD_KEY={prod_key} LAB_KEY={lab_key}"),
        "--remote prod --remote lab",
        "",
        (160, 45),
    );
    let screen = session.wait_until("both runtimes connected with their threads", |screen| {
        screen.contains("● prod") && screen.contains("● lab") && screen.contains("Threads 9/9")
    });
    assert!(
        screen.contains("@prod") && screen.contains("@lab"),
        "{screen}"
    );
    session.keys(&["/"]);
    session.type_text("runtime:lab");
    session.keys(&["Enter"]);
    session.wait_for("Threads 5/9");
    // The one call waiting is lab's payment: approved from the Tools pane, it runs there.
    session.keys(&["3"]);
    session.wait_for("3 Tools · 1 waiting");
    session.wait_for("! pay");
    session.keys(&["a"]);
    let approved = rt.block_on(async {
        for _ in 0..400 {
            let messages = lab_project.all_messages(&lab_thread).await.unwrap();
            let call = messages
                .iter()
                .flat_map(|m| m.tool_calls.iter())
                .find(|c| c.id == approval);
            if call.is_some_and(|c| c.status == ToolCallStatus::Completed && c.approved) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    });
    assert!(
        approved,
        "the approval never reached lab:\n{}",
        session.screen()
    );

    // One runtime going away leaves the other: lab stops, prod's threads stay.
    lab.0.kill().unwrap();
    let _ = lab.0.wait();
    session.keys(&["/"]);
    session.wait_for("/runtime:lab█");
    for _ in 0.."runtime:lab".len() {
        session.keys(&["BSpace"]);
    }
    session.wait_for("Threads 9/9 /█");
    session.keys(&["Enter"]);
    let screen = session.wait_for("◌ lab");
    assert!(
        screen.contains("● prod") && screen.contains("@prod"),
        "{screen}"
    );
    session.keys(&["q"]);
    session.wait_for("EXITED-0");
    drop(prod);
}

/// A newcomer's day, as issue #14 tells it: `agentdeck serve` on a fresh data dir, a
/// workspace attached with `--remote` that watches the Getting started assistants route,
/// answers the call that waits, zooms and filters, and leaves a reply running when its
/// terminal is killed; work sent with `agentdeck send` meanwhile; a second workspace
/// finds both runs finished.
#[test]
fn a_newcomer_serves_attaches_detaches_sends_work_and_finds_it_done() {
    use agentdeck::client::Client;
    use agentdeck::model::{MessageStatus, Role, ThreadStatus, ToolCallStatus};
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = "newcomer-admin-key-0123456789abcdef";
    let (server, info) = rt.block_on(crate::support::spawn_serve(
        &dir.path().join("served"),
        Some(key),
    ));
    let _server = server;
    let client = Client::new(&info.url, key);
    let env = format!("AGENTDECK_API_KEY={key}");
    let remote = format!("--remote {}", info.url);

    let session = Session::start_with_args(&dir, "newcomer", &env, &remote, "", (160, 45));
    session.wait_for("Threads 4/4");
    // Triage called a tool and routed to billing (before this workspace attached, so the
    // graph's edges are drawn without live counts): the Tools pane lists both calls,
    // whichever thread is open (its name column holds 11 characters at this width, so
    // the names are matched as far as it shows them). One example thread waits for an
    // operator's answer.
    session.wait_until("the Tools pane lists both calls", |screen| {
        let tools: Vec<&str> = screen
            .lines()
            .skip_while(|line| !line.contains("Tools ·"))
            .collect();
        ["✓ route_to_a", "✓ lookup_ord"].iter().all(|call| {
            tools
                .iter()
                .any(|line| line.starts_with(&format!("│ {call}")))
        })
    });
    session.wait_for("1 waiting");
    session.keys(&["3"]);
    session.wait_for("Tools · 1 waiting");
    session.keys(&["a"]);
    session.wait_for("Answer to");
    session.type_text("order 1842 shipped on Monday");
    session.keys(&["Enter"]);
    session.wait_for("Tools · 0 waiting");
    let answered = rt.block_on(async {
        let threads = client.list_threads(&[]).await.unwrap().data;
        for thread in threads {
            for message in client.all_messages(&thread.id).await.unwrap() {
                if message.role == Role::Tool && message.text() == "order 1842 shipped on Monday" {
                    return true;
                }
            }
        }
        false
    });
    assert!(
        answered,
        "the answer typed in the workspace is not in the server"
    );

    // Zoom the conversation: the other panes give way; z again brings them back.
    session.keys(&["2", "z"]);
    session.wait_until("the conversation zoomed", |screen| {
        !screen.contains("Threads 4/4") && !screen.contains("Tools ·")
    });
    session.keys(&["z"]);
    session.wait_for("Threads 4/4");

    // Filter to billing's threads, and leave a paced reply running in the selected one.
    session.keys(&["1", "/"]);
    session.type_text("assistant:billing");
    session.keys(&["Enter"]);
    session.wait_until("the filter applied", |screen| {
        screen.contains("/4") && !screen.contains("Threads 4/4") && !screen.contains("Threads 0/")
    });
    session.keys(&["i"]);
    session.wait_for("Message to “");
    session.type_text("/slow 20 /long 60 left running when the terminal died");
    session.keys(&["Enter"]);
    session.wait_for("▌billing …");
    // The terminal goes away mid-reply (tmux kills the pane: SIGHUP, as a dropped SSH
    // connection does).
    drop(session);

    // Work sent from the command line while no workspace watches.
    let sent = Command::new(env!("CARGO_BIN_EXE_agentdeck"))
        .args(["--remote", &info.url, "send", "--assistant", "billing"])
        .arg("nightly report /slow 40 /long 40")
        .env("AGENTDECK_API_KEY", key)
        .output()
        .unwrap();
    assert!(
        sent.status.success(),
        "agentdeck send: {}",
        String::from_utf8_lossy(&sent.stderr)
    );
    assert!(String::from_utf8_lossy(&sent.stderr).contains("thread: thread_"));

    // Both runs end on the server with nobody attached.
    let replies = rt.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let threads = client.list_threads(&[]).await.unwrap().data;
            let busy = threads.iter().any(|t| t.status == ThreadStatus::Running);
            let mut found = Vec::new();
            for thread in &threads {
                let messages = client.all_messages(&thread.id).await.unwrap();
                let asked = |text: &str| {
                    messages
                        .iter()
                        .any(|m| m.role == Role::User && m.text().contains(text))
                };
                if asked("left running when the terminal died") || asked("nightly report") {
                    let last = messages.last().unwrap();
                    found.push((last.role, last.status, last.tool_calls.len()));
                }
            }
            if !busy && found.len() == 2 {
                return found;
            }
            assert!(Instant::now() < deadline, "the runs never ended: {found:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    for (role, status, _) in &replies {
        assert_eq!(
            (*role, *status),
            (Role::Assistant, MessageStatus::Completed)
        );
    }
    let waiting = rt.block_on(async {
        let mut waiting = 0;
        for thread in client.list_threads(&[]).await.unwrap().data {
            for message in client.all_messages(&thread.id).await.unwrap() {
                waiting += message
                    .tool_calls
                    .iter()
                    .filter(|c| c.status == ToolCallStatus::RequiresAction)
                    .count();
            }
        }
        waiting
    });
    assert_eq!(waiting, 0);

    // Reattached, the workspace is where it was left (the filter, the thread) and shows
    // what happened meanwhile: the reply left running is done, and so is the sent one.
    let session = Session::start_with_args(&dir, "newcomer-back", &env, &remote, "", (160, 45));
    session.wait_for("Threads 3/5 /assistant:billing");
    session.wait_until("the reply left running, finished", |screen| {
        screen.contains("left running when the terminal died") && !screen.contains("▌billing …")
    });
    session.keys(&["/"]);
    for _ in 0.."assistant:billing".len() {
        session.keys(&["BSpace"]);
    }
    session.type_text("nightly");
    session.keys(&["Enter"]);
    session.wait_for("Threads 1/5");
    session.wait_until("the sent thread's reply, finished", |screen| {
        screen.contains("▌billing · ") && !screen.contains("▌billing …")
    });
    session.keys(&["q"]);
    session.wait_for("EXITED-0");
}

/// The widest a screen's lines reach (in characters) and how many rows hold anything.
fn drawn_extent(screen: &str) -> (usize, usize) {
    let width = screen
        .lines()
        .map(|line| line.trim_end().chars().count())
        .max()
        .unwrap_or(0);
    let rows = screen.lines().filter(|l| !l.trim().is_empty()).count();
    (width, rows)
}

/// The size is read once and then taken from resize events (not asked of the terminal
/// before every frame): growing and shrinking the window redraws the panes at its size.
#[test]
fn a_resized_terminal_is_drawn_at_its_new_size() {
    let dir = tempfile::tempdir().unwrap();
    let session = Session::start(&dir, "resize", "AGENTDECK_LOCAL_TPS=0", "", (100, 30));
    session.wait_for("Threads 4/4");
    let (width, rows) = drawn_extent(&session.screen());
    assert!(width == 100 && rows <= 30, "{width}x{rows}");
    for (new_width, new_height) in [(170usize, 44usize), (80, 24)] {
        tmux(&[
            "resize-window",
            "-t",
            &session.name,
            "-x",
            &new_width.to_string(),
            "-y",
            &new_height.to_string(),
        ]);
        let what = format!("panes drawn across {new_width}x{new_height}");
        let screen = session.wait_until(&what, |screen| {
            let (width, rows) = drawn_extent(screen);
            // The bottom row is the status line; the panes above reach the last column.
            width == new_width && rows >= new_height - 1 && screen.contains("Threads 4/4")
        });
        let (width, rows) = drawn_extent(&screen);
        assert!(
            width == new_width && rows <= new_height,
            "{width}x{rows}:\n{screen}"
        );
    }
}

/// `$EDITOR` has the terminal to itself: what is typed into it reaches it whole (the
/// workspace reads no input while it runs), its text comes back as the draft, and keys
/// work again after it.
#[test]
fn the_editor_gets_every_key_typed_into_it_and_gives_the_draft_back() {
    let dir = tempfile::tempdir().unwrap();
    // An editor that reads a line from the terminal and writes it to the draft's file.
    let editor = dir.path().join("line-editor.sh");
    std::fs::write(
        &editor,
        "#!/bin/sh\nprintf 'editor-ready\\n'\nread -r line\nprintf '%s\\n' \"$line\" > \"$1\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let env = format!("AGENTDECK_LOCAL_TPS=0 EDITOR={}", editor.display());
    let session = Session::start(&dir, "editor", &env, "", (120, 36));
    session.wait_for("Threads 4/4");
    session.keys(&["n"]);
    session.wait_for("New thread with");
    session.type_text("draft-before-the-editor");
    session.keys(&["C-e"]);
    session.wait_for("editor-ready");
    session.type_text("every-key-of-this-line-reaches-the-editor");
    session.keys(&["Enter"]);
    session.wait_for("│every-key-of-this-line-reaches-the-editor");
    session.type_text(" and-after");
    session.wait_for("every-key-of-this-line-reaches-the-editor and-after");
}
