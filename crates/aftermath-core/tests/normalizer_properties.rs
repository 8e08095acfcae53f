//! Property tests of the Alertmanager normalizer: it never panics on any input, and every
//! webhook it accepts becomes facts that round-trip through their canonical JSON.

use std::collections::BTreeMap;

use aftermath_core::{normalize_alertmanager, Fact, FactBody, Timestamp};
use proptest::prelude::*;

fn recorded() -> Timestamp {
    Timestamp::from_unix_seconds(1_795_000_000).unwrap()
}

fn label_map() -> impl Strategy<Value = BTreeMap<String, String>> {
    prop::collection::btree_map("[a-z_]{1,8}", "\\PC{0,12}", 0..4)
}

prop_compose! {
    fn alert()(
        resolved in any::<bool>(),
        labels in label_map(),
        annotations in label_map(),
        start in 0i64..4_000_000_000,
        length in 0i64..100_000,
        fingerprint in "[0-9a-f]{16}",
    ) -> serde_json::Value {
        let starts_at = Timestamp::from_unix_seconds(start).unwrap();
        let ends_at = if resolved {
            Timestamp::from_unix_seconds(start + length).unwrap().to_string()
        } else {
            "0001-01-01T00:00:00Z".to_owned()
        };
        serde_json::json!({
            "status": if resolved { "resolved" } else { "firing" },
            "labels": labels, "annotations": annotations,
            "startsAt": starts_at.to_string(), "endsAt": ends_at,
            "generatorURL": "http://prom", "fingerprint": fingerprint,
        })
    }
}

prop_compose! {
    fn webhook()(
        group_key in "[a-z]\\PC{0,39}",
        alerts in prop::collection::vec(alert(), 1..6),
        common_labels in label_map(),
        common_annotations in label_map(),
        truncated in 0u64..5,
    ) -> (String, usize) {
        let count = alerts.len();
        let body = serde_json::json!({
            "version": "4", "groupKey": group_key, "truncatedAlerts": truncated,
            "status": "firing", "receiver": "r", "groupLabels": {},
            "commonLabels": common_labels, "commonAnnotations": common_annotations,
            "externalURL": "http://am", "alerts": alerts,
        });
        (body.to_string(), count)
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = normalize_alertmanager(&bytes, recorded());
    }

    #[test]
    fn arbitrary_json_is_refused_with_a_named_field(value in "\\PC{0,200}") {
        if let Err(error) = normalize_alertmanager(value.as_bytes(), recorded()) {
            prop_assert!(!error.field.is_empty());
            prop_assert!(!error.message.is_empty());
        }
    }

    #[test]
    fn accepted_webhooks_become_round_tripping_facts_on_one_stream((body, count) in webhook()) {
        let facts = normalize_alertmanager(body.as_bytes(), recorded()).unwrap();
        prop_assert_eq!(facts.len(), count + 1);
        let stream = &facts[0].stream_key;
        for fact in &facts {
            prop_assert_eq!(&fact.stream_key, stream);
            let json = fact.to_json();
            let back = Fact::from_json(&json).unwrap();
            prop_assert_eq!(&back, fact);
            prop_assert_eq!(back.to_json(), json);
        }
        let raw_bodies = facts
            .iter()
            .filter(|f| matches!(&f.body, FactBody::NotificationReceived(n) if n.raw_body == body))
            .count();
        prop_assert_eq!(raw_bodies, 1, "the raw body is kept exactly once");
        // Normalizing the same body again yields the same ids: resends are recognisable.
        let again = normalize_alertmanager(body.as_bytes(), recorded()).unwrap();
        let ids = |facts: &[Fact]| facts.iter().map(|f| f.fact_id).collect::<Vec<_>>();
        prop_assert_eq!(ids(&facts), ids(&again));
    }
}
