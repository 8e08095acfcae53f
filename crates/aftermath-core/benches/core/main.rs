//! Criterion benchmarks of aftermath-core's hot pure code: the normalizers, facts to and
//! from their stored JSON, the fold, the error classifier, post-mortem drafting and the
//! metrics summary, over the repository's captured fixtures and classification corpus.
//!
//! `cargo bench -p aftermath-core --bench core` (a filter after `--` picks groups, e.g.
//! `-- fold/`). Results and the machine they were taken on are in `BENCHMARKS.md`.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};

mod classifier;
mod encoding;
mod fold;
mod inputs;
mod normalizers;
mod reports;

/// Modest measurement times: the benchmarks run on a small machine shared with other work,
/// and every routine here is micro- to milliseconds, so 30 samples settle well within them.
fn configured() -> Criterion {
    Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = core;
    config = configured();
    targets = normalizers::bench, encoding::bench, fold::bench, classifier::bench, reports::bench
}
criterion_main!(core);
