//! Extracted text cut into overlapping chunks of words, each knowing where it came from
//! (page, lines) so that a hit can be cited.

use super::extract::Extracted;

/// Words per chunk, and how many of them the next chunk repeats.
pub const CHUNK_WORDS: usize = 160;
pub const OVERLAP_WORDS: usize = 32;

#[derive(Debug, Clone, PartialEq)]
pub struct Chunk {
    /// Its place among the file's chunks, from 0.
    pub ordinal: u64,
    /// The PDF page, from 1 (0 when the file has no pages).
    pub page: u64,
    /// The lines of the page it spans, from 1.
    pub first_line: u64,
    pub last_line: u64,
    pub text: String,
}

/// Cuts every page into chunks of `words` words, each starting `words - overlap` words
/// after the one before; a chunk never spans two pages.
pub fn chunk(extracted: &Extracted, words: usize, overlap: usize) -> Vec<Chunk> {
    let words = words.max(1);
    let step = words.saturating_sub(overlap).max(1);
    let mut chunks = Vec::new();
    for (index, page) in extracted.pages.iter().enumerate() {
        let spans = word_spans(page);
        let line_starts: Vec<usize> = std::iter::once(0)
            .chain(page.match_indices('\n').map(|(at, _)| at + 1))
            .collect();
        let line_of = |byte: usize| line_starts.partition_point(|&start| start <= byte) as u64;
        let mut first = 0;
        while first < spans.len() {
            let last = (first + words).min(spans.len()) - 1;
            let (start, _) = spans[first];
            let (_, end) = spans[last];
            chunks.push(Chunk {
                ordinal: chunks.len() as u64,
                page: if extracted.paged { index as u64 + 1 } else { 0 },
                first_line: line_of(start),
                last_line: line_of(end.saturating_sub(1)),
                text: page[start..end].to_string(),
            });
            if last + 1 == spans.len() {
                break;
            }
            first += step;
        }
    }
    chunks
}

/// Byte ranges of the words of `text`.
fn word_spans(text: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut start = None;
    for (at, c) in text.char_indices() {
        match (c.is_whitespace(), start) {
            (true, Some(s)) => {
                spans.push((s, at));
                start = None;
            }
            (false, None) => start = Some(at),
            _ => {}
        }
    }
    if let Some(s) = start {
        spans.push((s, text.len()));
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(n: usize) -> String {
        (0..n)
            .map(|i| format!("w{i}"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn chunks_overlap_and_cover_every_word() {
        let text = words(25);
        let extracted = Extracted {
            pages: vec![text],
            paged: false,
        };
        let chunks = chunk(&extracted, 10, 3);
        let texts: Vec<&str> = chunks.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(texts.len(), 4, "{texts:?}");
        assert!(texts[0].starts_with("w0 ") && texts[0].ends_with(" w9"));
        assert!(texts[1].starts_with("w7 "), "three words repeat");
        assert!(texts[3].ends_with("w24"));
        assert_eq!(chunks[3].ordinal, 3);
        assert_eq!(chunks[0].page, 0);
    }

    #[test]
    fn pages_and_lines_are_kept() {
        let extracted = Extracted {
            pages: vec!["alpha\nbeta".into(), "\n\ngamma delta\nepsilon".into()],
            paged: true,
        };
        let chunks = chunk(&extracted, 100, 10);
        assert_eq!(chunks.len(), 2);
        assert_eq!(
            (chunks[0].page, chunks[0].first_line, chunks[0].last_line),
            (1, 1, 2)
        );
        assert_eq!(
            (chunks[1].page, chunks[1].first_line, chunks[1].last_line),
            (2, 3, 4)
        );
        assert_eq!(chunks[1].text, "gamma delta\nepsilon");
        assert!(
            chunk(
                &Extracted {
                    pages: vec!["  ".into()],
                    paged: false
                },
                5,
                1
            )
            .is_empty()
        );
    }
}
