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

/// An id as one safe path segment: itself when it is made of letters, digits, `_` and
/// `-` (ours always are), else a hash of it. Ids a provider chose (tool call ids) can be
/// anything, `../..` included; they must never name a path outside their folder.
pub fn path_segment(id: &str) -> String {
    let plain = !id.is_empty()
        && id.len() <= 100
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if plain {
        id.to_string()
    } else {
        format!("id-{}", &hash_key(id)[..32])
    }
}

/// Unix seconds as RFC 3339 in UTC (`2026-06-01T12:00:00Z`).
pub fn rfc3339(secs: u64) -> String {
    // Days to a civil date (Howard Hinnant's algorithm, proleptic Gregorian calendar).
    let days = (secs / 86_400) as i64;
    let rest = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
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

#[cfg(test)]
mod tests {
    #[test]
    fn ids_as_path_segments_stay_in_their_folder() {
        assert_eq!(super::path_segment("call_abc-1"), "call_abc-1");
        for hostile in [
            "../../etc/passwd",
            "a/b",
            "",
            "..",
            "x\u{0}y",
            &"x".repeat(200),
        ] {
            let segment = super::path_segment(hostile);
            assert!(segment.starts_with("id-") && !segment.contains('/') && !segment.contains('.'));
        }
        assert_eq!(
            super::path_segment("a/b"),
            super::path_segment("a/b"),
            "stable"
        );
    }

    #[test]
    fn rfc3339_dates() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(1_780_315_200), "2026-06-01T12:00:00Z");
        assert_eq!(super::rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }
}
