//! Drawing of the traffic world: vehicles coloured by speed in one batched mesh, controllers,
//! message/range/fault overlays, picking and follow for every road; the ring road, its heat
//! map and a ring vehicle's route ahead. The city grid's roads, lights and highlights are in
//! [`super::city`].

use std::f32::consts::TAU;

use bevy::prelude::*;
use bevy::window::PrimaryWindow;
use bevy_egui::input::EguiWantsInput;

use super::batch::{GlyphBuffers, empty_mesh, speed_color};
use super::camera::{AutoFit, FitRequest, FreeViewport, WorldBounds, WorldCamera, centre_on, cursor_to_world};
use super::{FocusOnSelection, Overlays, Selection};
use crate::sim::channel::Outcome;
use crate::sim::{Agent, AgentId, AgentKind, Channel, Crashed, Decision, Phase, Pose, SimClock, SimTick};
use crate::worlds::traffic::city::{Car, CityMap};
use crate::worlds::traffic::ring::TrafficParams;
use crate::worlds::traffic::{CarFollowing, RingRoad, Vehicle};

/// Width of the drawn road, metres.
const ROAD_WIDTH: f32 = 3.5;
/// Message lines drawn at most per frame (the panel says when more exist).
pub const MAX_MESSAGE_LINES: usize = 4_000;
/// Radio range circles are drawn for every agent up to this many agents, else only for the selected one.
const MAX_RANGE_CIRCLES: usize = 300;

/// Positions and entities of agents by id, rebuilt every frame for overlays, picking and the inspector.
#[derive(Resource, Default, Debug)]
pub struct AgentIndex {
    /// Position of agent `i` (NaN when it does not exist).
    pub pos: Vec<Vec2>,
    /// Entity of agent `i`.
    pub entity: Vec<Option<Entity>>,
    /// Agents drawn this frame.
    pub count: usize,
}

impl AgentIndex {
    /// Position of an agent, if it exists.
    pub fn position(&self, id: AgentId) -> Option<Vec2> {
        self.pos.get(id.0 as usize).copied().filter(|p| p.is_finite())
    }

    /// Entity of an agent, if it exists.
    pub fn entity(&self, id: AgentId) -> Option<Entity> {
        self.entity.get(id.0 as usize).copied().flatten()
    }
}

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

#[derive(Resource)]
struct TrafficDrawing {
    vehicles: GlyphBuffers,
    vehicles_mesh: Handle<Mesh>,
    heat: GlyphBuffers,
    heat_mesh: Handle<Mesh>,
    heat_entity: Entity,
    regions: GlyphBuffers,
    regions_mesh: Handle<Mesh>,
    road_entity: Option<Entity>,
    road_radius: f64,
}

/// The system that fills [`AgentIndex`] and the vehicle batch; world drawing that needs the
/// index (routes, the selection) runs after it.
#[derive(SystemSet, Debug, Clone, PartialEq, Eq, Hash)]
pub struct DrawAgents;

/// Registers the traffic drawing systems (the ring's only where the world is a ring).
pub fn plugin(app: &mut App) {
    let ring = resource_exists::<RingRoad>;
    app.init_resource::<AgentIndex>()
        .init_resource::<MessageOverlayStats>()
        .add_systems(Startup, setup)
        .add_systems(SimTick, record_selected_decision.in_set(Phase::Measure))
        .add_systems(
            Update,
            (
                sync_road.run_if(ring),
                pick_agent,
                draw_agents.in_set(DrawAgents),
                (
                    draw_heat_map.run_if(ring),
                    draw_fault_regions,
                    draw_overlays,
                    draw_ring_route.run_if(ring),
                    follow_selected,
                ),
            )
                .chain()
                .after(super::camera::CameraInput),
        );
}

fn batch_entity(
    commands: &mut Commands,
    meshes: &mut Assets<Mesh>,
    materials: &mut Assets<ColorMaterial>,
    z: f32,
) -> (Entity, Handle<Mesh>) {
    super::batch::spawn_batch(commands, meshes, materials, z)
}

fn setup(mut commands: Commands, mut meshes: ResMut<Assets<Mesh>>, mut materials: ResMut<Assets<ColorMaterial>>) {
    let (heat_entity, heat_mesh) = batch_entity(&mut commands, &mut meshes, &mut materials, 1.0);
    let (_, regions_mesh) = batch_entity(&mut commands, &mut meshes, &mut materials, 2.0);
    let (_, vehicles_mesh) = batch_entity(&mut commands, &mut meshes, &mut materials, 3.0);
    commands.insert_resource(TrafficDrawing {
        vehicles: GlyphBuffers::default(),
        vehicles_mesh,
        heat: GlyphBuffers::default(),
        heat_mesh,
        heat_entity,
        regions: GlyphBuffers::default(),
        regions_mesh,
        road_entity: None,
        road_radius: -1.0,
    });
}

/// Segments used to draw a ring of circumference `length` (short chords so vehicles sit on the road).
fn ring_segments(length: f64) -> u32 {
    (length / 4.0).clamp(64.0, 250_000.0) as u32
}

/// Rebuilds the road when the ring changes (start, reset, another scenario) and refits the view.
fn sync_road(
    mut commands: Commands,
    ring: Res<RingRoad>,
    mut drawing: ResMut<TrafficDrawing>,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<ColorMaterial>>,
    mut bounds: ResMut<WorldBounds>,
    mut fit: ResMut<FitRequest>,
) {
    if ring.radius <= 0.0 || (ring.radius - drawing.road_radius).abs() < 1e-9 {
        return;
    }
    drawing.road_radius = ring.radius;
    if let Some(e) = drawing.road_entity.take() {
        commands.entity(e).despawn();
    }
    let r = ring.radius as f32;
    let half = ROAD_WIDTH * 0.5;
    let segments = ring_segments(ring.length);
    let mut road = GlyphBuffers::default();
    let asphalt = Color::srgb(0.28, 0.29, 0.31).to_linear();
    let edge = Color::srgb(0.75, 0.75, 0.72).to_linear();
    let edge_w = 0.15;
    for k in 0..segments {
        let a0 = k as f32 / segments as f32 * TAU;
        let a1 = (k + 1) as f32 / segments as f32 * TAU;
        let (d0, d1) = (Vec2::from_angle(a0), Vec2::from_angle(a1));
        let band = |inner: f32, outer: f32| [d0 * inner, d0 * outer, d1 * outer, d1 * inner];
        road.push_quad(band(r - half, r + half), asphalt);
        road.push_quad(band(r - half - edge_w, r - half), edge);
        road.push_quad(band(r + half, r + half + edge_w), edge);
    }
    let mut mesh = empty_mesh();
    road.write_to(&mut mesh);
    let entity = commands
        .spawn((
            Mesh2d(meshes.add(mesh)),
            MeshMaterial2d(materials.add(super::batch::vertex_color_material())),
            Transform::from_xyz(0.0, 0.0, 0.0),
        ))
        .id();
    drawing.road_entity = Some(entity);
    // Controllers sit 8 m outside the road.
    let extent = r + 20.0;
    *bounds = WorldBounds { min: Vec2::splat(-extent), max: Vec2::splat(extent) };
    fit.0 = true;
}

/// Top speed used for the colour scale, m/s.
pub(crate) fn top_speed(params: &TrafficParams, dt: f64) -> f32 {
    match &params.0.model {
        CarFollowing::Idm(p) => p.v0 as f32,
        CarFollowing::Nasch(p) => (f64::from(p.vmax) * p.cell_m / dt.max(1e-9)) as f32,
    }
}

/// Drawn vehicle length before the minimum glyph size, m.
pub(crate) fn vehicle_length(params: &TrafficParams) -> f32 {
    match &params.0.model {
        CarFollowing::Idm(p) => p.length as f32,
        CarFollowing::Nasch(p) => p.cell_m as f32 * 0.8,
    }
}

/// Metres per logical pixel of the world camera.
pub(crate) fn camera_scale(projection: &Projection) -> f32 {
    match projection {
        Projection::Orthographic(o) => o.scale,
        _ => 1.0,
    }
}

/// What drawing needs of an agent: identity, pose, crash state and (for vehicles) their own state.
type AgentGlyph = (Entity, &'static Agent, &'static Pose, Has<Crashed>, Option<&'static Vehicle>, Option<&'static Car>);

#[allow(clippy::too_many_arguments)]
fn draw_agents(
    agents: Query<AgentGlyph>,
    params: Res<TrafficParams>,
    clock: Res<SimClock>,
    camera: Single<&Projection, With<WorldCamera>>,
    city: Option<Res<CityMap>>,
    mut drawing: ResMut<TrafficDrawing>,
    mut meshes: ResMut<Assets<Mesh>>,
    mut index: ResMut<AgentIndex>,
) {
    let scale = camera_scale(&camera);
    // In a city the lights are drawn per approach by the city module.
    let city = city.is_some();
    // Keep glyphs at least a few pixels big so a 10^5-vehicle ring still shows every vehicle.
    let length = vehicle_length(&params).max(5.0 * scale);
    let width = 1.8f32.max(3.0 * scale);
    let ctl_size = 5.0f32.max(8.0 * scale);
    let vmax = top_speed(&params, clock.dt).max(0.1);
    let crashed_color = Color::srgb(0.55, 0.2, 0.75).to_linear();
    let controller_color = Color::srgb(0.25, 0.55, 1.0).to_linear();
    let light_color = Color::srgb(0.85, 0.85, 0.85).to_linear();
    let automated_rim = Color::srgb(0.95, 0.95, 1.0).to_linear();
    let drawing = &mut *drawing;
    drawing.vehicles.clear();
    index.pos.iter_mut().for_each(|p| *p = Vec2::NAN);
    index.entity.iter_mut().for_each(|e| *e = None);
    index.count = 0;
    for (entity, agent, pose, crashed, vehicle, car) in &agents {
        let p = Vec2::new(pose.x, pose.y);
        let i = agent.id.0 as usize;
        if index.pos.len() <= i {
            index.pos.resize(i + 1, Vec2::NAN);
            index.entity.resize(i + 1, None);
        }
        index.entity[i] = Some(entity);
        // A parked city car is off the map: inspectable, but neither drawn nor pickable.
        if car.is_some_and(|c| !c.driving()) {
            continue;
        }
        index.pos[i] = p;
        index.count += 1;
        match agent.kind {
            AgentKind::Vehicle => {
                let color = if crashed { crashed_color } else { speed_color(pose.speed / vmax) };
                if vehicle.is_some_and(|v| v.automated) {
                    // Automated vehicles get a light outline: a slightly larger quad underneath.
                    drawing.vehicles.push_vehicle(
                        p,
                        pose.heading,
                        length + 1.2 * scale.max(0.3),
                        width + 1.2 * scale.max(0.3),
                        automated_rim,
                    );
                }
                drawing.vehicles.push_vehicle(p, pose.heading, length, width, color);
            }
            AgentKind::Controller => {
                let color = if crashed { crashed_color } else { controller_color };
                drawing.vehicles.push_square(p, ctl_size, color);
            }
            AgentKind::TrafficLight if city => {}
            AgentKind::TrafficLight => {
                let color = if crashed { crashed_color } else { light_color };
                drawing.vehicles.push_square(p, ctl_size * 0.6, color);
            }
        }
    }
    if let Some(mut mesh) = meshes.get_mut(&drawing.vehicles_mesh) {
        drawing.vehicles.write_to(&mut mesh);
    }
}

/// Colours the road by local mean speed and density, in bins along the ring.
#[allow(clippy::too_many_arguments)]
fn draw_heat_map(
    overlays: Res<Overlays>,
    ring: Res<RingRoad>,
    params: Res<TrafficParams>,
    clock: Res<SimClock>,
    vehicles: Query<&Vehicle>,
    mut drawing: ResMut<TrafficDrawing>,
    mut meshes: ResMut<Assets<Mesh>>,
    mut visibility: Query<&mut Visibility>,
) {
    let drawing = &mut *drawing;
    if let Ok(mut v) = visibility.get_mut(drawing.heat_entity) {
        let want = if overlays.heat_map { Visibility::Inherited } else { Visibility::Hidden };
        if *v != want {
            *v = want;
        }
    }
    if !overlays.heat_map || ring.length <= 0.0 {
        return;
    }
    let bins = ((ring.length / 25.0) as usize).clamp(24, 4_000);
    let mut count = vec![0u32; bins];
    let mut speed = vec![0f64; bins];
    for v in &vehicles {
        let b = ((v.pos / ring.length * bins as f64) as usize).min(bins - 1);
        count[b] += 1;
        speed[b] += v.speed;
    }
    let vmax = f64::from(top_speed(&params, clock.dt).max(0.1));
    let bin_len = ring.length / bins as f64;
    let jam_density = 1.0 / f64::from(vehicle_length(&params) + 2.0); // vehicles per metre bumper to bumper
    let r = ring.radius as f32;
    let (inner, outer) = (r - ROAD_WIDTH * 3.0, r + ROAD_WIDTH * 3.0);
    drawing.heat.clear();
    for b in 0..bins {
        let a0 = b as f32 / bins as f32 * TAU;
        let a1 = (b + 1) as f32 / bins as f32 * TAU;
        let (d0, d1) = (Vec2::from_angle(a0), Vec2::from_angle(a1));
        let density = f64::from(count[b]) / bin_len / jam_density;
        let mut c =
            if count[b] == 0 { speed_color(1.0) } else { speed_color((speed[b] / f64::from(count[b]) / vmax) as f32) };
        // Translucent enough that the vehicles (coloured on the same scale) stay visible on it.
        c.alpha = (0.1 + 0.4 * density.min(1.0)) as f32;
        drawing.heat.push_quad([d0 * inner, d0 * outer, d1 * outer, d1 * inner], c);
    }
    if let Some(mut mesh) = meshes.get_mut(&drawing.heat_mesh) {
        drawing.heat.write_to(&mut mesh);
    }
}

/// Translucent fills for blacked-out regions and partition regions.
fn draw_fault_regions(
    overlays: Res<Overlays>,
    channel: Res<Channel>,
    mut drawing: ResMut<TrafficDrawing>,
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

/// Colour of a message kind in the overlay.
pub fn message_color(kind: &str) -> Color {
    match kind {
        "v2v_state" => Color::srgb(0.3, 0.85, 1.0),
        "report" => Color::srgb(1.0, 0.85, 0.3),
        "advice" => Color::srgb(0.4, 1.0, 0.5),
        "sector_summary" => Color::srgb(1.0, 0.6, 0.2),
        "target_speed" => Color::srgb(1.0, 0.4, 1.0),
        // City: V2I congestion warnings, light reports, plans from the controllers.
        "congestion" => Color::srgb(1.0, 0.45, 0.3),
        "queue_report" => Color::srgb(0.3, 0.85, 1.0),
        "light_report" => Color::srgb(1.0, 0.85, 0.3),
        "signal_plan" => Color::srgb(0.4, 1.0, 0.5),
        "district_summary" => Color::srgb(1.0, 0.6, 0.2),
        "city_plan" => Color::srgb(1.0, 0.4, 1.0),
        other => {
            let h = other.bytes().fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
            Color::hsl((h % 360) as f32, 0.8, 0.65)
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
                gizmos.line_2d(a, b, message_color(msg.kind).with_alpha(0.35));
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
                gizmos.line_2d(a, b, message_color(t.kind).with_alpha(0.35));
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

/// On the ring the route is the road ahead: the selected vehicle's next 30 s at its speed.
fn draw_ring_route(
    mut gizmos: Gizmos,
    overlays: Res<Overlays>,
    index: Res<AgentIndex>,
    selection: Res<Selection>,
    ring: Res<RingRoad>,
    vehicles: Query<&Vehicle>,
) {
    let Some(id) = selection.agent else {
        return;
    };
    if overlays.route
        && let Some(v) = index.entity(id).and_then(|e| vehicles.get(e).ok())
        && ring.length > 0.0
    {
        // On the ring the route is the road ahead; show the next 30 s at the current speed (at least 50 m).
        let ahead = (v.speed * 30.0).max(50.0).min(ring.length * 0.999);
        let steps = ((ahead / 2.0) as usize).clamp(8, 2_000);
        let points = (0..=steps).map(|k| {
            let (x, y, _) = ring.xy(v.pos + ahead * k as f64 / steps as f64);
            Vec2::new(x, y)
        });
        gizmos.linestrip_2d(points, Color::srgb(1.0, 1.0, 0.4));
    }
}

/// Click (press and release without dragging) on the world selects the nearest agent.
#[allow(clippy::too_many_arguments)]
fn pick_agent(
    buttons: Res<ButtonInput<MouseButton>>,
    wants: Res<EguiWantsInput>,
    free: Res<FreeViewport>,
    window: Single<&Window, With<PrimaryWindow>>,
    camera: Single<(&Transform, &Projection), With<WorldCamera>>,
    index: Res<AgentIndex>,
    mut selection: ResMut<Selection>,
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
    let (Some(start), Some(end)) = (press.take(), cursor) else {
        return;
    };
    if start.distance(end) > 4.0 {
        return; // a drag, which pans the camera
    }
    let (transform, projection) = *camera;
    let scale = camera_scale(projection);
    let world = cursor_to_world(end, window.size(), transform.translation.truncate(), scale);
    let radius = (12.0 * scale).max(3.0);
    let best = index
        .pos
        .iter()
        .enumerate()
        .filter(|(_, p)| p.is_finite())
        .map(|(i, p)| (i, p.distance_squared(world)))
        .filter(|(_, d)| *d <= radius * radius)
        .min_by(|a, b| a.1.total_cmp(&b.1));
    let picked = best.map(|(i, _)| AgentId(i as u32));
    if picked != selection.agent {
        selection.agent = picked;
        selection.history.clear();
    }
}

/// Keeps the followed agent in the middle of the free part of the window; a pending focus
/// request (from `--select`) first zooms in on it.
#[allow(clippy::too_many_arguments)]
fn follow_selected(
    selection: Res<Selection>,
    index: Res<AgentIndex>,
    free: Res<FreeViewport>,
    bounds: Res<WorldBounds>,
    window: Single<&Window, With<PrimaryWindow>>,
    mut focus: ResMut<FocusOnSelection>,
    mut auto: ResMut<AutoFit>,
    mut camera: Single<(&mut Transform, &mut Projection), With<WorldCamera>>,
) {
    let Some(p) = selection.agent.and_then(|id| index.position(id)) else {
        return;
    };
    let (transform, projection) = &mut *camera;
    let Projection::Orthographic(ortho) = projection.as_mut() else {
        return;
    };
    let settled = free.max.x - free.min.x > 10.0 && free.max.y - free.min.y > 10.0;
    if focus.0 && settled {
        focus.0 = false;
        auto.0 = false;
        // Show about 300 m around it; a smaller world fits whole wherever in it the agent is.
        let span = ((bounds.max - bounds.min).max_element() * 2.0).min(300.0);
        let free_px = (free.max - free.min).min_element().max(1.0);
        ortho.scale = span / free_px;
        let c = centre_on(p, *free, window.size(), ortho.scale);
        transform.translation.x = c.x;
        transform.translation.y = c.y;
    }
    if selection.follow {
        let c = centre_on(p, *free, window.size(), ortho.scale);
        transform.translation.x = c.x;
        transform.translation.y = c.y;
    }
}

/// Runs inside every tick (Measure phase): remembers the selected agent's decision when it changes,
/// so the inspector shows every decision even when many ticks run per frame.
fn record_selected_decision(
    mut selection: ResMut<Selection>,
    index: Res<AgentIndex>,
    agents: Query<(&Agent, &Decision)>,
) {
    let Some(id) = selection.agent else {
        return;
    };
    // The index is from the last frame; an agent spawned since is found on the next one.
    let Some((_, d)) = index.entity(id).and_then(|e| agents.get(e).ok()).filter(|(a, _)| a.id == id) else {
        return;
    };
    let changed = selection.history.back().is_none_or(|(_, a, r, _)| *a != d.action || *r != d.reason);
    if changed {
        selection.history.push_back((d.tick, d.action, d.reason, d.value));
        while selection.history.len() > 50 {
            selection.history.pop_front();
        }
    }
}
