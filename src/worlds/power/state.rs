//! The grid as it runs: the DC network's current topology, every line's flow, rating,
//! protection timers and status, every generating unit's governor and turbine state, every
//! bus's demand, shedding and frequency, grid batteries, cascades and the run's tallies.
//! One resource, [`PowerState`], written by the world's Inject and Resolve systems and read
//! by the agents (their local measurements), the metrics and the app.

use std::sync::Arc;

use bevy::prelude::*;

use super::config::{GenTrip, PowerConfig, RatingRule, UflsScheme};
use super::dcflow::DcNetwork;
use super::dispatch::QuadCost;
use super::frequency::{UflsRelay, UnderFrequencyTrip};
use super::model::GridModel;
use super::profile::Clouds;
use crate::sim::{AgentId, rng};

/// Why a line is open or closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineStatus {
    /// Closed.
    InService,
    /// Opened by its protection (overload or hard limit).
    Tripped,
    /// Opened by a world event (a line trip from the timeline or the app).
    SwitchedOut,
    /// Out of service in the case file.
    OutOfService,
}

impl LineStatus {
    /// The status as lines.csv writes it.
    pub fn name(self) -> &'static str {
        match self {
            LineStatus::InService => "in_service",
            LineStatus::Tripped => "tripped",
            LineStatus::SwitchedOut => "switched_out",
            LineStatus::OutOfService => "out_of_service",
        }
    }
}

/// One line (branch row).
#[derive(Clone, Debug)]
pub struct LineState {
    /// From and to bus indices.
    pub from: usize,
    pub to: usize,
    /// Rating in force, MW (none: unlimited).
    pub rating_mw: Option<f64>,
    /// Flow from → to, MW.
    pub flow_mw: f64,
    /// |flow| / rating (0 when unlimited or open).
    pub loading: f64,
    /// Open or closed, and why.
    pub status: LineStatus,
    /// Seconds in a row above 100 %.
    pub over_s: f64,
    /// Tick it last opened.
    pub open_since: u64,
    /// Protection trips so far.
    pub trips: u32,
    /// Highest loading seen.
    pub max_loading: f64,
    /// Σ |flow| over the ticks, MW·ticks (for the mean).
    pub abs_flow_sum: f64,
    /// Seconds above 100 %, in total.
    pub overloaded_s: f64,
}

/// One generating unit (an in-service generator row of the case).
#[derive(Clone, Debug)]
pub struct Unit {
    /// Generator row of the case.
    pub row: usize,
    /// Bus index.
    pub bus: usize,
    /// Its agent.
    pub agent: AgentId,
    /// Area index.
    pub area: usize,
    /// Limits, MW.
    pub pmin_mw: f64,
    pub pmax_mw: f64,
    /// Rating (the base of H and droop), MW.
    pub rating_mw: f64,
    /// Inertia constant, s.
    pub h_s: f64,
    /// Droop, per unit on the rating (none: no primary response).
    pub droop: Option<f64>,
    /// Governor and turbine time constants, s.
    pub tg_s: f64,
    pub tt_s: f64,
    /// Limit on dPm/dt, MW/s.
    pub ramp_mw_per_s: Option<f64>,
    /// How fast dispatch may move the set-point, MW/s (the case's ramp_agc).
    pub setpoint_ramp_mw_per_s: Option<f64>,
    /// Cost curve (none: not dispatched).
    pub cost: Option<QuadCost>,
    /// The governor's reference P0 (schedule plus AGC), MW.
    pub setpoint_mw: f64,
    /// The AGC part of it, MW.
    pub agc_mw: f64,
    /// Governor output, MW.
    pub valve_mw: f64,
    /// Mechanical power, MW.
    pub pm_mw: f64,
    /// Electrical output (what the DC flow injects), MW.
    pub pe_mw: f64,
    /// Out by an event (a generator outage).
    pub outage: bool,
    /// Tripped by its under-frequency protection.
    pub uf_tripped: bool,
    /// The under-frequency relay.
    pub uf: Option<UnderFrequencyTrip>,
    /// Energy produced, MWh.
    pub energy_mwh: f64,
    /// Cost so far, $.
    pub cost_total: f64,
}

impl Unit {
    /// Connected and turning.
    pub fn online(&self) -> bool {
        !self.outage && !self.uf_tripped
    }
}

/// A grid battery (an agent; in the frequency model a unit without inertia).
#[derive(Clone, Debug)]
pub struct Storage {
    /// Bus index.
    pub bus: usize,
    /// Its agent.
    pub agent: AgentId,
    /// Power and energy, MW and MWh.
    pub mw: f64,
    pub mwh: f64,
    /// Energy stored, MWh.
    pub soc_mwh: f64,
    /// Efficiency each way.
    pub efficiency: f64,
    /// Droop, per unit on `mw`.
    pub droop: Option<f64>,
    /// Scheduled output (discharge > 0), MW.
    pub setpoint_mw: f64,
    /// Converter state (fast first-order lags), MW.
    pub valve_mw: f64,
    pub pm_mw: f64,
}

impl Storage {
    /// State of charge, 0–1.
    pub fn soc(&self) -> f64 {
        if self.mwh > 0.0 { self.soc_mwh / self.mwh } else { 0.0 }
    }

    /// Output limits now, MW: no discharge when empty, no charge when full.
    pub fn limits(&self) -> (f64, f64) {
        let lo = if self.soc() >= 0.999 { 0.0 } else { -self.mw };
        let hi = if self.soc() <= 0.001 { 0.0 } else { self.mw };
        (lo, hi)
    }
}

/// One bus.
#[derive(Clone, Debug)]
pub struct BusState {
    /// The case's load (Pd + Gs), MW.
    pub file_mw: f64,
    /// Bus load after the daily profile, MW.
    pub base_mw: f64,
    /// Load steps of events in force, MW.
    pub step_mw: f64,
    /// Share of the base load added by events in force.
    pub step_share: f64,
    /// Households' net demand (load − PV ± batteries), MW.
    pub prosumer_mw: f64,
    /// EV charging, MW.
    pub ev_mw: f64,
    /// Total demand before shedding, MW.
    pub demand_mw: f64,
    /// Share shed by the UFLS relays.
    pub shed_share: f64,
    /// Demand served (0 when de-energized), MW, frequency damping included.
    pub served_mw: f64,
    /// Generation injected here (units and batteries), MW.
    pub gen_mw: f64,
    /// Voltage angle, rad.
    pub angle_rad: f64,
    /// Frequency deviation of its island, per unit.
    pub df_pu: f64,
    /// Rate of change of its island's frequency, Hz/s.
    pub rocof: f64,
    /// Part of a live island.
    pub energized: bool,
    /// The UFLS relay of its feeders.
    pub ufls: Option<UflsRelay>,
    /// Seconds near nominal since the last shedding (for restoration).
    pub restore_s: f64,
    /// PV cloud-front factor of events in force.
    pub pv_factor: f64,
    /// The highest loading of a closed line at this bus.
    pub max_loading: f64,
}

/// A cascade: trips less than `protection.cascade_gap_s` apart.
#[derive(Clone, Debug)]
pub struct Cascade {
    /// Number, from 0.
    pub id: u32,
    /// What started it (`event`, `overload`, `hard_limit`, `under_frequency`).
    pub cause: &'static str,
    /// First and latest trip, ticks.
    pub start_tick: u64,
    pub last_tick: u64,
    /// Lines lost, in order.
    pub lines: Vec<usize>,
    /// Generators lost (rows), in order.
    pub gens: Vec<usize>,
    /// Load not served when it started, MW.
    pub shed_at_start_mw: f64,
    /// Most load not served while it lasted, MW.
    pub peak_shed_mw: f64,
}

impl Cascade {
    /// Load it cost, MW.
    pub fn mw_shed(&self) -> f64 {
        (self.peak_shed_mw - self.shed_at_start_mw).max(0.0)
    }
}

/// One island this tick.
#[derive(Clone, Debug, Default)]
pub struct IslandView {
    /// Energized (has a unit with inertia).
    pub live: bool,
    /// Frequency, Hz.
    pub freq_hz: f64,
    /// Rate of change, Hz/s.
    pub rocof: f64,
    /// Generation (units and batteries), MW.
    pub gen_mw: f64,
    /// Demand served, MW.
    pub load_mw: f64,
    /// Buses.
    pub buses: usize,
}

/// Counts of this tick (metrics.csv sums them over a row).
#[derive(Clone, Copy, Debug, Default)]
pub struct TickCounts {
    pub line_trips: u64,
    pub ufls_operations: u64,
    pub gen_trips: u64,
    pub ev_arrivals: u64,
}

/// The grid in force.
#[derive(Resource)]
pub struct PowerState {
    /// The static model.
    pub model: Arc<GridModel>,
    /// The DC network with the current topology.
    pub net: DcNetwork,
    pub lines: Vec<LineState>,
    pub units: Vec<Unit>,
    pub storage: Vec<Storage>,
    pub buses: Vec<BusState>,
    /// Islands of this tick, in the network's order.
    pub islands: Vec<IslandView>,
    pub cascades: Vec<Cascade>,
    /// Cloud cover per area.
    pub clouds: Vec<Clouds>,
    /// Whether the first tick has balanced the case.
    pub initialized: bool,
    /// Load not served now (shed and blacked out), MW.
    pub shed_mw: f64,
    /// Energy not served so far, MWh.
    pub unserved_mwh: f64,
    /// Lowest and highest frequency seen (energized islands), Hz, and the steepest RoCoF.
    pub nadir_hz: f64,
    pub zenith_hz: f64,
    pub max_rocof: f64,
    /// UFLS stages operated per stage (over every bus).
    pub ufls_by_stage: Vec<u64>,
    /// This tick's counts.
    pub counts: TickCounts,
    /// Factorizations of the B matrix so far.
    pub factorizations: usize,
    /// DC solves so far.
    pub solves: u64,
    /// The most islands at once.
    pub max_islands: usize,
    /// The PV factor of events with no area.
    pub pv_event_factor: f64,
    /// PV curtailed by households now (over-frequency or the operator), MW.
    pub curtailed_mw: f64,
    /// Household PV output now, MW.
    pub pv_mw: f64,
    /// Household batteries (energy, capacity), MWh, for the fleet's mean state of charge.
    pub home_soc_mwh: f64,
    pub home_cap_mwh: f64,
    /// Each island's last frequency step (see [`super::physics::FreqMemo`]).
    pub freq_memo: Vec<super::physics::FreqMemo>,
    /// Scratch buffers of the DC solve.
    pub inj: Vec<f64>,
    pub theta: Vec<f64>,
    pub flows: Vec<f64>,
}

impl PowerState {
    /// The state at the start of a run of `cfg` on `model` (units of `unit_agents`, batteries of
    /// `storage_agents`).
    pub fn new(cfg: &PowerConfig, model: Arc<GridModel>, seed: u64, first_agent: u32) -> Self {
        let net = model.net.clone();
        let nb = model.case.buses.len();
        let mut agent = first_agent;
        let units: Vec<Unit> = model
            .units
            .iter()
            .map(|&row| {
                let g = &model.case.gens[row];
                let bus = model.bus(g.bus).unwrap_or(0);
                let p0 = model.base.gen_p_mw.get(row).copied().unwrap_or(g.pg_mw);
                let a = AgentId(agent);
                agent += 1;
                let mut u = Unit {
                    row,
                    bus,
                    agent: a,
                    area: model.bus_area.get(bus).copied().unwrap_or(0),
                    pmin_mw: g.pmin_mw.min(g.pmax_mw),
                    pmax_mw: g.pmax_mw,
                    rating_mw: 1.0,
                    h_s: 0.0,
                    droop: None,
                    tg_s: 0.2,
                    tt_s: 0.5,
                    ramp_mw_per_s: None,
                    setpoint_ramp_mw_per_s: g.ramp_agc_mw_per_min.filter(|r| *r > 0.0).map(|r| r / 60.0),
                    cost: model.costs.get(row).copied().flatten(),
                    setpoint_mw: p0,
                    agc_mw: 0.0,
                    valve_mw: p0,
                    pm_mw: p0,
                    pe_mw: p0,
                    outage: false,
                    uf_tripped: false,
                    uf: None,
                    energy_mwh: 0.0,
                    cost_total: 0.0,
                };
                u.apply(cfg, &model);
                u
            })
            .collect();
        let storage = cfg
            .batteries
            .iter()
            .map(|b| {
                let a = AgentId(agent);
                agent += 1;
                Storage {
                    bus: model.bus(b.bus).unwrap_or(0),
                    agent: a,
                    mw: b.mw,
                    mwh: b.mwh,
                    soc_mwh: b.soc.clamp(0.0, 1.0) * b.mwh,
                    efficiency: b.efficiency,
                    droop: b.droop,
                    setpoint_mw: 0.0,
                    valve_mw: 0.0,
                    pm_mw: 0.0,
                }
            })
            .collect();
        let buses = (0..nb)
            .map(|i| {
                let file_mw = net.buses()[i].load_mw;
                BusState {
                    file_mw,
                    base_mw: file_mw,
                    step_mw: 0.0,
                    step_share: 0.0,
                    prosumer_mw: 0.0,
                    ev_mw: 0.0,
                    demand_mw: file_mw,
                    shed_share: 0.0,
                    served_mw: file_mw,
                    gen_mw: 0.0,
                    angle_rad: model.base.angles_rad.get(i).copied().unwrap_or(0.0),
                    df_pu: 0.0,
                    rocof: 0.0,
                    energized: net.island_of(i).is_some(),
                    ufls: None,
                    restore_s: 0.0,
                    pv_factor: 1.0,
                    max_loading: 0.0,
                }
            })
            .collect();
        let lines = net
            .branches()
            .iter()
            .enumerate()
            .map(|(k, b)| LineState {
                from: b.from,
                to: b.to,
                rating_mw: None,
                // What the agents measure before the first tick's flow: the case's own.
                flow_mw: model.base.flows_mw.get(k).copied().unwrap_or(0.0),
                loading: 0.0,
                status: if b.in_service { LineStatus::InService } else { LineStatus::OutOfService },
                over_s: 0.0,
                open_since: 0,
                trips: 0,
                max_loading: 0.0,
                abs_flow_sum: 0.0,
                overloaded_s: 0.0,
            })
            .collect();
        let clouds = (0..model.areas.len())
            .map(|a| Clouds::new(cfg.profile.clouds, rng::stream(seed, "power_clouds", a as u64)))
            .collect();
        let nl = net.branches().len();
        let f0 = cfg.frequency.f0_hz;
        let mut s = PowerState {
            model,
            net,
            lines,
            units,
            storage,
            buses,
            islands: Vec::new(),
            cascades: Vec::new(),
            clouds,
            initialized: false,
            shed_mw: 0.0,
            unserved_mwh: 0.0,
            nadir_hz: f0,
            zenith_hz: f0,
            max_rocof: 0.0,
            ufls_by_stage: Vec::new(),
            counts: TickCounts::default(),
            factorizations: 0,
            solves: 0,
            max_islands: 0,
            pv_event_factor: 1.0,
            curtailed_mw: 0.0,
            pv_mw: 0.0,
            home_soc_mwh: 0.0,
            home_cap_mwh: 0.0,
            freq_memo: Vec::new(),
            inj: vec![0.0; nb],
            theta: vec![0.0; nb],
            flows: vec![0.0; nl],
        };
        s.apply_params(cfg);
        s
    }

    /// Puts settings that may change while running in force: unit dynamics, ratings, relays.
    pub fn apply_params(&mut self, cfg: &PowerConfig) {
        let model = self.model.clone();
        for u in &mut self.units {
            u.apply(cfg, &model);
        }
        let ratings = ratings(cfg, &model);
        for (l, r) in self.lines.iter_mut().zip(ratings) {
            l.rating_mw = r;
        }
        let relay = ufls_relay(cfg);
        let stages = relay.as_ref().map_or(0, |r| r.stages().len());
        for b in &mut self.buses {
            let same = match (&b.ufls, &relay) {
                (Some(a), Some(r)) => a.stages() == r.stages(),
                (None, None) => true,
                _ => false,
            };
            if !same {
                b.ufls = relay.clone();
                b.shed_share = 0.0;
            }
        }
        self.ufls_by_stage.resize(stages, 0);
    }

    /// Sum of a closure over energized buses.
    pub fn total(&self, f: impl Fn(&BusState) -> f64) -> f64 {
        self.buses.iter().map(f).sum()
    }

    /// The energized island with the lowest frequency (the system's frequency when there is one).
    pub fn lowest_island(&self) -> Option<&IslandView> {
        self.islands.iter().filter(|i| i.live).min_by(|a, b| a.freq_hz.total_cmp(&b.freq_hz))
    }

    /// Frequency at bus `i`, Hz (0 when de-energized).
    pub fn bus_freq(&self, i: usize, f0: f64) -> f64 {
        self.buses.get(i).map_or(0.0, |b| if b.energized { f0 * (1.0 + b.df_pu) } else { 0.0 })
    }

    /// The highest loading of a line touching bus `i`.
    pub fn bus_loading(&self, i: usize) -> f64 {
        self.buses.get(i).map_or(0.0, |b| b.max_loading)
    }

    /// Every bus's highest line loading, from the lines' loadings (after each solve).
    pub fn refresh_bus_loading(&mut self) {
        for b in &mut self.buses {
            b.max_loading = 0.0;
        }
        for l in &self.lines {
            if l.status == LineStatus::InService {
                for i in [l.from, l.to] {
                    let b = &mut self.buses[i];
                    b.max_loading = b.max_loading.max(l.loading);
                }
            }
        }
    }

    /// The cascade in progress at `now`, if a trip less than `gap` ticks ago belongs to one.
    pub fn open_cascade(&self, now: u64, gap: u64) -> Option<usize> {
        let c = self.cascades.last()?;
        (now.saturating_sub(c.last_tick) <= gap).then_some(self.cascades.len() - 1)
    }

    /// Joins the cascade in progress or starts one; returns its index.
    pub fn cascade_for(&mut self, now: u64, gap: u64, cause: &'static str) -> usize {
        match self.open_cascade(now, gap) {
            Some(k) => {
                self.cascades[k].last_tick = now;
                k
            }
            None => {
                let id = self.cascades.len() as u32;
                self.cascades.push(Cascade {
                    id,
                    cause,
                    start_tick: now,
                    last_tick: now,
                    lines: Vec::new(),
                    gens: Vec::new(),
                    shed_at_start_mw: self.shed_mw,
                    peak_shed_mw: self.shed_mw,
                });
                self.cascades.len() - 1
            }
        }
    }
}

impl Unit {
    /// Dynamics from the settings in force (the scenario's per-unit values first).
    fn apply(&mut self, cfg: &PowerConfig, model: &GridModel) {
        let f = &cfg.frequency;
        let ov = model.overrides.get(self.row).copied().unwrap_or_default();
        let g = &model.case.gens[self.row];
        self.rating_mw = if g.pmax_mw > 0.0 { g.pmax_mw } else { g.mbase_mva.max(1.0) };
        self.h_s = ov.h_s.unwrap_or(f.h_s);
        self.droop = Some(ov.droop.unwrap_or(f.droop)).filter(|r| *r > 0.0);
        self.tg_s = f.tg_s;
        self.tt_s = f.tt_s;
        self.ramp_mw_per_s = ov.ramp_mw_per_s.or(f.ramp_pu_per_s.map(|r| r * self.rating_mw));
        let threshold = |hz60: f64| hz60 * f.f0_hz / 60.0;
        let want = match &f.gen_trip {
            GenTrip::Off => None,
            GenTrip::Default if (f.f0_hz - 50.0).abs() < 1e-9 => Some(UnderFrequencyTrip::entsoe_50hz()),
            GenTrip::Default => Some(UnderFrequencyTrip::new(threshold(57.5), 0.0)),
            GenTrip::At { threshold_hz, delay_s } => Some(UnderFrequencyTrip::new(*threshold_hz, *delay_s)),
        };
        let same = match (&self.uf, &want) {
            (Some(a), Some(b)) => a.threshold_hz == b.threshold_hz && a.delay_s == b.delay_s,
            (None, None) => true,
            _ => false,
        };
        if !same {
            self.uf = want;
        }
    }
}

/// The relay of every load bus for the scheme in force (none: no shedding).
pub fn ufls_relay(cfg: &PowerConfig) -> Option<UflsRelay> {
    let f0 = cfg.frequency.f0_hz;
    let near = |x: f64| (f0 - x).abs() < 1e-9;
    match &cfg.ufls.scheme {
        UflsScheme::Off => None,
        UflsScheme::Default if near(50.0) => Some(UflsRelay::entsoe()),
        UflsScheme::Default | UflsScheme::Ercot if near(60.0) => Some(UflsRelay::ercot()),
        UflsScheme::Default | UflsScheme::Ercot => Some(UflsRelay::ercot().scaled(60.0, f0)),
        UflsScheme::Entsoe if near(50.0) => Some(UflsRelay::entsoe()),
        UflsScheme::Entsoe => Some(UflsRelay::entsoe().scaled(50.0, f0)),
        UflsScheme::Stages(s) => UflsRelay::new(s.clone()).ok(),
    }
}

/// Every line's rating under the rule in force, MW (none: unlimited).
pub fn ratings(cfg: &PowerConfig, model: &GridModel) -> Vec<Option<f64>> {
    let r = &cfg.ratings;
    model
        .net
        .branches()
        .iter()
        .enumerate()
        .map(|(k, b)| {
            let base = || Some(((1.0 + r.margin) * model.base.flows_mw[k].abs()).max(r.min_mw));
            let rating = match r.rule {
                RatingRule::File => b.rate_mw,
                RatingRule::FileOrBaseFlow => b.rate_mw.or_else(base),
                RatingRule::BaseFlow => base(),
            };
            rating.map(|x| x * r.scale)
        })
        .collect()
}
