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
    /// Where each parameter slider was drawn last frame, by scenario path (for the layout
    /// tests that drive a slider as a pointer would).
    #[cfg(test)]
    pub slider_rects: HashMap<String, egui::Rect>,
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
    let shown = draw(&ctx, world, &mut state, gui);
    world.insert_resource(shown);
    world.insert_resource(state);
}

/// Lays out one frame of the panels in `ctx`; returns where the legend and notes went.
fn draw(ctx: &egui::Context, world: &mut World, state: &mut UiState, gui: &'static super::worlds::WorldGui) -> UiRects {
    let mut root = egui::Ui::new(
        ctx.clone(),
        "masim_root".into(),
        egui::UiBuilder::new().layer_id(egui::LayerId::background()).max_rect(ctx.viewport_rect()),
    );
    egui::Panel::top("status").show(&mut root, |ui| status_line(ui, world, state));
    egui::Panel::left("controls").resizable(true).default_size(300.0).max_size(420.0).show(&mut root, |ui| {
        egui::ScrollArea::vertical().show(ui, |ui| panel::show(ui, world, state, gui));
    });
    let mut notes_rect = None;
    egui::Panel::right("inspect").resizable(true).default_size(340.0).max_size(480.0).show(&mut root, |ui| {
        notes_rect = super::notes::show(ui, world, state);
        let half = ui.available_height() * 0.6;
        egui::ScrollArea::vertical().id_salt("inspector").max_height(half).show(ui, |ui| {
            inspector::show(ui, world, gui);
            ui.allocate_space(egui::vec2(ui.available_width(), 0.0));
        });
        ui.separator();
        eventlog::show(ui, world, state);
    });
    if state.show_plots {
        egui::Panel::bottom("plots").resizable(true).default_size(250.0).max_size(420.0).show(&mut root, |ui| {
            plots::show(ui, world, state, gui);
        });
    }
    let rect = root.available_rect_before_wrap();
    let mut free = world.resource_mut::<FreeViewport>();
    free.min = Vec2::new(rect.min.x, rect.min.y);
    free.max = Vec2::new(rect.max.x, rect.max.y);
    // Over the world view: the legend (bottom left) and the windows that ask before
    // something happens (the notes sit in the right-hand panel, beside the view).
    let mut shown = UiRects { pixels_per_point: ctx.pixels_per_point(), rects: Vec::new() };
    if world.get_resource::<super::Overlays>().is_some_and(|o| o.legend) {
        let items = (gui.legend)(world);
        if let Some(r) = super::legend::show(ctx, world, items, rect.min, rect.max) {
            shown.rects.push(("legend", r));
        }
    }
    if let Some(r) = notes_rect {
        shown.rects.push(("notes", r));
    }
    panel::dialogs(ctx, world, state);
    shown
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
    use bevy::prelude::{App, World};
    use bevy_egui::egui;

    use super::format_time;

    #[test]
    fn times_format() {
        assert_eq!(format_time(0.0), "0:00.0");
        assert_eq!(format_time(75.25), "1:15.2");
        assert_eq!(format_time(3725.0), "1:02:05.0");
    }

    /// The panels of the built-in ring in a bare egui context: a headless app with the
    /// resources the GUI plugin adds.
    fn ring_panels() -> (App, &'static crate::gui::worlds::WorldGui, egui::Context) {
        use crate::gui::*;
        let s = crate::scenario::load_str(crate::scenario::DEFAULT_SCENARIO, "built-in").expect("built-in");
        let mut app = crate::runner::headless_app(&s, Some(1));
        let gui = worlds::gui_for(&s.world);
        let w = app.world_mut();
        w.init_resource::<SimControl>();
        w.init_resource::<TickStats>();
        w.init_resource::<Selection>();
        w.init_resource::<Overlays>();
        w.init_resource::<FocusOnSelection>();
        w.init_resource::<agents::AgentIndex>();
        w.init_resource::<camera::FreeViewport>();
        w.init_resource::<camera::WorldBounds>();
        w.init_resource::<overlays::MessageOverlayStats>();
        w.init_resource::<bevy::diagnostic::DiagnosticsStore>();
        w.insert_resource(overlays::MessageColors(gui.message_colors.to_vec()));
        w.insert_resource(ScenarioOrigin("built-in".into()));
        w.insert_resource(ActiveWorld(gui));
        (app, gui, egui::Context::default())
    }

    /// One frame at 1280 × 800; returns every widget's rectangle by id.
    fn frame(
        ctx: &egui::Context,
        world: &mut World,
        state: &mut super::UiState,
        gui: &'static crate::gui::worlds::WorldGui,
        events: Vec<egui::Event>,
    ) -> std::collections::HashMap<egui::Id, egui::Rect> {
        let input = egui::RawInput {
            screen_rect: Some(egui::Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(1280.0, 800.0))),
            events,
            ..Default::default()
        };
        let mut out = ctx.run_ui(input, |_| {
            super::draw(ctx, world, state, gui);
        });
        out.textures_delta.clear();
        ctx.viewport(|v| v.prev_pass.widgets.layers().flat_map(|(_, ws)| ws.iter().map(|w| (w.id, w.rect))).collect())
    }

    /// Dragging a slider (the edit, its confirmation, the tick that applies it) moves no
    /// other widget: feedback goes where it cannot push the controls down under the pointer.
    #[test]
    fn a_slider_edit_moves_no_widget() {
        let (mut app, gui, ctx) = ring_panels();
        let mut state = super::UiState { show_plots: true, notes_open: true, ..Default::default() };
        let world = app.world_mut();
        for _ in 0..3 {
            frame(&ctx, world, &mut state, gui, vec![]);
        }
        let before = frame(&ctx, world, &mut state, gui, vec![]);
        let rail = *state.slider_rects.get("channel.loss").expect("the loss slider is drawn");
        // Press on the rail's left end, drag 40 % along it, release — as a pointer would.
        let width = ctx.global_style().spacing.slider_width;
        let (y, x0) = (rail.center().y, rail.min.x + 2.0);
        let x1 = x0 + 0.4 * width;
        let button = |pos, pressed| egui::Event::PointerButton {
            pos,
            button: egui::PointerButton::Primary,
            pressed,
            modifiers: egui::Modifiers::NONE,
        };
        frame(&ctx, world, &mut state, gui, vec![egui::Event::PointerMoved(egui::pos2(x0, y))]);
        frame(&ctx, world, &mut state, gui, vec![button(egui::pos2(x0, y), true)]);
        for k in 1..=4 {
            let x = x0 + (x1 - x0) * k as f32 / 4.0;
            frame(&ctx, world, &mut state, gui, vec![egui::Event::PointerMoved(egui::pos2(x, y))]);
        }
        frame(&ctx, world, &mut state, gui, vec![button(egui::pos2(x1, y), false)]);
        frame(&ctx, world, &mut state, gui, vec![]);
        assert!(state.message.is_some(), "the edit was confirmed");
        let sent: f64 =
            state.pending.get("channel.loss").and_then(|v| v.parse().ok()).expect("an edit of channel.loss");
        assert!(sent > 0.2 && sent < 0.6, "the drag set loss to {sent}");
        let after_edit = frame(&ctx, world, &mut state, gui, vec![]);
        crate::runner::step(&mut app);
        let world = app.world_mut();
        let after_tick = frame(&ctx, world, &mut state, gui, vec![]);
        let after_tick2 = frame(&ctx, world, &mut state, gui, vec![]);
        assert_eq!(world.resource::<crate::runner::LiveScenario>().current.channel.loss, sent);
        for (when, now) in
            [("after the edit", &after_edit), ("after the tick", &after_tick), ("a frame later", &after_tick2)]
        {
            let mut same = 0;
            for (id, r) in &before {
                // The left panel below the slider: the slider itself and the status
                // line's feedback may change.
                if let Some(n) = now.get(id)
                    && r.min.y > rail.max.y
                    && r.min.x < 420.0
                {
                    assert!(
                        (n.min - r.min).length() < 0.5,
                        "{when}: a widget below the slider moved from {r:?} to {n:?}"
                    );
                    same += 1;
                }
            }
            assert!(same >= 20, "{when}: only {same} widgets below the slider to compare");
        }
    }
}
