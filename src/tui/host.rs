//! What the loop asks of the terminal it runs in: the clipboard (OSC 52) and $EDITOR.

use super::terminal::Term;

/// OSC 52: the terminal (also across SSH and tmux with `set-clipboard on`) puts the text
/// on the clipboard.
/// Copies through OSC 52. The text is untrusted (model output): what lands in the
/// clipboard has no escape sequences to replay when pasted into a terminal.
pub(super) fn copy_to_clipboard(text: &str) {
    use std::io::Write;
    let clean = crate::text::for_clipboard(text);
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
