//! Means, standard deviations and Student-t 95 % confidence intervals for the sweep's
//! summary.csv and pairs.csv. The t quantile is computed from the regularized incomplete
//! beta function ([`crate::sim::special`]), not from a table, so any number of
//! replications gets its exact interval.

use crate::sim::special::{inc_beta, quantile};

/// P(T ≤ t) for Student's t with `df` degrees of freedom.
pub fn t_cdf(t: f64, df: f64) -> f64 {
    let tail = 0.5 * inc_beta(df / 2.0, 0.5, df / (df + t * t));
    if t >= 0.0 { 1.0 - tail } else { tail }
}

/// The `p` quantile (0.5 < p < 1) of Student's t with `df` degrees of freedom, by
/// bisection on the CDF to the last bit of a double.
pub fn t_quantile(p: f64, df: f64) -> f64 {
    quantile(|t| t_cdf(t, df), p, 1.0)
}

/// Mean, sample standard deviation and the two-sided 95 % Student-t interval of a sample.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Interval {
    pub n: usize,
    pub mean: f64,
    /// Sample standard deviation (n − 1 in the denominator); NaN for n < 2.
    pub sd: f64,
    /// mean ∓ t(0.975, n − 1) · sd / √n; NaN for n < 2.
    pub low: f64,
    pub high: f64,
}

/// The [`Interval`] of the finite values in `xs` (NaN, a metric with nothing to average in
/// a run, is left out and not counted in `n`).
pub fn interval(xs: &[f64]) -> Interval {
    let v: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
    let n = v.len();
    if n == 0 {
        return Interval { n, mean: f64::NAN, sd: f64::NAN, low: f64::NAN, high: f64::NAN };
    }
    let mean = v.iter().sum::<f64>() / n as f64;
    if n < 2 {
        return Interval { n, mean, sd: f64::NAN, low: f64::NAN, high: f64::NAN };
    }
    let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1) as f64;
    let sd = var.sqrt();
    let half = t_quantile(0.975, (n - 1) as f64) * sd / (n as f64).sqrt();
    Interval { n, mean, sd, low: mean - half, high: mean + half }
}

#[cfg(test)]
mod tests {
    use super::*;

    // References: scipy.stats.t.ppf(0.975, df) and t.cdf (scipy 1.x).
    #[test]
    fn t_quantiles_match_scipy() {
        for (df, q) in [
            (1.0, 12.706_204_736_174_694),
            (2.0, 4.302_652_729_749_462),
            (4.0, 2.776_445_105_197_793_4),
            (9.0, 2.262_157_162_798_205),
            (19.0, 2.093_024_054_408_308_7),
            (29.0, 2.045_229_642_132_703),
            (99.0, 1.984_216_951_586_417_4),
            (1000.0, 1.962_339_080_826_408_3),
        ] {
            let got = t_quantile(0.975, df);
            assert!((got - q).abs() < 1e-9 * q, "df {df}: {got} vs {q}");
        }
        assert!((t_cdf(1.5, 7.0) - 0.911_350_756_505_015).abs() < 1e-12);
        assert!((t_cdf(-0.3, 3.0) - 0.391_881_646_019_959_5).abs() < 1e-12);
    }

    #[test]
    fn interval_by_hand() {
        // 1, 2, 3, 4, 6: mean 3.2, s² = (4.84+1.44+0.04+0.64+7.84)/4 = 3.7,
        // half-width t(0.975, 4)·√(3.7/5) = 2.776445105197793 · 0.860232526704263.
        let i = interval(&[1.0, 2.0, 3.0, f64::NAN, 4.0, 6.0]);
        assert_eq!(i.n, 5);
        assert!((i.mean - 3.2).abs() < 1e-15);
        assert!((i.sd - 3.7f64.sqrt()).abs() < 1e-15);
        let half = 2.776_445_105_197_793 * 0.860_232_526_704_262_6;
        assert!((i.low - (3.2 - half)).abs() < 1e-12 && (i.high - (3.2 + half)).abs() < 1e-12, "{i:?}");
        let one = interval(&[5.0]);
        assert_eq!((one.n, one.mean), (1, 5.0));
        assert!(one.low.is_nan() && one.sd.is_nan());
        assert!(interval(&[]).mean.is_nan());
    }
}
