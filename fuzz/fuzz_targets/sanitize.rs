//! The text sanitizer: nothing a terminal acts on survives it.
#![no_main]
#[path = "../../tests/checks/mod.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::sanitize(data));
