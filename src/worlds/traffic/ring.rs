//! Vehicles on a single-lane ring road (the setting of Sugiyama et al. 2008): spawning,
//! perception of the vehicle ahead, driving decisions under each coordination strategy,
//! motion, the no-overlap invariant, controllers, and the traffic metrics.

use std::f64::consts::TAU;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use bevy::ecs::bundle::NoBundleEffect;
use bevy::prelude::*;
use bevy::tasks::ComputeTaskPool;
use rand::RngExt;
use rand::distr::Bernoulli;
use serde_json::json;

use super::config::{CarFollowing, Road, TrafficConfig};
use super::models::{follower_stopper, nasch_speed, pi_saturation, track_speed};
use crate::sim::{
    Agent, AgentId, AgentIds, AgentKind, AgentRng, Coordination, CoordinationRes, Crashed, Decision, Dest, EventLog,
    Inbox, MeasureSet, Metrics, Outbox, Perception, Phase, Pose, SimClock, SimTick, SpawnWorld, channel::Channel,
};

/// Message kinds of the traffic world.
pub const MSG_V2V: &str = "v2v_state";
pub const MSG_REPORT: &str = "report";
pub const MSG_ADVICE: &str = "advice";
pub const MSG_SECTOR: &str = "sector_summary";
pub const MSG_TARGET: &str = "target_speed";

/// The traffic settings in force (live-changeable; the runner replaces it on edits).
#[derive(Resource, Clone, Debug)]
pub struct TrafficParams(pub TrafficConfig);

/// Ring geometry and the vehicles in ring order (slot k's leader is slot k+1).
#[derive(Resource, Clone, Debug, Default)]
pub struct RingRoad {
    /// Circumference, m.
    pub length: f64,
    /// Radius, m.
    pub radius: f64,
    /// Cells (NaSch), 0 for IDM.
    pub cells: u32,
    /// Vehicle entities in driving order.
    pub order: Vec<Entity>,
    /// Bumped whenever `order` changes (spawn, live vehicle count).
    pub order_gen: u64,
    snap: Vec<Snap>,
    /// NaSch: where each cell lies, without a sine and cosine per vehicle per tick.
    cell_xy: CellCircle,
}

/// Positions of the cells of a NaSch ring from two small tables of cosines and sines,
/// by the angle-addition formulas: cell `c = hi·K + lo` lies at angle `θ(hi·K) + θ(lo)`.
/// The tables hold about 2√cells entries (72 KB for five million cells, where a table of
/// every cell's position would take 60 MB and miss the cache on every vehicle), and the
/// result agrees with [`RingRoad::xy`] to f64 rounding, far below the f32 it is stored in.
/// Rings of up to [`CellCircle::FULL_UP_TO`] cells also keep every cell's result in a
/// table that fits the cache (at most 768 KB), which is cheaper to read than to compute.
#[derive(Clone, Debug, Default)]
struct CellCircle {
    cells: u32,
    radius: f64,
    /// Radians per cell.
    step: f64,
    /// log2 K.
    shift: u32,
    /// (cos, sin) of θ(hi·K) for each `hi`, and of θ(lo) for each `lo < K`.
    hi: Vec<(f64, f64)>,
    lo: Vec<(f64, f64)>,
    /// Every cell's (x, y, heading), from the tables above; empty past `FULL_UP_TO` cells.
    full: Vec<(f32, f32, f32)>,
}

impl CellCircle {
    const FULL_UP_TO: u32 = 1 << 16;

    fn new(cells: u32, radius: f64) -> CellCircle {
        if cells == 0 {
            return CellCircle::default();
        }
        let step = TAU / f64::from(cells);
        // K: the power of two nearest √cells from above, so `c >> shift` and `c & (K-1)` split it.
        let shift = (f64::from(cells).sqrt().ceil() as u32).next_power_of_two().trailing_zeros();
        let k = 1u32 << shift;
        let cs = |c: u64| {
            let th = c as f64 * step;
            (th.cos(), th.sin())
        };
        let mut circle = CellCircle {
            cells,
            radius,
            step,
            shift,
            hi: (0..cells.div_ceil(k)).map(|h| cs(u64::from(h) << shift)).collect(),
            lo: (0..k).map(|l| cs(u64::from(l))).collect(),
            full: Vec::new(),
        };
        if cells <= Self::FULL_UP_TO {
            circle.full = (0..cells).map(|c| circle.view().compute(c)).collect();
        }
        circle
    }

    /// The tables as slices, for a loop over many vehicles.
    fn view(&self) -> CircleView<'_> {
        CircleView {
            cells: self.cells,
            radius: self.radius,
            step: self.step,
            shift: self.shift,
            hi: &self.hi,
            lo: &self.lo,
            full: &self.full,
        }
    }

    /// (x, y, heading) of cell `c`, as [`RingRoad::xy`] gives them (`None` past the ring).
    fn xy(&self, c: u32) -> Option<(f32, f32, f32)> {
        self.view().xy(c)
    }
}

/// [`CellCircle`] borrowed.
#[derive(Clone, Copy)]
struct CircleView<'a> {
    cells: u32,
    radius: f64,
    step: f64,
    shift: u32,
    hi: &'a [(f64, f64)],
    lo: &'a [(f64, f64)],
    full: &'a [(f32, f32, f32)],
}

impl CircleView<'_> {
    /// [`CircleView::xy`] of a cell on the ring (`c < cells`, which the index operations
    /// check).
    #[inline(always)]
    fn xy_within(&self, c: u32) -> (f32, f32, f32) {
        match self.full.get(c as usize) {
            Some(&p) => p,
            None => self.compute(c),
        }
    }

    /// The position of cell `c < cells` from the two small tables.
    #[inline(always)]
    fn compute(&self, c: u32) -> (f32, f32, f32) {
        let (ch, sh) = self.hi[(c >> self.shift) as usize];
        let (cl, sl) = self.lo[(c & ((1 << self.shift) - 1)) as usize];
        let th = f64::from(c) * self.step;
        (
            (self.radius * (ch * cl - sh * sl)) as f32,
            (self.radius * (sh * cl + ch * sl)) as f32,
            (th + std::f64::consts::FRAC_PI_2) as f32,
        )
    }

    /// (x, y, heading) of cell `c`, as [`RingRoad::xy`] gives them (`None` past the ring).
    #[inline(always)]
    fn xy(&self, c: u32) -> Option<(f32, f32, f32)> {
        (c < self.cells).then(|| self.xy_within(c))
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Snap {
    pos: f64,
    speed: f64,
    cell: u32,
    id: u32,
    length: f64,
}

impl RingRoad {
    /// World coordinates of an arc position: counter-clockwise from the east.
    pub fn xy(&self, pos: f64) -> (f32, f32, f32) {
        let th = pos / self.length * TAU;
        ((self.radius * th.cos()) as f32, (self.radius * th.sin()) as f32, (th + std::f64::consts::FRAC_PI_2) as f32)
    }
}

/// The controller agents: a central one and the sector ones under it.
#[derive(Resource, Clone, Debug, Default)]
pub struct Controllers {
    pub central: Option<AgentId>,
    pub sectors: Vec<AgentId>,
}

/// A vehicle's own state.
#[derive(Component, Clone, Copy, Debug)]
pub struct Vehicle {
    /// Arc position of the front bumper, m, in [0, length).
    pub pos: f64,
    /// Speed, m/s.
    pub speed: f64,
    /// Acceleration chosen this tick, m/s².
    pub accel: f64,
    /// Place in ring order.
    pub slot: u32,
    /// Runs the wave-damping controller instead of a human driver model.
    pub automated: bool,
    /// Automated vehicles' running average of their own speed (their target), m/s.
    pub u_avg: f64,
    /// Automated vehicles' last command speed (the controller filters it), m/s.
    pub v_cmd: f64,
}

/// NaSch state: cell index and speed in cells per tick.
#[derive(Component, Clone, Copy, Debug)]
pub struct Cell {
    pub cell: u32,
    pub v: u32,
}

/// How a vehicle is driving.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Human,
    Cooperative,
    Advised,
    Fallback,
    Automated,
}

/// What a vehicle last heard through the channel, and its driving mode.
#[derive(Component, Clone, Copy, Debug)]
pub struct Link {
    pub leader_msg_tick: u64,
    pub leader_speed: f64,
    pub leader_accel: f64,
    pub advice_tick: u64,
    pub advice: f64,
    pub mode: Mode,
    pub prev_mode: Mode,
}

/// A controller's role and what it has heard.
#[derive(Component, Clone, Debug)]
pub struct ControllerState {
    /// `None` for the central controller, `Some(k)` for sector k.
    pub sector: Option<u32>,
    /// Latest report per vehicle id: (tick sent, pos, speed, gap, leader speed).
    pub reports: Vec<Option<(u64, [f32; 4])>>,
    /// Latest summaries from sectors (central) : (tick, count, sector length).
    pub summaries: Vec<Option<(u64, f32, f32)>>,
    /// Target speed from the central controller (sectors): (tick, speed).
    pub target: Option<(u64, f64)>,
    /// Target speed in force, m/s.
    pub u: f64,
}

/// Jam state for the event log.
#[derive(Resource, Default, Debug)]
struct JamState {
    active: bool,
    clear_ticks: u64,
    started: u64,
}

/// The traffic world plugin.
pub struct TrafficPlugin(pub TrafficConfig);

impl Plugin for TrafficPlugin {
    fn build(&self, app: &mut App) {
        if !matches!(self.0.road, Road::Ring { .. }) {
            super::city::build(app, &self.0);
            return;
        }
        reset(app.world_mut(), &self.0);
        {
            let mut m = app.world_mut().resource_mut::<Metrics>();
            for c in COLUMNS {
                m.register(c);
            }
        }
        app.add_systems(SpawnWorld, spawn);
        app.add_systems(
            SimTick,
            (sync_vehicle_count, sync_automated, choose_path)
                .chain()
                .in_set(Phase::Inject)
                .after(crate::sim::faults::apply_faults),
        );
        app.add_systems(SimTick, perceive.in_set(Phase::Perceive).run_if(general_path));
        app.add_systems(SimTick, decide_vehicles.in_set(Phase::Decide).run_if(general_path));
        app.add_systems(SimTick, decide_controllers.in_set(Phase::Decide));
        app.add_systems(SimTick, act.in_set(Phase::Act).run_if(general_path));
        app.add_systems(SimTick, nasch_fast.in_set(Phase::Act).run_if(fast_path));
        app.add_systems(SimTick, resolve.in_set(Phase::Resolve));
        app.add_systems(SimTick, measure.in_set(MeasureSet::World).run_if(general_path));
        app.add_systems(SimTick, measure_fast.in_set(MeasureSet::World).run_if(fast_path));
    }
}

/// (Re)inserts the traffic world's state for `cfg`; its agents spawn in [`SpawnWorld`].
pub fn reset(world: &mut World, cfg: &TrafficConfig) {
    world.insert_resource(TrafficParams(cfg.clone()));
    world.insert_resource(RingRoad::default());
    world.insert_resource(Controllers::default());
    world.insert_resource(JamState::default());
    world.insert_resource(AutomatedInForce(cfg.automated));
    let enabled = world.get_resource::<NaschFastPath>().is_none_or(|f| f.enabled);
    world.insert_resource(NaschFastPath { enabled, ..Default::default() });
}

/// Metric columns of the traffic world.
pub const COLUMNS: [&str; 12] = [
    "mean_speed_mps",
    "speed_std_mps",
    "density_veh_per_km",
    "flow_veh_per_h",
    "jammed",
    "min_gap_m",
    "vehicles_cooperative",
    "vehicles_advised",
    "vehicles_fallback",
    "vehicles_automated",
    "vehicles_crashed",
    "overlaps_resolved",
];

fn idm_of(cfg: &TrafficConfig) -> Option<&super::models::IdmParams> {
    match &cfg.model {
        CarFollowing::Idm(p) => Some(p),
        CarFollowing::Nasch(_) => None,
    }
}

fn vehicle_length(cfg: &TrafficConfig) -> f64 {
    match &cfg.model {
        CarFollowing::Idm(p) => p.length,
        CarFollowing::Nasch(p) => p.cell_m,
    }
}

fn is_automated(i: u32, n: u32, automated: u32) -> bool {
    // Spread the automated vehicles evenly: vehicle i is automated when the count of
    // automated ones among 0..=i steps up.
    automated > 0 && ((i + 1) * automated / n) != (i * automated / n)
}

/// Spawns the ring's vehicles and controllers. Vehicles are spawned in one batch straight
/// into their final table (with `Cell` on the NaSch ring): no command holds a copy of
/// each vehicle, and no table is filled and then emptied by moving every vehicle to
/// another archetype — both kept their capacity, about 320 bytes per vehicle for the
/// rest of the run.
fn spawn(world: &mut World) {
    let cfg = world.resource::<TrafficParams>().0.clone();
    let Road::Ring { length_m } = cfg.road else { return };
    let clock = world.resource::<SimClock>().clone();
    let n = cfg.vehicles;
    let spacing = length_m / f64::from(n.max(1));
    let (cells, v_init) = match &cfg.model {
        CarFollowing::Idm(p) => (0, cfg.init.speed_mps.unwrap_or_else(|| p.equilibrium_speed(spacing - p.length))),
        CarFollowing::Nasch(p) => ((length_m / p.cell_m).round() as u32, cfg.init.speed_mps.unwrap_or(0.0)),
    };
    let mut ring = world.remove_resource::<RingRoad>().unwrap_or_default();
    ring.length = length_m;
    ring.radius = length_m / TAU;
    ring.cells = cells;
    ring.cell_xy = CellCircle::new(cells, ring.radius);
    ring.order.clear();
    ring.order_gen += 1;
    // Vehicle i gets id first + i: n consecutive ids, before the controllers'.
    let first = {
        let mut ids = world.resource_mut::<AgentIds>();
        let first = ids.bound();
        for _ in 0..n {
            ids.alloc();
        }
        first
    };
    let bundle = |i: u32| {
        let automated = is_automated(i, n, cfg.automated);
        let mut pos = f64::from(i) * spacing;
        if i == 0 {
            pos -= cfg.init.perturbation_m;
        }
        pos = pos.rem_euclid(length_m);
        vehicle_bundle(AgentId(first + i), pos, v_init, i, automated, &ring, clock.tick, clock.seed)
    };
    let spawned: Vec<Entity> = match &cfg.model {
        CarFollowing::Nasch(p) => {
            let cell = |i: u32| ((f64::from(i) * f64::from(cells) / f64::from(n)).floor() as u32) % cells.max(1);
            let v = ((v_init / p.cell_m * clock.dt).round() as u32).min(p.vmax);
            world.spawn_batch((0..n).map(|i| (bundle(i), Cell { cell: cell(i), v }))).collect()
        }
        CarFollowing::Idm(_) => world.spawn_batch((0..n).map(bundle)).collect(),
    };
    ring.order = spawned;
    // Controllers: the central one at the centre, sector ones beside the road.
    let k = cfg.controller.sectors;
    let central = world.resource_mut::<AgentIds>().alloc();
    world.spawn(controller_bundle(central, None, 0.0, 0.0, k));
    let mut sectors = Vec::new();
    for s in 0..k {
        let id = world.resource_mut::<AgentIds>().alloc();
        let th = (f64::from(s) + 0.5) / f64::from(k) * TAU;
        let r = ring.radius + 8.0;
        world.spawn(controller_bundle(id, Some(s), (r * th.cos()) as f32, (r * th.sin()) as f32, k));
        sectors.push(id);
    }
    let mut ctl = world.resource_mut::<Controllers>();
    ctl.central = Some(central);
    ctl.sectors = sectors;
    world.insert_resource(ring);
}

#[allow(clippy::too_many_arguments)]
fn vehicle_bundle(
    id: AgentId,
    pos: f64,
    v: f64,
    slot: u32,
    automated: bool,
    ring: &RingRoad,
    tick: u64,
    seed: u64,
) -> impl Bundle<Effect: NoBundleEffect> {
    let (x, y, heading) = ring.xy(pos);
    (
        Agent { id, kind: AgentKind::Vehicle },
        Pose { x, y, heading, speed: v as f32 },
        Perception::default(),
        Decision::default(),
        Inbox::default(),
        Outbox::default(),
        AgentRng::new(seed, "vehicle", u64::from(id.0)),
        Vehicle { pos, speed: v, accel: 0.0, slot, automated, u_avg: v, v_cmd: v },
        Link {
            leader_msg_tick: tick,
            leader_speed: v,
            leader_accel: 0.0,
            advice_tick: tick,
            advice: v,
            mode: if automated { Mode::Automated } else { Mode::Human },
            prev_mode: if automated { Mode::Automated } else { Mode::Human },
        },
    )
}

fn controller_bundle(id: AgentId, sector: Option<u32>, x: f32, y: f32, sectors: u32) -> impl Bundle {
    (
        Agent { id, kind: AgentKind::Controller },
        Pose { x, y, heading: 0.0, speed: 0.0 },
        Perception::default(),
        Decision::default(),
        Inbox::default(),
        Outbox::default(),
        ControllerState { sector, reports: Vec::new(), summaries: vec![None; sectors as usize], target: None, u: 0.0 },
    )
}

/// Live change of the vehicle count: add vehicles into the largest gaps or remove the
/// newest ones, then renumber the ring order.
fn sync_vehicle_count(world: &mut World) {
    let want = world.resource::<TrafficParams>().0.vehicles as usize;
    let have = world.resource::<RingRoad>().order.len();
    if want == have {
        return;
    }
    let cfg = world.resource::<TrafficParams>().0.clone();
    let tick = world.resource::<SimClock>().tick;
    let seed = world.resource::<SimClock>().seed;
    let dt = world.resource::<SimClock>().dt;
    let mut q = world.query::<(Entity, &Agent, &Vehicle, Option<&Cell>)>();
    let mut cars: Vec<(Entity, AgentId, f64, f64, Option<Cell>)> =
        q.iter(world).map(|(e, a, v, c)| (e, a.id, v.pos, v.speed, c.copied())).collect();
    let ring = world.resource::<RingRoad>().clone();
    let len = vehicle_length(&cfg);
    let mut log = Vec::new();
    if want < have {
        cars.sort_by_key(|c| std::cmp::Reverse(c.1));
        for c in cars.drain(..have - want) {
            world.despawn(c.0);
            log.push(c.1.0);
        }
    } else {
        for _ in have..want {
            // Largest gap, measured between consecutive vehicles by position.
            cars.sort_by(|a, b| a.2.total_cmp(&b.2));
            let n = cars.len();
            let (mut best, mut best_gap) = (0usize, -1.0);
            for i in 0..n {
                let next = if i + 1 < n { cars[i + 1].2 } else { cars[0].2 + ring.length };
                let gap = next - cars[i].2;
                if gap > best_gap {
                    best_gap = gap;
                    best = i;
                }
            }
            if n > 0 && best_gap < 2.0 * len {
                break;
            }
            let (pos, speed) = if n == 0 {
                (0.0, 0.0)
            } else {
                ((cars[best].2 + best_gap / 2.0).rem_euclid(ring.length), cars[best].3)
            };
            let id = world.resource_mut::<AgentIds>().alloc();
            let mut e = world.spawn(vehicle_bundle(id, pos, speed, 0, false, &ring, tick, seed));
            let mut cell = None;
            if let CarFollowing::Nasch(p) = &cfg.model {
                let c = Cell {
                    cell: ((pos / p.cell_m).floor() as u32) % ring.cells.max(1),
                    v: ((speed / p.cell_m * dt).round() as u32).min(p.vmax),
                };
                e.insert(c);
                cell = Some(c);
            }
            cars.push((e.id(), id, pos, speed, cell));
            log.push(id.0);
        }
    }
    // NaSch: two vehicles in one cell are impossible; the gap rule above keeps them apart.
    cars.sort_by(|a, b| a.2.total_cmp(&b.2).then(a.1.cmp(&b.1)));
    let order: Vec<Entity> = cars.iter().map(|c| c.0).collect();
    for (k, e) in order.iter().enumerate() {
        if let Some(mut v) = world.get_mut::<Vehicle>(*e) {
            v.slot = k as u32;
        }
    }
    let now = order.len();
    {
        let mut ring = world.resource_mut::<RingRoad>();
        ring.order = order;
        ring.order_gen += 1;
    }
    world.resource_mut::<EventLog>().push(
        tick,
        "vehicles_changed",
        None,
        [("from", json!(have)), ("to", json!(now)), ("agents", json!(log))],
    );
}

/// The number of automated vehicles the ring was last set up with.
#[derive(Resource, Debug)]
struct AutomatedInForce(u32);

/// Live change of the number of automated vehicles (the experiment of Stern et al.
/// 2018: a wave forms among human drivers, then one vehicle's controller is switched
/// on). Vehicles spread evenly round the ring switch; a switched-on controller starts
/// from the vehicle's current speed.
fn sync_automated(
    clock: Res<SimClock>,
    params: Res<TrafficParams>,
    mut in_force: ResMut<AutomatedInForce>,
    mut ring: ResMut<RingRoad>,
    mut log: ResMut<EventLog>,
    mut q: Query<(&Agent, &mut Vehicle)>,
) {
    let want = params.0.automated;
    if want == in_force.0 {
        return;
    }
    let n = ring.order.len() as u32;
    let mut on = Vec::new();
    let mut off = Vec::new();
    for (a, mut v) in q.iter_mut() {
        let auto = is_automated(v.slot, n, want.min(n));
        if auto != v.automated {
            v.automated = auto;
            v.v_cmd = v.speed;
            if auto { on.push(a.id.0) } else { off.push(a.id.0) }
        }
    }
    on.sort_unstable();
    off.sort_unstable();
    log.push(
        clock.tick,
        "automated_changed",
        None,
        [("from", json!(in_force.0)), ("to", json!(want)), ("switched_on", json!(on)), ("switched_off", json!(off))],
    );
    in_force.0 = want;
    // The fast path counts automated vehicles when it builds its arrays.
    ring.order_gen += 1;
}

/// Perceive: gap to and speed of the vehicle ahead, within sensor range.
fn perceive(
    clock: Res<SimClock>,
    params: Res<TrafficParams>,
    mut ring: ResMut<RingRoad>,
    all: Query<(&Agent, &Vehicle, Option<&Cell>)>,
    mut q: Query<(&Vehicle, Option<&Cell>, &mut Perception), Without<Crashed>>,
) {
    let ring = &mut *ring;
    let n = ring.order.len();
    ring.snap.resize(n, Snap::default());
    let len = vehicle_length(&params.0);
    for (a, v, c) in all.iter() {
        ring.snap[v.slot as usize] =
            Snap { pos: v.pos, speed: v.speed, cell: c.map_or(0, |c| c.cell), id: a.id.0, length: len };
    }
    let snap = &ring.snap;
    let (l, cells) = (ring.length, ring.cells);
    let range = params.0.driving.sensor_range_m;
    let cell_m = match &params.0.model {
        CarFollowing::Nasch(p) => p.cell_m,
        CarFollowing::Idm(_) => 1.0,
    };
    let tick = clock.tick;
    q.par_iter_mut().for_each(|(v, c, mut p)| {
        let lead = snap[(v.slot as usize + 1) % n];
        let gap = match c {
            Some(c) => {
                let g = (lead.cell + cells - c.cell - 1) % cells;
                if n == 1 { f64::from(cells - 1) * cell_m } else { f64::from(g) * cell_m }
            }
            None => {
                if n == 1 {
                    l - lead.length
                } else {
                    (lead.pos - v.pos - lead.length).rem_euclid(l)
                }
            }
        };
        let visible = gap <= range && n > 1;
        *p = Perception {
            tick,
            target: visible.then_some(AgentId(lead.id)),
            distance_m: gap.min(range) as f32,
            target_speed_mps: if visible { lead.speed as f32 } else { 0.0 },
        };
    });
}

/// Decide: each vehicle reads its inbox, picks its driving mode and acceleration (or
/// NaSch speed), and queues its messages.
#[allow(clippy::type_complexity)]
fn decide_vehicles(
    clock: Res<SimClock>,
    params: Res<TrafficParams>,
    coord: Res<CoordinationRes>,
    ring: Res<RingRoad>,
    ctl: Res<Controllers>,
    mut q: Query<
        (
            &Agent,
            &mut Vehicle,
            &Perception,
            &Inbox,
            &mut Link,
            &mut Decision,
            &mut Outbox,
            &mut AgentRng,
            Option<&mut Cell>,
        ),
        Without<Crashed>,
    >,
) {
    let cfg = &params.0;
    let d = &cfg.driving;
    let now = clock.tick;
    let dt = clock.dt;
    let coord = coord.0;
    let timeout = d.message_timeout_ticks;
    let beacon = now.is_multiple_of(d.beacon_every_ticks.max(1));
    let report = now.is_multiple_of(cfg.controller.report_every_ticks.max(1));
    let sectors = ctl.sectors.len() as u32;
    let length = ring.length;
    let av_alpha = (dt / cfg.controller.av_window_s.max(dt)).min(1.0);
    q.par_iter_mut().for_each(|(agent, mut v, p, inbox, mut link, mut dec, mut out, mut rng, cell)| {
        // What arrived. V2V beacons from the vehicles around give a consensus speed.
        let (mut heard, mut heard_sum) = (0u32, 0.0f64);
        for m in &inbox.0 {
            match m.kind {
                MSG_V2V => {
                    heard += 1;
                    heard_sum += f64::from(m.payload[0]);
                    if Some(m.from) == p.target && m.sent >= link.leader_msg_tick {
                        link.leader_msg_tick = m.sent;
                        link.leader_speed = f64::from(m.payload[0]);
                        link.leader_accel = f64::from(m.payload[1]);
                    }
                }
                MSG_ADVICE if m.payload[2] as u64 >= link.advice_tick => {
                    link.advice_tick = m.payload[2] as u64;
                    link.advice = f64::from(m.payload[0]);
                }
                _ => {}
            }
        }
        let fresh_v2v = p.target.is_some() && now.saturating_sub(link.leader_msg_tick) <= timeout;
        let fresh_advice = now.saturating_sub(link.advice_tick) <= timeout;
        link.prev_mode = link.mode;
        let (mode, reason) = if v.automated {
            (Mode::Automated, "wave_damping_controller")
        } else {
            match coord {
                Coordination::None => (Mode::Human, "sensor_only"),
                Coordination::Decentralized => {
                    if p.target.is_none() {
                        (Mode::Human, "free_road")
                    } else if fresh_v2v {
                        (Mode::Cooperative, "v2v_fresh")
                    } else {
                        (Mode::Fallback, "fallback_no_v2v")
                    }
                }
                Coordination::Centralized | Coordination::Hierarchical => {
                    if fresh_advice {
                        (Mode::Advised, "advice_fresh")
                    } else {
                        (Mode::Fallback, "fallback_no_advice")
                    }
                }
            }
        };
        link.mode = mode;
        let gap = f64::from(p.distance_m);
        let v_lead = if p.target.is_some() { f64::from(p.target_speed_mps) } else { v.speed.max(30.0) };
        match (&cfg.model, cell) {
            (CarFollowing::Idm(ip), _) => {
                // Every vehicle keeps the running mean of its own speed, so a controller
                // switched on mid-run starts from the speed history, as in Stern et al.
                v.u_avg += av_alpha * (v.speed - v.u_avg);
                let dv = v.speed - v_lead;
                let a = match mode {
                    Mode::Human => {
                        let noise = if ip.noise > 0.0 {
                            ip.noise * 3f64.sqrt() * (2.0 * rng.0.random::<f64>() - 1.0)
                        } else {
                            0.0
                        };
                        ip.accel(gap, v.speed, dv) + noise
                    }
                    Mode::Cooperative => {
                        // Speed harmonisation: follow the consensus of the beacons
                        // heard (own speed included) with the FollowerStopper, which
                        // keeps the short cooperative gap and damps waves.
                        // The floor of half the equilibrium speed for the own gap lets
                        // a stopped platoon restart (a consensus of zeros stays zero).
                        let consensus = ((heard_sum + v.speed) / f64::from(heard + 1))
                            .max(0.5 * ip.equilibrium_speed(gap))
                            .min(ip.v0);
                        link.advice = consensus;
                        let cmd = follower_stopper(gap, v.speed, v_lead, consensus);
                        track_speed(ip, cmd, gap, v.speed, v_lead)
                    }
                    Mode::Fallback => ip.accel_with(gap, v.speed, dv, d.fallback_headway_s),
                    Mode::Advised => {
                        let cmd = follower_stopper(gap, v.speed, v_lead, link.advice.min(ip.v0));
                        track_speed(ip, cmd, gap, v.speed, v_lead)
                    }
                    Mode::Automated => {
                        // Stern et al. (2018), PI with saturation: drive at the own mean
                        // speed, catch up when the gap opens, follow the leader when close.
                        let cmd = pi_saturation(gap, v.speed, v_lead, v.u_avg, v.v_cmd).min(ip.v0);
                        v.v_cmd = cmd;
                        track_speed(ip, cmd, gap, v.speed, v_lead)
                    }
                };
                v.accel = a;
                *dec = Decision { tick: now, action: action_name(mode), reason, value: a as f32 };
            }
            (CarFollowing::Nasch(np), Some(mut c)) => {
                let gap_cells = (gap / np.cell_m).round() as u32;
                let (vmax, p_slow, gap_eff) = match mode {
                    Mode::Human => (np.vmax, np.p_slow, gap_cells),
                    Mode::Cooperative => (np.vmax, d.coop_p_slow, gap_cells),
                    Mode::Advised => ((link.advice.round() as u32).clamp(1, np.vmax), d.coop_p_slow, gap_cells),
                    Mode::Fallback => (np.vmax, np.p_slow, gap_cells.saturating_sub(d.fallback_gap_cells)),
                    Mode::Automated => (np.vmax, 0.0, gap_cells),
                };
                let dawdle = p_slow > 0.0 && rng.0.random_bool(p_slow);
                let nv = nasch_speed(c.v, gap_eff, vmax, dawdle);
                c.v = nv;
                *dec = Decision {
                    tick: now,
                    action: action_name(mode),
                    reason: if dawdle { "random_slowdown" } else { reason },
                    value: nv as f32,
                };
            }
            (CarFollowing::Nasch(_), None) => {}
        }
        // Messages.
        let speed_now = match &cfg.model {
            CarFollowing::Nasch(np) => f64::from(dec.value) * np.cell_m / dt,
            CarFollowing::Idm(_) => v.speed,
        };
        if coord == Coordination::Decentralized && beacon {
            out.send(
                agent.id,
                Dest::Near(d.v2v_range_m as f32),
                MSG_V2V,
                200,
                now,
                [speed_now as f32, v.accel as f32, v.pos as f32, 0.0],
            );
        }
        if report && matches!(coord, Coordination::Centralized | Coordination::Hierarchical) && !v.automated {
            let to = if coord == Coordination::Hierarchical && sectors > 0 {
                let k = ((v.pos / length * f64::from(sectors)) as u32).min(sectors - 1);
                ctl.sectors[k as usize]
            } else {
                match ctl.central {
                    Some(c) => c,
                    None => return,
                }
            };
            let lead_speed = if p.target.is_some() { p.target_speed_mps } else { -1.0 };
            out.send(
                agent.id,
                Dest::To(to),
                MSG_REPORT,
                100,
                now,
                [v.pos as f32, v.speed as f32, p.distance_m, lead_speed],
            );
        }
    });
}

fn action_name(m: Mode) -> &'static str {
    match m {
        Mode::Human => "human_driving",
        Mode::Cooperative => "cooperative_following",
        Mode::Advised => "follow_advice",
        Mode::Fallback => "sensor_only_failsafe",
        Mode::Automated => "automated_wave_damping",
    }
}

/// Decide for controllers: read reports, compute targets and advice, send them.
fn decide_controllers(
    clock: Res<SimClock>,
    params: Res<TrafficParams>,
    coord: Res<CoordinationRes>,
    ring: Res<RingRoad>,
    ctl: Res<Controllers>,
    mut q: Query<(&Agent, &Inbox, &mut ControllerState, &mut Outbox, &mut Decision), Without<Crashed>>,
) {
    let coord = coord.0;
    if !matches!(coord, Coordination::Centralized | Coordination::Hierarchical) {
        return;
    }
    let cfg = &params.0;
    let now = clock.tick;
    let timeout = cfg.driving.message_timeout_ticks;
    let memory = timeout.saturating_mul(10).max(50);
    let len = vehicle_length(cfg);
    let sectors = ctl.sectors.len().max(1) as f64;
    let nasch = match &cfg.model {
        CarFollowing::Nasch(p) => Some(*p),
        CarFollowing::Idm(_) => None,
    };
    let idm = idm_of(cfg).copied();
    for (agent, inbox, mut st, mut out, mut dec) in q.iter_mut() {
        let st = &mut *st;
        for m in &inbox.0 {
            match m.kind {
                MSG_REPORT => {
                    let i = m.from.0 as usize;
                    if st.reports.len() <= i {
                        st.reports.resize(i + 1, None);
                    }
                    st.reports[i] = Some((m.sent, m.payload));
                }
                MSG_SECTOR => {
                    let k = m.payload[0] as usize;
                    if k < st.summaries.len() {
                        st.summaries[k] = Some((m.sent, m.payload[1], m.payload[2]));
                    }
                }
                MSG_TARGET => st.target = Some((m.sent, f64::from(m.payload[0]))),
                _ => {}
            }
        }
        let is_central = st.sector.is_none();
        let serves_vehicles =
            (coord == Coordination::Centralized && is_central) || (coord == Coordination::Hierarchical && !is_central);
        // Known vehicles: reported within memory and, for a sector, last seen inside it.
        let sector_len = ring.length / sectors;
        let my_sector = st.sector;
        let inside = |pos: f32| match my_sector {
            Some(k) => ((f64::from(pos) / sector_len) as u32).min(sectors as u32 - 1) == k,
            None => true,
        };
        // Vehicles move between sectors, so a sector only counts recent reports, and
        // only where each reporting vehicle is now by dead reckoning (reported position
        // + speed × age): a vehicle that has crossed into the next sector is counted
        // there, not in both (that over-count lowered the hierarchical target speed).
        let window = if my_sector.is_some() { timeout } else { memory };
        let dt = clock.dt;
        let now_at = |r: &(u64, [f32; 4])| {
            let age = now.saturating_sub(r.0) as f64 * dt;
            (f64::from(r.1[0]) + f64::from(r.1[1]) * age).rem_euclid(ring.length) as f32
        };
        let known = st
            .reports
            .iter()
            .filter(|r| r.is_some_and(|r| now.saturating_sub(r.0) <= window && inside(now_at(&r))))
            .count();
        let target_from_count = |count: f64, road: f64| -> f64 {
            if count <= 0.0 {
                return 0.0;
            }
            let spacing = road / count;
            match (idm, nasch) {
                (Some(p), _) => p.equilibrium_speed(spacing - len),
                (_, Some(np)) => {
                    let rho = count / (road / np.cell_m);
                    ((1.0 / rho - 1.0).floor()).clamp(1.0, f64::from(np.vmax))
                }
                _ => 0.0,
            }
        };
        if coord == Coordination::Hierarchical && is_central {
            // Central: combine sector summaries into one target and send it down.
            let fresh: Vec<(f32, f32)> = st
                .summaries
                .iter()
                .filter_map(|s| s.filter(|s| now.saturating_sub(s.0) <= memory).map(|s| (s.1, s.2)))
                .collect();
            let count: f64 = fresh.iter().map(|s| f64::from(s.0)).sum();
            let road: f64 = fresh.iter().map(|s| f64::from(s.1)).sum();
            if count > 0.0 {
                st.u = target_from_count(count, road);
                for &s in &ctl.sectors {
                    out.send(agent.id, Dest::To(s), MSG_TARGET, 48, now, [st.u as f32, 0.0, 0.0, 0.0]);
                }
                *dec =
                    Decision { tick: now, action: "set_target_speed", reason: "sector_summaries", value: st.u as f32 };
            }
            continue;
        }
        if !serves_vehicles {
            continue;
        }
        if let Some(k) = st.sector {
            if let Some(c) = ctl.central {
                out.send(agent.id, Dest::To(c), MSG_SECTOR, 48, now, [k as f32, known as f32, sector_len as f32, 0.0]);
            }
            let local = target_from_count(known as f64, sector_len);
            st.u = match st.target {
                Some((t, u)) if now.saturating_sub(t) <= timeout => u,
                _ => local,
            };
        } else {
            st.u = target_from_count(known as f64, ring.length);
        }
        // Speed advice: one broadcast of the target speed to the vehicles this controller
        // reaches; each vehicle damps waves with its own sensors around that target.
        let u = st.u;
        if known > 0 {
            out.send(
                agent.id,
                Dest::Kind(AgentKind::Vehicle),
                MSG_ADVICE,
                48,
                now,
                [u as f32, known as f32, now as f32, 0.0],
            );
        }
        *dec = Decision {
            tick: now,
            action: "advise_vehicles",
            reason: if known > 0 { "fresh_reports" } else { "no_reports" },
            value: u as f32,
        };
    }
}

/// Act: move vehicles. A crashed vehicle's computer is down: it brakes to a standstill.
fn act(
    clock: Res<SimClock>,
    params: Res<TrafficParams>,
    ring: Res<RingRoad>,
    mut q: Query<(&mut Vehicle, &mut Pose, Option<&mut Cell>, Has<Crashed>)>,
) {
    let dt = clock.dt;
    let l = ring.length;
    let cells = ring.cells;
    let model = params.0.model.clone();
    let ring = &*ring;
    q.par_iter_mut().for_each(|(mut v, mut pose, cell, crashed)| {
        match (&model, cell) {
            (CarFollowing::Idm(p), _) => {
                if crashed {
                    v.accel = -p.b;
                }
                let a = v.accel;
                let nv = v.speed + a * dt;
                if nv < 0.0 {
                    // Ballistic update stopping within the tick (Treiber & Kanagaraj 2015).
                    if a < 0.0 {
                        v.pos += -v.speed * v.speed / (2.0 * a);
                    }
                    v.speed = 0.0;
                } else {
                    v.pos += v.speed * dt + 0.5 * a * dt * dt;
                    v.speed = nv;
                }
                v.pos = v.pos.rem_euclid(l);
            }
            (CarFollowing::Nasch(p), Some(mut c)) => {
                if crashed {
                    // Braking by a cell per tick must still stop short of the leader:
                    // NaSch has no collisions, and resolve() does not repair this model.
                    let n = ring.snap.len();
                    let gap = if n > 1 {
                        let lead = ring.snap[(v.slot as usize + 1) % n].cell;
                        (lead + cells - c.cell - 1) % cells
                    } else {
                        cells
                    };
                    c.v = c.v.saturating_sub(1).min(gap);
                }
                c.cell = (c.cell + c.v) % cells.max(1);
                v.pos = f64::from(c.cell) * p.cell_m;
                v.speed = p.speed_mps(c.v, dt);
                let (x, y, h) = ring.cell_xy.xy(c.cell).unwrap_or_else(|| ring.xy(v.pos));
                *pose = Pose { x, y, heading: h, speed: v.speed as f32 };
                return;
            }
            (CarFollowing::Nasch(_), None) => {}
        }
        let (x, y, h) = ring.xy(v.pos);
        *pose = Pose { x, y, heading: h, speed: v.speed as f32 };
    });
}

/// The NaSch ring without communication, fused into one pass.
///
/// When every vehicle drives on its own sensors (coordination `None`, nobody crashed,
/// no message in flight or waiting), the general path's perceive, decide, act and
/// measure systems reduce to the plain NaSch update. This path runs that update as one
/// parallel pass over the vehicles, reading the leaders from a dense slot-ordered copy
/// of cells and speeds instead of a serial snapshot, and measures from the same dense
/// arrays. It writes every component the general path writes (`Perception`,
/// `Decision`, `Cell`, `Vehicle`, `Pose`, `AgentRng`) with the same values, so
/// outputs, traces and the desktop app cannot tell the paths apart (tested:
/// `fast_path_matches_general_path`).
#[derive(Resource, Debug, Default)]
pub struct NaschFastPath {
    /// Whether the fast path may run (on by default; tests turn it off to compare).
    pub enabled: bool,
    /// Whether it runs this tick.
    active: bool,
    /// Consecutive ticks, this one included, that met the conditions. Two ticks on the
    /// general path under them leave every vehicle's driving mode settled (mode and
    /// previous mode equal), which the fast path keeps as they are.
    streak: u32,
    /// `RingRoad::order_gen` the dense arrays were built for; `None`: rebuild.
    built_for: Option<u64>,
    /// Agent id of each slot, and its cell and speed (cells/tick) at the start of the
    /// tick and after it, packed by [`pack`] so that one load reads both.
    ids: Vec<u32>,
    cur: Vec<AtomicU64>,
    next: Vec<AtomicU64>,
    /// Automated vehicles (they never dawdle).
    automated: u64,
    /// [`gap_view`] of every gap up to the sensor range, and speed in m/s and whether it
    /// is jammed of 0..=vmax cells per tick, for the parameters in `tables_for`.
    gaps: Vec<GapView>,
    speeds: Vec<(f64, bool)>,
    tables_for: Option<[u64; 6]>,
    /// This tick's figures, summed over the pass's chunks.
    tally: Tally,
}

/// What [`measure_fast`] needs, gathered in the pass: integer sums and minima, the same
/// whatever the order of the chunks.
#[derive(Clone, Copy, Debug)]
struct Tally {
    sum_v: u64,
    sum_v2: u64,
    jammed: u64,
    /// Smallest gap in cells before the move.
    min_gap: u32,
}

impl Default for Tally {
    fn default() -> Self {
        Tally { sum_v: 0, sum_v2: 0, jammed: 0, min_gap: u32::MAX }
    }
}

impl Tally {
    fn merge(self, o: Tally) -> Tally {
        Tally {
            sum_v: self.sum_v + o.sum_v,
            sum_v2: self.sum_v2 + o.sum_v2,
            jammed: self.jammed + o.jammed,
            min_gap: self.min_gap.min(o.min_gap),
        }
    }
}

impl NaschFastPath {
    /// Whether the fast path ran in the last tick.
    pub fn active(&self) -> bool {
        self.active
    }
}

fn fast_path(f: Res<NaschFastPath>) -> bool {
    f.active
}

fn general_path(f: Res<NaschFastPath>) -> bool {
    !f.active
}

/// Inject phase: picks this tick's path and, for the fast one, refreshes the dense
/// arrays from the components when the ring order changed or the general path ran.
#[allow(clippy::type_complexity, clippy::too_many_arguments)]
fn choose_path(
    params: Res<TrafficParams>,
    coord: Res<CoordinationRes>,
    ring: Res<RingRoad>,
    channel: Res<Channel>,
    clock: Res<SimClock>,
    crashed: Query<(), (With<Crashed>, With<Vehicle>)>,
    cars: Query<(&Agent, &Vehicle, &Cell, &Link)>,
    mut fast: ResMut<NaschFastPath>,
) {
    let fast = &mut *fast;
    let base = matches!(params.0.model, CarFollowing::Nasch(_))
        && coord.0 == Coordination::None
        && ring.order.len() >= 2
        && crashed.is_empty();
    fast.streak = if base { fast.streak.saturating_add(1) } else { 0 };
    let was_active = fast.active;
    fast.active = fast.enabled && fast.streak >= 3 && channel.quiet();
    if !fast.active {
        fast.built_for = None;
        return;
    }
    if was_active && fast.built_for == Some(ring.order_gen) {
        return;
    }
    // Rebuild from the components; they must be in the state the fused pass keeps
    // (speed = cells × cell length / dt, mode settled), or this tick goes the general way.
    let CarFollowing::Nasch(np) = &params.0.model else { return };
    let n = ring.order.len();
    fast.ids.resize(n, 0);
    for v in [&mut fast.cur, &mut fast.next] {
        v.resize_with(n, || AtomicU64::new(0));
    }
    let mut seen = 0usize;
    let mut consistent = true;
    fast.automated = 0;
    for (a, v, c, link) in cars.iter() {
        let s = v.slot as usize;
        let settled =
            link.mode == link.prev_mode && link.mode == if v.automated { Mode::Automated } else { Mode::Human };
        if s >= n || v.speed != np.speed_mps(c.v, clock.dt) || !settled {
            consistent = false;
            break;
        }
        fast.ids[s] = a.id.0;
        fast.cur[s].store(pack(c.cell, c.v), Relaxed);
        fast.automated += u64::from(v.automated);
        seen += 1;
    }
    if !consistent || seen != n {
        fast.active = false;
        fast.built_for = None;
        return;
    }
    fast.built_for = Some(ring.order_gen);
}

/// What a vehicle perceives of a leader `g` empty cells ahead, as the general path
/// computes it: (visible, distance in m as perceived, gap in cells as decided on).
#[derive(Clone, Copy, Debug)]
struct GapView {
    visible: bool,
    distance_m: f32,
    gap_cells: u32,
}

fn gap_view(g: u32, cell_m: f64, range: f64) -> GapView {
    let gap = f64::from(g) * cell_m;
    let distance_m = gap.min(range) as f32;
    GapView { visible: gap <= range, distance_m, gap_cells: (f64::from(distance_m) / cell_m).round() as u32 }
}

/// Gap views for every gap up to the sensor range (where they stop changing), so the
/// pass does no floating-point work for them.
fn gap_table(cell_m: f64, range: f64, cells: u32) -> Vec<GapView> {
    let mut t = Vec::new();
    let mut g = 0u32;
    while g < cells && t.len() < 1 << 16 {
        let view = gap_view(g, cell_m, range);
        t.push(view);
        if !view.visible {
            break;
        }
        g += 1;
    }
    t
}

/// Everything the fused pass reads besides a vehicle's own components: the dense arrays,
/// geometry and the model's constants, with the per-speed and per-gap arithmetic done
/// once into small tables.
#[derive(Clone, Copy)]
struct FastStep<'a> {
    /// The dense arrays of [`NaschFastPath`].
    ids: &'a [u32],
    cur: &'a [AtomicU64],
    next: &'a [AtomicU64],
    /// [`NaschFastPath::gaps`], and the view of every longer gap when they are all out
    /// of sensor range (always, unless the table was cut short).
    gaps: &'a [GapView],
    gaps_beyond: Option<GapView>,
    speeds: &'a [(f64, bool)],
    circle: CircleView<'a>,
    now: u64,
    cells: u32,
    np: super::models::NaschParams,
    range: f64,
    /// The same draws as `random_bool(p_slow)`, without rebuilding the distribution.
    dawdling: Option<Bernoulli>,
    dt: f64,
    jam_speed: f64,
}

/// Speed in m/s of `v` cells per tick, and whether it counts as jammed.
fn speed_and_jam(np: &super::models::NaschParams, v: u32, dt: f64, jam_speed: f64) -> (f64, bool) {
    let s = np.speed_mps(v, dt);
    (s, s < jam_speed)
}

/// Cell and speed in one word.
#[inline(always)]
fn pack(cell: u32, v: u32) -> u64 {
    u64::from(cell) | u64::from(v) << 32
}

#[inline(always)]
fn unpack(x: u64) -> (u32, u32) {
    (x as u32, (x >> 32) as u32)
}

impl FastStep<'_> {
    #[inline(always)]
    fn view(&self, g: u32) -> GapView {
        match (self.gaps.get(g as usize), self.gaps_beyond) {
            (Some(v), _) => *v,
            (None, Some(v)) => v,
            (None, None) => gap_view(g, self.np.cell_m, self.range),
        }
    }

    /// Speed in m/s of `v` cells per tick, and whether it is jammed, as the general path
    /// and [`measure`] compute them.
    #[inline(always)]
    fn speed(&self, v: u32) -> (f64, bool) {
        self.speeds.get(v as usize).copied().unwrap_or_else(|| speed_and_jam(&self.np, v, self.dt, self.jam_speed))
    }

    /// Perceive, decide and move one vehicle; add it to the tally.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn update(
        &self,
        v: &mut Vehicle,
        c: &mut Cell,
        rng: &mut AgentRng,
        pose: &mut Pose,
        p: &mut Perception,
        dec: &mut Decision,
        t: &mut Tally,
    ) {
        let s = v.slot as usize;
        let ls = if s + 1 == self.cur.len() { 0 } else { s + 1 };
        let (lead_cell, lead_v) = unpack(self.cur[ls].load(Relaxed));
        // (lead - own - 1) mod cells, without a division: the sum is below 2 × cells.
        let g = wrap(lead_cell + self.cells - c.cell - 1, self.cells);
        let gv = self.view(g);
        let (lead_speed, _) = self.speed(lead_v);
        *p = Perception {
            tick: self.now,
            target: gv.visible.then_some(AgentId(self.ids[ls])),
            distance_m: gv.distance_m,
            target_speed_mps: if gv.visible { lead_speed as f32 } else { 0.0 },
        };
        let (mode, reason, dawdle) = if v.automated {
            (Mode::Automated, "wave_damping_controller", false)
        } else {
            (Mode::Human, "sensor_only", self.dawdling.as_ref().is_some_and(|d| rng.0.sample(d)))
        };
        let nv = nasch_speed(c.v, gv.gap_cells, self.np.vmax, dawdle);
        *dec = Decision {
            tick: self.now,
            action: action_name(mode),
            reason: if dawdle { "random_slowdown" } else { reason },
            value: nv as f32,
        };
        let cell = wrap(c.cell + nv, self.cells);
        *c = Cell { cell, v: nv };
        self.next[s].store(pack(cell, nv), Relaxed);
        let (speed, jammed) = self.speed(nv);
        v.pos = f64::from(cell) * self.np.cell_m;
        v.speed = speed;
        let (x, y, h) = self.circle.xy_within(cell);
        *pose = Pose { x, y, heading: h, speed: speed as f32 };
        t.sum_v += u64::from(nv);
        t.sum_v2 += u64::from(nv) * u64::from(nv);
        t.min_gap = t.min_gap.min(g);
        t.jammed += u64::from(jammed);
    }
}

/// Act phase, fast path: perceive, decide and move every vehicle in one parallel pass.
#[allow(clippy::type_complexity)]
fn nasch_fast(
    clock: Res<SimClock>,
    params: Res<TrafficParams>,
    ring: Res<RingRoad>,
    mut fast: ResMut<NaschFastPath>,
    mut q: Query<(&mut Vehicle, &mut Cell, &mut AgentRng, &mut Pose, &mut Perception, &mut Decision)>,
) {
    let CarFollowing::Nasch(np) = &params.0.model else { return };
    let np = *np;
    let dt = clock.dt;
    let range = params.0.driving.sensor_range_m;
    let jam_speed = params.0.driving.jam_speed_mps;
    // The per-gap and per-speed tables, rebuilt only when a parameter they use changes.
    let key =
        [np.cell_m.to_bits(), range.to_bits(), dt.to_bits(), jam_speed.to_bits(), ring.cells.into(), np.vmax.into()];
    if fast.tables_for != Some(key) {
        fast.gaps = gap_table(np.cell_m, range, ring.cells);
        fast.speeds = (0..=np.vmax).map(|v| speed_and_jam(&np, v, dt, jam_speed)).collect();
        fast.tables_for = Some(key);
    }
    let step = FastStep {
        ids: &fast.ids,
        cur: &fast.cur,
        next: &fast.next,
        gaps: &fast.gaps,
        gaps_beyond: fast.gaps.last().filter(|v| !v.visible).copied(),
        speeds: &fast.speeds,
        circle: ring.cell_xy.view(),
        now: clock.tick,
        cells: ring.cells,
        np,
        range,
        dawdling: (np.p_slow > 0.0).then(|| Bernoulli::new(np.p_slow).ok()).flatten(),
        dt,
        jam_speed,
    };
    // The components as slices (one per table; the vehicles share one), cut into chunks
    // for the worker threads. Each vehicle's update reads only the dense arrays and its
    // own components, so the chunking cannot change a result. Taking each slice mutably
    // marks its components changed, as per-entity writes would.
    let mut tally = Tally::default();
    let Ok(tables) = q.contiguous_iter_mut() else {
        // Unreachable: all six are table components, which are always dense.
        for (mut v, mut c, mut r, mut po, mut p, mut d) in q.iter_mut() {
            step.update(&mut v, &mut c, &mut r, &mut po, &mut p, &mut d, &mut tally);
        }
        fast.tally = tally;
        return;
    };
    // One chunk of vehicles, walked in lockstep (no index bounds checks).
    let run = |v: &mut [Vehicle],
               c: &mut [Cell],
               r: &mut [AgentRng],
               po: &mut [Pose],
               p: &mut [Perception],
               d: &mut [Decision],
               t: &mut Tally| {
        // Local copies, which the compiler knows no component write can change (fewer
        // reloads through pointers in the loop).
        let (st, mut tally) = (step, *t);
        // Slices cut to one length, so that indexing them needs no bounds checks (cheaper
        // than a six-way zip).
        let n = v.len();
        let (c, r, po, p, d) = (&mut c[..n], &mut r[..n], &mut po[..n], &mut p[..n], &mut d[..n]);
        for i in 0..n {
            st.update(&mut v[i], &mut c[i], &mut r[i], &mut po[i], &mut p[i], &mut d[i], &mut tally);
        }
        *t = tally;
    };
    let pool = ComputeTaskPool::get();
    for (mut v, mut c, mut r, mut po, mut p, mut d) in tables {
        let chunk = (v.len() / (pool.thread_num().max(1) * 4)).max(4096);
        if v.len() <= chunk {
            // One chunk: on this thread, without waking a worker.
            run(&mut v, &mut c, &mut r, &mut po, &mut p, &mut d, &mut tally);
            continue;
        }
        let parts = v
            .chunks_mut(chunk)
            .zip(c.chunks_mut(chunk))
            .zip(r.chunks_mut(chunk))
            .zip(po.chunks_mut(chunk))
            .zip(p.chunks_mut(chunk))
            .zip(d.chunks_mut(chunk));
        let run = &run;
        let tallies = pool.scope(|scope| {
            for (((((v, c), r), po), p), d) in parts {
                scope.spawn(async move {
                    let mut t = Tally::default();
                    run(v, c, r, po, p, d, &mut t);
                    t
                });
            }
        });
        tally = tallies.into_iter().fold(tally, Tally::merge);
    }
    fast.tally = tally;
}

/// `x mod m` for `x < 2m`.
#[inline]
fn wrap(x: u32, m: u32) -> u32 {
    if x >= m { x - m } else { x }
}

/// (id, position in m after the move) of the jammed vehicle with the lowest id, from the
/// dense arrays after the pass.
fn first_jammed(f: &NaschFastPath, np: &super::models::NaschParams, dt: f64, jam_speed: f64) -> Option<(u32, f64)> {
    f.ids
        .iter()
        .zip(&f.next)
        .map(|(&id, x)| (id, unpack(x.load(Relaxed))))
        .filter(|&(_, (_, v))| speed_and_jam(np, v, dt, jam_speed).1)
        .min_by_key(|&(id, _)| id)
        .map(|(id, (cell, _))| (id, f64::from(cell) * np.cell_m))
}

/// Measure phase, fast path: the same metrics as [`measure`], from the pass's tally.
fn measure_fast(
    clock: Res<SimClock>,
    params: Res<TrafficParams>,
    ring: Res<RingRoad>,
    mut fast: ResMut<NaschFastPath>,
    mut jam: ResMut<JamState>,
    mut metrics: ResMut<Metrics>,
    mut log: ResMut<EventLog>,
) {
    let CarFollowing::Nasch(np) = &params.0.model else { return };
    let f = &mut *fast;
    let t = f.tally;
    // The smallest gap is the smallest visible distance when it is visible at all.
    let min_view = gap_view(t.min_gap, np.cell_m, params.0.driving.sensor_range_m);
    let (sum, sum2) = nasch_sums(t.sum_v, t.sum_v2, np.cell_m, clock.dt);
    let st = RingStats {
        n: f.ids.len() as u64,
        sum,
        sum2,
        jammed: t.jammed,
        min_gap: if t.min_gap != u32::MAX && min_view.visible { f64::from(min_view.distance_m) } else { f64::INFINITY },
        // Only a jam's start reports where it is: find the jammed vehicle with the lowest
        // id then, not every tick.
        first_jammed: if t.jammed > 0 && !jam.active {
            first_jammed(f, np, clock.dt, params.0.driving.jam_speed_mps)
        } else {
            None
        },
        av: f.automated,
        ..Default::default()
    };
    publish(&st, &clock, &ring, &mut jam, &mut metrics, &mut log);
    std::mem::swap(&mut f.cur, &mut f.next);
}

#[derive(Resource, Default)]
struct Overlaps(u64);

/// Resolve: road space is the contended resource — no vehicle may overlap the one
/// ahead. Continuous models can overshoot within a tick; such a vehicle is put back
/// behind its leader at the leader's speed, and the event is counted.
fn resolve(
    params: Res<TrafficParams>,
    mut ring: ResMut<RingRoad>,
    mut q: Query<(&mut Vehicle, &mut Pose)>,
    mut overlaps: Local<Overlaps>,
    mut metrics: ResMut<Metrics>,
) {
    let CarFollowing::Idm(p) = &params.0.model else {
        metrics.set("overlaps_resolved", 0.0);
        return;
    };
    let ring = &mut *ring;
    let n = ring.order.len();
    if n < 2 {
        return;
    }
    for (v, _) in q.iter() {
        let s = &mut ring.snap[v.slot as usize];
        s.pos = v.pos;
        s.speed = v.speed;
    }
    let mut fixed = 0u64;
    for k in (0..n).rev() {
        let lead = ring.snap[(k + 1) % n];
        let me = ring.snap[k];
        let gap = (lead.pos - me.pos - p.length).rem_euclid(ring.length);
        // A gap "just below the ring length" means the vehicle passed its leader.
        if gap > ring.length - p.length - 1e-6 || gap < 0.0 {
            let e = ring.order[k];
            if let Ok((mut v, mut pose)) = q.get_mut(e) {
                v.pos = (lead.pos - p.length - 0.01).rem_euclid(ring.length);
                v.speed = v.speed.min(lead.speed);
                let (x, y, h) = ring.xy(v.pos);
                *pose = Pose { x, y, heading: h, speed: v.speed as f32 };
                ring.snap[k].pos = v.pos;
                ring.snap[k].speed = v.speed;
            }
            fixed += 1;
        }
    }
    overlaps.0 += fixed;
    metrics.set("overlaps_resolved", fixed as f64);
}

/// One tick's traffic figures, before they become metrics.
#[derive(Default)]
struct RingStats {
    n: u64,
    /// Sum of speeds and of squared speeds, m/s and m²/s².
    sum: f64,
    sum2: f64,
    jammed: u64,
    /// Smallest bumper-to-bumper gap to a visible leader, m.
    min_gap: f64,
    /// The jammed vehicle with the lowest id, and its position.
    first_jammed: Option<(u32, f64)>,
    coop: u64,
    adv: u64,
    fb: u64,
    av: u64,
    crashed: u64,
}

/// NaSch speeds are whole cells per tick, so their sums are kept as integers: the same
/// numbers in any order, on any path ([`measure`], [`measure_fast`]).
fn nasch_sums(sum_v: u64, sum_v2: u64, cell_m: f64, dt: f64) -> (f64, f64) {
    let k = |x: u64| x as f64 * cell_m / dt;
    (k(sum_v), k(sum_v2) * cell_m / dt)
}

/// Measure: traffic metrics, jam events and drivers' mode changes.
#[allow(clippy::type_complexity)]
fn measure(
    clock: Res<SimClock>,
    params: Res<TrafficParams>,
    ring: Res<RingRoad>,
    mut jam: ResMut<JamState>,
    mut metrics: ResMut<Metrics>,
    mut log: ResMut<EventLog>,
    q: Query<(&Agent, &Vehicle, &Perception, &Link, Option<&Cell>, Has<Crashed>)>,
) {
    let cfg = &params.0;
    let jam_speed = cfg.driving.jam_speed_mps;
    let mut st = RingStats { min_gap: f64::INFINITY, ..Default::default() };
    let (mut sum_v, mut sum_v2) = (0u64, 0u64);
    let now = clock.tick;
    for (a, v, p, link, cell, is_crashed) in q.iter() {
        st.n += 1;
        match cell {
            Some(c) => {
                sum_v += u64::from(c.v);
                sum_v2 += u64::from(c.v) * u64::from(c.v);
            }
            None => {
                st.sum += v.speed;
                st.sum2 += v.speed * v.speed;
            }
        }
        if v.speed < jam_speed {
            st.jammed += 1;
            if st.first_jammed.is_none_or(|f| a.id.0 < f.0) {
                st.first_jammed = Some((a.id.0, v.pos));
            }
        }
        if p.target.is_some() {
            st.min_gap = st.min_gap.min(f64::from(p.distance_m));
        }
        if is_crashed {
            st.crashed += 1;
            continue;
        }
        match link.mode {
            Mode::Cooperative => st.coop += 1,
            Mode::Advised => st.adv += 1,
            Mode::Fallback => st.fb += 1,
            Mode::Automated => st.av += 1,
            Mode::Human => {}
        }
        if link.mode != link.prev_mode && (link.mode == Mode::Fallback || link.prev_mode == Mode::Fallback) {
            let kind = if link.mode == Mode::Fallback { "failsafe_engaged" } else { "failsafe_released" };
            log.push(
                now,
                kind,
                Some(a.id.0),
                [("mode", json!(action_name(link.mode))), ("previous", json!(action_name(link.prev_mode)))],
            );
        }
    }
    if let CarFollowing::Nasch(np) = &cfg.model {
        let (sum, sum2) = nasch_sums(sum_v, sum_v2, np.cell_m, clock.dt);
        st.sum += sum;
        st.sum2 += sum2;
    }
    publish(&st, &clock, &ring, &mut jam, &mut metrics, &mut log);
}

/// Sets the traffic metrics from one tick's figures and logs jams starting and ending.
fn publish(
    st: &RingStats,
    clock: &SimClock,
    ring: &RingRoad,
    jam: &mut JamState,
    metrics: &mut Metrics,
    log: &mut EventLog,
) {
    let now = clock.tick;
    let n = st.n;
    let mean = if n > 0 { st.sum / n as f64 } else { 0.0 };
    let var = if n > 0 { (st.sum2 / n as f64 - mean * mean).max(0.0) } else { 0.0 };
    let density = n as f64 / (ring.length / 1000.0);
    metrics.set("mean_speed_mps", mean);
    metrics.set("speed_std_mps", var.sqrt());
    metrics.set("density_veh_per_km", density);
    metrics.set("flow_veh_per_h", density * mean * 3.6);
    metrics.set("jammed", st.jammed as f64);
    metrics.set("min_gap_m", if st.min_gap.is_finite() { st.min_gap } else { ring.length });
    metrics.set("vehicles_cooperative", st.coop as f64);
    metrics.set("vehicles_advised", st.adv as f64);
    metrics.set("vehicles_fallback", st.fb as f64);
    metrics.set("vehicles_automated", st.av as f64);
    metrics.set("vehicles_crashed", st.crashed as f64);

    // Jam events with hysteresis: a jam ends after 5 s with nobody below jam speed.
    let clear_after = (5.0 / clock.dt).ceil() as u64;
    if st.jammed > 0 {
        jam.clear_ticks = 0;
        if !jam.active {
            jam.active = true;
            jam.started = now;
            let (id, pos) = st.first_jammed.unwrap_or((0, 0.0));
            log.push(
                now,
                "jam_start",
                Some(id),
                [("jammed", json!(st.jammed)), ("position_m", json!((pos * 10.0).round() / 10.0))],
            );
        }
    } else if jam.active {
        jam.clear_ticks += 1;
        if jam.clear_ticks >= clear_after {
            jam.active = false;
            log.push(now, "jam_end", None, [("lasted_ticks", json!(now - jam.started))]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The two-table cell positions agree with the direct sine and cosine to f32 precision,
    /// on rings from one cell to five million, including every table boundary.
    #[test]
    fn cell_circle_matches_direct_trigonometry() {
        for cells in [1u32, 2, 3, 7, 64, 65, 1000, 4095, 4097, 123_457, 5_000_000] {
            let cell_m = 7.5;
            let ring = RingRoad {
                length: f64::from(cells) * cell_m,
                radius: f64::from(cells) * cell_m / TAU,
                ..Default::default()
            };
            let circle = CellCircle::new(cells, ring.radius);
            let k = 1u32 << circle.shift;
            let mut probe: Vec<u32> = (0..cells.min(300)).collect();
            probe.extend((1..cells / k + 1).flat_map(|h| [h * k - 1, h * k, h * k + 1]).filter(|&c| c < cells));
            probe.extend([cells - 1, cells / 2, cells / 3]);
            for c in probe {
                let (x, y, h) = circle.xy(c).unwrap();
                let (ex, ey, eh) = ring.xy(f64::from(c) * cell_m);
                let tol = ring.radius as f32 * 4.0 * f32::EPSILON;
                assert!(
                    (x - ex).abs() <= tol && (y - ey).abs() <= tol,
                    "cells {cells}, cell {c}: ({x}, {y}) vs ({ex}, {ey})"
                );
                assert!(
                    (h - eh).abs() <= 4.0 * eh.abs() * f32::EPSILON,
                    "cells {cells}, cell {c}: heading {h} vs {eh}"
                );
            }
            assert_eq!(circle.xy(cells), None);
        }
    }
}
