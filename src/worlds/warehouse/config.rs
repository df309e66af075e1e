//! The warehouse world's section of a scenario: the floor (rows in the file, masim's layout
//! generator or a MovingAI `.map` file), the robots and their batteries, orders, chargers,
//! zones, how tasks are allocated and paths planned, the fail-safes, and the world's own
//! timeline of blocked cells and charger outages. Every field has a default except the map
//! and the robot count; `docs/warehouse.md` describes each one.

use serde::{Deserialize, Serialize};

use super::map::WarehouseLayout;

/// The warehouse world's settings (`world: Warehouse((...))`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WarehouseConfig {
    /// Side of a grid cell, metres (a robot moves one cell per tick).
    #[serde(default = "one")]
    pub cell_m: f64,
    /// The floor.
    pub map: MapSource,
    /// Robots (live-changeable: robots are added on free cells or the newest removed).
    pub robots: u32,
    /// Chargers placed by the documented rule when the map has none.
    #[serde(default)]
    pub chargers: ChargerConfig,
    /// Where orders come from.
    #[serde(default)]
    pub orders: Orders,
    /// Robot batteries and when robots go to charge.
    #[serde(default)]
    pub battery: Battery,
    /// How tasks are allocated (`Auto`: from the scenario's `coordination`).
    #[serde(default)]
    pub allocation: Allocation,
    /// How paths are planned (`Auto`: from the scenario's `coordination`).
    #[serde(default)]
    pub planning: Planning,
    /// The central planner and its window.
    #[serde(default)]
    pub planner: PlannerConfig,
    /// Zones of the zone managers (hierarchical allocation).
    #[serde(default)]
    pub zones: Zones,
    /// Robots' sensing, reporting, delays and breakdowns.
    #[serde(default)]
    pub robot: RobotConfig,
    /// Fail-safes: stale reservations, deadlocks.
    #[serde(default)]
    pub failsafe: FailSafe,
    /// Blocked cells and charger outages on the world's own timeline.
    #[serde(default)]
    pub events: Vec<WarehouseEvent>,
}

fn one() -> f64 {
    1.0
}

/// Where the floor comes from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum MapSource {
    /// Rows of characters, row 0 at the top: `.` free, `#` shelf or obstacle, `P` pick
    /// station, `D` drop station, `C` charger bay, `Z` parking.
    Rows(Vec<String>),
    /// masim's generator of the MovingAI `warehouse-C-R-L-D-W` family, with stations.
    Layout(WarehouseLayout),
    /// A MovingAI `.map` file (a relative path is read against the scenario file's folder):
    /// `.` `G` free; `@` `O` `T` `W` blocked; the League of Robot Runners' `E` and `S` read as
    /// drop and pick stations.
    MovingAi {
        /// The file.
        path: String,
    },
}

/// Chargers for a map that has none (a map's own `C` cells are used as they are).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChargerConfig {
    /// How many chargers to place on a map without any (0: none), each one bay, by the
    /// rule of `map::charger_sites`: evenly along the outermost ring of free cells, never on
    /// a cell whose loss would cut the floor in two.
    pub count: u32,
    /// Which charger a robot heads for.
    pub choice: ChargerChoice,
}

impl Default for ChargerConfig {
    fn default() -> Self {
        ChargerConfig { count: 0, choice: ChargerChoice::ShortestQueue }
    }
}

/// How a robot chooses a charger.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChargerChoice {
    /// The nearest working charger (by path length).
    Nearest,
    /// The working charger with the fewest robots per bay (charging and queued), nearest
    /// first among equals.
    ShortestQueue,
}

/// Orders: each is one task (pick, then deliver).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Orders {
    /// Poisson arrivals, orders per hour (live-changeable; 0: none).
    pub rate_per_h: f64,
    /// Orders at given ticks, on top of the Poisson ones.
    pub list: Vec<OrderSpec>,
}

impl Default for Orders {
    fn default() -> Self {
        Orders { rate_per_h: 600.0, list: Vec::new() }
    }
}

/// One listed order. A missing cell is drawn like a Poisson order's: a pick station (or,
/// on a map without pick stations, any free cell) and a drop station (or any other free
/// cell).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderSpec {
    /// Tick it arrives.
    pub at: u64,
    /// Where to pick, as (row, col).
    #[serde(default)]
    pub pick: Option<(u32, u32)>,
    /// Where to deliver, as (row, col).
    #[serde(default)]
    pub drop: Option<(u32, u32)>,
}

/// Batteries: energy per move, per carried load and idle; thresholds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Battery {
    /// Capacity, kWh.
    pub capacity_kwh: f64,
    /// Charge at start, as a fraction of capacity (robot i starts at
    /// `initial − initial_spread · i / robots`, so they do not all run low together).
    pub initial: f64,
    /// Spread of the initial charge across robots, a fraction of capacity.
    pub initial_spread: f64,
    /// Energy per cell moved, kWh.
    pub move_kwh: f64,
    /// Extra energy per cell moved with a load, kWh.
    pub load_kwh: f64,
    /// Drain while standing (electronics), kW.
    pub idle_kw: f64,
    /// Charging power per bay, kW.
    pub charge_kw: f64,
    /// Go to charge below this fraction (live-changeable).
    pub charge_below: f64,
    /// Charge up to this fraction (live-changeable).
    pub charge_until: f64,
    /// Threshold (charge only below `charge_below`) or opportunistic charging.
    pub policy: ChargePolicy,
    /// Opportunistic: an idle robot below this fraction charges when a charger has a free
    /// bay, and leaves as soon as it has a task (unless below `charge_below`).
    pub opportunistic_below: f64,
}

impl Default for Battery {
    fn default() -> Self {
        Battery {
            capacity_kwh: 1.0,
            initial: 1.0,
            initial_spread: 0.0,
            move_kwh: 0.0002,
            load_kwh: 0.0001,
            idle_kw: 0.01,
            charge_kw: 0.5,
            charge_below: 0.2,
            charge_until: 0.9,
            policy: ChargePolicy::Threshold,
            opportunistic_below: 0.6,
        }
    }
}

/// When robots charge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChargePolicy {
    /// Only below `charge_below`, up to `charge_until`.
    Threshold,
    /// Also while idle below `opportunistic_below` when a bay is free.
    Opportunistic,
}

/// Task allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Allocation {
    /// From the scenario's `coordination`: None → None, Decentralized → Decentralized,
    /// Centralized → Centralized, Hierarchical → Hierarchical.
    #[default]
    Auto,
    /// The fleet manager assigns every waiting task (Hungarian method while the problem is
    /// small, greedy nearest pairs above `planner.hungarian_max`).
    Centralized,
    /// An auction over the channel: the fleet manager announces orders, idle robots bid
    /// their distance, the best bid claims it; conflicting claims are resolved.
    Decentralized,
    /// Zone managers allocate within their zones; the fleet manager routes orders to zones.
    Hierarchical,
    /// Each idle robot takes the nearest open order it has heard of, telling nobody.
    None,
}

/// Path planning and collision avoidance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Planning {
    /// From the scenario's `coordination`: None → None, Decentralized → Decentralized,
    /// Centralized and Hierarchical → Centralized.
    #[default]
    Auto,
    /// The fleet manager plans every robot's moves (`planner`) and sends them as
    /// time-stamped reservations.
    Centralized,
    /// Robots negotiate their next moves with their neighbours through the channel
    /// (priority inheritance, PIBT-style).
    Decentralized,
    /// Greedy moves on local sensing only.
    None,
}

/// The fleet manager's path planner.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PlannerKind {
    /// Priority inheritance with backtracking, one step at a time (Okumura et al. 2019).
    Pibt,
    /// Windowed cooperative A* against a space-time reservation table (Silver 2005).
    Whca,
}

/// The central planner's settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlannerConfig {
    /// PIBT or WHCA*.
    pub kind: PlannerKind,
    /// WHCA*'s window, ticks (1..=16; live-changeable).
    pub window: u32,
    /// WHCA* replans every this many ticks (1..=window; live-changeable).
    pub replan_every: u32,
    /// Centralized allocation uses the Hungarian method while idle robots and waiting tasks
    /// are both at most this many, greedy nearest pairs above.
    pub hungarian_max: u32,
}

impl Default for PlannerConfig {
    fn default() -> Self {
        PlannerConfig { kind: PlannerKind::Pibt, window: 8, replan_every: 4, hungarian_max: 150 }
    }
}

/// Zones: the floor split into `cols` × `rows` equal rectangles, one zone manager each.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Zones {
    pub cols: u32,
    pub rows: u32,
}

impl Default for Zones {
    fn default() -> Self {
        Zones { cols: 2, rows: 2 }
    }
}

impl Zones {
    /// Number of zones (and zone managers).
    pub fn count(&self) -> u32 {
        self.cols.saturating_mul(self.rows)
    }
}

/// Robots' sensing, reports, move delays and breakdowns.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RobotConfig {
    /// Cells sensed around a robot (Chebyshev radius, 1..=3): occupancy and robots seen.
    pub perception_radius: u32,
    /// LRR-style delays: the probability that a robot starting a move is held up.
    pub delay_probability: f64,
    /// How long a delay holds the robot, ticks.
    pub delay_ticks: u32,
    /// Breakdowns per robot per hour of operation (a broken robot stays on its cell).
    pub breakdowns_per_h: f64,
    /// Ticks until a broken robot is repaired; `None`: it stays broken.
    pub repair_ticks: Option<u64>,
    /// An idle robot heads for a free parking spot after this many ticks without a task.
    pub park_after_ticks: u64,
}

impl Default for RobotConfig {
    fn default() -> Self {
        RobotConfig {
            perception_radius: 2,
            delay_probability: 0.0,
            delay_ticks: 3,
            breakdowns_per_h: 0.0,
            repair_ticks: Some(120),
            park_after_ticks: 20,
        }
    }
}

/// Fail-safes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FailSafe {
    /// A robot under central planning that has heard nothing from the fleet manager for
    /// this many ticks stops relying on it (`fallback`).
    pub stale_after_ticks: u64,
    /// What it then does.
    pub fallback: Fallback,
    /// A wait-for cycle that lasts this many ticks is a deadlock (logged and counted).
    pub deadlock_ticks: u64,
    /// A robot blocked this many ticks by the same robot backs off (the deadlock breaker).
    pub patience_ticks: u64,
    /// How long a backing-off robot keeps away, ticks.
    pub backoff_ticks: u64,
    /// Ticks the fleet manager waits for a robot to take up an assignment, or for claims on
    /// an announced order, before offering or announcing it again.
    pub offer_timeout_ticks: u64,
}

impl Default for FailSafe {
    fn default() -> Self {
        FailSafe {
            stale_after_ticks: 10,
            fallback: Fallback::Decentralized,
            deadlock_ticks: 3,
            patience_ticks: 6,
            backoff_ticks: 4,
            offer_timeout_ticks: 20,
        }
    }
}

/// What a robot does when its reservations go stale.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Fallback {
    /// Switch to the decentralized protocol (negotiate with neighbours) until the fleet
    /// manager is heard again.
    Decentralized,
    /// Stop where it is until the fleet manager is heard again.
    Stop,
}

/// A world event on the warehouse's own timeline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WarehouseEvent {
    /// Tick it starts.
    pub at: u64,
    /// Ticks it lasts; `None` for good.
    #[serde(default)]
    pub duration: Option<u64>,
    /// What happens.
    pub event: EventKind,
    /// Tick it was ended by hand (recorded by the app's session export).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<u64>,
}

/// What a warehouse event does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum EventKind {
    /// The cell (row, col) becomes an obstacle (once no robot is on it).
    BlockCell { row: u32, col: u32 },
    /// Charger `charger` (numbered as in summary.json, by its first bay's cell) stops charging.
    ChargerOutage { charger: u32 },
}

impl EventKind {
    /// Short name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::BlockCell { .. } => "block_cell",
            EventKind::ChargerOutage { .. } => "charger_outage",
        }
    }
}

crate::impl_timed!(WarehouseEvent);
