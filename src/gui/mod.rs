//! The desktop app (feature `gui`): draws a running world, steers it live and inspects its agents.
//!
//! The simulation core never imports this module; the app is the same core plus [`GuiPlugin`],
//! which reads simulation state every frame and changes it only through the core's public API.

pub mod batch;
pub mod camera;
pub mod control;
pub mod screenshot;
pub mod ui;

use std::path::PathBuf;
use std::process::ExitCode;

use bevy::diagnostic::FrameTimeDiagnosticsPlugin;
use bevy::prelude::*;
use bevy_egui::EguiPlugin;

pub use control::{SimControl, TickSchedule, TickStats};
pub use screenshot::ScreenshotPlan;

/// Command-line options of the desktop app.
#[derive(Debug, Clone, Default)]
pub struct GuiOptions {
    /// Scenario file to open; `None` opens the built-in default scenario.
    pub scenario: Option<PathBuf>,
    /// Save a PNG of the window here after `after_ticks` ticks, then exit.
    pub screenshot: Option<PathBuf>,
    /// Ticks to run before the screenshot.
    pub after_ticks: u64,
}

/// Why the app cannot open a window here, if it cannot.
///
/// Checked before Bevy starts so that a machine without a display gets one clear line instead of a
/// panic from deep inside the windowing backend.
pub fn display_problem() -> Option<String> {
    let wayland = std::env::var_os("WAYLAND_DISPLAY").filter(|v| !v.is_empty());
    let x11 = std::env::var("DISPLAY").ok().filter(|v| !v.is_empty());
    if wayland.is_some() && x11.is_none() {
        // The app is built with the X11 backend only; Wayland sessions provide Xwayland through DISPLAY.
        return Some(
            "WAYLAND_DISPLAY is set but DISPLAY is not; masim's window needs X11 (Xwayland)".into(),
        );
    }
    let Some(display) = x11 else {
        return Some("no display found (DISPLAY is not set)".into());
    };
    // ":N" or ":N.S" is a local server with a socket we can check; anything with a host part we trust.
    if let Some(rest) = display.strip_prefix(':') {
        let number = rest.split('.').next().unwrap_or("");
        let socket = PathBuf::from(format!("/tmp/.X11-unix/X{number}"));
        if !number.is_empty() && number.chars().all(|c| c.is_ascii_digit()) && !socket.exists() {
            return Some(format!(
                "DISPLAY={display} but no X server is listening ({} is missing)",
                socket.display()
            ));
        }
    }
    None
}

/// Everything the desktop app adds on top of the simulation: camera, drawing, panels, pacing.
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
            .add_systems(PreUpdate, control::advance_simulation)
            .add_plugins((camera::plugin, ui::plugin));
        if app.world().contains_resource::<ScreenshotPlan>() {
            app.add_plugins(screenshot::plugin);
        }
    }
}

/// Opens the desktop app; returns the process exit code.
pub fn run(options: GuiOptions) -> ExitCode {
    if let Some(problem) = display_problem() {
        eprintln!(
            "masim: cannot open the desktop app: {problem}. Run headless instead: `masim run SCENARIO.ron`."
        );
        return ExitCode::from(1);
    }
    let mut app = App::new();
    app.add_plugins(DefaultPlugins.set(WindowPlugin {
        primary_window: Some(Window {
            title: "masim".into(),
            resolution: (1280, 800).into(),
            ..default()
        }),
        ..default()
    }));
    if let Some(path) = options.screenshot.clone() {
        app.insert_resource(ScreenshotPlan::new(path, options.after_ticks));
    }
    app.add_plugins(GuiPlugin);
    match app.run() {
        AppExit::Success => ExitCode::SUCCESS,
        AppExit::Error(code) => ExitCode::from(code.get()),
    }
}
