//! Markdown of model output, laid out for a width: CommonMark through `pulldown-cmark`
//! (headings, setext ones too, emphasis, strikethrough, inline code, links with their
//! address, nested lists, task lists, block quotes, GFM tables, rules, and code blocks,
//! highlighted when the highlighter has them; raw HTML is shown as the text it is).
//! Text must already be sanitized.

mod render;

pub use render::{render, render_after};

use pulldown_cmark::{CodeBlockKind, Event, Options, Parser, Tag, TagEnd};

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
/// it arrives, and the collector knows where the finished blocks end. Everything before
/// [`StreamingText::settled`] is laid out the same however the text goes on (it ends just
/// before an empty line outside a code block, where CommonMark ends a block), so a frame
/// lays out only what follows it. Feeding costs what the delta is long, never what the
/// reply is.
#[derive(Debug, Clone, Default)]
pub struct StreamingText {
    text: String,
    /// Bytes of untrusted text fed in (before sanitizing).
    fed: usize,
    /// Where the line being written starts.
    line_start: usize,
    in_code: bool,
    /// The last block is a list (an item may still follow it after empty lines).
    in_list: bool,
    /// The start of the empty lines just read, outside code: a split if the next line
    /// starts a new block.
    candidate: Option<usize>,
    /// The two newest places the text may be split: just before an empty line.
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
        self.text.extend(
            untrusted
                .chars()
                .filter_map(agentdeck_model::text::sanitize_char),
        );
        let mut at = searched;
        while let Some(newline) = self.text[at..].find('\n') {
            let end = at + newline + 1;
            self.finish_line(self.line_start, end);
            self.line_start = end;
            at = end;
        }
    }

    fn finish_line(&mut self, start: usize, end: usize) {
        let raw = &self.text[start..end - 1];
        let line = raw.trim_start();
        let blank = line.trim().is_empty();
        if !self.in_code && blank {
            // A block may end here; the next line says whether it did.
            if start > 0 && self.candidate.is_none() {
                self.candidate = Some(start);
            }
            return;
        }
        // After empty lines, the block before ended unless this line may go on with it:
        // an indented line (a list item's or an indented code block's) or, after a list,
        // another item (the list goes on, loose).
        let indented = raw.starts_with([' ', '\t']);
        let item = is_list_item(line);
        if let Some(split) = self.candidate.take() {
            let goes_on = indented || (self.in_list && item);
            if !goes_on {
                self.previous_split = self.last_split;
                self.last_split = split;
            }
        }
        if line.starts_with("```") || line.starts_with("~~~") {
            self.in_code = !self.in_code;
        }
        if !self.in_code {
            if item {
                self.in_list = true;
            } else if !indented {
                self.in_list = false;
            }
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

    /// Where the finished blocks end: a byte offset into [`StreamingText::text`] just
    /// before an empty line (what follows is laid out from there, starting with that empty
    /// line), never at its very end, and never moving back as the text grows.
    pub fn settled(&self) -> usize {
        if self.last_split < self.text.len() {
            self.last_split
        } else {
            self.previous_split
        }
    }
}

/// Whether a line (its indent removed) starts a list item: `- `, `* `, `+ `, `1. `, `1) `.
fn is_list_item(line: &str) -> bool {
    if line.starts_with("- ") || line.starts_with("* ") || line.starts_with("+ ") {
        return true;
    }
    let digits = line.chars().take_while(char::is_ascii_digit).count();
    (1..=9).contains(&digits)
        && (line[digits..].starts_with(". ") || line[digits..].starts_with(") "))
}

/// The extensions of CommonMark the renderer draws: GFM tables, strikethrough and task
/// lists.
pub(super) fn options() -> Options {
    Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS
}

/// The code blocks of a text, in order (for copying one): (language, code).
pub fn code_blocks(text: &str) -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(String, String)> = None;
    for event in Parser::new_ext(text, options()) {
        match event {
            Event::Start(Tag::CodeBlock(kind)) => current = Some((language(&kind), String::new())),
            Event::Text(piece) => {
                if let Some((_, code)) = current.as_mut() {
                    code.push_str(&piece);
                }
            }
            Event::End(TagEnd::CodeBlock) => {
                if let Some((lang, code)) = current.take() {
                    blocks.push((lang, trim_final_newline(code)));
                }
            }
            _ => {}
        }
    }
    blocks
}

pub(super) fn language(kind: &CodeBlockKind) -> String {
    match kind {
        CodeBlockKind::Fenced(info) => info.split_whitespace().next().unwrap_or("").to_string(),
        CodeBlockKind::Indented => String::new(),
    }
}

pub(super) fn trim_final_newline(mut code: String) -> String {
    if code.ends_with('\n') {
        code.pop();
    }
    code
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

/// A table's rows in aligned columns, with a rule under the head.
pub fn align_table(rows: &[Vec<String>], head: usize) -> Vec<String> {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0; columns];
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.trim().chars().count());
        }
    }
    let mut out = Vec::with_capacity(rows.len() + 1);
    for (n, row) in rows.iter().enumerate() {
        if n == head && head > 0 {
            out.push(
                widths
                    .iter()
                    .map(|w| "─".repeat(*w))
                    .collect::<Vec<_>>()
                    .join("─┼─"),
            );
        }
        let line = (0..columns)
            .map(|i| {
                let cell = row.get(i).map_or("", |c| c.trim());
                format!(
                    "{cell}{}",
                    " ".repeat(widths[i].saturating_sub(cell.chars().count()))
                )
            })
            .collect::<Vec<_>>()
            .join(" │ ");
        out.push(line.trim_end().to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::highlight::Highlighter;
    use crate::theme::Theme;
    use ratatui::style::{Modifier, Style};
    use ratatui::text::Line;

    fn text_of(line: &Line) -> String {
        line.spans.iter().map(|s| s.content.as_ref()).collect()
    }

    /// Lines drawn for `text` at `width`, as plain text.
    fn drawn(text: &str, width: usize) -> Vec<String> {
        let mut lines = Vec::new();
        render(
            text,
            width,
            &Theme::default_theme(),
            &mut Highlighter::plain(),
            &mut lines,
        );
        lines.iter().map(text_of).collect()
    }

    #[test]
    fn streaming_text_settles_before_empty_lines_outside_code() {
        let text = "# Head\nsome words\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\nafter\n```rust\nfn a() {}\n\n```\n\nlast";
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
        // The last empty line is a split only once the line after it is finished.
        assert_eq!(
            &text[whole.settled()..],
            "\nafter\n```rust\nfn a() {}\n\n```\n\nlast"
        );
        // Every split draws the same as the whole text, and none is inside the code.
        let mut s = super::StreamingText::default();
        for c in text.chars() {
            s.push(&c.to_string());
            let at = s.settled();
            let before = &text[..at];
            assert_eq!(before.matches("```").count() % 2, 0, "inside code at {at}");
            let mut parts = drawn(&text[..at], 30);
            let mut rest = Vec::new();
            render_after(
                &text[at..],
                !parts.is_empty(),
                30,
                &Theme::default_theme(),
                &mut Highlighter::plain(),
                &mut rest,
            );
            parts.extend(rest.iter().map(text_of));
            assert_eq!(parts, drawn(text, 30), "split at {at}");
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
            drawn("| Clause | Cap |\n|---|---|\n| Liability | **$5M** |", 40),
            vec![
                "  Clause    │ Cap",
                "  ──────────┼────",
                "  Liability │ $5M"
            ]
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
        let mut lines = Vec::new();
        render(
            "a **bold** *it* ~~gone~~ `x()` [docs](https://e.com/a) see https://x.org/p.",
            200,
            &Theme::default_theme(),
            &mut Highlighter::plain(),
            &mut lines,
        );
        let spans: Vec<(String, Style)> = lines[0]
            .spans
            .iter()
            .map(|s| (s.content.to_string(), s.style))
            .collect();
        let texts: Vec<&str> = spans.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(
            texts,
            [
                "  ",
                "a ",
                "bold",
                " ",
                "it",
                " ",
                "gone",
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
        assert!(spans[2].1.add_modifier.contains(Modifier::BOLD));
        assert!(spans[4].1.add_modifier.contains(Modifier::ITALIC));
        assert!(spans[6].1.add_modifier.contains(Modifier::CROSSED_OUT));
        assert!(spans[10].1.add_modifier.contains(Modifier::UNDERLINED));
        assert!(spans[13].1.add_modifier.contains(Modifier::UNDERLINED));
        // Unclosed marks stay as they were.
        assert_eq!(drawn("2 * 3 and **open", 40), vec!["  2 * 3 and **open"]);
    }

    #[test]
    fn blocks_lists_quotes_and_code_render_with_their_marks() {
        let mut lines = Vec::new();
        let blocks = render(
            "# Title\n- one **two** three four\n> quoted\n1. first\n```rust\nfn a() {}\n```\nafter",
            14,
            &Theme::default_theme(),
            &mut Highlighter::plain(),
            &mut lines,
        );
        let texts: Vec<String> = lines.iter().map(text_of).collect();
        assert_eq!(
            texts,
            [
                "  Title",
                "",
                "  • one two",
                "    three four",
                "",
                "  │ quoted",
                "",
                "  1. first",
                "",
                "  ╭─ rust",
                "  │ fn a() {}",
                "  ╰─",
                "",
                "  after"
            ]
        );
        assert_eq!(
            blocks,
            vec![CodeBlock {
                first_line: 9,
                last_line: 11,
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

    #[test]
    fn setext_headings_nested_and_task_lists_and_raw_html() {
        assert_eq!(
            drawn(
                "Title\n=====\n\n- [x] done\n- [ ] todo\n  - inner\n\n<b>bold?</b>\n\n---",
                40
            ),
            vec![
                "  Title",
                "",
                "  ☑ done",
                "  ☐ todo",
                "    • inner",
                "",
                "  <b>bold?</b>",
                "",
                "  ──────────────────────────────────────",
            ]
        );
        // An unclosed fence (a reply still streaming) draws its code with no closing line.
        assert_eq!(
            drawn("```py\nprint(1)", 30),
            vec!["  ╭─ py", "  │ print(1)"]
        );
    }

    /// The CommonMark spec's examples: none makes the renderer panic, at any width.
    #[test]
    fn commonmark_spec_examples_render_without_a_panic() {
        let spec = include_str!("../../../../tests/fixtures/commonmark/spec-examples.txt");
        let mut count = 0;
        for example in spec.split("\n\u{2042}\n") {
            for width in [1, 4, 20, 80] {
                let _ = drawn(example, width);
            }
            let _ = code_blocks(example);
            let mut streaming = StreamingText::default();
            for c in example.chars() {
                streaming.push(&c.to_string());
            }
            count += 1;
        }
        assert!(count >= 600, "only {count} examples");
    }
}

#[cfg(test)]
mod random_tests {
    use super::*;
    use crate::highlight::Highlighter;
    use crate::theme::Theme;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// Pieces markdown is made of, glued at random: unbalanced marks, nesting, tables cut
    /// short, wide characters, fences left open.
    const PIECES: &[&str] = &[
        "# ",
        "## ",
        "=== ",
        "--- ",
        "- ",
        "* ",
        "1. ",
        "10) ",
        "- [ ] ",
        "- [x] ",
        "> ",
        ">> ",
        "**",
        "*",
        "_",
        "~~",
        "`",
        "```",
        "```rust",
        "~~~",
        "    ",
        "\t",
        "|",
        "| a | b |",
        "|---|",
        ":--",
        "[",
        "](",
        "http://x.y/z",
        ")",
        "<b>",
        "</b>",
        "<!--",
        "&amp;",
        "\\",
        "word ",
        "longwordwithoutspaces ",
        "世界 ",
        "é",
        "👍",
        "\n",
        "\n\n",
        "  \n",
        " ",
    ];

    /// Whole blocks as a model writes them, for the split check.
    const BLOCKS: &[&str] = &[
        "A paragraph of **several** words with `code` and a [link](https://e.com).",
        "Two lines\nof one paragraph.",
        "# A heading",
        "Setext\n======",
        "- one\n- two\n  - nested",
        "1. first\n2. second",
        "- [x] done\n- [ ] to do",
        "> a quote\n> on two lines",
        "```rust\nfn a() {}\n\nfn b() {}\n```",
        "    indented code",
        "| A | B |\n|---|---|\n| 1 | 2 |",
        "---",
        "<div>raw html</div>",
    ];

    fn plain(lines: &[ratatui::text::Line]) -> Vec<String> {
        lines
            .iter()
            .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
            .collect()
    }

    #[test]
    fn random_markdown_renders_at_any_width_without_a_panic() {
        let mut rng = StdRng::seed_from_u64(12);
        let theme = Theme::default_theme();
        for _ in 0..1_000 {
            let text: String = (0..rng.random_range(1..60))
                .map(|_| PIECES[rng.random_range(0..PIECES.len())])
                .collect();
            let width = rng.random_range(0..50);
            let mut lines = Vec::new();
            let blocks = render(&text, width, &theme, &mut Highlighter::plain(), &mut lines);
            for block in &blocks {
                assert!(
                    block.first_line <= block.last_line && block.last_line < lines.len().max(1),
                    "{text:?}"
                );
            }
            let _ = code_blocks(&text);
            let streaming = StreamingText::new(&text);
            assert!(streaming.settled() <= text.len());
        }
    }

    /// Replies made of whole blocks, streamed a character at a time: at every point the
    /// collector settles, the two parts draw what the whole text draws.
    #[test]
    fn random_replies_split_where_they_draw_like_the_whole() {
        let mut rng = StdRng::seed_from_u64(7);
        let theme = Theme::default_theme();
        for _ in 0..150 {
            let blocks: Vec<&str> = (0..rng.random_range(1..8))
                .map(|_| BLOCKS[rng.random_range(0..BLOCKS.len())])
                .collect();
            let text = blocks.join(if rng.random_bool(0.3) {
                "\n\n\n"
            } else {
                "\n\n"
            });
            let mut whole = Vec::new();
            render(&text, 30, &theme, &mut Highlighter::plain(), &mut whole);
            let mut streaming = StreamingText::default();
            let mut seen = 0;
            for c in text.chars() {
                streaming.push(&c.to_string());
                let at = streaming.settled();
                if at == seen {
                    continue;
                }
                seen = at;
                let mut parts = Vec::new();
                render(
                    &text[..at],
                    30,
                    &theme,
                    &mut Highlighter::plain(),
                    &mut parts,
                );
                let after = !parts.is_empty();
                render_after(
                    &text[at..],
                    after,
                    30,
                    &theme,
                    &mut Highlighter::plain(),
                    &mut parts,
                );
                assert_eq!(plain(&parts), plain(&whole), "split at {at} of {text:?}");
            }
        }
    }
}
