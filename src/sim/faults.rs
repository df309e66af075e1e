//! Fault injection shared by all worlds: a timeline from the scenario plus the same
//! faults injected at run time through [`Faults::inject`], kept on a [`Timeline`]. Crashes, loss and latency
//! spikes, network partitions and regional blackouts; every start and end is logged.

use bevy::prelude::*;
use rand::RngExt;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::timeline::{Active, Timeline};
use super::{Agent, AgentId, AgentKind, Channel, Crashed, EventLog, SimClock, rng};

/// An axis-aligned rectangle in world metres.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rect {
    pub x0: f32,
    pub y0: f32,
    pub x1: f32,
    pub y1: f32,
}

impl Rect {
    /// Whether (x, y) lies inside (edges included).
    pub fn contains(&self, x: f32, y: f32) -> bool {
        x >= self.x0.min(self.x1) && x <= self.x0.max(self.x1) && y >= self.y0.min(self.y1) && y <= self.y0.max(self.y1)
    }
}

/// What a fault does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum FaultKind {
    /// Crash agents: a fraction of those of a kind (or of all kinds), and/or a list of ids.
    Crash {
        #[serde(default)]
        kind: Option<AgentKind>,
        #[serde(default)]
        fraction: f64,
        #[serde(default)]
        agents: Vec<u32>,
    },
    /// Raise message loss: this loss acts on top of the channel's own.
    Loss { loss: f64 },
    /// Raise latency by this many ticks per hop.
    Latency { extra_ticks: u32 },
    /// Split the network: agents in different regions (or inside one and outside all)
    /// cannot reach each other.
    Partition { regions: Vec<Rect> },
    /// No agent inside the region sends or receives.
    Blackout { region: Rect },
}

impl FaultKind {
    /// Short name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            FaultKind::Crash { .. } => "crash",
            FaultKind::Loss { .. } => "loss",
            FaultKind::Latency { .. } => "latency",
            FaultKind::Partition { .. } => "partition",
            FaultKind::Blackout { .. } => "blackout",
        }
    }
}

/// A fault on the timeline: starts at tick `at`, lasts `duration` ticks or for good.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// Tick at which it starts.
    pub at: u64,
    /// Ticks it lasts; `None` for the rest of the run.
    #[serde(default)]
    pub duration: Option<u64>,
    /// What it does.
    pub fault: FaultKind,
    /// Tick at which it was ended by hand, before its duration ran out (a session
    /// exported from the desktop app records the click here, so the replay logs the
    /// fault exactly as the live run did: planned duration at the start, end at the click).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<u64>,
}

crate::impl_timed!(FaultSpec);

/// A fault in force.
pub type ActiveFault = Active<FaultSpec>;

/// The fault timeline, the faults in force, and the run-time API.
#[derive(Resource, Debug)]
pub struct Faults {
    /// Scheduled, active and past faults.
    pub timeline: Timeline<FaultSpec>,
    seed: u64,
}

impl Faults {
    /// A timeline from the scenario.
    pub fn new(timeline: Vec<FaultSpec>, seed: u64) -> Self {
        Faults { timeline: Timeline::new(timeline), seed }
    }

    /// Injects a fault at run time: it starts at the next tick's Inject phase (or at `at`
    /// if that is later). Returns its id.
    pub fn inject(&mut self, spec: FaultSpec) -> u32 {
        self.timeline.inject(spec)
    }

    /// Ends an active fault at the next tick's Inject phase.
    pub fn end(&mut self, id: u32) {
        self.timeline.end(id);
    }

    /// Faults in force.
    pub fn active(&self) -> &[ActiveFault] {
        self.timeline.active()
    }

    /// Faults still to start.
    pub fn scheduled(&self) -> impl Iterator<Item = &FaultSpec> {
        self.timeline.scheduled()
    }

    /// Every fault that has started, with the tick it ended (for session export).
    pub fn history(&self) -> &[(u32, FaultSpec, Option<u64>)] {
        &self.timeline.history
    }
}

/// The Inject phase: end expired faults, start due ones, and set the channel's fault
/// effects from what is in force.
pub(crate) fn apply_faults(
    clock: Res<SimClock>,
    mut faults: ResMut<Faults>,
    mut channel: ResMut<Channel>,
    mut log: ResMut<EventLog>,
    agents: Query<(Entity, &Agent, Has<Crashed>)>,
    mut commands: Commands,
) {
    let now = clock.tick;
    let f = &mut *faults;

    // End faults that expire now or were asked to end.
    let ended = f.timeline.take_ended(now);
    for a in &ended {
        let still: Vec<AgentId> = f.timeline.active().iter().flat_map(|o| o.affected.iter().copied()).collect();
        let mut recovered = 0u64;
        for (entity, agent, crashed) in agents.iter() {
            if crashed && a.affected.contains(&agent.id) && !still.contains(&agent.id) {
                commands.entity(entity).remove::<Crashed>();
                recovered += 1;
            }
        }
        log.push(
            now,
            "fault_end",
            None,
            [("fault", json!(a.ordinal)), ("type", json!(a.spec.fault.name())), ("recovered", json!(recovered))],
        );
    }

    // Start faults due now.
    while let Some(start) = f.timeline.next_due(now) {
        let ordinal = start.ordinal;
        let spec = &start.spec;
        let mut affected = Vec::new();
        if let FaultKind::Crash { kind, fraction, agents: ids } = &spec.fault {
            let mut pool: Vec<(AgentId, Entity)> = agents
                .iter()
                .filter(|(_, a, crashed)| !crashed && kind.is_none_or(|k| a.kind == k))
                .map(|(e, a, _)| (a.id, e))
                .collect();
            pool.sort_by_key(|p| p.0);
            let take = (fraction * pool.len() as f64).round() as usize;
            let mut r = rng::stream(f.seed, "faults", u64::from(ordinal));
            for i in 0..take.min(pool.len()) {
                let j = r.random_range(i..pool.len());
                pool.swap(i, j);
            }
            let mut chosen: Vec<(AgentId, Entity, bool)> =
                pool[..take.min(pool.len())].iter().map(|&(a, e)| (a, e, false)).collect();
            // A listed agent that another fault already holds down is held by this one
            // too, so it stays crashed until the last fault holding it ends.
            for (e, a, crashed) in agents.iter() {
                if ids.contains(&a.id.0) && !chosen.iter().any(|c| c.0 == a.id) {
                    chosen.push((a.id, e, crashed));
                }
            }
            chosen.sort_by_key(|c| c.0);
            for (aid, e, already) in chosen {
                if !already {
                    commands.entity(e).insert(Crashed { since: now });
                }
                affected.push(aid);
            }
        }
        let mut detail = vec![("fault", json!(ordinal)), ("type", json!(spec.fault.name()))];
        if let Some(d) = spec.duration {
            detail.push(("duration", json!(d)));
        }
        if !affected.is_empty() {
            detail.push(("crashed", json!(affected.len())));
            let first: Vec<u32> = affected.iter().take(20).map(|a| a.0).collect();
            detail.push(("agents", json!(first)));
        }
        match &spec.fault {
            FaultKind::Loss { loss } => detail.push(("loss", json!(loss))),
            FaultKind::Latency { extra_ticks } => detail.push(("extra_ticks", json!(extra_ticks))),
            FaultKind::Partition { regions } => detail.push(("regions", json!(regions.len()))),
            _ => {}
        }
        log.push(now, "fault_start", None, detail);
        f.timeline.activate(now, start, affected);
    }

    // Channel effects of what is in force.
    let mut keep_loss = 1.0;
    let mut latency = 0;
    let mut partitions = Vec::new();
    let mut blackouts = Vec::new();
    for a in f.timeline.active() {
        match &a.spec.fault {
            FaultKind::Loss { loss } => keep_loss *= 1.0 - loss,
            FaultKind::Latency { extra_ticks } => latency += extra_ticks,
            FaultKind::Partition { regions } => partitions.push(regions.clone()),
            FaultKind::Blackout { region } => blackouts.push(*region),
            FaultKind::Crash { .. } => {}
        }
    }
    channel.fault_loss = 1.0 - keep_loss;
    channel.fault_latency = latency;
    channel.partitions = partitions;
    channel.blackouts = blackouts;
}
