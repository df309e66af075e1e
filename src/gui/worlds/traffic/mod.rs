//! The traffic world in the app: vehicles coloured by speed (automated ones outlined)
//! and controllers in one batched mesh, for the ring (`ring`: the road, its heat map, a
//! vehicle's road ahead) and the city (`city`: lanes, boxes, lights, highlights, heat map
//! and a car's route); the panel's controls as data (`controls`) and the inspector's rows
//! (`inspector`).

pub mod city;
pub mod controls;
mod inspector;
mod ring;

use bevy::prelude::*;

use super::WorldGui;
use crate::gui::agents::{AgentIndex, DrawSet, camera_scale};
use crate::gui::batch::{GlyphBuffers, spawn_batch, speed_color};
use crate::gui::camera::WorldCamera;
use crate::gui::legend::{LegendItem, srgb_bytes};
use crate::runner::LiveScenario;
use crate::scenario::{Scenario, WorldConfig};
use crate::sim::{Agent, Coordination, CoordinationRes, Crashed, Pose, SimClock};
use crate::worlds::traffic::city::{Car, CityMap};
use crate::worlds::traffic::ring::ControllerState;
use crate::worlds::traffic::signals::SignalController;
use crate::worlds::traffic::{CONTROLLER, CarFollowing, TRAFFIC_LIGHT, TrafficParams, VEHICLE, Vehicle};

/// The traffic world's part of the app.
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

/// The legend: the speed scale with its numbers, each agent kind's glyph, the city's
/// lights and highlights, and which controllers take part under the coordination in force.
fn legend(world: &World) -> Vec<LegendItem> {
    let (Some(params), Some(clock)) = (world.get_resource::<TrafficParams>(), world.get_resource::<SimClock>()) else {
        return Vec::new();
    };
    let coord = world.get_resource::<CoordinationRes>().map_or(Coordination::None, |c| c.0);
    let colors: Vec<[u8; 3]> = (0..=10).map(|k| srgb_bytes(speed_color(k as f32 / 10.0))).collect();
    let vmax = f64::from(top_speed(params, clock.dt));
    let ring = params.0.is_ring();
    let mut v = vec![
        LegendItem::Heading("Vehicles".into()),
        LegendItem::Scale { label: "speed (vehicle colour)".into(), min: 0.0, max: vmax, unit: "m/s", colors },
        LegendItem::Glyph { glyph: "vehicle", tint: None, label: "vehicle (nose points where it drives)".into() },
        LegendItem::Glyph { glyph: "crashed", tint: None, label: "crashed agent (purple)".into() },
    ];
    if ring {
        v.push(LegendItem::Outline { color: [242, 242, 255], label: "automated vehicle (light rim)".into() });
        v.push(LegendItem::Note("Traffic drives counter-clockwise (chevrons on the road).".into()));
    } else {
        v.push(LegendItem::Note("Each street has a lane each way; chevrons show the direction.".into()));
        v.push(LegendItem::Heading("Intersections".into()));
        v.push(LegendItem::Glyph {
            glyph: "traffic_light",
            tint: None,
            label: "light: one square per approach".into(),
        });
        v.push(LegendItem::Swatch { color: [40, 230, 75, 255], label: "green".into() });
        v.push(LegendItem::Swatch { color: [255, 215, 25, 255], label: "yellow".into() });
        v.push(LegendItem::Swatch { color: [240, 30, 25, 255], label: "red".into() });
        v.push(LegendItem::Swatch { color: [255, 150, 15, 255], label: "flashing amber: light down".into() });
        v.push(LegendItem::Outline { color: city::CONTENDED, label: "box full or exit blocked".into() });
        v.push(LegendItem::Outline { color: city::GRIDLOCK, label: "gridlock: box and its locked links".into() });
    }
    let part = match coord {
        Coordination::Centralized => "the central one takes part; the others are muted",
        Coordination::Hierarchical => "all take part",
        Coordination::None | Coordination::Decentralized => "muted: none takes part under this coordination",
    };
    let who = if ring { "roadside controller" } else { "signal controller" };
    v.push(LegendItem::Glyph { glyph: "controller", tint: None, label: format!("{who} ({part})") });
    v
}

/// Message colours: the ring's and the city's kinds, each role in the same hue.
const MESSAGE_COLORS: [(&str, [u8; 3]); 11] = [
    ("v2v_state", [77, 217, 255]),
    ("report", [255, 217, 77]),
    ("advice", [102, 255, 128]),
    ("sector_summary", [255, 153, 51]),
    ("target_speed", [255, 102, 255]),
    // City: V2I congestion warnings, light reports, plans from the controllers.
    ("congestion", [255, 115, 77]),
    ("queue_report", [77, 217, 255]),
    ("light_report", [255, 217, 77]),
    ("signal_plan", [102, 255, 128]),
    ("district_summary", [255, 153, 51]),
    ("city_plan", [255, 102, 255]),
];

/// Whether a controller has a part under the coordination in force (else it is drawn
/// muted): the ring's central controller under centralized and hierarchical coordination,
/// its sector controllers under hierarchical; the city's controller and districts likewise.
fn controller_takes_part(c: Coordination, ring: Option<&ControllerState>, city: Option<&SignalController>) -> bool {
    let central = ring.map(|r| r.sector.is_none()).or(city.map(|s| s.district.is_none())).unwrap_or(true);
    match c {
        Coordination::Centralized => central,
        Coordination::Hierarchical => true,
        Coordination::None | Coordination::Decentralized => false,
    }
}

/// Columns plotted when the app opens.
fn default_plots(s: &Scenario) -> Vec<&'static str> {
    let WorldConfig::Traffic(t) = &s.world else { return Vec::new() };
    if t.is_ring() {
        vec!["mean_speed_mps", "speed_std_mps", "jammed", "msgs_sent", "msgs_delivered", "msgs_dropped_loss"]
    } else {
        vec![
            "mean_delay_s",
            "mean_delay_recent_s",
            "queue_veh",
            "trips_waiting",
            "gridlocked_links",
            "msgs_sent",
            "msgs_delivered",
            "msgs_dropped_loss",
        ]
    }
}

/// The order of the traffic drawing inside `DrawSet::World`: the agents' batch (which
/// takes parked cars off the index), then what reads the index (routes, highlights).
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum TrafficDraw {
    Agents,
    Map,
}

/// The vehicles' batch.
#[derive(Resource)]
struct VehicleDrawing {
    vehicles: GlyphBuffers,
    vehicles_mesh: Handle<Mesh>,
}

/// Adds the traffic drawing: the vehicle batch, and the ring's or the city's map.
fn plugin(app: &mut App) {
    let ring = app.world().get_resource::<LiveScenario>().is_none_or(|l| {
        let WorldConfig::Traffic(t) = &l.current.world else { return false };
        t.is_ring()
    });
    app.configure_sets(Update, (TrafficDraw::Agents, TrafficDraw::Map).chain().in_set(DrawSet::World))
        .add_systems(Startup, setup)
        .add_systems(Update, draw_agents.in_set(TrafficDraw::Agents));
    if ring {
        ring::plugin(app);
    } else {
        city::plugin(app);
    }
}

fn setup(mut commands: Commands, mut meshes: ResMut<Assets<Mesh>>, mut materials: ResMut<Assets<ColorMaterial>>) {
    let (_, vehicles_mesh) = spawn_batch(&mut commands, &mut meshes, &mut materials, 3.0);
    commands.insert_resource(VehicleDrawing { vehicles: GlyphBuffers::default(), vehicles_mesh });
}

/// Top speed used for the colour scale, m/s.
pub fn top_speed(params: &TrafficParams, dt: f64) -> f32 {
    match &params.0.model {
        CarFollowing::Idm(p) => p.v0 as f32,
        CarFollowing::Nasch(p) => (f64::from(p.vmax) * p.cell_m / dt.max(1e-9)) as f32,
    }
}

/// Drawn vehicle length before the minimum glyph size, m.
pub fn vehicle_length(params: &TrafficParams) -> f32 {
    match &params.0.model {
        CarFollowing::Idm(p) => p.length as f32,
        CarFollowing::Nasch(p) => p.cell_m as f32 * 0.8,
    }
}

/// What drawing needs of an agent: identity, pose, crash state, a vehicle's own state and a
/// controller's role.
type AgentGlyph = (
    &'static Agent,
    &'static Pose,
    Has<Crashed>,
    Option<&'static Vehicle>,
    Option<&'static Car>,
    (Option<&'static ControllerState>, Option<&'static SignalController>),
);

#[allow(clippy::too_many_arguments)]
fn draw_agents(
    agents: Query<AgentGlyph>,
    params: Res<TrafficParams>,
    clock: Res<SimClock>,
    coordination: Res<CoordinationRes>,
    camera: Single<&Projection, With<WorldCamera>>,
    city: Option<Res<CityMap>>,
    mut drawing: ResMut<VehicleDrawing>,
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
    let idle_controller = Color::srgba(0.45, 0.5, 0.6, 0.45).to_linear();
    let coord = coordination.0;
    let light_color = Color::srgb(0.85, 0.85, 0.85).to_linear();
    let automated_rim = Color::srgb(0.95, 0.95, 1.0).to_linear();
    let drawing = &mut *drawing;
    drawing.vehicles.clear();
    for (agent, pose, crashed, vehicle, car, roles) in &agents {
        let p = Vec2::new(pose.x, pose.y);
        // A parked city car is off the map: inspectable, but neither drawn nor pickable.
        if car.is_some_and(|c| !c.driving()) {
            index.hide(agent.id);
            continue;
        }
        match agent.kind {
            k if k == VEHICLE => {
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
            k if k == CONTROLLER => {
                let color = if crashed {
                    crashed_color
                } else if controller_takes_part(coord, roles.0, roles.1) {
                    controller_color
                } else {
                    idle_controller
                };
                drawing.vehicles.push_square(p, ctl_size, color);
            }
            k if k == TRAFFIC_LIGHT && city => {}
            _ => {
                let color = if crashed { crashed_color } else { light_color };
                drawing.vehicles.push_square(p, ctl_size * 0.6, color);
            }
        }
    }
    if let Some(mut mesh) = meshes.get_mut(&drawing.vehicles_mesh) {
        drawing.vehicles.write_to(&mut mesh);
    }
}
