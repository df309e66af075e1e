//! The worlds masim simulates and the one contract they share. A world is a folder here
//! and a type that implements [`WorldSpec`]: its scenario section, the agent kinds it
//! spawns, its validation with field paths, the fields fixed at start, and the plugin
//! that adds its state, spawning, reset and systems to the core's phases. [`WorldConfig`]
//! is the registry (the `world:` section of a scenario file) and holds the only `match`
//! over worlds; adding a world adds one variant to it.

pub mod check;
pub mod power;
pub mod traffic;
pub mod warehouse;

use bevy::prelude::*;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub use check::Checker;

use crate::sim::security::{AttackKind, AttackSpec};
use crate::sim::{AgentKind, Coordination};

/// The settings of a world in force, as a resource its systems read. The runner replaces
/// it after a live edit changes any of them.
#[derive(Resource, Clone, Debug, PartialEq)]
pub struct Params<C>(pub C);

/// What a world's validation may need of the rest of the scenario.
#[derive(Clone, Copy, Debug)]
pub struct CoreView {
    /// Run length, ticks.
    pub ticks: u64,
    /// Seconds per tick.
    pub dt: f64,
    /// Coordination strategy.
    pub coordination: Coordination,
}

/// A field (below `world.`) that only applies at start, with the reason given when a
/// live edit tries to change it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fixed {
    /// The value at this path may not change.
    Value(&'static str, &'static str),
    /// The variant at this path may not change (its fields may).
    Variant(&'static str, &'static str),
}

/// What [`WorldSpec::honours`] says for a world with no behaviour of its own for an
/// attack: message-level attacks and hijacks are carried out, false data needs a state
/// estimator the world `name` does not have.
pub fn honours_by_default(name: &str, attack: &AttackSpec) -> Result<(), String> {
    match attack.attack {
        AttackKind::FalseData { .. } => {
            Err(format!("false data injection needs a state estimator, and the {name} world has none"))
        }
        _ => Ok(()),
    }
}

/// The contract every world implements. `validate`, `fixed_at_start` and `agent_count`
/// see only the world's own section; paths they return start with `world.`.
pub trait WorldSpec:
    Clone + std::fmt::Debug + PartialEq + Serialize + DeserializeOwned + Send + Sync + 'static
{
    /// The world's name in outputs and messages (`traffic`).
    fn name(&self) -> &'static str;

    /// Which systems these settings need, as a name: a window built for one variant can
    /// switch to another scenario of the same variant (`traffic/ring`, `traffic/city`).
    fn variant(&self) -> &'static str {
        self.name()
    }

    /// The agent kinds these settings spawn, in spawn order.
    fn agent_kinds(&self) -> Vec<AgentKind>;

    /// How many agents spawn at start (their ids are 0..count, in the world's documented
    /// spawn order).
    fn agent_count(&self) -> u64;

    /// The kinds of message its agents send (attacks that name a message kind are
    /// checked against them).
    fn message_kinds(&self) -> Vec<&'static str>;

    /// The metrics.csv column that says how well the world does its job (the quality
    /// column of `masim scale`), and whether more of it is better.
    fn quality_metric(&self) -> (&'static str, bool);

    /// Whether the world runs `security.failover.replicas` copies of its coordinator
    /// (the standbys spawn after its other agents, so their ids follow `agent_count`).
    fn replicates_coordinator(&self) -> bool {
        false
    }

    /// Whether its coordinator has critical commands that `security.quorum` puts to a
    /// vote of the replicas.
    fn quorum_commands(&self) -> bool {
        false
    }

    /// Whether the world can carry out `attack` with these settings; the reason when not.
    /// The message-level attacks and hijacking work everywhere (a world without a hijack
    /// behaviour says so here); false data needs a state estimator.
    fn honours(&self, attack: &AttackSpec) -> Result<(), String> {
        honours_by_default(self.name(), attack)
    }

    /// Checks the world's section; reports each problem with its field path.
    fn validate(&self, core: &CoreView, out: &mut Checker);

    /// The fields that only apply at start (one generic check refuses live edits of them).
    fn fixed_at_start(&self) -> Vec<Fixed>;

    /// Any further rule for a live change from `self` to `new` (after the fixed fields).
    fn check_live(&self, _new: &Self) -> Result<(), String> {
        Ok(())
    }

    /// Adds the world to an app built with the core's `SimPlugin`: its state, its
    /// registrations (agent kinds, message kinds, metric columns), its spawning in
    /// `SpawnWorld`, its reset in `ResetWorld`, and its systems in the core's phases.
    fn build(&self, app: &mut App);

    /// Puts these settings in force in a running app (after a live edit).
    fn install(&self, world: &mut World) {
        if world.get_resource::<Params<Self>>().is_none_or(|p| p.0 != *self) {
            world.insert_resource(Params(self.clone()));
        }
    }

    /// Makes the world's file paths absolute (a case file the settings name): a relative
    /// path is taken relative to `base` — the scenario file's folder when a file is loaded,
    /// the current folder (an empty `base`) for a path set by `--set` or a live edit. Runs
    /// before validation, so the world's checks and every later use see one path, and the
    /// scenario written to a run's folder names the same file from anywhere.
    fn resolve_paths(&mut self, _base: &std::path::Path) {}

    /// Drops the world's own scheduled events that start at or after `ticks` (a
    /// shortened run, a session exported part way); returns a line for each.
    fn truncate_events(&mut self, _ticks: u64) -> Vec<String> {
        Vec::new()
    }

    /// Writes the world's own timeline as it happened into these settings (session
    /// export), from the running `world`.
    fn record_session(&mut self, _world: &World) {}
}

/// The `world:` section of a scenario: which world, with its settings (one per scenario, so
/// the variants' sizes do not matter).
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum WorldConfig {
    /// Road traffic: a ring road or a city network.
    Traffic(traffic::TrafficConfig),
    /// The power grid.
    Power(power::PowerConfig),
    /// A robot warehouse: a grid floor, orders, robots with batteries, chargers.
    Warehouse(warehouse::WarehouseConfig),
}

/// Calls `$body` with `$w` bound to the variant's settings (or, given two configs, with
/// both bound when they are the same world, `$other` otherwise): the one match over
/// worlds. A new world adds its variant to each arm.
macro_rules! each_world {
    ($self:expr, $w:ident => $body:expr) => {
        match $self {
            WorldConfig::Traffic($w) => $body,
            WorldConfig::Power($w) => $body,
            WorldConfig::Warehouse($w) => $body,
        }
    };
    ($a:expr, $b:expr, ($x:ident, $y:ident) => $body:expr, $other:expr) => {
        #[allow(unreachable_patterns)]
        match ($a, $b) {
            (WorldConfig::Traffic($x), WorldConfig::Traffic($y)) => $body,
            (WorldConfig::Power($x), WorldConfig::Power($y)) => $body,
            (WorldConfig::Warehouse($x), WorldConfig::Warehouse($y)) => $body,
            _ => $other,
        }
    };
}

impl WorldSpec for WorldConfig {
    fn name(&self) -> &'static str {
        each_world!(self, w => w.name())
    }
    fn variant(&self) -> &'static str {
        each_world!(self, w => w.variant())
    }
    fn agent_kinds(&self) -> Vec<AgentKind> {
        each_world!(self, w => w.agent_kinds())
    }
    fn agent_count(&self) -> u64 {
        each_world!(self, w => w.agent_count())
    }
    fn message_kinds(&self) -> Vec<&'static str> {
        each_world!(self, w => w.message_kinds())
    }
    fn quality_metric(&self) -> (&'static str, bool) {
        each_world!(self, w => w.quality_metric())
    }
    fn replicates_coordinator(&self) -> bool {
        each_world!(self, w => w.replicates_coordinator())
    }
    fn quorum_commands(&self) -> bool {
        each_world!(self, w => w.quorum_commands())
    }
    fn honours(&self, attack: &AttackSpec) -> Result<(), String> {
        each_world!(self, w => w.honours(attack))
    }
    fn validate(&self, core: &CoreView, out: &mut Checker) {
        each_world!(self, w => w.validate(core, out))
    }
    fn fixed_at_start(&self) -> Vec<Fixed> {
        each_world!(self, w => w.fixed_at_start())
    }
    fn check_live(&self, new: &Self) -> Result<(), String> {
        each_world!(self, new, (a, b) => a.check_live(b), Err("the world cannot change while running".into()))
    }
    fn build(&self, app: &mut App) {
        each_world!(self, w => w.build(app))
    }
    fn install(&self, world: &mut World) {
        each_world!(self, w => w.install(world))
    }
    fn resolve_paths(&mut self, base: &std::path::Path) {
        each_world!(self, w => w.resolve_paths(base))
    }
    fn truncate_events(&mut self, ticks: u64) -> Vec<String> {
        each_world!(self, w => w.truncate_events(ticks))
    }
    fn record_session(&mut self, world: &World) {
        each_world!(self, w => w.record_session(world))
    }
}
