//! The `facts` group: a fact to its stored JSON and back, as the log's writer (every
//! append) and every reader (the projector, a rebuild) do. Throughput counts facts.

use std::hint::black_box;

use aftermath_core::{normalize_alertmanager, Fact};
use criterion::{Criterion, Throughput};

use crate::inputs::{self, received_at};

pub fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("facts");
    // A captured notification's facts: the notification (with its raw body) and its alerts.
    let one_alert = &inputs::ALERTMANAGER_FIXTURES[0];
    let facts = normalize_alertmanager(one_alert.as_bytes(), received_at()).unwrap();
    let encoded: Vec<String> = facts.iter().map(Fact::to_json).collect();
    group.throughput(Throughput::Elements(facts.len() as u64));
    group.bench_function("to_json/alertmanager_fixture_01", |b| {
        b.iter(|| {
            for fact in black_box(&facts) {
                black_box(fact.to_json());
            }
        })
    });
    group.bench_function("from_json/alertmanager_fixture_01", |b| {
        b.iter(|| {
            for text in black_box(&encoded) {
                black_box(Fact::from_json(text).unwrap());
            }
        })
    });
    group.finish();
}
