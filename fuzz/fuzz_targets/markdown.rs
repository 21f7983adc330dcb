//! The markdown renderer at any width (the first byte) on any reply.
#![no_main]
#[path = "../../tests/checks/mod.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Some((width, text)) = data.split_first() {
        checks::markdown(*width, text);
    }
});
