//! Means, standard deviations and Student-t 95 % confidence intervals for the sweep's
//! summary.csv and pairs.csv. The t quantile is computed from the regularized incomplete
//! beta function (Numerical Recipes, 3rd ed., §6.4 and §6.14), not from a table, so any
//! number of replications gets its exact interval.

/// ln Γ(x) for x > 0 (Lanczos, g = 7, nine coefficients: ~15 significant digits).
fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x) Γ(1−x) = π / sin(πx).
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = G[0];
    let t = x + 7.5;
    for (i, g) in G.iter().enumerate().skip(1) {
        a += g / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// The continued fraction of the incomplete beta function (modified Lentz).
fn beta_cf(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    // One Lentz step for the coefficient `aa`: returns d·c, the factor h is multiplied by.
    let mut step = |aa: f64| {
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        d * c
    };
    for m in 1..10_000 {
        let m = m as f64;
        let m2 = 2.0 * m;
        h *= step(m * (b - m) * x / ((qam + m2) * (a + m2)));
        let del = step(-(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)));
        h *= del;
        if (del - 1.0).abs() < 1e-16 {
            break;
        }
    }
    h
}

/// The regularized incomplete beta function I_x(a, b).
pub fn inc_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln();
    if x < (a + 1.0) / (a + b + 2.0) {
        ln_front.exp() * beta_cf(a, b, x) / a
    } else {
        1.0 - ln_front.exp() * beta_cf(b, a, 1.0 - x) / b
    }
}

/// P(T ≤ t) for Student's t with `df` degrees of freedom.
pub fn t_cdf(t: f64, df: f64) -> f64 {
    let tail = 0.5 * inc_beta(df / 2.0, 0.5, df / (df + t * t));
    if t >= 0.0 { 1.0 - tail } else { tail }
}

/// The `p` quantile (0.5 < p < 1) of Student's t with `df` degrees of freedom, by
/// bisection on the CDF to the last bit of a double.
pub fn t_quantile(p: f64, df: f64) -> f64 {
    let (mut lo, mut hi) = (0.0_f64, 1.0_f64);
    while t_cdf(hi, df) < p {
        hi *= 2.0;
        if hi > 1e12 {
            return f64::INFINITY;
        }
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if t_cdf(mid, df) < p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
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
