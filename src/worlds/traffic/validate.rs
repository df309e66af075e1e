//! Validation of the traffic world's section: the ring's road, model and drivers, the
//! city's network, demand and signals. Every problem names its field under `world.`.

use super::config::{CarFollowing, CityConfig, Demand, Road, TrafficConfig};
use super::models::IdmParams;
use super::network::build;
use crate::sim::Coordination;
use crate::worlds::{Checker, CoreView};

type Problems = Vec<(String, String)>;

/// The IDM's parameters, on the ring and in the city alike.
fn idm(v: &mut Checker, p: &IdmParams) {
    v.positive("world.model.v0", p.v0);
    v.positive("world.model.time_headway", p.time_headway);
    v.non_negative("world.model.s0", p.s0);
    v.positive("world.model.a", p.a);
    v.positive("world.model.b", p.b);
    v.positive("world.model.delta", p.delta);
    v.positive("world.model.length", p.length);
    v.non_negative("world.model.noise", p.noise);
}

/// The ring: its road, vehicles, model, drivers and controllers.
pub(super) fn traffic(v: &mut Checker, t: &TrafficConfig, s: &CoreView) {
    let Road::Ring { length_m } = t.road else {
        return city(v, t, s);
    };
    v.positive("world.road.length_m", length_m);
    v.at_least("world.vehicles", u64::from(t.vehicles), 1);
    if t.automated > t.vehicles {
        v.bad("world.automated", format!("is {} but there are only {} vehicles", t.automated, t.vehicles));
    }
    match &t.model {
        CarFollowing::Idm(p) => {
            idm(v, p);
            let need = f64::from(t.vehicles) * (p.length + p.s0);
            if length_m.is_finite() && length_m > 0.0 && need > length_m {
                v.bad(
                    "world.vehicles",
                    format!(
                        "{} vehicles need {need:.1} m (length {} + s0 {} each) but the ring is {length_m} m long; at most {}",
                        t.vehicles,
                        p.length,
                        p.s0,
                        (length_m / (p.length + p.s0)).floor()
                    ),
                );
            }
            if let Some(sp) = t.init.speed_mps
                && v.finite("world.init.speed_mps", sp)
                && !(0.0..=p.v0).contains(&sp)
            {
                v.bad("world.init.speed_mps", format!("must be between 0 and v0 = {}, got {sp}", p.v0));
            }
            let spacing = length_m / f64::from(t.vehicles.max(1));
            // Only meaningful when the vehicles fit at all (otherwise that is the error).
            if v.finite("world.init.perturbation_m", t.init.perturbation_m)
                && need <= length_m
                && t.init.perturbation_m.abs() >= spacing - p.length - p.s0
                && t.vehicles > 1
            {
                v.bad(
                    "world.init.perturbation_m",
                    format!(
                        "{} m would push vehicle 0 into its neighbour; keep it below {:.2} m",
                        t.init.perturbation_m,
                        spacing - p.length - p.s0
                    ),
                );
            }
        }
        CarFollowing::Nasch(p) => {
            if p.vmax < 1 || p.vmax > 100 {
                v.bad("world.model.vmax", format!("must be between 1 and 100 cells per tick, got {}", p.vmax));
            }
            v.probability("world.model.p_slow", p.p_slow);
            v.positive("world.model.cell_m", p.cell_m);
            if s.dt != 1.0 {
                v.bad(
                    "dt",
                    format!("the Nagel–Schreckenberg model is defined with 1 s ticks; set dt: 1.0 (got {})", s.dt),
                );
            }
            if p.cell_m > 0.0 && length_m > 0.0 && length_m.is_finite() {
                let cells = length_m / p.cell_m;
                if (cells - cells.round()).abs() > 1e-6 {
                    v.bad(
                        "world.road.length_m",
                        format!(
                            "{length_m} m is not a whole number of {} m cells; use {} or {}",
                            p.cell_m,
                            cells.floor() * p.cell_m,
                            cells.ceil() * p.cell_m
                        ),
                    );
                } else if f64::from(t.vehicles) > cells.round() {
                    v.bad("world.vehicles", format!("{} vehicles do not fit in {} cells", t.vehicles, cells.round()));
                }
            }
            if let Some(sp) = t.init.speed_mps {
                v.non_negative("world.init.speed_mps", sp);
            }
            v.finite("world.init.perturbation_m", t.init.perturbation_m);
        }
    }
    let d = &t.driving;
    v.positive("world.driving.sensor_range_m", d.sensor_range_m);
    v.positive("world.driving.v2v_range_m", d.v2v_range_m);
    v.positive("world.driving.fallback_headway_s", d.fallback_headway_s);
    v.at_least("world.driving.message_timeout_ticks", d.message_timeout_ticks, 1);
    v.non_negative("world.driving.jam_speed_mps", d.jam_speed_mps);
    v.at_least("world.driving.beacon_every_ticks", d.beacon_every_ticks, 1);
    v.probability("world.driving.coop_p_slow", d.coop_p_slow);
    let c = &t.controller;
    if s.coordination == Coordination::Hierarchical && c.sectors == 0 {
        v.bad("world.controller.sectors", "hierarchical coordination needs at least 1 sector controller");
    }
    if c.sectors > 10_000 {
        v.bad("world.controller.sectors", format!("must be at most 10000, got {}", c.sectors));
    }
    v.at_least("world.controller.report_every_ticks", c.report_every_ticks, 1);
    v.positive("world.controller.av_window_s", c.av_window_s);
}

/// The city world (grid and custom networks): IDM vehicles only, the network and the
/// `city` section (demand, signals, routing) checked by the network module.
fn city(v: &mut Checker, t: &TrafficConfig, s: &CoreView) {
    v.at_least("world.vehicles", u64::from(t.vehicles), 1);
    if t.vehicles > 1_000_000 {
        v.bad("world.vehicles", format!("must be at most 1000000, got {}", t.vehicles));
    }
    if t.automated > 0 {
        v.bad("world.automated", "automated wave-damping vehicles exist on the ring only; use 0 on a city network");
    }
    let (len, s0) = match &t.model {
        CarFollowing::Idm(p) => {
            idm(v, p);
            (p.length, p.s0)
        }
        CarFollowing::Nasch(_) => {
            v.bad(
                "world.model",
                "the city network drives the IDM (Idm((...))); the Nagel–Schreckenberg model is for the ring",
            );
            (4.5, 2.0)
        }
    };
    let d = &t.driving;
    v.positive("world.driving.sensor_range_m", d.sensor_range_m);
    v.non_negative("world.driving.jam_speed_mps", d.jam_speed_mps);
    let c = &t.controller;
    if s.coordination == Coordination::Hierarchical && c.sectors == 0 {
        v.bad("world.controller.sectors", "hierarchical coordination needs at least 1 district controller");
    }
    if c.sectors > 10_000 {
        v.bad("world.controller.sectors", format!("must be at most 10000, got {}", c.sectors));
    }
    if len.is_finite() && len > 0.0 && s0.is_finite() && s0 >= 0.0 {
        for (path, msg) in check_network(&t.road, &t.city, len, s0) {
            v.bad(path, msg);
        }
    }
}

/// Checks the city section and the network for the validator: every problem with its
/// field path.
fn check_network(road: &Road, city: &CityConfig, veh_len: f64, s0: f64) -> Problems {
    let mut bad = Vec::new();
    let net = match build(road, city, veh_len, s0) {
        Ok(n) => Some(n),
        Err(p) => {
            bad.extend(p);
            None
        }
    };
    let s = &city.signals;
    let p = "world.city.signals";
    for (name, v, min) in [
        ("cycle_s", s.cycle_s, 1.0),
        ("min_green_s", s.min_green_s, 1.0),
        ("max_green_s", s.max_green_s, 1.0),
        ("gap_s", s.gap_s, 0.1),
        ("detector_m", s.detector_m, 1.0),
        ("contact_timeout_s", s.contact_timeout_s, 0.1),
    ] {
        if !v.is_finite() || v < min {
            bad.push((format!("{p}.{name}"), format!("must be at least {min}, got {v}")));
        }
    }
    for (name, v) in [("yellow_s", s.yellow_s), ("all_red_s", s.all_red_s)] {
        if !v.is_finite() || v < 0.0 {
            bad.push((format!("{p}.{name}"), format!("must be 0 or more, got {v}")));
        }
    }
    if s.max_green_s < s.min_green_s {
        bad.push((
            format!("{p}.max_green_s"),
            format!("is {} but min_green_s is {}; it must not be shorter", s.max_green_s, s.min_green_s),
        ));
    }
    if s.report_every_ticks < 1 {
        bad.push((format!("{p}.report_every_ticks"), "must be at least 1".into()));
    }
    if !(s.main_share > 0.0 && s.main_share < 1.0) {
        bad.push((format!("{p}.main_share"), format!("must be between 0 and 1 (exclusive), got {}", s.main_share)));
    }
    if let Some(v) = s.progression_mps
        && (!v.is_finite() || v <= 0.0)
    {
        bad.push((format!("{p}.progression_mps"), format!("must be greater than 0, got {v}")));
    }
    if let Some(net) = &net {
        let most = net.nodes.iter().map(|n| n.stages.len()).max().unwrap_or(1) as f64;
        let need = most * (s.min_green_s + s.yellow_s + s.all_red_s);
        if s.cycle_s.is_finite() && s.cycle_s < need {
            bad.push((
                format!("{p}.cycle_s"),
                format!(
                    "{} s cannot hold {most} phases of min_green_s + yellow_s + all_red_s; it needs at least {need} s",
                    s.cycle_s
                ),
            ));
        }
    }
    let r = &city.routing;
    for (name, v) in [
        ("congestion_queue_veh", r.congestion_queue_veh),
        ("broadcast_m", r.broadcast_m),
        ("min_interval_s", r.min_interval_s),
    ] {
        if !v.is_finite() || v <= 0.0 {
            bad.push((format!("world.city.routing.{name}"), format!("must be greater than 0, got {v}")));
        }
    }
    if r.broadcast_every_ticks < 1 {
        bad.push(("world.city.routing.broadcast_every_ticks".into(), "must be at least 1".into()));
    }
    if !city.gridlock_after_s.is_finite() || city.gridlock_after_s <= 0.0 {
        bad.push((
            "world.city.gridlock_after_s".into(),
            format!("must be greater than 0, got {}", city.gridlock_after_s),
        ));
    }
    let d = "world.city.demand";
    let rate = |bad: &mut Problems, path: String, v: f64| {
        if !v.is_finite() || v < 0.0 {
            bad.push((path, format!("must be 0 or more vehicles per hour, got {v}")));
        } else if v > 20_000.0 {
            bad.push((path, format!("must be at most 20000 vehicles per hour, got {v}")));
        }
    };
    let entry = |bad: &mut Problems, path: String, name: &str, out: bool| {
        let Some(net) = &net else { return None };
        match net.node(name) {
            None => {
                bad.push((path, format!("no node named `{name}`")));
                None
            }
            Some(k) => {
                let n = &net.nodes[k as usize];
                if !n.terminal {
                    bad.push((path, format!("`{name}` is not a terminal; trips start and end at terminals")));
                    None
                } else if out && n.outs.is_empty() {
                    bad.push((path, format!("terminal `{name}` has no outgoing link, so no trip can start there")));
                    None
                } else if !out && n.ins.is_empty() {
                    bad.push((path, format!("terminal `{name}` has no incoming link, so no trip can end there")));
                    None
                } else {
                    Some(k)
                }
            }
        }
    };
    match &city.demand {
        Demand::Entries { default_rate_veh_per_h, rates } | Demand::Turning { default_rate_veh_per_h, rates, .. } => {
            rate(&mut bad, format!("{d}.default_rate_veh_per_h"), *default_rate_veh_per_h);
            for (i, e) in rates.iter().enumerate() {
                entry(&mut bad, format!("{d}.rates[{i}].node"), &e.node, true);
                rate(&mut bad, format!("{d}.rates[{i}].rate_veh_per_h"), e.rate_veh_per_h);
            }
            if let Demand::Turning { left, right, .. } = &city.demand {
                for (name, v) in [("left", *left), ("right", *right)] {
                    if !v.is_finite() || !(0.0..=1.0).contains(&v) {
                        bad.push((
                            format!("{d}.{name}"),
                            format!("is a probability and must be between 0 and 1, got {v}"),
                        ));
                    }
                }
                if left + right > 1.0 {
                    bad.push((format!("{d}.right"), format!("left + right = {} exceeds 1", left + right)));
                }
            }
        }
        Demand::Od(cells) => {
            if cells.is_empty() {
                bad.push((d.to_string(), "an OD matrix needs at least one cell".into()));
            }
            for (i, c) in cells.iter().enumerate() {
                let o = entry(&mut bad, format!("{d}[{i}].from"), &c.from, true);
                let t = entry(&mut bad, format!("{d}[{i}].to"), &c.to, false);
                rate(&mut bad, format!("{d}[{i}].rate_veh_per_h"), c.rate_veh_per_h);
                if let (Some(o), Some(t), Some(net)) = (o, t, &net) {
                    if o == t {
                        bad.push((format!("{d}[{i}].to"), "a trip must end somewhere else than it starts".into()));
                    } else if net.route(o, t, f64::INFINITY).is_none() {
                        bad.push((format!("{d}[{i}].to"), format!("no route from `{}` to `{}`", c.from, c.to)));
                    }
                }
            }
        }
    }
    bad
}
