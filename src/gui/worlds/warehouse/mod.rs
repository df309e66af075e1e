//! The warehouse in the app: the floor (shelves, aisles, pick and drop stations, chargers,
//! parking, blocked cells) rebuilt whenever it changes, the robots coloured by state with
//! their loads, the managers, the chargers' queues, the selected robot's planned path and
//! reservations, wait-for cycles highlighted, and a click (shift-click, or any click in
//! "block cells" mode) that blocks or unblocks a cell through the world's timeline, so an
//! exported session replays it. The controls are in `controls`, the inspector in
//! `inspector`.

mod controls;
mod inspector;

use bevy::prelude::*;
use bevy::window::PrimaryWindow;
use bevy_egui::input::EguiWantsInput;

use super::WorldGui;
use crate::gui::Overlays;
use crate::gui::Selection;
use crate::gui::agents::{AgentIndex, DrawSet, camera_scale};
use crate::gui::batch::{GlyphBuffers, spawn_batch};
use crate::gui::camera::{FitRequest, FreeViewport, WorldBounds, WorldCamera, cursor_to_world};
use crate::gui::legend::{LegendItem, srgb_bytes};
use crate::scenario::Scenario;
use crate::sim::{Agent, Crashed, Pose, SimClock};
use crate::worlds::warehouse::map::{Cell, CellKind};
use crate::worlds::warehouse::planning::NONE;
use crate::worlds::warehouse::{
    Chargers, Deadlocks, EventKind, FLEET_MANAGER, Floor, Link, ROBOT, Robot, RobotPhase, WarehouseEvent, WorldEvents,
    ZONE_MANAGER,
};

/// The warehouse's part of the app.
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

/// The legend: the floor's cell kinds, the robot states' colours, the managers, and the
/// marks (blocked cells, wait-for cycles, reservations).
fn legend(_world: &World) -> Vec<LegendItem> {
    let swatch = |c: LinearRgba, label: &str| {
        let [r, g, b] = srgb_bytes(c);
        LegendItem::Swatch { color: [r, g, b, 255], label: label.into() }
    };
    let mut v = vec![LegendItem::Heading("Floor".into())];
    for (k, label) in [
        (CellKind::Free, "free cell (aisle)"),
        (CellKind::Blocked, "shelf or wall"),
        (CellKind::Pick, "pick station"),
        (CellKind::Drop, "drop station"),
        (CellKind::Charger, "charger bay"),
        (CellKind::Parking, "parking"),
    ] {
        v.push(swatch(cell_color(k), label));
    }
    v.push(swatch(rgb(0.75, 0.12, 0.10), "blocked by a world event (crossed)"));
    v.push(LegendItem::Heading("Robots (notch at the front, brown load when carrying)".into()));
    for st in STATES {
        v.push(swatch(state_color(st), &st.replace('_', " ")));
    }
    v.push(swatch(rgb(0.2, 0.45, 1.0), "fleet manager (black frame)"));
    v.push(swatch(rgb(0.1, 0.7, 0.7), "zone manager"));
    v.push(LegendItem::Heading("Marks".into()));
    v.push(LegendItem::Line {
        color: srgb_bytes(rgb(1.0, 0.1, 0.1)),
        label: "deadlock: a confirmed wait-for cycle".into(),
    });
    v.push(LegendItem::Line {
        color: srgb_bytes(rgb(1.0, 0.6, 0.2)),
        label: "robots waiting in a ring (not yet confirmed)".into(),
    });
    v.push(LegendItem::Line { color: srgb_bytes(rgb(0.4, 1.0, 0.6)), label: "selected robot's reservations".into() });
    v
}

/// Message colours: reports yellow, assignments and reservations green, the auction and the
/// negotiation cyan and blue, the zones orange.
const MESSAGE_COLORS: [(&str, [u8; 3]); 12] = [
    ("status", [255, 217, 77]),
    ("assign", [102, 255, 128]),
    ("revoke", [255, 102, 102]),
    ("order", [200, 200, 255]),
    ("bid", [77, 217, 255]),
    ("claim", [0, 160, 255]),
    ("move", [140, 255, 170]),
    ("plan", [60, 200, 110]),
    ("intent", [170, 120, 255]),
    ("zone_order", [255, 153, 51]),
    ("zone_summary", [255, 190, 120]),
    ("handback", [255, 120, 40]),
];

/// Columns plotted when the app opens.
fn default_plots(_: &Scenario) -> Vec<&'static str> {
    vec![
        "tasks_completed",
        "throughput_per_h",
        "robots_idle",
        "robots_moving",
        "charger_queue",
        "deadlocks",
        "msgs_sent",
    ]
}

/// The warehouse's own overlay toggles.
#[derive(Resource, Debug, Clone)]
pub struct WarehouseOverlays {
    /// Wait-for cycles (robots waiting for one another in a ring).
    pub deadlocks: bool,
    /// Charger queues beside the chargers.
    pub queues: bool,
    /// Every robot's next cell (a short line).
    pub next_moves: bool,
    /// Any click in the world view blocks or unblocks a cell (else shift-click only).
    pub click_blocks: bool,
}

impl Default for WarehouseOverlays {
    fn default() -> Self {
        WarehouseOverlays { deadlocks: true, queues: true, next_moves: false, click_blocks: false }
    }
}

/// The batches.
#[derive(Resource)]
struct Drawing {
    floor: GlyphBuffers,
    floor_mesh: Handle<Mesh>,
    floor_version: Option<(u64, usize, u32, u32)>,
    robots: GlyphBuffers,
    robots_mesh: Handle<Mesh>,
    marks: GlyphBuffers,
    marks_mesh: Handle<Mesh>,
}

fn plugin(app: &mut App) {
    app.init_resource::<WarehouseOverlays>().add_systems(Startup, setup).add_systems(
        Update,
        (click_cell.before(DrawSet::Index), (draw_floor, draw_robots, draw_marks).chain().in_set(DrawSet::World)),
    );
}

fn setup(mut commands: Commands, mut meshes: ResMut<Assets<Mesh>>, mut materials: ResMut<Assets<ColorMaterial>>) {
    let (_, floor_mesh) = spawn_batch(&mut commands, &mut meshes, &mut materials, 0.0);
    let (_, marks_mesh) = spawn_batch(&mut commands, &mut meshes, &mut materials, 1.0);
    let (_, robots_mesh) = spawn_batch(&mut commands, &mut meshes, &mut materials, 2.0);
    commands.insert_resource(Drawing {
        floor: GlyphBuffers::default(),
        floor_mesh,
        floor_version: None,
        robots: GlyphBuffers::default(),
        robots_mesh,
        marks: GlyphBuffers::default(),
        marks_mesh,
    });
}

fn rgb(r: f32, g: f32, b: f32) -> LinearRgba {
    Color::srgb(r, g, b).to_linear()
}

/// Colour of a cell kind on the floor.
pub fn cell_color(k: CellKind) -> LinearRgba {
    match k {
        CellKind::Free => rgb(0.20, 0.21, 0.23),
        CellKind::Blocked => rgb(0.45, 0.33, 0.20),
        CellKind::Pick => rgb(0.16, 0.36, 0.24),
        CellKind::Drop => rgb(0.16, 0.28, 0.50),
        CellKind::Charger => rgb(0.62, 0.55, 0.10),
        CellKind::Parking => rgb(0.30, 0.27, 0.38),
    }
}

/// Colour of a robot in a state (agents.csv's names).
pub fn state_color(state: &str) -> LinearRgba {
    match state {
        "idle" => rgb(0.72, 0.72, 0.75),
        "to_pick" => rgb(0.25, 0.70, 1.0),
        "carrying" => rgb(1.0, 0.55, 0.15),
        "to_charger" => rgb(0.95, 0.85, 0.2),
        "charging" => rgb(0.25, 0.90, 0.35),
        "waiting" => rgb(0.95, 0.35, 0.85),
        "broken" => rgb(0.90, 0.15, 0.12),
        "stranded" => rgb(0.50, 0.06, 0.06),
        _ => rgb(0.55, 0.2, 0.75),
    }
}

/// The robot states with their colours, for the legend.
pub const STATES: [&str; 9] =
    ["idle", "to_pick", "carrying", "to_charger", "charging", "waiting", "broken", "stranded", "crashed"];

fn cell_centre(floor: &Floor, c: Cell) -> Vec2 {
    let (x, y) = floor.xy(c);
    Vec2::new(x, y)
}

/// Rebuilds the floor when it changes: the aisles as one quad, then every other cell.
fn draw_floor(
    floor: Res<Floor>,
    events: Res<WorldEvents>,
    mut drawing: ResMut<Drawing>,
    mut meshes: ResMut<Assets<Mesh>>,
    mut bounds: ResMut<WorldBounds>,
    mut fit: ResMut<FitRequest>,
) {
    let pending = events.pending_cells().count();
    let key = (floor.version, pending, floor.rows(), floor.cols());
    let drawing = &mut *drawing;
    if drawing.floor_version == Some(key) {
        return;
    }
    let first = drawing.floor_version.is_none_or(|k| (k.2, k.3) != (key.2, key.3));
    drawing.floor_version = Some(key);
    let b = &mut drawing.floor;
    b.clear();
    let (w, h) = ((floor.cols() as f64 * floor.cell_m) as f32, (floor.rows() as f64 * floor.cell_m) as f32);
    b.push_quad([Vec2::ZERO, Vec2::new(w, 0.0), Vec2::new(w, h), Vec2::new(0.0, h)], cell_color(CellKind::Free));
    let s = floor.cell_m as f32;
    for (i, &k) in floor.base.cells().iter().enumerate() {
        let c = i as Cell;
        let blocked = floor.blocked.contains(&c);
        if k == CellKind::Free && !blocked {
            continue;
        }
        let p = cell_centre(&floor, c);
        let (size, color) = match k {
            CellKind::Blocked => (s, cell_color(k)),
            _ => (s * 0.9, cell_color(k)),
        };
        b.push_square(p, size, color);
        if blocked {
            // A blocked cell: a red square with a dark cross.
            b.push_square(p, s * 0.9, rgb(0.75, 0.12, 0.10));
            b.push_vehicle(p, std::f32::consts::FRAC_PI_4, s * 1.1, s * 0.18, rgb(0.2, 0.02, 0.02));
            b.push_vehicle(p, -std::f32::consts::FRAC_PI_4, s * 1.1, s * 0.18, rgb(0.2, 0.02, 0.02));
        }
    }
    for c in events.pending_cells() {
        // A block waiting for its robot to leave: an outline.
        let p = cell_centre(&floor, c);
        for k in 0..4 {
            let a = k as f32 * std::f32::consts::FRAC_PI_2;
            let d = Vec2::from_angle(a) * s * 0.45;
            b.push_vehicle(p + d, a + std::f32::consts::FRAC_PI_2, s * 0.95, s * 0.1, rgb(0.9, 0.2, 0.15));
        }
    }
    if let Some(mut mesh) = meshes.get_mut(&drawing.floor_mesh) {
        b.write_to(&mut mesh);
    }
    if first {
        *bounds = WorldBounds { min: Vec2::new(-s, -s), max: Vec2::new(w + s, h + s) };
        fit.0 = true;
    }
}

type RobotGlyph = (&'static Agent, &'static Pose, Has<Crashed>, Option<&'static Robot>);

/// The robots (coloured by state, a brown load when carrying, a notch at the front), the
/// fleet manager and the zone managers.
fn draw_robots(
    floor: Res<Floor>,
    agents: Query<RobotGlyph>,
    camera: Single<&Projection, With<WorldCamera>>,
    mut drawing: ResMut<Drawing>,
    mut meshes: ResMut<Assets<Mesh>>,
) {
    let scale = camera_scale(&camera);
    let s = floor.cell_m as f32;
    let size = (s * 0.8).max(3.0 * scale);
    let drawing = &mut *drawing;
    let b = &mut drawing.robots;
    b.clear();
    for (agent, pose, crashed, robot) in &agents {
        let p = Vec2::new(pose.x, pose.y);
        match agent.kind {
            k if k == ROBOT => {
                let Some(r) = robot else { continue };
                let state = if crashed { "crashed" } else { r.state_name() };
                b.push_vehicle(p, r.heading, size, size, state_color(state));
                if r.phase == RobotPhase::Carrying {
                    b.push_square(p, size * 0.45, rgb(0.45, 0.28, 0.10));
                }
            }
            k if k == FLEET_MANAGER => {
                let c = if crashed { rgb(0.55, 0.2, 0.75) } else { rgb(0.2, 0.45, 1.0) };
                b.push_square(p, (s * 2.0).max(8.0 * scale), rgb(0.0, 0.0, 0.0));
                b.push_square(p, (s * 1.7).max(6.5 * scale), c);
            }
            k if k == ZONE_MANAGER => {
                let c = if crashed { rgb(0.55, 0.2, 0.75) } else { rgb(0.1, 0.7, 0.7) };
                b.push_square(p, (s * 1.2).max(5.0 * scale), c);
            }
            _ => {}
        }
    }
    if let Some(mut mesh) = meshes.get_mut(&drawing.robots_mesh) {
        b.write_to(&mut mesh);
    }
}

/// Marks under the robots: the selected robot's goal, planned path and reservations, every
/// robot's next cell, wait-for cycles, charger queues.
#[allow(clippy::too_many_arguments)]
fn draw_marks(
    floor: Res<Floor>,
    clock: Res<SimClock>,
    chargers: Res<Chargers>,
    overlays: Res<Overlays>,
    wo: Res<WarehouseOverlays>,
    selection: Res<Selection>,
    index: Res<AgentIndex>,
    robots: Query<(&Agent, &Robot, Option<&Link>)>,
    deadlocks: Res<Deadlocks>,
    camera: Single<&Projection, With<WorldCamera>>,
    mut drawing: ResMut<Drawing>,
    mut meshes: ResMut<Assets<Mesh>>,
) {
    let scale = camera_scale(&camera);
    let s = floor.cell_m as f32;
    let drawing = &mut *drawing;
    let b = &mut drawing.marks;
    b.clear();
    let line = |b: &mut GlyphBuffers, a: Vec2, c: Vec2, w: f32, color: LinearRgba| {
        let d = c - a;
        if d.length() > 1e-4 {
            b.push_vehicle((a + c) * 0.5, d.y.atan2(d.x), d.length(), w, color);
        }
    };
    if wo.next_moves {
        for (_, r, _) in &robots {
            if r.next != r.cell && r.next != NONE {
                line(
                    b,
                    cell_centre(&floor, r.cell),
                    cell_centre(&floor, r.next),
                    (s * 0.12).max(scale),
                    rgb(0.9, 0.9, 0.9),
                );
            }
        }
    }
    if overlays.route
        && let Some(id) = selection.agent
        && let Some(e) = index.entity(id)
        && let Ok((_, r, link)) = robots.get(e)
    {
        if r.goal != NONE {
            let g = cell_centre(&floor, r.goal);
            b.push_square(g, s * 1.3, rgb(1.0, 1.0, 1.0));
            b.push_square(g, s * 1.0, cell_color(floor.base.kind(r.goal).unwrap_or(CellKind::Free)));
        }
        if let Some(link) = link {
            // Reservations: the windowed plan from now on, fading with time, and a one-tick
            // reservation, bright.
            let now = clock.tick;
            let cells = link.plan_cells();
            if cells.len() > 1 && now + 1 < link.plan_start + cells.len() as u64 {
                let from = now.saturating_sub(link.plan_start) as usize;
                let n = cells.len() - from;
                for (k, w) in cells[from..].windows(2).enumerate() {
                    let alpha = 0.9 - 0.6 * k as f32 / n.max(1) as f32;
                    let c = rgb(0.3, 1.0, 0.5).with_alpha(alpha);
                    b.push_square(cell_centre(&floor, w[1]), s * 0.55, c);
                    line(b, cell_centre(&floor, w[0]), cell_centre(&floor, w[1]), (s * 0.15).max(scale), c);
                }
            }
            for m in link.moves.iter().flatten() {
                if m.tick >= now && m.to != NONE {
                    let c = rgb(0.4, 1.0, 0.6);
                    b.push_square(cell_centre(&floor, m.to), s * 0.7, c.with_alpha(0.8));
                }
            }
        }
        if r.next != r.cell {
            line(
                b,
                cell_centre(&floor, r.cell),
                cell_centre(&floor, r.next),
                (s * 0.25).max(1.5 * scale),
                rgb(1.0, 1.0, 1.0),
            );
        }
    }
    if wo.deadlocks {
        for (cycle, confirmed) in &deadlocks.current {
            let pts: Vec<Vec2> = cycle.iter().filter_map(|id| index.position(crate::sim::AgentId(*id))).collect();
            let color = if *confirmed { rgb(1.0, 0.1, 0.1) } else { rgb(1.0, 0.6, 0.2) };
            for (k, &p) in pts.iter().enumerate() {
                b.push_square(p, s * 1.25, color.with_alpha(0.85));
                let q = pts[(k + 1) % pts.len()];
                line(b, p, q, (s * 0.2).max(1.5 * scale), color);
            }
        }
    }
    if wo.queues {
        for c in &chargers.list {
            let Some(&bay) = c.bays.first() else { continue };
            let base = cell_centre(&floor, bay) + Vec2::new(0.0, s * 0.9);
            let color = if c.online { rgb(0.95, 0.85, 0.2) } else { rgb(0.6, 0.1, 0.1) };
            for k in 0..c.queue.len().min(12) {
                b.push_square(base + Vec2::new(k as f32 * s * 0.45, 0.0), s * 0.35, color);
            }
            if !c.online {
                for &bay in &c.bays {
                    let p = cell_centre(&floor, bay);
                    b.push_vehicle(p, std::f32::consts::FRAC_PI_4, s * 1.1, s * 0.15, rgb(0.8, 0.1, 0.1));
                    b.push_vehicle(p, -std::f32::consts::FRAC_PI_4, s * 1.1, s * 0.15, rgb(0.8, 0.1, 0.1));
                }
            }
        }
    }
    if let Some(mut mesh) = meshes.get_mut(&drawing.marks_mesh) {
        b.write_to(&mut mesh);
    }
}

/// A click on the world view with shift held (or any click in "block cells" mode) blocks the
/// cell under the cursor, or unblocks it: a world event injected on the timeline.
#[allow(clippy::too_many_arguments)]
fn click_cell(
    buttons: Res<ButtonInput<MouseButton>>,
    keys: Res<ButtonInput<KeyCode>>,
    wants: Res<EguiWantsInput>,
    free: Res<FreeViewport>,
    wo: Res<WarehouseOverlays>,
    window: Single<&Window, With<PrimaryWindow>>,
    camera: Single<(&Transform, &Projection), With<WorldCamera>>,
    floor: Res<Floor>,
    clock: Res<SimClock>,
    mut events: ResMut<WorldEvents>,
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
    let shift = keys.pressed(KeyCode::ShiftLeft) || keys.pressed(KeyCode::ShiftRight);
    if start.distance(end) > 4.0 || !(shift || wo.click_blocks) {
        return;
    }
    let (transform, projection) = *camera;
    let p = cursor_to_world(end, window.size(), transform.translation.truncate(), camera_scale(projection));
    if let Some(cell) = floor.base.cell_at_m(f64::from(p.x), f64::from(p.y), floor.cell_m) {
        toggle_block(&mut events, &floor, cell, clock.tick);
    }
}

/// Blocks `cell` from the next tick, or ends the event that blocks it.
pub fn toggle_block(events: &mut WorldEvents, floor: &Floor, cell: Cell, tick: u64) -> bool {
    if !floor.base.is_passable(cell) {
        return false;
    }
    match events.blocking(cell) {
        Some(id) => events.timeline.end(id),
        None => {
            let (row, col) = floor.base.row_col(cell).unwrap_or((0, 0));
            events.inject(WarehouseEvent {
                at: tick,
                duration: None,
                event: EventKind::BlockCell { row, col },
                ended_at: None,
            });
        }
    }
    true
}
