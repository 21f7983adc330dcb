//! The renderer: `pulldown-cmark`'s events laid out as lines for a width, with the marks
//! of the blocks they are in (quote bars, list marks), tables aligned and code blocks
//! framed and highlighted.

use super::{CodeBlock, align_table, language, options, trim_final_newline, wrap_ranges};
use crate::highlight::Highlighter;
use crate::theme::Theme;
use pulldown_cmark::{CodeBlockKind, Event, Parser, Tag, TagEnd};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use std::borrow::Cow;

/// Text the parser made: the reply was sanitized on arrival, but character references
/// (`&#27;`, `&#x9b;`) decode to controls only here, in text, link addresses and a code
/// fence's language. Borrowed when nothing changes (nearly always).
fn inert(text: &str) -> Cow<'_, str> {
    if text
        .chars()
        .all(|c| agentdeck_model::text::sanitize_char(c) == Some(c))
    {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(agentdeck_model::text::sanitize(text))
    }
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
    /// An empty line goes before the next line drawn (never at the end: a block with
    /// nothing to draw leaves no gap behind).
    gap_due: bool,
}

/// Renders `text` at `width` (the indent of two included), appending to `lines`.
pub fn render(
    text: &str,
    width: usize,
    theme: &Theme,
    highlighter: &mut Highlighter,
    lines: &mut Vec<Line<'static>>,
) -> Vec<CodeBlock> {
    render_after(text, false, width, theme, highlighter, lines)
}

/// [`render`] for a part of a text, after parts that drew `after_block` (something). A
/// text split just before an empty line (see [`super::StreamingText::settled`]) draws
/// in parts as it does whole: the empty line a block is owed goes before the next line
/// drawn, never at the end of a part.
pub fn render_after(
    text: &str,
    after_block: bool,
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
        drawn: false,
        gap_due: after_block && text.trim_start_matches([' ', '\t']).starts_with('\n'),
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
        let piece = &*inert(piece);
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
            self.gap_due = true;
            self.drawn = false;
        }
    }

    /// Draws a line, after the empty line a new block is owed.
    fn emit(&mut self, line: Line<'static>) {
        if self.gap_due {
            self.lines.push(Line::default());
            self.gap_due = false;
        }
        self.lines.push(line);
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
                self.emit(Line::from(spans));
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

    /// A block or an inline mark opens.
    fn start(&mut self, tag: Tag, source: &str) {
        let theme = self.theme;
        match tag {
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
                let closed = block_is_closed(&kind, source);
                self.code = Some((inert(&language(&kind)).into_owned(), String::new(), closed));
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
        }
    }

    /// A block or an inline mark closes.
    fn end(&mut self, end: TagEnd) {
        let theme = self.theme;
        match end {
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
            TagEnd::Table => self.table_end(),
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
        }
    }

    /// A table is drawn whole once it ends: its columns are as wide as their widest cell.
    fn table_end(&mut self) {
        let Some(table) = self.table.take() else {
            return;
        };
        for row in align_table(&table.rows, table.head) {
            let clipped: String = row.chars().take(self.width.saturating_sub(2)).collect();
            let lead = self.prefix(true);
            self.emit(Line::styled(
                format!("{lead}{clipped}"),
                self.theme.fg("text"),
            ));
        }
        self.drawn = true;
    }

    fn event(&mut self, event: Event, source: &str) {
        let theme = self.theme;
        match event {
            Event::Start(tag) => self.start(tag, source),
            Event::End(end) => self.end(end),
            Event::Text(text) => match self.code.as_mut() {
                Some((_, code, _)) => code.push_str(&inert(&text)),
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
                self.emit(Line::styled(format!("{lead}{rule}"), theme.fg("dim")));
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

        let label = if lang.is_empty() { "code" } else { &lang };
        let lead = self.prefix(true);
        let rest = self.prefix(false);
        self.emit(Line::styled(format!("{lead}╭─ {label}"), theme.fg("dim")));
        // After any empty line the block was owed.
        let first_line = self.lines.len().saturating_sub(1);
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
            self.emit(Line::from(spans));
        }
        if closed {
            self.emit(Line::styled(format!("{rest}╰─"), theme.fg("dim")));
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

/// Whether a code block's source holds its closing fence (an indented block always does).
fn block_is_closed(kind: &CodeBlockKind, source: &str) -> bool {
    match kind {
        CodeBlockKind::Indented => true,
        CodeBlockKind::Fenced(_) => {
            let mut lines = source.trim_end().lines();
            let opening = lines.next().unwrap_or("").trim_start();
            let fence: String = opening
                .chars()
                .take_while(|c| *c == '`' || *c == '~')
                .collect();
            lines
                .next_back()
                .is_some_and(|last| last.trim().starts_with(fence.as_str()) && !fence.is_empty())
        }
    }
}
