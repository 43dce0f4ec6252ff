//! Ingestion delay: how long after its `eventTime` an event becomes visible to `ListEvents`.
//! OCI says events appear "usually within 15 minutes"; the default here puts most within a
//! minute and a thin tail out to 20 minutes, so a collector that never looks back loses events.

use serde::{Deserialize, Serialize};

/// One band of the delay distribution: with relative `weight`, a delay uniform in
/// `[min_ms, max_ms]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DelayBand {
    /// Relative weight of this band.
    pub weight: f64,
    /// Shortest delay, milliseconds.
    pub min_ms: i64,
    /// Longest delay, milliseconds.
    pub max_ms: i64,
}

/// The distribution delays are drawn from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum DelayDistribution {
    /// Every event is visible at its `eventTime`.
    None,
    /// Every event becomes visible exactly `ms` after its `eventTime`.
    Fixed {
        /// Delay in milliseconds.
        ms: i64,
    },
    /// A weighted mix of uniform bands.
    Bands {
        /// The bands; weights need not sum to 1.
        bands: Vec<DelayBand>,
    },
}

impl Default for DelayDistribution {
    fn default() -> Self {
        Self::oci_like()
    }
}

impl DelayDistribution {
    /// 80% within 2–60 s, 15% within 1–5 min, 5% within 5–20 min.
    pub fn oci_like() -> Self {
        Self::Bands {
            bands: vec![
                DelayBand {
                    weight: 0.80,
                    min_ms: 2_000,
                    max_ms: 60_000,
                },
                DelayBand {
                    weight: 0.15,
                    min_ms: 60_000,
                    max_ms: 300_000,
                },
                DelayBand {
                    weight: 0.05,
                    min_ms: 300_000,
                    max_ms: 1_200_000,
                },
            ],
        }
    }

    /// The longest delay this distribution can produce, in milliseconds.
    pub fn max_ms(&self) -> i64 {
        match self {
            Self::None => 0,
            Self::Fixed { ms } => *ms,
            Self::Bands { bands } => bands.iter().map(|b| b.max_ms).max().unwrap_or(0),
        }
    }

    pub(crate) fn sample(&self, rng: &mut fastrand::Rng) -> i64 {
        match self {
            Self::None => 0,
            Self::Fixed { ms } => (*ms).max(0),
            Self::Bands { bands } => {
                let total: f64 = bands.iter().map(|b| b.weight.max(0.0)).sum();
                if total <= 0.0 {
                    return 0;
                }
                let mut pick = rng.f64() * total;
                for b in bands {
                    let w = b.weight.max(0.0);
                    if pick < w {
                        let (lo, hi) = (b.min_ms.max(0), b.max_ms.max(b.min_ms).max(0));
                        return rng.i64(lo..=hi);
                    }
                    pick -= w;
                }
                bands.last().map(|b| b.max_ms.max(0)).unwrap_or(0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oci_like_is_mostly_fast_with_a_bounded_tail() {
        let d = DelayDistribution::oci_like();
        let mut rng = fastrand::Rng::with_seed(1);
        let samples: Vec<i64> = (0..10_000).map(|_| d.sample(&mut rng)).collect();
        let within_minute = samples.iter().filter(|&&s| s <= 60_000).count();
        assert!(
            within_minute > 7_500 && within_minute < 8_500,
            "{within_minute}"
        );
        assert!(samples.iter().all(|&s| (0..=1_200_000).contains(&s)));
        assert!(samples.iter().any(|&s| s > 300_000));
        assert_eq!(d.max_ms(), 1_200_000);
    }
}
