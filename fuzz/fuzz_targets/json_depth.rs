//! Fuzzes the nesting check that runs before every JSON parse: it never panics, and what it
//! accepts serde_json parses without hitting its own recursion limit.
#![no_main]

use aftermath_core::check_json_depth;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    if check_json_depth(body).is_ok() {
        if let Err(error) = serde_json::from_slice::<serde_json::Value>(body) {
            assert!(!error.to_string().contains("recursion limit"), "{error}");
        }
    }
});
