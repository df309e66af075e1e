//! What every world's view shares about agents: an index of their positions and entities
//! by id (rebuilt every frame from `Agent` and `Pose`), picking an agent with a click,
//! following it with the camera, and remembering its decisions tick by tick for the
//! inspector. A world's drawing may hide agents that are off the map (a parked car).

use bevy::prelude::*;
use bevy::window::PrimaryWindow;
use bevy_egui::input::EguiWantsInput;

use super::camera::{AutoFit, FreeViewport, WorldBounds, WorldCamera, centre_on, cursor_to_world};
use super::{FocusOnSelection, Selection};
use crate::sim::{Agent, AgentId, Decision, MeasureSet, Pose, SimTick};

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

    /// Takes an agent off the map this frame: still inspectable, neither drawn nor pickable.
    pub fn hide(&mut self, id: AgentId) {
        if let Some(p) = self.pos.get_mut(id.0 as usize)
            && p.is_finite()
        {
            *p = Vec2::NAN;
            self.count -= 1;
        }
    }
}

/// Where the frame's drawing happens: the index first, then each world's drawing (which
/// may hide agents), then the shared overlays and the camera's follow.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DrawSet {
    /// [`AgentIndex`] is rebuilt.
    Index,
    /// The world draws its map and agents.
    World,
    /// Overlays over everything, and the follow camera.
    Overlays,
}

/// Registers the shared agent systems.
pub fn plugin(app: &mut App) {
    app.init_resource::<AgentIndex>()
        .configure_sets(
            Update,
            (DrawSet::Index, DrawSet::World, DrawSet::Overlays).chain().after(super::camera::CameraInput),
        )
        .add_systems(SimTick, record_selected_decision.in_set(MeasureSet::Layers))
        .add_systems(Update, (pick_agent.before(DrawSet::Index), index_agents.in_set(DrawSet::Index)))
        .add_systems(Update, follow_selected.in_set(DrawSet::Overlays));
}

/// Rebuilds [`AgentIndex`] from every agent's pose.
fn index_agents(agents: Query<(Entity, &Agent, &Pose)>, mut index: ResMut<AgentIndex>) {
    index.pos.iter_mut().for_each(|p| *p = Vec2::NAN);
    index.entity.iter_mut().for_each(|e| *e = None);
    index.count = 0;
    for (entity, agent, pose) in &agents {
        let i = agent.id.0 as usize;
        if index.pos.len() <= i {
            index.pos.resize(i + 1, Vec2::NAN);
            index.entity.resize(i + 1, None);
        }
        index.entity[i] = Some(entity);
        index.pos[i] = Vec2::new(pose.x, pose.y);
        index.count += 1;
    }
}

/// Metres per logical pixel of the world camera.
pub fn camera_scale(projection: &Projection) -> f32 {
    match projection {
        Projection::Orthographic(o) => o.scale,
        _ => 1.0,
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
    let extent = bounds.max - bounds.min;
    let free_size = (free.max - free.min).max(Vec2::ONE);
    let focusing = focus.0 && settled;
    if focusing {
        focus.0 = false;
        auto.0 = false;
        // Show about 300 m around it; a smaller world is shown whole, with a 5 % margin.
        let fit_scale = (extent.x * 1.1 / free_size.x).max(extent.y * 1.1 / free_size.y);
        ortho.scale = fit_scale.min(300.0 / free_size.min_element());
    }
    if selection.follow || focusing {
        // While the whole world fits the view it stays centred (the agent is in sight
        // wherever it goes); zoomed in, the view follows the agent.
        let fits = extent.x / ortho.scale <= free_size.x && extent.y / ortho.scale <= free_size.y;
        let target = if fits { (bounds.min + bounds.max) * 0.5 } else { p };
        let c = centre_on(target, *free, window.size(), ortho.scale);
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
