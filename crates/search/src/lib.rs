//! Documents and search: the text of uploaded files, cut into chunks; the chunk index of
//! vector stores; the index of every thread's messages. tantivy indexes beside the store,
//! rebuilt from it when missing. No policy here: the engine decides who sees what.

pub mod chunks;
pub mod extract;
pub mod index;
pub mod messages;
pub mod stores;
pub mod vectors;
