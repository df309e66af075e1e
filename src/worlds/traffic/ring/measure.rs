//! The ring's metrics and events: speeds, density, flow, jams (with hysteresis) and the
//! drivers' switches to and from the sensor-only fail-safe.

use super::drive::action_name;
use super::*;

/// Jam state for the event log.
#[derive(Resource, Default, Debug)]
pub(super) struct JamState {
    pub(super) active: bool,
    pub(super) clear_ticks: u64,
    pub(super) started: u64,
}

/// One tick's traffic figures, before they become metrics.
#[derive(Default)]
pub(super) struct RingStats {
    pub(super) n: u64,
    /// Sum of speeds and of squared speeds, m/s and m²/s².
    pub(super) sum: f64,
    pub(super) sum2: f64,
    pub(super) jammed: u64,
    /// Smallest bumper-to-bumper gap to a visible leader, m.
    pub(super) min_gap: f64,
    /// The jammed vehicle with the lowest id, and its position.
    pub(super) first_jammed: Option<(u32, f64)>,
    pub(super) coop: u64,
    pub(super) adv: u64,
    pub(super) fb: u64,
    pub(super) av: u64,
    pub(super) crashed: u64,
}

/// NaSch speeds are whole cells per tick, so their sums are kept as integers: the same
/// numbers in any order, on any path ([`measure`], [`measure_fast`]).
pub(super) fn nasch_sums(sum_v: u64, sum_v2: u64, cell_m: f64, dt: f64) -> (f64, f64) {
    let k = |x: u64| x as f64 * cell_m / dt;
    (k(sum_v), k(sum_v2) * cell_m / dt)
}

/// Measure: traffic metrics, jam events and drivers' mode changes.
#[allow(clippy::type_complexity)]
pub(super) fn measure(
    clock: Res<SimClock>,
    params: Res<TrafficParams>,
    ring: Res<RingRoad>,
    mut jam: ResMut<JamState>,
    mut metrics: ResMut<Metrics>,
    mut log: ResMut<EventLog>,
    q: Query<(&Agent, &Vehicle, &Perception, &Link, Option<&Cell>, Has<Crashed>)>,
) {
    let cfg = &params.0;
    let jam_speed = cfg.driving.jam_speed_mps;
    let mut st = RingStats { min_gap: f64::INFINITY, ..Default::default() };
    let (mut sum_v, mut sum_v2) = (0u64, 0u64);
    let now = clock.tick;
    for (a, v, p, link, cell, is_crashed) in q.iter() {
        st.n += 1;
        match cell {
            Some(c) => {
                sum_v += u64::from(c.v);
                sum_v2 += u64::from(c.v) * u64::from(c.v);
            }
            None => {
                st.sum += v.speed;
                st.sum2 += v.speed * v.speed;
            }
        }
        if v.speed < jam_speed {
            st.jammed += 1;
            if st.first_jammed.is_none_or(|f| a.id.0 < f.0) {
                st.first_jammed = Some((a.id.0, v.pos));
            }
        }
        if p.target.is_some() {
            st.min_gap = st.min_gap.min(f64::from(p.distance_m));
        }
        if is_crashed {
            st.crashed += 1;
            continue;
        }
        match link.mode {
            Mode::Cooperative => st.coop += 1,
            Mode::Advised => st.adv += 1,
            Mode::Fallback => st.fb += 1,
            Mode::Automated => st.av += 1,
            Mode::Human => {}
        }
        if link.mode != link.prev_mode && (link.mode == Mode::Fallback || link.prev_mode == Mode::Fallback) {
            let kind = if link.mode == Mode::Fallback { "failsafe_engaged" } else { "failsafe_released" };
            log.push(
                now,
                kind,
                Some(a.id.0),
                [("mode", json!(action_name(link.mode))), ("previous", json!(action_name(link.prev_mode)))],
            );
        }
    }
    if let CarFollowing::Nasch(np) = &cfg.model {
        let (sum, sum2) = nasch_sums(sum_v, sum_v2, np.cell_m, clock.dt);
        st.sum += sum;
        st.sum2 += sum2;
    }
    publish(&st, &clock, &ring, &mut jam, &mut metrics, &mut log);
}

/// Sets the traffic metrics from one tick's figures and logs jams starting and ending.
pub(super) fn publish(
    st: &RingStats,
    clock: &SimClock,
    ring: &RingRoad,
    jam: &mut JamState,
    metrics: &mut Metrics,
    log: &mut EventLog,
) {
    let now = clock.tick;
    let n = st.n;
    let mean = if n > 0 { st.sum / n as f64 } else { 0.0 };
    let var = if n > 0 { (st.sum2 / n as f64 - mean * mean).max(0.0) } else { 0.0 };
    let density = n as f64 / (ring.length / 1000.0);
    metrics.set("mean_speed_mps", mean);
    metrics.set("speed_std_mps", var.sqrt());
    metrics.set("density_veh_per_km", density);
    metrics.set("flow_veh_per_h", density * mean * 3.6);
    metrics.set("jammed", st.jammed as f64);
    metrics.set("min_gap_m", if st.min_gap.is_finite() { st.min_gap } else { ring.length });
    metrics.set("vehicles_cooperative", st.coop as f64);
    metrics.set("vehicles_advised", st.adv as f64);
    metrics.set("vehicles_fallback", st.fb as f64);
    metrics.set("vehicles_automated", st.av as f64);
    metrics.set("vehicles_crashed", st.crashed as f64);

    // Jam events with hysteresis: a jam ends after 5 s with nobody below jam speed.
    let clear_after = (5.0 / clock.dt).ceil() as u64;
    if st.jammed > 0 {
        jam.clear_ticks = 0;
        if !jam.active {
            jam.active = true;
            jam.started = now;
            let (id, pos) = st.first_jammed.unwrap_or((0, 0.0));
            log.push(
                now,
                "jam_start",
                Some(id),
                [("jammed", json!(st.jammed)), ("position_m", json!((pos * 10.0).round() / 10.0))],
            );
        }
    } else if jam.active {
        jam.clear_ticks += 1;
        if jam.clear_ticks >= clear_after {
            jam.active = false;
            log.push(now, "jam_end", None, [("lasted_ticks", json!(now - jam.started))]);
        }
    }
}
