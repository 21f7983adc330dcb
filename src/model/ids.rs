use rand::Rng;
use std::time::{SystemTime, UNIX_EPOCH};

const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fn random_chars(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// A new object id: `prefix` + 24 random base62 characters (`thread_` + ...).
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}{}", random_chars(24))
}

/// A new secret (API key) with 192 bits of randomness.
pub fn new_secret(prefix: &str) -> String {
    format!("{prefix}{}", random_chars(32))
}

/// Whether `id` looks like one of ours: the prefix, then base62 characters.
pub fn is_id_with_prefix(id: &str, prefix: &str) -> bool {
    id.strip_prefix(prefix)
        .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
}

pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
