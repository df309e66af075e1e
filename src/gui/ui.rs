//! egui panels: the control panel on the left and the status line on top.

use bevy::diagnostic::{DiagnosticsStore, FrameTimeDiagnosticsPlugin};
use bevy::prelude::*;
use bevy_egui::{EguiContexts, EguiPrimaryContextPass, egui};

use super::camera::{FitRequest, FreeViewport};
use super::control::{SimControl, TickStats};

/// Registers the panel systems.
pub fn plugin(app: &mut App) {
    app.add_systems(EguiPrimaryContextPass, panels);
}

fn panels(
    mut contexts: EguiContexts,
    mut control: ResMut<SimControl>,
    stats: Res<TickStats>,
    diagnostics: Res<DiagnosticsStore>,
    mut fit: ResMut<FitRequest>,
    mut free: ResMut<FreeViewport>,
) -> Result {
    let ctx = contexts.ctx_mut()?;
    let mut root = egui::Ui::new(
        ctx.clone(),
        "masim_root".into(),
        egui::UiBuilder::new()
            .layer_id(egui::LayerId::background())
            .max_rect(ctx.viewport_rect()),
    );
    let fps = diagnostics
        .get(&FrameTimeDiagnosticsPlugin::FPS)
        .and_then(|d| d.smoothed())
        .unwrap_or(0.0);
    egui::Panel::top("status").show(&mut root, |ui| {
        ui.horizontal(|ui| {
            ui.monospace(format!(
                "tick {:>8}   ticks/s {:>8.1}   FPS {:>5.1}",
                stats.ticks_run, stats.ticks_per_second, fps
            ));
        });
    });
    egui::Panel::left("controls")
        .resizable(true)
        .default_size(290.0)
        .show(&mut root, |ui| {
            egui::ScrollArea::vertical().show(ui, |ui| {
                ui.heading("Simulation");
                ui.horizontal(|ui| {
                    let label = if control.playing { "⏸ Pause" } else { "▶ Play" };
                    if ui.button(label).clicked() {
                        control.playing = !control.playing;
                    }
                    if ui
                        .add_enabled(!control.playing, egui::Button::new("Step"))
                        .clicked()
                    {
                        control.pending_steps += 1;
                    }
                    if ui.button("Fit view (F)").clicked() {
                        fit.0 = true;
                    }
                });
                ui.checkbox(&mut control.as_fast_as_possible, "As fast as possible");
                ui.add_enabled(
                    !control.as_fast_as_possible,
                    egui::Slider::new(&mut control.ticks_per_second, 1.0..=2000.0)
                        .logarithmic(true)
                        .text("ticks/s"),
                );
            });
        });
    // What is left after the panels is where the world shows; the camera fit centres on it.
    let rect = root.available_rect_before_wrap();
    free.min = Vec2::new(rect.min.x, rect.min.y);
    free.max = Vec2::new(rect.max.x, rect.max.y);
    Ok(())
}
