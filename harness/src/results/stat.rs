//! Median with the lowest and highest value: how every figure measured in rounds is
//! summarised, in tables and as bars with whiskers.

use serde::{Deserialize, Serialize};

/// Median, min and max of a figure over its rounds, and how many rounds gave it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Stat {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub n: usize,
}

impl Stat {
    /// The statistic of the finite values among `values`; `None` if there are none.
    pub fn of(values: &[f64]) -> Option<Stat> {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = match n % 2 {
            1 => v[n / 2],
            _ => (v[n / 2 - 1] + v[n / 2]) / 2.0,
        };
        Some(Stat {
            median,
            min: v[0],
            max: v[n - 1],
            n,
        })
    }

    pub fn scaled(self, scale: f64) -> Stat {
        Stat {
            median: self.median * scale,
            min: self.min * scale,
            max: self.max * scale,
            n: self.n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_min_max() {
        let s = Stat::of(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max, s.n), (2.0, 1.0, 3.0, 3));
        let s = Stat::of(&[4.0, 1.0, f64::NAN]).unwrap();
        assert_eq!((s.median, s.n), (2.5, 2));
        assert!(Stat::of(&[]).is_none());
        assert_eq!(Stat::of(&[2.0]).unwrap().scaled(0.5).median, 1.0);
    }
}
