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

pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The stored form of an API key (and of any secret used as a key): SHA-256, hex.
pub fn hash_key(secret: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(secret.as_bytes()))
}
