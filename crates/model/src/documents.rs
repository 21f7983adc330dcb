//! Files, vector stores and search hits: uploads as stored, what a message names, the
//! stores `file_search` ranks, and matches of the search across threads.

use super::{Attachment, Content, ContentPart, HasId};
use serde::{Deserialize, Serialize};

/// A file a message names, described.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FileSummary {
    pub file_id: String,
    pub filename: String,
    pub content_type: String,
    pub bytes: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
}

impl From<&FileObject> for FileSummary {
    fn from(file: &FileObject) -> Self {
        FileSummary {
            file_id: file.id.clone(),
            filename: file.filename.clone(),
            content_type: file.content_type.clone(),
            bytes: file.bytes,
            width: file.width,
            height: file.height,
        }
    }
}

/// The ids of the files a message names: its attachments, then its `file` parts.
pub fn file_ids<'a>(attachments: &'a [Attachment], content: Option<&'a Content>) -> Vec<&'a str> {
    let mut ids: Vec<&str> = attachments.iter().map(|a| a.file_id.as_str()).collect();
    if let Some(Content::Parts(parts)) = content {
        ids.extend(parts.iter().filter_map(|part| match part {
            ContentPart::File { file_id } => Some(file_id.as_str()),
            ContentPart::Text { .. } => None,
        }));
    }
    ids
}

/// An uploaded file (OpenAI's file object, plus the project it belongs to and the type
/// sniffed from its content).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FileObject {
    pub id: String,
    pub object: String,
    pub bytes: u64,
    pub created_at: u64,
    pub filename: String,
    pub purpose: String,
    pub project_id: String,
    /// From the bytes, never from the name: `application/pdf`, `image/png`, `text/plain`...
    pub content_type: String,
    /// An image's size in pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
}

impl HasId for FileObject {
    fn id(&self) -> &str {
        &self.id
    }
}

/// A searchable collection of files: their text in chunks, ranked by `file_search`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct VectorStore {
    pub id: String,
    pub object: String,
    pub name: String,
    pub file_ids: Vec<String>,
    pub created_at: u64,
    pub project_id: String,
    /// The thread whose attachments made this store, if a thread's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<String>,
    /// `in_progress` while any file is being read, else `completed`.
    pub status: IngestStatus,
    pub file_counts: FileCounts,
    /// Each file's ingestion, in the order of `file_ids`.
    pub files: Vec<VectorStoreFile>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum IngestStatus {
    InProgress,
    Completed,
    Failed,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct FileCounts {
    pub in_progress: u64,
    pub completed: u64,
    pub failed: u64,
    pub total: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct VectorStoreFile {
    pub file_id: String,
    pub status: IngestStatus,
    /// Chunks indexed (0 until completed).
    pub chunks: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

impl VectorStore {
    /// Makes `file_ids`, `status` and `file_counts` agree with `files`.
    pub fn settle(&mut self) {
        self.file_ids = self.files.iter().map(|f| f.file_id.clone()).collect();
        let count = |status| self.files.iter().filter(|f| f.status == status).count() as u64;
        self.file_counts = FileCounts {
            in_progress: count(IngestStatus::InProgress),
            completed: count(IngestStatus::Completed),
            failed: count(IngestStatus::Failed),
            total: self.files.len() as u64,
        };
        self.status = if self.file_counts.in_progress > 0 {
            IngestStatus::InProgress
        } else {
            IngestStatus::Completed
        };
    }
}

impl HasId for VectorStore {
    fn id(&self) -> &str {
        &self.id
    }
}

/// What a document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HitKind {
    Message,
    ToolOutput,
    Title,
}

impl HitKind {
    pub fn as_str(self) -> &'static str {
        match self {
            HitKind::Message => "message",
            HitKind::ToolOutput => "tool_output",
            HitKind::Title => "title",
        }
    }

    pub fn parse(text: &str) -> HitKind {
        match text {
            "tool_output" => HitKind::ToolOutput,
            "title" => HitKind::Title,
            _ => HitKind::Message,
        }
    }
}

/// A match, as `GET /v2/search` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchHit {
    pub thread_id: String,
    /// Absent for a match in a thread's title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    pub assistant_id: String,
    pub kind: HitKind,
    pub snippet: String,
    /// Byte ranges of `snippet` that matched.
    pub highlights: Vec<[usize; 2]>,
    pub score: f32,
    pub created_at: u64,
}
