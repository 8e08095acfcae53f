//! Fuzzes the generic JSON and CloudEvents normalizers (structured and batch): any bytes
//! are facts or a refusal naming a field, never a panic.
#![no_main]

use aftermath_core::{normalize_cloudevents, normalize_generic, CloudEventsMode, Timestamp};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let recorded = Timestamp::from_unix_seconds(1_795_000_000).unwrap();
    if let Err(refusal) = normalize_generic(body, "tenant", recorded) {
        assert!(!refusal.field.is_empty());
    }
    for mode in [CloudEventsMode::Structured, CloudEventsMode::Batch] {
        if let Err(refusal) = normalize_cloudevents(body, mode, "tenant", recorded) {
            assert!(!refusal.field.is_empty());
        }
    }
});
