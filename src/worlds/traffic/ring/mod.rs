//! Vehicles on a single-lane ring road (the setting of Sugiyama et al. 2008): the ring's
//! state and components, and the plugin part that adds its systems. Spawning and live
//! vehicle counts are in `spawn`, driving in `drive`, controllers in `controllers`, the
//! NaSch fast path in `fast`, metrics in `measure`, cell positions in `geometry`.

mod controllers;
mod drive;
mod fast;
mod geometry;
mod measure;
pub mod security;
mod spawn;

use std::f64::consts::TAU;

use bevy::prelude::*;
use serde_json::json;

pub use fast::NaschFastPath;

use super::config::{CarFollowing, Road, TrafficConfig};
use super::models::{follower_stopper, nasch_speed, pi_saturation, track_speed};
use super::{CONTROLLER, Perception, TrafficParams, VEHICLE};
use crate::sim::{
    Agent, AgentId, AgentIds, AgentRng, Coordination, CoordinationRes, Coordinator, Crashed, Decision, Dest, EventLog,
    Inbox, InjectSet, LeaderView, MeasureSet, MetricSpec, Metrics, Outbox, Phase, Pose, SimClock, SimTick, SpawnWorld,
    VerifySet, channel::Channel,
};
use geometry::CellCircle;

/// Message kinds of the traffic world.
pub const MSG_V2V: &str = "v2v_state";
pub const MSG_REPORT: &str = "report";
pub const MSG_ADVICE: &str = "advice";
pub const MSG_SECTOR: &str = "sector_summary";
pub const MSG_TARGET: &str = "target_speed";

/// Ring geometry and the vehicles in ring order (slot k's leader is slot k+1).
#[derive(Resource, Clone, Debug, Default)]
pub struct RingRoad {
    /// Circumference, m.
    pub length: f64,
    /// Radius, m.
    pub radius: f64,
    /// Cells (NaSch), 0 for IDM.
    pub cells: u32,
    /// Vehicle entities in driving order.
    pub order: Vec<Entity>,
    /// Bumped whenever `order` changes (spawn, live vehicle count).
    pub order_gen: u64,
    snap: Vec<Snap>,
    /// NaSch: where each cell lies, without a sine and cosine per vehicle per tick.
    cell_xy: CellCircle,
}

#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Snap {
    pos: f64,
    speed: f64,
    cell: u32,
    id: u32,
    length: f64,
}

impl RingRoad {
    /// World coordinates of an arc position: counter-clockwise from the east.
    pub fn xy(&self, pos: f64) -> (f32, f32, f32) {
        let th = pos / self.length * TAU;
        ((self.radius * th.cos()) as f32, (self.radius * th.sin()) as f32, (th + std::f64::consts::FRAC_PI_2) as f32)
    }
}

/// The controller agents: a central one and the sector ones under it.
#[derive(Resource, Clone, Debug, Default)]
pub struct Controllers {
    pub central: Option<AgentId>,
    pub sectors: Vec<AgentId>,
}

/// A vehicle's own state.
#[derive(Component, Clone, Copy, Debug)]
pub struct Vehicle {
    /// Arc position of the front bumper, m, in [0, length).
    pub pos: f64,
    /// Speed, m/s.
    pub speed: f64,
    /// Acceleration chosen this tick, m/s².
    pub accel: f64,
    /// Place in ring order.
    pub slot: u32,
    /// Runs the wave-damping controller instead of a human driver model.
    pub automated: bool,
    /// Automated vehicles' running average of their own speed (their target), m/s.
    pub u_avg: f64,
    /// Automated vehicles' last command speed (the controller filters it), m/s.
    pub v_cmd: f64,
}

/// NaSch state: cell index and speed in cells per tick.
#[derive(Component, Clone, Copy, Debug)]
pub struct Cell {
    pub cell: u32,
    pub v: u32,
}

/// How a vehicle is driving.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Human,
    Cooperative,
    Advised,
    Fallback,
    Automated,
}

/// What a vehicle last heard through the channel, and its driving mode.
#[derive(Component, Clone, Copy, Debug)]
pub struct Link {
    pub leader_msg_tick: u64,
    pub leader_speed: f64,
    pub leader_accel: f64,
    pub advice_tick: u64,
    pub advice: f64,
    pub mode: Mode,
    pub prev_mode: Mode,
}

/// A controller's role and what it has heard.
#[derive(Component, Clone, Debug)]
pub struct ControllerState {
    /// `None` for the central controller, `Some(k)` for sector k.
    pub sector: Option<u32>,
    /// Latest report per vehicle id: (tick sent, pos, speed, gap, leader speed); reports
    /// older than the controller's memory are dropped, so a sector holds only its own
    /// vehicles' (a vector indexed by every id made each of 10⁴ sectors scan 10⁵ slots).
    pub reports: std::collections::BTreeMap<u32, (u64, [f32; 4])>,
    /// Latest summaries from sectors (central) : (tick, count, sector length).
    pub summaries: Vec<Option<(u64, f32, f32)>>,
    /// Target speed from the central controller (sectors): (tick, speed).
    pub target: Option<(u64, f64)>,
    /// Target speed in force, m/s.
    pub u: f64,
}

/// Adds the ring's systems to an app (the traffic plugin calls this for a ring road).
pub(super) fn build(app: &mut App, cfg: &TrafficConfig) {
    reset(app.world_mut(), cfg);
    app.add_systems(SpawnWorld, spawn::spawn);
    app.add_systems(
        SimTick,
        (spawn::sync_vehicle_count, spawn::sync_automated, fast::choose_path).chain().in_set(InjectSet::World),
    );
    app.add_systems(SimTick, drive::perceive.in_set(Phase::Perceive).run_if(fast::general_path));
    app.add_systems(SimTick, security::check_beacons.in_set(VerifySet::Plausibility).run_if(fast::general_path));
    app.add_systems(SimTick, drive::decide_vehicles.in_set(Phase::Decide).run_if(fast::general_path));
    app.add_systems(SimTick, controllers::decide_controllers.in_set(Phase::Decide));
    app.add_systems(SimTick, drive::act.in_set(Phase::Act).run_if(fast::general_path));
    app.add_systems(SimTick, fast::nasch_fast.in_set(Phase::Act).run_if(fast::fast_path));
    app.add_systems(SimTick, drive::resolve.in_set(Phase::Resolve));
    app.add_systems(SimTick, measure::measure.in_set(MeasureSet::World).run_if(fast::general_path));
    app.add_systems(SimTick, fast::measure_fast.in_set(MeasureSet::World).run_if(fast::fast_path));
}

/// (Re)inserts the ring's state for `cfg`; its agents spawn in [`SpawnWorld`].
pub fn reset(world: &mut World, cfg: &TrafficConfig) {
    world.insert_resource(RingRoad::default());
    world.insert_resource(Controllers::default());
    world.insert_resource(measure::JamState::default());
    world.insert_resource(spawn::AutomatedInForce(cfg.automated));
    let enabled = world.get_resource::<NaschFastPath>().is_none_or(|f| f.enabled);
    world.insert_resource(NaschFastPath::new(enabled));
}

/// Metric columns of the ring, in order.
pub const COLUMNS: [MetricSpec; 12] = [
    MetricSpec::gauge("mean_speed_mps", "m/s"),
    MetricSpec::gauge("speed_std_mps", "m/s"),
    MetricSpec::gauge("density_veh_per_km", "vehicles/km"),
    MetricSpec::gauge("flow_veh_per_h", "vehicles/h"),
    MetricSpec::gauge("jammed", "vehicles"),
    MetricSpec::gauge("min_gap_m", "m"),
    MetricSpec::gauge("vehicles_cooperative", "vehicles"),
    MetricSpec::gauge("vehicles_advised", "vehicles"),
    MetricSpec::gauge("vehicles_fallback", "vehicles"),
    MetricSpec::gauge("vehicles_automated", "vehicles"),
    MetricSpec::gauge("vehicles_crashed", "vehicles"),
    MetricSpec::count("overlaps_resolved", "vehicles"),
];

pub(super) fn idm_of(cfg: &TrafficConfig) -> Option<&super::models::IdmParams> {
    match &cfg.model {
        CarFollowing::Idm(p) => Some(p),
        CarFollowing::Nasch(_) => None,
    }
}

pub(super) fn vehicle_length(cfg: &TrafficConfig) -> f64 {
    match &cfg.model {
        CarFollowing::Idm(p) => p.length,
        CarFollowing::Nasch(p) => p.cell_m,
    }
}

pub(super) fn is_automated(i: u32, n: u32, automated: u32) -> bool {
    // Spread the automated vehicles evenly: vehicle i is automated when the count of
    // automated ones among 0..=i steps up.
    automated > 0 && ((i + 1) * automated / n) != (i * automated / n)
}
