//! Dispatch: economic dispatch by exact lambda iteration, DC optimal power flow with line limits and
//! locational marginal prices (a QP solved by Clarabel), and the consensus economic dispatch of Yang,
//! Tan & Xu as a pure, step-by-step iteration.
//!
//! Sources: A. J. Wood, B. F. Wollenberg & G. B. Sheblé, *Power Generation, Operation, and Control*,
//! 3rd ed., Wiley 2014, ch. 3 (lambda iteration) and ch. 8 (DC OPF, LMPs); S. Yang, S. Tan & J.-X. Xu,
//! "Consensus Based Approach for Economic Dispatch Problem in a Smart Grid", IEEE Trans. Power
//! Systems 28(4):4416–4426, 2013; L. Xiao & S. Boyd, "Fast linear iterations for distributed
//! averaging", Systems & Control Letters 53(1):65–78, 2004 (Metropolis weights); P. J. Goulart &
//! Y. Chen, "Clarabel: An interior-point solver for conic programs with quadratic objectives",
//! arXiv:2405.12762, 2024.
//!
//! Units: power in MW, costs in $/h, marginal costs and prices in $/MWh.

use clarabel::algebra::CscMatrix;
use clarabel::solver::{DefaultSettingsBuilder, DefaultSolver, IPSolver, SolverStatus, SupportedConeT};
use serde::{Deserialize, Serialize};

use super::dcflow::DcNetwork;
use super::matpower::{CostModel, GenCost};

/// Why a dispatch could not be computed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum DispatchError {
    /// The demand is outside what the units can produce.
    #[error("demand {demand_mw} MW is outside the units' range [{min_mw}, {max_mw}] MW")]
    Infeasible {
        /// Demand asked for.
        demand_mw: f64,
        /// Σ Pmin.
        min_mw: f64,
        /// Σ Pmax.
        max_mw: f64,
    },
    /// The DC OPF has no feasible point (limits, or an island with demand but no generation).
    #[error("DC OPF infeasible: the demand cannot be met within generator and line limits ({0})")]
    OpfInfeasible(String),
    /// The solver stopped without a solution.
    #[error("DC OPF solver failed: {0}")]
    Solver(String),
    /// A parameter outside its range, or inputs of the wrong length.
    #[error("{0}")]
    Invalid(String),
}

/// Quadratic cost c2·P² + c1·P + c0 ($/h with P in MW).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct QuadCost {
    /// $/MW²h, ≥ 0.
    pub c2: f64,
    /// $/MWh.
    pub c1: f64,
    /// $/h.
    pub c0: f64,
}

impl QuadCost {
    /// Cost at `p_mw`, $/h.
    pub fn eval(&self, p_mw: f64) -> f64 {
        (self.c2 * p_mw + self.c1) * p_mw + self.c0
    }

    /// Marginal cost at `p_mw`, $/MWh.
    pub fn marginal(&self, p_mw: f64) -> f64 {
        2.0 * self.c2 * p_mw + self.c1
    }

    /// From a MATPOWER polynomial cost of degree ≤ 2 (n ≤ 3); other models are rejected.
    pub fn from_gencost(g: &GenCost) -> Result<QuadCost, DispatchError> {
        if g.model != CostModel::Polynomial {
            return Err(DispatchError::Invalid("piecewise-linear costs are not supported here".into()));
        }
        let c = &g.coeffs;
        match c.len() {
            1 => Ok(QuadCost { c2: 0.0, c1: 0.0, c0: c[0] }),
            2 => Ok(QuadCost { c2: 0.0, c1: c[0], c0: c[1] }),
            3 => Ok(QuadCost { c2: c[0], c1: c[1], c0: c[2] }),
            n => Err(DispatchError::Invalid(format!("a polynomial cost of degree {} is not quadratic", n - 1))),
        }
    }

    fn validate(&self, k: usize) -> Result<(), DispatchError> {
        if !(self.c2.is_finite() && self.c1.is_finite() && self.c0.is_finite()) {
            return Err(DispatchError::Invalid(format!("unit {k}: cost coefficients must be finite")));
        }
        if self.c2 < 0.0 {
            return Err(DispatchError::Invalid(format!("unit {k}: c2 = {} < 0 (a non-convex cost)", self.c2)));
        }
        Ok(())
    }
}

/// A dispatchable unit for [`economic_dispatch`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Unit {
    /// Cost curve.
    pub cost: QuadCost,
    /// Minimum output, MW.
    pub pmin_mw: f64,
    /// Maximum output, MW.
    pub pmax_mw: f64,
}

/// Result of [`economic_dispatch`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EconomicDispatch {
    /// Output per unit, MW.
    pub p_mw: Vec<f64>,
    /// System marginal cost λ, $/MWh.
    pub lambda: f64,
    /// Total cost, $/h.
    pub cost: f64,
}

#[derive(Clone, Copy, PartialEq)]
enum Side {
    Left,
    Right,
}

fn unit_output(u: &Unit, lambda: f64, side: Side) -> f64 {
    let c = &u.cost;
    if c.c2 > 0.0 {
        ((lambda - c.c1) / (2.0 * c.c2)).max(u.pmin_mw).min(u.pmax_mw)
    } else if lambda < c.c1 || (lambda == c.c1 && side == Side::Left) {
        u.pmin_mw
    } else {
        u.pmax_mw
    }
}

/// Economic dispatch of `units` for `demand_mw` (no network, no losses) by exact lambda iteration:
/// the total output T(λ) = Σ clip((λ − c1)/(2c2), Pmin, Pmax) is piecewise linear in λ, so the
/// breakpoints are sorted and the segment crossing the demand is solved in closed form. Linear-cost
/// units (c2 = 0) are dispatched in merit order: at λ = c1 such a unit takes what the others leave
/// (units with equal c1 share it in proportion to their ranges).
pub fn economic_dispatch(units: &[Unit], demand_mw: f64) -> Result<EconomicDispatch, DispatchError> {
    for (k, u) in units.iter().enumerate() {
        u.cost.validate(k)?;
        if !(u.pmin_mw.is_finite() && u.pmax_mw.is_finite() && u.pmin_mw <= u.pmax_mw) {
            return Err(DispatchError::Invalid(format!("unit {k}: limits must be finite with Pmin ≤ Pmax")));
        }
    }
    let min_mw: f64 = units.iter().map(|u| u.pmin_mw).sum();
    let max_mw: f64 = units.iter().map(|u| u.pmax_mw).sum();
    let tol = 1e-9 * max_mw.abs().max(1.0);
    if !demand_mw.is_finite() || demand_mw < min_mw - tol || demand_mw > max_mw + tol {
        return Err(DispatchError::Infeasible { demand_mw, min_mw, max_mw });
    }
    let demand = demand_mw.max(min_mw).min(max_mw);
    let mut bps: Vec<f64> = Vec::with_capacity(2 * units.len());
    for u in units {
        let c = &u.cost;
        if c.c2 > 0.0 {
            bps.push(c.marginal(u.pmin_mw));
            bps.push(c.marginal(u.pmax_mw));
        } else {
            bps.push(c.c1);
        }
    }
    bps.sort_by(f64::total_cmp);
    bps.dedup();
    let total = |lambda: f64, side: Side| units.iter().map(|u| unit_output(u, lambda, side)).sum::<f64>();
    let finish = |p_mw: Vec<f64>, lambda: f64| {
        let cost = units.iter().zip(&p_mw).map(|(u, &p)| u.cost.eval(p)).sum();
        EconomicDispatch { p_mw, lambda, cost }
    };
    let mut prev: Option<f64> = None;
    for &bp in &bps {
        let left = total(bp, Side::Left);
        let right = total(bp, Side::Right);
        if demand <= left {
            let lambda = match prev {
                None => bp, // demand = Σ Pmin
                Some(a) => {
                    // T is linear on (a, bp), rising to `left`: slope Σ 1/(2c2) of units inside.
                    let mid = 0.5 * (a + bp);
                    let slope: f64 = units
                        .iter()
                        .filter(|u| u.cost.c2 > 0.0)
                        .filter(|u| {
                            let p = (mid - u.cost.c1) / (2.0 * u.cost.c2);
                            p > u.pmin_mw && p < u.pmax_mw
                        })
                        .map(|u| 1.0 / (2.0 * u.cost.c2))
                        .sum();
                    if slope > 0.0 { (bp - (left - demand) / slope).max(a) } else { a }
                }
            };
            let p = units.iter().map(|u| unit_output(u, lambda, Side::Left)).collect();
            return Ok(finish(p, lambda));
        }
        if demand <= right {
            // A linear unit (or several) at c1 = bp takes the rest.
            let jumping = |u: &Unit| u.cost.c2 == 0.0 && u.cost.c1 == bp;
            let fixed: f64 = units.iter().filter(|u| !jumping(u)).map(|u| unit_output(u, bp, Side::Left)).sum();
            let (jmin, range): (f64, f64) = units
                .iter()
                .filter(|u| jumping(u))
                .fold((0.0, 0.0), |(a, r), u| (a + u.pmin_mw, r + u.pmax_mw - u.pmin_mw));
            let share = if range > 0.0 { ((demand - fixed - jmin) / range).clamp(0.0, 1.0) } else { 0.0 };
            let p = units
                .iter()
                .map(|u| {
                    if jumping(u) {
                        u.pmin_mw + share * (u.pmax_mw - u.pmin_mw)
                    } else {
                        unit_output(u, bp, Side::Left)
                    }
                })
                .collect();
            return Ok(finish(p, bp));
        }
        prev = Some(bp);
    }
    // demand = Σ Pmax (within tolerance): everyone at Pmax, λ the highest breakpoint.
    let lambda = bps.last().copied().unwrap_or(0.0);
    Ok(finish(units.iter().map(|u| u.pmax_mw).collect(), lambda))
}

/// Result of [`dc_opf`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpfSolution {
    /// Output per generator of the network, MW (0 for generators not in service).
    pub gen_p_mw: Vec<f64>,
    /// Bus angles, rad (0 at isolated buses).
    pub angles_rad: Vec<f64>,
    /// Branch flows from → to, MW.
    pub flows_mw: Vec<f64>,
    /// Locational marginal price per bus, $/MWh: the cost of serving one more MW there (0 at
    /// isolated buses).
    pub lmp: Vec<f64>,
    /// Branches whose limit binds (|flow| within 1e-6 of the rating, relative).
    pub binding: Vec<usize>,
    /// Total cost, $/h.
    pub cost: f64,
}

/// DC optimal power flow on the network's current topology: minimise Σ cost_g(P_g) subject to the
/// DC bus balances (MATPOWER's model, phase shifters included), Pmin ≤ P ≤ Pmax of in-service
/// generators, |flow_k| ≤ `rate_mw[k]` where given, and each island's reference angle fixed. Angle
/// formulation; a QP solved by Clarabel's interior-point method (gap and feasibility tolerances 1e-10).
/// `costs` has one entry per generator of the network, `load_mw` one per bus (e.g.
/// [`DcNetwork::loads_mw`]), `rate_mw` one per branch (e.g. the file's rateA, `None` = unlimited).
/// LMPs are the duals of the bus balances.
pub fn dc_opf(
    net: &DcNetwork,
    costs: &[QuadCost],
    load_mw: &[f64],
    rate_mw: &[Option<f64>],
) -> Result<OpfSolution, DispatchError> {
    let (nb, nl, ng) = (net.buses().len(), net.branches().len(), net.gens().len());
    if costs.len() != ng || load_mw.len() != nb || rate_mw.len() != nl {
        return Err(DispatchError::Invalid(format!(
            "expected {ng} costs, {nb} loads and {nl} ratings, got {}, {} and {}",
            costs.len(),
            load_mw.len(),
            rate_mw.len()
        )));
    }
    for (k, c) in costs.iter().enumerate() {
        c.validate(k)?;
    }
    if let Some(i) = load_mw.iter().position(|v| !v.is_finite()) {
        return Err(DispatchError::Invalid(format!("the load at bus index {i} is not finite")));
    }
    if let Some(k) = rate_mw.iter().position(|r| r.is_some_and(|r| r.is_nan() || r < 0.0)) {
        return Err(DispatchError::Invalid(format!("branch {k}: a rating must be ≥ 0")));
    }
    let base = net.base_mva();
    // Columns: in-service generators at live buses, then one angle per live bus.
    let mut gen_col = vec![usize::MAX; ng];
    let mut gens_on = Vec::new();
    for isl in net.islands() {
        for &g in &isl.gens {
            gens_on.push(g);
        }
    }
    gens_on.sort_unstable();
    for (c, &g) in gens_on.iter().enumerate() {
        gen_col[g] = c;
    }
    let mut bus_col = vec![usize::MAX; nb];
    let mut ncols = gens_on.len();
    for (i, col) in bus_col.iter_mut().enumerate() {
        if net.island_of(i).is_some() {
            *col = ncols;
            ncols += 1;
        }
    }
    let (mut ri, mut ci, mut vv) = (Vec::new(), Vec::new(), Vec::new());
    let mut b = Vec::new();
    let mut push = |r: usize, c: usize, v: f64| {
        ri.push(r);
        ci.push(c);
        vv.push(v);
    };
    // Equalities: one balance row per live bus (row index = its angle column − #gens), then refs.
    let ngc = gens_on.len();
    let mut rhs_bal = vec![0.0; ncols - ngc];
    for i in 0..nb {
        if bus_col[i] != usize::MAX {
            rhs_bal[bus_col[i] - ngc] = load_mw[i] / base;
        }
    }
    for (&g, c) in gens_on.iter().zip(0..) {
        push(bus_col[net.gens()[g].bus] - ngc, c, 1.0);
    }
    for (k, br) in net.branches().iter().enumerate() {
        if !net.branch_energized(k) {
            continue;
        }
        let (f, t, bk) = (bus_col[br.from], bus_col[br.to], br.b_pu);
        // Row f: Σ Pg − (b θf − b θt) = load_f/base − b φ  (P_shift,f = −bφ moved to the right).
        push(f - ngc, f, -bk);
        push(f - ngc, t, bk);
        push(t - ngc, t, -bk);
        push(t - ngc, f, bk);
        rhs_bal[f - ngc] -= bk * br.shift_rad;
        rhs_bal[t - ngc] += bk * br.shift_rad;
    }
    let nbal = rhs_bal.len();
    b.extend_from_slice(&rhs_bal);
    for (r, isl) in net.islands().iter().enumerate() {
        push(nbal + r, bus_col[isl.angle_ref], 1.0);
        b.push(isl.angle_ref_rad);
    }
    let neq = b.len();
    // Inequalities A x ≤ b.
    let mut row = neq;
    for (&g, c) in gens_on.iter().zip(0..) {
        let gen_ = &net.gens()[g];
        if gen_.pmax_mw.is_finite() {
            push(row, c, 1.0);
            b.push(gen_.pmax_mw / base);
            row += 1;
        }
        if gen_.pmin_mw.is_finite() {
            push(row, c, -1.0);
            b.push(-gen_.pmin_mw / base);
            row += 1;
        }
    }
    let mut limited = Vec::new();
    for (k, br) in net.branches().iter().enumerate() {
        let Some(rate) = rate_mw[k] else { continue };
        if !net.branch_energized(k) || !rate.is_finite() {
            continue;
        }
        let (f, t, bk, phi) = (bus_col[br.from], bus_col[br.to], br.b_pu, br.shift_rad);
        push(row, f, bk);
        push(row, t, -bk);
        b.push(rate / base + bk * phi);
        push(row + 1, f, -bk);
        push(row + 1, t, bk);
        b.push(rate / base - bk * phi);
        row += 2;
        limited.push(k);
    }
    let nrows = row;
    if ncols == 0 {
        // No live bus: nothing to dispatch.
        return Ok(OpfSolution {
            gen_p_mw: vec![0.0; ng],
            angles_rad: vec![0.0; nb],
            flows_mw: vec![0.0; nl],
            lmp: vec![0.0; nb],
            binding: Vec::new(),
            cost: 0.0,
        });
    }
    let a = CscMatrix::new_from_triplets(nrows, ncols, ri, ci, vv);
    let (mut pi, mut pj, mut pv) = (Vec::new(), Vec::new(), Vec::new());
    let mut q = vec![0.0; ncols];
    for (&g, c) in gens_on.iter().zip(0..) {
        let cost = &costs[g];
        if cost.c2 > 0.0 {
            pi.push(c);
            pj.push(c);
            pv.push(2.0 * cost.c2 * base * base);
        }
        q[c] = cost.c1 * base;
    }
    let p = CscMatrix::new_from_triplets(ncols, ncols, pi, pj, pv);
    let mut cones = vec![SupportedConeT::ZeroConeT(neq)];
    if nrows > neq {
        cones.push(SupportedConeT::NonnegativeConeT(nrows - neq));
    }
    let settings = DefaultSettingsBuilder::default()
        .verbose(false)
        .tol_gap_abs(1e-10)
        .tol_gap_rel(1e-10)
        .tol_feas(1e-10)
        .build()
        .map_err(|e| DispatchError::Solver(format!("settings: {e:?}")))?;
    let mut solver =
        DefaultSolver::new(&p, &q, &a, &b, &cones, settings).map_err(|e| DispatchError::Solver(e.to_string()))?;
    solver.solve();
    let sol = &solver.solution;
    match sol.status {
        SolverStatus::Solved | SolverStatus::AlmostSolved => {}
        SolverStatus::PrimalInfeasible | SolverStatus::AlmostPrimalInfeasible => {
            return Err(DispatchError::OpfInfeasible(format!("Clarabel status {:?}", sol.status)));
        }
        SolverStatus::DualInfeasible | SolverStatus::AlmostDualInfeasible => {
            return Err(DispatchError::Solver(
                "the problem is unbounded (a generator with a negative cost and no limit?)".into(),
            ));
        }
        s => return Err(DispatchError::Solver(format!("Clarabel status {s:?}"))),
    }
    let x = &sol.x;
    let mut gen_p_mw = vec![0.0; ng];
    for (&g, c) in gens_on.iter().zip(0..) {
        gen_p_mw[g] = x[c] * base;
    }
    let angles_rad: Vec<f64> = (0..nb).map(|i| if bus_col[i] == usize::MAX { 0.0 } else { x[bus_col[i]] }).collect();
    let flows_mw = net.flows_mw(&angles_rad);
    // Clarabel's KKT: P x + q + Aᵀz = 0, so ∂cost/∂b = −z; b_i = load_i/base.
    let lmp: Vec<f64> =
        (0..nb).map(|i| if bus_col[i] == usize::MAX { 0.0 } else { -sol.z[bus_col[i] - ngc] / base }).collect();
    let binding = limited
        .into_iter()
        .filter(|&k| rate_mw[k].is_some_and(|r| flows_mw[k].abs() >= r - 1e-6 * r.max(1.0)))
        .collect();
    let cost = gens_on.iter().map(|&g| costs[g].eval(gen_p_mw[g])).sum();
    Ok(OpfSolution { gen_p_mw, angles_rad, flows_mw, lmp, binding, cost })
}

/// One agent of the consensus economic dispatch (Yang, Tan & Xu 2013): a unit with its local
/// demand, its incremental-cost estimate λ, output P and its estimate y of the local mismatch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConsensusAgent {
    /// Cost curve (c2 > 0).
    pub cost: QuadCost,
    /// Minimum output, MW.
    pub pmin_mw: f64,
    /// Maximum output, MW.
    pub pmax_mw: f64,
    /// Local demand, MW.
    pub demand_mw: f64,
    /// Incremental cost estimate λ, $/MWh.
    pub lambda: f64,
    /// Output P, MW.
    pub p_mw: f64,
    /// Mismatch estimate y, MW.
    pub y_mw: f64,
}

impl ConsensusAgent {
    /// An agent starting at P(0) = Pmin, λ(0) its marginal cost there, y(0) = demand − P(0).
    pub fn new(cost: QuadCost, pmin_mw: f64, pmax_mw: f64, demand_mw: f64) -> Result<Self, DispatchError> {
        cost.validate(0)?;
        if cost.c2 <= 0.0 {
            return Err(DispatchError::Invalid("consensus dispatch needs c2 > 0".into()));
        }
        if !(pmin_mw.is_finite() && pmax_mw.is_finite() && pmin_mw <= pmax_mw && demand_mw.is_finite()) {
            return Err(DispatchError::Invalid("limits and demand must be finite with Pmin ≤ Pmax".into()));
        }
        let lambda = cost.marginal(pmin_mw);
        Ok(ConsensusAgent { cost, pmin_mw, pmax_mw, demand_mw, lambda, p_mw: pmin_mw, y_mw: demand_mw - pmin_mw })
    }

    /// Output at incremental cost λ: clip((λ − c1)/(2c2), Pmin, Pmax).
    pub fn output_at(&self, lambda: f64) -> f64 {
        ((lambda - self.cost.c1) / (2.0 * self.cost.c2)).max(self.pmin_mw).min(self.pmax_mw)
    }

    /// One synchronous update from `mix`, the (w_ij, λ_j, y_j) of every j with w_ij ≠ 0, the agent
    /// itself included (its own w_ii, λ_i, y_i), all taken before this round:
    /// λ ← Σ w_ij λ_j + ε·y_i;  P ← clip((λ − c1)/(2c2));  y ← Σ w_ij y_j − (P_new − P_old).
    pub fn step(&mut self, mix: &[(f64, f64, f64)], eps: f64) {
        let lambda: f64 = mix.iter().map(|&(w, l, _)| w * l).sum::<f64>() + eps * self.y_mw;
        let y: f64 = mix.iter().map(|&(w, _, y)| w * y).sum();
        let p = self.output_at(lambda);
        self.y_mw = y - (p - self.p_mw);
        self.p_mw = p;
        self.lambda = lambda;
    }
}

/// Metropolis weights for an undirected graph on `n` nodes (Xiao & Boyd 2004): w_ij = 1/(1 +
/// max(d_i, d_j)) on edges, w_ii = 1 − Σ_j w_ij; symmetric and doubly stochastic. Row i lists
/// (j, w_ij) for its neighbours and itself, ascending in j. Duplicate edges count once.
pub fn metropolis_weights(n: usize, edges: &[(usize, usize)]) -> Result<Vec<Vec<(usize, f64)>>, DispatchError> {
    let mut adj: Vec<Vec<usize>> = vec![Vec::new(); n];
    for &(i, j) in edges {
        if i >= n || j >= n || i == j {
            return Err(DispatchError::Invalid(format!("edge ({i}, {j}) is not between two of {n} distinct nodes")));
        }
        adj[i].push(j);
        adj[j].push(i);
    }
    for a in &mut adj {
        a.sort_unstable();
        a.dedup();
    }
    let deg: Vec<usize> = adj.iter().map(Vec::len).collect();
    Ok((0..n)
        .map(|i| {
            let mut row: Vec<(usize, f64)> =
                adj[i].iter().map(|&j| (j, 1.0 / (1.0 + deg[i].max(deg[j]) as f64))).collect();
            let own = 1.0 - row.iter().map(|r| r.1).sum::<f64>();
            let at = row.partition_point(|r| r.0 < i);
            row.insert(at, (i, own));
            row
        })
        .collect())
}

/// One synchronous round of [`ConsensusAgent::step`] for every agent, with `weights` from
/// [`metropolis_weights`] (rows must refer to valid agents; others are skipped).
pub fn consensus_round(agents: &mut [ConsensusAgent], weights: &[Vec<(usize, f64)>], eps: f64) {
    let old: Vec<(f64, f64)> = agents.iter().map(|a| (a.lambda, a.y_mw)).collect();
    let mut mix = Vec::new();
    for (a, row) in agents.iter_mut().zip(weights) {
        mix.clear();
        mix.extend(row.iter().filter_map(|&(j, w)| old.get(j).map(|&(l, y)| (w, l, y))));
        a.step(&mix, eps);
    }
}

#[cfg(test)]
mod tests {
    use super::super::matpower::{BusType, Case};
    use super::*;

    fn unit(c2: f64, c1: f64, pmin: f64, pmax: f64) -> Unit {
        Unit { cost: QuadCost { c2, c1, c0: 0.0 }, pmin_mw: pmin, pmax_mw: pmax }
    }

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn lambda_iteration_by_hand() {
        // P1 = (λ − 10)/0.02, P2 = (λ − 8)/0.04, P1 + P2 = 300  ⇒  λ = 1000/75.
        let u = [unit(0.01, 10.0, 0.0, 400.0), unit(0.02, 8.0, 0.0, 400.0)];
        let d = economic_dispatch(&u, 300.0).unwrap_or_else(|e| panic!("{e}"));
        assert!(close(d.lambda, 1000.0 / 75.0, 1e-12), "{}", d.lambda);
        assert!(close(d.p_mw[0], 500.0 / 3.0, 1e-9) && close(d.p_mw[1], 400.0 / 3.0, 1e-9), "{:?}", d.p_mw);
        // Unit 1 capped at 150 MW: unit 2 takes 150 MW, λ = 8 + 0.04·150 = 14.
        let u = [unit(0.01, 10.0, 0.0, 150.0), unit(0.02, 8.0, 0.0, 400.0)];
        let d = economic_dispatch(&u, 300.0).unwrap_or_else(|e| panic!("{e}"));
        assert!(close(d.lambda, 14.0, 1e-12) && close(d.p_mw[0], 150.0, 1e-12) && close(d.p_mw[1], 150.0, 1e-9));
        assert!(close(d.cost, 0.01 * 150.0 * 150.0 + 1500.0 + 0.02 * 150.0 * 150.0 + 1200.0, 1e-9));
        // Unit 2 at λ = 10.2 would make (10.2 − 8)/0.04 = 55 MW, but its Pmin is 80: P = [10, 80].
        let u = [unit(0.01, 10.0, 0.0, 400.0), unit(0.02, 8.0, 80.0, 400.0)];
        let d = economic_dispatch(&u, 90.0).unwrap_or_else(|e| panic!("{e}"));
        assert!(close(d.p_mw[0], 10.0, 1e-9) && close(d.p_mw[1], 80.0, 1e-12), "{:?}", d.p_mw);
        assert!(close(d.lambda, 10.2, 1e-12), "{}", d.lambda);
        // Demand = Σ Pmin.
        let d = economic_dispatch(&u, 80.0).unwrap_or_else(|e| panic!("{e}"));
        assert!(close(d.p_mw[0], 0.0, 1e-12) && close(d.p_mw[1], 80.0, 1e-12) && close(d.lambda, 10.0, 1e-12));
        // Neither limit binds: 75λ − 700 = 60.
        let u = [unit(0.01, 10.0, 0.0, 400.0), unit(0.02, 8.0, 50.0, 400.0)];
        let d = economic_dispatch(&u, 60.0).unwrap_or_else(|e| panic!("{e}"));
        assert!(close(d.lambda, 760.0 / 75.0, 1e-12) && close(d.p_mw[0], 20.0 / 3.0, 1e-9), "{:?}", d.p_mw);
    }

    #[test]
    fn merit_order_for_linear_costs() {
        let u = [unit(0.0, 30.0, 0.0, 100.0), unit(0.0, 10.0, 0.0, 100.0), unit(0.0, 20.0, 0.0, 100.0)];
        let d = economic_dispatch(&u, 150.0).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(d.p_mw, vec![0.0, 100.0, 50.0]);
        assert_eq!(d.lambda, 20.0);
        // Mixed: a 50 MW linear unit at 12 $/MWh and a quadratic one.
        let u = [unit(0.0, 12.0, 0.0, 50.0), unit(0.01, 10.0, 0.0, 300.0)];
        let d = economic_dispatch(&u, 120.0).unwrap_or_else(|e| panic!("{e}"));
        assert!(close(d.lambda, 12.0, 1e-12) && close(d.p_mw[0], 20.0, 1e-9) && close(d.p_mw[1], 100.0, 1e-9));
        let d = economic_dispatch(&u, 300.0).unwrap_or_else(|e| panic!("{e}"));
        assert!(close(d.lambda, 15.0, 1e-12) && close(d.p_mw[0], 50.0, 1e-12) && close(d.p_mw[1], 250.0, 1e-9));
        // Equal costs share in proportion to range.
        let u = [unit(0.0, 10.0, 0.0, 100.0), unit(0.0, 10.0, 0.0, 300.0)];
        let d = economic_dispatch(&u, 200.0).unwrap_or_else(|e| panic!("{e}"));
        assert!(close(d.p_mw[0], 50.0, 1e-9) && close(d.p_mw[1], 150.0, 1e-9));
    }

    #[test]
    fn dispatch_errors() {
        let u = [unit(0.01, 10.0, 10.0, 100.0)];
        assert!(matches!(economic_dispatch(&u, 5.0), Err(DispatchError::Infeasible { .. })));
        assert!(matches!(economic_dispatch(&u, 101.0), Err(DispatchError::Infeasible { .. })));
        assert!(matches!(economic_dispatch(&u, f64::NAN), Err(DispatchError::Infeasible { .. })));
        assert!(economic_dispatch(&[unit(-0.01, 10.0, 0.0, 100.0)], 50.0).is_err());
        assert!(economic_dispatch(&[unit(0.01, 10.0, 100.0, 0.0)], 50.0).is_err());
        let d = economic_dispatch(&u, 100.0).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(d.p_mw, vec![100.0]);
    }

    #[test]
    fn lambda_iteration_matches_brute_force() {
        // Random convex units; the optimum satisfies KKT: units strictly inside their limits share λ,
        // units at Pmax have marginal cost ≤ λ, units at Pmin ≥ λ.
        let mut s: u64 = 12345;
        let mut rnd = move || {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (s >> 11) as f64 / (1u64 << 53) as f64
        };
        for _ in 0..200 {
            let n = 1 + (rnd() * 8.0) as usize;
            let u: Vec<Unit> = (0..n)
                .map(|_| {
                    let c2 = if rnd() < 0.3 { 0.0 } else { 0.001 + 0.05 * rnd() };
                    let pmin = 20.0 * rnd();
                    unit(c2, 5.0 + 30.0 * rnd(), pmin, pmin + 200.0 * rnd())
                })
                .collect();
            let lo: f64 = u.iter().map(|u| u.pmin_mw).sum();
            let hi: f64 = u.iter().map(|u| u.pmax_mw).sum();
            let demand = lo + (hi - lo) * rnd();
            let d = economic_dispatch(&u, demand).unwrap_or_else(|e| panic!("{e}"));
            assert!(close(d.p_mw.iter().sum::<f64>(), demand, 1e-7), "balance");
            for (x, p) in u.iter().zip(&d.p_mw) {
                assert!(*p >= x.pmin_mw - 1e-9 && *p <= x.pmax_mw + 1e-9);
                let mc = x.cost.marginal(*p);
                if *p > x.pmin_mw + 1e-7 {
                    assert!(mc <= d.lambda + 1e-7, "a unit above Pmin costs more than λ");
                }
                if *p < x.pmax_mw - 1e-7 {
                    assert!(mc >= d.lambda - 1e-7, "a unit below Pmax costs less than λ");
                }
            }
        }
    }

    fn three_bus() -> DcNetwork {
        // Buses 1, 2 with generators, bus 3 with 150 MW of load; equal reactances on a triangle.
        let text = "mpc.baseMVA = 100;\nmpc.bus = [\n1 3 0 0 0 0 1 1 0 0 1 1 1;\n2 2 0 0 0 0 1 1 0 0 1 1 1;\n\
                    3 1 150 0 0 0 1 1 0 0 1 1 1;\n];\nmpc.gen = [\n1 0 0 0 0 1 100 1 300 0;\n2 0 0 0 0 1 100 1 300 0;\n];\n\
                    mpc.branch = [\n1 2 0 0.1 0 0 0 0 0 0 1;\n1 3 0 0.1 0 80 0 0 0 0 1;\n2 3 0 0.1 0 0 0 0 0 0 1;\n];\n";
        let c = Case::parse(text).unwrap_or_else(|e| panic!("{e}"));
        DcNetwork::from_case(&c).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn dc_opf_three_bus_with_a_binding_line() {
        // By hand: flow 1→3 = (2/3)P1 + (1/3)P2 ≤ 80 with P1 + P2 = 150 ⇒ P1 = 90, P2 = 60.
        // LMPs: 10 and 20 at the generators; at bus 3 one more MW needs dP1 = −1, dP2 = +2 ⇒ 30.
        let net = three_bus();
        let costs = [QuadCost { c2: 0.0, c1: 10.0, c0: 0.0 }, QuadCost { c2: 0.0, c1: 20.0, c0: 0.0 }];
        let rates: Vec<Option<f64>> = net.branches().iter().map(|b| b.rate_mw).collect();
        let s = dc_opf(&net, &costs, &net.loads_mw(), &rates).unwrap_or_else(|e| panic!("{e}"));
        assert!(close(s.gen_p_mw[0], 90.0, 1e-5) && close(s.gen_p_mw[1], 60.0, 1e-5), "{:?}", s.gen_p_mw);
        assert!(close(s.flows_mw[1], 80.0, 1e-5), "{:?}", s.flows_mw);
        assert_eq!(s.binding, vec![1]);
        for (got, want) in s.lmp.iter().zip([10.0, 20.0, 30.0]) {
            assert!(close(*got, want, 1e-5), "LMPs {:?}", s.lmp);
        }
        assert!(close(s.cost, 90.0 * 10.0 + 60.0 * 20.0, 1e-3));
        // Without the limit everything comes from the cheap unit at one price.
        let s = dc_opf(&net, &costs, &net.loads_mw(), &[None, None, None]).unwrap_or_else(|e| panic!("{e}"));
        assert!(close(s.gen_p_mw[0], 150.0, 1e-5) && s.binding.is_empty());
        assert!(s.lmp.iter().all(|&l| close(l, 10.0, 1e-5)), "{:?}", s.lmp);
    }

    #[test]
    fn dc_opf_without_limits_or_with_unbounded_costs() {
        let mut c = Case::parse(
            "mpc.baseMVA = 100;\nmpc.bus = [1 3 50 0 0 0 1 1 0 0 1 1 1; 2 1 50 0 0 0 1 1 0 0 1 1 1];\n\
             mpc.gen = [1 0 0 0 0 1 100 1 Inf -Inf];\nmpc.branch = [1 2 0 0.1 0 0 0 0 0 0 1];\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let net = DcNetwork::from_case(&c).unwrap_or_else(|e| panic!("{e}"));
        // No inequality at all: only the equality cone.
        let s = dc_opf(&net, &[QuadCost { c2: 0.01, c1: 10.0, c0: 5.0 }], &net.loads_mw(), &[None])
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(close(s.gen_p_mw[0], 100.0, 1e-6) && close(s.cost, 100.0 + 1000.0 + 5.0, 1e-4));
        assert!(close(s.lmp[1], 12.0, 1e-5), "{:?}", s.lmp);
        // Two unlimited units at one bus with costs of opposite sign: unbounded.
        let mut two = c.clone();
        two.gens.push(two.gens[0].clone());
        let net2 = DcNetwork::from_case(&two).unwrap_or_else(|e| panic!("{e}"));
        let lin = |c1| QuadCost { c2: 0.0, c1, c0: 0.0 };
        let e = dc_opf(&net2, &[lin(-10.0), lin(10.0)], &net2.loads_mw(), &[None]).unwrap_err();
        assert!(e.to_string().contains("unbounded"), "{e}");
        // Every bus isolated: an empty problem.
        c.buses.iter_mut().for_each(|b| b.kind = BusType::Isolated);
        let net = DcNetwork::from_case(&c).unwrap_or_else(|e| panic!("{e}"));
        let s = dc_opf(&net, &[QuadCost { c2: 0.0, c1: 10.0, c0: 0.0 }], &net.loads_mw(), &[None])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.gen_p_mw, vec![0.0]);
    }

    #[test]
    fn dc_opf_infeasible_is_a_clear_error() {
        let net = three_bus();
        let costs = [QuadCost { c2: 0.0, c1: 10.0, c0: 0.0 }; 2];
        // 700 MW of load against 600 MW of capacity.
        let e = dc_opf(&net, &costs, &[0.0, 0.0, 700.0], &[None; 3]).unwrap_err();
        assert!(matches!(e, DispatchError::OpfInfeasible(_)), "{e}");
        assert!(e.to_string().contains("infeasible"));
        // Both lines into bus 3 limited to 50 MW: 150 MW cannot reach it.
        let e = dc_opf(&net, &costs, &net.loads_mw(), &[None, Some(50.0), Some(50.0)]).unwrap_err();
        assert!(matches!(e, DispatchError::OpfInfeasible(_)), "{e}");
        assert!(matches!(dc_opf(&net, &costs, &[0.0; 2], &[None; 3]), Err(DispatchError::Invalid(_))));
    }

    #[test]
    fn dc_opf_island_without_generation_is_infeasible_until_shed() {
        let mut net = three_bus();
        net.set_branch_in_service(1, false).unwrap_or_else(|e| panic!("{e}"));
        net.set_branch_in_service(2, false).unwrap_or_else(|e| panic!("{e}"));
        let costs = [QuadCost { c2: 0.01, c1: 10.0, c0: 0.0 }; 2];
        assert!(matches!(dc_opf(&net, &costs, &net.loads_mw(), &[None; 3]), Err(DispatchError::OpfInfeasible(_))));
        let s = dc_opf(&net, &costs, &[50.0, 0.0, 0.0], &[None; 3]).unwrap_or_else(|e| panic!("{e}"));
        assert!(close(s.gen_p_mw[0] + s.gen_p_mw[1], 50.0, 1e-5));
        assert!(close(s.gen_p_mw[0], 25.0, 1e-4), "equal costs share equally");
    }

    fn ieee14() -> Case {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/cases/ieee14.m");
        Case::from_file(&path).unwrap_or_else(|e| panic!("{e}"))
    }

    // scripts/reference_dcflow.py: PYPOWER 5.1.21 rundcopf on PYPOWER's case14 (rateA 9900, not
    // binding) and with branch 1's rateA set to 120 MVA (binding).
    const CASE14_OPF_PG_MW: [f64; 5] =
        [181.7297756189627, 42.52132333323307, 32.342617016187226, 3.3057342580752565e-11, 2.4062840315839713];
    const CASE14_OPF_LMP: [f64; 14] = [
        35.63941006808207,
        41.26066166661647,
        40.64685234032367,
        40.116570938718084,
        39.73508559165712,
        39.859567960892115,
        40.048125680629795,
        40.048125680629795,
        40.011309298834476,
        39.984341996888766,
        39.92304484085665,
        39.87155856957271,
        39.88092756555832,
        39.95430313285259,
    ];

    #[test]
    fn dc_opf_ieee14_without_binding_limits_equals_economic_dispatch() {
        let c = ieee14();
        let net = DcNetwork::from_case(&c).unwrap_or_else(|e| panic!("{e}"));
        let costs: Vec<QuadCost> = c.gencost.as_ref().map_or(Vec::new(), |g| {
            g.iter().map(|g| QuadCost::from_gencost(g).unwrap_or_else(|e| panic!("{e}"))).collect()
        });
        let rates: Vec<Option<f64>> = net.branches().iter().map(|b| b.rate_mw).collect();
        let s = dc_opf(&net, &costs, &net.loads_mw(), &rates).unwrap_or_else(|e| panic!("{e}"));
        let units: Vec<Unit> = net
            .gens()
            .iter()
            .zip(&costs)
            .map(|(g, c)| Unit { cost: *c, pmin_mw: g.pmin_mw, pmax_mw: g.pmax_mw })
            .collect();
        let ed = economic_dispatch(&units, 259.0).unwrap_or_else(|e| panic!("{e}"));
        for (a, b) in s.gen_p_mw.iter().zip(&ed.p_mw) {
            assert!(close(*a, *b, 1e-4), "OPF {:?} vs ED {:?}", s.gen_p_mw, ed.p_mw);
        }
        assert!(s.lmp.iter().all(|&l| close(l, ed.lambda, 1e-5)), "{:?} vs {}", s.lmp, ed.lambda);
        assert!(s.binding.is_empty());
        assert_eq!(c.buses[0].kind, BusType::Ref);
    }

    #[test]
    fn dc_opf_ieee14_binding_line_matches_pypower() {
        let c = ieee14();
        let net = DcNetwork::from_case(&c).unwrap_or_else(|e| panic!("{e}"));
        let costs: Vec<QuadCost> = c.gencost.as_ref().map_or(Vec::new(), |g| {
            g.iter().map(|g| QuadCost::from_gencost(g).unwrap_or_else(|e| panic!("{e}"))).collect()
        });
        let mut rates: Vec<Option<f64>> = net.branches().iter().map(|b| b.rate_mw).collect();
        rates[0] = Some(120.0);
        let s = dc_opf(&net, &costs, &net.loads_mw(), &rates).unwrap_or_else(|e| panic!("{e}"));
        for (a, b) in s.gen_p_mw.iter().zip(&CASE14_OPF_PG_MW) {
            assert!(close(*a, *b, 1e-3), "{:?}", s.gen_p_mw);
        }
        for (a, b) in s.lmp.iter().zip(&CASE14_OPF_LMP) {
            assert!(close(*a, *b, 1e-3), "{:?}", s.lmp);
        }
        assert_eq!(s.binding, vec![0]);
    }

    /// Five units on a ring; unit 0 is cheapest and hits its 60 MW limit at the optimum.
    fn ring_agents() -> (Vec<ConsensusAgent>, Vec<Unit>, f64) {
        let spec = [
            (0.040, 2.0, 0.0, 60.0, 60.0),
            (0.030, 3.0, 0.0, 140.0, 40.0),
            (0.035, 4.0, 0.0, 140.0, 80.0),
            (0.030, 4.0, 0.0, 140.0, 50.0),
            (0.045, 2.5, 0.0, 140.0, 70.0),
        ];
        let units: Vec<Unit> = spec.iter().map(|s| unit(s.0, s.1, s.2, s.3)).collect();
        let agents = spec
            .iter()
            .map(|s| {
                ConsensusAgent::new(QuadCost { c2: s.0, c1: s.1, c0: 0.0 }, s.2, s.3, s.4)
                    .unwrap_or_else(|e| panic!("{e}"))
            })
            .collect();
        (agents, units, spec.iter().map(|s| s.4).sum())
    }

    #[test]
    fn metropolis_weights_are_doubly_stochastic() {
        let w =
            metropolis_weights(5, &[(0, 1), (1, 2), (2, 3), (3, 4), (4, 0), (0, 1)]).unwrap_or_else(|e| panic!("{e}"));
        for (i, row) in w.iter().enumerate() {
            assert_eq!(row.len(), 3);
            assert!(close(row.iter().map(|r| r.1).sum(), 1.0, 1e-15));
            for &(j, wij) in row {
                let wji = w[j].iter().find(|r| r.0 == i).map_or(f64::NAN, |r| r.1);
                assert!(close(wij, wji, 1e-15));
            }
        }
        assert!(close(w[0][0].1, 1.0 / 3.0, 1e-15));
        assert!(metropolis_weights(3, &[(0, 3)]).is_err());
        assert!(metropolis_weights(3, &[(1, 1)]).is_err());
    }

    #[test]
    fn consensus_converges_to_the_economic_dispatch() {
        let (mut agents, units, demand) = ring_agents();
        let ed = economic_dispatch(&units, demand).unwrap_or_else(|e| panic!("{e}"));
        assert!(close(ed.p_mw[0], 60.0, 1e-12), "unit 0 is at its limit at the optimum: {:?}", ed.p_mw);
        let w = metropolis_weights(5, &[(0, 1), (1, 2), (2, 3), (3, 4), (4, 0)]).unwrap_or_else(|e| panic!("{e}"));
        for _ in 0..5000 {
            consensus_round(&mut agents, &w, 0.005);
        }
        let total: f64 = agents.iter().map(|a| a.p_mw).sum();
        assert!(close(total, demand, 1e-3), "total {total} vs {demand}");
        for (a, (p, u)) in agents.iter().zip(ed.p_mw.iter().zip(&units)) {
            assert!(a.p_mw >= u.pmin_mw && a.p_mw <= u.pmax_mw);
            assert!(close(a.p_mw, *p, 1e-3), "{} vs {p}", a.p_mw);
            assert!(close(a.lambda, ed.lambda, 1e-4), "λ {} vs {}", a.lambda, ed.lambda);
            assert!(a.y_mw.abs() < 1e-4);
        }
        // Σ y + Σ P = demand at every round (the invariant that makes the totals right).
        let sum_y: f64 = agents.iter().map(|a| a.y_mw).sum();
        assert!(close(sum_y + total, demand, 1e-9));
    }

    #[test]
    fn consensus_with_too_large_a_step_does_not_converge() {
        // On this ring the iteration converges for ε ≤ 0.02 and oscillates from about ε = 0.03 on.
        for eps in [0.05, 0.1] {
            let (mut agents, _, demand) = ring_agents();
            let w = metropolis_weights(5, &[(0, 1), (1, 2), (2, 3), (3, 4), (4, 0)]).unwrap_or_else(|e| panic!("{e}"));
            for _ in 0..5000 {
                consensus_round(&mut agents, &w, eps);
            }
            let (mut worst, mut spread) = (0.0f64, 0.0f64);
            let mut swing = vec![(f64::INFINITY, f64::NEG_INFINITY); agents.len()];
            for _ in 0..200 {
                consensus_round(&mut agents, &w, eps);
                let total: f64 = agents.iter().map(|a| a.p_mw).sum();
                assert!(total.is_finite());
                worst = worst.max((total - demand).abs());
                let (lo, hi) = agents
                    .iter()
                    .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), a| (l.min(a.lambda), h.max(a.lambda)));
                spread = spread.max(hi - lo);
                for (s, a) in swing.iter_mut().zip(&agents) {
                    *s = (s.0.min(a.p_mw), s.1.max(a.p_mw));
                }
            }
            assert!(worst > 5.0, "ε = {eps}: the total keeps missing the demand by MWs: {worst}");
            assert!(spread > 10.0, "ε = {eps}: no consensus on λ: spread {spread}");
            assert!(swing.iter().any(|&(lo, hi)| hi - lo > 20.0), "ε = {eps}: outputs oscillate: {swing:?}");
        }
    }
}
