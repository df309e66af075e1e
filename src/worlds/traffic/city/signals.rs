//! Traffic lights and their controllers as agents. A light perceives the vehicles on its
//! approaches, decides which stage (set of compatible movements) to show and why, and
//! talks through the channel: fixed-time, actuated (gap-out/max-out), decentralized
//! max-pressure (Varaiya 2013) from its neighbours' queue messages, centralized green
//! waves from a city controller, and district controllers under a city controller. A
//! light that loses contact falls back to its own fixed-time plan.

use bevy::prelude::*;
use serde_json::{Value, json};

use super::{CityMap, CityState, MovLight, NONE};
use crate::sim::{
    Agent, AgentId, AgentIds, Coordination, CoordinationRes, Coordinator, Crashed, Decision, Dest, EventLog, Inbox,
    LeaderView, Outbox, Pose, SimClock,
};
use crate::worlds::traffic::config::{SignalConfig, SignalControl};
use crate::worlds::traffic::network::{Network, Turn};
use crate::worlds::traffic::{CONTROLLER, TRAFFIC_LIGHT, TrafficParams};

/// Light → upstream neighbour light: `[link, vehicles on it, halted, 0]`.
pub const MSG_QUEUE: &str = "queue_report";
/// Light → its controller: vehicles on its approaches heading `[east, west, north, south]`.
pub const MSG_LIGHT_REPORT: &str = "light_report";
/// Controller → light: `[cycle s, offset s, main direction 0..4 (E, W, N, S), main share]`.
pub const MSG_PLAN: &str = "signal_plan";
/// District → city controller: its lights' approach vehicles `[E, W, N, S]`.
pub const MSG_DISTRICT: &str = "district_summary";
/// City → district controller: `[cycle s, main direction, reference position m, main share]`.
pub const MSG_CITY: &str = "city_plan";

/// What a light shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LightState {
    Green,
    Yellow,
    AllRed,
}

/// How a light is choosing its stages right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    FixedTime,
    Actuated,
    MaxPressure,
    /// Following a controller's plan (green wave).
    Plan,
    /// Lost contact: its own fixed-time plan.
    Fallback,
}

impl Control {
    fn reason(self) -> &'static str {
        match self {
            Control::FixedTime => "fixed_time",
            Control::Actuated => "actuated",
            Control::MaxPressure => "max_pressure",
            Control::Plan => "coordinated_plan",
            Control::Fallback => "fallback_fixed_time_no_contact",
        }
    }
}

/// A coordinated plan received from a controller.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    pub cycle: f64,
    pub offset: f64,
    pub dir: u32,
    pub share: f64,
    pub tick: u64,
}

/// A traffic light agent at one node. The desktop app draws `stage`/`state` (with the
/// per-movement colours in `CityState::mov_light`).
#[derive(Component, Clone, Debug)]
pub struct Light {
    pub node: u32,
    /// Stage shown (or, in yellow and all-red, the stage being left).
    pub stage: u32,
    pub state: LightState,
    /// Stage that follows the change interval.
    pub next: u32,
    /// Tick the current state began.
    pub since: u64,
    pub control: Control,
    /// Last tick a vehicle was near the stop line on the green movements (actuated).
    pub last_demand: u64,
    /// Latest plan from a controller.
    pub plan: Option<Plan>,
    /// Downstream signalized neighbours: (exit link, vehicles on it, tick reported).
    pub neighbours: Vec<(u32, f32, u64)>,
    /// The stage carrying the through movement of each direction (E, W, N, S).
    pub dir_stage: [u32; 4],
    /// District (hierarchical coordination).
    pub district: u32,
    /// Last tick it heard from whoever coordinates it.
    pub contact: u64,
    /// Sensed this tick: per movement of the node (vehicles, halted, near the line),
    /// approach vehicles by direction, and halted vehicles in total.
    pub mov: Vec<(u32, u32, u32, u32)>,
    pub approach: [f32; 4],
    pub halted: u32,
    /// Each approach lane's queue, front first (at most 40): each vehicle's movement and
    /// whether it is within the detector distance of the stop line.
    pub queues: Vec<Vec<(u32, bool)>>,
    /// Max-pressure: each stage's pressure at the last decision.
    pub pressure: Vec<f32>,
    /// Statistics for summary.json.
    pub switches: u64,
    pub fallback_ticks: u64,
    pub queue_sum: f64,
    pub queue_max: u32,
    pub ticks: u64,
}

/// A city or district controller.
#[derive(Component, Clone, Debug)]
pub struct SignalController {
    /// `None` for the city controller.
    pub district: Option<u32>,
    /// Latest report per light node: (tick sent, approach vehicles by direction).
    pub reports: Vec<Option<(u64, [f32; 4])>>,
    /// Latest district summaries (city controller).
    pub summaries: Vec<Option<(u64, [f32; 4])>>,
    /// Latest city plan (district controllers): (tick, payload).
    pub city_plan: Option<(u64, [f32; 4])>,
}

/// The controller agents of the city.
#[derive(Resource, Clone, Debug, Default)]
pub struct SignalControllers {
    pub city: Option<AgentId>,
    pub districts: Vec<AgentId>,
    /// Node of each light by agent id (lights have the lowest ids).
    pub node_of_light: Vec<u32>,
}

/// (Re)inserts the signal state.
pub fn reset(world: &mut World) {
    world.insert_resource(SignalControllers::default());
}

fn dir_of(heading: f64) -> usize {
    let (c, s) = (heading.cos(), heading.sin());
    if c > 0.7 {
        0
    } else if c < -0.7 {
        1
    } else if s > 0.0 {
        2
    } else {
        3
    }
}

fn proj(dir: u32, x: f64, y: f64) -> f64 {
    match dir {
        0 => x,
        1 => -x,
        2 => y,
        _ => -y,
    }
}

/// A light agent for node `node`.
pub fn light_bundle(id: AgentId, node: u32, net: &Network, tick: u64) -> impl Bundle {
    let n = &net.nodes[node as usize];
    let mut dir_stage = [0u32; 4];
    for (d, ds) in dir_stage.iter_mut().enumerate() {
        let through = n.movements.iter().copied().find(|&m| {
            let mv = &net.movements[m as usize];
            mv.turn == Turn::Straight && dir_of(net.links[mv.from as usize].heading) == d
        });
        if let Some(m) = through {
            *ds = n.stages.iter().position(|s| s.contains(&m)).unwrap_or(0) as u32;
        }
    }
    let neighbours = n
        .outs
        .iter()
        .filter(|&&l| net.nodes[net.links[l as usize].to as usize].signal)
        .map(|&l| (l, 0.0, tick))
        .collect();
    (
        Agent { id, kind: TRAFFIC_LIGHT },
        Pose { x: n.x as f32, y: n.y as f32, heading: 0.0, speed: 0.0 },
        Decision { tick, action: "green", reason: "start", value: 0.0 },
        Inbox::default(),
        Outbox::default(),
        Light {
            node,
            stage: 0,
            state: LightState::Green,
            next: 0,
            since: tick,
            control: Control::FixedTime,
            last_demand: tick,
            plan: None,
            neighbours,
            dir_stage,
            district: 0,
            contact: tick,
            mov: Vec::new(),
            approach: [0.0; 4],
            halted: 0,
            queues: Vec::new(),
            pressure: Vec::new(),
            switches: 0,
            fallback_ticks: 0,
            queue_sum: 0.0,
            queue_max: 0,
            ticks: 0,
        },
    )
}

/// Spawns the city controller and the district controllers (`controller.sectors` of
/// them, tiling the map) and assigns lights to districts (the fleet spawns after them).
#[allow(clippy::too_many_arguments)]
pub(crate) fn spawn_controllers(
    mut commands: Commands,
    params: Res<TrafficParams>,
    map: Res<CityMap>,
    mut ids: ResMut<AgentIds>,
    mut st: ResMut<CityState>,
    mut ctl: ResMut<SignalControllers>,
    mut lights: Query<(&Agent, &mut Light)>,
) {
    let cfg = &params.0;
    let net = &map.0;
    let nn = net.nodes.len();
    let signal_nodes: Vec<usize> = (0..nn).filter(|&k| net.nodes[k].signal).collect();
    let (mut x0, mut y0, mut x1, mut y1) = (f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY);
    for n in &net.nodes {
        x0 = x0.min(n.x);
        y0 = y0.min(n.y);
        x1 = x1.max(n.x);
        y1 = y1.max(n.y);
    }
    if !x0.is_finite() {
        (x0, y0, x1, y1) = (0.0, 0.0, 0.0, 0.0);
    }
    let d = cfg.controller.sectors.max(1);
    let dx = (f64::from(d).sqrt().ceil() as u32).max(1);
    let dy = d.div_ceil(dx);
    let district = |x: f64, y: f64| {
        let ix = (((x - x0) / (x1 - x0).max(1e-9)) * f64::from(dx)).floor().clamp(0.0, f64::from(dx - 1)) as u32;
        let iy = (((y - y0) / (y1 - y0).max(1e-9)) * f64::from(dy)).floor().clamp(0.0, f64::from(dy - 1)) as u32;
        (iy * dx + ix).min(d - 1)
    };
    ctl.node_of_light.clear();
    for (a, mut l) in lights.iter_mut() {
        let n = &net.nodes[l.node as usize];
        l.district = district(n.x, n.y);
        let i = a.id.0 as usize;
        if ctl.node_of_light.len() <= i {
            ctl.node_of_light.resize(i + 1, NONE);
        }
        ctl.node_of_light[i] = l.node;
    }
    let centroid = |nodes: &[usize]| {
        if nodes.is_empty() {
            return ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
        }
        let k = nodes.len() as f64;
        (nodes.iter().map(|&i| net.nodes[i].x).sum::<f64>() / k, nodes.iter().map(|&i| net.nodes[i].y).sum::<f64>() / k)
    };
    let ctl_bundle = |id: AgentId, x: f64, y: f64, district: Option<u32>| {
        (
            Agent { id, kind: CONTROLLER },
            Pose { x: x as f32, y: y as f32, heading: 0.0, speed: 0.0 },
            Decision::default(),
            Inbox::default(),
            Outbox::default(),
            SignalController { district, reports: vec![None; nn], summaries: vec![None; d as usize], city_plan: None },
        )
    };
    let city = ids.alloc();
    let (cx, cy) = centroid(&signal_nodes);
    commands.spawn(ctl_bundle(city, cx, cy, None));
    ctl.city = Some(city);
    ctl.districts.clear();
    for k in 0..cfg.controller.sectors {
        let id = ids.alloc();
        let mine: Vec<usize> =
            signal_nodes.iter().copied().filter(|&i| district(net.nodes[i].x, net.nodes[i].y) == k).collect();
        let (x, y) = centroid(&mine);
        commands.spawn(ctl_bundle(id, x, y, Some(k)));
        ctl.districts.push(id);
    }
    // Unsignalized nodes let every movement through (the box rules still hold).
    for n in &net.nodes {
        if !n.signal {
            for &m in &n.movements {
                st.mov_light[m as usize] = MovLight::Green;
            }
        }
    }
}

/// Standby replicas of the city controller (security.failover), spawned after every other
/// agent, beside it; the lights and district controllers then follow whichever leads.
pub(crate) fn replicate_city(world: &mut World) {
    let Some(city) = world.resource::<SignalControllers>().city else { return };
    let standbys = crate::sim::security::failover::replicate_copies::<SignalController>(world, 0, city, (60.0, 0.0));
    if standbys.is_empty() {
        return;
    }
    let mut q = world.query_filtered::<Entity, Or<(With<Light>, With<SignalController>)>>();
    let clients: Vec<Entity> = q.iter(world).collect();
    for e in clients {
        if world.get::<Coordinator>(e).is_none() {
            world.entity_mut(e).insert(LeaderView::new(0, city));
        }
    }
}

impl Light {
    /// What a stage would serve now: per movement in it, the vehicles at the front of
    /// each approach lane bound for it before the first vehicle it does not serve (on a
    /// shared lane a left-turner at the head holds the through traffic behind it), and
    /// how many of those are near the stop line.
    pub fn served(&self, stage: &[u32]) -> Vec<(u32, u32, u32)> {
        let mut out: Vec<(u32, u32, u32)> = Vec::new();
        for q in &self.queues {
            for &(m, near) in q {
                if !stage.contains(&m) {
                    break;
                }
                match out.iter_mut().find(|o| o.0 == m) {
                    Some(o) => {
                        o.1 += 1;
                        o.2 += u32::from(near);
                    }
                    None => out.push((m, 1, u32::from(near))),
                }
            }
        }
        out
    }
}

/// Perceive: each light reads the vehicles on its approaches (its loop detectors).
pub(crate) fn perceive_lights(
    params: Res<TrafficParams>,
    map: Res<CityMap>,
    st: Res<CityState>,
    mut q: Query<&mut Light, Without<Crashed>>,
) {
    let net = &map.0;
    let detector = params.0.city.signals.detector_m;
    for mut l in q.iter_mut() {
        let l = &mut *l;
        let n = &net.nodes[l.node as usize];
        l.queues.clear();
        for &i in &n.ins {
            let link = &net.links[i as usize];
            for k in link.first_lane..link.first_lane + link.lanes {
                let len = net.lanes[k as usize].length;
                let q: Vec<(u32, bool)> = st.occupants[k as usize]
                    .iter()
                    .take(40)
                    .map_while(|&v| {
                        let s = st.snap[v as usize];
                        let m = (s.next != NONE).then(|| net.movement(i, s.next)).flatten()?;
                        Some((m, len - s.s <= detector))
                    })
                    .collect();
                l.queues.push(q);
            }
        }
        l.mov.clear();
        for &m in &n.movements {
            let i = m as usize;
            l.mov.push((m, st.mov_count[i], st.mov_halted[i], st.mov_near[i]));
        }
        l.approach = [0.0; 4];
        l.halted = 0;
        for &i in &n.ins {
            let li = i as usize;
            l.approach[dir_of(net.links[li].heading)] += st.link_count[li] as f32;
            l.halted += st.link_halted[li];
        }
    }
}

/// The order and greens of a fixed plan: stages from `main`, greens in seconds. Greens
/// split the cycle's green time by the stages' `weights` (a stage with through
/// movements carries more traffic than a protected-left stage); a coordinated plan
/// gives the main stage `share` of it and splits the rest by weight. No green is
/// shorter than `min_green_s`.
fn plan_greens(weights: &[f64], main: usize, share: Option<f64>, cycle: f64, sig: &SignalConfig) -> Vec<(u32, f64)> {
    let n = weights.len().max(1);
    let w = |s: usize| weights.get(s).copied().unwrap_or(1.0).max(1e-9);
    let lost = n as f64 * (sig.yellow_s + sig.all_red_s);
    let g = (cycle - lost).max(n as f64 * sig.min_green_s);
    let total: f64 = (0..n).map(w).sum();
    let rest: f64 = (1..n).map(|k| w((main + k) % n)).sum();
    (0..n)
        .map(|k| {
            let s = (main + k) % n;
            let green = match share {
                Some(sh) if n > 1 => {
                    if k == 0 {
                        sh * g
                    } else {
                        (1.0 - sh) * g * w(s) / rest
                    }
                }
                _ => g * w(s) / total,
            };
            (s as u32, green.max(sig.min_green_s))
        })
        .collect()
}

/// Stage weights for splitting green time: 1 + 2 per through movement.
pub fn stage_weights(net: &Network, node: u32) -> Vec<f64> {
    net.nodes[node as usize]
        .stages
        .iter()
        .map(|s| 1.0 + 2.0 * s.iter().filter(|&&m| net.movements[m as usize].turn == Turn::Straight).count() as f64)
        .collect()
}

/// The stage a fixed plan wants at time `t_s`: the one whose green is running, or the
/// next one during the change interval after a green.
fn fixed_desired(greens: &[(u32, f64)], t_s: f64, offset: f64, sig: &SignalConfig) -> u32 {
    let change = sig.yellow_s + sig.all_red_s;
    let cycle: f64 = greens.iter().map(|g| g.1 + change).sum();
    let mut tau = (t_s - offset).rem_euclid(cycle.max(1e-9));
    for (k, &(s, g)) in greens.iter().enumerate() {
        if tau < g {
            return s;
        }
        tau -= g;
        if tau < change {
            return greens[(k + 1) % greens.len()].0;
        }
        tau -= change;
    }
    greens[0].0
}

/// Decide: each light chooses the stage it wants under its control mode, runs the
/// green → yellow → all-red → green change, and sends its messages.
#[allow(clippy::too_many_arguments)]
#[allow(clippy::type_complexity)]
pub(crate) fn decide_lights(
    clock: Res<SimClock>,
    params: Res<TrafficParams>,
    coord: Res<CoordinationRes>,
    map: Res<CityMap>,
    st: Res<CityState>,
    ctl: Res<SignalControllers>,
    mut log: ResMut<EventLog>,
    mut q: Query<(&Agent, &mut Light, &Inbox, &mut Outbox, &mut Decision, Option<&LeaderView>), Without<Crashed>>,
) {
    let cfg = &params.0;
    let sig = &cfg.city.signals;
    let net = &map.0;
    let now = clock.tick;
    let dt = clock.dt;
    let t_s = now as f64 * dt;
    let coord = coord.0;
    let timeout = (sig.contact_timeout_s / dt).ceil() as u64;
    let report = now.is_multiple_of(sig.report_every_ticks.max(1));
    let routing = &cfg.city.routing;
    for (agent, mut l, inbox, mut out, mut dec, view) in q.iter_mut() {
        let l = &mut *l;
        let node = &net.nodes[l.node as usize];
        let ns = node.stages.len().max(1);
        let weights = stage_weights(net, l.node);
        // Messages.
        for m in &inbox.0 {
            match m.kind {
                MSG_QUEUE => {
                    let link = m.payload[0] as u32;
                    if let Some(e) = l.neighbours.iter_mut().find(|e| e.0 == link)
                        && m.sent >= e.2
                    {
                        e.1 = m.payload[1];
                        e.2 = m.sent;
                    }
                }
                MSG_PLAN if l.plan.is_none_or(|p| m.sent >= p.tick) => {
                    l.plan = Some(Plan {
                        cycle: f64::from(m.payload[0]),
                        offset: f64::from(m.payload[1]),
                        dir: (m.payload[2] as u32).min(3),
                        share: f64::from(m.payload[3]),
                        tick: m.sent,
                    });
                }
                _ => {}
            }
        }
        // Contact with whoever coordinates it.
        let contact = match coord {
            Coordination::None => now,
            Coordination::Decentralized => l.neighbours.iter().map(|e| e.2).min().unwrap_or(now),
            Coordination::Centralized | Coordination::Hierarchical => {
                l.plan.map_or(l.contact, |p| p.tick.max(l.contact))
            }
        };
        let lost = now.saturating_sub(contact) > timeout;
        let control = match coord {
            Coordination::None => match sig.control {
                SignalControl::FixedTime => Control::FixedTime,
                SignalControl::Actuated => Control::Actuated,
            },
            _ if lost => Control::Fallback,
            Coordination::Decentralized => Control::MaxPressure,
            _ if l.plan.is_some() => Control::Plan,
            _ => Control::FixedTime,
        };
        if (control == Control::Fallback) != (l.control == Control::Fallback) {
            let (kind, why) = if control == Control::Fallback {
                ("signal_fallback", "no_contact")
            } else {
                ("signal_contact_restored", "messages_again")
            };
            log.push(
                now,
                kind,
                Some(agent.id.0),
                [("node", json!(node.name)), ("reason", json!(why)), ("silent_ticks", json!(now - contact.min(now)))],
            );
        }
        l.control = control;
        if control == Control::Fallback {
            l.fallback_ticks += 1;
        }
        let elapsed = (now - l.since) as f64 * dt;
        let cur = l.stage as usize;
        let demand = |s: usize, l: &Light| -> u32 {
            node.stages.get(s).map_or(0, |st| l.served(st).iter().map(|m| m.1).sum::<u32>())
        };
        let desired: u32 = if ns == 1 {
            0
        } else {
            match control {
                Control::FixedTime | Control::Fallback => {
                    fixed_desired(&plan_greens(&weights, 0, None, sig.cycle_s, sig), t_s, 0.0, sig)
                }
                Control::Plan => {
                    let p = l.plan.expect("plan mode has a plan");
                    let main = l.dir_stage[p.dir as usize] as usize;
                    fixed_desired(&plan_greens(&weights, main, Some(p.share), p.cycle, sig), t_s, p.offset, sig)
                }
                Control::Actuated => {
                    let green_movs = node.stages.get(cur).cloned().unwrap_or_default();
                    if l.state == LightState::Green && l.served(&green_movs).iter().any(|m| m.2 > 0) {
                        l.last_demand = now;
                    }
                    let gap = (now - l.last_demand.max(l.since)) as f64 * dt;
                    if l.state != LightState::Green || elapsed < sig.min_green_s {
                        l.stage
                    } else if elapsed >= sig.max_green_s || gap >= sig.gap_s {
                        (1..ns).map(|k| (cur + k) % ns).find(|&s| demand(s, l) > 0).map_or(l.stage, |s| s as u32)
                    } else {
                        l.stage
                    }
                }
                Control::MaxPressure => {
                    // Varaiya (2013): the weight of movement (i→j) is the vehicles on i
                    // bound for j less the vehicles on j spread over j's own movements;
                    // the stage with the largest total weight gets the green. Links
                    // store finitely many vehicles (Varaiya's queues are unbounded), so
                    // a movement into a full link does not count: serving it moves no
                    // one (in the spirit of the capacity-aware variant of Gregoire et
                    // al. 2015).
                    // The upstream count of a movement is what the stage would serve
                    // (see `Light::served`), so a blocked shared lane adds no pressure.
                    let pressure = |s: usize| -> f64 {
                        let weights: Vec<f64> = l
                            .served(&node.stages[s])
                            .iter()
                            .filter_map(|&(m, up, _)| {
                                let mv = &net.movements[m as usize];
                                let up = f64::from(up);
                                let down = l.neighbours.iter().find(|e| e.0 == mv.to).map_or(0.0, |e| f64::from(e.1));
                                let to = &net.links[mv.to as usize];
                                let storage: u32 = (to.first_lane..to.first_lane + to.lanes)
                                    .map(|k| net.lanes[k as usize].capacity)
                                    .sum();
                                if down >= f64::from(storage) - 0.5 {
                                    return None;
                                }
                                let outs = net.nodes[net.links[mv.to as usize].to as usize]
                                    .movements
                                    .iter()
                                    .filter(|&&k| net.movements[k as usize].from == mv.to)
                                    .count()
                                    .max(1) as f64;
                                Some(up - down / outs)
                            })
                            .collect();
                        // A stage that can move nobody ranks below every stage that can
                        // move someone, even at a negative pressure; otherwise a light
                        // whose every green exit is full would hold that green forever
                        // while its red approaches have room.
                        if weights.is_empty() { f64::NEG_INFINITY } else { weights.iter().sum() }
                    };
                    let ps: Vec<f64> = (0..ns).map(pressure).collect();
                    l.pressure = ps.iter().map(|&p| p as f32).collect();
                    if l.state != LightState::Green || elapsed < sig.min_green_s {
                        l.stage
                    } else {
                        let mut best = (cur, ps[cur]);
                        for (s, &p) in ps.iter().enumerate() {
                            if p > best.1 + 1e-9 {
                                best = (s, p);
                            }
                        }
                        best.0 as u32
                    }
                }
            }
        };
        // The change interval.
        match l.state {
            LightState::Green => {
                if desired != l.stage && (elapsed >= sig.min_green_s || control != l.control) {
                    l.next = desired;
                    l.state = LightState::Yellow;
                    l.since = now;
                    l.switches += 1;
                }
            }
            LightState::Yellow => {
                if elapsed + 1e-9 >= sig.yellow_s {
                    l.state = LightState::AllRed;
                    l.since = now;
                }
            }
            LightState::AllRed => {
                if elapsed + 1e-9 >= sig.all_red_s {
                    l.stage = l.next;
                    l.state = LightState::Green;
                    l.since = now;
                    l.last_demand = now;
                }
            }
        }
        let action = match l.state {
            LightState::Green => "green",
            LightState::Yellow => "yellow",
            LightState::AllRed => "all_red",
        };
        *dec = Decision { tick: now, action, reason: control.reason(), value: l.stage as f32 };
        // Messages out.
        if report {
            match coord {
                Coordination::Decentralized => {
                    for &i in &node.ins {
                        let up = net.links[i as usize].from;
                        if let Some(to) = st.light_of_node[up as usize] {
                            let li = i as usize;
                            out.send(
                                agent.id,
                                Dest::To(to),
                                MSG_QUEUE,
                                32,
                                now,
                                [i as f32, st.link_count[li] as f32, st.link_halted[li] as f32, 0.0],
                            );
                        }
                    }
                }
                Coordination::Centralized | Coordination::Hierarchical => {
                    let to = if coord == Coordination::Centralized {
                        view.map(|v| v.leader).or(ctl.city)
                    } else {
                        ctl.districts.get(l.district as usize).copied()
                    };
                    if let Some(to) = to {
                        out.send(agent.id, Dest::To(to), MSG_LIGHT_REPORT, 48, now, l.approach);
                    }
                }
                Coordination::None => {}
            }
        }
        if routing.reroute && now.is_multiple_of(routing.broadcast_every_ticks.max(1)) {
            for &i in &node.ins {
                let li = i as usize;
                let lanes = f64::from(net.links[li].lanes);
                let halted = f64::from(st.link_halted[li]);
                if halted / lanes >= routing.congestion_queue_veh {
                    out.send(
                        agent.id,
                        Dest::Near(routing.broadcast_m as f32),
                        super::MSG_CONGESTION,
                        32,
                        now,
                        [i as f32, halted as f32, (halted / lanes * 2.0) as f32, 0.0],
                    );
                }
            }
        }
    }
}

/// Decide for controllers: the city controller (centralized) turns light reports into
/// green-wave offsets; in hierarchical mode districts summarise to the city controller,
/// which picks the direction and reference, and districts send their lights the plans
/// (on their own if the city controller is silent).
#[allow(clippy::too_many_arguments)]
#[allow(clippy::type_complexity)]
pub(crate) fn decide_controllers(
    clock: Res<SimClock>,
    params: Res<TrafficParams>,
    coord: Res<CoordinationRes>,
    map: Res<CityMap>,
    st: Res<CityState>,
    ctl: Res<SignalControllers>,
    lights: Query<&Light>,
    mut q: Query<
        (&Agent, &mut SignalController, &Inbox, &mut Outbox, &mut Decision, Option<&LeaderView>, Option<&Coordinator>),
        Without<Crashed>,
    >,
) {
    let coord = coord.0;
    if !matches!(coord, Coordination::Centralized | Coordination::Hierarchical) {
        return;
    }
    let cfg = &params.0;
    let sig = &cfg.city.signals;
    let net = &map.0;
    let now = clock.tick;
    let timeout = (sig.contact_timeout_s / clock.dt).ceil() as u64;
    let send_now = now.is_multiple_of(sig.report_every_ticks.max(1));
    let v = sig.progression_mps.unwrap_or_else(|| {
        let p = super::idm(cfg);
        net.links.iter().map(|l| l.speed).fold(0.0, f64::max).min(p.v0).max(1.0)
    });
    let district_of: Vec<(u32, u32)> = {
        let mut v: Vec<(u32, u32)> = lights.iter().map(|l| (l.node, l.district)).collect();
        v.sort_unstable();
        v
    };
    let light_nodes: Vec<u32> = district_of.iter().map(|d| d.0).collect();
    let argmax = |t: &[f32; 4]| (0..4).fold(0usize, |b, k| if t[k] > t[b] { k } else { b }) as u32;
    for (agent, mut c, inbox, mut out, mut dec, view, replica) in q.iter_mut() {
        if let Some(r) = replica.filter(|r| !r.leads()) {
            // A standby replica of the city controller: only its election runs.
            *dec = Decision { tick: now, action: "standby", reason: "follower", value: r.replica.term as f32 };
            continue;
        }
        let c = &mut *c;
        for m in &inbox.0 {
            match m.kind {
                MSG_LIGHT_REPORT => {
                    if let Some(&node) = ctl.node_of_light.get(m.from.0 as usize)
                        && node != NONE
                    {
                        c.reports[node as usize] = Some((m.sent, m.payload));
                    }
                }
                MSG_DISTRICT => {
                    if let Some(k) = ctl.districts.iter().position(|&d| d == m.from) {
                        c.summaries[k] = Some((m.sent, m.payload));
                    }
                }
                MSG_CITY => c.city_plan = Some((m.sent, m.payload)),
                _ => {}
            }
        }
        let fresh = |t: u64| now.saturating_sub(t) <= timeout;
        let mut totals = [0.0f32; 4];
        let mut heard = 0;
        for r in c.reports.iter().flatten() {
            if fresh(r.0) {
                heard += 1;
                for (t, x) in totals.iter_mut().zip(r.1) {
                    *t += x;
                }
            }
        }
        let send_plans = |out: &mut Outbox, nodes: &[u32], dir: u32, reference: f64, cycle: f64| {
            for &n in nodes {
                let Some(to) = st.light_of_node[n as usize] else { continue };
                let node = &net.nodes[n as usize];
                let offset = ((proj(dir, node.x, node.y) - reference) / v).rem_euclid(cycle);
                out.send(
                    agent.id,
                    Dest::To(to),
                    MSG_PLAN,
                    48,
                    now,
                    [cycle as f32, offset as f32, dir as f32, sig.main_share as f32],
                );
            }
        };
        let reference = |nodes: &[u32], dir: u32| {
            nodes
                .iter()
                .map(|&n| proj(dir, net.nodes[n as usize].x, net.nodes[n as usize].y))
                .fold(f64::INFINITY, f64::min)
        };
        match (coord, c.district) {
            (Coordination::Centralized, None) => {
                if heard > 0 {
                    let dir = argmax(&totals);
                    if send_now {
                        send_plans(&mut out, &light_nodes, dir, reference(&light_nodes, dir), sig.cycle_s);
                    }
                    *dec = Decision { tick: now, action: "set_offsets", reason: "fresh_reports", value: dir as f32 };
                } else {
                    *dec = Decision { tick: now, action: "wait", reason: "no_reports", value: 0.0 };
                }
            }
            (Coordination::Hierarchical, None) => {
                let mut t = [0.0f32; 4];
                let mut any = false;
                for s in c.summaries.iter().flatten() {
                    if fresh(s.0) {
                        any = true;
                        for (t, x) in t.iter_mut().zip(s.1) {
                            *t += x;
                        }
                    }
                }
                if any {
                    let dir = argmax(&t);
                    if send_now {
                        let r = reference(&light_nodes, dir);
                        for &d in &ctl.districts {
                            out.send(
                                agent.id,
                                Dest::To(d),
                                MSG_CITY,
                                48,
                                now,
                                [sig.cycle_s as f32, dir as f32, r as f32, sig.main_share as f32],
                            );
                        }
                    }
                    *dec = Decision {
                        tick: now,
                        action: "set_direction",
                        reason: "district_summaries",
                        value: dir as f32,
                    };
                } else {
                    *dec = Decision { tick: now, action: "wait", reason: "no_summaries", value: 0.0 };
                }
            }
            (Coordination::Hierarchical, Some(k)) => {
                let mine: Vec<u32> = district_of.iter().filter(|d| d.1 == k).map(|d| d.0).collect();
                if send_now
                    && heard > 0
                    && let Some(city) = view.map(|v| v.leader).or(ctl.city)
                {
                    out.send(agent.id, Dest::To(city), MSG_DISTRICT, 48, now, totals);
                }
                let city_plan = c.city_plan.filter(|p| fresh(p.0));
                let (dir, r, reason) = match city_plan {
                    Some((_, p)) => (p[1] as u32, f64::from(p[2]), "city_plan"),
                    None => {
                        let dir = argmax(&totals);
                        (dir, reference(&mine, dir), "district_local_no_city")
                    }
                };
                if heard > 0 || city_plan.is_some() {
                    if send_now {
                        send_plans(&mut out, &mine, dir.min(3), r, sig.cycle_s);
                    }
                    *dec = Decision { tick: now, action: "set_offsets", reason, value: dir as f32 };
                } else {
                    *dec = Decision { tick: now, action: "wait", reason: "no_reports", value: 0.0 };
                }
            }
            _ => {}
        }
    }
}

/// Act: lights switch; every movement's signal is written where vehicles read it. A
/// crashed light goes dark: an all-way stop.
pub(crate) fn apply_lights(map: Res<CityMap>, mut st: ResMut<CityState>, q: Query<(&Light, Has<Crashed>)>) {
    let net = &map.0;
    for (l, crashed) in q.iter() {
        let node = &net.nodes[l.node as usize];
        let cur = node.stages.get(l.stage as usize);
        let next = node.stages.get(l.next as usize);
        for &m in &node.movements {
            let in_cur = cur.is_some_and(|s| s.contains(&m));
            let in_next = next.is_some_and(|s| s.contains(&m));
            st.mov_light[m as usize] = if crashed {
                MovLight::Flash
            } else {
                match l.state {
                    LightState::Green if in_cur => MovLight::Green,
                    LightState::Yellow if in_cur && in_next => MovLight::Green,
                    LightState::Yellow if in_cur => MovLight::Yellow,
                    LightState::AllRed if in_cur && in_next => MovLight::Green,
                    _ => MovLight::Red,
                }
            };
        }
    }
}

/// Measure: lights in fallback, and per-light statistics.
pub(crate) fn measure_lights(mut metrics: ResMut<crate::sim::Metrics>, mut q: Query<&mut Light>) {
    let mut fallback = 0;
    for mut l in q.iter_mut() {
        if l.control == Control::Fallback {
            fallback += 1;
        }
        l.ticks += 1;
        l.queue_sum += f64::from(l.halted);
        l.queue_max = l.queue_max.max(l.halted);
    }
    metrics.set("lights_fallback", f64::from(fallback));
}

/// Per-intersection figures for summary.json, by node name.
pub(crate) fn intersection_summary(world: &World) -> Value {
    let Some(map) = world.get_resource::<CityMap>() else { return Value::Null };
    let mut rows: Vec<(u32, Value)> = Vec::new();
    if let Some(mut q) = world.try_query::<(&Agent, &Light)>() {
        for (a, l) in q.iter(world) {
            let mean = if l.ticks > 0 { l.queue_sum / l.ticks as f64 } else { 0.0 };
            rows.push((
                l.node,
                json!({
                    "agent": a.id.0,
                    "stages": map.0.nodes[l.node as usize].stages.len(),
                    "mean_queue_veh": (mean * 100.0).round() / 100.0,
                    "max_queue_veh": l.queue_max,
                    "switches": l.switches,
                    "fallback_s": l.fallback_ticks as f64 * world.resource::<SimClock>().dt,
                    "control": l.control.reason(),
                }),
            ));
        }
    }
    rows.sort_by_key(|r| r.0);
    let m: serde_json::Map<String, Value> =
        rows.into_iter().map(|(k, v)| (map.0.nodes[k as usize].name.clone(), v)).collect();
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_plan_walks_its_stages() {
        let sig = SignalConfig { cycle_s: 80.0, yellow_s: 3.0, all_red_s: 2.0, ..Default::default() };
        let g = plan_greens(&[1.0; 4], 0, None, 80.0, &sig);
        assert_eq!(g.len(), 4);
        assert!((g[0].1 - 15.0).abs() < 1e-9);
        assert_eq!(fixed_desired(&g, 0.0, 0.0, &sig), 0);
        assert_eq!(fixed_desired(&g, 14.9, 0.0, &sig), 0);
        assert_eq!(fixed_desired(&g, 15.1, 0.0, &sig), 1); // change interval: next stage
        assert_eq!(fixed_desired(&g, 20.5, 0.0, &sig), 1);
        assert_eq!(fixed_desired(&g, 79.0, 0.0, &sig), 0);
        // Offsets shift the schedule.
        assert_eq!(fixed_desired(&g, 10.0, 20.0, &sig), 3);
        // A plan with a main stage and share.
        let g = plan_greens(&[1.0; 4], 1, Some(0.4), 80.0, &sig);
        assert_eq!(g[0].0, 1);
        assert!((g[0].1 - 24.0).abs() < 1e-9);
        // Weights: through stages get the green time, short stages keep min_green_s.
        let g = plan_greens(&[5.0, 5.0, 1.0, 1.0], 0, None, 80.0, &sig);
        assert!((g[0].1 - 25.0).abs() < 1e-9 && (g[2].1 - 6.0).abs() < 1e-9, "{g:?}");
    }
}
