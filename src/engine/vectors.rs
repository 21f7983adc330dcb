//! Vector stores: files read into chunks in the background (each file's ingestion is in
//! the index whole or not at all), ranked for `file_search`; a thread's own store holds
//! the documents its messages attach.

use super::{Engine, EngineError, EngineResult, Scope};
use crate::model::requests::VectorStoreCreate;
use crate::model::{
    FileCounts, IngestStatus, Thread, VectorStore, VectorStoreFile, new_id, now_secs,
};
use crate::search::chunks::{CHUNK_WORDS, OVERLAP_WORDS, chunk};
use crate::search::stores::ChunkHit;
use std::time::Duration;

/// The longest one file's text extraction may take.
const EXTRACT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long `file_search` waits for files still being read.
const INGEST_WAIT: Duration = Duration::from_secs(60);
/// Files in one store at most.
const MAX_STORE_FILES: usize = 500;
/// Results of one `file_search` call, and the text of each given to the model.
pub const FILE_SEARCH_RESULTS: usize = 5;
const RESULT_TEXT_CHARS: usize = 1_500;

fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Engine {
    pub async fn create_vector_store(
        &self,
        scope: &Scope,
        request: VectorStoreCreate,
    ) -> EngineResult<VectorStore> {
        let project = self.target_project(scope, request.project_id.as_deref())?;
        let name = request.name.unwrap_or_default();
        let name = crate::text::one_line(name.trim());
        if name.chars().count() > 256 {
            return Err(EngineError::invalid(
                "name is longer than 256 characters.",
                "name",
            ));
        }
        let file_ids = distinct(&request.file_ids);
        if file_ids.len() > MAX_STORE_FILES {
            return Err(EngineError::invalid(
                format!("A vector store holds at most {MAX_STORE_FILES} files."),
                "file_ids",
            ));
        }
        let project_scope = Scope::Project(project.id.clone());
        for id in &file_ids {
            self.file(&project_scope, id)?;
        }
        let mut store = VectorStore {
            id: new_id("vs_"),
            object: "vector_store".into(),
            name,
            file_ids: Vec::new(),
            created_at: now_secs(),
            project_id: project.id,
            thread_id: None,
            status: IngestStatus::Completed,
            file_counts: FileCounts::default(),
            files: file_ids.iter().map(|id| pending(id)).collect(),
        };
        store.settle();
        self.inner.store.put_vector_store(&store)?;
        for id in &file_ids {
            self.ingest(&store.id, id);
        }
        Ok(store)
    }

    pub fn vector_store(&self, scope: &Scope, id: &str) -> EngineResult<VectorStore> {
        match self.inner.store.vector_store(id)? {
            Some(store) if scope.sees(&store.project_id) => Ok(store),
            _ => Err(EngineError::not_found("vector store", id)),
        }
    }

    pub fn vector_stores(&self, scope: &Scope) -> EngineResult<Vec<VectorStore>> {
        Ok(self.inner.store.vector_stores(scope.project())?)
    }

    /// Adds a file (of the store's project) and starts reading it; adding one it holds
    /// reads it again.
    pub async fn add_vector_store_file(
        &self,
        scope: &Scope,
        id: &str,
        file_id: &str,
    ) -> EngineResult<VectorStore> {
        let existing = self.vector_store(scope, id)?;
        self.file(&Scope::Project(existing.project_id.clone()), file_id)?;
        let store = self.change_vector_store(id, |store| {
            if store.files.len() >= MAX_STORE_FILES {
                return Err(EngineError::invalid(
                    format!("A vector store holds at most {MAX_STORE_FILES} files."),
                    "file_id",
                ));
            }
            match store.files.iter_mut().find(|f| f.file_id == file_id) {
                Some(entry) => *entry = pending(file_id),
                None => store.files.push(pending(file_id)),
            }
            Ok(())
        })?;
        self.ingest(id, file_id);
        Ok(store)
    }

    /// Takes a file out of a store: its chunks are no longer found.
    pub async fn remove_vector_store_file(
        &self,
        scope: &Scope,
        id: &str,
        file_id: &str,
    ) -> EngineResult<VectorStore> {
        self.vector_store(scope, id)?;
        let store = self.change_vector_store(id, |store| {
            let before = store.files.len();
            store.files.retain(|f| f.file_id != file_id);
            if store.files.len() == before {
                return Err(EngineError::not_found("file in this vector store", file_id));
            }
            Ok(())
        })?;
        let chunks = self.inner.chunks.clone();
        let (store_id, file) = (id.to_string(), file_id.to_string());
        blocking(move || chunks.remove_file(Some(&store_id), &file)).await?;
        Ok(store)
    }

    pub async fn delete_vector_store(&self, scope: &Scope, id: &str) -> EngineResult<()> {
        self.vector_store(scope, id)?;
        {
            let _guard = lock(&self.inner.vector_lock);
            self.inner.store.delete_vector_store(id)?;
        }
        let chunks = self.inner.chunks.clone();
        let store_id = id.to_string();
        blocking(move || chunks.remove_store(&store_id)).await
    }

    /// Deletes an upload: out of every vector store first (a reading of it in progress
    /// adds nothing), then its record and bytes.
    pub async fn delete_file(&self, scope: &Scope, id: &str) -> EngineResult<()> {
        let file = self.file(scope, id)?;
        for store in self.inner.store.vector_stores(Some(&file.project_id))? {
            if store.file_ids.iter().any(|f| f == id) {
                self.change_vector_store(&store.id, |store| {
                    store.files.retain(|f| f.file_id != id);
                    Ok(())
                })?;
            }
        }
        {
            let _guard = lock(&self.inner.vector_lock);
            self.inner.store.delete_file(id)?;
        }
        let chunks = self.inner.chunks.clone();
        let file_id = id.to_string();
        blocking(move || chunks.remove_file(None, &file_id)).await
    }

    /// A read-modify-write of a stored vector store, under the lock every writer takes.
    fn change_vector_store(
        &self,
        id: &str,
        change: impl FnOnce(&mut VectorStore) -> EngineResult<()>,
    ) -> EngineResult<VectorStore> {
        let _guard = lock(&self.inner.vector_lock);
        let mut store = self
            .inner
            .store
            .vector_store(id)?
            .ok_or_else(|| EngineError::not_found("vector store", id))?;
        change(&mut store)?;
        store.settle();
        self.inner.store.put_vector_store(&store)?;
        Ok(store)
    }

    /// Reads a file into a store in the background: extraction, chunking and one index
    /// commit; its status says how it ended.
    fn ingest(&self, store_id: &str, file_id: &str) {
        let engine = self.clone();
        let (store_id, file_id) = (store_id.to_string(), file_id.to_string());
        tokio::spawn(async move {
            let outcome = engine.read_into_index(&store_id, &file_id).await;
            let changed = engine.change_vector_store(&store_id, |store| {
                if let Some(entry) = store.files.iter_mut().find(|f| f.file_id == file_id) {
                    // A newer reading started meanwhile reports for itself.
                    if entry.status == IngestStatus::InProgress {
                        match &outcome {
                            Ok(chunks) => {
                                entry.status = IngestStatus::Completed;
                                entry.chunks = *chunks;
                                entry.last_error = None;
                            }
                            Err(why) => {
                                entry.status = IngestStatus::Failed;
                                entry.chunks = 0;
                                entry.last_error = Some(why.clone());
                            }
                        }
                    }
                }
                Ok(())
            });
            if let Err(err) = &changed {
                tracing::warn!("vector store {store_id}: {err}");
            }
            if let Err(err) = engine.inner.store.flush().await {
                tracing::warn!("vector store {store_id}: {err}");
            }
            engine.inner.ingested.send_modify(|n| *n += 1);
        });
    }

    /// The number of chunks indexed, or why the file could not be read.
    async fn read_into_index(&self, store_id: &str, file_id: &str) -> Result<u64, String> {
        let store = self.inner.store.clone();
        let id = file_id.to_string();
        let read = tokio::task::spawn_blocking(move || {
            let file = store
                .file(&id)
                .map_err(|e| e.to_string())?
                .ok_or("the file was deleted")?;
            let bytes = store.file_contents(&id).map_err(|e| e.to_string())?;
            let extracted = crate::search::extract::extract(&file.content_type, &bytes)
                .map_err(|e| e.to_string())?;
            Ok::<_, String>((file, chunk(&extracted, CHUNK_WORDS, OVERLAP_WORDS)))
        });
        let (file, chunks) = match tokio::time::timeout(EXTRACT_TIMEOUT, read).await {
            Err(_) => return Err("reading the file took longer than 60 s".into()),
            Ok(Err(_)) => return Err("the file could not be read (the reader failed)".into()),
            Ok(Ok(read)) => read?,
        };
        let index = self.inner.chunks.clone();
        let engine = self.clone();
        let (store_id, file_id) = (store_id.to_string(), file_id.to_string());
        let count = chunks.len() as u64;
        tokio::task::spawn_blocking(move || {
            let still_wanted = || {
                let file_kept = matches!(engine.inner.store.file(&file_id), Ok(Some(_)));
                let listed = matches!(
                    engine.inner.store.vector_store(&store_id),
                    Ok(Some(store)) if store.file_ids.contains(&file_id)
                );
                file_kept && listed
            };
            index.replace_file(&store_id, &file_id, &file.filename, &chunks, still_wanted)
        })
        .await
        .map_err(|_| "the index writer failed".to_string())?
        .map_err(|err| match err.to_string() {
            why if why.contains("the file was deleted") => {
                "the file was deleted or removed while it was read".to_string()
            }
            why => why,
        })?;
        Ok(count)
    }

    /// At start: files whose reading a stop interrupted are read again.
    pub(super) fn resume_ingestion(&self) -> EngineResult<()> {
        for store in self.inner.store.vector_stores(None)? {
            for file in &store.files {
                if file.status == IngestStatus::InProgress {
                    self.ingest(&store.id, &file.file_id);
                }
            }
        }
        Ok(())
    }

    /// The thread's own store, if its messages attached documents.
    pub(super) fn thread_vector_store(&self, thread: &Thread) -> Option<VectorStore> {
        let stores = self
            .inner
            .store
            .vector_stores(Some(&thread.project_id))
            .ok()?;
        stores
            .into_iter()
            .find(|store| store.thread_id.as_deref() == Some(thread.id.as_str()))
    }

    /// Puts files into the thread's own store (made on first use) and starts reading
    /// the new ones.
    pub(super) fn attach_to_thread_store(
        &self,
        thread: &Thread,
        file_ids: &[String],
    ) -> EngineResult<()> {
        if file_ids.is_empty() {
            return Ok(());
        }
        let store_id = match self.thread_vector_store(thread) {
            Some(store) => store.id,
            None => {
                let mut store = VectorStore {
                    id: new_id("vs_"),
                    object: "vector_store".into(),
                    name: format!("Documents of {}", thread.id),
                    file_ids: Vec::new(),
                    created_at: now_secs(),
                    project_id: thread.project_id.clone(),
                    thread_id: Some(thread.id.clone()),
                    status: IngestStatus::Completed,
                    file_counts: FileCounts::default(),
                    files: Vec::new(),
                };
                store.settle();
                let _guard = lock(&self.inner.vector_lock);
                self.inner.store.put_vector_store(&store)?;
                store.id
            }
        };
        let mut new = Vec::new();
        self.change_vector_store(&store_id, |store| {
            for id in file_ids {
                if !store.file_ids.contains(id) && store.files.len() < MAX_STORE_FILES {
                    store.files.push(pending(id));
                    new.push(id.clone());
                }
            }
            Ok(())
        })?;
        for id in new {
            self.ingest(&store_id, &id);
        }
        Ok(())
    }

    /// `file_search` for a run: the best chunks of the stores (those of other projects
    /// are not found), after waiting for files still being read. `Err` says why none.
    pub(crate) async fn file_search(
        &self,
        project_id: &str,
        store_ids: &[String],
        query: &str,
        cancel: &tokio_util::sync::CancellationToken,
    ) -> Result<FileSearchOutcome, String> {
        let mut found = Vec::new();
        let mut missing = Vec::new();
        for id in distinct(store_ids) {
            match self.inner.store.vector_store(&id) {
                Ok(Some(store)) if store.project_id == project_id => found.push(id),
                _ => missing.push(id),
            }
        }
        let mut ingested = self.inner.ingested.subscribe();
        let deadline = tokio::time::Instant::now() + INGEST_WAIT;
        loop {
            let busy = found.iter().any(|id| {
                matches!(self.inner.store.vector_store(id),
                    Ok(Some(store)) if store.status == IngestStatus::InProgress)
            });
            if !busy {
                break;
            }
            tokio::select! {
                _ = cancel.cancelled() => return Err("cancelled".into()),
                _ = tokio::time::sleep_until(deadline) => break,
                _ = ingested.changed() => {}
            }
        }
        let index = self.inner.chunks.clone();
        let (ids, text) = (found.clone(), query.to_string());
        let hits =
            tokio::task::spawn_blocking(move || index.search(&ids, &text, FILE_SEARCH_RESULTS))
                .await
                .map_err(|_| "the search failed".to_string())?
                .map_err(|err| err.to_string())?;
        Ok(FileSearchOutcome {
            query: query.to_string(),
            searched: found,
            missing,
            hits,
        })
    }
}

/// What one `file_search` call found.
pub(crate) struct FileSearchOutcome {
    pub query: String,
    pub searched: Vec<String>,
    pub missing: Vec<String>,
    pub hits: Vec<ChunkHit>,
}

impl FileSearchOutcome {
    /// The tool's output: JSON the model reads, each result with its citation.
    pub fn to_output(&self) -> String {
        let results: Vec<serde_json::Value> = self
            .hits
            .iter()
            .map(|hit| {
                let text: String = hit.text.chars().take(RESULT_TEXT_CHARS).collect();
                serde_json::json!({
                    "citation": hit.citation(),
                    "file_id": hit.file_id,
                    "filename": hit.filename,
                    "vector_store_id": hit.vector_store_id,
                    "page": hit.page,
                    "lines": hit.lines,
                    "score": hit.score,
                    "text": text,
                })
            })
            .collect();
        let mut output = serde_json::json!({
            "query": self.query,
            "results": results,
        });
        if !self.missing.is_empty() {
            output["missing_vector_stores"] = serde_json::json!(self.missing);
        }
        if self.searched.is_empty() {
            output["note"] =
                serde_json::json!("No vector store of this project was given to search.");
        }
        output.to_string()
    }
}

fn pending(file_id: &str) -> VectorStoreFile {
    VectorStoreFile {
        file_id: file_id.to_string(),
        status: IngestStatus::InProgress,
        chunks: 0,
        last_error: None,
    }
}

/// The ids in their first order, each once.
fn distinct(ids: &[String]) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    ids.iter()
        .filter(|id| seen.insert(id.as_str()))
        .cloned()
        .collect()
}

/// Runs index work on a blocking thread.
async fn blocking(
    work: impl FnOnce() -> crate::search::index::IndexResult<()> + Send + 'static,
) -> EngineResult<()> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|_| EngineError::Conflict("the search index writer failed".into()))?
        .map_err(EngineError::from)
}
