//! Live plots (egui_plot) of the world's metrics and the channel counters over simulated time.

use bevy::prelude::*;
use bevy_egui::egui;
use egui_plot::{Line, Plot, PlotPoints};

use super::ui::UiState;
use super::worlds::WorldGui;
use crate::runner::LiveScenario;
use crate::sim::{Agg, CommStats, Metrics, Registry};

/// Columns every run has that are not worth plotting against time.
const AXIS_COLUMNS: [&str; 3] = ["tick", "time_s", "agents"];
/// Points per line at most; longer series are thinned by taking every k-th row.
const MAX_POINTS: usize = 2_000;

/// Line colours, in the order a plot's lines are drawn (readable on the dark theme).
const PALETTE: [egui::Color32; 8] = [
    egui::Color32::from_rgb(102, 194, 255),
    egui::Color32::from_rgb(255, 170, 60),
    egui::Color32::from_rgb(120, 220, 120),
    egui::Color32::from_rgb(240, 100, 120),
    egui::Color32::from_rgb(200, 150, 255),
    egui::Color32::from_rgb(240, 230, 110),
    egui::Color32::from_rgb(90, 220, 210),
    egui::Color32::from_rgb(230, 230, 230),
];

/// One plot: the selected columns that share a unit.
struct Group {
    /// The y axis's label: the unit, per tick for counts.
    axis: String,
    columns: Vec<&'static str>,
    /// Divide each value by this (counts summed over a row's ticks are shown per tick).
    per: f64,
}

/// The y-axis label of a column: its unit, and for counts summed over a row's interval
/// "per tick" (the plot divides by the ticks a row covers).
pub fn axis_label(unit: &str, agg: Agg) -> String {
    let unit = if unit.is_empty() { "value" } else { unit };
    match agg {
        Agg::Sum => format!("{unit} per tick"),
        _ => unit.to_string(),
    }
}

/// The selected columns grouped by unit, in column order, so no axis mixes units.
fn groups(metrics: &Metrics, selected: &[&'static str]) -> Vec<Group> {
    let mut out: Vec<Group> = Vec::new();
    for &c in selected {
        let agg = metrics.agg(c).unwrap_or(Agg::Last);
        let axis = axis_label(metrics.unit(c).unwrap_or(""), agg);
        let per = if agg == Agg::Sum { metrics.record_every() as f64 } else { 1.0 };
        match out.iter_mut().find(|g| g.axis == axis) {
            Some(g) => g.columns.push(c),
            None => out.push(Group { axis, columns: vec![c], per }),
        }
    }
    out
}

/// Draws the plots panel.
pub fn show(ui: &mut egui::Ui, world: &mut World, state: &mut UiState, gui: &WorldGui) {
    if !state.plots_initialised {
        let scenario = &world.resource::<LiveScenario>().current;
        state.plotted = (gui.default_plots)(scenario).iter().map(|s| (*s).to_string()).collect();
        state.plots_initialised = true;
    }
    if ui
        .small_button("Save figures (PNG, SVG)")
        .on_hover_text("The plotted metrics as masim plot draws them, into out/<scenario>-figures/")
        .clicked()
    {
        state.message = Some(match save_figures(world, &state.plotted) {
            Ok(msg) => (msg, false),
            Err(e) => (format!("saving figures failed: {e}"), true),
        });
    }
    let metrics = world.resource::<Metrics>();
    let columns: Vec<&'static str> = metrics.columns().to_vec();
    let is_channel = |c: &str| CommStats::COLUMNS.contains(&c);
    // The column toggles get about three rows with a scroll bar that is always shown, so
    // every chip is reachable and the plots keep their room.
    egui::ScrollArea::vertical()
        .id_salt("plot_columns")
        .max_height(62.0)
        .scroll_bar_visibility(egui::scroll_area::ScrollBarVisibility::AlwaysVisible)
        .show(ui, |ui| {
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
    let selected: Vec<&'static str> =
        columns.iter().copied().filter(|c| !AXIS_COLUMNS.contains(c) && state.plotted.contains(*c)).collect();
    let groups = groups(metrics, &selected);
    if groups.is_empty() {
        ui.label("Pick a metric above to plot it.");
        return;
    }
    let rows = metrics.rows();
    let step = rows.len().div_ceil(MAX_POINTS).max(1);
    let series = |name: &str, per: f64| -> Option<PlotPoints<'static>> {
        let i = metrics.index(name)?;
        Some(rows.iter().step_by(step).map(|r| [r[t], r[i] / per]).collect())
    };
    // Up to three plots a row; each plot is one unit, with its key above it (never over the
    // lines). Each cell gets an equal share of the panel's height, measured once, and the
    // plot takes what its key leaves, so the panel never grows from one frame to the next.
    let per_row = groups.len().min(3);
    let n_rows = groups.len().div_ceil(per_row);
    let gap = ui.spacing().item_spacing;
    let width = (ui.available_width() - gap.x * (per_row as f32 - 1.0)) / per_row as f32;
    let cell_h = ((ui.available_height() - gap.y * (n_rows as f32 - 1.0)) / n_rows as f32).max(80.0);
    let mut colour = 0usize;
    for row in groups.chunks(per_row) {
        ui.horizontal(|ui| {
            for g in row {
                ui.allocate_ui(egui::vec2(width, cell_h), |ui| {
                    ui.set_width(width);
                    ui.set_max_height(cell_h);
                    ui.vertical(|ui| {
                        let first = colour;
                        let key = ui.horizontal_wrapped(|ui| {
                            for (k, c) in g.columns.iter().enumerate() {
                                let col = PALETTE[(first + k) % PALETTE.len()];
                                let (r, _) = ui.allocate_exact_size(egui::vec2(14.0, 10.0), egui::Sense::hover());
                                ui.painter()
                                    .line_segment([r.left_center(), r.right_center()], egui::Stroke::new(2.5, col));
                                ui.label(egui::RichText::new(*c).color(col).small());
                            }
                        });
                        let plot_h = (cell_h - key.response.rect.height() - gap.y).max(40.0);
                        // Where the lines come near 0 the axis starts at 0, so a small change
                        // never looks like a collapse and counts never dip below zero, not
                        // even by an axis margin; far from 0 (a frequency near 60 Hz) the axis
                        // hugs the lines, never below 0 for values that are not negative.
                        let (lo, hi) = range(metrics, rows, &g.columns, g.per);
                        let (bottom, top) = if lo >= 0.0 && (hi <= 0.0 || lo <= 0.5 * hi) {
                            (0.0, if hi > 0.0 { hi * 1.08 } else { 1.0 })
                        } else {
                            let pad = ((hi - lo) * 0.08).max(1e-6 * hi.abs().max(lo.abs()).max(1e-9));
                            let bottom = if lo >= 0.0 { (lo - pad).max(0.0) } else { lo - pad };
                            (bottom, hi + pad)
                        };
                        Plot::new(("plot", g.axis.as_str()))
                            .height(plot_h)
                            .width(width)
                            .x_axis_label("simulated time (s)")
                            .y_axis_label(g.axis.clone())
                            .set_margin_fraction(egui::vec2(0.0, 0.0))
                            .include_y(bottom)
                            .include_y(top)
                            .allow_scroll(false)
                            .show(ui, |plot| {
                                for (k, c) in g.columns.iter().enumerate() {
                                    if let Some(points) = series(c, g.per) {
                                        let col = PALETTE[(first + k) % PALETTE.len()];
                                        plot.line(Line::new(*c, points).color(col));
                                    }
                                }
                            });
                    });
                });
                colour += g.columns.len();
            }
        });
    }
}

/// Writes the plotted columns' figures, as `masim plot` draws a run, into
/// out/<scenario>-figures/.
fn save_figures(world: &World, plotted: &std::collections::BTreeSet<String>) -> Result<String, String> {
    let metrics = world.resource::<Metrics>();
    let registry = world.get_resource::<Registry>();
    let group = |name: &str| {
        registry
            .and_then(|r| r.metrics_grouped().into_iter().find(|(_, m)| m.name == name).map(|(g, _)| g))
            .map_or("world".to_string(), |g| format!("{g:?}").to_lowercase())
    };
    let columns: Vec<crate::plot::Column> = metrics
        .columns()
        .iter()
        .map(|c| crate::plot::Column {
            name: c.to_string(),
            unit: metrics.unit(c).unwrap_or("").to_string(),
            agg: metrics.agg(c).unwrap_or(Agg::Last),
            group: group(c),
        })
        .collect();
    let only: Vec<String> = plotted.iter().cloned().collect();
    let name = world.resource::<LiveScenario>().current.name.clone();
    let figs = crate::plot::metric_figures(&name, &columns, metrics.rows(), Some(&only));
    if figs.is_empty() {
        return Err("nothing plotted yet".into());
    }
    let dir = std::path::PathBuf::from("out").join(format!("{name}-figures"));
    let files = crate::plot::save(&figs, &dir).map_err(|e| e.to_string())?;
    Ok(format!("saved {} figures (PNG and SVG) in {}", files.len() / 2, dir.display()))
}

/// The smallest and largest value of some columns (divided by `per`); (0, 0) with no rows.
fn range(metrics: &Metrics, rows: &[Vec<f64>], columns: &[&'static str], per: f64) -> (f64, f64) {
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for c in columns {
        if let Some(i) = metrics.index(c) {
            for r in rows {
                let v = r[i] / per;
                if v.is_finite() {
                    lo = lo.min(v);
                    hi = hi.max(v);
                }
            }
        }
    }
    if lo > hi { (0.0, 0.0) } else { (lo, hi) }
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
