//! Paces the simulation from the frame loop: ticks per second or as fast as possible, with bounded work per frame.

use std::time::{Duration, Instant};

use bevy::ecs::schedule::{InternedScheduleLabel, ScheduleLabel};
use bevy::prelude::*;

/// Play/pause, speed and single-step state, edited by the control panel and keys.
#[derive(Resource, Debug, Clone)]
pub struct SimControl {
    /// Whether ticks advance on their own.
    pub playing: bool,
    /// Target ticks per second of wall time when not running flat out.
    pub ticks_per_second: f64,
    /// Run as many ticks as fit in the per-frame budget.
    pub as_fast_as_possible: bool,
    /// Single ticks requested while paused (the "step" button).
    pub pending_steps: u32,
    /// Wall-time budget for simulation work in one frame; keeps the UI responsive at any speed.
    pub frame_budget: Duration,
    /// The person chose to go on past the run's end.
    pub past_end: bool,
    /// Fractional ticks owed from earlier frames.
    accumulator: f64,
}

impl Default for SimControl {
    fn default() -> Self {
        Self {
            playing: true,
            ticks_per_second: 10.0,
            as_fast_as_possible: false,
            pending_steps: 0,
            frame_budget: Duration::from_millis(12),
            past_end: false,
            accumulator: 0.0,
        }
    }
}

impl SimControl {
    /// How many ticks this frame owes given `frame_dt` seconds of wall time since the last one.
    ///
    /// The owed amount is capped so that a slow frame never snowballs into ever longer catch-up frames;
    /// the wall-time budget is enforced separately while ticking.
    pub fn ticks_owed(&mut self, frame_dt: f64) -> u64 {
        if !self.playing {
            self.accumulator = 0.0;
            let n = u64::from(self.pending_steps);
            self.pending_steps = 0;
            return n;
        }
        self.pending_steps = 0;
        if self.as_fast_as_possible {
            self.accumulator = 0.0;
            return u64::MAX;
        }
        // At most a quarter second of backlog; beyond that the sim simply runs slower than asked.
        let dt = frame_dt.clamp(0.0, 0.25);
        self.accumulator += dt * self.ticks_per_second.max(0.0);
        let n = self.accumulator.floor();
        self.accumulator -= n;
        n as u64
    }

    /// Drops any owed fractional tick (used when the per-frame budget ran out).
    pub fn forget_backlog(&mut self) {
        self.accumulator = self.accumulator.min(1.0);
    }
}

/// Which schedule one simulation tick runs; the GUI runs it `n` times per frame.
#[derive(Resource, Clone, Copy)]
pub struct TickSchedule(pub InternedScheduleLabel);

impl TickSchedule {
    /// Uses `label` as the tick schedule.
    pub fn new(label: impl ScheduleLabel) -> Self {
        Self(label.intern())
    }
}

/// Rolling throughput figures shown in the status line.
#[derive(Resource, Debug, Default, Clone)]
pub struct TickStats {
    /// Ticks run since the app started (or the last reset).
    pub ticks_run: u64,
    /// Ticks per second of wall time over the last second.
    pub ticks_per_second: f64,
    /// Ticks run in the last frame.
    pub ticks_last_frame: u64,
    /// Wall time spent ticking in the last frame.
    pub sim_time_last_frame: Duration,
    window_start: Option<Instant>,
    window_ticks: u64,
}

/// Optional predicate checked after every tick; when it returns true the GUI pauses (playing on is allowed).
#[derive(Resource, Clone, Copy)]
pub struct SimFinished(pub fn(&World) -> bool);

/// Exclusive system: runs the owed ticks within the frame budget.
pub fn advance_simulation(world: &mut World) {
    let Some(label) = world.get_resource::<TickSchedule>().map(|s| s.0) else {
        return;
    };
    let frame_dt = world.resource::<Time<Real>>().delta_secs_f64();
    let finished = world.get_resource::<SimFinished>().map(|f| f.0);
    let (owed, budget) = {
        let mut control = world.resource_mut::<SimControl>();
        (control.ticks_owed(frame_dt), control.frame_budget)
    };
    let start = Instant::now();
    let mut ran = 0u64;
    while ran < owed {
        world.run_schedule(label);
        ran += 1;
        if finished.is_some_and(|f| f(world)) {
            world.resource_mut::<SimControl>().playing = false;
            break;
        }
        if start.elapsed() >= budget {
            world.resource_mut::<SimControl>().forget_backlog();
            break;
        }
    }
    let elapsed = start.elapsed();
    let now = Instant::now();
    let mut stats = world.resource_mut::<TickStats>();
    stats.ticks_run += ran;
    stats.ticks_last_frame = ran;
    stats.sim_time_last_frame = elapsed;
    stats.window_ticks += ran;
    let window_start = *stats.window_start.get_or_insert(now);
    let span = now.duration_since(window_start).as_secs_f64();
    if span >= 1.0 {
        stats.ticks_per_second = stats.window_ticks as f64 / span;
        stats.window_ticks = 0;
        stats.window_start = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paced_ticks_follow_wall_time() {
        let mut c = SimControl { ticks_per_second: 30.0, ..default() };
        let total: u64 = (0..60).map(|_| c.ticks_owed(1.0 / 60.0)).sum();
        assert!((29..=30).contains(&total), "{total}");
    }

    #[test]
    fn paused_runs_only_steps() {
        let mut c = SimControl { playing: false, pending_steps: 2, ..default() };
        assert_eq!(c.ticks_owed(0.1), 2);
        assert_eq!(c.ticks_owed(0.1), 0);
    }

    #[test]
    fn long_frame_backlog_is_capped() {
        let mut c = SimControl { ticks_per_second: 100.0, ..default() };
        assert_eq!(c.ticks_owed(10.0), 25);
    }

    #[test]
    fn budget_bounds_work_per_frame() {
        #[derive(ScheduleLabel, Debug, Clone, PartialEq, Eq, Hash)]
        struct Slow;
        let mut world = World::new();
        world.insert_resource(Time::<Real>::default());
        world.insert_resource(SimControl {
            as_fast_as_possible: true,
            frame_budget: Duration::from_millis(20),
            ..default()
        });
        world.init_resource::<TickStats>();
        world.insert_resource(TickSchedule::new(Slow));
        let mut schedule = Schedule::new(Slow);
        schedule.add_systems(|| std::thread::sleep(Duration::from_millis(2)));
        world.add_schedule(schedule);
        let start = Instant::now();
        advance_simulation(&mut world);
        assert!(start.elapsed() < Duration::from_millis(200));
        let ran = world.resource::<TickStats>().ticks_last_frame;
        assert!((1..=12).contains(&ran), "{ran}");
    }
}
