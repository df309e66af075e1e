//! Live plots (egui_plot) of the world's metrics and the channel counters over simulated time.

use bevy::prelude::*;
use bevy_egui::egui;
use egui_plot::{Legend, Line, Plot, PlotPoints};

use super::ui::UiState;
use super::worlds::WorldGui;
use crate::runner::LiveScenario;
use crate::sim::{CommStats, Metrics};

/// Columns every run has that are not worth plotting against time.
const AXIS_COLUMNS: [&str; 3] = ["tick", "time_s", "agents"];
/// Points per line at most; longer series are thinned by taking every k-th row.
const MAX_POINTS: usize = 2_000;

/// Draws the plots panel.
pub fn show(ui: &mut egui::Ui, world: &mut World, state: &mut UiState, gui: &WorldGui) {
    if !state.plots_initialised {
        let scenario = &world.resource::<LiveScenario>().current;
        state.plotted = (gui.default_plots)(scenario).iter().map(|s| (*s).to_string()).collect();
        state.plots_initialised = true;
    }
    let metrics = world.resource::<Metrics>();
    let columns: Vec<&'static str> = metrics.columns().to_vec();
    let is_channel = |c: &str| CommStats::COLUMNS.contains(&c);
    // The column toggles get at most about three rows; the rest scrolls, so the plots keep their room.
    egui::ScrollArea::vertical().id_salt("plot_columns").max_height(62.0).show(ui, |ui| {
        ui.horizontal_wrapped(|ui| {
            ui.label("World:");
            for c in columns.iter().filter(|c| !is_channel(c) && !AXIS_COLUMNS.contains(c)) {
                toggle(ui, state, c);
            }
            ui.separator();
            ui.label("Channel:");
            for c in columns.iter().filter(|c| is_channel(c)) {
                toggle(ui, state, c);
            }
        });
    });
    let Some(t) = metrics.index("time_s") else {
        return;
    };
    let rows = metrics.rows();
    let step = rows.len().div_ceil(MAX_POINTS).max(1);
    let series = |name: &str| -> Option<PlotPoints<'static>> {
        let i = metrics.index(name)?;
        Some(rows.iter().step_by(step).map(|r| [r[t], r[i]]).collect())
    };
    let width = (ui.available_width() - 8.0) / 2.0;
    let height = ui.available_height().max(60.0);
    ui.horizontal(|ui| {
        for (title, channel) in [("world", false), ("channel", true)] {
            ui.vertical(|ui| {
                ui.set_width(width);
                Plot::new(title)
                    .legend(Legend::default())
                    .height(height)
                    .x_axis_label("simulated time (s)")
                    .allow_scroll(false)
                    .show(ui, |plot| {
                        for c in columns.iter().filter(|c| is_channel(c) == channel && state.plotted.contains(**c)) {
                            if let Some(points) = series(c) {
                                plot.line(Line::new(*c, points));
                            }
                        }
                    });
            });
        }
    });
}

fn toggle(ui: &mut egui::Ui, state: &mut UiState, column: &str) {
    let mut on = state.plotted.contains(column);
    if ui.toggle_value(&mut on, column).changed() {
        if on {
            state.plotted.insert(column.to_string());
        } else {
            state.plotted.remove(column);
        }
    }
}
