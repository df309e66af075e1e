//! The simulation core: the tick clock and its phases, the components every agent shares,
//! and the plugin that wires the channel, faults, metrics and event log together.
//! Nothing here knows about windows or rendering, and nothing here names a world: worlds
//! register their agent kinds, message kinds and metric columns through [`SimAppExt`].

pub mod channel;
pub mod csv;
pub mod events;
pub mod faults;
pub mod kind;
pub mod metrics;
pub mod registry;
pub mod rng;
pub mod security;
pub mod spatial;
pub mod special;
pub mod timeline;

use bevy::ecs::schedule::{ScheduleLabel, SingleThreadedExecutor};
use bevy::prelude::*;
use serde::{Deserialize, Serialize};

pub use channel::{Channel, ChannelConfig, CommStats, Dest, Inbox, Message, Outbox, Topology};
pub use events::EventLog;
pub use faults::{FaultKind, FaultSpec, Faults, Rect};
pub use kind::AgentKind;
pub use metrics::{Metrics, WorldSummary};
pub use registry::{Agg, MessageKind, MetricGroup, MetricSpec, Registry, RunTable, SimAppExt, TraceTable};
pub use rng::AgentRng;
pub use security::{AttackSpec, Attacks, Coordinator, Hijacked, LeaderView, Security, SecurityConfig};
pub use timeline::{Timed, Timeline};

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

/// Sub-sets of [`Phase::Inject`], chained in this order: live and scheduled parameter
/// edits, faults, attacks, then the world's own events and reactions to the edits.
#[derive(SystemSet, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InjectSet {
    Edits,
    Faults,
    Attacks,
    World,
}

/// Sub-sets of [`Phase::Communicate`], chained in this order: adversaries tamper with
/// what agents queued, the channel routes and delivers, receivers verify what arrived.
#[derive(SystemSet, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CommunicateSet {
    Tamper,
    Route,
    Verify,
}

/// Sub-sets of [`CommunicateSet::Verify`], chained in this order: the core checks MACs
/// and anti-replay windows, the worlds run their plausibility checks (calling
/// [`Security::judge`]), the core drops what distrusted senders sent and counts what
/// adversaries got through.
#[derive(SystemSet, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VerifySet {
    Authenticate,
    Plausibility,
    Trust,
}

/// Sub-sets of [`Phase::Measure`], chained in this order: the world's metrics and events,
/// cross-cutting layers' (security, the app's inspector), then the row is recorded and
/// the clock advances.
#[derive(SystemSet, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MeasureSet {
    World,
    Layers,
    Record,
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

/// An agent's state as agents.csv's `state` column shows it, when its world keeps one
/// apart from its last decision (say `carrying` or `queueing`); without it the
/// column shows the decision's action.
#[derive(Component, Clone, Copy, Debug)]
pub struct TraceState(pub &'static str);

/// Wall-clock time spent in named parts of the tick (a planner's, say), in seconds,
/// summed over the run: instrumentation for summary.json's `timing`, never read by
/// simulation logic (which reads only the tick and the seeded streams).
#[derive(Resource, Debug, Default, Clone)]
pub struct Timings(pub Vec<(&'static str, f64)>);

impl Timings {
    /// Adds `seconds` to `name`.
    pub fn add(&mut self, name: &'static str, seconds: f64) {
        match self.0.iter_mut().find(|(n, _)| *n == name) {
            Some((_, s)) => *s += seconds,
            None => self.0.push((name, seconds)),
        }
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
    /// One coordinating agent collects reports and issues advice.
    Centralized,
    /// Regional coordinators under a central one.
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
    pub security: SecurityConfig,
    pub attacks: Vec<AttackSpec>,
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
        app.configure_sets(
            SimTick,
            (InjectSet::Edits, InjectSet::Faults, InjectSet::Attacks, InjectSet::World).chain(),
        );
        app.configure_sets(
            SimTick,
            (InjectSet::Edits, InjectSet::Faults, InjectSet::Attacks, InjectSet::World).in_set(Phase::Inject),
        );
        app.configure_sets(SimTick, (CommunicateSet::Tamper, CommunicateSet::Route, CommunicateSet::Verify).chain());
        app.configure_sets(
            SimTick,
            (CommunicateSet::Tamper, CommunicateSet::Route, CommunicateSet::Verify).in_set(Phase::Communicate),
        );
        app.configure_sets(SimTick, (VerifySet::Authenticate, VerifySet::Plausibility, VerifySet::Trust).chain());
        app.configure_sets(
            SimTick,
            (VerifySet::Authenticate, VerifySet::Plausibility, VerifySet::Trust).in_set(CommunicateSet::Verify),
        );
        app.configure_sets(SimTick, (MeasureSet::World, MeasureSet::Layers, MeasureSet::Record).chain());
        app.configure_sets(SimTick, (MeasureSet::World, MeasureSet::Layers, MeasureSet::Record).in_set(Phase::Measure));
        app.insert_resource(Metrics::new(s.record_every));
        app.register_metrics(
            MetricGroup::Core,
            &[
                MetricSpec::gauge("tick", "ticks"),
                MetricSpec::gauge("time_s", "s"),
                MetricSpec::gauge("agents", "agents"),
            ],
        );
        app.register_metrics(MetricGroup::Channel, &CommStats::SPECS);
        app.register_metrics(MetricGroup::Layer, &security::SecStats::SPECS);
        app.register_message_kinds(&[
            MessageKind { name: security::attacks::FLOOD, about: "an adversary's junk (flooding attack)" },
            MessageKind {
                name: security::failover::BALLOT,
                about: "coordinator replicas' election: vote requests, votes, the leader's heartbeats",
            },
        ]);
        insert_state(app.world_mut(), s);
        app.add_schedule(Schedule::new(SpawnWorld));
        app.add_schedule(Schedule::new(ResetWorld));
        app.add_systems(Startup, |world: &mut World| world.run_schedule(SpawnWorld));
        app.add_systems(SimTick, faults::apply_faults.in_set(InjectSet::Faults));
        app.add_systems(SimTick, security::attacks::start_attacks.in_set(InjectSet::Attacks));
        app.add_systems(SimTick, security::attacks::tamper.in_set(CommunicateSet::Tamper));
        app.add_systems(SimTick, channel::communicate.in_set(CommunicateSet::Route));
        app.add_systems(SimTick, security::authenticate.in_set(VerifySet::Authenticate));
        app.add_systems(SimTick, security::trust.in_set(VerifySet::Trust));
        app.add_systems(SimTick, security::failover::elect.in_set(Phase::Communicate).after(CommunicateSet::Verify));
        app.add_systems(SimTick, security::record.in_set(MeasureSet::Layers));
        app.add_systems(SimTick, (metrics::record_row, advance_clock).chain().in_set(MeasureSet::Record));
    }

    fn finish(&self, app: &mut App) {
        // Every plugin has built by now, so every column is registered.
        let registry = app.world_mut().get_resource_or_init::<Registry>().clone();
        app.world_mut().resource_mut::<Metrics>().set_columns(&registry.metrics());
        app.world_mut().resource_mut::<Channel>().kinds = registry.kinds().to_vec();
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
    let mut channel = Channel::new(s.channel.clone(), s.seed);
    channel.kinds = world.get_resource::<Registry>().map(|r| r.kinds().to_vec()).unwrap_or_default();
    world.insert_resource(channel);
    world.insert_resource(Faults::new(s.faults.clone(), s.seed));
    world.insert_resource(Security::new(s.security.clone()));
    world.insert_resource(Attacks::new(s.attacks.clone(), s.seed));
    world.insert_resource(EventLog::new(s.max_events));
    world.insert_resource(Timings::default());
    world.resource_mut::<Metrics>().clear(s.record_every);
}

/// The schedule in which worlds put their state back to the start of a run for the
/// settings in force; it runs on [`reset`](reset_core), before [`SpawnWorld`].
#[derive(ScheduleLabel, Clone, Debug, PartialEq, Eq, Hash)]
pub struct ResetWorld;

/// Starts the run over: despawns every agent and resets the core's state for `s`. The
/// world then resets its own state in [`ResetWorld`] and [`SpawnWorld`] runs (see
/// `runner::reset`).
pub fn reset_core(world: &mut World, s: &SimSettings) {
    let agents: Vec<Entity> = world.query_filtered::<Entity, With<Agent>>().iter(world).collect();
    for e in agents {
        world.despawn(e);
    }
    insert_state(world, s);
}

fn advance_clock(mut clock: ResMut<SimClock>) {
    clock.tick += 1;
}

/// Runs one tick.
pub fn step(world: &mut World) {
    world.run_schedule(SimTick);
}
