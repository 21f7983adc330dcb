//! The chunks of every vector store's files, ranked with BM25 by tantivy.

use super::chunks::Chunk;
use super::index::{
    IndexResult, SearchIndex, id_field, rounded, stored_text, stored_u64, term, text_options,
};
use serde::{Deserialize, Serialize};
use std::path::Path;
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, Occur, Query, QueryParser, TermQuery};
use tantivy::schema::{Field, INDEXED, IndexRecordOption, STORED, Schema};
use tantivy::{TantivyDocument, doc};

struct Fields {
    store_id: Field,
    file_id: Field,
    /// `store_id/file_id`: what one ingestion replaces or removes.
    key: Field,
    filename: Field,
    ordinal: Field,
    page: Field,
    first_line: Field,
    last_line: Field,
    text: Field,
}

pub struct ChunkIndex {
    index: SearchIndex,
    fields: Fields,
    parser: QueryParser,
    /// Whether the index was made empty on open (its stores' files must be read again).
    pub fresh: bool,
}

/// One ranked chunk, with what a citation needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkHit {
    pub vector_store_id: String,
    pub file_id: String,
    pub filename: String,
    pub score: f32,
    /// The PDF page, from 1; absent for files without pages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<u64>,
    pub lines: [u64; 2],
    pub chunk: u64,
    pub text: String,
}

impl ChunkHit {
    /// `[contract.pdf p.3]` or `[notes.md lines 4-20]`.
    pub fn citation(&self) -> String {
        match self.page {
            Some(page) => format!("[{} p.{page}]", self.filename),
            None if self.lines[0] == self.lines[1] => {
                format!("[{} line {}]", self.filename, self.lines[0])
            }
            None => format!(
                "[{} lines {}-{}]",
                self.filename, self.lines[0], self.lines[1]
            ),
        }
    }
}

fn key(store_id: &str, file_id: &str) -> String {
    format!("{store_id}/{file_id}")
}

impl ChunkIndex {
    pub fn open(dir: &Path) -> IndexResult<ChunkIndex> {
        let mut builder = Schema::builder();
        let fields = Fields {
            store_id: id_field(&mut builder, "store_id"),
            file_id: id_field(&mut builder, "file_id"),
            key: id_field(&mut builder, "key"),
            filename: builder.add_text_field("filename", STORED),
            ordinal: builder.add_u64_field("ordinal", STORED | INDEXED),
            page: builder.add_u64_field("page", STORED),
            first_line: builder.add_u64_field("first_line", STORED),
            last_line: builder.add_u64_field("last_line", STORED),
            text: builder.add_text_field("text", text_options()),
        };
        let (index, fresh) = SearchIndex::open(dir, builder.build())?;
        let parser = QueryParser::for_index(&index.index, vec![fields.text]);
        Ok(ChunkIndex {
            index,
            fields,
            parser,
            fresh,
        })
    }

    /// Makes `chunks` the file's chunks in the store (replacing any it had), in one commit;
    /// `Withdrawn` (nothing changed) when `still_wanted` says no just before it.
    pub fn replace_file(
        &self,
        store_id: &str,
        file_id: &str,
        filename: &str,
        chunks: &[Chunk],
        still_wanted: impl FnOnce() -> bool,
    ) -> IndexResult<()> {
        let f = &self.fields;
        self.index.commit_with(None, |writer| {
            writer.delete_term(term(f.key, &key(store_id, file_id)));
            for chunk in chunks {
                writer.add_document(doc!(
                    f.store_id => store_id,
                    f.file_id => file_id,
                    f.key => key(store_id, file_id),
                    f.filename => filename,
                    f.ordinal => chunk.ordinal,
                    f.page => chunk.page,
                    f.first_line => chunk.first_line,
                    f.last_line => chunk.last_line,
                    f.text => chunk.text.as_str(),
                ))?;
            }
            // The file may have been deleted while it was read: then nothing is added.
            if still_wanted() {
                Ok(())
            } else {
                Err(super::index::IndexError::Withdrawn)
            }
        })
    }

    /// Removes a file's chunks from a store (every store when `store_id` is `None`).
    pub fn remove_file(&self, store_id: Option<&str>, file_id: &str) -> IndexResult<()> {
        let f = &self.fields;
        self.index.commit_with(None, |writer| {
            match store_id {
                Some(store_id) => writer.delete_term(term(f.key, &key(store_id, file_id))),
                None => writer.delete_term(term(f.file_id, file_id)),
            };
            Ok(())
        })
    }

    /// Removes every chunk of a store.
    pub fn remove_store(&self, store_id: &str) -> IndexResult<()> {
        let f = &self.fields;
        self.index.commit_with(None, |writer| {
            writer.delete_term(term(f.store_id, store_id));
            Ok(())
        })
    }

    /// The `limit` best chunks for `query` among the stores, best first.
    pub fn search(
        &self,
        store_ids: &[String],
        query: &str,
        limit: usize,
    ) -> IndexResult<Vec<ChunkHit>> {
        let f = &self.fields;
        if store_ids.is_empty() || query.trim().is_empty() {
            return Ok(Vec::new());
        }
        let (text_query, _) = self.parser.parse_query_lenient(query);
        let stores: Vec<(Occur, Box<dyn Query>)> = store_ids
            .iter()
            .map(|id| {
                let query: Box<dyn Query> = Box::new(TermQuery::new(
                    term(f.store_id, id),
                    IndexRecordOption::Basic,
                ));
                (Occur::Should, query)
            })
            .collect();
        let query = BooleanQuery::new(vec![
            (Occur::Must, text_query),
            (Occur::Must, Box::new(BooleanQuery::new(stores))),
        ]);
        self.top(&query, limit)
    }

    /// One chunk of a file in a store, by its ordinal (scored 0).
    pub fn chunk(
        &self,
        store_id: &str,
        file_id: &str,
        ordinal: u64,
    ) -> IndexResult<Option<ChunkHit>> {
        let f = &self.fields;
        let query = BooleanQuery::new(vec![
            (
                Occur::Must,
                Box::new(TermQuery::new(
                    term(f.key, &key(store_id, file_id)),
                    IndexRecordOption::Basic,
                )) as Box<dyn Query>,
            ),
            (
                Occur::Must,
                Box::new(TermQuery::new(
                    tantivy::Term::from_field_u64(f.ordinal, ordinal),
                    IndexRecordOption::Basic,
                )),
            ),
        ]);
        Ok(self.top(&query, 1)?.into_iter().next().map(|mut hit| {
            hit.score = 0.0;
            hit
        }))
    }

    fn top(&self, query: &dyn Query, limit: usize) -> IndexResult<Vec<ChunkHit>> {
        let f = &self.fields;
        let searcher = self.index.reader.searcher();
        let top = searcher.search(query, &TopDocs::with_limit(limit.max(1)))?;
        let mut hits = Vec::with_capacity(top.len());
        for (score, address) in top {
            let stored: TantivyDocument = searcher.doc(address)?;
            let text = |field| stored_text(&stored, field);
            let number = |field| stored_u64(&stored, field);
            let page = number(f.page);
            hits.push(ChunkHit {
                vector_store_id: text(f.store_id),
                file_id: text(f.file_id),
                filename: text(f.filename),
                score: rounded(score),
                page: (page > 0).then_some(page),
                lines: [number(f.first_line), number(f.last_line)],
                chunk: number(f.ordinal),
                text: text(f.text),
            });
        }
        Ok(hits)
    }

    /// Chunks in every store.
    pub fn count(&self) -> u64 {
        self.index.count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunks::chunk;
    use crate::extract::Extracted;

    fn chunks_of(pages: &[&str]) -> Vec<Chunk> {
        chunk(
            &Extracted {
                pages: pages.iter().map(|p| p.to_string()).collect(),
                paged: true,
            },
            40,
            8,
        )
    }

    #[test]
    fn ranks_within_the_stores_asked_and_replaces_whole() {
        let dir = tempfile::tempdir().unwrap();
        let index = ChunkIndex::open(dir.path()).unwrap();
        let contract = chunks_of(&[
            "This agreement is made between Acme and the Customer.",
            "Section 9. Limitation of liability: the liability of Acme is capped at fees paid.",
        ]);
        index
            .replace_file("vs_a", "file_1", "contract.pdf", &contract, || true)
            .unwrap();
        let other = chunks_of(&["Liability for the other project's secrets."]);
        index
            .replace_file("vs_b", "file_2", "secret.pdf", &other, || true)
            .unwrap();
        let hits = index
            .search(&["vs_a".into()], "liability clause", 5)
            .unwrap();
        assert_eq!(hits.len(), 1, "{hits:?}");
        assert_eq!(hits[0].citation(), "[contract.pdf p.2]");
        assert!(hits[0].text.contains("capped"));
        // A replacement that is no longer wanted leaves the store as it was.
        assert!(matches!(
            index.replace_file("vs_a", "file_1", "contract.pdf", &[], || false),
            Err(crate::index::IndexError::Withdrawn)
        ));
        assert_eq!(
            index
                .search(&["vs_a".into()], "liability", 5)
                .unwrap()
                .len(),
            1
        );
        index.remove_file(None, "file_1").unwrap();
        assert!(
            index
                .search(&["vs_a".into()], "liability", 5)
                .unwrap()
                .is_empty()
        );
        assert_eq!(index.count(), 1);
        // Reopened, it holds what was committed.
        drop(index);
        let index = ChunkIndex::open(dir.path()).unwrap();
        assert_eq!(
            index.search(&["vs_b".into()], "secrets", 5).unwrap().len(),
            1
        );
        assert!(index.search(&["vs_b".into()], "AND OR ((", 5).is_ok());
    }
}
