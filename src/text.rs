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

/// Untrusted text for one field of a line (a TSV column): sanitized, line breaks as
/// spaces.
pub fn one_line(text: &str) -> String {
    one_line_chars(text).collect()
}

/// The characters of [`one_line`], lazily (for a caller that needs only the first few).
pub fn one_line_chars(text: &str) -> impl Iterator<Item = char> + '_ {
    text.chars()
        .filter_map(sanitize_char)
        .map(|c| if c == '\n' { ' ' } else { c })
}

/// Untrusted text for the clipboard: as [`sanitize`], but tabs stay tabs (code keeps
/// its indentation when pasted).
pub fn for_clipboard(text: &str) -> String {
    text.chars()
        .filter_map(|c| {
            if c == '\t' {
                Some('\t')
            } else {
                sanitize_char(c)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_and_bidi_are_removed() {
        assert_eq!(super::sanitize("a\u{1b}[2Jb\u{202E}c\td\r\n"), "a[2Jbc d\n");
        // C1 controls (CSI as one code point) and OSC 52 with its BEL go too.
        assert_eq!(
            super::sanitize("x\u{9b}6n\u{1b}]52;c;aGk=\u{7}y"),
            "x6n]52;c;aGk=y"
        );
        assert_eq!(super::one_line("a\nb\u{1b}c"), "a bc");
        assert_eq!(
            super::for_clipboard("\tfn a()\u{1b}[31m\n"),
            "\tfn a()[31m\n"
        );
    }
}
