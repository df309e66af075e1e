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
use crate::runner::LiveScenario;
use crate::scenario::{Scenario, WorldConfig};
use crate::sim::{Agent, Crashed, Pose, SimClock};
use crate::worlds::traffic::city::{Car, CityMap};
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
};

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

/// Columns plotted when the app opens.
fn default_plots(s: &Scenario) -> Vec<&'static str> {
    let WorldConfig::Traffic(t) = &s.world else { return Vec::new() };
    if t.is_ring() {
        vec!["mean_speed_mps", "speed_std_mps", "jammed", "msgs_sent", "msgs_delivered", "msgs_dropped_loss"]
    } else {
        vec![
            "mean_delay_s",
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

/// What drawing needs of an agent: identity, pose, crash state and (for vehicles) their own state.
type AgentGlyph = (&'static Agent, &'static Pose, Has<Crashed>, Option<&'static Vehicle>, Option<&'static Car>);

#[allow(clippy::too_many_arguments)]
fn draw_agents(
    agents: Query<AgentGlyph>,
    params: Res<TrafficParams>,
    clock: Res<SimClock>,
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
    let light_color = Color::srgb(0.85, 0.85, 0.85).to_linear();
    let automated_rim = Color::srgb(0.95, 0.95, 1.0).to_linear();
    let drawing = &mut *drawing;
    drawing.vehicles.clear();
    for (agent, pose, crashed, vehicle, car) in &agents {
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
                let color = if crashed { crashed_color } else { controller_color };
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
