//! World camera: drag to pan, wheel to zoom around the cursor, F to fit, inert while egui has the pointer.

use bevy::input::mouse::{AccumulatedMouseScroll, MouseScrollUnit};
use bevy::prelude::*;
use bevy::window::PrimaryWindow;
use bevy_egui::input::EguiWantsInput;

/// Marks the one 2D camera that looks at the simulated world.
#[derive(Component)]
pub struct WorldCamera;

/// Axis-aligned box, in world metres, that the fit command frames.
///
/// Each world's drawing code keeps this up to date; the camera only reads it.
#[derive(Resource, Clone, Copy, Debug, PartialEq)]
pub struct WorldBounds {
    /// Lower-left corner.
    pub min: Vec2,
    /// Upper-right corner.
    pub max: Vec2,
}

impl Default for WorldBounds {
    fn default() -> Self {
        Self { min: Vec2::splat(-100.0), max: Vec2::splat(100.0) }
    }
}

/// Screen area, in logical pixels, not covered by egui panels; the fit command centres the world in it.
#[derive(Resource, Clone, Copy, Debug, Default)]
pub struct FreeViewport {
    /// Top-left corner in window coordinates (y down).
    pub min: Vec2,
    /// Bottom-right corner in window coordinates (y down).
    pub max: Vec2,
}

impl FreeViewport {
    /// Whether a window position (logical pixels, y down) is in the world view rather than on a panel.
    ///
    /// egui's own "pointer over egui" answer misses the empty parts of our panels (they are
    /// laid out in one background `Ui`, which egui cannot tell from the world behind), so
    /// the camera and picking ask this too. Before the first layout (no area yet) the whole
    /// window counts as world.
    pub fn contains(&self, p: Vec2) -> bool {
        let laid_out = self.max.x - self.min.x > 10.0 && self.max.y - self.min.y > 10.0;
        !laid_out || (p.x >= self.min.x && p.x < self.max.x && p.y >= self.min.y && p.y < self.max.y)
    }
}

/// Requests a fit of the camera to [`WorldBounds`] on the next frame (set by the F key, the panel button and scenario loads).
#[derive(Resource, Default)]
pub struct FitRequest(pub bool);

/// Refit whenever the free area changes (panels resized) until the person pans or zooms.
#[derive(Resource)]
pub struct AutoFit(pub bool);

/// The camera's input and fit systems; drawing that moves the camera itself (follow) runs after them.
#[derive(SystemSet, Debug, Clone, PartialEq, Eq, Hash)]
pub struct CameraInput;

/// Zoom limits, as orthographic scale (world metres per logical pixel).
const MIN_SCALE: f32 = 0.005;
const MAX_SCALE: f32 = 10_000.0;

/// Registers the camera and its input systems.
pub fn plugin(app: &mut App) {
    app.init_resource::<WorldBounds>()
        .init_resource::<FreeViewport>()
        .insert_resource(FitRequest(true))
        .insert_resource(AutoFit(true))
        .add_systems(Startup, spawn_camera)
        .add_systems(Update, (pan_and_zoom, fit_key, fit_camera).chain().in_set(CameraInput));
}

fn spawn_camera(mut commands: Commands) {
    commands.spawn((
        Camera2d,
        WorldCamera,
        Camera { clear_color: ClearColorConfig::Custom(Color::srgb(0.09, 0.10, 0.11)), ..default() },
    ));
}

/// Scale and centre that frame `bounds` inside the `free` part of a window of `window_size` logical pixels.
///
/// Returns the orthographic scale and the camera position. Pure so it can be tested without a window.
pub fn fit_transform(bounds: WorldBounds, free: FreeViewport, window_size: Vec2) -> (f32, Vec2) {
    let (free_min, free_max) = if free.max.x - free.min.x > 10.0 && free.max.y - free.min.y > 10.0 {
        (free.min, free.max)
    } else {
        (Vec2::ZERO, window_size)
    };
    let free_size = (free_max - free_min).max(Vec2::splat(1.0));
    let world_size = (bounds.max - bounds.min).max(Vec2::splat(1.0));
    // 5% margin on each side.
    let scale = (world_size / free_size).max_element() * 1.1;
    let scale = scale.clamp(MIN_SCALE, MAX_SCALE);
    // Offset (in logical pixels, y up) of the free area's centre from the window centre.
    let free_centre = (free_min + free_max) * 0.5;
    let offset_px = Vec2::new(free_centre.x - window_size.x * 0.5, window_size.y * 0.5 - free_centre.y);
    let world_centre = (bounds.min + bounds.max) * 0.5;
    (scale, world_centre - offset_px * scale)
}

/// Camera position that puts world point `p` in the middle of the `free` area at zoom `scale`.
pub fn centre_on(p: Vec2, free: FreeViewport, window_size: Vec2, scale: f32) -> Vec2 {
    let (free_min, free_max) = if free.max.x - free.min.x > 10.0 && free.max.y - free.min.y > 10.0 {
        (free.min, free.max)
    } else {
        (Vec2::ZERO, window_size)
    };
    let free_centre = (free_min + free_max) * 0.5;
    let offset_px = Vec2::new(free_centre.x - window_size.x * 0.5, window_size.y * 0.5 - free_centre.y);
    p - offset_px * scale
}

fn fit_key(keys: Res<ButtonInput<KeyCode>>, wants: Res<EguiWantsInput>, mut fit: ResMut<FitRequest>) {
    if keys.just_pressed(KeyCode::KeyF) && !wants.wants_any_keyboard_input() {
        fit.0 = true;
    }
}

fn fit_camera(
    mut fit: ResMut<FitRequest>,
    auto: Res<AutoFit>,
    bounds: Res<WorldBounds>,
    free: Res<FreeViewport>,
    window: Single<&Window, With<PrimaryWindow>>,
    mut camera: Single<(&mut Transform, &mut Projection), With<WorldCamera>>,
    mut last_free: Local<(Vec2, Vec2)>,
) {
    let free_moved =
        (free.min - last_free.0).abs().max_element() > 1.0 || (free.max - last_free.1).abs().max_element() > 1.0;
    *last_free = (free.min, free.max);
    if !(fit.0 || (auto.0 && free_moved)) {
        return;
    }
    fit.0 = false;
    let (scale, centre) = fit_transform(*bounds, *free, window.size());
    let (transform, projection) = &mut *camera;
    if let Projection::Orthographic(ortho) = projection.as_mut() {
        ortho.scale = scale;
    }
    transform.translation.x = centre.x;
    transform.translation.y = centre.y;
}

#[allow(clippy::too_many_arguments)]
fn pan_and_zoom(
    buttons: Res<ButtonInput<MouseButton>>,
    scroll: Res<AccumulatedMouseScroll>,
    wants: Res<EguiWantsInput>,
    free: Res<FreeViewport>,
    window: Single<&Window, With<PrimaryWindow>>,
    mut camera: Single<(&mut Transform, &mut Projection), With<WorldCamera>>,
    mut dragging: Local<bool>,
    mut last_cursor: Local<Option<Vec2>>,
    mut auto: ResMut<AutoFit>,
) {
    let cursor = window.cursor_position();
    let over_egui = wants.wants_any_pointer_input() || cursor.is_some_and(|c| !free.contains(c));
    // A drag belongs to whoever it started over: one that began on the world keeps panning even across a panel.
    if buttons.just_pressed(MouseButton::Left)
        || buttons.just_pressed(MouseButton::Middle)
        || buttons.just_pressed(MouseButton::Right)
    {
        *dragging = !over_egui;
    }
    if !(buttons.pressed(MouseButton::Left)
        || buttons.pressed(MouseButton::Middle)
        || buttons.pressed(MouseButton::Right))
    {
        *dragging = false;
    }
    let (transform, projection) = &mut *camera;
    let Projection::Orthographic(ortho) = projection.as_mut() else {
        return;
    };
    // Pan by how far the cursor moved, so the world point grabbed stays under it. (Raw mouse
    // motion would also count pointer acceleration, and some X servers, Xvfb with synthetic
    // input among them, send none.)
    // The press itself only grabs: the pointer may have jumped there since the last frame.
    let pressed_now = buttons.any_just_pressed([MouseButton::Left, MouseButton::Middle, MouseButton::Right]);
    let delta = match (*dragging && !pressed_now, cursor, *last_cursor) {
        (true, Some(now), Some(before)) => now - before,
        _ => Vec2::ZERO,
    };
    *last_cursor = cursor;
    if delta != Vec2::ZERO {
        auto.0 = false;
        transform.translation.x -= delta.x * ortho.scale;
        transform.translation.y += delta.y * ortho.scale;
    }
    if over_egui || scroll.delta.y == 0.0 {
        return;
    }
    let steps = match scroll.unit {
        MouseScrollUnit::Line => scroll.delta.y,
        MouseScrollUnit::Pixel => scroll.delta.y / 40.0,
    };
    auto.0 = false;
    let old_scale = ortho.scale;
    let new_scale = (old_scale * 0.85f32.powf(steps)).clamp(MIN_SCALE, MAX_SCALE);
    ortho.scale = new_scale;
    // Keep the world point under the cursor fixed while zooming.
    if let Some(cursor) = window.cursor_position() {
        let from_centre = Vec2::new(cursor.x - window.width() * 0.5, window.height() * 0.5 - cursor.y);
        let shift = from_centre * (old_scale - new_scale);
        transform.translation.x += shift.x;
        transform.translation.y += shift.y;
    }
}

/// Converts a window cursor position (logical pixels, y down) to world metres for an orthographic camera.
pub fn cursor_to_world(cursor: Vec2, window_size: Vec2, camera_pos: Vec2, scale: f32) -> Vec2 {
    let from_centre = Vec2::new(cursor.x - window_size.x * 0.5, window_size.y * 0.5 - cursor.y);
    camera_pos + from_centre * scale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_centres_world_in_free_area() {
        let bounds = WorldBounds { min: Vec2::new(-50.0, -50.0), max: Vec2::new(50.0, 50.0) };
        // Panel of 200 px on the left of an 800x600 window.
        let free = FreeViewport { min: Vec2::new(200.0, 0.0), max: Vec2::new(800.0, 600.0) };
        let (scale, pos) = fit_transform(bounds, free, Vec2::new(800.0, 600.0));
        assert!((scale - 100.0 / 600.0 * 1.1).abs() < 1e-5);
        // The free area's centre (500, 300) must map onto the world centre (0, 0).
        let w = cursor_to_world(Vec2::new(500.0, 300.0), Vec2::new(800.0, 600.0), pos, scale);
        assert!(w.length() < 1e-3, "{w}");
    }

    #[test]
    fn centre_on_puts_the_point_mid_free_area() {
        let free = FreeViewport { min: Vec2::new(300.0, 20.0), max: Vec2::new(950.0, 570.0) };
        let window = Vec2::new(1280.0, 800.0);
        let p = Vec2::new(120.0, -40.0);
        let cam = centre_on(p, free, window, 0.5);
        let w = cursor_to_world(Vec2::new(625.0, 295.0), window, cam, 0.5);
        assert!((w - p).length() < 1e-3, "{w}");
    }

    #[test]
    fn free_area_tells_world_from_panels() {
        let free = FreeViewport { min: Vec2::new(300.0, 20.0), max: Vec2::new(950.0, 570.0) };
        assert!(free.contains(Vec2::new(600.0, 300.0)));
        assert!(!free.contains(Vec2::new(100.0, 300.0)), "left panel");
        assert!(!free.contains(Vec2::new(600.0, 700.0)), "plots");
        assert!(FreeViewport::default().contains(Vec2::new(100.0, 300.0)), "before layout");
    }

    #[test]
    fn fit_without_free_area_uses_window() {
        let bounds = WorldBounds { min: Vec2::new(0.0, 0.0), max: Vec2::new(1000.0, 10.0) };
        let (scale, pos) = fit_transform(bounds, FreeViewport::default(), Vec2::new(1000.0, 500.0));
        assert!((scale - 1.1).abs() < 1e-5);
        assert!((pos - Vec2::new(500.0, 5.0)).length() < 1e-3);
    }
}
