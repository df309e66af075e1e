//! The scenario's teaching notes — what to watch, with the numbers a run shows — at the top
//! of the right-hand panel when a scenario opens, at a size that survives a projector.
//! The text is the scenario file's `notes` field, so `masim validate` checks it and
//! docs/catalog.md repeats it word for word.

use bevy::prelude::*;
use bevy_egui::egui;

use super::ui::UiState;
use crate::runner::LiveScenario;

/// Draws the notes at the top of the right-hand panel when they are open (above the
/// inspector, so they never cover the world view); the status line's "Notes" button and N
/// reopen them. Returns where they were drawn.
pub fn show(ui: &mut egui::Ui, world: &World, state: &mut UiState) -> Option<egui::Rect> {
    if !state.notes_open {
        return None;
    }
    let s = &world.resource::<LiveScenario>().current;
    let top = ui.cursor().min;
    let max_h = ui.available_height() * 0.5;
    ui.horizontal(|ui| {
        ui.label(egui::RichText::new("About this scenario").size(17.0).strong());
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            if ui
                .button(egui::RichText::new("Close").size(14.0))
                .on_hover_text("N, or Notes at the top, reopens them")
                .clicked()
            {
                state.notes_open = false;
            }
        });
    });
    ui.label(egui::RichText::new(&s.name).size(14.0).weak());
    egui::ScrollArea::vertical().id_salt("scenario_notes").max_height(max_h).show(ui, |ui| {
        if !s.description.is_empty() {
            ui.add(egui::Label::new(egui::RichText::new(&s.description).size(16.0).strong()).wrap());
            ui.add_space(6.0);
        }
        if s.notes.is_empty() {
            ui.label(egui::RichText::new("This scenario has no notes.").size(15.0).weak());
        }
        // One line of the notes a paragraph; "- " lines are bullets.
        for line in s.notes.lines().map(str::trim).filter(|l| !l.is_empty()) {
            match line.strip_prefix("- ") {
                Some(item) => {
                    ui.horizontal_top(|ui| {
                        ui.add_space(6.0);
                        ui.label(egui::RichText::new("\u{2022}").size(15.0));
                        ui.add(egui::Label::new(egui::RichText::new(item).size(15.0)).wrap());
                    });
                }
                None => {
                    ui.add(egui::Label::new(egui::RichText::new(line).size(15.0)).wrap());
                }
            }
            ui.add_space(3.0);
        }
        ui.allocate_space(egui::vec2(ui.available_width(), 0.0));
    });
    let rect = egui::Rect::from_min_max(top, egui::pos2(ui.max_rect().right(), ui.cursor().min.y));
    ui.separator();
    Some(rect)
}
