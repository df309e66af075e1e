//! The traffic world's panel controls, as data: the ring's demand, automated vehicles,
//! car-following model and V2V; the city's demand, signals, routing and drivers; and
//! the city's overlay toggle and legends. What only applies at start (the road, the
//! city's fleet, the box capacity) gets no control (see the world's `fixed_at_start`).

use bevy::prelude::*;
use bevy_egui::egui;

use crate::gui::controls::{Control, SliderSpec, sliders, spec};
use crate::scenario::{Scenario, WorldConfig};
use crate::worlds::traffic::config::Demand;
use crate::worlds::traffic::{CarFollowing, Road, TrafficConfig};

/// The traffic world's live controls for the scenario in force.
pub fn controls(s: &Scenario) -> Vec<Control> {
    let WorldConfig::Traffic(t) = &s.world else { return Vec::new() };
    match t.road {
        Road::Ring { length_m } => ring(t, length_m),
        _ => city(t),
    }
}

/// The ring's: demand (vehicle count), automated vehicles, the car-following model, V2V.
fn ring(t: &TrafficConfig, length_m: f64) -> Vec<Control> {
    let max_vehicles = match &t.model {
        CarFollowing::Idm(p) => (length_m / (p.length + p.s0)).floor(),
        CarFollowing::Nasch(p) => (length_m / p.cell_m).round(),
    }
    .max(1.0);
    let mut v = vec![
        Control::Heading("Traffic (ring)".into()),
        Control::slider("vehicles (demand)", "world.vehicles", 1.0, max_vehicles, true, max_vehicles > 2000.0),
        // Switching wave-damping controllers on among human drivers (Stern et al. 2018).
        Control::slider(
            "automated vehicles",
            "world.automated",
            0.0,
            f64::from(t.vehicles.max(1)),
            true,
            t.vehicles > 2000,
        ),
    ];
    match &t.model {
        CarFollowing::Idm(_) => {
            v.extend(sliders(&IDM));
            v.push(Control::slider("noise", "world.model.noise", 0.0, 2.0, false, false));
        }
        CarFollowing::Nasch(_) => {
            v.push(Control::slider("vmax (cells/tick)", "world.model.vmax", 1.0, 10.0, true, false));
            v.push(Control::slider("p slow-down", "world.model.p_slow", 0.0, 1.0, false, false));
        }
    }
    v.extend(sliders(&RING_V2V));
    // The sensor-only fail-safe of each model: a longer headway (IDM) or spare cells (NaSch).
    v.extend(sliders(match &t.model {
        CarFollowing::Idm(_) => &RING_IDM_FAILSAFE[..],
        CarFollowing::Nasch(_) => &RING_NASCH_FAILSAFE[..],
    }));
    v
}

/// The ring's V2V settings.
pub const RING_V2V: [SliderSpec; 3] = [
    spec("V2V range (m)", "world.driving.v2v_range_m", 5.0, 1000.0, false, true),
    spec("message timeout (ticks)", "world.driving.message_timeout_ticks", 1.0, 200.0, true, true),
    spec("beacon every (ticks)", "world.driving.beacon_every_ticks", 1.0, 100.0, true, true),
];

/// The IDM ring's fail-safe.
pub const RING_IDM_FAILSAFE: [SliderSpec; 1] =
    [spec("fallback headway (s)", "world.driving.fallback_headway_s", 0.5, 5.0, false, false)];

/// The NaSch ring's fail-safe and cooperative dawdling.
pub const RING_NASCH_FAILSAFE: [SliderSpec; 2] = [
    spec("fallback gap (cells)", "world.driving.fallback_gap_cells", 0.0, 10.0, true, false),
    spec("p slow-down with fresh messages", "world.driving.coop_p_slow", 0.0, 1.0, false, false),
];

/// The city's: demand, signal control and timing, rerouting, gridlock detection and the
/// drivers' IDM. The fleet size, the network and the box capacity only apply at start,
/// and the ring's V2V settings and IDM noise are not used by the city, so none of them
/// gets a control.
fn city(t: &TrafficConfig) -> Vec<Control> {
    let mut v = vec![Control::Heading("Demand".into())];
    for (label, path, min, max) in demand_sliders(&t.city.demand) {
        v.push(Control::slider(label, path, min, max, false, false));
    }
    if let Demand::Od(cells) = &t.city.demand
        && cells.len() > MAX_OD_SLIDERS
    {
        v.push(Control::Note(format!("{} more OD pairs: edit the file", cells.len() - MAX_OD_SLIDERS)));
    }
    v.push(Control::Note(format!("fleet: {} vehicles (set at start)", t.vehicles)));
    v.push(Control::Heading("Signals".into()));
    v.push(Control::choice("control (coordination None)", "world.city.signals.control", &["FixedTime", "Actuated"]));
    v.extend(sliders(&CITY_SIGNALS));
    v.push(Control::Heading("Routing".into()));
    v.push(Control::Toggle {
        label: "reroute around reported congestion".into(),
        path: "world.city.routing.reroute".into(),
    });
    v.extend(sliders(&CITY_ROUTING));
    v.push(Control::Heading("Drivers (IDM)".into()));
    v.extend(sliders(&IDM));
    v.extend(sliders(&CITY_DRIVING));
    v
}

/// OD pairs that get their own slider (the rest are left to the file).
const MAX_OD_SLIDERS: usize = 12;

/// Which of the city's overlays are on.
#[derive(Resource, Debug, Clone)]
pub struct CityOverlays {
    /// Contended and gridlocked intersections (and gridlocked links) highlighted.
    pub intersections: bool,
}

impl Default for CityOverlays {
    fn default() -> Self {
        CityOverlays { intersections: true }
    }
}

/// The traffic world's overlay toggles (the city's intersection highlights); what they show is
/// in the on-screen legend.
pub fn overlays(ui: &mut egui::Ui, world: &mut World) {
    let Some(mut o) = world.get_resource_mut::<CityOverlays>() else {
        return;
    };
    ui.checkbox(&mut o.intersections, "Contended / gridlocked intersections")
        .on_hover_text("Orange outline: box full or exit blocked; magenta: gridlock");
}

/// Signal timing the lights read every tick.
pub const CITY_SIGNALS: [SliderSpec; 10] = [
    spec("cycle (s)", "world.city.signals.cycle_s", 20.0, 240.0, false, false),
    spec("yellow (s)", "world.city.signals.yellow_s", 0.0, 10.0, false, false),
    spec("all-red (s)", "world.city.signals.all_red_s", 0.0, 10.0, false, false),
    spec("min green (s)", "world.city.signals.min_green_s", 1.0, 60.0, false, false),
    spec("max green (s)", "world.city.signals.max_green_s", 5.0, 180.0, false, false),
    spec("gap-out (s, actuated)", "world.city.signals.gap_s", 0.5, 20.0, false, false),
    spec("detector (m)", "world.city.signals.detector_m", 5.0, 200.0, false, false),
    spec("report every (ticks)", "world.city.signals.report_every_ticks", 1.0, 100.0, true, true),
    spec("contact timeout (s)", "world.city.signals.contact_timeout_s", 1.0, 120.0, false, true),
    spec("main direction share", "world.city.signals.main_share", 0.1, 0.9, false, false),
];

/// Rerouting and gridlock detection.
pub const CITY_ROUTING: [SliderSpec; 5] = [
    spec("congested at (halted veh/lane)", "world.city.routing.congestion_queue_veh", 1.0, 50.0, false, false),
    spec("broadcast radius (m)", "world.city.routing.broadcast_m", 10.0, 5000.0, false, true),
    spec("broadcast every (ticks)", "world.city.routing.broadcast_every_ticks", 1.0, 200.0, true, true),
    spec("min reroute interval (s)", "world.city.routing.min_interval_s", 0.0, 300.0, false, false),
    spec("gridlock after (s)", "world.city.gridlock_after_s", 1.0, 300.0, false, true),
];

/// The IDM parameters both worlds' drivers read every tick.
pub const IDM: [SliderSpec; 5] = [
    spec("v0 desired speed (m/s)", "world.model.v0", 1.0, 50.0, false, false),
    spec("T time headway (s)", "world.model.time_headway", 0.2, 4.0, false, false),
    spec("s0 jam distance (m)", "world.model.s0", 0.0, 10.0, false, false),
    spec("a max accel (m/s²)", "world.model.a", 0.1, 4.0, false, false),
    spec("b comfortable decel (m/s²)", "world.model.b", 0.2, 6.0, false, false),
];

/// The city drivers' sensing.
pub const CITY_DRIVING: [SliderSpec; 2] = [
    spec("sensor range (m)", "world.driving.sensor_range_m", 5.0, 1000.0, false, true),
    spec("halted below (m/s)", "world.driving.jam_speed_mps", 0.0, 10.0, false, false),
];

/// Demand sliders for the city's kind of demand: (label, path, min, max).
pub fn demand_sliders(demand: &Demand) -> Vec<(String, String, f64, f64)> {
    let rate = |label: &str| (label.to_string(), "world.city.demand.default_rate_veh_per_h".to_string(), 0.0, 3600.0);
    match demand {
        Demand::Entries { .. } => vec![rate("trips/h per entry")],
        Demand::Turning { .. } => vec![
            rate("vehicles/h per entry"),
            ("left-turn share".into(), "world.city.demand.left".into(), 0.0, 1.0),
            ("right-turn share".into(), "world.city.demand.right".into(), 0.0, 1.0),
        ],
        Demand::Od(cells) => cells
            .iter()
            .enumerate()
            .take(MAX_OD_SLIDERS)
            .map(|(k, c)| {
                (
                    format!("{} to {} (veh/h)", c.from, c.to),
                    format!("world.city.demand[{k}].rate_veh_per_h"),
                    0.0,
                    3600.0,
                )
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::scenario;

    fn load(name: &str) -> Scenario {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios").join(name);
        scenario::load_file(&path).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    /// Every slider the city panel shows edits a field the city has, starts inside its
    /// range, and a change to it is accepted while running.
    #[test]
    fn every_city_slider_is_live_editable() {
        for file in ["traffic_grid.ron", "traffic_gridlock.ron", "traffic_green_wave.ron"] {
            let s = load(file);
            let WorldConfig::Traffic(t) = &s.world else { panic!("{file} is a traffic scenario") };
            let mut sliders: Vec<(String, f64, f64, bool)> =
                demand_sliders(&t.city.demand).into_iter().map(|(_, p, lo, hi)| (p, lo, hi, false)).collect();
            sliders.extend(
                CITY_SIGNALS
                    .iter()
                    .chain(&CITY_ROUTING)
                    .chain(&IDM)
                    .chain(&CITY_DRIVING)
                    .map(|x| (x.path.to_string(), x.min, x.max, x.integer)),
            );
            for (path, lo, hi, integer) in sliders {
                let cur: f64 = s.get(&path).and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("{file}: no {path}"));
                assert!((lo..=hi).contains(&cur), "{file}: {path} = {cur} is outside the slider's {lo}..={hi}");
                // A small step (validation couples some fields, e.g. phases must fit the cycle).
                let step = (hi - lo) * 0.02;
                let mut v = if hi - cur >= step { cur + step } else { cur - step };
                if integer {
                    v = v.round();
                }
                let next = s.with_set(&path, &v.to_string()).unwrap_or_else(|e| panic!("{file}: {path}={v}: {e:?}"));
                let now = next.get(&path).and_then(|x| x.parse::<f64>().ok()).unwrap_or(f64::NAN);
                assert!((now - v).abs() < 1e-9, "{file}: {path} is {now} after setting {v}");
                scenario::live_editable(&s, &next).unwrap_or_else(|e| panic!("{file}: {path}: {e}"));
            }
            for (path, value) in [("world.city.routing.reroute", "false"), ("world.city.signals.control", "Actuated")] {
                let next = s.with_set(path, value).unwrap_or_else(|e| panic!("{file}: {path}={value}: {e:?}"));
                scenario::live_editable(&s, &next).unwrap_or_else(|e| panic!("{file}: {path}: {e}"));
            }
            // What the city panel leaves out really is fixed at start.
            let more = s.with_set("world.vehicles", &(t.vehicles + 1).to_string()).expect("valid");
            assert!(scenario::live_editable(&s, &more).is_err(), "{file}: the fleet size became live-editable");
        }
    }
}
