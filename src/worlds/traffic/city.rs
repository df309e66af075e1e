//! The city world: vehicles on a network of links and intersections (a grid or a custom
//! network), trips from demand with shortest-path routes or random turns, traffic lights
//! as agents (see `signals`), intersections as the contended resource (conflicting
//! movements never green together, don't-block-the-box), gridlock detection, and the
//! trip metrics. Vehicles use the same IDM, agent components and channel as on the ring.

use std::collections::VecDeque;

use bevy::prelude::*;
use rand::RngExt;
use rand::rngs::ChaCha8Rng;
use serde_json::{Value, json};

use super::config::{CarFollowing, TrafficConfig};
use super::models::IdmParams;
use super::network::{Demand, LaneKind, Network, Turn};
use super::ring::TrafficParams;
use super::signals;
use crate::sim::{
    Agent, AgentId, AgentIds, AgentKind, AgentRng, Crashed, Decision, EventLog, Inbox, MeasureSet, Metrics, Outbox,
    Perception, Phase, Pose, SimClock, SimTick, SpawnWorld, WorldSummary, rng,
};

/// Message kind: a light's congestion warning to the vehicles around it (V2I):
/// payload `[link, halted vehicles, extra seconds, 0]`.
pub const MSG_CONGESTION: &str = "congestion";

/// No lane / no link / no destination.
pub const NONE: u32 = u32::MAX;

/// The network being simulated: nodes, links, lanes with their geometry, movements,
/// stages. Static after spawn; the desktop app draws it (each [`LaneGeo`] has its end
/// points; `lanes` holds road lanes and the connectors through the boxes).
///
/// [`LaneGeo`]: super::network::LaneGeo
#[derive(Resource, Clone, Debug, Default)]
pub struct CityMap(pub Network);

/// What a movement's signal shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum MovLight {
    #[default]
    Red,
    Yellow,
    Green,
    /// The light is down (crashed): an all-way stop, one vehicle in the box at a time.
    Flash,
}

/// Per-vehicle snapshot used within a tick (indexed by fleet slot).
#[derive(Clone, Copy, Debug, Default)]
pub struct Snap {
    /// Lane, or [`NONE`] when parked.
    pub lane: u32,
    pub s: f64,
    pub speed: f64,
    /// Next link on the route, or [`NONE`].
    pub next: u32,
    /// Agent id.
    pub id: u32,
    /// Index in its lane's queue (0 = front).
    pub idx: u32,
}

/// Why a queue head may not cross its stop line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Hold {
    #[default]
    Go,
    Red,
    Yellow,
    BoxFull,
    ExitFull,
}

impl Hold {
    /// Machine-readable reason.
    pub fn reason(self) -> &'static str {
        match self {
            Hold::Go => "clear",
            Hold::Red => "red_light",
            Hold::Yellow => "yellow_stop",
            Hold::BoxFull => "box_full",
            Hold::ExitFull => "exit_full_dont_block_box",
        }
    }
}

/// The city's dynamic state: who is on which lane, box occupancy and reservations, what
/// every movement's signal shows. Public for the desktop app and tests.
#[derive(Resource, Debug, Default)]
pub struct CityState {
    /// Vehicles on each lane (fleet slots), front first.
    pub occupants: Vec<VecDeque<u32>>,
    /// Vehicles in a box holding a place on each lane.
    pub reserved: Vec<u32>,
    /// Vehicles in each node's box.
    pub box_count: Vec<u32>,
    /// What each movement's signal shows (after this tick's Act).
    pub mov_light: Vec<MovLight>,
    /// Whether each lane's head may cross its stop line (this tick's Perceive).
    pub hold: Vec<Hold>,
    /// The exit lane each held head waits for, and since when (gridlock detection).
    pub blocked: Vec<(u32, u64)>,
    /// Fleet: vehicle entities by slot.
    pub fleet: Vec<Entity>,
    /// Vehicle snapshots by slot.
    pub snap: Vec<Snap>,
    /// Light agent per node (signalized nodes only).
    pub light_of_node: Vec<Option<AgentId>>,
    /// Per movement: vehicles on its approach heading into it, halted ones, and ones
    /// within the detector distance of the stop line.
    pub mov_count: Vec<u32>,
    pub mov_halted: Vec<u32>,
    pub mov_near: Vec<u32>,
    /// Per link: vehicles on it and halted ones.
    pub link_count: Vec<u32>,
    pub link_halted: Vec<u32>,
    /// Trips waiting at each node (terminals): (tick generated, destination).
    pub pending: Vec<VecDeque<(u64, u32)>>,
    /// Parked vehicles, available for trips.
    pub parked: Vec<u32>,
    /// Demand generators per terminal.
    demand_rng: Vec<ChaCha8Rng>,
    /// Shortest routes by (origin, destination) terminal pair.
    routes: Vec<Option<Vec<u32>>>,
    /// Destinations reachable from each terminal.
    dests: Vec<Vec<u32>>,
    /// Cycles of blocked lanes currently locked (each as its sorted link list).
    pub gridlocks: Vec<Vec<u32>>,
}

/// Trip statistics of the run.
#[derive(Resource, Debug, Default, Clone)]
pub struct TripStats {
    pub entered: u64,
    pub completed: u64,
    pub delay_sum: f64,
    pub stops_sum: u64,
    pub reroutes_done: u64,
    /// Per origin terminal: (trips completed, delay sum).
    pub by_origin: Vec<(u64, f64)>,
    pub gridlock_events: u64,
    pub forced_stops: u64,
    pub signal_conflicts: u64,
    pub box_violations: u64,
    /// Box entries this tick, with the box count before each (tests read it).
    pub box_entries: Vec<(u32, u32)>,
}

/// A vehicle of the city: where it is, where it goes, and its trip so far.
#[derive(Component, Clone, Debug)]
pub struct Car {
    /// Fleet slot.
    pub slot: u32,
    /// Lane, or [`NONE`] when parked.
    pub lane: u32,
    /// Front bumper along the lane, m.
    pub s: f64,
    pub speed: f64,
    pub accel: f64,
    /// Links of the route; `leg` indexes the link the vehicle is on (or, in a box, the
    /// link it came from).
    pub route: Vec<u32>,
    pub leg: u32,
    /// In a box: the exit lane it holds a place on.
    pub exit_lane: u32,
    pub origin: u32,
    /// Destination terminal, or [`NONE`] with random turns.
    pub dest: u32,
    pub demand_tick: u64,
    pub enter_tick: u64,
    /// Free-flow time of what it has driven, s.
    pub free_s: f64,
    pub stops: u32,
    pub halted: bool,
    pub reroutes: u32,
    pub last_reroute: u64,
    /// Links it heard are congested: (link, extra seconds, tick).
    pub avoid: [(u32, f32, u64); 4],
    /// Why it waits at the stop line (heads only).
    pub hold: Hold,
}

impl Car {
    /// A car parked at terminal `home` since `tick`, with no trip.
    pub fn parked(slot: u32, home: u32, tick: u64) -> Car {
        Car {
            slot,
            lane: NONE,
            s: 0.0,
            speed: 0.0,
            accel: 0.0,
            route: Vec::new(),
            leg: 0,
            exit_lane: NONE,
            origin: home,
            dest: NONE,
            demand_tick: tick,
            enter_tick: tick,
            free_s: 0.0,
            stops: 0,
            halted: false,
            reroutes: 0,
            last_reroute: 0,
            avoid: [(NONE, 0.0, 0); 4],
            hold: Hold::Go,
        }
    }

    /// Whether it is driving in the network.
    pub fn driving(&self) -> bool {
        self.lane != NONE
    }
    /// The next link on its route.
    pub fn next_link(&self) -> u32 {
        self.route.get(self.leg as usize + 1).copied().unwrap_or(NONE)
    }
}

/// Metric columns of the city world (the ring's first four keep their meaning:
/// density is per lane-km of road, flow is density × mean speed).
pub const COLUMNS: [&str; 20] = [
    "mean_speed_mps",
    "density_veh_per_km",
    "flow_veh_per_h",
    "jammed",
    "vehicles_in_network",
    "trips_entered",
    "trips_completed",
    "trips_waiting",
    "mean_delay_s",
    "mean_stops",
    "queue_veh",
    "gridlock_events",
    "gridlocked_links",
    "throughput_veh_per_h",
    "delay_gini",
    "reroutes",
    "lights_fallback",
    "signal_conflicts",
    "box_violations",
    "box_occupancy",
];

/// Adds the city world to an app (the traffic plugin calls this for grid and network
/// roads).
pub fn build(app: &mut App, cfg: &TrafficConfig) {
    reset(app.world_mut(), cfg);
    {
        let mut m = app.world_mut().resource_mut::<Metrics>();
        for c in COLUMNS {
            m.register(c);
        }
    }
    app.insert_resource(WorldSummary(summary));
    app.add_systems(SpawnWorld, (spawn, signals::spawn_controllers).chain());
    app.add_systems(SimTick, (snapshot, perceive_cars, signals::perceive_lights).chain().in_set(Phase::Perceive));
    app.add_systems(SimTick, (decide_cars, signals::decide_lights, signals::decide_controllers).in_set(Phase::Decide));
    app.add_systems(SimTick, (act_cars, signals::apply_lights).in_set(Phase::Act));
    app.add_systems(SimTick, resolve.in_set(Phase::Resolve));
    app.add_systems(SimTick, (measure, signals::measure_lights).chain().in_set(MeasureSet::World));
}

/// IDM parameters of the city (validation guarantees the model is IDM).
pub fn idm(cfg: &TrafficConfig) -> IdmParams {
    match &cfg.model {
        CarFollowing::Idm(p) => *p,
        CarFollowing::Nasch(_) => IdmParams::default(),
    }
}

/// (Re)inserts the city's state for `cfg`; agents spawn in [`SpawnWorld`].
pub fn reset(world: &mut World, cfg: &TrafficConfig) {
    let p = idm(cfg);
    let net = super::network::build(&cfg.road, &cfg.city, p.length, p.s0).unwrap_or_default();
    world.insert_resource(TrafficParams(cfg.clone()));
    world.insert_resource(CityMap(net));
    world.insert_resource(CityState::default());
    world.insert_resource(TripStats::default());
    signals::reset(world);
}

fn spawn(
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
    // The fleet is spawned by spawn_controllers after the controllers, so ids stay in
    // documented order; it reads this count.
}

/// Spawns the fleet (called by the signals module after the controllers).
pub(crate) fn spawn_fleet(
    commands: &mut Commands,
    cfg: &TrafficConfig,
    net: &Network,
    ids: &mut AgentIds,
    st: &mut CityState,
    seed: u64,
    tick: u64,
) {
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
                Agent { id, kind: AgentKind::Vehicle },
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
fn snapshot(
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
fn pick_entry(net: &Network, st: &CityState, link: u32, len: f64, s0: f64) -> Option<u32> {
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
fn ahead(net: &Network, st: &CityState, car: &Car, len: f64, range: f64) -> (f64, f64, Option<u32>, Hold) {
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
fn perceive_cars(
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
fn decide_cars(
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
fn act_cars(
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

fn poisson(rng: &mut ChaCha8Rng, lambda: f64) -> u32 {
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
fn draw_turn(net: &Network, link: u32, left: f64, right: f64, rng: &mut AgentRng) -> u32 {
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

/// Resolve: vehicles cross stop lines and box ends (the box and exit rules checked again
/// in a fixed order, so same-tick contention is arbitrated deterministically), trips
/// finish and start, and the invariants are checked: no conflicting greens, no box over
/// capacity, no lane over its storage; then gridlock detection.
#[allow(clippy::too_many_arguments)]
fn resolve(
    clock: Res<SimClock>,
    params: Res<TrafficParams>,
    map: Res<CityMap>,
    mut st: ResMut<CityState>,
    mut stats: ResMut<TripStats>,
    mut log: ResMut<EventLog>,
    mut cars: Query<(&mut Car, &mut Pose, &mut Decision, &mut AgentRng)>,
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
            let Ok((mut car, mut pose, mut dec, mut arng)) = cars.get_mut(e) else { break };
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
                        stats.stops_sum += u64::from(car.stops);
                        stats.reroutes_done += u64::from(car.reroutes);
                        let o = &mut stats.by_origin[car.origin as usize];
                        o.0 += 1;
                        o.1 += delay;
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
            let Ok((mut car, mut pose, mut dec, mut arng)) = cars.get_mut(e) else { break };
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
fn find_cycles(succ: &[Vec<u32>]) -> Vec<Vec<u32>> {
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

fn gini(xs: &[f64]) -> f64 {
    let n = xs.len();
    if n < 2 {
        return 0.0;
    }
    let mean = xs.iter().sum::<f64>() / n as f64;
    if mean <= 0.0 {
        return 0.0;
    }
    let mut s = 0.0;
    for a in xs {
        for b in xs {
            s += (a - b).abs();
        }
    }
    s / (2.0 * (n * n) as f64 * mean)
}

/// Measure: the city's metrics.
#[allow(clippy::too_many_arguments)]
fn measure(
    clock: Res<SimClock>,
    params: Res<TrafficParams>,
    map: Res<CityMap>,
    st: Res<CityState>,
    stats: Res<TripStats>,
    mut metrics: ResMut<Metrics>,
    mut cars: Query<&mut Car>,
) {
    let cfg = &params.0;
    let net = &map.0;
    let jam = cfg.driving.jam_speed_mps;
    let (mut n, mut sum, mut jammed, mut reroutes) = (0u64, 0.0, 0u64, 0u64);
    for mut c in cars.iter_mut() {
        if !c.driving() {
            continue;
        }
        n += 1;
        sum += c.speed;
        if c.speed < jam {
            jammed += 1;
        }
        reroutes += u64::from(c.reroutes);
        // Stops: a halt after moving (hysteresis 0.5 / 2 m/s).
        if !c.halted && c.speed < 0.5 {
            c.halted = true;
            c.stops += 1;
        } else if c.halted && c.speed > 2.0 {
            c.halted = false;
        }
    }
    let lane_km: f64 =
        net.lanes.iter().filter(|l| matches!(l.kind, LaneKind::Road { .. })).map(|l| l.length).sum::<f64>() / 1000.0;
    let mean = if n > 0 { sum / n as f64 } else { 0.0 };
    let density = if lane_km > 0.0 { n as f64 / lane_km } else { 0.0 };
    let hours = (clock.tick + 1) as f64 * clock.dt / 3600.0;
    let done = stats.completed;
    let waiting: usize = st.pending.iter().map(|q| q.len()).sum();
    let by: Vec<f64> = stats.by_origin.iter().filter(|o| o.0 > 0).map(|o| o.1 / o.0 as f64).collect();
    metrics.set("mean_speed_mps", mean);
    metrics.set("density_veh_per_km", density);
    metrics.set("flow_veh_per_h", density * mean * 3.6);
    metrics.set("jammed", jammed as f64);
    metrics.set("vehicles_in_network", n as f64);
    metrics.set("trips_entered", stats.entered as f64);
    metrics.set("trips_completed", done as f64);
    metrics.set("trips_waiting", waiting as f64);
    metrics.set("mean_delay_s", if done > 0 { stats.delay_sum / done as f64 } else { 0.0 });
    metrics.set("mean_stops", if done > 0 { stats.stops_sum as f64 / done as f64 } else { 0.0 });
    metrics.set("queue_veh", st.link_halted.iter().map(|&x| f64::from(x)).sum());
    metrics.set("gridlock_events", stats.gridlock_events as f64);
    metrics.set("gridlocked_links", st.gridlocks.iter().map(|c| c.len()).sum::<usize>() as f64);
    metrics.set("throughput_veh_per_h", if hours > 0.0 { done as f64 / hours } else { 0.0 });
    metrics.set("delay_gini", gini(&by));
    metrics.set("reroutes", (stats.reroutes_done + reroutes) as f64);
    metrics.set("signal_conflicts", stats.signal_conflicts as f64);
    metrics.set("box_violations", stats.box_violations as f64);
    metrics.set("box_occupancy", st.box_count.iter().map(|&x| f64::from(x)).sum());
}

/// The city's part of summary.json: trip totals, delay by origin, and per-intersection
/// figures.
fn summary(world: &World) -> Value {
    let (Some(map), Some(stats)) = (world.get_resource::<CityMap>(), world.get_resource::<TripStats>()) else {
        return Value::Null;
    };
    let net = &map.0;
    let by_origin: serde_json::Map<String, Value> = stats
        .by_origin
        .iter()
        .enumerate()
        .filter(|(_, o)| o.0 > 0)
        .map(|(k, o)| {
            let mean = (o.1 / o.0 as f64 * 100.0).round() / 100.0;
            (net.nodes[k].name.clone(), json!({"trips": o.0, "mean_delay_s": mean}))
        })
        .collect();
    json!({
        "trips_entered": stats.entered,
        "trips_completed": stats.completed,
        "mean_delay_s": if stats.completed > 0 { stats.delay_sum / stats.completed as f64 } else { 0.0 },
        "gridlock_events": stats.gridlock_events,
        "forced_stops": stats.forced_stops,
        "signal_conflicts": stats.signal_conflicts,
        "box_violations": stats.box_violations,
        "delay_by_origin": by_origin,
        "intersections": signals::intersection_summary(world),
    })
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

    #[test]
    fn gini_values() {
        assert_eq!(gini(&[5.0, 5.0, 5.0]), 0.0);
        let g = gini(&[0.0, 0.0, 0.0, 10.0]);
        assert!((g - 0.75).abs() < 1e-12, "{g}");
    }
}
