//! Fuzzes the GitHub Actions webhook normalizer for both event types: any bytes are facts,
//! an ignored delivery or a refusal naming a field, never a panic.
#![no_main]

use aftermath_core::{normalize_github, Timestamp};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let recorded = Timestamp::from_unix_seconds(1_795_000_000).unwrap();
    for event in ["workflow_run", "workflow_job"] {
        if let Err(refusal) = normalize_github(event, body, recorded) {
            assert!(!refusal.field.is_empty());
        }
    }
});
