//! The city's state: the network being simulated, what each lane, box and movement
//! holds this tick, the trip statistics, and each car's trip.

use std::collections::VecDeque;

use rand::rngs::ChaCha8Rng;

use super::*;

/// The network being simulated: nodes, links, lanes with their geometry, movements,
/// stages. Static after spawn; the desktop app draws it (each [`LaneGeo`] has its end
/// points; `lanes` holds road lanes and the connectors through the boxes).
///
/// [`LaneGeo`]: super::network::LaneGeo
#[derive(Resource, Clone, Debug, Default)]
pub struct CityMap(pub Network);

/// What a movement's signal shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum MovLight {
    #[default]
    Red,
    Yellow,
    Green,
    /// The light is down (crashed): an all-way stop, one vehicle in the box at a time.
    Flash,
}

/// Per-vehicle snapshot used within a tick (indexed by fleet slot).
#[derive(Clone, Copy, Debug, Default)]
pub struct Snap {
    /// Lane, or [`NONE`] when parked.
    pub lane: u32,
    pub s: f64,
    pub speed: f64,
    /// Next link on the route, or [`NONE`].
    pub next: u32,
    /// Agent id.
    pub id: u32,
    /// Index in its lane's queue (0 = front).
    pub idx: u32,
}

/// Why a queue head may not cross its stop line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Hold {
    #[default]
    Go,
    Red,
    Yellow,
    BoxFull,
    ExitFull,
}

impl Hold {
    /// Machine-readable reason.
    pub fn reason(self) -> &'static str {
        match self {
            Hold::Go => "clear",
            Hold::Red => "red_light",
            Hold::Yellow => "yellow_stop",
            Hold::BoxFull => "box_full",
            Hold::ExitFull => "exit_full_dont_block_box",
        }
    }
}

/// The city's dynamic state: who is on which lane, box occupancy and reservations, what
/// every movement's signal shows. Public for the desktop app and tests.
#[derive(Resource, Debug, Default)]
pub struct CityState {
    /// Vehicles on each lane (fleet slots), front first.
    pub occupants: Vec<VecDeque<u32>>,
    /// Vehicles in a box holding a place on each lane.
    pub reserved: Vec<u32>,
    /// Vehicles in each node's box.
    pub box_count: Vec<u32>,
    /// What each movement's signal shows (after this tick's Act).
    pub mov_light: Vec<MovLight>,
    /// Whether each lane's head may cross its stop line (this tick's Perceive).
    pub hold: Vec<Hold>,
    /// The exit lane each held head waits for, and since when (gridlock detection).
    pub blocked: Vec<(u32, u64)>,
    /// Fleet: vehicle entities by slot.
    pub fleet: Vec<Entity>,
    /// Vehicle snapshots by slot.
    pub snap: Vec<Snap>,
    /// Light agent per node (signalized nodes only).
    pub light_of_node: Vec<Option<AgentId>>,
    /// Per movement: vehicles on its approach heading into it, halted ones, and ones
    /// within the detector distance of the stop line.
    pub mov_count: Vec<u32>,
    pub mov_halted: Vec<u32>,
    pub mov_near: Vec<u32>,
    /// Per link: vehicles on it and halted ones.
    pub link_count: Vec<u32>,
    pub link_halted: Vec<u32>,
    /// Trips waiting at each node (terminals): (tick generated, destination).
    pub pending: Vec<VecDeque<(u64, u32)>>,
    /// Parked vehicles, available for trips.
    pub parked: Vec<u32>,
    /// Demand generators per terminal.
    pub(crate) demand_rng: Vec<ChaCha8Rng>,
    /// Shortest routes by (origin, destination) terminal pair.
    pub(crate) routes: Vec<Option<Vec<u32>>>,
    /// Destinations reachable from each terminal.
    pub(crate) dests: Vec<Vec<u32>>,
    /// Cycles of blocked lanes currently locked (each as its sorted link list).
    pub gridlocks: Vec<Vec<u32>>,
}

/// The window of `mean_delay_recent_s`: trips finished in the last ten minutes.
pub const RECENT_WINDOW_S: f64 = 600.0;

/// Trip statistics of the run.
#[derive(Resource, Debug, Default, Clone)]
pub struct TripStats {
    pub entered: u64,
    pub completed: u64,
    pub delay_sum: f64,
    pub stops_sum: u64,
    pub reroutes_done: u64,
    /// Per origin terminal: (trips completed, delay sum).
    pub by_origin: Vec<(u64, f64)>,
    pub gridlock_events: u64,
    pub forced_stops: u64,
    pub signal_conflicts: u64,
    pub box_violations: u64,
    /// Trips finished in the last [`RECENT_WINDOW_S`]: (tick finished, delay s), oldest first.
    pub recent: VecDeque<(u64, f64)>,
    /// Box entries this tick, with the box count before each (tests read it).
    pub box_entries: Vec<(u32, u32)>,
    /// Every finished trip, in the order they finished (trips.csv).
    pub trips: Vec<TripRecord>,
}

/// One finished trip, a row of trips.csv.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TripRecord {
    /// The vehicle's agent id.
    pub vehicle: u32,
    /// Origin and destination terminals (node indices).
    pub origin: u32,
    pub dest: u32,
    /// When the trip was demanded, when the vehicle entered the network, and the tick it
    /// left (ticks completed when it crossed its last stop line).
    pub demand_tick: u64,
    pub enter_tick: u64,
    pub exit_tick: u64,
    /// Free-flow time of its route, its actual time from demand to exit, and the difference.
    pub free_s: f64,
    pub travel_s: f64,
    pub delay_s: f64,
    pub stops: u32,
    pub reroutes: u32,
}

/// A vehicle of the city: where it is, where it goes, and its trip so far.
#[derive(Component, Clone, Debug)]
pub struct Car {
    /// Fleet slot.
    pub slot: u32,
    /// Lane, or [`NONE`] when parked.
    pub lane: u32,
    /// Front bumper along the lane, m.
    pub s: f64,
    pub speed: f64,
    pub accel: f64,
    /// Links of the route; `leg` indexes the link the vehicle is on (or, in a box, the
    /// link it came from).
    pub route: Vec<u32>,
    pub leg: u32,
    /// In a box: the exit lane it holds a place on.
    pub exit_lane: u32,
    pub origin: u32,
    /// Destination terminal, or [`NONE`] with random turns.
    pub dest: u32,
    pub demand_tick: u64,
    pub enter_tick: u64,
    /// Free-flow time of what it has driven, s.
    pub free_s: f64,
    pub stops: u32,
    pub halted: bool,
    pub reroutes: u32,
    pub last_reroute: u64,
    /// Links it heard are congested: (link, extra seconds, tick).
    pub avoid: [(u32, f32, u64); 4],
    /// Why it waits at the stop line (heads only).
    pub hold: Hold,
}

impl Car {
    /// A car parked at terminal `home` since `tick`, with no trip.
    pub fn parked(slot: u32, home: u32, tick: u64) -> Car {
        Car {
            slot,
            lane: NONE,
            s: 0.0,
            speed: 0.0,
            accel: 0.0,
            route: Vec::new(),
            leg: 0,
            exit_lane: NONE,
            origin: home,
            dest: NONE,
            demand_tick: tick,
            enter_tick: tick,
            free_s: 0.0,
            stops: 0,
            halted: false,
            reroutes: 0,
            last_reroute: 0,
            avoid: [(NONE, 0.0, 0); 4],
            hold: Hold::Go,
        }
    }

    /// Whether it is driving in the network.
    pub fn driving(&self) -> bool {
        self.lane != NONE
    }
    /// The next link on its route.
    pub fn next_link(&self) -> u32 {
        self.route.get(self.leg as usize + 1).copied().unwrap_or(NONE)
    }
}
