//! The `classifier` group: `classify` over the labelled corpus
//! (`tests/fixtures/classification/corpus.jsonl`), per incident and per evidence text, and
//! the fold's incremental step, `match_new_evidence`, for a responder's note on an incident
//! whose alert was already matched.

use std::collections::BTreeMap;
use std::hint::black_box;

use aftermath_core::{classify, match_new_evidence, Evidence, EvidenceText};
use criterion::{Criterion, Throughput};

use crate::inputs;

pub fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("classifier");
    let corpus = inputs::corpus();
    let incidents: Vec<Vec<EvidenceText>> = corpus.iter().map(|line| line.texts()).collect();
    let texts: Vec<EvidenceText> = incidents.iter().flatten().cloned().collect();

    group.throughput(Throughput::Elements(incidents.len() as u64));
    group.bench_function("classify/corpus_per_incident", |b| {
        b.iter(|| {
            for incident in &incidents {
                black_box(classify(black_box(incident)));
            }
        })
    });

    // Every text on its own, as the fold meets a note or a why: the whole rule table runs
    // over each text, nothing is skipped for rules another text already matched.
    let nothing_yet = BTreeMap::new();
    group.throughput(Throughput::Elements(texts.len() as u64));
    group.bench_function("match_new_evidence/corpus_per_text", |b| {
        b.iter(|| {
            for text in &texts {
                black_box(match_new_evidence(
                    std::slice::from_ref(black_box(text)),
                    &nothing_yet,
                ));
            }
        })
    });

    // The texts the fold's first workload (`fold/new_alerts/checkout_100_incidents`) feeds
    // the classifier, one alert at a time: short metric-alert labels and annotations.
    let checkout_alerts = inputs::alert_texts(&inputs::alertmanager_facts(
        &inputs::checkout_notifications(),
    ));
    group.throughput(Throughput::Elements(checkout_alerts.len() as u64));
    group.bench_function("match_new_evidence/checkout_200_alerts", |b| {
        b.iter(|| {
            for alert in &checkout_alerts {
                black_box(match_new_evidence(black_box(alert), &nothing_yet));
            }
        })
    });

    // The incremental step: the corpus lines that carry responder notes, with their alert
    // already matched; only the notes are new.
    let noted: Vec<(Vec<EvidenceText>, BTreeMap<String, Evidence>)> = corpus
        .iter()
        .filter(|line| !line.notes.is_empty())
        .map(|line| {
            let already = match_new_evidence(&line.alert_texts(), &BTreeMap::new())
                .into_iter()
                .map(|evidence| (evidence.rule.clone(), evidence))
                .collect();
            (line.note_texts(), already)
        })
        .collect();
    let notes: usize = noted.iter().map(|(notes, _)| notes.len()).sum();
    group.throughput(Throughput::Elements(notes as u64));
    group.bench_function("match_new_evidence/notes_after_alert", |b| {
        b.iter(|| {
            for (notes, already) in &noted {
                black_box(match_new_evidence(black_box(notes), already));
            }
        })
    });
    group.finish();
}
