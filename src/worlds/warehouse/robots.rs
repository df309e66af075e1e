//! The robots: spawning (and the live robot count), breakdowns and the cells of robots that
//! are down, perception (occupancy within a radius, robots seen), decisions (task, battery,
//! charger and parking choices, then the next cell by the planning in force: the fleet
//! manager's reservations, negotiation with neighbours, or greedy moves on sensing), motion
//! through the onboard interlock, and Resolve: the invariant check (vertex and edge
//! conflicts), the wait-for deadlock monitor, picks, drops, bays, strandings, and the status
//! reports robots send.

use std::collections::BTreeSet;

use bevy::ecs::bundle::NoBundleEffect;
use bevy::ecs::system::SystemParam;
use bevy::prelude::*;
use rand::RngExt;
use serde_json::json;

use super::config::{ChargePolicy, Fallback, WarehouseConfig};
use super::fleet::{FleetState, ZoneState, decode_tick, encode_tick};
use super::floor::Floor;
use super::map::Cell;
use super::measure::{Deadlocks, RunTotals};
use super::motion::{Scratch, interlock};
use super::planning::{LocalAgent, NONE, UNREACHABLE, check_moves, check_step, deadlock_cycles, pibt_local};
use super::tasks::{Chargers, Ledger, Parking, give_up};
use super::{Allocation, FLEET_MANAGER, Planning, ROBOT, WarehouseParams, ZONE_MANAGER, msg};
use crate::sim::{
    Agent, AgentId, AgentIds, AgentRng, CoordinationRes, Crashed, Decision, Dest, EventLog, Hijacked, Inbox,
    LeaderView, Outbox, Pose, Security, SimClock, TraceState,
};

/// What a robot is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RobotPhase {
    /// No task.
    Idle,
    /// Heading for its task's pick.
    ToPick,
    /// Carrying a load to its drop.
    Carrying,
    /// Heading for (or queued at) a charger.
    ToCharger,
    /// In a charger bay.
    Charging,
}

impl RobotPhase {
    /// Code sent in status reports.
    pub fn code(self) -> u32 {
        match self {
            RobotPhase::Idle => 0,
            RobotPhase::ToPick => 1,
            RobotPhase::Carrying => 2,
            RobotPhase::ToCharger => 3,
            RobotPhase::Charging => 4,
        }
    }
}

/// Status code of a robot that is broken down (still talking).
pub const CODE_BROKEN: u32 = 5;

/// A robot's own state.
#[derive(Component, Clone, Debug)]
pub struct Robot {
    /// Its cell.
    pub cell: Cell,
    /// Its cell at the start of this tick.
    pub prev: Cell,
    /// The cell it means to be on after this tick (its decision).
    pub next: Cell,
    /// The cell it would most like to go to (for the wait-for graph).
    pub desired: Cell,
    pub phase: RobotPhase,
    /// Its task (`NONE`: none), with the task's pick and drop.
    pub task: u32,
    pub pick: Cell,
    pub drop: Cell,
    /// Where it heads (`NONE`: nowhere — it stays unless pushed).
    pub goal: Cell,
    /// Tick its goal last changed or was reached (its priority is the time since).
    pub goal_since: u64,
    /// Charge, kWh.
    pub battery_kwh: f64,
    /// Charger it heads for or charges at, and its bay once given one.
    pub charger: u32,
    pub bay: Cell,
    /// Charging opportunistically (leaves as soon as it has a task).
    pub opportunistic: bool,
    /// Parking spot it claimed.
    pub parking: Cell,
    /// The free cell an idle robot on a station moves off to.
    pub clear_to: Cell,
    /// Tick it last became idle.
    pub idle_since: u64,
    /// Ticks a move delay still holds it.
    pub delay_left: u32,
    /// The robot it has waited for and for how many ticks (the deadlock breaker's count).
    pub blocked_by: u32,
    pub blocked_ticks: u32,
    /// Backing off: ticks left, and the cell it keeps away from.
    pub backoff_left: u32,
    pub backoff_from: Cell,
    /// Moved this tick.
    pub moved: bool,
    /// Direction of its last move, radians (counter-clockwise from east).
    pub heading: f32,
    /// Broken down until this tick (`Some(u64::MAX)`: for good).
    pub broken_until: Option<u64>,
    /// Ran flat.
    pub stranded: bool,
    /// Was down (crashed, broken or stranded) at the last check.
    pub down: bool,
    /// Waiting for a charger bay, or held by stale reservations.
    pub waiting: bool,
    pub tasks_done: u32,
    pub moves: u64,
    /// Energy used, kWh.
    pub energy_kwh: f64,
}

impl Robot {
    fn new(cell: Cell, battery_kwh: f64, tick: u64) -> Self {
        Robot {
            cell,
            prev: cell,
            next: cell,
            desired: cell,
            phase: RobotPhase::Idle,
            task: NONE,
            pick: NONE,
            drop: NONE,
            goal: NONE,
            goal_since: tick,
            battery_kwh,
            charger: NONE,
            bay: NONE,
            opportunistic: false,
            parking: NONE,
            clear_to: NONE,
            idle_since: tick,
            delay_left: 0,
            blocked_by: NONE,
            blocked_ticks: 0,
            backoff_left: 0,
            backoff_from: NONE,
            moved: false,
            heading: 0.0,
            broken_until: None,
            stranded: false,
            down: false,
            waiting: false,
            tasks_done: 0,
            moves: 0,
            energy_kwh: 0.0,
        }
    }

    /// Broken down now.
    pub fn broken(&self) -> bool {
        self.broken_until.is_some()
    }

    /// The state agents.csv shows.
    pub fn state_name(&self) -> &'static str {
        if self.stranded {
            "stranded"
        } else if self.broken() {
            "broken"
        } else if self.waiting {
            "waiting"
        } else {
            match self.phase {
                RobotPhase::Idle => "idle",
                RobotPhase::ToPick => "to_pick",
                RobotPhase::Carrying => "carrying",
                RobotPhase::ToCharger => "to_charger",
                RobotPhase::Charging => "charging",
            }
        }
    }
}

/// An open order a robot has heard of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KnownOrder {
    pub task: u32,
    pub pick: Cell,
    pub drop: Cell,
}

/// A bid a robot has made and the best bid it has heard for the same order.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bid {
    pub order: KnownOrder,
    pub value: u32,
    /// Tick the auction closes.
    pub close: u64,
    /// Best (value, robot) heard so far, its own included.
    pub best: (u32, u32),
}

/// A neighbour's intent heard this tick: where it is, where it heads, its priority.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Intent {
    pub from: u32,
    /// Its cell after its last move.
    pub cell: Cell,
    /// Its goal.
    pub goal: Cell,
    /// Its priority: ticks since its goal changed.
    pub prio: u32,
    /// The cell it claims for this tick (`NONE`: it stays).
    pub claim: Cell,
}

/// A one-tick reservation from the fleet manager.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MoveCmd {
    pub tick: u64,
    pub from: Cell,
    pub to: Cell,
    /// Its priority was raised to break a jam.
    pub boosted: bool,
}

/// Most plan steps one message carries.
pub const MAX_PLAN: usize = 14;

/// What a robot has heard through the channel and its link to the fleet manager.
#[derive(Component, Clone, Debug)]
pub struct Link {
    /// Tick the fleet manager was last heard.
    pub last_fm: u64,
    /// The fail-safe is engaged (the fleet manager is silent).
    pub fallback: bool,
    /// One-tick reservations by tick (a ring of 8).
    pub moves: [Option<MoveCmd>; 8],
    /// The windowed plan: cells at the start of `plan_start + k`, k = 0..plan_len.
    pub plan_start: u64,
    pub plan: [Cell; MAX_PLAN + 1],
    pub plan_len: u8,
    /// Open orders heard of.
    pub known: Vec<KnownOrder>,
    /// Its bid in an auction.
    pub bid: Option<Bid>,
    /// Neighbours' intents heard this tick.
    pub intents: Vec<Intent>,
    /// Pushed this tick (priority inherited).
    pub pushed: bool,
    /// The priority it negotiates with.
    pub prio: u32,
    /// Reservations discarded as stale this tick.
    pub stale: u32,
    /// Tell the neighbours its cell, goal, priority and claim after this tick's move.
    pub announce: bool,
    /// The cell it claims for a tick, with the priority it claims it with.
    pub claim: Option<(u64, Cell, u32)>,
    /// This tick's move was a deadlock back-off, not a claim (its intent says so).
    pub backed_off: bool,
    /// The claim it moved under at its last negotiation (tick, cell, priority).
    pub claimed: Option<(u64, Cell, u32)>,
}

impl Link {
    fn new(tick: u64) -> Self {
        Link {
            last_fm: tick,
            fallback: false,
            moves: [None; 8],
            plan_start: 0,
            plan: [NONE; MAX_PLAN + 1],
            plan_len: 0,
            known: Vec::new(),
            bid: None,
            intents: Vec::new(),
            pushed: false,
            prio: 0,
            stale: 0,
            announce: false,
            claim: None,
            backed_off: false,
            claimed: None,
        }
    }

    /// The plan's cells, from the start of `plan_start` on.
    pub fn plan_cells(&self) -> &[Cell] {
        &self.plan[..self.plan_len as usize]
    }
}

/// Cells of a plan from its start cell and its moves (0 wait, 1 north, 2 east, 3 south, 4
/// west), for a map `cols` wide; a move off the map ends it.
pub fn plan_cells(start: Cell, moves: &[u8], cols: u32, rows: u32) -> Vec<Cell> {
    let mut out = vec![start];
    let mut c = start;
    for &m in moves {
        let (r, col) = (c / cols, c % cols);
        c = match m {
            0 => c,
            1 if r > 0 => c - cols,
            2 if col + 1 < cols => c + 1,
            3 if r + 1 < rows => c + cols,
            4 if col > 0 => c - 1,
            _ => break,
        };
        out.push(c);
    }
    out
}

/// What a robot senses around it.
#[derive(Component, Clone, Copy, Debug, Default)]
pub struct Perception {
    pub tick: u64,
    /// Chebyshev radius in cells.
    pub radius: u8,
    /// Cells with a robot on them, bit `(dr + r)·(2r + 1) + (dc + r)` for row and column
    /// offsets dr, dc in −r..=r (its own cell included).
    pub occupied: u64,
    /// Cells it cannot enter (shelves, walls, blocked cells, off the map), same bits.
    pub blocked: u64,
    /// Robots seen (nearest scan order), at most 8, and how many in all.
    pub seen: [u32; 8],
    pub seen_n: u8,
    pub seen_total: u16,
}

impl Perception {
    /// Whether the cell at offset (dr, dc) is occupied.
    pub fn occupied_at(&self, dr: i32, dc: i32) -> bool {
        self.bit(self.occupied, dr, dc)
    }

    /// Whether the cell at offset (dr, dc) is blocked.
    pub fn blocked_at(&self, dr: i32, dc: i32) -> bool {
        self.bit(self.blocked, dr, dc)
    }

    fn bit(&self, mask: u64, dr: i32, dc: i32) -> bool {
        let r = i32::from(self.radius);
        if dr.abs() > r || dc.abs() > r {
            return false;
        }
        let k = (dr + r) * (2 * r + 1) + (dc + r);
        mask >> k & 1 == 1
    }
}

/// The robot on each cell (its id; `NONE`: empty), as of the last move.
#[derive(Resource, Debug, Clone, Default)]
pub struct Occupancy {
    pub by_cell: Vec<u32>,
}

impl Occupancy {
    pub fn new(cells: usize) -> Self {
        Occupancy { by_cell: vec![NONE; cells] }
    }

    /// The robot on `cell`.
    pub fn at(&self, cell: Cell) -> u32 {
        self.by_cell.get(cell as usize).copied().unwrap_or(NONE)
    }
}

/// The robots by id, ascending (every system that changes shared state visits them in this
/// order).
#[derive(Resource, Debug, Clone, Default)]
pub struct RobotOrder(pub Vec<(u32, Entity)>);

/// The interlock's scratch space and this tick's arrays.
#[derive(Resource, Debug, Default)]
pub struct MotionScratch {
    scratch: Scratch,
    prev: Vec<Cell>,
    intended: Vec<Cell>,
    desired: Vec<Cell>,
    prio: Vec<u64>,
    next: Vec<Cell>,
    /// Ids of the robots in the arrays, ascending.
    ids: Vec<u32>,
    live: Vec<bool>,
}

fn robot_bundle(
    id: AgentId,
    cell: Cell,
    floor: &Floor,
    battery: f64,
    tick: u64,
    seed: u64,
) -> impl Bundle<Effect: NoBundleEffect> {
    let (x, y) = floor.xy(cell);
    (
        Agent { id, kind: ROBOT },
        Pose { x, y, heading: 0.0, speed: 0.0 },
        Decision::default(),
        Inbox::default(),
        Outbox::default(),
        AgentRng::new(seed, "robot", u64::from(id.0)),
        Robot::new(cell, battery, tick),
        Link::new(tick),
        Perception::default(),
        TraceState("idle"),
        LeaderView::new(0, AgentId(0)),
    )
}

/// Spawns the fleet manager at the floor's centre, a zone manager at each zone's centre,
/// then the robots on their start cells (parking first, then free cells spread evenly).
pub(super) fn spawn(world: &mut World) {
    let cfg = world.resource::<WarehouseParams>().0.clone();
    let clock = world.resource::<SimClock>().clone();
    let fm = world.resource_mut::<AgentIds>().alloc();
    let floor = world.resource::<Floor>();
    let (cx, cy) = floor.centre();
    let zones: Vec<(f32, f32)> = (0..cfg.zones.count()).map(|z| floor.zone_centre(z)).collect();
    let fm_entity = world.spawn(fm_bundle(fm, cx, cy)).id();
    for (z, (x, y)) in zones.into_iter().enumerate() {
        let id = world.resource_mut::<AgentIds>().alloc();
        world.spawn((
            Agent { id, kind: ZONE_MANAGER },
            Pose { x, y, heading: 0.0, speed: 0.0 },
            Decision::default(),
            Inbox::default(),
            Outbox::default(),
            ZoneState::new(z as u32),
            TraceState("managing"),
            LeaderView::new(0, fm),
        ));
    }
    let n = cfg.robots as usize;
    let cells = world.resource::<Floor>().start_cells(n, &|_| false);
    let b = &cfg.battery;
    let mut bundles = Vec::with_capacity(cells.len());
    for (i, &cell) in cells.iter().enumerate() {
        let id = world.resource_mut::<AgentIds>().alloc();
        let frac = b.initial - b.initial_spread * i as f64 / n.max(1) as f64;
        let floor = world.resource::<Floor>();
        bundles.push(robot_bundle(id, cell, floor, frac.clamp(0.0, 1.0) * b.capacity_kwh, clock.tick, clock.seed));
    }
    world.spawn_batch(bundles);
    // Standby replicas of the fleet manager (security.failover), spread along the floor's
    // middle row; the leader sits at its centre.
    let n = world.resource::<Security>().config.failover.replicas.max(2);
    let w = 2.0 * cx;
    crate::sim::security::failover::replicate(world, 0, (fm, fm_entity), |id, k| {
        fm_bundle(id, w * (2 * k - 1) as f32 / (2 * (n - 1)) as f32, cy)
    });
    rebuild_order(world);
}

/// A fleet manager (or one of its standby replicas) at (x, y).
fn fm_bundle(id: AgentId, x: f32, y: f32) -> impl Bundle<Effect: NoBundleEffect> {
    (
        Agent { id, kind: FLEET_MANAGER },
        Pose { x, y, heading: 0.0, speed: 0.0 },
        Decision::default(),
        Inbox::default(),
        Outbox::default(),
        FleetState::default(),
        TraceState("managing"),
    )
}

/// Rebuilds [`RobotOrder`] and [`Occupancy`] from the robots there are.
fn rebuild_order(world: &mut World) {
    let mut q = world.query::<(Entity, &Agent, &Robot)>();
    let mut order: Vec<(u32, Entity)> = Vec::new();
    let cells = world.resource::<Floor>().base.len();
    let mut occ = Occupancy::new(cells);
    for (e, a, r) in q.iter(world) {
        order.push((a.id.0, e));
        occ.by_cell[r.cell as usize] = a.id.0;
    }
    order.sort_unstable();
    world.insert_resource(RobotOrder(order));
    world.insert_resource(occ);
}

/// Live change of the robot count: the newest robots leave (their tasks go back to waiting,
/// their bays and spots are freed), or new ones start on free cells.
pub(super) fn sync_robot_count(world: &mut World) {
    let want = world.resource::<WarehouseParams>().0.robots as usize;
    let have = world.resource::<RobotOrder>().0.len();
    if want == have {
        return;
    }
    let clock = world.resource::<SimClock>().clone();
    let cfg = world.resource::<WarehouseParams>().0.clone();
    if want < have {
        let gone: Vec<(u32, Entity)> = world.resource::<RobotOrder>().0[want..].to_vec();
        for &(id, e) in gone.iter().rev() {
            let (phase, task) = world.get::<Robot>(e).map_or((RobotPhase::Idle, NONE), |r| (r.phase, r.task));
            match phase {
                RobotPhase::ToPick => give_up(&mut world.resource_mut::<Ledger>(), task),
                RobotPhase::Carrying => world.resource_mut::<Ledger>().abandon(task),
                _ => {}
            }
            world.resource_mut::<Chargers>().leave(id);
            world.resource_mut::<Parking>().leave(id);
            world.despawn(e);
        }
    } else {
        let occ = world.resource::<Occupancy>().clone();
        let cells = world.resource::<Floor>().start_cells(want - have, &|c| occ.at(c) != NONE);
        for cell in cells {
            let id = world.resource_mut::<AgentIds>().alloc();
            let floor = world.resource::<Floor>();
            let b =
                robot_bundle(id, cell, floor, cfg.battery.initial * cfg.battery.capacity_kwh, clock.tick, clock.seed);
            world.spawn(b);
        }
    }
    rebuild_order(world);
    let now = world.resource::<RobotOrder>().0.len();
    world.resource_mut::<EventLog>().push(
        clock.tick,
        "robots_changed",
        None,
        [("from", json!(have)), ("to", json!(now)), ("asked", json!(want))],
    );
}

/// Breakdowns and repairs, robots going down (crash, breakdown, running flat) and coming
/// back, and the floor as known: blocked cells and the cells of robots that are down.
#[allow(clippy::too_many_arguments)]
pub(super) fn health(
    clock: Res<SimClock>,
    params: Res<WarehouseParams>,
    order: Res<RobotOrder>,
    events: Res<super::events::WorldEvents>,
    mut floor: ResMut<Floor>,
    mut ledger: ResMut<Ledger>,
    mut chargers: ResMut<Chargers>,
    mut parking: ResMut<Parking>,
    mut log: ResMut<EventLog>,
    mut q: Query<(&mut Robot, &mut Link, &mut AgentRng, Has<Crashed>)>,
) {
    let now = clock.tick;
    let cfg = &params.0.robot;
    let p_break = (cfg.breakdowns_per_h * clock.dt / 3600.0).clamp(0.0, 1.0);
    let mut down = BTreeSet::new();
    for &(id, e) in &order.0 {
        let Ok((mut r, mut link, mut rng, crashed)) = q.get_mut(e) else { continue };
        if r.broken_until.is_some_and(|t| t <= now) {
            r.broken_until = None;
            log.push(now, "robot_repaired", Some(id), [("cell", json!(r.cell))]);
        }
        if !crashed && !r.broken() && !r.stranded && p_break > 0.0 && rng.0.random_bool(p_break) {
            let until = cfg.repair_ticks.map_or(u64::MAX, |t| now + t.max(1));
            r.broken_until = Some(until);
            log.push(
                now,
                "robot_broken",
                Some(id),
                [("cell", json!(r.cell)), ("repair_tick", if until == u64::MAX { json!(null) } else { json!(until) })],
            );
        }
        let is_down = crashed || r.broken() || r.stranded;
        if is_down && !r.down {
            r.down = true;
            if r.phase != RobotPhase::Carrying && r.task != NONE {
                give_up(&mut ledger, r.task);
                log.push(now, "task_released", Some(id), [("task", json!(r.task)), ("reason", json!("robot_down"))]);
                r.task = NONE;
            }
            chargers.leave(id);
            parking.leave(id);
            r.parking = NONE;
            r.charger = NONE;
            r.bay = NONE;
            if r.phase != RobotPhase::Carrying {
                r.phase = RobotPhase::Idle;
                r.goal = NONE;
                r.idle_since = now;
            }
            link.bid = None;
        } else if !is_down && r.down {
            r.down = false;
            link.last_fm = now;
            link.moves = [None; 8];
            link.plan_len = 0;
        }
        if is_down {
            down.insert(r.cell);
        }
    }
    floor.set_obstacles(&events.blocked_cells(), &down);
    floor.cache.begin_step();
}

/// Perception: the occupancy grid, then each robot's sensed window.
pub(super) fn perceive(
    clock: Res<SimClock>,
    params: Res<WarehouseParams>,
    floor: Res<Floor>,
    order: Res<RobotOrder>,
    mut occ: ResMut<Occupancy>,
    mut q: Query<(&Robot, &mut Perception), Without<Crashed>>,
    cells: Query<&Robot>,
) {
    occ.by_cell.fill(NONE);
    for &(id, e) in &order.0 {
        if let Ok(r) = cells.get(e) {
            occ.by_cell[r.cell as usize] = id;
        }
    }
    let rad = params.0.robot.perception_radius.clamp(1, 3) as i32;
    let (rows, cols) = (floor.rows() as i32, floor.cols() as i32);
    for &(id, e) in &order.0 {
        let Ok((r, mut p)) = q.get_mut(e) else { continue };
        let (row, col) = ((r.cell / cols as u32) as i32, (r.cell % cols as u32) as i32);
        let mut out = Perception { tick: clock.tick, radius: rad as u8, ..Default::default() };
        let mut k = 0;
        for dr in -rad..=rad {
            for dc in -rad..=rad {
                let (rr, cc) = (row + dr, col + dc);
                if rr < 0 || cc < 0 || rr >= rows || cc >= cols {
                    out.blocked |= 1 << k;
                } else {
                    let c = (rr * cols + cc) as u32;
                    if !floor.map.is_passable(c) && occ.at(c) == NONE {
                        out.blocked |= 1 << k;
                    }
                    let o = occ.at(c);
                    if o != NONE {
                        out.occupied |= 1 << k;
                        if o != id {
                            if (out.seen_n as usize) < out.seen.len() {
                                out.seen[out.seen_n as usize] = o;
                                out.seen_n += 1;
                            }
                            out.seen_total += 1;
                        }
                    }
                }
                k += 1;
            }
        }
        *p = out;
    }
}

/// Everything a robot's decision reads and the shared state it may change.
#[derive(SystemParam)]
pub(super) struct DecideCtx<'w> {
    clock: Res<'w, SimClock>,
    params: Res<'w, WarehouseParams>,
    coord: Res<'w, CoordinationRes>,
    floor: ResMut<'w, Floor>,
    occ: Res<'w, Occupancy>,
    ledger: ResMut<'w, Ledger>,
    chargers: ResMut<'w, Chargers>,
    parking: ResMut<'w, Parking>,
    log: ResMut<'w, EventLog>,
    totals: ResMut<'w, RunTotals>,
    order: Res<'w, RobotOrder>,
}

/// The data of one robot's decision.
type DecideItem<'a> = (
    &'a mut Robot,
    &'a mut Link,
    &'a Perception,
    &'a Inbox,
    &'a mut Outbox,
    &'a mut Decision,
    &'a mut AgentRng,
    Has<Hijacked>,
    &'a LeaderView,
);

/// Ticks an auction stays open after a robot's bid.
pub const AUCTION_TICKS: u64 = 3;

/// The Decide phase for robots, in id order: messages, task and battery, then the next cell.
pub(super) fn decide(mut c: DecideCtx, mut q: Query<DecideItem, Without<Crashed>>) {
    let cfg = c.params.0.clone();
    let alloc = super::allocation(&cfg, c.coord.0);
    let plan = super::planning(&cfg, c.coord.0);
    let order = c.order.0.clone();
    for &(id, e) in &order {
        let Ok((mut rb, mut link, per, inbox, mut out, mut d, mut rng, hijacked, view)) = q.get_mut(e) else {
            continue;
        };
        // The fleet manager it reports to: the leader whose heartbeats it follows.
        let fm = view.leader;
        let rb = &mut *rb;
        rb.prev = rb.cell;
        rb.moved = false;
        link.backed_off = false;
        if rb.down {
            rb.next = rb.cell;
            rb.desired = rb.cell;
            let why = if rb.stranded { "stranded" } else { "broken" };
            *d = Decision { tick: c.clock.tick, action: "wait", reason: why, value: 0.0 };
            continue;
        }
        let mut me = One { id, fm, cfg: &cfg, alloc, plan, c: &mut c };
        me.read_inbox(rb, &mut link, inbox);
        let task_note = me.tasks(rb, &mut link, &mut out);
        let (mut next, mut desired, mut action, mut reason) = me.motion(rb, &mut link, per, &mut out, &mut rng);
        if hijacked {
            // Hijacked: it tells the others its plan as before, then drives straight for its
            // goal, reservations or not; only its bumper (the interlock) still holds.
            let (_, toward, _, _) = me.greedy(rb);
            (next, desired, action, reason) = (toward, toward, "move", "hijacked");
            link.backed_off = false;
        }
        rb.next = next;
        rb.desired = desired;
        let (action, reason) = match task_note {
            Some(n) if next == rb.cell => n,
            _ => (action, reason),
        };
        let value = (rb.battery_kwh / cfg.battery.capacity_kwh.max(1e-12)) as f32;
        *d = Decision { tick: c.clock.tick, action, reason, value };
    }
}

/// One robot's decision, with the shared context.
struct One<'a, 'w> {
    id: u32,
    fm: AgentId,
    cfg: &'a WarehouseConfig,
    alloc: Allocation,
    plan: Planning,
    c: &'a mut DecideCtx<'w>,
}

/// How a robot chooses its next cell this tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Central,
    Negotiate,
    Greedy,
    Stop,
}

impl One<'_, '_> {
    fn now(&self) -> u64 {
        self.c.clock.tick
    }

    fn read_inbox(&mut self, rb: &mut Robot, link: &mut Link, inbox: &Inbox) {
        let now = self.now();
        link.intents.clear();
        link.stale = 0;
        let cells = self.c.floor.base.len() as f32;
        let cell = |x: f32| if x >= 0.0 && x < cells { x as Cell } else { NONE };
        for m in &inbox.0 {
            if m.from == self.fm {
                link.last_fm = now;
            }
            let p = m.payload;
            match m.kind {
                msg::ASSIGN => {
                    let task = p[0] as u32;
                    let free = rb.phase == RobotPhase::Idle || (rb.phase == RobotPhase::Charging && rb.opportunistic);
                    let low = self.frac(rb) < self.cfg.battery.charge_below;
                    if free && !low && rb.task == NONE && self.c.ledger.hold(task) {
                        self.take_task(rb, link, KnownOrder { task, pick: cell(p[1]), drop: cell(p[2]) });
                    }
                }
                msg::REVOKE => {
                    let task = p[0] as u32;
                    if rb.task == task && rb.phase == RobotPhase::ToPick {
                        self.drop_task(rb, "revoked");
                    }
                }
                msg::ORDER => {
                    let o = KnownOrder { task: p[0] as u32, pick: cell(p[1]), drop: cell(p[2]) };
                    if o.task != rb.task && !link.known.iter().any(|k| k.task == o.task) && o.pick != NONE {
                        if link.known.len() >= 32 {
                            link.known.remove(0);
                        }
                        link.known.push(o);
                    }
                }
                msg::BID => {
                    if let Some(b) = link.bid.as_mut()
                        && b.order.task == p[0] as u32
                    {
                        let theirs = (p[1] as u32, m.from.0);
                        if theirs < b.best {
                            b.best = theirs;
                        }
                    }
                }
                msg::CLAIM => {
                    let task = p[0] as u32;
                    link.known.retain(|k| k.task != task);
                    if link.bid.is_some_and(|b| b.order.task == task) {
                        link.bid = None;
                    }
                    // Two robots claimed one order (a bid was lost): the better bid keeps it.
                    if rb.task == task && rb.phase == RobotPhase::ToPick {
                        let mine = self.c.floor.distance(rb.cell, rb.pick).unwrap_or(u32::MAX);
                        if (p[1] as u32, m.from.0) < (mine, self.id) {
                            self.c.totals.tick.claim_conflicts += 1;
                            self.drop_task(rb, "claim_conflict");
                        }
                    }
                }
                msg::MOVE => {
                    let tick = decode_tick(p[0], now);
                    let flags = p[3] as u32;
                    if tick >= now {
                        link.moves[(tick % 8) as usize] =
                            Some(MoveCmd { tick, from: cell(p[1]), to: cell(p[2]), boosted: flags & 1 == 1 });
                    } else {
                        link.stale += 1;
                    }
                }
                msg::PLAN => {
                    let start = decode_tick(p[0], now);
                    let (lo, hi) = (p[2] as u32, p[3] as u32);
                    let len = ((hi >> 18) & 0xF) as usize;
                    let moves: Vec<u8> = (0..len.min(MAX_PLAN))
                        .map(|k| if k < 8 { (lo >> (3 * k)) & 7 } else { (hi >> (3 * (k - 8))) & 7 } as u8)
                        .collect();
                    let cells = plan_cells(cell(p[1]), &moves, self.c.floor.cols(), self.c.floor.rows());
                    if start + cells.len() as u64 <= now + 1 {
                        link.stale += 1;
                    } else if start >= link.plan_start || link.plan_len == 0 {
                        link.plan_start = start;
                        link.plan_len = cells.len() as u8;
                        link.plan[..cells.len()].copy_from_slice(&cells);
                    }
                }
                msg::INTENT => link.intents.push(Intent {
                    from: m.from.0,
                    cell: cell(p[0]),
                    goal: cell(p[1]),
                    prio: decode_prio(p[2]).0,
                    claim: cell(p[3]),
                }),
                _ => {}
            }
        }
        self.c.totals.tick.stale_reservations += u64::from(link.stale);
    }

    fn frac(&self, rb: &Robot) -> f64 {
        rb.battery_kwh / self.cfg.battery.capacity_kwh.max(1e-12)
    }

    fn take_task(&mut self, rb: &mut Robot, link: &mut Link, o: KnownOrder) {
        if rb.phase == RobotPhase::Charging {
            self.c.chargers.leave(self.id);
            rb.charger = NONE;
            rb.bay = NONE;
            rb.opportunistic = false;
        }
        self.c.parking.leave(self.id);
        rb.parking = NONE;
        rb.task = o.task;
        rb.pick = o.pick;
        rb.drop = o.drop;
        rb.phase = RobotPhase::ToPick;
        link.known.retain(|k| k.task != o.task);
        link.bid = None;
    }

    fn drop_task(&mut self, rb: &mut Robot, why: &'static str) {
        if rb.task != NONE && rb.phase == RobotPhase::ToPick {
            give_up(&mut self.c.ledger, rb.task);
            let now = self.now();
            self.c.log.push(now, "task_released", Some(self.id), [("task", json!(rb.task)), ("reason", json!(why))]);
        }
        rb.task = NONE;
        rb.phase = RobotPhase::Idle;
        rb.idle_since = self.now();
    }

    fn go_charge(&mut self, rb: &mut Robot, opportunistic: bool) -> bool {
        let Some(k) = self.c.chargers.choose(&mut self.c.floor, rb.cell, self.cfg.chargers.choice) else {
            return false;
        };
        self.c.parking.leave(self.id);
        rb.parking = NONE;
        let now = self.now();
        self.c.chargers.join(k, self.id, now);
        rb.charger = k;
        rb.bay = NONE;
        rb.opportunistic = opportunistic;
        rb.phase = RobotPhase::ToCharger;
        true
    }

    /// Task, battery, charger and parking; sets the goal. Returns a notable task-level
    /// decision (shown when the robot does not move).
    fn tasks(&mut self, rb: &mut Robot, link: &mut Link, out: &mut Outbox) -> Option<(&'static str, &'static str)> {
        let now = self.now();
        let b = &self.cfg.battery;
        let frac = self.frac(rb);
        let low = frac < b.charge_below;
        let mut note = None;
        rb.waiting = false;
        let phase = rb.phase;
        match phase {
            RobotPhase::ToPick if low => {
                self.drop_task(rb, "battery_low");
                if self.go_charge(rb, false) {
                    note = Some(("go_charge", "battery_low"));
                }
            }
            RobotPhase::ToPick if rb.pick == NONE || self.c.floor.distance(rb.cell, rb.pick).is_none() => {
                self.drop_task(rb, "pick_unreachable");
            }
            RobotPhase::Idle if low => {
                if self.go_charge(rb, false) {
                    note = Some(("go_charge", "battery_low"));
                } else {
                    note = Some(("wait", "no_charger"));
                }
            }
            RobotPhase::Idle
                if b.policy == ChargePolicy::Opportunistic
                    && frac < b.opportunistic_below
                    && now >= rb.idle_since + 2
                    && self.c.chargers.any_free()
                    && self.go_charge(rb, true) =>
            {
                note = Some(("go_charge", "opportunistic"));
            }
            RobotPhase::Charging => {
                let online = self.c.chargers.list.get(rb.charger as usize).is_some_and(|c| c.online);
                if !online {
                    self.c.chargers.leave(self.id);
                    rb.phase = RobotPhase::Idle;
                    if !self.go_charge(rb, rb.opportunistic) {
                        rb.idle_since = now;
                    }
                    note = Some(("go_charge", "charger_outage"));
                } else if frac >= b.charge_until {
                    self.c.chargers.leave(self.id);
                    rb.charger = NONE;
                    rb.bay = NONE;
                    rb.opportunistic = false;
                    rb.phase = RobotPhase::Idle;
                    rb.idle_since = now;
                    note = Some(("wait", "charged"));
                } else {
                    note = Some(("charge", if rb.opportunistic { "opportunistic" } else { "battery_low" }));
                }
            }
            RobotPhase::ToCharger => {
                let online = self.c.chargers.list.get(rb.charger as usize).is_some_and(|c| c.online);
                if !online {
                    self.c.chargers.leave(self.id);
                    if !self.go_charge(rb, rb.opportunistic) {
                        rb.charger = NONE;
                        rb.waiting = true;
                        note = Some(("wait", "no_charger"));
                    } else {
                        note = Some(("go_charge", "charger_outage"));
                    }
                } else if rb.bay == NONE
                    && let Some(bay) = self.c.chargers.try_bay(rb.charger, self.id, now)
                {
                    rb.bay = bay;
                }
                if rb.opportunistic && rb.bay == NONE && frac >= b.charge_below && self.wants_work(link) {
                    self.c.chargers.leave(self.id);
                    rb.charger = NONE;
                    rb.opportunistic = false;
                    rb.phase = RobotPhase::Idle;
                    rb.idle_since = now;
                }
            }
            _ => {}
        }
        // Allocation by the robots themselves.
        let free = rb.phase == RobotPhase::Idle || (rb.phase == RobotPhase::Charging && rb.opportunistic);
        // NaN charge (never expected) counts as charged enough, as before.
        if free && rb.task == NONE && frac.partial_cmp(&b.charge_below) != Some(std::cmp::Ordering::Less) {
            match self.alloc {
                Allocation::Decentralized => self.auction(rb, link, out),
                Allocation::None => self.nearest_order(rb, link),
                _ => {}
            }
        }
        // The goal.
        let goal = match rb.phase {
            RobotPhase::ToPick => rb.pick,
            RobotPhase::Carrying => rb.drop,
            RobotPhase::Charging => NONE,
            RobotPhase::ToCharger if rb.bay != NONE => rb.bay,
            RobotPhase::ToCharger => match self.queue_spot(rb) {
                Some(g) => g,
                None => {
                    rb.waiting = true;
                    NONE
                }
            },
            RobotPhase::Idle => {
                if rb.parking == NONE
                    && now >= rb.idle_since + self.cfg.robot.park_after_ticks
                    && let Some(s) = self.c.parking.claim(&mut self.c.floor, self.id, rb.cell)
                {
                    rb.parking = s;
                }
                if rb.parking != NONE && rb.parking != rb.cell {
                    rb.parking
                } else if rb.parking == NONE && self.on_station(rb.cell) {
                    // An idle robot does not stand on a station: off to the nearest free cell.
                    if rb.clear_to == NONE || rb.clear_to == rb.cell || !self.c.floor.map.is_passable(rb.clear_to) {
                        rb.clear_to = self.clear_spot(rb.cell);
                    }
                    rb.clear_to
                } else {
                    rb.clear_to = NONE;
                    NONE
                }
            }
        };
        if goal != rb.goal || goal == rb.cell {
            rb.goal_since = now;
        }
        rb.goal = goal;
        note
    }

    /// Whether a cell is a station (pick, drop, charger, parking) of the floor.
    fn on_station(&self, cell: Cell) -> bool {
        self.c.floor.base.kind(cell).is_some_and(|k| k.is_station() && k != super::map::CellKind::Parking)
    }

    /// The nearest free cell (no station, nobody on it) within 12 steps, by breadth-first
    /// search north, east, south, west; `NONE` if there is none.
    fn clear_spot(&self, from: Cell) -> Cell {
        let map = &self.c.floor.map;
        let mut seen = vec![from];
        let mut frontier = vec![from];
        for _ in 0..12 {
            let mut next = Vec::new();
            for &c in &frontier {
                for n in map.neighbours(c) {
                    if seen.contains(&n) {
                        continue;
                    }
                    seen.push(n);
                    if self.c.floor.base.kind(n) == Some(super::map::CellKind::Free) && self.c.occ.at(n) == NONE {
                        return n;
                    }
                    next.push(n);
                }
            }
            frontier = next;
        }
        NONE
    }

    /// An opportunistically charging robot leaves as soon as there is work it could take.
    fn wants_work(&self, link: &Link) -> bool {
        match self.alloc {
            Allocation::Decentralized | Allocation::None => !link.known.is_empty(),
            _ => false,
        }
    }

    /// Without a bay yet: head for the charger, and hold two cells short of its nearest bay.
    fn queue_spot(&mut self, rb: &Robot) -> Option<Cell> {
        let bays = self.c.chargers.list.get(rb.charger as usize)?.bays.clone();
        let (d, bay) = bays.iter().filter_map(|&b| self.c.floor.distance(rb.cell, b).map(|d| (d, b))).min()?;
        (d > 2).then_some(bay)
    }

    /// The auction (decentralized allocation): bid for the nearest open order heard of,
    /// claim it when the auction closes with this robot's bid the best heard.
    fn auction(&mut self, rb: &mut Robot, link: &mut Link, out: &mut Outbox) {
        let now = self.now();
        if let Some(b) = link.bid {
            if now < b.close {
                return;
            }
            link.bid = None;
            link.known.retain(|k| k.task != b.order.task);
            if b.best.1 == self.id && self.c.ledger.hold(b.order.task) {
                out.send(
                    AgentId(self.id),
                    Dest::All,
                    msg::CLAIM,
                    8,
                    now,
                    [b.order.task as f32, b.value as f32, 0.0, 0.0],
                );
                self.take_task(rb, link, b.order);
            }
            return;
        }
        let Some((value, o)) = self.nearest_known(rb, link) else { return };
        let payload = [o.task as f32, value as f32, rb.cell as f32, 0.0];
        out.send(AgentId(self.id), Dest::Kind(ROBOT), msg::BID, 8, now, payload);
        link.bid = Some(Bid { order: o, value, close: now + AUCTION_TICKS, best: (value, self.id) });
    }

    /// No coordination: take the nearest order heard of that the order board still shows
    /// open (first come, first served), telling nobody.
    fn nearest_order(&mut self, rb: &mut Robot, link: &mut Link) {
        while let Some((_, o)) = self.nearest_known(rb, link) {
            link.known.retain(|k| k.task != o.task);
            if self.c.ledger.take_open(o.task) {
                self.take_task(rb, link, o);
                return;
            }
        }
    }

    fn nearest_known(&mut self, rb: &Robot, link: &mut Link) -> Option<(u32, KnownOrder)> {
        let mut best: Option<(u32, KnownOrder)> = None;
        let mut unreachable = Vec::new();
        for &o in &link.known {
            match self.c.floor.distance(rb.cell, o.pick) {
                Some(d) => {
                    if best.is_none_or(|(bd, bo)| (d, o.task) < (bd, bo.task)) {
                        best = Some((d, o));
                    }
                }
                None => unreachable.push(o.task),
            }
        }
        link.known.retain(|k| !unreachable.contains(&k.task));
        best
    }

    /// The next cell by the planning in force, the move delays and the deadlock breaker.
    fn motion(
        &mut self,
        rb: &mut Robot,
        link: &mut Link,
        _per: &Perception,
        out: &mut Outbox,
        rng: &mut AgentRng,
    ) -> (Cell, Cell, &'static str, &'static str) {
        let now = self.now();
        let u = rb.cell;
        let mode = match self.plan {
            Planning::Centralized => {
                let silent = now.saturating_sub(link.last_fm) > self.cfg.failsafe.stale_after_ticks;
                if silent && !link.fallback {
                    link.fallback = true;
                    let to = match self.cfg.failsafe.fallback {
                        Fallback::Decentralized => "decentralized",
                        Fallback::Stop => "stop",
                    };
                    self.c.log.push(
                        now,
                        "failsafe_engaged",
                        Some(self.id),
                        [("reason", json!("fleet_manager_silent")), ("fallback", json!(to))],
                    );
                } else if !silent && link.fallback {
                    link.fallback = false;
                    self.c.log.push(
                        now,
                        "failsafe_released",
                        Some(self.id),
                        [("reason", json!("fleet_manager_heard"))],
                    );
                }
                match (link.fallback, self.cfg.failsafe.fallback) {
                    (false, _) => Mode::Central,
                    (true, Fallback::Decentralized) => Mode::Negotiate,
                    (true, Fallback::Stop) => Mode::Stop,
                }
            }
            Planning::Decentralized => Mode::Negotiate,
            Planning::None | Planning::Auto => Mode::Greedy,
        };
        if self.plan != Planning::Centralized && link.fallback {
            link.fallback = false;
        }
        link.pushed = false;
        let (mut next, desired, mut action, mut reason) = match mode {
            Mode::Central => self.central(rb, link),
            Mode::Stop => {
                rb.waiting = rb.goal != NONE;
                (u, u, "wait", "stale_reservations")
            }
            Mode::Negotiate => self.negotiate(rb, link, out),
            Mode::Greedy => self.greedy(rb),
        };
        // The deadlock breaker (robots that decide for themselves; negotiating robots give
        // priority inheritance three times the patience first).
        let patience = self.cfg.failsafe.patience_ticks as u32 * if mode == Mode::Negotiate { 3 } else { 1 };
        if mode == Mode::Negotiate || mode == Mode::Greedy {
            if rb.backoff_left == 0 && rb.blocked_ticks >= patience && rb.blocked_by != NONE && self.id > rb.blocked_by
            {
                rb.backoff_left = self.cfg.failsafe.backoff_ticks as u32;
                rb.backoff_from = rb.desired;
                rb.blocked_ticks = 0;
                self.c.totals.tick.replans += 1;
            }
            if rb.backoff_left > 0 {
                rb.backoff_left -= 1;
                if let Some(v) = self.back_off(rb) {
                    next = v;
                    link.backed_off = true;
                }
                action = "yield";
                reason = "deadlock_backoff";
            }
        }
        // LRR-style move delays.
        if rb.delay_left > 0 {
            rb.delay_left -= 1;
            return (u, desired, "wait", "delayed");
        }
        let p = self.cfg.robot.delay_probability;
        if next != u && p > 0.0 && rng.0.random_bool(p.min(1.0)) {
            rb.delay_left = self.cfg.robot.delay_ticks.saturating_sub(1);
            return (u, desired, "wait", "delayed");
        }
        (next, desired, action, reason)
    }

    /// Central planning: the fleet manager's reservation for this tick, if it is fresh and
    /// starts where the robot is.
    fn central(&mut self, rb: &mut Robot, link: &mut Link) -> (Cell, Cell, &'static str, &'static str) {
        let now = self.now();
        let u = rb.cell;
        if let Some(m) = link.moves[(now % 8) as usize]
            && m.tick == now
        {
            link.moves[(now % 8) as usize] = None;
            if m.from == u && m.to != NONE {
                let reason = if m.boosted { "priority_change" } else { "reservation" };
                return (m.to, m.to, if m.to == u { "wait" } else { "move" }, reason);
            }
            self.c.totals.tick.stale_reservations += 1;
        }
        let len = u64::from(link.plan_len);
        if len > 1 && now >= link.plan_start && now + 1 < link.plan_start + len {
            let k = (now - link.plan_start) as usize;
            if link.plan[k] == u {
                let v = link.plan[k + 1];
                return (v, v, if v == u { "wait" } else { "move" }, "plan");
            }
            return (u, u, "wait", "off_plan");
        }
        if rb.goal != NONE {
            rb.waiting = true;
        }
        (u, u, "wait", "no_reservation")
    }

    /// Distance to the goal from each candidate cell (`u16::MAX` unreachable); without a goal,
    /// 0 for its own cell and 1 elsewhere.
    fn dist(&mut self, goal: Cell, cells: &[Cell], here: Cell) -> Vec<u16> {
        if goal == NONE {
            return cells.iter().map(|&c| u16::from(c != here)).collect();
        }
        let floor = &mut *self.c.floor;
        let Some(gv) = floor.cache.graph().vertex(goal) else { return vec![UNREACHABLE; cells.len()] };
        let Some(slot) = floor.cache.slot(gv) else { return vec![UNREACHABLE; cells.len()] };
        let table = floor.cache.table(slot);
        let graph = floor.cache.graph();
        cells.iter().map(|&c| graph.vertex(c).map_or(UNREACHABLE, |v| table[v as usize])).collect()
    }

    fn hash(&self, salt: u64) -> u64 {
        crate::sim::rng::mix64(self.c.clock.seed ^ crate::sim::rng::mix64(u64::from(self.id) ^ salt))
    }

    /// No coordination: step to the neighbour that brings it nearest its goal among those
    /// empty right now; wait otherwise. Never enters a cell being vacated (it cannot know).
    fn greedy(&mut self, rb: &mut Robot) -> (Cell, Cell, &'static str, &'static str) {
        let u = rb.cell;
        if rb.goal == NONE {
            return (u, u, "wait", if rb.phase == RobotPhase::Charging { "charging" } else { "no_task" });
        }
        let nbrs: Vec<Cell> = self.c.floor.map.neighbours(u).collect();
        let mut all = nbrs.clone();
        all.push(u);
        let d = self.dist(rb.goal, &all, u);
        let du = d[nbrs.len()];
        let mut better: Vec<(u16, usize)> = (0..nbrs.len()).filter(|&i| d[i] < du).map(|i| (d[i], i)).collect();
        better.sort_unstable();
        let desired = better.first().map_or(u, |b| nbrs[b.1]);
        if desired == u {
            return (u, u, "wait", if du == UNREACHABLE { "goal_unreachable" } else { "at_goal" });
        }
        for &(_, i) in &better {
            if self.c.occ.at(nbrs[i]) == NONE {
                return (nbrs[i], desired, "move", "greedy");
            }
        }
        (u, desired, "wait", "occupied")
    }

    /// Decentralized planning: moves negotiated with neighbours through the channel, one
    /// tick ahead. After every move a robot tells the robots around it its cell, its goal, its
    /// priority (ticks since its goal changed) and the cell it claims for the next tick. A
    /// claim is granted by a rule every neighbour applies to the same claims: no other robot
    /// claimed the cell with a higher priority, and the cell is empty or its occupant claimed
    /// a move away that is not into the claimant's cell (two robots that claim each other's
    /// cells both wait). The claims themselves come from one PIBT step each robot runs over
    /// the robots it senses, at the cells they will be on if their claims are granted: the
    /// highest priority first, a robot in the way pushed aside (priority inheritance). A
    /// claim that is lost or late is not heard: its robot waits, and the interlock catches
    /// what nobody heard.
    fn negotiate(
        &mut self,
        rb: &mut Robot,
        link: &mut Link,
        _out: &mut Outbox,
    ) -> (Cell, Cell, &'static str, &'static str) {
        let now = self.now();
        let u = rb.cell;
        let mine = if rb.goal == NONE { 0 } else { (now - rb.goal_since).min(1 << 20) as u32 };
        // What the neighbours said last tick, if they are where they said they would be.
        let heard: Vec<Intent> = link.intents.iter().copied().filter(|i| self.c.occ.at(i.cell) == i.from).collect();
        let key = |prio: u32, id: u32, s: &Self| claim_key(s.c.clock.seed, prio, id);
        // 1. The claim made last tick, granted or not.
        let my_claim = link.claim.take().filter(|c| c.0 == now);
        link.claimed = my_claim;
        let granted = |claimant: u32, cell_of: Cell, target: Cell, k: u64, s: &Self| -> bool {
            if target == NONE || target == cell_of || !s.c.floor.map.is_passable(target) {
                return false;
            }
            if heard.iter().any(|i| i.from != claimant && i.claim == target && key(i.prio, i.from, s) > k) {
                return false;
            }
            let occupant = s.c.occ.at(target);
            if occupant == NONE {
                return true;
            }
            heard.iter().any(|i| i.from == occupant && i.claim != NONE && i.claim != target && i.claim != cell_of)
        };
        let mut next = u;
        let mut desired = u;
        let mut reason = "no_claim";
        if let Some((_, c, p)) = my_claim
            && self.c.floor.map.neighbours(u).any(|n| n == c)
        {
            desired = c;
            if granted(self.id, u, c, key(p, self.id, self), self) {
                next = c;
                reason = if link.pushed { "pushed" } else { "negotiated" };
            } else {
                reason = "claim_refused";
            }
        }
        let was_pushed = link.pushed;
        // 2. Where everybody around will be after this tick, by the same rule.
        let rad = self.cfg.robot.perception_radius.clamp(1, 3) as i64;
        let cols = i64::from(self.c.floor.cols());
        let rows = i64::from(self.c.floor.rows());
        let (row, col) = (i64::from(u) / cols, i64::from(u) % cols);
        let mut who: Vec<(u32, Cell, Cell, u32)> = vec![(self.id, next, rb.goal, mine)];
        for dr in -rad..=rad {
            for dc in -rad..=rad {
                let (r2, c2) = (row + dr, col + dc);
                if (dr == 0 && dc == 0) || r2 < 0 || c2 < 0 || r2 >= rows || c2 >= cols {
                    continue;
                }
                let c = (r2 * cols + c2) as Cell;
                let k = self.c.occ.at(c);
                if k == NONE || !self.c.floor.map.is_passable(c) {
                    continue; // empty, or a robot that is down (an obstacle)
                }
                let (goal, prio, at) = match heard.iter().find(|i| i.from == k) {
                    Some(i) => {
                        let moves = granted(k, c, i.claim, key(i.prio, k, self), self);
                        (i.goal, i.prio + 1, if moves { i.claim } else { c })
                    }
                    None => (NONE, 0, c),
                };
                who.push((k, at, goal, prio));
            }
        }
        // Two predictions on one cell (views differ): keep the first, drop the rest.
        let mut seen_cells: Vec<Cell> = Vec::with_capacity(who.len());
        who.retain(|w| {
            let fresh = !seen_cells.contains(&w.1);
            seen_cells.push(w.1);
            fresh
        });
        // 3. One PIBT step from there: this robot's claim for the next tick.
        let mut agents = Vec::with_capacity(who.len());
        for &(k, c, goal, prio) in &who {
            let mut cand: Vec<Cell> = self.c.floor.map.neighbours(c).collect();
            cand.push(c);
            let d = self.dist(goal, &cand, c);
            let salt = (now << 20) ^ u64::from(k);
            let mut keyed: Vec<(u16, u64, Cell)> =
                cand.iter().zip(&d).map(|(&x, &dx)| (dx, self.hash_of(salt ^ u64::from(x) << 32), x)).collect();
            keyed.sort_unstable();
            let mut arr = [NONE; 5];
            for (slot, kx) in arr.iter_mut().zip(&keyed) {
                *slot = kx.2;
            }
            agents.push(LocalAgent { cell: c, prio: key(prio, k, self), cand: arr, n: keyed.len() as u8 });
        }
        let mut plan = Vec::new();
        pibt_local(&agents, &mut plan);
        let claim = plan[0];
        let best = agents[0].cand[0];
        link.pushed = claim != next && claim != best;
        if claim != next {
            link.claim = Some((now + 1, claim, mine));
        }
        link.prio = mine;
        link.announce = rb.goal != NONE || link.claim.is_some();
        if link.pushed {
            self.c.totals.tick.replans += 1;
        }
        if rb.goal == NONE && next == u && link.claim.is_none() {
            let why = if rb.phase == RobotPhase::Charging { "charging" } else { "no_task" };
            return (u, u, "wait", why);
        }
        let action = match (next != u, was_pushed) {
            (true, true) => "yield",
            (true, false) => "move",
            _ => "wait",
        };
        if next == u && reason == "no_claim" {
            reason = if link.claim.is_some() { "claiming" } else { "at_goal" };
        }
        (next, desired, action, reason)
    }

    fn hash_of(&self, x: u64) -> u64 {
        crate::sim::rng::mix64(self.c.clock.seed ^ crate::sim::rng::mix64(x))
    }

    /// Backing off: an empty neighbour as far as possible from the cell it keeps away from.
    fn back_off(&mut self, rb: &Robot) -> Option<Cell> {
        let from = rb.backoff_from;
        let cols = self.c.floor.cols();
        let man = |a: Cell, b: Cell| (a / cols).abs_diff(b / cols) + (a % cols).abs_diff(b % cols);
        let mut best: Option<(u32, u64, Cell)> = None;
        for v in self.c.floor.map.neighbours(rb.cell).collect::<Vec<_>>() {
            if v == from || self.c.occ.at(v) != NONE {
                continue;
            }
            let key = (man(v, from), self.hash(u64::from(v)) >> 8, v);
            if best.is_none_or(|b| (key.0, std::cmp::Reverse(key.1)) > (b.0, std::cmp::Reverse(b.1))) {
                best = Some(key);
            }
        }
        best.map(|b| b.2)
    }
}

/// What Act reads and writes of a robot: state, pose, decision, crashed, hijacked.
type ActItem<'a> = (&'a mut Robot, &'a mut Pose, &'a mut Decision, Has<Crashed>, Has<Hijacked>);

/// The Act phase: every robot's intended move through the interlock, then motion, energy and
/// charging.
#[allow(clippy::too_many_arguments)]
pub(super) fn act(
    clock: Res<SimClock>,
    params: Res<WarehouseParams>,
    floor: Res<Floor>,
    order: Res<RobotOrder>,
    mut scratch: ResMut<MotionScratch>,
    mut totals: ResMut<RunTotals>,
    mut chargers: ResMut<Chargers>,
    mut q: Query<ActItem>,
) {
    let s = &mut *scratch;
    s.prev.clear();
    s.intended.clear();
    s.prio.clear();
    s.ids.clear();
    s.desired.clear();
    s.live.clear();
    for &(id, e) in &order.0 {
        let Ok((r, _, _, crashed, hijacked)) = q.get(e) else { continue };
        let live = !crashed && !r.down;
        s.ids.push(id);
        s.prev.push(r.cell);
        s.intended.push(if live { r.next } else { r.cell });
        s.desired.push(if live { r.desired } else { r.cell });
        s.live.push(live);
        // Right of way in a contest: a seeded draw per robot and tick (fair, reproducible).
        // A hijacked robot never yields a contest (it still cannot enter an occupied cell).
        s.prio.push(if hijacked {
            u64::MAX
        } else {
            crate::sim::rng::mix64(clock.seed ^ crate::sim::rng::mix64(clock.tick ^ (u64::from(id) << 32)))
        });
    }
    let cancelled = interlock(&s.prev, &s.intended, &s.prio, floor.base.len(), &mut s.scratch, &mut s.next);
    totals.tick.interlock_stops += cancelled as u64;

    let b = &params.0.battery;
    let idle = b.idle_kw * clock.dt / 3600.0;
    let charge = b.charge_kw * clock.dt / 3600.0;
    let speed = (floor.cell_m / clock.dt) as f32;
    let cols = floor.cols();
    for (k, &(_, e)) in order.0.iter().enumerate() {
        let Ok((mut r, mut pose, mut d, crashed, _)) = q.get_mut(e) else { continue };
        if k >= s.next.len() {
            break;
        }
        let to = s.next[k];
        let from = r.cell;
        if s.live[k] && s.intended[k] != from && to == from {
            *d = Decision { tick: clock.tick, action: "wait", reason: "interlock", value: d.value };
        }
        r.moved = to != from;
        if r.moved {
            let (dr, dc) =
                (i64::from(to / cols) - i64::from(from / cols), i64::from(to % cols) - i64::from(from % cols));
            r.heading = (-(dr as f32)).atan2(dc as f32);
            r.cell = to;
            r.moves += 1;
            let e_move = b.move_kwh + if r.phase == RobotPhase::Carrying { b.load_kwh } else { 0.0 };
            drain(&mut r, e_move);
        }
        if !crashed && !r.stranded {
            let charging = r.phase == RobotPhase::Charging
                && chargers.list.get(r.charger as usize).is_some_and(|c| c.online)
                && r.cell == r.bay;
            if charging {
                r.battery_kwh = (r.battery_kwh + charge).min(b.capacity_kwh);
            } else {
                drain(&mut r, idle);
            }
        }
        let (x, y) = floor.xy(r.cell);
        *pose = Pose { x, y, heading: r.heading, speed: if r.moved { speed } else { 0.0 } };
        let _ = &mut chargers;
    }
}

/// Uses `kwh` of a robot's battery (never below 0).
fn drain(r: &mut Robot, kwh: f64) {
    let used = kwh.min(r.battery_kwh).max(0.0);
    r.battery_kwh -= used;
    r.energy_kwh += used;
}

/// Everything Resolve needs.
#[derive(SystemParam)]
pub(super) struct ResolveCtx<'w> {
    clock: Res<'w, SimClock>,
    params: Res<'w, WarehouseParams>,
    floor: Res<'w, Floor>,
    order: Res<'w, RobotOrder>,
    scratch: Res<'w, MotionScratch>,
    totals: ResMut<'w, RunTotals>,
    deadlocks: ResMut<'w, Deadlocks>,
    ledger: ResMut<'w, Ledger>,
    chargers: ResMut<'w, Chargers>,
    occ: ResMut<'w, Occupancy>,
    log: ResMut<'w, EventLog>,
}

/// The Resolve phase: the invariant (no vertex, no edge conflict, only legal moves) checked
/// on the moves as executed, the wait-for deadlock monitor, then arrivals — picks, drops,
/// bays — and strandings.
pub(super) fn resolve(mut c: ResolveCtx, mut q: Query<(&mut Robot, &mut Decision, Has<Crashed>)>) {
    let now = c.clock.tick;
    let s = &*c.scratch;
    let conflicts = check_step(&s.prev, &s.next);
    let illegal =
        check_moves(c.floor.cache.graph(), &s.prev, &s.next).into_iter().filter(|&k| s.prev[k] != s.next[k]).count();
    let n_conf = conflicts.vertex.len() + conflicts.edge.len() + illegal;
    if n_conf > 0 {
        c.totals.tick.conflicts += n_conf as u64;
        let v: Vec<[u32; 3]> =
            conflicts.vertex.iter().map(|&(a, b, cell)| [s.ids[a], s.ids[b], cell]).take(10).collect();
        let e: Vec<[u32; 2]> = conflicts.edge.iter().map(|&(a, b)| [s.ids[a], s.ids[b]]).take(10).collect();
        c.log.push(
            now,
            "conflict",
            None,
            [("vertex", json!(v)), ("edge", json!(e)), ("illegal_moves", json!(illegal))],
        );
    }
    // Wait-for cycles among robots that decide (a robot that is down wants nothing).
    let cycles = deadlock_cycles(&s.prev, &s.desired, &s.next);
    let ids: Vec<Vec<u32>> = cycles.iter().map(|cy| cy.iter().map(|&k| s.ids[k]).collect()).collect();
    let cells: Vec<Vec<Cell>> = cycles.iter().map(|cy| cy.iter().map(|&k| s.prev[k]).collect()).collect();
    let fresh = c.deadlocks.observe(&ids, now, c.params.0.failsafe.deadlock_ticks);
    for k in fresh {
        let rc: Vec<[u32; 2]> = cells[k].iter().map(|&cell| [cell / c.floor.cols(), cell % c.floor.cols()]).collect();
        c.totals.tick.deadlocks += 1;
        c.log.push(
            now,
            "deadlock",
            None,
            [
                ("robots", json!(ids[k])),
                ("cells", json!(rc)),
                ("breaker", json!("the robots back off (lower id keeps its way) or the planner raises priority")),
            ],
        );
    }
    // Occupancy after the moves, arrivals, strandings, the breaker's count.
    c.occ.by_cell.fill(NONE);
    for (k, &id) in s.ids.iter().enumerate() {
        c.occ.by_cell[s.next[k] as usize] = id;
    }
    for (k, &(id, e)) in c.order.0.iter().enumerate() {
        let Ok((mut r, mut d, crashed)) = q.get_mut(e) else { continue };
        if crashed || k >= s.next.len() {
            continue;
        }
        let r = &mut *r;
        if !r.down && r.battery_kwh <= 0.0 && !r.stranded {
            r.stranded = true;
            c.log.push(now, "robot_stranded", Some(id), [("cell", json!(r.cell)), ("task", json!(r.task))]);
            *d = Decision { tick: now, action: "wait", reason: "stranded", value: 0.0 };
            continue;
        }
        if r.down {
            continue;
        }
        // The breaker counts ticks spent waiting for the same robot.
        if s.desired[k] != s.prev[k] && s.next[k] == s.prev[k] {
            let holder = c.occ.at(s.desired[k]);
            if holder != NONE && holder == r.blocked_by {
                r.blocked_ticks += 1;
            } else {
                r.blocked_by = holder;
                r.blocked_ticks = u32::from(holder != NONE);
            }
        } else if r.moved {
            r.blocked_by = NONE;
            r.blocked_ticks = 0;
        }
        match r.phase {
            RobotPhase::ToPick if r.cell == r.pick => {
                if c.ledger.pick(r.task, id) {
                    r.phase = RobotPhase::Carrying;
                    r.goal_since = now;
                    *d = Decision { tick: now, action: "pick", reason: "at_pick", value: r.task as f32 };
                } else {
                    c.ledger.duplicate_picks += 1;
                    c.ledger.release(r.task);
                    c.log.push(
                        now,
                        "task_released",
                        Some(id),
                        [("task", json!(r.task)), ("reason", json!("already_picked"))],
                    );
                    r.task = NONE;
                    r.phase = RobotPhase::Idle;
                    r.idle_since = now;
                    *d = Decision { tick: now, action: "wait", reason: "already_picked", value: 0.0 };
                }
            }
            RobotPhase::Carrying if r.cell == r.drop => {
                c.ledger.deliver(r.task, now);
                *d = Decision { tick: now, action: "drop", reason: "at_drop", value: r.task as f32 };
                r.task = NONE;
                r.tasks_done += 1;
                r.phase = RobotPhase::Idle;
                r.idle_since = now;
                r.goal_since = now;
            }
            RobotPhase::ToCharger if r.bay != NONE && r.cell == r.bay => {
                r.phase = RobotPhase::Charging;
                *d = Decision { tick: now, action: "charge", reason: "at_bay", value: d.value };
            }
            _ => {}
        }
    }
    let _ = &mut c.chargers;
}

/// A robot's fixed tie-break among equal priorities.
fn tiebreak(seed: u64, id: u32) -> u64 {
    crate::sim::rng::mix64(seed ^ crate::sim::rng::mix64(u64::from(id) ^ 0x9E37))
}

/// The order of two claims on one cell in negotiation: the higher key wins.
pub(super) fn claim_key(seed: u64, prio: u32, id: u32) -> u64 {
    (u64::from(prio) << 32) | (tiebreak(seed, id) >> 32)
}

/// An intent's priority field: the priority, negative (−1 − priority) when the move it
/// follows was a deadlock back-off rather than a granted claim.
pub(super) fn encode_prio(prio: u32, backed_off: bool) -> f32 {
    if backed_off { -1.0 - prio as f32 } else { prio as f32 }
}

/// The priority and the back-off mark of an intent's priority field.
pub(super) fn decode_prio(x: f32) -> (u32, bool) {
    if x < 0.0 { ((-1.0 - x).max(0.0) as u32, true) } else { (x as u32, false) }
}

/// Robots' status reports, after moving: to the fleet manager when it allocates or plans,
/// and to the zone's manager under hierarchical allocation.
#[allow(clippy::type_complexity)]
pub(super) fn report(
    clock: Res<SimClock>,
    params: Res<WarehouseParams>,
    coord: Res<CoordinationRes>,
    floor: Res<Floor>,
    order: Res<RobotOrder>,
    mut sec: ResMut<Security>,
    mut q: Query<(&Robot, &mut Link, &mut Outbox, &LeaderView, Has<Hijacked>), Without<Crashed>>,
) {
    let cfg = &params.0;
    let now = clock.tick;
    // Negotiating robots tell the robots around them their cell, goal and priority.
    let radius = ((f64::from(cfg.robot.perception_radius.clamp(1, 3)) + 1.5) * floor.cell_m) as f32;
    for &(id, e) in &order.0 {
        let Ok((r, mut link, mut out, _, hijacked)) = q.get_mut(e) else { continue };
        if !link.announce || r.down {
            continue;
        }
        link.announce = false;
        // A claim made from a cell it did not reach (the interlock held it) is void.
        if r.cell != r.next {
            link.claim = None;
        }
        let goal = if r.goal == NONE { -1.0 } else { r.goal as f32 };
        let claim = link.claim.map_or(-1.0, |c| c.1 as f32);
        let prio = encode_prio(link.prio, link.backed_off && r.cell != r.prev);
        out.send(AgentId(id), Dest::Near(radius), msg::INTENT, 12, now, [r.cell as f32, goal, prio, claim]);
        if hijacked {
            // Its claims are not what it does: every intent it sends is a lie.
            sec.stats.attack_sent += crate::sim::security::mark_lie(&mut out);
        }
    }
    let alloc = super::allocation(cfg, coord.0);
    let plan = super::planning(cfg, coord.0);
    let to_fm = plan == Planning::Centralized || alloc == Allocation::Centralized;
    let to_zone = alloc == Allocation::Hierarchical;
    if !to_fm && !to_zone {
        return;
    }
    let b = &cfg.battery;
    for &(id, e) in &order.0 {
        let Ok((r, _, mut out, view, _)) = q.get_mut(e) else { continue };
        if r.stranded {
            continue;
        }
        let pct = (r.battery_kwh / b.capacity_kwh.max(1e-12) * 100.0).round().clamp(0.0, 100.0) as u32;
        let state = if r.broken() { CODE_BROKEN } else { r.phase.code() };
        let stuck = r.blocked_ticks >= cfg.failsafe.patience_ticks as u32;
        let avail = (r.phase == RobotPhase::Idle || (r.phase == RobotPhase::Charging && r.opportunistic))
            && !r.broken()
            && r.task == NONE
            && r.battery_kwh / b.capacity_kwh.max(1e-12) >= b.charge_below;
        let code = state + 16 * u32::from(stuck) + 32 * u32::from(avail) + 64 * pct;
        let f = |c: Cell| if c == NONE { -1.0 } else { c as f32 };
        let payload = [f(r.cell), f(r.goal), f(r.task), code as f32];
        if to_fm {
            out.send(AgentId(id), Dest::To(view.leader), msg::STATUS, 16, now, payload);
        }
        if to_zone {
            let z = floor.zone_of(r.cell);
            out.send(AgentId(id), Dest::To(AgentId(1 + z)), msg::STATUS, 16, now, payload);
        }
    }
    let _ = encode_tick;
}
