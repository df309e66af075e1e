//! The desktop app (feature `gui`): draws a running world, steers it live and inspects its agents.
//!
//! The simulation core never imports this module; the app is the same core plus [`GuiPlugin`],
//! which reads simulation state every frame and changes it only through the core's public API.

pub mod agents;
pub mod assets;
pub mod batch;
pub mod camera;
pub mod commands;
pub mod control;
pub mod controls;
mod eventlog;
pub mod inspector;
pub mod legend;
mod notes;
pub mod overlays;
mod panel;
mod plots;
pub mod screenshot;
mod security;
mod ui;
pub mod worlds;

use std::path::PathBuf;

use bevy::diagnostic::FrameTimeDiagnosticsPlugin;
use bevy::prelude::*;
use bevy_egui::EguiPlugin;

use crate::runner::{self, LiveScenario};
use crate::scenario::Scenario;
use crate::sim::{AgentId, Channel, Metrics, SimClock, SimTick};
use worlds::WorldGui;

pub use control::{SimControl, TickSchedule, TickStats};
pub use screenshot::ScreenshotPlan;

/// Command-line options of the desktop app.
#[derive(Debug, Clone, Default)]
pub struct GuiOptions {
    /// Where the scenario came from (a path, or "built-in"), shown in the panel.
    pub origin: String,
    /// Save a PNG of the window here after `after_ticks` ticks, then exit.
    pub screenshot: Option<PathBuf>,
    /// Ticks to run at once: before the screenshot (100 when left out), or without a
    /// screenshot before the app pauses.
    pub after_ticks: Option<u64>,
    /// Agent to select at start (inspector open, camera zoomed in and following it).
    pub select: Option<u32>,
}

/// Where the scenario in force came from, for the panel and the file dialogs.
#[derive(Resource, Debug, Clone)]
pub struct ScenarioOrigin(pub String);

/// The agent picked in the world view, and what the inspector remembers about it.
#[derive(Resource, Debug, Default)]
pub struct Selection {
    /// Picked agent.
    pub agent: Option<AgentId>,
    /// Keep the camera centred on it.
    pub follow: bool,
    /// Its recent decisions, newest last: (tick, action, reason, value); one entry per change.
    pub history: std::collections::VecDeque<(u64, &'static str, &'static str, f32)>,
}

/// Set when the camera should zoom in on the selected agent as soon as it is on the map
/// (`--select`); cleared once done.
#[derive(Resource, Debug, Default)]
pub struct FocusOnSelection(pub bool);

/// Overlay toggles of the world view.
#[derive(Resource, Debug, Clone)]
pub struct Overlays {
    /// Messages in flight, sender to receiver, and this tick's dropped copies.
    pub messages: bool,
    /// Radio range circles (all agents when few, else the selected one).
    pub radio_ranges: bool,
    /// Partitions and blacked-out regions from active faults.
    pub fault_regions: bool,
    /// Congestion heat map along the road.
    pub heat_map: bool,
    /// The selected agent's route ahead.
    pub route: bool,
    /// The on-screen legend.
    pub legend: bool,
}

impl Default for Overlays {
    fn default() -> Self {
        Self { messages: true, radio_ranges: false, fault_regions: true, heat_map: false, route: true, legend: true }
    }
}

/// The GUI part of the world the app was built for.
#[derive(Resource, Clone, Copy)]
pub struct ActiveWorld(pub &'static WorldGui);

/// Rows of metrics kept in memory for the live plots (older ones are dropped).
pub const PLOT_ROWS: usize = 20_000;

/// Why the app cannot open a window here, if it cannot.
///
/// Checked before Bevy starts so that a machine without a display gets one clear line instead of a
/// panic from deep inside the windowing backend.
pub fn display_problem() -> Option<String> {
    let wayland = std::env::var_os("WAYLAND_DISPLAY").filter(|v| !v.is_empty());
    let x11 = std::env::var("DISPLAY").ok().filter(|v| !v.is_empty());
    if wayland.is_some() && x11.is_none() {
        // The app is built with the X11 backend only; Wayland sessions provide Xwayland through DISPLAY.
        return Some("WAYLAND_DISPLAY is set but DISPLAY is not; masim's window needs X11 (Xwayland)".into());
    }
    let Some(display) = x11 else {
        return Some("no display found (DISPLAY is not set)".into());
    };
    // ":N" or ":N.S" is a local server with a socket we can check; anything with a host part we trust.
    if let Some(rest) = display.strip_prefix(':') {
        let number = rest.split('.').next().unwrap_or("");
        let socket = PathBuf::from(format!("/tmp/.X11-unix/X{number}"));
        if !number.is_empty() && number.chars().all(|c| c.is_ascii_digit()) && !socket.exists() {
            return Some(format!("DISPLAY={display} but no X server is listening ({} is missing)", socket.display()));
        }
    }
    None
}

/// Everything the desktop app adds on top of the simulation: camera, drawing, panels, pacing.
///
/// Expects the simulation to be in the app already (see [`runner::add_simulation`]).
pub struct GuiPlugin;

impl Plugin for GuiPlugin {
    fn build(&self, app: &mut App) {
        if !app.is_plugin_added::<EguiPlugin>() {
            app.add_plugins(EguiPlugin::default());
        }
        if !app.is_plugin_added::<FrameTimeDiagnosticsPlugin>() {
            app.add_plugins(FrameTimeDiagnosticsPlugin::default());
        }
        app.init_resource::<SimControl>()
            .init_resource::<TickStats>()
            .init_resource::<Selection>()
            .init_resource::<Overlays>()
            .init_resource::<FocusOnSelection>()
            .insert_resource(TickSchedule::new(SimTick))
            .insert_resource(control::SimFinished(reached_end))
            .add_systems(PreUpdate, (prepare_world, control::advance_simulation).chain())
            .add_systems(Update, keyboard_controls)
            .add_plugins((camera::plugin, agents::plugin, overlays::plugin, ui::plugin, assets::plugin));
        // The world's part, chosen from the scenario the app was built with.
        let gui = app.world().get_resource::<LiveScenario>().map(|l| worlds::gui_for(&l.current.world));
        apply_view(app.world_mut());
        if let Some(gui) = gui {
            app.insert_resource(ActiveWorld(gui));
            app.insert_resource(overlays::MessageColors(gui.message_colors.to_vec()));
            (gui.plugin)(app);
        }
        if !app.world().contains_resource::<ScenarioOrigin>() {
            app.insert_resource(ScenarioOrigin("built-in".into()));
        }
        if app.world().contains_resource::<ScreenshotPlan>() {
            app.add_plugins(screenshot::plugin);
        } else if app.world().contains_resource::<screenshot::RunThenPause>() {
            app.add_systems(Last, screenshot::run_then_pause.run_if(resource_exists::<screenshot::RunThenPause>));
        }
    }
}

/// Space plays/pauses, `.` steps one tick, L toggles the legend, N the notes (ignored while
/// typing in a text box).
fn keyboard_controls(
    keys: Res<ButtonInput<KeyCode>>,
    wants: Res<bevy_egui::input::EguiWantsInput>,
    clock: Res<SimClock>,
    mut control: ResMut<SimControl>,
    mut overlays: ResMut<Overlays>,
    mut ui: Option<ResMut<ui::UiState>>,
) {
    if wants.wants_any_keyboard_input() {
        return;
    }
    if keys.just_pressed(KeyCode::Space) {
        if !control.playing && clock.tick >= clock.end_tick && !control.past_end {
            // Past the run's end only on purpose: ask first, as the Play button does.
            if let Some(ui) = ui.as_mut() {
                ui.confirm_continue = true;
            }
        } else {
            control.playing = !control.playing;
        }
    }
    if keys.just_pressed(KeyCode::KeyL) {
        overlays.legend = !overlays.legend;
    }
    if keys.just_pressed(KeyCode::KeyN)
        && let Some(ui) = ui.as_mut()
    {
        ui.notes_open = !ui.notes_open;
    }
    if keys.just_pressed(KeyCode::Period) && !control.playing {
        control.pending_steps += 1;
    }
}

/// Sets the overlays as the scenario in force asks (its `view` section), else as fits it:
/// messages shown only where agents coordinate and there are few enough to follow.
pub fn apply_view(world: &mut World) {
    let Some(s) = world.get_resource::<LiveScenario>().map(|l| l.current.clone()) else {
        return;
    };
    let v = &s.view;
    let talk = s.coordination != crate::sim::Coordination::None && s.agent_count() <= 2_000;
    let mut o = world.get_resource_or_init::<Overlays>();
    o.messages = v.messages.unwrap_or(talk);
    o.heat_map = v.heat_map.unwrap_or(false);
    o.radio_ranges = v.radio_ranges.unwrap_or(false);
    o.fault_regions = v.fault_regions.unwrap_or(true);
    o.route = v.route.unwrap_or(true);
    o.legend = v.legend.unwrap_or(true);
}

/// The run's planned end: the app pauses there once (the person may play on).
fn reached_end(world: &World) -> bool {
    world.get_resource::<SimClock>().is_some_and(|c| c.tick == c.end_tick)
}

/// Keeps the core in the mode the app needs: per-copy message traces on for the overlay
/// and a bounded metric history. Runs every frame because a reset replaces both resources.
fn prepare_world(mut channel: ResMut<Channel>, mut metrics: ResMut<Metrics>) {
    if !channel.trace {
        channel.trace = true;
    }
    if metrics.keep_last != Some(PLOT_ROWS) {
        metrics.keep_last = Some(PLOT_ROWS);
    }
}

/// Opens the desktop app on `scenario` and runs until the window closes.
///
/// Returns a one-line explanation when it cannot run (no display) or ends in error.
pub fn run(scenario: Scenario, options: GuiOptions) -> Result<(), String> {
    if let Some(problem) = display_problem() {
        return Err(format!("cannot open the desktop app: {problem}. Run headless instead: `masim run SCENARIO.ron`"));
    }
    let mut app = App::new();
    app.add_plugins(DefaultPlugins.set(WindowPlugin {
        primary_window: Some(Window {
            title: format!("masim — {}", scenario.name),
            resolution: (1280, 800).into(),
            ..default()
        }),
        ..default()
    }));
    runner::add_simulation(&mut app, &scenario);
    app.insert_resource(ScenarioOrigin(options.origin.clone()));
    if let Some(path) = options.screenshot.clone() {
        app.insert_resource(ScreenshotPlan::new(path, options.after_ticks.unwrap_or(100)));
    } else if let Some(ticks) = options.after_ticks {
        app.insert_resource(screenshot::RunThenPause(ticks));
    }
    if let Some(id) = options.select {
        let agents = scenario.agent_count();
        if u64::from(id) >= agents {
            return Err(format!("--select {id}: this scenario has agents 0..{} only", agents.saturating_sub(1)));
        }
        app.insert_resource(Selection { agent: Some(AgentId(id)), follow: true, ..default() });
        app.insert_resource(FocusOnSelection(true));
    }
    app.add_plugins(GuiPlugin);
    match app.run() {
        AppExit::Success => Ok(()),
        AppExit::Error(code) => Err(format!("the desktop app stopped with code {code}")),
    }
}
