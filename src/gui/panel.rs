//! The control panel: play/pause/step/reset/speed/seed, scenario files, live parameters, faults, overlays.

use std::path::PathBuf;

use bevy::prelude::*;
use bevy_egui::egui;

use super::camera::{FitRequest, WorldBounds};
use super::control::SimControl;
use super::overlays::{MAX_MESSAGE_LINES, MessageColors, MessageOverlayStats};
use super::ui::UiState;
use super::worlds::WorldGui;
use super::{Overlays, ScenarioOrigin, commands, controls};
use crate::runner::LiveScenario;
use crate::sim::{AgentKind, Faults, Registry, SimClock};

/// Settings of the fault buttons.
#[derive(Debug, Clone)]
pub struct FaultDraft {
    /// Fraction of agents a crash takes down.
    pub crash_fraction: f64,
    /// Which agents a crash picks from (`None`: all kinds; the app starts on the world's
    /// first kind).
    pub crash_kind: Option<AgentKind>,
    /// Loss a "raise loss" fault adds.
    pub loss: f64,
    /// Extra latency a latency fault adds, ticks.
    pub extra_latency: u32,
    /// Quadrant a blackout covers (0 NE, 1 NW, 2 SW, 3 SE).
    pub quadrant: u8,
    /// How long injected faults last, ticks; 0 = until ended.
    pub duration: u64,
    /// Whether the crash kind was set (to the world's first kind) or chosen.
    pub kind_chosen: bool,
}

impl Default for FaultDraft {
    fn default() -> Self {
        Self {
            crash_fraction: 0.2,
            crash_kind: None,
            loss: 0.5,
            extra_latency: 10,
            quadrant: 0,
            duration: 600,
            kind_chosen: false,
        }
    }
}

/// Draws the whole left panel.
pub fn show(ui: &mut egui::Ui, world: &mut World, state: &mut UiState, gui: &WorldGui) {
    simulation_section(ui, world, state);
    ui.separator();
    egui::CollapsingHeader::new("Scenario").default_open(false).show(ui, |ui| files_section(ui, world, state));
    // A scenario with attacks opens on its defences and attack buttons.
    let attacked = !world.resource::<crate::runner::LiveScenario>().current.attacks.is_empty();
    let security = |ui: &mut egui::Ui, world: &mut World, state: &mut UiState| {
        egui::CollapsingHeader::new("Security").default_open(attacked).show(ui, |ui| {
            let duration = state.faults.duration;
            super::security::section(ui, world, &mut state.attacks, duration, &mut state.message)
        });
    };
    if attacked {
        security(ui, world, state);
    }
    egui::CollapsingHeader::new("Live parameters")
        .default_open(!attacked)
        .show(ui, |ui| params_section(ui, world, state, gui));
    egui::CollapsingHeader::new("Faults").default_open(!attacked).show(ui, |ui| faults_section(ui, world, state));
    if !attacked {
        security(ui, world, state);
    }
    egui::CollapsingHeader::new("Overlays").default_open(true).show(ui, |ui| overlays_section(ui, world, state, gui));
}

fn simulation_section(ui: &mut egui::Ui, world: &mut World, state: &mut UiState) {
    ui.heading("Simulation");
    let clock_seed = world.resource::<SimClock>().seed;
    let at_end = world.resource::<SimClock>().tick >= world.resource::<SimClock>().end_tick;
    let mut control = world.resource_mut::<SimControl>();
    ui.horizontal(|ui| {
        let label = if control.playing { "⏸ Pause" } else { "▶ Play" };
        if ui.button(label).on_hover_text("Space").clicked() {
            if !control.playing && at_end && !control.past_end {
                state.confirm_continue = true;
            } else {
                control.playing = !control.playing;
            }
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
    ui.small(format!("recorded: {} edit(s), {} fault(s)", live.applied.len(), faults.history().len()));
}

fn open(world: &mut World, state: &mut UiState, path: PathBuf) {
    match commands::open_file(world, &path) {
        Ok(()) => {
            super::apply_view(world);
            state.notes_open = world.resource::<LiveScenario>().current.view.notes != Some(false);
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

/// Windows that ask before something happens: going on past the run's end, opening a
/// file of another world in a new window. Drawn over the world view, so the panel's
/// controls never move.
pub fn dialogs(ctx: &egui::Context, world: &mut World, state: &mut UiState) {
    if state.confirm_continue {
        let end = world.resource::<SimClock>().end_tick;
        egui::Window::new("The run has finished")
            .collapsible(false)
            .resizable(false)
            .anchor(egui::Align2::CENTER_CENTER, egui::vec2(0.0, 0.0))
            .show(ctx, |ui| {
                ui.label(format!(
                    "The scenario ends at tick {end}; its outputs and notes describe the run up to there. Go on past the end?"
                ));
                ui.horizontal(|ui| {
                    if ui.button("Continue past the end").clicked() {
                        let mut c = world.resource_mut::<SimControl>();
                        c.past_end = true;
                        c.playing = true;
                        state.confirm_continue = false;
                    }
                    if ui.button("Reset").clicked() {
                        let seed = world.resource::<SimClock>().seed;
                        commands::reset_with_seed(world, seed);
                        state.pending.clear();
                        state.confirm_continue = false;
                        state.message = Some((format!("reset with seed {seed}"), false));
                    }
                    if ui.button("Stay paused").clicked() {
                        state.confirm_continue = false;
                    }
                });
            });
    }
    if let Some(path) = state.other_world.clone() {
        egui::Window::new("Another kind of world")
            .collapsible(false)
            .resizable(false)
            .anchor(egui::Align2::CENTER_CENTER, egui::vec2(0.0, 0.0))
            .show(ctx, |ui| {
                ui.label(format!("{} needs a window of its own.", path.display()));
                ui.horizontal(|ui| {
                    if ui.button("Open in a new window").clicked() {
                        state.message = Some(match open_in_new_window(&path) {
                            Ok(()) => (format!("opening {} in a new window", path.display()), false),
                            Err(e) => (e, true),
                        });
                        state.other_world = None;
                    }
                    if ui.button("Dismiss").clicked() {
                        state.other_world = None;
                    }
                });
            });
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

fn params_section(ui: &mut egui::Ui, world: &mut World, state: &mut UiState, gui: &WorldGui) {
    controls::show(ui, world, state, &controls::core_controls());
    ui.separator();
    let scenario = world.resource::<LiveScenario>().current.clone();
    controls::show(ui, world, state, &(gui.controls)(&scenario));
}

fn faults_section(ui: &mut egui::Ui, world: &mut World, state: &mut UiState) {
    // The kinds this world registered; crashes pick among them.
    let kinds: Vec<AgentKind> = world.get_resource::<Registry>().map(|r| r.kinds().to_vec()).unwrap_or_default();
    let f = &mut state.faults;
    if !f.kind_chosen {
        f.crash_kind = kinds.first().copied();
        f.kind_chosen = true;
    }
    ui.add(egui::Slider::new(&mut f.duration, 0..=20_000).logarithmic(true).text("duration (ticks, 0 = until ended)"));
    let duration = (f.duration > 0).then_some(f.duration);
    let bounds = *world.resource::<WorldBounds>();
    let mut injected = None;
    ui.horizontal(|ui| {
        egui::ComboBox::from_id_salt("crash_kind")
            .selected_text(f.crash_kind.map_or("all agents", AgentKind::name))
            .show_ui(ui, |ui| {
                for k in &kinds {
                    ui.selectable_value(&mut f.crash_kind, Some(*k), k.name());
                }
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

fn overlays_section(ui: &mut egui::Ui, world: &mut World, state: &mut UiState, gui: &WorldGui) {
    let stats = *world.resource::<MessageOverlayStats>();
    let kinds: Vec<&'static str> =
        world.get_resource::<Registry>().map(|r| r.messages().iter().map(|m| m.name).collect()).unwrap_or_default();
    let colors = world.resource::<MessageColors>().clone();
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
            for &k in &kinds {
                let c = colors.color(k).to_srgba();
                let c32 =
                    egui::Color32::from_rgb((c.red * 255.0) as u8, (c.green * 255.0) as u8, (c.blue * 255.0) as u8);
                ui.colored_label(c32, k);
            }
        });
    }
    ui.checkbox(&mut o.radio_ranges, "Radio ranges")
        .on_hover_text("Every agent's up to 300 agents, else the selected agent's");
    ui.checkbox(&mut o.fault_regions, "Partitions and blackouts");
    ui.checkbox(&mut o.heat_map, "Congestion heat map").on_hover_text("Local mean speed, opaque as it fills");
    ui.checkbox(&mut o.route, "Selected agent's route").on_hover_text("Where the selected agent is heading");
    ui.checkbox(&mut o.legend, "Legend (L)").on_hover_text("What every colour and glyph means");
    (gui.overlay_controls)(ui, world);
    ui.checkbox(&mut state.show_plots, "Plots panel");
}
