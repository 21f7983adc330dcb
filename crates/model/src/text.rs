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

/// Untrusted text on one line of at most `width` characters. Reads no further than it
/// shows, so clipping a long streaming text costs the same as a short one.
pub fn clip(text: &str, width: usize) -> String {
    let mut clean = one_line_chars(text);
    let mut out: String = clean.by_ref().take(width).collect();
    if clean.next().is_some() {
        // Too long: the last character shown makes room for the ellipsis.
        out.pop();
        if width > 0 {
            out.push('…');
        }
    }
    out
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

/// JSON text for a terminal or a script's log: the characters a terminal acts on that
/// JSON leaves raw in strings (DEL, the C1 controls such as U+009B CSI and U+009D OSC,
/// bidi overrides, line and paragraph separators) written as `\uXXXX` escapes. The value
/// is unchanged for any JSON reader; outside strings JSON is ASCII, so only strings change.
pub fn escape_json_controls(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        let escape = matches!(c,
            '\u{7f}'..='\u{9f}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}'
            | '\u{200E}'
            | '\u{200F}'
            | '\u{061C}'
            | '\u{2028}'
            | '\u{2029}');
        if escape {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// A value as one line of JSON, safe to print (see [`escape_json_controls`]).
pub fn json_line(value: &impl serde::Serialize) -> String {
    escape_json_controls(&serde_json::to_string(value).unwrap_or_else(|_| "null".into()))
}

/// A value as pretty JSON, safe to print (see [`escape_json_controls`]).
pub fn json_pretty(value: &impl serde::Serialize) -> String {
    escape_json_controls(&serde_json::to_string_pretty(value).unwrap_or_else(|_| "null".into()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn json_printouts_escape_what_a_terminal_acts_on() {
        let value = serde_json::json!({"text": "a\u{7f}b\u{9b}2Jc\u{9d}0;x\u{7}\u{202e}d\u{1b}e"});
        let line = super::json_line(&value);
        for raw in ['\u{7f}', '\u{9b}', '\u{9d}', '\u{202e}', '\u{1b}', '\u{7}'] {
            assert!(!line.contains(raw), "{raw:?} in {line}");
        }
        assert!(
            line.contains("\\u009b") && line.contains("\\u202e"),
            "{line}"
        );
        let back: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(back, value, "the same value for a JSON reader");
        let pretty = super::json_pretty(&value);
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&pretty).unwrap(),
            value
        );
    }

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
