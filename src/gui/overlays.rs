//! Overlays every world shares: messages in flight and dropped copies (from the channel's
//! traces), radio ranges, and the regions of partitions and blackouts from active faults.

use bevy::prelude::*;

use super::agents::{AgentIndex, DrawSet, camera_scale};
use super::batch::{GlyphBuffers, spawn_batch};
use super::camera::WorldCamera;
use super::{Overlays, Selection};
use crate::sim::channel::Outcome;
use crate::sim::{Channel, SimClock};

/// Message lines drawn at most per frame (the panel says when more exist).
pub const MAX_MESSAGE_LINES: usize = 4_000;
/// Radio range circles are drawn for every agent up to this many agents, else only for the selected one.
const MAX_RANGE_CIRCLES: usize = 300;

/// What the message overlay drew this frame (shown in the panel).
#[derive(Resource, Default, Debug, Clone, Copy)]
pub struct MessageOverlayStats {
    /// Copies in flight (due at a later tick).
    pub in_flight: usize,
    /// Copies delivered during the last tick (with a one-tick latency every copy is one of these).
    pub delivered: usize,
    /// This tick's copies that were dropped.
    pub dropped: usize,
    /// Lines actually drawn.
    pub drawn: usize,
}

/// The fault regions' batch.
#[derive(Resource)]
struct RegionsDrawing {
    regions: GlyphBuffers,
    regions_mesh: Handle<Mesh>,
}

/// Registers the shared overlays.
pub fn plugin(app: &mut App) {
    app.init_resource::<MessageOverlayStats>()
        .init_resource::<MessageColors>()
        .add_systems(Startup, setup)
        .add_systems(Update, (draw_fault_regions, draw_overlays).chain().in_set(DrawSet::Overlays));
}

fn setup(mut commands: Commands, mut meshes: ResMut<Assets<Mesh>>, mut materials: ResMut<Assets<ColorMaterial>>) {
    let (_, regions_mesh) = spawn_batch(&mut commands, &mut meshes, &mut materials, 2.0);
    commands.insert_resource(RegionsDrawing { regions: GlyphBuffers::default(), regions_mesh });
}

/// Translucent fills for blacked-out regions and partition regions.
fn draw_fault_regions(
    overlays: Res<Overlays>,
    channel: Res<Channel>,
    mut drawing: ResMut<RegionsDrawing>,
    mut meshes: ResMut<Assets<Mesh>>,
) {
    let drawing = &mut *drawing;
    let had = !drawing.regions.is_empty();
    drawing.regions.clear();
    if overlays.fault_regions {
        let rect = |r: &crate::sim::Rect| {
            [Vec2::new(r.x0, r.y0), Vec2::new(r.x1, r.y0), Vec2::new(r.x1, r.y1), Vec2::new(r.x0, r.y1)]
        };
        for r in &channel.blackouts {
            drawing.regions.push_quad(rect(r), LinearRgba::new(0.0, 0.0, 0.02, 0.35));
        }
        for (k, regions) in channel.partitions.iter().enumerate() {
            let hue = 30.0 + 70.0 * k as f32;
            for r in regions {
                drawing.regions.push_quad(rect(r), Color::hsla(hue, 0.9, 0.5, 0.12).to_linear());
            }
        }
    }
    if (had || !drawing.regions.is_empty())
        && let Some(mut mesh) = meshes.get_mut(&drawing.regions_mesh)
    {
        drawing.regions.write_to(&mut mesh);
    }
}

/// The colours of message kinds, from the world's GUI part; a kind it does not list
/// gets a colour from its name.
#[derive(Resource, Debug, Clone, Default)]
pub struct MessageColors(pub Vec<(&'static str, [u8; 3])>);

impl MessageColors {
    /// Colour of a message kind in the overlay and the legend.
    pub fn color(&self, kind: &str) -> Color {
        match self.0.iter().find(|(k, _)| *k == kind) {
            Some((_, [r, g, b])) => Color::srgb_u8(*r, *g, *b),
            None => {
                let h = kind.bytes().fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
                Color::hsl((h % 360) as f32, 0.8, 0.65)
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn draw_overlays(
    mut gizmos: Gizmos,
    overlays: Res<Overlays>,
    channel: Res<Channel>,
    index: Res<AgentIndex>,
    selection: Res<Selection>,
    clock: Res<SimClock>,
    camera: Single<&Projection, With<WorldCamera>>,
    colors: Res<MessageColors>,
    mut stats: ResMut<MessageOverlayStats>,
) {
    let scale = camera_scale(&camera);
    *stats = MessageOverlayStats::default();
    if overlays.messages {
        let mut drawn = 0usize;
        for (msg, to, _due) in channel.in_flight() {
            stats.in_flight += 1;
            if drawn >= MAX_MESSAGE_LINES {
                continue;
            }
            if let (Some(a), Some(b)) = (index.position(msg.from), index.position(to)) {
                gizmos.line_2d(a, b, colors.color(msg.kind).with_alpha(0.35));
                drawn += 1;
            }
        }
        // The last tick's routed copies that were already due (the clock has moved on by one
        // since): they never sit in the in-flight queue, so without this a one-tick latency
        // would show no messages at all.
        let last_tick = clock.tick.saturating_sub(1);
        for t in channel.traces.iter().filter(|t| t.outcome == Outcome::InFlight && t.due <= last_tick) {
            stats.delivered += 1;
            if drawn >= MAX_MESSAGE_LINES {
                continue;
            }
            if let (Some(a), Some(b)) = (index.position(t.from), t.to.and_then(|to| index.position(to))) {
                gizmos.line_2d(a, b, colors.color(t.kind).with_alpha(0.35));
                drawn += 1;
            }
        }
        let red = Color::srgb(1.0, 0.15, 0.15);
        for t in channel.traces.iter().filter(|t| t.outcome != Outcome::InFlight) {
            stats.dropped += 1;
            if drawn >= MAX_MESSAGE_LINES {
                continue;
            }
            let (Some(a), Some(b)) = (index.position(t.from), t.to.and_then(|to| index.position(to))) else {
                continue;
            };
            gizmos.line_2d(a, b, red.with_alpha(0.6));
            // A cross at the receiving end marks the copy as dropped.
            let s = 4.0 * scale;
            gizmos.line_2d(b + Vec2::new(-s, -s), b + Vec2::new(s, s), red);
            gizmos.line_2d(b + Vec2::new(-s, s), b + Vec2::new(s, -s), red);
            drawn += 1;
        }
        stats.drawn = drawn;
    }
    if overlays.radio_ranges {
        let range = channel.config.range_m as f32;
        let color = Color::srgba(0.5, 0.8, 1.0, 0.35);
        if index.count <= MAX_RANGE_CIRCLES {
            for p in index.pos.iter().filter(|p| p.is_finite()) {
                gizmos.circle_2d(*p, range, color);
            }
        } else if let Some(p) = selection.agent.and_then(|id| index.position(id)) {
            gizmos.circle_2d(p, range, color);
        }
    }
    if overlays.fault_regions {
        let outline = |g: &mut Gizmos, r: &crate::sim::Rect, c: Color| {
            let centre = Vec2::new((r.x0 + r.x1) * 0.5, (r.y0 + r.y1) * 0.5);
            let size = Vec2::new((r.x1 - r.x0).abs(), (r.y1 - r.y0).abs());
            g.rect_2d(Isometry2d::from_translation(centre), size, c);
        };
        for r in &channel.blackouts {
            outline(&mut gizmos, r, Color::srgb(0.9, 0.9, 0.9));
        }
        for regions in &channel.partitions {
            for r in regions {
                outline(&mut gizmos, r, Color::srgb(1.0, 0.6, 0.1));
            }
        }
    }
    let Some(id) = selection.agent else {
        return;
    };
    let Some(p) = index.position(id) else {
        return;
    };
    gizmos.circle_2d(p, 6.0f32.max(10.0 * scale), Color::WHITE);
}
