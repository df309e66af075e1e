//! Screenshot mode: run N ticks, let the frame settle, save a PNG with Bevy's screenshot API, exit.

use std::path::PathBuf;

use bevy::prelude::*;
use bevy::render::view::screenshot::{Screenshot, ScreenshotCaptured};

use super::control::{SimControl, TickStats};

/// What `--screenshot PATH --after-ticks N` asked for.
#[derive(Resource, Debug, Clone)]
pub struct ScreenshotPlan {
    /// Where the PNG goes.
    pub path: PathBuf,
    /// Simulation ticks to run before capturing.
    pub after_ticks: u64,
    /// Frames rendered after the last tick, so the drawing and egui layout reflect it.
    settle_frames: u32,
    state: ShotState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ShotState {
    Running,
    Requested,
    Saved,
    Failed,
}

impl ScreenshotPlan {
    /// Plans a capture to `path` after `after_ticks` ticks.
    pub fn new(path: PathBuf, after_ticks: u64) -> Self {
        Self {
            path,
            after_ticks,
            settle_frames: 0,
            state: ShotState::Running,
        }
    }
}

/// Registers the screenshot-mode systems (only added when a plan is given).
pub fn plugin(app: &mut App) {
    app.add_systems(Last, drive_screenshot);
}

fn drive_screenshot(
    mut commands: Commands,
    mut plan: ResMut<ScreenshotPlan>,
    mut control: ResMut<SimControl>,
    stats: Res<TickStats>,
    mut exit: MessageWriter<AppExit>,
) {
    match plan.state {
        ShotState::Running => {
            let remaining = plan.after_ticks.saturating_sub(stats.ticks_run);
            if remaining == 0 {
                control.playing = false;
                plan.settle_frames += 1;
                // egui needs a couple of passes to size its panels; give it a few more frames.
                if plan.settle_frames >= 6 {
                    let path = plan.path.clone();
                    commands
                        .spawn(Screenshot::primary_window())
                        .observe(save_and_mark(path));
                    plan.state = ShotState::Requested;
                }
            } else {
                // Run flat out towards the target, but never past it.
                control.playing = false;
                control.pending_steps = remaining.min(u64::from(u32::MAX)) as u32;
                control.pending_steps = control.pending_steps.min(5_000);
            }
        }
        ShotState::Requested => {}
        ShotState::Saved => {
            exit.write(AppExit::Success);
        }
        ShotState::Failed => {
            exit.write(AppExit::from_code(1));
        }
    }
}

fn save_and_mark(path: PathBuf) -> impl FnMut(On<ScreenshotCaptured>, ResMut<ScreenshotPlan>) {
    move |captured, mut plan| {
        let result = captured
            .image
            .clone()
            .try_into_dynamic()
            .map_err(|e| e.to_string())
            .and_then(|img| img.to_rgb8().save(&path).map_err(|e| e.to_string()));
        match result {
            Ok(()) => {
                info!("screenshot saved to {}", path.display());
                plan.state = ShotState::Saved;
            }
            Err(e) => {
                eprintln!("masim: cannot save screenshot {}: {e}", path.display());
                plan.state = ShotState::Failed;
            }
        }
    }
}
