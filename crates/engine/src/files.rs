//! Uploaded files: stored per project in the data dir, their type sniffed from their
//! bytes (never trusted from the name), served back whole.

use super::{Engine, EngineError, EngineResult, Scope};
use agentdeck_model::{FileObject, new_id, now_secs};

/// The type of a file from its first bytes: images, PDF and archives by their magic
/// numbers; text when it is UTF-8 (JSON when it parses, HTML when it looks like it).
pub fn sniff(bytes: &[u8]) -> &'static str {
    let starts = |magic: &[u8]| bytes.starts_with(magic);
    if starts(b"%PDF-") {
        "application/pdf"
    } else if starts(b"\x89PNG\r\n\x1a\n") {
        "image/png"
    } else if starts(b"\xff\xd8\xff") {
        "image/jpeg"
    } else if starts(b"GIF87a") || starts(b"GIF89a") {
        "image/gif"
    } else if starts(b"RIFF") && bytes.get(8..12) == Some(b"WEBP") {
        "image/webp"
    } else if starts(b"PK\x03\x04") {
        "application/zip"
    } else if let Ok(text) = std::str::from_utf8(bytes) {
        let head = text.trim_start();
        let lower: String = head
            .chars()
            .take(256)
            .collect::<String>()
            .to_ascii_lowercase();
        if (head.starts_with('{') || head.starts_with('['))
            && serde_json::from_str::<serde_json::Value>(text).is_ok()
        {
            "application/json"
        } else if lower.starts_with("<!doctype html") || lower.starts_with("<html") {
            "text/html"
        } else if text.contains('\0') {
            "application/octet-stream"
        } else {
            "text/plain"
        }
    } else {
        "application/octet-stream"
    }
}

/// Bytes of a file's start read to sniff it (and an image's header).
const IMAGE_HEAD: usize = 64 * 1024;

fn read_head(path: &std::path::Path, limit: usize) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut head = Vec::with_capacity(limit.min(64 * 1024));
    std::fs::File::open(path)?
        .take(limit as u64)
        .read_to_end(&mut head)?;
    Ok(head)
}

/// [`sniff`] of a file on disk, reading it in pieces: its magic number from its start;
/// UTF-8 (and whether it parses as JSON) checked through the whole of it.
pub fn sniff_file(path: &std::path::Path) -> std::io::Result<&'static str> {
    use std::io::Read;
    let head = read_head(path, 4096)?;
    match sniff(&head) {
        "text/plain" | "application/json" | "text/html" => {}
        "application/octet-stream" => {
            // Text cut inside a character at the end of the head is still text.
            let cut_inside =
                matches!(std::str::from_utf8(&head), Err(e) if e.error_len().is_none());
            if !cut_inside || head.contains(&0) {
                return Ok("application/octet-stream");
            }
        }
        binary => return Ok(binary),
    }
    // Text all the way? Pieces are checked with what a cut sequence carried over.
    let mut file = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut carry: Vec<u8> = Vec::new();
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        carry.extend_from_slice(&buf[..n]);
        if carry.contains(&0) {
            return Ok("application/octet-stream");
        }
        match std::str::from_utf8(&carry) {
            Ok(_) => carry.clear(),
            Err(err) if err.error_len().is_none() => {
                let keep = carry.split_off(err.valid_up_to());
                carry = keep;
            }
            Err(_) => return Ok("application/octet-stream"),
        }
    }
    if !carry.is_empty() {
        return Ok("application/octet-stream");
    }
    let text_head = String::from_utf8_lossy(&head);
    let start = text_head.trim_start();
    let lower: String = start
        .chars()
        .take(256)
        .collect::<String>()
        .to_ascii_lowercase();
    if start.starts_with('{') || start.starts_with('[') {
        let reader = std::io::BufReader::new(std::fs::File::open(path)?);
        if serde_json::from_reader::<_, serde::de::IgnoredAny>(reader).is_ok() {
            return Ok("application/json");
        }
    }
    if lower.starts_with("<!doctype html") || lower.starts_with("<html") {
        return Ok("text/html");
    }
    Ok("text/plain")
}

/// A file name as kept: its last path component, one line, at most 255 characters.
fn clean_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let base: String = agentdeck_model::text::one_line(base)
        .trim()
        .chars()
        .take(255)
        .collect();
    if base.is_empty() || base == "." || base == ".." {
        "upload".into()
    } else {
        base
    }
}

/// The most bytes of a text file given to the model inline; a longer one is searched.
pub(super) const INLINE_FILE_BYTES: u64 = 64 * 1024;

/// A text file small enough to give the model whole.
pub(super) fn inline_readable(file: &FileObject) -> bool {
    matches!(
        file.content_type.as_str(),
        "text/plain" | "application/json" | "text/html"
    ) && file.bytes <= INLINE_FILE_BYTES
}

/// A file whose text can be read into a vector store.
pub(super) fn searchable(file: &FileObject) -> bool {
    matches!(
        file.content_type.as_str(),
        "text/plain" | "application/json" | "text/html" | "application/pdf"
    )
}

impl Engine {
    /// Stores an upload in the caller's project (the admin names one with `project`).
    pub fn create_file(
        &self,
        scope: &Scope,
        project: Option<&str>,
        filename: &str,
        purpose: &str,
        contents: Vec<u8>,
    ) -> EngineResult<FileObject> {
        let written = self.inner.store.upload_path()?;
        if let Err(err) = std::fs::write(&written, &contents) {
            let _ = std::fs::remove_file(&written);
            return Err(EngineError::Store(err.into()));
        }
        self.create_file_written(scope, project, filename, purpose, &written)
    }

    /// Where an upload streamed from a client is written before it is kept (see
    /// [`Engine::create_file_written`]).
    pub fn upload_path(&self) -> EngineResult<std::path::PathBuf> {
        Ok(self.inner.store.upload_path()?)
    }

    /// Keeps the upload written at `written` (from [`Engine::upload_path`]), checked and
    /// sniffed from the file on disk without holding it in memory; `written` is gone
    /// afterwards, kept or refused.
    pub fn create_file_written(
        &self,
        scope: &Scope,
        project: Option<&str>,
        filename: &str,
        purpose: &str,
        written: &std::path::Path,
    ) -> EngineResult<FileObject> {
        let result = self.keep_written(scope, project, filename, purpose, written);
        if result.is_err() {
            let _ = std::fs::remove_file(written);
        }
        result
    }

    fn keep_written(
        &self,
        scope: &Scope,
        project: Option<&str>,
        filename: &str,
        purpose: &str,
        written: &std::path::Path,
    ) -> EngineResult<FileObject> {
        let project = self.target_project(scope, project)?;
        let bytes = std::fs::metadata(written)
            .map_err(|err| EngineError::Store(err.into()))?
            .len();
        let limit = self.config().limits.max_file_bytes;
        if bytes > limit {
            return Err(EngineError::invalid(
                format!("The file is {bytes} bytes; the most is {limit}."),
                "file",
            ));
        }
        if bytes == 0 {
            return Err(EngineError::invalid("The file is empty.", "file"));
        }
        let purpose = purpose.trim();
        if purpose.is_empty()
            || purpose.len() > 64
            || !purpose
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(EngineError::invalid(
                "purpose must be a word such as \"assistants\".",
                "purpose",
            ));
        }
        let content_type = sniff_file(written).map_err(|err| EngineError::Store(err.into()))?;
        let (width, height) = if super::images::is_image(content_type) {
            let head =
                read_head(written, IMAGE_HEAD).map_err(|err| EngineError::Store(err.into()))?;
            match super::images::dimensions(&head) {
                Some((w, h)) => (Some(w), Some(h)),
                None => {
                    return Err(EngineError::invalid(
                        format!(
                            "The file starts like {content_type} but its header is unreadable."
                        ),
                        "file",
                    ));
                }
            }
        } else {
            (None, None)
        };
        let file = FileObject {
            id: new_id("file_"),
            object: "file".into(),
            bytes,
            created_at: now_secs(),
            filename: clean_name(filename),
            purpose: purpose.to_string(),
            project_id: project.id,
            content_type: content_type.to_string(),
            width,
            height,
        };
        self.inner.store.put_file_written(&file, written)?;
        Ok(file)
    }

    /// A file the caller may see.
    pub fn file(&self, scope: &Scope, id: &str) -> EngineResult<FileObject> {
        match self.inner.store.file(id)? {
            Some(file) if scope.sees(&file.project_id) => Ok(file),
            _ => Err(EngineError::not_found("file", id)),
        }
    }

    /// The files the caller may see, newest first.
    pub fn files(&self, scope: &Scope) -> EngineResult<Vec<FileObject>> {
        Ok(self.inner.store.files(scope.project())?)
    }

    /// A file's bytes, with its metadata.
    pub fn file_contents(&self, scope: &Scope, id: &str) -> EngineResult<(FileObject, Vec<u8>)> {
        let file = self.file(scope, id)?;
        let contents = self.inner.store.file_contents(&file.id)?;
        Ok((file, contents))
    }

    /// Puts the files of a user message that are not given inline (or that its
    /// attachments ask `file_search` for) into the thread's own vector store.
    pub(super) fn index_message_files(
        &self,
        thread: &agentdeck_model::Thread,
        attachments: &[agentdeck_model::Attachment],
        content: Option<&agentdeck_model::Content>,
    ) -> EngineResult<()> {
        let asks_search = |id: &str| {
            attachments.iter().any(|a| {
                a.file_id == id
                    && a.tools.iter().any(|tool| {
                        tool.get("type").and_then(serde_json::Value::as_str) == Some("file_search")
                    })
            })
        };
        let mut wanted = Vec::new();
        for id in agentdeck_model::file_ids(attachments, content) {
            if let Some(file) = self.inner.store.file(id)? {
                if searchable(&file) && (!inline_readable(&file) || asks_search(id)) {
                    wanted.push(file.id);
                }
            }
        }
        self.attach_to_thread_store(thread, &wanted)
    }

    /// Every file a message names (attachments and file parts) is one of the thread's
    /// project: else a 404, and nothing is stored.
    pub(super) fn check_files(
        &self,
        project_id: &str,
        request: &agentdeck_model::requests::MessageCreate,
    ) -> EngineResult<()> {
        let ids = agentdeck_model::file_ids(&request.attachments, request.content.as_ref());
        for id in ids {
            self.file(&Scope::Project(project_id.to_string()), id)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn types_come_from_the_bytes() {
        assert_eq!(super::sniff(b"%PDF-1.7\n..."), "application/pdf");
        assert_eq!(super::sniff(b"\x89PNG\r\n\x1a\nrest"), "image/png");
        assert_eq!(super::sniff(b"RIFF\0\0\0\0WEBPVP8 "), "image/webp");
        assert_eq!(super::sniff(b"{\"a\": 1}"), "application/json");
        assert_eq!(super::sniff(b"<!DOCTYPE html><p>x"), "text/html");
        assert_eq!(super::sniff(b"plain words"), "text/plain");
        assert_eq!(super::sniff(b"\xff\xfe binary"), "application/octet-stream");
        assert_eq!(super::sniff(b"nul\0inside"), "application/octet-stream");
        assert_eq!(super::clean_name("../../etc/passwd"), "passwd");
        assert_eq!(super::clean_name("a\u{1b}[2Jb.txt"), "a[2Jb.txt");
        assert_eq!(super::clean_name(".."), "upload");
    }
}
