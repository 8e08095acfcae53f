//! Every sender's normalizer keeps the input limits: bodies nested deeper than 32 levels,
//! more than 2,000 alerts, more than 64 labels on an alert, texts over 16 KB, invalid
//! UTF-8 and wrongly typed fields are refused with the field at fault, and bodies just
//! within the limits are accepted.

use aftermath_core::{
    normalize_alertmanager, normalize_cloudevents, normalize_generic, normalize_github,
    normalize_grafana, normalize_pagerduty, CloudEventsMode, Timestamp, MAX_ALERTS_PER_REQUEST,
    MAX_JSON_DEPTH, MAX_LABELS_PER_ALERT, MAX_TEXT_BYTES,
};
use proptest::prelude::*;
use serde_json::{json, Value};

/// A refusal as the HTTP layer reports it: the field at fault and why.
#[derive(Debug)]
struct Refusal {
    field: String,
    message: String,
}

/// One sender: a valid body from its fixtures and how to normalize a body.
struct Sender {
    name: &'static str,
    body: Value,
    /// JSON pointer to the labels of the body's first alert, when the sender has them.
    labels: Option<&'static str>,
    normalize: fn(&[u8]) -> Result<usize, Refusal>,
}

fn recorded() -> Timestamp {
    Timestamp::parse("2026-11-24T07:00:05Z").unwrap()
}

fn fixture(path: &str) -> Value {
    let path = format!("{}/../../tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn refusal(error: aftermath_core::IngestError) -> Refusal {
    Refusal {
        field: error.field,
        message: error.message,
    }
}

fn senders() -> Vec<Sender> {
    vec![
        Sender {
            name: "alertmanager",
            body: fixture("alertmanager/01-checkout-firing.json"),
            labels: Some("/alerts/0/labels"),
            normalize: |bytes| {
                normalize_alertmanager(bytes, recorded())
                    .map(|facts| facts.len())
                    .map_err(refusal)
            },
        },
        Sender {
            name: "grafana",
            body: fixture("grafana/firing.json"),
            labels: Some("/alerts/0/labels"),
            normalize: |bytes| {
                normalize_grafana(bytes, recorded())
                    .map(|facts| facts.len())
                    .map_err(refusal)
            },
        },
        Sender {
            name: "generic",
            body: fixture("generic/01-checkout-firing.json"),
            labels: Some("/labels"),
            normalize: |bytes| {
                normalize_generic(bytes, "tenant", recorded())
                    .map(|event| event.facts.len())
                    .map_err(refusal)
            },
        },
        Sender {
            name: "cloudevents",
            body: fixture("cloudevents/01-structured-firing.json"),
            labels: Some("/data/labels"),
            normalize: |bytes| {
                normalize_cloudevents(bytes, CloudEventsMode::Structured, "tenant", recorded())
                    .map(|events| events.iter().map(|event| event.facts.len()).sum())
                    .map_err(refusal)
            },
        },
        Sender {
            name: "pagerduty",
            body: fixture("pagerduty/trigger.json"),
            labels: None,
            normalize: |bytes| {
                normalize_pagerduty(bytes, "scope", "actor", "generated", recorded())
                    .map(|event| event.facts.len())
                    .map_err(|errors| Refusal {
                        field: "body".to_owned(),
                        message: errors.join("; "),
                    })
            },
        },
        Sender {
            name: "github",
            body: fixture("github/workflow_run.completed.failure.json"),
            labels: None,
            normalize: |bytes| match normalize_github("workflow_run", bytes, recorded()) {
                Ok(aftermath_core::GithubDelivery::Facts(facts)) => Ok(facts.len()),
                Ok(_) => Ok(0),
                Err(error) => Err(refusal(error)),
            },
        },
    ]
}

fn nested(depth: usize) -> Value {
    (0..depth).fold(json!(1), |inner, _| json!([inner]))
}

fn with(body: &Value, pointer: &str, value: Value) -> Vec<u8> {
    let mut body = body.clone();
    *body
        .pointer_mut(pointer)
        .expect("the fixture has the field") = value;
    body.to_string().into_bytes()
}

fn labels(count: usize, value_bytes: usize) -> Value {
    let map: serde_json::Map<String, Value> = (0..count)
        .map(|index| (format!("label_{index:03}"), json!("v".repeat(value_bytes))))
        .collect();
    Value::Object(map)
}

#[test]
fn every_fixture_is_within_the_limits() {
    for sender in senders() {
        let facts = (sender.normalize)(sender.body.to_string().as_bytes())
            .unwrap_or_else(|error| panic!("{}: {error:?}", sender.name));
        assert!(facts > 0, "{} made no facts", sender.name);
    }
}

#[test]
fn more_than_2000_alerts_are_refused_and_2000_accepted() {
    for sender in senders()
        .into_iter()
        .filter(|sender| sender.labels == Some("/alerts/0/labels"))
    {
        let alert = sender.body["alerts"][0].clone();
        let alerts_with_fingerprints = |count: usize| {
            let alerts: Vec<Value> = (0..count)
                .map(|index| {
                    let mut alert = alert.clone();
                    alert["fingerprint"] = json!(format!("f{index}"));
                    alert["labels"]["instance"] = json!(format!("host-{index}"));
                    alert
                })
                .collect();
            with(&sender.body, "/alerts", Value::Array(alerts))
        };
        let at_limit = (sender.normalize)(&alerts_with_fingerprints(MAX_ALERTS_PER_REQUEST));
        assert!(at_limit.is_ok(), "{}: {at_limit:?}", sender.name);
        let refused =
            (sender.normalize)(&alerts_with_fingerprints(MAX_ALERTS_PER_REQUEST + 1)).unwrap_err();
        assert_eq!(refused.field, "alerts", "{}", sender.name);
        assert!(refused.message.contains("at most 2000"), "{refused:?}");
    }
}

#[test]
fn invalid_utf8_in_a_text_is_refused_as_the_body() {
    for sender in senders() {
        let text = sender.body.to_string();
        // Replace the first character of the first string value with a byte that is never UTF-8.
        let at = text.find(":\"").expect("a string value") + 2;
        let mut bytes = text.into_bytes();
        bytes[at] = 0xFF;
        let refused = (sender.normalize)(&bytes).unwrap_err();
        assert_eq!(refused.field, "body", "{}: {refused:?}", sender.name);
        assert!(
            refused.message.contains("UTF-8"),
            "{}: {refused:?}",
            sender.name
        );
    }
}

#[test]
fn wrongly_typed_labels_are_refused_naming_the_field() {
    for sender in senders() {
        let Some(pointer) = sender.labels else {
            continue;
        };
        for wrong in [json!(7), json!(["a"]), json!(true), json!({"a": {"b": 1}})] {
            let refused =
                (sender.normalize)(&with(&sender.body, pointer, wrong.clone())).unwrap_err();
            assert!(
                refused.field.contains("labels"),
                "{} with labels {wrong}: {refused:?}",
                sender.name
            );
        }
    }
}

#[test]
fn refusals_always_name_a_field_even_for_an_empty_key() {
    // Inputs the fuzz targets (fuzz/) found refused with an empty field name.
    for body in [
        &b"{\"\":-\r\r\"\0\0"[..],
        b"{\"\" :::){\0",
        b"{\"\":\n@\x1b",
        b"{\"\":[\r}A",
    ] {
        for sender in senders() {
            if let Err(refused) = (sender.normalize)(body) {
                assert!(!refused.field.is_empty(), "{}: {refused:?}", sender.name);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn bodies_nested_deeper_than_32_are_refused(depth in MAX_JSON_DEPTH..400usize) {
        for sender in senders() {
            // The body's own object is one level; the extra field adds `depth` more.
            let mut body = sender.body.clone();
            body["extra"] = nested(depth);
            let refused = (sender.normalize)(body.to_string().as_bytes()).unwrap_err();
            prop_assert!(
                refused.message.contains("nested deeper than 32 levels"),
                "{}: {:?}", sender.name, refused
            );
        }
    }

    #[test]
    fn nesting_within_the_limit_is_not_refused_for_depth(depth in 0..MAX_JSON_DEPTH) {
        for sender in senders() {
            let mut body = sender.body.clone();
            body["extra"] = nested(depth);
            if let Err(refused) = (sender.normalize)(body.to_string().as_bytes()) {
                prop_assert!(
                    !refused.message.contains("nested deeper"),
                    "{} at depth {}: {:?}", sender.name, depth + 1, refused
                );
            }
        }
    }

    #[test]
    fn label_sets_over_64_are_refused_and_64_accepted(extra in 1..200usize) {
        for sender in senders() {
            let Some(pointer) = sender.labels else { continue };
            let at_limit = (sender.normalize)(&with(&sender.body, pointer, labels(MAX_LABELS_PER_ALERT, 8)));
            prop_assert!(at_limit.is_ok(), "{}: {:?}", sender.name, at_limit);
            let over = with(&sender.body, pointer, labels(MAX_LABELS_PER_ALERT + extra, 8));
            let refused = (sender.normalize)(&over).unwrap_err();
            prop_assert!(refused.field.ends_with("labels"), "{}: {:?}", sender.name, refused);
            prop_assert!(refused.message.contains("at most 64"), "{}: {:?}", sender.name, refused);
        }
    }

    #[test]
    fn texts_over_16_kb_are_refused_and_16_kb_accepted(extra in 1..20_000usize) {
        for sender in senders() {
            let Some(pointer) = sender.labels else { continue };
            let at_limit = (sender.normalize)(&with(&sender.body, pointer, labels(1, MAX_TEXT_BYTES)));
            prop_assert!(at_limit.is_ok(), "{}: {:?}", sender.name, at_limit);
            let over = with(&sender.body, pointer, labels(1, MAX_TEXT_BYTES + extra));
            let refused = (sender.normalize)(&over).unwrap_err();
            prop_assert!(refused.field.contains("labels.label_000"), "{}: {:?}", sender.name, refused);
            prop_assert!(refused.message.contains("at most 16384"), "{}: {:?}", sender.name, refused);
        }
    }

    #[test]
    fn a_long_pagerduty_custom_details_is_refused(extra in 1..20_000usize) {
        let sender = senders().into_iter().find(|sender| sender.name == "pagerduty").unwrap();
        let details = json!({"log": "x".repeat(MAX_TEXT_BYTES + extra)});
        let refused = (sender.normalize)(&with(&sender.body, "/payload/custom_details", details))
            .unwrap_err();
        prop_assert!(refused.message.contains("custom_details"), "{:?}", refused);
    }
}
