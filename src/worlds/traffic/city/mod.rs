//! The city world: vehicles on a network of links and intersections (a grid or a custom
//! network), trips from demand with shortest-path routes or random turns, traffic lights
//! as agents (see `signals`), intersections as the contended resource (conflicting
//! movements never green together, don't-block-the-box), gridlock detection, and the
//! trip metrics. Vehicles use the same IDM, agent components and channel as on the ring.
//! The state is in `state`, the cars in `cars`, the box rules and gridlock in `resolve`,
//! the metrics in `measure`, the lights and their controllers in `signals`.

mod cars;
mod measure;
mod resolve;
mod security;
pub mod signals;
mod state;

use bevy::prelude::*;
use serde_json::{Value, json};

pub use cars::pick_exit;
pub use state::{Car, CityMap, CityState, Hold, MovLight, RECENT_WINDOW_S, Snap, TripRecord, TripStats};

use super::config::{CarFollowing, Demand, TrafficConfig};
use super::models::IdmParams;
use super::network::{LaneKind, Network, Turn};
use super::{Perception, TrafficParams, VEHICLE};
use crate::sim::{
    Agent, AgentId, AgentIds, AgentRng, Crashed, Decision, EventLog, Inbox, MeasureSet, MetricSpec, Metrics, Outbox,
    Phase, Pose, RunTable, SimAppExt, SimClock, SimTick, SpawnWorld, WorldSummary, rng,
};

/// Message kind: a light's congestion warning to the vehicles around it (V2I):
/// payload `[link, halted vehicles, extra seconds, 0]`.
pub const MSG_CONGESTION: &str = "congestion";

/// No lane / no link / no destination.
pub const NONE: u32 = u32::MAX;

/// Metric columns of the city world (the ring's first four keep their meaning:
/// density is per lane-km of road, flow is density × mean speed).
pub const COLUMNS: [MetricSpec; 21] = [
    MetricSpec::gauge("mean_speed_mps", "m/s"),
    MetricSpec::gauge("density_veh_per_km", "vehicles/km"),
    MetricSpec::gauge("flow_veh_per_h", "vehicles/h"),
    MetricSpec::gauge("jammed", "vehicles"),
    MetricSpec::gauge("vehicles_in_network", "vehicles"),
    MetricSpec::gauge("trips_entered", "trips"),
    MetricSpec::gauge("trips_completed", "trips"),
    MetricSpec::gauge("trips_waiting", "trips"),
    MetricSpec::gauge("mean_delay_s", "s"),
    MetricSpec::gauge("mean_delay_recent_s", "s"),
    MetricSpec::gauge("mean_stops", "stops"),
    MetricSpec::gauge("queue_veh", "vehicles"),
    MetricSpec::gauge("gridlock_events", "events"),
    MetricSpec::gauge("gridlocked_links", "links"),
    MetricSpec::gauge("throughput_veh_per_h", "vehicles/h"),
    MetricSpec::gauge("delay_gini", "index"),
    MetricSpec::gauge("reroutes", "reroutes"),
    MetricSpec::gauge("lights_fallback", "lights"),
    MetricSpec::gauge("signal_conflicts", "conflicts"),
    MetricSpec::gauge("box_violations", "violations"),
    MetricSpec::gauge("box_occupancy", "vehicles"),
];

/// Adds the city's systems to an app (the traffic plugin calls this for grid and
/// network roads). Spawn order, which fixes the ids: the lights in node order, the city
/// controller and the district controllers, then the fleet.
pub(super) fn build(app: &mut App, cfg: &TrafficConfig) {
    reset(app.world_mut(), cfg);
    app.insert_resource(WorldSummary(measure::summary));
    app.register_run_table(RunTable { file: "trips.csv", header: measure::TRIPS_HEADER, rows: measure::trip_rows });
    app.add_systems(
        SpawnWorld,
        (cars::spawn, signals::spawn_controllers, cars::spawn_fleet, signals::replicate_city).chain(),
    );
    app.add_systems(
        SimTick,
        (cars::snapshot, cars::perceive_cars, signals::perceive_lights).chain().in_set(Phase::Perceive),
    );
    app.add_systems(
        SimTick,
        (cars::decide_cars, signals::decide_lights, signals::decide_controllers).in_set(Phase::Decide),
    );
    app.add_systems(SimTick, security::check_reports.in_set(crate::sim::VerifySet::Plausibility));
    app.add_systems(SimTick, (cars::act_cars, signals::apply_lights).in_set(Phase::Act));
    app.add_systems(SimTick, resolve::resolve.in_set(Phase::Resolve));
    app.add_systems(SimTick, (measure::measure, signals::measure_lights).chain().in_set(MeasureSet::World));
}

/// IDM parameters of the city (validation guarantees the model is IDM).
pub fn idm(cfg: &TrafficConfig) -> IdmParams {
    match &cfg.model {
        CarFollowing::Idm(p) => *p,
        CarFollowing::Nasch(_) => IdmParams::default(),
    }
}

/// (Re)inserts the city's state for `cfg`; agents spawn in [`SpawnWorld`].
pub fn reset(world: &mut World, cfg: &TrafficConfig) {
    let p = idm(cfg);
    let net = super::network::build(&cfg.road, &cfg.city, p.length, p.s0).unwrap_or_default();
    world.insert_resource(CityMap(net));
    world.insert_resource(CityState::default());
    world.insert_resource(TripStats::default());
    signals::reset(world);
}
