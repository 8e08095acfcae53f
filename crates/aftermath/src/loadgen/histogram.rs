//! A latency histogram in the manner of HdrHistogram: log-linear buckets with 1,024
//! sub-buckets per power of two, so every recorded value is kept to within 0.1% at a
//! fixed, small memory cost however many values are recorded.

/// Sub-buckets per power of two: values are kept to within 1/1024 of themselves.
const SUB_BUCKET_BITS: u32 = 10;
const SUB_BUCKETS: u64 = 1 << SUB_BUCKET_BITS;
/// Values at or above this (2^36 µs, about 19 hours) are recorded as this.
const MAX_VALUE: u64 = (1 << 36) - 1;

/// Counts of values (microseconds, by convention here) in log-linear buckets.
#[derive(Clone, Debug)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    max: u64,
    sum: u128,
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

/// Values below `2 * SUB_BUCKETS` have a bucket each; above, a bucket spans
/// `2^shift` values where `value >> shift` falls in `[SUB_BUCKETS, 2 * SUB_BUCKETS)`.
fn bucket_of(value: u64) -> usize {
    if value < 2 * SUB_BUCKETS {
        return value as usize;
    }
    let shift = 63 - value.leading_zeros() - SUB_BUCKET_BITS;
    (shift as u64 * SUB_BUCKETS + (value >> shift)) as usize
}

/// The highest value that falls in `bucket`.
fn highest_in(bucket: usize) -> u64 {
    let bucket = bucket as u64;
    if bucket < 2 * SUB_BUCKETS {
        return bucket;
    }
    let shift = bucket / SUB_BUCKETS - 1;
    let lowest = (SUB_BUCKETS + bucket % SUB_BUCKETS) << shift;
    lowest + (1 << shift) - 1
}

impl Histogram {
    pub fn new() -> Self {
        Self {
            counts: vec![0; bucket_of(MAX_VALUE) + 1],
            total: 0,
            max: 0,
            sum: 0,
        }
    }

    pub fn record(&mut self, value: u64) {
        let value = value.min(MAX_VALUE);
        self.counts[bucket_of(value)] += 1;
        self.total += 1;
        self.max = self.max.max(value);
        self.sum += u128::from(value);
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
        self.sum += other.sum;
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    pub fn max(&self) -> u64 {
        self.max
    }

    pub fn mean(&self) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        self.sum as f64 / self.total as f64
    }

    /// The value at `quantile` (0.5 for the median, 0.999 for p99.9): the smallest
    /// recorded value (to within 0.1%, rounded up) that at least that share of the values
    /// does not exceed. 0 when nothing was recorded.
    pub fn value_at(&self, quantile: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((quantile.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (bucket, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return highest_in(bucket).min(self.max);
            }
        }
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exact value at `quantile` of sorted samples, by the same rank rule.
    fn exact(sorted: &[u64], quantile: f64) -> u64 {
        let rank = ((quantile * sorted.len() as f64).ceil() as usize).max(1);
        sorted[rank - 1]
    }

    #[test]
    fn buckets_are_contiguous_and_ordered() {
        let mut previous_highest = None;
        for bucket in 0..bucket_of(MAX_VALUE) {
            let highest = highest_in(bucket);
            if let Some(previous) = previous_highest {
                assert_eq!(bucket_of(previous + 1), bucket, "first value of {bucket}");
            }
            assert_eq!(bucket_of(highest), bucket);
            previous_highest = Some(highest);
        }
    }

    #[test]
    fn percentiles_match_sorted_samples_to_within_a_thousandth() {
        // A long-tailed spread, as latencies are: mostly small, some very large.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut samples: Vec<u64> = (0..50_000)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let magnitude = state % 24;
                (state >> 8) % (1 << magnitude) + 1
            })
            .collect();
        let mut histogram = Histogram::new();
        for &sample in &samples {
            histogram.record(sample);
        }
        samples.sort_unstable();
        for quantile in [0.0, 0.01, 0.5, 0.9, 0.99, 0.999, 1.0] {
            let want = exact(&samples, quantile);
            let got = histogram.value_at(quantile);
            assert!(got >= want, "q{quantile}: {got} < {want}");
            assert!(
                (got - want) as f64 <= want as f64 / 1024.0,
                "q{quantile}: {got} vs {want}"
            );
        }
        assert_eq!(histogram.value_at(1.0), *samples.last().unwrap());
        assert_eq!(histogram.count(), 50_000);
    }

    #[test]
    fn small_values_are_exact_and_merging_adds_counts() {
        let mut low = Histogram::new();
        let mut high = Histogram::new();
        for value in 1..=100 {
            low.record(value);
            high.record(value * 1000);
        }
        assert_eq!(low.value_at(0.5), 50);
        assert_eq!(low.value_at(0.99), 99);
        low.merge(&high);
        assert_eq!(low.count(), 200);
        assert_eq!(low.value_at(0.5), 100);
        assert!((99_000..=99_100).contains(&low.value_at(0.995)));
        assert_eq!(low.max(), 100_000);
        assert_eq!(Histogram::new().value_at(0.99), 0);
    }
}
