//! Event log panel: faults, jams, edits and notable decisions, newest first, filterable by kind.

use bevy::prelude::*;
use bevy_egui::egui;

use super::Selection;
use super::ui::UiState;
use crate::sim::{AgentId, EventLog};

/// Draws the event log.
pub fn show(ui: &mut egui::Ui, world: &mut World, state: &mut UiState) {
    let log = world.resource::<EventLog>();
    let counts = log.counts();
    ui.heading(format!("Events ({})", log.events().len()));
    ui.horizontal_wrapped(|ui| {
        for (kind, n) in &counts {
            let mut on = !state.hidden_kinds.contains(*kind);
            if ui.toggle_value(&mut on, format!("{kind} {n}")).changed() {
                if on {
                    state.hidden_kinds.remove(*kind);
                } else {
                    state.hidden_kinds.insert((*kind).to_string());
                }
            }
        }
    });
    if log.suppressed() > 0 {
        ui.small(format!("{} more not kept (log cap)", log.suppressed()));
    }
    let shown: Vec<usize> = log
        .events()
        .iter()
        .enumerate()
        .rev()
        .filter(|(_, e)| !state.hidden_kinds.contains(e.kind))
        .map(|(i, _)| i)
        .collect();
    let row_height = ui.text_style_height(&egui::TextStyle::Monospace);
    let mut pick = None;
    egui::ScrollArea::vertical().id_salt("events").auto_shrink([false, false]).show_rows(
        ui,
        row_height,
        shown.len(),
        |ui, range| {
            for &i in &shown[range] {
                let e = &log.events()[i];
                let detail = serde_json::Value::Object(e.detail.clone()).to_string();
                ui.horizontal(|ui| {
                    ui.monospace(format!("{:>7} {:<16}", e.tick, e.kind));
                    if let Some(a) = e.agent
                        && ui.small_button(format!("#{a}")).on_hover_text("Select this agent").clicked()
                    {
                        pick = Some(AgentId(a));
                    }
                    ui.add(egui::Label::new(egui::RichText::new(detail).monospace()).truncate())
                        .on_hover_text(serde_json::Value::Object(e.detail.clone()).to_string());
                });
            }
        },
    );
    if let Some(id) = pick {
        let mut sel = world.resource_mut::<Selection>();
        sel.agent = Some(id);
        sel.history.clear();
    }
}
