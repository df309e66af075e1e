//! The warehouse section's checks, each problem with its field path (the loader turns it
//! into file:line:column): the floor builds (a malformed MovingAI file is reported at its
//! own line and column), the robots fit on it, orders, batteries, planner, zones, robots'
//! settings, fail-safes and the event timeline are in range.

use super::config::{EventKind, WarehouseConfig};
use super::floor::{Floor, charger_groups, load_map};
use super::robots::MAX_PLAN;
use crate::worlds::{Checker, CoreView};

/// All problems with `cfg`.
pub(super) fn warehouse(v: &mut Checker, cfg: &WarehouseConfig, core: &CoreView) {
    v.positive("world.cell_m", cfg.cell_m);
    let map = match load_map(&cfg.map, &cfg.chargers) {
        Ok(m) => Some(m),
        Err(e) => {
            v.bad(e.path, e.message);
            None
        }
    };
    if let Some(map) = &map {
        let room = Floor::with_map(cfg, map.clone()).capacity_for_robots();
        if cfg.robots as usize > room {
            v.bad(
                "world.robots",
                format!(
                    "{} robots do not fit: the floor has {room} free cells and parking spots to start on",
                    cfg.robots
                ),
            );
        }
        let chargers = charger_groups(map).len() as u32;
        for (i, o) in cfg.orders.list.iter().enumerate() {
            if o.at >= core.ticks {
                v.bad(
                    format!("world.orders.list[{i}].at"),
                    format!("is at tick {} but the run ends at tick {}", o.at, core.ticks),
                );
            }
            for (name, rc) in [("pick", o.pick), ("drop", o.drop)] {
                if let Some((r, c)) = rc {
                    match map.index(r, c) {
                        Some(cell) if map.is_passable(cell) => {}
                        Some(_) => v.bad(
                            format!("world.orders.list[{i}].{name}"),
                            format!("({r}, {c}) is a shelf or wall, not a passable cell"),
                        ),
                        None => v.bad(
                            format!("world.orders.list[{i}].{name}"),
                            format!(
                                "({r}, {c}) is outside the {}×{} map (rows, columns from 0)",
                                map.rows(),
                                map.cols()
                            ),
                        ),
                    }
                }
            }
        }
        for (i, e) in cfg.events.iter().enumerate() {
            let p = format!("world.events[{i}]");
            match &e.event {
                EventKind::BlockCell { row, col } => match map.index(*row, *col) {
                    Some(cell) if map.is_passable(cell) => {}
                    Some(_) => v.bad(format!("{p}.event"), format!("({row}, {col}) is already a shelf or wall")),
                    None => v.bad(
                        format!("{p}.event"),
                        format!(
                            "({row}, {col}) is outside the {}×{} map (rows, columns from 0)",
                            map.rows(),
                            map.cols()
                        ),
                    ),
                },
                EventKind::ChargerOutage { charger } => {
                    if *charger >= chargers {
                        v.bad(
                            format!("{p}.event.charger"),
                            format!(
                                "no charger {charger}: the floor has {chargers} (numbered from 0 by their first bay)"
                            ),
                        );
                    }
                }
            }
        }
    }
    let o = &cfg.orders;
    v.non_negative("world.orders.rate_per_h", o.rate_per_h);
    let b = &cfg.battery;
    v.positive("world.battery.capacity_kwh", b.capacity_kwh);
    v.probability("world.battery.initial", b.initial);
    v.probability("world.battery.initial_spread", b.initial_spread);
    if b.initial_spread > b.initial {
        v.bad(
            "world.battery.initial_spread",
            format!("must not exceed initial ({}), got {}", b.initial, b.initial_spread),
        );
    }
    v.non_negative("world.battery.move_kwh", b.move_kwh);
    v.non_negative("world.battery.load_kwh", b.load_kwh);
    v.non_negative("world.battery.idle_kw", b.idle_kw);
    v.positive("world.battery.charge_kw", b.charge_kw);
    v.probability("world.battery.charge_below", b.charge_below);
    v.probability("world.battery.charge_until", b.charge_until);
    if b.charge_until <= b.charge_below {
        v.bad(
            "world.battery.charge_until",
            format!("must be above charge_below ({}), got {}", b.charge_below, b.charge_until),
        );
    }
    v.probability("world.battery.opportunistic_below", b.opportunistic_below);
    let p = &cfg.planner;
    if !(1..=MAX_PLAN as u32).contains(&p.window) {
        v.bad(
            "world.planner.window",
            format!("must be between 1 and {MAX_PLAN} ticks (one message per plan), got {}", p.window),
        );
    }
    if p.replan_every == 0 || p.replan_every > p.window {
        v.bad(
            "world.planner.replan_every",
            format!("must be between 1 and the window ({}), got {}", p.window, p.replan_every),
        );
    }
    v.at_least("world.planner.hungarian_max", u64::from(p.hungarian_max), 1);
    if p.hungarian_max > 2000 {
        v.bad(
            "world.planner.hungarian_max",
            format!("must be at most 2000 (the method is cubic), got {}", p.hungarian_max),
        );
    }
    let z = &cfg.zones;
    v.at_least("world.zones.cols", u64::from(z.cols), 1);
    v.at_least("world.zones.rows", u64::from(z.rows), 1);
    if z.count() > 256 {
        v.bad("world.zones", format!("at most 256 zones, got {}", z.count()));
    }
    if let Some(map) = &map {
        if z.cols > map.cols() {
            v.bad("world.zones.cols", format!("more zone columns than map columns ({})", map.cols()));
        }
        if z.rows > map.rows() {
            v.bad("world.zones.rows", format!("more zone rows than map rows ({})", map.rows()));
        }
    }
    let r = &cfg.robot;
    if !(1..=3).contains(&r.perception_radius) {
        v.bad("world.robot.perception_radius", format!("must be 1, 2 or 3 cells, got {}", r.perception_radius));
    }
    v.probability("world.robot.delay_probability", r.delay_probability);
    v.at_least("world.robot.delay_ticks", u64::from(r.delay_ticks), 1);
    v.non_negative("world.robot.breakdowns_per_h", r.breakdowns_per_h);
    if r.repair_ticks == Some(0) {
        v.bad("world.robot.repair_ticks", "must be at least 1 tick (leave it out for robots that stay broken)");
    }
    let f = &cfg.failsafe;
    v.at_least("world.failsafe.stale_after_ticks", f.stale_after_ticks, 1);
    if f.stale_after_ticks < u64::from(p.replan_every) + 2 {
        v.bad(
            "world.failsafe.stale_after_ticks",
            format!(
                "must be at least planner.replan_every + 2 ({}): between two WHCA* windows robots hear nothing from the fleet manager, got {}",
                u64::from(p.replan_every) + 2,
                f.stale_after_ticks
            ),
        );
    }
    v.at_least("world.failsafe.deadlock_ticks", f.deadlock_ticks, 1);
    v.at_least("world.failsafe.patience_ticks", f.patience_ticks, 1);
    v.at_least("world.failsafe.backoff_ticks", f.backoff_ticks, 1);
    v.at_least("world.failsafe.offer_timeout_ticks", f.offer_timeout_ticks, 1);
    for (i, e) in cfg.events.iter().enumerate() {
        let p = format!("world.events[{i}]");
        if e.at >= core.ticks {
            v.bad(format!("{p}.at"), format!("starts at tick {} but the run ends at tick {}", e.at, core.ticks));
        }
        if e.duration == Some(0) {
            v.bad(format!("{p}.duration"), "must be at least 1 tick (leave it out for an event that lasts)");
        }
        if let Some(end) = e.ended_at {
            let planned = e.duration.map(|d| e.at.saturating_add(d));
            if end <= e.at || end > core.ticks || planned.is_some_and(|p| end >= p) {
                v.bad(
                    format!("{p}.ended_at"),
                    format!(
                        "is tick {end}; it must be after the start ({}) and no later than the run's end ({})",
                        e.at, core.ticks
                    ),
                );
            }
        }
    }
}
