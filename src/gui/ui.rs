//! The egui layout: status line on top, controls on the left, inspector and event log on the right,
//! live plots at the bottom; what is left is the world view.

use std::collections::{BTreeSet, HashMap};

use bevy::diagnostic::{DiagnosticsStore, FrameTimeDiagnosticsPlugin};
use bevy::prelude::*;
use bevy_egui::{EguiContext, EguiPrimaryContextPass, PrimaryEguiContext, egui};

use super::ActiveWorld;
use super::agents::AgentIndex;
use super::camera::FreeViewport;
use super::control::TickStats;
use super::{eventlog, inspector, panel, plots};
use crate::sim::{Channel, SimClock};

/// Panel state that lives across frames (drafts of edits, file paths, fault settings, filters).
#[derive(Resource, Default)]
pub struct UiState {
    /// Slider values being dragged, by scenario path; sent as one edit when the drag ends.
    pub drafts: HashMap<String, f64>,
    /// Edits sent but not yet applied by a tick, by scenario path.
    pub pending: HashMap<String, String>,
    /// Last outcome, shown in the status line (so no control ever moves): (text, is_error).
    pub message: Option<(String, bool)>,
    /// The scenario's notes window is open.
    pub notes_open: bool,
    /// Play was pressed after the run's end: ask whether to go on.
    pub confirm_continue: bool,
    /// Path typed in the open box.
    pub open_path: String,
    /// Path for "save settings".
    pub save_path: String,
    /// Path for "export session".
    pub session_path: String,
    /// Seed for the next reset.
    pub seed: Option<u64>,
    /// Fault panel settings.
    pub faults: panel::FaultDraft,
    /// Attack button settings.
    pub attacks: super::security::AttackDraft,
    /// Plotted metric columns.
    pub plotted: BTreeSet<String>,
    /// Whether `plotted` was initialised.
    pub plots_initialised: bool,
    /// Event kinds hidden in the log.
    pub hidden_kinds: BTreeSet<String>,
    /// Show the plots panel.
    pub show_plots: bool,
    /// A file of the other kind of road the person tried to open (offered in a new window).
    pub other_world: Option<std::path::PathBuf>,
    /// When each slider being dragged last sent an edit (drags apply a few times a second).
    pub drag_sent: HashMap<String, std::time::Instant>,
}

/// Registers the UI system.
pub fn plugin(app: &mut App) {
    let notes =
        app.world().get_resource::<crate::runner::LiveScenario>().is_none_or(|l| l.current.view.notes != Some(false));
    app.insert_resource(UiState { show_plots: true, notes_open: notes, ..default() })
        .add_systems(EguiPrimaryContextPass, draw_ui);
}

/// Where this frame drew the legend and the notes window (egui points), for screenshot
/// mode's report that lets tests check they were drawn.
#[derive(Resource, Debug, Clone, Default)]
pub struct UiRects {
    /// Physical pixels per egui point.
    pub pixels_per_point: f32,
    /// (what, where) of each overlay window drawn.
    pub rects: Vec<(&'static str, egui::Rect)>,
}

/// One exclusive system draws every panel: the panels read and change many resources, and
/// the world is the simplest owner to borrow them from one at a time.
fn draw_ui(world: &mut World) {
    let mut q = world.query_filtered::<&mut EguiContext, With<PrimaryEguiContext>>();
    let Some(ctx) = q.iter_mut(world).next().map(|mut c| c.get_mut().clone()) else {
        return;
    };
    let Some(gui) = world.get_resource::<ActiveWorld>().map(|g| g.0) else {
        return;
    };
    let Some(mut state) = world.remove_resource::<UiState>() else {
        return;
    };
    let mut root = egui::Ui::new(
        ctx.clone(),
        "masim_root".into(),
        egui::UiBuilder::new().layer_id(egui::LayerId::background()).max_rect(ctx.viewport_rect()),
    );
    egui::Panel::top("status").show(&mut root, |ui| status_line(ui, world, &mut state));
    egui::Panel::left("controls").resizable(true).default_size(300.0).max_size(420.0).show(&mut root, |ui| {
        egui::ScrollArea::vertical().show(ui, |ui| panel::show(ui, world, &mut state, gui));
    });
    egui::Panel::right("inspect").resizable(true).default_size(330.0).max_size(480.0).show(&mut root, |ui| {
        let half = ui.available_height() * 0.6;
        egui::ScrollArea::vertical().id_salt("inspector").max_height(half).show(ui, |ui| {
            inspector::show(ui, world, gui);
            ui.allocate_space(egui::vec2(ui.available_width(), 0.0));
        });
        ui.separator();
        eventlog::show(ui, world, &mut state);
    });
    if state.show_plots {
        egui::Panel::bottom("plots").resizable(true).default_size(250.0).max_size(420.0).show(&mut root, |ui| {
            plots::show(ui, world, &mut state, gui);
        });
    }
    let rect = root.available_rect_before_wrap();
    let mut free = world.resource_mut::<FreeViewport>();
    free.min = Vec2::new(rect.min.x, rect.min.y);
    free.max = Vec2::new(rect.max.x, rect.max.y);
    // Over the world view: the legend (bottom left), the notes (top right), and the
    // windows that ask before something happens.
    let mut shown = UiRects { pixels_per_point: ctx.pixels_per_point(), rects: Vec::new() };
    if world.get_resource::<super::Overlays>().is_some_and(|o| o.legend) {
        let items = (gui.legend)(world);
        if let Some(r) = super::legend::show(&ctx, world, items, rect.min, rect.max) {
            shown.rects.push(("legend", r));
        }
    }
    if let Some(r) = super::notes::show(&ctx, world, &mut state, rect.min, rect.max) {
        shown.rects.push(("notes", r));
    }
    world.insert_resource(shown);
    panel::dialogs(&ctx, world, &mut state);
    world.insert_resource(state);
}

fn status_line(ui: &mut egui::Ui, world: &mut World, state: &mut UiState) {
    let (tick, time_s, end, dt) =
        world.get_resource::<SimClock>().map_or((0, 0.0, 0, 0.0), |c| (c.tick, c.time_s(), c.end_tick, c.dt));
    let agents = world.resource::<AgentIndex>().count;
    let msgs = world.get_resource::<Channel>().map_or(0, |c| c.stats.sent);
    let stats = world.resource::<TickStats>();
    let diagnostics = world.resource::<DiagnosticsStore>();
    let fps = diagnostics.get(&FrameTimeDiagnosticsPlugin::FPS).and_then(|d| d.smoothed()).unwrap_or(0.0);
    let frame_ms = diagnostics.get(&FrameTimeDiagnosticsPlugin::FRAME_TIME).and_then(|d| d.smoothed()).unwrap_or(0.0);
    let line = format!(
        "tick {tick:>7}/{end}   t {:>9}   agents {agents:>6}   msgs/tick {msgs:>6}   ticks/s {:>7.0}   FPS {fps:>5.1} ({frame_ms:.1} ms)",
        format_time(time_s),
        stats.ticks_per_second,
    );
    ui.horizontal(|ui| {
        ui.monospace(line);
        if tick >= end && end > 0 {
            let text = format!(" ■ Run finished at tick {end} ({}) ", format_time(end as f64 * dt));
            ui.label(
                egui::RichText::new(text)
                    .strong()
                    .color(egui::Color32::BLACK)
                    .background_color(egui::Color32::from_rgb(250, 200, 60)),
            );
        }
        if ui.button("Notes").on_hover_text("What this scenario shows and what to watch").clicked() {
            state.notes_open = !state.notes_open;
        }
        // Feedback lives here, in one line of its own, so no control below ever moves.
        let pending = if state.pending.is_empty() { String::new() } else { "  (edits wait for the next tick)".into() };
        if let Some((text, error)) = &state.message {
            let color =
                if *error { egui::Color32::from_rgb(255, 120, 100) } else { egui::Color32::from_rgb(140, 220, 140) };
            ui.colored_label(color, format!("{text}{pending}")).on_hover_text(text.as_str());
        } else if !pending.is_empty() {
            ui.weak(pending);
        }
    });
}

/// Simulated time as `m:ss.s` (or `h:mm:ss`).
pub fn format_time(s: f64) -> String {
    let total = s.max(0.0);
    let h = (total / 3600.0).floor();
    let m = ((total - h * 3600.0) / 60.0).floor();
    let sec = total - h * 3600.0 - m * 60.0;
    if h > 0.0 { format!("{h:.0}:{m:02.0}:{sec:04.1}") } else { format!("{m:.0}:{sec:04.1}") }
}

#[cfg(test)]
mod tests {
    use super::format_time;

    #[test]
    fn times_format() {
        assert_eq!(format_time(0.0), "0:00.0");
        assert_eq!(format_time(75.25), "1:15.2");
        assert_eq!(format_time(3725.0), "1:02:05.0");
    }
}
