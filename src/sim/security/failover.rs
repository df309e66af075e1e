//! Leader failover over the channel. A world that runs a coordinator (one agent whose
//! decisions others follow) can spawn `security.failover.replicas` copies of it, each
//! with a [`Coordinator`]; the agents it directs carry a [`LeaderView`]. Every tick,
//! after the channel has delivered and the defences have verified what arrived, the
//! replicas run Raft's election ([`super::election`]) on the `ballot` messages they
//! received and queue the ones they send; the leader's heartbeats go to every agent the
//! topology lets it reach, and the clients follow the leader of the highest term they
//! have heard. So election messages share the channel's latency, loss, partitions and
//! bandwidth with everything else, a crashed leader goes silent like any crashed agent,
//! and forged ballots are what authentication drops.
//!
//! Only the replica whose role is leader acts as the coordinator (the world checks
//! [`Coordinator::leads`]); on the tick it takes over ([`Coordinator::took_over`]) the
//! world rebuilds its working state from the reports it receives from then on.

use bevy::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::Security;
use super::election::{Ballot, ElectionTiming, Replica, Role, To};
use crate::sim::{
    Agent, AgentId, AgentIds, AgentRng, Crashed, Decision, Dest, EventLog, Inbox, Outbox, Pose, SimClock,
};

/// The message kind of election messages.
pub const BALLOT: &str = "ballot";

/// Bytes of one ballot on the wire (kind, term, group, answer).
pub const BALLOT_BYTES: u32 = 12;

/// The `security.failover` section: how many replicas each coordinator has, and the
/// election's timing.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FailoverConfig {
    /// Replicas of each coordinator (the first leads at the start, the others stand by);
    /// 1 = no standby and no election messages. Read when the world spawns.
    pub replicas: u32,
    /// The leader's heartbeat period, s.
    pub heartbeat_s: f64,
    /// A follower that hears no heartbeat for a time drawn uniformly from
    /// [timeout_min_s, timeout_max_s] stands for election, s.
    pub timeout_min_s: f64,
    pub timeout_max_s: f64,
}

impl Default for FailoverConfig {
    fn default() -> Self {
        FailoverConfig { replicas: 1, heartbeat_s: 1.0, timeout_min_s: 5.0, timeout_max_s: 10.0 }
    }
}

impl FailoverConfig {
    /// Problems with the settings, as (field below `security.`, what was expected).
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if self.replicas == 0 || self.replicas > 64 {
            out.push(("failover.replicas", "must be 1..=64 (1 = no standby)".to_string()));
        }
        if !(self.heartbeat_s > 0.0 && self.heartbeat_s.is_finite()) {
            out.push(("failover.heartbeat_s", "must be a positive number of seconds".to_string()));
        }
        if !(self.timeout_min_s.is_finite() && self.timeout_min_s >= 2.0 * self.heartbeat_s) {
            out.push((
                "failover.timeout_min_s",
                "must be at least twice heartbeat_s (heartbeats must arrive well within a timeout)".to_string(),
            ));
        }
        if !(self.timeout_max_s.is_finite() && self.timeout_max_s >= self.timeout_min_s) {
            out.push(("failover.timeout_max_s", "must be at least timeout_min_s".to_string()));
        }
        out
    }

    /// Whether the world runs standby replicas.
    pub fn enabled(&self) -> bool {
        self.replicas > 1
    }

    /// The timing in ticks of `dt` seconds (at least one tick each).
    pub fn timing(&self, dt: f64) -> ElectionTiming {
        let t = |s: f64| ((s / dt.max(1e-9)).round() as u64).max(1);
        ElectionTiming {
            heartbeat_ticks: t(self.heartbeat_s),
            timeout_min_ticks: t(self.timeout_min_s),
            timeout_max_ticks: t(self.timeout_max_s).max(t(self.timeout_min_s)),
        }
    }
}

/// One replica of a coordinator.
#[derive(Component, Clone, Debug)]
pub struct Coordinator {
    /// Which coordinator it is a replica of (a world may run several).
    pub group: u32,
    /// The agents of the group's replicas, by replica index.
    pub peers: Vec<AgentId>,
    /// Its election state.
    pub replica: Replica,
    /// Tick it last became leader.
    pub leader_since: Option<u64>,
    /// Why its last election started, and when.
    pub last_election: Option<(u64, &'static str)>,
    rng: AgentRng,
    down: bool,
    last_known_leader: Option<u32>,
}

impl Coordinator {
    /// Replica `index` of `peers` in `group`; replica 0 leads term 1 from `now`.
    pub fn new(group: u32, index: u32, peers: Vec<AgentId>, timing: ElectionTiming, now: u64, seed: u64) -> Self {
        let n = peers.len() as u32;
        let mut rng = AgentRng::new(seed, "replica", u64::from(peers[index as usize].0));
        let mut replica = Replica::new(index, n, timing, now, &mut rng.0);
        replica.bootstrap(0, now, &mut rng.0);
        Coordinator {
            group,
            peers,
            replica,
            leader_since: (index == 0).then_some(now),
            last_election: None,
            rng,
            down: false,
            last_known_leader: Some(0),
        }
    }

    /// Whether it acts as the coordinator now.
    pub fn leads(&self) -> bool {
        self.replica.role == Role::Leader
    }

    /// Whether it became leader at tick `now` after an election (the world starts its
    /// working state afresh).
    pub fn took_over(&self, now: u64) -> bool {
        self.leads() && self.leader_since == Some(now) && self.replica.term > 1
    }

    fn index_of(&self, id: AgentId) -> Option<u32> {
        self.peers.iter().position(|&p| p == id).map(|i| i as u32)
    }
}

/// The coordinator an agent follows: the sender of the newest-term heartbeat it heard.
#[derive(Component, Clone, Debug)]
pub struct LeaderView {
    /// The group it follows.
    pub group: u32,
    /// The leader's agent.
    pub leader: AgentId,
    /// The leader's term.
    pub term: u64,
    /// Tick of the last heartbeat heard from it.
    pub heard: u64,
}

impl LeaderView {
    /// Following `leader` (replica 0 of `group`) from the start.
    pub fn new(group: u32, leader: AgentId) -> Self {
        LeaderView { group, leader, term: 1, heard: 0 }
    }
}

/// Gives a world's coordinator its replicas when `security.failover` asks for them: spawns
/// `replicas − 1` standbys made by `standby(id, k)` (k = 1.., ids from [`AgentIds`], so a
/// world calls this after spawning its other agents and every other agent keeps its id)
/// and puts a [`Coordinator`] of `group` on each replica, the `primary` leading term 1.
/// Returns the standbys' ids (none when failover is off).
pub fn replicate<B: Bundle>(
    world: &mut World,
    group: u32,
    primary: (AgentId, Entity),
    mut standby: impl FnMut(AgentId, u32) -> B,
) -> Vec<AgentId> {
    let failover = world.resource::<Security>().config.failover;
    if !failover.enabled() {
        if let Some(mut sets) = world.get_resource_mut::<ReplicaSets>() {
            sets.0.remove(&group);
        }
        return Vec::new();
    }
    let clock = world.resource::<SimClock>().clone();
    let mut peers = vec![primary.0];
    let mut entities = vec![primary.1];
    for k in 1..failover.replicas {
        let id = world.resource_mut::<AgentIds>().alloc();
        entities.push(world.spawn(standby(id, k)).id());
        peers.push(id);
    }
    let timing = failover.timing(clock.dt);
    for (k, e) in entities.into_iter().enumerate() {
        let c = Coordinator::new(group, k as u32, peers.clone(), timing, clock.tick, clock.seed);
        world.entity_mut(e).insert(c);
    }
    world.get_resource_or_insert_with(ReplicaSets::default).0.insert(group, peers.clone());
    peers[1..].to_vec()
}

/// The replicas of each coordinator group, by replica index: the membership every agent
/// is configured with (a receiver of critical commands counts votes by it).
#[derive(Resource, Clone, Debug, Default)]
pub struct ReplicaSets(pub std::collections::BTreeMap<u32, Vec<AgentId>>);

impl ReplicaSets {
    /// The replica index of `agent` in `group`, if it is one.
    pub fn index(&self, group: u32, agent: AgentId) -> Option<u32> {
        self.0.get(&group)?.iter().position(|&a| a == agent).map(|i| i as u32)
    }
}

/// [`replicate`] for a coordinator whose state is one component `C`: each standby is a
/// copy of the primary (agent `primary`) — its kind, its `C` as it is now, its pose moved
/// by `step` per standby — with fresh decision, inbox and outbox.
pub fn replicate_copies<C: Component + Clone>(
    world: &mut World,
    group: u32,
    primary: AgentId,
    step: (f32, f32),
) -> Vec<AgentId> {
    let mut q = world.query::<(Entity, &Agent, &Pose, &C)>();
    let Some((e, kind, pose, state)) =
        q.iter(world).find(|x| x.1.id == primary).map(|(e, a, p, c)| (e, a.kind, *p, c.clone()))
    else {
        return Vec::new();
    };
    replicate(world, group, (primary, e), |id, k| {
        (
            Agent { id, kind },
            Pose { x: pose.x + step.0 * k as f32, y: pose.y + step.1 * k as f32, ..pose },
            Decision::default(),
            Inbox::default(),
            Outbox::default(),
            state.clone(),
        )
    })
}

/// Whether an agent with this (optional) replica acts as its coordinator now: one that is
/// not replicated always does, a replica when it leads.
pub fn acts(replica: Option<&Coordinator>) -> bool {
    replica.is_none_or(Coordinator::leads)
}

fn encode(b: Ballot, group: u32) -> [f32; 4] {
    // Terms travel as f32: exact below 2²⁴, far more elections than any run holds.
    match b {
        Ballot::RequestVote { term } => [0.0, term as f32, group as f32, 0.0],
        Ballot::Vote { term, granted } => [1.0, term as f32, group as f32, f32::from(u8::from(granted))],
        Ballot::Heartbeat { term } => [2.0, term as f32, group as f32, 0.0],
    }
}

fn decode(p: [f32; 4]) -> Option<(Ballot, u32)> {
    let term = p[1].max(0.0) as u64;
    let group = p[2].max(0.0) as u32;
    let b = match p[0] as i32 {
        0 => Ballot::RequestVote { term },
        1 => Ballot::Vote { term, granted: p[3] > 0.5 },
        2 => Ballot::Heartbeat { term },
        _ => return None,
    };
    Some((b, group))
}

/// The election step of every replica (in agent-id order) and the clients' following.
#[allow(clippy::type_complexity)]
pub(crate) fn elect(
    clock: Res<SimClock>,
    mut sec: ResMut<Security>,
    mut log: ResMut<EventLog>,
    mut reps: Query<(&Agent, &mut Coordinator, &Inbox, &mut Outbox, Has<Crashed>)>,
    mut clients: Query<(&Inbox, &mut LeaderView), (Without<Coordinator>, Without<Crashed>)>,
) {
    if reps.is_empty() {
        return;
    }
    let now = clock.tick;
    let mut groups: Vec<u32> = reps.iter().map(|(_, c, ..)| c.group).collect();
    groups.sort_unstable();
    groups.dedup();
    let mut led: Vec<u32> = Vec::new();
    let mut out: Vec<(To, Ballot)> = Vec::new();
    // In id order, so the draws and the log never depend on storage order.
    let mut items: Vec<_> = reps.iter_mut().collect();
    items.sort_unstable_by_key(|x| x.0.id.0);
    for (agent, mut c, inbox, mut outbox, crashed) in items {
        let me = agent.id;
        if crashed {
            c.down = true;
            continue;
        }
        let c = &mut *c;
        if c.down {
            c.down = false;
            c.replica.restart(now, &mut c.rng.0);
            log.push(
                now,
                "replica_restarted",
                Some(me.0),
                [("group", json!(c.group)), ("term", json!(c.replica.term))],
            );
        }
        let was_leader = c.leads();
        let term_before = c.replica.term;
        out.clear();
        for m in inbox.0.iter().filter(|m| m.kind == BALLOT) {
            let Some((b, g)) = decode(m.payload) else { continue };
            let Some(from) = c.index_of(m.from) else { continue };
            if g != c.group {
                continue;
            }
            c.replica.receive(from, b, now, &mut c.rng.0, &mut out);
        }
        if !c.leads() && c.replica.leader.is_some() {
            c.last_known_leader = c.replica.leader;
        }
        if let Some(why) = c.replica.tick(now, &mut c.rng.0, &mut out) {
            c.last_election = Some((now, why));
            log.push(
                now,
                "election_started",
                Some(me.0),
                [("group", json!(c.group)), ("term", json!(c.replica.term)), ("reason", json!(why))],
            );
        }
        if was_leader && !c.leads() {
            log.push(
                now,
                "leader_stepped_down",
                Some(me.0),
                [("group", json!(c.group)), ("term", json!(term_before)), ("new_term", json!(c.replica.term))],
            );
        }
        if !was_leader && c.leads() {
            c.leader_since = Some(now);
            let previous = c.last_known_leader.map(|l| c.peers[l as usize].0);
            let reason = c.last_election.map_or("elected", |e| e.1);
            sec.stats.failovers += 1;
            log.push(
                now,
                "failover",
                Some(me.0),
                [
                    ("group", json!(c.group)),
                    ("term", json!(c.replica.term)),
                    ("reason", json!(reason)),
                    ("previous_leader", json!(previous)),
                    ("leader", json!(me.0)),
                ],
            );
            c.last_known_leader = Some(c.replica.id);
        }
        if c.leads() {
            led.push(c.group);
        }
        for &(to, b) in &out {
            let payload = encode(b, c.group);
            match (to, b) {
                (To::One(j), _) => outbox.send(me, Dest::To(c.peers[j as usize]), BALLOT, BALLOT_BYTES, now, payload),
                // Heartbeats reach the clients too.
                (To::All, Ballot::Heartbeat { .. }) => outbox.send(me, Dest::All, BALLOT, BALLOT_BYTES, now, payload),
                (To::All, _) => {
                    for (j, &p) in c.peers.iter().enumerate() {
                        if j as u32 != c.replica.id {
                            outbox.send(me, Dest::To(p), BALLOT, BALLOT_BYTES, now, payload);
                        }
                    }
                }
            }
        }
    }
    sec.stats.leaderless = groups.iter().filter(|g| !led.contains(g)).count() as u64;
    for (inbox, mut view) in clients.iter_mut() {
        for m in inbox.0.iter().filter(|m| m.kind == BALLOT) {
            if let Some((Ballot::Heartbeat { term }, g)) = decode(m.payload)
                && g == view.group
                && (term > view.term || (term == view.term && m.from == view.leader))
            {
                view.leader = m.from;
                view.term = term;
                view.heard = now;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ballots_round_trip_and_settings_are_checked() {
        for b in [
            Ballot::RequestVote { term: 7 },
            Ballot::Vote { term: 3, granted: true },
            Ballot::Vote { term: 3, granted: false },
            Ballot::Heartbeat { term: 1 << 20 },
        ] {
            assert_eq!(decode(encode(b, 5)), Some((b, 5)));
        }
        assert_eq!(decode([9.0, 1.0, 0.0, 0.0]), None);
        assert!(FailoverConfig::default().problems().is_empty());
        let bad = FailoverConfig { replicas: 0, heartbeat_s: 2.0, timeout_min_s: 3.0, timeout_max_s: 1.0 };
        let fields: Vec<_> = bad.problems().into_iter().map(|p| p.0).collect();
        assert_eq!(fields, ["failover.replicas", "failover.timeout_min_s", "failover.timeout_max_s"]);
        let t = FailoverConfig::default().timing(0.1);
        assert_eq!((t.heartbeat_ticks, t.timeout_min_ticks, t.timeout_max_ticks), (10, 50, 100));
    }
}
