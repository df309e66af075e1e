//! Robust aggregation: the median and the trimmed mean of reports, and W-MSR, the
//! resilient consensus update of LeBlanc, Zhang, Koutsoukos & Sundaram ("Resilient
//! Asymptotic Consensus in Robust Networks", IEEE JSAC 31(4), 2013), with the graph
//! property that decides whether it works: r-robustness.
//!
//! What holds, and is tested below: the median and the f-trimmed mean of n values of
//! which at most f are adversarial stay inside the honest values' range when n ≥ 2f + 1
//! (and the median need not when n = 2f); under W-MSR with parameter F, every normal node
//! stays inside the range of the normal nodes' initial values whenever each has at most F
//! adversarial neighbours, and the normal nodes agree when the graph is (2F + 1)-robust; a
//! graph that is not (F + 1)-robust can keep them apart for ever.

/// How a world combines values reported by several agents (a consensus speed, a queue).
#[derive(Clone, Copy, Debug, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub enum Aggregation {
    /// The arithmetic mean: one liar moves it anywhere.
    #[default]
    Mean,
    /// The median (of an even count, the mean of the two middle values).
    Median,
    /// Drop the `f` largest and `f` smallest values, average the rest.
    TrimmedMean(u32),
    /// W-MSR with parameter F: drop up to F neighbour values strictly above the own value
    /// and up to F strictly below, average the rest with the own value.
    Wmsr(u32),
}

impl Aggregation {
    /// Short name for outputs.
    pub fn name(self) -> &'static str {
        match self {
            Aggregation::Mean => "mean",
            Aggregation::Median => "median",
            Aggregation::TrimmedMean(_) => "trimmed_mean",
            Aggregation::Wmsr(_) => "wmsr",
        }
    }

    /// Combines `own` (the aggregating agent's own value, if it has one) with `others`.
    /// `None` when there is nothing to combine.
    pub fn combine(self, own: Option<f64>, others: &mut [f64]) -> Option<f64> {
        match self {
            Aggregation::Mean => {
                let n = others.len() + usize::from(own.is_some());
                (n > 0).then(|| (others.iter().sum::<f64>() + own.unwrap_or(0.0)) / n as f64)
            }
            Aggregation::Median | Aggregation::TrimmedMean(_) => {
                let mut all: Vec<f64> = others.to_vec();
                all.extend(own);
                match self {
                    Aggregation::Median => median(&mut all),
                    Aggregation::TrimmedMean(f) => trimmed_mean(&mut all, f as usize),
                    _ => None,
                }
            }
            Aggregation::Wmsr(f) => match own {
                Some(x) => Some(wmsr_step(x, others, f as usize)),
                None => trimmed_mean(others, f as usize),
            },
        }
    }
}

/// The median of `v` (sorted in place); `None` when empty.
pub fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 { v[n / 2] } else { 0.5 * (v[n / 2 - 1] + v[n / 2]) })
}

/// The mean after dropping the `f` largest and `f` smallest values (sorted in place);
/// `None` when fewer than 2f + 1 values are given.
pub fn trimmed_mean(v: &mut [f64], f: usize) -> Option<f64> {
    if v.len() < 2 * f + 1 {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let kept = &v[f..v.len() - f];
    Some(kept.iter().sum::<f64>() / kept.len() as f64)
}

/// Which of the neighbour values W-MSR keeps (indices into `values`): it drops the `f`
/// largest of those strictly above `own` (all of them if fewer) and likewise below.
pub fn wmsr_keep(own: f64, values: &[f64], f: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..values.len()).collect();
    // Ties broken by index, so the choice is deterministic.
    idx.sort_by(|&a, &b| values[a].total_cmp(&values[b]).then(a.cmp(&b)));
    let above = idx.iter().filter(|&&k| values[k] > own).count();
    let below = idx.iter().filter(|&&k| values[k] < own).count();
    let (drop_hi, drop_lo) = (above.min(f), below.min(f));
    let n = idx.len();
    let mut keep: Vec<usize> = idx[drop_lo..n - drop_hi].to_vec();
    keep.sort_unstable();
    keep
}

/// One W-MSR update with equal weights: the mean of the own value and the kept neighbour
/// values.
pub fn wmsr_step(own: f64, values: &[f64], f: usize) -> f64 {
    let keep = wmsr_keep(own, values, f);
    (own + keep.iter().map(|&k| values[k]).sum::<f64>()) / (1 + keep.len()) as f64
}

/// One W-MSR update with weights (a row of a stochastic matrix): the kept neighbours
/// contribute `w·value`, the dropped ones' weight goes to the own value, so the weights
/// still sum to one. `values` are (weight, value); `own_w` is the own value's weight.
pub fn wmsr_weighted(own: f64, own_w: f64, values: &[(f64, f64)], f: usize) -> f64 {
    let v: Vec<f64> = values.iter().map(|x| x.1).collect();
    let keep = wmsr_keep(own, &v, f);
    let kept_w: f64 = keep.iter().map(|&k| values[k].0).sum();
    let total_w = own_w + values.iter().map(|x| x.0).sum::<f64>();
    own * (total_w - kept_w) + keep.iter().map(|&k| values[k].0 * values[k].1).sum::<f64>()
}

/// Whether the undirected graph with adjacency lists `adj` is r-robust: of every two
/// disjoint non-empty node sets, at least one has a node with at least r neighbours
/// outside its set. Checking this is coNP-complete; this enumerates all 3ⁿ assignments
/// and is meant for the small graphs of tests (n ≤ 14).
pub fn is_r_robust(adj: &[Vec<usize>], r: usize) -> bool {
    let n = adj.len();
    assert!(n <= 14, "is_r_robust enumerates 3^n set pairs; {n} nodes is too many");
    let reachable =
        |set: u32| (0..n).any(|i| set >> i & 1 == 1 && adj[i].iter().filter(|&&j| set >> j & 1 == 0).count() >= r);
    let total = 3usize.pow(n as u32);
    for code in 0..total {
        let (mut s1, mut s2, mut c) = (0u32, 0u32, code);
        for i in 0..n {
            match c % 3 {
                1 => s1 |= 1 << i,
                2 => s2 |= 1 << i,
                _ => {}
            }
            c /= 3;
        }
        if s1 == 0 || s2 == 0 || s1 > s2 {
            continue;
        }
        if !reachable(s1) && !reachable(s2) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::ChaCha8Rng;
    use rand::{RngExt, SeedableRng};

    #[test]
    fn weighted_wmsr_moves_dropped_weight_to_the_own_value() {
        // Own 1.0 (weight 0.4); neighbours 0.0, 2.0, 100.0 (weights 0.2 each); F = 1 drops
        // 100 above and 0 below: 1.0·(0.4 + 0.2 + 0.2) + 0.2·2.0 = 1.2.
        let got = wmsr_weighted(1.0, 0.4, &[(0.2, 0.0), (0.2, 2.0), (0.2, 100.0)], 1);
        assert!((got - 1.2).abs() < 1e-12, "{got}");
        // F = 0 is the plain weighted mean.
        let got = wmsr_weighted(1.0, 0.4, &[(0.2, 0.0), (0.2, 2.0), (0.2, 100.0)], 0);
        assert!((got - (0.4 + 0.4 + 20.0)).abs() < 1e-12, "{got}");
    }

    fn complete(n: usize) -> Vec<Vec<usize>> {
        (0..n).map(|i| (0..n).filter(|&j| j != i).collect()).collect()
    }

    /// Grows an r-robust graph: K_{2r−1} is r-robust (⌈n/2⌉ for K_n), and a new node
    /// joined to at least r existing ones keeps the property (LeBlanc et al., Thm. 5).
    fn grown(r: usize, n: usize, rng: &mut ChaCha8Rng) -> Vec<Vec<usize>> {
        let mut adj = complete(2 * r - 1);
        while adj.len() < n {
            let me = adj.len();
            let mut picks: Vec<usize> = (0..me).collect();
            for i in 0..r {
                let j = rng.random_range(i..picks.len());
                picks.swap(i, j);
            }
            adj.push(picks[..r].to_vec());
            for &p in &picks[..r] {
                adj[p].push(me);
            }
        }
        adj
    }

    #[test]
    fn median_and_trimmed_mean_stay_in_the_honest_range_iff_n_at_least_2f_plus_1() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for f in 1..6usize {
            for n in 2 * f + 1..2 * f + 6 {
                for _ in 0..200 {
                    let honest: Vec<f64> = (0..n - f).map(|_| rng.random_range(-10.0..10.0)).collect();
                    let (lo, hi) = honest.iter().fold((f64::MAX, f64::MIN), |(a, b), &x| (a.min(x), b.max(x)));
                    let mut v = honest.clone();
                    // The adversaries all push the same way, or split, with extreme values.
                    for k in 0..f {
                        let big = if rng.random_bool(0.5) || k % 2 == 0 { 1e12 } else { -1e12 };
                        v.push(big * rng.random_range(0.5..2.0));
                    }
                    let m = median(&mut v.clone()).unwrap();
                    assert!(m >= lo && m <= hi, "median {m} outside [{lo}, {hi}] n={n} f={f}");
                    let t = trimmed_mean(&mut v, f).unwrap();
                    assert!(t >= lo - 1e-9 && t <= hi + 1e-9, "trimmed {t} outside n={n} f={f}");
                }
            }
            // n = 2f: f honest values and f liars on one side pull the median out.
            let mut v: Vec<f64> = (0..f).map(|k| k as f64).chain((0..f).map(|_| 1e9)).collect();
            let m = median(&mut v).unwrap();
            assert!(m > (f - 1) as f64, "the counterexample at n = 2f must leave the honest range: {m}");
            assert_eq!(trimmed_mean(&mut vec![0.0; 2 * f], f), None);
        }
    }

    #[test]
    fn robustness_of_known_graphs() {
        // K_n is ⌈n/2⌉-robust and no more.
        for n in 2..9usize {
            let r = n.div_ceil(2);
            assert!(is_r_robust(&complete(n), r), "K_{n} is {r}-robust");
            assert!(!is_r_robust(&complete(n), r + 1), "K_{n} is not {}-robust", r + 1);
        }
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let g = grown(3, 11, &mut rng);
        assert!(is_r_robust(&g, 3));
        // Two cliques joined by one edge: not 2-robust.
        assert!(!is_r_robust(&two_cliques(5, 1), 2));
    }

    fn two_cliques(k: usize, bridges: usize) -> Vec<Vec<usize>> {
        let mut adj: Vec<Vec<usize>> = (0..2 * k)
            .map(|i| {
                let base = if i < k { 0 } else { k };
                (base..base + k).filter(|&j| j != i).collect()
            })
            .collect();
        for b in 0..bridges {
            adj[b].push(k + b);
            adj[k + b].push(b);
        }
        adj
    }

    /// Runs W-MSR; `malicious` nodes send `attack(tick, from, to)` to each neighbour (a
    /// Byzantine node may tell each a different value). Returns the normal nodes' values
    /// after each tick.
    fn run_wmsr(
        adj: &[Vec<usize>],
        init: &[f64],
        malicious: &[usize],
        f: usize,
        ticks: usize,
        attack: impl Fn(usize, usize, usize) -> f64,
    ) -> Vec<Vec<f64>> {
        let mut x = init.to_vec();
        let mut out = Vec::new();
        for t in 0..ticks {
            let mut next = x.clone();
            for i in 0..adj.len() {
                if malicious.contains(&i) {
                    continue;
                }
                let heard: Vec<f64> =
                    adj[i].iter().map(|&j| if malicious.contains(&j) { attack(t, j, i) } else { x[j] }).collect();
                next[i] = wmsr_step(x[i], &heard, f);
            }
            x = next;
            out.push((0..adj.len()).filter(|i| !malicious.contains(i)).map(|i| x[i]).collect());
        }
        out
    }

    #[test]
    fn wmsr_keeps_normal_nodes_in_range_and_agrees_on_a_2f_plus_1_robust_graph() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        for f in 1..=2usize {
            let r = 2 * f + 1;
            let n = 12;
            let g = grown(r, n, &mut rng);
            assert!(is_r_robust(&g, r), "the grown graph must be {r}-robust");
            // F malicious nodes in all: each normal node has at most F malicious neighbours.
            let malicious: Vec<usize> = (0..f).map(|k| n - 1 - k).collect();
            let init: Vec<f64> = (0..n).map(|_| rng.random_range(0.0..100.0)).collect();
            let normal: Vec<f64> = (0..n).filter(|i| !malicious.contains(i)).map(|i| init[i]).collect();
            let (lo, hi) = normal.iter().fold((f64::MAX, f64::MIN), |(a, b), &x| (a.min(x), b.max(x)));
            let byzantine = |t: usize, from: usize, to: usize| {
                // Different lies to different neighbours, changing over time.
                if (t + from + to).is_multiple_of(2) { 1e6 } else { -1e6 + t as f64 }
            };
            let trace = run_wmsr(&g, &init, &malicious, f, 400, byzantine);
            for (t, xs) in trace.iter().enumerate() {
                for &v in xs {
                    assert!(v >= lo - 1e-9 && v <= hi + 1e-9, "tick {t}: {v} left [{lo}, {hi}] (F={f})");
                }
            }
            let last = trace.last().unwrap();
            let spread = last.iter().cloned().fold(f64::MIN, f64::max) - last.iter().cloned().fold(f64::MAX, f64::min);
            assert!(spread < 1e-6, "normal nodes must agree, spread {spread} (F={f})");
            // The plain mean on the same graph is dragged out of range at once.
            let mean_trace = {
                let mut x = init.clone();
                for i in 0..n {
                    if !malicious.contains(&i) {
                        let s: f64 = g[i].iter().map(|&j| if malicious.contains(&j) { 1e6 } else { init[j] }).sum();
                        x[i] = (init[i] + s) / (1 + g[i].len()) as f64;
                    }
                }
                x
            };
            assert!((0..n).any(|i| !malicious.contains(&i) && mean_trace[i] > hi), "the mean has no such guarantee");
        }
    }

    #[test]
    fn wmsr_fails_on_a_graph_that_is_not_f_plus_1_robust() {
        // Two 5-cliques joined by one edge, F = 1: not 2-robust. With no adversary at all
        // the cliques keep their own values: each bridge end drops the one foreign value.
        let g = two_cliques(5, 1);
        assert!(!is_r_robust(&g, 2));
        let init: Vec<f64> = (0..10).map(|i| if i < 5 { 0.0 } else { 1.0 }).collect();
        let trace = run_wmsr(&g, &init, &[], 1, 300, |_, _, _| 0.0);
        let last = trace.last().unwrap();
        assert!(last[..5].iter().all(|&v| v == 0.0) && last[5..].iter().all(|&v| v == 1.0), "{last:?}");
        // The plain mean (F = 0) agrees on the same graph: the failure is W-MSR's price.
        let trace = run_wmsr(&g, &init, &[], 0, 3000, |_, _, _| 0.0);
        let last = trace.last().unwrap();
        assert!(last.iter().all(|&v| (v - 0.5).abs() < 1e-3), "{last:?}");
    }

    #[test]
    fn aggregation_dispatch() {
        let mut v = [1.0, 2.0, 100.0];
        assert_eq!(Aggregation::Mean.combine(Some(3.0), &mut v), Some(26.5));
        assert_eq!(Aggregation::Median.combine(Some(3.0), &mut v), Some(2.5));
        assert_eq!(Aggregation::TrimmedMean(1).combine(Some(3.0), &mut v), Some(2.5));
        assert_eq!(Aggregation::Wmsr(1).combine(Some(3.0), &mut v), Some(2.5));
        assert_eq!(Aggregation::Median.combine(None, &mut []), None);
    }
}
