//! Function tools answered by a configured command, and what every tool process shares:
//! its own process group, ended whole when the call ends, is cancelled or times out and
//! when the runtime stops; and its output streamed as it comes, bounded.

use agentdeck_model::Handler;
use agentdeck_model::sync;
use std::collections::BTreeSet;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;
use tokio::sync::mpsc;

/// The process groups of an engine's tool processes running now, so that stopping the
/// runtime ends them (each runtime its own: several may share a process).
#[derive(Debug, Clone, Default)]
pub struct ProcessGroups(Arc<Mutex<BTreeSet<i32>>>);

impl ProcessGroups {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeSet<i32>> {
        sync::lock(&self.0)
    }

    /// Ends every tool process still running (the runtime is stopping); how many groups.
    pub fn end_all(&self) -> usize {
        let all: Vec<i32> = std::mem::take(&mut *self.lock()).into_iter().collect();
        for pgid in &all {
            kill_group(*pgid);
        }
        all.len()
    }
}

/// A tool process's group (it was started as the leader of a group of its own): ended
/// whole — the process and everything it started — when this is dropped, whether the
/// call finished, failed, timed out or was cancelled.
pub(super) struct Group {
    pgid: Option<i32>,
    groups: ProcessGroups,
}

impl Group {
    pub(super) fn of(pid: Option<u32>, groups: &ProcessGroups) -> Group {
        let pgid = pid.and_then(|p| i32::try_from(p).ok()).filter(|p| *p > 1);
        if let Some(pgid) = pgid {
            groups.lock().insert(pgid);
        }
        Group {
            pgid,
            groups: groups.clone(),
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        if let Some(pgid) = self.pgid.take() {
            kill_group(pgid);
            self.groups.lock().remove(&pgid);
        }
    }
}

/// A long-lived agent's process group that also ends when this process dies, even by
/// SIGKILL (when nothing of ours runs to end it): a watcher joins the group and waits on
/// a pipe whose only writer is held here; the kernel closes it with this process, and the
/// watcher then ends its whole group. Dropped, it ends the group as [`Group`] does.
pub(super) struct LifelineGroup {
    /// Dropped first: the group is ended, then the watcher's pipe closes.
    _group: Group,
    _lifeline: Option<std::io::PipeWriter>,
    _watcher: Option<tokio::process::Child>,
}

impl LifelineGroup {
    /// The group led by the process `pid` (started with `process_group(0)`). Without a
    /// watcher (it could not start) the group still ends on drop, only not on a SIGKILL.
    pub(super) fn of(pid: Option<u32>, groups: &ProcessGroups) -> LifelineGroup {
        let group = Group::of(pid, groups);
        let (lifeline, watcher) = match group.pgid.map(watch_group) {
            Some(Ok((lifeline, watcher))) => (Some(lifeline), Some(watcher)),
            Some(Err(err)) => {
                tracing::warn!(error = %err, "no watcher for an agent's process group: a SIGKILL of this process would leave it running");
                (None, None)
            }
            None => (None, None),
        };
        LifelineGroup {
            _group: group,
            _lifeline: lifeline,
            _watcher: watcher,
        }
    }
}

/// A shell in the group `pgid` that ends the group when its input closes: `read` returns
/// at end of input, which comes only when every writer — ours alone, close-on-exec so no
/// other child holds it — is closed. It costs no CPU while it waits.
fn watch_group(pgid: i32) -> std::io::Result<(std::io::PipeWriter, tokio::process::Child)> {
    let (reader, writer) = std::io::pipe()?;
    let mut command = Command::new("sh");
    command
        .args(["-c", "read -r _; kill -KILL 0"])
        .stdin(Stdio::from(reader))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    #[cfg(unix)]
    command.process_group(pgid);
    #[cfg(not(unix))]
    let _ = pgid;
    Ok((writer, command.spawn()?))
}

/// `program` piped both ways, killed when its handle is dropped, and the leader of a
/// process group of its own (for a [`Group`] to end whole).
pub(super) fn grouped_command(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut command = Command::new(program);
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    #[cfg(unix)]
    command.process_group(0);
    command
}

fn kill_group(pgid: i32) {
    #[cfg(unix)]
    {
        use nix::sys::signal::{Signal, killpg};
        use nix::unistd::Pid;
        // Gone already (ESRCH) is the usual case for a call that ended cleanly.
        let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
    }
    #[cfg(not(unix))]
    let _ = pgid;
}

/// Where a running call's output goes as it comes: to the run, which publishes it as
/// `tool_call.output.delta`, at most `limit` bytes in all (whatever the streams).
#[derive(Clone)]
pub struct OutputSink {
    index: usize,
    tx: Option<mpsc::UnboundedSender<(usize, String)>>,
    left: Arc<AtomicUsize>,
}

impl OutputSink {
    pub fn new(index: usize, tx: mpsc::UnboundedSender<(usize, String)>, limit: usize) -> Self {
        OutputSink {
            index,
            tx: Some(tx),
            left: Arc::new(AtomicUsize::new(limit)),
        }
    }

    /// A sink that drops everything (callers that do not stream).
    pub fn none() -> Self {
        OutputSink {
            index: 0,
            tx: None,
            left: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Sends text, cut (at a character) to what is left of the limit.
    pub fn send(&self, text: &str) {
        let Some(tx) = &self.tx else {
            return;
        };
        let mut take = 0;
        let _ = self
            .left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                let mut n = text.len().min(left);
                while !text.is_char_boundary(n) {
                    n -= 1;
                }
                take = n;
                Some(left - n)
            });
        if take > 0 {
            let _ = tx.send((self.index, text[..take].to_string()));
        }
    }
}

/// Bytes of a stream turned into text piece by piece: a character cut between two reads
/// waits for the rest of it.
#[derive(Default)]
pub(super) struct Utf8Pieces {
    carry: Vec<u8>,
}

impl Utf8Pieces {
    pub(super) fn push(&mut self, bytes: &[u8]) -> String {
        self.carry.extend_from_slice(bytes);
        let valid = match std::str::from_utf8(&self.carry) {
            Ok(_) => self.carry.len(),
            Err(err) if err.error_len().is_none() => err.valid_up_to(),
            Err(_) => {
                let text = String::from_utf8_lossy(&self.carry).into_owned();
                self.carry.clear();
                return text;
            }
        };
        let rest = self.carry.split_off(valid);
        let text = String::from_utf8_lossy(&self.carry).into_owned();
        self.carry = rest;
        text
    }
}

/// Reads at most `limit` bytes and drains (discards) the rest, so the writer never blocks;
/// every piece read also goes to `sink` as it comes.
async fn read_bounded(
    mut reader: impl AsyncRead + Unpin,
    limit: usize,
    sink: &OutputSink,
) -> (Vec<u8>, bool) {
    let mut kept = Vec::new();
    let mut buf = [0u8; 8192];
    let mut truncated = false;
    let mut pieces = Utf8Pieces::default();
    loop {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = limit.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
                truncated |= n > room;
                sink.send(&pieces.push(&buf[..n]));
            }
        }
    }
    (kept, truncated)
}

/// What a child process output, and how it ended: `input` fed to its stdin (a child that
/// does not read it is fine), stdout and stderr read up to their limits (and whether
/// they were cut), all at once so that no pipe fills and blocks it; both streamed to
/// `sink` as they come.
pub(super) async fn collect(
    mut child: tokio::process::Child,
    input: Vec<u8>,
    out_limit: usize,
    err_limit: usize,
    sink: &OutputSink,
) -> (
    (Vec<u8>, bool),
    (Vec<u8>, bool),
    std::io::Result<std::process::ExitStatus>,
) {
    let stdin = child.stdin.take();
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let feed = async move {
        if let Some(mut stdin) = stdin {
            let _ = stdin.write_all(&input).await;
            let _ = stdin.shutdown().await;
        }
    };
    let out = async {
        match stdout {
            Some(s) => read_bounded(s, out_limit, sink).await,
            None => (Vec::new(), false),
        }
    };
    let err = async {
        match stderr {
            Some(s) => read_bounded(s, err_limit, sink).await,
            None => (Vec::new(), false),
        }
    };
    let ((), out, err, status) = tokio::join!(feed, out, err, child.wait());
    (out, err, status)
}

/// Runs `handler` with `arguments` on stdin, in a process group of its own (ended whole
/// when this returns or is dropped), streaming stdout and stderr to `sink`. `Ok` is its
/// stdout; `Err` says why the call failed: it could not start, it timed out, or it exited
/// non-zero.
pub async fn run_command(
    handler: &Handler,
    arguments: &str,
    limit: usize,
    sink: &OutputSink,
    groups: &ProcessGroups,
) -> Result<String, String> {
    let Some((program, args)) = handler.command.split_first() else {
        return Err("the handler names no command".into());
    };
    let mut command = grouped_command(program);
    command.args(args);
    let child = command
        .spawn()
        .map_err(|err| format!("could not start `{program}`: {err}"))?;
    let _group = Group::of(child.id(), groups);
    let work = collect(child, arguments.as_bytes().to_vec(), limit, 4096, sink);
    let timeout = Duration::from_millis(handler.timeout_ms);
    let Ok(((stdout, truncated), (stderr, _), status)) = tokio::time::timeout(timeout, work).await
    else {
        return Err(format!(
            "`{program}` timed out after {} ms and was stopped",
            handler.timeout_ms
        ));
    };
    let status = status.map_err(|err| format!("`{program}` could not be waited for: {err}"))?;
    if !status.success() {
        let stderr = String::from_utf8_lossy(&stderr);
        let detail = stderr.trim();
        let code = status
            .code()
            .map_or_else(|| "a signal".to_string(), |c| c.to_string());
        return Err(if detail.is_empty() {
            format!("`{program}` exited with status {code}")
        } else {
            format!("`{program}` exited with status {code}: {detail}")
        });
    }
    let mut output = String::from_utf8_lossy(&stdout).into_owned();
    if truncated {
        output.push_str(&format!("\n[output truncated at {limit} bytes]"));
    }
    Ok(output)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handler(script: &str, timeout_ms: u64) -> Handler {
        Handler {
            command: vec!["sh".into(), "-c".into(), script.into()],
            timeout_ms,
        }
    }

    #[tokio::test]
    async fn stdin_in_stdout_out() {
        let out = run_command(
            &handler("cat", 5000),
            r#"{"a":1}"#,
            1024,
            &OutputSink::none(),
            &ProcessGroups::default(),
        )
        .await;
        assert_eq!(out.unwrap(), r#"{"a":1}"#);
    }

    #[tokio::test]
    async fn failures_are_explained() {
        let err = run_command(
            &handler("echo bad >&2; exit 3", 5000),
            "{}",
            1024,
            &OutputSink::none(),
            &ProcessGroups::default(),
        )
        .await
        .unwrap_err();
        assert!(err.contains("status 3") && err.contains("bad"), "{err}");
        let err = run_command(
            &handler("sleep 30", 200),
            "{}",
            1024,
            &OutputSink::none(),
            &ProcessGroups::default(),
        )
        .await
        .unwrap_err();
        assert!(err.contains("timed out after 200 ms"), "{err}");
        let err = run_command(
            &Handler {
                command: vec!["/nonexistent/prog".into()],
                timeout_ms: 1000,
            },
            "{}",
            1024,
            &OutputSink::none(),
            &ProcessGroups::default(),
        )
        .await
        .unwrap_err();
        assert!(err.contains("could not start"), "{err}");
    }

    #[tokio::test]
    async fn output_is_bounded_and_garbage_is_kept_readable() {
        let out = run_command(
            &handler(
                "head -c 100000 /dev/zero | tr '\\0' 'x'; printf '\\377'",
                5000,
            ),
            "{}",
            1000,
            &OutputSink::none(),
            &ProcessGroups::default(),
        )
        .await
        .unwrap();
        assert!(out.starts_with("xxxx") && out.ends_with("[output truncated at 1000 bytes]"));
    }
}
