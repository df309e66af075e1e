//! Conflict-free multi-robot movement on the warehouse grid, one step per tick: BFS distance
//! tables with a bounded cache, PIBT, windowed cooperative A* (WHCA*), a greedy local-sensing
//! policy, the step invariant check, wait-for-graph deadlock detection and task allocation
//! (Hungarian and greedy). Pure functions and plain structs, no ECS.
//!
//! # Conventions
//!
//! * Robots are indexed `0..n` (their position in the slices); positions and goals are map cells
//!   ([`Cell`], `row · cols + col`). Internally the planners work on a compact numbering of the
//!   passable cells ("vertices", [`GridGraph`]).
//! * One tick moves every robot to a 4-neighbour or keeps it in place.
//! * Conflicts (Stern et al., SoCS 2019): a *vertex* conflict is two robots in one cell after the
//!   step; an *edge* (swap) conflict is two robots exchanging cells. *Following* — entering a cell
//!   its occupant leaves in the same step — is allowed, and so is a rotation of ≥ 4 robots round a
//!   cycle of cells (3-cycles cannot exist on a 4-connected grid), as in classic MAPF, RWARE and
//!   POGEMA. [`check_step`] reports exactly the two forbidden kinds.
//! * Determinism: no hash-map iteration order reaches a result; every tie is broken by a seeded
//!   hash or by robot id, as documented on each planner.

use std::collections::{BTreeSet, HashMap};

use pathfinding::prelude::{Matrix, astar, kuhn_munkres};
use serde::{Deserialize, Serialize};

use super::map::{Cell, GridMap};

/// "No vertex / no robot" sentinel.
pub const NONE: u32 = u32::MAX;

/// Distance-table entry of a vertex that cannot reach the goal.
pub const UNREACHABLE: u16 = u16::MAX;

/// Largest stored distance: longer ones (possible only on maps with more than 65 534 passable
/// cells) are clamped to it.
pub const FAR: u16 = u16::MAX - 1;

/// The splitmix64 finaliser: the seeded hash behind every tie-break.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

// ---------------------------------------------------------------------------------------------
// Graph
// ---------------------------------------------------------------------------------------------

/// The passable cells of a [`GridMap`] as a graph with compact vertex ids `0..num_vertices()`
/// (ascending cell order) and a fixed neighbour order north, east, south, west.
///
/// Memory: 4 B per map cell plus 20 B per vertex.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GridGraph {
    rows: u32,
    cols: u32,
    vertex_of: Vec<u32>,
    cell_of: Vec<Cell>,
    adj: Vec<[u32; 4]>,
}

impl GridGraph {
    /// Builds the graph of a map's passable cells.
    pub fn new(map: &GridMap) -> Self {
        let mut vertex_of = vec![NONE; map.len()];
        let mut cell_of = Vec::new();
        for (i, k) in map.cells().iter().enumerate() {
            if k.is_passable() {
                vertex_of[i] = cell_of.len() as u32;
                cell_of.push(i as Cell);
            }
        }
        let (rows, cols) = (map.rows(), map.cols());
        let adj = cell_of
            .iter()
            .map(|&c| {
                let (r, col) = (c / cols, c % cols);
                let mut a = [NONE; 4];
                let cand = [
                    (r > 0).then(|| c - cols),
                    (col + 1 < cols).then(|| c + 1),
                    (r + 1 < rows).then(|| c + cols),
                    (col > 0).then(|| c - 1),
                ];
                for (slot, n) in a.iter_mut().zip(cand) {
                    if let Some(n) = n {
                        *slot = vertex_of[n as usize];
                    }
                }
                a
            })
            .collect();
        GridGraph { rows, cols, vertex_of, cell_of, adj }
    }

    /// Map rows.
    pub fn rows(&self) -> u32 {
        self.rows
    }

    /// Map columns.
    pub fn cols(&self) -> u32 {
        self.cols
    }

    /// Number of vertices (passable cells).
    pub fn num_vertices(&self) -> usize {
        self.cell_of.len()
    }

    /// Vertex of a cell, `None` when the cell is outside the map or blocked.
    pub fn vertex(&self, cell: Cell) -> Option<u32> {
        self.vertex_of.get(cell as usize).copied().filter(|&v| v != NONE)
    }

    /// Cell of a vertex, `None` for an unknown vertex.
    pub fn cell(&self, v: u32) -> Option<Cell> {
        self.cell_of.get(v as usize).copied()
    }

    /// Neighbour vertices of a vertex, north, east, south, west (none for an unknown vertex).
    pub fn neighbours(&self, v: u32) -> impl Iterator<Item = u32> + '_ {
        self.adj.get(v as usize).into_iter().flatten().copied().filter(|&n| n != NONE)
    }

    /// Whether a robot may go from cell `a` to cell `b` in one tick (wait or 4-neighbour step,
    /// both passable).
    pub fn is_move(&self, a: Cell, b: Cell) -> bool {
        match (self.vertex(a), self.vertex(b)) {
            (Some(u), Some(v)) => u == v || self.adj[u as usize].contains(&v),
            _ => false,
        }
    }

    /// BFS distances (in steps) from every vertex to `goal`, into `out` (resized to
    /// `num_vertices()`); [`UNREACHABLE`] where the goal cannot be reached, clamped at [`FAR`].
    pub fn bfs_into(&self, goal: u32, out: &mut Vec<u16>, queue: &mut Vec<u32>) {
        out.clear();
        out.resize(self.num_vertices(), UNREACHABLE);
        bfs_fill(&self.adj, goal, out, queue);
    }
}

fn bfs_fill(adj: &[[u32; 4]], goal: u32, out: &mut [u16], queue: &mut Vec<u32>) {
    out.fill(UNREACHABLE);
    queue.clear();
    let Some(d0) = out.get_mut(goal as usize) else { return };
    *d0 = 0;
    queue.push(goal);
    let mut head = 0;
    while let Some(&u) = queue.get(head) {
        head += 1;
        let (Some(&du), Some(nbrs)) = (out.get(u as usize), adj.get(u as usize)) else { continue };
        let nd = (du + 1).min(FAR);
        for &v in nbrs {
            // `NONE` is out of range, so one check covers both "no neighbour" and bounds.
            if let Some(d) = out.get_mut(v as usize)
                && *d == UNREACHABLE
            {
                *d = nd;
                queue.push(v);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Distance cache
// ---------------------------------------------------------------------------------------------

/// Counters of a [`DistanceCache`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups served from a stored table.
    pub hits: u64,
    /// Lookups that ran a BFS.
    pub misses: u64,
    /// Tables dropped to make room.
    pub evictions: u64,
    /// Most tables held at once.
    pub peak_tables: usize,
}

/// BFS distance tables keyed by goal, least-recently-used eviction, owning the [`GridGraph`].
///
/// A table costs `2 · num_vertices()` bytes (e.g. 77 KB on the 38 756-cell
/// `warehouse-20-40-10-2-2`); the cache holds at most `capacity` of them between steps. Time is
/// divided into steps ([`DistanceCache::begin_step`]): a table used in the current step is never
/// evicted, so a step that needs more distinct goals than `capacity` temporarily holds more
/// (memory = max(capacity, distinct goals in one step) × table size), and the excess is released
/// at the next `begin_step`. Eviction picks the table unused for longest (ties cannot occur: each
/// use gets a fresh stamp), so the cache's behaviour is deterministic. With goals at a few hundred
/// stations, capacity ≥ the number of stations makes every lookup after the first a hit; with
/// uniformly random goals, capacity should be at least the number of robots.
#[derive(Clone, Debug)]
pub struct DistanceCache {
    graph: GridGraph,
    capacity: usize,
    tables: Vec<Vec<u16>>,
    slot_goal: Vec<u32>,
    slot_stamp: Vec<u64>,
    slot_epoch: Vec<u64>,
    goal_slot: Vec<u32>,
    lru: BTreeSet<(u64, u32)>,
    free: Vec<u32>,
    live: usize,
    epoch: u64,
    stamp: u64,
    queue: Vec<u32>,
    stats: CacheStats,
}

impl DistanceCache {
    /// A cache over `graph` holding up to `capacity` tables between steps.
    pub fn new(graph: GridGraph, capacity: usize) -> Self {
        let n = graph.num_vertices();
        DistanceCache {
            graph,
            capacity,
            tables: Vec::new(),
            slot_goal: Vec::new(),
            slot_stamp: Vec::new(),
            slot_epoch: Vec::new(),
            goal_slot: vec![NONE; n],
            lru: BTreeSet::new(),
            free: Vec::new(),
            live: 0,
            epoch: 1,
            stamp: 0,
            queue: Vec::with_capacity(n),
            stats: CacheStats::default(),
        }
    }

    /// The graph the tables are over.
    pub fn graph(&self) -> &GridGraph {
        &self.graph
    }

    /// Tables kept between steps.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Changes the capacity (takes effect at the next [`DistanceCache::begin_step`]).
    pub fn set_capacity(&mut self, capacity: usize) {
        self.capacity = capacity;
    }

    /// Bytes per table.
    pub fn table_bytes(&self) -> usize {
        2 * self.graph.num_vertices()
    }

    /// Tables held now.
    pub fn tables_held(&self) -> usize {
        self.live
    }

    /// Counters.
    pub fn stats(&self) -> CacheStats {
        self.stats
    }

    /// Starts a step: tables used before it become evictable, and tables beyond the capacity are
    /// released, least recently used first.
    pub fn begin_step(&mut self) {
        self.epoch += 1;
        while self.live > self.capacity {
            let Some(&(stamp, slot)) = self.lru.first() else { break };
            self.lru.remove(&(stamp, slot));
            self.drop_slot(slot);
            self.tables[slot as usize] = Vec::new();
            self.free.push(slot);
            self.live -= 1;
        }
    }

    fn drop_slot(&mut self, slot: u32) {
        let g = self.slot_goal[slot as usize];
        self.goal_slot[g as usize] = NONE;
        self.slot_goal[slot as usize] = NONE;
        self.stats.evictions += 1;
    }

    /// The slot holding the table of goal vertex `goal`, computing it if needed; `None` for a
    /// vertex not in the graph. The slot stays valid until the next [`DistanceCache::begin_step`].
    pub fn slot(&mut self, goal: u32) -> Option<u32> {
        ((goal as usize) < self.graph.num_vertices()).then(|| self.slot_of(goal))
    }

    fn slot_of(&mut self, goal: u32) -> u32 {
        self.stamp += 1;
        let s = self.goal_slot[goal as usize];
        if s != NONE {
            self.stats.hits += 1;
            self.touch(s);
            return s;
        }
        self.stats.misses += 1;
        let n = self.graph.num_vertices();
        let evictable = self.lru.first().copied().filter(|&(_, s)| self.slot_epoch[s as usize] < self.epoch);
        let slot = match (self.live >= self.capacity, evictable) {
            (true, Some((stamp, s))) => {
                self.lru.remove(&(stamp, s));
                self.drop_slot(s);
                s
            }
            _ => {
                self.live += 1;
                // Zeroed allocations are cheap; the BFS fills the table anyway.
                if let Some(s) = self.free.pop() {
                    self.tables[s as usize] = vec![0; n];
                    s
                } else {
                    self.tables.push(vec![0; n]);
                    self.slot_goal.push(NONE);
                    self.slot_stamp.push(0);
                    self.slot_epoch.push(0);
                    (self.tables.len() - 1) as u32
                }
            }
        };
        self.stats.peak_tables = self.stats.peak_tables.max(self.live);
        bfs_fill(&self.graph.adj, goal, &mut self.tables[slot as usize], &mut self.queue);
        self.goal_slot[goal as usize] = slot;
        self.slot_goal[slot as usize] = goal;
        self.slot_stamp[slot as usize] = self.stamp;
        self.slot_epoch[slot as usize] = self.epoch;
        self.lru.insert((self.stamp, slot));
        slot
    }

    fn touch(&mut self, slot: u32) {
        let old = self.slot_stamp[slot as usize];
        self.lru.remove(&(old, slot));
        self.slot_stamp[slot as usize] = self.stamp;
        self.slot_epoch[slot as usize] = self.epoch;
        self.lru.insert((self.stamp, slot));
    }

    /// The table in a slot returned by [`DistanceCache::slot`] during this step, indexed by vertex.
    pub fn table(&self, slot: u32) -> &[u16] {
        self.tables.get(slot as usize).map_or(&[], |t| t.as_slice())
    }

    /// Distances to a goal cell, indexed by vertex; `None` when the cell is not passable.
    pub fn distances_to(&mut self, goal: Cell) -> Option<&[u16]> {
        let v = self.graph.vertex(goal)?;
        let s = self.slot_of(v);
        Some(self.table(s))
    }

    /// Shortest-path length between two cells in steps; `None` when either is not passable or
    /// they are not connected.
    pub fn distance(&mut self, from: Cell, to: Cell) -> Option<u32> {
        let f = self.graph.vertex(from)?;
        let d = self.distances_to(to)?[f as usize];
        (d != UNREACHABLE).then_some(u32::from(d))
    }
}

// ---------------------------------------------------------------------------------------------
// Errors and input checks
// ---------------------------------------------------------------------------------------------

/// Why a planner refused its input.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// `positions` and `goals` differ in length.
    #[error("{positions} positions but {goals} goals")]
    LengthMismatch {
        /// Positions given.
        positions: usize,
        /// Goals given.
        goals: usize,
    },
    /// A position outside the map or on a blocked cell.
    #[error("robot {robot}: position {cell} is not a passable cell of the map")]
    BadPosition {
        /// Robot index.
        robot: usize,
        /// The cell.
        cell: Cell,
    },
    /// A goal outside the map or on a blocked cell.
    #[error("robot {robot}: goal {cell} is not a passable cell of the map")]
    BadGoal {
        /// Robot index.
        robot: usize,
        /// The cell.
        cell: Cell,
    },
    /// Two robots on one cell.
    #[error("robots {a} and {b} are both on cell {cell}")]
    SharedCell {
        /// Lower robot index.
        a: usize,
        /// Higher robot index.
        b: usize,
        /// The cell.
        cell: Cell,
    },
    /// A priority order that is not a permutation of the robots.
    #[error("the priority order must list every robot exactly once")]
    BadOrder,
    /// An invalid planner configuration.
    #[error("invalid configuration: {0}")]
    Config(&'static str),
}

/// Converts positions and goals to vertices and marks `occ` (all `NONE` on entry; left all `NONE`
/// on error) with the robot on each vertex. A goal of [`NONE`] (no goal: stay unless pushed)
/// stays `NONE`.
fn load(
    graph: &GridGraph,
    positions: &[Cell],
    goals: &[Cell],
    pos: &mut Vec<u32>,
    goal: &mut Vec<u32>,
    occ: &mut [u32],
) -> Result<(), PlanError> {
    if positions.len() != goals.len() {
        return Err(PlanError::LengthMismatch { positions: positions.len(), goals: goals.len() });
    }
    pos.clear();
    goal.clear();
    for (i, (&p, &g)) in positions.iter().zip(goals).enumerate() {
        let Some(pv) = graph.vertex(p) else { return Err(PlanError::BadPosition { robot: i, cell: p }) };
        let gv = if g == NONE {
            NONE
        } else {
            let Some(gv) = graph.vertex(g) else { return Err(PlanError::BadGoal { robot: i, cell: g }) };
            gv
        };
        pos.push(pv);
        goal.push(gv);
    }
    for (i, &v) in pos.iter().enumerate() {
        let o = occ[v as usize];
        if o != NONE {
            for &w in &pos[..i] {
                occ[w as usize] = NONE;
            }
            return Err(PlanError::SharedCell { a: o as usize, b: i, cell: positions[i] });
        }
        occ[v as usize] = i as u32;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Step invariant
// ---------------------------------------------------------------------------------------------

/// Conflicts found by [`check_step`], each list sorted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Conflicts {
    /// `(a, b, cell)`: robots `a < b` both in `cell` after the step.
    pub vertex: Vec<(usize, usize, Cell)>,
    /// `(a, b)`: robots `a < b` swapped cells.
    pub edge: Vec<(usize, usize)>,
}

impl Conflicts {
    /// No conflict at all.
    pub fn is_empty(&self) -> bool {
        self.vertex.is_empty() && self.edge.is_empty()
    }
}

/// The vertex and edge (swap) conflicts of one step from `prev` to `next` (robot `i` goes from
/// `prev[i]` to `next[i]`; robots beyond the shorter slice are ignored). Following and rotations
/// are not conflicts. O(n log n).
pub fn check_step(prev: &[u32], next: &[u32]) -> Conflicts {
    let n = prev.len().min(next.len());
    let mut out = Conflicts::default();
    let mut by_next: Vec<(u32, usize)> = (0..n).map(|i| (next[i], i)).collect();
    by_next.sort_unstable();
    for group in by_next.chunk_by(|a, b| a.0 == b.0) {
        for (x, &(cell, a)) in group.iter().enumerate() {
            for &(_, b) in &group[x + 1..] {
                out.vertex.push((a, b, cell));
            }
        }
    }
    let mut by_prev: Vec<(u32, usize)> = (0..n).map(|i| (prev[i], i)).collect();
    by_prev.sort_unstable();
    for a in 0..n {
        if prev[a] == next[a] {
            continue;
        }
        let start = by_prev.partition_point(|&(c, _)| c < next[a]);
        for &(c, b) in &by_prev[start..] {
            if c != next[a] {
                break;
            }
            if a < b && next[b] == prev[a] {
                out.edge.push((a, b));
            }
        }
    }
    out.vertex.sort_unstable();
    out.edge.sort_unstable();
    out
}

/// Robots whose step from `prev[i]` to `next[i]` is neither a wait nor a move to a passable
/// 4-neighbour (or that start or end off the passable cells), ascending.
pub fn check_moves(graph: &GridGraph, prev: &[Cell], next: &[Cell]) -> Vec<usize> {
    prev.iter().zip(next).enumerate().filter(|&(_, (&a, &b))| !graph.is_move(a, b)).map(|(i, _)| i).collect()
}

// ---------------------------------------------------------------------------------------------
// PIBT
// ---------------------------------------------------------------------------------------------

/// Settings of [`Pibt`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PibtConfig {
    /// Seed of the tie-breaks (robot priorities and candidate order among equal distances).
    pub seed: u64,
    /// Among candidate cells at equal distance, try a currently empty one before one with a robot
    /// on it (fewer pushes; a common refinement in Okumura's later PIBT/LaCAM code).
    pub prefer_unoccupied: bool,
}

impl Default for PibtConfig {
    fn default() -> Self {
        PibtConfig { seed: 0, prefer_unoccupied: true }
    }
}

#[derive(Clone, Copy, Debug)]
struct Frame {
    agent: u32,
    parent: u32,
    cands: [u32; 5],
    len: u8,
    idx: u8,
}

/// Priority Inheritance with Backtracking (Okumura, Machida, Défago & Tamura, "Priority
/// Inheritance with Backtracking for Iterative Multi-agent Path Finding", IJCAI 2019; extended in
/// Artificial Intelligence 310, 2022): one synchronous step for all robots.
///
/// Each robot's priority is the number of steps since it last reached its goal or got a new one
/// (reset to 0 then), ties broken by a seeded per-robot hash and then by robot id. Robots are
/// taken in decreasing priority; an undecided robot tries its own cell and its neighbours in
/// increasing BFS distance to its goal (ties: empty cells first when
/// [`PibtConfig::prefer_unoccupied`], then a seeded hash of step, robot and cell), skipping cells
/// already claimed for the next step and its pusher's current cell; claiming a cell held by an
/// undecided robot makes that robot inherit the priority and move first (recursively), and if it
/// cannot, the claimer backtracks to its next candidate. A robot with no candidate left stays.
/// The recursion is an explicit stack, so push chains of any length are safe.
///
/// Guarantees: no vertex and no swap conflicts (a pushed robot never takes its pusher's cell, and
/// a robot only enters a held cell once its holder has decided to leave); following and rotations
/// happen. In graphs where every pair of adjacent vertices lies on a simple cycle the
/// highest-priority robot reaches its goal (the paper's theorem); in narrow dead ends livelock is
/// possible.
#[derive(Clone, Debug, Default)]
pub struct Pibt {
    cfg: PibtConfig,
    tick: u64,
    elapsed: Vec<u32>,
    last_goal: Vec<Cell>,
    tiebreak: Vec<u64>,
    pos: Vec<u32>,
    goal: Vec<u32>,
    slot: Vec<u32>,
    next: Vec<u32>,
    order: Vec<u32>,
    occ_now: Vec<u32>,
    occ_next: Vec<u32>,
    stack: Vec<Frame>,
    desired_v: Vec<u32>,
    desired: Vec<Cell>,
}

struct PibtCtx<'a> {
    adj: &'a [[u32; 4]],
    cache: &'a DistanceCache,
    slot: &'a [u32],
    pos: &'a [u32],
    occ_now: &'a [u32],
    salt: u64,
    prefer_unoccupied: bool,
}

impl PibtCtx<'_> {
    fn frame(&self, agent: u32, parent: u32) -> Frame {
        let u = self.pos[agent as usize];
        let slot = self.slot[agent as usize];
        // No goal: its own cell first, every neighbour equally second.
        let table = if slot == NONE { &[][..] } else { self.cache.table(slot) };
        let mut keys = [(u64::MAX, NONE); 5];
        let mut len = 0;
        let agent_salt = mix(self.salt ^ u64::from(agent).wrapping_mul(0xA24B_AED4_963E_E407));
        for v in self.adj[u as usize].into_iter().chain([u]) {
            if v == NONE {
                continue;
            }
            let d = if slot == NONE {
                u64::from(v != u)
            } else {
                u64::from(table.get(v as usize).copied().unwrap_or(UNREACHABLE))
            };
            let occupied = self.prefer_unoccupied && self.occ_now[v as usize] != NONE && v != u;
            let h = mix(agent_salt ^ u64::from(v)) >> 17;
            keys[len] = (d << 48 | u64::from(occupied) << 47 | h, v);
            len += 1;
        }
        keys[..len].sort_unstable();
        let mut cands = [NONE; 5];
        for (c, k) in cands.iter_mut().zip(&keys[..len]) {
            *c = k.1;
        }
        Frame { agent, parent, cands, len: len as u8, idx: 0 }
    }
}

/// PIBT from one root robot, with the recursion as an explicit stack: the top frame tries its next
/// candidate; claiming a cell held by an undecided robot pushes that robot's frame; a valid claim
/// makes every frame on the stack valid (each ancestor keeps its tentative cell); a frame out of
/// candidates stays put and pops, and its parent goes on with its own next candidate.
fn pibt_root(
    ctx: &PibtCtx<'_>,
    root: u32,
    next: &mut [u32],
    occ_next: &mut [u32],
    stack: &mut Vec<Frame>,
    desired: &mut [u32],
) {
    stack.clear();
    let f = ctx.frame(root, NONE);
    desired[root as usize] = f.cands[0];
    stack.push(f);
    while let Some(top) = stack.last_mut() {
        let (a, parent) = (top.agent, top.parent);
        let mut push = NONE;
        let mut valid = false;
        while top.idx < top.len {
            let v = top.cands[top.idx as usize];
            top.idx += 1;
            if occ_next[v as usize] != NONE || (parent != NONE && v == ctx.pos[parent as usize]) {
                continue;
            }
            next[a as usize] = v;
            occ_next[v as usize] = a;
            let k = ctx.occ_now[v as usize];
            if k != NONE && k != a && next[k as usize] == NONE {
                push = k;
            } else {
                valid = true;
            }
            break;
        }
        if push != NONE {
            let f = ctx.frame(push, a);
            desired[push as usize] = f.cands[0];
            stack.push(f);
        } else if valid {
            stack.clear();
        } else {
            let here = ctx.pos[a as usize];
            next[a as usize] = here;
            occ_next[here as usize] = a;
            stack.pop();
        }
    }
}

impl Pibt {
    /// A planner with the given settings.
    pub fn new(cfg: PibtConfig) -> Self {
        Pibt { cfg, ..Default::default() }
    }

    /// Steps taken so far.
    pub fn tick(&self) -> u64 {
        self.tick
    }

    /// Each robot's priority at the last step (steps since it last reached or got a goal).
    pub fn priorities(&self) -> &[u32] {
        &self.elapsed
    }

    /// Each robot's preferred cell at the last step (its first candidate: nearest to its goal,
    /// ties broken as in the step), for [`deadlock_cycles`].
    pub fn desired(&self) -> &[Cell] {
        &self.desired
    }

    /// One step: the next cell of every robot. See [`Pibt::step_into`].
    pub fn step(
        &mut self,
        cache: &mut DistanceCache,
        positions: &[Cell],
        goals: &[Cell],
    ) -> Result<Vec<Cell>, PlanError> {
        let mut out = Vec::with_capacity(positions.len());
        self.step_into(cache, positions, goals, &mut out)?;
        Ok(out)
    }

    /// One step into `out` (cleared first). `positions` must be distinct passable cells and
    /// `goals` passable cells or [`NONE`] (no goal: stay unless pushed), one per robot. The
    /// number of robots may change between calls (robots keep their index; new ones start with
    /// priority 0). A goal the robot cannot reach leaves all its candidates at equal distance:
    /// it then only gets out of others' way.
    pub fn step_into(
        &mut self,
        cache: &mut DistanceCache,
        positions: &[Cell],
        goals: &[Cell],
        out: &mut Vec<Cell>,
    ) -> Result<(), PlanError> {
        self.step_into_fixed(cache, positions, goals, &[], out)
    }

    /// [`Pibt::step_into`] with some robots `fixed` (`fixed[i]`; a shorter slice leaves the rest
    /// free): they stay where they are and are never pushed — obstacles the others plan around
    /// (a robot the planner has lost contact with, say).
    pub fn step_into_fixed(
        &mut self,
        cache: &mut DistanceCache,
        positions: &[Cell],
        goals: &[Cell],
        fixed: &[bool],
        out: &mut Vec<Cell>,
    ) -> Result<(), PlanError> {
        let nv = cache.graph().num_vertices();
        if self.occ_now.len() != nv {
            self.occ_now = vec![NONE; nv];
            self.occ_next = vec![NONE; nv];
        }
        load(cache.graph(), positions, goals, &mut self.pos, &mut self.goal, &mut self.occ_now)?;
        let n = positions.len();
        let seed = self.cfg.seed;
        while self.elapsed.len() < n {
            let id = self.elapsed.len() as u64;
            self.elapsed.push(0);
            self.last_goal.push(NONE);
            self.tiebreak.push(mix(seed ^ mix(id)));
        }
        self.elapsed.truncate(n);
        self.last_goal.truncate(n);
        self.tiebreak.truncate(n);
        for (i, (e, last)) in self.elapsed.iter_mut().zip(&mut self.last_goal).enumerate() {
            let no_goal = self.goal[i] == NONE || fixed.get(i).copied().unwrap_or(false);
            *e = if goals[i] != *last || self.pos[i] == self.goal[i] || no_goal { 0 } else { e.saturating_add(1) };
            *last = goals[i];
        }
        cache.begin_step();
        self.slot.clear();
        self.slot.extend(self.goal.iter().map(|&g| if g == NONE { NONE } else { cache.slot_of(g) }));
        self.order.clear();
        self.order.extend(0..n as u32);
        let (elapsed, tiebreak) = (&self.elapsed, &self.tiebreak);
        self.order.sort_unstable_by_key(|&i| {
            (std::cmp::Reverse(elapsed[i as usize]), std::cmp::Reverse(tiebreak[i as usize]), i)
        });
        self.next.clear();
        self.next.resize(n, NONE);
        let ctx = PibtCtx {
            adj: &cache.graph().adj,
            cache: &*cache,
            slot: &self.slot,
            pos: &self.pos,
            occ_now: &self.occ_now,
            salt: mix(seed ^ mix(self.tick ^ 0x5EED)),
            prefer_unoccupied: self.cfg.prefer_unoccupied,
        };
        self.desired_v.clear();
        self.desired_v.resize(n, NONE);
        for (a, _) in fixed.iter().enumerate().take(n).filter(|(_, f)| **f) {
            let here = self.pos[a];
            self.next[a] = here;
            self.occ_next[here as usize] = a as u32;
            self.desired_v[a] = here;
        }
        for &a in &self.order {
            if self.next[a as usize] == NONE {
                pibt_root(&ctx, a, &mut self.next, &mut self.occ_next, &mut self.stack, &mut self.desired_v);
            }
        }
        out.clear();
        let cell_of = &cache.graph().cell_of;
        out.extend(self.next.iter().map(|&v| cell_of[v as usize]));
        self.desired.clear();
        self.desired.extend(self.desired_v.iter().map(|&v| cell_of[v as usize]));
        for i in 0..n {
            self.occ_now[self.pos[i] as usize] = NONE;
            self.occ_next[self.next[i] as usize] = NONE;
        }
        self.tick += 1;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Local PIBT (decentralized)
// ---------------------------------------------------------------------------------------------

/// One robot of a [`pibt_local`] step: its cell, its priority (higher decides first) and its
/// candidate cells best first (its own cell among them, where waiting ranks).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalAgent {
    pub cell: Cell,
    pub prio: u64,
    pub cand: [Cell; 5],
    pub n: u8,
}

/// PIBT over a handful of robots a robot knows of (those it senses, with the goals and
/// priorities they told it): the same rules as [`Pibt`] — decreasing priority, priority
/// inheritance by pushing, backtracking, never into the pusher's cell — on cells named
/// directly, with no graph. Writes each robot's next cell into `next`. Robots are few
/// (a sensing window), so occupancy is a linear scan. Conflict-free among the robots given;
/// cells beyond them count as free (the caller's interlock covers what it cannot see).
pub fn pibt_local(agents: &[LocalAgent], next: &mut Vec<Cell>) {
    let n = agents.len();
    next.clear();
    next.resize(n, NONE);
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(agents[i].prio), i));
    fn occupant(agents: &[LocalAgent], c: Cell) -> Option<usize> {
        agents.iter().position(|a| a.cell == c)
    }
    fn taken(next: &[Cell], c: Cell) -> bool {
        next.contains(&c)
    }
    fn go(agents: &[LocalAgent], next: &mut [Cell], i: usize, pusher: Option<usize>, depth: usize) -> bool {
        let a = agents[i];
        for &v in &a.cand[..a.n as usize] {
            if taken(next, v) || pusher.is_some_and(|p| agents[p].cell == v) {
                continue;
            }
            next[i] = v;
            match occupant(agents, v) {
                Some(k) if k != i && next[k] == NONE => {
                    if depth < 64 && go(agents, next, k, Some(i), depth + 1) {
                        return true;
                    }
                    next[i] = NONE;
                }
                _ => return true,
            }
        }
        next[i] = a.cell;
        false
    }
    for &i in &order {
        if next[i] == NONE {
            go(agents, next, i, None, 0);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Greedy local-sensing policy
// ---------------------------------------------------------------------------------------------

/// Output of [`greedy_step`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GreedyStep {
    /// Where each robot is after the step.
    pub next: Vec<Cell>,
    /// Where each robot wanted to go (its best distance-reducing neighbour; its own cell at the
    /// goal or when the goal is unreachable).
    pub desired: Vec<Cell>,
}

/// The "None" policy: each robot, in id order, steps to the neighbour that most reduces its BFS
/// distance to its goal (ties: north, east, south, west) among those that are empty right now and
/// not already taken this step by a lower-id robot; otherwise it waits. Robots sense only the
/// cells next to them — no following into a cell being vacated, no negotiation — so two robots
/// meeting head-on in a one-wide aisle wait for each other forever (see [`deadlock_cycles`]).
/// Never produces vertex or swap conflicts.
pub fn greedy_step(cache: &mut DistanceCache, positions: &[Cell], goals: &[Cell]) -> Result<GreedyStep, PlanError> {
    let nv = cache.graph().num_vertices();
    let mut occ = vec![NONE; nv];
    let (mut pos, mut goal) = (Vec::new(), Vec::new());
    load(cache.graph(), positions, goals, &mut pos, &mut goal, &mut occ)?;
    cache.begin_step();
    let mut claimed = vec![false; nv];
    let mut next = Vec::with_capacity(pos.len());
    let mut desired = Vec::with_capacity(pos.len());
    for i in 0..pos.len() {
        let slot = cache.slot_of(goal[i]);
        let table = cache.table(slot);
        let graph = cache.graph();
        let u = pos[i];
        let du = table[u as usize];
        let mut better: Vec<(u16, usize, u32)> = graph.adj[u as usize]
            .iter()
            .enumerate()
            .filter(|&(_, &v)| v != NONE && table[v as usize] < du)
            .map(|(dir, &v)| (table[v as usize], dir, v))
            .collect();
        better.sort_unstable();
        desired.push(graph.cell_of[better.first().map_or(u, |b| b.2) as usize]);
        let go = better.iter().map(|b| b.2).find(|&v| occ[v as usize] == NONE && !claimed[v as usize]);
        let v = go.unwrap_or(u);
        claimed[v as usize] = true;
        next.push(graph.cell_of[v as usize]);
    }
    Ok(GreedyStep { next, desired })
}

// ---------------------------------------------------------------------------------------------
// Deadlock detection
// ---------------------------------------------------------------------------------------------

/// Edges `(a, b)` of the wait-for graph of one step, sorted: robot `a` wanted to move
/// (`desired[a] != prev[a]`), did not (`next[a] == prev[a]`), and robot `b` holds the cell it
/// wanted (`next[b] == desired[a]`). Each robot has at most one out-edge. Robots beyond the
/// shortest slice are ignored.
pub fn wait_for_edges(prev: &[Cell], desired: &[Cell], next: &[Cell]) -> Vec<(usize, usize)> {
    let n = prev.len().min(desired.len()).min(next.len());
    let mut holder: Vec<(Cell, usize)> = (0..n).map(|i| (next[i], i)).collect();
    holder.sort_unstable();
    let mut edges = Vec::new();
    for a in 0..n {
        if desired[a] == prev[a] || next[a] != prev[a] {
            continue;
        }
        let k = holder.partition_point(|&(c, _)| c < desired[a]);
        if let Some(&(c, b)) = holder.get(k)
            && c == desired[a]
            && b != a
        {
            edges.push((a, b));
        }
    }
    edges
}

/// Cycles of the wait-for graph ([`wait_for_edges`]): groups of robots each waiting for the next,
/// none of which moved — a deadlock for this step (persisting over steps, a permanent one). Each
/// cycle once, its robots ascending; cycles ordered by their smallest robot.
pub fn deadlock_cycles(prev: &[Cell], desired: &[Cell], next: &[Cell]) -> Vec<Vec<usize>> {
    let n = prev.len().min(desired.len()).min(next.len());
    let mut succ = vec![usize::MAX; n];
    for (a, b) in wait_for_edges(prev, desired, next) {
        succ[a] = b;
    }
    // 0 = unvisited, 1 = on the current walk, 2 = done.
    let mut state = vec![0u8; n];
    let mut cycles = Vec::new();
    let mut walk = Vec::new();
    for start in 0..n {
        if state[start] != 0 {
            continue;
        }
        walk.clear();
        let mut x = start;
        while x != usize::MAX && state[x] == 0 {
            state[x] = 1;
            walk.push(x);
            x = succ[x];
        }
        if x != usize::MAX && state[x] == 1 {
            let from = walk.iter().position(|&w| w == x).unwrap_or(0);
            let mut cycle = walk[from..].to_vec();
            cycle.sort_unstable();
            cycles.push(cycle);
        }
        for &w in &walk {
            state[w] = 2;
        }
    }
    cycles.sort_unstable();
    cycles
}

// ---------------------------------------------------------------------------------------------
// WHCA*
// ---------------------------------------------------------------------------------------------

/// Settings of [`Whca`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WhcaConfig {
    /// Window w: steps planned ahead (1..=1024).
    pub window: u32,
    /// Replan every k steps (1 ≤ k ≤ w; Silver suggests w/2).
    pub replan_every: u32,
}

impl Default for WhcaConfig {
    fn default() -> Self {
        WhcaConfig { window: 8, replan_every: 4 }
    }
}

/// Windowed plans from [`plan_window`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WindowPlan {
    /// Per robot, its cells at t = 0..=w.
    pub paths: Vec<Vec<Cell>>,
    /// Robots whose search failed: they wait in place for the whole window, ascending.
    pub failed: Vec<usize>,
    /// Space-time nodes expanded, all searches together.
    pub expansions: u64,
}

#[derive(Default)]
struct Reservations {
    vertex: HashMap<(u32, u32), u32>,
    edge: HashMap<(u32, u32, u32), u32>,
}

impl Reservations {
    fn reserve_path(&mut self, path: &[u32], agent: u32) {
        for (t, w) in path.windows(2).enumerate() {
            let t = t as u32;
            self.vertex.insert((w[1], t + 1), agent);
            if w[0] != w[1] {
                self.edge.insert((w[0], w[1], t), agent);
            }
        }
    }

    fn release_path(&mut self, path: &[u32], agent: u32) {
        for (t, w) in path.windows(2).enumerate() {
            let t = t as u32;
            if self.vertex.get(&(w[1], t + 1)) == Some(&agent) {
                self.vertex.remove(&(w[1], t + 1));
            }
            if self.edge.get(&(w[0], w[1], t)) == Some(&agent) {
                self.edge.remove(&(w[0], w[1], t));
            }
        }
    }

    fn blocked(&self, v: u32, t: u32, agent: u32) -> bool {
        self.vertex.get(&(v, t)).is_some_and(|&o| o != agent)
    }

    fn swap_blocked(&self, from: u32, to: u32, t: u32, agent: u32) -> bool {
        self.edge.get(&(to, from, t)).is_some_and(|&o| o != agent)
    }
}

/// Windowed cooperative A* for one window (Silver, "Cooperative Pathfinding", AIIDE 2005): robots
/// plan one after another in `order` (a permutation of `0..n`) by space-time A* against a
/// reservation table of vertices `(cell, t)` and edges `(from, to, t)`, each reserving its path
/// for t = 1..=w.
///
/// Each search minimises, over paths of exactly w steps, the number of moves and waits away from
/// the goal plus the BFS distance to the goal from the cell reached at t = w (waiting on the goal
/// is free), with the BFS distance as the (consistent) heuristic. Lower-priority robots' current
/// cells are not protected: a higher-priority robot may plan through them, and the lower one must
/// get out of the way. A robot whose search fails waits in place for the whole window: its cell is
/// reserved for t = 1..=w and any robot already planned through that cell is unplanned and
/// searches again, in priority order (a robot fails at most once, so this terminates). The result
/// is conflict-free for t = 0..=w ([`validate_plans`]).
///
/// (Reserving unplanned robots' cells at t = 1 instead, so that everyone can always wait one step,
/// was tried and livelocks with replanning every step: two robots meeting head-on each plan to
/// wait for the other.)
pub fn plan_window(
    cache: &mut DistanceCache,
    positions: &[Cell],
    goals: &[Cell],
    order: &[usize],
    window: u32,
) -> Result<WindowPlan, PlanError> {
    plan_window_fixed(cache, positions, goals, order, window, &[])
}

/// [`plan_window`] with some robots `fixed` (`fixed[i]`; a shorter slice leaves the rest free):
/// they wait in place for the whole window, reserved before anybody plans, so the others go
/// round them. A goal of [`NONE`] means no goal: the robot's own cell, with the Manhattan
/// distance as heuristic (no distance table is built for it).
pub fn plan_window_fixed(
    cache: &mut DistanceCache,
    positions: &[Cell],
    goals: &[Cell],
    order: &[usize],
    window: u32,
    fixed: &[bool],
) -> Result<WindowPlan, PlanError> {
    if !(1..=1024).contains(&window) {
        return Err(PlanError::Config("window must be in 1..=1024"));
    }
    let nv = cache.graph().num_vertices();
    let mut occ = vec![NONE; nv];
    let (mut pos, mut goal) = (Vec::new(), Vec::new());
    load(cache.graph(), positions, goals, &mut pos, &mut goal, &mut occ)?;
    let n = pos.len();
    let mut rank = vec![usize::MAX; n];
    if order.len() != n {
        return Err(PlanError::BadOrder);
    }
    for (r, &i) in order.iter().enumerate() {
        if i >= n || rank[i] != usize::MAX {
            return Err(PlanError::BadOrder);
        }
        rank[i] = r;
    }
    cache.begin_step();
    let slots: Vec<u32> = goal.iter().map(|&g| if g == NONE { NONE } else { cache.slot_of(g) }).collect();
    let cache = &*cache;
    let graph = cache.graph();
    let cols = graph.cols();
    let mut res = Reservations::default();
    let mut paths: Vec<Option<Vec<u32>>> = vec![None; n];
    let mut is_static = vec![false; n];
    let is_fixed = |i: usize| fixed.get(i).copied().unwrap_or(false);
    for i in (0..n).filter(|&i| is_fixed(i)) {
        for t in 1..=window {
            res.vertex.insert((pos[i], t), i as u32);
        }
        paths[i] = Some(vec![pos[i]; window as usize + 1]);
    }
    let mut queue: BTreeSet<(usize, usize)> =
        order.iter().enumerate().filter(|&(_, &i)| !is_fixed(i)).map(|(r, &i)| (r, i)).collect();
    let expansions = std::cell::Cell::new(0u64);
    while let Some((_, i)) = queue.pop_first() {
        let me = i as u32;
        let start = pos[i];
        let no_goal = slots[i] == NONE;
        let table = if no_goal { &[][..] } else { cache.table(slots[i]) };
        let g = if no_goal { start } else { goal[i] };
        let start_cell = graph.cell_of[start as usize];
        let h = |v: u32| -> u32 {
            if no_goal {
                let c = graph.cell_of[v as usize];
                return (c / cols).abs_diff(start_cell / cols) + (c % cols).abs_diff(start_cell % cols);
            }
            match table[v as usize] {
                UNREACHABLE => 1 << 20,
                d => u32::from(d),
            }
        };
        const SINK: (u32, u32) = (NONE, NONE);
        let found = astar(
            &(start, 0u32),
            |&(v, t)| {
                expansions.set(expansions.get() + 1);
                let mut out: Vec<((u32, u32), u32)> = Vec::with_capacity(5);
                if v == NONE {
                    return out;
                }
                if t == window {
                    out.push((SINK, h(v)));
                    return out;
                }
                for u in std::iter::once(v).chain(graph.neighbours(v)) {
                    if res.blocked(u, t + 1, me) || (u != v && res.swap_blocked(v, u, t, me)) {
                        continue;
                    }
                    let cost = if u == v && v == g { 0 } else { 1 };
                    out.push(((u, t + 1), cost));
                }
                out
            },
            |&(v, _)| if v == NONE { 0 } else { h(v) },
            |&node| node == SINK,
        );
        match found {
            Some((mut nodes, _)) => {
                nodes.pop(); // the sink
                let path: Vec<u32> = nodes.into_iter().map(|(v, _)| v).collect();
                res.reserve_path(&path, me);
                paths[i] = Some(path);
            }
            None => {
                is_static[i] = true;
                for t in 1..=window {
                    if let Some(&o) = res.vertex.get(&(start, t))
                        && o != me
                        && !is_fixed(o as usize)
                    {
                        let o = o as usize;
                        if let Some(p) = paths[o].take() {
                            res.release_path(&p, o as u32);
                        }
                        queue.insert((rank[o], o));
                    }
                    res.vertex.insert((start, t), me);
                }
                paths[i] = Some(vec![start; window as usize + 1]);
            }
        }
    }
    let failed = (0..n).filter(|&i| is_static[i]).collect();
    let paths = paths
        .into_iter()
        .zip(&pos)
        .map(|(p, &s)| {
            p.unwrap_or_else(|| vec![s; window as usize + 1]).into_iter().map(|v| graph.cell_of[v as usize]).collect()
        })
        .collect();
    Ok(WindowPlan { paths, failed, expansions: expansions.get() })
}

/// Conflicts of a set of plans, as `(t, conflicts of the step t → t+1)`; t = 0 also reports robots
/// sharing a start cell (as vertex conflicts). A robot stays on its last cell after its plan ends;
/// empty plans are ignored. Empty result = conflict-free.
pub fn validate_plans(paths: &[Vec<Cell>]) -> Vec<(usize, Conflicts)> {
    let ids: Vec<usize> = (0..paths.len()).filter(|&i| !paths[i].is_empty()).collect();
    let horizon = ids.iter().map(|&i| paths[i].len()).max().unwrap_or(0);
    let at = |i: usize, t: usize| paths[i][t.min(paths[i].len() - 1)];
    let remap = |mut c: Conflicts| {
        for v in &mut c.vertex {
            *v = (ids[v.0], ids[v.1], v.2);
        }
        for e in &mut c.edge {
            *e = (ids[e.0], ids[e.1]);
        }
        c
    };
    let mut out = Vec::new();
    let start: Vec<Cell> = ids.iter().map(|&i| at(i, 0)).collect();
    let mut c0 = check_step(&start, &start);
    c0.edge.clear();
    if !c0.is_empty() {
        out.push((0, remap(c0)));
    }
    for t in 0..horizon.saturating_sub(1) {
        let prev: Vec<Cell> = ids.iter().map(|&i| at(i, t)).collect();
        let next: Vec<Cell> = ids.iter().map(|&i| at(i, t + 1)).collect();
        let c = check_step(&prev, &next);
        if !c.is_empty() {
            out.push((t, remap(c)));
        }
    }
    out
}

/// WHCA* run step by step: plans a window with [`plan_window`] and executes its first steps,
/// replanning every `replan_every` steps, whenever a goal changes, and whenever a robot is not
/// where its plan says (e.g. the caller moved it). Priority order at each replan: longest time
/// since reaching or getting a goal first, ties by robot id.
#[derive(Clone, Debug)]
pub struct Whca {
    cfg: WhcaConfig,
    plans: Vec<Vec<Cell>>,
    failed: Vec<usize>,
    t: u32,
    last_goals: Vec<Cell>,
    elapsed: Vec<u32>,
    replans: u64,
    expansions: u64,
}

impl Whca {
    /// A planner; `1 ≤ replan_every ≤ window ≤ 1024`.
    pub fn new(cfg: WhcaConfig) -> Result<Self, PlanError> {
        if !(1..=1024).contains(&cfg.window) {
            return Err(PlanError::Config("window must be in 1..=1024"));
        }
        if cfg.replan_every == 0 || cfg.replan_every > cfg.window {
            return Err(PlanError::Config("replan_every must be in 1..=window"));
        }
        Ok(Whca {
            cfg,
            plans: Vec::new(),
            failed: Vec::new(),
            t: 0,
            last_goals: Vec::new(),
            elapsed: Vec::new(),
            replans: 0,
            expansions: 0,
        })
    }

    /// The current window's plans (cells at t = 0..=w from the last replan).
    pub fn plans(&self) -> &[Vec<Cell>] {
        &self.plans
    }

    /// Robots whose search failed at the last replan.
    pub fn failed(&self) -> &[usize] {
        &self.failed
    }

    /// Replans so far.
    pub fn replans(&self) -> u64 {
        self.replans
    }

    /// Space-time nodes expanded so far.
    pub fn expansions(&self) -> u64 {
        self.expansions
    }

    /// One step: the next cell of every robot.
    pub fn step(
        &mut self,
        cache: &mut DistanceCache,
        positions: &[Cell],
        goals: &[Cell],
    ) -> Result<Vec<Cell>, PlanError> {
        if positions.len() != goals.len() {
            return Err(PlanError::LengthMismatch { positions: positions.len(), goals: goals.len() });
        }
        let n = positions.len();
        self.elapsed.resize(n, 0);
        self.last_goals.resize(n, NONE);
        let mut goals_changed = false;
        for i in 0..n {
            if goals[i] != self.last_goals[i] || positions[i] == goals[i] {
                goals_changed |= goals[i] != self.last_goals[i];
                self.elapsed[i] = 0;
            } else {
                self.elapsed[i] = self.elapsed[i].saturating_add(1);
            }
        }
        let t = self.t as usize;
        let off_plan = self.plans.len() != n || (0..n).any(|i| self.plans[i].get(t) != Some(&positions[i]));
        if goals_changed || off_plan || self.t >= self.cfg.replan_every {
            let mut order: Vec<usize> = (0..n).collect();
            order.sort_by_key(|&i| (std::cmp::Reverse(self.elapsed[i]), i));
            let plan = plan_window(cache, positions, goals, &order, self.cfg.window)?;
            self.plans = plan.paths;
            self.failed = plan.failed;
            self.expansions += plan.expansions;
            self.replans += 1;
            self.t = 0;
        }
        self.last_goals.clear();
        self.last_goals.extend_from_slice(goals);
        let t = self.t as usize + 1;
        self.t += 1;
        Ok(self.plans.iter().map(|p| p[t.min(p.len() - 1)]).collect())
    }
}

// ---------------------------------------------------------------------------------------------
// Task allocation
// ---------------------------------------------------------------------------------------------

/// Whether an assignment minimises or maximises the total weight.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Objective {
    /// Smallest total (costs: travel distances).
    Minimise,
    /// Largest total (rewards).
    Maximise,
}

/// Largest accepted |weight|; keeps Kuhn–Munkres' label sums far from `i64` overflow.
pub const MAX_WEIGHT: i64 = 1 << 40;

/// A robot-to-task assignment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Assignment {
    /// Per robot (row), its task (column), or `None`.
    pub task_of: Vec<Option<usize>>,
    /// Sum of the assigned weights.
    pub total: i64,
}

/// Why an assignment was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AssignError {
    /// Rows of different lengths.
    #[error("row {row} has {len} weights, row 0 has {expected}")]
    Ragged {
        /// Row index.
        row: usize,
        /// Its length.
        len: usize,
        /// Row 0's length.
        expected: usize,
    },
    /// A weight beyond ±[`MAX_WEIGHT`].
    #[error("weight {value} at ({row}, {col}) exceeds ±2^40")]
    Weight {
        /// Row.
        row: usize,
        /// Column.
        col: usize,
        /// The weight.
        value: i64,
    },
}

fn check_weights(w: &[Vec<i64>]) -> Result<usize, AssignError> {
    let cols = w.first().map_or(0, Vec::len);
    for (r, row) in w.iter().enumerate() {
        if row.len() != cols {
            return Err(AssignError::Ragged { row: r, len: row.len(), expected: cols });
        }
        if let Some((c, &value)) = row.iter().enumerate().find(|(_, v)| v.abs() > MAX_WEIGHT) {
            return Err(AssignError::Weight { row: r, col: c, value });
        }
    }
    Ok(cols)
}

/// Optimal assignment by the Hungarian method (Kuhn 1955; Munkres 1957), via `pathfinding`'s
/// `kuhn_munkres` (which maximises and needs rows ≤ columns: minimisation negates the weights,
/// and a matrix with more rows than columns is transposed, leaving rows − columns robots without a
/// task). `weights[robot][task]`, integers within ±[`MAX_WEIGHT`]. O(n²·m) for n = min, m = max
/// of rows and columns; ties go to whatever `kuhn_munkres` picks (deterministic).
pub fn assign_hungarian(weights: &[Vec<i64>], objective: Objective) -> Result<Assignment, AssignError> {
    let cols = check_weights(weights)?;
    let rows = weights.len();
    let mut task_of = vec![None; rows];
    if rows == 0 || cols == 0 {
        return Ok(Assignment { task_of, total: 0 });
    }
    let sign = if objective == Objective::Maximise { 1 } else { -1 };
    if rows <= cols {
        let m = Matrix::from_fn(rows, cols, |(r, c)| sign * weights[r][c]);
        let (_, a) = kuhn_munkres(&m);
        for (r, c) in a.into_iter().enumerate() {
            task_of[r] = Some(c);
        }
    } else {
        let m = Matrix::from_fn(cols, rows, |(c, r)| sign * weights[r][c]);
        let (_, a) = kuhn_munkres(&m);
        for (c, r) in a.into_iter().enumerate() {
            task_of[r] = Some(c);
        }
    }
    let total = task_of.iter().enumerate().filter_map(|(r, c)| c.map(|c| weights[r][c])).sum();
    Ok(Assignment { task_of, total })
}

/// Greedy nearest-pair assignment: repeatedly take the best remaining (robot, task) pair
/// (smallest weight when minimising, largest when maximising; ties by robot, then task) until
/// robots or tasks run out. Pairs are ordered by a counting sort when the weights span at most
/// 4·r·c + 1024 values (travel distances do), else by a comparison sort: O(rc) or O(rc log rc).
/// Not optimal (the bench measures the gap).
pub fn assign_greedy(weights: &[Vec<i64>], objective: Objective) -> Result<Assignment, AssignError> {
    let cols = check_weights(weights)?;
    let rows = weights.len();
    let sign = if objective == Objective::Minimise { 1 } else { -1 };
    let key = |r: usize, c: usize| sign * weights[r][c];
    let (mut lo, mut hi) = (i64::MAX, i64::MIN);
    for r in 0..rows {
        for c in 0..cols {
            lo = lo.min(key(r, c));
            hi = hi.max(key(r, c));
        }
    }
    // Pairs (r, c) in increasing key, ties in row-major order.
    let mut pairs: Vec<(u32, u32)> = Vec::with_capacity(rows * cols);
    if rows * cols > 0 && hi - lo <= 4 * (rows * cols) as i64 + 1024 {
        let mut start = vec![0usize; (hi - lo) as usize + 2];
        for r in 0..rows {
            for c in 0..cols {
                start[(key(r, c) - lo) as usize + 1] += 1;
            }
        }
        for i in 1..start.len() {
            start[i] += start[i - 1];
        }
        pairs.resize(rows * cols, (0, 0));
        for r in 0..rows {
            for c in 0..cols {
                let b = &mut start[(key(r, c) - lo) as usize];
                pairs[*b] = (r as u32, c as u32);
                *b += 1;
            }
        }
    } else {
        let mut keyed: Vec<(i64, u32, u32)> = Vec::with_capacity(rows * cols);
        for r in 0..rows {
            keyed.extend((0..cols).map(|c| (key(r, c), r as u32, c as u32)));
        }
        keyed.sort_unstable();
        pairs.extend(keyed.into_iter().map(|(_, r, c)| (r, c)));
    }
    let mut task_of = vec![None; rows];
    let mut taken = vec![false; cols];
    let mut left = rows.min(cols);
    let mut total = 0;
    for (r, c) in pairs {
        if left == 0 {
            break;
        }
        if task_of[r as usize].is_none() && !taken[c as usize] {
            task_of[r as usize] = Some(c as usize);
            taken[c as usize] = true;
            total += weights[r as usize][c as usize];
            left -= 1;
        }
    }
    Ok(Assignment { task_of, total })
}

/// Travel-distance cost matrix `[robot][task]` in steps, from BFS tables (one per task cell,
/// through the cache); unreachable pairs and cells that are not passable cost [`MAX_WEIGHT`].
pub fn cost_matrix(cache: &mut DistanceCache, robots: &[Cell], tasks: &[Cell]) -> Vec<Vec<i64>> {
    let rv: Vec<Option<u32>> = robots.iter().map(|&c| cache.graph().vertex(c)).collect();
    let mut m = vec![vec![MAX_WEIGHT; tasks.len()]; robots.len()];
    cache.begin_step();
    for (t, &task) in tasks.iter().enumerate() {
        let Some(table) = cache.distances_to(task) else { continue };
        for (r, v) in rv.iter().enumerate() {
            if let Some(v) = v
                && table[*v as usize] != UNREACHABLE
            {
                m[r][t] = i64::from(table[*v as usize]);
            }
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::super::map::{ErrandSampler, WarehouseLayout, parse_rows};
    use super::*;
    use rand::rngs::ChaCha8Rng;
    use rand::{RngExt, SeedableRng};

    fn cache_for(map: &GridMap, capacity: usize) -> DistanceCache {
        DistanceCache::new(GridGraph::new(map), capacity)
    }

    /// Lifelong run: goals re-drawn on arrival; checks every step; returns (trajectory, tasks done).
    fn lifelong(
        map: &GridMap,
        n: usize,
        steps: usize,
        seed: u64,
        mut planner: impl FnMut(&mut DistanceCache, &[Cell], &[Cell]) -> Vec<Cell>,
    ) -> (Vec<Vec<Cell>>, usize) {
        let mut cache = cache_for(map, n + 16);
        let sampler = ErrandSampler::new(map).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut pos = sampler.distinct(n, &mut rng).unwrap();
        let mut goals: Vec<Cell> = pos.iter().map(|&p| sampler.goal_other_than(p, &mut rng)).collect();
        let mut done = 0;
        let mut traj = vec![pos.clone()];
        for step in 0..steps {
            let next = planner(&mut cache, &pos, &goals);
            let c = check_step(&pos, &next);
            assert!(c.is_empty(), "step {step}: {c:?}");
            assert_eq!(check_moves(cache.graph(), &pos, &next), Vec::<usize>::new(), "step {step}");
            pos = next;
            for i in 0..n {
                if pos[i] == goals[i] {
                    done += 1;
                    goals[i] = sampler.goal_other_than(pos[i], &mut rng);
                }
            }
            traj.push(pos.clone());
        }
        (traj, done)
    }

    /// Rooms of 3×3 joined by a one-wide corridor of 7 cells; robot 0 in the corridor heading
    /// east, robot 1 heading west.
    fn corridor() -> (GridMap, Vec<Cell>, Vec<Cell>) {
        let m = parse_rows(&["...#######...", ".............", "...#######..."]).unwrap();
        let c = |r, col| m.index(r, col).unwrap();
        let (pos, goals) = (vec![c(1, 4), c(1, 8)], vec![c(1, 11), c(1, 1)]);
        (m, pos, goals)
    }

    #[test]
    fn bfs_tables_and_cache() {
        let m = parse_rows(&["....", ".##.", "...."]).unwrap();
        let mut cache = cache_for(&m, 2);
        assert_eq!(cache.distance(0, 3), Some(3));
        assert_eq!(cache.distance(m.index(1, 0).unwrap(), m.index(1, 3).unwrap()), Some(5));
        assert_eq!(cache.distance(5, 0), None); // blocked
        assert_eq!(cache.table_bytes(), 2 * 10);
        // LRU: capacity 2, three goals in successive steps.
        let mut cache = cache_for(&m, 2);
        for g in [0u32, 1, 2] {
            cache.begin_step();
            cache.slot(g).unwrap();
        }
        assert_eq!(cache.stats().evictions, 1);
        cache.begin_step();
        cache.slot(2).unwrap(); // hit
        cache.slot(1).unwrap(); // hit
        assert_eq!(cache.stats().hits, 2);
        cache.slot(0).unwrap(); // miss: 0 was evicted
        assert_eq!(cache.stats().misses, 4);
        // Within one step tables are never evicted: capacity is exceeded, then released.
        cache.begin_step();
        for g in 0..6 {
            cache.slot(g).unwrap();
        }
        assert_eq!(cache.tables_held(), 6);
        cache.begin_step();
        assert_eq!(cache.tables_held(), 2);
        let s = cache.slot(5).unwrap();
        assert_eq!(cache.table(s)[5], 0);
        assert_eq!(cache.slot(10), None);
        // Unreachable goals.
        let split = parse_rows(&["..#.."]).unwrap();
        let mut c2 = cache_for(&split, 1);
        assert_eq!(c2.distance(0, 4), None);
    }

    #[test]
    fn check_step_finds_vertex_and_swap_conflicts_only() {
        // Following (0 into 1's cell while 1 moves on) and a 4-cycle rotation are fine.
        assert!(check_step(&[1, 2], &[2, 3]).is_empty());
        assert!(check_step(&[0, 1, 5, 4], &[1, 5, 4, 0]).is_empty());
        let c = check_step(&[1, 2, 7], &[2, 1, 2]);
        assert_eq!(c.edge, vec![(0, 1)]);
        assert_eq!(c.vertex, vec![(0, 2, 2)]);
        let c = check_step(&[1, 2, 3], &[9, 9, 9]);
        assert_eq!(c.vertex, vec![(0, 1, 9), (0, 2, 9), (1, 2, 9)]);
        assert!(check_step(&[1, 2], &[1]).is_empty());
    }

    #[test]
    fn pibt_200_robots_2000_steps_lifelong_without_conflicts() {
        let map = WarehouseLayout::movingai_10_20_10_2_1().generate().unwrap();
        let mut pibt = Pibt::new(PibtConfig { seed: 11, ..Default::default() });
        let (_, done) = lifelong(&map, 200, 2000, 5, |c, p, g| pibt.step(c, p, g).unwrap());
        // Mean BFS distance here is about 70 steps: 200 robots should finish thousands of tasks.
        assert!(done > 3000, "only {done} tasks");
    }

    #[test]
    fn pibt_without_occupancy_preference_is_also_conflict_free() {
        let map = WarehouseLayout::new(4, 4, 5, 2, 1, 3).generate().unwrap();
        let mut pibt = Pibt::new(PibtConfig { seed: 3, prefer_unoccupied: false });
        let (_, done) = lifelong(&map, 120, 500, 9, |c, p, g| pibt.step(c, p, g).unwrap());
        assert!(done > 0);
    }

    #[test]
    fn pibt_is_deterministic() {
        let map = WarehouseLayout::new(4, 4, 5, 2, 1, 3).generate().unwrap();
        let run = |seed| {
            let mut pibt = Pibt::new(PibtConfig { seed, ..Default::default() });
            lifelong(&map, 60, 300, 1, |c, p, g| pibt.step(c, p, g).unwrap())
        };
        assert_eq!(run(4), run(4));
        assert_ne!(run(4).0, run(5).0);
    }

    #[test]
    fn pibt_handles_push_chains_longer_than_any_stack() {
        // 30 000 robots in a one-row corridor, each wanting the next cell east: one push chain.
        let n = 30_000u32;
        let rows = vec![".".repeat(n as usize + 1)];
        let map = parse_rows(&rows).unwrap();
        let mut cache = cache_for(&map, 4);
        let pos: Vec<Cell> = (0..n).collect();
        let goals = vec![n; n as usize];
        let mut pibt = Pibt::new(PibtConfig::default());
        let next = pibt.step(&mut cache, &pos, &goals).unwrap();
        assert!(check_step(&pos, &next).is_empty());
        assert_eq!(next, (1..=n).collect::<Vec<_>>());
    }

    #[test]
    fn head_on_corridor_deadlocks_greedy_and_pibt_resolves_it() {
        let (map, start, goals) = corridor();
        let mut cache = cache_for(&map, 8);
        let mut pos = start.clone();
        let mut cycles = Vec::new();
        for _ in 0..20 {
            let s = greedy_step(&mut cache, &pos, &goals).unwrap();
            assert!(check_step(&pos, &s.next).is_empty());
            cycles = deadlock_cycles(&pos, &s.desired, &s.next);
            pos = s.next;
        }
        assert_ne!(pos, goals);
        assert_eq!(cycles, vec![vec![0, 1]]);
        assert_eq!(wait_for_edges(&pos, &[pos[1], pos[0]], &pos), vec![(0, 1), (1, 0)]);
        for seed in 0..8 {
            let mut pibt = Pibt::new(PibtConfig { seed, ..Default::default() });
            let mut pos = start.clone();
            let mut t = 0;
            while pos != goals {
                let next = pibt.step(&mut cache, &pos, &goals).unwrap();
                assert!(check_step(&pos, &next).is_empty());
                assert!(check_moves(cache.graph(), &pos, &next).is_empty());
                assert_eq!(pibt.desired().len(), 2);
                assert!(deadlock_cycles(&pos, pibt.desired(), &next).is_empty());
                pos = next;
                t += 1;
                assert!(t < 60, "seed {seed}: PIBT did not resolve the head-on meeting");
            }
        }
    }

    #[test]
    fn local_pibt_pushes_and_never_conflicts() {
        // A one-wide corridor 0..6 (cells in a row): robot 0 at 2 wants to go right (to 5),
        // robot 1 at 3 wants to go left (to 0) with lower priority: 0 pushes 1 back.
        let a = |cell: Cell, prio: u64, cand: &[Cell]| {
            let mut c = [NONE; 5];
            c[..cand.len()].copy_from_slice(cand);
            LocalAgent { cell, prio, cand: c, n: cand.len() as u8 }
        };
        let mut next = Vec::new();
        pibt_local(&[a(2, 9, &[3, 2, 1]), a(3, 1, &[2, 3, 4])], &mut next);
        assert_eq!(next, vec![3, 4], "the pushed robot backs off and the pusher follows");
        // A robot with no room cannot be pushed: the pusher waits.
        pibt_local(&[a(2, 9, &[3, 2, 1]), a(3, 1, &[2, 3])], &mut next);
        assert_eq!(next, vec![2, 3]);
        // Random small instances on a 6 × 6 grid: no vertex or swap conflict.
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        for _ in 0..500 {
            let k = rng.random_range(1..12);
            let mut cells: Vec<Cell> = (0..36).collect();
            let mut agents = Vec::new();
            for _ in 0..k {
                let c = cells.swap_remove(rng.random_range(0..cells.len()));
                let (r, col) = (c / 6, c % 6);
                let mut cand: Vec<Cell> = vec![c];
                if r > 0 {
                    cand.push(c - 6)
                }
                if col < 5 {
                    cand.push(c + 1)
                }
                if r < 5 {
                    cand.push(c + 6)
                }
                if col > 0 {
                    cand.push(c - 1)
                }
                for i in (1..cand.len()).rev() {
                    cand.swap(i, rng.random_range(0..=i));
                }
                agents.push(a(c, rng.random_range(0..5), &cand));
            }
            pibt_local(&agents, &mut next);
            let prev: Vec<Cell> = agents.iter().map(|x| x.cell).collect();
            assert!(check_step(&prev, &next).is_empty(), "{agents:?} -> {next:?}");
        }
    }

    #[test]
    fn deadlock_cycles_are_reported_once_and_sorted() {
        // Robots 2 → 4 → 3 → 2 wait in a cycle; 0 waits for 2 (a tail, not a cycle); 1 moved.
        let prev = [10, 20, 30, 40, 50];
        let next = [10, 21, 30, 40, 50];
        let desired = [30, 22, 50, 30, 40];
        assert_eq!(wait_for_edges(&prev, &desired, &next), vec![(0, 2), (2, 4), (3, 2), (4, 3)]);
        assert_eq!(deadlock_cycles(&prev, &desired, &next), vec![vec![2, 3, 4]]);
        assert!(deadlock_cycles(&prev, &prev, &prev).is_empty());
    }

    #[test]
    fn whca_plans_are_conflict_free_and_execution_too() {
        let map = WarehouseLayout::new(4, 4, 5, 2, 1, 3).generate().unwrap();
        let mut whca = Whca::new(WhcaConfig { window: 8, replan_every: 4 }).unwrap();
        let mut validated = 0;
        let (_, done) = lifelong(&map, 60, 300, 2, |c, p, g| {
            let before = whca.replans();
            let next = whca.step(c, p, g).unwrap();
            if whca.replans() != before {
                assert!(validate_plans(whca.plans()).is_empty());
                validated += 1;
            }
            next
        });
        assert!(validated > 50 && done > 50, "{validated} replans, {done} tasks");
    }

    #[test]
    fn whca_failures_wait_and_stay_conflict_free() {
        // A dense 4×4 room: most searches must share cells and some fail.
        let map = parse_rows(&["....", "....", "....", "...."]).unwrap();
        let mut cache = cache_for(&map, 32);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for _ in 0..200 {
            let sampler = ErrandSampler::new(&map).unwrap();
            let pos = sampler.distinct(14, &mut rng).unwrap();
            let goals: Vec<Cell> = (0..14).map(|_| sampler.goal(&mut rng)).collect();
            let mut order: Vec<usize> = (0..14).collect();
            for i in (1..order.len()).rev() {
                order.swap(i, rng.random_range(0..=i));
            }
            let plan = plan_window(&mut cache, &pos, &goals, &order, 6).unwrap();
            assert!(validate_plans(&plan.paths).is_empty(), "{:?}", validate_plans(&plan.paths));
            for (p, &s) in plan.paths.iter().zip(&pos) {
                assert_eq!(p.len(), 7);
                assert_eq!(p[0], s);
                for w in p.windows(2) {
                    assert!(cache.graph().is_move(w[0], w[1]));
                }
            }
            for &f in &plan.failed {
                assert!(plan.paths[f].iter().all(|&c| c == pos[f]));
            }
        }
    }

    #[test]
    fn whca_solves_the_head_on_corridor_and_is_deterministic() {
        let (map, start, goals) = corridor();
        let run = || {
            let mut cache = cache_for(&map, 8);
            let mut whca = Whca::new(WhcaConfig { window: 16, replan_every: 1 }).unwrap();
            let mut pos = start.clone();
            let mut traj = vec![pos.clone()];
            for _ in 0..40 {
                let next = whca.step(&mut cache, &pos, &goals).unwrap();
                assert!(check_step(&pos, &next).is_empty());
                pos = next;
                traj.push(pos.clone());
            }
            traj
        };
        let a = run();
        assert_eq!(a.last().unwrap(), &goals);
        assert_eq!(a, run());
    }

    #[test]
    fn validate_plans_catches_conflicts() {
        assert!(validate_plans(&[vec![0, 1, 2], vec![5, 4, 3]]).is_empty());
        let v = validate_plans(&[vec![0, 1], vec![1, 0]]);
        assert_eq!(v, vec![(0, Conflicts { vertex: vec![], edge: vec![(0, 1)] })]);
        // Robot 1's plan ends on 2; robot 0 arrives there later.
        let v = validate_plans(&[vec![0, 1, 2], vec![2], vec![]]);
        assert_eq!(v, vec![(1, Conflicts { vertex: vec![(0, 1, 2)], edge: vec![] })]);
        let v = validate_plans(&[vec![3], vec![3]]);
        assert_eq!(v[0].0, 0);
    }

    #[test]
    fn bad_inputs_are_errors_not_panics() {
        let m = parse_rows(&["..#", "..."]).unwrap();
        let mut cache = cache_for(&m, 4);
        let mut pibt = Pibt::new(PibtConfig::default());
        assert_eq!(pibt.step(&mut cache, &[0], &[]), Err(PlanError::LengthMismatch { positions: 1, goals: 0 }));
        assert_eq!(pibt.step(&mut cache, &[2], &[0]), Err(PlanError::BadPosition { robot: 0, cell: 2 }));
        assert_eq!(pibt.step(&mut cache, &[0], &[99]), Err(PlanError::BadGoal { robot: 0, cell: 99 }));
        assert_eq!(pibt.step(&mut cache, &[0, 1, 0], &[0, 0, 0]), Err(PlanError::SharedCell { a: 0, b: 2, cell: 0 }));
        // The failed call left no trace: a valid one works.
        assert_eq!(pibt.step(&mut cache, &[0, 1], &[1, 0]).unwrap().len(), 2);
        assert!(greedy_step(&mut cache, &[7], &[0]).is_err());
        assert_eq!(plan_window(&mut cache, &[0, 1], &[0, 0], &[0, 0], 4), Err(PlanError::BadOrder));
        assert!(plan_window(&mut cache, &[0], &[0], &[0], 0).is_err());
        assert!(Whca::new(WhcaConfig { window: 4, replan_every: 5 }).is_err());
        assert!(Whca::new(WhcaConfig { window: 4, replan_every: 0 }).is_err());
    }

    fn brute_force(w: &[Vec<i64>], objective: Objective) -> i64 {
        fn rec(w: &[Vec<i64>], r: usize, used: &mut Vec<bool>, obj: Objective) -> i64 {
            if r == w.len() {
                return 0;
            }
            let mut best: Option<i64> = None;
            for c in 0..used.len() {
                if !used[c] {
                    used[c] = true;
                    let v = w[r][c] + rec(w, r + 1, used, obj);
                    used[c] = false;
                    best = Some(match (best, obj) {
                        (None, _) => v,
                        (Some(b), Objective::Minimise) => b.min(v),
                        (Some(b), Objective::Maximise) => b.max(v),
                    });
                }
            }
            best.unwrap_or(0)
        }
        let cols = w.first().map_or(0, Vec::len);
        if w.len() <= cols {
            rec(w, 0, &mut vec![false; cols], objective)
        } else {
            let t: Vec<Vec<i64>> = (0..cols).map(|c| w.iter().map(|row| row[c]).collect()).collect();
            rec(&t, 0, &mut vec![false; w.len()], objective)
        }
    }

    #[test]
    fn hungarian_matches_brute_force_and_greedy_is_feasible() {
        let mut rng = ChaCha8Rng::seed_from_u64(42);
        for _ in 0..400 {
            let (r, c) = (rng.random_range(1..=6), rng.random_range(1..=6));
            let w: Vec<Vec<i64>> = (0..r).map(|_| (0..c).map(|_| rng.random_range(-50..=200)).collect()).collect();
            for obj in [Objective::Minimise, Objective::Maximise] {
                let a = assign_hungarian(&w, obj).unwrap();
                assert_eq!(a.total, brute_force(&w, obj), "{w:?} {obj:?}");
                for g in [&a, &assign_greedy(&w, obj).unwrap()] {
                    assert_eq!(g.task_of.iter().flatten().count(), r.min(c));
                    let mut tasks: Vec<usize> = g.task_of.iter().flatten().copied().collect();
                    tasks.sort_unstable();
                    tasks.dedup();
                    assert_eq!(tasks.len(), r.min(c));
                    let total: i64 = g.task_of.iter().enumerate().filter_map(|(i, t)| t.map(|t| w[i][t])).sum();
                    assert_eq!(total, g.total);
                }
            }
        }
        assert_eq!(assign_hungarian(&[], Objective::Minimise).unwrap().total, 0);
        assert_eq!(assign_hungarian(&[vec![], vec![]], Objective::Minimise).unwrap().task_of, vec![None, None]);
        assert!(matches!(
            assign_hungarian(&[vec![1, 2], vec![3]], Objective::Minimise),
            Err(AssignError::Ragged { .. })
        ));
        assert!(matches!(assign_greedy(&[vec![i64::MAX]], Objective::Minimise), Err(AssignError::Weight { .. })));
    }

    #[test]
    fn greedy_counting_sort_and_comparison_sort_agree() {
        let mut rng = ChaCha8Rng::seed_from_u64(8);
        for _ in 0..200 {
            let (r, c) = (rng.random_range(1..=9), rng.random_range(1..=9));
            let w: Vec<Vec<i64>> = (0..r).map(|_| (0..c).map(|_| rng.random_range(0..6)).collect()).collect();
            // The same matrix with one huge weight forces the comparison sort; the pair with the
            // huge weight sorts last either way, so the choices before it are the same.
            let mut wide = w.clone();
            wide[0][0] = MAX_WEIGHT;
            let mut narrow = w.clone();
            narrow[0][0] = 1000;
            for obj in [Objective::Minimise, Objective::Maximise] {
                let a = assign_greedy(&wide, obj).unwrap();
                let b = assign_greedy(&narrow, obj).unwrap();
                assert_eq!(a.task_of, b.task_of, "{w:?} {obj:?}");
            }
        }
        // Ties go to the lower robot, then the lower task.
        let a = assign_greedy(&[vec![1, 1], vec![1, 1]], Objective::Minimise).unwrap();
        assert_eq!(a.task_of, vec![Some(0), Some(1)]);
    }

    #[test]
    fn cost_matrix_uses_bfs_distances() {
        let m = parse_rows(&["...", ".#.", "..#", "#.."]).unwrap();
        let mut cache = cache_for(&m, 4);
        let c = |r, col| m.index(r, col).unwrap();
        let costs = cost_matrix(&mut cache, &[c(0, 0), c(3, 2)], &[c(0, 2), c(1, 1)]);
        assert_eq!(costs, vec![vec![2, MAX_WEIGHT], vec![7, MAX_WEIGHT]]);
        let a = assign_hungarian(&costs, Objective::Minimise).unwrap();
        assert_eq!(a.total, 2 + MAX_WEIGHT);
    }
}
