//! The traffic world's section of a scenario file: the road (a ring, a grid or a custom
//! network), the car-following model, drivers and V2V, controllers, the initial state,
//! and the city's demand, signals and routing.

use serde::{Deserialize, Serialize};

use super::models::{IdmParams, NaschParams};

/// `world: Traffic((...))`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrafficConfig {
    /// The road network.
    pub road: Road,
    /// Number of vehicles.
    pub vehicles: u32,
    /// Car-following model.
    pub model: CarFollowing,
    /// How many vehicles are automated and run the wave-damping controller.
    #[serde(default)]
    pub automated: u32,
    /// Driver, sensor and V2V settings.
    #[serde(default)]
    pub driving: Driving,
    /// Roadside controllers (centralized and hierarchical coordination).
    #[serde(default)]
    pub controller: ControllerConfig,
    /// Initial state.
    #[serde(default)]
    pub init: InitConfig,
    /// Demand, signals and routing of a city network (`Grid` or `Network` roads).
    #[serde(default)]
    pub city: CityConfig,
}

/// Road network.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Road {
    /// A single-lane ring road of this circumference.
    Ring { length_m: f64 },
    /// A Manhattan grid of `rows` × `cols` signalized intersections `block_m` apart,
    /// two-way streets with `lanes` lanes per direction, and a terminal (entry/exit) one
    /// block beyond each end of every row and column. See docs/grid.md.
    Grid {
        rows: u32,
        cols: u32,
        block_m: f64,
        #[serde(default = "one_lane")]
        lanes: u32,
        #[serde(default = "default_speed")]
        speed_mps: f64,
    },
    /// A custom network of named nodes and one-way links.
    Network { nodes: Vec<NodeSpec>, links: Vec<LinkSpec> },
}

/// Car-following model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum CarFollowing {
    /// Intelligent Driver Model, continuous space.
    Idm(IdmParams),
    /// Nagel–Schreckenberg cellular automaton.
    Nasch(NaschParams),
}

/// Driver, sensor and V2V settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Driving {
    /// How far ahead the on-board sensor sees, m.
    pub sensor_range_m: f64,
    /// Radius of V2V beacons, m.
    pub v2v_range_m: f64,
    /// Time headway of the sensor-only fail-safe, s.
    pub fallback_headway_s: f64,
    /// Ticks without messages after which a vehicle falls back to sensor-only driving.
    pub message_timeout_ticks: u64,
    /// Vehicles slower than this count as jammed, m/s.
    pub jam_speed_mps: f64,
    /// Ticks between V2V beacons.
    pub beacon_every_ticks: u64,
    /// NaSch slow-down probability of a vehicle with fresh V2V or advice.
    pub coop_p_slow: f64,
    /// NaSch fail-safe: extra free cells kept when messages stop.
    pub fallback_gap_cells: u32,
}

impl Default for Driving {
    fn default() -> Self {
        Driving {
            sensor_range_m: 150.0,
            v2v_range_m: 50.0,
            fallback_headway_s: 2.0,
            message_timeout_ticks: 10,
            jam_speed_mps: 2.0,
            beacon_every_ticks: 1,
            coop_p_slow: 0.05,
            fallback_gap_cells: 1,
        }
    }
}

/// Roadside controllers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ControllerConfig {
    /// Sector controllers under the central one (hierarchical coordination).
    pub sectors: u32,
    /// Ticks between vehicle reports.
    pub report_every_ticks: u64,
    /// Automated vehicles' averaging window for their target speed, s.
    pub av_window_s: f64,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        ControllerConfig { sectors: 4, report_every_ticks: 1, av_window_s: 30.0 }
    }
}

/// Initial state: evenly spaced at the equilibrium speed, one vehicle displaced.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InitConfig {
    /// Vehicle 0 starts this many metres behind its even-spacing place.
    pub perturbation_m: f64,
    /// Initial speed, m/s; `None` is the uniform-flow equilibrium speed (NaSch: 0).
    pub speed_mps: Option<f64>,
}

impl Default for InitConfig {
    fn default() -> Self {
        InitConfig { perturbation_m: 1.0, speed_mps: None }
    }
}

/// A node of a custom network.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    /// Unique name (links and demand refer to it).
    pub name: String,
    /// Position, m (x east, y north).
    pub x: f64,
    pub y: f64,
    /// A terminal is where trips start and end (an entry/exit at the edge of the map);
    /// vehicles never drive through one.
    #[serde(default)]
    pub terminal: bool,
}

/// A one-way link of a custom network.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    /// Upstream node name.
    pub from: String,
    /// Downstream node name.
    pub to: String,
    /// Lanes, ≥ 1.
    #[serde(default = "one")]
    pub lanes: u32,
    /// Driving length, m; `None` is the distance between the nodes less the boxes.
    #[serde(default)]
    pub length_m: Option<f64>,
    /// Speed limit, m/s.
    #[serde(default = "default_speed")]
    pub speed_mps: f64,
}

fn one() -> u32 {
    1
}

/// Default lanes per direction.
pub fn one_lane() -> u32 {
    1
}

/// Default urban speed limit, m/s (50 km/h).
pub fn default_speed() -> f64 {
    13.9
}

/// The city section of the traffic world (ignored on the ring).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CityConfig {
    /// Where trips come from and go to.
    pub demand: Demand,
    /// Traffic-light timing and control.
    pub signals: SignalConfig,
    /// Rerouting on congestion messages.
    pub routing: RoutingConfig,
    /// A queue head held back this long by a full exit lane counts as blocked (for
    /// gridlock detection), s.
    pub gridlock_after_s: f64,
    /// Vehicles allowed in one intersection box at once; 0 = one per approach lane.
    pub box_capacity: u32,
}

impl Default for CityConfig {
    fn default() -> Self {
        CityConfig {
            demand: Demand::default(),
            signals: SignalConfig::default(),
            routing: RoutingConfig::default(),
            gridlock_after_s: 20.0,
            box_capacity: 0,
        }
    }
}

/// Trip demand.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Demand {
    /// Every terminal generates trips at `default_rate_veh_per_h` (or its entry in
    /// `rates`), to a destination drawn uniformly among the other terminals, driven on
    /// shortest (free-flow time) paths.
    Entries { default_rate_veh_per_h: f64, rates: Vec<EntryRate> },
    /// An origin–destination matrix: trips per hour per pair, on shortest paths.
    Od(Vec<OdRate>),
    /// Entries as above, but no destination: at each intersection a vehicle turns left
    /// or right with these probabilities (straight otherwise) and leaves at whichever
    /// terminal it reaches.
    Turning { default_rate_veh_per_h: f64, rates: Vec<EntryRate>, left: f64, right: f64 },
}

impl Default for Demand {
    fn default() -> Self {
        Demand::Entries { default_rate_veh_per_h: 200.0, rates: Vec::new() }
    }
}

/// A rate at one entry terminal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntryRate {
    pub node: String,
    pub rate_veh_per_h: f64,
}

/// One cell of an OD matrix.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OdRate {
    pub from: String,
    pub to: String,
    pub rate_veh_per_h: f64,
}

/// How a light chooses its phase when coordination is `None`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum SignalControl {
    /// A fixed cycle with equal splits (its own fixed-time plan).
    #[default]
    FixedTime,
    /// Queue-actuated: a green extends while its movements have vehicles queued or
    /// approaching, ends on a gap (`gap_s` with none) after `min_green_s` or at
    /// `max_green_s`, and phases with no demand are skipped.
    Actuated,
}

/// Signal timing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SignalConfig {
    /// Control with coordination `None`.
    pub control: SignalControl,
    /// Cycle of the fixed-time plan and of coordinated plans, s.
    pub cycle_s: f64,
    /// Yellow after every green, s.
    pub yellow_s: f64,
    /// All-red clearance after every yellow, s.
    pub all_red_s: f64,
    /// Shortest green, s.
    pub min_green_s: f64,
    /// Longest green (actuated), s.
    pub max_green_s: f64,
    /// Actuated gap-out: green ends after this long with no vehicle on its movements, s.
    pub gap_s: f64,
    /// Vehicles within this distance of the stop line count as approaching (actuated), m.
    pub detector_m: f64,
    /// Ticks between a light's reports (to its controller or its neighbours).
    pub report_every_ticks: u64,
    /// A light that hears nothing from its controller or neighbours for this long falls
    /// back to its fixed-time plan, s.
    pub contact_timeout_s: f64,
    /// Progression speed of green waves, m/s; `None` is the links' speed limit.
    pub progression_mps: Option<f64>,
    /// Coordinated plans give the main direction's phase this share of the green time.
    pub main_share: f64,
}

impl Default for SignalConfig {
    fn default() -> Self {
        SignalConfig {
            control: SignalControl::FixedTime,
            cycle_s: 80.0,
            yellow_s: 3.0,
            all_red_s: 2.0,
            min_green_s: 6.0,
            max_green_s: 40.0,
            gap_s: 3.0,
            detector_m: 40.0,
            report_every_ticks: 2,
            contact_timeout_s: 10.0,
            progression_mps: None,
            main_share: 0.45,
        }
    }
}

/// Rerouting.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoutingConfig {
    /// Vehicles reroute around links reported congested.
    pub reroute: bool,
    /// A light reports an approach as congested at this many halted vehicles per lane.
    pub congestion_queue_veh: f64,
    /// Radius of the congestion broadcasts, m.
    pub broadcast_m: f64,
    /// Ticks between a light's congestion broadcasts.
    pub broadcast_every_ticks: u64,
    /// Shortest time between two reroutes of one vehicle, s.
    pub min_interval_s: f64,
}

impl Default for RoutingConfig {
    fn default() -> Self {
        RoutingConfig {
            reroute: true,
            congestion_queue_veh: 8.0,
            broadcast_m: 400.0,
            broadcast_every_ticks: 10,
            min_interval_s: 30.0,
        }
    }
}
