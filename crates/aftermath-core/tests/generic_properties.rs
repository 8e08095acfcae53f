//! Property tests of the generic and CloudEvents normalizers: they never panic, they refuse
//! with a named field or accept into round-tripping facts, and a resent body yields the
//! same fact ids.

use std::collections::BTreeMap;

use aftermath_core::{
    normalize_cloudevents, normalize_generic, CloudEventsMode, Fact, FactBody, IngestError,
    NormalizedGenericEvent, Timestamp,
};
use proptest::prelude::*;
use serde_json::{json, Value};

const TENANT: &str = "8d6f3c1e-1111-4222-8333-944445555666";

fn recorded() -> Timestamp {
    Timestamp::from_unix_seconds(1_795_000_000).unwrap()
}

fn later() -> Timestamp {
    Timestamp::from_unix_seconds(1_795_003_600).unwrap()
}

fn ids(events: &[NormalizedGenericEvent]) -> Vec<uuid::Uuid> {
    events
        .iter()
        .flat_map(|event| event.facts.iter().map(|fact| fact.fact_id))
        .collect()
}

fn check_outcome(outcome: &Result<Vec<NormalizedGenericEvent>, IngestError>) {
    match outcome {
        Ok(events) => {
            assert!(!events.is_empty());
            for event in events {
                assert!(!event.facts.is_empty());
                assert!(event.facts.iter().all(|f| f.stream_key == event.stream_key));
            }
        }
        Err(error) => {
            assert!(!error.field.is_empty(), "{error:?}");
            assert!(!error.message.is_empty(), "{error:?}");
        }
    }
}

fn label_map() -> impl Strategy<Value = BTreeMap<String, String>> {
    prop::collection::btree_map("[a-z_]{1,8}", "\\PC{0,12}", 0..4)
}

prop_compose! {
    /// A valid generic event; optional fields present or not.
    fn generic_event()(
        resolved in any::<bool>(),
        title in prop::option::of("[A-Za-z][A-Za-z0-9 %.]{0,40}"),
        dedup_key in prop::option::of("[a-z0-9][a-z0-9._/-]{0,30}"),
        severity in prop::option::of("critical|warning|info|error|p1|whatever"),
        service in prop::option::of("[a-z]{1,10}"),
        description in prop::option::of("\\PC{0,40}"),
        labels in prop::option::of(label_map()),
        occurred_at in prop::option::of(0i64..4_000_000_000),
        source_url in prop::option::of("https://[a-z]{1,10}\\.example/[a-z]{0,10}"),
        extra in prop::option::of(any::<i64>()),
    ) -> Value {
        // Firing needs a title; a keyless resolve needs one to derive the key from.
        let title = match (&title, &dedup_key, resolved) {
            (None, _, false) | (None, None, true) => Some("Something is wrong".to_owned()),
            _ => title,
        };
        let mut event = json!({"status": if resolved { "resolved" } else { "firing" }});
        let fields = [
            ("title", title.map(Value::from)),
            ("dedup_key", dedup_key.map(Value::from)),
            ("severity", severity.map(Value::from)),
            ("service", service.map(Value::from)),
            ("description", description.map(Value::from)),
            ("labels", labels.map(|labels| json!(labels))),
            (
                "occurred_at",
                occurred_at.map(|at| Timestamp::from_unix_seconds(at).unwrap().to_string().into()),
            ),
            ("source_url", source_url.map(Value::from)),
            ("unknown_extra_field", extra.map(Value::from)),
        ];
        for (name, value) in fields {
            if let Some(value) = value {
                event[name] = value;
            }
        }
        event
    }
}

prop_compose! {
    fn cloudevent()(
        data in generic_event(),
        id in "[A-Za-z0-9-]{1,20}",
        source in "/[a-z/]{0,20}",
        time in prop::option::of(0i64..4_000_000_000),
        subject in prop::option::of("[a-z]{1,10}"),
        json_content_type in any::<bool>(),
    ) -> Value {
        let mut event = json!({
            "specversion": "1.0", "id": id, "source": source,
            "type": "com.example.alert", "data": data,
        });
        if let Some(time) = time {
            event["time"] = Timestamp::from_unix_seconds(time).unwrap().to_string().into();
        }
        if let Some(subject) = subject {
            event["subject"] = subject.into();
        }
        if json_content_type {
            event["datacontenttype"] = "application/json".into();
        }
        event
    }
}

fn assert_round_trips(facts: &[Fact]) {
    for fact in facts {
        let json = fact.to_json();
        let back = Fact::from_json(&json).unwrap();
        assert_eq!(&back, fact);
        assert_eq!(back.to_json(), json);
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let generic = normalize_generic(&bytes, TENANT, recorded()).map(|event| vec![event]);
        check_outcome(&generic);
        for mode in [CloudEventsMode::Structured, CloudEventsMode::Batch] {
            check_outcome(&normalize_cloudevents(&bytes, mode, TENANT, recorded()));
        }
    }

    #[test]
    fn arbitrary_text_is_accepted_or_refused_with_a_named_field(text in "\\PC{0,200}") {
        let generic = normalize_generic(text.as_bytes(), TENANT, recorded()).map(|e| vec![e]);
        check_outcome(&generic);
        for mode in [CloudEventsMode::Structured, CloudEventsMode::Batch] {
            check_outcome(&normalize_cloudevents(text.as_bytes(), mode, TENANT, recorded()));
        }
    }

    #[test]
    fn valid_generic_events_become_round_tripping_facts_with_stable_ids(event in generic_event()) {
        let body = event.to_string();
        let normalized = normalize_generic(body.as_bytes(), TENANT, recorded()).unwrap();
        prop_assert_eq!(normalized.facts.len(), 2);
        let stream_prefix = format!("generic:{TENANT}/");
        prop_assert!(normalized.stream_key.starts_with(&stream_prefix));
        if let Some(key) = event["dedup_key"].as_str() {
            prop_assert_eq!(&normalized.dedup_key, key);
        }
        assert_round_trips(&normalized.facts);
        let FactBody::NotificationReceived(note) = &normalized.facts[1].body else {
            panic!("the notification comes last");
        };
        prop_assert_eq!(&note.raw_body, &body);

        let same = |a: &NormalizedGenericEvent, b: &NormalizedGenericEvent| {
            ids(std::slice::from_ref(a)) == ids(std::slice::from_ref(b))
        };
        let again = normalize_generic(body.as_bytes(), TENANT, recorded()).unwrap();
        prop_assert!(same(&normalized, &again));
        // With its own time, the event is the same facts whenever it arrives.
        if event.get("occurred_at").is_some() {
            let resent = normalize_generic(body.as_bytes(), TENANT, later()).unwrap();
            prop_assert!(same(&normalized, &resent));
        }
        // Another token's identical event never shares a stream or a fact.
        let other = normalize_generic(body.as_bytes(), "another-token", recorded()).unwrap();
        prop_assert_ne!(&other.stream_key, &normalized.stream_key);
        let mine = ids(std::slice::from_ref(&normalized));
        prop_assert!(ids(&[other]).iter().all(|id| !mine.contains(id)));
    }

    #[test]
    fn valid_batches_become_one_event_each_with_its_own_raw_json(
        events in prop::collection::vec(cloudevent(), 1..6),
        pretty in any::<bool>(),
    ) {
        let body = if pretty {
            serde_json::to_string_pretty(&events).unwrap()
        } else {
            serde_json::to_string(&events).unwrap()
        };
        let normalized =
            normalize_cloudevents(body.as_bytes(), CloudEventsMode::Batch, TENANT, recorded())
                .unwrap();
        prop_assert_eq!(normalized.len(), events.len());
        for (event, original) in normalized.iter().zip(&events) {
            assert_round_trips(&event.facts);
            let FactBody::NotificationReceived(note) = &event.facts.last().unwrap().body else {
                panic!("the notification comes last");
            };
            prop_assert!(body.contains(&note.raw_body));
            let raw: Value = serde_json::from_str(&note.raw_body).unwrap();
            prop_assert_eq!(&raw, original);
        }
        let again =
            normalize_cloudevents(body.as_bytes(), CloudEventsMode::Batch, TENANT, recorded())
                .unwrap();
        prop_assert_eq!(ids(&normalized), ids(&again));

        // Each event alone, in structured mode, lands on the same stream.
        for (event, original) in normalized.iter().zip(&events) {
            let single = normalize_cloudevents(
                original.to_string().as_bytes(),
                CloudEventsMode::Structured,
                TENANT,
                recorded(),
            )
            .unwrap();
            prop_assert_eq!(&single[0].stream_key, &event.stream_key);
        }
    }
}
