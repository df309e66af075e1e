//! The ring's vehicles every tick: perceiving the vehicle ahead, deciding how to drive
//! under each coordination strategy, moving, and keeping road space uncontended.

use std::sync::atomic::{AtomicU64, Ordering};

use rand::RngExt;

use super::security::{HIJACK_BRAKE_S, HIJACK_DECEL, HIJACK_PERIOD_S};
use crate::sim::Hijacked;
use crate::sim::security::{Aggregation, Security, mark_lie};

use super::*;

/// Perceive: gap to and speed of the vehicle ahead, within sensor range.
pub(super) fn perceive(
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
pub(super) fn decide_vehicles(
    clock: Res<SimClock>,
    params: Res<TrafficParams>,
    coord: Res<CoordinationRes>,
    ring: Res<RingRoad>,
    ctl: Res<Controllers>,
    mut sec: ResMut<Security>,
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
            (Option<&Hijacked>, Option<&LeaderView>),
        ),
        Without<Crashed>,
    >,
) {
    let aggregation = sec.config.aggregation;
    let lies = AtomicU64::new(0);
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
    q.par_iter_mut().for_each(
        |(agent, mut v, p, inbox, mut link, mut dec, mut out, mut rng, cell, (hijacked, view))| {
            // What arrived. V2V beacons from the vehicles around give a consensus speed.
            let (mut heard, mut heard_sum) = (0u32, 0.0f64);
            let mut heard_speeds: Vec<f64> = Vec::new();
            for m in &inbox.0 {
                match m.kind {
                    MSG_V2V => {
                        heard += 1;
                        heard_sum += f64::from(m.payload[0]);
                        if aggregation != Aggregation::Mean {
                            heard_speeds.push(f64::from(m.payload[0]));
                        }
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
                            let mean = if aggregation == Aggregation::Mean {
                                (heard_sum + v.speed) / f64::from(heard + 1)
                            } else {
                                aggregation.combine(Some(v.speed), &mut heard_speeds).unwrap_or(v.speed)
                            };
                            let consensus = mean.max(0.5 * ip.equilibrium_speed(gap)).min(ip.v0);
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
                    if let Some(h) = hijacked
                        && brake_check(now, h.since, dt)
                    {
                        // Hijacked: a hard brake check, whatever the controller says.
                        v.accel = -HIJACK_DECEL;
                        *dec = Decision {
                            tick: now,
                            action: "hijacked_brake_check",
                            reason: "hijacked",
                            value: v.accel as f32,
                        };
                    } else {
                        v.accel = a;
                        *dec = Decision { tick: now, action: action_name(mode), reason, value: a as f32 };
                    }
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
                    if let Some(h) = hijacked
                        && brake_check(now, h.since, dt)
                    {
                        c.v = 0;
                        *dec = Decision { tick: now, action: "hijacked_brake_check", reason: "hijacked", value: 0.0 };
                    } else {
                        c.v = nv;
                        *dec = Decision {
                            tick: now,
                            action: action_name(mode),
                            reason: if dawdle { "random_slowdown" } else { reason },
                            value: nv as f32,
                        };
                    }
                }
                (CarFollowing::Nasch(_), None) => {}
            }
            // Messages.
            let speed_now = match &cfg.model {
                CarFollowing::Nasch(np) => f64::from(dec.value) * np.cell_m / dt,
                CarFollowing::Idm(_) => v.speed,
            };
            if coord == Coordination::Decentralized && beacon {
                // A hijacked vehicle claims to cruise at its mean speed, whatever it does.
                let (speed, accel) = if hijacked.is_some() { (v.u_avg, 0.0) } else { (speed_now, v.accel) };
                out.send(
                    agent.id,
                    Dest::Near(d.v2v_range_m as f32),
                    MSG_V2V,
                    200,
                    now,
                    [speed as f32, accel as f32, v.pos as f32, 0.0],
                );
                if hijacked.is_some() {
                    lies.fetch_add(mark_lie(&mut out), Ordering::Relaxed);
                }
            }
            if report && matches!(coord, Coordination::Centralized | Coordination::Hierarchical) && !v.automated {
                let to = if coord == Coordination::Hierarchical && sectors > 0 {
                    let k = ((v.pos / length * f64::from(sectors)) as u32).min(sectors - 1);
                    ctl.sectors[k as usize]
                } else {
                    match (view, ctl.central) {
                        (Some(v), _) => v.leader,
                        (None, Some(c)) => c,
                        (None, None) => return,
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
        },
    );
    sec.stats.attack_sent += lies.into_inner();
}

/// Whether a vehicle hijacked at `since` is in one of its brake checks at `now`.
fn brake_check(now: u64, since: u64, dt: f64) -> bool {
    (now.saturating_sub(since) as f64 * dt) % HIJACK_PERIOD_S < HIJACK_BRAKE_S
}

pub(super) fn action_name(m: Mode) -> &'static str {
    match m {
        Mode::Human => "human_driving",
        Mode::Cooperative => "cooperative_following",
        Mode::Advised => "follow_advice",
        Mode::Fallback => "sensor_only_failsafe",
        Mode::Automated => "automated_wave_damping",
    }
}

/// Act: move vehicles. A crashed vehicle's computer is down: it brakes to a standstill.
pub(super) fn act(
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

#[derive(Resource, Default)]
pub(super) struct Overlaps(u64);

/// Resolve: road space is the contended resource — no vehicle may overlap the one
/// ahead. Continuous models can overshoot within a tick; such a vehicle is put back
/// behind its leader at the leader's speed, and the event is counted.
pub(super) fn resolve(
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
