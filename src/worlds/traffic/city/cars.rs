//! The city's cars: spawning the fleet, the per-tick snapshot, perceiving what is ahead
//! (a leader, a stop line, a full box), deciding, moving, and new trips' random draws.

use std::collections::VecDeque;

use rand::RngExt;
use rand::rngs::ChaCha8Rng;

use super::*;

pub(super) fn spawn(
    mut commands: Commands,
    params: Res<TrafficParams>,
    clock: Res<SimClock>,
    map: Res<CityMap>,
    mut ids: ResMut<AgentIds>,
    mut st: ResMut<CityState>,
    mut stats: ResMut<TripStats>,
) {
    let cfg = &params.0;
    let net = &map.0;
    let p = idm(cfg);
    let nl = net.lanes.len();
    let nn = net.nodes.len();
    let st = &mut *st;
    st.occupants = vec![VecDeque::new(); nl];
    st.reserved = vec![0; nl];
    st.hold = vec![Hold::Go; nl];
    st.blocked = vec![(NONE, 0); nl];
    st.box_count = vec![0; nn];
    st.mov_light = vec![MovLight::Red; net.movements.len()];
    st.mov_count = vec![0; net.movements.len()];
    st.mov_halted = vec![0; net.movements.len()];
    st.mov_near = vec![0; net.movements.len()];
    st.link_count = vec![0; net.links.len()];
    st.link_halted = vec![0; net.links.len()];
    st.pending = vec![VecDeque::new(); nn];
    st.demand_rng = (0..nn).map(|k| rng::stream(clock.seed, "demand", k as u64)).collect();
    st.routes = vec![None; nn * nn];
    st.dests = vec![Vec::new(); nn];
    for &o in &net.terminals {
        if net.nodes[o as usize].outs.is_empty() {
            continue;
        }
        for &d in &net.terminals {
            if d != o && !net.nodes[d as usize].ins.is_empty() {
                let r = net.route(o, d, p.v0);
                if r.is_some() {
                    st.dests[o as usize].push(d);
                }
                st.routes[o as usize * nn + d as usize] = r;
            }
        }
    }
    *stats = TripStats { by_origin: vec![(0, 0.0); nn], ..Default::default() };
    // Lights first (ids follow node order), then controllers (signals), then the fleet.
    st.light_of_node = vec![None; nn];
    for (k, n) in net.nodes.iter().enumerate() {
        if n.signal {
            let id = ids.alloc();
            st.light_of_node[k] = Some(id);
            commands.spawn(signals::light_bundle(id, k as u32, net, clock.tick));
        }
    }
    // The controllers spawn next, then the fleet, so ids stay in documented order.
}

/// Spawns the fleet, parked at the terminals (after the lights and the controllers).
pub(super) fn spawn_fleet(
    mut commands: Commands,
    params: Res<TrafficParams>,
    clock: Res<SimClock>,
    map: Res<CityMap>,
    mut ids: ResMut<AgentIds>,
    mut st: ResMut<CityState>,
) {
    let (cfg, net, st) = (&params.0, &map.0, &mut *st);
    let (seed, tick) = (clock.seed, clock.tick);
    let terms: Vec<u32> = net.terminals.clone();
    st.fleet.clear();
    st.snap.clear();
    st.parked.clear();
    for slot in 0..cfg.vehicles {
        let id = ids.alloc();
        let home = if terms.is_empty() { 0 } else { terms[slot as usize % terms.len()] };
        let n = &net.nodes[home as usize];
        let e = commands
            .spawn((
                Agent { id, kind: VEHICLE },
                Pose { x: n.x as f32, y: n.y as f32, heading: 0.0, speed: 0.0 },
                Perception::default(),
                Decision { tick, action: "parked", reason: "no_trip", value: 0.0 },
                Inbox::default(),
                Outbox::default(),
                AgentRng::new(seed, "city_vehicle", u64::from(id.0)),
                Car::parked(slot, home, tick),
            ))
            .id();
        st.fleet.push(e);
        st.snap.push(Snap { lane: NONE, id: id.0, next: NONE, ..Default::default() });
    }
    // Take the lowest slots first (the stack pops from the end).
    st.parked = (0..cfg.vehicles).rev().collect();
}

/// Perceive, first: the snapshot every later system reads, per-movement and per-link
/// counts, and whether each queue head may cross its stop line.
pub(super) fn snapshot(
    params: Res<TrafficParams>,
    map: Res<CityMap>,
    mut st: ResMut<CityState>,
    cars: Query<&Car>,
    clock: Res<SimClock>,
) {
    let cfg = &params.0;
    let net = &map.0;
    let st = &mut *st;
    let p = idm(cfg);
    let jam = cfg.driving.jam_speed_mps;
    let detector = cfg.city.signals.detector_m;
    for c in cars.iter() {
        let s = &mut st.snap[c.slot as usize];
        s.lane = c.lane;
        s.s = c.s;
        s.speed = c.speed;
        s.next = c.next_link();
    }
    st.mov_count.iter_mut().for_each(|x| *x = 0);
    st.mov_halted.iter_mut().for_each(|x| *x = 0);
    st.mov_near.iter_mut().for_each(|x| *x = 0);
    st.link_count.iter_mut().for_each(|x| *x = 0);
    st.link_halted.iter_mut().for_each(|x| *x = 0);
    for (lane, occ) in st.occupants.iter().enumerate() {
        for (i, &v) in occ.iter().enumerate() {
            st.snap[v as usize].idx = i as u32;
        }
        let LaneKind::Road { link, .. } = net.lanes[lane].kind else { continue };
        let len = net.lanes[lane].length;
        for &v in occ {
            let sn = st.snap[v as usize];
            let halted = sn.speed < jam;
            st.link_count[link as usize] += 1;
            st.link_halted[link as usize] += u32::from(halted);
            if sn.next != NONE
                && let Some(m) = net.movement(link, sn.next)
            {
                st.mov_count[m as usize] += 1;
                st.mov_halted[m as usize] += u32::from(halted);
                st.mov_near[m as usize] += u32::from(len - sn.s <= detector);
            }
        }
    }
    // Stop-line permissions.
    let b = p.b;
    for lane in 0..net.lanes.len() {
        st.hold[lane] = Hold::Go;
        let LaneKind::Road { link, .. } = net.lanes[lane].kind else { continue };
        let Some(&h) = st.occupants[lane].front() else {
            st.blocked[lane] = (NONE, 0);
            continue;
        };
        let node = net.links[link as usize].to;
        if net.nodes[node as usize].terminal {
            continue;
        }
        let sn = st.snap[h as usize];
        let Some(m) = (sn.next != NONE).then(|| net.movement(link, sn.next)).flatten() else { continue };
        let dist = net.lanes[lane].length - sn.s;
        let exit = pick_exit(net, st, sn.next);
        let exit_full = exit.is_none();
        // Gridlock bookkeeping: which lane a halted head is waiting for.
        if exit_full && sn.speed < 0.5 {
            let want = net.links[sn.next as usize].first_lane;
            if st.blocked[lane].0 != want {
                st.blocked[lane] = (want, clock.tick);
            }
        } else {
            st.blocked[lane] = (NONE, 0);
        }
        st.hold[lane] = match st.mov_light[m as usize] {
            MovLight::Red => Hold::Red,
            MovLight::Yellow if dist > sn.speed * sn.speed / (2.0 * b) + 1.0 => Hold::Yellow,
            MovLight::Flash if st.box_count[node as usize] > 0 => Hold::BoxFull,
            _ if st.box_count[node as usize] >= net.nodes[node as usize].box_capacity => Hold::BoxFull,
            _ if exit_full => Hold::ExitFull,
            _ => Hold::Go,
        };
    }
}

/// The exit lane a vehicle entering `link` from a box takes: the one with the most room
/// (fewest vehicles plus places held), lowest index on ties; `None` if all are full.
pub fn pick_exit(net: &Network, st: &CityState, link: u32) -> Option<u32> {
    let l = &net.links[link as usize];
    (l.first_lane..l.first_lane + l.lanes)
        .filter(|&k| (st.occupants[k as usize].len() as u32 + st.reserved[k as usize]) < net.lanes[k as usize].capacity)
        .min_by_key(|&k| (st.occupants[k as usize].len() as u32 + st.reserved[k as usize], k))
}

/// The lane a vehicle entering `link` from a terminal takes: the one whose last vehicle
/// is farthest in, if there is room for one more.
pub(super) fn pick_entry(net: &Network, st: &CityState, link: u32, len: f64, s0: f64) -> Option<u32> {
    let l = &net.links[link as usize];
    let mut best: Option<(f64, u32)> = None;
    for k in l.first_lane..l.first_lane + l.lanes {
        let occ = &st.occupants[k as usize];
        if occ.len() as u32 + st.reserved[k as usize] >= net.lanes[k as usize].capacity {
            continue;
        }
        let room = occ.back().map_or(f64::INFINITY, |&t| st.snap[t as usize].s - len);
        if room >= len + s0 && best.is_none_or(|b| room > b.0) {
            best = Some((room, k));
        }
    }
    best.map(|b| b.1)
}

/// The gap to whatever is ahead of a vehicle (leader or stop line), the leader's speed
/// and id, looking across lane ends up to two lanes ahead.
pub(super) fn ahead(net: &Network, st: &CityState, car: &Car, len: f64, range: f64) -> (f64, f64, Option<u32>, Hold) {
    let lane = car.lane as usize;
    let occ = &st.occupants[lane];
    let idx = st.snap[car.slot as usize].idx as usize;
    if idx > 0 {
        let l = st.snap[occ[idx - 1] as usize];
        return (l.s - len - car.s, l.speed, Some(l.id), Hold::Go);
    }
    let geo = &net.lanes[lane];
    let dist = geo.length - car.s;
    let tail_of = |k: u32, extra: f64| {
        st.occupants[k as usize].back().map(|&t| {
            let l = st.snap[t as usize];
            (extra + l.s - len, l.speed, Some(l.id), Hold::Go)
        })
    };
    match geo.kind {
        LaneKind::Road { link, .. } => {
            let node = net.links[link as usize].to;
            let next = car.next_link();
            if net.nodes[node as usize].terminal || next == NONE {
                return (range, 0.0, None, Hold::Go);
            }
            let hold = st.hold[lane];
            if hold != Hold::Go {
                return ((dist - 0.5).max(0.0), 0.0, None, hold);
            }
            let Some(m) = net.movement(link, next) else { return ((dist - 0.5).max(0.0), 0.0, None, Hold::Red) };
            let conn = net.movements[m as usize].lane;
            if let Some(r) = tail_of(conn, dist) {
                return r;
            }
            let clen = net.lanes[conn as usize].length;
            pick_exit(net, st, next).and_then(|e| tail_of(e, dist + clen)).unwrap_or((range, 0.0, None, Hold::Go))
        }
        LaneKind::Connector { .. } => {
            if car.exit_lane == NONE {
                return (range, 0.0, None, Hold::Go);
            }
            tail_of(car.exit_lane, dist).unwrap_or((range, 0.0, None, Hold::Go))
        }
    }
}

/// Perceive: each driving vehicle senses the gap to its leader or its stop line.
pub(super) fn perceive_cars(
    clock: Res<SimClock>,
    params: Res<TrafficParams>,
    map: Res<CityMap>,
    st: Res<CityState>,
    mut q: Query<(&mut Car, &mut Perception), Without<Crashed>>,
) {
    let len = idm(&params.0).length;
    let range = params.0.driving.sensor_range_m;
    let now = clock.tick;
    let (net, st) = (&map.0, &*st);
    q.par_iter_mut().for_each(|(mut car, mut p)| {
        if !car.driving() {
            return;
        }
        let (gap, v, target, hold) = ahead(net, st, &car, len, range);
        car.hold = hold;
        let visible = gap <= range;
        *p = Perception {
            tick: now,
            target: target.filter(|_| visible).map(AgentId),
            distance_m: gap.clamp(0.0, range) as f32,
            target_speed_mps: v as f32,
        };
    });
}

/// Decide: read congestion warnings (and reroute around them), then the IDM
/// acceleration towards the lane's speed limit behind the leader or the stop line.
pub(super) fn decide_cars(
    clock: Res<SimClock>,
    params: Res<TrafficParams>,
    map: Res<CityMap>,
    mut q: Query<(&mut Car, &Perception, &Inbox, &mut Decision), Without<Crashed>>,
) {
    let cfg = &params.0;
    let p = idm(cfg);
    let net = &map.0;
    let now = clock.tick;
    let dt = clock.dt;
    let r = &cfg.city.routing;
    let min_ticks = (r.min_interval_s / dt).ceil() as u64;
    let memory = min_ticks.max(1) * 4;
    let reroute = r.reroute && !matches!(cfg.city.demand, Demand::Turning { .. });
    q.par_iter_mut().for_each(|(mut car, per, inbox, mut dec)| {
        if !car.driving() {
            return;
        }
        let car = &mut *car;
        let mut news = false;
        for m in &inbox.0 {
            if m.kind != MSG_CONGESTION {
                continue;
            }
            let link = m.payload[0] as u32;
            let k = car
                .avoid
                .iter()
                .position(|a| a.0 == link)
                .unwrap_or_else(|| (0..4).min_by_key(|&i| (car.avoid[i].0 != NONE, car.avoid[i].2)).unwrap_or(0));
            car.avoid[k] = (link, m.payload[2], m.sent);
            if car.route.iter().skip(car.leg as usize + 1).any(|&l| l == link) {
                news = true;
            }
        }
        if reroute && news && car.dest != NONE && now.saturating_sub(car.last_reroute) >= min_ticks {
            let in_box = matches!(net.lanes[car.lane as usize].kind, LaneKind::Connector { .. });
            let keep = if in_box { car.leg as usize + 1 } else { car.leg as usize };
            if let Some(&from) = car.route.get(keep) {
                let avoid = car.avoid;
                let pen = |l: u32| {
                    avoid
                        .iter()
                        .filter(|a| a.0 == l && now.saturating_sub(a.2) <= memory)
                        .map(|a| f64::from(a.1))
                        .sum::<f64>()
                };
                if let Some(rest) = net.route_from(from, car.dest, p.v0, pen)
                    && car.route[keep + 1..] != rest[..]
                {
                    car.route.truncate(keep + 1);
                    car.route.extend(rest);
                    car.reroutes += 1;
                }
                car.last_reroute = now;
            }
        }
        let lane = &net.lanes[car.lane as usize];
        let mut ip = p;
        ip.v0 = p.v0.min(lane.speed);
        let gap = f64::from(per.distance_m);
        let v_lead = f64::from(per.target_speed_mps);
        car.accel = ip.accel(gap, car.speed, car.speed - v_lead).max(-9.0);
        let (action, reason) = if car.hold != Hold::Go {
            ("stop_at_line", car.hold.reason())
        } else if per.target.is_some() {
            ("follow", "leader_ahead")
        } else {
            ("drive", "free_road")
        };
        *dec = Decision { tick: now, action, reason, value: car.accel as f32 };
    });
}

/// Act: move vehicles, never past the gap they saw (the leader only moves forward, so
/// no overlap), and a crashed vehicle brakes to a standstill.
pub(super) fn act_cars(
    clock: Res<SimClock>,
    params: Res<TrafficParams>,
    map: Res<CityMap>,
    mut q: Query<(&mut Car, &Perception, &mut Pose, Has<Crashed>)>,
) {
    let dt = clock.dt;
    let p = idm(&params.0);
    let net = &map.0;
    q.par_iter_mut().for_each(|(mut car, per, mut pose, crashed)| {
        if !car.driving() {
            return;
        }
        if crashed {
            car.accel = -p.b;
        }
        let a = car.accel;
        let v = car.speed;
        let (mut ds, mut nv) = if v + a * dt < 0.0 {
            (if a < 0.0 { -v * v / (2.0 * a) } else { 0.0 }, 0.0)
        } else {
            (v * dt + 0.5 * a * dt * dt, v + a * dt)
        };
        let room = (f64::from(per.distance_m) - 0.05).max(0.0);
        if ds > room {
            ds = room;
            nv = nv.min(room / dt);
        }
        car.s += ds.max(0.0);
        car.speed = nv.max(0.0);
        let (x, y, h) = net.lanes[car.lane as usize].at(car.s);
        *pose = Pose { x: x as f32, y: y as f32, heading: h as f32, speed: car.speed as f32 };
    });
}

pub(super) fn poisson(rng: &mut ChaCha8Rng, lambda: f64) -> u32 {
    if lambda <= 0.0 {
        return 0;
    }
    let l = (-lambda).exp();
    let (mut k, mut p) = (0u32, 1.0f64);
    loop {
        p *= rng.random::<f64>();
        if p <= l || k > 1000 {
            return k;
        }
        k += 1;
    }
}

/// Draws the next link after `link` with random turning ratios.
pub(super) fn draw_turn(net: &Network, link: u32, left: f64, right: f64, rng: &mut AgentRng) -> u32 {
    let node = &net.nodes[net.links[link as usize].to as usize];
    if node.terminal {
        return NONE;
    }
    let opts: Vec<(u32, Turn)> = node
        .movements
        .iter()
        .map(|&m| &net.movements[m as usize])
        .filter(|mv| mv.from == link)
        .map(|mv| (mv.to, mv.turn))
        .collect();
    if opts.is_empty() {
        return NONE;
    }
    let u: f64 = rng.0.random();
    let want = if u < left {
        Turn::Left
    } else if u < left + right {
        Turn::Right
    } else {
        Turn::Straight
    };
    opts.iter().find(|o| o.1 == want).or_else(|| opts.iter().find(|o| o.1 == Turn::Straight)).unwrap_or(&opts[0]).0
}
