//! Markdown of model output, laid out for a width: CommonMark through `pulldown-cmark`
//! (headings, setext ones too, emphasis, strikethrough, inline code, links with their
//! address, nested lists, task lists, block quotes, GFM tables, rules, and code blocks,
//! highlighted when the highlighter has them; raw HTML is shown as the text it is).
//! Text must already be sanitized.

use super::highlight::Highlighter;
use super::theme::Theme;
use pulldown_cmark::{CodeBlockKind, Event, Options, Parser, Tag, TagEnd};
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
        let line = self.text[start..end - 1].trim_start();
        if line.starts_with("```") || line.starts_with("~~~") {
            self.in_code = !self.in_code;
        } else if !self.in_code && line.trim().is_empty() && start > 0 {
            self.previous_split = self.last_split;
            self.last_split = start;
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

/// The extensions of CommonMark the renderer draws: GFM tables, strikethrough and task
/// lists.
fn options() -> Options {
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

fn language(kind: &CodeBlockKind) -> String {
    match kind {
        CodeBlockKind::Fenced(info) => info.split_whitespace().next().unwrap_or("").to_string(),
        CodeBlockKind::Indented => String::new(),
    }
}

fn trim_final_newline(mut code: String) -> String {
    if code.ends_with('\n') {
        code.pop();
    }
    code
}

/// A block that holds others, for the marks drawn before each of their lines.
#[derive(Debug, Clone)]
enum Container {
    Quote,
    /// A list: the number of its next item, if it is numbered.
    List(Option<u64>),
    /// A list item: its mark ("• ", "2. ", "☐ "), until its first line has it.
    Item {
        mark: String,
        shown: bool,
    },
}

/// A table being read: its rows of cells (plain text), and how many are the head.
#[derive(Debug, Default)]
struct Table {
    rows: Vec<Vec<String>>,
    head: usize,
}

/// The renderer's state while it reads a text's events.
struct Renderer<'a> {
    theme: &'a Theme,
    highlighter: &'a mut Highlighter,
    lines: &'a mut Vec<Line<'static>>,
    width: usize,
    /// The current block's text so far: (style, text) runs.
    runs: Vec<(Style, String)>,
    /// Inline styles in force (the block's base first).
    styles: Vec<Style>,
    containers: Vec<Container>,
    /// Where each open link goes, shown after its text.
    links: Vec<String>,
    table: Option<Table>,
    /// An open code block: language, code, and whether its closing fence is there.
    code: Option<(String, String, bool)>,
    blocks: Vec<CodeBlock>,
    /// A block has been drawn: the next one is set off by an empty line.
    drawn: bool,
}

/// Renders `text` at `width` (the indent of two included), appending to `lines`. Text
/// that starts with an empty line starts with one, so a text rendered in two parts split
/// before an empty line (see [`StreamingText::settled`]) draws as it would whole.
pub fn render(
    text: &str,
    width: usize,
    theme: &Theme,
    highlighter: &mut Highlighter,
    lines: &mut Vec<Line<'static>>,
) -> Vec<CodeBlock> {
    let mut renderer = Renderer {
        theme,
        highlighter,
        lines,
        width: width.max(4),
        runs: Vec::new(),
        styles: vec![theme.fg("text")],
        containers: Vec::new(),
        links: Vec::new(),
        table: None,
        code: None,
        blocks: Vec::new(),
        drawn: text.trim_start_matches([' ', '\t']).starts_with('\n'),
    };
    for (event, range) in Parser::new_ext(text, options()).into_offset_iter() {
        renderer.event(event, &text[range]);
    }
    renderer.flush();
    renderer.blocks
}

impl Renderer<'_> {
    fn style(&self) -> Style {
        self.styles.last().copied().unwrap_or_default()
    }

    fn push(&mut self, style: Style, piece: &str) {
        if piece.is_empty() {
            return;
        }
        if let Some(table) = self.table.as_mut() {
            if let Some(cell) = table.rows.last_mut().and_then(|row| row.last_mut()) {
                cell.push_str(piece);
            }
            return;
        }
        match self.runs.last_mut() {
            Some((last, text)) if *last == style => text.push_str(piece),
            _ => self.runs.push((style, piece.to_string())),
        }
    }

    /// Text, with bare web addresses drawn as links.
    fn text(&mut self, text: &str) {
        let style = self.style();
        let link = self.theme.fg("link").add_modifier(Modifier::UNDERLINED);
        let mut rest = text;
        while let Some(at) = rest.find("http").filter(|_| self.links.is_empty()) {
            let candidate = &rest[at..];
            if !(candidate.starts_with("https://") || candidate.starts_with("http://")) {
                self.push(style, &rest[..at + 4]);
                rest = &rest[at + 4..];
                continue;
            }
            self.push(style, &rest[..at]);
            let end = candidate
                .find(|c: char| c.is_whitespace() || c == ')' || c == '>')
                .unwrap_or(candidate.len());
            let url = candidate[..end].trim_end_matches(['.', ',', ';', ':']);
            self.push(link, url);
            rest = &candidate[url.len()..];
        }
        self.push(style, rest);
    }

    /// Sets the next block off from the one before (once, however many blocks open).
    fn gap(&mut self) {
        self.flush();
        if self.drawn {
            self.lines.push(Line::default());
            self.drawn = false;
        }
    }

    /// The marks before a line: quote bars and list marks (a mark on an item's first line
    /// only, spaces under it after).
    fn prefix(&mut self, first: bool) -> String {
        let mut prefix = String::from("  ");
        for container in self.containers.iter_mut() {
            match container {
                Container::Quote => prefix.push_str("│ "),
                Container::List(_) => {}
                Container::Item { mark, shown } => {
                    if first && !*shown {
                        prefix.push_str(mark);
                        *shown = true;
                    } else {
                        prefix.push_str(&" ".repeat(mark.chars().count()));
                    }
                }
            }
        }
        prefix
    }

    /// Draws the text gathered so far as wrapped lines under the current marks.
    fn flush(&mut self) {
        let runs = std::mem::take(&mut self.runs);
        if runs.iter().all(|(_, t)| t.trim().is_empty()) {
            return;
        }
        // Hard breaks split the text into lines of their own.
        let mut pieces: Vec<Vec<(Style, String)>> = vec![Vec::new()];
        for (style, text) in runs {
            for (n, part) in text.split('\n').enumerate() {
                if n > 0 {
                    pieces.push(Vec::new());
                }
                if !part.is_empty() {
                    if let Some(current) = pieces.last_mut() {
                        current.push((style, part.to_string()));
                    }
                }
            }
        }
        let mut first = true;
        for runs in pieces {
            let chars: Vec<(char, usize)> = runs
                .iter()
                .enumerate()
                .flat_map(|(run, (_, text))| text.chars().map(move |c| (c, run)))
                .collect();
            let plain: Vec<char> = chars.iter().map(|(c, _)| *c).collect();
            for (start, end) in wrap_ranges(
                &plain,
                self.width.saturating_sub(self.prefix_width()).max(1),
            ) {
                let lead = self.prefix(first);
                first = false;
                let lead_style = if self
                    .containers
                    .iter()
                    .any(|c| matches!(c, Container::Quote))
                {
                    self.theme.fg("dim")
                } else {
                    self.theme.fg("text")
                };
                let mut spans = vec![Span::styled(lead, lead_style)];
                let mut at = start;
                while at < end {
                    let run = chars[at].1;
                    let mut stop = at;
                    while stop < end && chars[stop].1 == run {
                        stop += 1;
                    }
                    spans.push(Span::styled(
                        plain[at..stop].iter().collect::<String>(),
                        runs[run].0,
                    ));
                    at = stop;
                }
                self.lines.push(Line::from(spans));
            }
        }
        self.drawn = true;
    }

    fn prefix_width(&self) -> usize {
        2 + self
            .containers
            .iter()
            .map(|c| match c {
                Container::Quote => 2,
                Container::List(_) => 0,
                Container::Item { mark, .. } => mark.chars().count(),
            })
            .sum::<usize>()
    }

    fn event(&mut self, event: Event, source: &str) {
        let theme = self.theme;
        match event {
            Event::Start(tag) => match tag {
                Tag::Paragraph => self.gap(),
                Tag::Heading { .. } => {
                    self.gap();
                    self.styles
                        .push(theme.fg("heading").add_modifier(Modifier::BOLD));
                }
                Tag::BlockQuote(_) => {
                    self.flush();
                    self.containers.push(Container::Quote);
                    self.styles
                        .push(theme.fg("dim").add_modifier(Modifier::ITALIC));
                }
                Tag::CodeBlock(kind) => {
                    self.gap();
                    // Only a finished block is highlighted: a streaming one changes.
                    let closed = match &kind {
                        CodeBlockKind::Indented => true,
                        CodeBlockKind::Fenced(_) => {
                            let mut lines = source.trim_end().lines();
                            let opening = lines.next().unwrap_or("").trim_start();
                            let fence: String = opening
                                .chars()
                                .take_while(|c| *c == '`' || *c == '~')
                                .collect();
                            lines.next_back().is_some_and(|last| {
                                last.trim().starts_with(fence.as_str()) && !fence.is_empty()
                            })
                        }
                    };
                    self.code = Some((language(&kind), String::new(), closed));
                }
                Tag::HtmlBlock => self.gap(),
                Tag::List(start) => {
                    if self
                        .containers
                        .iter()
                        .any(|c| matches!(c, Container::Item { .. }))
                    {
                        self.flush();
                    } else {
                        self.gap();
                    }
                    self.containers.push(Container::List(start));
                }
                Tag::Item => {
                    self.flush();
                    let mark = match self
                        .containers
                        .iter_mut()
                        .rev()
                        .find(|c| matches!(c, Container::List(_)))
                    {
                        Some(Container::List(Some(next))) => {
                            let mark = format!("{next}. ");
                            *next += 1;
                            mark
                        }
                        _ => "• ".to_string(),
                    };
                    self.containers.push(Container::Item { mark, shown: false });
                }
                Tag::Table(_) => {
                    self.gap();
                    self.table = Some(Table::default());
                }
                Tag::TableHead | Tag::TableRow => {
                    if let Some(table) = self.table.as_mut() {
                        table.rows.push(Vec::new());
                    }
                }
                Tag::TableCell => {
                    if let Some(row) = self.table.as_mut().and_then(|t| t.rows.last_mut()) {
                        row.push(String::new());
                    }
                }
                Tag::Emphasis => self
                    .styles
                    .push(self.style().add_modifier(Modifier::ITALIC)),
                Tag::Strong => self.styles.push(self.style().add_modifier(Modifier::BOLD)),
                Tag::Strikethrough => self
                    .styles
                    .push(self.style().add_modifier(Modifier::CROSSED_OUT)),
                Tag::Link { dest_url, .. } => {
                    self.links.push(dest_url.to_string());
                    self.styles
                        .push(theme.fg("link").add_modifier(Modifier::UNDERLINED));
                }
                Tag::Image { dest_url, .. } => {
                    self.links.push(dest_url.to_string());
                    self.styles.push(theme.fg("link"));
                    self.push(theme.fg("dim"), "[image: ");
                }
                _ => self.styles.push(self.style()),
            },
            Event::End(end) => match end {
                TagEnd::Paragraph => self.flush(),
                TagEnd::Heading(_) => {
                    self.flush();
                    self.styles.pop();
                }
                TagEnd::BlockQuote(_) => {
                    self.flush();
                    self.containers.pop();
                    self.styles.pop();
                }
                TagEnd::CodeBlock => self.code_block(),
                TagEnd::HtmlBlock => self.flush(),
                TagEnd::List(_) => {
                    self.flush();
                    self.containers.pop();
                }
                TagEnd::Item => {
                    self.flush();
                    self.containers.pop();
                }
                TagEnd::Table => {
                    if let Some(table) = self.table.take() {
                        for row in align_table(&table.rows, table.head) {
                            let clipped: String =
                                row.chars().take(self.width.saturating_sub(2)).collect();
                            let lead = self.prefix(true);
                            self.lines
                                .push(Line::styled(format!("{lead}{clipped}"), theme.fg("text")));
                        }
                        self.drawn = true;
                    }
                }
                TagEnd::TableHead => {
                    if let Some(table) = self.table.as_mut() {
                        table.head = table.rows.len();
                    }
                }
                TagEnd::TableRow | TagEnd::TableCell => {}
                TagEnd::Link => {
                    self.styles.pop();
                    if let Some(url) = self.links.pop() {
                        let shown_as_text = self
                            .runs
                            .last()
                            .is_some_and(|(_, t)| t.ends_with(url.as_str()));
                        if !url.is_empty() && !shown_as_text {
                            self.push(theme.fg("dim"), &format!(" ‹{url}›"));
                        }
                    }
                }
                TagEnd::Image => {
                    self.styles.pop();
                    if let Some(url) = self.links.pop() {
                        self.push(theme.fg("dim"), &format!("] ‹{url}›"));
                    }
                }
                _ => {
                    self.styles.pop();
                }
            },
            Event::Text(text) => match self.code.as_mut() {
                Some((_, code, _)) => code.push_str(&text),
                None => self.text(&text),
            },
            Event::Code(code) => self.push(theme.fg("code"), &code),
            Event::InlineMath(math) | Event::DisplayMath(math) => {
                self.push(theme.fg("code"), &math)
            }
            // Raw HTML is shown as the text it is.
            Event::Html(html) | Event::InlineHtml(html) => {
                let style = self.style();
                self.push(style, html.trim_end_matches('\n'));
                if html.ends_with('\n') {
                    self.push(style, "\n");
                }
            }
            Event::FootnoteReference(name) => {
                let style = self.style();
                self.push(style, &format!("[^{name}]"));
            }
            Event::SoftBreak => {
                let style = self.style();
                self.push(style, " ");
            }
            Event::HardBreak => {
                let style = self.style();
                self.push(style, "\n");
            }
            Event::Rule => {
                self.gap();
                let rule = "─".repeat(self.width.saturating_sub(self.prefix_width()).min(40));
                let lead = self.prefix(true);
                self.lines
                    .push(Line::styled(format!("{lead}{rule}"), theme.fg("dim")));
                self.drawn = true;
            }
            Event::TaskListMarker(done) => {
                if let Some(Container::Item { mark, .. }) = self.containers.last_mut() {
                    *mark = if done { "☑ " } else { "☐ " }.to_string();
                }
            }
        }
    }

    fn code_block(&mut self) {
        let Some((lang, code, closed)) = self.code.take() else {
            return;
        };
        let theme = self.theme;
        let code = trim_final_newline(code);
        let first_line = self.lines.len();
        let label = if lang.is_empty() { "code" } else { &lang };
        let lead = self.prefix(true);
        let rest = self.prefix(false);
        self.lines
            .push(Line::styled(format!("{lead}╭─ {label}"), theme.fg("dim")));
        let highlighted = closed.then(|| self.highlighter.get(&lang, &code)).flatten();
        for (n, code_line) in code.split('\n').enumerate() {
            let mut spans = vec![Span::styled(format!("{rest}│ "), theme.fg("dim"))];
            match highlighted.as_ref().and_then(|h| h.get(n)) {
                Some(pieces) => spans.extend(
                    pieces
                        .iter()
                        .map(|(colour, text)| Span::styled(text.clone(), theme.fg(colour))),
                ),
                None => spans.push(Span::styled(code_line.to_string(), theme.fg("code"))),
            }
            self.lines.push(Line::from(spans));
        }
        if closed {
            self.lines
                .push(Line::styled(format!("{rest}╰─"), theme.fg("dim")));
        }
        self.blocks.push(CodeBlock {
            first_line,
            last_line: self.lines.len().saturating_sub(1),
            lang,
            code,
        });
        self.drawn = true;
    }
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
        assert_eq!(&text[whole.settled()..], "\nlast");
        // Every split draws the same as the whole text, and none is inside the code.
        let mut s = super::StreamingText::default();
        for c in text.chars() {
            s.push(&c.to_string());
            let at = s.settled();
            let before = &text[..at];
            assert_eq!(before.matches("```").count() % 2, 0, "inside code at {at}");
            let mut parts = drawn(&text[..at], 30);
            parts.extend(drawn(&text[at..], 30));
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
        let spec = include_str!("../../tests/fixtures/commonmark/spec-examples.txt");
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
