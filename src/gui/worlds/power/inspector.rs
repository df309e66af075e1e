//! The power world's inspector rows: what every agent measured (frequency, RoCoF, angle, the
//! loading at its bus, the last price) and its own state — a unit's output, set-point,
//! schedule, AGC part, fail-safe and consensus values; a battery's charge; a station's ports,
//! queue and cap; an area controller's ACE, export and schedule; the operator's dispatch; a
//! household's demand, PV, battery and deferred demand. Sections list a station's EVs, the
//! operator's schedule and a unit's consensus neighbours.

use bevy::prelude::*;
use bevy_egui::egui;

use crate::gui::inspector::row;
use crate::sim::SimClock;
use crate::worlds::power::agents::Meter;
use crate::worlds::power::agents::control::{AreaAgent, OperatorAgent};
use crate::worlds::power::agents::ev::StationAgent;
use crate::worlds::power::agents::prosumers::Prosumer;
use crate::worlds::power::agents::units::{GenAgent, StorageAgent};
use crate::worlds::power::state::PowerState;

/// Rows in the inspector's grid.
pub(super) fn rows(ui: &mut egui::Ui, world: &World, entity: Entity) {
    let e = world.entity(entity);
    let Some(s) = world.get_resource::<PowerState>() else { return };
    let bus_no = |b: usize| s.model.case.buses.get(b).map_or(0, |x| x.number);
    if let Some(m) = e.get::<Meter>() {
        row(ui, "frequency (Hz)", if m.freq_hz > 0.0 { format!("{:.4}", m.freq_hz) } else { "no supply".into() });
        row(ui, "RoCoF (Hz/s)", format!("{:+.4}", m.rocof));
        row(ui, "bus angle (°)", format!("{:.2}", m.angle_deg));
        row(ui, "most loaded line here", format!("{:.0} %", m.loading * 100.0));
        row(ui, "power (MW)", format!("{:.3}", m.power_mw));
        row(ui, "price heard ($/MWh)", m.price_tick.map_or("none".into(), |t| format!("{:.2} (tick {t})", m.price)));
    }
    if let Some(g) = e.get::<GenAgent>() {
        let u = &s.units[g.unit];
        row(ui, "generator (row) at bus", format!("{} at bus {}", u.row, bus_no(u.bus)));
        row(ui, "output Pe / Pm (MW)", format!("{:.2} / {:.2}", u.pe_mw, u.pm_mw));
        row(ui, "set-point → target (MW)", format!("{:.2} → {:.2}", u.setpoint_mw, g.target_mw));
        row(ui, "schedule + AGC (MW)", format!("{:.2} + {:.2}", g.schedule_mw, g.agc_mw));
        row(ui, "limits (MW)", format!("{:.1} … {:.1}", u.pmin_mw, u.pmax_mw));
        row(
            ui,
            "H / R / Tg / Tt",
            format!(
                "{:.1} s / {} / {:.2} s / {:.2} s",
                u.h_s,
                u.droop.map_or("none".into(), |r| format!("{:.1} %", r * 100.0)),
                u.tg_s,
                u.tt_s
            ),
        );
        row(
            ui,
            "marginal cost ($/MWh)",
            u.cost.map_or("not dispatched".into(), |c| format!("{:.2}", c.marginal(u.pe_mw))),
        );
        row(
            ui,
            "state",
            if u.uf_tripped {
                "tripped (under-frequency)".into()
            } else if u.outage {
                "outage".into()
            } else if g.failsafe {
                "fail-safe: droop only".into()
            } else {
                "online".into()
            },
        );
        row(ui, "last set-point heard", g.heard.map_or("never".into(), |t| format!("tick {t}")));
        if let Some(c) = &g.consensus {
            row(ui, "consensus round", format!("{}{}", c.round, if c.stale { " (stale)" } else { "" }));
            row(ui, "λ ($/MWh) / y (MW)", format!("{:.3} / {:+.3}", c.lambda, c.y_mw));
            row(ui, "local demand (MW)", format!("{:.2}", c.demand_mw));
        }
    }
    if let Some(b) = e.get::<StorageAgent>() {
        let st = &s.storage[b.index];
        row(ui, "battery at bus", bus_no(st.bus).to_string());
        row(ui, "state of charge", format!("{:.1} % of {:.2} MWh", st.soc() * 100.0, st.mwh));
        row(ui, "output / schedule (MW)", format!("{:+.3} / {:+.3}", st.pm_mw, b.target_mw));
        row(ui, "droop", st.droop.map_or("none".into(), |r| format!("{:.1} %", r * 100.0)));
    }
    if let Some(st) = e.get::<StationAgent>() {
        row(ui, "station at bus", bus_no(st.bus).to_string());
        row(ui, "ports in use", format!("{} of {}", st.plugged.len(), st.ports));
        row(ui, "EVs waiting", st.queue.len().to_string());
        row(
            ui,
            "charging (kW)",
            format!(
                "{:.1} (feeder {:.0}, cap {})",
                st.kw,
                st.spec_feeder_kw,
                st.cap_kw.map_or("none".into(), |c| format!("{c:.0}"))
            ),
        );
        row(ui, "limited by", st.limit.to_string());
        row(ui, "arrived / left / turned away", format!("{} / {} / {}", st.arrived, st.departed, st.balked));
        row(ui, "delivered / unmet (kWh)", format!("{:.1} / {:.1}", st.delivered_kwh, st.unmet_kwh));
        row(
            ui,
            "mean wait for a port (s)",
            if st.waits > 0 { format!("{:.0}", st.wait_s / st.waits as f64) } else { "–".into() },
        );
    }
    if let Some(a) = e.get::<AreaAgent>() {
        row(ui, "area", s.model.areas.get(a.area).map_or("?".into(), |n| n.to_string()));
        row(ui, "buses / units / ties", format!("{} / {} / {}", a.buses.len(), a.units.len(), a.ties.len()));
        row(ui, "ACE (MW)", format!("{:+.3}", a.ace_mw));
        row(ui, "export / schedule (MW)", format!("{:+.2} / {:+.2}", a.export_mw, a.schedule_mw));
        row(ui, "AGC output (MW)", format!("{:+.2}", a.agc.output_mw));
        row(ui, "schedule heard", a.schedule_tick.map_or("never".into(), |t| format!("tick {t}")));
        row(ui, "demand response", if a.dr { "asked".into() } else { "off".into() });
        row(ui, "meter readings heard", a.meters.to_string());
        row(ui, "switching orders done", a.switched.to_string());
    }
    if let Some(o) = e.get::<OperatorAgent>() {
        row(ui, "dispatches (failed)", format!("{} ({})", o.dispatches, o.failures));
        row(ui, "dispatch cost ($/h)", format!("{:.1}", o.cost));
        row(
            ui,
            "last dispatch",
            format!("{} (tick {})", o.note, o.last_dispatch.map_or("–".into(), |t| t.to_string())),
        );
        row(ui, "binding lines", if o.binding.is_empty() { "none".into() } else { format!("{:?}", o.binding) });
        row(ui, "stale bus reports", o.stale.to_string());
        row(ui, "area prices ($/MWh)", o.prices.iter().map(|p| format!("{p:.2}")).collect::<Vec<_>>().join(", "));
        row(ui, "AGC output (MW)", format!("{:+.2}", o.agc.output_mw));
        row(ui, "reclosings ordered", o.reclosed.to_string());
    }
    if let Some(h) = e.get::<Prosumer>() {
        row(ui, "household at bus", bus_no(h.bus as usize).to_string());
        row(ui, "frequency (Hz)", format!("{:.4}", h.freq_hz));
        row(ui, "demand / net (kW)", format!("{:.2} / {:+.2}", h.demand_kw, h.net_kw));
        row(
            ui,
            "PV out / curtailed (kW)",
            if h.pv_kw > 0.0 {
                format!("{:.2} / {:.2} of {:.1} peak", h.pv_out_kw, h.curtailed_kw, h.pv_kw)
            } else {
                "no PV".into()
            },
        );
        row(
            ui,
            "battery (kW) / charge",
            if h.bat_kwh > 0.0 {
                format!("{:+.2} / {:.0} % of {:.0} kWh", h.battery_kw, 100.0 * h.soc_kwh / h.bat_kwh, h.bat_kwh)
            } else {
                "no battery".into()
            },
        );
        row(ui, "deferred demand (kWh)", format!("{:.3} for {:.0} s", h.deferred_kwh, h.deferred_s));
        row(
            ui,
            "price / mean ($/MWh)",
            if h.price_tick > 0 { format!("{:.2} / {:.2}", h.price, h.price_mean) } else { "none heard".into() },
        );
        row(ui, "demand response asked", if h.dr { "yes".into() } else { "no".into() });
    }
}

/// Sections below the grid: a station's EVs, the operator's schedule, a unit's neighbours.
pub(super) fn sections(ui: &mut egui::Ui, world: &World, entity: Entity) {
    let e = world.entity(entity);
    let dt = world.get_resource::<SimClock>().map_or(1.0, |c| c.dt);
    let now = world.get_resource::<SimClock>().map_or(0, |c| c.tick);
    if let Some(st) = e.get::<StationAgent>() {
        ui.collapsing(format!("EVs ({} plugged, {} waiting)", st.plugged.len(), st.queue.len()), |ui| {
            for ev in st.plugged.iter().chain(&st.queue).take(40) {
                let left = ev.departure.saturating_sub(now) as f64 * dt / 60.0;
                ui.monospace(format!(
                    "EV {:>4} home {:>6} {:<7} {:5.1}/{:5.1} kWh {:5.1} kW  leaves in {left:5.0} min",
                    ev.id,
                    ev.owner,
                    if ev.plugged.is_some() { "plugged" } else { "waiting" },
                    ev.got_kwh,
                    ev.need_kwh,
                    ev.kw
                ));
            }
        });
    }
    if let (Some(o), Some(s)) = (e.get::<OperatorAgent>(), world.get_resource::<PowerState>()) {
        ui.collapsing("Schedule (MW) per unit", |ui| {
            for (u, p) in o.schedule.iter().enumerate() {
                let k = &o.units[u];
                ui.monospace(format!(
                    "unit {u:>3} (row {:>3})  {p:8.2}   heard {:8.2} at tick {}{}",
                    s.units[u].row,
                    k.0,
                    k.2,
                    if k.1 { "" } else { "  unavailable" }
                ));
            }
        });
    }
    if let Some(c) = e.get::<GenAgent>().and_then(|g| g.consensus.as_ref()) {
        ui.collapsing("Consensus neighbours (round, λ, y, heard)", |ui| {
            for p in c.peers.iter().flatten() {
                ui.monospace(format!("round {:>5}  λ {:8.3}  y {:+9.3}  tick {}", p.0, p.1, p.2, p.3));
            }
        });
    }
}
