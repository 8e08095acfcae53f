//! Fuzzes the PagerDuty Events API v2 normalizers (events and change events): any bytes
//! are facts or a list of reasons, never a panic.
#![no_main]

use aftermath_core::{normalize_pagerduty, normalize_pagerduty_change, Timestamp};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let recorded = Timestamp::from_unix_seconds(1_795_000_000).unwrap();
    if let Err(reasons) = normalize_pagerduty(body, "scope", "actor", "generated", recorded) {
        assert!(!reasons.is_empty());
    }
    let _ = normalize_pagerduty_change(body, "scope", "actor", recorded);
});
