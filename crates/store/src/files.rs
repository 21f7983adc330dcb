//! Uploaded files (metadata in the store, contents in `DATA_DIR/files`) and vector stores.

use super::{Store, StoreResult, decode};
use std::path::PathBuf;

impl Store {
    /// Stores a file: its contents first, written whole and synced, then its metadata, so
    /// listed metadata always has its contents.
    pub fn put_file(&self, file: &agentdeck_model::FileObject, contents: &[u8]) -> StoreResult<()> {
        let path = self.file_path(&file.id);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let temporary = path.with_extension("new");
        {
            use std::io::Write;
            let mut out = std::fs::File::create(&temporary)?;
            out.write_all(contents)?;
            out.sync_all()?;
        }
        std::fs::rename(&temporary, &path)?;
        self.inner
            .files
            .insert(file.id.as_bytes(), &self.encode(file)?)?;
        Ok(())
    }

    /// A new path for an upload being written, beside where files are kept (so the
    /// finished file is renamed into place, never copied).
    pub fn upload_path(&self) -> StoreResult<PathBuf> {
        let dir = self.inner.dir.join("files");
        std::fs::create_dir_all(&dir)?;
        Ok(dir.join(format!(
            "{}.upload",
            agentdeck_model::new_id("up_").to_lowercase()
        )))
    }

    /// Removes uploads left half-written by a process that died receiving them (older than
    /// `age`: another node sharing the folder may be receiving one now).
    pub fn sweep_uploads(&self, age: std::time::Duration) -> usize {
        let Ok(entries) = std::fs::read_dir(self.inner.dir.join("files")) else {
            return 0;
        };
        let mut removed = 0;
        for entry in entries.flatten() {
            let path = entry.path();
            let stale = path.extension().is_some_and(|e| e == "upload")
                && entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|at| at.elapsed().ok())
                    .is_some_and(|elapsed| elapsed > age);
            if stale && std::fs::remove_file(&path).is_ok() {
                removed += 1;
            }
        }
        removed
    }

    /// Keeps a file whose contents an upload wrote to `written` (from [`Store::upload_path`]):
    /// made durable, renamed into place, then listed.
    pub fn put_file_written(
        &self,
        file: &agentdeck_model::FileObject,
        written: &std::path::Path,
    ) -> StoreResult<()> {
        let path = self.file_path(&file.id);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::File::open(written)?.sync_all()?;
        std::fs::rename(written, &path)?;
        self.inner
            .files
            .insert(file.id.as_bytes(), &self.encode(file)?)?;
        Ok(())
    }

    pub fn file(&self, id: &str) -> StoreResult<Option<agentdeck_model::FileObject>> {
        self.get(&self.inner.files, "files", id.as_bytes())
    }

    /// The files of a project (every project's for `None`), newest first.
    pub fn files(&self, project_id: Option<&str>) -> StoreResult<Vec<agentdeck_model::FileObject>> {
        let mut files: Vec<agentdeck_model::FileObject> = self.all(&self.inner.files, "files")?;
        files.retain(|f| project_id.is_none_or(|p| p == f.project_id));
        files.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        Ok(files)
    }

    /// Removes a file's record, then its contents and what was made from them.
    pub fn delete_file(&self, id: &str) -> StoreResult<bool> {
        let existed = self.inner.files.remove(id.as_bytes())?.is_some();
        for path in [self.file_path(id), self.derived_path(id, "model")] {
            match std::fs::remove_file(path) {
                Err(err) if err.kind() != std::io::ErrorKind::NotFound => return Err(err.into()),
                _ => {}
            }
        }
        Ok(existed)
    }

    /// Where something made from a file is kept (`files/ID.SUFFIX`).
    pub fn derived_path(&self, id: &str, suffix: &str) -> PathBuf {
        let mut path = self.file_path(id).into_os_string();
        path.push(".");
        path.push(suffix);
        path.into()
    }

    pub fn put_vector_store(&self, store: &agentdeck_model::VectorStore) -> StoreResult<()> {
        self.inner
            .vector_stores
            .insert(store.id.as_bytes(), &self.encode(store)?)?;
        if let Some(thread_id) = &store.thread_id {
            self.inner
                .thread_stores
                .insert(thread_id.as_bytes(), store.id.as_bytes())?;
        }
        Ok(())
    }

    /// The vector store a thread's attachments made, if any.
    pub fn thread_vector_store(
        &self,
        thread_id: &str,
    ) -> StoreResult<Option<agentdeck_model::VectorStore>> {
        match self.inner.thread_stores.get(thread_id.as_bytes())? {
            Some(id) => self.vector_store(&String::from_utf8_lossy(&id)),
            None => Ok(None),
        }
    }

    pub fn vector_store(&self, id: &str) -> StoreResult<Option<agentdeck_model::VectorStore>> {
        self.get(&self.inner.vector_stores, "vector_stores", id.as_bytes())
    }

    /// Vector stores of a project (every project with `None`), newest first.
    pub fn vector_stores(
        &self,
        project_id: Option<&str>,
    ) -> StoreResult<Vec<agentdeck_model::VectorStore>> {
        let mut stores: Vec<agentdeck_model::VectorStore> =
            self.all(&self.inner.vector_stores, "vector_stores")?;
        stores.retain(|v| project_id.is_none_or(|p| p == v.project_id));
        stores.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        Ok(stores)
    }

    pub fn delete_vector_store(&self, id: &str) -> StoreResult<bool> {
        let removed = self.inner.vector_stores.remove(id.as_bytes())?;
        if let Some(bytes) = &removed {
            let store: agentdeck_model::VectorStore =
                decode("vector_stores", id.as_bytes(), bytes)?;
            if let Some(thread_id) = store.thread_id {
                self.inner.thread_stores.remove(thread_id.as_bytes())?;
            }
        }
        Ok(removed.is_some())
    }

    pub fn file_contents(&self, id: &str) -> StoreResult<Vec<u8>> {
        Ok(std::fs::read(self.file_path(id))?)
    }

    fn file_path(&self, id: &str) -> PathBuf {
        self.inner
            .dir
            .join("files")
            .join(agentdeck_model::path_segment(id))
    }
}
