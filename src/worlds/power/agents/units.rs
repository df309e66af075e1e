//! Generating units and grid batteries as agents. A unit follows the set-points it hears
//! (from the operator when centralized, its area controller when hierarchical), runs
//! consensus on incremental cost with its neighbours when decentralized (Yang, Tan & Xu,
//! IEEE Trans. Power Systems 28(4), 2013, with demand tracking), and otherwise — no
//! coordination, or no word from its coordinator for `operator.setpoint_timeout_s` — holds
//! its schedule and leaves the rest to its governor's droop (a fail-safe it logs with its
//! reason). Set-points move at the unit's AGC ramp rate. A grid battery answers frequency
//! by droop (inside the frequency model) and follows prices when it hears them.
#![allow(clippy::needless_range_loop)]

use std::collections::VecDeque;

use bevy::prelude::*;
use serde_json::json;

use super::{MSG_CONSENSUS, MSG_PRICE, MSG_SETPOINT, MSG_STORAGE, MSG_TELEMETRY, Meter, Roster, due, ticks};
use crate::sim::security::{Aggregation, mark_lie, robust};
use crate::sim::{
    AgentId, Coordination, CoordinationRes, Crashed, Decision, Dest, EventLog, Hijacked, Inbox, LeaderView, Outbox,
    Security, SimClock,
};
use crate::worlds::Params;
use crate::worlds::power::config::PowerConfig;
use crate::worlds::power::dispatch::QuadCost;
use crate::worlds::power::state::PowerState;

/// A unit's controller.
#[derive(Component, Clone, Debug)]
pub struct GenAgent {
    /// Index into the state's units.
    pub unit: usize,
    /// Scheduled output from dispatch, MW.
    pub schedule_mw: f64,
    /// AGC part of the set-point, MW.
    pub agc_mw: f64,
    /// Where the set-point is going, MW.
    pub target_mw: f64,
    /// Tick of the last set-point heard.
    pub heard: Option<u64>,
    /// Holding on droop because its coordinator went silent.
    pub failsafe: bool,
    /// Consensus state (decentralized coordination).
    pub consensus: Option<ConsensusState>,
    /// Whether it has taken up the set-point the first tick balanced the case with.
    pub synced: bool,
}

/// One unit's consensus variables and what it knows of its neighbours.
#[derive(Clone, Debug)]
pub struct ConsensusState {
    /// Rounds done.
    pub round: u64,
    /// Incremental cost estimate λ, $/MWh.
    pub lambda: f64,
    /// Output, MW.
    pub p_mw: f64,
    /// Mismatch estimate y, MW.
    pub y_mw: f64,
    /// The local demand it last measured, MW.
    pub demand_mw: f64,
    /// Tick the current round began waiting.
    pub since: u64,
    /// Neighbours' latest (round, λ, y) and when heard; `None` before the first message.
    pub peers: Vec<Option<(u64, f64, f64, u64)>>,
    /// The last round went ahead without every neighbour's values.
    pub stale: bool,
}

/// Who each unit talks to in consensus dispatch: the dispatchable units, their neighbours with
/// Metropolis weights, and which buses' demand each one measures.
#[derive(Resource, Clone, Debug, Default)]
pub struct ConsensusGraph {
    /// The participating units (indices into the state's units), ascending.
    pub members: Vec<usize>,
    /// Member index of every unit (`usize::MAX` for units that do not take part).
    pub member_of: Vec<usize>,
    /// Per member: (member, weight) of each neighbour and itself, ascending.
    pub weights: Vec<Vec<(usize, f64)>>,
    /// The member whose local demand every bus is part of (`usize::MAX` where none reaches).
    pub bus_owner: Vec<usize>,
}

/// Cost curve in consensus: a linear cost gets a small quadratic term so that the output is
/// a function of λ (Yang, Tan & Xu need c2 > 0), $/MW²h.
pub const MIN_C2: f64 = 1e-4;

impl ConsensusGraph {
    /// Members are units with a cost curve; each talks to its `k` nearest members by hop
    /// distance (ties: lower index), links made symmetric, and components joined by their
    /// nearest pair so the graph is connected.
    pub fn build(state: &PowerState, k: usize) -> Self {
        let units = &state.units;
        let members: Vec<usize> = (0..units.len()).filter(|&u| units[u].cost.is_some()).collect();
        let mut member_of = vec![usize::MAX; units.len()];
        for (m, &u) in members.iter().enumerate() {
            member_of[u] = m;
        }
        let nb = state.buses.len();
        let mut adj: Vec<Vec<usize>> = vec![Vec::new(); nb];
        for b in state.model.net.branches() {
            if b.in_service {
                adj[b.from].push(b.to);
                adj[b.to].push(b.from);
            }
        }
        // Hop distances from every member's bus.
        let dist: Vec<Vec<u32>> = members.iter().map(|&u| bfs(&adj, units[u].bus)).collect();
        let n = members.len();
        let mut edges: Vec<(usize, usize)> = Vec::new();
        for i in 0..n {
            let mut others: Vec<(u32, usize)> =
                (0..n).filter(|&j| j != i).map(|j| (dist[i][units[members[j]].bus], j)).collect();
            others.sort_unstable();
            for &(d, j) in others.iter().take(k.max(1)) {
                if d != u32::MAX {
                    edges.push((i.min(j), i.max(j)));
                }
            }
        }
        // Join components.
        loop {
            let comp = components(n, &edges);
            let Some(&other) = comp.iter().find(|&&c| c != comp.first().copied().unwrap_or(0)) else { break };
            let first = comp.first().copied().unwrap_or(0);
            let mut best: Option<(u32, usize, usize)> = None;
            for i in (0..n).filter(|&i| comp[i] == first) {
                for j in (0..n).filter(|&j| comp[j] == other) {
                    let d = dist[i][units[members[j]].bus];
                    if best.is_none_or(|b| (d, i, j) < b) {
                        best = Some((d, i, j));
                    }
                }
            }
            match best {
                Some((_, i, j)) => edges.push((i.min(j), i.max(j))),
                None => break,
            }
        }
        edges.sort_unstable();
        edges.dedup();
        let weights = crate::worlds::power::dispatch::metropolis_weights(n, &edges).unwrap_or_default();
        // Each bus's demand belongs to its nearest member.
        let bus_owner = (0..nb)
            .map(|b| (0..n).min_by_key(|&m| (dist[m][b], m)).filter(|&m| dist[m][b] != u32::MAX).unwrap_or(usize::MAX))
            .collect();
        ConsensusGraph { members, member_of, weights, bus_owner }
    }

    /// The demand member `m` measures: demand served at its buses less the output of the units
    /// and batteries there that do not take part, MW.
    pub fn local_demand(&self, state: &PowerState, m: usize) -> f64 {
        let mut d = 0.0;
        for (b, &owner) in self.bus_owner.iter().enumerate() {
            if owner == m {
                let bus = &state.buses[b];
                if bus.energized {
                    d += bus.demand_mw * (1.0 - bus.shed_share);
                }
            }
        }
        for (u, unit) in state.units.iter().enumerate() {
            if self.member_of[u] == usize::MAX && self.bus_owner.get(unit.bus) == Some(&m) {
                d -= unit.pe_mw;
            }
        }
        for st in &state.storage {
            if self.bus_owner.get(st.bus) == Some(&m) {
                d -= st.pm_mw;
            }
        }
        d
    }
}

fn bfs(adj: &[Vec<usize>], s: usize) -> Vec<u32> {
    let mut d = vec![u32::MAX; adj.len()];
    let mut q = VecDeque::new();
    if s < adj.len() {
        d[s] = 0;
        q.push_back(s);
    }
    while let Some(i) = q.pop_front() {
        for &j in &adj[i] {
            if d[j] == u32::MAX {
                d[j] = d[i] + 1;
                q.push_back(j);
            }
        }
    }
    d
}

fn components(n: usize, edges: &[(usize, usize)]) -> Vec<usize> {
    let mut p: Vec<usize> = (0..n).collect();
    fn find(p: &mut [usize], mut x: usize) -> usize {
        while p[x] != x {
            p[x] = p[p[x]];
            x = p[x];
        }
        x
    }
    for &(a, b) in edges {
        let (x, y) = (find(&mut p, a), find(&mut p, b));
        if x != y {
            p[x.max(y)] = x.min(y);
        }
    }
    (0..n).map(|i| find(&mut p, i)).collect()
}

/// A cost curve as consensus uses it.
fn consensus_cost(c: QuadCost) -> QuadCost {
    QuadCost { c2: c.c2.max(MIN_C2), ..c }
}

/// Output at incremental cost λ.
fn output_at(c: QuadCost, lambda: f64, pmin: f64, pmax: f64) -> f64 {
    ((lambda - c.c1) / (2.0 * c.c2)).max(pmin).min(pmax)
}

/// Measurements every unit, battery, station and controller takes at its bus.
pub fn perceive(
    clock: Res<SimClock>,
    params: Res<Params<PowerConfig>>,
    state: Res<PowerState>,
    mut q: Query<(&GenAgent, &mut Meter), Without<Crashed>>,
    mut b: Query<(&StorageAgent, &mut Meter), (Without<Crashed>, Without<GenAgent>)>,
) {
    let f0 = params.0.frequency.f0_hz;
    for (g, mut m) in &mut q {
        let u = &state.units[g.unit];
        fill(&mut m, &state, u.bus, f0, clock.tick);
        m.power_mw = u.pe_mw;
    }
    for (s, mut m) in &mut b {
        let st = &state.storage[s.index];
        fill(&mut m, &state, st.bus, f0, clock.tick);
        m.power_mw = st.pm_mw;
    }
}

/// Local measurements at bus `bus`.
pub fn fill(m: &mut Meter, state: &PowerState, bus: usize, f0: f64, tick: u64) {
    m.tick = tick;
    m.freq_hz = state.bus_freq(bus, f0);
    m.rocof = state.buses.get(bus).map_or(0.0, |b| b.rocof);
    m.angle_deg = state.buses.get(bus).map_or(0.0, |b| b.angle_rad.to_degrees());
    m.loading = state.bus_loading(bus);
}

/// Where a unit's set-points come from under a coordination.
fn coordinator(c: Coordination) -> Option<&'static str> {
    match c {
        Coordination::Centralized => Some("operator"),
        Coordination::Hierarchical => Some("area_controller"),
        _ => None,
    }
}

/// The units decide: follow set-points, run consensus, or hold on droop.
#[allow(clippy::too_many_arguments)]
pub fn decide_units(
    clock: Res<SimClock>,
    params: Res<Params<PowerConfig>>,
    coord: Res<CoordinationRes>,
    roster: Res<Roster>,
    state: Res<PowerState>,
    graph: Res<ConsensusGraph>,
    sec: Res<Security>,
    mut log: ResMut<EventLog>,
    mut q: Query<
        (&crate::sim::Agent, &mut GenAgent, &Meter, &Inbox, &mut Outbox, &mut Decision, &LeaderView),
        Without<Crashed>,
    >,
) {
    let cfg = &params.0;
    let now = clock.tick;
    let dt = clock.dt;
    let timeout = ticks(cfg.operator.setpoint_timeout_s, dt);
    let telemetry = ticks(cfg.operator.telemetry_every_s, dt);
    let round_every = ticks(cfg.consensus.every_s, dt);
    let round_timeout = ticks(cfg.consensus.timeout_s, dt);
    let c = coord.0;
    for (agent, mut g, meter, inbox, mut out, mut d, view) in &mut q {
        let unit = &state.units[g.unit];
        if !g.synced && state.initialized {
            // The first tick's balance set the reference unit's output: that is the schedule.
            g.schedule_mw = unit.setpoint_mw;
            g.target_mw = unit.setpoint_mw;
            g.synced = true;
        }
        for m in &inbox.0 {
            if m.kind == MSG_SETPOINT && coordinator(c).is_some() {
                g.schedule_mw = f64::from(m.payload[0]) - f64::from(m.payload[1]);
                g.agc_mw = f64::from(m.payload[1]);
                g.target_mw = f64::from(m.payload[0]);
                g.heard = Some(now);
            }
        }
        if c != Coordination::Decentralized {
            g.consensus = None;
        }
        let mut reason = "droop_only";
        match c {
            Coordination::None => {
                g.heard = None;
                set_failsafe(&mut g, false, agent.id, now, "coordination_none", &mut log);
            }
            Coordination::Centralized | Coordination::Hierarchical => {
                let fresh = g.heard.is_some_and(|t| now.saturating_sub(t) <= timeout);
                if fresh {
                    reason = if c == Coordination::Centralized { "operator_setpoint" } else { "area_setpoint" };
                    set_failsafe(&mut g, false, agent.id, now, reason, &mut log);
                } else if g.heard.is_none() && now < timeout {
                    reason = "awaiting_setpoint";
                } else {
                    reason = if c == Coordination::Centralized {
                        "fallback_operator_silent"
                    } else {
                        "fallback_area_silent"
                    };
                    set_failsafe(&mut g, true, agent.id, now, reason, &mut log);
                }
                // Telemetry to the coordinator.
                if due(now, telemetry, agent.id.0) {
                    let to = if c == Coordination::Centralized { view.leader } else { roster.area(unit.area) };
                    out.send(
                        agent.id,
                        Dest::To(to),
                        MSG_TELEMETRY,
                        24,
                        now,
                        [g.unit as f32, unit.pe_mw as f32, meter.freq_hz as f32, if unit.online() { 1.0 } else { 0.0 }],
                    );
                }
            }
            Coordination::Decentralized => {
                reason = consensus_step(
                    agent.id,
                    &mut g,
                    &state,
                    &graph,
                    cfg,
                    inbox,
                    &mut out,
                    now,
                    round_every,
                    round_timeout,
                    timeout,
                    &roster,
                    sec.config.aggregation,
                    &mut log,
                );
            }
        }
        *d = Decision { tick: now, action: "setpoint", reason, value: g.target_mw as f32 };
    }
}

fn set_failsafe(g: &mut GenAgent, on: bool, id: AgentId, now: u64, reason: &'static str, log: &mut EventLog) {
    if g.failsafe == on {
        return;
    }
    g.failsafe = on;
    let kind = if on { "failsafe_engaged" } else { "failsafe_released" };
    log.push(now, kind, Some(id.0), [("reason", json!(reason))]);
}

/// One tick of a unit's consensus: hear neighbours, and at a round's tick update and tell them.
#[allow(clippy::too_many_arguments)]
fn consensus_step(
    id: AgentId,
    g: &mut GenAgent,
    state: &PowerState,
    graph: &ConsensusGraph,
    cfg: &PowerConfig,
    inbox: &Inbox,
    out: &mut Outbox,
    now: u64,
    every: u64,
    round_timeout: u64,
    silent_after: u64,
    roster: &Roster,
    aggregation: Aggregation,
    log: &mut EventLog,
) -> &'static str {
    let m = graph.member_of.get(g.unit).copied().unwrap_or(usize::MAX);
    let unit = &state.units[g.unit];
    let Some(cost) = unit.cost.filter(|_| m != usize::MAX) else {
        return "not_dispatchable";
    };
    let cost = consensus_cost(cost);
    let row = &graph.weights[m];
    if g.consensus.is_none() {
        let p = g.target_mw.clamp(unit.pmin_mw, unit.pmax_mw);
        let demand = graph.local_demand(state, m);
        g.consensus = Some(ConsensusState {
            round: 0,
            lambda: cost.marginal(p),
            p_mw: p,
            y_mw: demand - p,
            demand_mw: demand,
            since: now,
            peers: vec![None; row.len()],
            stale: false,
        });
        if let Some(cs) = &g.consensus {
            send_round(id, cs, row, m, graph, roster, out, now);
        }
        return "consensus_start";
    }
    let Some(cs) = g.consensus.as_mut() else { return "consensus" };
    for msg in &inbox.0 {
        if msg.kind != MSG_CONSENSUS {
            continue;
        }
        let from_member = graph.member_of.get(msg.from.0 as usize).copied().unwrap_or(usize::MAX);
        if let Some(k) = row.iter().position(|&(j, _)| j == from_member && j != m) {
            let r = f64::from(msg.payload[0]) as u64;
            if cs.peers[k].is_none_or(|p| p.0 <= r) {
                cs.peers[k] = Some((r, f64::from(msg.payload[1]), f64::from(msg.payload[2]), now));
            }
        }
    }
    let heard_any = cs.peers.iter().flatten().map(|p| p.3).max();
    if !now.is_multiple_of(every) {
        return if cs.stale { "consensus_stale" } else { "consensus" };
    }
    let ready = row.iter().zip(&cs.peers).all(|(&(j, _), p)| j == m || p.is_some_and(|p| p.0 >= cs.round));
    if !ready && now.saturating_sub(cs.since) < round_timeout {
        return "consensus_waiting";
    }
    cs.stale = !ready;
    let (mut lam, y) = combine(cs, row, m, aggregation);
    lam += cfg.consensus.step * cs.y_mw;
    let p = output_at(cost, lam, unit.pmin_mw, unit.pmax_mw);
    let demand = graph.local_demand(state, m);
    cs.y_mw = y - (p - cs.p_mw) + (demand - cs.demand_mw);
    cs.demand_mw = demand;
    cs.p_mw = p;
    cs.lambda = lam;
    cs.round += 1;
    cs.since = now;
    g.schedule_mw = p;
    g.agc_mw = 0.0;
    g.target_mw = p;
    let silent = heard_any.is_none_or(|t| now.saturating_sub(t) > silent_after) && row.len() > 1;
    let cs = g.consensus.clone();
    if let Some(cs) = &cs {
        send_round(id, cs, row, m, graph, roster, out, now);
    }
    if silent {
        set_failsafe(g, true, id, now, "fallback_no_neighbours", log);
        return "fallback_no_neighbours";
    }
    set_failsafe(g, false, id, now, "consensus", log);
    if cs.is_some_and(|c| c.stale) { "consensus_stale" } else { "consensus" }
}

/// The weighted combination of a unit's own (λ, y) with its neighbours' last values. The
/// mismatch estimate y is always the Metropolis-weighted mean (Yang, Tan & Xu 2013): its
/// sum over the units tracks the total mismatch only because the weights are doubly
/// stochastic, which dropping values would break. The incremental cost λ — the value the
/// units agree on — is combined by the robust rule: weighted W-MSR (the F most extreme
/// neighbour values on each side dropped, their weight kept on the own value: LeBlanc et
/// al. 2013), or the median or trimmed mean of the values. A neighbour not heard from
/// counts with the unit's own values.
fn combine(cs: &ConsensusState, row: &[(usize, f64)], m: usize, aggregation: Aggregation) -> (f64, f64) {
    let (mut lam, mut y) = (0.0, 0.0);
    for (&(j, w), p) in row.iter().zip(&cs.peers) {
        let (lj, yj) = if j == m { (cs.lambda, cs.y_mw) } else { p.map_or((cs.lambda, cs.y_mw), |p| (p.1, p.2)) };
        lam += w * lj;
        y += w * yj;
    }
    let heard = || -> (f64, Vec<(f64, f64)>) {
        let mut own_w = 0.0;
        let mut lams = Vec::with_capacity(row.len());
        for (&(j, w), p) in row.iter().zip(&cs.peers) {
            match p {
                Some(p) if j != m => lams.push((w, p.1)),
                _ => own_w += w,
            }
        }
        (own_w, lams)
    };
    match aggregation {
        Aggregation::Mean => {}
        Aggregation::Wmsr(f) => {
            let (own_w, lams) = heard();
            lam = robust::wmsr_weighted(cs.lambda, own_w, &lams, f as usize);
        }
        other => {
            let mut vals: Vec<f64> = heard().1.iter().map(|x| x.1).collect();
            lam = other.combine(Some(cs.lambda), &mut vals).unwrap_or(cs.lambda);
        }
    }
    (lam, y)
}

#[allow(clippy::too_many_arguments)]
fn send_round(
    id: AgentId,
    cs: &ConsensusState,
    row: &[(usize, f64)],
    m: usize,
    graph: &ConsensusGraph,
    roster: &Roster,
    out: &mut Outbox,
    now: u64,
) {
    for &(j, _) in row {
        if j != m {
            let to = roster.unit(graph.members[j]);
            out.send(
                id,
                Dest::To(to),
                MSG_CONSENSUS,
                32,
                now,
                [cs.round as f32, cs.lambda as f32, cs.y_mw as f32, cs.p_mw as f32],
            );
        }
    }
}

/// Set-points move toward their targets at the unit's AGC ramp rate (the Act phase); a
/// crashed controller leaves its unit at the last set-point.
pub fn act_units(clock: Res<SimClock>, mut state: ResMut<PowerState>, q: Query<&GenAgent>) {
    let dt = clock.dt;
    if !state.initialized {
        return;
    }
    for g in &q {
        let u = &mut state.units[g.unit];
        let target = g.target_mw.clamp(u.pmin_mw, u.pmax_mw);
        let step = target - u.setpoint_mw;
        let step = match u.setpoint_ramp_mw_per_s {
            Some(r) => step.clamp(-r * dt, r * dt),
            None => step,
        };
        u.setpoint_mw += step;
        u.agc_mw = g.agc_mw;
    }
}

/// A grid battery's controller.
#[derive(Component, Clone, Debug)]
pub struct StorageAgent {
    /// Index into the state's batteries.
    pub index: usize,
    /// Scheduled output (discharge > 0), MW.
    pub target_mw: f64,
    /// Running mean of the prices heard, $/MWh.
    pub price_mean: f64,
}

/// Batteries decide: arbitrage on prices when they hear them, else hold their charge near half.
pub fn decide_storage(
    clock: Res<SimClock>,
    params: Res<Params<PowerConfig>>,
    coord: Res<CoordinationRes>,
    state: Res<PowerState>,
    mut sec: ResMut<Security>,
    mut q: Query<
        (
            &crate::sim::Agent,
            &mut StorageAgent,
            &mut Meter,
            &Inbox,
            &mut Outbox,
            &mut Decision,
            Option<&Hijacked>,
            &LeaderView,
        ),
        Without<Crashed>,
    >,
) {
    let cfg = &params.0;
    let now = clock.tick;
    let stale = ticks(cfg.operator.price_every_s * 3.0, clock.dt);
    let telemetry = ticks(cfg.operator.telemetry_every_s, clock.dt);
    for (agent, mut s, mut meter, inbox, mut out, mut d, hijacked, view) in &mut q {
        let st = &state.storage[s.index];
        let area = state.model.bus_area.get(st.bus).copied().unwrap_or(0) as f32;
        for m in &inbox.0 {
            if m.kind == MSG_PRICE && (m.payload[0] < 0.0 || m.payload[0] == area) {
                let p = f64::from(m.payload[1]);
                s.price_mean = if meter.price_tick.is_none() { p } else { 0.9 * s.price_mean + 0.1 * p };
                meter.price = p;
                meter.price_tick = Some(now);
            }
        }
        let priced = meter.price_tick.is_some_and(|t| now.saturating_sub(t) <= stale)
            && matches!(coord.0, Coordination::Centralized | Coordination::Hierarchical);
        let soc = st.soc();
        let (target, reason) = if priced && meter.price < 0.95 * s.price_mean && soc < 0.95 {
            (-st.mw, "price_low_charge")
        } else if priced && meter.price > 1.05 * s.price_mean && soc > 0.05 {
            (st.mw, "price_high_discharge")
        } else if soc < 0.3 {
            (-0.1 * st.mw, "restore_charge")
        } else if soc > 0.7 {
            (0.1 * st.mw, "restore_charge")
        } else {
            (0.0, "droop_only")
        };
        // Hijacked (a load-altering attack, Mohsenian-Rad & Leon-Garcia 2011): it charges at
        // full power whatever its schedule, and reports the output it was scheduled for.
        let honest = target;
        let (target, reason) = if hijacked.is_some() { (-st.mw, "hijacked") } else { (target, reason) };
        s.target_mw = target;
        if coord.0 == Coordination::Centralized && due(now, telemetry, agent.id.0) {
            let told = if hijacked.is_some() { honest } else { st.pm_mw };
            out.send(
                agent.id,
                Dest::To(view.leader),
                MSG_STORAGE,
                20,
                now,
                [s.index as f32, soc as f32, told as f32, 0.0],
            );
            if hijacked.is_some() {
                sec.stats.attack_sent += mark_lie(&mut out);
            }
        }
        *d = Decision {
            tick: now,
            action: if target > 0.0 {
                "discharge"
            } else if target < 0.0 {
                "charge"
            } else {
                "hold"
            },
            reason,
            value: target as f32,
        };
    }
}

/// Batteries' schedules into the frequency model.
pub fn act_storage(mut state: ResMut<PowerState>, q: Query<&StorageAgent>) {
    for s in &q {
        let st = &mut state.storage[s.index];
        st.setpoint_mw = s.target_mw;
    }
}
