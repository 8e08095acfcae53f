//! What managers read: the `postmortem` group (drafting and rendering the post-mortem of
//! the SOP's worked incident) and the `metrics` group (the summary over a quarter of 1,000
//! and 10,000 incidents).

use std::hint::black_box;

use aftermath_core::{
    draft_postmortem, render_html_fragment, render_markdown, summarize, AckPolicy,
};
use criterion::{BenchmarkId, Criterion, Throughput};

use crate::inputs;

pub fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("postmortem");
    let worked = inputs::connection_pool_exhaustion();
    let mut projection = inputs::folded(&worked.opening);
    for fact in &worked.workflow {
        projection.apply(fact);
    }
    let incident = &projection.incidents[&worked.incident_id];
    let draft = draft_postmortem(incident, &[]);

    group.throughput(Throughput::Elements(1));
    group.bench_function("draft/connection_pool_exhaustion", |b| {
        b.iter(|| black_box(draft_postmortem(black_box(incident), &[])))
    });
    group.bench_function("render_markdown/connection_pool_exhaustion", |b| {
        b.iter(|| black_box(render_markdown(black_box(&draft))))
    });
    group.bench_function("render_html_fragment/connection_pool_exhaustion", |b| {
        b.iter(|| black_box(render_html_fragment(black_box(&draft))))
    });
    group.finish();

    let mut group = c.benchmark_group("metrics");
    let corpus = inputs::corpus();
    let from = inputs::quarter_start();
    let to = inputs::plus(from, inputs::QUARTER_SECONDS);
    let policy = AckPolicy::default();
    for count in [1_000, 10_000] {
        let incidents = inputs::quarter_of_incidents(&corpus, count);
        group.throughput(Throughput::Elements(incidents.len() as u64));
        group.bench_with_input(
            BenchmarkId::new("summarize/quarter", count),
            &incidents,
            |b, incidents| {
                b.iter(|| black_box(summarize(black_box(incidents), from, to, &policy, to)))
            },
        );
    }
    group.finish();
}
