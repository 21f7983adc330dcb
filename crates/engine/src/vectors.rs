//! Vector stores: files read into chunks in the background (each file's ingestion is in
//! the index whole or not at all), ranked for `file_search`; a thread's own store holds
//! the documents its messages attach.

use super::{Engine, EngineError, EngineResult, Scope};
use agentdeck_model::requests::VectorStoreCreate;
use agentdeck_model::sync::lock;
use agentdeck_model::{
    FileCounts, IngestStatus, Thread, VectorStore, VectorStoreFile, new_id, now_secs,
};
use agentdeck_search::chunks::{CHUNK_WORDS, OVERLAP_WORDS, chunk};
use agentdeck_search::stores::ChunkHit;
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

impl Engine {
    pub async fn create_vector_store(
        &self,
        scope: &Scope,
        request: VectorStoreCreate,
    ) -> EngineResult<VectorStore> {
        let project = self.target_project(scope, request.project_id.as_deref())?;
        let name = request.name.unwrap_or_default();
        let name = agentdeck_model::text::one_line(name.trim());
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
        let store = new_store(
            project.id,
            name,
            None,
            file_ids.iter().map(|id| pending(id)).collect(),
        );
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
        let chunks = self.inner.documents.chunks.clone();
        let (store_id, file) = (id.to_string(), file_id.to_string());
        blocking(move || chunks.remove_file(Some(&store_id), &file)).await?;
        self.remove_vectors(id, file_id);
        Ok(store)
    }

    pub async fn delete_vector_store(&self, scope: &Scope, id: &str) -> EngineResult<()> {
        self.vector_store(scope, id)?;
        {
            let _guard = lock(&self.inner.documents.vector_lock);
            self.inner.store.delete_vector_store(id)?;
        }
        let chunks = self.inner.documents.chunks.clone();
        let store_id = id.to_string();
        blocking(move || chunks.remove_store(&store_id)).await?;
        let dir = agentdeck_search::vectors::store_dir(&self.vectors_root(), id);
        lock(&self.inner.documents.vector_cache).retain(|path, _| !path.starts_with(&dir));
        let _ = std::fs::remove_dir_all(dir);
        Ok(())
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
                self.remove_vectors(&store.id, id);
            }
        }
        {
            let _guard = lock(&self.inner.documents.vector_lock);
            self.inner.store.delete_file(id)?;
        }
        let chunks = self.inner.documents.chunks.clone();
        let file_id = id.to_string();
        blocking(move || chunks.remove_file(None, &file_id)).await
    }

    /// A read-modify-write of a stored vector store, under the lock every writer takes.
    fn change_vector_store(
        &self,
        id: &str,
        change: impl FnOnce(&mut VectorStore) -> EngineResult<()>,
    ) -> EngineResult<VectorStore> {
        let _guard = lock(&self.inner.documents.vector_lock);
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
            if outcome.is_ok() {
                lock(&engine.inner.documents.indexed_here)
                    .insert((store_id.clone(), file_id.clone()));
            }
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
            engine.inner.documents.ingested.send_modify(|n| *n += 1);
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
            let extracted = agentdeck_search::extract::extract(&file.content_type, &bytes)
                .map_err(|e| e.to_string())?;
            Ok::<_, String>((file, chunk(&extracted, CHUNK_WORDS, OVERLAP_WORDS)))
        });
        let (file, chunks) = match tokio::time::timeout(EXTRACT_TIMEOUT, read).await {
            Err(_) => return Err("reading the file took longer than 60 s".into()),
            Ok(Err(_)) => return Err("the file could not be read (the reader failed)".into()),
            Ok(Ok(read)) => read?,
        };
        // With an embeddings model, the chunks' vectors are written whole first; the
        // commit below makes the file searchable (and removes them if it fails).
        let vectors_file = self.vectors_path(store_id, file_id);
        if let Some(embedder) = &self.inner.documents.embedder {
            let texts: Vec<String> = chunks.iter().map(|c| c.text.clone()).collect();
            let vectors = tokio::select! {
                vectors = embedder.embed(&texts) => vectors?,
                _ = self.inner.shutdown.cancelled() => return Err("the runtime stopped".into()),
            };
            let path = vectors_file.clone();
            tokio::task::spawn_blocking(move || agentdeck_search::vectors::write(&path, &vectors))
                .await
                .map_err(|_| "the vectors could not be written".to_string())?
                .map_err(|err| format!("the vectors could not be written: {err}"))?;
        }
        self.forget_vectors(&vectors_file);
        let index = self.inner.documents.chunks.clone();
        let engine = self.clone();
        let (store_id, file_id) = (store_id.to_string(), file_id.to_string());
        let count = chunks.len() as u64;
        let committed = tokio::task::spawn_blocking(move || {
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
        .map_err(|_| "the index writer failed".to_string())
        .and_then(|result| result.map_err(|err| err.to_string()));
        if committed.is_err() {
            let _ = std::fs::remove_file(&vectors_file);
        }
        committed.map(|_| count)
    }

    /// In a cluster: reads into this node's chunk index the files of `stores` that
    /// another node read (their contents are in the shared files folder), until
    /// `deadline`; a file that cannot be read here is left out of this node's answers.
    async fn index_here(&self, stores: &[String], deadline: tokio::time::Instant) {
        for store_id in stores {
            let Ok(Some(store)) = self.inner.store.vector_store(store_id) else {
                continue;
            };
            for file in store.files {
                let pair = (store_id.clone(), file.file_id.clone());
                if file.status != IngestStatus::Completed
                    || lock(&self.inner.documents.indexed_here).contains(&pair)
                {
                    continue;
                }
                let read = tokio::time::timeout_at(
                    deadline,
                    self.read_into_index(store_id, &file.file_id),
                )
                .await;
                match read {
                    Ok(Ok(_)) => {
                        lock(&self.inner.documents.indexed_here).insert(pair);
                    }
                    Ok(Err(why)) => tracing::warn!(
                        "file {} of {store_id} cannot be read on this node ({why}): is \
                         DATA_DIR/files shared between the nodes?",
                        file.file_id
                    ),
                    Err(_) => return,
                }
            }
        }
    }

    fn vectors_root(&self) -> std::path::PathBuf {
        self.inner.store.dir().join("search").join("vectors")
    }

    fn vectors_path(&self, store_id: &str, file_id: &str) -> std::path::PathBuf {
        agentdeck_search::vectors::path(&self.vectors_root(), store_id, file_id)
    }

    fn forget_vectors(&self, path: &std::path::Path) {
        lock(&self.inner.documents.vector_cache).remove(path);
    }

    /// Removes a file's vectors in a store (they go with its chunks).
    fn remove_vectors(&self, store_id: &str, file_id: &str) {
        let path = self.vectors_path(store_id, file_id);
        self.forget_vectors(&path);
        match std::fs::remove_file(&path) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
                tracing::warn!("vectors of {file_id} in {store_id}: {err}")
            }
            _ => {}
        }
    }

    /// A file's chunk vectors, read once and kept.
    fn vectors(
        &self,
        store_id: &str,
        file_id: &str,
    ) -> Option<std::sync::Arc<agentdeck_search::vectors::ChunkVectors>> {
        let path = self.vectors_path(store_id, file_id);
        if let Some(found) = lock(&self.inner.documents.vector_cache).get(&path) {
            return Some(found.clone());
        }
        let read = std::sync::Arc::new(agentdeck_search::vectors::read(&path).ok()?);
        lock(&self.inner.documents.vector_cache).insert(path, read.clone());
        Some(read)
    }

    /// At start: files whose reading a stop interrupted are read again, and every file
    /// when the chunk index was made new (missing, or an older build's).
    pub(super) fn resume_ingestion(&self) -> EngineResult<()> {
        for store in self.inner.store.vector_stores(None)? {
            // In a cluster the files' state is every node's: a node whose own index is
            // new reads them when a search needs them (`index_here`), not all again.
            let alone = self.inner.options.cluster.is_none();
            let store = if alone && self.inner.documents.chunks.fresh && !store.files.is_empty() {
                self.change_vector_store(&store.id, |store| {
                    for file in &mut store.files {
                        *file = pending(&file.file_id);
                    }
                    Ok(())
                })?
            } else {
                store
            };
            for file in &store.files {
                if file.status == IngestStatus::InProgress {
                    self.ingest(&store.id, &file.file_id);
                }
            }
        }
        Ok(())
    }

    /// The thread's own store, if its messages attached documents (one lookup, however
    /// many stores the project has).
    pub(super) fn thread_vector_store(&self, thread: &Thread) -> Option<VectorStore> {
        self.inner
            .store
            .thread_vector_store(&thread.id)
            .ok()
            .flatten()
            .filter(|store| store.project_id == thread.project_id)
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
                let store = new_store(
                    thread.project_id.clone(),
                    format!("Documents of {}", thread.id),
                    Some(thread.id.clone()),
                    Vec::new(),
                );
                let _guard = lock(&self.inner.documents.vector_lock);
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
        let mut ingested = self.inner.documents.ingested.subscribe();
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
        if self.inner.options.cluster.is_some() {
            self.index_here(&found, deadline).await;
        }
        // With an embeddings model: the query's vector too (BM25 alone if it fails).
        let mut ranking = "bm25".to_string();
        let query_vector = match &self.inner.documents.embedder {
            Some(embedder) => match embedder.embed(&[query.to_string()]).await {
                Ok(mut vectors) => {
                    ranking = format!("hybrid: bm25 and {}", embedder.describe());
                    vectors.pop()
                }
                Err(why) => {
                    ranking = format!("bm25 (the query could not be embedded: {why})");
                    None
                }
            },
            None => None,
        };
        let engine = self.clone();
        let (ids, text) = (found.clone(), query.to_string());
        let hits = tokio::task::spawn_blocking(move || match query_vector {
            Some(vector) => engine.hybrid_search(&ids, &text, &vector),
            None => engine
                .inner
                .documents
                .chunks
                .search(&ids, &text, FILE_SEARCH_RESULTS)
                .map_err(|err| err.to_string()),
        })
        .await
        .map_err(|_| "the search failed".to_string())??;
        // A file in two of the stores searched (the assistant's and the thread's) is one
        // source: each of its passages is cited once, where it ranked best.
        let mut seen = std::collections::HashSet::new();
        let hits: Vec<ChunkHit> = hits
            .into_iter()
            .filter(|hit| seen.insert((hit.file_id.clone(), hit.chunk)))
            .collect();
        Ok(FileSearchOutcome {
            query: query.to_string(),
            searched: found,
            missing,
            hits,
            ranking,
        })
    }

    /// BM25 and vector similarity ranked together (reciprocal rank fusion): what the
    /// words match and what the meaning matches both count.
    fn hybrid_search(
        &self,
        store_ids: &[String],
        query: &str,
        vector: &[f32],
    ) -> Result<Vec<ChunkHit>, String> {
        const CANDIDATES: usize = 20;
        let index = &self.inner.documents.chunks;
        let by_words = index
            .search(store_ids, query, CANDIDATES)
            .map_err(|err| err.to_string())?;
        let mut by_meaning: Vec<((String, String, u64), f32)> = Vec::new();
        for store_id in store_ids {
            let Ok(Some(store)) = self.inner.store.vector_store(store_id) else {
                continue;
            };
            for file in store
                .files
                .iter()
                .filter(|f| f.status == IngestStatus::Completed)
            {
                let Some(vectors) = self.vectors(store_id, &file.file_id) else {
                    continue;
                };
                for (ordinal, similarity) in vectors.nearest(vector, CANDIDATES) {
                    by_meaning.push((
                        (store_id.clone(), file.file_id.clone(), ordinal),
                        similarity,
                    ));
                }
            }
        }
        by_meaning.sort_by(|a, b| b.1.total_cmp(&a.1));
        by_meaning.truncate(CANDIDATES);
        let key = |hit: &ChunkHit| (hit.vector_store_id.clone(), hit.file_id.clone(), hit.chunk);
        let fused = agentdeck_search::vectors::fuse(
            &[
                by_words.iter().map(key).collect(),
                by_meaning.iter().map(|(k, _)| k.clone()).collect(),
            ],
            FILE_SEARCH_RESULTS,
        );
        let mut hits = Vec::with_capacity(fused.len());
        for (wanted, score) in fused {
            let found = match by_words.iter().find(|h| key(h) == wanted) {
                Some(hit) => Some(hit.clone()),
                None => index
                    .chunk(&wanted.0, &wanted.1, wanted.2)
                    .map_err(|err| err.to_string())?,
            };
            if let Some(mut hit) = found {
                hit.score = (score * 10_000.0).round() / 10_000.0;
                hits.push(hit);
            }
        }
        Ok(hits)
    }
}

/// What one `file_search` call found.
pub(crate) struct FileSearchOutcome {
    pub query: String,
    pub searched: Vec<String>,
    pub missing: Vec<String>,
    pub hits: Vec<ChunkHit>,
    /// How the hits were ranked: `bm25`, or `hybrid: bm25 and MODEL (provider P)`.
    pub ranking: String,
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
            "ranking": self.ranking,
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

/// A store not yet written, its counts and status agreeing with `files`.
fn new_store(
    project_id: String,
    name: String,
    thread_id: Option<String>,
    files: Vec<VectorStoreFile>,
) -> VectorStore {
    let mut store = VectorStore {
        id: new_id("vs_"),
        object: "vector_store".into(),
        name,
        file_ids: Vec::new(),
        created_at: now_secs(),
        project_id,
        thread_id,
        status: IngestStatus::Completed,
        file_counts: FileCounts::default(),
        files,
    };
    store.settle();
    store
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
    work: impl FnOnce() -> agentdeck_search::index::IndexResult<()> + Send + 'static,
) -> EngineResult<()> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|_| EngineError::Conflict("the search index writer failed".into()))?
        .map_err(EngineError::from)
}
