//! Function tools answered by a configured command.

use crate::model::Handler;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

/// Reads at most `limit` bytes and drains (discards) the rest, so the writer never blocks.
async fn read_bounded(mut reader: impl AsyncRead + Unpin, limit: usize) -> (Vec<u8>, bool) {
    let mut kept = Vec::new();
    let mut buf = [0u8; 8192];
    let mut truncated = false;
    loop {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = limit.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
                truncated |= n > room;
            }
        }
    }
    (kept, truncated)
}

/// What a child process output, and how it ended: `input` fed to its stdin (a child that
/// does not read it is fine), stdout and stderr read up to their limits (and whether
/// they were cut), all at once so that no pipe fills and blocks it.
pub(super) async fn collect(
    mut child: tokio::process::Child,
    input: Vec<u8>,
    out_limit: usize,
    err_limit: usize,
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
    let out = async move {
        match stdout {
            Some(s) => read_bounded(s, out_limit).await,
            None => (Vec::new(), false),
        }
    };
    let err = async move {
        match stderr {
            Some(s) => read_bounded(s, err_limit).await,
            None => (Vec::new(), false),
        }
    };
    let ((), out, err, status) = tokio::join!(feed, out, err, child.wait());
    (out, err, status)
}

/// Runs `handler` with `arguments` on stdin. `Ok` is its stdout; `Err` says why the call
/// failed: it could not start, it timed out, or it exited non-zero.
pub async fn run_command(
    handler: &Handler,
    arguments: &str,
    limit: usize,
) -> Result<String, String> {
    let Some((program, args)) = handler.command.split_first() else {
        return Err("the handler names no command".into());
    };
    let mut command = Command::new(program);
    command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    #[cfg(unix)]
    command.process_group(0);
    let child = command
        .spawn()
        .map_err(|err| format!("could not start `{program}`: {err}"))?;
    let pid = child.id();
    let work = collect(child, arguments.as_bytes().to_vec(), limit, 4096);
    let timeout = Duration::from_millis(handler.timeout_ms);
    let Ok(((stdout, truncated), (stderr, _), status)) = tokio::time::timeout(timeout, work).await
    else {
        kill_group(pid);
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

/// Stops the handler's whole process group (a shell's children too).
pub(super) fn kill_group(pid: Option<u32>) {
    #[cfg(unix)]
    if let Some(pid) = pid {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", "--", &format!("-{pid}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
    #[cfg(not(unix))]
    let _ = pid;
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
        let out = run_command(&handler("cat", 5000), r#"{"a":1}"#, 1024).await;
        assert_eq!(out.unwrap(), r#"{"a":1}"#);
    }

    #[tokio::test]
    async fn failures_are_explained() {
        let err = run_command(&handler("echo bad >&2; exit 3", 5000), "{}", 1024)
            .await
            .unwrap_err();
        assert!(err.contains("status 3") && err.contains("bad"), "{err}");
        let err = run_command(&handler("sleep 30", 200), "{}", 1024)
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
        )
        .await
        .unwrap();
        assert!(out.starts_with("xxxx") && out.ends_with("[output truncated at 1000 bytes]"));
    }
}
