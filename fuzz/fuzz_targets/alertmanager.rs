//! Fuzzes the Alertmanager webhook normalizer: any bytes are facts or a refusal naming a
//! field, never a panic.
#![no_main]

use aftermath_core::{normalize_alertmanager, Timestamp};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let recorded = Timestamp::from_unix_seconds(1_795_000_000).unwrap();
    if let Err(refusal) = normalize_alertmanager(body, recorded) {
        assert!(!refusal.field.is_empty() && !refusal.message.is_empty());
    }
});
