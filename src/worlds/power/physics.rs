//! The physics of one tick (the Resolve phase): every island's frequency from Kundur's
//! single-area model, the under-frequency relays (load shedding at the buses, trips at the
//! units), the DC power flow on the cached factorization with each island balanced on its
//! own, line protection (an overload held too long, or a loading past the hard limit at
//! once, which re-solves the flow in the same tick) and the run's tallies: energy, cost,
//! unserved energy, cascades, blackouts.
//!
//! Balance: in each live island the mechanical power of its units and batteries minus the
//! demand served (with the load's frequency damping D·Δf) is the power the rotating masses
//! give or take (2H·dΔf/dt); it is shared among the units in proportion to H·S, so the DC
//! injections of every island sum to zero. An island without a unit with inertia is dark:
//! nothing is served there and its demand counts as unserved.

use bevy::prelude::*;
use serde_json::json;

use super::config::PowerConfig;
use super::frequency::{FreqUnit, IslandFrequency, UnitDynamics};
use super::state::{IslandView, LineStatus, PowerState};
use crate::sim::{EventLog, SimClock};
use crate::worlds::Params;

/// Converter time constants of a grid battery in the frequency model, s.
const BATTERY_TAU_S: f64 = 0.05;

/// Rounds of "trip what is past its hard limit, solve again" in one tick.
const MAX_TRIP_ROUNDS: usize = 50;

/// Within this much of nominal (Hz) shed load may come back.
const RESTORE_BAND_HZ: f64 = 0.1;

/// The Resolve system.
pub fn resolve(
    clock: Res<SimClock>,
    params: Res<Params<PowerConfig>>,
    mut state: ResMut<PowerState>,
    mut log: ResMut<EventLog>,
) {
    step(&mut state, &params.0, clock.tick, clock.dt, &mut log);
}

/// One tick of physics at tick `now` of `dt` seconds.
pub fn step(s: &mut PowerState, cfg: &PowerConfig, now: u64, dt: f64, log: &mut EventLog) {
    for b in &mut s.buses {
        b.demand_mw = b.base_mw * (1.0 + b.step_share) + b.step_mw + b.prosumer_mw + b.ev_mw;
    }
    if !s.initialized {
        balance_at_start(s);
        s.initialized = true;
    }
    let was_energized: Vec<bool> = s.buses.iter().map(|b| b.energized).collect();
    frequency(s, cfg, dt, log, now);
    relays(s, cfg, dt, now, log);
    flow_and_protection(s, cfg, dt, now, log);
    s.refresh_bus_loading();
    tallies(s, cfg, dt, now, &was_energized, log);
}

/// The first tick: each island's reference unit (else its largest) takes up the difference
/// between the dispatch and the demand, as MATPOWER's DC power flow does, and every unit
/// starts in steady state at its output.
fn balance_at_start(s: &mut PowerState) {
    let PowerState { net, units, buses, model, storage, .. } = s;
    for isl in net.islands() {
        let demand: f64 = isl.buses.iter().map(|&b| buses[b].demand_mw).sum();
        let in_isl: Vec<usize> = isl
            .gens
            .iter()
            .filter_map(|&row| model.unit_of_row.get(row).copied())
            .filter(|&u| u != usize::MAX)
            .collect();
        let storage_mw: f64 =
            storage.iter().filter(|st| net.island_of(st.bus) == net.island_of(isl.buses[0])).map(|st| st.pm_mw).sum();
        let Some(slack) = isl
            .reference
            .and_then(|r| in_isl.iter().copied().find(|&u| units[u].bus == r))
            .or_else(|| in_isl.iter().copied().max_by(|&a, &b| units[a].pmax_mw.total_cmp(&units[b].pmax_mw)))
        else {
            continue;
        };
        let others: f64 = in_isl.iter().filter(|&&u| u != slack).map(|&u| units[u].setpoint_mw).sum();
        let p = demand - others - storage_mw;
        let u = &mut units[slack];
        u.setpoint_mw = p.clamp(u.pmin_mw, u.pmax_mw);
        // What the reference unit cannot take up within its limits the others share, each
        // within its own (in row order).
        let mut left = p - u.setpoint_mw;
        for &o in in_isl.iter().filter(|&&o| o != slack) {
            if left == 0.0 {
                break;
            }
            let x = &mut units[o];
            let q = (x.setpoint_mw + left).clamp(x.pmin_mw, x.pmax_mw);
            left -= q - x.setpoint_mw;
            x.setpoint_mw = q;
        }
    }
    for u in units.iter_mut() {
        u.valve_mw = u.setpoint_mw.clamp(u.pmin_mw, u.pmax_mw);
        u.pm_mw = u.valve_mw;
        u.pe_mw = u.pm_mw;
    }
}

/// Inertia-weighted frequency deviation of an island's units (their buses' last values).
fn island_df(s: &PowerState, units: &[usize]) -> f64 {
    let (mut num, mut den) = (0.0, 0.0);
    for &u in units {
        let w = s.units[u].h_s * s.units[u].rating_mw;
        num += w * s.buses[s.units[u].bus].df_pu;
        den += w;
    }
    if den > 0.0 { num / den } else { 0.0 }
}

/// The online units of island `k`.
fn island_units(s: &PowerState, k: usize) -> Vec<usize> {
    s.net.islands()[k]
        .gens
        .iter()
        .filter_map(|&row| s.model.unit_of_row.get(row).copied())
        .filter(|&u| u != usize::MAX && s.units[u].online())
        .collect()
}

/// Steps every island's frequency by `dt`.
fn frequency(s: &mut PowerState, cfg: &PowerConfig, dt: f64, log: &mut EventLog, now: u64) {
    let f = &cfg.frequency;
    let n_isl = s.net.islands().len();
    for k in 0..n_isl {
        let units = island_units(s, k);
        let stor: Vec<usize> = (0..s.storage.len()).filter(|&i| s.net.island_of(s.storage[i].bus) == Some(k)).collect();
        let inertia: f64 = units.iter().map(|&u| s.units[u].h_s * s.units[u].rating_mw).sum();
        let buses = s.net.islands()[k].buses.clone();
        if inertia <= 0.0 {
            for &b in &buses {
                s.buses[b].df_pu = 0.0;
                s.buses[b].rocof = 0.0;
            }
            continue;
        }
        let base: f64 = units.iter().map(|&u| s.units[u].rating_mw).sum();
        let load: f64 = buses.iter().map(|&b| s.buses[b].demand_mw * (1.0 - s.buses[b].shed_share)).sum();
        let df0 = island_df(s, &units);
        let mut fu: Vec<FreqUnit> = units
            .iter()
            .map(|&u| {
                let x = &s.units[u];
                FreqUnit {
                    dynamics: UnitDynamics {
                        rating_mw: x.rating_mw,
                        h_s: x.h_s,
                        droop: x.droop,
                        tg_s: x.tg_s,
                        tt_s: x.tt_s,
                        ramp_mw_per_s: x.ramp_mw_per_s,
                    },
                    pmin_mw: x.pmin_mw,
                    pmax_mw: x.pmax_mw,
                    setpoint_mw: x.setpoint_mw,
                    agc_mw: 0.0,
                    valve_mw: x.valve_mw,
                    pm_mw: x.pm_mw,
                    in_service: true,
                }
            })
            .collect();
        for &i in &stor {
            let b = &s.storage[i];
            let (lo, hi) = b.limits();
            fu.push(FreqUnit {
                dynamics: UnitDynamics {
                    rating_mw: b.mw.max(1e-6),
                    h_s: 0.0,
                    droop: b.droop,
                    tg_s: BATTERY_TAU_S,
                    tt_s: BATTERY_TAU_S,
                    ramp_mw_per_s: None,
                },
                pmin_mw: lo,
                pmax_mw: hi,
                setpoint_mw: b.setpoint_mw.clamp(lo, hi),
                agc_mw: 0.0,
                valve_mw: b.valve_mw.clamp(lo, hi),
                pm_mw: b.pm_mw.clamp(lo, hi),
                in_service: true,
            });
        }
        // A step whose input is a fixed point it has already reached changes nothing: skip it
        // (exact — the same input gives the same output, bit for bit). An undisturbed grid
        // reaches one within a few seconds.
        let key = memo_key(dt, f.f0_hz, base, f.damping, load, df0, &units, &stor, &fu);
        if s.freq_memo.get(k).is_some_and(|m| m.fixed && m.key == key) {
            for &b in &buses {
                s.buses[b].df_pu = df0;
                s.buses[b].rocof = 0.0;
            }
            continue;
        }
        let stepped = IslandFrequency::new(f.f0_hz, base, f.damping, load, fu).and_then(|mut m| {
            m.set_deviation_pu(df0);
            m.step(dt).map(|_| m)
        });
        let m = match stepped {
            Ok(m) => m,
            Err(e) => {
                log.push(now, "model_error", None, [("island", json!(k)), ("error", json!(e.to_string()))]);
                continue;
            }
        };
        for (j, &u) in units.iter().enumerate() {
            s.units[u].valve_mw = m.units[j].valve_mw;
            s.units[u].pm_mw = m.units[j].pm_mw;
        }
        for (j, &i) in stor.iter().enumerate() {
            s.storage[i].valve_mw = m.units[units.len() + j].valve_mw;
            s.storage[i].pm_mw = m.units[units.len() + j].pm_mw;
        }
        let df = m.deviation_pu();
        let out = memo_key(dt, f.f0_hz, base, f.damping, load, df, &units, &stor, &m.units);
        if s.freq_memo.len() <= k {
            s.freq_memo.resize(k + 1, Default::default());
        }
        s.freq_memo[k] = FreqMemo { fixed: out == key, key: out };
        let rocof = (df - df0) * f.f0_hz / dt;
        for &b in &buses {
            s.buses[b].df_pu = df;
            s.buses[b].rocof = rocof;
        }
    }
}

/// One island's last frequency step: its whole input (with the state it left), and whether
/// that input was a fixed point of the step.
#[derive(Clone, Debug, Default)]
pub struct FreqMemo {
    key: Vec<f64>,
    fixed: bool,
}

/// Everything a frequency step reads, as numbers.
#[allow(clippy::too_many_arguments)]
fn memo_key(
    dt: f64,
    f0: f64,
    base: f64,
    damping: f64,
    load: f64,
    df: f64,
    units: &[usize],
    stor: &[usize],
    fu: &[FreqUnit],
) -> Vec<f64> {
    let mut k = Vec::with_capacity(8 + 12 * fu.len());
    k.extend([dt, f0, base, damping, load, df, units.len() as f64, stor.len() as f64]);
    k.extend(units.iter().chain(stor).map(|&u| u as f64));
    for u in fu {
        let d = &u.dynamics;
        k.extend([
            d.rating_mw,
            d.h_s,
            d.droop.unwrap_or(-1.0),
            d.tg_s,
            d.tt_s,
            d.ramp_mw_per_s.unwrap_or(-1.0),
            u.pmin_mw,
            u.pmax_mw,
            u.setpoint_mw,
            u.valve_mw,
            u.pm_mw,
        ]);
    }
    k
}

/// Under-frequency relays: load shedding stage by stage at every bus, unit trips, and the
/// return of shed load once the frequency has recovered.
fn relays(s: &mut PowerState, cfg: &PowerConfig, dt: f64, now: u64, log: &mut EventLog) {
    let f0 = cfg.frequency.f0_hz;
    let gap = gap_ticks(cfg, dt);
    let n_isl = s.net.islands().len();
    for k in 0..n_isl {
        let units = island_units(s, k);
        let inertia: f64 = units.iter().map(|&u| s.units[u].h_s * s.units[u].rating_mw).sum();
        if inertia <= 0.0 {
            continue;
        }
        let buses = s.net.islands()[k].buses.clone();
        let freq = f0 * (1.0 + s.buses[buses[0]].df_pu);
        // (stage, buses, MW) shed this tick.
        let mut fired: Vec<(usize, u64, f64)> = Vec::new();
        for &b in &buses {
            let bus = &mut s.buses[b];
            let Some(relay) = bus.ufls.as_mut() else { continue };
            let before = relay.fired();
            let share = relay.step(freq, dt);
            if share > 0.0 {
                bus.shed_share = relay.shed_share().min(1.0);
                bus.restore_s = 0.0;
                for st in before..relay.fired() {
                    match fired.iter_mut().find(|f| f.0 == st) {
                        Some(f) => {
                            f.1 += 1;
                            f.2 += bus.demand_mw.max(0.0)
                                * (relay.stages()[st].cumulative_share
                                    - if st == 0 { 0.0 } else { relay.stages()[st - 1].cumulative_share });
                        }
                        None => fired.push((
                            st,
                            1,
                            bus.demand_mw.max(0.0)
                                * (relay.stages()[st].cumulative_share
                                    - if st == 0 { 0.0 } else { relay.stages()[st - 1].cumulative_share }),
                        )),
                    }
                }
            }
        }
        fired.sort_by_key(|f| f.0);
        for (st, n, mw) in fired {
            if let Some(c) = s.ufls_by_stage.get_mut(st) {
                *c += n;
            }
            s.counts.ufls_operations += n;
            let threshold = s.buses[buses[0]].ufls.as_ref().map_or(0.0, |r| r.stages()[st].threshold_hz);
            log.push(
                now,
                "ufls",
                None,
                [
                    ("stage", json!(st + 1)),
                    ("threshold_hz", json!(threshold)),
                    ("freq_hz", json!(freq)),
                    ("buses", json!(n)),
                    ("shed_mw", json!(mw)),
                    ("island", json!(k)),
                ],
            );
        }
        // Restoration, one stage at a time.
        if let Some(after) = cfg.ufls.restore_after_s
            && (freq - f0).abs() < RESTORE_BAND_HZ
        {
            let mut restored = 0u64;
            for &b in &buses {
                let bus = &mut s.buses[b];
                let Some(relay) = bus.ufls.as_mut() else { continue };
                if relay.fired() == 0 {
                    continue;
                }
                bus.restore_s += dt;
                if bus.restore_s + 1e-9 >= after {
                    relay.restore_one();
                    bus.shed_share = relay.shed_share();
                    bus.restore_s = 0.0;
                    restored += 1;
                }
            }
            if restored > 0 {
                log.push(now, "ufls_restore", None, [("buses", json!(restored)), ("island", json!(k))]);
            }
        }
        // Units' under-frequency protection.
        for &u in &units {
            let unit = &mut s.units[u];
            let Some(relay) = unit.uf.as_mut() else { continue };
            if relay.step(freq, dt) {
                unit.uf_tripped = true;
                unit.pm_mw = 0.0;
                unit.valve_mw = 0.0;
                unit.pe_mw = 0.0;
                let row = unit.row;
                let _ = s.net.set_gen_in_service(row, false);
                s.counts.gen_trips += 1;
                let c = s.cascade_for(now, gap, "under_frequency");
                s.cascades[c].gens.push(row);
                log.push(
                    now,
                    "gen_trip",
                    Some(s.units[u].agent.0),
                    [
                        ("generator", json!(row)),
                        ("cause", json!("under_frequency")),
                        ("freq_hz", json!(freq)),
                        ("cascade", json!(s.cascades[c].id)),
                    ],
                );
            }
        }
    }
}

/// Ticks between trips of one cascade.
pub fn gap_ticks(cfg: &PowerConfig, dt: f64) -> u64 {
    (cfg.protection.cascade_gap_s / dt).ceil().max(1.0) as u64
}

/// Opens line `k` for `status`, logging a protection trip; returns whether it was closed.
#[allow(clippy::too_many_arguments)]
pub fn open_line(
    s: &mut PowerState,
    cfg: &PowerConfig,
    k: usize,
    status: LineStatus,
    cause: &'static str,
    now: u64,
    dt: f64,
    log: &mut EventLog,
) -> bool {
    if s.lines[k].status != LineStatus::InService {
        if status == LineStatus::SwitchedOut {
            s.lines[k].status = status;
        }
        return false;
    }
    let loading = s.lines[k].loading;
    let _ = s.net.set_branch_in_service(k, false);
    let l = &mut s.lines[k];
    l.status = status;
    l.open_since = now;
    l.over_s = 0.0;
    l.flow_mw = 0.0;
    l.loading = 0.0;
    if status == LineStatus::Tripped {
        l.trips += 1;
        s.counts.line_trips += 1;
    }
    let c = s.cascade_for(now, gap_ticks(cfg, dt), cause);
    s.cascades[c].lines.push(k);
    let (fb, tb) = s.model.line_buses(k);
    log.push(
        now,
        "line_trip",
        None,
        [
            ("line", json!(k)),
            ("from_bus", json!(fb)),
            ("to_bus", json!(tb)),
            ("loading", json!(loading)),
            ("cause", json!(cause)),
            ("cascade", json!(s.cascades[c].id)),
        ],
    );
    s.refresh_bus_loading();
    true
}

/// Closes line `k` (from any open status but the file's own, unless `force`); returns whether
/// it was open.
pub fn close_line(s: &mut PowerState, k: usize, cause: &'static str, now: u64, log: &mut EventLog) -> bool {
    if s.lines[k].status == LineStatus::InService {
        return false;
    }
    if s.net.set_branch_in_service(k, true).is_err() {
        return false;
    }
    let l = &mut s.lines[k];
    l.status = LineStatus::InService;
    l.over_s = 0.0;
    let (fb, tb) = s.model.line_buses(k);
    log.push(
        now,
        "line_restore",
        None,
        [("line", json!(k)), ("from_bus", json!(fb)), ("to_bus", json!(tb)), ("cause", json!(cause))],
    );
    s.refresh_bus_loading();
    true
}

/// Whether island `k` has a unit with inertia.
fn live(s: &PowerState, k: usize) -> bool {
    island_units(s, k).iter().any(|&u| s.units[u].h_s * s.units[u].rating_mw > 0.0)
}

/// Served demand, balance and DC flow of the current topology; returns false if the solve failed.
fn solve(s: &mut PowerState, cfg: &PowerConfig, now: u64, log: &mut EventLog) -> bool {
    let n_isl = s.net.islands().len();
    let d = cfg.frequency.damping;
    let mut views = Vec::with_capacity(n_isl);
    s.inj.iter_mut().for_each(|x| *x = 0.0);
    for b in &mut s.buses {
        b.gen_mw = 0.0;
    }
    for u in &mut s.units {
        if !u.online() {
            u.pe_mw = 0.0;
        }
    }
    let f0 = cfg.frequency.f0_hz;
    for k in 0..n_isl {
        let buses = s.net.islands()[k].buses.clone();
        let units = island_units(s, k);
        let stor: Vec<usize> = (0..s.storage.len()).filter(|&i| s.net.island_of(s.storage[i].bus) == Some(k)).collect();
        let is_live = live(s, k);
        if !is_live {
            for &b in &buses {
                let bus = &mut s.buses[b];
                bus.energized = false;
                bus.served_mw = 0.0;
            }
            for &u in &units {
                s.units[u].pe_mw = 0.0;
            }
            for &i in &stor {
                s.storage[i].pm_mw = 0.0;
                s.storage[i].valve_mw = 0.0;
            }
            views.push(IslandView {
                live: false,
                freq_hz: 0.0,
                rocof: 0.0,
                gen_mw: 0.0,
                load_mw: 0.0,
                buses: buses.len(),
            });
            continue;
        }
        let df = s.buses[buses[0]].df_pu;
        let base: f64 = units.iter().map(|&u| s.units[u].rating_mw).sum();
        let mut load = 0.0;
        let mut positive = 0.0;
        for &b in &buses {
            let bus = &mut s.buses[b];
            bus.energized = true;
            bus.served_mw = bus.demand_mw * (1.0 - bus.shed_share);
            load += bus.served_mw;
            positive += bus.served_mw.max(0.0);
        }
        // The load's frequency damping, spread over the buses that draw power.
        let damping = d * base * df;
        if damping != 0.0 {
            for &b in &buses {
                let bus = &mut s.buses[b];
                let w = if positive > 0.0 { bus.served_mw.max(0.0) / positive } else { 1.0 / buses.len() as f64 };
                bus.served_mw += damping * w;
            }
            load += damping;
        }
        let mech: f64 = units.iter().map(|&u| s.units[u].pm_mw).sum::<f64>()
            + stor.iter().map(|&i| s.storage[i].pm_mw).sum::<f64>();
        let inertial = mech - load;
        let hs: f64 = units.iter().map(|&u| s.units[u].h_s * s.units[u].rating_mw).sum();
        let mut generation = 0.0;
        for &u in &units {
            let x = &mut s.units[u];
            x.pe_mw = x.pm_mw - inertial * x.h_s * x.rating_mw / hs;
            generation += x.pe_mw;
            s.buses[x.bus].gen_mw += x.pe_mw;
        }
        for &i in &stor {
            let b = &s.storage[i];
            generation += b.pm_mw;
            s.buses[b.bus].gen_mw += b.pm_mw;
        }
        views.push(IslandView {
            live: true,
            freq_hz: f0 * (1.0 + df),
            rocof: s.buses[buses[0]].rocof,
            gen_mw: generation,
            load_mw: load,
            buses: buses.len(),
        });
    }
    for (i, b) in s.buses.iter().enumerate() {
        s.inj[i] = b.gen_mw - b.served_mw;
    }
    s.islands = views;
    let before = s.net.factorizations();
    let ok = match s.net.solve_into(&s.inj, &mut s.theta) {
        Ok(()) => {
            s.net.flows_into(&s.theta, &mut s.flows);
            true
        }
        Err(e) => {
            log.push(now, "dcflow_error", None, [("error", json!(e.to_string()))]);
            false
        }
    };
    s.solves += 1;
    s.factorizations += s.net.factorizations() - before;
    if ok {
        for (i, b) in s.buses.iter_mut().enumerate() {
            b.angle_rad = s.theta[i];
        }
        for (k, l) in s.lines.iter_mut().enumerate() {
            l.flow_mw = s.flows[k];
            l.loading = match l.rating_mw {
                Some(r) if l.status == LineStatus::InService && r > 0.0 => l.flow_mw.abs() / r,
                Some(_) if l.status == LineStatus::InService && l.flow_mw != 0.0 => f64::INFINITY,
                _ => 0.0,
            };
        }
    }
    ok
}

/// The DC flow and line protection, re-solved after every round of trips.
fn flow_and_protection(s: &mut PowerState, cfg: &PowerConfig, dt: f64, now: u64, log: &mut EventLog) {
    let p = &cfg.protection;
    for round in 0..MAX_TRIP_ROUNDS {
        if !solve(s, cfg, now, log) || !p.enabled {
            return;
        }
        let mut trips: Vec<(usize, &'static str)> = Vec::new();
        for (k, l) in s.lines.iter_mut().enumerate() {
            if l.status != LineStatus::InService || l.rating_mw.is_none() {
                continue;
            }
            if l.loading > p.hard_limit {
                trips.push((k, "hard_limit"));
                continue;
            }
            if round > 0 {
                continue;
            }
            if l.loading > 1.0 {
                l.over_s += dt;
                l.overloaded_s += dt;
                if l.over_s + 1e-9 >= p.overload_s {
                    trips.push((k, "overload"));
                }
            } else {
                l.over_s = 0.0;
            }
        }
        if trips.is_empty() {
            return;
        }
        for (k, cause) in trips {
            open_line(s, cfg, k, LineStatus::Tripped, cause, now, dt, log);
        }
    }
}

/// Energy, cost, unserved energy, extremes, cascades, blackouts and automatic reclosing.
fn tallies(s: &mut PowerState, cfg: &PowerConfig, dt: f64, now: u64, was: &[bool], log: &mut EventLog) {
    let h = dt / 3600.0;
    for u in &mut s.units {
        u.energy_mwh += u.pe_mw * h;
        if let Some(c) = u.cost
            && u.online()
        {
            u.cost_total += c.eval(u.pe_mw) * h;
        }
    }
    for b in &mut s.storage {
        let p = b.pm_mw;
        let e = if p > 0.0 { p / b.efficiency.max(1e-6) } else { p * b.efficiency };
        b.soc_mwh = (b.soc_mwh - e * h).clamp(0.0, b.mwh);
    }
    let mut shed = 0.0;
    for b in &s.buses {
        let want = b.demand_mw.max(0.0);
        shed += if b.energized { want * b.shed_share } else { want };
    }
    s.shed_mw = shed;
    s.unserved_mwh += shed * h;
    for l in &mut s.lines {
        l.max_loading = l.max_loading.max(if l.loading.is_finite() { l.loading } else { 0.0 });
        l.abs_flow_sum += l.flow_mw.abs();
    }
    for i in s.islands.iter().filter(|i| i.live) {
        s.nadir_hz = s.nadir_hz.min(i.freq_hz);
        s.zenith_hz = s.zenith_hz.max(i.freq_hz);
        if i.rocof.abs() > s.max_rocof.abs() {
            s.max_rocof = i.rocof;
        }
    }
    s.max_islands = s.max_islands.max(s.islands.len());
    if let Some(k) = s.open_cascade(now, gap_ticks(cfg, dt)) {
        let c = &mut s.cascades[k];
        c.peak_shed_mw = c.peak_shed_mw.max(shed);
    }
    // Buses that went dark or came back this tick.
    let (mut dark, mut dark_mw, mut back) = (0u64, 0.0, 0u64);
    for (b, &w) in s.buses.iter().zip(was) {
        if w && !b.energized {
            dark += 1;
            dark_mw += b.demand_mw.max(0.0);
        } else if !w && b.energized {
            back += 1;
        }
    }
    if dark > 0 {
        log.push(now, "blackout", None, [("buses", json!(dark)), ("unserved_mw", json!(dark_mw))]);
    }
    if back > 0 {
        log.push(now, "reenergized", None, [("buses", json!(back))]);
    }
    // Automatic reclosing.
    if let Some(after) = cfg.protection.reclose_after_s {
        let wait = (after / dt).ceil().max(1.0) as u64;
        let due: Vec<usize> = (0..s.lines.len())
            .filter(|&k| s.lines[k].status == LineStatus::Tripped && now >= s.lines[k].open_since + wait)
            .collect();
        for k in due {
            close_line(s, k, "reclose", now, log);
        }
    }
}
