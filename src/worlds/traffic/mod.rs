//! The road-traffic world: vehicles with car-following models on a ring road (`ring`) or
//! a city network of signalized intersections (`city`, `network`), V2V and
//! vehicle-to-controller messages through the shared channel, and coordination from none
//! to hierarchical. This module holds the world's contract ([`WorldSpec`] for
//! [`TrafficConfig`]) and its plugin; the scenario section is in `config`, its checks in
//! `validate`, the models as pure functions in `models`.

pub mod city;
pub mod config;
pub mod models;
pub mod network;
pub mod ring;
mod validate;

use bevy::prelude::*;

pub use city::signals;
pub use config::{CarFollowing, Road, TrafficConfig};
pub use ring::{Controllers, RingRoad, Vehicle};

use crate::sim::{AgentId, AgentKind, MessageKind, MetricGroup, ResetWorld, SimAppExt};
use crate::worlds::{Checker, CoreView, Fixed, Params, WorldSpec};

/// A road vehicle (human-driven or automated).
pub const VEHICLE: AgentKind = AgentKind::new("vehicle");
/// A roadside or central traffic controller (a city or district signal controller in a city).
pub const CONTROLLER: AgentKind = AgentKind::new("controller");
/// A traffic light at a signalized intersection.
pub const TRAFFIC_LIGHT: AgentKind = AgentKind::new("traffic_light");

/// The traffic settings in force (live-changeable; the runner replaces it on edits).
pub type TrafficParams = Params<TrafficConfig>;

/// What a vehicle sensed this tick: the vehicle (or stop line) that constrains it most,
/// how far away it is and how fast it moves.
#[derive(Component, Clone, Copy, Debug, Default)]
pub struct Perception {
    /// Tick of the last sensing.
    pub tick: u64,
    /// The constraining agent, if one is within sensor range.
    pub target: Option<AgentId>,
    /// Free distance to it (bumper to bumper), metres.
    pub distance_m: f32,
    /// Its speed, m/s.
    pub target_speed_mps: f32,
}

/// The ring's message kinds.
pub const RING_MESSAGES: [MessageKind; 5] = [
    MessageKind { name: ring::MSG_V2V, about: "vehicle → vehicles around: its speed and acceleration (V2V beacon)" },
    MessageKind { name: ring::MSG_REPORT, about: "vehicle → controller: position, speed, gap, leader speed" },
    MessageKind { name: ring::MSG_ADVICE, about: "controller → vehicles: the target speed" },
    MessageKind { name: ring::MSG_SECTOR, about: "sector controller → central: vehicles counted in its sector" },
    MessageKind { name: ring::MSG_TARGET, about: "central controller → sectors: the target speed" },
];

/// The city's message kinds.
pub const CITY_MESSAGES: [MessageKind; 6] = [
    MessageKind { name: city::MSG_CONGESTION, about: "light → vehicles around: a congested approach (V2I)" },
    MessageKind { name: signals::MSG_QUEUE, about: "light → upstream light: vehicles queued on the link" },
    MessageKind { name: signals::MSG_LIGHT_REPORT, about: "light → its controller: approach vehicles by direction" },
    MessageKind { name: signals::MSG_PLAN, about: "controller → light: cycle, offset and main direction" },
    MessageKind { name: signals::MSG_DISTRICT, about: "district controller → city controller: its approaches" },
    MessageKind { name: signals::MSG_CITY, about: "city controller → districts: the green-wave plan" },
];

/// The traffic world plugin: a ring road or a city network, chosen by the road.
pub struct TrafficPlugin(pub TrafficConfig);

impl Plugin for TrafficPlugin {
    fn build(&self, app: &mut App) {
        let cfg = &self.0;
        app.register_agent_kinds(&cfg.agent_kinds());
        app.insert_resource(Params(cfg.clone()));
        app.add_systems(ResetWorld, reset_from_params);
        if cfg.is_ring() {
            app.register_metrics(MetricGroup::World, &ring::COLUMNS).register_message_kinds(&RING_MESSAGES);
            ring::build(app, cfg);
        } else {
            app.register_metrics(MetricGroup::World, &city::COLUMNS).register_message_kinds(&CITY_MESSAGES);
            city::build(app, cfg);
        }
    }
}

/// (Re)inserts the traffic world's state for `cfg`: the ring's or the city's.
pub fn reset(world: &mut World, cfg: &TrafficConfig) {
    world.insert_resource(Params(cfg.clone()));
    if cfg.is_ring() {
        ring::reset(world, cfg);
    } else {
        city::reset(world, cfg);
    }
}

/// The `ResetWorld` system: the state for the settings in force.
fn reset_from_params(world: &mut World) {
    let cfg = world.resource::<TrafficParams>().0.clone();
    reset(world, &cfg);
}

impl TrafficConfig {
    /// Whether the road is the ring (else a city network).
    pub fn is_ring(&self) -> bool {
        matches!(self.road, Road::Ring { .. })
    }
}

impl WorldSpec for TrafficConfig {
    fn name(&self) -> &'static str {
        "traffic"
    }

    fn variant(&self) -> &'static str {
        if self.is_ring() { "traffic/ring" } else { "traffic/city" }
    }

    fn quality_metric(&self) -> (&'static str, bool) {
        // The ring's flow is as good as its speed; a city's trips as good as their delay.
        if self.is_ring() { ("mean_speed_mps", true) } else { ("mean_delay_recent_s", false) }
    }

    fn message_kinds(&self) -> Vec<&'static str> {
        if self.is_ring() {
            RING_MESSAGES.iter().map(|m| m.name).collect()
        } else {
            CITY_MESSAGES.iter().map(|m| m.name).collect()
        }
    }

    fn agent_kinds(&self) -> Vec<AgentKind> {
        if self.is_ring() { vec![VEHICLE, CONTROLLER] } else { vec![TRAFFIC_LIGHT, CONTROLLER, VEHICLE] }
    }

    /// Ring: the vehicles, the central controller, the sector controllers. City: the
    /// lights in node order, the city controller, the district controllers, the fleet.
    fn agent_count(&self) -> u64 {
        let fixed = u64::from(self.vehicles) + 1 + u64::from(self.controller.sectors);
        fixed + network::light_count(&self.road)
    }

    /// The ring's central controller, the city's signal controller.
    fn replicates_coordinator(&self) -> bool {
        true
    }

    fn validate(&self, core: &CoreView, out: &mut Checker) {
        validate::traffic(out, self, core);
    }

    fn fixed_at_start(&self) -> Vec<Fixed> {
        let mut v = vec![Fixed::Value("world.road", "the road cannot change while running")];
        if !self.is_ring() {
            v.push(Fixed::Value("world.vehicles", "the city's fleet size (world.vehicles) only applies at start"));
        }
        v.push(Fixed::Variant(
            "world.model",
            "the car-following model cannot be swapped while running (its parameters can change)",
        ));
        if !self.is_ring() {
            v.push(Fixed::Value(
                "world.automated",
                "the city has no automated vehicles to switch (world.automated is for the ring)",
            ));
        }
        v.push(Fixed::Value("world.controller.sectors", "controller.sectors and init only apply at start"));
        v.push(Fixed::Value("world.init", "controller.sectors and init only apply at start"));
        v
    }

    fn build(&self, app: &mut App) {
        app.add_plugins(TrafficPlugin(self.clone()));
    }
}
