//! Untrusted text (model output, tool output) made safe for a terminal.

/// Drops control characters (escape sequences among them) and bidi overrides; keeps
/// newlines and turns tabs into spaces.
pub fn sanitize(text: &str) -> String {
    text.chars().filter_map(sanitize_char).collect()
}

/// One character of [`sanitize`]: what it becomes, if anything. The rule looks at one
/// character at a time, so text sanitized piece by piece (a stream's deltas) comes out
/// the same as sanitized whole.
pub fn sanitize_char(c: char) -> Option<char> {
    match c {
        '\n' => Some('\n'),
        '\t' => Some(' '),
        c if c.is_control() => None,
        '\u{202A}'..='\u{202E}'
        | '\u{2066}'..='\u{2069}'
        | '\u{200E}'
        | '\u{200F}'
        | '\u{061C}' => None,
        c => Some(c),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_and_bidi_are_removed() {
        assert_eq!(super::sanitize("a\u{1b}[2Jb\u{202E}c\td\r\n"), "a[2Jbc d\n");
    }
}
