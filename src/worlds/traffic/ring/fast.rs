//! The NaSch ring without communication, fused into one pass (see [`NaschFastPath`]).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use bevy::tasks::ComputeTaskPool;
use rand::RngExt;
use rand::distr::Bernoulli;

use super::drive::action_name;
use super::geometry::CircleView;
use super::measure::{JamState, RingStats, nasch_sums, publish};
use super::*;

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
    /// A fast path that may run (`enabled`) from the next tick, with nothing built yet.
    pub fn new(enabled: bool) -> Self {
        NaschFastPath { enabled, ..Default::default() }
    }

    /// Whether the fast path ran in the last tick.
    pub fn active(&self) -> bool {
        self.active
    }
}

pub(super) fn fast_path(f: Res<NaschFastPath>) -> bool {
    f.active
}

pub(super) fn general_path(f: Res<NaschFastPath>) -> bool {
    !f.active
}

/// Inject phase: picks this tick's path and, for the fast one, refreshes the dense
/// arrays from the components when the ring order changed or the general path ran.
#[allow(clippy::type_complexity, clippy::too_many_arguments)]
pub(super) fn choose_path(
    params: Res<TrafficParams>,
    coord: Res<CoordinationRes>,
    ring: Res<RingRoad>,
    channel: Res<Channel>,
    clock: Res<SimClock>,
    crashed: Query<(), (With<Crashed>, With<Vehicle>)>,
    hijacked: Query<(), (With<crate::sim::Hijacked>, With<Vehicle>)>,
    cars: Query<(&Agent, &Vehicle, &Cell, &Link)>,
    mut fast: ResMut<NaschFastPath>,
) {
    let fast = &mut *fast;
    let base = matches!(params.0.model, CarFollowing::Nasch(_))
        && coord.0 == Coordination::None
        && ring.order.len() >= 2
        && crashed.is_empty()
        && hijacked.is_empty();
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
    np: crate::worlds::traffic::models::NaschParams,
    range: f64,
    /// The same draws as `random_bool(p_slow)`, without rebuilding the distribution.
    dawdling: Option<Bernoulli>,
    dt: f64,
    jam_speed: f64,
}

/// Speed in m/s of `v` cells per tick, and whether it counts as jammed.
pub(super) fn speed_and_jam(
    np: &crate::worlds::traffic::models::NaschParams,
    v: u32,
    dt: f64,
    jam_speed: f64,
) -> (f64, bool) {
    let s = np.speed_mps(v, dt);
    (s, s < jam_speed)
}

/// Cell and speed in one word.
#[inline(always)]
pub(super) fn pack(cell: u32, v: u32) -> u64 {
    u64::from(cell) | u64::from(v) << 32
}

#[inline(always)]
pub(super) fn unpack(x: u64) -> (u32, u32) {
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
pub(super) fn nasch_fast(
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
fn first_jammed(
    f: &NaschFastPath,
    np: &crate::worlds::traffic::models::NaschParams,
    dt: f64,
    jam_speed: f64,
) -> Option<(u32, f64)> {
    f.ids
        .iter()
        .zip(&f.next)
        .map(|(&id, x)| (id, unpack(x.load(Relaxed))))
        .filter(|&(_, (_, v))| speed_and_jam(np, v, dt, jam_speed).1)
        .min_by_key(|&(id, _)| id)
        .map(|(id, (cell, _))| (id, f64::from(cell) * np.cell_m))
}

/// Measure phase, fast path: the same metrics as [`measure`], from the pass's tally.
pub(super) fn measure_fast(
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
