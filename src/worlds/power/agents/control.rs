//! Area controllers and the system operator.
//!
//! An area controller measures its area (bus demands at its substations, the flows on its
//! tie lines, its frequency) and reports them to the operator; when hierarchical it turns
//! the operator's interchange schedule into set-points for its own units by economic
//! dispatch of the area, plus AGC on its area control error with tie-line bias
//! (ACE = ΔP_tie + β·Δf, β = D·S + ΣS/R); it asks its households for demand response when
//! the frequency sags, and executes the operator's switching orders.
//!
//! The operator collects telemetry through the channel (possibly late, lost or stale: what
//! it has not heard it keeps from its last report), runs a DC optimal power flow with line
//! limits (Clarabel) every `operator.dispatch_every_s`, and either sends set-points to
//! every unit with system-wide AGC on top (centralized) or interchange schedules to the
//! areas (hierarchical); it broadcasts area prices, caps EV stations on congested buses,
//! and recloses tripped lines its DC model says are safe.

use bevy::prelude::*;
use serde_json::json;

use super::scada::{self, Scada};
use super::units::fill;
use super::{
    MSG_AREA, MSG_DR, MSG_EV, MSG_EV_CAP, MSG_LOADS, MSG_METER, MSG_PRICE, MSG_SCHEDULE, MSG_SETPOINT, MSG_STORAGE,
    MSG_SWITCH, MSG_TELEMETRY, Meter, Roster, due, ticks,
};
use crate::sim::security::{ReplicaSets, Tally, mark_lie};
use crate::sim::{
    AgentId, AgentRng, Attacks, Coordination, CoordinationRes, Coordinator, Crashed, Decision, Dest, EventLog,
    Hijacked, Inbox, LeaderView, Outbox, Security, SimClock,
};
use crate::worlds::Params;
use crate::worlds::power::config::PowerConfig;
use crate::worlds::power::dispatch::{self, QuadCost, Unit as DispatchUnit};
use crate::worlds::power::frequency::Agc;
use crate::worlds::power::physics::{close_line, open_line};
use crate::worlds::power::state::{LineStatus, PowerState};
use crate::worlds::power::{CHARGING_STATION, GRID_BATTERY, PROSUMER};

/// Demand response stays on this long after the frequency has recovered, s.
const DR_HOLD_S: f64 = 120.0;

/// Shortest time between two corrective re-dispatches, s.
const CORRECTIVE_GAP_S: f64 = 5.0;

/// Demand response starts below f0·(1 − this) and ends above f0·(1 − this/5).
const DR_DROP: f64 = 0.005;

/// The units of an area in one island (positions in [`AreaAgent::units`]), the demand of the
/// area's buses there, and their control error.
#[derive(Clone, Debug)]
pub struct AreaPart {
    pub units: Vec<usize>,
    pub ace_mw: f64,
    pub demand_mw: f64,
    /// On flat-frequency control (the area split or its ties open).
    pub flat: bool,
}

/// An area controller.
#[derive(Component, Clone, Debug)]
pub struct AreaAgent {
    /// Area index.
    pub area: usize,
    /// Its buses (indices).
    pub buses: Vec<usize>,
    /// Its units (indices into the state's units).
    pub units: Vec<usize>,
    /// Its tie lines with +1 when the area is the from side, −1 when the to side.
    pub ties: Vec<(usize, f64)>,
    /// Scheduled net export, MW.
    pub schedule_mw: f64,
    /// When the last schedule came.
    pub schedule_tick: Option<u64>,
    /// Its area's price, $/MWh.
    pub price: f64,
    /// AGC integral (the sum over its parts) and its parts' integrals, by first unit.
    pub agc: Agc,
    pub agc_parts: std::collections::BTreeMap<usize, f64>,
    /// Area control error last computed, MW.
    pub ace_mw: f64,
    /// Net export measured, MW.
    pub export_mw: f64,
    /// Economic-dispatch output of every unit of the area, MW.
    pub base_mw: Vec<f64>,
    /// What each unit last reported: (output MW, available, tick).
    pub heard: Vec<Option<(f64, bool, u64)>>,
    /// Demand response asked of the households, and the last tick the frequency was low.
    pub dr: bool,
    pub dr_low_since: u64,
    /// Households' last meter readings summed: net kW, flexible kW, and how many reported.
    pub meter_kw: f64,
    pub flex_kw: f64,
    pub meters: u64,
    /// Lines the operator ordered switched: (line, close).
    pub orders: Vec<(usize, bool)>,
    /// Switching orders carried out.
    pub switched: u64,
    /// Under `security.quorum`: the operator replicas' votes on switching orders.
    pub votes: Tally<(u32, bool)>,
}

impl AreaAgent {
    /// The controller of area `area` of `state`.
    pub fn new(state: &PowerState, area: usize, cfg: &PowerConfig) -> Self {
        let m = &state.model;
        let buses: Vec<usize> = (0..m.bus_area.len()).filter(|&b| m.bus_area[b] == area).collect();
        let units: Vec<usize> = (0..state.units.len()).filter(|&u| state.units[u].area == area).collect();
        let ties: Vec<(usize, f64)> = m
            .net
            .branches()
            .iter()
            .enumerate()
            .filter_map(|(k, b)| {
                let (fa, ta) = (m.bus_area[b.from], m.bus_area[b.to]);
                if fa == area && ta != area {
                    Some((k, 1.0))
                } else if ta == area && fa != area {
                    Some((k, -1.0))
                } else {
                    None
                }
            })
            .collect();
        let export: f64 = ties.iter().map(|&(k, s)| s * m.base.flows_mw[k]).sum();
        let base_mw = units.iter().map(|&u| state.units[u].setpoint_mw).collect();
        let heard = vec![None; units.len()];
        AreaAgent {
            area,
            buses,
            units,
            ties,
            schedule_mw: export,
            schedule_tick: None,
            price: 0.0,
            agc: Agc::new(0.0, cfg.agc.ki),
            agc_parts: std::collections::BTreeMap::new(),
            ace_mw: 0.0,
            export_mw: export,
            base_mw,
            heard,
            dr: false,
            dr_low_since: 0,
            meter_kw: 0.0,
            flex_kw: 0.0,
            meters: 0,
            orders: Vec::new(),
            switched: 0,
            votes: Tally::default(),
        }
    }

    /// The bus whose frequency the controller reads: that of its largest online unit (its
    /// first bus when none is online).
    pub fn frequency_bus(&self, state: &PowerState) -> usize {
        self.units
            .iter()
            .map(|&u| &state.units[u])
            .filter(|u| u.online())
            .max_by(|a, b| a.pmax_mw.total_cmp(&b.pmax_mw))
            .map_or(self.buses.first().copied().unwrap_or(0), |u| u.bus)
    }

    /// The area control error now, MW, its net export, and whether it is on flat-frequency
    /// control: with tie-line bias ACE = (export − schedule) + β·Δf; once every tie is open
    /// the schedule cannot be met and ACE = β·Δf, which restores its island's frequency.
    pub fn ace(&self, state: &PowerState, cfg: &PowerConfig) -> (f64, f64, bool) {
        let f0 = cfg.frequency.f0_hz;
        let bus = self.frequency_bus(state);
        let f = state.bus_freq(bus, f0);
        let df = if f > 0.0 { f / f0 - 1.0 } else { 0.0 };
        let beta = self.beta_mw(state, cfg.frequency.damping);
        let export: f64 = self.ties.iter().map(|&(k, s)| s * state.lines[k].flow_mw).sum();
        let flat =
            !self.ties.is_empty() && self.ties.iter().all(|&(k, _)| state.lines[k].status != LineStatus::InService);
        let tie = if flat { 0.0 } else { export - self.schedule_mw };
        (tie + beta * df, export, flat)
    }

    /// The area's online units grouped by island, each group with the demand of the area's
    /// buses in its island and its control error. While the area is whole and a tie is closed
    /// there is one group on tie-line bias; once every tie is open or the area is split, each
    /// island's group runs flat-frequency control (ACE = β·Δf of its island).
    pub fn parts(&self, state: &PowerState, cfg: &PowerConfig) -> Vec<AreaPart> {
        let f0 = cfg.frequency.f0_hz;
        let mut groups: std::collections::BTreeMap<usize, Vec<usize>> = std::collections::BTreeMap::new();
        for (k, &u) in self.units.iter().enumerate() {
            let x = &state.units[u];
            if let Some(i) = state.net.island_of(x.bus).filter(|_| x.online()) {
                groups.entry(i).or_default().push(k);
            }
        }
        let demand_in = |island: Option<usize>| -> f64 {
            self.buses
                .iter()
                .filter(|&&b| island.is_none() || state.net.island_of(b) == island)
                .map(|&b| &state.buses[b])
                .filter(|b| b.energized)
                .map(|b| b.demand_mw * (1.0 - b.shed_share))
                .sum()
        };
        let (ace, _, flat) = self.ace(state, cfg);
        if groups.len() <= 1 && !flat {
            let units = groups.into_values().next().unwrap_or_default();
            return vec![AreaPart { units, ace_mw: ace, demand_mw: demand_in(None), flat: false }];
        }
        groups
            .into_iter()
            .map(|(island, units)| {
                let bus = state.units[self.units[units[0]]].bus;
                let f = state.bus_freq(bus, f0);
                let df = if f > 0.0 { f / f0 - 1.0 } else { 0.0 };
                let beta: f64 = units
                    .iter()
                    .map(|&k| &state.units[self.units[k]])
                    .map(|u| cfg.frequency.damping * u.rating_mw + u.droop.map_or(0.0, |r| u.rating_mw / r))
                    .sum();
                AreaPart { units, ace_mw: beta * df, demand_mw: demand_in(Some(island)), flat: true }
            })
            .collect()
    }

    /// Frequency bias β of the area, MW per unit frequency: D·S + Σ S/R of its online units.
    pub fn beta_mw(&self, state: &PowerState, damping: f64) -> f64 {
        self.units
            .iter()
            .map(|&u| &state.units[u])
            .filter(|u| u.online())
            .map(|u| damping * u.rating_mw + u.droop.map_or(0.0, |r| u.rating_mw / r))
            .sum()
    }
}

/// Area controllers decide.
#[allow(clippy::too_many_arguments)]
#[allow(clippy::type_complexity)]
pub fn decide_areas(
    clock: Res<SimClock>,
    params: Res<Params<PowerConfig>>,
    coord: Res<CoordinationRes>,
    roster: Res<Roster>,
    mut sec: ResMut<Security>,
    replicas: Option<Res<ReplicaSets>>,
    state: Res<PowerState>,
    mut log: ResMut<EventLog>,
    mut q: Query<
        (&crate::sim::Agent, &mut AreaAgent, &mut Meter, &Inbox, &mut Outbox, &mut Decision, &LeaderView),
        Without<Crashed>,
    >,
) {
    let cfg = &params.0;
    let now = clock.tick;
    let dt = clock.dt;
    let f0 = cfg.frequency.f0_hz;
    let telemetry = ticks(cfg.operator.telemetry_every_s, dt);
    let agc_every = ticks(cfg.agc.every_s, dt);
    let dispatch_every = ticks(cfg.operator.dispatch_every_s, dt);
    let c = coord.0;
    let quorum = sec.config.quorum;
    // Replicas vote at the same dispatch ticks; their votes arrive within the channel's
    // delays, so a window of two seconds collects them.
    let vote_window = ticks(2.0, dt);
    for (agent, mut a, mut meter, inbox, mut out, mut d, view) in &mut q {
        let a = &mut *a;
        let centre = a.buses.first().copied().unwrap_or(0);
        fill(&mut meter, &state, centre, f0, now);
        let mut new_schedule = false;
        for m in &inbox.0 {
            match m.kind {
                MSG_SCHEDULE if f64::from(m.payload[0]) as usize == a.area => {
                    a.schedule_mw = f64::from(m.payload[1]);
                    a.price = f64::from(m.payload[2]);
                    a.schedule_tick = Some(now);
                    new_schedule = true;
                }
                MSG_TELEMETRY => {
                    let u = f64::from(m.payload[0]) as usize;
                    if let Some(k) = a.units.iter().position(|&x| x == u) {
                        a.heard[k] = Some((f64::from(m.payload[1]), m.payload[3] > 0.5, now));
                    }
                }
                MSG_METER => {
                    a.meter_kw += f64::from(m.payload[0]);
                    a.flex_kw += f64::from(m.payload[2]);
                    a.meters += 1;
                }
                MSG_SWITCH => {
                    let order = (f64::from(m.payload[0]) as usize, m.payload[1] > 0.5);
                    if quorum == 0 {
                        if !a.orders.contains(&order) {
                            a.orders.push(order);
                        }
                    } else if let Some(r) = replicas.as_ref().and_then(|s| s.index(0, m.from)) {
                        // A critical command: one vote of an operator replica.
                        a.votes.vote((order.0 as u32, order.1), r, now);
                    }
                }
                _ => {}
            }
        }
        if quorum > 0 {
            // Orders that 2f + 1 replicas sent are carried out; one that only fewer sent
            // (a Byzantine replica's, say) ages out refused.
            let (done, refused) = a.votes.settle(now, vote_window, 2 * quorum + 1);
            for (line, close) in done {
                let order = (line as usize, close);
                if !a.orders.contains(&order) {
                    a.orders.push(order);
                }
            }
            for ((line, close), votes) in refused {
                sec.stats.commands_refused += 1;
                log.push(
                    now,
                    "command_refused",
                    Some(agent.id.0),
                    [
                        ("line", json!(line)),
                        ("order", json!(if close { "close" } else { "open" })),
                        ("votes", json!(votes)),
                        ("needed", json!(2 * quorum + 1)),
                    ],
                );
            }
        }
        // Measurements of the area.
        let demand: f64 = a
            .buses
            .iter()
            .map(|&b| &state.buses[b])
            .filter(|b| b.energized)
            .map(|b| b.demand_mw * (1.0 - b.shed_share))
            .sum();
        let (ace, export, flat) = a.ace(&state, cfg);
        a.ace_mw = ace;
        a.export_mw = export;
        fill(&mut meter, &state, a.frequency_bus(&state), f0, now);
        let mut action = "monitor";
        let mut reason = "no_coordination";
        if matches!(c, Coordination::Centralized | Coordination::Hierarchical | Coordination::Decentralized)
            && due(now, telemetry, agent.id.0)
        {
            // Substation measurements to the operator: two buses a message.
            for pair in a.buses.chunks(2) {
                let b0 = pair[0];
                let b1 = pair.get(1).copied();
                out.send(
                    agent.id,
                    Dest::To(view.leader),
                    MSG_LOADS,
                    24,
                    now,
                    [
                        b0 as f32,
                        state.buses[b0].demand_mw as f32,
                        b1.map_or(-1.0, |b| b as f32),
                        b1.map_or(0.0, |b| state.buses[b].demand_mw) as f32,
                    ],
                );
            }
            out.send(
                agent.id,
                Dest::To(view.leader),
                MSG_AREA,
                20,
                now,
                [a.area as f32, a.export_mw as f32, a.ace_mw as f32, meter.freq_hz as f32],
            );
            reason = "reporting";
        }
        if c == Coordination::Hierarchical {
            action = "area_control";
            reason = if flat {
                "flat_frequency"
            } else if a.schedule_tick.is_some_and(|t| now.saturating_sub(t) <= 3 * dispatch_every) {
                "schedule"
            } else if a.schedule_tick.is_none() {
                "initial_schedule"
            } else {
                "stale_schedule"
            };
            let parts = a.parts(&state, cfg);
            // Economic dispatch of the area for its demand plus its scheduled export (of each
            // island's part of it for its own demand once the area is split).
            if new_schedule || now.is_multiple_of(dispatch_every) {
                for part in &parts {
                    let target = if part.flat { part.demand_mw } else { part.demand_mw + a.schedule_mw };
                    area_dispatch(a, &state, &part.units, target);
                }
                // The new base points cover the demand and the schedule: AGC starts afresh
                // (keeping its old output on top would count the same deficit twice).
                a.agc_parts.clear();
            }
            if now.is_multiple_of(agc_every) {
                let mut agc = vec![0.0; a.units.len()];
                let mut kept = std::collections::BTreeMap::new();
                for part in &parts {
                    let units: Vec<usize> = part.units.iter().map(|&k| a.units[k]).collect();
                    let share = participation(&state, &units, |j| a.heard[part.units[j]].is_none_or(|h| h.1));
                    let base: Vec<f64> = part.units.iter().map(|&k| a.base_mw[k]).collect();
                    let key = part.units.first().copied().unwrap_or(usize::MAX);
                    let mut total = if cfg.agc.enabled { a.agc_parts.get(&key).copied().unwrap_or(0.0) } else { 0.0 };
                    if cfg.agc.enabled {
                        total -= cfg.agc.ki * part.ace_mw * agc_every as f64 * dt;
                        // No wind-up: the integral stays within what the participating units can give.
                        let (lo, hi) = agc_range(&state, &units, &base, &share);
                        total = total.clamp(lo, hi);
                        kept.insert(key, total);
                    }
                    for (j, &k) in part.units.iter().enumerate() {
                        agc[k] = total * share[j];
                    }
                }
                a.agc_parts = kept;
                a.agc.output_mw = a.agc_parts.values().sum();
                for (k, &u) in a.units.iter().enumerate() {
                    out.send(
                        agent.id,
                        Dest::To(roster.unit(u)),
                        MSG_SETPOINT,
                        16,
                        now,
                        [(a.base_mw[k] + agc[k]) as f32, agc[k] as f32, 0.0, 0.0],
                    );
                }
                if new_schedule || a.price > 0.0 && now.is_multiple_of(ticks(cfg.operator.price_every_s, dt)) {
                    broadcast_price(&roster, agent.id, &mut out, a.area as f32, a.price, now);
                }
            }
        } else {
            a.agc.output_mw = 0.0;
            a.agc_parts.clear();
        }
        // Demand response when the frequency sags (any coordination but none).
        if c != Coordination::None && meter.freq_hz > 0.0 {
            let low = meter.freq_hz < f0 * (1.0 - DR_DROP / 5.0);
            if low {
                a.dr_low_since = now;
            }
            // Released once the frequency has been back for a while (no rebound straight into it).
            let want = if a.dr {
                low || now < a.dr_low_since + ticks(DR_HOLD_S, dt)
            } else {
                meter.freq_hz < f0 * (1.0 - DR_DROP)
            };
            if want != a.dr {
                a.dr = want;
                if roster.prosumers > 0 {
                    let payload = [a.area as f32, if want { 1.0 } else { 0.0 }, 0.0, 0.0];
                    out.send(agent.id, Dest::Kind(PROSUMER), MSG_DR, 12, now, payload);
                }
                log.push(
                    now,
                    if want { "dr_start" } else { "dr_end" },
                    Some(agent.id.0),
                    [("freq_hz", json!(meter.freq_hz))],
                );
            }
            if a.dr {
                action = "demand_response";
                reason = "underfrequency";
            }
        }
        meter.power_mw = demand;
        *d = Decision { tick: now, action, reason, value: a.ace_mw as f32 };
    }
}

/// Economic dispatch of the area's units at positions `part` for `target_mw` (demand plus
/// scheduled export); units without a cost curve (or reported unavailable) keep their output.
fn area_dispatch(a: &mut AreaAgent, state: &PowerState, part: &[usize], target_mw: f64) {
    let mut fixed = 0.0;
    let mut disp: Vec<(usize, DispatchUnit)> = Vec::new();
    let mut islands = Vec::new();
    for &k in part {
        let x = &state.units[a.units[k]];
        islands.push(state.net.island_of(x.bus));
        let available = a.heard[k].is_none_or(|h| h.1) && x.online();
        match x.cost {
            Some(c) if available => disp.push((k, DispatchUnit { cost: c, pmin_mw: x.pmin_mw, pmax_mw: x.pmax_mw })),
            _ => {
                let p = if available { x.pe_mw } else { 0.0 };
                a.base_mw[k] = p;
                fixed += p;
            }
        }
    }
    let storage: f64 = state
        .storage
        .iter()
        .filter(|s| state.model.bus_area.get(s.bus) == Some(&a.area) && islands.contains(&state.net.island_of(s.bus)))
        .map(|s| s.pm_mw)
        .sum();
    let want = target_mw - fixed - storage;
    let units: Vec<DispatchUnit> = disp.iter().map(|d| d.1).collect();
    let lo: f64 = units.iter().map(|u| u.pmin_mw).sum();
    let hi: f64 = units.iter().map(|u| u.pmax_mw).sum();
    if let Ok(ed) = dispatch::economic_dispatch(&units, want.clamp(lo, hi)) {
        for (j, (k, _)) in disp.iter().enumerate() {
            a.base_mw[*k] = ed.p_mw[j];
        }
    }
}

/// AGC participation of `units`: in proportion to their range, among those available.
fn participation(state: &PowerState, units: &[usize], available: impl Fn(usize) -> bool) -> Vec<f64> {
    let w: Vec<f64> = units
        .iter()
        .enumerate()
        .map(|(k, &u)| {
            let x = &state.units[u];
            if available(k) && x.online() && x.cost.is_some() { (x.pmax_mw - x.pmin_mw).max(0.0) } else { 0.0 }
        })
        .collect();
    let s: f64 = w.iter().sum();
    w.iter().map(|x| if s > 0.0 { x / s } else { 0.0 }).collect()
}

/// How far AGC can move `units` from their bases `base_mw` (those with a participation), MW.
fn agc_range(state: &PowerState, units: &[usize], base_mw: &[f64], parts: &[f64]) -> (f64, f64) {
    let (mut lo, mut hi) = (0.0, 0.0);
    for (k, &u) in units.iter().enumerate() {
        if parts.get(k).is_some_and(|p| *p > 0.0) {
            let x = &state.units[u];
            lo += (x.pmin_mw - base_mw[k]).min(0.0);
            hi += (x.pmax_mw - base_mw[k]).max(0.0);
        }
    }
    (lo, hi)
}

/// An area's price to the households, stations and batteries (the kinds this grid has).
fn broadcast_price(roster: &Roster, from: AgentId, out: &mut Outbox, area: f32, price: f64, now: u64) {
    for (kind, n) in [(PROSUMER, roster.prosumers), (CHARGING_STATION, roster.stations), (GRID_BATTERY, roster.storage)]
    {
        if n > 0 {
            out.send(from, Dest::Kind(kind), MSG_PRICE, 12, now, [area, price as f32, 0.0, 0.0]);
        }
    }
}

/// Area controllers carry out switching orders (the Act phase).
pub fn act_switching(
    clock: Res<SimClock>,
    params: Res<Params<PowerConfig>>,
    mut state: ResMut<PowerState>,
    mut log: ResMut<EventLog>,
    mut q: Query<&mut AreaAgent, Without<Crashed>>,
) {
    for mut a in &mut q {
        for (line, close) in std::mem::take(&mut a.orders) {
            if line >= state.lines.len() {
                continue;
            }
            let done = if close {
                state.lines[line].status == LineStatus::Tripped
                    && close_line(&mut state, line, "operator", clock.tick, &mut log)
            } else {
                let cfg = &params.0;
                open_line(
                    &mut state,
                    cfg,
                    line,
                    LineStatus::SwitchedOut,
                    "operator_order",
                    clock.tick,
                    clock.dt,
                    &mut log,
                )
            };
            if done {
                a.switched += 1;
            }
        }
    }
}

/// The system operator.
#[derive(Component, Clone, Debug)]
pub struct OperatorAgent {
    /// What it knows of each bus's demand: (MW, tick heard).
    pub loads: Vec<(f64, u64)>,
    /// What it knows of each unit: (output MW, available, tick heard).
    pub units: Vec<(f64, bool, u64)>,
    /// Frequency reports: (Hz, tick).
    pub freq: Vec<(f64, u64)>,
    /// Battery outputs it knows, MW.
    pub storage: Vec<(f64, u64)>,
    /// Areas' reports: (export MW, ACE MW, tick).
    pub areas: Vec<(f64, f64, u64)>,
    /// Stations capped: true while a cap is in force.
    pub capped: Vec<bool>,
    /// Dispatch (schedule) of every unit, MW.
    pub schedule: Vec<f64>,
    /// Area prices, $/MWh.
    pub prices: Vec<f64>,
    /// Net exports scheduled per area, MW.
    pub exports: Vec<f64>,
    /// System AGC.
    pub agc: Agc,
    /// Dispatches run, and how many failed.
    pub dispatches: u64,
    pub failures: u64,
    /// Cost of the last dispatch, $/h, and the lines whose limits bound.
    pub cost: f64,
    pub binding: Vec<usize>,
    /// Stale bus reports at the last dispatch.
    pub stale: usize,
    /// Why the last dispatch went the way it did.
    pub note: &'static str,
    /// Reclosings ordered.
    pub reclosed: u64,
    /// Tick of the last dispatch.
    pub last_dispatch: Option<u64>,
    /// Its SCADA state estimator (when `estimation.enabled`).
    pub scada: Scada,
    /// A replica that took over at this tick and waits for fresh reports before it
    /// dispatches (the units hold their last setpoints meanwhile: a bumpless takeover).
    pub resync_from: Option<u64>,
}

impl OperatorAgent {
    /// The operator's knowledge at start: the case as planned.
    pub fn new(state: &PowerState, stations: usize, cfg: &PowerConfig) -> Self {
        OperatorAgent {
            loads: state.buses.iter().map(|b| (b.demand_mw, 0)).collect(),
            units: state.units.iter().map(|u| (u.setpoint_mw, true, 0)).collect(),
            freq: vec![(cfg.frequency.f0_hz, 0); state.units.len()],
            storage: vec![(0.0, 0); state.storage.len()],
            areas: vec![(0.0, 0.0, 0); state.model.areas.len()],
            capped: vec![false; stations],
            schedule: state.units.iter().map(|u| u.setpoint_mw).collect(),
            prices: vec![0.0; state.model.areas.len()],
            exports: vec![0.0; state.model.areas.len()],
            agc: Agc::new(0.0, cfg.agc.ki),
            dispatches: 0,
            failures: 0,
            cost: 0.0,
            binding: Vec::new(),
            stale: 0,
            note: "start",
            reclosed: 0,
            last_dispatch: None,
            scada: Scada::default(),
            resync_from: None,
        }
    }

    /// A standby taking over: it keeps the schedule in force and the case's ratings, but
    /// every report it holds counts as unheard (stale) until one arrives, and its AGC,
    /// caps and dispatch history start afresh.
    pub fn restart(&mut self, cfg: &PowerConfig, now: u64) {
        for l in &mut self.loads {
            l.1 = 0;
        }
        for u in &mut self.units {
            u.2 = 0;
        }
        for f in &mut self.freq {
            f.1 = 0;
        }
        self.agc = Agc::new(0.0, cfg.agc.ki);
        self.capped.iter_mut().for_each(|c| *c = false);
        self.last_dispatch = None;
        self.note = "took_over";
        self.resync_from = Some(now);
    }
}

/// The operator decides.
#[allow(clippy::too_many_arguments)]
#[allow(clippy::type_complexity)]
pub fn decide_operator(
    clock: Res<SimClock>,
    params: Res<Params<PowerConfig>>,
    coord: Res<CoordinationRes>,
    roster: Res<Roster>,
    state: Res<PowerState>,
    mut log: ResMut<EventLog>,
    attacks: Res<Attacks>,
    mut sec: ResMut<Security>,
    stations: Query<&super::ev::StationAgent>,
    mut q: Query<
        (
            &crate::sim::Agent,
            &mut OperatorAgent,
            &mut Meter,
            &Inbox,
            &mut Outbox,
            &mut Decision,
            &mut AgentRng,
            (Option<&Coordinator>, Has<Hijacked>),
        ),
        Without<Crashed>,
    >,
) {
    let cfg = &params.0;
    let now = clock.tick;
    let dt = clock.dt;
    let f0 = cfg.frequency.f0_hz;
    let c = coord.0;
    let stale_after = ticks(cfg.operator.stale_after_s, dt);
    let dispatch_every = ticks(cfg.operator.dispatch_every_s, dt);
    let agc_every = ticks(cfg.agc.every_s, dt);
    let price_every = ticks(cfg.operator.price_every_s, dt);
    let estimating = cfg.estimation.enabled;
    let scan_every = ticks(cfg.estimation.every_s, dt);
    let quorum = sec.config.quorum;
    let coordinating = matches!(c, Coordination::Centralized | Coordination::Hierarchical);
    let regular = now.is_multiple_of(dispatch_every);
    for (agent, mut op, mut meter, inbox, mut out, mut d, mut rng, (replica, hijacked)) in &mut q {
        let op = &mut *op;
        if hijacked && coordinating && regular {
            // A compromised control centre (as in Ukraine, December 2015) orders the most
            // loaded line in service opened at every dispatch.
            let most = (0..state.lines.len())
                .filter(|&k| state.lines[k].status == LineStatus::InService && state.lines[k].loading.is_finite())
                .max_by(|&a, &b| state.lines[a].loading.total_cmp(&state.lines[b].loading));
            if let Some(k) = most {
                let area = state.model.bus_area[state.lines[k].from];
                out.send(agent.id, Dest::To(roster.area(area)), MSG_SWITCH, 12, now, [k as f32, 0.0, 0.0, 0.0]);
                sec.stats.attack_sent += mark_lie(&mut out);
            }
        }
        if let Some(r) = replica {
            if !r.leads() {
                if quorum > 0 && coordinating && regular && !hijacked {
                    // Under a quorum every replica votes on the switching orders: it
                    // works them out from the breaker states and flows as the leader does.
                    reclose(op, &state, cfg, now, dt, &roster, agent.id, &mut out);
                }
                // A standby replica keeps nothing but its election going.
                *d = Decision { tick: now, action: "standby", reason: "follower", value: r.replica.term as f32 };
                continue;
            }
            if r.took_over(now) {
                // A new leader: what it knows comes from the reports it hears from now on
                // (everything it holds is marked unheard), its AGC starts from zero.
                op.restart(cfg, now);
            }
        }
        for m in &inbox.0 {
            let p = m.payload;
            match m.kind {
                MSG_TELEMETRY => {
                    let u = f64::from(p[0]) as usize;
                    if u < op.units.len() {
                        op.units[u] = (f64::from(p[1]), p[3] > 0.5, now);
                        if p[2] > 0.0 {
                            op.freq[u] = (f64::from(p[2]), now);
                        }
                    }
                }
                // With a state estimator the operator's loads come from the SCADA scan.
                MSG_LOADS if !estimating => {
                    for (b, v) in [(p[0], p[1]), (p[2], p[3])] {
                        if b >= 0.0 && (b as usize) < op.loads.len() {
                            op.loads[b as usize] = (f64::from(v), now);
                        }
                    }
                }
                MSG_AREA => {
                    let a = f64::from(p[0]) as usize;
                    if a < op.areas.len() {
                        op.areas[a] = (f64::from(p[1]), f64::from(p[2]), now);
                        if p[3] > 0.0 {
                            // An area's frequency counts as one more report.
                            meter.freq_hz = f64::from(p[3]);
                        }
                    }
                }
                MSG_STORAGE => {
                    let b = f64::from(p[0]) as usize;
                    if b < op.storage.len() {
                        op.storage[b] = (f64::from(p[2]), now);
                    }
                }
                _ => {}
            }
        }
        if estimating && now.is_multiple_of(scan_every) {
            scada::scan(op, &state, cfg, &attacks, &mut sec, &mut rng, &roster, now, &mut log);
        }
        let mut action = "monitor";
        let mut reason = "no_coordination";
        // A replica that has just taken over first hears every unit (and, without an
        // estimator, every bus) again, or waits out the staleness limit, then dispatches.
        let resyncing = op.resync_from.is_some_and(|t| {
            let heard = op.units.iter().all(|u| u.2 > t) && (estimating || op.loads.iter().all(|l| l.1 > t));
            !heard && now < t + stale_after
        });
        if coordinating && resyncing {
            action = "resync";
            reason = "awaiting_telemetry";
        } else if coordinating {
            op.stale = op.loads.iter().filter(|l| now.saturating_sub(l.1) > stale_after).count();
            action = "dispatch";
            reason = if op.stale > 0 { "stale_telemetry" } else { "telemetry_fresh" };
            // Corrective re-dispatch: a line its SCADA shows above its rating is not left for
            // the next scheduled dispatch (at most one every few seconds).
            // It watches the estimated flows when it has a state estimator.
            let seen: Vec<f64> = if estimating && !op.scada.flows_mw.is_empty() {
                state
                    .lines
                    .iter()
                    .zip(&op.scada.flows_mw)
                    .map(|(l, f)| match l.rating_mw {
                        Some(r) if l.status == LineStatus::InService && r > 0.0 => f.abs() / r,
                        _ => 0.0,
                    })
                    .collect()
            } else {
                state.lines.iter().map(|l| if l.loading.is_finite() { l.loading } else { 0.0 }).collect()
            };
            let overloaded = seen.iter().any(|&l| l > 1.0);
            let corrective = overloaded && op.last_dispatch.is_none_or(|t| now >= t + ticks(CORRECTIVE_GAP_S, dt));
            let resynced = op.resync_from.take().is_some();
            let dispatching = now.is_multiple_of(dispatch_every) || corrective || resynced;
            if dispatching {
                if corrective {
                    reason = "corrective_redispatch";
                    log.push(
                        now,
                        "corrective_redispatch",
                        Some(agent.id.0),
                        [("max_loading", json!(seen.iter().copied().fold(0.0, f64::max)))],
                    );
                }
                op.last_dispatch = Some(now);
                run_dispatch(op, &state, cfg, now, &mut log);
                op.agc.output_mw = 0.0;
                if c == Coordination::Hierarchical {
                    for (a, &exp) in op.exports.iter().enumerate() {
                        out.send(
                            agent.id,
                            Dest::To(roster.area(a)),
                            MSG_SCHEDULE,
                            16,
                            now,
                            [a as f32, exp as f32, op.prices[a] as f32, 0.0],
                        );
                    }
                }
                if (quorum == 0 || regular) && !hijacked {
                    reclose(op, &state, cfg, now, dt, &roster, agent.id, &mut out);
                }
            }
            if c == Coordination::Centralized && (now.is_multiple_of(agc_every) || dispatching) {
                // System-wide AGC on the frequency the units report.
                let fresh: Vec<f64> =
                    op.freq.iter().filter(|f| now.saturating_sub(f.1) <= stale_after).map(|f| f.0).collect();
                let units: Vec<usize> = (0..state.units.len()).collect();
                let parts = participation(&state, &units, |k| op.units[k].1);
                let total = if cfg.agc.enabled && !fresh.is_empty() {
                    let f = fresh.iter().sum::<f64>() / fresh.len() as f64;
                    let beta: f64 = state
                        .units
                        .iter()
                        .zip(&op.units)
                        .filter(|(_, k)| k.1)
                        .map(|(u, _)| cfg.frequency.damping * u.rating_mw + u.droop.map_or(0.0, |r| u.rating_mw / r))
                        .sum();
                    op.agc.ki = cfg.agc.ki;
                    op.agc.step_ace(beta * (f / f0 - 1.0), agc_every as f64 * dt);
                    let (lo, hi) = agc_range(&state, &units, &op.schedule, &parts);
                    op.agc.output_mw = op.agc.output_mw.clamp(lo, hi);
                    op.agc.output_mw
                } else {
                    if !cfg.agc.enabled {
                        op.agc.output_mw = 0.0;
                    }
                    op.agc.output_mw
                };
                for (u, part) in parts.iter().enumerate() {
                    let agc = total * part;
                    out.send(
                        agent.id,
                        Dest::To(roster.unit(u)),
                        MSG_SETPOINT,
                        16,
                        now,
                        [(op.schedule[u] + agc) as f32, agc as f32, 0.0, 0.0],
                    );
                }
            }
            if c == Coordination::Centralized && now.is_multiple_of(price_every) {
                for (a, &p) in op.prices.iter().enumerate() {
                    broadcast_price(&roster, agent.id, &mut out, a as f32, p, now);
                }
            }
            // Stations on congested buses are capped until the congestion clears.
            for (k, s) in stations.iter().enumerate() {
                let loading = state.bus_loading(s.bus);
                let want = if op.capped.get(k).copied().unwrap_or(false) { loading > 0.85 } else { loading > 0.98 };
                if op.capped.get(k).copied() != Some(want) {
                    if let Some(x) = op.capped.get_mut(k) {
                        *x = want;
                    }
                    let cap = if want { s.spec_feeder_kw * 0.5 } else { -1.0 };
                    out.send(agent.id, Dest::To(roster.station(k)), MSG_EV_CAP, 12, now, [cap as f32, 0.0, 0.0, 0.0]);
                }
            }
        }
        let _ = MSG_EV;
        meter.power_mw = op.schedule.iter().sum();
        *d = Decision { tick: now, action, reason, value: op.cost as f32 };
    }
}

/// The operator's dispatch: a DC optimal power flow on what it knows (current topology, the
/// demands and unit availability last reported, line ratings); economic dispatch without the
/// network if that fails.
fn run_dispatch(op: &mut OperatorAgent, state: &PowerState, cfg: &PowerConfig, now: u64, log: &mut EventLog) {
    let _ = cfg;
    let mut net = state.net.clone();
    let ng = net.gens().len();
    let mut costs = vec![QuadCost { c2: 0.0, c1: 0.0, c0: 0.0 }; ng];
    for (u, unit) in state.units.iter().enumerate() {
        let (p, available, _) = op.units[u];
        if !available || !unit.online() {
            let _ = net.set_gen_in_service(unit.row, false);
            continue;
        }
        match unit.cost {
            Some(c) => costs[unit.row] = c,
            None => {
                let p = p.clamp(unit.pmin_mw, unit.pmax_mw);
                let _ = net.set_gen_limits(unit.row, p, p);
            }
        }
    }
    let mut loads: Vec<f64> = op.loads.iter().map(|l| l.0).collect();
    for (i, l) in loads.iter_mut().enumerate() {
        let alive = net.island_of(i).is_some_and(|k| net.islands()[k].reference.is_some());
        if !alive {
            *l = 0.0;
        }
        *l *= 1.0 - state.buses[i].shed_share;
    }
    for (k, st) in state.storage.iter().enumerate() {
        loads[st.bus] -= op.storage[k].0;
    }
    let rates: Vec<Option<f64>> = state.lines.iter().map(|l| l.rating_mw).collect();
    op.dispatches += 1;
    let result = dispatch::dc_opf(&net, &costs, &loads, &rates);
    match result {
        Ok(sol) => {
            for (u, unit) in state.units.iter().enumerate() {
                op.schedule[u] = if op.units[u].1 && unit.online() { sol.gen_p_mw[unit.row] } else { 0.0 };
            }
            op.cost = sol.cost;
            op.binding = sol.binding.clone();
            op.note = "opf";
            for a in 0..op.prices.len() {
                let (mut num, mut den) = (0.0, 0.0);
                for (b, &area) in state.model.bus_area.iter().enumerate() {
                    if area == a {
                        let w = loads[b].max(0.0) + 1e-6;
                        num += w * sol.lmp[b];
                        den += w;
                    }
                }
                op.prices[a] = if den > 0.0 { num / den } else { 0.0 };
                // Net export of the area in the dispatch.
                let mut exp = 0.0;
                for (k, br) in net.branches().iter().enumerate() {
                    let (fa, ta) = (state.model.bus_area[br.from], state.model.bus_area[br.to]);
                    if fa == a && ta != a {
                        exp += sol.flows_mw[k];
                    } else if ta == a && fa != a {
                        exp -= sol.flows_mw[k];
                    }
                }
                op.exports[a] = exp;
            }
        }
        Err(e) => {
            op.failures += 1;
            op.note = "opf_failed";
            let (lo, hi) =
                net.gens().iter().filter(|g| g.in_service).fold((0.0, 0.0), |a, g| (a.0 + g.pmin_mw, a.1 + g.pmax_mw));
            log.push(
                now,
                "dispatch_failed",
                None,
                [
                    ("error", json!(e.to_string())),
                    ("demand_mw", json!(loads.iter().sum::<f64>())),
                    ("pmin_mw", json!(lo)),
                    ("pmax_mw", json!(hi)),
                    ("loads", json!(loads)),
                ],
            );
            // Economic dispatch without the network, every dispatchable unit together.
            let mut units = Vec::new();
            let mut idx = Vec::new();
            let mut fixed = 0.0;
            for (u, unit) in state.units.iter().enumerate() {
                if !(op.units[u].1 && unit.online()) {
                    continue;
                }
                match unit.cost {
                    Some(c) => {
                        units.push(DispatchUnit { cost: c, pmin_mw: unit.pmin_mw, pmax_mw: unit.pmax_mw });
                        idx.push(u);
                    }
                    None => fixed += op.units[u].0,
                }
            }
            let demand: f64 = loads.iter().sum::<f64>() - fixed;
            let lo: f64 = units.iter().map(|u| u.pmin_mw).sum();
            let hi: f64 = units.iter().map(|u| u.pmax_mw).sum();
            if let Ok(ed) = dispatch::economic_dispatch(&units, demand.clamp(lo, hi)) {
                for (j, &u) in idx.iter().enumerate() {
                    op.schedule[u] = ed.p_mw[j];
                }
                op.cost = ed.cost;
                op.prices.iter_mut().for_each(|p| *p = ed.lambda);
            }
        }
    }
}

/// Tripped lines that have been open long enough and that the operator's DC model shows can
/// close without overloading anything are ordered closed (through the area controller of
/// their from bus).
#[allow(clippy::too_many_arguments)]
fn reclose(
    op: &mut OperatorAgent,
    state: &PowerState,
    cfg: &PowerConfig,
    now: u64,
    dt: f64,
    roster: &Roster,
    me: AgentId,
    out: &mut Outbox,
) {
    let Some(after) = cfg.operator.reclose_after_s else { return };
    let wait = ticks(after, dt);
    let candidates: Vec<usize> = (0..state.lines.len())
        .filter(|&k| state.lines[k].status == LineStatus::Tripped && now >= state.lines[k].open_since + wait)
        .collect();
    if candidates.is_empty() {
        return;
    }
    let mut net = state.net.clone();
    let mut inj: Vec<f64> = state.buses.iter().map(|b| b.gen_mw - b.served_mw).collect();
    for k in candidates {
        if net.set_branch_in_service(k, true).is_err() {
            continue;
        }
        net.balance_at_references(&mut inj);
        let ok = net.solve(&inj).is_ok_and(|theta| {
            let flows = net.flows_mw(&theta);
            state.lines.iter().zip(&flows).enumerate().all(|(j, (l, f))| {
                let closed = l.status == LineStatus::InService || j == k;
                !closed || l.rating_mw.is_none_or(|r| f.abs() <= 0.95 * r)
            })
        });
        if ok {
            let area = state.model.bus_area[state.lines[k].from];
            out.send(me, Dest::To(roster.area(area)), MSG_SWITCH, 12, now, [k as f32, 1.0, 0.0, 0.0]);
            op.reclosed += 1;
        } else {
            let _ = net.set_branch_in_service(k, false);
        }
    }
}
