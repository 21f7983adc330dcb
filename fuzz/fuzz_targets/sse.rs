//! The SSE parser: the same events however the bytes are cut; our frames parse back.
#![no_main]
#[path = "../../tests/checks/mod.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // The first bytes choose the cuts; the rest is the stream.
    let split = data
        .first()
        .map_or(0, |n| usize::from(*n % 16))
        .min(data.len());
    let (cuts, stream) = data.split_at(split);
    checks::sse(stream, cuts);
});
