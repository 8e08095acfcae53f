//! The `fold` group: `Projection::apply` over new alerts that open incidents, over repeats
//! the fold recognises as duplicates, and over a responder workflow on one incident.
//! Throughput counts facts folded. The fold runs the classifier on every applied fact that
//! brings evidence text (an alert's labels and annotations, a note, a why, a root cause).

use std::hint::black_box;

use aftermath_core::{FoldOutcome, Projection};
use criterion::{BatchSize, Criterion, Throughput};

use crate::inputs;

/// How many times the captured notification is resent in one iteration.
const RESENDS: usize = 100;

pub fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("fold");

    // (a) Each notification opens an incident of its own: the ingest benchmark's workload,
    // with the captured checkout alerts (two per notification, plus the notification).
    let checkout_facts = inputs::alertmanager_facts(&inputs::checkout_notifications());
    group.throughput(Throughput::Elements(checkout_facts.len() as u64));
    group.bench_function("new_alerts/checkout_100_incidents", |b| {
        b.iter(|| black_box(inputs::folded(black_box(&checkout_facts))))
    });

    // The same with the corpus's alerts: CI and deploy failures carrying tool output, which
    // give the classifier far more text than a metric alert does.
    let corpus = inputs::corpus();
    let corpus_notifications: Vec<String> = corpus
        .iter()
        .enumerate()
        .map(|(n, line)| line.alertmanager_notification(n, inputs::received_at(), None))
        .collect();
    let corpus_facts = inputs::alertmanager_facts(&corpus_notifications);
    group.throughput(Throughput::Elements(corpus_facts.len() as u64));
    group.bench_function("new_alerts/corpus_216_incidents", |b| {
        b.iter(|| black_box(inputs::folded(black_box(&corpus_facts))))
    });

    // (b) Duplicates. A byte-identical resend (Alertmanager's repeat_interval) carries the
    // same fact ids, so the stream's seen-fact set stops it: the projection never changes,
    // and one projection serves every iteration.
    let first = inputs::alertmanager_facts(&[inputs::CHECKOUT_FIRING.to_owned()]);
    let resend = inputs::alertmanager_facts(&[inputs::CHECKOUT_FIRING_REPEAT.to_owned()]);
    let mut opened = inputs::folded(&first);
    assert!(
        resend
            .iter()
            .all(|fact| opened.apply(fact) == FoldOutcome::Duplicate),
        "the captured repeat must be a duplicate, or this measures something else"
    );
    group.throughput(Throughput::Elements((resend.len() * RESENDS) as u64));
    group.bench_function("duplicates/resent_notification_same_ids", |b| {
        b.iter(|| {
            for _ in 0..RESENDS {
                for fact in &resend {
                    black_box(opened.apply(black_box(fact)));
                }
            }
        })
    });

    // A sender that stamps each repeat anew (generic JSON, PagerDuty) makes new fact ids: the
    // fold records each id and finds the alert already firing. The seen-fact set grows, so
    // every iteration starts again from the projection holding only the opening facts.
    let repeats = inputs::generic_repeats(RESENDS + 1);
    let facts_per_event = repeats.len() / (RESENDS + 1);
    let (opening, repeats) = repeats.split_at(facts_per_event);
    let opened = inputs::folded(opening);
    group.throughput(Throughput::Elements(repeats.len() as u64));
    group.bench_function("duplicates/repeated_alert_new_ids", |b| {
        b.iter_batched_ref(
            || opened.clone(),
            |projection| fold_into(projection, repeats),
            BatchSize::SmallInput,
        )
    });

    // (c) The SOP's worked incident after it opened: acknowledge, five whys, root cause,
    // mitigate, resolve, the alert's resolution, impact, action items.
    let worked = inputs::connection_pool_exhaustion();
    let opened = inputs::folded(&worked.opening);
    group.throughput(Throughput::Elements(worked.workflow.len() as u64));
    group.bench_function("responder_workflow/connection_pool_exhaustion", |b| {
        b.iter_batched_ref(
            || opened.clone(),
            |projection| fold_into(projection, &worked.workflow),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn fold_into(projection: &mut Projection, facts: &[aftermath_core::Fact]) {
    for fact in facts {
        black_box(projection.apply(black_box(fact)));
    }
}
