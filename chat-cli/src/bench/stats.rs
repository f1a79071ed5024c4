//! Percentiles of measured durations.

use serde::Serialize;

/// The distribution of a set of durations, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Summary {
    pub count: u64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
}

impl Summary {
    /// Summarizes `samples` (sorting them). All zero when there are none.
    pub fn of(samples: &mut [u64]) -> Self {
        samples.sort_unstable();
        Self {
            count: samples.len() as u64,
            p50_us: percentile(samples, 50.0),
            p90_us: percentile(samples, 90.0),
            p99_us: percentile(samples, 99.0),
            max_us: samples.last().copied().unwrap_or(0),
        }
    }
}

/// The nearest-rank percentile of sorted samples: the smallest sample with at least `p`
/// percent of the samples at or below it. Zero for no samples.
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    debug_assert!(sorted.is_sorted(), "percentile wants sorted samples");
    if sorted.is_empty() {
        return 0;
    }
    let n = sorted.len();
    // ceil(p/100 * n), computed in integers where possible to dodge float rounding:
    // 99% of 100 samples is rank 99 exactly, not 99.00000000000001.
    let rank = ((p.clamp(0.0, 100.0) * n as f64 / 100.0) - 1e-9).ceil() as usize;
    sorted[rank.clamp(1, n) - 1]
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn nearest_rank_on_small_sets() {
        assert_eq!(percentile(&[], 50.0), 0);
        assert_eq!(percentile(&[7], 0.0), 7);
        assert_eq!(percentile(&[7], 99.0), 7);
        assert_eq!(percentile(&[1, 2, 3, 4], 50.0), 2);
        assert_eq!(percentile(&[1, 2, 3, 4], 51.0), 3);
        assert_eq!(percentile(&[1, 2, 3, 4], 100.0), 4);
    }

    #[test]
    fn p99_of_a_hundred_is_the_ninety_ninth() {
        let samples: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&samples, 99.0), 99);
        assert_eq!(percentile(&samples, 90.0), 90);
        assert_eq!(percentile(&samples, 50.0), 50);
        let samples: Vec<u64> = (1..=1000).collect();
        assert_eq!(percentile(&samples, 99.0), 990);
    }

    #[test]
    fn a_summary_sorts_and_reads_off_the_ranks() {
        let mut samples = vec![5, 1, 4, 2, 3, 10, 9, 8, 7, 6];
        let summary = Summary::of(&mut samples);
        assert_eq!(
            summary,
            Summary {
                count: 10,
                p50_us: 5,
                p90_us: 9,
                p99_us: 10,
                max_us: 10,
            }
        );
        assert_eq!(Summary::of(&mut []), Summary::default());
    }

    proptest! {
        /// At least p% of the samples are at or below the p-th percentile, and fewer than p%
        /// are strictly below it.
        #[test]
        fn the_percentile_splits_the_samples(mut samples in prop::collection::vec(0u64..1000, 1..300), p in 1u32..=100) {
            samples.sort_unstable();
            let p = f64::from(p);
            let value = percentile(&samples, p);
            let n = samples.len() as f64;
            let at_or_below = samples.iter().filter(|&&s| s <= value).count() as f64;
            let below = samples.iter().filter(|&&s| s < value).count() as f64;
            prop_assert!(at_or_below >= p / 100.0 * n - 1e-6);
            prop_assert!(below < p / 100.0 * n);
        }
    }
}
