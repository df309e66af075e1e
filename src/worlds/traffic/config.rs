//! The traffic world's section of a scenario file.

use serde::{Deserialize, Serialize};

use super::models::{IdmParams, NaschParams};
use super::network::{CityConfig, LinkSpec, NodeSpec};

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
        #[serde(default = "super::network::one_lane")]
        lanes: u32,
        #[serde(default = "super::network::default_speed")]
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
