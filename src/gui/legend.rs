//! The on-screen legend: what every colour, glyph and shading in the world view means,
//! drawn over the bottom-left corner of the world view so a screenshot or a projector
//! explains itself. Each world lists its entries as data (`WorldGui::legend`); the app
//! adds the message colours (when the message overlay is on) and the fault shading.
//! Toggled with the Overlays section's checkbox or the L key.

use bevy::prelude::*;
use bevy_egui::egui;

use super::Overlays;
use super::assets::{decode_rgba, glyph};
use super::overlays::MessageColors;
use crate::sim::Registry;

/// One entry of a legend.
#[derive(Debug, Clone, PartialEq)]
pub enum LegendItem {
    /// A bold line over the entries that follow.
    Heading(String),
    /// An agent glyph from assets/glyphs (by name), tinted or as drawn.
    Glyph { glyph: &'static str, tint: Option<[u8; 3]>, label: String },
    /// A filled square of a colour.
    Swatch { color: [u8; 4], label: String },
    /// An outlined square of a colour (highlights drawn as outlines).
    Outline { color: [u8; 3], label: String },
    /// A line of a colour (messages, routes).
    Line { color: [u8; 3], label: String },
    /// A colour scale from `min` to `max` in `unit`, its colours evenly spaced.
    Scale { label: String, min: f64, max: f64, unit: &'static str, colors: Vec<[u8; 3]> },
    /// A line of plain text.
    Note(String),
}

/// The glyph textures, loaded into egui once.
#[derive(Resource, Default)]
struct GlyphTextures(Vec<(&'static str, egui::TextureHandle)>);

/// The sRGB bytes of a drawing colour, as the legend's entries take them.
pub fn srgb_bytes(c: impl Into<Color>) -> [u8; 3] {
    let s = c.into().to_srgba();
    [(s.red * 255.0) as u8, (s.green * 255.0) as u8, (s.blue * 255.0) as u8]
}

fn c32([r, g, b]: [u8; 3]) -> egui::Color32 {
    egui::Color32::from_rgb(r, g, b)
}

fn texture(ctx: &egui::Context, cache: &mut GlyphTextures, name: &'static str) -> Option<egui::TextureHandle> {
    if let Some((_, t)) = cache.0.iter().find(|(n, _)| *n == name) {
        return Some(t.clone());
    }
    let (rgba, w, h) = decode_rgba(glyph(name)?)?;
    let image = egui::ColorImage::from_rgba_unmultiplied([w as usize, h as usize], &rgba);
    let t = ctx.load_texture(format!("glyph_{name}"), image, egui::TextureOptions::LINEAR);
    cache.0.push((name, t.clone()));
    Some(t)
}

/// The app's own entries: message colours while the overlay shows them, fault shading.
fn shared_items(world: &World) -> Vec<LegendItem> {
    let mut v = Vec::new();
    let overlays = world.get_resource::<Overlays>().cloned().unwrap_or_default();
    if overlays.messages
        && let (Some(reg), Some(colors)) = (world.get_resource::<Registry>(), world.get_resource::<MessageColors>())
        && !reg.messages().is_empty()
    {
        v.push(LegendItem::Heading("Messages (lines from sender to receiver)".into()));
        for m in reg.messages() {
            let c = colors.color(m.name).to_srgba();
            let rgb = [(c.red * 255.0) as u8, (c.green * 255.0) as u8, (c.blue * 255.0) as u8];
            v.push(LegendItem::Line { color: rgb, label: m.name.to_string() });
        }
        v.push(LegendItem::Line { color: [255, 38, 38], label: "dropped copy (× at the receiver)".into() });
    }
    if overlays.fault_regions {
        v.push(LegendItem::Heading("Faults".into()));
        v.push(LegendItem::Swatch { color: [0, 0, 5, 90], label: "blacked-out region (white outline)".into() });
        v.push(LegendItem::Swatch { color: [242, 140, 13, 60], label: "partition region (orange outline)".into() });
    }
    v
}

/// Draws the legend over the world view's bottom-left corner.
pub fn show(
    ctx: &egui::Context,
    world: &mut World,
    items: Vec<LegendItem>,
    free_min: egui::Pos2,
    free_max: egui::Pos2,
) -> Option<egui::Rect> {
    let mut items = items;
    items.extend(shared_items(world));
    if items.is_empty() {
        return None;
    }
    let scale = 1.0;
    let mut cache = world.remove_resource::<GlyphTextures>().unwrap_or_default();
    // At most a third of the view's height and 270 points wide (it scrolls), so the
    // world stays in sight beside and above it.
    let max_h = ((free_max.y - free_min.y) * 0.34).max(120.0);
    let shown = egui::Area::new(egui::Id::new("legend"))
        .fixed_pos(egui::pos2(free_min.x + 8.0, free_max.y - 8.0))
        .pivot(egui::Align2::LEFT_BOTTOM)
        .order(egui::Order::Foreground)
        .show(ctx, |ui| {
            egui::Frame::popup(ui.style()).fill(egui::Color32::from_rgba_unmultiplied(20, 22, 26, 235)).show(
                ui,
                |ui| {
                    egui::ScrollArea::vertical().max_height(max_h).show(ui, |ui| {
                        ui.set_max_width(270.0 * scale);
                        ui.label(egui::RichText::new("Legend").strong().size(15.0 * scale));
                        for item in &items {
                            row(ui, item, &mut cache, scale);
                        }
                        ui.small("L hides the legend");
                    });
                },
            );
        });
    world.insert_resource(cache);
    Some(shown.response.rect)
}

fn row(ui: &mut egui::Ui, item: &LegendItem, cache: &mut GlyphTextures, scale: f32) {
    let size = egui::vec2(18.0, 18.0) * scale;
    let text = |s: &str| egui::RichText::new(s).size(13.0 * scale);
    // A row's label wraps: a long one must not widen the legend.
    let wrapped = |ui: &mut egui::Ui, s: &str| ui.add(egui::Label::new(text(s)).wrap());
    match item {
        LegendItem::Heading(t) => {
            ui.add_space(2.0);
            ui.label(egui::RichText::new(t).strong().size(13.5 * scale));
        }
        LegendItem::Glyph { glyph, tint, label } => {
            ui.horizontal(|ui| {
                match texture(ui.ctx(), cache, glyph) {
                    Some(t) => {
                        let tint = tint.map_or(egui::Color32::WHITE, c32);
                        ui.add(egui::Image::new((t.id(), size)).tint(tint));
                    }
                    None => {
                        ui.allocate_exact_size(size, egui::Sense::hover());
                    }
                }
                wrapped(ui, label);
            });
        }
        LegendItem::Swatch { color: [r, g, b, a], label } => {
            ui.horizontal(|ui| {
                let (rect, _) = ui.allocate_exact_size(size, egui::Sense::hover());
                ui.painter().rect_filled(rect.shrink(2.0), 2.0, egui::Color32::from_rgba_unmultiplied(*r, *g, *b, *a));
                wrapped(ui, label);
            });
        }
        LegendItem::Outline { color, label } => {
            ui.horizontal(|ui| {
                let (rect, _) = ui.allocate_exact_size(size, egui::Sense::hover());
                ui.painter().rect_stroke(
                    rect.shrink(3.0),
                    1.0,
                    egui::Stroke::new(2.5 * scale, c32(*color)),
                    egui::StrokeKind::Inside,
                );
                wrapped(ui, label);
            });
        }
        LegendItem::Line { color, label } => {
            ui.horizontal(|ui| {
                let (rect, _) = ui.allocate_exact_size(size, egui::Sense::hover());
                ui.painter().line_segment(
                    [rect.left_center() + egui::vec2(1.0, 0.0), rect.right_center() - egui::vec2(1.0, 0.0)],
                    egui::Stroke::new(2.5 * scale, c32(*color)),
                );
                wrapped(ui, label);
            });
        }
        LegendItem::Scale { label, min, max, unit, colors } => {
            ui.label(text(label));
            let width = 220.0 * scale;
            let (rect, _) = ui.allocate_exact_size(egui::vec2(width, 12.0 * scale), egui::Sense::hover());
            let n = colors.len().max(1);
            for (k, c) in colors.iter().enumerate() {
                let x0 = rect.left() + width * k as f32 / n as f32;
                let x1 = rect.left() + width * (k + 1) as f32 / n as f32;
                let r = egui::Rect::from_min_max(egui::pos2(x0, rect.top()), egui::pos2(x1 + 0.5, rect.bottom()));
                ui.painter().rect_filled(r, 0.0, c32(*c));
            }
            ui.horizontal(|ui| {
                ui.set_width(width);
                ui.label(text(&format!("{} {unit}", fmt(*min))));
                ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                    ui.label(text(&format!("{} {unit}", fmt(*max))));
                    ui.label(text(&format!("{} ", fmt((min + max) / 2.0))));
                });
            });
        }
        LegendItem::Note(t) => {
            ui.label(egui::RichText::new(t).size(12.0 * scale).weak());
        }
    }
}

/// A scale's number: no needless decimals.
fn fmt(x: f64) -> String {
    if (x - x.round()).abs() < 1e-9 { format!("{x:.0}") } else { format!("{x:.1}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_on_the_scale() {
        assert_eq!(fmt(15.0), "15");
        assert_eq!(fmt(7.5), "7.5");
        assert_eq!(fmt(0.0), "0");
    }
}
