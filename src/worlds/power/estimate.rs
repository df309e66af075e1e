//! Weighted-least-squares DC state estimation with bad-data detection, and the false-data
//! attacks against it.
//!
//! Model (A. Abur & A. G. Expósito, *Power System State Estimation: Theory and
//! Implementation*, Marcel Dekker 2004, ch. 2 and 5; A. Monticelli, *State Estimation in
//! Electric Power Systems*, 1999): the operator's SCADA scans measurements z = H·θ + c₀ + e
//! of the line flows (from end) and the bus injections, with independent Gaussian errors
//! e ~ N(0, σ²). H is the DC model's Jacobian in MW/rad over the bus angles, c₀ the phase
//! shifters' and the angle references' constant part. The estimate minimizes
//! J(θ) = Σ (z − Hθ − c₀)²/σ², so θ̂ = G⁻¹ Hᵀ W (z − c₀) with the gain matrix G = Hᵀ W H
//! (sparse Cholesky, faer), one angle reference fixed per island.
//!
//! Bad data: J(θ̂) follows χ² with m − n degrees of freedom when the errors are Gaussian, so
//! J > χ²₁₋α(m − n) flags the scan; the largest normalized residual
//! rᴺᵢ = |rᵢ| / √Ωᵢᵢ, Ω = R − H G⁻¹ Hᵀ, above a threshold (3) names the bad measurement,
//! which is removed and the estimate redone, until the test passes or nothing can be named.
//! Critical measurements (Ωᵢᵢ = 0) cannot be checked.
//!
//! Attacks (Y. Liu, P. Ning & M. K. Reiter, "False data injection attacks against state
//! estimation in electric power grids", ACM CCS 2009): an attacker who knows H and adds
//! a = H·c to the meters shifts the estimate by c and leaves every residual, J and rᴺ
//! unchanged; an attack outside H's column space (one meter, or a random vector) raises J.
//! [`Estimator::attack`] builds both.

use faer::linalg::solvers::Solve;
use faer::sparse::linalg::solvers::Llt;
use faer::sparse::{SparseColMat, Triplet};
use faer::{MatMut, Side};

use super::dcflow::DcNetwork;
use crate::sim::special::chi2_quantile;

const NONE: usize = usize::MAX;

/// One measurement of the SCADA scan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Meas {
    /// The MW flow of branch k at its from end.
    Flow(usize),
    /// The net MW injection at bus i.
    Injection(usize),
}

impl Meas {
    /// The measurement's name in events: `flow:K` or `injection:BUS` (file numbers).
    pub fn label(&self, net: &DcNetwork) -> String {
        match *self {
            Meas::Flow(k) => format!(
                "flow:{}-{}",
                net.buses()[net.branches()[k].from].number,
                net.buses()[net.branches()[k].to].number
            ),
            Meas::Injection(i) => format!("injection:{}", net.buses()[i].number),
        }
    }
}

/// Why there is no estimate.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SeError {
    /// The gain matrix is singular: the measurements do not determine every angle.
    #[error("the network is not observable from these measurements")]
    Unobservable,
    #[error("{0}")]
    Factorization(String),
}

/// Every measurement of a fully metered network: the flow of each energized branch and the
/// injection at every bus of an island with at least one energized branch.
pub fn full_set(net: &DcNetwork) -> Vec<Meas> {
    let mut out: Vec<Meas> = (0..net.branches().len()).filter(|&k| net.branch_energized(k)).map(Meas::Flow).collect();
    for isl in net.islands() {
        if !isl.branches.is_empty() {
            out.extend(isl.buses.iter().map(|&i| Meas::Injection(i)));
        }
    }
    out
}

/// The linear measurement model of one topology and measurement set, with its factored gain.
#[derive(Clone)]
pub struct Estimator {
    meas: Vec<Meas>,
    sigma: Vec<f64>,
    /// H's rows over bus indices (MW/rad); reference buses included, see [`Self::attack`].
    rows: Vec<Vec<(usize, f64)>>,
    c0: Vec<f64>,
    /// State column of each bus (`NONE` for angle references and buses outside every island).
    col: Vec<usize>,
    /// Fixed angle of the reference buses, rad.
    fixed: Vec<f64>,
    n: usize,
    gain: Option<Llt<usize, f64>>,
    omega: Option<Vec<f64>>,
}

impl std::fmt::Debug for Estimator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Estimator {{ m: {}, n: {} }}", self.meas.len(), self.n)
    }
}

/// One estimate.
#[derive(Clone, Debug, PartialEq)]
pub struct Estimate {
    /// Angle of every bus, rad.
    pub theta: Vec<f64>,
    /// z − h(θ̂), MW, one per measurement.
    pub residuals: Vec<f64>,
    /// J(θ̂) = Σ r²/σ².
    pub j: f64,
}

impl Estimator {
    /// The model of `meas` (with standard deviations `sigma`, MW) on the network's current
    /// topology. Fails when the set leaves an angle undetermined.
    pub fn new(net: &DcNetwork, meas: Vec<Meas>, sigma: Vec<f64>) -> Result<Estimator, SeError> {
        let nb = net.buses().len();
        let mut col = vec![NONE; nb];
        let mut fixed = vec![0.0; nb];
        let mut n = 0;
        for isl in net.islands() {
            for &i in &isl.buses {
                if i == isl.angle_ref {
                    fixed[i] = isl.angle_ref_rad;
                } else {
                    col[i] = n;
                    n += 1;
                }
            }
        }
        let base = net.base_mva();
        let flow_row = |k: usize| -> (Vec<(usize, f64)>, f64) {
            let br = &net.branches()[k];
            if !net.branch_energized(k) {
                return (Vec::new(), 0.0);
            }
            let b = br.b_pu * base;
            (vec![(br.from, b), (br.to, -b)], -b * br.shift_rad)
        };
        let mut incident: Vec<Vec<usize>> = vec![Vec::new(); nb];
        for (k, br) in net.branches().iter().enumerate() {
            if net.branch_energized(k) {
                incident[br.from].push(k);
                incident[br.to].push(k);
            }
        }
        let mut rows = Vec::with_capacity(meas.len());
        let mut c0 = Vec::with_capacity(meas.len());
        for m in &meas {
            let (row, c) = match *m {
                Meas::Flow(k) => flow_row(k),
                Meas::Injection(i) => {
                    let mut row: Vec<(usize, f64)> = Vec::new();
                    let mut c = 0.0;
                    for &k in &incident[i] {
                        let sign = if net.branches()[k].from == i { 1.0 } else { -1.0 };
                        let (r, ck) = flow_row(k);
                        c += sign * ck;
                        for (bus, v) in r {
                            match row.iter_mut().find(|e| e.0 == bus) {
                                Some(e) => e.1 += sign * v,
                                None => row.push((bus, sign * v)),
                            }
                        }
                    }
                    (row, c)
                }
            };
            rows.push(row);
            c0.push(c);
        }
        let mut est = Estimator { meas, sigma, rows, c0, col, fixed, n, gain: None, omega: None };
        est.factor()?;
        Ok(est)
    }

    fn factor(&mut self) -> Result<(), SeError> {
        if self.n == 0 {
            return Ok(());
        }
        let mut trip = Vec::new();
        let mut seen = vec![false; self.n];
        for (row, s) in self.rows.iter().zip(&self.sigma) {
            let w = 1.0 / (s * s);
            for &(a, va) in row {
                let ca = self.col[a];
                if ca == NONE {
                    continue;
                }
                seen[ca] = true;
                for &(b, vb) in row {
                    let cb = self.col[b];
                    if cb != NONE {
                        trip.push(Triplet::new(ca, cb, w * va * vb));
                    }
                }
            }
        }
        if seen.iter().any(|s| !s) {
            return Err(SeError::Unobservable);
        }
        let g = SparseColMat::<usize, f64>::try_new_from_triplets(self.n, self.n, &trip)
            .map_err(|e| SeError::Factorization(format!("{e:?}")))?;
        let llt = g.sp_cholesky(Side::Lower).map_err(|_| SeError::Unobservable)?;
        self.gain = Some(llt);
        Ok(())
    }

    /// The measurements, in order.
    pub fn measurements(&self) -> &[Meas] {
        &self.meas
    }

    /// Number of measurements m and of states n.
    pub fn size(&self) -> (usize, usize) {
        (self.meas.len(), self.n)
    }

    /// Degrees of freedom of J: m − n.
    pub fn dof(&self) -> usize {
        self.meas.len().saturating_sub(self.n)
    }

    /// h(θ) for bus angles `theta`: what error-free meters would read, MW.
    pub fn predict(&self, theta: &[f64]) -> Vec<f64> {
        self.rows.iter().zip(&self.c0).map(|(row, c)| c + row.iter().map(|&(b, v)| v * theta[b]).sum::<f64>()).collect()
    }

    fn solve_cols(&self, rhs: &mut [f64]) {
        if let Some(g) = &self.gain {
            let n = rhs.len();
            g.solve_in_place(MatMut::from_column_major_slice_mut(rhs, n, 1));
        }
    }

    /// The weighted-least-squares estimate from scan `z` (one value per measurement, MW).
    pub fn estimate(&self, z: &[f64]) -> Estimate {
        let mut rhs = vec![0.0; self.n];
        for (((row, s), zi), c) in self.rows.iter().zip(&self.sigma).zip(z).zip(&self.c0) {
            let w = 1.0 / (s * s);
            // The constant part includes the reference buses' fixed angles.
            let fixed: f64 = row.iter().filter(|e| self.col[e.0] == NONE).map(|&(b, v)| v * self.fixed[b]).sum();
            let y = zi - c - fixed;
            for &(b, v) in row {
                if self.col[b] != NONE {
                    rhs[self.col[b]] += w * v * y;
                }
            }
        }
        self.solve_cols(&mut rhs);
        let theta: Vec<f64> =
            (0..self.col.len()).map(|i| if self.col[i] == NONE { self.fixed[i] } else { rhs[self.col[i]] }).collect();
        let h = self.predict(&theta);
        let residuals: Vec<f64> = z.iter().zip(&h).map(|(a, b)| a - b).collect();
        let j = residuals.iter().zip(&self.sigma).map(|(r, s)| (r / s) * (r / s)).sum();
        Estimate { theta, residuals, j }
    }

    /// Ωᵢᵢ = σᵢ² − hᵢ G⁻¹ hᵢᵀ of every measurement, MW² (computed once per model).
    pub fn residual_variances(&mut self) -> &[f64] {
        if self.omega.is_none() {
            let mut out = Vec::with_capacity(self.meas.len());
            let mut x = vec![0.0; self.n];
            for (row, s) in self.rows.iter().zip(&self.sigma) {
                x.iter_mut().for_each(|v| *v = 0.0);
                for &(b, v) in row {
                    if self.col[b] != NONE {
                        x[self.col[b]] += v;
                    }
                }
                let h: Vec<f64> = x.clone();
                self.solve_cols(&mut x);
                let q: f64 = h.iter().zip(&x).map(|(a, b)| a * b).sum();
                out.push((s * s - q).max(0.0));
            }
            self.omega = Some(out);
        }
        self.omega.as_deref().unwrap_or(&[])
    }

    /// Normalized residuals |rᵢ|/√Ωᵢᵢ; `None` for critical measurements (Ωᵢᵢ ≈ 0).
    pub fn normalized(&mut self, residuals: &[f64]) -> Vec<Option<f64>> {
        let sig: Vec<f64> = self.sigma.clone();
        let omega = self.residual_variances();
        residuals
            .iter()
            .zip(omega)
            .zip(&sig)
            .map(|((r, &o), s)| if o > 1e-9 * s * s { Some(r.abs() / o.sqrt()) } else { None })
            .collect()
    }

    /// a = H·c for angle shifts `c` at buses (rad): what an attacker adds to the meters to
    /// move the estimate by c. A shift at a reference bus moves the rest of its island.
    pub fn attack(&self, c: &[(usize, f64)]) -> Vec<f64> {
        self.rows
            .iter()
            .map(|row| row.iter().map(|&(b, v)| v * c.iter().filter(|e| e.0 == b).map(|e| e.1).sum::<f64>()).sum())
            .collect()
    }

    /// Σ of H's injection-row entries at bus i itself: ∂Pᵢ/∂θᵢ, MW/rad (0 for a bus without
    /// energized branches).
    pub fn self_susceptance(&self, bus: usize) -> f64 {
        self.meas
            .iter()
            .zip(&self.rows)
            .find(|(m, _)| **m == Meas::Injection(bus))
            .and_then(|(_, row)| row.iter().find(|e| e.0 == bus).map(|e| e.1))
            .unwrap_or(0.0)
    }
}

/// Settings of the bad-data test.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BadDataTest {
    /// False-alarm probability α of the χ² test.
    pub alpha: f64,
    /// Normalized residual above which a measurement is named bad.
    pub lnr: f64,
    /// Most measurements removed in one scan.
    pub max_removals: usize,
}

/// What a scan's estimate with bad-data detection found.
#[derive(Clone, Debug)]
pub struct Checked {
    /// The final estimate (after removals).
    pub estimate: Estimate,
    /// J of the first estimate, and its threshold χ²₁₋α(m − n).
    pub j: f64,
    pub threshold: f64,
    /// Whether the first estimate failed the χ² test.
    pub detected: bool,
    /// Measurements removed, with their normalized residual, in order.
    pub removed: Vec<(Meas, f64)>,
    /// Whether the final estimate passes the test.
    pub clean: bool,
}

/// Estimates from scan `z` of `est`'s measurements; with `test`, runs the χ² test and
/// removes measurements by largest normalized residual (rebuilding the model each time).
pub fn check(net: &DcNetwork, est: &mut Estimator, z: &[f64], test: Option<BadDataTest>) -> Result<Checked, SeError> {
    let first = est.estimate(z);
    let threshold = chi2_quantile(1.0 - test.map_or(0.01, |t| t.alpha), est.dof().max(1) as f64);
    let (j, detected) = (first.j, est.dof() > 0 && first.j > threshold);
    let mut out = Checked { estimate: first, j, threshold, detected, removed: Vec::new(), clean: !detected };
    let Some(test) = test else { return Ok(out) };
    if !detected {
        return Ok(out);
    }
    let mut cur: Option<Estimator> = None;
    let mut zc = z.to_vec();
    for _ in 0..test.max_removals {
        let model: &mut Estimator = match cur.as_mut() {
            Some(c) => c,
            None => &mut *est,
        };
        let rn = model.normalized(&out.estimate.residuals);
        let worst = rn.iter().enumerate().filter_map(|(i, r)| r.map(|r| (i, r))).max_by(|a, b| a.1.total_cmp(&b.1));
        let Some((i, r)) = worst.filter(|w| w.1 > test.lnr) else { break };
        let named = model.meas[i];
        let mut meas = model.meas.clone();
        let mut sigma = model.sigma.clone();
        meas.remove(i);
        sigma.remove(i);
        zc.remove(i);
        let Ok(next) = Estimator::new(net, meas, sigma) else {
            break; // removing it would leave the network unobservable: keep the last estimate
        };
        out.removed.push((named, r));
        out.estimate = next.estimate(&zc);
        let thr = chi2_quantile(1.0 - test.alpha, next.dof().max(1) as f64);
        let done = next.dof() == 0 || out.estimate.j <= thr;
        cur = Some(next);
        if done {
            out.clean = true;
            break;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::worlds::power::matpower::Case;
    use rand::{RngExt, SeedableRng};

    fn ieee14() -> DcNetwork {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/cases/ieee14.m")).unwrap();
        DcNetwork::from_case(&Case::parse(&text).unwrap()).unwrap()
    }

    /// The true state of the case's DC power flow and the error-free scan of it.
    fn truth(net: &mut DcNetwork, est: &Estimator) -> (Vec<f64>, Vec<f64>) {
        let pf = net.matpower_dcpf().unwrap();
        (pf.angles_rad.clone(), est.predict(&pf.angles_rad))
    }

    fn noisy(z: &[f64], sigma: &[f64], seed: u64) -> Vec<f64> {
        let mut r = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(seed);
        z.iter()
            .zip(sigma)
            .map(|(v, s)| {
                let (u1, u2): (f64, f64) = (r.random::<f64>().max(1e-300), r.random());
                v + s * (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
            })
            .collect()
    }

    fn setup() -> (DcNetwork, Estimator, Vec<f64>) {
        let net = ieee14();
        let meas = full_set(&net);
        let sigma: Vec<f64> = meas.iter().map(|m| if matches!(m, Meas::Flow(_)) { 1.0 } else { 2.0 }).collect();
        let est = Estimator::new(&net, meas, sigma.clone()).unwrap();
        (net, est, sigma)
    }

    #[test]
    fn error_free_scan_gives_the_true_state_and_zero_residual() {
        let (mut net, est, _) = setup();
        assert_eq!(est.size(), (20 + 14, 13));
        let (theta, z) = truth(&mut net, &est);
        let e = est.estimate(&z);
        for (a, b) in e.theta.iter().zip(&theta) {
            assert!((a - b).abs() < 1e-10, "{a} vs {b}");
        }
        assert!(e.j < 1e-12, "J = {}", e.j);
    }

    #[test]
    fn stealthy_attack_leaves_j_unchanged_random_attack_of_equal_size_is_caught() {
        let (mut net, mut est, sigma) = setup();
        let (_, z0) = truth(&mut net, &est);
        let z = noisy(&z0, &sigma, 7);
        let clean = est.estimate(&z);
        let thr = chi2_quantile(0.99, est.dof() as f64);
        assert!(clean.j < thr, "the honest noisy scan passes: J {} vs {}", clean.j, thr);
        // Liu, Ning & Reiter: a = Hc for c = 0.05 rad at bus 9 (index 8) and −0.03 at bus 4.
        let a = est.attack(&[(8, 0.05), (3, -0.03)]);
        let norm = a.iter().map(|v| v * v).sum::<f64>().sqrt();
        assert!(norm > 50.0, "a sizeable attack: |a| = {norm} MW");
        let za: Vec<f64> = z.iter().zip(&a).map(|(x, y)| x + y).collect();
        let hit = est.estimate(&za);
        assert!((hit.j - clean.j).abs() < 1e-9 * clean.j.max(1.0), "J {} vs {}", hit.j, clean.j);
        assert!((hit.theta[8] - clean.theta[8] - 0.05).abs() < 1e-9);
        let rn0 = est.normalized(&clean.residuals);
        let rn1 = est.normalized(&hit.residuals);
        for (x, y) in rn0.iter().zip(&rn1) {
            assert!((x.unwrap_or(0.0) - y.unwrap_or(0.0)).abs() < 1e-7);
        }
        // A random attack of the same Euclidean size is caught by the χ² test.
        let mut r = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(3);
        for trial in 0..20 {
            let v: Vec<f64> = (0..a.len()).map(|_| r.random::<f64>() - 0.5).collect();
            let s = norm / v.iter().map(|x| x * x).sum::<f64>().sqrt();
            let zr: Vec<f64> = z.iter().zip(&v).map(|(x, y)| x + s * y).collect();
            let j = est.estimate(&zr).j;
            assert!(j > thr, "trial {trial}: J {j} not above {thr}");
        }
    }

    #[test]
    fn one_bad_meter_is_named_by_the_largest_normalized_residual_and_removed() {
        let (mut net, mut est, sigma) = setup();
        let (_, z0) = truth(&mut net, &est);
        let mut z = noisy(&z0, &sigma, 11);
        let bad = est.measurements().iter().position(|m| *m == Meas::Injection(8)).unwrap();
        z[bad] -= 40.0;
        let test = BadDataTest { alpha: 0.01, lnr: 3.0, max_removals: 5 };
        let c = check(&net.clone(), &mut est, &z, Some(test)).unwrap();
        assert!(c.detected && c.clean, "{c:?}");
        assert_eq!(c.removed.len(), 1);
        assert_eq!(c.removed[0].0, Meas::Injection(8));
        // Without the bad meter the estimate is back near the truth.
        let truth = net.matpower_dcpf().unwrap().angles_rad;
        assert!((c.estimate.theta[8] - truth[8]).abs() < 0.01);
        let _ = &mut net;
    }

    #[test]
    fn removing_every_flow_around_a_bus_leaves_it_unobservable() {
        let net = ieee14();
        // Bus 8 (index 7) hangs on branch 7–8 only: drop its flow and both injections.
        let k = net.branches().iter().position(|b| b.from == 6 && b.to == 7).unwrap();
        let meas: Vec<Meas> = full_set(&net)
            .into_iter()
            .filter(|m| !matches!(m, Meas::Flow(x) if *x == k) && !matches!(m, Meas::Injection(6) | Meas::Injection(7)))
            .collect();
        let sigma = vec![1.0; meas.len()];
        assert_eq!(Estimator::new(&net, meas, sigma).unwrap_err(), SeError::Unobservable);
    }
}
