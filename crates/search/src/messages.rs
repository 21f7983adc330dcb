//! Every thread's words in one full-text index: message texts, tool outputs and titles,
//! each a document keyed so that writing it again replaces it.

use super::index::{
    IndexResult, SearchIndex, id_field, rounded, stored_text, stored_u64, term, text_options,
};
pub use agentdeck_model::{HitKind, SearchHit};
use std::path::Path;
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, Occur, Query, QueryParser, TermQuery};
use tantivy::schema::{Field, IndexRecordOption, STORED, Schema};
use tantivy::snippet::SnippetGenerator;
use tantivy::{TantivyDocument, doc};

/// One document: a message's text, a tool call's output, or a thread's title.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageDoc {
    /// What writing it again replaces: the message id, the call id, `title/THREAD`.
    pub key: String,
    pub kind: HitKind,
    pub project_id: String,
    pub assistant_id: String,
    pub thread_id: String,
    /// Empty for a title.
    pub message_id: String,
    pub created_at: u64,
    pub text: String,
}

struct Fields {
    key: Field,
    kind: Field,
    project_id: Field,
    assistant_id: Field,
    thread_id: Field,
    message_id: Field,
    created_at: Field,
    text: Field,
}

pub struct MessageIndex {
    index: SearchIndex,
    fields: Fields,
    parser: QueryParser,
    /// Whether the index was made empty on open (so it must be filled from the store).
    pub fresh: bool,
}

/// What a search may see and wants.
#[derive(Debug, Clone, Default)]
pub struct SearchFilter {
    /// `None`: every project (the admin).
    pub project_id: Option<String>,
    pub assistant_id: Option<String>,
}

/// The longest snippet, in characters.
const SNIPPET_CHARS: usize = 160;

impl MessageIndex {
    pub fn open(dir: &Path) -> IndexResult<MessageIndex> {
        let mut builder = Schema::builder();
        let fields = Fields {
            key: id_field(&mut builder, "key"),
            kind: builder.add_text_field("kind", STORED),
            project_id: id_field(&mut builder, "project_id"),
            assistant_id: id_field(&mut builder, "assistant_id"),
            thread_id: id_field(&mut builder, "thread_id"),
            message_id: builder.add_text_field("message_id", STORED),
            created_at: builder.add_u64_field("created_at", STORED),
            text: builder.add_text_field("text", text_options()),
        };
        let (index, fresh) = SearchIndex::open(dir, builder.build())?;
        let parser = QueryParser::for_index(&index.index, vec![fields.text]);
        Ok(MessageIndex {
            index,
            fields,
            parser,
            fresh,
        })
    }

    /// Writes the documents (each replacing any of its key) in one commit, recording
    /// `indexed_at` (unix seconds) as how current the index is.
    pub fn upsert(&self, docs: &[MessageDoc], indexed_at: u64) -> IndexResult<()> {
        let f = &self.fields;
        self.index
            .commit_with(Some(indexed_at.to_string()), |writer| {
                for item in docs {
                    writer.delete_term(term(f.key, &item.key));
                    if item.text.trim().is_empty() {
                        continue;
                    }
                    writer.add_document(doc!(
                        f.key => item.key.as_str(),
                        f.kind => item.kind.as_str(),
                        f.project_id => item.project_id.as_str(),
                        f.assistant_id => item.assistant_id.as_str(),
                        f.thread_id => item.thread_id.as_str(),
                        f.message_id => item.message_id.as_str(),
                        f.created_at => item.created_at,
                        f.text => item.text.as_str(),
                    ))?;
                }
                Ok(())
            })
    }

    /// When the last commit was made (unix seconds), if ever.
    pub fn indexed_at(&self) -> Option<u64> {
        self.index.payload().and_then(|p| p.parse().ok())
    }

    /// The best `limit` matches the filter allows, best first; `keep` drops more (a
    /// thread's status), and the search reads further to fill `limit` after it.
    pub fn search(
        &self,
        query: &str,
        filter: &SearchFilter,
        limit: usize,
        keep: impl Fn(&str) -> bool,
    ) -> IndexResult<Vec<SearchHit>> {
        let f = &self.fields;
        if query.trim().is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let (text_query, _) = self.parser.parse_query_lenient(query);
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![(Occur::Must, text_query.box_clone())];
        let mut exact = |field, value: &Option<String>| {
            if let Some(value) = value {
                clauses.push((
                    Occur::Must,
                    Box::new(TermQuery::new(term(field, value), IndexRecordOption::Basic)),
                ));
            }
        };
        exact(f.project_id, &filter.project_id);
        exact(f.assistant_id, &filter.assistant_id);
        let query = BooleanQuery::new(clauses);
        let searcher = self.index.reader.searcher();
        let mut snippets = SnippetGenerator::create(&searcher, &*text_query, f.text)?;
        snippets.set_max_num_chars(SNIPPET_CHARS);
        let mut hits = Vec::new();
        // Read further while `keep` drops hits, up to a bound.
        let mut wanted = limit;
        loop {
            let top = searcher.search(&query, &TopDocs::with_limit(wanted))?;
            let exhausted = top.len() < wanted;
            hits.clear();
            for (score, address) in top {
                let stored: TantivyDocument = searcher.doc(address)?;
                let text = |field| stored_text(&stored, field);
                let thread_id = text(f.thread_id);
                if !keep(&thread_id) {
                    continue;
                }
                let snippet = snippets.snippet_from_doc(&stored);
                let (snippet, highlights) = if snippet.fragment().is_empty() {
                    let whole: String = text(f.text).chars().take(SNIPPET_CHARS).collect();
                    (whole, Vec::new())
                } else {
                    (
                        snippet.fragment().to_string(),
                        snippet
                            .highlighted()
                            .iter()
                            .map(|range| [range.start, range.end])
                            .collect(),
                    )
                };
                let message_id = text(f.message_id);
                hits.push(SearchHit {
                    thread_id,
                    message_id: (!message_id.is_empty()).then_some(message_id),
                    assistant_id: text(f.assistant_id),
                    kind: HitKind::parse(&text(f.kind)),
                    snippet,
                    highlights,
                    score: rounded(score),
                    created_at: stored_u64(&stored, f.created_at),
                });
                if hits.len() == limit {
                    break;
                }
            }
            if hits.len() >= limit || exhausted || wanted >= limit * 64 {
                break;
            }
            wanted *= 4;
        }
        Ok(hits)
    }

    pub fn count(&self) -> u64 {
        self.index.count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(key: &str, project: &str, thread: &str, text: &str) -> MessageDoc {
        MessageDoc {
            key: key.into(),
            kind: HitKind::Message,
            project_id: project.into(),
            assistant_id: "asst_1".into(),
            thread_id: thread.into(),
            message_id: key.into(),
            created_at: 7,
            text: text.into(),
        }
    }

    #[test]
    fn finds_within_scope_with_snippets_and_replaces_by_key() {
        let dir = tempfile::tempdir().unwrap();
        let index = MessageIndex::open(dir.path()).unwrap();
        assert!(index.fresh);
        index
            .upsert(
                &[
                    doc(
                        "msg_1",
                        "proj_a",
                        "thread_1",
                        "The refund for order 1234 was approved.",
                    ),
                    doc(
                        "msg_2",
                        "proj_b",
                        "thread_2",
                        "Refunds of the other project.",
                    ),
                    doc("msg_3", "proj_a", "thread_3", "Nothing about money."),
                ],
                100,
            )
            .unwrap();
        let mine = SearchFilter {
            project_id: Some("proj_a".into()),
            assistant_id: None,
        };
        let hits = index.search("refunds", &mine, 10, |_| true).unwrap();
        assert_eq!(hits.len(), 1, "{hits:?}");
        assert_eq!(hits[0].message_id.as_deref(), Some("msg_1"));
        let [start, end] = hits[0].highlights[0];
        assert_eq!(&hits[0].snippet[start..end], "refund");
        assert_eq!(
            index
                .search("refund", &SearchFilter::default(), 10, |_| true)
                .unwrap()
                .len(),
            2
        );
        assert!(
            index
                .search("refund", &mine, 10, |t| t != "thread_1")
                .unwrap()
                .is_empty()
        );
        index
            .upsert(
                &[doc("msg_1", "proj_a", "thread_1", "Edited: no match now.")],
                200,
            )
            .unwrap();
        assert!(
            index
                .search("refund", &mine, 10, |_| true)
                .unwrap()
                .is_empty()
        );
        assert_eq!(index.indexed_at(), Some(200));
        drop(index);
        let reopened = MessageIndex::open(dir.path()).unwrap();
        assert!(!reopened.fresh);
        assert_eq!(reopened.count(), 3);
    }
}
