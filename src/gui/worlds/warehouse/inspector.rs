//! The warehouse's inspector: a robot's state, task, goal, battery, charger, its link to the
//! fleet manager and what it heard (reservations, plan, open orders, bid, neighbours'
//! intents), the deadlock breaker's count, and what it senses (the occupancy window and the
//! robots seen); a manager's view of the robots and its queue.

use bevy::prelude::*;
use bevy_egui::egui;

use crate::gui::inspector::row;
use crate::sim::SimClock;
use crate::worlds::warehouse::planning::NONE;
use crate::worlds::warehouse::{FleetState, Floor, Link, Perception, Robot, WarehouseParams, ZoneState};

fn rc(floor: &Floor, c: u32) -> String {
    if c == NONE {
        return "–".into();
    }
    floor.base.row_col(c).map_or("?".into(), |(r, col)| format!("({r}, {col})"))
}

/// Rows in the inspector's grid.
pub(super) fn rows(ui: &mut egui::Ui, world: &World, entity: Entity) {
    let e = world.entity(entity);
    let Some(floor) = world.get_resource::<Floor>() else { return };
    let now = world.get_resource::<SimClock>().map_or(0, |c| c.tick);
    if let Some(r) = e.get::<Robot>() {
        let cap = world.get_resource::<WarehouseParams>().map_or(1.0, |p| p.0.battery.capacity_kwh);
        row(ui, "state", r.state_name().to_string());
        row(ui, "cell (row, col)", rc(floor, r.cell));
        row(
            ui,
            "task",
            if r.task == NONE {
                "none".into()
            } else {
                format!("#{} {} → {}", r.task, rc(floor, r.pick), rc(floor, r.drop))
            },
        );
        row(ui, "goal", rc(floor, r.goal));
        row(ui, "battery", format!("{:.1} % ({:.4} kWh)", 100.0 * r.battery_kwh / cap.max(1e-12), r.battery_kwh));
        if r.charger != NONE {
            row(ui, "charger / bay", format!("{} / {}", r.charger, rc(floor, r.bay)));
        }
        if r.parking != NONE {
            row(ui, "parking spot", rc(floor, r.parking));
        }
        if r.delay_left > 0 {
            row(ui, "delayed for (ticks)", r.delay_left.to_string());
        }
        if r.blocked_by != NONE {
            row(ui, "waiting for", format!("#{} for {} ticks", r.blocked_by, r.blocked_ticks));
        }
        if r.backoff_left > 0 {
            row(ui, "backing off (ticks)", r.backoff_left.to_string());
        }
        if let Some(t) = r.broken_until {
            row(ui, "broken until", if t == u64::MAX { "for good".into() } else { format!("tick {t}") });
        }
        row(ui, "tasks done / moves", format!("{} / {}", r.tasks_done, r.moves));
        row(ui, "energy used (kWh)", format!("{:.4}", r.energy_kwh));
    }
    if let Some(l) = e.get::<Link>() {
        row(ui, "fleet manager heard", format!("tick {} ({} ago)", l.last_fm, now.saturating_sub(l.last_fm)));
        row(ui, "fail-safe", if l.fallback { "engaged".into() } else { "off".into() });
        row(ui, "priority (negotiation)", format!("{}{}", l.prio, if l.pushed { ", pushed aside" } else { "" }));
        if let Some(b) = &l.bid {
            row(
                ui,
                "bidding",
                format!(
                    "order #{} at {} (best heard {} by #{}; closes {})",
                    b.order.task, b.value, b.best.0, b.best.1, b.close
                ),
            );
        }
        row(ui, "open orders heard", l.known.len().to_string());
    }
    if let Some(fs) = e.get::<FleetState>() {
        let views = fs.views.iter().flatten().count();
        row(ui, "robots reporting", views.to_string());
        row(ui, "robots planned", fs.planned.to_string());
        row(ui, "planning (ms, wall)", format!("{:.2}", fs.last_plan_ms));
        row(ui, "offers open", fs.offers.len().to_string());
        row(ui, "orders announced", fs.announced.len().to_string());
    }
    if let Some(z) = e.get::<ZoneState>() {
        row(ui, "zone", z.zone.to_string());
        row(ui, "orders queued", z.queue.len().to_string());
        row(ui, "robots reporting", z.views.len().to_string());
        row(ui, "offers open", z.offers.len().to_string());
    }
}

/// Sections below the grid: a robot's reservations and plan, neighbours' intents and what
/// it senses.
pub(super) fn sections(ui: &mut egui::Ui, world: &World, entity: Entity) {
    let e = world.entity(entity);
    let Some(floor) = world.get_resource::<Floor>() else { return };
    let now = world.get_resource::<SimClock>().map_or(0, |c| c.tick);
    if let Some(l) = e.get::<Link>() {
        ui.collapsing("Reservations and plan", |ui| {
            let mut any = false;
            for m in l.moves.iter().flatten().filter(|m| m.tick >= now) {
                any = true;
                ui.monospace(format!(
                    "tick {:>6}: {} → {}{}",
                    m.tick,
                    rc(floor, m.from),
                    rc(floor, m.to),
                    if m.boosted { " (priority raised)" } else { "" }
                ));
            }
            let cells = l.plan_cells();
            if cells.len() > 1 {
                any = true;
                ui.monospace(format!("plan from tick {} ({} steps):", l.plan_start, cells.len() - 1));
                for (k, c) in cells.iter().enumerate().skip(1) {
                    let t = l.plan_start + k as u64 - 1;
                    let mark = if t < now { " (past)" } else { "" };
                    ui.monospace(format!("  end of {t:>6}: {}{mark}", rc(floor, *c)));
                }
            }
            if !any {
                ui.small("none (no central planning, or nothing heard)");
            }
        });
        if let Some((t, c, p)) = l.claim {
            ui.monospace(format!("claims {} for tick {t} at priority {p}", rc(floor, c)));
        }
        ui.collapsing(format!("Neighbours' claims ({})", l.intents.len()), |ui| {
            for i in &l.intents {
                ui.monospace(format!(
                    "#{:<5} at {} claims {} heading for {} priority {}",
                    i.from,
                    rc(floor, i.cell),
                    rc(floor, i.claim),
                    rc(floor, i.goal),
                    i.prio
                ));
            }
        });
    }
    if let Some(p) = e.get::<Perception>() {
        ui.collapsing("Perception", |ui| {
            ui.small(format!(
                "sensed at tick {}, radius {}: R robot, # obstacle, . free; {} robots seen",
                p.tick, p.radius, p.seen_total
            ));
            let r = i32::from(p.radius);
            for dr in -r..=r {
                let line: String = (-r..=r)
                    .map(|dc| {
                        if dr == 0 && dc == 0 {
                            '@'
                        } else if p.occupied_at(dr, dc) {
                            'R'
                        } else if p.blocked_at(dr, dc) {
                            '#'
                        } else {
                            '.'
                        }
                    })
                    .collect();
                ui.monospace(line);
            }
            let seen: Vec<String> = p.seen[..p.seen_n as usize].iter().map(|i| format!("#{i}")).collect();
            ui.small(format!("seen: {}", seen.join(" ")));
        });
    }
}
