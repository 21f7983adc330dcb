//! What the loop asks of the terminal it runs in: the clipboard (OSC 52) and $EDITOR.

use super::terminal::Term;

/// OSC 52: the terminal (also across SSH and tmux with `set-clipboard on`) puts the text
/// on the clipboard.
/// Copies through OSC 52. The text is untrusted (model output): what lands in the
/// clipboard has no escape sequences to replay when pasted into a terminal.
pub(super) fn copy_to_clipboard(text: &str) {
    use std::io::Write;
    let clean = agentdeck_model::text::for_clipboard(text);
    let mut out = std::io::stdout();
    let _ = write!(out, "\x1b]52;c;{}\x07", base64(clean.as_bytes()));
    let _ = out.flush();
}

pub fn base64(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Suspends the workspace, edits `text` in $VISUAL/$EDITOR (else vi), and returns it.
pub(super) async fn edit_in_editor(
    terminal: &mut Term,
    text: &str,
    mouse: bool,
) -> std::io::Result<String> {
    let editor = std::env::var("VISUAL")
        .or_else(|_| std::env::var("EDITOR"))
        .unwrap_or_else(|_| "vi".into());
    let path = std::env::temp_dir().join(format!("agentdeck-draft-{}.md", std::process::id()));
    std::fs::write(&path, text)?;
    super::terminal::restore();
    let mut parts = editor.split_whitespace();
    let program = parts.next().unwrap_or("vi").to_string();
    let status = tokio::process::Command::new(program)
        .args(parts)
        .arg(&path)
        .status()
        .await;
    let resumed = super::terminal::resume(mouse);
    terminal.backend_mut().reread_size()?;
    terminal.clear()?;
    resumed?;
    let edited = std::fs::read_to_string(&path);
    let _ = std::fs::remove_file(&path);
    match status {
        Ok(status) if status.success() => edited,
        Ok(status) => Err(std::io::Error::other(format!(
            "the editor exited with {status}; the draft is unchanged"
        ))),
        Err(err) => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::base64;

    #[test]
    fn base64_matches_the_standard() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64("évil".as_bytes()), "w6l2aWw=");
    }
}

/// How alerts reach the operator (from the config's `[ui]`).
#[derive(Debug, Clone, Default)]
pub struct AlertSettings {
    pub bell: bool,
    pub notifications: bool,
    pub command: Option<Vec<String>>,
}

/// Rings, notifies and runs the command for alerts, at most once per `ALERT_GAP`: alerts
/// in between are counted into the next one, so a burst is one alert, not a storm.
pub struct Alerter {
    settings: AlertSettings,
    last: Option<std::time::Instant>,
    held: usize,
}

const ALERT_GAP: std::time::Duration = std::time::Duration::from_secs(3);

impl Alerter {
    pub fn new(settings: AlertSettings) -> Alerter {
        Alerter {
            settings,
            last: None,
            held: 0,
        }
    }

    pub fn alert(&mut self, alert: &super::app::Alert) {
        let now = std::time::Instant::now();
        if self
            .last
            .is_some_and(|last| now.duration_since(last) < ALERT_GAP)
        {
            self.held += 1;
            return;
        }
        self.last = Some(now);
        let more = std::mem::take(&mut self.held);
        let text = alert_text(alert, more);
        let mut out = std::io::stdout();
        use std::io::Write;
        if self.settings.bell {
            let _ = out.write_all(b"\x07");
        }
        if self.settings.notifications {
            let _ = write!(out, "\x1b]9;{text}\x07\x1b]777;notify;agentdeck;{text}\x07");
        }
        let _ = out.flush();
        if let Some(argv) = &self.settings.command {
            run_notify_command(argv, &text);
        }
    }
}

/// One line, no control characters and no `;` (OSC separators), at most 120 characters.
pub fn alert_text(alert: &super::app::Alert, more: usize) -> String {
    let mut text = format!("{}: {}", alert.what, alert.about);
    if more > 0 {
        text.push_str(&format!(" (and {more} more)"));
    }
    agentdeck_model::text::one_line(&text)
        .chars()
        .map(|c| if c == ';' { ',' } else { c })
        .take(120)
        .collect()
}

/// Starts the command without a shell and reaps it off the UI thread; what it prints is
/// dropped (the screen is the workspace's).
fn run_notify_command(argv: &[String], text: &str) {
    let Some((program, args)) = argv.split_first() else {
        return;
    };
    let child = std::process::Command::new(program)
        .args(args)
        .arg(text)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    match child {
        Ok(mut child) => {
            std::thread::spawn(move || {
                let _ = child.wait();
            });
        }
        Err(err) => tracing::warn!("notify_command {program}: {err}"),
    }
}
