//! Adversaries on a timeline, like faults: each attack starts at a tick, lasts a while or
//! for good, and names its attackers (ids, or a share of a kind drawn from the seed).
//! Two kinds of adversary, as in the V2X literature (VeReMi, F2MD): an outsider holds no
//! key, so its forgeries fail authentication; an insider is a compromised agent with
//! valid keys. The attack layer acts in the Communicate phase's Tamper step, on what the
//! attackers queued, before the channel routes it; hijacked agents are marked with
//! [`Hijacked`] and each world makes them misbehave in its own way.

use std::collections::VecDeque;

use bevy::prelude::*;
use rand::RngExt;
use rand::rngs::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::super::timeline::{Active, Timeline};
use super::super::{
    Agent, AgentId, AgentKind, Channel, Crashed, Dest, EventLog, Inbox, Message, Outbox, SimClock, rng,
};
use super::{GHOST_BASE, Security, flags};

/// How an attacker alters one payload field (payload fields are the world's: its
/// message kinds document them).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Falsify {
    /// Send it as it is.
    Keep,
    /// Add a constant.
    Offset { field: usize, by: f64 },
    /// Replace it with a value drawn uniformly from lo..hi.
    Random { field: usize, lo: f64, hi: f64 },
    /// Replace it with this value.
    Extreme { field: usize, value: f64 },
    /// Tell different recipients different things: +by to even ids, −by to odd ones.
    Equivocate { field: usize, by: f64 },
}

impl Falsify {
    /// The payload field it touches, if any.
    pub fn field(&self) -> Option<usize> {
        match self {
            Falsify::Keep => None,
            Falsify::Offset { field, .. }
            | Falsify::Random { field, .. }
            | Falsify::Extreme { field, .. }
            | Falsify::Equivocate { field, .. } => Some(*field),
        }
    }

    fn apply(&self, m: &mut Message, rng: &mut ChaCha8Rng) {
        match *self {
            Falsify::Keep => {}
            Falsify::Offset { field, by } => m.payload[field.min(3)] += by as f32,
            Falsify::Random { field, lo, hi } => {
                m.payload[field.min(3)] = if hi > lo { rng.random_range(lo..hi) as f32 } else { lo as f32 }
            }
            Falsify::Extreme { field, value } => m.payload[field.min(3)] = value as f32,
            Falsify::Equivocate { .. } => m.flags |= flags::EQUIVOCATE,
        }
    }
}

/// What an attack does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum AttackKind {
    /// Outsider: for every message of kind `msg` an attacker sends, a forged copy with
    /// another agent's identity (the `victims` in turn, or an agent of the attacker's
    /// kind drawn at random), falsified. No key, so authentication stops it.
    Spoofing {
        msg: String,
        #[serde(default = "keep")]
        falsify: Falsify,
        #[serde(default)]
        victims: Vec<u32>,
    },
    /// Outsider: the attackers record the messages of kind `msg` broadcast to them and
    /// send them again, unchanged (MAC and sequence number included), `delay_ticks`
    /// later. A MAC alone accepts them; the anti-replay window does not.
    Replay { msg: String, delay_ticks: u64 },
    /// Insider: the attackers falsify their own messages of kind `msg` (valid keys).
    Falsification { msg: String, falsify: Falsify },
    /// Insider: each message of kind `msg` is also sent under `ghosts` invented
    /// identities (valid pseudonym keys), falsified — phantom agents.
    Sybil {
        msg: String,
        ghosts: u32,
        #[serde(default = "keep")]
        falsify: Falsify,
    },
    /// Denial of service: each attacker sends `per_tick` junk messages of `bytes` to
    /// agent `to` (or to all it reaches), exhausting per-agent and total bandwidth.
    /// An outsider's junk fails authentication at the receiver; an insider's does not.
    Flooding {
        #[serde(default)]
        to: Option<u32>,
        per_tick: u32,
        bytes: u32,
        #[serde(default)]
        insider: bool,
    },
    /// Insider: the attackers act adversarially in the world while their messages say
    /// otherwise; each world says how (docs/security.md lists them).
    Hijack,
    /// False data injection against a state estimator (worlds that have one): the
    /// readings it scans are altered so that its estimate at `target` moves by
    /// `magnitude`, in the world's units. `stealthy`: a = H·c with c the state shift that
    /// does it (Liu, Ning & Reiter 2009), which leaves every residual unchanged; otherwise
    /// the target's own meter alone is altered, which bad-data detection can see.
    FalseData { target: u32, magnitude: f64, stealthy: bool },
}

fn keep() -> Falsify {
    Falsify::Keep
}

impl AttackKind {
    /// Short name for logs and outputs.
    pub fn name(&self) -> &'static str {
        match self {
            AttackKind::Spoofing { .. } => "spoofing",
            AttackKind::Replay { .. } => "replay",
            AttackKind::Falsification { .. } => "falsification",
            AttackKind::Sybil { .. } => "sybil",
            AttackKind::Flooding { .. } => "flooding",
            AttackKind::Hijack => "hijack",
            AttackKind::FalseData { .. } => "false_data",
        }
    }

    /// Whether the adversary holds keys (an insider).
    pub fn insider(&self) -> bool {
        match self {
            AttackKind::Spoofing { .. } | AttackKind::Replay { .. } => false,
            AttackKind::Flooding { insider, .. } => *insider,
            _ => true,
        }
    }

    /// The message kind it works on, if one.
    pub fn msg(&self) -> Option<&str> {
        match self {
            AttackKind::Spoofing { msg, .. }
            | AttackKind::Replay { msg, .. }
            | AttackKind::Falsification { msg, .. }
            | AttackKind::Sybil { msg, .. } => Some(msg),
            _ => None,
        }
    }

    /// How it falsifies, if it does.
    pub fn falsify(&self) -> Option<&Falsify> {
        match self {
            AttackKind::Spoofing { falsify, .. }
            | AttackKind::Falsification { falsify, .. }
            | AttackKind::Sybil { falsify, .. } => Some(falsify),
            _ => None,
        }
    }
}

/// Who attacks: a share of the agents of a kind (or of all), drawn from the seed, and/or
/// listed ids.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Attackers {
    pub kind: Option<AgentKind>,
    pub share: f64,
    pub agents: Vec<u32>,
}

/// An attack on the timeline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttackSpec {
    /// Tick at which it starts.
    pub at: u64,
    /// Ticks it lasts; `None` for the rest of the run.
    #[serde(default)]
    pub duration: Option<u64>,
    /// Who attacks.
    #[serde(default)]
    pub attackers: Attackers,
    /// What they do.
    pub attack: AttackKind,
    /// Tick it was ended by hand (a session exported from the app records it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<u64>,
}

crate::impl_timed!(AttackSpec);

/// Marks the message an agent has just put in its outbox as a lie (a hijacked agent's
/// report of what it did not do): its ground truth says adversarial. Returns how many it
/// marked (0 or 1) for the world to add to `attack_sent`.
pub fn mark_lie(out: &mut Outbox) -> u64 {
    match out.0.last_mut() {
        Some(m) => {
            m.flags |= flags::ATTACK;
            1
        }
        None => 0,
    }
}

/// Marks an agent an attack has hijacked: its world makes it act adversarially.
#[derive(Component, Clone, Copy, Debug)]
pub struct Hijacked {
    /// Tick the hijack began.
    pub since: u64,
    /// The attack's number in start order.
    pub attack: u32,
}

#[derive(Debug)]
struct Running {
    id: u32,
    rng: ChaCha8Rng,
    recorded: VecDeque<(u64, Message)>,
    ghost_seq: Vec<u32>,
    victim_turn: usize,
}

/// The attack timeline and what running attacks remember.
#[derive(Resource, Debug)]
pub struct Attacks {
    /// Scheduled, active and past attacks.
    pub timeline: Timeline<AttackSpec>,
    seed: u64,
    running: Vec<Running>,
}

/// Most messages a replaying attacker keeps.
const RECORD_CAP: usize = 50_000;

impl Attacks {
    /// A timeline from the scenario.
    pub fn new(list: Vec<AttackSpec>, seed: u64) -> Self {
        Attacks { timeline: Timeline::new(list), seed, running: Vec::new() }
    }

    /// Injects an attack at run time (from the app): it starts at the next tick.
    pub fn inject(&mut self, spec: AttackSpec) -> u32 {
        self.timeline.inject(spec)
    }

    /// Ends an active attack at the next tick.
    pub fn end(&mut self, id: u32) {
        self.timeline.end(id);
    }

    /// Attacks in force.
    pub fn active(&self) -> &[Active<AttackSpec>] {
        self.timeline.active()
    }

    /// The false-data attacks in force (for worlds with a state estimator).
    pub fn false_data(&self) -> impl Iterator<Item = (u32, f64, bool)> + '_ {
        self.active().iter().filter_map(|a| match a.spec.attack {
            AttackKind::FalseData { target, magnitude, stealthy } => Some((target, magnitude, stealthy)),
            _ => None,
        })
    }
}

/// Inject: attacks end and start; hijacked agents are marked and released.
pub(crate) fn start_attacks(
    clock: Res<SimClock>,
    mut attacks: ResMut<Attacks>,
    mut sec: ResMut<Security>,
    mut channel: ResMut<Channel>,
    mut log: ResMut<EventLog>,
    agents: Query<(Entity, &Agent, Has<Crashed>, Has<Hijacked>)>,
    mut commands: Commands,
) {
    let now = clock.tick;
    let tag = if sec.config.authentication { sec.config.tag_bytes } else { 0 };
    if channel.tag_bytes != tag {
        channel.tag_bytes = tag;
    }
    let a = &mut *attacks;
    for ended in a.timeline.take_ended(now) {
        a.running.retain(|r| r.id != ended.id);
        if ended.spec.attack == AttackKind::Hijack {
            let still: Vec<AgentId> = a
                .timeline
                .active()
                .iter()
                .filter(|o| o.spec.attack == AttackKind::Hijack)
                .flat_map(|o| o.affected.iter().copied())
                .collect();
            for (e, agent, _, hijacked) in agents.iter() {
                if hijacked && ended.affected.contains(&agent.id) && !still.contains(&agent.id) {
                    commands.entity(e).remove::<Hijacked>();
                }
            }
        }
        log.push(
            now,
            "attack_end",
            None,
            [("attack", json!(ended.ordinal)), ("type", json!(ended.spec.attack.name()))],
        );
    }
    while let Some(start) = a.timeline.next_due(now) {
        let spec = &start.spec;
        let mut r = rng::stream(a.seed, "attacks", u64::from(start.ordinal));
        let mut pool: Vec<(AgentId, Entity)> = agents
            .iter()
            .filter(|(_, ag, crashed, _)| !crashed && spec.attackers.kind.is_none_or(|k| ag.kind == k))
            .map(|(e, ag, _, _)| (ag.id, e))
            .collect();
        pool.sort_by_key(|p| p.0);
        let take = ((spec.attackers.share * pool.len() as f64).round() as usize).min(pool.len());
        for i in 0..take {
            let j = r.random_range(i..pool.len());
            pool.swap(i, j);
        }
        let mut chosen: Vec<(AgentId, Entity)> = pool[..take].to_vec();
        for (e, ag, _, _) in agents.iter() {
            if spec.attackers.agents.contains(&ag.id.0) && !chosen.iter().any(|c| c.0 == ag.id) {
                chosen.push((ag.id, e));
            }
        }
        chosen.sort_by_key(|c| c.0);
        if spec.attack == AttackKind::Hijack {
            for &(_, e) in &chosen {
                commands.entity(e).insert(Hijacked { since: now, attack: start.ordinal });
            }
        }
        let ids: Vec<AgentId> = chosen.iter().map(|c| c.0).collect();
        let mut detail = vec![
            ("attack", json!(start.ordinal)),
            ("type", json!(spec.attack.name())),
            ("adversary", json!(if spec.attack.insider() { "insider" } else { "outsider" })),
            ("attackers", json!(ids.len())),
            ("agents", json!(ids.iter().take(20).map(|a| a.0).collect::<Vec<_>>())),
        ];
        if let Some(d) = spec.duration {
            detail.push(("duration", json!(d)));
        }
        if let Some(m) = spec.attack.msg() {
            detail.push(("msg", json!(m)));
        }
        log.push(now, "attack_start", None, detail);
        a.running.push(Running {
            id: start.id,
            rng: r,
            recorded: VecDeque::new(),
            ghost_seq: Vec::new(),
            victim_turn: 0,
        });
        sec.attacked = true;
        a.timeline.activate(now, start, ids);
    }
}

/// Communicate, Tamper: the attackers' queued messages are forged, falsified, recorded,
/// replayed or multiplied before the channel takes them.
pub(crate) fn tamper(
    clock: Res<SimClock>,
    mut attacks: ResMut<Attacks>,
    mut sec: ResMut<Security>,
    mut q: Query<(&Agent, &mut Outbox, &Inbox), Without<Crashed>>,
    all: Query<(Entity, &Agent)>,
) {
    sec.equivocators.clear();
    let a = &mut *attacks;
    if a.timeline.active().is_empty() {
        return;
    }
    let now = clock.tick;
    // Agents by id, and by kind for random victims.
    let mut index: Vec<(u32, Entity, AgentKind)> = all.iter().map(|(e, ag)| (ag.id.0, e, ag.kind)).collect();
    index.sort_by_key(|x| x.0);
    let find = |id: AgentId| index.binary_search_by_key(&id.0, |x| x.0).ok().map(|k| index[k]);
    let active: Vec<(u32, AttackKind, Vec<AgentId>)> =
        a.timeline.active().iter().map(|x| (x.id, x.spec.attack.clone(), x.affected.clone())).collect();
    for (id, kind, attackers) in active {
        let Some(run) = a.running.iter_mut().find(|r| r.id == id) else { continue };
        for (slot, &attacker) in attackers.iter().enumerate() {
            let Some((_, entity, akind)) = find(attacker) else { continue };
            let Ok((_, mut out, inbox)) = q.get_mut(entity) else { continue };
            match &kind {
                AttackKind::Falsification { msg, falsify } => {
                    let mut n = 0;
                    for m in out.0.iter_mut().filter(|m| m.kind == msg.as_str() && m.flags & flags::ATTACK == 0) {
                        falsify.apply(m, &mut run.rng);
                        m.flags |= flags::ATTACK;
                        n += 1;
                    }
                    if let Falsify::Equivocate { field, by } = falsify {
                        sec.equivocators.push((attacker, *field, *by as f32));
                    }
                    sec.stats.attack_sent += n;
                }
                AttackKind::Spoofing { msg, falsify, victims } => {
                    let originals: Vec<Message> = out.0.iter().filter(|m| m.kind == msg.as_str()).copied().collect();
                    // Agents of the attacker's kind it can pose as (built once per attacker).
                    let same: Vec<u32> = if victims.is_empty() && !originals.is_empty() {
                        index.iter().filter(|x| x.2 == akind && x.0 != attacker.0).map(|x| x.0).collect()
                    } else {
                        Vec::new()
                    };
                    for mut m in originals {
                        let victim = if victims.is_empty() {
                            if same.is_empty() {
                                continue;
                            }
                            same[run.rng.random_range(0..same.len())]
                        } else {
                            let v = victims[run.victim_turn % victims.len()];
                            run.victim_turn += 1;
                            v
                        };
                        m.from = AgentId(victim);
                        m.seq = 0;
                        m.flags |= flags::ATTACK | flags::SPOOFED | flags::NO_KEY;
                        falsify.apply(&mut m, &mut run.rng);
                        out.0.push(m);
                        sec.stats.attack_sent += 1;
                    }
                }
                AttackKind::Sybil { msg, ghosts, falsify } => {
                    let originals: Vec<Message> = out.0.iter().filter(|m| m.kind == msg.as_str()).copied().collect();
                    let base = slot * *ghosts as usize;
                    if run.ghost_seq.len() < base + *ghosts as usize {
                        run.ghost_seq.resize(base + *ghosts as usize, 0);
                    }
                    for m0 in originals {
                        for g in 0..*ghosts as usize {
                            let mut m = m0;
                            run.ghost_seq[base + g] += 1;
                            m.from = AgentId(GHOST_BASE + (id << 16) + (base + g) as u32);
                            m.seq = run.ghost_seq[base + g];
                            m.flags |= flags::ATTACK | flags::SPOOFED;
                            falsify.apply(&mut m, &mut run.rng);
                            out.0.push(m);
                            sec.stats.attack_sent += 1;
                        }
                    }
                }
                AttackKind::Replay { msg, delay_ticks } => {
                    for m in inbox.0.iter().filter(|m| {
                        m.kind == msg.as_str() && m.flags & flags::ATTACK == 0 && m.dest != Dest::To(attacker)
                    }) {
                        if run.recorded.len() < RECORD_CAP {
                            run.recorded.push_back((now + delay_ticks, *m));
                        }
                    }
                    while run.recorded.front().is_some_and(|r| r.0 <= now) {
                        let Some((_, mut m)) = run.recorded.pop_front() else { break };
                        m.flags |= flags::ATTACK | flags::SPOOFED | flags::REPLAY;
                        out.0.push(m);
                        sec.stats.attack_sent += 1;
                    }
                }
                AttackKind::Flooding { to, per_tick, bytes, insider } => {
                    let dest = to.map_or(Dest::All, |t| Dest::To(AgentId(t)));
                    let f = flags::ATTACK | if *insider { 0 } else { flags::NO_KEY };
                    for _ in 0..*per_tick {
                        out.0.push(Message {
                            from: attacker,
                            origin: attacker,
                            dest,
                            kind: FLOOD,
                            bytes: *bytes,
                            sent: now,
                            payload: [0.0; 4],
                            seq: 0,
                            flags: f,
                        });
                    }
                    sec.stats.attack_sent += u64::from(*per_tick);
                }
                AttackKind::Hijack | AttackKind::FalseData { .. } => {}
            }
        }
    }
}

/// The message kind of flooding junk.
pub const FLOOD: &str = "flood";
