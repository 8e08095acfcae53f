//! Property tests of the PagerDuty Events API v2 and change-event normalizers: no input
//! panics, refusals always say why, and accepted events round-trip with stable ids.

use aftermath_core::{normalize_pagerduty, normalize_pagerduty_change, Fact, Timestamp};
use proptest::prelude::*;

fn at() -> Timestamp {
    Timestamp::from_unix_seconds(1_795_000_000).unwrap()
}

prop_compose! {
    fn event()(
        action in prop::sample::select(vec!["trigger", "acknowledge", "resolve"]),
        dedup_key in "[a-z0-9-]{1,40}",
        summary in "\\PC{1,80}",
        source in "[a-z0-9.-]{1,30}",
        severity in prop::sample::select(vec!["critical", "error", "warning", "info"]),
        group in proptest::option::of("[a-z-]{1,20}"),
    ) -> String {
        serde_json::json!({
            "routing_key": "r", "event_action": action, "dedup_key": dedup_key,
            "payload": {"summary": summary, "source": source, "severity": severity, "group": group},
        })
        .to_string()
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_and_refusals_say_why(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        if let Err(errors) = normalize_pagerduty(&bytes, "t", "a", "g", at()) {
            prop_assert!(!errors.is_empty() && errors.iter().all(|e| !e.is_empty()));
        }
        if let Err(errors) = normalize_pagerduty_change(&bytes, "t", "a", at()) {
            prop_assert!(!errors.is_empty());
        }
    }

    #[test]
    fn accepted_events_round_trip_with_stable_ids(body in event()) {
        let first = normalize_pagerduty(body.as_bytes(), "t", "a", "g", at()).unwrap();
        let again = normalize_pagerduty(body.as_bytes(), "t", "a", "g", at()).unwrap();
        prop_assert_eq!(&first, &again);
        for fact in &first.facts {
            prop_assert_eq!(&Fact::from_json(&fact.to_json()).unwrap(), fact);
            prop_assert!(fact.stream_key.starts_with("pagerduty:t/"));
        }
    }
}
