//! Drawing of the city world (grid and custom networks): roads, lanes and intersection boxes,
//! traffic lights in their phase colours, contended and gridlocked intersections, the
//! congestion heat map per link and the selected car's route.
//!
//! Everything is batched like the ring's vehicles (see [`super::batch`]): the roads are one
//! mesh rebuilt only when the map or the zoom level changes, the lights, box highlights and
//! heat map one mesh each rewritten in place every frame. Vehicles are drawn by the traffic
//! world's vehicle batch ([`super`]).

use bevy::prelude::*;

use super::top_speed;
use crate::gui::agents::{AgentIndex, camera_scale};
use crate::gui::batch::{GlyphBuffers, spawn_batch, speed_color};
use crate::gui::camera::{FitRequest, WorldBounds, WorldCamera};
use crate::gui::{Overlays, Selection};
use crate::sim::SimClock;
use crate::worlds::traffic::TrafficParams;
use crate::worlds::traffic::city::{Car, CityMap, CityState, Hold, MovLight, NONE};
use crate::worlds::traffic::network::{LANE_W, LaneKind, Network, Turn};

/// Road surface, the same grey as the ring road.
const ASPHALT: Color = Color::srgb(0.28, 0.29, 0.31);
/// Intersection boxes, a little lighter than the roads.
const BOX: Color = Color::srgb(0.36, 0.37, 0.39);
/// Signal housing drawn behind the lights.
const HOUSING: Color = Color::srgb(0.05, 0.05, 0.06);
/// Below this zoom (metres per pixel) lane markings and the connectors through the boxes are drawn.
const DETAIL_SCALE: f32 = 0.5;

/// Colour of a movement's signal as drawn (flashing alternates two ambers).
pub fn light_color(light: MovLight, blink_on: bool) -> LinearRgba {
    match light {
        MovLight::Green => Color::srgb(0.15, 0.9, 0.3),
        MovLight::Yellow => Color::srgb(1.0, 0.85, 0.1),
        MovLight::Red => Color::srgb(0.95, 0.12, 0.1),
        MovLight::Flash if blink_on => Color::srgb(1.0, 0.6, 0.05),
        MovLight::Flash => Color::srgb(0.35, 0.22, 0.05),
    }
    .to_linear()
}

/// What one approach shows when zoomed out: flashing if its light is down, else green if any
/// of its movements may go, yellow if any is clearing, else red.
pub fn approach_light(lights: impl IntoIterator<Item = MovLight>) -> MovLight {
    let mut out = MovLight::Red;
    for l in lights {
        out = match (out, l) {
            (MovLight::Flash, _) | (_, MovLight::Flash) => MovLight::Flash,
            (MovLight::Green, _) | (_, MovLight::Green) => MovLight::Green,
            (MovLight::Yellow, _) | (_, MovLight::Yellow) => MovLight::Yellow,
            _ => MovLight::Red,
        };
    }
    out
}

/// Half the side of a node's box, m (room for the widest road that meets there; the same
/// rule the network builder uses to start the lanes).
pub fn box_half(net: &Network, node: u32) -> f32 {
    let n = &net.nodes[node as usize];
    if n.terminal {
        return 0.0;
    }
    let w = n.ins.iter().chain(&n.outs).map(|&l| net.links[l as usize].lanes).max().unwrap_or(1);
    (f64::from(w) * LANE_W + 1.0) as f32
}

/// A link's geometry for drawing: start and end of its lane band's centre, unit direction,
/// unit right-hand normal and the band's width.
struct LinkBand {
    p0: Vec2,
    p1: Vec2,
    dir: Vec2,
    right: Vec2,
    width: f32,
}

fn link_band(net: &Network, link: u32) -> LinkBand {
    let l = &net.links[link as usize];
    let a = &net.lanes[l.first_lane as usize];
    let b = &net.lanes[(l.first_lane + l.lanes - 1) as usize];
    let mid = |p: (f64, f64), q: (f64, f64)| Vec2::new(((p.0 + q.0) * 0.5) as f32, ((p.1 + q.1) * 0.5) as f32);
    let p0 = mid(a.p0, b.p0);
    let p1 = mid(a.p1, b.p1);
    let dir = (p1 - p0).try_normalize().unwrap_or(Vec2::X);
    LinkBand { p0, p1, dir, right: Vec2::new(dir.y, -dir.x), width: l.lanes as f32 * LANE_W as f32 }
}

/// A straight band from `a` to `b`, `width` wide.
fn band(buf: &mut GlyphBuffers, a: Vec2, b: Vec2, width: f32, color: LinearRgba) {
    let dir = (b - a).try_normalize().unwrap_or(Vec2::X);
    let n = Vec2::new(-dir.y, dir.x) * width * 0.5;
    buf.push_quad([a - n, b - n, b + n, a + n], color);
}

fn square(buf: &mut GlyphBuffers, centre: Vec2, half: f32, color: LinearRgba) {
    let h = Vec2::splat(half);
    let k = Vec2::new(half, -half);
    buf.push_quad([centre - h, centre + k, centre + h, centre - k], color);
}

/// A ">" pointing along `dir` with its tip at `tip`: two bands of `thick`.
fn chevron(buf: &mut GlyphBuffers, tip: Vec2, dir: Vec2, size: f32, thick: f32, color: LinearRgba) {
    let side = Vec2::new(-dir.y, dir.x) * size * 0.45;
    let back = tip - dir * size * 0.6;
    band(buf, back + side, tip, thick, color);
    band(buf, back - side, tip, thick, color);
}

/// The outline of a square: four bands of `thick` along its sides.
fn outline_square(buf: &mut GlyphBuffers, c: Vec2, half: f32, thick: f32, color: LinearRgba) {
    let (a, b, d, e) = (
        c + Vec2::new(-half, -half),
        c + Vec2::new(half, -half),
        c + Vec2::new(half, half),
        c + Vec2::new(-half, half),
    );
    for (p, q) in [(a, b), (b, d), (d, e), (e, a)] {
        band(buf, p, q, thick, color);
    }
}

fn node_pos(net: &Network, node: u32) -> Vec2 {
    let n = &net.nodes[node as usize];
    Vec2::new(n.x as f32, n.y as f32)
}

/// Fills `buf` with the static picture of the network at zoom `scale` (metres per pixel):
/// road lanes, boxes, terminals and, zoomed in, lane markings and the connectors.
pub fn build_roads(net: &Network, scale: f32, buf: &mut GlyphBuffers) {
    buf.clear();
    let asphalt = ASPHALT.to_linear();
    let box_color = BOX.to_linear();
    let detail = scale < DETAIL_SCALE;
    // Zoomed out a lane keeps at least 2 px so the grid stays visible.
    let lane_w = (LANE_W as f32).max(2.0 * scale);
    for lane in &net.lanes {
        if let LaneKind::Road { .. } = lane.kind {
            let a = Vec2::new(lane.p0.0 as f32, lane.p0.1 as f32);
            let b = Vec2::new(lane.p1.0 as f32, lane.p1.1 as f32);
            band(buf, a, b, lane_w, asphalt);
        }
    }
    // The driving direction: a chevron on every link, on its own side of the street.
    let arrow = Color::srgba(0.82, 0.84, 0.88, 0.85).to_linear();
    for i in 0..net.links.len() as u32 {
        let b = link_band(net, i);
        let size = (b.width * 0.7).max(4.0 * scale);
        chevron(buf, b.p0.lerp(b.p1, 0.55), b.dir, size, (0.25f32).max(0.9 * scale), arrow);
    }
    for k in 0..net.nodes.len() as u32 {
        let n = &net.nodes[k as usize];
        let p = node_pos(net, k);
        if n.terminal {
            // Where trips start and end: a small light marker.
            square(buf, p, (3.0f32).max(2.5 * scale), Color::srgb(0.5, 0.5, 0.55).to_linear());
        } else {
            square(buf, p, box_half(net, k).max(1.5 * scale), box_color);
        }
    }
    if !detail {
        return;
    }
    let edge = Color::srgb(0.78, 0.78, 0.74).to_linear();
    let centre = Color::srgb(0.85, 0.7, 0.2).to_linear();
    let line_w = 0.15f32.max(scale);
    for (i, _) in net.links.iter().enumerate() {
        let b = link_band(net, i as u32);
        // Lane 0 is the leftmost: its left edge is the centre line of a two-way street,
        // the outer edge of the last lane is the kerb; thin lines between lanes.
        let left = -b.right * b.width * 0.5;
        band(buf, b.p0 + left, b.p1 + left, line_w, centre);
        band(buf, b.p0 - left, b.p1 - left, line_w, edge);
        let lanes = net.links[i].lanes;
        for k in 1..lanes {
            let off = left + b.right * (k as f32 * LANE_W as f32);
            band(buf, b.p0 + off, b.p1 + off, line_w * 0.6, edge.with_alpha(0.6));
        }
    }
    let connector = Color::srgb(0.55, 0.56, 0.58).to_linear();
    for lane in &net.lanes {
        if let LaneKind::Connector { .. } = lane.kind {
            let a = Vec2::new(lane.p0.0 as f32, lane.p0.1 as f32);
            let b = Vec2::new(lane.p1.0 as f32, lane.p1.1 as f32);
            band(buf, a, b, 0.3f32.max(scale), connector);
        }
    }
}

/// Order of a movement across its approach, left to right (right-hand traffic).
fn turn_rank(t: Turn) -> u8 {
    match t {
        Turn::UTurn => 0,
        Turn::Left => 1,
        Turn::Straight => 2,
        Turn::Right => 3,
    }
}

/// Fills `buf` with every signalized approach's lights at zoom `scale`.
///
/// Zoomed in, the stop line of each approach is split into one bar per movement (U-turn and
/// left on the left, right on the right) in that movement's colour, and the connectors of
/// green movements are tinted green through the box. Zoomed out, where a lane is a pixel or
/// two, each approach is one square beside the box, in the colour of [`approach_light`].
pub fn build_lights(net: &Network, st: &CityState, scale: f32, blink_on: bool, buf: &mut GlyphBuffers) {
    buf.clear();
    if st.mov_light.len() != net.movements.len() {
        return; // not spawned yet
    }
    let mut movs: Vec<(u8, u32)> = Vec::new();
    for (k, n) in net.nodes.iter().enumerate() {
        if !n.signal {
            continue;
        }
        let half = box_half(net, k as u32);
        let centre = node_pos(net, k as u32);
        for &link in &n.ins {
            movs.clear();
            movs.extend(
                n.movements
                    .iter()
                    .filter(|&&m| net.movements[m as usize].from == link)
                    .map(|&m| (turn_rank(net.movements[m as usize].turn), m)),
            );
            if movs.is_empty() {
                continue;
            }
            movs.sort_unstable();
            let b = link_band(net, link);
            let per_movement_px = b.width / movs.len() as f32 / scale;
            // A dark housing behind the lights keeps a red light apart from the red (stopped) cars.
            let rim = 0.3f32.max(1.0 * scale);
            if per_movement_px >= 3.0 {
                let depth = 1.0f32.max(3.0 * scale);
                let seg = b.width / movs.len() as f32;
                let start = b.p1 - b.right * b.width * 0.5;
                let mid = b.p1 - b.dir * depth * 0.5;
                band(
                    buf,
                    mid - b.dir * (depth * 0.5 + rim),
                    mid + b.dir * (depth * 0.5 + rim),
                    b.width + 2.0 * rim,
                    HOUSING.to_linear(),
                );
                for (i, &(_, m)) in movs.iter().enumerate() {
                    let light = st.mov_light[m as usize];
                    let a = start + b.right * (seg * (i as f32 + 0.5));
                    let inset = seg * 0.08;
                    band(buf, a - b.dir * depth, a, seg - inset, light_color(light, blink_on));
                    if light == MovLight::Green && scale < DETAIL_SCALE {
                        let c = &net.lanes[net.movements[m as usize].lane as usize];
                        let (p, q) = (Vec2::new(c.p0.0 as f32, c.p0.1 as f32), Vec2::new(c.p1.0 as f32, c.p1.1 as f32));
                        band(buf, p, q, 0.6f32.max(1.5 * scale), light_color(light, blink_on).with_alpha(0.55));
                    }
                }
            } else {
                let g = 1.5f32.max(5.0 * scale);
                // Beside the kerb of the approach, like a signal head, so a queue never covers it.
                let along = (half + 0.5 * g).max(0.6 * g);
                let across = b.width + 0.5 * g + rim;
                let p = centre - b.dir * along + b.right * across;
                let light = approach_light(movs.iter().map(|&(_, m)| st.mov_light[m as usize]));
                square(buf, p, g * 0.5 + rim, HOUSING.to_linear());
                square(buf, p, g * 0.5, light_color(light, blink_on));
            }
        }
    }
}

/// How an intersection is doing, for the highlight.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum BoxState {
    /// Nothing to report.
    Clear,
    /// The box is full, or a queue head waits because the box or its exit is full.
    Contended,
    /// On a cycle of links that block each other (a gridlock).
    Gridlocked,
}

/// Each node's [`BoxState`], and the links that are part of a gridlock.
pub fn box_states(net: &Network, st: &CityState) -> (Vec<BoxState>, Vec<bool>) {
    let mut nodes = vec![BoxState::Clear; net.nodes.len()];
    let mut links = vec![false; net.links.len()];
    for (k, n) in net.nodes.iter().enumerate() {
        let full = st.box_count.get(k).is_some_and(|&c| c > 0 && c >= n.box_capacity);
        let held = n.ins.iter().any(|&l| {
            let lg = &net.links[l as usize];
            (lg.first_lane..lg.first_lane + lg.lanes)
                .any(|lane| matches!(st.hold.get(lane as usize), Some(Hold::BoxFull | Hold::ExitFull)))
        });
        if !n.terminal && (full || held) {
            nodes[k] = BoxState::Contended;
        }
    }
    for cycle in &st.gridlocks {
        for &l in cycle {
            if let Some(lg) = net.links.get(l as usize) {
                links[l as usize] = true;
                nodes[lg.to as usize] = BoxState::Gridlocked;
            }
        }
    }
    (nodes, links)
}

/// Gridlock's colour: magenta outlines, so red only ever means a red light or a stopped car.
pub const GRIDLOCK: [u8; 3] = [235, 60, 255];
/// A contended box's colour: an orange outline.
pub const CONTENDED: [u8; 3] = [255, 140, 25];

/// Fills `buf` with the highlights, all drawn as outlines so the lights and the cars under
/// them stay visible: contended intersections (orange), gridlocked ones (magenta, thicker)
/// and the links locked in a gridlock (magenta edges along both sides).
pub fn build_highlights(net: &Network, st: &CityState, scale: f32, buf: &mut GlyphBuffers) {
    buf.clear();
    let (nodes, links) = box_states(net, st);
    let rgb = |[r, g, b]: [u8; 3], a: f32| Color::srgba_u8(r, g, b, (a * 255.0) as u8).to_linear();
    let thick = (1.2f32).max(2.5 * scale);
    for (l, locked) in links.iter().enumerate() {
        if *locked {
            let b = link_band(net, l as u32);
            let w = b.width.max(4.0 * scale);
            let edge = b.right * (w * 0.5 + thick * 0.5);
            band(buf, b.p0 + edge, b.p1 + edge, thick, rgb(GRIDLOCK, 0.95));
            band(buf, b.p0 - edge, b.p1 - edge, thick, rgb(GRIDLOCK, 0.95));
        }
    }
    for (k, s) in nodes.iter().enumerate() {
        let half = box_half(net, k as u32);
        let p = node_pos(net, k as u32);
        match s {
            BoxState::Clear => {}
            BoxState::Contended => outline_square(buf, p, (half * 1.25).max(5.0 * scale), thick, rgb(CONTENDED, 0.95)),
            BoxState::Gridlocked => {
                outline_square(buf, p, (half * 1.55).max(8.0 * scale), thick * 1.8, rgb(GRIDLOCK, 1.0));
            }
        }
    }
}

/// Fills `buf` with the congestion heat map: every link a band coloured by the mean speed
/// of the cars on it (red stopped → green at the desired speed), opaque as it fills.
pub fn build_heat(net: &Network, st: &CityState, mean_speed: &[f32], vmax: f32, scale: f32, buf: &mut GlyphBuffers) {
    buf.clear();
    for (l, link) in net.links.iter().enumerate() {
        let count = st.link_count.get(l).copied().unwrap_or(0);
        let capacity: u32 =
            (link.first_lane..link.first_lane + link.lanes).map(|k| net.lanes[k as usize].capacity).sum();
        let density = count as f32 / capacity.max(1) as f32;
        let frac = if count == 0 { 1.0 } else { mean_speed.get(l).copied().unwrap_or(0.0) / vmax.max(0.1) };
        let mut c = speed_color(frac);
        c.alpha = 0.1 + 0.4 * density.min(1.0);
        let b = link_band(net, l as u32);
        // Each direction's band sits on its own side of the street.
        let w = (b.width * 1.6).max(5.0 * scale);
        let shift = b.right * (w * 0.5 - b.width * 0.5);
        band(buf, b.p0 + shift, b.p1 + shift, w, c);
    }
}

/// Points of a car's route ahead: from where it is to the end of its current lane, then
/// along every link still to drive.
pub fn route_points(net: &Network, car: &Car, at: Vec2) -> Vec<Vec2> {
    let mut pts = vec![at];
    if !car.driving() {
        return pts;
    }
    if let Some(lane) = net.lanes.get(car.lane as usize) {
        pts.push(Vec2::new(lane.p1.0 as f32, lane.p1.1 as f32));
    }
    for &l in car.route.iter().skip(car.leg as usize + 1) {
        if (l as usize) < net.links.len() {
            let b = link_band(net, l);
            pts.push(b.p0);
            pts.push(b.p1);
        }
    }
    pts
}

#[derive(Resource)]
struct CityDrawing {
    roads: GlyphBuffers,
    roads_mesh: Handle<Mesh>,
    /// Zoom the roads were built for (they are rebuilt when it changes by a quarter).
    roads_scale: f32,
    lights: GlyphBuffers,
    lights_mesh: Handle<Mesh>,
    highlights: GlyphBuffers,
    highlights_mesh: Handle<Mesh>,
    highlights_entity: Entity,
    heat: GlyphBuffers,
    heat_mesh: Handle<Mesh>,
    heat_entity: Entity,
    /// Per link: speed sums and counts, reused across frames.
    link_speed: Vec<f32>,
    link_cars: Vec<u32>,
}

/// Registers the city drawing systems (the traffic plugin adds them for a city).
pub(super) fn plugin(app: &mut App) {
    app.init_resource::<super::controls::CityOverlays>().add_systems(Startup, setup).add_systems(
        Update,
        (sync_map, draw_roads, draw_lights, draw_highlights, draw_heat, draw_route)
            .chain()
            .in_set(super::TrafficDraw::Map)
            .run_if(resource_exists::<CityDrawing>.and_then(resource_exists::<CityMap>)),
    );
}

fn setup(mut commands: Commands, mut meshes: ResMut<Assets<Mesh>>, mut materials: ResMut<Assets<ColorMaterial>>) {
    let (_, roads_mesh) = spawn_batch(&mut commands, &mut meshes, &mut materials, 0.0);
    let (heat_entity, heat_mesh) = spawn_batch(&mut commands, &mut meshes, &mut materials, 1.0);
    let (highlights_entity, highlights_mesh) = spawn_batch(&mut commands, &mut meshes, &mut materials, 1.5);
    // Lights above the vehicles so a queue's head never hides its signal.
    let (_, lights_mesh) = spawn_batch(&mut commands, &mut meshes, &mut materials, 4.0);
    commands.insert_resource(CityDrawing {
        roads: GlyphBuffers::default(),
        roads_mesh,
        roads_scale: -1.0,
        lights: GlyphBuffers::default(),
        lights_mesh,
        highlights: GlyphBuffers::default(),
        highlights_mesh,
        highlights_entity,
        heat: GlyphBuffers::default(),
        heat_mesh,
        heat_entity,
        link_speed: Vec::new(),
        link_cars: Vec::new(),
    });
}

/// On a new map (start, reset, another file): frame it and rebuild the roads.
fn sync_map(
    map: Res<CityMap>,
    mut drawing: ResMut<CityDrawing>,
    mut bounds: ResMut<WorldBounds>,
    mut fit: ResMut<FitRequest>,
) {
    if !map.is_changed() {
        return;
    }
    let net = &map.0;
    let mut min = Vec2::splat(f32::INFINITY);
    let mut max = Vec2::splat(f32::NEG_INFINITY);
    for k in 0..net.nodes.len() as u32 {
        let p = node_pos(net, k);
        min = min.min(p);
        max = max.max(p);
    }
    if !min.is_finite() {
        return;
    }
    let margin = 15.0;
    *bounds = WorldBounds { min: min - margin, max: max + margin };
    fit.0 = true;
    drawing.roads_scale = -1.0;
}

fn draw_roads(
    map: Res<CityMap>,
    camera: Single<&Projection, With<WorldCamera>>,
    mut drawing: ResMut<CityDrawing>,
    mut meshes: ResMut<Assets<Mesh>>,
) {
    let scale = camera_scale(&camera);
    let built = drawing.roads_scale;
    if built > 0.0 && (scale / built).ln().abs() < 0.25f32.ln_1p() {
        return;
    }
    let drawing = &mut *drawing;
    drawing.roads_scale = scale;
    build_roads(&map.0, scale, &mut drawing.roads);
    if let Some(mut mesh) = meshes.get_mut(&drawing.roads_mesh) {
        drawing.roads.write_to(&mut mesh);
    }
}

fn draw_lights(
    map: Res<CityMap>,
    st: Res<CityState>,
    time: Res<Time<Real>>,
    camera: Single<&Projection, With<WorldCamera>>,
    mut drawing: ResMut<CityDrawing>,
    mut meshes: ResMut<Assets<Mesh>>,
) {
    let scale = camera_scale(&camera);
    // Flashing lights blink once a second.
    let blink_on = time.elapsed_secs().fract() < 0.5;
    let drawing = &mut *drawing;
    build_lights(&map.0, &st, scale, blink_on, &mut drawing.lights);
    if let Some(mut mesh) = meshes.get_mut(&drawing.lights_mesh) {
        drawing.lights.write_to(&mut mesh);
    }
}

#[allow(clippy::too_many_arguments)]
fn draw_highlights(
    map: Res<CityMap>,
    st: Res<CityState>,
    overlays: Res<super::controls::CityOverlays>,
    camera: Single<&Projection, With<WorldCamera>>,
    mut drawing: ResMut<CityDrawing>,
    mut meshes: ResMut<Assets<Mesh>>,
    mut visibility: Query<&mut Visibility>,
) {
    let drawing = &mut *drawing;
    show(&mut visibility, drawing.highlights_entity, overlays.intersections);
    if !overlays.intersections {
        return;
    }
    build_highlights(&map.0, &st, camera_scale(&camera), &mut drawing.highlights);
    if let Some(mut mesh) = meshes.get_mut(&drawing.highlights_mesh) {
        drawing.highlights.write_to(&mut mesh);
    }
}

#[allow(clippy::too_many_arguments)]
fn draw_heat(
    map: Res<CityMap>,
    st: Res<CityState>,
    overlays: Res<Overlays>,
    params: Res<TrafficParams>,
    clock: Res<SimClock>,
    cars: Query<&Car>,
    camera: Single<&Projection, With<WorldCamera>>,
    mut drawing: ResMut<CityDrawing>,
    mut meshes: ResMut<Assets<Mesh>>,
    mut visibility: Query<&mut Visibility>,
) {
    let drawing = &mut *drawing;
    show(&mut visibility, drawing.heat_entity, overlays.heat_map);
    if !overlays.heat_map {
        return;
    }
    let net = &map.0;
    drawing.link_speed.clear();
    drawing.link_speed.resize(net.links.len(), 0.0);
    drawing.link_cars.clear();
    drawing.link_cars.resize(net.links.len(), 0);
    for car in &cars {
        if let Some(LaneKind::Road { link, .. }) = net.lanes.get(car.lane as usize).map(|l| l.kind) {
            drawing.link_speed[link as usize] += car.speed as f32;
            drawing.link_cars[link as usize] += 1;
        }
    }
    for (s, n) in drawing.link_speed.iter_mut().zip(&drawing.link_cars) {
        *s /= (*n).max(1) as f32;
    }
    let vmax = top_speed(&params, clock.dt);
    build_heat(net, &st, &drawing.link_speed, vmax, camera_scale(&camera), &mut drawing.heat);
    if let Some(mut mesh) = meshes.get_mut(&drawing.heat_mesh) {
        drawing.heat.write_to(&mut mesh);
    }
}

fn show(visibility: &mut Query<&mut Visibility>, entity: Entity, on: bool) {
    if let Ok(mut v) = visibility.get_mut(entity) {
        let want = if on { Visibility::Inherited } else { Visibility::Hidden };
        if *v != want {
            *v = want;
        }
    }
}

/// The selected car's remaining route, link by link, ending in a circle at its destination.
#[allow(clippy::too_many_arguments)]
fn draw_route(
    mut gizmos: Gizmos,
    map: Res<CityMap>,
    overlays: Res<Overlays>,
    selection: Res<Selection>,
    index: Res<AgentIndex>,
    cars: Query<&Car>,
    params: Res<TrafficParams>,
    camera: Single<&Projection, With<WorldCamera>>,
) {
    if !overlays.route {
        return;
    }
    let Some(id) = selection.agent else { return };
    let (Some(p), Some(car)) = (index.position(id), index.entity(id).and_then(|e| cars.get(e).ok())) else {
        return;
    };
    let scale = camera_scale(&camera);
    // Start just ahead of the car's glyph (centred on its front bumper) so the line does not hide it.
    let glyph = super::vehicle_length(&params).max(5.0 * scale);
    let start = match map.0.lanes.get(car.lane as usize) {
        Some(lane) => {
            let (x, y, _) = lane.at(car.s + f64::from(glyph * 0.5 + 2.0 * scale));
            Vec2::new(x as f32, y as f32)
        }
        None => p,
    };
    let pts = route_points(&map.0, car, start);
    let color = Color::srgb(1.0, 1.0, 0.4);
    if let Some(&end) = pts.last()
        && pts.len() > 1
    {
        gizmos.linestrip_2d(pts.iter().copied(), color);
        if car.dest != NONE {
            gizmos.circle_2d(end, 4.0f32.max(6.0 * scale), color);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::worlds::traffic::Road;
    use crate::worlds::traffic::config::CityConfig;
    use crate::worlds::traffic::network::build;

    fn grid() -> Network {
        let road = Road::Grid { rows: 2, cols: 2, block_m: 100.0, lanes: 1, speed_mps: 13.9 };
        build(&road, &CityConfig::default(), 4.5, 2.0).expect("grid builds")
    }

    #[test]
    fn roads_cover_every_lane_and_box() {
        let net = grid();
        let mut buf = GlyphBuffers::default();
        build_roads(&net, 1.0, &mut buf);
        let roads = net.lanes.iter().filter(|l| matches!(l.kind, LaneKind::Road { .. })).count();
        // A chevron (two bands) per link shows its driving direction.
        assert_eq!(buf.len(), roads + net.nodes.len() + 2 * net.links.len());
        // Zoomed in: markings and connectors as well.
        build_roads(&net, 0.1, &mut buf);
        assert!(buf.len() > roads + net.nodes.len() + net.movements.len());
    }

    #[test]
    fn lights_one_per_approach_zoomed_out_one_per_movement_zoomed_in() {
        let net = grid();
        let st = CityState { mov_light: vec![MovLight::Red; net.movements.len()], ..Default::default() };
        let approaches: usize = net.nodes.iter().filter(|n| n.signal).map(|n| n.ins.len()).sum();
        let signal_movements: usize = net.nodes.iter().filter(|n| n.signal).map(|n| n.movements.len()).sum();
        let mut buf = GlyphBuffers::default();
        // Each with its housing behind.
        build_lights(&net, &st, 3.0, true, &mut buf);
        assert_eq!(buf.len(), 2 * approaches);
        build_lights(&net, &st, 0.05, true, &mut buf);
        assert_eq!(buf.len(), approaches + signal_movements);
        // Not spawned yet: nothing.
        build_lights(&net, &CityState::default(), 0.05, true, &mut buf);
        assert!(buf.is_empty());
    }

    #[test]
    fn approach_shows_the_most_permissive_light() {
        use MovLight::*;
        assert_eq!(approach_light([Red, Red]), Red);
        assert_eq!(approach_light([Red, Yellow]), Yellow);
        assert_eq!(approach_light([Yellow, Green, Red]), Green);
        assert_eq!(approach_light([Green, Flash]), Flash);
    }

    #[test]
    fn gridlocked_links_mark_their_intersections() {
        let net = grid();
        let inner: Vec<u32> = (0..net.links.len() as u32)
            .filter(|&l| {
                let lg = &net.links[l as usize];
                !net.nodes[lg.from as usize].terminal && !net.nodes[lg.to as usize].terminal
            })
            .take(2)
            .collect();
        let st = CityState {
            box_count: vec![0; net.nodes.len()],
            hold: vec![Hold::Go; net.lanes.len()],
            gridlocks: vec![inner.clone()],
            ..Default::default()
        };
        let (nodes, links) = box_states(&net, &st);
        for &l in &inner {
            assert!(links[l as usize]);
            assert_eq!(nodes[net.links[l as usize].to as usize], BoxState::Gridlocked);
        }
        let mut buf = GlyphBuffers::default();
        build_highlights(&net, &st, 1.0, &mut buf);
        assert!(buf.len() > inner.len());
    }

    #[test]
    fn route_runs_along_the_remaining_links() {
        let net = grid();
        let l0 = net.links.iter().position(|l| !net.nodes[l.to as usize].terminal).expect("a link") as u32;
        let next = net.nodes[net.links[l0 as usize].to as usize].outs[0];
        let car =
            Car { lane: net.links[l0 as usize].first_lane, route: vec![l0, next], dest: 0, ..Car::parked(0, 0, 0) };
        let pts = route_points(&net, &car, Vec2::ZERO);
        assert_eq!(pts.len(), 4);
        assert_eq!(pts[3], link_band(&net, next).p1);
    }
}
