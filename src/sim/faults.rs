//! Fault injection shared by all worlds: a timeline from the scenario plus the same
//! faults injected at run time through [`Faults::inject`]. Crashes, loss and latency
//! spikes, network partitions and regional blackouts; every start and end is logged.

use bevy::prelude::*;
use rand::RngExt;
use serde::{Deserialize, Serialize};
use serde_json::json;

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

/// A fault in force.
#[derive(Clone, Debug)]
pub struct ActiveFault {
    /// Its number (timeline order, then run-time injections).
    pub id: u32,
    /// Its place in start order (0 = first fault to start). Logs and random draws use
    /// this, so a session exported with run-time faults replays identically.
    pub ordinal: u32,
    /// Its specification.
    pub spec: FaultSpec,
    /// Tick it ends at (exclusive), if it ends.
    pub ends: Option<u64>,
    /// Agents it crashed.
    pub affected: Vec<AgentId>,
}

/// The fault timeline, the faults in force, and the run-time API.
#[derive(Resource, Debug)]
pub struct Faults {
    scheduled: Vec<(u32, FaultSpec)>,
    active: Vec<ActiveFault>,
    end_requests: Vec<u32>,
    next_id: u32,
    seed: u64,
    /// Every fault that has started, with the tick it actually ended (for session export).
    pub history: Vec<(u32, FaultSpec, Option<u64>)>,
    started: u32,
}

impl Faults {
    /// A timeline from the scenario.
    pub fn new(timeline: Vec<FaultSpec>, seed: u64) -> Self {
        let mut scheduled: Vec<(u32, FaultSpec)> =
            timeline.into_iter().enumerate().map(|(i, f)| (i as u32, f)).collect();
        scheduled.sort_by_key(|(i, f)| (f.at, *i));
        let next_id = scheduled.len() as u32;
        Faults {
            scheduled,
            active: Vec::new(),
            end_requests: Vec::new(),
            next_id,
            seed,
            history: Vec::new(),
            started: 0,
        }
    }

    /// Injects a fault at run time: it starts at the next tick's Inject phase (or at `at`
    /// if that is later). Returns its id.
    pub fn inject(&mut self, spec: FaultSpec) -> u32 {
        let id = self.next_id;
        self.next_id += 1;
        let pos = self.scheduled.partition_point(|(_, f)| f.at <= spec.at);
        self.scheduled.insert(pos, (id, spec));
        id
    }

    /// Ends an active fault at the next tick's Inject phase.
    pub fn end(&mut self, id: u32) {
        if !self.end_requests.contains(&id) {
            self.end_requests.push(id);
        }
    }

    /// Faults in force.
    pub fn active(&self) -> &[ActiveFault] {
        &self.active
    }

    /// Faults still to start.
    pub fn scheduled(&self) -> impl Iterator<Item = &FaultSpec> {
        self.scheduled.iter().map(|(_, f)| f)
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
    let mut ended: Vec<ActiveFault> = Vec::new();
    let requests = std::mem::take(&mut f.end_requests);
    f.active.retain(|a| {
        let done = a.ends.is_some_and(|e| e <= now) || requests.contains(&a.id);
        if done {
            ended.push(a.clone());
        }
        !done
    });
    for a in &ended {
        let still: Vec<AgentId> = f.active.iter().flat_map(|o| o.affected.iter().copied()).collect();
        let mut recovered = 0u64;
        for (entity, agent, crashed) in agents.iter() {
            if crashed && a.affected.contains(&agent.id) && !still.contains(&agent.id) {
                commands.entity(entity).remove::<Crashed>();
                recovered += 1;
            }
        }
        if let Some(h) = f.history.iter_mut().find(|h| h.0 == a.id) {
            h.2 = Some(now);
        }
        log.push(
            now,
            "fault_end",
            None,
            [("fault", json!(a.ordinal)), ("type", json!(a.spec.fault.name())), ("recovered", json!(recovered))],
        );
    }

    // Start faults due now.
    while f.scheduled.first().is_some_and(|(_, s)| s.at <= now) {
        let (id, spec) = f.scheduled.remove(0);
        let ordinal = f.started;
        f.started += 1;
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
        let ends = match (spec.duration.map(|d| now + d), spec.ended_at) {
            (Some(d), Some(e)) => Some(d.min(e)),
            (d, e) => d.or(e),
        };
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
        f.history.push((id, FaultSpec { at: now, ..spec.clone() }, None));
        f.active.push(ActiveFault { id, ordinal, spec, ends, affected });
    }

    // Channel effects of what is in force.
    let mut keep_loss = 1.0;
    let mut latency = 0;
    let mut partitions = Vec::new();
    let mut blackouts = Vec::new();
    for a in &f.active {
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
