//! Range and consistency checks on a parsed scenario. Every problem is reported with the
//! dotted path of the field at fault; nothing is ever clamped silently.

use super::{Scenario, WorldConfig};
use crate::sim::{Coordination, FaultKind, Rect};
use crate::worlds::traffic::{CarFollowing, Road, TrafficConfig};

type Problems = Vec<(String, String)>;

struct V<'a> {
    out: &'a mut Problems,
}

impl V<'_> {
    fn bad(&mut self, path: impl Into<String>, msg: impl Into<String>) {
        self.out.push((path.into(), msg.into()));
    }
    fn finite(&mut self, path: &str, x: f64) -> bool {
        if x.is_finite() {
            true
        } else {
            self.bad(path, format!("must be a finite number, got {x}"));
            false
        }
    }
    fn positive(&mut self, path: &str, x: f64) {
        if self.finite(path, x) && x <= 0.0 {
            self.bad(path, format!("must be greater than 0, got {x}"));
        }
    }
    fn non_negative(&mut self, path: &str, x: f64) {
        if self.finite(path, x) && x < 0.0 {
            self.bad(path, format!("must be 0 or more, got {x}"));
        }
    }
    fn probability(&mut self, path: &str, x: f64) {
        if self.finite(path, x) && !(0.0..=1.0).contains(&x) {
            self.bad(path, format!("is a probability and must be between 0 and 1, got {x}"));
        }
    }
    fn at_least(&mut self, path: &str, x: u64, min: u64) {
        if x < min {
            self.bad(path, format!("must be at least {min}, got {x}"));
        }
    }
    fn rect(&mut self, path: &str, r: &Rect) {
        for (n, v) in [("x0", r.x0), ("y0", r.y0), ("x1", r.x1), ("y1", r.y1)] {
            self.finite(&format!("{path}.{n}"), f64::from(v));
        }
        if r.x0 == r.x1 || r.y0 == r.y1 {
            self.bad(path, "is empty: x0 must differ from x1 and y0 from y1");
        }
    }
}

/// All problems, in file order.
pub(crate) fn validate(s: &Scenario) -> Problems {
    let mut out = Vec::new();
    let mut v = V { out: &mut out };
    if s.name.trim().is_empty() {
        v.bad("name", "must not be empty");
    }
    v.at_least("ticks", s.ticks, 1);
    v.positive("dt", s.dt);
    if s.dt.is_finite() && s.dt > 60.0 {
        v.bad("dt", format!("must be at most 60 s per tick, got {}", s.dt));
    }

    let c = &s.channel;
    v.at_least("channel.latency_ticks", u64::from(c.latency_ticks), 1);
    v.probability("channel.loss", c.loss);
    v.positive("channel.range_m", c.range_m);
    v.positive("channel.cluster_size_m", c.cluster_size_m);
    if c.bandwidth_per_agent == Some(0) {
        v.bad(
            "channel.bandwidth_per_agent",
            "must be at least 1 byte per tick (to switch communication off use topology: None)",
        );
    }
    if c.bandwidth_total == Some(0) {
        v.bad(
            "channel.bandwidth_total",
            "must be at least 1 byte per tick (to switch communication off use topology: None)",
        );
    }

    let agents = s.agent_count();
    for (i, f) in s.faults.iter().enumerate() {
        let p = format!("faults[{i}]");
        if f.at >= s.ticks {
            v.bad(
                format!("{p}.at"),
                format!("starts at tick {} but the run ends at tick {} (ticks: {})", f.at, s.ticks, s.ticks),
            );
        }
        if f.duration == Some(0) {
            v.bad(format!("{p}.duration"), "must be at least 1 tick (leave it out for a fault that lasts)");
        }
        if let Some(e) = f.ended_at {
            let planned_end = f.duration.map(|d| f.at.saturating_add(d));
            if e <= f.at || e > s.ticks || planned_end.is_some_and(|end| e >= end) {
                v.bad(
                    format!("{p}.ended_at"),
                    format!(
                        "is tick {e}; it must be after the start ({}), no later than the run's end ({}){}",
                        f.at,
                        s.ticks,
                        planned_end.map_or(String::new(), |end| format!(" and before the planned end ({end})"))
                    ),
                );
            }
        }
        match &f.fault {
            FaultKind::Crash { fraction, agents: ids, .. } => {
                v.probability(&format!("{p}.fault.fraction"), *fraction);
                if *fraction == 0.0 && ids.is_empty() {
                    v.bad(format!("{p}.fault"), "crashes nobody: give a fraction above 0 or a list of agents");
                }
                for (k, id) in ids.iter().enumerate() {
                    if u64::from(*id) >= agents {
                        v.bad(
                            format!("{p}.fault.agents[{k}]"),
                            format!("no agent {id}: this scenario has agents 0..{}", agents - 1),
                        );
                    }
                }
            }
            FaultKind::Loss { loss } => v.probability(&format!("{p}.fault.loss"), *loss),
            FaultKind::Latency { extra_ticks } => {
                v.at_least(&format!("{p}.fault.extra_ticks"), u64::from(*extra_ticks), 1)
            }
            FaultKind::Partition { regions } => {
                if regions.is_empty() {
                    v.bad(format!("{p}.fault.regions"), "needs at least one region");
                }
                for (k, r) in regions.iter().enumerate() {
                    v.rect(&format!("{p}.fault.regions[{k}]"), r);
                }
            }
            FaultKind::Blackout { region } => v.rect(&format!("{p}.fault.region"), region),
        }
    }

    for (i, e) in s.edits.iter().enumerate() {
        if e.at >= s.ticks {
            v.bad(format!("edits[{i}].at"), format!("is at tick {} but the run ends at tick {}", e.at, s.ticks));
        }
    }

    let o = &s.output;
    v.at_least("output.record_every", o.record_every, 1);
    v.at_least("output.trace_every", o.trace_every, 1);
    v.at_least("output.max_events", o.max_events as u64, 1);

    match &s.world {
        WorldConfig::Traffic(t) => traffic(&mut v, t, s),
    }
    // Edits are checked last and only on an otherwise valid scenario, by applying them.
    if out.is_empty() {
        let mut cur = s.clone();
        cur.edits.clear();
        for (i, e) in s.edits.iter().enumerate() {
            match cur.with_set(&e.set, &e.value) {
                Ok(next) => {
                    if let Err(m) = live_editable(&cur, &next) {
                        out.push((format!("edits[{i}].set"), m));
                    }
                    cur = next;
                }
                Err(issue) => out.push((
                    // Blame the path when it names no field, else the value.
                    if cur.get(&e.set).is_none() { format!("edits[{i}].set") } else { format!("edits[{i}].value") },
                    format!("`{}` = `{}`: {}: {}", e.set, e.value, issue.field, issue.message),
                )),
            }
        }
    }
    out
}

/// Whether a running world can go from `old` to `new` (some settings only apply at start).
pub fn live_editable(old: &Scenario, new: &Scenario) -> Result<(), String> {
    if old.seed != new.seed || old.dt != new.dt {
        return Err("seed and dt cannot change while running".into());
    }
    let (WorldConfig::Traffic(a), WorldConfig::Traffic(b)) = (&old.world, &new.world);
    if a.road != b.road {
        return Err("the road cannot change while running".into());
    }
    if !matches!(a.road, Road::Ring { .. }) && a.vehicles != b.vehicles {
        return Err("the city's fleet size (world.vehicles) only applies at start".into());
    }
    if std::mem::discriminant(&a.model) != std::mem::discriminant(&b.model) {
        return Err("the car-following model cannot be swapped while running (its parameters can change)".into());
    }
    if a.automated != b.automated && !matches!(a.road, Road::Ring { .. }) {
        return Err("the city has no automated vehicles to switch (world.automated is for the ring)".into());
    }
    if a.controller.sectors != b.controller.sectors || a.init != b.init {
        return Err("controller.sectors and init only apply at start".into());
    }
    Ok(())
}

fn traffic(v: &mut V, t: &TrafficConfig, s: &Scenario) {
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
            v.positive("world.model.v0", p.v0);
            v.positive("world.model.time_headway", p.time_headway);
            v.non_negative("world.model.s0", p.s0);
            v.positive("world.model.a", p.a);
            v.positive("world.model.b", p.b);
            v.positive("world.model.delta", p.delta);
            v.positive("world.model.length", p.length);
            v.non_negative("world.model.noise", p.noise);
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
fn city(v: &mut V, t: &TrafficConfig, s: &Scenario) {
    v.at_least("world.vehicles", u64::from(t.vehicles), 1);
    if t.vehicles > 1_000_000 {
        v.bad("world.vehicles", format!("must be at most 1000000, got {}", t.vehicles));
    }
    if t.automated > 0 {
        v.bad("world.automated", "automated wave-damping vehicles exist on the ring only; use 0 on a city network");
    }
    let (len, s0) = match &t.model {
        CarFollowing::Idm(p) => {
            v.positive("world.model.v0", p.v0);
            v.positive("world.model.time_headway", p.time_headway);
            v.non_negative("world.model.s0", p.s0);
            v.positive("world.model.a", p.a);
            v.positive("world.model.b", p.b);
            v.positive("world.model.delta", p.delta);
            v.positive("world.model.length", p.length);
            v.non_negative("world.model.noise", p.noise);
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
        for (path, msg) in crate::worlds::traffic::network::check(&t.road, &t.city, len, s0) {
            v.bad(path, msg);
        }
    }
}
