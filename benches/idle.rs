//! An idle workspace (issue #8, §5): once nothing changes, no timer wake-ups and nothing
//! written to the terminal, except a relative time ticking (its own cells, at most once
//! a minute past its first minute).
//!
//! The real binary runs in tmux at 160x45 on a fresh data dir, twice: as a newcomer
//! starts it (`agentdeck`, the runtime in the same process; the Getting started threads
//! run, then one waits for a decision), and attached to an `agentdeck serve` of its own
//! (`--remote`; the workspace process alone). After the screen has been still for
//! `IDLE_SETTLE_SECS` (default 70: past every time's first minute) it measures
//! `IDLE_SECS` (default 120): CPU (utime + stime), wake-ups (context switches of every
//! thread of the process) and bytes written to the terminal (tmux `pipe-pane`).
//!
//! `cargo bench --bench idle` (needs tmux; `AGENTDECK_BIN=path` measures another build).
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used
)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

mod common;

fn tmux(args: &[&str]) -> String {
    common::tmux("agentdeck-idle", args)
}

fn env_secs(name: &str, default: u64) -> Duration {
    Duration::from_secs(
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default),
    )
}

/// Context switches of every thread of a process: each is a thread going to sleep or
/// being woken.
fn wakeups(pid: u32) -> u64 {
    let mut total = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
    {
        let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
        for line in status.lines() {
            if let Some(n) = line
                .strip_prefix("voluntary_ctxt_switches:")
                .or_else(|| line.strip_prefix("nonvoluntary_ctxt_switches:"))
            {
                total += n.trim().parse::<u64>().unwrap_or(0);
            }
        }
    }
    total
}

/// The pid of the agentdeck process in the pane (the shell's child).
fn workspace_pid(session: &str) -> u32 {
    let shell: u32 = tmux(&["display", "-p", "-t", session, "#{pane_pid}"])
        .trim()
        .parse()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let children =
            std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children")).unwrap();
        if let Some(pid) = children.split_whitespace().next() {
            return pid.parse().unwrap();
        }
        assert!(Instant::now() < deadline, "the workspace did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until the screen has not changed for `still`, digits aside (relative times
/// tick and must not hold the wait up).
fn settle(session: &str, still: Duration) {
    let mut last = String::new();
    let mut since = Instant::now();
    loop {
        let screen: String = tmux(&["capture-pane", "-p", "-t", session])
            .chars()
            .map(|c| if c.is_ascii_digit() { '#' } else { c })
            .collect();
        if screen != last {
            last = screen;
            since = Instant::now();
        } else if since.elapsed() >= still {
            return;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

struct Figures {
    cpu: Duration,
    wakeups: u64,
    bytes: u64,
}

fn measure(label: &str, command: &str, dir: &Path) -> Figures {
    let session = format!("idle-{}", std::process::id());
    tmux(&[
        "new-session",
        "-d",
        "-s",
        &session,
        "-x",
        "160",
        "-y",
        "45",
        command,
    ]);
    let pid = workspace_pid(&session);
    eprintln!("{label}: waiting for the screen to be still");
    settle(&session, Duration::from_secs(10));
    // Past the first minute of every time on screen.
    std::thread::sleep(env_secs("IDLE_SETTLE_SECS", 70));
    let written = dir.join(format!("{label}.bytes"));
    tmux(&[
        "pipe-pane",
        "-o",
        "-t",
        &session,
        &format!("cat >> {}", written.display()),
    ]);
    let (cpu_before, wakeups_before) = (common::process_cpu(pid), wakeups(pid));
    std::thread::sleep(env_secs("IDLE_SECS", 120));
    let figures = Figures {
        cpu: common::process_cpu(pid) - cpu_before,
        wakeups: wakeups(pid) - wakeups_before,
        bytes: std::fs::metadata(&written).map(|m| m.len()).unwrap_or(0),
    };
    tmux(&["kill-session", "-t", &session]);
    figures
}

fn main() {
    // `cargo bench` passes `--bench`; a filter that is not "idle" skips this binary.
    if std::env::args()
        .skip(1)
        .any(|a| !a.starts_with('-') && !"idle".contains(a.as_str()))
    {
        return;
    }
    let bin = common::agentdeck_bin();
    let dir = tempfile::tempdir().unwrap();
    let home = |name: &str| dir.path().join(name).display().to_string();
    let env = format!(
        "env XDG_STATE_HOME={} XDG_CONFIG_HOME={}",
        home("state"),
        home("config")
    );
    let seconds = env_secs("IDLE_SECS", 120).as_secs_f64();
    let report = |label: &str, f: &Figures| {
        println!(
            "{label:<28} CPU {:>6.1} ms/min ({:.3} % of a core), {:>5.1} wake-ups/s, {:>6.1} bytes/min to the terminal",
            f.cpu.as_secs_f64() * 1000.0 * 60.0 / seconds,
            f.cpu.as_secs_f64() * 100.0 / seconds,
            f.wakeups as f64 / seconds,
            f.bytes as f64 * 60.0 / seconds,
        );
    };

    let local = measure(
        "in-process",
        &format!("{env} {bin} --data-dir {}; sleep 600", home("local")),
        dir.path(),
    );
    report("workspace + runtime", &local);

    let key = "sk-admin-idle-bench";
    let mut server = Command::new(&bin)
        .args([
            "--data-dir",
            &home("served"),
            "serve",
            "--listen",
            "127.0.0.1:0",
        ])
        .env("AGENTDECK_ADMIN_KEY", key)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let info = Path::new(&home("served")).join("serve.json");
    let deadline = Instant::now() + Duration::from_secs(20);
    let url = loop {
        if let Some(url) = std::fs::read_to_string(&info).ok().and_then(|text| {
            serde_json::from_str::<serde_json::Value>(&text)
                .ok()?
                .get("url")?
                .as_str()
                .map(str::to_string)
        }) {
            break url;
        }
        assert!(Instant::now() < deadline, "serve did not announce itself");
        std::thread::sleep(Duration::from_millis(100));
    };
    let remote = measure(
        "remote",
        &format!("{env} AGENTDECK_API_KEY={key} {bin} --remote {url}; sleep 600"),
        dir.path(),
    );
    report("workspace (--remote)", &remote);
    let _ = server.kill();
    let _ = server.wait();
}
