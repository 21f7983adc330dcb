//! Markdown of model output, laid out for a width: headings, emphasis, inline code,
//! links, lists, block quotes, tables, and fenced code blocks (highlighted when the
//! highlighter has them). Text must already be sanitized.

use super::highlight::Highlighter;
use super::theme::Theme;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};

/// A fenced code block of a message: where it is drawn and what it holds.
#[derive(Debug, Clone, PartialEq)]
pub struct CodeBlock {
    /// Line index (within the rendered lines) of the opening fence.
    pub first_line: usize,
    pub last_line: usize,
    pub lang: String,
    pub code: String,
}

/// A reply's text while it streams, fed delta by delta: each delta is sanitized once as
/// it arrives, and the collector knows where the finished lines end. Everything before
/// [`StreamingText::settled`] is laid out the same however the text goes on (a line is
/// laid out on its own unless it is inside a code block or a table), so a frame lays out
/// only what follows it. Feeding costs what the delta is long, never what the reply is.
#[derive(Debug, Clone, Default)]
pub struct StreamingText {
    text: String,
    /// Bytes of untrusted text fed in (before sanitizing).
    fed: usize,
    /// Where the line being written starts.
    line_start: usize,
    in_code: bool,
    in_table: bool,
    /// The two newest places the text may be split, after a finished line.
    last_split: usize,
    previous_split: usize,
}

impl StreamingText {
    pub fn new(untrusted: &str) -> StreamingText {
        let mut text = StreamingText::default();
        text.push(untrusted);
        text
    }

    pub fn push(&mut self, untrusted: &str) {
        self.fed += untrusted.len();
        let searched = self.text.len();
        self.text
            .extend(untrusted.chars().filter_map(crate::text::sanitize_char));
        let mut at = searched;
        while let Some(newline) = self.text[at..].find('\n') {
            let end = at + newline + 1;
            self.finish_line(self.line_start, end);
            self.line_start = end;
            at = end;
        }
    }

    fn finish_line(&mut self, start: usize, end: usize) {
        let line = &self.text[start..end - 1];
        if line.trim_start().starts_with("```") {
            self.in_code = !self.in_code;
            self.in_table = false;
        } else if !self.in_code {
            self.in_table = is_table_row(line);
        }
        // A table is laid out whole (its columns line up), so it is not split inside,
        // nor right after a row: the next line may be one more.
        if !self.in_code && !self.in_table {
            self.previous_split = self.last_split;
            self.last_split = end;
        }
    }

    /// The sanitized text so far.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// How much untrusted text was fed in: the message's own text length, when the two
    /// are in step.
    pub fn fed(&self) -> usize {
        self.fed
    }

    /// Where the finished lines end: a byte offset into [`StreamingText::text`] just after
    /// a newline, never at its very end (what follows is laid out from there), and never
    /// moving back as the text grows.
    pub fn settled(&self) -> usize {
        if self.last_split < self.text.len() {
            self.last_split
        } else {
            self.previous_split
        }
    }
}

/// The code blocks of a text, in order (for copying one).
pub fn code_blocks(text: &str) -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(String, Vec<&str>)> = None;
    for line in text.split('\n') {
        let fence = line.trim_start().strip_prefix("```");
        match (&mut current, fence) {
            (None, Some(lang)) => current = Some((lang.trim().to_string(), Vec::new())),
            (Some(_), Some(_)) => {
                if let Some((lang, lines)) = current.take() {
                    blocks.push((lang, lines.join("\n")));
                }
            }
            (Some((_, lines)), None) => lines.push(line),
            (None, None) => {}
        }
    }
    blocks
}

/// Renders `text` at `width` (the indent of two included), appending to `lines`.
pub fn render(
    text: &str,
    width: usize,
    theme: &Theme,
    highlighter: &mut Highlighter,
    lines: &mut Vec<Line<'static>>,
) -> Vec<CodeBlock> {
    let mut blocks = Vec::new();
    let raw: Vec<&str> = text.split('\n').collect();
    let inner = width.saturating_sub(2).max(1);
    let mut index = 0;
    while index < raw.len() {
        let line = raw[index];
        index += 1;
        let trimmed = line.trim_start();
        if let Some(lang) = trimmed.strip_prefix("```") {
            let lang = lang.trim().to_string();
            let start = index;
            while index < raw.len() && !raw[index].trim_start().starts_with("```") {
                index += 1;
            }
            let closed = index < raw.len();
            let code = raw[start..index].join("\n");
            let first_line = lines.len();
            let label = if lang.is_empty() { "code" } else { &lang };
            lines.push(Line::styled(format!("  ╭─ {label}"), theme.fg("dim")));
            // Only a finished block is worth highlighting: a streaming one changes.
            let highlighted = closed.then(|| highlighter.get(&lang, &code)).flatten();
            for (n, code_line) in raw[start..index].iter().enumerate() {
                let mut spans = vec![Span::styled("  │ ", theme.fg("dim"))];
                match highlighted.as_ref().and_then(|h| h.get(n)) {
                    Some(pieces) => spans.extend(
                        pieces
                            .iter()
                            .map(|(colour, text)| Span::styled(text.clone(), theme.fg(colour))),
                    ),
                    None => spans.push(Span::styled(code_line.to_string(), theme.fg("code"))),
                }
                lines.push(Line::from(spans));
            }
            if closed {
                lines.push(Line::styled("  ╰─", theme.fg("dim")));
                index += 1;
            }
            blocks.push(CodeBlock {
                first_line,
                last_line: lines.len().saturating_sub(1),
                lang,
                code,
            });
            continue;
        }
        if is_table_row(line) {
            let mut rows = vec![line];
            while index < raw.len() && is_table_row(raw[index]) {
                rows.push(raw[index]);
                index += 1;
            }
            for row in table_lines(&rows) {
                let clipped: String = row.chars().take(inner).collect();
                lines.push(Line::styled(format!("  {clipped}"), theme.fg("text")));
            }
            continue;
        }
        let (prefix, rest_prefix, body, style) = if let Some(heading) = heading(trimmed) {
            (
                "  ",
                "  ",
                heading,
                theme.fg("heading").add_modifier(Modifier::BOLD),
            )
        } else if let Some(quote) = trimmed.strip_prefix('>') {
            (
                "  │ ",
                "  │ ",
                quote.trim_start(),
                theme.fg("dim").add_modifier(Modifier::ITALIC),
            )
        } else if let Some(item) = trimmed
            .strip_prefix("- ")
            .or_else(|| trimmed.strip_prefix("* "))
        {
            ("  • ", "    ", item, theme.fg("text"))
        } else if is_numbered(trimmed) {
            // "12. " keeps its number; wrapped lines hang under the text.
            ("  ", "     ", trimmed, theme.fg("text"))
        } else {
            ("  ", "  ", line, theme.fg("text"))
        };
        let runs = inline(body, style, theme);
        let chars: Vec<(char, usize)> = runs
            .iter()
            .enumerate()
            .flat_map(|(run, (_, text))| text.chars().map(move |c| (c, run)))
            .collect();
        let plain: Vec<char> = chars.iter().map(|(c, _)| *c).collect();
        let prefix_width = prefix.chars().count();
        for (n, (start, end)) in wrap_ranges(&plain, width.saturating_sub(prefix_width).max(1))
            .into_iter()
            .enumerate()
        {
            let lead = if n == 0 { prefix } else { rest_prefix };
            let mut spans = vec![Span::styled(lead.to_string(), style)];
            let mut at = start;
            while at < end {
                let run = chars[at].1;
                let mut stop = at;
                while stop < end && chars[stop].1 == run {
                    stop += 1;
                }
                let text: String = plain[at..stop].iter().collect();
                spans.push(Span::styled(text, runs[run].0));
                at = stop;
            }
            lines.push(Line::from(spans));
        }
    }
    blocks
}

fn heading(line: &str) -> Option<&str> {
    let hashes = line.chars().take_while(|c| *c == '#').count();
    (1..=6)
        .contains(&hashes)
        .then(|| line[hashes..].strip_prefix(' '))
        .flatten()
}

fn is_numbered(line: &str) -> bool {
    let digits = line.chars().take_while(char::is_ascii_digit).count();
    (1..=3).contains(&digits) && line[digits..].starts_with(". ")
}

/// Inline markdown: `**bold**`, `*italic*`, `` `code` ``, `[text](url)` and bare URLs.
/// Returns (style, text) runs; marks that do not close are kept as text.
pub fn inline(text: &str, base: Style, theme: &Theme) -> Vec<(Style, String)> {
    let mut runs: Vec<(Style, String)> = Vec::new();
    let mut push = |style: Style, piece: &str| {
        if piece.is_empty() {
            return;
        }
        match runs.last_mut() {
            Some((last, text)) if *last == style => text.push_str(piece),
            _ => runs.push((style, piece.to_string())),
        }
    };
    let link = theme.fg("link").add_modifier(Modifier::UNDERLINED);
    let mut rest = text;
    while !rest.is_empty() {
        let next = rest.find(['*', '`', '[', 'h']).unwrap_or(rest.len());
        push(base, &rest[..next]);
        rest = &rest[next..];
        if rest.is_empty() {
            break;
        }
        if let Some(after) = rest.strip_prefix("**") {
            if let Some(end) = after.find("**").filter(|e| *e > 0) {
                push(base.add_modifier(Modifier::BOLD), &after[..end]);
                rest = &after[end + 2..];
                continue;
            }
        } else if let Some(after) = rest.strip_prefix('*') {
            if let Some(end) = after
                .find('*')
                .filter(|e| *e > 0 && !after.starts_with(' '))
            {
                push(base.add_modifier(Modifier::ITALIC), &after[..end]);
                rest = &after[end + 1..];
                continue;
            }
        } else if let Some(after) = rest.strip_prefix('`') {
            if let Some(end) = after.find('`') {
                push(theme.fg("code"), &after[..end]);
                rest = &after[end + 1..];
                continue;
            }
        } else if let Some(after) = rest.strip_prefix('[') {
            if let Some((label, tail)) = after.split_once("](") {
                if let Some((url, tail)) = tail.split_once(')').filter(|_| !label.contains(']')) {
                    push(link, label);
                    push(theme.fg("dim"), &format!(" ‹{url}›"));
                    rest = tail;
                    continue;
                }
            }
        } else if rest.starts_with("https://") || rest.starts_with("http://") {
            let end = rest
                .find(|c: char| c.is_whitespace() || c == ')' || c == '>')
                .unwrap_or(rest.len());
            let url = rest[..end].trim_end_matches(['.', ',', ';', ':']);
            push(link, url);
            rest = &rest[url.len()..];
            continue;
        }
        // Not a mark after all: keep the character as text.
        let width = rest.chars().next().map_or(1, char::len_utf8);
        push(base, &rest[..width]);
        rest = &rest[width..];
    }
    runs
}

/// Where lines break when `chars` is wrapped at `width`: (start, end) of each line,
/// breaking at spaces when it can and splitting words longer than a line.
pub fn wrap_ranges(chars: &[char], width: usize) -> Vec<(usize, usize)> {
    let width = width.max(1);
    let trim = |start: usize, mut end: usize| {
        while end > start && chars[end - 1] == ' ' {
            end -= 1;
        }
        (start, end)
    };
    let mut out = Vec::new();
    let (mut start, mut len) = (0, 0);
    let mut i = 0;
    while i < chars.len() {
        let mut word_end = i;
        while word_end < chars.len() && chars[word_end] != ' ' {
            word_end += 1;
        }
        let token_end = (word_end + 1).min(chars.len());
        let visible = word_end - i;
        if len + visible > width && len > 0 {
            out.push(trim(start, start + len));
            start = i;
            len = 0;
        }
        if token_end - i > width {
            for c in i..token_end {
                if len == width {
                    out.push((start, start + len));
                    start = c;
                    len = 0;
                }
                len += 1;
            }
        } else {
            len += token_end - i;
        }
        i = token_end;
    }
    out.push(trim(start, start + len));
    out
}

/// Splits `text` into lines of at most `width` characters (see `wrap_ranges`).
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut out = Vec::new();
    for raw in text.split('\n') {
        let chars: Vec<char> = raw.chars().collect();
        for (start, end) in wrap_ranges(&chars, width) {
            out.push(chars[start..end].iter().collect());
        }
    }
    out
}

fn is_table_row(line: &str) -> bool {
    let line = line.trim();
    line.len() > 1 && line.starts_with('|') && line.ends_with('|')
}

/// Lays out markdown table rows in aligned columns; the `|---|` row becomes a rule.
pub fn table_lines(rows: &[&str]) -> Vec<String> {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            row.trim()
                .trim_matches('|')
                .split('|')
                .map(|c| c.trim().replace("**", ""))
                .collect()
        })
        .collect();
    let is_rule = |row: &Vec<String>| {
        row.iter()
            .all(|c| !c.is_empty() && c.chars().all(|ch| ch == '-' || ch == ':'))
    };
    let columns = cells.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0; columns];
    for row in cells.iter().filter(|r| !is_rule(r)) {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    cells
        .iter()
        .map(|row| {
            if is_rule(row) {
                widths
                    .iter()
                    .map(|w| "─".repeat(*w))
                    .collect::<Vec<_>>()
                    .join("─┼─")
            } else {
                (0..columns)
                    .map(|i| {
                        let cell = row.get(i).map_or("", String::as_str);
                        format!(
                            "{cell}{}",
                            " ".repeat(widths[i].saturating_sub(cell.chars().count()))
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(" │ ")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_of(line: &Line) -> String {
        line.spans.iter().map(|s| s.content.as_ref()).collect()
    }

    #[test]
    fn streaming_text_settles_after_finished_lines_outside_code_and_tables() {
        let text =
            "# Head\nsome words\n| a | b |\n|---|---|\nafter\n```rust\nfn a() {}\n\n```\nlast";
        let whole = super::StreamingText::new(text);
        // Fed in any pieces, the same text and the same split.
        for size in [1, 2, 3, 7] {
            let mut fed = super::StreamingText::default();
            let mut settled = 0;
            let chars: Vec<char> = text.chars().collect();
            for piece in chars.chunks(size) {
                fed.push(&piece.iter().collect::<String>());
                assert!(fed.settled() >= settled, "never moves back");
                assert!(fed.settled() < fed.text().len() || fed.settled() == 0);
                settled = fed.settled();
            }
            assert_eq!(fed.text(), whole.text());
            assert_eq!(fed.settled(), whole.settled());
        }
        // After the closing fence; the end itself is never a split.
        assert_eq!(&text[whole.settled()..], "last");
        let splits = |t: &str| {
            let mut s = super::StreamingText::default();
            let mut all = vec![];
            for c in t.chars() {
                s.push(&c.to_string());
                if all.last() != Some(&s.settled()) {
                    all.push(s.settled());
                }
            }
            all
        };
        // Never inside the table, nor inside the code block.
        for at in splits(text) {
            let before = &text[..at];
            assert_eq!(before.matches("```").count() % 2, 0, "inside code at {at}");
            assert!(!before.ends_with("|---|\n") && !before.ends_with("| a | b |\n"));
        }
        // Untrusted bytes are sanitized as they come, and counted as fed.
        let mut dirty = super::StreamingText::default();
        dirty.push("a\u{1b}[2J");
        dirty.push("b\u{202E}c");
        assert_eq!(dirty.text(), "a[2Jbc");
        assert_eq!(dirty.fed(), "a\u{1b}[2Jb\u{202E}c".len());
    }

    #[test]
    fn markdown_tables_line_up() {
        assert_eq!(
            table_lines(&["| Clause | Cap |", "|---|---|", "| Liability | **$5M** |"]),
            vec!["Clause    │ Cap", "──────────┼────", "Liability │ $5M"]
        );
    }

    #[test]
    fn wrapping_breaks_at_spaces_and_splits_long_words() {
        assert_eq!(wrap("aaa bbb ccc", 7), vec!["aaa bbb", "ccc"]);
        assert_eq!(wrap("abcdefghij", 4), vec!["abcd", "efgh", "ij"]);
        assert_eq!(wrap("a\n\nb", 5), vec!["a", "", "b"]);
    }

    #[test]
    fn inline_marks_become_styles_and_links_keep_their_address() {
        let theme = Theme::default_theme();
        let runs = inline(
            "a **bold** *it* `x()` [docs](https://e.com/a) see https://x.org/p.",
            Style::default(),
            &theme,
        );
        let texts: Vec<&str> = runs.iter().map(|(_, t)| t.as_str()).collect();
        assert_eq!(
            texts,
            [
                "a ",
                "bold",
                " ",
                "it",
                " ",
                "x()",
                " ",
                "docs",
                " ‹https://e.com/a›",
                " see ",
                "https://x.org/p",
                "."
            ]
        );
        assert!(runs[1].0.add_modifier.contains(Modifier::BOLD));
        assert!(runs[3].0.add_modifier.contains(Modifier::ITALIC));
        assert!(runs[7].0.add_modifier.contains(Modifier::UNDERLINED));
        assert!(runs[10].0.add_modifier.contains(Modifier::UNDERLINED));
        // Unclosed marks stay as they were.
        let runs = inline("2 * 3 and **open", Style::default(), &theme);
        let text: String = runs.iter().map(|(_, t)| t.as_str()).collect();
        assert_eq!(text, "2 * 3 and **open");
    }

    #[test]
    fn blocks_lists_quotes_and_code_render_with_their_marks() {
        let theme = Theme::default_theme();
        let mut lines = Vec::new();
        let blocks = render(
            "# Title\n- one **two** three four\n> quoted\n1. first\n```rust\nfn a() {}\n```\nafter",
            14,
            &theme,
            &mut Highlighter::plain(),
            &mut lines,
        );
        let texts: Vec<String> = lines.iter().map(text_of).collect();
        assert_eq!(
            texts,
            [
                "  Title",
                "  • one two",
                "    three four",
                "  │ quoted",
                "  1. first",
                "  ╭─ rust",
                "  │ fn a() {}",
                "  ╰─",
                "  after"
            ]
        );
        assert_eq!(
            blocks,
            vec![CodeBlock {
                first_line: 5,
                last_line: 7,
                lang: "rust".into(),
                code: "fn a() {}".into()
            }]
        );
        assert_eq!(
            code_blocks("x\n```sh\nls\npwd\n```\n```\nplain\n```"),
            vec![
                ("sh".to_string(), "ls\npwd".to_string()),
                (String::new(), "plain".to_string())
            ]
        );
    }
}
