//! The warehouse's panel controls, as data: robots and orders, coordination (allocation,
//! planning, planner and window), batteries and chargers, robots' delays and breakdowns,
//! fail-safes; and the overlay section: the warehouse's toggles, the colour legend, the
//! click mode for blocking cells, charger outages and the planner's wall time. What only
//! applies at start (the floor, zones, battery capacity) gets no control.

use bevy::prelude::*;
use bevy_egui::egui;

use super::{STATES, WarehouseOverlays, state_color};
use crate::gui::controls::{Control, SliderSpec, sliders, spec};
use crate::scenario::{Scenario, WorldConfig};
use crate::sim::SimClock;
use crate::worlds::warehouse::{Chargers, EventKind, Floor, WarehouseEvent, WorldEvents, leading_fleet};

/// Coordination settings: the choices, then the planner's numbers.
pub const PLANNER: [SliderSpec; 3] = [
    spec("WHCA* window (ticks)", "world.planner.window", 1.0, 14.0, true, false),
    spec("replan every (ticks)", "world.planner.replan_every", 1.0, 14.0, true, false),
    spec("Hungarian up to (robots)", "world.planner.hungarian_max", 1.0, 2000.0, true, true),
];

/// Battery thresholds and power.
pub const BATTERY: [SliderSpec; 6] = [
    spec("charge below (fraction)", "world.battery.charge_below", 0.0, 0.9, false, false),
    spec("charge until (fraction)", "world.battery.charge_until", 0.1, 1.0, false, false),
    spec("opportunistic below", "world.battery.opportunistic_below", 0.0, 1.0, false, false),
    spec("charging power (kW)", "world.battery.charge_kw", 0.01, 20.0, false, true),
    spec("energy per move (kWh)", "world.battery.move_kwh", 0.0, 0.01, false, false),
    spec("idle drain (kW)", "world.battery.idle_kw", 0.0, 1.0, false, false),
];

/// Robots' delays, breakdowns and sensing.
pub const ROBOT: [SliderSpec; 4] = [
    spec("move delay probability", "world.robot.delay_probability", 0.0, 1.0, false, false),
    spec("delay (ticks)", "world.robot.delay_ticks", 1.0, 50.0, true, false),
    spec("breakdowns per robot-hour", "world.robot.breakdowns_per_h", 0.0, 20.0, false, false),
    spec("perception radius (cells)", "world.robot.perception_radius", 1.0, 3.0, true, false),
];

/// Fail-safes.
pub const FAILSAFE: [SliderSpec; 4] = [
    spec("stale after (ticks)", "world.failsafe.stale_after_ticks", 1.0, 200.0, true, true),
    spec("deadlock after (ticks)", "world.failsafe.deadlock_ticks", 1.0, 100.0, true, true),
    spec("patience (ticks)", "world.failsafe.patience_ticks", 1.0, 100.0, true, true),
    spec("back off for (ticks)", "world.failsafe.backoff_ticks", 1.0, 100.0, true, true),
];

/// The warehouse's live controls for the scenario in force.
pub fn controls(s: &Scenario) -> Vec<Control> {
    let WorldConfig::Warehouse(w) = &s.world else { return Vec::new() };
    let room = crate::worlds::warehouse::Floor::new(w).map_or(1000, |f| f.capacity_for_robots()).max(1);
    let mut v = vec![
        Control::Heading("Warehouse".into()),
        Control::slider("robots", "world.robots", 0.0, room as f64, true, room > 2000),
        Control::slider("orders per hour", "world.orders.rate_per_h", 0.0, 100_000.0, false, true),
        Control::Heading("Coordination (Auto follows the strategy above)".into()),
        Control::choice(
            "task allocation",
            "world.allocation",
            &["Auto", "Centralized", "Decentralized", "Hierarchical", "None"],
        ),
        Control::choice("path planning", "world.planning", &["Auto", "Centralized", "Decentralized", "None"]),
        Control::choice("central planner", "world.planner.kind", &["Pibt", "Whca"]),
    ];
    v.extend(sliders(&PLANNER));
    v.push(Control::Heading("Batteries and chargers".into()));
    v.push(Control::choice("charging policy", "world.battery.policy", &["Threshold", "Opportunistic"]));
    v.push(Control::choice("charger choice", "world.chargers.choice", &["Nearest", "ShortestQueue"]));
    v.extend(sliders(&BATTERY));
    v.push(Control::Heading("Robots".into()));
    v.extend(sliders(&ROBOT));
    v.push(Control::Heading("Fail-safes".into()));
    v.push(Control::choice("when the fleet manager is silent", "world.failsafe.fallback", &["Decentralized", "Stop"]));
    v.extend(sliders(&FAILSAFE));
    v.push(Control::Note("the floor, zones and battery capacity are set at start".into()));
    v
}

fn color32(c: LinearRgba) -> egui::Color32 {
    let s = Color::from(c).to_srgba();
    egui::Color32::from_rgb((s.red * 255.0) as u8, (s.green * 255.0) as u8, (s.blue * 255.0) as u8)
}

/// The warehouse's overlay toggles, legend, click mode, charger outages and planner time.
pub fn overlays(ui: &mut egui::Ui, world: &mut World) {
    let Some(mut o) = world.get_resource_mut::<WarehouseOverlays>() else { return };
    ui.checkbox(&mut o.deadlocks, "Wait-for cycles").on_hover_text(
        "Robots waiting for one another in a ring: orange while it forms, red once it counts as a deadlock",
    );
    ui.checkbox(&mut o.queues, "Charger queues").on_hover_text("A square per robot queued, above each charger");
    ui.checkbox(&mut o.next_moves, "Every robot's next move");
    ui.checkbox(&mut o.click_blocks, "Click blocks a cell")
        .on_hover_text("Otherwise shift-click; click a blocked cell to clear it. Recorded in the session.");
    ui.horizontal_wrapped(|ui| {
        for s in STATES {
            ui.colored_label(color32(state_color(s)), s);
        }
    });
    ui.small("selected robot: goal outlined, reservations green; a carried load is a brown square");
    let n = world.get_resource::<Chargers>().map_or(0, |c| c.list.len());
    if n > 0 {
        ui.horizontal_wrapped(|ui| {
            ui.label("charger outage:");
            for k in 0..n.min(16) {
                let online = world.resource::<Chargers>().list[k].online;
                let label = if online { format!("{k}") } else { format!("{k} (out)") };
                if ui.small_button(label).clicked() {
                    let tick = world.resource::<SimClock>().tick;
                    let mut ev = world.resource_mut::<WorldEvents>();
                    match ev.outage(k as u32) {
                        Some(id) => ev.timeline.end(id),
                        None => {
                            ev.inject(WarehouseEvent {
                                at: tick,
                                duration: None,
                                event: EventKind::ChargerOutage { charger: k as u32 },
                                ended_at: None,
                            });
                        }
                    }
                }
            }
        });
    }
    if let Some(f) = world.get_resource::<Floor>() {
        ui.small(format!("{} cells blocked; {} robots' cells are obstacles", f.blocked.len(), f.down.len()));
    }
    if let Some(fs) = leading_fleet(world) {
        ui.small(format!("planner: {} robots, {:.2} ms of wall time last tick", fs.planned, fs.last_plan_ms));
    }
}
