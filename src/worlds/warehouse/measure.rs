//! The warehouse's metrics (tasks, throughput, robots by state, chargers, strandings, the
//! invariant's conflicts, deadlocks, replans, energy, fairness), the per-tick counters the
//! other systems add to, the deadlock monitor's memory, the task-conservation recount, each
//! robot's state for agents.csv, and the world's part of summary.json. Planning wall time is
//! not a metric: it goes to summary.json's `timing` (see `fleet`).

use std::collections::BTreeMap;

use bevy::prelude::*;
use serde_json::{Value, json};

use super::floor::Floor;
use super::map::Cell;
use super::robots::{Link, Robot, RobotOrder, RobotPhase};
use super::tasks::{Chargers, Ledger, TaskState};
use super::{WarehouseParams, allocation, planning};
use crate::sim::{Channel, CoordinationRes, Crashed, EventLog, MetricSpec, Metrics, SimClock, TraceState};

/// Metric columns of the warehouse, in order.
pub const COLUMNS: [MetricSpec; 24] = [
    MetricSpec::gauge("tasks_created", "tasks"),
    MetricSpec::gauge("tasks_completed", "tasks"),
    MetricSpec::gauge("tasks_waiting", "tasks"),
    MetricSpec::gauge("tasks_assigned", "tasks"),
    MetricSpec::gauge("throughput_per_h", "tasks/h"),
    MetricSpec::gauge("mean_task_time_s", "s"),
    MetricSpec::gauge("robots_idle", "robots"),
    MetricSpec::gauge("robots_moving", "robots"),
    MetricSpec::gauge("robots_charging", "robots"),
    MetricSpec::gauge("robots_down", "robots"),
    MetricSpec::gauge("robots_fallback", "robots"),
    MetricSpec::gauge("charger_queue", "robots"),
    MetricSpec::gauge("mean_charger_wait_s", "s"),
    MetricSpec::gauge("stranded", "robots"),
    MetricSpec::count("conflicts", "conflicts"),
    MetricSpec::count("interlock_stops", "moves"),
    MetricSpec::count("deadlocks", "deadlocks"),
    MetricSpec::count("replans", "replans"),
    MetricSpec::count("stale_reservations", "reservations"),
    MetricSpec::count("claim_conflicts", "claims"),
    MetricSpec::gauge("duplicate_picks", "tasks"),
    MetricSpec::gauge("energy_kwh", "kWh"),
    MetricSpec::gauge("mean_battery", "fraction"),
    MetricSpec::gauge("workload_fairness_jain", "index"),
];

/// Per-tick counts.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Counts {
    /// Vertex and edge conflicts and illegal moves in the executed step (the invariant).
    pub conflicts: u64,
    /// Moves the onboard interlock cancelled.
    pub interlock_stops: u64,
    /// Wait-for cycles that lasted `failsafe.deadlock_ticks`.
    pub deadlocks: u64,
    /// Central windows replanned, robots pushed off their way, back-offs.
    pub replans: u64,
    /// Reservations that arrived too late or did not start where the robot was.
    pub stale_reservations: u64,
    /// Conflicting claims resolved (two robots held one task).
    pub claim_conflicts: u64,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.conflicts += o.conflicts;
        self.interlock_stops += o.interlock_stops;
        self.deadlocks += o.deadlocks;
        self.replans += o.replans;
        self.stale_reservations += o.stale_reservations;
        self.claim_conflicts += o.claim_conflicts;
    }
}

/// This tick's counts and the run's totals.
#[derive(Resource, Debug, Default, Clone)]
pub struct RunTotals {
    pub tick: Counts,
    pub total: Counts,
    /// Ticks at which the task-conservation recount disagreed.
    pub conservation_errors: u64,
}

/// The deadlock monitor's memory: wait-for cycles in force, since when, whether reported.
#[derive(Resource, Debug, Default, Clone)]
pub struct Deadlocks {
    active: BTreeMap<Vec<u32>, (u64, bool)>,
    /// This tick's cycles (robot ids), with whether each has lasted long enough to count.
    pub current: Vec<(Vec<u32>, bool)>,
}

impl Deadlocks {
    /// Takes this tick's wait-for cycles (robot ids, ascending); returns the indices of those
    /// that have now lasted `need` ticks (each cycle is reported once while it lasts).
    pub fn observe(&mut self, cycles: &[Vec<u32>], now: u64, need: u64) -> Vec<usize> {
        let mut next = BTreeMap::new();
        let mut fresh = Vec::new();
        self.current.clear();
        for (k, cy) in cycles.iter().enumerate() {
            let (first, mut reported) = self.active.get(cy).copied().unwrap_or((now, false));
            if !reported && now + 1 >= first + need.max(1) {
                reported = true;
                fresh.push(k);
            }
            next.insert(cy.clone(), (first, reported));
            self.current.push((cy.clone(), reported));
        }
        self.active = next;
        fresh
    }
}

/// Jain's fairness index of the tasks each robot completed: (Σx)² / (n·Σx²); 1 when all did
/// the same (nothing included).
pub fn jain(x: &[f64]) -> f64 {
    let s: f64 = x.iter().sum();
    let s2: f64 = x.iter().map(|v| v * v).sum();
    if x.is_empty() || s2 == 0.0 { 1.0 } else { s * s / (x.len() as f64 * s2) }
}

/// Recounts the ledger from its tasks and from the robots: created = done + assigned +
/// waiting, each assigned task held by as many robots heading for its pick as the ledger
/// says, each carried task on exactly one robot carrying it, no waiting task in a robot's
/// hands. `Err` says what disagrees.
pub fn conservation(ledger: &Ledger, robots: &[(u32, RobotPhase, u32)]) -> Result<(), String> {
    let (mut waiting, mut assigned, mut done) = (0u64, 0u64, 0u64);
    for t in &ledger.tasks {
        match t.state {
            TaskState::Waiting => waiting += 1,
            TaskState::Assigned | TaskState::Picked => assigned += 1,
            TaskState::Done => done += 1,
        }
    }
    let created = ledger.created();
    if created != done + assigned + waiting {
        return Err(format!("created {created} ≠ done {done} + assigned {assigned} + waiting {waiting}"));
    }
    if (waiting, assigned, done) != (ledger.waiting.len() as u64, ledger.assigned, ledger.done) {
        return Err(format!(
            "counters (waiting {}, assigned {}, done {}) ≠ recount ({waiting}, {assigned}, {done})",
            ledger.waiting.len(),
            ledger.assigned,
            ledger.done
        ));
    }
    let mut heading: BTreeMap<u32, u16> = BTreeMap::new();
    let mut carrying: BTreeMap<u32, u32> = BTreeMap::new();
    for &(_, phase, task) in robots {
        match phase {
            RobotPhase::ToPick if task != u32::MAX => *heading.entry(task).or_default() += 1,
            RobotPhase::Carrying if task != u32::MAX => *carrying.entry(task).or_default() += 1,
            _ => {}
        }
    }
    for (id, t) in ledger.tasks.iter().enumerate() {
        let id = id as u32;
        let h = heading.get(&id).copied().unwrap_or(0);
        let c = carrying.get(&id).copied().unwrap_or(0);
        let ok = match t.state {
            TaskState::Waiting => h == 0 && c == 0,
            TaskState::Assigned => h == t.holders && c == 0,
            TaskState::Picked => c == 1,
            TaskState::Done => c == 0,
        };
        if !ok {
            return Err(format!(
                "task {id} is {:?} with {} holders, {h} robots heading for it, {c} carrying",
                t.state, t.holders
            ));
        }
    }
    Ok(())
}

/// The Measure system: metrics, each robot's trace state, the conservation check.
#[allow(clippy::too_many_arguments)]
pub(super) fn measure(
    clock: Res<SimClock>,
    params: Res<WarehouseParams>,
    order: Res<RobotOrder>,
    chargers: Res<Chargers>,
    mut ledger: ResMut<Ledger>,
    mut totals: ResMut<RunTotals>,
    mut metrics: ResMut<Metrics>,
    mut log: ResMut<EventLog>,
    mut q: Query<(&Robot, &Link, &mut TraceState, Has<Crashed>)>,
) {
    let now = clock.tick;
    let cap = params.0.battery.capacity_kwh.max(1e-12);
    let (mut idle, mut moving, mut charging, mut down, mut fallback, mut stranded) = (0, 0, 0, 0, 0, 0);
    let (mut energy, mut battery) = (0.0, 0.0);
    let mut done = Vec::with_capacity(order.0.len());
    let check = now.is_multiple_of(100);
    let mut holdings = Vec::new();
    for &(id, e) in &order.0 {
        let Ok((r, link, mut ts, crashed)) = q.get_mut(e) else { continue };
        let name = if crashed { "crashed" } else { r.state_name() };
        if ts.0 != name {
            ts.0 = name;
        }
        let is_down = crashed || r.down;
        down += u32::from(is_down);
        stranded += u32::from(r.stranded);
        idle += u32::from(!is_down && r.phase == RobotPhase::Idle);
        moving += u32::from(r.moved);
        charging += u32::from(r.phase == RobotPhase::Charging);
        fallback += u32::from(link.fallback && !is_down);
        energy += r.energy_kwh;
        battery += r.battery_kwh / cap;
        done.push(f64::from(r.tasks_done));
        if check {
            holdings.push((id, r.phase, r.task));
        }
    }
    let n = order.0.len().max(1) as f64;
    if check && let Err(e) = conservation(&ledger, &holdings) {
        totals.conservation_errors += 1;
        log.push(now, "conservation_violation", None, [("detail", json!(e))]);
    }
    let window = ((3600.0 / clock.dt).round() as u64).clamp(1, now + 1);
    while ledger.recent.front().is_some_and(|&t| t + window <= now) {
        ledger.recent.pop_front();
    }
    let hours = window as f64 * clock.dt / 3600.0;
    let l = &*ledger;
    let c = totals.tick;
    let mean_task = if l.done == 0 { 0.0 } else { l.time_sum as f64 / l.done as f64 * clock.dt };
    let wait = if chargers.waits == 0 { 0.0 } else { chargers.wait_sum as f64 / chargers.waits as f64 * clock.dt };
    let m = &mut *metrics;
    m.set("tasks_created", l.created() as f64);
    m.set("tasks_completed", l.done as f64);
    m.set("tasks_waiting", l.waiting.len() as f64);
    m.set("tasks_assigned", l.assigned as f64);
    m.set("throughput_per_h", l.recent.len() as f64 / hours);
    m.set("mean_task_time_s", mean_task);
    m.set("robots_idle", f64::from(idle));
    m.set("robots_moving", f64::from(moving));
    m.set("robots_charging", f64::from(charging));
    m.set("robots_down", f64::from(down));
    m.set("robots_fallback", f64::from(fallback));
    m.set("charger_queue", chargers.queued() as f64);
    m.set("mean_charger_wait_s", wait);
    m.set("stranded", f64::from(stranded));
    m.set("conflicts", c.conflicts as f64);
    m.set("interlock_stops", c.interlock_stops as f64);
    m.set("deadlocks", c.deadlocks as f64);
    m.set("replans", c.replans as f64);
    m.set("stale_reservations", c.stale_reservations as f64);
    m.set("claim_conflicts", c.claim_conflicts as f64);
    m.set("duplicate_picks", l.duplicate_picks as f64);
    m.set("energy_kwh", energy);
    m.set("mean_battery", if order.0.is_empty() { 0.0 } else { battery / n });
    m.set("workload_fairness_jain", jain(&done));
    let t = totals.tick;
    totals.total.add(&t);
    totals.tick = Counts::default();
}

/// The warehouse's part of summary.json.
pub(super) fn summary(world: &World) -> Value {
    let Some(floor) = world.get_resource::<Floor>() else { return Value::Null };
    let cfg = &world.resource::<WarehouseParams>().0;
    let coord = world.get_resource::<CoordinationRes>().map(|c| c.0).unwrap_or_default();
    let ledger = world.resource::<Ledger>();
    let totals = world.resource::<RunTotals>();
    let clock = world.resource::<SimClock>();
    let chargers = world.resource::<Chargers>();
    let order = world.resource::<RobotOrder>();
    let mut holdings = Vec::new();
    let mut stranded = 0;
    let mut robots = Vec::new();
    for &(id, e) in &order.0 {
        if let Some(r) = world.get::<Robot>(e) {
            holdings.push((id, r.phase, r.task));
            stranded += u32::from(r.stranded);
            robots.push(f64::from(r.tasks_done));
        }
    }
    let conservation = conservation(ledger, &holdings);
    let st = floor.base.stations();
    let charger_list: Vec<Value> = chargers
        .list
        .iter()
        .enumerate()
        .map(|(k, c)| {
            let bays: Vec<[u32; 2]> = c.bays.iter().map(|&b| rc(floor, b)).collect();
            json!({"charger": k, "bays": bays, "online": c.online})
        })
        .collect();
    let sent = world.get_resource::<Channel>().map_or(0, |c| c.totals.sent);
    let hours = clock.tick as f64 * clock.dt / 3600.0;
    let fm = super::fleet::leading_fleet(world).map_or(0, |f| f.planned);
    let t = totals.total;
    json!({
        "map_rows": floor.rows(),
        "map_cols": floor.cols(),
        "free_cells": floor.base.free_cell_count(),
        "cell_m": floor.cell_m,
        "pick_stations": st.pick.len(),
        "drop_stations": st.drop.len(),
        "parking": st.parking.len(),
        "errands": !floor.stations,
        "chargers": charger_list,
        "blocked_now": floor.blocked.iter().map(|&c| rc(floor, c)).collect::<Vec<_>>(),
        "zones": [floor.zones.0, floor.zones.1],
        "robots": order.0.len(),
        "allocation": format!("{:?}", allocation(cfg, coord)),
        "planning": format!("{:?}", planning(cfg, coord)),
        "planner": format!("{:?}", cfg.planner.kind),
        "planned_last_tick": fm,
        "tasks": {
            "created": ledger.created(),
            "completed": ledger.done,
            "assigned": ledger.assigned,
            "waiting": ledger.waiting.len(),
            "conservation": match &conservation { Ok(()) => json!("ok"), Err(e) => json!(e) },
            "conservation_errors": totals.conservation_errors,
            "duplicate_picks": ledger.duplicate_picks,
            "mean_task_time_s": if ledger.done == 0 { 0.0 } else { ledger.time_sum as f64 / ledger.done as f64 * clock.dt },
            "throughput_per_h": if hours > 0.0 { ledger.done as f64 / hours } else { 0.0 },
            "messages_per_task": if ledger.done == 0 { Value::Null } else { json!(sent as f64 / ledger.done as f64) },
        },
        "totals": {
            "conflicts": t.conflicts,
            "interlock_stops": t.interlock_stops,
            "deadlocks": t.deadlocks,
            "replans": t.replans,
            "stale_reservations": t.stale_reservations,
            "claim_conflicts": t.claim_conflicts,
        },
        "stranded": stranded,
        "workload_fairness_jain": jain(&robots),
        "charger_waits": chargers.waits,
    })
}

fn rc(floor: &Floor, c: Cell) -> [u32; 2] {
    let (r, col) = floor.base.row_col(c).unwrap_or((0, 0));
    [r, col]
}
