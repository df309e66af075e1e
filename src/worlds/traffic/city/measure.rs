//! The city's metrics and its part of summary.json.

use super::*;

pub(super) fn gini(xs: &[f64]) -> f64 {
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

/// The header of trips.csv.
pub(super) const TRIPS_HEADER: &str =
    "trip,vehicle,origin,destination,demand_tick,entry_tick,exit_tick,free_flow_s,travel_s,delay_s,stops,reroutes";

/// trips.csv: one row per finished trip, in the order they finished. Times are simulated
/// seconds; `travel_s` runs from the trip's demand (waiting to enter counts) to its exit,
/// `delay_s` = travel − free-flow (never below 0), as `mean_delay_s` averages it.
pub(super) fn trip_rows(world: &World, out: &mut String) {
    use std::fmt::Write as _;
    let (Some(stats), Some(map)) = (world.get_resource::<TripStats>(), world.get_resource::<CityMap>()) else {
        return;
    };
    let name = |k: u32| map.0.nodes.get(k as usize).map_or(String::new(), |n| crate::sim::csv::csv_cell(&n.name));
    let num = crate::sim::csv::num;
    for (k, t) in stats.trips.iter().enumerate() {
        let _ = writeln!(
            out,
            "{k},{},{},{},{},{},{},{},{},{},{},{}",
            t.vehicle,
            name(t.origin),
            name(t.dest),
            t.demand_tick,
            t.enter_tick,
            t.exit_tick,
            num(t.free_s),
            num(t.travel_s),
            num(t.delay_s),
            t.stops,
            t.reroutes
        );
    }
}

/// Measure: the city's metrics.
#[allow(clippy::too_many_arguments)]
pub(super) fn measure(
    clock: Res<SimClock>,
    params: Res<TrafficParams>,
    map: Res<CityMap>,
    st: Res<CityState>,
    mut stats: ResMut<TripStats>,
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
    // The present, not the history: trips that finished in the last ten minutes.
    let window = (RECENT_WINDOW_S / clock.dt).round() as u64;
    while stats.recent.front().is_some_and(|(t, _)| t + window <= clock.tick) {
        stats.recent.pop_front();
    }
    let recent = stats.recent.len();
    let recent_mean = if recent > 0 { stats.recent.iter().map(|r| r.1).sum::<f64>() / recent as f64 } else { 0.0 };
    metrics.set("mean_delay_recent_s", recent_mean);
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
pub(super) fn summary(world: &World) -> Value {
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
    fn gini_values() {
        assert_eq!(gini(&[5.0, 5.0, 5.0]), 0.0);
        let g = gini(&[0.0, 0.0, 0.0, 10.0]);
        assert!((g - 0.75).abs() < 1e-12, "{g}");
    }
}
