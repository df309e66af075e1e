//! Screenshot mode: run N ticks, let the frame settle, save a PNG with Bevy's screenshot API, exit.
//!
//! With `MASIM_MEASURE_FRAMES=K` in the environment it also plays on for K frames at the
//! panel's speed before the capture and prints their frame times (used for BENCHMARKS.md).

use std::path::PathBuf;
use std::time::Duration;

use bevy::prelude::*;
use bevy::render::view::screenshot::{Screenshot, ScreenshotCaptured};

use super::control::SimControl;
use crate::sim::SimClock;

/// What `--screenshot PATH --after-ticks N` asked for.
#[derive(Resource, Debug, Clone)]
pub struct ScreenshotPlan {
    /// Where the PNG goes.
    pub path: PathBuf,
    /// Simulation ticks to run before capturing.
    pub after_ticks: u64,
    /// Frames to play on and time before capturing (0: none).
    pub measure_frames: u32,
    settle_frames: u32,
    frame_times: Vec<Duration>,
    state: ShotState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ShotState {
    Running,
    Measuring,
    Settling,
    Requested,
    Saved,
    Failed,
}

impl ScreenshotPlan {
    /// Plans a capture to `path` after `after_ticks` ticks.
    pub fn new(path: PathBuf, after_ticks: u64) -> Self {
        let measure_frames = std::env::var("MASIM_MEASURE_FRAMES").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
        Self { path, after_ticks, measure_frames, settle_frames: 0, frame_times: Vec::new(), state: ShotState::Running }
    }
}

/// Registers the screenshot-mode systems (only added when a plan is given).
pub fn plugin(app: &mut App) {
    app.add_systems(Last, drive_screenshot);
}

/// `--after-ticks N` without `--screenshot`: run N ticks flat out, then pause there.
#[derive(Resource, Debug, Clone, Copy)]
pub struct RunThenPause(pub u64);

/// Drives the run towards [`RunThenPause`]'s tick, then pauses and removes it.
pub fn run_then_pause(
    mut commands: Commands,
    target: Res<RunThenPause>,
    mut control: ResMut<SimControl>,
    clock: Res<SimClock>,
) {
    let remaining = target.0.saturating_sub(clock.tick);
    control.playing = false;
    control.pending_steps = remaining.min(5_000) as u32;
    if remaining == 0 {
        commands.remove_resource::<RunThenPause>();
    }
}

fn drive_screenshot(
    mut commands: Commands,
    mut plan: ResMut<ScreenshotPlan>,
    mut control: ResMut<SimControl>,
    clock: Res<SimClock>,
    time: Res<Time<Real>>,
    ui_rects: Option<Res<super::ui::UiRects>>,
    mut exit: MessageWriter<AppExit>,
) {
    match plan.state {
        ShotState::Running => {
            let remaining = plan.after_ticks.saturating_sub(clock.tick);
            // Run flat out towards the target (within the frame budget), never past it.
            control.playing = false;
            control.pending_steps = remaining.min(5_000) as u32;
            if remaining == 0 {
                control.pending_steps = 0;
                if plan.measure_frames > 0 {
                    control.playing = true;
                    plan.state = ShotState::Measuring;
                } else {
                    plan.state = ShotState::Settling;
                }
            }
        }
        ShotState::Measuring => {
            plan.frame_times.push(time.delta());
            if plan.frame_times.len() as u32 >= plan.measure_frames {
                control.playing = false;
                report(&plan.frame_times);
                plan.state = ShotState::Settling;
            }
        }
        ShotState::Settling => {
            plan.settle_frames += 1;
            // egui needs a couple of passes to size its panels; give it a few more frames.
            if plan.settle_frames >= 6 {
                if let Some(shown) = ui_rects {
                    report_rects(&shown);
                }
                let path = plan.path.clone();
                commands.spawn(Screenshot::primary_window()).observe(save_and_mark(path));
                plan.state = ShotState::Requested;
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

/// Prints where the legend and the notes were drawn, in window pixels, one line each:
/// `masim-ui: legend x0 y0 x1 y1` (tests/suite/gui_smoke.rs reads these).
fn report_rects(shown: &super::ui::UiRects) {
    let k = shown.pixels_per_point;
    for (what, r) in &shown.rects {
        println!("masim-ui: {what} {:.0} {:.0} {:.0} {:.0}", r.min.x * k, r.min.y * k, r.max.x * k, r.max.y * k);
    }
}

/// Prints mean, median, 95th percentile and worst frame time.
fn report(times: &[Duration]) {
    if times.is_empty() {
        return;
    }
    let mut ms: Vec<f64> = times.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    ms.sort_by(f64::total_cmp);
    let mean = ms.iter().sum::<f64>() / ms.len() as f64;
    let at = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
    println!(
        "masim: {} frames: mean {mean:.1} ms, median {:.1} ms, p95 {:.1} ms, max {:.1} ms",
        ms.len(),
        at(0.5),
        at(0.95),
        at(1.0)
    );
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
