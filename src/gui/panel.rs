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
use crate::worlds::traffic::city::CityMap;
use crate::worlds::traffic::network::Demand;
use crate::worlds::traffic::signals::{MSG_CITY, MSG_DISTRICT, MSG_LIGHT_REPORT, MSG_PLAN, MSG_QUEUE};
use crate::worlds::traffic::{CarFollowing, Road, TrafficConfig};

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
    if let Some(path) = state.other_world.clone() {
        ui.horizontal(|ui| {
            if ui.button("Open in a new window").clicked() {
                state.message = Some(match open_in_new_window(&path) {
                    Ok(()) => (format!("opening {} in a new window", path.display()), false),
                    Err(e) => (e, true),
                });
                state.other_world = None;
            }
            if ui.small_button("Dismiss").clicked() {
                state.other_world = None;
            }
        });
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
        Err(commands::OpenError::OtherWorld(e)) => {
            state.message = Some((e, true));
            state.other_world = Some(path);
        }
        Err(e) => state.message = Some((e.to_string(), true)),
    }
}

/// Starts another `masim gui FILE` for a file this window cannot switch to.
fn open_in_new_window(path: &std::path::Path) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find masim itself: {e}"))?;
    std::process::Command::new(exe)
        .arg("gui")
        .arg(path)
        .stdin(std::process::Stdio::null())
        .spawn()
        .map(|_| ())
        .map_err(|e| format!("cannot start a new window: {e}"))
}

/// Current value of a numeric scenario field (None when absent or not a number).
fn current_number(world: &World, path: &str) -> Option<f64> {
    world.resource::<LiveScenario>().current.get(path)?.parse().ok()
}

/// Shortest wall time between two edits sent while one slider is being dragged.
const DRAG_EDIT_INTERVAL: std::time::Duration = std::time::Duration::from_millis(250);

/// Whether a slider being dragged may send another edit now (it last sent one at `last`).
fn drag_edit_due(last: Option<std::time::Instant>, now: std::time::Instant) -> bool {
    last.is_none_or(|t| now.duration_since(t) >= DRAG_EDIT_INTERVAL)
}

/// A slider bound to a scenario field.
///
/// Dragging applies live, at most four edits a second plus the value where the drag ends;
/// a number typed into the slider's box is sent once, on Enter or when the box loses focus
/// (not at every keystroke); arrow keys send one edit per press. Each edit is recorded in the
/// session, so these limits keep an exported session short.
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
) -> Option<egui::Response> {
    let current = current_number(world, path)?;
    let pending = state.pending.get(path).and_then(|v| v.parse::<f64>().ok());
    if pending.is_some_and(|p| (p - current).abs() < 1e-9) {
        state.pending.remove(path);
    }
    let shown = state.drafts.get(path).copied().or(pending).unwrap_or(current);
    let mut v = shown;
    let mut slider = egui::Slider::new(&mut v, range).text(label).logarithmic(logarithmic).update_while_editing(false);
    if integer {
        slider = slider.integer();
    }
    let response = ui.add(slider);
    if response.changed() {
        state.drafts.insert(path.to_string(), v);
    }
    let Some(draft) = state.drafts.get(path).copied() else {
        return Some(response);
    };
    let value = if integer { draft.round() } else { draft };
    // Nothing to send when the value is what is already in force or on its way.
    let redundant = match pending {
        Some(p) => (p - value).abs() < 1e-12,
        None => (value - current).abs() < 1e-12,
    };
    let text = if integer { format!("{}", value as i64) } else { format!("{value}") };
    if response.dragged() {
        let now = std::time::Instant::now();
        if !redundant && drag_edit_due(state.drag_sent.get(path).copied(), now) {
            state.drag_sent.insert(path.to_string(), now);
            send_edit(world, state, path, &text);
        }
    } else {
        state.drafts.remove(path);
        state.drag_sent.remove(path);
        if !redundant {
            send_edit(world, state, path, &text);
        }
    }
    Some(response)
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
    if let Road::Ring { length_m } = t.road {
        ring_params(ui, world, state, &t, length_m);
    } else {
        city_params(ui, world, state, &t);
    }
    if !state.pending.is_empty() {
        ui.small("edits waiting for the next tick…");
    }
}

/// The ring's live parameters: demand (vehicle count), automated vehicles, the
/// car-following model, V2V.
fn ring_params(ui: &mut egui::Ui, world: &mut World, state: &mut UiState, t: &TrafficConfig, length_m: f64) {
    ui.label(egui::RichText::new("Traffic (ring)").strong());
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
    // Switching wave-damping controllers on among human drivers (Stern et al. 2018).
    param_slider(
        ui,
        world,
        state,
        "automated vehicles",
        "world.automated",
        0.0..=f64::from(t.vehicles.max(1)),
        true,
        t.vehicles > 2000,
    );
    match &t.model {
        CarFollowing::Idm(_) => {
            idm_sliders(ui, world, state);
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
}

fn idm_sliders(ui: &mut egui::Ui, world: &mut World, state: &mut UiState) {
    spec_sliders(ui, world, state, &IDM);
}

/// A slider's label, scenario path, range and kind.
#[derive(Debug, Clone, Copy)]
pub struct SliderSpec {
    /// Shown next to the slider.
    pub label: &'static str,
    /// Scenario field it edits.
    pub path: &'static str,
    /// Lowest value offered.
    pub min: f64,
    /// Highest value offered.
    pub max: f64,
    /// Whole numbers only.
    pub integer: bool,
    /// Logarithmic scale.
    pub log: bool,
}

const fn spec(label: &'static str, path: &'static str, min: f64, max: f64, integer: bool, log: bool) -> SliderSpec {
    SliderSpec { label, path, min, max, integer, log }
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
                    format!("{} → {} (veh/h)", c.from, c.to),
                    format!("world.city.demand[{k}].rate_veh_per_h"),
                    0.0,
                    3600.0,
                )
            })
            .collect(),
    }
}

fn spec_sliders(ui: &mut egui::Ui, world: &mut World, state: &mut UiState, specs: &[SliderSpec]) {
    for s in specs {
        param_slider(ui, world, state, s.label, s.path, s.min..=s.max, s.integer, s.log);
    }
}

/// The city's live parameters: demand, signal control and timing, rerouting, gridlock
/// detection and the drivers' IDM. The fleet size, the network and the box capacity only
/// apply at start (see `scenario::live_editable` and the network builder), and the ring's
/// V2V settings and IDM noise are not used by the city, so none of them gets a slider.
fn city_params(ui: &mut egui::Ui, world: &mut World, state: &mut UiState, t: &TrafficConfig) {
    ui.label(egui::RichText::new("Demand").strong());
    for (label, path, min, max) in demand_sliders(&t.city.demand) {
        param_slider(ui, world, state, &label, &path, min..=max, false, false);
    }
    if let Demand::Od(cells) = &t.city.demand
        && cells.len() > MAX_OD_SLIDERS
    {
        ui.small(format!("{} more OD pairs: edit the file", cells.len() - MAX_OD_SLIDERS));
    }
    ui.small(format!("fleet: {} vehicles (set at start)", t.vehicles));
    ui.label(egui::RichText::new("Signals").strong());
    param_choice(
        ui,
        world,
        state,
        "control (coordination None)",
        "world.city.signals.control",
        &["FixedTime", "Actuated"],
    );
    spec_sliders(ui, world, state, &CITY_SIGNALS);
    ui.label(egui::RichText::new("Routing").strong());
    param_toggle(ui, world, state, "reroute around reported congestion", "world.city.routing.reroute");
    spec_sliders(ui, world, state, &CITY_ROUTING);
    ui.label(egui::RichText::new("Drivers (IDM)").strong());
    spec_sliders(ui, world, state, &IDM);
    spec_sliders(ui, world, state, &CITY_DRIVING);
}

/// OD pairs that get their own slider (the rest are left to the file).
const MAX_OD_SLIDERS: usize = 12;

/// A checkbox bound to a boolean scenario field.
fn param_toggle(ui: &mut egui::Ui, world: &mut World, state: &mut UiState, label: &str, path: &str) {
    let current = world.resource::<LiveScenario>().current.get(path).is_some_and(|v| v == "true");
    let shown = state.pending.get(path).map_or(current, |v| v == "true");
    if shown == current {
        state.pending.remove(path);
    }
    let mut on = shown;
    if ui.checkbox(&mut on, label).changed() {
        send_edit(world, state, path, if on { "true" } else { "false" });
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

fn legend(ui: &mut egui::Ui, items: &[(egui::Color32, &str)]) {
    ui.horizontal_wrapped(|ui| {
        for (c, text) in items {
            ui.colored_label(*c, "■");
            ui.small(*text);
        }
    });
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
    let city = world.contains_resource::<CityMap>();
    let kinds: &[&str] = if city {
        &[crate::worlds::traffic::city::MSG_CONGESTION, MSG_QUEUE, MSG_LIGHT_REPORT, MSG_PLAN, MSG_DISTRICT, MSG_CITY]
    } else {
        &["v2v_state", "report", "advice", "sector_summary", "target_speed"]
    };
    let mut o = world.resource_mut::<Overlays>();
    ui.checkbox(&mut o.messages, "Messages in flight (dropped: red ×)");
    if o.messages {
        let total = stats.in_flight + stats.delivered + stats.dropped;
        let more = if total > MAX_MESSAGE_LINES { " (capped)" } else { "" };
        ui.small(format!(
            "{} in flight, {} delivered and {} dropped last tick, {} drawn{more}",
            stats.in_flight, stats.delivered, stats.dropped, stats.drawn
        ));
        ui.horizontal_wrapped(|ui| {
            for &k in kinds {
                let c = message_color(k).to_srgba();
                let c32 =
                    egui::Color32::from_rgb((c.red * 255.0) as u8, (c.green * 255.0) as u8, (c.blue * 255.0) as u8);
                ui.colored_label(c32, k);
            }
        });
    }
    ui.checkbox(&mut o.radio_ranges, "Radio ranges")
        .on_hover_text("Every agent's up to 300 agents, else the selected agent's");
    ui.checkbox(&mut o.fault_regions, "Partitions and blackouts");
    ui.checkbox(&mut o.heat_map, "Congestion heat map").on_hover_text(if city {
        "Each link by its cars' mean speed, opaque as it fills"
    } else {
        "Road bins by mean speed, opaque as they fill"
    });
    ui.checkbox(&mut o.route, "Selected agent's route").on_hover_text(if city {
        "A city car's remaining links"
    } else {
        "The next 30 s of road at its speed"
    });
    if city {
        ui.checkbox(&mut o.intersections, "Contended / gridlocked intersections");
        legend(
            ui,
            &[
                (egui::Color32::from_rgb(255, 140, 25), "box full or exit blocked"),
                (egui::Color32::from_rgb(255, 25, 25), "gridlocked (and its links)"),
            ],
        );
        ui.small("Lights (always drawn):");
        legend(
            ui,
            &[
                (egui::Color32::from_rgb(40, 230, 75), "green"),
                (egui::Color32::from_rgb(255, 215, 25), "yellow"),
                (egui::Color32::from_rgb(240, 30, 25), "red"),
                (egui::Color32::from_rgb(255, 150, 15), "flashing: light down"),
            ],
        );
        ui.small("Zoomed out one square per approach (green if any of its movements is); zoom in for one bar per movement at the stop line.");
    }
    ui.checkbox(&mut state.show_plots, "Plots panel");
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::{Duration, Instant};

    use super::*;
    use crate::runner;
    use crate::scenario::{self, Scenario};

    #[test]
    fn drag_edits_are_spaced() {
        let t0 = Instant::now();
        assert!(drag_edit_due(None, t0));
        assert!(!drag_edit_due(Some(t0), t0 + Duration::from_millis(100)));
        assert!(drag_edit_due(Some(t0), t0 + DRAG_EDIT_INTERVAL));
    }

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
            let WorldConfig::Traffic(t) = &s.world;
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

    /// One egui frame showing the loss slider; returns its response's rectangle.
    fn frame(ctx: &egui::Context, world: &mut World, state: &mut UiState, events: Vec<egui::Event>) -> egui::Rect {
        let input = egui::RawInput {
            screen_rect: Some(egui::Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(800.0, 600.0))),
            events,
            ..Default::default()
        };
        let mut rect = egui::Rect::NOTHING;
        let mut out = ctx.run_ui(input, |ui| {
            if let Some(r) = param_slider(ui, world, state, "loss", "channel.loss", 0.0..=1.0, false, false) {
                rect = r.rect;
            }
        });
        // No renderer here: drop the font texture uploads.
        out.textures_delta.clear();
        rect
    }

    fn key(key: egui::Key, modifiers: egui::Modifiers) -> Vec<egui::Event> {
        vec![
            egui::Event::Key { key, physical_key: None, pressed: true, repeat: false, modifiers },
            egui::Event::Key { key, physical_key: None, pressed: false, repeat: false, modifiers },
        ]
    }

    /// Typing a number into a slider's box sends nothing until Enter, then exactly one edit.
    #[test]
    fn typed_value_is_sent_once_on_enter() {
        let s = scenario::load_str(scenario::DEFAULT_SCENARIO, "built-in").expect("built-in scenario");
        let mut app = runner::headless_app(&s, Some(1));
        let world = app.world_mut();
        let mut state = UiState::default();
        let ctx = egui::Context::default();
        let rect = frame(&ctx, world, &mut state, vec![]);
        assert!(rect.width() > 100.0, "slider not laid out: {rect:?}");
        // The value box comes right after the slider's rail.
        let rail = ctx.global_style().spacing.slider_width + ctx.global_style().spacing.item_spacing.x;
        let at = egui::pos2(rect.min.x + rail + 10.0, rect.center().y);
        let button = |pressed| egui::Event::PointerButton {
            pos: at,
            button: egui::PointerButton::Primary,
            pressed,
            modifiers: egui::Modifiers::NONE,
        };
        // egui hit-tests against the previous frame's layout: hover first, then press, then release.
        frame(&ctx, world, &mut state, vec![egui::Event::PointerMoved(at)]);
        frame(&ctx, world, &mut state, vec![button(true)]);
        frame(&ctx, world, &mut state, vec![button(false)]);
        frame(&ctx, world, &mut state, vec![]);
        assert!(ctx.memory(|m| m.focused().is_some()), "the value box did not take the keyboard");
        for text in ["0", ".", "3", "5"] {
            frame(&ctx, world, &mut state, vec![egui::Event::Text(text.into())]);
            assert!(state.pending.is_empty(), "an edit was sent while typing: {:?}", state.pending);
        }
        frame(&ctx, world, &mut state, key(egui::Key::Enter, egui::Modifiers::NONE));
        frame(&ctx, world, &mut state, vec![]);
        assert_eq!(state.pending.get("channel.loss").map(String::as_str), Some("0.35"));
        runner::step(&mut app);
        let live = app.world().resource::<LiveScenario>();
        assert_eq!(live.applied.len(), 1, "{:?}", live.applied);
        assert_eq!(live.current.channel.loss, 0.35);
    }
}
