//! The power grid in the app: lines coloured by loading and as wide as their flow (with an
//! arrow the way it flows), tripped and switched-out lines dashed and crossed, buses shaded by
//! island (a dark island grey), units, batteries, EV stations with their ports and queues,
//! controllers and households as glyphs, and a frequency readout over the view. A click on a
//! line trips it, a click on an open line closes it: both go onto the world's timeline, so an
//! exported session replays them. Controls as data in `controls`, inspector rows in
//! `inspector`.

pub mod controls;
mod inspector;

use bevy::prelude::*;
use bevy::window::PrimaryWindow;
use bevy_egui::input::EguiWantsInput;
use bevy_egui::{EguiContexts, EguiPrimaryContextPass, egui};

use super::WorldGui;
use crate::gui::agents::{AgentIndex, DrawSet, camera_scale};
use crate::gui::batch::{GlyphBuffers, spawn_batch};
use crate::gui::camera::{FitRequest, FreeViewport, WorldBounds, WorldCamera, cursor_to_world};
use crate::gui::legend::{LegendItem, srgb_bytes};
use crate::runner::LiveScenario;
use crate::scenario::{Scenario, WorldConfig};
use crate::sim::{Agent, Crashed, Pose, SimClock};
use crate::worlds::power::agents::ev::StationAgent;
use crate::worlds::power::agents::prosumers::Prosumer;
use crate::worlds::power::agents::units::{GenAgent, StorageAgent};
use crate::worlds::power::config::{PowerEvent, PowerEventKind};
use crate::worlds::power::events::PowerEvents;
use crate::worlds::power::state::{LineStatus, PowerState};
use crate::worlds::power::{AREA_CONTROLLER, OPERATOR, PowerParams};

/// The power world's part of the app.
pub const GUI: WorldGui = WorldGui {
    plugin,
    controls: controls::controls,
    default_plots,
    inspector_rows: inspector::rows,
    inspector_sections: inspector::sections,
    overlay_controls: controls::overlays,
    message_colors: &MESSAGE_COLORS,
    legend,
};

/// The legend: line loading colours with their numbers and what line width means, bus
/// states, each agent kind's glyph as drawn.
fn legend(world: &World) -> Vec<LegendItem> {
    let scale: Vec<[u8; 3]> = (0..=10).map(|k| srgb_bytes(loading_color(f64::from(k) / 10.0))).collect();
    let households = world.get_resource::<PowerParams>().is_some_and(|p| p.0.prosumers.households > 0);
    let mut v = vec![
        LegendItem::Heading("Lines".into()),
        LegendItem::Scale {
            label: "loading (share of the rating)".into(),
            min: 0.0,
            max: 100.0,
            unit: "%",
            colors: scale,
        },
        LegendItem::Swatch { color: [255, 26, 26, 255], label: "at or above 100 %: relay timing".into() },
        LegendItem::Note("Width grows with the flow; the arrow points the way power flows.".into()),
        LegendItem::Line { color: [255, 38, 38], label: "tripped (dashed, crossed): click to restore".into() },
        LegendItem::Line { color: [179, 179, 179], label: "switched out by the operator".into() },
        LegendItem::Line { color: [140, 166, 204], label: "no rating".into() },
        LegendItem::Heading("Buses".into()),
        LegendItem::Swatch { color: [235, 235, 242, 255], label: "energized".into() },
        LegendItem::Swatch { color: [255, 153, 26, 255], label: "under-frequency relays shed load".into() },
        LegendItem::Swatch { color: [128, 13, 13, 255], label: "dark (island without generation)".into() },
        LegendItem::Heading("Agents".into()),
        LegendItem::Scale {
            label: "generating unit (diamond): output".into(),
            min: 0.0,
            max: 100.0,
            unit: "% of max",
            colors: (0..=10)
                .map(|k| srgb_bytes(Color::srgb(0.2, 0.35, 0.9).mix(&Color::srgb(1.0, 0.85, 0.2), k as f32 / 10.0)))
                .collect(),
        },
        LegendItem::Outline { color: [255, 77, 255], label: "unit in its fail-safe (no setpoint heard)".into() },
        LegendItem::Swatch { color: [64, 64, 64, 255], label: "unit offline (red cross)".into() },
        LegendItem::Swatch { color: [64, 230, 89, 255], label: "grid battery: bar is its charge".into() },
        LegendItem::Swatch {
            color: [115, 89, 230, 255],
            label: "EV station; green ports in use, amber EVs queue".into(),
        },
        LegendItem::Swatch {
            color: [77, 153, 255, 255],
            label: "area controller (diamond) / operator (framed)".into(),
        },
        LegendItem::Glyph { glyph: "crashed", tint: None, label: "crashed agent (purple)".into() },
    ];
    if households {
        v.push(LegendItem::Swatch { color: [77, 230, 102, 255], label: "household exporting".into() });
        v.push(LegendItem::Swatch { color: [255, 153, 51, 255], label: "household drawing (redder: more)".into() });
    }
    v
}

/// Message colours: reports in yellow, commands in green, prices in magenta, consensus in cyan.
const MESSAGE_COLORS: [(&str, [u8; 3]); 13] = [
    ("telemetry", [255, 217, 77]),
    ("load_report", [255, 190, 60]),
    ("area_report", [255, 153, 51]),
    ("setpoint", [102, 255, 128]),
    ("schedule", [60, 220, 160]),
    ("price", [255, 102, 255]),
    ("consensus", [77, 217, 255]),
    ("meter", [200, 200, 120]),
    ("dr_request", [255, 90, 90]),
    ("ev_report", [170, 140, 255]),
    ("ev_cap", [140, 110, 255]),
    ("storage_report", [120, 200, 255]),
    ("switch", [255, 255, 255]),
];

/// Columns plotted when the app opens.
fn default_plots(s: &Scenario) -> Vec<&'static str> {
    let mut v = vec!["freq_hz", "max_line_loading", "load_shed_mw", "msgs_sent", "msgs_delivered", "msgs_dropped_loss"];
    if let WorldConfig::Power(p) = &s.world
        && !p.ev.stations.is_empty()
    {
        v.extend(["ev_waiting", "charging_fairness_jain"]);
    }
    v
}

/// Which of the power overlays are on.
#[derive(Resource, Debug, Clone)]
pub struct PowerOverlays {
    /// Buses shaded by island.
    pub islands: bool,
    /// Arrows the way power flows.
    pub arrows: bool,
    /// Households as dots.
    pub households: bool,
    /// The frequency readout over the view.
    pub readout: bool,
}

impl Default for PowerOverlays {
    fn default() -> Self {
        PowerOverlays { islands: true, arrows: true, households: true, readout: true }
    }
}

#[derive(Resource)]
struct PowerDrawing {
    islands: GlyphBuffers,
    islands_mesh: Handle<Mesh>,
    lines: GlyphBuffers,
    lines_mesh: Handle<Mesh>,
    buses: GlyphBuffers,
    buses_mesh: Handle<Mesh>,
    homes: GlyphBuffers,
    homes_mesh: Handle<Mesh>,
    glyphs: GlyphBuffers,
    glyphs_mesh: Handle<Mesh>,
    /// The model the bounds were set for.
    framed: usize,
}

fn plugin(app: &mut App) {
    app.init_resource::<PowerOverlays>().add_systems(Startup, setup).add_systems(
        Update,
        (
            frame.before(DrawSet::Index),
            click_line.before(DrawSet::Index),
            (draw_network, draw_glyphs).chain().in_set(DrawSet::World),
        )
            .run_if(resource_exists::<PowerState>.and_then(resource_exists::<PowerDrawing>)),
    );
    app.add_systems(EguiPrimaryContextPass, readout.run_if(resource_exists::<PowerState>));
}

fn setup(mut commands: Commands, mut meshes: ResMut<Assets<Mesh>>, mut materials: ResMut<Assets<ColorMaterial>>) {
    let (_, islands_mesh) = spawn_batch(&mut commands, &mut meshes, &mut materials, 0.1);
    let (_, lines_mesh) = spawn_batch(&mut commands, &mut meshes, &mut materials, 0.5);
    let (_, homes_mesh) = spawn_batch(&mut commands, &mut meshes, &mut materials, 0.8);
    let (_, buses_mesh) = spawn_batch(&mut commands, &mut meshes, &mut materials, 1.0);
    let (_, glyphs_mesh) = spawn_batch(&mut commands, &mut meshes, &mut materials, 3.0);
    commands.insert_resource(PowerDrawing {
        islands: GlyphBuffers::default(),
        islands_mesh,
        lines: GlyphBuffers::default(),
        lines_mesh,
        buses: GlyphBuffers::default(),
        buses_mesh,
        homes: GlyphBuffers::default(),
        homes_mesh,
        glyphs: GlyphBuffers::default(),
        glyphs_mesh,
        framed: 0,
    });
}

fn bus_pos(s: &PowerState, b: usize) -> Vec2 {
    let p = s.model.xy.get(b).copied().unwrap_or([0.0, 0.0]);
    Vec2::new(p[0] as f32, p[1] as f32)
}

/// Frames the network when the model changes (start, reset, another file).
fn frame(
    state: Res<PowerState>,
    agents: Query<&Pose, With<Agent>>,
    mut drawing: ResMut<PowerDrawing>,
    mut bounds: ResMut<WorldBounds>,
    mut fit: ResMut<FitRequest>,
) {
    let id = std::sync::Arc::as_ptr(&state.model) as usize;
    if drawing.framed == id {
        return;
    }
    drawing.framed = id;
    let mut min = Vec2::splat(f32::INFINITY);
    let mut max = Vec2::splat(f32::NEG_INFINITY);
    for b in 0..state.buses.len() {
        let p = bus_pos(&state, b);
        min = min.min(p);
        max = max.max(p);
    }
    for p in &agents {
        min = min.min(Vec2::new(p.x, p.y));
        max = max.max(Vec2::new(p.x, p.y));
    }
    if !min.is_finite() {
        return;
    }
    let margin = ((max - min).max_element() * 0.05).max(200.0);
    *bounds = WorldBounds { min: min - margin, max: max + margin };
    fit.0 = true;
}

/// Colour of a line by its loading: green, yellow at 70 %, orange at 90 %, red at and above 100 %.
pub fn loading_color(loading: f64) -> LinearRgba {
    let l = loading as f32;
    let c = if l < 0.7 {
        Color::srgb(0.2, 0.8, 0.35).mix(&Color::srgb(0.95, 0.85, 0.15), l / 0.7)
    } else if l < 1.0 {
        Color::srgb(0.95, 0.85, 0.15).mix(&Color::srgb(1.0, 0.45, 0.1), (l - 0.7) / 0.3)
    } else {
        Color::srgb(1.0, 0.1, 0.1)
    };
    c.to_linear()
}

/// A straight band from `a` to `b`, `w` wide.
fn band(buf: &mut GlyphBuffers, a: Vec2, b: Vec2, w: f32, color: LinearRgba) {
    let dir = (b - a).try_normalize().unwrap_or(Vec2::X);
    let n = Vec2::new(-dir.y, dir.x) * w * 0.5;
    buf.push_quad([a - n, b - n, b + n, a + n], color);
}

/// A dashed band from `a` to `b`.
fn dashed(buf: &mut GlyphBuffers, a: Vec2, b: Vec2, w: f32, dash: f32, color: LinearRgba) {
    let len = a.distance(b);
    if len <= 0.0 {
        return;
    }
    let dir = (b - a) / len;
    let mut t = 0.0;
    while t < len {
        let e = (t + dash).min(len);
        band(buf, a + dir * t, a + dir * e, w, color);
        t += 2.0 * dash;
    }
}

/// A cross of two bands at `c`.
fn cross(buf: &mut GlyphBuffers, c: Vec2, size: f32, w: f32, color: LinearRgba) {
    let d = Vec2::splat(size);
    let e = Vec2::new(size, -size);
    band(buf, c - d, c + d, w, color);
    band(buf, c - e, c + e, w, color);
}

/// An island's shade (dark islands grey).
fn island_color(k: usize, live: bool) -> LinearRgba {
    if live {
        Color::hsla((k as f32 * 137.5 + 200.0) % 360.0, 0.7, 0.55, 0.16).to_linear()
    } else {
        LinearRgba::new(0.02, 0.02, 0.02, 0.55)
    }
}

fn draw_network(
    state: Res<PowerState>,
    overlays: Res<PowerOverlays>,
    camera: Single<&Projection, With<WorldCamera>>,
    mut drawing: ResMut<PowerDrawing>,
    mut meshes: ResMut<Assets<Mesh>>,
) {
    let s = &*state;
    let scale = camera_scale(&camera);
    let d = &mut *drawing;
    d.islands.clear();
    d.lines.clear();
    d.buses.clear();
    // Islands: a shade behind every bus of each.
    if overlays.islands {
        let r = (crate::worlds::power::layout::EDGE_M as f32 * 0.3).max(12.0 * scale);
        for (k, isl) in s.net.islands().iter().enumerate() {
            let live = s.islands.get(k).is_some_and(|i| i.live);
            let c = island_color(k, live);
            for &b in &isl.buses {
                d.islands.push_square(bus_pos(s, b), 2.0 * r, c);
            }
        }
    }
    // Lines: width by flow, colour by loading.
    let max_flow = s.lines.iter().map(|l| l.flow_mw.abs()).fold(1e-9, f64::max);
    let thin = 1.5 * scale;
    for l in &s.lines {
        let (a, b) = (bus_pos(s, l.from), bus_pos(s, l.to));
        match l.status {
            LineStatus::InService => {
                let reference = l.rating_mw.unwrap_or(max_flow).max(1e-9);
                let w = (1.5 + 7.0 * (l.flow_mw.abs() / reference).min(1.5) as f32) * scale;
                let color = if l.rating_mw.is_some() {
                    loading_color(l.loading)
                } else {
                    Color::srgb(0.55, 0.65, 0.8).to_linear()
                };
                let dead = !s.buses[l.from].energized;
                band(&mut d.lines, a, b, w, if dead { LinearRgba::new(0.3, 0.3, 0.3, 1.0) } else { color });
                if overlays.arrows && l.flow_mw.abs() > 1e-6 && a.distance(b) > 30.0 * scale {
                    let dir = ((b - a) * l.flow_mw.signum() as f32).normalize_or_zero();
                    let n = Vec2::new(-dir.y, dir.x);
                    let m = (a + b) * 0.5;
                    let s2 = (w * 0.9).max(5.0 * scale);
                    let tip = m + dir * s2;
                    let back = m - dir * s2;
                    d.lines.push_quad([back + n * s2, tip, tip, back - n * s2], LinearRgba::new(0.05, 0.05, 0.08, 0.9));
                }
            }
            LineStatus::Tripped => {
                let red = LinearRgba::new(1.0, 0.15, 0.15, 0.9);
                dashed(&mut d.lines, a, b, 2.0 * thin, 6.0 * scale, red);
                cross(&mut d.lines, (a + b) * 0.5, 6.0 * scale, 2.0 * thin, red);
            }
            LineStatus::SwitchedOut => {
                let grey = LinearRgba::new(0.7, 0.7, 0.7, 0.8);
                dashed(&mut d.lines, a, b, 2.0 * thin, 6.0 * scale, grey);
                cross(&mut d.lines, (a + b) * 0.5, 5.0 * scale, 1.5 * thin, grey);
            }
            LineStatus::OutOfService => {
                dashed(&mut d.lines, a, b, thin, 3.0 * scale, LinearRgba::new(0.4, 0.4, 0.4, 0.5))
            }
        }
    }
    // Buses: white, orange when its relays have shed load, dark red when dark.
    let size = (7.0 * scale).max(40.0);
    for (i, b) in s.buses.iter().enumerate() {
        let c = if !b.energized {
            LinearRgba::new(0.5, 0.05, 0.05, 1.0)
        } else if b.shed_share > 0.0 {
            Color::srgb(1.0, 0.6, 0.1).to_linear()
        } else {
            Color::srgb(0.92, 0.92, 0.95).to_linear()
        };
        d.buses.push_square(bus_pos(s, i), size, c);
    }
    for (buf, mesh) in [(&d.islands, &d.islands_mesh), (&d.lines, &d.lines_mesh), (&d.buses, &d.buses_mesh)] {
        if let Some(mut m) = meshes.get_mut(mesh) {
            buf.write_to(&mut m);
        }
    }
}

/// What the glyphs read of an agent.
type Glyph = (
    &'static Agent,
    &'static Pose,
    Has<Crashed>,
    Option<&'static GenAgent>,
    Option<&'static StorageAgent>,
    Option<&'static StationAgent>,
    Option<&'static Prosumer>,
);

#[allow(clippy::too_many_arguments)]
fn draw_glyphs(
    state: Res<PowerState>,
    overlays: Res<PowerOverlays>,
    agents: Query<Glyph>,
    camera: Single<&Projection, With<WorldCamera>>,
    mut drawing: ResMut<PowerDrawing>,
    mut meshes: ResMut<Assets<Mesh>>,
    mut index: ResMut<AgentIndex>,
) {
    let s = &*state;
    let scale = camera_scale(&camera);
    let d = &mut *drawing;
    d.glyphs.clear();
    d.homes.clear();
    let crashed_c = Color::srgb(0.55, 0.2, 0.75).to_linear();
    let g = (10.0 * scale).max(60.0);
    let dot = (2.5 * scale).max(6.0);
    for (agent, pose, crashed, unit, bat, station, home) in &agents {
        let p = Vec2::new(pose.x, pose.y);
        if let Some(h) = home {
            if !overlays.households {
                index.hide(agent.id);
                continue;
            }
            // Households: green while they export, orange while they draw.
            let c = if crashed {
                crashed_c
            } else if h.net_kw < 0.0 {
                Color::srgb(0.3, 0.9, 0.4).to_linear()
            } else {
                Color::srgb(1.0, 0.6, 0.2)
                    .mix(&Color::srgb(0.9, 0.2, 0.1), (h.net_kw / 5.0).clamp(0.0, 1.0))
                    .to_linear()
            };
            d.homes.push_square(p, dot, c);
            continue;
        }
        if let Some(gen_agent) = unit {
            let u = &s.units[gen_agent.unit];
            let frac = if u.pmax_mw > 0.0 { (u.pe_mw / u.pmax_mw).clamp(0.0, 1.0) as f32 } else { 0.0 };
            let body = Color::srgb(0.2, 0.35, 0.9).mix(&Color::srgb(1.0, 0.85, 0.2), frac).to_linear();
            let rim = if crashed {
                crashed_c
            } else if gen_agent.failsafe {
                Color::srgb(1.0, 0.3, 1.0).to_linear()
            } else {
                LinearRgba::new(0.05, 0.05, 0.05, 1.0)
            };
            d.glyphs.push_vehicle(p, std::f32::consts::FRAC_PI_4, g * 1.25, g * 1.25, rim);
            d.glyphs.push_vehicle(
                p,
                std::f32::consts::FRAC_PI_4,
                g,
                g,
                if u.online() { body } else { LinearRgba::new(0.25, 0.25, 0.25, 1.0) },
            );
            if !u.online() {
                cross(&mut d.glyphs, p, g * 0.6, g * 0.2, LinearRgba::new(1.0, 0.15, 0.15, 1.0));
            }
            continue;
        }
        if let Some(b) = bat {
            let st = &s.storage[b.index];
            let soc = st.soc() as f32;
            d.glyphs.push_square(p, g * 1.2, if crashed { crashed_c } else { LinearRgba::new(0.1, 0.1, 0.1, 1.0) });
            let h = g * soc.max(0.05);
            let base = p - Vec2::new(0.0, g * 0.5);
            let c = Color::srgb(0.9, 0.25, 0.2).mix(&Color::srgb(0.25, 0.9, 0.35), soc).to_linear();
            d.glyphs.push_quad(
                [
                    base + Vec2::new(-g * 0.4, 0.0),
                    base + Vec2::new(g * 0.4, 0.0),
                    base + Vec2::new(g * 0.4, h),
                    base + Vec2::new(-g * 0.4, h),
                ],
                c,
            );
            continue;
        }
        if let Some(st) = station {
            // The station, its ports (lit when in use) and its queue of waiting EVs.
            d.glyphs.push_square(
                p,
                g * 1.2,
                if crashed { crashed_c } else { Color::srgb(0.45, 0.35, 0.9).to_linear() },
            );
            let pw = g * 0.45;
            for k in 0..st.ports as usize {
                let c = if k < st.plugged.len() {
                    Color::srgb(0.3, 1.0, 0.5).to_linear()
                } else {
                    LinearRgba::new(0.15, 0.15, 0.2, 1.0)
                };
                d.glyphs.push_square(p + Vec2::new(g * 0.9 + k as f32 * pw * 1.2, g * 0.3), pw, c);
            }
            for k in 0..st.queue.len().min(40) {
                d.glyphs.push_square(
                    p + Vec2::new(g * 0.9 + k as f32 * pw * 1.2, -g * 0.3),
                    pw * 0.8,
                    Color::srgb(1.0, 0.75, 0.2).to_linear(),
                );
            }
            continue;
        }
        let controller = Color::srgb(0.3, 0.6, 1.0).to_linear();
        let c = if crashed { crashed_c } else { controller };
        if agent.kind == OPERATOR {
            d.glyphs.push_square(p, g * 1.8, LinearRgba::new(0.9, 0.9, 1.0, 1.0));
            d.glyphs.push_square(p, g * 1.4, c);
        } else if agent.kind == AREA_CONTROLLER {
            d.glyphs.push_vehicle(p, std::f32::consts::FRAC_PI_4, g * 1.1, g * 1.1, c);
        } else {
            d.glyphs.push_square(p, g, c);
        }
    }
    for (buf, mesh) in [(&d.glyphs, &d.glyphs_mesh), (&d.homes, &d.homes_mesh)] {
        if let Some(mut m) = meshes.get_mut(mesh) {
            buf.write_to(&mut m);
        }
    }
}

/// Distance from `p` to the segment `a`–`b`.
fn segment_distance(p: Vec2, a: Vec2, b: Vec2) -> f32 {
    let ab = b - a;
    let t = if ab.length_squared() > 0.0 { ((p - a).dot(ab) / ab.length_squared()).clamp(0.0, 1.0) } else { 0.0 };
    p.distance(a + ab * t)
}

/// The line nearest to `p` within `radius`, if any.
pub fn line_at(s: &PowerState, p: Vec2, radius: f32) -> Option<usize> {
    (0..s.lines.len())
        .map(|k| (k, segment_distance(p, bus_pos(s, s.lines[k].from), bus_pos(s, s.lines[k].to))))
        .filter(|(_, d)| *d <= radius)
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(k, _)| k)
}

/// The event a click on line `k` puts on the timeline at `now`: trip a closed line, close an
/// open one.
pub fn click_event(s: &PowerState, k: usize, now: u64) -> PowerEvent {
    let event = if s.lines[k].status == LineStatus::InService {
        PowerEventKind::LineTrip { line: k }
    } else {
        PowerEventKind::LineRestore { line: k }
    };
    PowerEvent { at: now, duration: None, event, ended_at: None }
}

/// A click (press and release without dragging) on a line, away from any agent, trips or
/// restores it through the world's timeline.
#[allow(clippy::too_many_arguments)]
fn click_line(
    buttons: Res<ButtonInput<MouseButton>>,
    wants: Res<EguiWantsInput>,
    free: Res<FreeViewport>,
    window: Single<&Window, With<PrimaryWindow>>,
    camera: Single<(&Transform, &Projection), With<WorldCamera>>,
    index: Res<AgentIndex>,
    state: Res<PowerState>,
    clock: Res<SimClock>,
    mut events: ResMut<PowerEvents>,
    mut ui: ResMut<crate::gui::ui::UiState>,
    mut press: Local<Option<Vec2>>,
) {
    let cursor = window.cursor_position();
    if buttons.just_pressed(MouseButton::Left) {
        let on_panel = wants.wants_any_pointer_input() || cursor.is_some_and(|c| !free.contains(c));
        *press = if on_panel { None } else { cursor };
    }
    if !buttons.just_released(MouseButton::Left) {
        return;
    }
    let (Some(start), Some(end)) = (press.take(), cursor) else { return };
    if start.distance(end) > 4.0 {
        return;
    }
    let (transform, projection) = *camera;
    let scale = camera_scale(projection);
    let at = cursor_to_world(end, window.size(), transform.translation.truncate(), scale);
    // An agent under the pointer is picked instead (the shared picking does that).
    let agent_radius = (12.0 * scale).max(3.0);
    if index.pos.iter().any(|p| p.is_finite() && p.distance_squared(at) <= agent_radius * agent_radius) {
        return;
    }
    let Some(k) = line_at(&state, at, (8.0 * scale).max(2.0)) else { return };
    let ev = click_event(&state, k, clock.tick);
    let what = if matches!(ev.event, PowerEventKind::LineTrip { .. }) { "trips" } else { "closes" };
    let (fb, tb) = state.model.line_buses(k);
    events.0.inject(ev);
    ui.message = Some((format!("line {k} (bus {fb} – bus {tb}) {what} at the next tick"), false));
}

/// The frequency readout over the world view.
fn readout(
    mut contexts: EguiContexts,
    state: Res<PowerState>,
    params: Res<PowerParams>,
    overlays: Res<PowerOverlays>,
    clock: Res<SimClock>,
    free: Res<FreeViewport>,
    live: Option<Res<LiveScenario>>,
) {
    if !overlays.readout {
        return;
    }
    let Ok(ctx) = contexts.ctx_mut() else { return };
    let s = &*state;
    let f0 = params.0.frequency.f0_hz;
    let low = s.lowest_island();
    let f = low.map_or(0.0, |i| i.freq_hz);
    let dev = f - f0;
    let color = if low.is_none() {
        egui::Color32::from_rgb(150, 150, 150)
    } else if dev.abs() < 0.05 * f0 / 60.0 {
        egui::Color32::from_rgb(120, 230, 140)
    } else if dev.abs() < 0.5 * f0 / 60.0 {
        egui::Color32::from_rgb(255, 210, 80)
    } else {
        egui::Color32::from_rgb(255, 100, 90)
    };
    let live_islands = s.islands.iter().filter(|i| i.live).count();
    let tripped = s.lines.iter().filter(|l| matches!(l.status, LineStatus::Tripped | LineStatus::SwitchedOut)).count();
    let hour = params.0.profile.hour(clock.tick as f64 * clock.dt);
    let coordination = live.map_or("?".to_string(), |l| format!("{:?}", l.current.coordination));
    egui::Area::new(egui::Id::new("power_readout")).fixed_pos(egui::pos2(free.min.x + 10.0, free.min.y + 10.0)).show(
        ctx,
        |ui| {
            egui::Frame::popup(ui.style()).show(ui, |ui| {
                ui.label(
                    egui::RichText::new(if low.is_some() { format!("{f:.3} Hz") } else { "no supply".into() })
                        .size(24.0)
                        .color(color)
                        .strong(),
                );
                ui.monospace(format!("RoCoF {:+.3} Hz/s   Δf {dev:+.3} Hz", low.map_or(0.0, |i| i.rocof)));
                let generation: f64 = s.islands.iter().filter(|i| i.live).map(|i| i.gen_mw).sum();
                ui.monospace(format!("generation {generation:.1} MW   shed {:.1} MW", s.shed_mw));
                ui.monospace(format!(
                    "islands {} ({live_islands} live)   lines out {tripped}   cascades {}",
                    s.islands.len(),
                    s.cascades.len()
                ));
                ui.monospace(format!(
                    "{:02}:{:02}   {coordination}   nadir {:.3} Hz",
                    hour.floor() as u32,
                    (hour.fract() * 60.0).floor() as u32,
                    s.nadir_hz
                ));
                ui.small("click a line to trip it; click an open line to close it");
            });
        },
    );
}
