//! The ring's misbehaviour detection on V2V beacons (after F2MD, Kamel et al., "F2MD:
//! Simulation Framework for Misbehavior Detection in Vehicular Networks", IEEE TVT 2020,
//! and its VeReMi checks): a beacon `[speed, accel, pos, —]` is implausible when its
//! speed or acceleration is out of range, when its position does not follow from the
//! sender's previous beacon and the speeds both claim, when it is older than the last one
//! by more than the channel's jitter (a replay), when beacons come faster than the
//! beacon period, when it contradicts the receiver's own sensor (the leader's measured
//! speed, or a vehicle claimed in the gap the sensor sees empty), or when a sender
//! unheard so far appears well inside radio range (a ghost). Thresholds follow the
//! model's own limits, so that a noise-free genuine run flags nobody.

use super::*;
use crate::sim::Message;
use crate::sim::security::Security;

/// A vehicle's hardest physical braking, m/s² (dry asphalt, about 0.9 g): genuine IDM
/// beacons never claim or show more (NaSch vehicles may stop within a tick).
pub const MAX_DECEL: f64 = 9.0;

/// How hard a hijacked vehicle brakes, m/s², and its pattern: it brake-checks for
/// `HIJACK_BRAKE_S` out of every `HIJACK_PERIOD_S`, while its beacons claim cruising.
pub const HIJACK_DECEL: f64 = 8.0;
pub const HIJACK_BRAKE_S: f64 = 4.0;
pub const HIJACK_PERIOD_S: f64 = 20.0;

/// Limits of what a genuine beacon can say.
#[derive(Clone, Copy, Debug)]
pub(super) struct Limits {
    vmax: f64,
    amax: f64,
    dmax: f64,
    /// Slack of the position check, m.
    pos_slack: f64,
    cell_m: f64,
}

impl Limits {
    pub(super) fn of(cfg: &TrafficConfig, dt: f64) -> Limits {
        match &cfg.model {
            CarFollowing::Idm(p) => {
                Limits { vmax: 1.1 * p.v0 + 1.0, amax: p.a + 1.0, dmax: MAX_DECEL, pos_slack: 0.5, cell_m: 0.0 }
            }
            CarFollowing::Nasch(p) => {
                let vmax = f64::from(p.vmax) * p.cell_m / dt;
                // A NaSch vehicle changes speed by a cell per tick up, anything down.
                Limits {
                    vmax: vmax + 0.01,
                    amax: p.cell_m / (dt * dt) + 0.01,
                    dmax: vmax / dt + 0.01,
                    pos_slack: p.cell_m,
                    cell_m: p.cell_m,
                }
            }
        }
    }
}

/// What every check of a tick shares: the limits, the ring, the clock and the channel.
#[derive(Clone, Copy, Debug)]
pub(super) struct Ctx {
    pub lim: Limits,
    /// Vehicle length and ring length, m.
    pub length: f64,
    pub ring_len: f64,
    pub now: u64,
    pub dt: f64,
    /// Beacon period and the channel's jitter, ticks.
    pub beacon_every: u64,
    pub jitter: u64,
    /// Radio range, m, and the ticks before a new sender counts as appearing.
    pub range: f64,
    pub warmup: u64,
}

/// The verdict on one beacon `m` that `me` received.
pub(super) fn check(
    m: &Message,
    prev: Option<&Message>,
    me: &Vehicle,
    p: &Perception,
    ctx: &Ctx,
) -> Result<(), &'static str> {
    let Ctx { lim, length, ring_len, now, dt, beacon_every, jitter, range, warmup } = *ctx;
    let (speed, accel, pos) = (f64::from(m.payload[0]), f64::from(m.payload[1]), f64::from(m.payload[2]));
    if !(speed.is_finite() && accel.is_finite() && pos.is_finite()) {
        return Err("not_a_number");
    }
    if speed < -0.01 || speed > lim.vmax {
        return Err("speed_range");
    }
    if accel > lim.amax + 1e-6 || accel < -lim.dmax {
        return Err("acceleration_range");
    }
    let age = now.saturating_sub(m.sent) as f64 * dt;
    let fwd = |from: f64, to: f64| (to - from).rem_euclid(ring_len);
    // The receiver's sensor: the leader's speed it measures, and the empty gap it sees.
    let latency_slack = 1.0 + (lim.amax + lim.dmax) * age + lim.cell_m / dt;
    if Some(m.from) == p.target {
        if (speed - f64::from(p.target_speed_mps)).abs() > latency_slack {
            return Err("sensor_mismatch");
        }
    } else {
        // A vehicle whose front is d metres ahead occupies [d − length, d]; the sensor
        // sees the first `distance_m` metres clear (up to the leader's rear or its range).
        let d = fwd(me.pos, pos);
        if d < f64::from(p.distance_m) + length - lim.vmax * age - 1.0 - 2.0 * lim.cell_m {
            return Err("sensor_mismatch");
        }
    }
    match prev {
        Some(q) => {
            // Reordering by the channel's jitter is normal; anything older is a replay.
            if q.sent == m.sent || q.sent > m.sent + jitter {
                return Err("stale_beacon");
            }
            if m.sent > q.sent && m.sent - q.sent < beacon_every {
                return Err("beacon_rate");
            }
            if m.sent > q.sent {
                let t = (m.sent - q.sent) as f64 * dt;
                let moved = fwd(f64::from(q.payload[2]), pos);
                let moved = if moved > ring_len - 1.0 { moved - ring_len } else { moved };
                let (v0, v1) = (f64::from(q.payload[0]), speed);
                let (lo, hi) = if lim.cell_m > 0.0 {
                    // NaSch: any braking, so only the speed limit bounds the distance.
                    (0.0, lim.vmax * t)
                } else {
                    // With acceleration in [−dmax, amax], the distance between two speeds
                    // lies between the slowest and the fastest profile.
                    (reach(v0, v1, t, lim.amax, lim.dmax, false), reach(v0, v1, t, lim.amax, lim.dmax, true))
                };
                let slack = lim.pos_slack + 2.0 * lim.cell_m;
                // Past half a lap the distance is ambiguous on a ring: no check then.
                if hi + slack < 0.5 * ring_len && (moved < lo - slack || moved > hi + slack) {
                    return Err("position_inconsistent");
                }
                let a_needed = (v1 - v0) / t;
                if a_needed > lim.amax + 1e-6 || a_needed < -lim.dmax - 1e-6 {
                    return Err("speed_jump");
                }
            }
        }
        None => {
            if now > warmup && fwd(me.pos, pos).min(fwd(pos, me.pos)) < range * 0.5 {
                return Err("sudden_appearance");
            }
        }
    }
    Ok(())
}

/// The least (`most = false`) or most distance a vehicle can cover in `t` seconds going
/// from speed `v0` to `v1` with acceleration in [−d, a] and speed never below 0.
fn reach(v0: f64, v1: f64, t: f64, a: f64, d: f64, most: bool) -> f64 {
    // Most: accelerate first, then brake down to v1 (peak speed where the two meet).
    // Least: brake first, then accelerate up to v1 (low point, floored at 0).
    let (up, down) = (a.max(1e-9), d.max(1e-9));
    if most {
        // v0 + up·t1 = v1 + down·t2, t1 + t2 = t.
        let peak = ((v1 + down * t) * up + v0 * down) / (up + down);
        let peak = peak.max(v0.max(v1));
        let t1 = ((peak - v0) / up).clamp(0.0, t);
        let t2 = (t - t1).max(0.0);
        (v0 + peak) / 2.0 * t1 + (peak + v1) / 2.0 * t2
    } else {
        // v0 − down·t1 = v1 − up·t2.
        let low = ((v1 - up * t) * down + v0 * up) / (up + down);
        let low = low.min(v0.min(v1)).max(0.0);
        let t1 = ((v0 - low) / down).clamp(0.0, t);
        let t3 = ((v1 - low) / up).clamp(0.0, t - t1);
        let rest = (t - t1 - t3).max(0.0);
        (v0 + low) / 2.0 * t1 + low * rest + (low + v1) / 2.0 * t3
    }
}

/// Verify, plausibility: every vehicle checks the beacons it received; flagged ones are
/// dropped before its decision reads them.
#[allow(clippy::type_complexity)]
pub(super) fn check_beacons(
    clock: Res<SimClock>,
    params: Res<TrafficParams>,
    ring: Res<RingRoad>,
    channel: Res<Channel>,
    mut sec: ResMut<Security>,
    mut q: Query<(&Agent, &Vehicle, &Perception, &mut Inbox), Without<Crashed>>,
) {
    if !sec.checking() {
        return;
    }
    let cfg = &params.0;
    let dt = clock.dt;
    let now = clock.tick;
    let lim = Limits::of(cfg, dt);
    let length = vehicle_length(cfg);
    let d = &cfg.driving;
    let every = d.beacon_every_ticks.max(1);
    let jitter = u64::from(channel.config.jitter_ticks);
    let range = d.v2v_range_m.min(channel.config.range_m);
    let warmup = 3 * every + u64::from(channel.effective_latency()) + jitter + 2;
    let ctx = Ctx { lim, length, ring_len: ring.length, now, dt, beacon_every: every, jitter, range, warmup };
    let mut work: Vec<(AgentId, &Vehicle, &Perception, Mut<Inbox>)> = q
        .iter_mut()
        .filter(|(_, _, _, i)| i.0.iter().any(|m| m.kind == MSG_V2V))
        .map(|(a, v, p, i)| (a.id, v, p, i))
        .collect();
    work.sort_by_key(|w| w.0);
    for (me, v, p, inbox) in work.iter_mut() {
        sec.screen(now, *me, &mut inbox.0, &[MSG_V2V], |m, prev| {
            let verdict = check(m, prev, v, p, &ctx);
            // Checks against the sender's previous beacon judge the pair.
            (verdict, matches!(verdict, Err("position_inconsistent" | "speed_jump" | "stale_beacon" | "beacon_rate")))
        });
    }
}

#[cfg(test)]
mod tests {
    use super::reach;

    #[test]
    fn reach_bounds_the_distance_between_two_speeds() {
        // Constant speed: both bounds are v·t when the limits are tight... and bracket it.
        let (lo, hi) = (reach(10.0, 10.0, 2.0, 1.0, 9.0, false), reach(10.0, 10.0, 2.0, 1.0, 9.0, true));
        assert!(lo <= 20.0 && hi >= 20.0, "{lo} {hi}");
        // Uniform braking from 10 to 0 in 2 s at 5 m/s² covers 10 m, inside the bounds.
        let (lo, hi) = (reach(10.0, 0.0, 2.0, 1.0, 9.0, false), reach(10.0, 0.0, 2.0, 1.0, 9.0, true));
        assert!(lo <= 10.0 && hi >= 10.0, "{lo} {hi}");
        // Standing still at both ends for 5 s: at most the accelerate-brake hump.
        let hi = reach(0.0, 0.0, 5.0, 1.0, 9.0, true);
        let lo = reach(0.0, 0.0, 5.0, 1.0, 9.0, false);
        assert_eq!(lo, 0.0);
        assert!(hi > 0.0 && hi < 12.5, "{hi}");
    }
}
