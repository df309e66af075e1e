//! The simulation core: the tick clock and its phases, the components every agent shares,
//! and the plugin that wires the channel, faults, metrics and event log together.
//! Nothing here knows about windows or rendering.

pub mod channel;
pub mod events;
pub mod faults;
pub mod metrics;
pub mod rng;
pub mod spatial;

use bevy::ecs::schedule::{ScheduleLabel, SingleThreadedExecutor};
use bevy::prelude::*;
use serde::{Deserialize, Serialize};

pub use channel::{Channel, ChannelConfig, CommStats, Dest, Inbox, Message, Outbox, Topology};
pub use events::EventLog;
pub use faults::{FaultKind, FaultSpec, Faults, Rect};
pub use metrics::{Metrics, WorldSummary};
pub use rng::AgentRng;

/// The schedule that advances the world by exactly one tick. Nothing runs it on a wall
/// clock: the headless runner calls it in a loop, the desktop app paces it per frame.
#[derive(ScheduleLabel, Clone, Debug, PartialEq, Eq, Hash)]
pub struct SimTick;

/// The phases of one tick, chained in this order. Worlds add systems to phases; they
/// never reorder them.
#[derive(SystemSet, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Scheduled and live faults and parameter edits take effect.
    Inject,
    /// Agents sense their surroundings.
    Perceive,
    /// The channel delivers the messages that are due.
    Communicate,
    /// Agents choose an action (and may queue messages).
    Decide,
    /// Chosen actions change the world.
    Act,
    /// Contended resources are arbitrated and invariants enforced.
    Resolve,
    /// Metrics and events are recorded; the clock advances.
    Measure,
}

/// Simulated time: the integer tick and the tick length.
#[derive(Resource, Clone, Debug)]
pub struct SimClock {
    /// Ticks completed so far (the tick being simulated while the schedule runs).
    pub tick: u64,
    /// Simulated seconds per tick.
    pub dt: f64,
    /// The run's length in ticks (the headless runner stops there; the app may go on).
    pub end_tick: u64,
    /// The scenario's master seed.
    pub seed: u64,
}

impl SimClock {
    /// Simulated seconds at the current tick.
    pub fn time_s(&self) -> f64 {
        self.tick as f64 * self.dt
    }
}

/// A stable agent identifier, dense from 0 in spawn order; never reused within a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AgentId(pub u32);

/// What sort of agent an entity is. Fault specs and broadcast scopes select by kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum AgentKind {
    /// A road vehicle (human-driven or automated).
    Vehicle,
    /// A roadside or central traffic controller.
    Controller,
    /// A traffic light at a signalized intersection.
    TrafficLight,
}

impl AgentKind {
    /// The lower-case name used in outputs.
    pub fn name(self) -> &'static str {
        match self {
            AgentKind::Vehicle => "vehicle",
            AgentKind::Controller => "controller",
            AgentKind::TrafficLight => "traffic_light",
        }
    }
}

/// Identity shared by every agent.
#[derive(Component, Clone, Copy, Debug)]
pub struct Agent {
    /// Stable id.
    pub id: AgentId,
    /// Kind of agent.
    pub kind: AgentKind,
}

/// Where an agent is, in world metres (x east, y north), its heading in radians and its
/// speed in m/s (what the desktop app draws and `agents.csv` traces).
#[derive(Component, Clone, Copy, Debug, Default)]
pub struct Pose {
    pub x: f32,
    pub y: f32,
    pub heading: f32,
    pub speed: f32,
}

/// What the agent sensed this tick: the other agent (or object) that constrains it most,
/// how far away it is and how fast it moves.
#[derive(Component, Clone, Copy, Debug, Default)]
pub struct Perception {
    /// Tick of the last sensing.
    pub tick: u64,
    /// The constraining agent, if one is within sensor range.
    pub target: Option<AgentId>,
    /// Free distance to it (bumper to bumper for vehicles), metres.
    pub distance_m: f32,
    /// Its speed, m/s.
    pub target_speed_mps: f32,
}

/// The action an agent chose and why, in short machine-readable words.
#[derive(Component, Clone, Copy, Debug)]
pub struct Decision {
    /// Tick of the decision.
    pub tick: u64,
    /// What it does (e.g. `"idm"`, `"follow_advice"`).
    pub action: &'static str,
    /// Why (e.g. `"v2v_fresh"`, `"fallback_no_messages"`).
    pub reason: &'static str,
    /// The decision's main number (acceleration in m/s², a speed in cells/tick, ...).
    pub value: f32,
}

impl Default for Decision {
    fn default() -> Self {
        Decision { tick: 0, action: "none", reason: "start", value: 0.0 }
    }
}

/// Marks an agent that has crashed: it neither perceives, decides, sends nor receives.
#[derive(Component, Clone, Copy, Debug)]
pub struct Crashed {
    /// Tick the crash began.
    pub since: u64,
}

/// How agents coordinate. Every world honours it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Coordination {
    /// Each agent alone, on its own sensors.
    #[default]
    None,
    /// Agents coordinate peer to peer through the channel.
    Decentralized,
    /// One controller collects reports and issues advice.
    Centralized,
    /// Regional controllers under a central one.
    Hierarchical,
}

/// The coordination strategy currently in force (changeable while running).
#[derive(Resource, Clone, Copy, Debug, Default)]
pub struct CoordinationRes(pub Coordination);

/// Allocates agent ids in spawn order.
#[derive(Resource, Debug, Default)]
pub struct AgentIds {
    next: u32,
}

impl AgentIds {
    /// A fresh id.
    pub fn alloc(&mut self) -> AgentId {
        let id = AgentId(self.next);
        self.next += 1;
        id
    }
    /// One past the largest id handed out.
    pub fn bound(&self) -> u32 {
        self.next
    }
}

/// Options of the core that come from the scenario.
#[derive(Clone, Debug)]
pub struct SimSettings {
    pub seed: u64,
    pub dt: f64,
    pub ticks: u64,
    pub record_every: u64,
    pub max_events: usize,
    pub channel: ChannelConfig,
    pub coordination: Coordination,
    pub faults: Vec<FaultSpec>,
}

/// The core plugin: clock, phases, channel, faults, metrics and the event log.
pub struct SimPlugin(pub SimSettings);

impl Plugin for SimPlugin {
    fn build(&self, app: &mut App) {
        let s = &self.0;
        // One system at a time, on the calling thread: the phases are chained and the
        // systems inside them are short, so the multi-threaded executor's hand-offs cost
        // more than they save (≈ 70 µs a tick). Systems still fan out inside themselves
        // (`par_iter`, task-pool scopes), and their results never depend on the thread
        // count (tested).
        let mut tick = Schedule::new(SimTick);
        tick.set_executor(SingleThreadedExecutor::new());
        app.add_schedule(tick);
        app.configure_sets(
            SimTick,
            (
                Phase::Inject,
                Phase::Perceive,
                Phase::Communicate,
                Phase::Decide,
                Phase::Act,
                Phase::Resolve,
                Phase::Measure,
            )
                .chain(),
        );
        app.insert_resource(Metrics::new(s.record_every));
        insert_state(app.world_mut(), s);
        app.add_schedule(Schedule::new(SpawnWorld));
        app.add_systems(Startup, |world: &mut World| world.run_schedule(SpawnWorld));
        app.add_systems(SimTick, faults::apply_faults.in_set(Phase::Inject));
        app.add_systems(SimTick, channel::communicate.in_set(Phase::Communicate));
        app.add_systems(
            SimTick,
            (metrics::record_row, advance_clock).chain().in_set(Phase::Measure).after(MeasureSet::World),
        );
        app.configure_sets(SimTick, MeasureSet::World.in_set(Phase::Measure));
        let mut m = app.world_mut().resource_mut::<Metrics>();
        m.register("tick");
        m.register("time_s");
        m.register("agents");
    }

    fn finish(&self, app: &mut App) {
        let mut m = app.world_mut().resource_mut::<Metrics>();
        for c in CommStats::COLUMNS {
            m.register(c);
        }
    }
}

/// The schedule in which worlds spawn their agents from the scenario; it runs at startup
/// and again on [`reset`].
#[derive(ScheduleLabel, Clone, Debug, PartialEq, Eq, Hash)]
pub struct SpawnWorld;

/// (Re)inserts the core's per-run state: clock, coordination, ids, channel, faults,
/// event log, and empties the metric rows (keeping the columns).
fn insert_state(world: &mut World, s: &SimSettings) {
    world.insert_resource(SimClock { tick: 0, dt: s.dt, end_tick: s.ticks, seed: s.seed });
    world.insert_resource(CoordinationRes(s.coordination));
    world.insert_resource(AgentIds::default());
    world.insert_resource(Channel::new(s.channel.clone(), s.seed));
    world.insert_resource(Faults::new(s.faults.clone(), s.seed));
    world.insert_resource(EventLog::new(s.max_events));
    world.resource_mut::<Metrics>().clear(s.record_every);
}

/// Starts the run over: despawns every agent and resets the core's state for `s`. The
/// world resets its own state, then [`SpawnWorld`] runs (see `runner::reset`).
pub fn reset_core(world: &mut World, s: &SimSettings) {
    let agents: Vec<Entity> = world.query_filtered::<Entity, With<Agent>>().iter(world).collect();
    for e in agents {
        world.despawn(e);
    }
    insert_state(world, s);
}

/// Worlds put their metric systems in this set; the row is recorded after it.
#[derive(SystemSet, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MeasureSet {
    World,
}

fn advance_clock(mut clock: ResMut<SimClock>) {
    clock.tick += 1;
}

/// Runs one tick.
pub fn step(world: &mut World) {
    world.run_schedule(SimTick);
}
