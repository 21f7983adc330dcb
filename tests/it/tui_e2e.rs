//! The real binary in tmux at 160x45 on a fresh data dir, driven with send-keys and read
//! with capture-pane.

use std::process::Command;
use std::time::{Duration, Instant};

struct Session {
    name: String,
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.name])
            .status();
    }
}

fn tmux(args: &[&str]) -> String {
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
    fn start(
        dir: &tempfile::TempDir,
        tag: &str,
        env: &str,
        after: &str,
        size: (u16, u16),
    ) -> Session {
        let name = format!("agentdeck-e2e-{tag}-{}", std::process::id());
        let command = format!(
            "env {env} XDG_STATE_HOME={state} XDG_CONFIG_HOME={config} {bin} --data-dir {data}; echo EXITED-$?; {after}sleep 60",
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

    fn screen(&self) -> String {
        tmux(&["capture-pane", "-p", "-t", &self.name])
    }

    /// Waits up to 20 s for the screen to show `text`.
    fn wait_for(&self, text: &str) -> String {
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
    fn wait_until(&self, what: &str, check: impl Fn(&str) -> bool) -> String {
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

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", &self.name];
        args.extend_from_slice(keys);
        tmux(&args);
    }

    fn type_text(&self, text: &str) {
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
    session.wait_for("triage ━━▶ billing");
    session.wait_for("1 waiting");

    // A message typed in the composer streams a reply into the conversation.
    session.keys(&["n"]);
    session.wait_for("New thread with");
    session.type_text("hello from the end-to-end test /slow 15");
    session.keys(&["Enter"]);
    session.wait_for("Threads 5/5");
    // Sending while the reply still streams is refused, and nothing typed is lost.
    session.keys(&["i"]);
    session.wait_for("Message · Enter send");
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
    session.wait_for("Message · Enter send");
    session.type_text("please ask legal-review about the contract");
    session.keys(&["Enter"]);
    session.wait_for("──▶ legal-review  ×1");

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
    session.wait_for("Keys (from the keymap");
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
