//! Road networks for the city world: the pure network a `Road::Grid` or `Road::Network`
//! (see `config`) builds into — nodes, links, lanes, turning movements with their
//! conflicts and signal stages, and edge-based shortest paths. No ECS here, so it is
//! unit-tested on its own.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::f64::consts::PI;

use serde::Serialize;

use super::config::{CityConfig, Road};

/// A turning movement's kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Turn {
    Straight,
    Right,
    Left,
    UTurn,
}

/// A node of the built network.
#[derive(Clone, Debug)]
pub struct Node {
    pub name: String,
    pub x: f64,
    pub y: f64,
    /// Trips start and end here.
    pub terminal: bool,
    /// Has a traffic light (≥ 2 approaches).
    pub signal: bool,
    /// Incoming and outgoing links.
    pub ins: Vec<u32>,
    pub outs: Vec<u32>,
    /// Movements through this node.
    pub movements: Vec<u32>,
    /// Signal stages: sets of mutually compatible movements; every movement is in one.
    pub stages: Vec<Vec<u32>>,
    /// Pairs of conflicting movements (global ids, smaller first).
    pub conflicts: Vec<(u32, u32)>,
    /// Vehicles allowed in the box at once.
    pub box_capacity: u32,
}

/// A one-way link.
#[derive(Clone, Debug)]
pub struct LinkGeo {
    pub from: u32,
    pub to: u32,
    pub lanes: u32,
    /// Driving length, m.
    pub length: f64,
    /// Speed limit, m/s.
    pub speed: f64,
    /// Heading, radians (0 east, counter-clockwise).
    pub heading: f64,
    /// Global index of lane 0 (the leftmost); lanes are contiguous.
    pub first_lane: u32,
}

/// A turning movement: from one link into another through a node's box.
#[derive(Clone, Debug)]
pub struct Movement {
    pub node: u32,
    pub from: u32,
    pub to: u32,
    pub turn: Turn,
    /// Its connector lane through the box.
    pub lane: u32,
}

/// What a lane belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LaneKind {
    /// Lane `k` of a link.
    Road { link: u32, k: u32 },
    /// The path of a movement through a node's box.
    Connector { movement: u32 },
}

/// A lane: a straight segment vehicles drive along, front bumper at `s` in [0, length].
#[derive(Clone, Debug)]
pub struct LaneGeo {
    pub kind: LaneKind,
    pub length: f64,
    /// Start and end points, m.
    pub p0: (f64, f64),
    pub p1: (f64, f64),
    /// Speed limit, m/s.
    pub speed: f64,
    /// Vehicles it stores in a standing queue (length ÷ (vehicle length + s0)).
    pub capacity: u32,
}

impl LaneGeo {
    /// World position and heading at distance `s` along the lane.
    pub fn at(&self, s: f64) -> (f64, f64, f64) {
        let f = if self.length > 0.0 { (s / self.length).clamp(0.0, 1.0) } else { 0.0 };
        let (dx, dy) = (self.p1.0 - self.p0.0, self.p1.1 - self.p0.1);
        (self.p0.0 + dx * f, self.p0.1 + dy * f, dy.atan2(dx))
    }
}

/// The built network.
#[derive(Clone, Debug, Default)]
pub struct Network {
    pub nodes: Vec<Node>,
    pub links: Vec<LinkGeo>,
    pub movements: Vec<Movement>,
    pub lanes: Vec<LaneGeo>,
    /// Terminal node ids in order.
    pub terminals: Vec<u32>,
}

/// Lane width for drawing and box size, m.
pub const LANE_W: f64 = 3.5;

type Problems = Vec<(String, String)>;

struct Raw {
    nodes: Vec<(String, f64, f64, bool)>,
    links: Vec<(u32, u32, u32, Option<f64>, f64)>,
}

/// Grid node names: intersections `r{row}c{col}`; terminals `w{row}`, `e{row}` (west and
/// east ends of each row) and `s{col}`, `n{col}` (south and north ends of each column).
fn grid_raw(rows: u32, cols: u32, block: f64, lanes: u32, speed: f64) -> Raw {
    let mut nodes = Vec::new();
    let id = |r: u32, c: u32| r * cols + c;
    for r in 0..rows {
        for c in 0..cols {
            nodes.push((format!("r{r}c{c}"), f64::from(c) * block, f64::from(r) * block, false));
        }
    }
    let mut links = Vec::new();
    let two_way = |links: &mut Vec<(u32, u32, u32, Option<f64>, f64)>, a: u32, b: u32| {
        links.push((a, b, lanes, None, speed));
        links.push((b, a, lanes, None, speed));
    };
    for r in 0..rows {
        for c in 0..cols {
            if c + 1 < cols {
                two_way(&mut links, id(r, c), id(r, c + 1));
            }
            if r + 1 < rows {
                two_way(&mut links, id(r, c), id(r + 1, c));
            }
        }
    }
    let mut term = |name: String, x: f64, y: f64, to: u32, links: &mut Vec<_>| {
        let t = nodes.len() as u32;
        nodes.push((name, x, y, true));
        two_way(links, t, to);
    };
    for r in 0..rows {
        let y = f64::from(r) * block;
        term(format!("w{r}"), -block, y, id(r, 0), &mut links);
        term(format!("e{r}"), f64::from(cols) * block, y, id(r, cols - 1), &mut links);
    }
    for c in 0..cols {
        let x = f64::from(c) * block;
        term(format!("s{c}"), x, -block, id(0, c), &mut links);
        term(format!("n{c}"), x, f64::from(rows) * block, id(rows - 1, c), &mut links);
    }
    Raw { nodes, links }
}

fn wrap(a: f64) -> f64 {
    let mut a = a % (2.0 * PI);
    if a <= -PI {
        a += 2.0 * PI;
    } else if a > PI {
        a -= 2.0 * PI;
    }
    a
}

/// Whether chords (a0,a1) and (b0,b1) on a circle cross (angles in radians).
fn chords_cross(a0: f64, a1: f64, b0: f64, b1: f64) -> bool {
    let norm = |x: f64| x.rem_euclid(2.0 * PI);
    let (lo, hi) = {
        let (p, q) = (norm(a0), norm(a1));
        if p < q { (p, q) } else { (q, p) }
    };
    let inside = |x: f64| {
        let x = norm(x);
        x > lo && x < hi
    };
    inside(b0) != inside(b1)
}

/// Builds the network of a grid or custom road for vehicles of `veh_len` and jam gap
/// `s0`. Errors name the field at fault under `world.road`.
pub fn build(road: &Road, city: &CityConfig, veh_len: f64, s0: f64) -> Result<Network, Problems> {
    let mut bad: Problems = Vec::new();
    let raw = match road {
        Road::Ring { .. } => return Err(vec![("world.road".into(), "a ring is not a network".into())]),
        Road::Grid { rows, cols, block_m, lanes, speed_mps } => {
            if *rows < 1 || *rows > 200 {
                bad.push(("world.road.rows".into(), format!("must be between 1 and 200, got {rows}")));
            }
            if *cols < 1 || *cols > 200 {
                bad.push(("world.road.cols".into(), format!("must be between 1 and 200, got {cols}")));
            }
            if !block_m.is_finite() || *block_m < 20.0 {
                bad.push(("world.road.block_m".into(), format!("must be at least 20 m, got {block_m}")));
            }
            if *lanes < 1 || *lanes > 6 {
                bad.push(("world.road.lanes".into(), format!("must be between 1 and 6, got {lanes}")));
            }
            if !speed_mps.is_finite() || *speed_mps <= 0.0 {
                bad.push(("world.road.speed_mps".into(), format!("must be greater than 0, got {speed_mps}")));
            }
            if !bad.is_empty() {
                return Err(bad);
            }
            grid_raw(*rows, *cols, *block_m, *lanes, *speed_mps)
        }
        Road::Network { nodes, links } => {
            let mut names: Vec<(String, f64, f64, bool)> = Vec::new();
            if nodes.is_empty() {
                bad.push(("world.road.nodes".into(), "needs at least two nodes".into()));
            }
            for (i, n) in nodes.iter().enumerate() {
                let p = format!("world.road.nodes[{i}]");
                if n.name.trim().is_empty() {
                    bad.push((format!("{p}.name"), "must not be empty".into()));
                }
                if names.iter().any(|m| m.0 == n.name) {
                    bad.push((format!("{p}.name"), format!("`{}` is used by another node", n.name)));
                }
                if !n.x.is_finite() {
                    bad.push((format!("{p}.x"), format!("must be a finite number, got {}", n.x)));
                }
                if !n.y.is_finite() {
                    bad.push((format!("{p}.y"), format!("must be a finite number, got {}", n.y)));
                }
                names.push((n.name.clone(), n.x, n.y, n.terminal));
            }
            let find = |s: &str| names.iter().position(|m| m.0 == s);
            let known: Vec<&str> = names.iter().map(|m| m.0.as_str()).take(12).collect();
            let mut out = Vec::new();
            if links.is_empty() {
                bad.push(("world.road.links".into(), "needs at least one link".into()));
            }
            for (i, l) in links.iter().enumerate() {
                let p = format!("world.road.links[{i}]");
                let a = find(&l.from);
                let b = find(&l.to);
                if a.is_none() {
                    bad.push((format!("{p}.from"), format!("no node named `{}`; nodes: {}", l.from, known.join(", "))));
                }
                if b.is_none() {
                    bad.push((format!("{p}.to"), format!("no node named `{}`; nodes: {}", l.to, known.join(", "))));
                }
                if l.lanes < 1 || l.lanes > 6 {
                    bad.push((format!("{p}.lanes"), format!("must be between 1 and 6, got {}", l.lanes)));
                }
                if let Some(len) = l.length_m
                    && (!len.is_finite() || len <= 0.0)
                {
                    bad.push((format!("{p}.length_m"), format!("must be greater than 0, got {len}")));
                }
                if !l.speed_mps.is_finite() || l.speed_mps <= 0.0 {
                    bad.push((format!("{p}.speed_mps"), format!("must be greater than 0, got {}", l.speed_mps)));
                }
                if let (Some(a), Some(b)) = (a, b) {
                    if a == b {
                        bad.push((format!("{p}.to"), "a link must join two different nodes".into()));
                    } else if (names[a].1 - names[b].1).hypot(names[a].2 - names[b].2) < 1e-6 {
                        bad.push((format!("{p}.to"), "the two nodes are at the same place".into()));
                    }
                    if out.iter().any(|o: &(u32, u32, u32, Option<f64>, f64)| o.0 == a as u32 && o.1 == b as u32) {
                        bad.push((p.clone(), format!("duplicate link from `{}` to `{}`", l.from, l.to)));
                    }
                    out.push((a as u32, b as u32, l.lanes, l.length_m, l.speed_mps));
                }
            }
            if !bad.is_empty() {
                return Err(bad);
            }
            Raw { nodes: names, links: out }
        }
    };
    let net = assemble(raw, city, veh_len, s0);
    // Connectivity checks.
    for (k, n) in net.nodes.iter().enumerate() {
        let p = node_path(road, k);
        if n.terminal && n.ins.is_empty() && n.outs.is_empty() {
            bad.push((p, format!("terminal `{}` has no links", n.name)));
        } else if !n.terminal && (n.ins.is_empty() || n.outs.is_empty()) {
            bad.push((
                p,
                format!(
                    "`{}` is not a terminal, so it needs links in and out (mark dead ends `terminal: true`)",
                    n.name
                ),
            ));
        }
    }
    if !net.nodes.iter().any(|n| n.terminal && !n.outs.is_empty()) {
        bad.push(("world.road.nodes".into(), "no terminal with an outgoing link: trips have nowhere to start".into()));
    }
    if !net.nodes.iter().any(|n| n.terminal && !n.ins.is_empty()) {
        bad.push(("world.road.nodes".into(), "no terminal with an incoming link: trips have nowhere to end".into()));
    }
    if bad.is_empty() { Ok(net) } else { Err(bad) }
}

fn node_path(road: &Road, k: usize) -> String {
    match road {
        Road::Network { .. } => format!("world.road.nodes[{k}]"),
        _ => "world.road".into(),
    }
}

// Node k's movements and stages are built from the links while `nodes[k]` is written.
#[allow(clippy::needless_range_loop)]
fn assemble(raw: Raw, city: &CityConfig, veh_len: f64, s0: f64) -> Network {
    let mut nodes: Vec<Node> = raw
        .nodes
        .iter()
        .map(|(name, x, y, t)| Node {
            name: name.clone(),
            x: *x,
            y: *y,
            terminal: *t,
            signal: false,
            ins: Vec::new(),
            outs: Vec::new(),
            movements: Vec::new(),
            stages: Vec::new(),
            conflicts: Vec::new(),
            box_capacity: 1,
        })
        .collect();
    for (i, l) in raw.links.iter().enumerate() {
        nodes[l.0 as usize].outs.push(i as u32);
        nodes[l.1 as usize].ins.push(i as u32);
    }
    // Box half-size: room for the widest crossing road's lanes.
    let half: Vec<f64> = nodes
        .iter()
        .enumerate()
        .map(|(k, n)| {
            if n.terminal {
                0.0
            } else {
                let w = raw.links.iter().filter(|l| l.0 as usize == k || l.1 as usize == k).map(|l| l.2).max();
                f64::from(w.unwrap_or(1)) * LANE_W + 1.0
            }
        })
        .collect();
    let mut links = Vec::new();
    let mut lanes = Vec::new();
    let per = veh_len + s0;
    for (i, &(a, b, nl, len, speed)) in raw.links.iter().enumerate() {
        let (na, nb) = (&nodes[a as usize], &nodes[b as usize]);
        let (dx, dy) = (nb.x - na.x, nb.y - na.y);
        let d = dx.hypot(dy);
        let (ux, uy) = (dx / d, dy / d);
        let (rx, ry) = (uy, -ux);
        let geo_len = (d - half[a as usize] - half[b as usize]).max(5.0);
        let length = len.unwrap_or(geo_len);
        let first_lane = lanes.len() as u32;
        for k in 0..nl {
            let off = (f64::from(k) + 0.5) * LANE_W;
            let sx = na.x + ux * half[a as usize] + rx * off;
            let sy = na.y + uy * half[a as usize] + ry * off;
            lanes.push(LaneGeo {
                kind: LaneKind::Road { link: i as u32, k },
                length,
                p0: (sx, sy),
                p1: (sx + ux * geo_len, sy + uy * geo_len),
                speed,
                capacity: ((length / per).floor() as u32).max(1),
            });
        }
        links.push(LinkGeo { from: a, to: b, lanes: nl, length, speed, heading: dy.atan2(dx), first_lane });
    }
    // Movements and their connectors.
    let mut movements = Vec::new();
    for k in 0..nodes.len() {
        if nodes[k].terminal {
            continue;
        }
        let ins = nodes[k].ins.clone();
        let outs = nodes[k].outs.clone();
        for &i in &ins {
            let li = &links[i as usize];
            let cands: Vec<u32> = outs.iter().copied().filter(|&o| links[o as usize].to != li.from).collect();
            // A dead end (only the way back) allows the U-turn.
            let cands = if cands.is_empty() { outs.clone() } else { cands };
            for o in cands {
                let lo = &links[o as usize];
                let d = wrap(lo.heading - li.heading);
                let turn = if links[o as usize].to == li.from {
                    Turn::UTurn
                } else if d.abs() < PI / 4.0 {
                    Turn::Straight
                } else if d > 0.0 {
                    Turn::Left
                } else {
                    Turn::Right
                };
                let mid = |l: &LinkGeo, end: bool| {
                    let a = &lanes[l.first_lane as usize];
                    let b: &LaneGeo = &lanes[(l.first_lane + l.lanes - 1) as usize];
                    let (p, q) = if end { (a.p1, b.p1) } else { (a.p0, b.p0) };
                    ((p.0 + q.0) / 2.0, (p.1 + q.1) / 2.0)
                };
                let (p0, p1) = (mid(li, true), mid(lo, false));
                let length = (p1.0 - p0.0).hypot(p1.1 - p0.1).max(4.0);
                let m = movements.len() as u32;
                let lane = lanes.len() as u32;
                lanes.push(LaneGeo {
                    kind: LaneKind::Connector { movement: m },
                    length,
                    p0,
                    p1,
                    speed: li.speed.min(lo.speed),
                    capacity: ((length / per).floor() as u32).max(1),
                });
                movements.push(Movement { node: k as u32, from: i, to: o, turn, lane });
                nodes[k].movements.push(m);
            }
        }
    }
    // Conflicts (chords on a circle round the node, right-hand traffic) and stages.
    for k in 0..nodes.len() {
        let ms = nodes[k].movements.clone();
        if ms.is_empty() {
            continue;
        }
        let (nx, ny) = (nodes[k].x, nodes[k].y);
        let leg = |n: u32| {
            let o = &nodes[n as usize];
            (o.y - ny).atan2(o.x - nx)
        };
        const D: f64 = 0.15;
        let ends: Vec<(f64, f64)> = ms
            .iter()
            .map(|&m| {
                let mv = &movements[m as usize];
                (leg(links[mv.from as usize].from) + D, leg(links[mv.to as usize].to) - D)
            })
            .collect();
        let mut conflicts = Vec::new();
        for a in 0..ms.len() {
            for b in a + 1..ms.len() {
                let (ma, mb) = (&movements[ms[a] as usize], &movements[ms[b] as usize]);
                if ma.from == mb.from {
                    continue;
                }
                let c = ma.to == mb.to || chords_cross(ends[a].0, ends[a].1, ends[b].0, ends[b].1);
                if c {
                    conflicts.push((ms[a].min(ms[b]), ms[a].max(ms[b])));
                }
            }
        }
        let conflict = |a: u32, b: u32| conflicts.contains(&(a.min(b), a.max(b)));
        // Greedy stages: throughs first, then rights, lefts, U-turns; each stage is made
        // maximal afterwards (a movement may be green in several stages).
        let mut order = ms.clone();
        let rank = |t: Turn| match t {
            Turn::Straight => 0,
            Turn::Right => 1,
            Turn::Left => 2,
            Turn::UTurn => 3,
        };
        order.sort_by(|&a, &b| {
            let (ma, mb) = (&movements[a as usize], &movements[b as usize]);
            let ha = wrap(links[ma.from as usize].heading).rem_euclid(PI);
            let hb = wrap(links[mb.from as usize].heading).rem_euclid(PI);
            rank(ma.turn).cmp(&rank(mb.turn)).then(ha.total_cmp(&hb)).then(a.cmp(&b))
        });
        let mut stages: Vec<Vec<u32>> = Vec::new();
        let mut done = vec![false; order.len()];
        for i in 0..order.len() {
            if done[i] {
                continue;
            }
            let mut st = vec![order[i]];
            done[i] = true;
            for j in i + 1..order.len() {
                if !done[j] && st.iter().all(|&x| !conflict(x, order[j])) {
                    st.push(order[j]);
                    done[j] = true;
                }
            }
            stages.push(st);
        }
        for st in &mut stages {
            for &m in &order {
                if !st.contains(&m) && st.iter().all(|&x| !conflict(x, m)) {
                    st.push(m);
                }
            }
            st.sort_unstable();
        }
        let approach_lanes: u32 = nodes[k].ins.iter().map(|&i| links[i as usize].lanes).sum();
        nodes[k].signal = nodes[k].ins.len() >= 2;
        nodes[k].stages = stages;
        nodes[k].conflicts = conflicts;
        nodes[k].box_capacity = if city.box_capacity > 0 { city.box_capacity } else { approach_lanes.max(1) };
    }
    let terminals = (0..nodes.len() as u32).filter(|&k| nodes[k as usize].terminal).collect();
    Network { nodes, links, movements, lanes, terminals }
}

impl Network {
    /// Node id by name.
    pub fn node(&self, name: &str) -> Option<u32> {
        self.nodes.iter().position(|n| n.name == name).map(|k| k as u32)
    }

    /// The movement from link `from` into link `to`, if there is one.
    pub fn movement(&self, from: u32, to: u32) -> Option<u32> {
        let n = &self.nodes[self.links[from as usize].to as usize];
        n.movements.iter().copied().find(|&m| {
            let mv = &self.movements[m as usize];
            mv.from == from && mv.to == to
        })
    }

    /// A link's name, `from->to`.
    pub fn link_name(&self, l: u32) -> String {
        let l = &self.links[l as usize];
        format!("{}->{}", self.nodes[l.from as usize].name, self.nodes[l.to as usize].name)
    }

    /// Free-flow time of a link, s, at most `v0`.
    pub fn free_time(&self, l: u32, v0: f64) -> f64 {
        let g = &self.links[l as usize];
        g.length / g.speed.min(v0)
    }

    /// Shortest path in free-flow time plus `penalty(link)` seconds, from the end of link
    /// `start` to terminal `dest`, as the list of links after `start` (the last one ends
    /// at `dest`). Edge-based, so turn restrictions (no U-turns) hold; never passes
    /// through another terminal. Ties break on link id, so it is deterministic.
    pub fn route_from(&self, start: u32, dest: u32, v0: f64, penalty: impl Fn(u32) -> f64) -> Option<Vec<u32>> {
        let n = self.links.len();
        let mut dist = vec![u64::MAX; n];
        let mut prev = vec![u32::MAX; n];
        let mut heap = BinaryHeap::new();
        dist[start as usize] = 0;
        heap.push(Reverse((0u64, start)));
        let mut goal = None;
        while let Some(Reverse((d, l))) = heap.pop() {
            if d > dist[l as usize] {
                continue;
            }
            let end = self.links[l as usize].to;
            if end == dest && l != start {
                goal = Some(l);
                break;
            }
            if self.nodes[end as usize].terminal {
                continue;
            }
            for &m in &self.nodes[end as usize].movements {
                let mv = &self.movements[m as usize];
                if mv.from != l {
                    continue;
                }
                let cost = self.free_time(mv.to, v0) + penalty(mv.to).max(0.0);
                let nd = d + (cost * 1000.0).round() as u64;
                if nd < dist[mv.to as usize] {
                    dist[mv.to as usize] = nd;
                    prev[mv.to as usize] = l;
                    heap.push(Reverse((nd, mv.to)));
                }
            }
        }
        let mut path = Vec::new();
        let mut l = goal?;
        while l != start {
            path.push(l);
            l = prev[l as usize];
        }
        path.reverse();
        Some(path)
    }

    /// A shortest route from terminal `o` to terminal `d`: its links, first to last.
    pub fn route(&self, o: u32, d: u32, v0: f64) -> Option<Vec<u32>> {
        let mut best: Option<(f64, Vec<u32>)> = None;
        for &first in &self.nodes[o as usize].outs {
            let rest = if self.links[first as usize].to == d {
                Some(Vec::new())
            } else {
                self.route_from(first, d, v0, |_| 0.0)
            };
            if let Some(rest) = rest {
                let mut r = vec![first];
                r.extend(rest);
                let t: f64 = r.iter().map(|&l| self.free_time(l, v0)).sum();
                if best.as_ref().is_none_or(|b| t < b.0) {
                    best = Some((t, r));
                }
            }
        }
        best.map(|b| b.1)
    }
}

/// Traffic lights a road has (one per signalized node; none on a ring or an invalid
/// network).
pub fn light_count(road: &Road) -> u64 {
    match road {
        Road::Ring { .. } => 0,
        Road::Grid { rows, cols, .. } => u64::from(*rows) * u64::from(*cols),
        Road::Network { .. } => build(road, &CityConfig::default(), 4.5, 2.0)
            .map_or(0, |n| n.nodes.iter().filter(|x| x.signal).count() as u64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::worlds::traffic::config::{LinkSpec, NodeSpec};

    fn grid(rows: u32, cols: u32) -> Network {
        let road = Road::Grid { rows, cols, block_m: 200.0, lanes: 1, speed_mps: 13.9 };
        build(&road, &CityConfig::default(), 4.5, 2.0).unwrap()
    }

    #[test]
    fn grid_has_the_expected_shape() {
        let n = grid(2, 3);
        assert_eq!(n.nodes.len(), 6 + 2 * 2 + 2 * 3);
        // Internal two-way links plus one in and one out per terminal.
        assert_eq!(n.links.len(), 2 * (2 * 2 + 3) + 2 * 10);
        assert!(n.nodes.iter().filter(|x| !x.terminal).all(|x| x.signal && x.ins.len() == 4));
        // Four-leg node: 3 movements per approach (no U-turns), 4 stages.
        let k = n.node("r0c1").unwrap() as usize;
        assert_eq!(n.nodes[k].movements.len(), 12);
        assert_eq!(n.nodes[k].stages.len(), 4, "{:?}", n.nodes[k].stages);
    }

    #[test]
    fn stages_are_conflict_free_and_cover_every_movement() {
        let n = grid(3, 3);
        for node in n.nodes.iter().filter(|x| x.signal) {
            for st in &node.stages {
                for (i, &a) in st.iter().enumerate() {
                    for &b in &st[i + 1..] {
                        assert!(!node.conflicts.contains(&(a.min(b), a.max(b))), "{} {a} {b}", node.name);
                    }
                }
            }
            for m in &node.movements {
                assert!(node.stages.iter().any(|s| s.contains(m)));
            }
            // Through movements from crossing streets conflict; opposing throughs don't.
            let thr: Vec<u32> =
                node.movements.iter().copied().filter(|&m| n.movements[m as usize].turn == Turn::Straight).collect();
            let heading = |m: u32| n.links[n.movements[m as usize].from as usize].heading;
            for &a in &thr {
                for &b in &thr {
                    if a >= b {
                        continue;
                    }
                    let crossing = (wrap(heading(a) - heading(b)).abs() - PI / 2.0).abs() < 0.1;
                    assert_eq!(node.conflicts.contains(&(a, b)), crossing);
                }
            }
        }
    }

    #[test]
    fn shortest_route_on_a_grid() {
        let n = grid(3, 3);
        let (w0, e0) = (n.node("w0").unwrap(), n.node("e0").unwrap());
        let r = n.route(w0, e0, 100.0).unwrap();
        // West terminal, three intersections in row 0, east terminal: 4 links.
        assert_eq!(r.len(), 4);
        assert_eq!(n.links[r[3] as usize].to, e0);
        let (s0n, n2) = (n.node("s0").unwrap(), n.node("n2").unwrap());
        let r = n.route(s0n, n2, 100.0).unwrap();
        assert_eq!(r.len(), 6);
        // A penalty on the straight path makes the route avoid it.
        let first = r[0];
        let plain = n.route_from(first, n2, 100.0, |_| 0.0).unwrap();
        let avoid = plain[0];
        let alt = n.route_from(first, n2, 100.0, |l| if l == avoid { 1e4 } else { 0.0 }).unwrap();
        assert!(!alt.contains(&avoid));
    }

    #[test]
    fn bad_networks_name_their_fields() {
        let road = Road::Network {
            nodes: vec![
                NodeSpec { name: "a".into(), x: 0.0, y: 0.0, terminal: true },
                NodeSpec { name: "b".into(), x: 100.0, y: 0.0, terminal: true },
            ],
            links: vec![
                LinkSpec { from: "a".into(), to: "zz".into(), lanes: 1, length_m: None, speed_mps: 10.0 },
                LinkSpec { from: "a".into(), to: "b".into(), lanes: 0, length_m: Some(-3.0), speed_mps: 10.0 },
            ],
        };
        let e = build(&road, &CityConfig::default(), 4.5, 2.0).unwrap_err();
        let fields: Vec<&str> = e.iter().map(|x| x.0.as_str()).collect();
        assert!(fields.contains(&"world.road.links[0].to"), "{e:?}");
        assert!(fields.contains(&"world.road.links[1].lanes"), "{e:?}");
        assert!(fields.contains(&"world.road.links[1].length_m"), "{e:?}");
    }
}
