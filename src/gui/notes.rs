//! The scenario's teaching notes — what to watch, with the numbers a run shows — in a
//! window over the world view when a scenario opens, at a size that survives a projector.
//! The text is the scenario file's `notes` field, so `masim validate` checks it and
//! docs/catalog.md repeats it word for word.

use bevy::prelude::*;
use bevy_egui::egui;

use super::ui::UiState;
use crate::runner::LiveScenario;

/// Draws the notes window when it is open; the status line's "Notes" button reopens it.
pub fn show(
    ctx: &egui::Context,
    world: &World,
    state: &mut UiState,
    free_min: egui::Pos2,
    free_max: egui::Pos2,
) -> Option<egui::Rect> {
    if !state.notes_open {
        return None;
    }
    let s = &world.resource::<LiveScenario>().current;
    let width = ((free_max.x - free_min.x) * 0.5).clamp(260.0, 560.0);
    let mut open = true;
    let shown = egui::Window::new(egui::RichText::new(format!("About this scenario: {}", s.name)).size(17.0))
        .id(egui::Id::new("scenario_notes"))
        .open(&mut open)
        .collapsible(false)
        .resizable(true)
        .default_width(width)
        .default_pos(egui::pos2(free_max.x - width - 12.0, free_min.y + 12.0))
        .show(ctx, |ui| {
            egui::ScrollArea::vertical().max_height((free_max.y - free_min.y) * 0.5).show(ui, |ui| {
                if !s.description.is_empty() {
                    ui.label(egui::RichText::new(&s.description).size(17.0).strong());
                    ui.add_space(6.0);
                }
                if s.notes.is_empty() {
                    ui.label(egui::RichText::new("This scenario has no notes.").size(16.0).weak());
                }
                // One line of the notes a paragraph; "- " lines are bullets.
                for line in s.notes.lines().map(str::trim).filter(|l| !l.is_empty()) {
                    match line.strip_prefix("- ") {
                        Some(item) => {
                            ui.horizontal_top(|ui| {
                                ui.add_space(8.0);
                                ui.label(egui::RichText::new("\u{2022}").size(16.0));
                                ui.add(egui::Label::new(egui::RichText::new(item).size(16.0)).wrap());
                            });
                        }
                        None => {
                            ui.add(egui::Label::new(egui::RichText::new(line).size(16.0)).wrap());
                        }
                    }
                    ui.add_space(3.0);
                }
            });
            ui.separator();
            if ui.button(egui::RichText::new("Close (N, or Notes at the top, reopens it)").size(14.0)).clicked() {
                state.notes_open = false;
            }
        });
    if !open {
        state.notes_open = false;
    }
    shown.map(|r| r.response.rect)
}
