//! The API's JSON bodies, sent to the real server on a loopback port (the first byte
//! picks the route): a JSON answer, never a 5xx.
#![no_main]
#[path = "../../tests/checks/mod.rs"]
mod checks;

use std::sync::OnceLock;

static API: OnceLock<checks::Api> = OnceLock::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Some((route, body)) = data.split_first() {
        API.get_or_init(checks::Api::start).body(*route, body);
    }
});
