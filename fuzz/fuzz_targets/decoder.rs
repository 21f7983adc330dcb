//! Each provider's stream decoder (the first byte picks which) on any stream.
#![no_main]
#[path = "../../tests/checks/mod.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Some((which, stream)) = data.split_first() {
        checks::decoder(*which, stream);
    }
});
