//! Spawning the ring's vehicles and controllers, and the live changes of how many
//! vehicles there are and how many of them are automated.

use std::f64::consts::TAU;

use bevy::ecs::bundle::NoBundleEffect;

use super::*;

/// Spawns the ring's vehicles and controllers. Vehicles are spawned in one batch straight
/// into their final table (with `Cell` on the NaSch ring): no command holds a copy of
/// each vehicle, and no table is filled and then emptied by moving every vehicle to
/// another archetype — both kept their capacity, about 320 bytes per vehicle for the
/// rest of the run.
pub(super) fn spawn(world: &mut World) {
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
    ring.order = spawned.clone();
    // Controllers: the central one at the centre, sector ones beside the road.
    let k = cfg.controller.sectors;
    let central = world.resource_mut::<AgentIds>().alloc();
    world.spawn(controller_bundle(central, central, None, 0.0, 0.0, k));
    let mut sectors = Vec::new();
    for s in 0..k {
        let id = world.resource_mut::<AgentIds>().alloc();
        let th = (f64::from(s) + 0.5) / f64::from(k) * TAU;
        let r = ring.radius + ROADSIDE_OFFSET_M;
        world.spawn(controller_bundle(id, central, Some(s), (r * th.cos()) as f32, (r * th.sin()) as f32, k));
        sectors.push(id);
    }
    let mut ctl = world.resource_mut::<Controllers>();
    ctl.central = Some(central);
    ctl.sectors = sectors;
    world.insert_resource(ring);
    // Standby replicas of the central controller (security.failover), beside it; the
    // vehicles then follow whichever replica leads.
    if !crate::sim::security::failover::replicate_copies::<ControllerState>(world, 0, central, (15.0, 0.0)).is_empty() {
        for e in spawned {
            world.entity_mut(e).insert(LeaderView::new(0, central));
        }
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn vehicle_bundle(
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
        Agent { id, kind: VEHICLE },
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

/// How far outside the road the sector controllers stand, m.
pub(super) const ROADSIDE_OFFSET_M: f64 = 8.0;

pub(super) fn controller_bundle(
    id: AgentId,
    central: AgentId,
    sector: Option<u32>,
    x: f32,
    y: f32,
    sectors: u32,
) -> impl Bundle {
    (
        Agent { id, kind: CONTROLLER },
        Pose { x, y, heading: 0.0, speed: 0.0 },
        Decision::default(),
        Inbox::default(),
        Outbox::default(),
        ControllerState {
            sector,
            reports: Default::default(),
            // Only the central controller (and its standbys) hears sector summaries.
            summaries: if sector.is_none() { vec![None; sectors as usize] } else { Vec::new() },
            target: None,
            u: 0.0,
        },
        LeaderView::new(0, central),
    )
}

/// Live change of the vehicle count: add vehicles into the largest gaps or remove the
/// newest ones, then renumber the ring order.
pub(super) fn sync_vehicle_count(world: &mut World) {
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
    let follow = world
        .resource::<Controllers>()
        .central
        .filter(|_| world.resource::<crate::sim::Security>().config.failover.enabled());
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
            if let Some(c) = follow {
                // It follows the configured central controller until it hears a heartbeat.
                e.insert(LeaderView::new(0, c));
            }
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
pub(super) struct AutomatedInForce(pub(super) u32);

/// Live change of the number of automated vehicles (the experiment of Stern et al.
/// 2018: a wave forms among human drivers, then one vehicle's controller is switched
/// on). Vehicles spread evenly round the ring switch; a switched-on controller starts
/// from the vehicle's current speed.
pub(super) fn sync_automated(
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
