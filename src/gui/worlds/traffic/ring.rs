//! The ring in the app: the road (rebuilt when the ring changes), its heat map by local
//! speed and density, and the selected vehicle's road ahead.

use std::f32::consts::TAU;

use bevy::prelude::*;

use super::{top_speed, vehicle_length};
use crate::gui::Overlays;
use crate::gui::Selection;
use crate::gui::agents::{AgentIndex, DrawSet};
use crate::gui::batch::{GlyphBuffers, empty_mesh, spawn_batch, speed_color};
use crate::gui::camera::{FitRequest, WorldBounds};
use crate::sim::SimClock;
use crate::worlds::traffic::{RingRoad, TrafficParams, Vehicle};

/// Width of the drawn road, metres.
const ROAD_WIDTH: f32 = 3.5;

/// The ring's road and heat map.
#[derive(Resource)]
struct RingDrawing {
    heat: GlyphBuffers,
    heat_mesh: Handle<Mesh>,
    heat_entity: Entity,
    road_entity: Option<Entity>,
    road_radius: f64,
}

/// Registers the ring's drawing.
pub(super) fn plugin(app: &mut App) {
    app.add_systems(Startup, setup).add_systems(
        Update,
        (sync_road.before(DrawSet::Index), (draw_heat_map, draw_ring_route).in_set(super::TrafficDraw::Map)),
    );
}

fn setup(mut commands: Commands, mut meshes: ResMut<Assets<Mesh>>, mut materials: ResMut<Assets<ColorMaterial>>) {
    let (heat_entity, heat_mesh) = spawn_batch(&mut commands, &mut meshes, &mut materials, 1.0);
    commands.insert_resource(RingDrawing {
        heat: GlyphBuffers::default(),
        heat_mesh,
        heat_entity,
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
    mut drawing: ResMut<RingDrawing>,
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
    // The driving direction (counter-clockwise): chevrons along the road every 30 m or so.
    let arrow = Color::srgba(0.82, 0.84, 0.88, 0.8).to_linear();
    let marks = ((ring.length / 30.0) as u32).clamp(8, 400);
    for k in 0..marks {
        let a = (k as f32 + 0.5) / marks as f32 * TAU;
        let at = Vec2::from_angle(a) * r;
        let dir = Vec2::new(-a.sin(), a.cos());
        let side = Vec2::from_angle(a) * half * 0.7;
        let (tip, back) = (at + dir * 1.2, at - dir * 1.2);
        for p in [back + side, back - side] {
            let n = (tip - p).perp().normalize_or_zero() * 0.12;
            road.push_quad([p - n, tip - n, tip + n, p + n], arrow);
        }
    }
    let mut mesh = empty_mesh();
    road.write_to(&mut mesh);
    let entity = commands
        .spawn((
            Mesh2d(meshes.add(mesh)),
            MeshMaterial2d(materials.add(crate::gui::batch::vertex_color_material())),
            Transform::from_xyz(0.0, 0.0, 0.0),
        ))
        .id();
    drawing.road_entity = Some(entity);
    // Controllers sit 8 m outside the road.
    let extent = r + 20.0;
    *bounds = WorldBounds { min: Vec2::splat(-extent), max: Vec2::splat(extent) };
    fit.0 = true;
}

/// Colours the road by local mean speed and density, in bins along the ring.
#[allow(clippy::too_many_arguments)]
fn draw_heat_map(
    overlays: Res<Overlays>,
    ring: Res<RingRoad>,
    params: Res<TrafficParams>,
    clock: Res<SimClock>,
    vehicles: Query<&Vehicle>,
    mut drawing: ResMut<RingDrawing>,
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
