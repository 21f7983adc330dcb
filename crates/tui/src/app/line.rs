//! Editing a one-line field (the filter, the palette, the searches) as a shell's line
//! editor does: a cursor that moves by character and by word, and the readline keys that
//! delete (`ctrl-u` to the start, `ctrl-k` to the end, `ctrl-w` the word before).

/// One edit of a line, already told apart from the keys that leave the field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKey {
    Insert(char),
    Backspace,
    Delete,
    Left,
    Right,
    WordLeft,
    WordRight,
    Home,
    End,
    /// Delete from the start of the line to the cursor.
    KillToStart,
    /// Delete from the cursor to the end of the line.
    KillToEnd,
    /// Delete the word before the cursor (and the spaces after it).
    KillWord,
}

/// A line and its cursor (a count of characters, not bytes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineInput {
    pub text: String,
    pub cursor: usize,
}

impl LineInput {
    /// The line with the cursor at its end.
    pub fn at_end(text: &str) -> LineInput {
        LineInput {
            text: text.to_string(),
            cursor: text.chars().count(),
        }
    }

    fn byte(&self, at: usize) -> usize {
        self.text
            .char_indices()
            .nth(at)
            .map_or(self.text.len(), |(i, _)| i)
    }

    fn len(&self) -> usize {
        self.text.chars().count()
    }

    /// Where the word before `at` starts (spaces before it are skipped first).
    fn word_start(&self, at: usize) -> usize {
        let chars: Vec<char> = self.text.chars().collect();
        let mut i = at.min(chars.len());
        while i > 0 && chars[i - 1].is_whitespace() {
            i -= 1;
        }
        while i > 0 && !chars[i - 1].is_whitespace() {
            i -= 1;
        }
        i
    }

    fn word_end(&self, at: usize) -> usize {
        let chars: Vec<char> = self.text.chars().collect();
        let mut i = at.min(chars.len());
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        while i < chars.len() && !chars[i].is_whitespace() {
            i += 1;
        }
        i
    }

    fn remove(&mut self, from: usize, to: usize) {
        let (a, b) = (self.byte(from), self.byte(to));
        self.text.replace_range(a..b, "");
        self.cursor = from;
    }

    /// Applies one edit; `true` when the text changed.
    pub fn apply(&mut self, key: LineKey) -> bool {
        self.cursor = self.cursor.min(self.len());
        let before = self.text.len();
        match key {
            LineKey::Insert(c) => {
                let at = self.byte(self.cursor);
                self.text.insert(at, c);
                self.cursor += 1;
                return true;
            }
            LineKey::Backspace if self.cursor > 0 => self.remove(self.cursor - 1, self.cursor),
            LineKey::Delete if self.cursor < self.len() => {
                self.remove(self.cursor, self.cursor + 1)
            }
            LineKey::Backspace | LineKey::Delete => {}
            LineKey::Left => self.cursor = self.cursor.saturating_sub(1),
            LineKey::Right => self.cursor = (self.cursor + 1).min(self.len()),
            LineKey::WordLeft => self.cursor = self.word_start(self.cursor),
            LineKey::WordRight => self.cursor = self.word_end(self.cursor),
            LineKey::Home => self.cursor = 0,
            LineKey::End => self.cursor = self.len(),
            LineKey::KillToStart => self.remove(0, self.cursor),
            LineKey::KillToEnd => {
                let len = self.len();
                let cursor = self.cursor;
                self.remove(cursor, len);
            }
            LineKey::KillWord => {
                let start = self.word_start(self.cursor);
                self.remove(start, self.cursor);
            }
        }
        self.text.len() != before
    }

    /// The line as shown, with a block where the cursor is (the text is sanitized).
    pub fn shown(&self) -> String {
        let clean: Vec<char> = agentdeck_model::text::one_line_chars(&self.text).collect();
        let at = self.cursor.min(clean.len());
        let mut out: String = clean[..at].iter().collect();
        out.push('█');
        out.extend(&clean[at..]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edit(text: &str, cursor: usize, keys: &[LineKey]) -> (String, usize) {
        let mut line = LineInput {
            text: text.into(),
            cursor,
        };
        for key in keys {
            line.apply(*key);
        }
        (line.text, line.cursor)
    }

    #[test]
    fn readline_keys_edit_around_the_cursor() {
        use LineKey::*;
        assert_eq!(edit("status:failed", 13, &[KillToStart]), ("".into(), 0));
        assert_eq!(
            edit("status:failed legal", 19, &[KillWord]),
            ("status:failed ".into(), 14)
        );
        assert_eq!(
            edit("status:failed legal  ", 21, &[KillWord]),
            ("status:failed ".into(), 14)
        );
        assert_eq!(edit("abc def", 4, &[KillToEnd]), ("abc ".into(), 4));
        assert_eq!(edit("ac", 2, &[Left, Insert('b')]), ("abc".into(), 2));
        assert_eq!(edit("aé", 2, &[Backspace]), ("a".into(), 1));
        assert_eq!(edit("aé", 0, &[Delete, Delete]), ("".into(), 0));
        assert_eq!(edit("one two", 7, &[WordLeft]).1, 4);
        assert_eq!(edit("one two", 0, &[WordRight]).1, 3);
        assert_eq!(edit("x", 1, &[Home, Insert('>')]), (">x".into(), 1));
        assert_eq!(edit("", 0, &[Backspace, Delete, KillWord]), ("".into(), 0));
        let line = LineInput {
            text: "ab\u{1b}c".into(),
            cursor: 1,
        };
        assert_eq!(line.shown(), "a█bc");
    }
}
