//! A tantivy index in a directory of the data dir: one writer (behind a mutex, used from
//! blocking threads only), a reader reloaded after every commit so a search sees what
//! was committed before it.

use std::path::Path;
use std::sync::Mutex;
use tantivy::schema::{
    Field, IndexRecordOption, STORED, STRING, Schema, SchemaBuilder, TextFieldIndexing, TextOptions,
};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, Term};

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("search index: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    #[error("search index: {0}")]
    Io(#[from] std::io::Error),
    #[error("search index: {0}")]
    Directory(#[from] tantivy::directory::error::OpenDirectoryError),
    #[error("search index: {0}")]
    Read(#[from] tantivy::directory::error::OpenReadError),
    #[error("the search index is unavailable (a writer panicked)")]
    Poisoned,
    /// A change given up before its commit because what it indexes is gone.
    #[error("the file was deleted or removed while it was read")]
    Withdrawn,
}

pub type IndexResult<T> = Result<T, IndexError>;

/// The writer's memory budget: tantivy's minimum is 15 MB per thread.
const WRITER_HEAP_BYTES: usize = 32 * 1024 * 1024;
/// The tokenizer of searchable text: words lowercased, English stop words dropped (a
/// question's "for" or "the" must not outrank what it asks about), stemmed.
pub const TOKENIZER: &str = "en_stem_stop";

fn analyzer() -> tantivy::tokenizer::TextAnalyzer {
    use tantivy::tokenizer::{
        Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter,
        TextAnalyzer,
    };
    let builder = TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser);
    match StopWordFilter::new(Language::English) {
        Some(stop) => builder
            .filter(stop)
            .filter(Stemmer::new(Language::English))
            .build(),
        None => builder.filter(Stemmer::new(Language::English)).build(),
    }
}

pub struct SearchIndex {
    pub index: Index,
    pub reader: IndexReader,
    writer: Mutex<IndexWriter>,
}

/// Options of a searchable text field that is also kept (for snippets and citations).
pub fn text_options() -> TextOptions {
    TextOptions::default()
        .set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(TOKENIZER)
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        )
        .set_stored()
}

/// A field matched whole (ids), kept.
pub fn id_field(builder: &mut SchemaBuilder, name: &str) -> Field {
    builder.add_text_field(name, STRING | STORED)
}

impl SearchIndex {
    /// Opens the index in `dir`, or makes it there. A directory whose schema differs (an
    /// older build's) is emptied and made again: the index is rebuilt from the store.
    /// The bool says whether it was made new.
    pub fn open(dir: &Path, schema: Schema) -> IndexResult<(SearchIndex, bool)> {
        std::fs::create_dir_all(dir)?;
        let existing = tantivy::directory::MmapDirectory::open(dir)?;
        let (index, fresh) = match Index::exists(&existing)? {
            true => match Index::open(existing) {
                Ok(index) if index.schema() == schema => (index, false),
                _ => {
                    std::fs::remove_dir_all(dir)?;
                    std::fs::create_dir_all(dir)?;
                    (Index::create_in_dir(dir, schema)?, true)
                }
            },
            false => (Index::create_in_dir(dir, schema)?, true),
        };
        index.tokenizers().register(TOKENIZER, analyzer());
        // The writer of an index just closed in this process lets go of the directory's
        // lock a moment after it is dropped (its merge threads finish first): wait for it
        // a little rather than fail the reopen.
        let mut tries = 0;
        let writer = loop {
            match index.writer_with_num_threads(1, WRITER_HEAP_BYTES) {
                Err(tantivy::TantivyError::LockFailure(
                    tantivy::directory::error::LockError::LockBusy,
                    _,
                )) if tries < 100 => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                other => break other?,
            }
        };
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok((
            SearchIndex {
                index,
                reader,
                writer: Mutex::new(writer),
            },
            fresh,
        ))
    }

    /// Runs `change` on the writer and commits it with `payload`, or rolls every part of
    /// it back if it fails: a change is in the index whole or not at all.
    pub fn commit_with<T>(
        &self,
        payload: Option<String>,
        change: impl FnOnce(&IndexWriter) -> IndexResult<T>,
    ) -> IndexResult<T> {
        let mut writer = self.writer.lock().map_err(|_| IndexError::Poisoned)?;
        match change(&writer) {
            Ok(value) => {
                let mut prepared = writer.prepare_commit()?;
                if let Some(payload) = payload {
                    prepared.set_payload(&payload);
                }
                prepared.commit()?;
                drop(writer);
                self.reader.reload()?;
                Ok(value)
            }
            Err(err) => {
                writer.rollback()?;
                Err(err)
            }
        }
    }

    /// The payload of the last commit.
    pub fn payload(&self) -> Option<String> {
        self.index.load_metas().ok().and_then(|metas| metas.payload)
    }

    /// Documents searchable now.
    pub fn count(&self) -> u64 {
        self.reader.searcher().num_docs()
    }
}

/// A stored text field of a found document ("" when absent).
pub fn stored_text(doc: &tantivy::TantivyDocument, field: Field) -> String {
    use tantivy::schema::Value;
    doc.get_first(field)
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// A stored number field of a found document (0 when absent).
pub fn stored_u64(doc: &tantivy::TantivyDocument, field: Field) -> u64 {
    use tantivy::schema::Value;
    doc.get_first(field).and_then(|v| v.as_u64()).unwrap_or(0)
}

/// A BM25 score as reported: three decimals.
pub fn rounded(score: f32) -> f32 {
    (score * 1000.0).round() / 1000.0
}

/// The term of an id field, for deletes and filters.
pub fn term(field: Field, value: &str) -> Term {
    Term::from_field_text(field, value)
}
