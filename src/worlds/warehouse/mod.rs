//! The robot warehouse world: a 4-connected grid floor (scenario rows, masim's generator of
//! the MovingAI `warehouse-C-R-L-D-W` family, or a MovingAI `.map` file), orders that become
//! pick-and-deliver tasks, robots with batteries that perceive, decide and talk through the
//! shared channel, chargers with bays and queues, a fleet manager and zone managers, task
//! allocation (Hungarian, auction, hierarchical, nearest) and path planning (PIBT, WHCA*,
//! negotiation with neighbours, greedy) switchable live, an onboard interlock and the
//! no-collision invariant checked every tick, wait-for deadlocks detected and broken, and
//! faults: robot crashes and breakdowns, a silent fleet manager, message loss and latency,
//! blocked cells and charger outages. This module holds the world's contract
//! ([`WorldSpec`] for [`WarehouseConfig`]), its components and its plugin; the pure parts
//! are `map`, `planning` and `motion`.

pub mod config;
mod events;
mod fleet;
pub mod floor;
pub mod map;
mod measure;
pub mod motion;
pub mod planning;
mod robots;
mod security;
pub mod tasks;
mod validate;

use bevy::prelude::*;

pub use config::{Allocation, EventKind, MapSource, PlannerKind, Planning, WarehouseConfig, WarehouseEvent};
pub use events::WorldEvents;
pub use fleet::{FleetState, ZoneState, leading_fleet};
pub use floor::Floor;
pub use measure::{Deadlocks, RunTotals};
pub use robots::{Link, Perception, Robot, RobotOrder, RobotPhase, plan_cells};
pub use tasks::{Chargers, Ledger, Parking};

use crate::sim::security::{AttackKind, AttackSpec};
use crate::sim::{
    AgentKind, Coordination, InjectSet, MeasureSet, MessageKind, MetricGroup, Phase, ResetWorld, SimAppExt, SimTick,
    SpawnWorld, WorldSummary,
};
use crate::worlds::{Checker, CoreView, Fixed, Params, WorldSpec};

/// A warehouse robot.
pub const ROBOT: AgentKind = AgentKind::new("robot");
/// The fleet manager: order intake, central allocation and central path planning.
pub const FLEET_MANAGER: AgentKind = AgentKind::new("fleet_manager");
/// A zone manager (hierarchical allocation).
pub const ZONE_MANAGER: AgentKind = AgentKind::new("zone_manager");

/// The warehouse settings in force.
pub type WarehouseParams = Params<WarehouseConfig>;

/// Message kinds of the warehouse, with what their four payload numbers are.
pub mod msg {
    /// Robot → fleet manager (and its zone manager): `[cell, goal, task, code]` (−1: none;
    /// code = state + 16·stuck + 32·available + 64·battery percent).
    pub const STATUS: &str = "status";
    /// Manager → robot: `[task, pick cell, drop cell, 0]`.
    pub const ASSIGN: &str = "assign";
    /// Fleet manager → robot: give task up (another robot holds it) `[task, 0, 0, 0]`.
    pub const REVOKE: &str = "revoke";
    /// Fleet manager → robots: an open order `[task, pick, drop, 0]`.
    pub const ORDER: &str = "order";
    /// Robot → robots: a bid for an order `[task, path length, its cell, 0]`.
    pub const BID: &str = "bid";
    /// Robot → all: it won an order `[task, its bid, 0, 0]`.
    pub const CLAIM: &str = "claim";
    /// Fleet manager → robot: a one-step reservation `[tick, from, to, flags]`.
    pub const MOVE: &str = "move";
    /// Fleet manager → robot: a windowed plan `[start tick, start cell, moves 0–7, moves 8–13 and length]`.
    pub const PLAN: &str = "plan";
    /// Robot → robots around it: `[cell, goal, priority, 0]` (each runs the same local PIBT).
    pub const INTENT: &str = "intent";
    /// Fleet manager → zone manager: an order for its zone `[task, pick, drop, 0]`.
    pub const ZONE_ORDER: &str = "zone_order";
    /// Zone manager → fleet manager: `[idle robots, queued orders, 0, 0]`.
    pub const ZONE_SUMMARY: &str = "zone_summary";
    /// Zone manager → fleet manager: an order it cannot serve `[task, pick, drop, 0]`.
    pub const HANDBACK: &str = "handback";
}

/// The warehouse's message kinds.
pub const MESSAGES: [MessageKind; 12] = [
    MessageKind {
        name: msg::STATUS,
        about: "robot → fleet manager / zone manager: cell, goal, task, state and battery",
    },
    MessageKind { name: msg::ASSIGN, about: "fleet or zone manager → robot: a task (pick, drop)" },
    MessageKind { name: msg::REVOKE, about: "fleet manager → robot: give up a task another robot holds" },
    MessageKind { name: msg::ORDER, about: "fleet manager → robots: an open order (auction, nearest-task)" },
    MessageKind { name: msg::BID, about: "robot → robots: its path length to an order's pick" },
    MessageKind { name: msg::CLAIM, about: "robot → all: it won an order's auction" },
    MessageKind { name: msg::MOVE, about: "fleet manager → robot: a one-tick reservation (PIBT)" },
    MessageKind { name: msg::PLAN, about: "fleet manager → robot: a windowed space-time plan (WHCA*)" },
    MessageKind { name: msg::INTENT, about: "robot → robots around it: its cell, goal and priority (negotiation)" },
    MessageKind { name: msg::ZONE_ORDER, about: "fleet manager → zone manager: an order to allocate" },
    MessageKind { name: msg::ZONE_SUMMARY, about: "zone manager → fleet manager: idle robots and queued orders" },
    MessageKind { name: msg::HANDBACK, about: "zone manager → fleet manager: an order it cannot serve" },
];

/// Task allocation in force: the world's setting, or the scenario's coordination for `Auto`.
pub fn allocation(cfg: &WarehouseConfig, coord: Coordination) -> Allocation {
    match cfg.allocation {
        Allocation::Auto => match coord {
            Coordination::None => Allocation::None,
            Coordination::Decentralized => Allocation::Decentralized,
            Coordination::Centralized => Allocation::Centralized,
            Coordination::Hierarchical => Allocation::Hierarchical,
        },
        a => a,
    }
}

/// Path planning in force: the world's setting, or the scenario's coordination for `Auto`.
pub fn planning(cfg: &WarehouseConfig, coord: Coordination) -> Planning {
    match cfg.planning {
        Planning::Auto => match coord {
            Coordination::None => Planning::None,
            Coordination::Decentralized => Planning::Decentralized,
            Coordination::Centralized | Coordination::Hierarchical => Planning::Centralized,
        },
        p => p,
    }
}

/// Recounts the task ledger against itself and against what the robots hold (see
/// `measure::conservation`): created = done + assigned + waiting, each assigned task held
/// by as many robots as the ledger says, each carried load on exactly one robot.
pub fn check_conservation(world: &World) -> Result<(), String> {
    let ledger = world.get_resource::<Ledger>().ok_or("no warehouse in this world")?;
    let order = world.resource::<RobotOrder>();
    let robots: Vec<(u32, RobotPhase, u32)> =
        order.0.iter().filter_map(|&(id, e)| world.get::<Robot>(e).map(|r| (id, r.phase, r.task))).collect();
    measure::conservation(ledger, &robots)
}

/// The warehouse plugin.
pub struct WarehousePlugin(pub WarehouseConfig);

impl Plugin for WarehousePlugin {
    fn build(&self, app: &mut App) {
        let cfg = &self.0;
        app.register_agent_kinds(&cfg.agent_kinds())
            .register_metrics(MetricGroup::World, &measure::COLUMNS)
            .register_message_kinds(&MESSAGES);
        app.insert_resource(Params(cfg.clone()));
        app.insert_resource(WorldSummary(measure::summary));
        reset(app.world_mut());
        app.add_systems(ResetWorld, reset);
        app.add_systems(SpawnWorld, robots::spawn);
        app.add_systems(
            SimTick,
            (events::apply_events, robots::sync_robot_count, robots::health, tasks_arrive)
                .chain()
                .in_set(InjectSet::World),
        );
        app.add_systems(SimTick, robots::perceive.in_set(Phase::Perceive));
        app.add_systems(SimTick, security::check_reports.in_set(crate::sim::VerifySet::Plausibility));
        app.add_systems(
            SimTick,
            (fleet::fleet_manager, fleet::zone_managers, robots::decide).chain().in_set(Phase::Decide),
        );
        app.add_systems(SimTick, robots::act.in_set(Phase::Act));
        app.add_systems(SimTick, (robots::resolve, robots::report).chain().in_set(Phase::Resolve));
        app.add_systems(SimTick, measure::measure.in_set(MeasureSet::World));
    }
}

/// The Inject system that creates this tick's orders.
fn tasks_arrive(
    clock: Res<crate::sim::SimClock>,
    params: Res<WarehouseParams>,
    floor: Res<Floor>,
    mut source: ResMut<tasks::OrderSource>,
    mut ledger: ResMut<Ledger>,
) {
    let per_tick = params.0.orders.rate_per_h * clock.dt / 3600.0;
    source.arrivals(&floor, &mut ledger, clock.tick, per_tick);
}

/// (Re)inserts the warehouse's state for the settings in force; agents spawn in
/// [`SpawnWorld`].
pub fn reset(world: &mut World) {
    let cfg = world.resource::<WarehouseParams>().0.clone();
    let seed = world.get_resource::<crate::sim::SimClock>().map_or(0, |c| c.seed);
    // Validation has built this floor already; a floor that fails here can only come from
    // a configuration that skipped it, and runs empty.
    let floor = Floor::new(&cfg).unwrap_or_else(|_| {
        let fallback = WarehouseConfig { map: MapSource::Rows(vec![".".into()]), ..cfg.clone() };
        Floor::new(&fallback).expect("a one-cell floor builds")
    });
    world.insert_resource(Chargers::new(&floor));
    world.insert_resource(Parking::new(&floor));
    world.insert_resource(robots::Occupancy::new(floor.base.len()));
    world.insert_resource(floor);
    world.insert_resource(Ledger::default());
    world.insert_resource(tasks::OrderSource::new(seed, cfg.orders.list.clone()));
    world.insert_resource(WorldEvents::new(cfg.events.clone()));
    world.insert_resource(RobotOrder::default());
    world.insert_resource(RunTotals::default());
    world.insert_resource(robots::MotionScratch::default());
    world.insert_resource(measure::Deadlocks::default());
}

impl WorldSpec for WarehouseConfig {
    fn name(&self) -> &'static str {
        "warehouse"
    }

    fn quality_metric(&self) -> (&'static str, bool) {
        ("throughput_per_h", true)
    }

    fn message_kinds(&self) -> Vec<&'static str> {
        MESSAGES.iter().map(|m| m.name).collect()
    }

    fn honours(&self, attack: &AttackSpec) -> Result<(), String> {
        match attack.attack {
            AttackKind::Hijack if attack.attackers.kind.is_some_and(|k| k != ROBOT) => Err(format!(
                "in the warehouse only robots ({}) have a hijack behaviour (they drive for their goal \
                 ignoring reservations); name them with `kind` or their ids",
                ROBOT.file_name()
            )),
            _ => crate::worlds::honours_by_default(self.name(), attack),
        }
    }

    fn agent_kinds(&self) -> Vec<AgentKind> {
        vec![FLEET_MANAGER, ZONE_MANAGER, ROBOT]
    }

    /// The fleet manager (id 0), the zone managers (1..=zones), then the robots.
    fn agent_count(&self) -> u64 {
        1 + u64::from(self.zones.count()) + u64::from(self.robots)
    }

    /// The fleet manager.
    fn replicates_coordinator(&self) -> bool {
        true
    }

    fn validate(&self, core: &CoreView, out: &mut Checker) {
        validate::warehouse(out, self, core);
    }

    fn fixed_at_start(&self) -> Vec<Fixed> {
        let why = "the floor (map, cell_m, chargers.count) only applies at start";
        vec![
            Fixed::Value("world.map", why),
            Fixed::Value("world.cell_m", why),
            Fixed::Value("world.chargers.count", why),
            Fixed::Value("world.zones", "the zones (and their managers) only apply at start"),
            Fixed::Value("world.orders.list", "listed orders only apply at start (change orders.rate_per_h)"),
            Fixed::Value("world.events", "world events are scheduled at start or injected from the app"),
            Fixed::Value("world.battery.capacity_kwh", "battery capacity and initial charge only apply at start"),
            Fixed::Value("world.battery.initial", "battery capacity and initial charge only apply at start"),
            Fixed::Value("world.battery.initial_spread", "battery capacity and initial charge only apply at start"),
        ]
    }

    fn build(&self, app: &mut App) {
        app.add_plugins(WarehousePlugin(self.clone()));
    }

    fn truncate_events(&mut self, ticks: u64) -> Vec<String> {
        let mut said: Vec<String> = crate::sim::timeline::truncate(&mut self.events, ticks)
            .into_iter()
            .map(|k| format!("world.events[{k}] starts after the run's end"))
            .collect();
        let n = self.orders.list.len();
        self.orders.list.retain(|o| o.at < ticks);
        if self.orders.list.len() < n {
            said.push(format!("{} of world.orders.list arrive after the run's end", n - self.orders.list.len()));
        }
        said
    }

    fn record_session(&mut self, world: &World) {
        if let Some(e) = world.get_resource::<WorldEvents>() {
            self.events = e.timeline.session();
        }
    }

    fn resolve_paths(&mut self, base: &std::path::Path) {
        if let MapSource::MovingAi { path } = &mut self.map {
            *path = floor::resolve(path, base);
        }
    }
}
