//! The power world's section of a scenario file: the network (a MATPOWER case or buses,
//! lines, generators and loads written out), line ratings, frequency dynamics and
//! protection, under-frequency load shedding, AGC, the operator, consensus dispatch,
//! areas, load and PV profiles, prosumers, EV charging, grid batteries and the world's
//! own events. Every field has a default except the network; docs/power.md lists them all
//! with their units.

use serde::{Deserialize, Serialize};

use super::frequency::UflsStage;

/// `world: Power((...))`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PowerConfig {
    /// The network.
    pub network: Network,
    /// Line ratings.
    #[serde(default)]
    pub ratings: Ratings,
    /// Frequency dynamics of the generating units.
    #[serde(default)]
    pub frequency: FrequencyConfig,
    /// Line protection.
    #[serde(default)]
    pub protection: Protection,
    /// Under-frequency load shedding.
    #[serde(default)]
    pub ufls: Ufls,
    /// Automatic generation control (secondary control).
    #[serde(default)]
    pub agc: AgcConfig,
    /// The system operator (centralized and hierarchical coordination).
    #[serde(default)]
    pub operator: OperatorConfig,
    /// Consensus dispatch (decentralized coordination).
    #[serde(default)]
    pub consensus: ConsensusConfig,
    /// The operator's state estimator over SCADA telemetry (and its bad-data detection,
    /// which `security.plausibility` switches on).
    #[serde(default)]
    pub estimation: EstimationConfig,
    /// Control areas.
    #[serde(default)]
    pub areas: Areas,
    /// Time of day, load and PV profiles.
    #[serde(default)]
    pub profile: Profile,
    /// Households with rooftop PV, home batteries and flexible load.
    #[serde(default)]
    pub prosumers: Prosumers,
    /// EV charging stations.
    #[serde(default)]
    pub ev: EvConfig,
    /// Grid-scale batteries.
    #[serde(default)]
    pub batteries: Vec<GridBattery>,
    /// The world's own timeline: line trips and restores, generator outages, load and PV steps.
    #[serde(default)]
    pub events: Vec<PowerEvent>,
}

/// Where the network comes from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Network {
    /// A MATPOWER case file (format version 2), read with MATPOWER's DC conventions. A relative
    /// path is relative to the scenario file's folder (one given with `--set` to the current folder).
    Matpower {
        /// The `.m` file.
        path: String,
        /// Drawing positions of some buses, m (the rest are laid out automatically).
        #[serde(default)]
        coordinates: Vec<BusXY>,
    },
    /// Buses, lines, generators and loads written out in the scenario.
    Explicit {
        /// System MVA base of the per-unit reactances.
        #[serde(default = "base_mva")]
        base_mva: f64,
        /// Buses.
        buses: Vec<BusSpec>,
        /// Lines (and transformers), in order: `line` k of events and outputs is the k-th (from 0).
        lines: Vec<LineSpec>,
        /// Generators, in order (`generator` k of events is the k-th, from 0).
        generators: Vec<GenSpec>,
        /// Loads at buses.
        #[serde(default)]
        loads: Vec<LoadSpec>,
    },
}

fn base_mva() -> f64 {
    100.0
}

/// A bus's drawing position (metres).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BusXY {
    /// Bus number.
    pub bus: u32,
    pub x: f64,
    pub y: f64,
}

/// A bus of an explicit network.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BusSpec {
    /// Bus number (unique, from 1).
    pub id: u32,
    /// Drawing position, m; buses without one are laid out automatically.
    #[serde(default)]
    pub x: Option<f64>,
    #[serde(default)]
    pub y: Option<f64>,
    /// The angle reference (one per network; default: the bus of the largest generator).
    #[serde(default)]
    pub slack: bool,
    /// Control area number.
    #[serde(default = "one")]
    pub area: u32,
}

fn one() -> u32 {
    1
}

fn yes() -> bool {
    true
}

/// A line (or transformer) of an explicit network.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineSpec {
    /// From bus number.
    pub from: u32,
    /// To bus number.
    pub to: u32,
    /// Series reactance, per unit on `base_mva` (not 0; negative for series compensation).
    pub x_pu: f64,
    /// Rating, MW; none means unrated (see `ratings.rule`).
    #[serde(default)]
    pub rating_mw: Option<f64>,
    /// In service at start.
    #[serde(default = "yes")]
    pub in_service: bool,
}

/// Quadratic cost: c2·P² + c1·P + c0 $/h with P in MW.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CostSpec {
    pub c2: f64,
    pub c1: f64,
    pub c0: f64,
}

impl Default for CostSpec {
    fn default() -> Self {
        CostSpec { c2: 0.0, c1: 20.0, c0: 0.0 }
    }
}

/// A generator of an explicit network.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenSpec {
    /// Bus number.
    pub bus: u32,
    /// Output at start, MW (the slack's is set to balance the network).
    pub p_mw: f64,
    /// Minimum output, MW.
    #[serde(default)]
    pub pmin_mw: f64,
    /// Maximum output (and rating), MW.
    pub pmax_mw: f64,
    /// Cost curve; none: the unit is not dispatched and keeps its output.
    #[serde(default)]
    pub cost: Option<CostSpec>,
    /// Inertia constant H, s on the rating (default `frequency.h_s`).
    #[serde(default)]
    pub h_s: Option<f64>,
    /// Droop, per unit on the rating (default `frequency.droop`).
    #[serde(default)]
    pub droop: Option<f64>,
    /// Limit on the mechanical power's rate of change, MW/s (default: none).
    #[serde(default)]
    pub ramp_mw_per_s: Option<f64>,
}

/// A load of an explicit network.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadSpec {
    /// Bus number.
    pub bus: u32,
    /// Demand at start, MW.
    pub p_mw: f64,
}

/// Where line ratings come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum RatingRule {
    /// The file's rateA (an explicit line's `rating_mw`); a line without one is unlimited.
    File,
    /// The file's rating; a line without one (rateA = 0) gets (1 + margin)·|base-case flow|.
    #[default]
    FileOrBaseFlow,
    /// Every line gets (1 + margin)·|base-case flow|, whatever the file says.
    BaseFlow,
}

/// Line ratings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Ratings {
    /// Where ratings come from.
    pub rule: RatingRule,
    /// α of the base-flow rule: a rating is (1 + α)·|base-case DC flow|.
    pub margin: f64,
    /// Smallest base-flow rating, MW (a line carrying almost nothing in the base case).
    pub min_mw: f64,
    /// Multiplies every rating (1 = as given).
    pub scale: f64,
}

impl Default for Ratings {
    fn default() -> Self {
        Ratings { rule: RatingRule::FileOrBaseFlow, margin: 0.3, min_mw: 10.0, scale: 1.0 }
    }
}

/// Generator under-frequency protection.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub enum GenTrip {
    /// 57.5 Hz on 60 Hz systems, 47.5 Hz on 50 Hz ones (scaled for other nominal frequencies), instantly.
    #[default]
    Default,
    /// No under-frequency trips.
    Off,
    /// Trip after `delay_s` below `threshold_hz`.
    At { threshold_hz: f64, delay_s: f64 },
}

/// Frequency dynamics (Kundur's single-area model per island).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FrequencyConfig {
    /// Nominal frequency, Hz.
    pub f0_hz: f64,
    /// Load damping D, per unit power per per-unit frequency on the island's generation base.
    pub damping: f64,
    /// Inertia constant H of every unit without its own, s on its rating.
    pub h_s: f64,
    /// Droop R of every unit without its own, per unit on its rating (0.05 = 5 %).
    pub droop: f64,
    /// Governor time constant Tg, s.
    pub tg_s: f64,
    /// Turbine time constant Tt, s.
    pub tt_s: f64,
    /// Limit on every unit's mechanical ramp, share of its rating per second (none: unlimited).
    pub ramp_pu_per_s: Option<f64>,
    /// Generator under-frequency trips.
    pub gen_trip: GenTrip,
}

impl Default for FrequencyConfig {
    fn default() -> Self {
        FrequencyConfig {
            f0_hz: 60.0,
            damping: 1.0,
            h_s: 5.0,
            droop: 0.05,
            tg_s: 0.2,
            tt_s: 0.5,
            ramp_pu_per_s: None,
            gen_trip: GenTrip::Default,
        }
    }
}

/// Line protection: overload and hard trips, reclosing, and what counts as one cascade.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Protection {
    /// Whether lines trip at all.
    pub enabled: bool,
    /// A line above 100 % of its rating for this long trips, s.
    pub overload_s: f64,
    /// A line above this loading trips at once (2 = 200 %).
    pub hard_limit: f64,
    /// Automatic reclosing of a tripped line after this long, s (none: only the operator recloses).
    pub reclose_after_s: Option<f64>,
    /// Trips less than this apart belong to one cascade, s.
    pub cascade_gap_s: f64,
}

impl Default for Protection {
    fn default() -> Self {
        Protection { enabled: true, overload_s: 10.0, hard_limit: 2.0, reclose_after_s: None, cascade_gap_s: 60.0 }
    }
}

/// Which under-frequency load-shedding scheme.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub enum UflsScheme {
    /// ERCOT's on 60 Hz systems, ENTSO-E's on 50 Hz ones (ERCOT's scaled on others).
    #[default]
    Default,
    /// 59.3 / 58.9 / 58.5 Hz → 5 / 15 / 25 % (scaled to the nominal frequency).
    Ercot,
    /// 49.0 … 48.0 Hz in six steps → 45 % (scaled to the nominal frequency).
    Entsoe,
    /// No load shedding.
    Off,
    /// Stages of (`threshold_hz`, `delay_s`, `cumulative_share`), thresholds decreasing.
    Stages(Vec<UflsStage>),
}

/// Under-frequency load shedding: the relays at every load bus.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Ufls {
    /// The scheme.
    pub scheme: UflsScheme,
    /// Shed load comes back one stage at a time after the frequency has been within 0.1 Hz of
    /// nominal for this long, s (none: it stays off).
    pub restore_after_s: Option<f64>,
}

impl Default for Ufls {
    fn default() -> Self {
        Ufls { scheme: UflsScheme::Default, restore_after_s: None }
    }
}

/// Automatic generation control.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgcConfig {
    /// Whether the operator (centralized) or the area controllers (hierarchical) run AGC.
    pub enabled: bool,
    /// Integral gain Ki, 1/s: ΔPref changes by −Ki·ACE per second.
    pub ki: f64,
    /// AGC cycle, s.
    pub every_s: f64,
}

impl Default for AgcConfig {
    fn default() -> Self {
        AgcConfig { enabled: true, ki: 0.05, every_s: 2.0 }
    }
}

/// The system operator.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OperatorConfig {
    /// Economic dispatch with line limits (DC OPF) every this long, s.
    pub dispatch_every_s: f64,
    /// Units, area controllers, stations and batteries report every this long, s.
    pub telemetry_every_s: f64,
    /// Telemetry older than this is stale, s.
    pub stale_after_s: f64,
    /// A unit that has heard no set-point for this long falls back to droop, s.
    pub setpoint_timeout_s: f64,
    /// The operator recloses a tripped line after this long when its DC model shows no overload, s
    /// (none: it never does).
    pub reclose_after_s: Option<f64>,
    /// Prices go out to prosumers, stations and batteries every this long, s.
    pub price_every_s: f64,
}

impl Default for OperatorConfig {
    fn default() -> Self {
        OperatorConfig {
            dispatch_every_s: 60.0,
            telemetry_every_s: 2.0,
            stale_after_s: 10.0,
            setpoint_timeout_s: 20.0,
            reclose_after_s: Some(120.0),
            price_every_s: 60.0,
        }
    }
}

/// The operator's weighted-least-squares DC state estimator (see `estimate.rs`). When
/// enabled, SCADA scans every line flow and bus injection every `every_s`, the operator
/// estimates the bus angles from the scan and dispatches on the loads and flows the
/// estimate implies instead of the area controllers' load reports; with
/// `security.plausibility` on, the χ² test and the largest normalized residual remove bad
/// measurements first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EstimationConfig {
    /// Run the estimator (false: the operator uses the load reports as they come).
    pub enabled: bool,
    /// SCADA scan period, s.
    pub every_s: f64,
    /// Standard deviation of a line-flow meter's error, MW.
    pub flow_sigma_mw: f64,
    /// Standard deviation of a bus-injection meter's error, MW.
    pub injection_sigma_mw: f64,
    /// Draw meter errors (false: error-free meters, J = 0 without attacks).
    pub noise: bool,
    /// False-alarm probability α of the χ² test.
    pub alpha: f64,
    /// Normalized residual above which a measurement is named bad and removed.
    pub lnr_threshold: f64,
    /// Most measurements removed from one scan.
    pub max_removals: u32,
}

impl Default for EstimationConfig {
    fn default() -> Self {
        EstimationConfig {
            enabled: false,
            every_s: 2.0,
            flow_sigma_mw: 1.0,
            injection_sigma_mw: 2.0,
            noise: true,
            alpha: 0.01,
            lnr_threshold: 3.0,
            max_removals: 5,
        }
    }
}

/// Consensus economic dispatch between neighbouring units (Yang, Tan & Xu 2013).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsensusConfig {
    /// Step size ε of the incremental-cost update, $/MWh per MW of mismatch.
    pub step: f64,
    /// One consensus round every this long, s.
    pub every_s: f64,
    /// Each unit talks to this many nearest units (by network distance), links made symmetric.
    pub neighbours: u32,
    /// A round goes ahead without a neighbour's values after this long, s (with its last known ones).
    pub timeout_s: f64,
}

impl Default for ConsensusConfig {
    fn default() -> Self {
        ConsensusConfig { step: 0.002, every_s: 1.0, neighbours: 2, timeout_s: 5.0 }
    }
}

/// Control areas.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub enum Areas {
    /// The case's area column (an explicit bus's `area`).
    #[default]
    FromCase,
    /// These lists of bus numbers, one list per area; every bus in exactly one.
    Buses(Vec<Vec<u32>>),
}

/// A daily shape: relative demand (or EV arrivals) by hour of day.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub enum Shape {
    /// Constant.
    #[default]
    Flat,
    /// A residential day: low at night, a morning shoulder and the evening peak at 19:00.
    Residential,
    /// A system-wide day: a plateau from 09:00 to 21:00, low at night.
    System,
    /// Arrivals at home chargers: most between 17:00 and 20:00.
    Evening,
    /// 24 values, one per hour from 00:00, interpolated linearly.
    Hourly(Vec<f64>),
}

/// Time of day and the profiles that follow it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Profile {
    /// Hour of day at tick 0 (0–24).
    pub start_hour: f64,
    /// Shape of demand: bus loads are the case's at `start_hour`, scaled by shape(now)/shape(start);
    /// households follow shape(now)/max(shape).
    pub load: Shape,
    /// Multiplies every load (bus loads and households).
    pub load_scale: f64,
    /// Multiplies every PV output.
    pub pv_scale: f64,
    /// Sunrise and sunset, hours; PV follows a clear-sky curve between them.
    pub sunrise_h: f64,
    pub sunset_h: f64,
    /// Cloudiness 0–1: the mean share of clear-sky PV the clouds take, and how much it varies.
    pub clouds: f64,
    /// Correlation time of the cloud cover, s.
    pub cloud_time_s: f64,
}

impl Default for Profile {
    fn default() -> Self {
        Profile {
            start_hour: 12.0,
            load: Shape::Flat,
            load_scale: 1.0,
            pv_scale: 1.0,
            sunrise_h: 6.0,
            sunset_h: 20.0,
            clouds: 0.0,
            cloud_time_s: 600.0,
        }
    }
}

/// Households: demand with noise, rooftop PV, home batteries and flexible load.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Prosumers {
    /// How many.
    pub households: u32,
    /// The buses they hang off (empty: every bus with load), in turn.
    pub buses: Vec<u32>,
    /// A household's demand at the shape's peak, kW.
    pub load_kw: f64,
    /// Relative size of the demand's noise (a slow random walk around the shape).
    pub noise: f64,
    /// Share of households with rooftop PV.
    pub pv_share: f64,
    /// Their peak PV output, kW.
    pub pv_kw: f64,
    /// Share of households with a home battery.
    pub battery_share: f64,
    /// Its energy, kWh.
    pub battery_kwh: f64,
    /// Its power, kW.
    pub battery_kw: f64,
    /// Its efficiency each way (charging and discharging).
    pub battery_efficiency: f64,
    /// Share of each household's demand that can be deferred (demand response).
    pub flex_share: f64,
    /// Longest a deferred demand waits, s.
    pub flex_max_defer_s: f64,
    /// Smart-meter reports every this long, s.
    pub report_every_s: f64,
    /// Households are drawn within this many metres of their bus.
    pub spread_m: f64,
}

impl Default for Prosumers {
    fn default() -> Self {
        Prosumers {
            households: 0,
            buses: Vec::new(),
            load_kw: 1.5,
            noise: 0.2,
            pv_share: 0.4,
            pv_kw: 5.0,
            battery_share: 0.2,
            battery_kwh: 10.0,
            battery_kw: 5.0,
            battery_efficiency: 0.95,
            flex_share: 0.2,
            flex_max_defer_s: 3600.0,
            report_every_s: 900.0,
            spread_m: 400.0,
        }
    }
}

/// How a station shares its ports and its feeder among the EVs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum ChargePolicy {
    /// First come, first served: ports in arrival order, each charging at full power in turn.
    #[default]
    Fcfs,
    /// Ports in arrival order, the feeder shared equally among the plugged EVs (water-filling).
    FairShare,
    /// The EV leaving soonest gets a port and its power first.
    EarliestDeparture,
}

/// An EV charging station.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Station {
    /// Bus number.
    pub bus: u32,
    /// Charging points.
    pub ports: u32,
    /// Most one port delivers, kW.
    #[serde(default = "port_kw")]
    pub port_kw: f64,
    /// The feeder (transformer) cap of the whole station, kW.
    pub feeder_kw: f64,
}

fn port_kw() -> f64 {
    11.0
}

/// EV charging: stations, arrivals, needs and the allocation policy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvConfig {
    /// The stations.
    pub stations: Vec<Station>,
    /// EVs arriving at each station per hour at the shape's peak.
    pub arrivals_per_hour: f64,
    /// Daily shape of arrivals.
    pub arrivals: Shape,
    /// An EV needs an energy drawn uniformly from this range, kWh.
    pub energy_min_kwh: f64,
    pub energy_max_kwh: f64,
    /// It stays a time drawn uniformly from this range, hours.
    pub dwell_min_h: f64,
    pub dwell_max_h: f64,
    /// Allocation of ports and power.
    pub policy: ChargePolicy,
    /// EVs waiting for a port beyond this many go elsewhere (counted).
    pub max_queue: u32,
}

impl Default for EvConfig {
    fn default() -> Self {
        EvConfig {
            stations: Vec::new(),
            arrivals_per_hour: 4.0,
            arrivals: Shape::Evening,
            energy_min_kwh: 5.0,
            energy_max_kwh: 40.0,
            dwell_min_h: 1.0,
            dwell_max_h: 8.0,
            policy: ChargePolicy::Fcfs,
            max_queue: 20,
        }
    }
}

/// A grid-scale battery: fast frequency response by droop, and price arbitrage when prices reach it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GridBattery {
    /// Bus number.
    pub bus: u32,
    /// Energy, MWh.
    pub mwh: f64,
    /// Power, MW (charging and discharging).
    pub mw: f64,
    /// State of charge at start, 0–1.
    #[serde(default = "half")]
    pub soc: f64,
    /// Efficiency each way.
    #[serde(default = "battery_eff")]
    pub efficiency: f64,
    /// Frequency droop, per unit on `mw` (none: no frequency response).
    #[serde(default = "battery_droop")]
    pub droop: Option<f64>,
}

fn half() -> f64 {
    0.5
}

fn battery_eff() -> f64 {
    0.95
}

fn battery_droop() -> Option<f64> {
    Some(0.01)
}

/// One of the world's own events.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PowerEvent {
    /// Tick it starts.
    pub at: u64,
    /// Ticks it lasts (its end undoes it); none: for good.
    #[serde(default)]
    pub duration: Option<u64>,
    /// What happens.
    pub event: PowerEventKind,
    /// Tick it was ended by hand (a session recorded in the app).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<u64>,
}

/// What a world event does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum PowerEventKind {
    /// Opens line `line` (its 0-based row); its end closes it again.
    LineTrip { line: usize },
    /// Closes line `line`, whatever opened it.
    LineRestore { line: usize },
    /// Takes generator `generator` (its 0-based row) out; its end brings it back at its set-point.
    GenOutage { generator: usize },
    /// Adds `mw` to the demand at `bus` (every load bus in proportion when none), plus `share` of
    /// the demand there; its end takes it away.
    LoadStep {
        #[serde(default)]
        bus: Option<u32>,
        #[serde(default)]
        mw: f64,
        #[serde(default)]
        share: f64,
    },
    /// A cloud front: PV output times `factor` in `area` (everywhere when none); its end lifts it.
    PvStep {
        factor: f64,
        #[serde(default)]
        area: Option<u32>,
    },
}

impl PowerEventKind {
    /// Short name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            PowerEventKind::LineTrip { .. } => "line_trip",
            PowerEventKind::LineRestore { .. } => "line_restore",
            PowerEventKind::GenOutage { .. } => "gen_outage",
            PowerEventKind::LoadStep { .. } => "load_step",
            PowerEventKind::PvStep { .. } => "pv_step",
        }
    }
}

crate::impl_timed!(PowerEvent);
