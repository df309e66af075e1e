//! The power world's panel controls, as data: demand and PV, frequency dynamics, line
//! ratings and protection, EV charging, dispatch and consensus; and its overlay toggles and
//! legend. What only applies at start (the network, the households, stations, batteries and
//! areas) gets no control (see the world's `fixed_at_start`); coordination and the channel
//! are the core's controls.

use bevy::prelude::*;
use bevy_egui::egui;

use super::PowerOverlays;
use crate::gui::controls::{Control, SliderSpec, sliders, spec};
use crate::scenario::{Scenario, WorldConfig};

/// Demand and PV.
pub const DEMAND: [SliderSpec; 3] = [
    spec("load scale", "world.profile.load_scale", 0.0, 2.0, false, false),
    spec("PV scale", "world.profile.pv_scale", 0.0, 2.0, false, false),
    spec("cloudiness", "world.profile.clouds", 0.0, 1.0, false, false),
];

/// Frequency dynamics of the units.
pub const FREQUENCY: [SliderSpec; 5] = [
    spec("H inertia (s)", "world.frequency.h_s", 0.5, 12.0, false, false),
    spec("D load damping", "world.frequency.damping", 0.0, 5.0, false, false),
    spec("R droop (pu)", "world.frequency.droop", 0.01, 0.2, false, false),
    spec("Tg governor (s)", "world.frequency.tg_s", 0.05, 2.0, false, true),
    spec("Tt turbine (s)", "world.frequency.tt_s", 0.1, 10.0, false, true),
];

/// AGC.
pub const AGC: [SliderSpec; 2] = [
    spec("AGC gain Ki (1/s)", "world.agc.ki", 0.001, 0.5, false, true),
    spec("AGC cycle (s)", "world.agc.every_s", 0.5, 30.0, false, true),
];

/// Line ratings and protection.
pub const LINES: [SliderSpec; 4] = [
    spec("rating margin α", "world.ratings.margin", 0.0, 2.0, false, false),
    spec("rating scale", "world.ratings.scale", 0.2, 3.0, false, false),
    spec("overload trips after (s)", "world.protection.overload_s", 0.5, 600.0, false, true),
    spec("hard limit (× rating)", "world.protection.hard_limit", 1.05, 5.0, false, false),
];

/// EV charging.
pub const EV: [SliderSpec; 1] =
    [spec("EV arrivals per hour per station", "world.ev.arrivals_per_hour", 0.0, 40.0, false, false)];

/// The operator and consensus.
pub const DISPATCH: [SliderSpec; 5] = [
    spec("dispatch every (s)", "world.operator.dispatch_every_s", 5.0, 3600.0, false, true),
    spec("telemetry every (s)", "world.operator.telemetry_every_s", 0.1, 60.0, false, true),
    spec("set-point timeout (s)", "world.operator.setpoint_timeout_s", 1.0, 600.0, false, true),
    spec("consensus step ε", "world.consensus.step", 0.0001, 0.2, false, true),
    spec("consensus round every (s)", "world.consensus.every_s", 0.1, 30.0, false, true),
];

/// The power world's live controls for the scenario in force.
pub fn controls(s: &Scenario) -> Vec<Control> {
    let WorldConfig::Power(p) = &s.world else { return Vec::new() };
    let mut v = vec![Control::Heading("Demand and PV".into())];
    v.extend(sliders(&DEMAND));
    v.push(Control::Heading("Frequency".into()));
    v.extend(sliders(&FREQUENCY));
    v.push(Control::Toggle { label: "AGC (centralized, hierarchical)".into(), path: "world.agc.enabled".into() });
    v.extend(sliders(&AGC));
    v.push(Control::Heading("Lines".into()));
    v.extend(sliders(&LINES));
    v.push(Control::Toggle { label: "line protection".into(), path: "world.protection.enabled".into() });
    v.push(Control::Note("click a line to trip it; click an open line to close it".into()));
    if !p.ev.stations.is_empty() {
        v.push(Control::Heading("EV charging".into()));
        v.extend(sliders(&EV));
        v.push(Control::choice("charger policy", "world.ev.policy", &["Fcfs", "FairShare", "EarliestDeparture"]));
    }
    v.push(Control::Heading("Dispatch".into()));
    v.extend(sliders(&DISPATCH));
    v
}

fn legend(ui: &mut egui::Ui, items: &[(egui::Color32, &str)]) {
    ui.horizontal_wrapped(|ui| {
        for (c, text) in items {
            ui.colored_label(*c, "■");
            ui.small(*text);
        }
    });
}

/// The power world's overlay toggles and legends.
pub fn overlays(ui: &mut egui::Ui, world: &mut World) {
    let Some(mut o) = world.get_resource_mut::<PowerOverlays>() else { return };
    ui.checkbox(&mut o.islands, "Islands shaded (a dark island black)");
    ui.checkbox(&mut o.arrows, "Flow direction arrows");
    ui.checkbox(&mut o.households, "Households");
    ui.checkbox(&mut o.readout, "Frequency readout");
    ui.small("Lines: width by flow, colour by loading");
    legend(
        ui,
        &[
            (egui::Color32::from_rgb(50, 205, 90), "< 70 %"),
            (egui::Color32::from_rgb(242, 217, 38), "70 %"),
            (egui::Color32::from_rgb(255, 115, 25), "90 %"),
            (egui::Color32::from_rgb(255, 25, 25), "≥ 100 %"),
            (egui::Color32::from_rgb(140, 165, 205), "unrated"),
        ],
    );
    legend(
        ui,
        &[
            (egui::Color32::from_rgb(255, 40, 40), "tripped (dashed ×)"),
            (egui::Color32::from_rgb(180, 180, 180), "switched out"),
            (egui::Color32::from_rgb(255, 150, 25), "bus shedding load"),
            (egui::Color32::from_rgb(128, 12, 12), "dark bus"),
        ],
    );
    legend(
        ui,
        &[
            (egui::Color32::from_rgb(255, 217, 51), "unit (yellow at full output)"),
            (egui::Color32::from_rgb(255, 77, 255), "unit on fail-safe droop"),
            (egui::Color32::from_rgb(115, 90, 230), "EV station: ports, queue"),
            (egui::Color32::from_rgb(77, 153, 255), "controllers"),
            (egui::Color32::from_rgb(77, 230, 100), "household exporting"),
        ],
    );
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::scenario;

    /// Every slider edits a field the power world has, starts inside its range, and a change
    /// to it is accepted while running.
    #[test]
    fn every_power_slider_is_live_editable() {
        for file in ["power_ieee14.ron", "power_microgrid_ev.ron", "power_consensus.ron"] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios").join(file);
            let s = scenario::load_file(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
            for c in controls(&s) {
                let Control::Slider(x) = c else { continue };
                let cur: f64 =
                    s.get(&x.path).and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("{file}: no {}", x.path));
                assert!((x.min..=x.max).contains(&cur), "{file}: {} = {cur} is outside {}..={}", x.path, x.min, x.max);
                let step = (x.max - x.min) * 0.02;
                let v = if x.max - cur >= step { cur + step } else { cur - step };
                let next =
                    s.with_set(&x.path, &v.to_string()).unwrap_or_else(|e| panic!("{file}: {}={v}: {e:?}", x.path));
                scenario::live_editable(&s, &next).unwrap_or_else(|e| panic!("{file}: {}: {e}", x.path));
            }
            for (path, value) in
                [("world.ev.policy", "FairShare"), ("world.agc.enabled", "false"), ("coordination", "Decentralized")]
            {
                let next = s.with_set(path, value).unwrap_or_else(|e| panic!("{file}: {path}={value}: {e:?}"));
                scenario::live_editable(&s, &next).unwrap_or_else(|e| panic!("{file}: {path}: {e}"));
            }
            let more = s.with_set("world.prosumers.households", "7").expect("valid");
            assert!(scenario::live_editable(&s, &more).is_err(), "{file}: the households became live-editable");
        }
    }
}
