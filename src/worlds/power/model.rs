//! The static grid a scenario describes: the case (read from a MATPOWER file or built from
//! the scenario's buses, lines, generators and loads), its DC model as the file has it, the
//! base-case DC flow (MATPOWER's `rundcpf`), drawing positions, control areas and cost
//! curves. Building one reads and parses a file, so models are cached by what they depend
//! on (the network section, the areas, and the file's size and modification time): the
//! loader's validation, the agent count and the world's plugin all ask for the same one.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::config::{Areas, BusSpec, Network, PowerConfig};
use super::dcflow::{DcNetwork, DcPowerFlow};
use super::dispatch::QuadCost;
use super::layout;
use super::matpower::{Branch, Bus, BusType, Case, CostModel, Gen, GenCost, SourceMap};

/// A problem building the model: the field it concerns and what is wrong (a case file's
/// problems name the file, line and column in the message).
pub type ModelError = (String, String);

/// Per-unit dynamics a scenario gives one generator (explicit networks only).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct GenOverride {
    pub h_s: Option<f64>,
    pub droop: Option<f64>,
    pub ramp_mw_per_s: Option<f64>,
}

/// The grid as the scenario describes it, before anything happens to it.
#[derive(Debug)]
pub struct GridModel {
    /// The case (rows in file order).
    pub case: Case,
    /// Where it came from, for messages (`None`: written in the scenario).
    pub file: Option<PathBuf>,
    /// Its DC model, every element as the file has it.
    pub net: DcNetwork,
    /// MATPOWER's DC power flow of the file (the base case).
    pub base: DcPowerFlow,
    /// Drawing position of every bus, m.
    pub xy: Vec<[f64; 2]>,
    /// Area numbers, ascending.
    pub areas: Vec<u32>,
    /// The area (index into `areas`) of every bus.
    pub bus_area: Vec<usize>,
    /// The generator rows in service in the file, in row order: one agent each.
    pub units: Vec<usize>,
    /// The unit of every generator row (`usize::MAX` for rows out of service).
    pub unit_of_row: Vec<usize>,
    /// Cost curve of every generator row (none: not dispatched, kept at its output).
    pub costs: Vec<Option<QuadCost>>,
    /// Dynamics given per generator row.
    pub overrides: Vec<GenOverride>,
}

impl GridModel {
    /// Bus index of bus number `n`.
    pub fn bus(&self, n: u32) -> Option<usize> {
        self.net.bus_index(n)
    }

    /// Whether bus index `i` carries load in the file.
    pub fn has_load(&self, i: usize) -> bool {
        self.case.buses.get(i).is_some_and(|b| b.pd_mw + b.gs_mw != 0.0)
    }

    /// Branch rows, with (from, to) bus numbers.
    pub fn line_buses(&self, k: usize) -> (u32, u32) {
        self.case.branches.get(k).map_or((0, 0), |b| (b.from_bus, b.to_bus))
    }
}

/// The file the network section names, resolved as the loader left it.
pub fn case_path(network: &Network) -> Option<&Path> {
    match network {
        Network::Matpower { path, .. } => Some(Path::new(path)),
        Network::Explicit { .. } => None,
    }
}

struct Entry {
    key: String,
    model: Arc<GridModel>,
}

static CACHE: Mutex<Vec<Entry>> = Mutex::new(Vec::new());

/// Models kept: a session switches between a handful of scenarios.
const CACHE_SIZE: usize = 8;

fn cache_key(cfg: &PowerConfig) -> String {
    let stamp = case_path(&cfg.network)
        .and_then(|p| std::fs::metadata(p).ok())
        .map(|m| format!("{}:{:?}", m.len(), m.modified().ok()))
        .unwrap_or_default();
    format!(
        "{}|{}|{stamp}",
        serde_json::to_string(&cfg.network).unwrap_or_default(),
        serde_json::to_string(&cfg.areas).unwrap_or_default()
    )
}

/// The model of `cfg` (built once, then shared).
pub fn model(cfg: &PowerConfig) -> Result<Arc<GridModel>, Vec<ModelError>> {
    let key = cache_key(cfg);
    if let Ok(c) = CACHE.lock()
        && let Some(e) = c.iter().find(|e| e.key == key)
    {
        return Ok(e.model.clone());
    }
    let m = Arc::new(build(cfg)?);
    if let Ok(mut c) = CACHE.lock() {
        if c.len() >= CACHE_SIZE {
            c.remove(0);
        }
        c.push(Entry { key, model: m.clone() });
    }
    Ok(m)
}

fn build(cfg: &PowerConfig) -> Result<GridModel, Vec<ModelError>> {
    let (case, file, given_xy, overrides) = match &cfg.network {
        Network::Matpower { path, coordinates } => {
            let p = PathBuf::from(path);
            let case = read_case(&p)?;
            let mut xy = vec![None; case.buses.len()];
            let index = case.bus_index();
            let mut errs = Vec::new();
            for (k, c) in coordinates.iter().enumerate() {
                match index.get(&c.bus) {
                    Some(&i) => xy[i] = Some([c.x, c.y]),
                    None => errs.push((
                        format!("world.network.coordinates[{k}].bus"),
                        format!("bus {} is not in {}", c.bus, p.display()),
                    )),
                }
            }
            if !errs.is_empty() {
                return Err(errs);
            }
            let n = case.gens.len();
            (case, Some(p), xy, vec![GenOverride::default(); n])
        }
        Network::Explicit { base_mva, buses, lines, generators, loads } => {
            let case = explicit_case(*base_mva, buses, lines, generators, loads);
            let xy = buses.iter().map(|b| b.x.zip(b.y).map(|(x, y)| [x, y])).collect();
            let ov = generators
                .iter()
                .map(|g| GenOverride { h_s: g.h_s, droop: g.droop, ramp_mw_per_s: g.ramp_mw_per_s })
                .collect();
            (case, None, xy, ov)
        }
    };
    let field = if file.is_some() { "world.network.path" } else { "world.network" };
    let shown = file.as_ref().map(|p| p.display().to_string());
    let mut net = DcNetwork::from_case(&case).map_err(|e| dc_errors(field, shown.as_deref(), e))?;
    let base = net.matpower_dcpf().map_err(|e| dc_errors(field, shown.as_deref(), e))?;
    let edges: Vec<(usize, usize)> = net.branches().iter().map(|b| (b.from, b.to)).collect();
    let xy = layout::layout(case.buses.len(), &edges, &given_xy);
    let (areas, bus_area) = areas_of(&case, &cfg.areas)?;
    let units: Vec<usize> = (0..case.gens.len()).filter(|&g| case.gens[g].in_service).collect();
    let mut unit_of_row = vec![usize::MAX; case.gens.len()];
    for (u, &row) in units.iter().enumerate() {
        unit_of_row[row] = u;
    }
    let costs = costs_of(&case, &cfg.network);
    Ok(GridModel { case, file, net, base, xy, areas, bus_area, units, unit_of_row, costs, overrides })
}

/// Reads and parses a case file; every problem becomes `file:line:col: message` at the path field.
fn read_case(p: &Path) -> Result<Case, Vec<ModelError>> {
    let field = "world.network.path".to_string();
    let bytes = std::fs::read(p).map_err(|e| {
        let why = match e.kind() {
            std::io::ErrorKind::NotFound => "no such file".to_string(),
            std::io::ErrorKind::IsADirectory => "is a folder, not a MATPOWER case file".to_string(),
            _ => format!("cannot read: {e}"),
        };
        vec![(field.clone(), format!("{}: {why}", p.display()))]
    })?;
    Case::from_bytes(&bytes).map_err(|e| case_errors(&field, &p.display().to_string(), &e.0))
}

fn case_errors(field: &str, file: &str, errs: &[super::matpower::CaseError]) -> Vec<ModelError> {
    errs.iter()
        .map(|e| {
            let at = if e.line > 0 { format!("{file}:{}:{}", e.line, e.column) } else { file.to_string() };
            (field.to_string(), format!("{at}: {}", e.message))
        })
        .collect()
}

fn dc_errors(field: &str, file: Option<&str>, e: super::dcflow::DcError) -> Vec<ModelError> {
    match (e, file) {
        (super::dcflow::DcError::Case(c), Some(f)) => case_errors(field, f, &c.0),
        (super::dcflow::DcError::Case(c), None) => c.0.into_iter().map(|e| (field.to_string(), e.message)).collect(),
        (other, Some(f)) => vec![(field.to_string(), format!("{f}: {other}"))],
        (other, None) => vec![(field.to_string(), other.to_string())],
    }
}

/// A MATPOWER case from the scenario's own tables (checked before by the world's validation).
fn explicit_case(
    base_mva: f64,
    buses: &[BusSpec],
    lines: &[super::config::LineSpec],
    gens: &[super::config::GenSpec],
    loads: &[super::config::LoadSpec],
) -> Case {
    let has_slack = buses.iter().any(|b| b.slack);
    // Without a flagged slack, the bus of the largest generator is the reference.
    let biggest = gens
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.pmax_mw.total_cmp(&b.1.pmax_mw).then(b.0.cmp(&a.0)))
        .map(|(_, g)| g.bus);
    let bus_rows = buses
        .iter()
        .map(|b| {
            let pd: f64 = loads.iter().filter(|l| l.bus == b.id).map(|l| l.p_mw).sum();
            let slack = if has_slack { b.slack } else { Some(b.id) == biggest };
            let kind = if slack {
                BusType::Ref
            } else if gens.iter().any(|g| g.bus == b.id) {
                BusType::Pv
            } else {
                BusType::Pq
            };
            Bus {
                number: b.id,
                kind,
                pd_mw: pd,
                qd_mvar: 0.0,
                gs_mw: 0.0,
                bs_mvar: 0.0,
                area: b.area,
                vm_pu: 1.0,
                va_deg: 0.0,
                base_kv: 0.0,
                zone: 1,
                vmax_pu: 1.1,
                vmin_pu: 0.9,
            }
        })
        .collect();
    let gen_rows = gens
        .iter()
        .map(|g| Gen {
            bus: g.bus,
            pg_mw: g.p_mw,
            qg_mvar: 0.0,
            qmax_mvar: 0.0,
            qmin_mvar: 0.0,
            vg_pu: 1.0,
            mbase_mva: g.pmax_mw.max(1.0),
            in_service: true,
            pmax_mw: g.pmax_mw,
            pmin_mw: g.pmin_mw,
            ramp_agc_mw_per_min: None,
            ramp_10_mw: None,
            ramp_30_mw: None,
            ramp_q_mvar_per_min: None,
            apf: None,
        })
        .collect();
    let branch_rows = lines
        .iter()
        .map(|l| Branch {
            from_bus: l.from,
            to_bus: l.to,
            r_pu: 0.0,
            x_pu: l.x_pu,
            b_pu: 0.0,
            rate_a_mva: l.rating_mw.unwrap_or(0.0),
            rate_b_mva: 0.0,
            rate_c_mva: 0.0,
            ratio: 0.0,
            angle_deg: 0.0,
            in_service: l.in_service,
            angmin_deg: -360.0,
            angmax_deg: 360.0,
        })
        .collect();
    let gencost = gens.iter().all(|g| g.cost.is_some()).then(|| {
        gens.iter()
            .map(|g| {
                let c = g.cost.unwrap_or_default();
                GenCost { model: CostModel::Polynomial, startup: 0.0, shutdown: 0.0, coeffs: vec![c.c2, c.c1, c.c0] }
            })
            .collect()
    });
    Case { base_mva, buses: bus_rows, gens: gen_rows, branches: branch_rows, gencost, source: SourceMap::default() }
}

/// Cost curves: polynomial costs of degree ≤ 2 as they are; a piecewise-linear cost by its
/// secant (first to last point); higher degrees and missing rows give none.
fn costs_of(case: &Case, network: &Network) -> Vec<Option<QuadCost>> {
    if let Network::Explicit { generators, .. } = network {
        return generators.iter().map(|g| g.cost.map(|c| QuadCost { c2: c.c2, c1: c.c1, c0: c.c0 })).collect();
    }
    let Some(rows) = &case.gencost else {
        return vec![None; case.gens.len()];
    };
    (0..case.gens.len())
        .map(|g| {
            let r = rows.get(g)?;
            match r.model {
                CostModel::Polynomial => QuadCost::from_gencost(r).ok().filter(|c| c.c2 >= 0.0),
                CostModel::PiecewiseLinear => {
                    let pts: Vec<(f64, f64)> = r.coeffs.chunks_exact(2).map(|c| (c[0], c[1])).collect();
                    let (a, b) = (pts.first()?, pts.last()?);
                    if b.0 <= a.0 {
                        return None;
                    }
                    let c1 = (b.1 - a.1) / (b.0 - a.0);
                    Some(QuadCost { c2: 0.0, c1, c0: a.1 - c1 * a.0 })
                }
            }
        })
        .collect()
}

/// Area numbers (ascending) and each bus's area index.
fn areas_of(case: &Case, areas: &Areas) -> Result<(Vec<u32>, Vec<usize>), Vec<ModelError>> {
    match areas {
        Areas::FromCase => {
            let mut nums: Vec<u32> = case.buses.iter().map(|b| b.area).collect();
            nums.sort_unstable();
            nums.dedup();
            let bus_area = case.buses.iter().map(|b| nums.partition_point(|&a| a < b.area)).collect();
            Ok((nums, bus_area))
        }
        Areas::Buses(lists) => {
            let index = case.bus_index();
            let mut bus_area = vec![usize::MAX; case.buses.len()];
            let mut errs = Vec::new();
            for (a, list) in lists.iter().enumerate() {
                for (k, n) in list.iter().enumerate() {
                    let path = format!("world.areas[{a}][{k}]");
                    match index.get(n) {
                        None => errs.push((path, format!("bus {n} is not in the network"))),
                        Some(&i) if bus_area[i] != usize::MAX => {
                            errs.push((path, format!("bus {n} is already in area {}", bus_area[i] + 1)))
                        }
                        Some(&i) => bus_area[i] = a,
                    }
                }
            }
            let missing: Vec<String> = case
                .buses
                .iter()
                .zip(&bus_area)
                .filter(|(_, a)| **a == usize::MAX)
                .take(10)
                .map(|(b, _)| b.number.to_string())
                .collect();
            if !missing.is_empty() {
                errs.push(("world.areas".into(), format!("buses in no area: {}", missing.join(", "))));
            }
            if !errs.is_empty() {
                return Err(errs);
            }
            Ok(((1..=lists.len() as u32).collect(), bus_area))
        }
    }
}
