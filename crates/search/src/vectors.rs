//! The vectors of a file's chunks in a vector store (when an embeddings model is
//! configured): one file per store and file, `search/vectors/STORE/FILE.f32`, written
//! whole before the chunks are committed; ranked by brute force (cosine of unit vectors).

use std::path::{Path, PathBuf};

/// Vectors of one file's chunks, in chunk order.
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkVectors {
    pub dims: usize,
    /// `count × dims` values.
    pub values: Vec<f32>,
}

impl ChunkVectors {
    pub fn count(&self) -> usize {
        self.values.len().checked_div(self.dims).unwrap_or(0)
    }

    /// (chunk ordinal, similarity) of the `limit` nearest to `query`, nearest first.
    pub fn nearest(&self, query: &[f32], limit: usize) -> Vec<(u64, f32)> {
        if query.len() != self.dims || self.dims == 0 {
            return Vec::new();
        }
        let mut scored: Vec<(u64, f32)> = self
            .values
            .chunks_exact(self.dims)
            .enumerate()
            .map(|(i, v)| (i as u64, v.iter().zip(query).map(|(a, b)| a * b).sum()))
            .collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1));
        scored.truncate(limit);
        scored
    }
}

/// Where a store's vector files are.
pub fn store_dir(root: &Path, store_id: &str) -> PathBuf {
    root.join(segment(store_id))
}

pub fn path(root: &Path, store_id: &str, file_id: &str) -> PathBuf {
    store_dir(root, store_id).join(format!("{}.f32", segment(file_id)))
}

/// An id as one safe path segment.
fn segment(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Writes the vectors whole (a temporary file renamed into place, synced).
pub fn write(path: &Path, vectors: &[Vec<f32>]) -> std::io::Result<()> {
    use std::io::Write;
    let dims = vectors.first().map_or(0, Vec::len);
    let mut bytes = Vec::with_capacity(8 + vectors.len() * dims * 4);
    bytes.extend_from_slice(&(dims as u32).to_le_bytes());
    bytes.extend_from_slice(&(vectors.len() as u32).to_le_bytes());
    for vector in vectors {
        for value in vector {
            bytes.extend_from_slice(&value.to_le_bytes());
        }
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let temporary = path.with_extension("new");
    let mut file = std::fs::File::create(&temporary)?;
    file.write_all(&bytes)?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)
}

/// Reads vectors back; a file that does not hold what its header says is an error.
pub fn read(path: &Path) -> std::io::Result<ChunkVectors> {
    let bytes = std::fs::read(path)?;
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "a damaged vectors file");
    let header = |at: usize| -> std::io::Result<usize> {
        let four: [u8; 4] = bytes
            .get(at..at + 4)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(bad)?;
        Ok(u32::from_le_bytes(four) as usize)
    };
    let (dims, count) = (header(0)?, header(4)?);
    if bytes.len() != 8 + dims * count * 4 {
        return Err(bad());
    }
    let values = bytes[8..]
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    Ok(ChunkVectors { dims, values })
}

/// Reciprocal rank fusion of ranked lists of keys: each list adds `1 / (60 + rank)`.
pub fn fuse<K: Clone + Eq + std::hash::Hash>(lists: &[Vec<K>], limit: usize) -> Vec<(K, f32)> {
    let mut scores: Vec<(K, f32)> = Vec::new();
    let mut at: std::collections::HashMap<K, usize> = std::collections::HashMap::new();
    for list in lists {
        for (rank, key) in list.iter().enumerate() {
            let add = 1.0 / (60.0 + rank as f32 + 1.0);
            match at.get(key) {
                Some(&i) => scores[i].1 += add,
                None => {
                    at.insert(key.clone(), scores.len());
                    scores.push((key.clone(), add));
                }
            }
        }
    }
    scores.sort_by(|a, b| b.1.total_cmp(&a.1));
    scores.truncate(limit);
    scores
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_round_trip_and_rank_by_cosine() {
        let dir = tempfile::tempdir().unwrap();
        let file = path(dir.path(), "vs_1", "file/../x");
        assert!(file.starts_with(dir.path().join("vs_1")));
        write(&file, &[vec![1.0, 0.0], vec![0.0, 1.0], vec![0.6, 0.8]]).unwrap();
        let read = read(&file).unwrap();
        assert_eq!(read.count(), 3);
        assert_eq!(read.nearest(&[0.0, 1.0], 2), vec![(1, 1.0), (2, 0.8)]);
        assert!(read.nearest(&[1.0], 2).is_empty(), "another model's size");
        std::fs::write(&file, b"\x02\0\0\0\x09\0\0\0short").unwrap();
        assert!(super::read(&file).is_err());
    }

    #[test]
    fn fusion_rewards_agreement() {
        let fused = fuse(&[vec!["a", "b", "c"], vec!["c", "a", "d"]], 3);
        let keys: Vec<&str> = fused.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, vec!["a", "c", "b"]);
    }
}
