//! Intersections as the contended resource: crossing stop lines and box ends in a fixed
//! order, trips finishing and starting, the invariants (no conflicting greens, no box
//! over capacity, no lane over its storage) and gridlock detection.

use rand::RngExt;

use super::cars::{draw_turn, pick_entry, poisson};
use super::*;

/// Resolve: vehicles cross stop lines and box ends (the box and exit rules checked again
/// in a fixed order, so same-tick contention is arbitrated deterministically), trips
/// finish and start, and the invariants are checked: no conflicting greens, no box over
/// capacity, no lane over its storage; then gridlock detection.
#[allow(clippy::too_many_arguments)]
pub(super) fn resolve(
    clock: Res<SimClock>,
    params: Res<TrafficParams>,
    map: Res<CityMap>,
    mut st: ResMut<CityState>,
    mut stats: ResMut<TripStats>,
    mut log: ResMut<EventLog>,
    mut cars: Query<(&mut Car, &mut Pose, &mut Decision, &mut AgentRng, &Agent)>,
) {
    let cfg = &params.0;
    let net = &map.0;
    let p = idm(cfg);
    let (len, s0) = (p.length, p.s0);
    let now = clock.tick;
    let dt = clock.dt;
    let st = &mut *st;
    let stats = &mut *stats;
    stats.box_entries.clear();
    let turning = match &cfg.city.demand {
        Demand::Turning { left, right, .. } => Some((*left, *right)),
        _ => None,
    };
    let v_free = |speed: f64| speed.min(p.v0);
    // 1. Transfers across lane ends.
    for lane in 0..net.lanes.len() {
        while let Some(&h) = st.occupants[lane].front() {
            let e = st.fleet[h as usize];
            let Ok((mut car, mut pose, mut dec, mut arng, agent)) = cars.get_mut(e) else { break };
            let geo = &net.lanes[lane];
            if car.s < geo.length {
                break;
            }
            match geo.kind {
                LaneKind::Road { link, .. } => {
                    let node = net.links[link as usize].to;
                    let next = car.next_link();
                    if net.nodes[node as usize].terminal || next == NONE {
                        // Trip done.
                        st.occupants[lane].pop_front();
                        let travel = (now + 1 - car.demand_tick) as f64 * dt;
                        let delay = (travel - car.free_s).max(0.0);
                        stats.completed += 1;
                        stats.delay_sum += delay;
                        stats.recent.push_back((now, delay));
                        stats.stops_sum += u64::from(car.stops);
                        stats.reroutes_done += u64::from(car.reroutes);
                        let o = &mut stats.by_origin[car.origin as usize];
                        o.0 += 1;
                        o.1 += delay;
                        stats.trips.push(TripRecord {
                            vehicle: agent.id.0,
                            origin: car.origin,
                            dest: node,
                            demand_tick: car.demand_tick,
                            enter_tick: car.enter_tick,
                            exit_tick: now + 1,
                            free_s: car.free_s,
                            travel_s: travel,
                            delay_s: delay,
                            stops: car.stops,
                            reroutes: car.reroutes,
                        });
                        car.lane = NONE;
                        car.route.clear();
                        car.speed = 0.0;
                        let n = &net.nodes[node as usize];
                        *pose = Pose { x: n.x as f32, y: n.y as f32, heading: 0.0, speed: 0.0 };
                        *dec = Decision { tick: now, action: "parked", reason: "trip_done", value: delay as f32 };
                        st.parked.push(car.slot);
                        st.snap[h as usize].lane = NONE;
                        continue;
                    }
                    let m = net.movement(link, next);
                    let cap = net.nodes[node as usize].box_capacity;
                    let before = st.box_count[node as usize];
                    let exit = pick_exit(net, st, next);
                    let flash_busy = m.is_some_and(|m| st.mov_light[m as usize] == MovLight::Flash) && before > 0;
                    match (m, exit) {
                        (Some(m), Some(x)) if before < cap && !flash_busy => {
                            st.occupants[lane].pop_front();
                            let conn = net.movements[m as usize].lane;
                            st.reserved[x as usize] += 1;
                            st.box_count[node as usize] += 1;
                            stats.box_entries.push((node, before));
                            car.s -= geo.length;
                            car.lane = conn;
                            car.exit_lane = x;
                            let c = &net.lanes[conn as usize];
                            car.free_s += c.length / v_free(c.speed);
                            st.occupants[conn as usize].push_back(h);
                            let (px, py, hd) = c.at(car.s);
                            *pose = Pose { x: px as f32, y: py as f32, heading: hd as f32, speed: car.speed as f32 };
                        }
                        _ => {
                            // Someone else took the last place this tick: stop at the line.
                            car.s = geo.length - 0.01;
                            car.speed = 0.0;
                            stats.forced_stops += 1;
                            break;
                        }
                    }
                }
                LaneKind::Connector { movement } => {
                    let node = net.movements[movement as usize].node;
                    let x = car.exit_lane;
                    st.occupants[lane].pop_front();
                    st.reserved[x as usize] -= 1;
                    st.box_count[node as usize] -= 1;
                    car.s -= geo.length;
                    car.lane = x;
                    car.exit_lane = NONE;
                    car.leg += 1;
                    let LaneKind::Road { link, .. } = net.lanes[x as usize].kind else { unreachable!() };
                    car.free_s += net.free_time(link, p.v0);
                    if let Some((l, r)) = turning {
                        let n = draw_turn(net, link, l, r, &mut arng);
                        if n != NONE {
                            car.route.push(n);
                        }
                    }
                    st.occupants[x as usize].push_back(h);
                    let (px, py, hd) = net.lanes[x as usize].at(car.s);
                    *pose = Pose { x: px as f32, y: py as f32, heading: hd as f32, speed: car.speed as f32 };
                }
            }
        }
    }
    // 2. Demand: new trips wait at their origin, then enter when a vehicle is free and
    //    the first link has room.
    let hour = 3600.0 / dt;
    let nn = net.nodes.len();
    match &cfg.city.demand {
        Demand::Entries { default_rate_veh_per_h, rates } | Demand::Turning { default_rate_veh_per_h, rates, .. } => {
            for &o in &net.terminals {
                if net.nodes[o as usize].outs.is_empty() {
                    continue;
                }
                let name = &net.nodes[o as usize].name;
                let rate = rates.iter().find(|r| &r.node == name).map_or(*default_rate_veh_per_h, |r| r.rate_veh_per_h);
                let k = poisson(&mut st.demand_rng[o as usize], rate / hour);
                for _ in 0..k {
                    let dest = if turning.is_some() {
                        NONE
                    } else {
                        let ds = &st.dests[o as usize];
                        if ds.is_empty() {
                            continue;
                        }
                        let i = st.demand_rng[o as usize].random_range(0..ds.len());
                        ds[i]
                    };
                    st.pending[o as usize].push_back((now, dest));
                }
            }
        }
        Demand::Od(cells) => {
            for c in cells {
                let (Some(o), Some(d)) = (net.node(&c.from), net.node(&c.to)) else { continue };
                let k = poisson(&mut st.demand_rng[o as usize], c.rate_veh_per_h / hour);
                for _ in 0..k {
                    st.pending[o as usize].push_back((now, d));
                }
            }
        }
    }
    for &o in &net.terminals {
        while let Some(&(t0, dest)) = st.pending[o as usize].front() {
            let Some(&slot) = st.parked.last() else { break };
            let route = if dest == NONE {
                let outs = &net.nodes[o as usize].outs;
                if outs.is_empty() {
                    break;
                }
                vec![outs[(t0 as usize + slot as usize) % outs.len()]]
            } else {
                match &st.routes[o as usize * nn + dest as usize] {
                    Some(r) => r.clone(),
                    None => {
                        st.pending[o as usize].pop_front();
                        continue;
                    }
                }
            };
            let first = route[0];
            let Some(lane) = pick_entry(net, st, first, len, s0) else { break };
            let e = st.fleet[slot as usize];
            let Ok((mut car, mut pose, mut dec, mut arng, _)) = cars.get_mut(e) else { break };
            st.parked.pop();
            st.pending[o as usize].pop_front();
            let geo = &net.lanes[lane as usize];
            let v_lim = geo.speed.min(p.v0);
            let speed = match st.occupants[lane as usize].back() {
                Some(&t) => {
                    let l = st.snap[t as usize];
                    v_lim.min(p.equilibrium_speed(l.s - len - len)).min(l.speed + 2.0)
                }
                None => v_lim,
            };
            car.lane = lane;
            car.s = len;
            car.speed = speed.max(0.0);
            car.accel = 0.0;
            car.route = route;
            car.leg = 0;
            car.exit_lane = NONE;
            car.origin = o;
            car.dest = dest;
            car.demand_tick = t0;
            car.enter_tick = now;
            car.free_s = net.free_time(first, p.v0);
            car.stops = 0;
            car.halted = false;
            car.reroutes = 0;
            car.avoid = [(NONE, 0.0, 0); 4];
            car.hold = Hold::Go;
            if let Some((l, r)) = turning {
                let n = draw_turn(net, first, l, r, &mut arng);
                if n != NONE {
                    car.route.push(n);
                }
            }
            st.occupants[lane as usize].push_back(slot);
            let sn = &mut st.snap[slot as usize];
            sn.lane = lane;
            sn.s = car.s;
            sn.speed = car.speed;
            let (px, py, hd) = geo.at(car.s);
            *pose = Pose { x: px as f32, y: py as f32, heading: hd as f32, speed: car.speed as f32 };
            *dec = Decision { tick: now, action: "enter", reason: "trip_start", value: 0.0 };
            stats.entered += 1;
        }
    }
    // 3. Invariants.
    for n in &net.nodes {
        for &(a, b) in &n.conflicts {
            let on = |m: u32| matches!(st.mov_light[m as usize], MovLight::Green | MovLight::Yellow);
            if on(a) && on(b) {
                stats.signal_conflicts += 1;
            }
        }
    }
    for (k, n) in net.nodes.iter().enumerate() {
        if st.box_count[k] > n.box_capacity {
            stats.box_violations += 1;
        }
    }
    for (k, l) in net.lanes.iter().enumerate() {
        if matches!(l.kind, LaneKind::Road { .. }) && st.occupants[k].len() as u32 + st.reserved[k] > l.capacity {
            stats.box_violations += 1;
        }
    }
    // 4. Gridlock: lanes whose halted head has waited at least `gridlock_after_s` for a
    //    full exit lane form a graph with one edge per lane; a cycle is a gridlock.
    let after = (cfg.city.gridlock_after_s / dt).ceil() as u64;
    let nl = net.lanes.len();
    let next: Vec<u32> = (0..nl)
        .map(|k| {
            let (to, since) = st.blocked[k];
            if to != NONE && now.saturating_sub(since) >= after { to } else { NONE }
        })
        .collect();
    // Each link's lanes share one node in the graph: map lane -> link's first lane.
    let link_of = |k: u32| match net.lanes[k as usize].kind {
        LaneKind::Road { link, .. } => link,
        LaneKind::Connector { .. } => NONE,
    };
    let mut succ: Vec<Vec<u32>> = vec![Vec::new(); net.links.len()];
    for k in 0..nl as u32 {
        let t = next[k as usize];
        if t != NONE {
            let (a, b) = (link_of(k), link_of(t));
            if a != NONE && b != NONE && !succ[a as usize].contains(&b) {
                succ[a as usize].push(b);
            }
        }
    }
    let cycles = find_cycles(&succ);
    let mut locked_now: Vec<Vec<u32>> = Vec::new();
    for c in cycles {
        let mut key = c.clone();
        key.sort_unstable();
        if !st.gridlocks.contains(&key) {
            stats.gridlock_events += 1;
            let names: Vec<String> = c.iter().map(|&l| net.link_name(l)).collect();
            log.push(now, "gridlock", None, [("links", json!(names)), ("length", json!(c.len()))]);
        }
        locked_now.push(key);
    }
    for old in &st.gridlocks {
        if !locked_now.contains(old) {
            let names: Vec<String> = old.iter().map(|&l| net.link_name(l)).collect();
            log.push(now, "gridlock_cleared", None, [("links", json!(names))]);
        }
    }
    st.gridlocks = locked_now;
}

/// Elementary cycles of a small directed graph of blocked links, each reported once
/// (starting from its smallest link), found by depth-first search from every node. The
/// graph is sparse (a link waits on at most a few others), so this stays cheap; the
/// search is capped to keep pathological cases bounded.
pub(super) fn find_cycles(succ: &[Vec<u32>]) -> Vec<Vec<u32>> {
    let mut out = Vec::new();
    let mut budget = 100_000u32;
    for start in 0..succ.len() as u32 {
        if succ[start as usize].is_empty() {
            continue;
        }
        // DFS over nodes > start only, so each cycle is found from its smallest node.
        let mut path = vec![start];
        let mut iters = vec![0usize];
        while let Some(&node) = path.last() {
            if budget == 0 {
                return out;
            }
            budget -= 1;
            let i = iters.last().copied().unwrap_or(0);
            let nexts = &succ[node as usize];
            if i >= nexts.len() {
                path.pop();
                iters.pop();
                continue;
            }
            *iters.last_mut().expect("non-empty") += 1;
            let n = nexts[i];
            if n == start {
                out.push(path.clone());
            } else if n > start && !path.contains(&n) && path.len() < 64 {
                path.push(n);
                iters.push(0);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycles_found_once_each() {
        // 0 -> 1 -> 2 -> 0 and 3 -> 4 -> 3, plus a tail 5 -> 0.
        let succ = vec![vec![1], vec![2], vec![0], vec![4], vec![3], vec![0]];
        let c = find_cycles(&succ);
        assert_eq!(c, vec![vec![0, 1, 2], vec![3, 4]]);
        assert!(find_cycles(&[vec![1], vec![2], vec![]]).is_empty());
    }
}
