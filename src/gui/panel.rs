//! The control panel: play/pause/step/reset/speed/seed, scenario files, live parameters, faults, overlays.

use std::ops::RangeInclusive;
use std::path::PathBuf;

use bevy::prelude::*;
use bevy_egui::egui;

use super::camera::{FitRequest, WorldBounds};
use super::commands;
use super::control::SimControl;
use super::traffic::{MAX_MESSAGE_LINES, MessageOverlayStats, message_color};
use super::ui::UiState;
use super::{Overlays, ScenarioOrigin};
use crate::runner::LiveScenario;
use crate::scenario::WorldConfig;
use crate::sim::{AgentKind, Faults, SimClock};
use crate::worlds::traffic::CarFollowing;

/// Settings of the fault buttons.
#[derive(Debug, Clone)]
pub struct FaultDraft {
    /// Fraction of agents a crash takes down.
    pub crash_fraction: f64,
    /// Which agents a crash picks from (`None`: all kinds).
    pub crash_kind: Option<AgentKind>,
    /// Loss a "raise loss" fault adds.
    pub loss: f64,
    /// Extra latency a latency fault adds, ticks.
    pub extra_latency: u32,
    /// Quadrant a blackout covers (0 NE, 1 NW, 2 SW, 3 SE).
    pub quadrant: u8,
    /// How long injected faults last, ticks; 0 = until ended.
    pub duration: u64,
}

impl Default for FaultDraft {
    fn default() -> Self {
        Self {
            crash_fraction: 0.2,
            crash_kind: Some(AgentKind::Vehicle),
            loss: 0.5,
            extra_latency: 10,
            quadrant: 0,
            duration: 600,
        }
    }
}

/// Draws the whole left panel.
pub fn controls(ui: &mut egui::Ui, world: &mut World, state: &mut UiState) {
    simulation_section(ui, world, state);
    if let Some((text, error)) = &state.message {
        let color =
            if *error { egui::Color32::from_rgb(255, 120, 100) } else { egui::Color32::from_rgb(140, 220, 140) };
        ui.colored_label(color, text);
    }
    ui.separator();
    egui::CollapsingHeader::new("Scenario").default_open(false).show(ui, |ui| files_section(ui, world, state));
    egui::CollapsingHeader::new("Live parameters").default_open(true).show(ui, |ui| params_section(ui, world, state));
    egui::CollapsingHeader::new("Faults").default_open(true).show(ui, |ui| faults_section(ui, world, state));
    egui::CollapsingHeader::new("Overlays").default_open(true).show(ui, |ui| overlays_section(ui, world, state));
}

fn simulation_section(ui: &mut egui::Ui, world: &mut World, state: &mut UiState) {
    ui.heading("Simulation");
    let clock_seed = world.resource::<SimClock>().seed;
    let mut control = world.resource_mut::<SimControl>();
    ui.horizontal(|ui| {
        let label = if control.playing { "⏸ Pause" } else { "▶ Play" };
        if ui.button(label).on_hover_text("Space").clicked() {
            control.playing = !control.playing;
        }
        if ui.add_enabled(!control.playing, egui::Button::new("Step")).on_hover_text("One tick").clicked() {
            control.pending_steps += 1;
        }
    });
    ui.checkbox(&mut control.as_fast_as_possible, "As fast as possible");
    ui.add_enabled(
        !control.as_fast_as_possible,
        egui::Slider::new(&mut control.ticks_per_second, 1.0..=5000.0).logarithmic(true).text("ticks/s"),
    );
    ui.horizontal(|ui| {
        let mut seed = state.seed.unwrap_or(clock_seed);
        ui.label("Seed");
        ui.add(egui::DragValue::new(&mut seed));
        state.seed = Some(seed);
        if ui.button("⟲ Reset").on_hover_text("Start over with the settings in force and this seed").clicked() {
            commands::reset_with_seed(world, seed);
            state.pending.clear();
            state.message = Some((format!("reset with seed {seed}"), false));
        }
    });
    if ui.button("Fit view (F)").clicked() {
        world.resource_mut::<FitRequest>().0 = true;
    }
}

fn files_section(ui: &mut egui::Ui, world: &mut World, state: &mut UiState) {
    let origin = world.resource::<ScenarioOrigin>().0.clone();
    let name = world.resource::<LiveScenario>().current.name.clone();
    ui.label(format!("{name}  ({origin})"));
    let description = world.resource::<LiveScenario>().current.description.clone();
    if !description.is_empty() {
        ui.small(description);
    }
    let files = commands::list_scenarios(std::path::Path::new("scenarios"));
    if !files.is_empty() {
        ui.horizontal_wrapped(|ui| {
            for f in files {
                let label = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                if ui.small_button(&label).on_hover_text(f.display().to_string()).clicked() {
                    open(world, state, f);
                }
            }
        });
    }
    ui.horizontal(|ui| {
        ui.add(egui::TextEdit::singleline(&mut state.open_path).hint_text("path/to/scenario.ron").desired_width(170.0));
        if ui.button("Open").clicked() && !state.open_path.trim().is_empty() {
            let p = PathBuf::from(state.open_path.trim());
            open(world, state, p);
        }
    });
    if state.save_path.is_empty() {
        state.save_path = format!("{name}_settings.ron");
    }
    if state.session_path.is_empty() {
        state.session_path = format!("{name}_session.ron");
    }
    ui.horizontal(|ui| {
        ui.add(egui::TextEdit::singleline(&mut state.save_path).desired_width(170.0));
        if ui.button("Save settings").on_hover_text("The settings in force, as a scenario for `masim run`").clicked() {
            let text = commands::settings_ron(world);
            state.message = Some(match commands::write_file(std::path::Path::new(&state.save_path), &text) {
                Ok(()) => (format!("saved {}", state.save_path), false),
                Err(e) => (e, true),
            });
        }
    });
    ui.horizontal(|ui| {
        ui.add(egui::TextEdit::singleline(&mut state.session_path).desired_width(170.0));
        if ui
            .button("Export session")
            .on_hover_text("Scenario + every live change and fault with its tick; `masim run` replays it")
            .clicked()
        {
            let text = commands::session_ron(world);
            state.message = Some(match commands::write_file(std::path::Path::new(&state.session_path), &text) {
                Ok(()) => (format!("session written to {}", state.session_path), false),
                Err(e) => (e, true),
            });
        }
    });
    let live = world.resource::<LiveScenario>();
    let faults = world.resource::<Faults>();
    ui.small(format!("recorded: {} edit(s), {} fault(s)", live.applied.len(), faults.history.len()));
}

fn open(world: &mut World, state: &mut UiState, path: PathBuf) {
    match commands::open_file(world, &path) {
        Ok(()) => {
            state.pending.clear();
            state.seed = None;
            state.save_path.clear();
            state.session_path.clear();
            state.message = Some((format!("opened {}", path.display()), false));
        }
        Err(e) => state.message = Some((e, true)),
    }
}

/// Current value of a numeric scenario field (None when absent or not a number).
fn current_number(world: &World, path: &str) -> Option<f64> {
    world.resource::<LiveScenario>().current.get(path)?.parse().ok()
}

/// A slider bound to a scenario field; the edit is sent once, when the drag ends.
#[allow(clippy::too_many_arguments)]
fn param_slider(
    ui: &mut egui::Ui,
    world: &mut World,
    state: &mut UiState,
    label: &str,
    path: &str,
    range: RangeInclusive<f64>,
    integer: bool,
    logarithmic: bool,
) {
    let Some(current) = current_number(world, path) else {
        return;
    };
    let pending = state.pending.get(path).and_then(|v| v.parse::<f64>().ok());
    if pending.is_some_and(|p| (p - current).abs() < 1e-9) {
        state.pending.remove(path);
    }
    let shown = state.drafts.get(path).copied().or(pending).unwrap_or(current);
    let mut v = shown;
    let mut slider = egui::Slider::new(&mut v, range).text(label).logarithmic(logarithmic);
    if integer {
        slider = slider.integer();
    }
    let response = ui.add(slider);
    if response.changed() {
        state.drafts.insert(path.to_string(), v);
    }
    if !response.dragged()
        && let Some(value) = state.drafts.remove(path)
    {
        let text = if integer { format!("{}", value.round() as i64) } else { format!("{value}") };
        if (value - current).abs() > 1e-12 {
            send_edit(world, state, path, &text);
        }
    }
}

fn send_edit(world: &mut World, state: &mut UiState, path: &str, value: &str) {
    match commands::request_edit(world, path, value) {
        Ok(()) => {
            state.pending.insert(path.to_string(), value.to_string());
            state.message = Some((format!("{path} = {value} (from the next tick)"), false));
        }
        Err(e) => state.message = Some((format!("{path}: {e}"), true)),
    }
}

/// A combo box over enum variant names bound to a scenario field.
fn param_choice(ui: &mut egui::Ui, world: &mut World, state: &mut UiState, label: &str, path: &str, options: &[&str]) {
    let current = world.resource::<LiveScenario>().current.get(path).unwrap_or_default();
    let current = current.trim_matches('"').to_string();
    let shown = state.pending.get(path).cloned().unwrap_or_else(|| current.clone());
    if shown == current {
        state.pending.remove(path);
    }
    let mut chosen = shown.clone();
    egui::ComboBox::from_label(label).selected_text(&shown).show_ui(ui, |ui| {
        for o in options {
            ui.selectable_value(&mut chosen, (*o).to_string(), *o);
        }
    });
    if chosen != shown {
        send_edit(world, state, path, &chosen);
    }
}

/// An optional numeric field: a checkbox for "limited" and a slider for the limit.
fn param_optional(
    ui: &mut egui::Ui,
    world: &mut World,
    state: &mut UiState,
    label: &str,
    path: &str,
    range: RangeInclusive<f64>,
    default: f64,
) {
    let limited = current_number(world, path).is_some();
    let mut on = limited;
    ui.checkbox(&mut on, label);
    if on != limited {
        let value = if on { format!("{}", default as u64) } else { "null".to_string() };
        send_edit(world, state, path, &value);
    }
    if limited {
        ui.indent(path, |ui| param_slider(ui, world, state, "bytes/tick", path, range, true, true));
    }
}

fn params_section(ui: &mut egui::Ui, world: &mut World, state: &mut UiState) {
    ui.label(egui::RichText::new("Channel").strong());
    param_choice(
        ui,
        world,
        state,
        "topology",
        "channel.topology",
        &["AllToAll", "RangeLimited", "Hierarchical", "None"],
    );
    param_slider(ui, world, state, "latency (ticks)", "channel.latency_ticks", 1.0..=100.0, true, true);
    param_slider(ui, world, state, "jitter (ticks)", "channel.jitter_ticks", 0.0..=50.0, true, false);
    param_slider(ui, world, state, "loss", "channel.loss", 0.0..=1.0, false, false);
    param_slider(ui, world, state, "range (m)", "channel.range_m", 5.0..=5000.0, false, true);
    param_slider(ui, world, state, "cluster size (m)", "channel.cluster_size_m", 10.0..=5000.0, false, true);
    param_optional(ui, world, state, "per-agent bandwidth cap", "channel.bandwidth_per_agent", 1.0..=100_000.0, 1000.0);
    param_optional(ui, world, state, "total bandwidth cap", "channel.bandwidth_total", 1.0..=10_000_000.0, 100_000.0);
    ui.separator();
    ui.label(egui::RichText::new("Coordination").strong());
    param_choice(
        ui,
        world,
        state,
        "strategy",
        "coordination",
        &["None", "Decentralized", "Centralized", "Hierarchical"],
    );
    ui.separator();
    let world_cfg = world.resource::<LiveScenario>().current.world.clone();
    let WorldConfig::Traffic(t) = world_cfg;
    ui.label(egui::RichText::new("Traffic").strong());
    if let crate::worlds::traffic::Road::Ring { length_m } = t.road {
        let max_vehicles = match &t.model {
            CarFollowing::Idm(p) => (length_m / (p.length + p.s0)).floor(),
            CarFollowing::Nasch(p) => (length_m / p.cell_m).round(),
        }
        .max(1.0);
        param_slider(
            ui,
            world,
            state,
            "vehicles (demand)",
            "world.vehicles",
            1.0..=max_vehicles,
            true,
            max_vehicles > 2000.0,
        );
    }
    match &t.model {
        CarFollowing::Idm(_) => {
            param_slider(ui, world, state, "v0 desired speed (m/s)", "world.model.v0", 1.0..=50.0, false, false);
            param_slider(ui, world, state, "T time headway (s)", "world.model.time_headway", 0.2..=4.0, false, false);
            param_slider(ui, world, state, "s0 jam distance (m)", "world.model.s0", 0.0..=10.0, false, false);
            param_slider(ui, world, state, "a max accel (m/s²)", "world.model.a", 0.1..=4.0, false, false);
            param_slider(ui, world, state, "b comfortable decel (m/s²)", "world.model.b", 0.2..=6.0, false, false);
            param_slider(ui, world, state, "noise", "world.model.noise", 0.0..=2.0, false, false);
        }
        CarFollowing::Nasch(_) => {
            param_slider(ui, world, state, "vmax (cells/tick)", "world.model.vmax", 1.0..=10.0, true, false);
            param_slider(ui, world, state, "p slow-down", "world.model.p_slow", 0.0..=1.0, false, false);
        }
    }
    param_slider(ui, world, state, "V2V range (m)", "world.driving.v2v_range_m", 5.0..=1000.0, false, true);
    param_slider(
        ui,
        world,
        state,
        "message timeout (ticks)",
        "world.driving.message_timeout_ticks",
        1.0..=200.0,
        true,
        true,
    );
    param_slider(ui, world, state, "fallback headway (s)", "world.driving.fallback_headway_s", 0.5..=5.0, false, false);
    param_slider(ui, world, state, "beacon every (ticks)", "world.driving.beacon_every_ticks", 1.0..=100.0, true, true);
    if !state.pending.is_empty() {
        ui.small("edits waiting for the next tick…");
    }
}

fn faults_section(ui: &mut egui::Ui, world: &mut World, state: &mut UiState) {
    let f = &mut state.faults;
    ui.add(egui::Slider::new(&mut f.duration, 0..=20_000).logarithmic(true).text("duration (ticks, 0 = until ended)"));
    let duration = (f.duration > 0).then_some(f.duration);
    let bounds = *world.resource::<WorldBounds>();
    let mut injected = None;
    ui.horizontal(|ui| {
        egui::ComboBox::from_id_salt("crash_kind")
            .selected_text(f.crash_kind.map_or("all agents", AgentKind::name))
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut f.crash_kind, Some(AgentKind::Vehicle), "vehicles");
                ui.selectable_value(&mut f.crash_kind, Some(AgentKind::Controller), "controllers");
                ui.selectable_value(&mut f.crash_kind, Some(AgentKind::TrafficLight), "traffic lights");
                ui.selectable_value(&mut f.crash_kind, None, "all agents");
            });
        ui.add(egui::Slider::new(&mut f.crash_fraction, 0.0..=1.0).fixed_decimals(2));
    });
    if ui.button(format!("Crash {:.0}%", f.crash_fraction * 100.0)).clicked() {
        injected = Some(commands::crash_fraction(world, f.crash_kind, f.crash_fraction, duration));
    }
    if ui.button("Partition the network (west | east)").clicked() {
        injected = Some(commands::inject_fault(world, commands::partition_halves(bounds.min, bounds.max), duration));
    }
    ui.horizontal(|ui| {
        let names = ["NE", "NW", "SW", "SE"];
        egui::ComboBox::from_id_salt("blackout_q").selected_text(names[f.quadrant as usize % 4]).show_ui(ui, |ui| {
            for (k, n) in names.iter().enumerate() {
                ui.selectable_value(&mut f.quadrant, k as u8, *n);
            }
        });
        if ui.button("Black out quadrant").clicked() {
            let region = commands::quadrant(bounds.min, bounds.max, f.quadrant);
            injected = Some(commands::inject_fault(world, crate::sim::FaultKind::Blackout { region }, duration));
        }
    });
    ui.horizontal(|ui| {
        ui.add(egui::Slider::new(&mut f.loss, 0.0..=1.0).fixed_decimals(2));
        if ui.button("Raise loss").clicked() {
            injected = Some(commands::inject_fault(world, crate::sim::FaultKind::Loss { loss: f.loss }, duration));
        }
    });
    ui.horizontal(|ui| {
        ui.add(egui::Slider::new(&mut f.extra_latency, 1..=200).logarithmic(true));
        if ui.button("Latency spike").clicked() {
            injected = Some(commands::inject_fault(
                world,
                crate::sim::FaultKind::Latency { extra_ticks: f.extra_latency },
                duration,
            ));
        }
    });
    if let Some(id) = injected {
        state.message = Some((format!("fault #{id} starts at the next tick"), false));
    }
    let now = world.resource::<SimClock>().tick;
    let faults = world.resource::<Faults>();
    let active: Vec<(u32, String, Option<u64>)> = faults
        .active()
        .iter()
        .map(|a| (a.id, describe_fault(&a.spec.fault, a.affected.len()), a.ends.map(|e| e.saturating_sub(now))))
        .collect();
    let upcoming = faults.scheduled().count();
    ui.label(egui::RichText::new(format!("Active faults ({})", active.len())).strong());
    let mut end = None;
    for (id, text, remaining) in active {
        ui.horizontal(|ui| {
            let left = remaining.map_or("until ended".to_string(), |r| format!("{r} ticks left"));
            ui.label(format!("#{id} {text} — {left}"));
            if ui.small_button("End").clicked() {
                end = Some(id);
            }
        });
    }
    if let Some(id) = end {
        commands::end_fault(world, id);
        state.message = Some((format!("fault #{id} ends at the next tick"), false));
    }
    if upcoming > 0 {
        ui.small(format!("{upcoming} fault(s) scheduled"));
    }
}

fn describe_fault(f: &crate::sim::FaultKind, affected: usize) -> String {
    use crate::sim::FaultKind;
    match f {
        FaultKind::Crash { kind, fraction, .. } => {
            format!("crash {:.0}% of {} ({affected} down)", fraction * 100.0, kind.map_or("all", |k| k.name()))
        }
        FaultKind::Loss { loss } => format!("loss +{loss:.2}"),
        FaultKind::Latency { extra_ticks } => format!("latency +{extra_ticks} ticks"),
        FaultKind::Partition { regions } => format!("partition ({} region(s))", regions.len()),
        FaultKind::Blackout { .. } => "blackout".to_string(),
    }
}

fn overlays_section(ui: &mut egui::Ui, world: &mut World, state: &mut UiState) {
    let stats = *world.resource::<MessageOverlayStats>();
    let mut o = world.resource_mut::<Overlays>();
    ui.checkbox(&mut o.messages, "Messages in flight (dropped: red ✕)");
    if o.messages {
        let more = if stats.in_flight + stats.dropped > MAX_MESSAGE_LINES { " (capped)" } else { "" };
        ui.small(format!(
            "{} in flight, {} dropped this tick, {} drawn{more}",
            stats.in_flight, stats.dropped, stats.drawn
        ));
        ui.horizontal_wrapped(|ui| {
            for k in ["v2v_state", "report", "advice", "sector_summary", "target_speed"] {
                let c = message_color(k).to_srgba();
                let c32 =
                    egui::Color32::from_rgb((c.red * 255.0) as u8, (c.green * 255.0) as u8, (c.blue * 255.0) as u8);
                ui.colored_label(c32, k);
            }
        });
    }
    ui.checkbox(&mut o.radio_ranges, "Radio ranges");
    ui.checkbox(&mut o.fault_regions, "Partitions and blackouts");
    ui.checkbox(&mut o.heat_map, "Congestion heat map");
    ui.checkbox(&mut o.route, "Selected agent's route");
    ui.checkbox(&mut state.show_plots, "Plots panel");
}
