//! Validation of the power world's section: the network (a case file is read and parsed
//! here, so a malformed one is refused at load with its file, line, column and what was
//! expected), ratings, frequency, protection, relays, controllers, profiles, households,
//! EV stations, batteries and events. Every problem names its field under `world.`.

use std::collections::BTreeSet;

use super::config::{GenTrip, Network, PowerConfig, PowerEventKind, Shape, UflsScheme};
use super::frequency::UflsRelay;
use super::model;
use crate::worlds::{Checker, CoreView};

/// Most agents a power scenario may spawn.
pub const MAX_AGENTS: u64 = 5_000_000;

/// Every check, in file order.
pub(super) fn power(v: &mut Checker, c: &PowerConfig, core: &CoreView) {
    if core.dt.is_finite() && !(0.01..=1.0).contains(&core.dt) {
        v.bad(
            "dt",
            format!("the power world steps its frequency dynamics with 0.01 s to 1 s ticks; got {} s", core.dt),
        );
    }
    let before = v.clone().into_problems().len();
    network(v, &c.network);
    let network_ok = v.clone().into_problems().len() == before;
    let model = if network_ok {
        match model::model(c) {
            Ok(m) => Some(m),
            Err(errs) => {
                for (f, m) in errs {
                    v.bad(f, m);
                }
                None
            }
        }
    } else {
        None
    };
    let bus_known = |n: u32| model.as_ref().is_none_or(|m| m.bus(n).is_some());

    let r = &c.ratings;
    v.non_negative("world.ratings.margin", r.margin);
    v.positive("world.ratings.min_mw", r.min_mw);
    v.positive("world.ratings.scale", r.scale);

    let f = &c.frequency;
    v.positive("world.frequency.f0_hz", f.f0_hz);
    v.non_negative("world.frequency.damping", f.damping);
    v.positive("world.frequency.h_s", f.h_s);
    v.positive("world.frequency.droop", f.droop);
    v.positive("world.frequency.tg_s", f.tg_s);
    v.positive("world.frequency.tt_s", f.tt_s);
    if let Some(x) = f.ramp_pu_per_s {
        v.positive("world.frequency.ramp_pu_per_s", x);
    }
    if let GenTrip::At { threshold_hz, delay_s } = f.gen_trip {
        v.positive("world.frequency.gen_trip.threshold_hz", threshold_hz);
        if threshold_hz >= f.f0_hz {
            v.bad(
                "world.frequency.gen_trip.threshold_hz",
                format!("must be below the nominal frequency ({} Hz), got {threshold_hz}", f.f0_hz),
            );
        }
        v.non_negative("world.frequency.gen_trip.delay_s", delay_s);
    }

    let p = &c.protection;
    v.positive("world.protection.overload_s", p.overload_s);
    if v.finite("world.protection.hard_limit", p.hard_limit) && p.hard_limit <= 1.0 {
        v.bad("world.protection.hard_limit", format!("must be above 1 (100 % of the rating), got {}", p.hard_limit));
    }
    if let Some(x) = p.reclose_after_s {
        v.positive("world.protection.reclose_after_s", x);
    }
    v.non_negative("world.protection.cascade_gap_s", p.cascade_gap_s);

    if let UflsScheme::Stages(stages) = &c.ufls.scheme {
        if stages.is_empty() {
            v.bad("world.ufls.scheme", "needs at least one stage (or use `Off`)");
        } else if let Err(e) = UflsRelay::new(stages.clone()) {
            v.bad("world.ufls.scheme", e.to_string());
        }
        for (k, s) in stages.iter().enumerate() {
            if s.threshold_hz >= f.f0_hz {
                v.bad(
                    format!("world.ufls.scheme[{k}].threshold_hz"),
                    format!("must be below the nominal frequency ({} Hz), got {}", f.f0_hz, s.threshold_hz),
                );
            }
        }
    }
    if let Some(x) = c.ufls.restore_after_s {
        v.positive("world.ufls.restore_after_s", x);
    }

    v.non_negative("world.agc.ki", c.agc.ki);
    v.positive("world.agc.every_s", c.agc.every_s);
    let o = &c.operator;
    v.positive("world.operator.dispatch_every_s", o.dispatch_every_s);
    v.positive("world.operator.telemetry_every_s", o.telemetry_every_s);
    v.positive("world.operator.stale_after_s", o.stale_after_s);
    v.positive("world.operator.setpoint_timeout_s", o.setpoint_timeout_s);
    if let Some(x) = o.reclose_after_s {
        v.positive("world.operator.reclose_after_s", x);
    }
    v.positive("world.operator.price_every_s", o.price_every_s);
    let e = &c.estimation;
    v.positive("world.estimation.every_s", e.every_s);
    v.positive("world.estimation.flow_sigma_mw", e.flow_sigma_mw);
    v.positive("world.estimation.injection_sigma_mw", e.injection_sigma_mw);
    if v.finite("world.estimation.alpha", e.alpha) && !(e.alpha > 0.0 && e.alpha < 0.5) {
        v.bad("world.estimation.alpha", format!("a false-alarm probability in (0, 0.5); got {}", e.alpha));
    }
    v.positive("world.estimation.lnr_threshold", e.lnr_threshold);
    if e.max_removals > 1000 {
        v.bad("world.estimation.max_removals", format!("at most 1000; got {}", e.max_removals));
    }
    let k = &c.consensus;
    v.non_negative("world.consensus.step", k.step);
    v.positive("world.consensus.every_s", k.every_s);
    v.at_least("world.consensus.neighbours", u64::from(k.neighbours), 1);
    v.positive("world.consensus.timeout_s", k.timeout_s);

    let pr = &c.profile;
    if v.finite("world.profile.start_hour", pr.start_hour) && !(0.0..24.0).contains(&pr.start_hour) {
        v.bad("world.profile.start_hour", format!("must be an hour of the day, 0 to 24, got {}", pr.start_hour));
    }
    shape(v, "world.profile.load", &pr.load);
    v.non_negative("world.profile.load_scale", pr.load_scale);
    v.non_negative("world.profile.pv_scale", pr.pv_scale);
    for (n, x) in [("sunrise_h", pr.sunrise_h), ("sunset_h", pr.sunset_h)] {
        let path = format!("world.profile.{n}");
        if v.finite(&path, x) && !(0.0..=24.0).contains(&x) {
            v.bad(path, format!("must be an hour of the day, 0 to 24, got {x}"));
        }
    }
    if pr.sunrise_h >= pr.sunset_h {
        v.bad("world.profile.sunset_h", format!("must be after sunrise ({}), got {}", pr.sunrise_h, pr.sunset_h));
    }
    v.probability("world.profile.clouds", pr.clouds);
    v.positive("world.profile.cloud_time_s", pr.cloud_time_s);

    let h = &c.prosumers;
    for (k, n) in h.buses.iter().enumerate() {
        if !bus_known(*n) {
            v.bad(format!("world.prosumers.buses[{k}]"), format!("bus {n} is not in the network"));
        }
    }
    v.non_negative("world.prosumers.load_kw", h.load_kw);
    v.non_negative("world.prosumers.noise", h.noise);
    v.probability("world.prosumers.pv_share", h.pv_share);
    v.non_negative("world.prosumers.pv_kw", h.pv_kw);
    v.probability("world.prosumers.battery_share", h.battery_share);
    v.non_negative("world.prosumers.battery_kwh", h.battery_kwh);
    v.non_negative("world.prosumers.battery_kw", h.battery_kw);
    efficiency(v, "world.prosumers.battery_efficiency", h.battery_efficiency);
    v.probability("world.prosumers.flex_share", h.flex_share);
    v.non_negative("world.prosumers.flex_max_defer_s", h.flex_max_defer_s);
    v.positive("world.prosumers.report_every_s", h.report_every_s);
    v.non_negative("world.prosumers.spread_m", h.spread_m);

    let e = &c.ev;
    for (k, s) in e.stations.iter().enumerate() {
        let p = format!("world.ev.stations[{k}]");
        if !bus_known(s.bus) {
            v.bad(format!("{p}.bus"), format!("bus {} is not in the network", s.bus));
        }
        v.at_least(&format!("{p}.ports"), u64::from(s.ports), 1);
        v.positive(&format!("{p}.port_kw"), s.port_kw);
        v.positive(&format!("{p}.feeder_kw"), s.feeder_kw);
    }
    v.non_negative("world.ev.arrivals_per_hour", e.arrivals_per_hour);
    shape(v, "world.ev.arrivals", &e.arrivals);
    v.positive("world.ev.energy_min_kwh", e.energy_min_kwh);
    v.positive("world.ev.energy_max_kwh", e.energy_max_kwh);
    if e.energy_max_kwh < e.energy_min_kwh {
        v.bad("world.ev.energy_max_kwh", format!("must be at least energy_min_kwh ({})", e.energy_min_kwh));
    }
    v.positive("world.ev.dwell_min_h", e.dwell_min_h);
    v.positive("world.ev.dwell_max_h", e.dwell_max_h);
    if e.dwell_max_h < e.dwell_min_h {
        v.bad("world.ev.dwell_max_h", format!("must be at least dwell_min_h ({})", e.dwell_min_h));
    }

    for (k, b) in c.batteries.iter().enumerate() {
        let p = format!("world.batteries[{k}]");
        if !bus_known(b.bus) {
            v.bad(format!("{p}.bus"), format!("bus {} is not in the network", b.bus));
        }
        v.positive(&format!("{p}.mwh"), b.mwh);
        v.positive(&format!("{p}.mw"), b.mw);
        v.probability(&format!("{p}.soc"), b.soc);
        efficiency(v, &format!("{p}.efficiency"), b.efficiency);
        if let Some(d) = b.droop {
            v.positive(&format!("{p}.droop"), d);
        }
    }

    if let Some(m) = &model {
        let agents = super::agents::Roster::of(c, m).total();
        if agents > MAX_AGENTS {
            v.bad("world.prosumers.households", format!("{agents} agents in all; at most {MAX_AGENTS}"));
        }
    }
    events(v, c, core, model.as_deref());
}

/// An efficiency in (0, 1].
fn efficiency(v: &mut Checker, path: &str, x: f64) {
    if v.finite(path, x) && !(x > 0.0 && x <= 1.0) {
        v.bad(path, format!("is an efficiency and must be above 0 and at most 1, got {x}"));
    }
}

fn shape(v: &mut Checker, path: &str, s: &Shape) {
    if let Shape::Hourly(h) = s {
        if h.len() != 24 {
            v.bad(path, format!("needs 24 values, one per hour from 00:00, got {}", h.len()));
        }
        for (k, x) in h.iter().enumerate() {
            v.non_negative(&format!("{path}[{k}]"), *x);
        }
        if h.iter().all(|x| *x == 0.0) && !h.is_empty() {
            v.bad(path, "is 0 every hour");
        }
    }
}

/// The network's own tables (a case file is checked when the model is built).
fn network(v: &mut Checker, n: &Network) {
    match n {
        Network::Matpower { path, coordinates } => {
            if path.trim().is_empty() {
                v.bad("world.network.path", "must name a MATPOWER case file (.m)");
            }
            for (k, c) in coordinates.iter().enumerate() {
                v.finite(&format!("world.network.coordinates[{k}].x"), c.x);
                v.finite(&format!("world.network.coordinates[{k}].y"), c.y);
            }
        }
        Network::Explicit { base_mva, buses, lines, generators, loads } => {
            v.positive("world.network.base_mva", *base_mva);
            if buses.is_empty() {
                v.bad("world.network.buses", "needs at least one bus");
            }
            let mut seen = BTreeSet::new();
            let mut slacks = 0;
            for (k, b) in buses.iter().enumerate() {
                let p = format!("world.network.buses[{k}]");
                if b.id == 0 {
                    v.bad(format!("{p}.id"), "bus numbers start at 1");
                } else if !seen.insert(b.id) {
                    v.bad(format!("{p}.id"), format!("bus {} appears twice", b.id));
                }
                if let Some(x) = b.x {
                    v.finite(&format!("{p}.x"), x);
                }
                if let Some(y) = b.y {
                    v.finite(&format!("{p}.y"), y);
                }
                if b.x.is_some() != b.y.is_some() {
                    v.bad(p.clone(), "give both x and y, or neither");
                }
                if b.slack {
                    slacks += 1;
                    if slacks > 1 {
                        v.bad(format!("{p}.slack"), "only one bus can be the angle reference");
                    }
                }
            }
            let known = |n: u32| seen.contains(&n);
            for (k, l) in lines.iter().enumerate() {
                let p = format!("world.network.lines[{k}]");
                for (name, n) in [("from", l.from), ("to", l.to)] {
                    if !known(n) {
                        v.bad(format!("{p}.{name}"), format!("bus {n} is not in world.network.buses"));
                    }
                }
                if l.from == l.to {
                    v.bad(format!("{p}.to"), format!("a line must join two buses, both ends are bus {}", l.from));
                }
                if v.finite(&format!("{p}.x_pu"), l.x_pu) && l.x_pu == 0.0 {
                    v.bad(format!("{p}.x_pu"), "must not be 0 (a zero reactance cannot be used in the DC model)");
                }
                if let Some(r) = l.rating_mw {
                    v.positive(&format!("{p}.rating_mw"), r);
                }
            }
            if generators.is_empty() {
                v.bad("world.network.generators", "needs at least one generator");
            }
            for (k, g) in generators.iter().enumerate() {
                let p = format!("world.network.generators[{k}]");
                if !known(g.bus) {
                    v.bad(format!("{p}.bus"), format!("bus {} is not in world.network.buses", g.bus));
                }
                v.finite(&format!("{p}.p_mw"), g.p_mw);
                v.positive(&format!("{p}.pmax_mw"), g.pmax_mw);
                if v.finite(&format!("{p}.pmin_mw"), g.pmin_mw) && g.pmin_mw > g.pmax_mw {
                    v.bad(
                        format!("{p}.pmin_mw"),
                        format!("must not exceed pmax_mw ({}), got {}", g.pmax_mw, g.pmin_mw),
                    );
                }
                if let Some(c) = g.cost {
                    v.non_negative(&format!("{p}.cost.c2"), c.c2);
                    v.finite(&format!("{p}.cost.c1"), c.c1);
                    v.finite(&format!("{p}.cost.c0"), c.c0);
                }
                if let Some(h) = g.h_s {
                    v.non_negative(&format!("{p}.h_s"), h);
                }
                if let Some(r) = g.droop {
                    v.positive(&format!("{p}.droop"), r);
                }
                if let Some(r) = g.ramp_mw_per_s {
                    v.positive(&format!("{p}.ramp_mw_per_s"), r);
                }
            }
            for (k, l) in loads.iter().enumerate() {
                let p = format!("world.network.loads[{k}]");
                if !known(l.bus) {
                    v.bad(format!("{p}.bus"), format!("bus {} is not in world.network.buses", l.bus));
                }
                v.finite(&format!("{p}.p_mw"), l.p_mw);
            }
        }
    }
}

/// The world's events: in the run, on lines and generators that exist.
fn events(v: &mut Checker, c: &PowerConfig, core: &CoreView, m: Option<&model::GridModel>) {
    for (k, e) in c.events.iter().enumerate() {
        let p = format!("world.events[{k}]");
        if e.at >= core.ticks {
            v.bad(format!("{p}.at"), format!("starts at tick {} but the run ends at tick {}", e.at, core.ticks));
        }
        if e.duration == Some(0) {
            v.bad(format!("{p}.duration"), "must be at least 1 tick (leave it out for an event that lasts)");
        }
        if let Some(end) = e.ended_at {
            let planned = e.duration.map(|d| e.at.saturating_add(d));
            if end <= e.at || end > core.ticks || planned.is_some_and(|x| end >= x) {
                v.bad(
                    format!("{p}.ended_at"),
                    format!(
                        "is tick {end}; it must be after the start ({}) and no later than the run's end ({})",
                        e.at, core.ticks
                    ),
                );
            }
        }
        let lines = m.map(|m| m.case.branches.len());
        let gens = m.map(|m| m.case.gens.len());
        match &e.event {
            PowerEventKind::LineTrip { line } | PowerEventKind::LineRestore { line } => {
                if let Some(n) = lines
                    && *line >= n
                {
                    v.bad(
                        format!("{p}.event.line"),
                        format!("no line {line}: lines are numbered 0..{} (rows of the case)", n.saturating_sub(1)),
                    );
                } else if let Some(m) = m
                    && m.net.branches().get(*line).is_some_and(|b| b.x_pu == 0.0)
                {
                    v.bad(
                        format!("{p}.event.line"),
                        format!("line {line} has x = 0 and cannot be closed in the DC model"),
                    );
                }
                if matches!(e.event, PowerEventKind::LineRestore { .. }) && e.duration.is_some() {
                    v.bad(
                        format!("{p}.duration"),
                        "a restore lasts; leave duration out (trip the line again with LineTrip)",
                    );
                }
            }
            PowerEventKind::GenOutage { generator } => {
                if let Some(n) = gens {
                    if *generator >= n {
                        v.bad(
                            format!("{p}.event.generator"),
                            format!(
                                "no generator {generator}: generators are numbered 0..{} (rows of the case)",
                                n.saturating_sub(1)
                            ),
                        );
                    } else if m.is_some_and(|m| m.unit_of_row[*generator] == usize::MAX) {
                        v.bad(
                            format!("{p}.event.generator"),
                            format!("generator {generator} is out of service in the case"),
                        );
                    }
                }
            }
            PowerEventKind::LoadStep { bus, mw, share } => {
                if let (Some(b), Some(m)) = (bus, m)
                    && m.bus(*b).is_none()
                {
                    v.bad(format!("{p}.event.bus"), format!("bus {b} is not in the network"));
                }
                v.finite(&format!("{p}.event.mw"), *mw);
                if v.finite(&format!("{p}.event.share"), *share) && *share <= -1.0 {
                    v.bad(
                        format!("{p}.event.share"),
                        format!("must be above −1 (−1 removes the whole load), got {share}"),
                    );
                }
                if *mw == 0.0 && *share == 0.0 {
                    v.bad(format!("{p}.event"), "changes nothing: give mw or share");
                }
            }
            PowerEventKind::PvStep { factor, area } => {
                v.non_negative(&format!("{p}.event.factor"), *factor);
                if let (Some(a), Some(m)) = (area, m)
                    && !m.areas.contains(a)
                {
                    v.bad(format!("{p}.event.area"), format!("no area {a}; the areas are {:?}", m.areas));
                }
            }
        }
    }
}
