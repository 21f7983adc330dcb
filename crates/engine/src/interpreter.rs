//! The code interpreter: the model's Python, run in a subprocess with a fresh scratch
//! directory, no network and hard limits.
//!
//! The process runs in new network and PID namespaces (`unshare`, util-linux): it has no
//! interface but a loopback that is down, so nothing can be reached, not even this host,
//! and nothing it starts outlives it.
//! If the host cannot make one, the call fails and says so: code is never run unconfined.
//! `prlimit` bounds CPU time, address space, file size, open files and processes; when
//! the runtime is root the code runs as `nobody` (`setpriv`), so the process limit holds
//! and nothing of the runtime's is writable. The wall time is the tool's `timeout_ms`;
//! stdout and stderr are cut at the tool output limit. The output names the exit status
//! and the files the code left, which the operator can fetch from the API.

use super::tools::{Group, OutputSink, ProcessGroups, collect, grouped_command};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::Command;

/// Address space of the code (Python itself needs some 30 MiB of it).
const MEMORY_BYTES: u64 = 512 * 1024 * 1024;
/// The largest file the code may write.
const FILE_BYTES: u64 = 64 * 1024 * 1024;
/// Processes (of the sandbox's user) the code may have at once.
const PROCESSES: u64 = 64;
const OPEN_FILES: u64 = 256;
/// The most CPU time a run gets, whatever its wall time.
const MAX_CPU_SECS: u64 = 60;
/// The user the code runs as when the runtime is root.
const NOBODY: u32 = 65534;

/// Where the files of a call's run are kept: `DATA_DIR/scratch/CALL_ID`.
/// (Call ids come from providers: see `model::path_segment`.)
pub fn scratch_dir(data_dir: &Path, call_id: &str) -> PathBuf {
    data_dir
        .join("scratch")
        .join(agentdeck_model::path_segment(call_id))
}

/// Whether this host can isolate the network; the reason when it cannot. Checked once.
async fn isolation() -> Result<(), String> {
    static CHECKED: tokio::sync::OnceCell<Result<(), String>> = tokio::sync::OnceCell::const_new();
    CHECKED
        .get_or_init(|| async {
            let probe = Command::new("unshare")
                .args(unshare_args())
                .arg("true")
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .output()
                .await;
            match probe {
                Ok(out) if out.status.success() => Ok(()),
                Ok(out) => Err(format!(
                    "this host cannot isolate the code's network (`unshare --net` failed: {}); \
                     the code was not run",
                    String::from_utf8_lossy(&out.stderr).trim()
                )),
                Err(err) => Err(format!(
                    "this host cannot isolate the code's network (`unshare` from util-linux \
                     could not run: {err}); the code was not run"
                )),
            }
        })
        .await
        .clone()
}

fn is_root() -> bool {
    // The owner of /proc/self is the process's effective user.
    std::fs::metadata("/proc/self").is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
}

/// New network and PID namespaces (and one of users when not root, for unprivileged
/// namespaces). The code is the PID namespace's first process: when it ends, the kernel
/// ends every process it left behind, whatever group or session they moved to; and it
/// dies with `unshare` (`--kill-child`) when the runtime stops the run.
fn unshare_args() -> Vec<&'static str> {
    let mut args = Vec::new();
    if !is_root() {
        args.extend(["--user", "--map-root-user"]);
    }
    args.extend(["--net", "--pid", "--fork", "--kill-child", "--"]);
    args
}

/// The Python to run, as an absolute path (the sandbox's own PATH is minimal):
/// `AGENTDECK_PYTHON` if set, else the system's python3 (which the `nobody` user can
/// run, unlike one under root's home), else the first python3 on the runtime's PATH.
fn python() -> Result<PathBuf, String> {
    if let Some(chosen) = std::env::var_os("AGENTDECK_PYTHON") {
        return Ok(PathBuf::from(chosen));
    }
    ["/usr/bin/python3", "/usr/local/bin/python3"]
        .iter()
        .map(PathBuf::from)
        .chain(
            std::env::var_os("PATH")
                .iter()
                .flat_map(std::env::split_paths)
                .map(|dir| dir.join("python3")),
        )
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| "python3 was not found (set AGENTDECK_PYTHON); the code was not run".into())
}

/// Runs `code`. `Ok` is the report of a run that exited 0; `Err` the report of one that
/// did not (or why it could not run).
pub async fn run(
    code: &str,
    scratch: &Path,
    timeout: Duration,
    output_limit: usize,
    sink: &OutputSink,
    groups: &ProcessGroups,
) -> Result<String, String> {
    isolation().await?;
    let python = python()?;
    std::fs::create_dir_all(scratch)
        .map_err(|err| format!("the scratch directory could not be made: {err}"))?;
    let root = is_root();
    if root {
        std::os::unix::fs::chown(scratch, Some(NOBODY), Some(NOBODY))
            .map_err(|err| format!("the scratch directory could not be handed over: {err}"))?;
    }
    let cpu = timeout.as_secs().clamp(1, MAX_CPU_SECS);
    let mut command = grouped_command("unshare");
    command.args(unshare_args()).arg("prlimit").args([
        // SIGXCPU at the soft limit (reported as such), SIGKILL a second later.
        format!("--cpu={cpu}:{}", cpu + 1),
        format!("--as={MEMORY_BYTES}"),
        format!("--fsize={FILE_BYTES}"),
        format!("--nproc={PROCESSES}"),
        format!("--nofile={OPEN_FILES}"),
        "--core=0".into(),
        "--".into(),
    ]);
    if root {
        command.args([
            "setpriv",
            &format!("--reuid={NOBODY}"),
            &format!("--regid={NOBODY}"),
            "--clear-groups",
            "--",
        ]);
    }
    // -I: isolated (no user site, no PYTHON* variables); -u: prints go out as they are
    // made (they stream to the workspace); the code comes on stdin.
    command
        .arg(&python)
        .args(["-I", "-u", "-"])
        .current_dir(scratch)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", scratch)
        .env("LANG", "C.UTF-8")
        .env("PYTHONDONTWRITEBYTECODE", "1");
    let child = command
        .spawn()
        .map_err(|err| format!("the interpreter could not start: {err}"))?;
    // Whatever the code left running in the background goes with it, however this ends.
    let group = Group::of(child.id(), groups);
    let work = collect(
        child,
        code.as_bytes().to_vec(),
        output_limit,
        output_limit,
        sink,
    );
    let finished = tokio::time::timeout(timeout, work).await;
    drop(group);
    let Ok(((stdout, out_cut), (stderr, err_cut), status)) = finished else {
        return Err(format!(
            "the code ran longer than {} ms and was stopped{}",
            timeout.as_millis(),
            files_note(scratch)
        ));
    };
    let status = status.map_err(|err| format!("the interpreter could not be waited for: {err}"))?;
    let mut report = match status.code() {
        Some(code) => format!("exit status {code}"),
        None => {
            use std::os::unix::process::ExitStatusExt;
            let signal = status.signal().unwrap_or(0);
            let why = match signal {
                9 => " (killed: its CPU time or memory limit was reached)",
                24 => " (its CPU time limit was reached)",
                25 => " (its file size limit was reached)",
                _ => "",
            };
            format!("killed by signal {signal}{why}")
        }
    };
    for (name, bytes, cut) in [("stdout", &stdout, out_cut), ("stderr", &stderr, err_cut)] {
        if !bytes.is_empty() {
            report.push_str(&format!(
                "\n--- {name} ---\n{}",
                String::from_utf8_lossy(bytes)
            ));
            if cut {
                report.push_str(&format!("\n[{name} cut at {output_limit} bytes]"));
            }
        }
    }
    report.push_str(&files_note(scratch));
    if status.success() {
        Ok(report)
    } else {
        Err(report)
    }
}

/// The files a run left in its scratch directory: relative path and size.
pub fn files(scratch: &Path) -> Vec<(String, u64)> {
    let mut found = Vec::new();
    let mut pending = vec![scratch.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            // The entry itself, not what a link points to: the code may leave symlinks
            // to anywhere, and they are neither listed nor followed.
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let path = entry.path();
            if kind.is_dir() {
                pending.push(path);
            } else if kind.is_file() {
                let size = entry.metadata().map_or(0, |m| m.len());
                if let Ok(relative) = path.strip_prefix(scratch) {
                    found.push((relative.to_string_lossy().into_owned(), size));
                }
            }
        }
        if found.len() > 1000 {
            break;
        }
    }
    found.sort();
    found
}

fn files_note(scratch: &Path) -> String {
    let files = files(scratch);
    if files.is_empty() {
        return String::new();
    }
    let mut note = String::from("\n--- files ---");
    for (name, size) in files.iter().take(50) {
        note.push_str(&format!("\n{name} ({size} bytes)"));
    }
    if files.len() > 50 {
        note.push_str(&format!("\n... and {} more", files.len() - 50));
    }
    note
}

/// The bytes of a file a run left, by its path relative to the scratch directory. Only
/// plain files inside it: no `..`, no absolute path, no symlink anywhere on the way.
pub fn read_file(scratch: &Path, relative: &str) -> Result<Vec<u8>, String> {
    use std::path::Component;
    let wanted = Path::new(relative);
    if relative.is_empty()
        || !wanted
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
    {
        return Err(format!("{relative:?} is not a file name of this run"));
    }
    let mut path = scratch.to_path_buf();
    for component in wanted.components() {
        path.push(component);
        let kind = std::fs::symlink_metadata(&path)
            .map_err(|_| format!("{relative:?} is not a file of this run"))?
            .file_type();
        if kind.is_symlink() {
            return Err(format!("{relative:?} is a link, which is not served"));
        }
    }
    if !path.is_file() {
        return Err(format!("{relative:?} is not a file of this run"));
    }
    std::fs::read(&path).map_err(|err| format!("{relative:?} could not be read: {err}"))
}
