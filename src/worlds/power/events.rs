//! The Inject phase of the power world: settings changed by a live edit are put in force,
//! the world's own timeline (line trips and restores, generator outages, load steps and
//! cloud fronts, scheduled in the scenario or injected from the app) starts and ends its
//! events, and the time of day moves the bus loads and the clouds.

use bevy::prelude::*;
use serde_json::json;

use super::config::{PowerConfig, PowerEvent, PowerEventKind};
use super::physics::{close_line, gap_ticks, open_line};
use super::state::{LineStatus, PowerState};
use crate::sim::timeline::Timeline;
use crate::sim::{EventLog, SimClock};
use crate::worlds::Params;

/// The world's timeline.
#[derive(Resource, Debug, Clone)]
pub struct PowerEvents(pub Timeline<PowerEvent>);

/// Puts edited settings in force (ratings, unit dynamics, relays).
pub fn apply_params(params: Res<Params<PowerConfig>>, mut state: ResMut<PowerState>) {
    if params.is_changed() && !params.is_added() {
        state.apply_params(&params.0);
    }
}

/// Starts and ends the world's events.
pub fn apply_events(
    clock: Res<SimClock>,
    params: Res<Params<PowerConfig>>,
    mut events: ResMut<PowerEvents>,
    mut state: ResMut<PowerState>,
    mut log: ResMut<EventLog>,
) {
    let now = clock.tick;
    let cfg = &params.0;
    let s = &mut *state;
    let mut steps_changed = false;
    for a in events.0.take_ended(now) {
        match &a.spec.event {
            PowerEventKind::LineTrip { line } => {
                if s.lines.get(*line).is_some_and(|l| l.status == LineStatus::SwitchedOut) {
                    close_line(s, *line, "event_end", now, &mut log);
                }
            }
            PowerEventKind::LineRestore { .. } => {}
            PowerEventKind::GenOutage { generator } => {
                if let Some(u) = s.model.unit_of_row.get(*generator).copied().filter(|&u| u != usize::MAX) {
                    let unit = &mut s.units[u];
                    unit.outage = false;
                    if unit.online() {
                        let _ = s.net.set_gen_in_service(*generator, true);
                    }
                    log.push(now, "gen_restore", Some(s.units[u].agent.0), [("generator", json!(generator))]);
                }
            }
            PowerEventKind::LoadStep { .. } | PowerEventKind::PvStep { .. } => steps_changed = true,
        }
        log.push(now, "world_event_end", None, [("event", json!(a.ordinal)), ("type", json!(a.spec.event.name()))]);
    }
    while let Some(start) = events.0.next_due(now) {
        log.push(now, "world_event", None, [("event", json!(start.ordinal)), ("type", json!(start.spec.event.name()))]);
        match &start.spec.event {
            PowerEventKind::LineTrip { line } => {
                if *line < s.lines.len() {
                    open_line(s, cfg, *line, LineStatus::SwitchedOut, "event", now, clock.dt, &mut log);
                }
            }
            PowerEventKind::LineRestore { line } => {
                if *line < s.lines.len() {
                    close_line(s, *line, "event", now, &mut log);
                }
            }
            PowerEventKind::GenOutage { generator } => {
                if let Some(u) = s.model.unit_of_row.get(*generator).copied().filter(|&u| u != usize::MAX) {
                    let unit = &mut s.units[u];
                    let was = unit.online();
                    unit.outage = true;
                    let lost = unit.pe_mw;
                    unit.pm_mw = 0.0;
                    unit.valve_mw = 0.0;
                    unit.pe_mw = 0.0;
                    let _ = s.net.set_gen_in_service(*generator, false);
                    if was {
                        let c = s.cascade_for(now, gap_ticks(cfg, clock.dt), "event");
                        s.cascades[c].gens.push(*generator);
                        log.push(
                            now,
                            "gen_trip",
                            Some(s.units[u].agent.0),
                            [
                                ("generator", json!(generator)),
                                ("cause", json!("event")),
                                ("lost_mw", json!(lost)),
                                ("cascade", json!(s.cascades[c].id)),
                            ],
                        );
                    }
                }
            }
            PowerEventKind::LoadStep { .. } | PowerEventKind::PvStep { .. } => steps_changed = true,
        }
        events.0.activate(now, start, Vec::new());
    }
    if steps_changed {
        recompute_steps(s, &events.0);
    }
}

/// Load steps and PV factors of the events in force, at every bus.
fn recompute_steps(s: &mut PowerState, events: &Timeline<PowerEvent>) {
    let loaded: f64 = s.buses.iter().map(|b| b.file_mw.max(0.0)).sum();
    let n = s.buses.len().max(1) as f64;
    for b in &mut s.buses {
        b.step_mw = 0.0;
        b.step_share = 0.0;
        b.pv_factor = 1.0;
    }
    s.pv_event_factor = 1.0;
    for a in events.active() {
        match &a.spec.event {
            PowerEventKind::LoadStep { bus, mw, share } => match bus.and_then(|n| s.model.bus(n)) {
                Some(i) => {
                    s.buses[i].step_mw += mw;
                    s.buses[i].step_share += share;
                }
                None => {
                    for b in &mut s.buses {
                        let w = if loaded > 0.0 { b.file_mw.max(0.0) / loaded } else { 1.0 / n };
                        b.step_mw += mw * w;
                        b.step_share += share;
                    }
                }
            },
            PowerEventKind::PvStep { factor, area } => {
                let area_ix = area.and_then(|a| s.model.areas.iter().position(|&x| x == a));
                for (i, b) in s.buses.iter_mut().enumerate() {
                    if area_ix.is_none_or(|a| s.model.bus_area[i] == a) {
                        b.pv_factor *= factor;
                    }
                }
                if area.is_none() {
                    s.pv_event_factor *= factor;
                }
            }
            _ => {}
        }
    }
}

/// The time of day: bus loads follow the daily shape, the clouds move.
pub fn environment(clock: Res<SimClock>, params: Res<Params<PowerConfig>>, mut state: ResMut<PowerState>) {
    let p = &params.0.profile;
    let hour = p.hour(clock.tick as f64 * clock.dt);
    let factor = p.bus_load_factor(hour);
    for b in &mut state.buses {
        b.base_mw = b.file_mw * factor;
    }
    for c in &mut state.clouds {
        c.step(p, clock.dt);
    }
}
