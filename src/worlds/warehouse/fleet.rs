//! The managers: the fleet manager (order intake, central allocation by the Hungarian method
//! or greedily, announcements for the auction and nearest-task allocation, routing orders to
//! zones, and central path planning — PIBT one tick ahead or WHCA* windows — sent as
//! time-stamped reservations), and the zone managers of hierarchical allocation. Everything
//! they know of the robots comes from status reports through the channel; what they decide
//! reaches the robots the same way, late or not at all.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use bevy::ecs::system::SystemParam;
use bevy::prelude::*;

use super::config::PlannerKind;
use super::floor::Floor;
use super::map::Cell;
use super::planning::{
    MAX_WEIGHT, NONE, Objective, Pibt, PibtConfig, UNREACHABLE, assign_greedy, assign_hungarian, plan_window_fixed,
};
use super::robots::{CODE_BROKEN, MAX_PLAN};
use super::tasks::{Ledger, TaskState};
use super::{Allocation, Planning, ROBOT, WarehouseParams, msg};
use crate::sim::{
    Agent, AgentId, Channel, CoordinationRes, Coordinator, Crashed, Decision, Dest, Inbox, LeaderView, Outbox,
    SimClock, Timings,
};

/// Ticks travel in messages as `f32`, modulo 2²⁴ (exact); robots read them back as the tick
/// nearest to their own clock.
pub const TICK_MOD: u64 = 1 << 24;

/// A tick as a message number.
pub fn encode_tick(t: u64) -> f32 {
    (t % TICK_MOD) as f32
}

/// The tick nearest `now` that a message number stands for.
pub fn decode_tick(x: f32, now: u64) -> u64 {
    let enc = (x.max(0.0) as u64) % TICK_MOD;
    let d = (enc + TICK_MOD - now % TICK_MOD) % TICK_MOD;
    if d < TICK_MOD / 2 { now + d } else { now.saturating_sub(TICK_MOD - d) }
}

/// What the fleet manager believes about one robot.
#[derive(Clone, Debug, PartialEq)]
pub struct View {
    /// Cell, goal and task from its last report (`NONE`: none), and the report's code.
    pub cell: Cell,
    pub goal: Cell,
    pub task: u32,
    pub code: u32,
    /// Tick the last report was sent.
    pub tick: u64,
    /// Where the manager's reservations put it at the end of recent ticks: (tick, cell).
    pub expect: [(u64, Cell); 16],
}

impl View {
    fn new() -> Self {
        View { cell: NONE, goal: NONE, task: NONE, code: 0, tick: 0, expect: [(u64::MAX, NONE); 16] }
    }

    fn expected(&self, t: u64) -> Option<Cell> {
        let (k, c) = self.expect[(t % 16) as usize];
        (k == t).then_some(c)
    }

    fn set_expected(&mut self, t: u64, c: Cell) {
        self.expect[(t % 16) as usize] = (t, c);
    }

    /// Where it should be at the end of tick `t`: the reservation if any, else its report.
    fn predicted(&self, t: u64) -> Cell {
        self.expected(t).unwrap_or(self.cell)
    }

    /// State code (0 idle … 5 broken).
    pub fn state(&self) -> u32 {
        self.code % 16
    }

    /// Free for a task.
    pub fn available(&self) -> bool {
        self.code / 32 % 2 == 1
    }

    /// Waiting for the same robot for a while.
    pub fn stuck(&self) -> bool {
        self.code / 16 % 2 == 1
    }
}

/// The fleet manager's state.
#[derive(Component, Debug, Default)]
pub struct FleetState {
    /// By robot id.
    pub views: Vec<Option<View>>,
    /// First ledger task not yet taken in.
    pub next_task: u32,
    /// Announcements (auction, nearest-task): task → last announced.
    pub announced: BTreeMap<u32, u64>,
    /// Central allocation: task → (robot, tick) offered, robot → tick offered.
    pub offers: BTreeMap<u32, (u32, u64)>,
    pub robot_offer: BTreeMap<u32, u64>,
    /// Task → the robot known to hold it.
    pub owner: BTreeMap<u32, u32>,
    /// Hierarchical: task → (zone, tick) routed; zone → (idle, queued, tick) reported.
    pub routed: BTreeMap<u32, (u32, u64)>,
    pub zones: Vec<(u32, u32, u64)>,
    /// PIBT and the robot ids behind its indices.
    pub pibt: Pibt,
    pub pibt_ids: Vec<u32>,
    /// WHCA*: tick of the last window, the goals it was planned for, robots planned.
    pub last_replan: u64,
    pub last_goals: Vec<(u32, Cell)>,
    /// Robots planned at the last step.
    pub planned: u32,
    /// Wall time of the last planning step, ms (shown by the app; never read by the
    /// simulation).
    pub last_plan_ms: f64,
    /// Deviations reported since the last replan.
    deviated: bool,
}

impl FleetState {
    fn view(&mut self, id: u32) -> &mut View {
        let i = id as usize;
        if self.views.len() <= i {
            self.views.resize(i + 1, None);
        }
        self.views[i].get_or_insert_with(View::new)
    }
}

/// The fleet manager that leads now: the one replica (or the only manager) that is up and
/// not standing by; failing that, the first one there is.
pub fn leading_fleet(world: &World) -> Option<&FleetState> {
    let mut first = None;
    for e in world.iter_entities() {
        let Some(fs) = e.get::<FleetState>() else { continue };
        first = first.or(Some(fs));
        if !e.contains::<Crashed>() && e.get::<Coordinator>().is_none_or(|c| c.leads()) {
            return Some(fs);
        }
    }
    first
}

/// The fleet manager's plausibility check of a status report (see the warehouse's
/// `security` module): on the tick after its previous report a robot is where it was or
/// in the cell reserved for it.
pub(super) fn status_plausible(fs: &FleetState, m: &crate::sim::Message) -> Result<(), &'static str> {
    let Some(v) = fs.views.get(m.from.0 as usize).and_then(|v| v.as_ref()) else { return Ok(()) };
    if v.cell == NONE || v.tick + 1 != m.sent {
        return Ok(());
    }
    let Some(reserved) = v.expected(m.sent) else { return Ok(()) };
    let cell = m.payload[0] as Cell;
    if cell == v.cell || cell == reserved { Ok(()) } else { Err("off_reservation") }
}

/// What the managers read.
#[derive(SystemParam)]
pub(super) struct ManagerCtx<'w> {
    clock: Res<'w, SimClock>,
    params: Res<'w, WarehouseParams>,
    coord: Res<'w, CoordinationRes>,
    channel: Res<'w, Channel>,
    floor: ResMut<'w, Floor>,
    ledger: Res<'w, Ledger>,
    timings: ResMut<'w, Timings>,
    totals: ResMut<'w, super::measure::RunTotals>,
}

fn cellf(c: Cell) -> f32 {
    if c == NONE { -1.0 } else { c as f32 }
}

fn read_cell(x: f32, cells: usize) -> Cell {
    if x >= 0.0 && (x as usize) < cells { x as Cell } else { NONE }
}

/// The fleet manager's Decide: reports in, orders in, allocation, planning.
#[allow(clippy::type_complexity)]
pub(super) fn fleet_manager(
    mut c: ManagerCtx,
    mut q: Query<(&Agent, &mut FleetState, &Inbox, &mut Outbox, &mut Decision, Option<&Coordinator>), Without<Crashed>>,
) {
    let now = c.clock.tick;
    let mut replicas: Vec<_> = q.iter_mut().collect();
    replicas.sort_by_key(|m| m.0.id);
    for (agent, mut fs, inbox, mut out, mut d, replica) in replicas {
        if let Some(r) = replica {
            if !r.leads() {
                // A standby replica: it keeps nothing but its election going.
                *d = Decision { tick: now, action: "standby", reason: "follower", value: r.replica.term as f32 };
                continue;
            }
            if r.took_over(now) {
                // A new leader starts from the order book (the shared WMS database) and
                // rebuilds its views of the robots from their reports.
                *fs = FleetState { next_task: c.ledger.tasks.len() as u32, ..Default::default() };
            }
        }
        manage(&mut c, agent.id, &mut fs, inbox, &mut out, &mut d);
    }
}

/// One leading fleet manager's tick.
fn manage(c: &mut ManagerCtx, me: AgentId, fs: &mut FleetState, inbox: &Inbox, out: &mut Outbox, d: &mut Decision) {
    let now = c.clock.tick;
    let cfg = c.params.0.clone();
    let alloc = super::allocation(&cfg, c.coord.0);
    let plan = super::planning(&cfg, c.coord.0);
    let cells = c.floor.base.len();
    // Reports.
    for m in &inbox.0 {
        let p = m.payload;
        match m.kind {
            msg::STATUS => {
                let v = fs.view(m.from.0);
                if m.sent < v.tick && v.cell != NONE {
                    continue; // an older report overtaken by a newer one
                }
                let cell = read_cell(p[0], cells);
                if let Some(e) = v.expected(m.sent)
                    && e != cell
                {
                    // It is not where its reservations put it (one was lost, late, or the
                    // interlock held it): forget what was planned after that.
                    for slot in v.expect.iter_mut() {
                        if slot.0 != u64::MAX && slot.0 > m.sent {
                            *slot = (u64::MAX, NONE);
                        }
                    }
                    fs.deviated = true;
                }
                let v = fs.view(m.from.0);
                v.cell = cell;
                v.goal = read_cell(p[1], cells);
                v.task = if p[2] >= 0.0 { p[2] as u32 } else { NONE };
                v.code = p[3].max(0.0) as u32;
                v.tick = m.sent;
                let (task, robot) = (v.task, m.from.0);
                if task != NONE {
                    fs.offers.remove(&task);
                    fs.robot_offer.remove(&robot);
                    match fs.owner.get(&task).copied() {
                        None => {
                            fs.owner.insert(task, robot);
                        }
                        Some(o) if o != robot => {
                            let owner_holds =
                                fs.views.get(o as usize).and_then(|v| v.as_ref()).is_some_and(|v| v.task == task);
                            if owner_holds {
                                // Two robots hold one task: the first to report it keeps it.
                                out.send(me, Dest::To(m.from), msg::REVOKE, 4, now, [task as f32, 0.0, 0.0, 0.0]);
                                c.totals.tick.claim_conflicts += 1;
                            } else {
                                fs.owner.insert(task, robot);
                            }
                        }
                        _ => {}
                    }
                }
            }
            msg::ZONE_SUMMARY => {
                let z = m.from.0.saturating_sub(1) as usize;
                if fs.zones.len() <= z {
                    fs.zones.resize(z + 1, (0, 0, 0));
                }
                fs.zones[z] = (p[0] as u32, p[1] as u32, m.sent);
            }
            msg::HANDBACK => {
                let task = p[0] as u32;
                let from_zone = m.from.0.saturating_sub(1);
                if c.ledger.get(task).is_some_and(|t| t.state == TaskState::Waiting) {
                    let z = route(fs, &c.floor, c.ledger.tasks[task as usize].pick, Some(from_zone));
                    send_zone_order(out, me, z, task, &c.ledger, now);
                    fs.routed.insert(task, (z, now));
                }
            }
            _ => {}
        }
    }
    let t0 = Instant::now();
    // Orders in.
    let first_new = fs.next_task;
    fs.next_task = c.ledger.tasks.len() as u32;
    let timeout = cfg.failsafe.offer_timeout_ticks.max(1);
    match alloc {
        Allocation::Decentralized | Allocation::None => {
            for task in first_new..fs.next_task {
                announce(out, me, task, &c.ledger, now);
                fs.announced.insert(task, now);
            }
            // Orders nobody has taken are announced again.
            let again: Vec<u32> = c
                .ledger
                .waiting
                .iter()
                .copied()
                .filter(|t| fs.announced.get(t).is_none_or(|&at| at + timeout <= now))
                .take(32)
                .collect();
            for task in again {
                announce(out, me, task, &c.ledger, now);
                fs.announced.insert(task, now);
            }
            if now.is_multiple_of(64) {
                let l = &c.ledger;
                fs.announced.retain(|t, _| l.get(*t).is_some_and(|x| x.state == TaskState::Waiting));
            }
        }
        Allocation::Hierarchical => {
            let mut todo: Vec<u32> = (first_new..fs.next_task).collect();
            todo.extend(
                c.ledger
                    .waiting
                    .iter()
                    .copied()
                    .filter(|t| *t < first_new && fs.routed.get(t).is_none_or(|&(_, at)| at + 3 * timeout <= now))
                    .take(32),
            );
            for task in todo {
                let z = route(fs, &c.floor, c.ledger.tasks[task as usize].pick, None);
                send_zone_order(out, me, z, task, &c.ledger, now);
                fs.routed.insert(task, (z, now));
            }
            if now.is_multiple_of(64) {
                let l = &c.ledger;
                fs.routed.retain(|t, _| l.get(*t).is_some_and(|x| x.state == TaskState::Waiting));
            }
        }
        Allocation::Centralized => allocate(fs, c, out, me, &cfg),
        Allocation::Auto => {}
    }
    if now.is_multiple_of(64) {
        let l = &c.ledger;
        fs.owner.retain(|t, _| l.get(*t).is_some_and(|x| matches!(x.state, TaskState::Assigned | TaskState::Picked)));
        fs.offers.retain(|_, (_, at)| *at + timeout > now);
        fs.robot_offer.retain(|_, at| *at + timeout > now);
    }
    c.timings.add("allocation", t0.elapsed().as_secs_f64());
    let t1 = Instant::now();
    let mut action = "manage";
    if plan == Planning::Centralized {
        action = match cfg.planner.kind {
            PlannerKind::Pibt => plan_pibt(fs, c, out, me, &cfg),
            PlannerKind::Whca => plan_whca(fs, c, out, me, &cfg),
        };
    }
    let ms = t1.elapsed().as_secs_f64();
    c.timings.add("planning", ms);
    fs.last_plan_ms = ms * 1000.0;
    *d = Decision { tick: now, action, reason: "reports", value: fs.planned as f32 };
}

fn announce(out: &mut Outbox, me: AgentId, task: u32, ledger: &Ledger, now: u64) {
    if let Some(t) = ledger.get(task) {
        out.send(me, Dest::Kind(ROBOT), msg::ORDER, 12, now, [task as f32, cellf(t.pick), cellf(t.drop), 0.0]);
    }
}

fn send_zone_order(out: &mut Outbox, me: AgentId, zone: u32, task: u32, ledger: &Ledger, now: u64) {
    if let Some(t) = ledger.get(task) {
        let to = AgentId(1 + zone);
        out.send(me, Dest::To(to), msg::ZONE_ORDER, 12, now, [task as f32, cellf(t.pick), cellf(t.drop), 0.0]);
    }
}

/// The zone an order goes to: its pick's zone if that zone reported an idle robot, else the
/// zone with the most idle robots (nearest to the pick among equals), never `avoid` when
/// another will do.
fn route(fs: &mut FleetState, floor: &Floor, pick: Cell, avoid: Option<u32>) -> u32 {
    let n = (floor.zones.0 * floor.zones.1).max(1);
    if fs.zones.len() < n as usize {
        fs.zones.resize(n as usize, (0, 0, 0));
    }
    let home = floor.zone_of(pick);
    let (px, py) = floor.xy(pick);
    let pick_zone = if fs.zones[home as usize].0 > 0 && avoid != Some(home) {
        Some(home)
    } else {
        (0..n)
            .filter(|&z| avoid != Some(z) || n == 1)
            .map(|z| {
                let (x, y) = floor.zone_centre(z);
                let d = ((x - px).powi(2) + (y - py).powi(2)) as u64;
                (std::cmp::Reverse(fs.zones[z as usize].0), d, z)
            })
            .min()
            .filter(|k| k.0.0 > 0)
            .map(|k| k.2)
    };
    let z = pick_zone.unwrap_or(home);
    let e = &mut fs.zones[z as usize];
    e.0 = e.0.saturating_sub(1);
    z
}

/// Central allocation: idle robots × waiting tasks by path length, the Hungarian method
/// while both sides are at most `hungarian_max`, greedy nearest pairs above.
fn allocate(fs: &mut FleetState, c: &mut ManagerCtx, out: &mut Outbox, me: AgentId, cfg: &super::WarehouseConfig) {
    let now = c.clock.tick;
    let timeout = cfg.failsafe.offer_timeout_ticks.max(1);
    let stale = cfg.failsafe.stale_after_ticks;
    let idle: Vec<(u32, Cell)> = fs
        .views
        .iter()
        .enumerate()
        .filter_map(|(id, v)| v.as_ref().map(|v| (id as u32, v)))
        .filter(|(id, v)| {
            v.available()
                && v.task == NONE
                && now.saturating_sub(v.tick) <= stale
                && v.cell != NONE
                && fs.robot_offer.get(id).is_none_or(|&at| at + timeout <= now)
        })
        .map(|(id, v)| (id, v.cell))
        .collect();
    if idle.is_empty() {
        return;
    }
    let cap = (2 * idle.len()).clamp(16, 256);
    let tasks: Vec<u32> = c
        .ledger
        .waiting
        .iter()
        .copied()
        .filter(|t| fs.offers.get(t).is_none_or(|&(_, at)| at + timeout <= now))
        .filter(|&t| c.floor.map.is_passable(c.ledger.tasks[t as usize].pick))
        .take(cap)
        .collect();
    if tasks.is_empty() {
        return;
    }
    let mut cost = vec![vec![MAX_WEIGHT; tasks.len()]; idle.len()];
    let floor = &mut *c.floor;
    floor.cache.begin_step();
    for (j, &t) in tasks.iter().enumerate() {
        let pick = c.ledger.tasks[t as usize].pick;
        let Some(gv) = floor.cache.graph().vertex(pick) else { continue };
        let Some(slot) = floor.cache.slot(gv) else { continue };
        let table = floor.cache.table(slot);
        let graph = floor.cache.graph();
        for (i, &(_, cell)) in idle.iter().enumerate() {
            if let Some(v) = graph.vertex(cell)
                && table[v as usize] != UNREACHABLE
            {
                cost[i][j] = i64::from(table[v as usize]);
            }
        }
    }
    let hm = cfg.planner.hungarian_max as usize;
    let a = if idle.len() <= hm && tasks.len() <= hm {
        assign_hungarian(&cost, Objective::Minimise)
    } else {
        assign_greedy(&cost, Objective::Minimise)
    };
    let Ok(a) = a else { return };
    for (i, t) in a.task_of.iter().enumerate() {
        let Some(j) = *t else { continue };
        if cost[i][j] >= MAX_WEIGHT {
            continue;
        }
        let (robot, task) = (idle[i].0, tasks[j]);
        let tk = &c.ledger.tasks[task as usize];
        out.send(
            me,
            Dest::To(AgentId(robot)),
            msg::ASSIGN,
            16,
            now,
            [task as f32, cellf(tk.pick), cellf(tk.drop), 0.0],
        );
        fs.offers.insert(task, (robot, now));
        fs.robot_offer.insert(robot, now);
    }
}

/// The robots the manager plans for at the tick `t` reservations will be used in, with
/// their predicted cells (at the start of `t`) and goals, sorted by id; robots it has not
/// heard from lately stay where they were last seen, as obstacles (`fixed`).
fn planning_set(
    fs: &FleetState,
    floor: &Floor,
    now: u64,
    t: u64,
    stale: u64,
) -> (Vec<u32>, Vec<Cell>, Vec<Cell>, Vec<bool>) {
    let mut rows: Vec<(Cell, bool, std::cmp::Reverse<u64>, u32, Cell, bool)> = Vec::new();
    for (id, v) in fs.views.iter().enumerate() {
        let Some(v) = v else { continue };
        let age = now.saturating_sub(v.tick);
        if v.cell == NONE || age > 10 * stale.max(1) {
            continue;
        }
        let cell = v.predicted(t - 1);
        if !floor.map.is_passable(cell) {
            continue;
        }
        let fixed = age > stale || v.state() == CODE_BROKEN;
        let goal = if v.goal != NONE && floor.map.is_passable(v.goal) && !fixed { v.goal } else { NONE };
        // A cell it reported is certain; one its reservations would take it to is not.
        let expected = v.expected(t - 1).is_some_and(|e| e != v.cell);
        rows.push((cell, expected, std::cmp::Reverse(v.tick), id as u32, goal, fixed));
    }
    // Two beliefs on one cell: the robot reported there keeps it (then the freshest
    // report); the other is left out this tick and waits for its next reservation.
    rows.sort_unstable();
    rows.dedup_by_key(|r| r.0);
    rows.sort_unstable_by_key(|r| r.3);
    let ids = rows.iter().map(|r| r.3).collect();
    let pos = rows.iter().map(|r| r.0).collect();
    let goals = rows.iter().map(|r| r.4).collect();
    let fixed = rows.iter().map(|r| r.5).collect();
    (ids, pos, goals, fixed)
}

/// PIBT one tick ahead: every robot's move for tick `now + latency`, sent as a reservation.
fn plan_pibt(
    fs: &mut FleetState,
    c: &mut ManagerCtx,
    out: &mut Outbox,
    me: AgentId,
    cfg: &super::WarehouseConfig,
) -> &'static str {
    let now = c.clock.tick;
    let lead = u64::from(c.channel.config.latency_ticks.max(1));
    let t = now + lead;
    let (ids, pos, goals, fixed) = planning_set(fs, &c.floor, now, t, cfg.failsafe.stale_after_ticks);
    fs.planned = ids.len() as u32;
    if ids.is_empty() {
        return "idle";
    }
    if ids != fs.pibt_ids {
        // Priorities are kept per index: a changed roster starts them afresh.
        fs.pibt = Pibt::new(PibtConfig { seed: c.clock.seed, prefer_unoccupied: true });
        fs.pibt_ids = ids.clone();
    }
    let mut next = Vec::with_capacity(ids.len());
    if fs.pibt.step_into_fixed(&mut c.floor.cache, &pos, &goals, &fixed, &mut next).is_err() {
        return "plan_failed";
    }
    for (k, &id) in ids.iter().enumerate() {
        if fixed[k] {
            continue;
        }
        let v = fs.view(id);
        v.set_expected(t, next[k]);
        // Every planned robot gets its reservation, waits included: silence means the
        // manager is gone (the robots' fail-safe).
        let flags = u32::from(v.stuck());
        out.send(
            me,
            Dest::To(AgentId(id)),
            msg::MOVE,
            12,
            now,
            [encode_tick(t), pos[k] as f32, next[k] as f32, flags as f32],
        );
    }
    "plan_pibt"
}

/// WHCA*: a window of `planner.window` ticks from tick `now + latency`, replanned every
/// `replan_every` ticks, when goals change or when a robot is off its plan; each robot gets
/// its whole window as one message.
fn plan_whca(
    fs: &mut FleetState,
    c: &mut ManagerCtx,
    out: &mut Outbox,
    me: AgentId,
    cfg: &super::WarehouseConfig,
) -> &'static str {
    let now = c.clock.tick;
    let lead = u64::from(c.channel.config.latency_ticks.max(1));
    let t = now + lead;
    let (ids, pos, goals, fixed) = planning_set(fs, &c.floor, now, t, cfg.failsafe.stale_after_ticks);
    fs.planned = ids.len() as u32;
    if ids.is_empty() {
        return "idle";
    }
    let window = cfg.planner.window.clamp(1, MAX_PLAN as u32);
    let goal_list: Vec<(u32, Cell)> = ids.iter().copied().zip(goals.iter().copied()).collect();
    let due = now >= fs.last_replan + u64::from(cfg.planner.replan_every.clamp(1, window));
    if !(due || fs.deviated || goal_list != fs.last_goals) {
        return "follow_plan";
    }
    fs.deviated = false;
    fs.last_replan = now;
    fs.last_goals = goal_list;
    // Priority: robots stuck first, then the longest since their goal changed (as reported
    // by how long the goal has stood), ties by id.
    let mut order: Vec<usize> = (0..ids.len()).collect();
    let stuck: BTreeSet<u32> =
        ids.iter().copied().filter(|&id| fs.views[id as usize].as_ref().is_some_and(View::stuck)).collect();
    order.sort_by_key(|&k| (!stuck.contains(&ids[k]), goals[k] == NONE, ids[k]));
    let Ok(plan) = plan_window_fixed(&mut c.floor.cache, &pos, &goals, &order, window, &fixed) else {
        return "plan_failed";
    };
    c.totals.tick.replans += 1;
    let cols = c.floor.cols();
    for (k, &id) in ids.iter().enumerate() {
        if fixed[k] {
            continue;
        }
        let path = &plan.paths[k];
        let v = fs.view(id);
        for (s, &cell) in path.iter().enumerate().skip(1) {
            v.set_expected(t + s as u64 - 1, cell);
        }
        let mut lo = 0u32;
        let mut hi = 0u32;
        let steps = path.len().saturating_sub(1).min(MAX_PLAN);
        for s in 0..steps {
            let (a, b) = (path[s], path[s + 1]);
            let m = if a == b {
                0
            } else if b + cols == a {
                1
            } else if b == a + 1 {
                2
            } else if b == a + cols {
                3
            } else {
                4
            };
            if s < 8 {
                lo |= m << (3 * s);
            } else {
                hi |= m << (3 * (s - 8));
            }
        }
        hi |= (steps as u32) << 18;
        out.send(me, Dest::To(AgentId(id)), msg::PLAN, 16, now, [encode_tick(t), pos[k] as f32, lo as f32, hi as f32]);
    }
    "plan_whca"
}

/// A zone manager's state.
#[derive(Component, Debug, Clone)]
pub struct ZoneState {
    pub zone: u32,
    /// Orders to allocate: (task, pick, drop, tick received).
    pub queue: Vec<(u32, Cell, Cell, u64)>,
    /// Robots reporting in its zone: id → (cell, code, task, tick).
    pub views: BTreeMap<u32, (Cell, u32, u32, u64)>,
    /// Offers: task → (robot, tick); robot → tick.
    pub offers: BTreeMap<u32, (u32, u64)>,
    pub robot_offer: BTreeMap<u32, u64>,
    /// Since when it has had orders and no idle robot.
    pub starved_since: Option<u64>,
}

impl ZoneState {
    pub fn new(zone: u32) -> Self {
        ZoneState {
            zone,
            queue: Vec::new(),
            views: BTreeMap::new(),
            offers: BTreeMap::new(),
            robot_offer: BTreeMap::new(),
            starved_since: None,
        }
    }
}

/// The zone managers' Decide: orders from the fleet manager, reports from the robots in the
/// zone, allocation within the zone, summaries up and orders handed back.
#[allow(clippy::type_complexity)]
pub(super) fn zone_managers(
    mut c: ManagerCtx,
    mut q: Query<(&Agent, &mut ZoneState, &Inbox, &mut Outbox, &mut Decision, &LeaderView), Without<Crashed>>,
) {
    let now = c.clock.tick;
    let cfg = c.params.0.clone();
    if super::allocation(&cfg, c.coord.0) != Allocation::Hierarchical {
        return;
    }
    let cells = c.floor.base.len();
    let timeout = cfg.failsafe.offer_timeout_ticks.max(1);
    let stale = cfg.failsafe.stale_after_ticks;
    let mut managers: Vec<_> = q.iter_mut().collect();
    managers.sort_by_key(|m| m.0.id);
    for (agent, mut zs, inbox, mut out, mut d, view) in managers {
        let (me, fm) = (agent.id, view.leader);
        let zs = &mut *zs;
        for m in &inbox.0 {
            let p = m.payload;
            match m.kind {
                msg::ZONE_ORDER => {
                    let task = p[0] as u32;
                    if !zs.queue.iter().any(|x| x.0 == task) {
                        zs.queue.push((task, read_cell(p[1], cells), read_cell(p[2], cells), now));
                    }
                }
                msg::STATUS => {
                    let task = if p[2] >= 0.0 { p[2] as u32 } else { NONE };
                    zs.views.insert(m.from.0, (read_cell(p[0], cells), p[3].max(0.0) as u32, task, m.sent));
                }
                _ => {}
            }
        }
        zs.views.retain(|_, v| now.saturating_sub(v.3) <= stale);
        let held: BTreeSet<u32> = zs.views.values().map(|v| v.2).filter(|&t| t != NONE).collect();
        for t in &held {
            zs.offers.remove(t);
        }
        for (r, v) in &zs.views {
            if v.2 != NONE {
                zs.robot_offer.remove(r);
            }
        }
        zs.queue.retain(|x| !held.contains(&x.0) && x.3 + 5 * timeout > now);
        zs.offers.retain(|_, (_, at)| *at + timeout > now);
        zs.robot_offer.retain(|_, at| *at + timeout > now);
        let idle: Vec<(u32, Cell)> = zs
            .views
            .iter()
            .filter(|(r, v)| v.1 / 32 % 2 == 1 && v.2 == NONE && !zs.robot_offer.contains_key(r))
            .map(|(&r, v)| (r, v.0))
            .collect();
        let open: Vec<(u32, Cell, Cell)> =
            zs.queue.iter().filter(|x| !zs.offers.contains_key(&x.0)).map(|x| (x.0, x.1, x.2)).take(64).collect();
        let mut assigned = 0;
        if !idle.is_empty() && !open.is_empty() {
            let floor = &mut *c.floor;
            floor.cache.begin_step();
            let mut cost = vec![vec![MAX_WEIGHT; open.len()]; idle.len()];
            for (j, o) in open.iter().enumerate() {
                for (i, &(_, cell)) in idle.iter().enumerate() {
                    if let Some(dd) = floor.distance(cell, o.1) {
                        cost[i][j] = i64::from(dd);
                    }
                }
            }
            let hm = cfg.planner.hungarian_max as usize;
            let a = if idle.len() <= hm && open.len() <= hm {
                assign_hungarian(&cost, Objective::Minimise)
            } else {
                assign_greedy(&cost, Objective::Minimise)
            };
            if let Ok(a) = a {
                for (i, t) in a.task_of.iter().enumerate() {
                    let Some(j) = *t else { continue };
                    if cost[i][j] >= MAX_WEIGHT {
                        continue;
                    }
                    let (robot, o) = (idle[i].0, open[j]);
                    out.send(
                        me,
                        Dest::To(AgentId(robot)),
                        msg::ASSIGN,
                        16,
                        now,
                        [o.0 as f32, cellf(o.1), cellf(o.2), 0.0],
                    );
                    zs.offers.insert(o.0, (robot, now));
                    zs.robot_offer.insert(robot, now);
                    assigned += 1;
                }
            }
        }
        let idle_left = idle.len().saturating_sub(assigned);
        // Orders with no robot to serve them go back up after a while.
        if !zs.queue.is_empty() && idle.is_empty() {
            let since = *zs.starved_since.get_or_insert(now);
            if now >= since + timeout
                && let Some(k) = zs.queue.iter().position(|x| !zs.offers.contains_key(&x.0))
            {
                let (task, pick, drop, _) = zs.queue.remove(k);
                out.send(me, Dest::To(fm), msg::HANDBACK, 12, now, [task as f32, cellf(pick), cellf(drop), 0.0]);
                zs.starved_since = Some(now);
            }
        } else {
            zs.starved_since = None;
        }
        if now.is_multiple_of(5) {
            out.send(
                me,
                Dest::To(fm),
                msg::ZONE_SUMMARY,
                8,
                now,
                [idle_left as f32, zs.queue.len() as f32, zs.zone as f32, 0.0],
            );
        }
        *d = Decision { tick: now, action: "allocate", reason: "zone", value: zs.queue.len() as f32 };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_round_trip_through_messages() {
        for now in [0u64, 5, TICK_MOD - 3, TICK_MOD + 7, 10 * TICK_MOD + 1] {
            for t in [now, now + 1, now + 15, now.saturating_sub(4)] {
                assert_eq!(decode_tick(encode_tick(t), now), t, "now {now} t {t}");
            }
        }
    }
}
