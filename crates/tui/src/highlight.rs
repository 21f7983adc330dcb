//! Syntax highlighting of code blocks, off the draw path: a frame asks for a block's
//! highlighting and gets it if it is ready; otherwise the block is queued for a worker
//! thread, drawn plain, and redrawn when the worker reports back.
//!
//! syntect only parses here. Its scopes map to seven theme colours (`code_keyword`,
//! `code_string`, ...), so highlighting follows the theme and stays within ANSI colours.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::mpsc;

/// One highlighted line: (theme colour name, text) pieces.
pub type HighlightedLine = Vec<(&'static str, String)>;
pub type Highlighted = Arc<Vec<HighlightedLine>>;

/// Blocks highlighted and kept; beyond this the cache starts again.
const CACHE_LIMIT: usize = 2048;
/// Longer blocks are drawn plain: parsing them would hold the worker up for long.
const MAX_BLOCK_BYTES: usize = 256 * 1024;

pub fn block_key(lang: &str, code: &str) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    lang.hash(&mut hasher);
    code.hash(&mut hasher);
    hasher.finish()
}

pub struct Highlighter {
    ready: HashMap<u64, Highlighted>,
    pending: HashSet<u64>,
    jobs: Option<mpsc::Sender<(u64, String, String)>>,
}

impl Highlighter {
    /// A highlighter whose worker calls `done(key, lines)` for every finished block.
    pub fn spawn(done: impl Fn(u64, Highlighted) + Send + 'static) -> Highlighter {
        let (jobs, queue) = mpsc::channel::<(u64, String, String)>();
        let started = std::thread::Builder::new()
            .name("highlight".into())
            .spawn(move || {
                // Loaded on the worker: the first frame does not wait for the grammars.
                let syntaxes = syntect::parsing::SyntaxSet::load_defaults_newlines();
                while let Ok((key, lang, code)) = queue.recv() {
                    done(key, Arc::new(highlight(&syntaxes, &lang, &code)));
                }
            });
        Highlighter {
            ready: HashMap::new(),
            pending: HashSet::new(),
            jobs: started.ok().map(|_| jobs),
        }
    }

    /// No worker: every block is drawn plain (tests, benches).
    pub fn plain() -> Highlighter {
        Highlighter {
            ready: HashMap::new(),
            pending: HashSet::new(),
            jobs: None,
        }
    }

    /// The block's highlighting if it is ready; otherwise asks for it.
    pub fn get(&mut self, lang: &str, code: &str) -> Option<Highlighted> {
        let key = block_key(lang, code);
        if let Some(lines) = self.ready.get(&key) {
            return Some(lines.clone());
        }
        if code.len() <= MAX_BLOCK_BYTES && !self.pending.contains(&key) {
            if let Some(jobs) = &self.jobs {
                if jobs.send((key, lang.to_string(), code.to_string())).is_ok() {
                    self.pending.insert(key);
                }
            }
        }
        None
    }

    pub fn insert(&mut self, key: u64, lines: Highlighted) {
        if self.ready.len() >= CACHE_LIMIT {
            self.ready.clear();
        }
        self.pending.remove(&key);
        self.ready.insert(key, lines);
    }
}

/// The theme colour for the innermost scope that has one.
fn colour_of(scopes: &[syntect::parsing::Scope]) -> &'static str {
    for scope in scopes.iter().rev() {
        let name = scope.build_string();
        let colour = if name.starts_with("comment") {
            "code_comment"
        } else if name.starts_with("string") {
            "code_string"
        } else if name.starts_with("constant.numeric") || name.starts_with("constant.language") {
            "code_number"
        } else if name.starts_with("entity.name.function")
            || name.starts_with("support.function")
            || name.starts_with("variable.function")
        {
            "code_function"
        } else if name.starts_with("entity.name.type")
            || name.starts_with("support.type")
            || name.starts_with("entity.name.class")
        {
            "code_type"
        } else if name.starts_with("keyword") || name.starts_with("storage") {
            "code_keyword"
        } else {
            continue;
        };
        return colour;
    }
    "code"
}

/// Highlights `code` as `lang` (a name or file extension; plain text when unknown).
pub fn highlight(
    syntaxes: &syntect::parsing::SyntaxSet,
    lang: &str,
    code: &str,
) -> Vec<HighlightedLine> {
    use syntect::parsing::{ParseState, ScopeStack};
    let syntax = syntaxes
        .find_syntax_by_token(lang)
        .unwrap_or_else(|| syntaxes.find_syntax_plain_text());
    let mut state = ParseState::new(syntax);
    let mut stack = ScopeStack::new();
    let mut out = Vec::new();
    for line in code.split('\n') {
        let with_newline = format!("{line}\n");
        let mut pieces: HighlightedLine = Vec::new();
        match state.parse_line(&with_newline, syntaxes) {
            Ok(ops) => {
                let mut at = 0;
                for (offset, op) in ops {
                    let offset = offset.min(line.len());
                    if offset > at {
                        if let Some(text) = line.get(at..offset) {
                            pieces.push((colour_of(stack.as_slice()), text.to_string()));
                        }
                        at = offset;
                    }
                    let _ = stack.apply(&op);
                }
                if at < line.len() {
                    if let Some(text) = line.get(at..) {
                        pieces.push((colour_of(stack.as_slice()), text.to_string()));
                    }
                }
            }
            // A grammar that fails on a line leaves the rest of the block plain.
            Err(_) => pieces.push(("code", line.to_string())),
        }
        out.push(pieces);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_code_gets_keyword_string_comment_and_number_colours() {
        let syntaxes = syntect::parsing::SyntaxSet::load_defaults_newlines();
        let lines = highlight(
            &syntaxes,
            "rust",
            "// total\nfn main() { let s = \"hi\"; let n = 42; }",
        );
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0][0].0, "code_comment");
        let colour_of_text = |text: &str| {
            lines[1]
                .iter()
                .find(|(_, t)| t.contains(text))
                .map(|(c, _)| *c)
        };
        assert_eq!(colour_of_text("fn"), Some("code_keyword"));
        assert_eq!(colour_of_text("hi"), Some("code_string"));
        assert_eq!(colour_of_text("42"), Some("code_number"));
        assert_eq!(colour_of_text("main"), Some("code_function"));
        // Nothing is lost or added.
        let text: String = lines[1].iter().map(|(_, t)| t.as_str()).collect();
        assert_eq!(text, "fn main() { let s = \"hi\"; let n = 42; }");
        let plain = highlight(&syntaxes, "no-such-language", "a < b");
        assert_eq!(plain, vec![vec![("code", "a < b".to_string())]]);
    }

    #[test]
    fn a_block_is_drawn_plain_until_the_worker_has_it() {
        let (tx, rx) = std::sync::mpsc::channel();
        let mut highlighter = Highlighter::spawn(move |key, lines| {
            let _ = tx.send((key, lines));
        });
        assert!(highlighter.get("python", "x = 1").is_none());
        assert!(
            highlighter.get("python", "x = 1").is_none(),
            "asked once, not twice"
        );
        let (key, lines) = rx.recv_timeout(std::time::Duration::from_secs(20)).unwrap();
        assert!(rx.try_recv().is_err());
        highlighter.insert(key, lines);
        assert!(highlighter.get("python", "x = 1").is_some());
    }
}
