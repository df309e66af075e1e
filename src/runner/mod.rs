//! Builds a simulation app from a scenario (headless or inside the desktop app), applies
//! live edits, runs to completion, and writes the outputs.

pub mod output;

use std::time::Instant;

use bevy::app::{PluginsState, TaskPoolOptions, TaskPoolPlugin};
use bevy::prelude::*;
use serde_json::json;

use crate::scenario::{Edit, Scenario};
use crate::sim::{self, Channel, CoordinationRes, EventLog, Faults, InjectSet, SimPlugin, SimSettings, SimTick};
use crate::worlds::{WorldConfig, WorldSpec};

/// The scenario in force, edits waiting to apply, and the edits applied so far (the
/// session record that "export session" writes and `masim run` replays).
#[derive(Resource, Debug, Clone)]
pub struct LiveScenario<W: WorldSpec = WorldConfig> {
    /// The scenario as loaded (start of the session).
    pub initial: Scenario<W>,
    /// The scenario with every applied edit.
    pub current: Scenario<W>,
    scheduled: Vec<Edit>,
    requests: Vec<(String, String)>,
    /// Every edit applied, with its tick.
    pub applied: Vec<Edit>,
}

impl<W: WorldSpec> LiveScenario<W> {
    fn new(s: &Scenario<W>) -> Self {
        let mut scheduled = s.edits.clone();
        scheduled.sort_by_key(|e| e.at);
        let mut current = s.clone();
        current.edits.clear();
        LiveScenario { initial: s.clone(), current, scheduled, requests: Vec::new(), applied: Vec::new() }
    }

    /// Checks an edit against the scenario in force without applying it.
    pub fn check(&self, path: &str, value: &str) -> Result<(), String> {
        let next = self.current.with_set(path, value).map_err(|i| format!("{}: {}", i.field, i.message))?;
        crate::scenario::live_editable(&self.current, &next)
    }

    /// Asks for an edit at the next tick; it is checked first.
    pub fn request(&mut self, path: &str, value: &str) -> Result<(), String> {
        self.check(path, value)?;
        self.requests.push((path.to_string(), value.to_string()));
        Ok(())
    }

    /// The session so far as a scenario that `masim run` replays: the initial scenario
    /// with every applied edit and every fault and world event as it actually happened,
    /// and those still scheduled.
    pub fn session(&self, world: &World) -> Scenario<W> {
        let mut s = self.initial.clone();
        s.edits = self.applied.clone();
        if let Some(f) = world.get_resource::<Faults>() {
            s.faults = f.timeline.session();
        }
        if let Some(a) = world.get_resource::<sim::Attacks>() {
            s.attacks = a.timeline.session();
        }
        s.world.record_session(world);
        s
    }

    /// [`LiveScenario::session`] cut at the tick reached: it runs for exactly the ticks
    /// simulated so far, and what was still to come is left out, so the file is always
    /// accepted and replays the recorded part byte for byte.
    pub fn session_so_far(&self, world: &World) -> Scenario<W> {
        let mut s = self.session(world);
        let tick = world.get_resource::<sim::SimClock>().map_or(0, |c| c.tick);
        if tick > 0 {
            s.ticks = tick;
            s.truncate_timeline(tick);
        }
        s
    }
}

/// The Inject phase, first: applies the edits due now (scheduled in the scenario or asked
/// for live), then puts the changed settings in force — the channel's, the coordination
/// and the world's own.
fn apply_edits<W: WorldSpec>(world: &mut World) {
    let now = world.resource::<sim::SimClock>().tick;
    let mut live = world.resource_mut::<LiveScenario<W>>();
    let mut todo: Vec<(String, String)> = Vec::new();
    while live.scheduled.first().is_some_and(|e| e.at <= now) {
        let e = live.scheduled.remove(0);
        todo.push((e.set, e.value));
    }
    todo.append(&mut live.requests);
    if todo.is_empty() {
        return;
    }
    let mut events = Vec::new();
    for (path, value) in todo {
        let next = match live.current.with_set(&path, &value) {
            Ok(n) => n,
            Err(i) => {
                events.push((
                    "edit_rejected",
                    vec![("set", json!(path)), ("value", json!(value)), ("error", json!(i.message))],
                ));
                continue;
            }
        };
        live.current = next;
        live.applied.push(Edit { at: now, set: path.clone(), value: value.clone() });
        events.push(("edit", vec![("set", json!(path)), ("value", json!(value))]));
    }
    let s = live.current.clone();
    let mut log = world.resource_mut::<EventLog>();
    for (kind, detail) in events {
        log.push(now, kind, None, detail);
    }
    let mut channel = world.resource_mut::<Channel>();
    if channel.config != s.channel {
        channel.config = s.channel.clone();
    }
    world.resource_mut::<CoordinationRes>().0 = s.coordination;
    let mut sec = world.resource_mut::<sim::Security>();
    if sec.config != s.security {
        sec.config = s.security.clone();
    }
    s.world.install(world);
}

/// Adds the whole simulation for `scenario` to an app: the core, its world, and live
/// edits. The desktop app calls this too.
pub fn add_simulation<W: WorldSpec>(app: &mut App, scenario: &Scenario<W>) {
    app.add_plugins(SimPlugin(settings(scenario)));
    scenario.world.build(app);
    app.insert_resource(LiveScenario::new(scenario));
    app.add_systems(SimTick, apply_edits::<W>.in_set(InjectSet::Edits));
}

fn settings<W: WorldSpec>(scenario: &Scenario<W>) -> SimSettings {
    SimSettings {
        seed: scenario.seed,
        dt: scenario.dt,
        ticks: scenario.ticks,
        record_every: scenario.output.record_every,
        max_events: scenario.output.max_events,
        channel: scenario.channel.clone(),
        coordination: scenario.coordination,
        faults: scenario.faults.clone(),
        security: scenario.security.clone(),
        attacks: scenario.attacks.clone(),
    }
}

/// Starts over inside a running app with `scenario` (same world variant): despawns
/// every agent, resets all state, clears metrics and events, and spawns afresh. The
/// result is the same as a new app built from `scenario`.
pub fn reset<W: WorldSpec>(world: &mut World, scenario: &Scenario<W>) {
    sim::reset_core(world, &settings(scenario));
    scenario.world.install(world);
    world.run_schedule(sim::ResetWorld);
    world.insert_resource(LiveScenario::new(scenario));
    world.run_schedule(sim::SpawnWorld);
}

/// A headless app for `scenario`: no window, no renderer, no wall clock. `threads` sets
/// the worker count (the first app of a process fixes it for the process).
pub fn headless_app<W: WorldSpec>(scenario: &Scenario<W>, threads: Option<usize>) -> App {
    let mut app = App::new();
    let options = match threads {
        Some(n) => TaskPoolOptions::with_num_threads(n.max(1)),
        None => TaskPoolOptions::default(),
    };
    app.add_plugins(TaskPoolPlugin { task_pool_options: options });
    add_simulation(&mut app, scenario);
    while app.plugins_state() == PluginsState::Adding {
        bevy::tasks::tick_global_task_pools_on_main_thread();
    }
    app.finish();
    app.cleanup();
    app.world_mut().run_schedule(Startup);
    app
}

/// Runs one tick of a built app.
pub fn step(app: &mut App) {
    sim::step(app.world_mut());
}

/// Measured cost of a run.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    pub wall_s: f64,
    pub ticks: u64,
}

impl Timing {
    /// Ticks per wall-clock second.
    pub fn ticks_per_s(&self) -> f64 {
        if self.wall_s > 0.0 { self.ticks as f64 / self.wall_s } else { 0.0 }
    }
}

/// Runs `app` for `ticks` ticks, calling `each` after every tick (for traces and progress).
pub fn run_ticks(app: &mut App, ticks: u64, mut each: impl FnMut(&mut World)) -> Timing {
    let t0 = Instant::now();
    for _ in 0..ticks {
        step(app);
        each(app.world_mut());
    }
    Timing { wall_s: t0.elapsed().as_secs_f64(), ticks }
}

/// What a finished run leaves behind in memory besides its files.
pub struct RunOutcome {
    pub timing: Timing,
    /// Column names and the recorded rows of metrics.csv.
    pub columns: Vec<&'static str>,
    /// How each column summarises the ticks a row covers (as `columns`).
    pub aggs: Vec<sim::Agg>,
    pub rows: Vec<Vec<f64>>,
    /// Each logged event's kind and tick, in log order.
    pub events: Vec<(&'static str, u64)>,
    /// Events not logged because the log's cap was reached.
    pub events_suppressed: u64,
    /// What the caller should tell the user (a `--trace-skip` state no agent was in).
    pub warnings: Vec<String>,
}

/// Why a run to a folder failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Writing an output failed.
    #[error("{}: {}", .0.display(), .1)]
    Io(std::path::PathBuf, std::io::Error),
}

/// How a run to a folder is made.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Also write agents.csv.
    pub trace: bool,
    /// Worker threads.
    pub threads: usize,
    /// The overrides that made the scenario from its file (`--set`, `--ticks`, `--seed`),
    /// recorded in summary.json; scenario.ron holds the result.
    pub overrides: Vec<(String, String)>,
    /// Agent states left out of agents.csv (`--trace-skip parked`).
    pub trace_skip: Vec<String>,
}

/// Runs `scn` headless for its `ticks` without writing anything (a sweep that keeps only
/// its table) and returns the finished app with the run's timing. `progress` is called
/// with the number of ticks done.
pub fn run_in_memory<W: WorldSpec>(scn: &Scenario<W>, threads: usize, progress: impl FnMut(u64)) -> (App, Timing) {
    let mut app = headless_app(scn, Some(threads.max(1)));
    let timing = run_app(&mut app, scn.ticks, None, progress).unwrap_or(Timing { wall_s: 0.0, ticks: 0 });
    (app, timing)
}

/// Runs `ticks` ticks of a built app, tracing into `tracer`, then closes the metrics' last row.
fn run_app(
    app: &mut App,
    ticks: u64,
    mut tracer: Option<&mut output::TraceWriter>,
    mut progress: impl FnMut(u64),
) -> std::io::Result<Timing> {
    let mut done = 0u64;
    let mut trace_err = None;
    let timing = run_ticks(app, ticks, |world| {
        done += 1;
        if let Some(t) = tracer.as_deref_mut()
            && trace_err.is_none()
            && let Err(e) = t.snapshot(world, done)
        {
            trace_err = Some(e);
        }
        progress(done);
    });
    if let Some(e) = trace_err {
        return Err(e);
    }
    app.world_mut().resource_mut::<sim::Metrics>().finish_run(ticks);
    Ok(timing)
}

/// What a finished app holds that a sweep summarises.
pub fn outcome(world: &World, timing: Timing) -> RunOutcome {
    let m = world.resource::<sim::Metrics>();
    let columns = m.columns().to_vec();
    let aggs = columns.iter().map(|c| m.agg(c).unwrap_or(sim::Agg::Last)).collect();
    let log = world.resource::<sim::EventLog>();
    RunOutcome {
        timing,
        columns,
        aggs,
        rows: m.rows().to_vec(),
        events: log.events().iter().map(|e| (e.kind, e.tick)).collect(),
        events_suppressed: log.suppressed(),
        warnings: Vec::new(),
    }
}

/// Runs `scn` headless for its `ticks` and writes metrics.csv, events.jsonl,
/// summary.json, scenario.ron (the scenario as run, every override applied: `masim run`
/// accepts it and reproduces the run) and, when tracing, agents.csv into `dir`, which
/// must exist. `progress` is called with the number of ticks done.
pub fn run_to_dir<W: WorldSpec>(
    scn: &Scenario<W>,
    dir: &std::path::Path,
    opts: &RunOptions,
    progress: impl FnMut(u64),
) -> Result<RunOutcome, RunError> {
    let io = |e: std::io::Error| RunError::Io(dir.to_path_buf(), e);
    let threads = opts.threads.max(1);
    let mut app = headless_app(scn, Some(threads));
    let mut tracer = if opts.trace {
        Some(output::TraceWriter::create(dir, scn.output.trace_every, app.world(), &opts.trace_skip).map_err(io)?)
    } else {
        None
    };
    let timing = run_app(&mut app, scn.ticks, tracer.as_mut(), progress).map_err(io)?;
    let world = app.world();
    output::write_atomic(dir, "metrics.csv", output::metrics_csv(world.resource()).as_bytes()).map_err(io)?;
    output::write_atomic(dir, "events.jsonl", output::events_jsonl(world.resource()).as_bytes()).map_err(io)?;
    let mut warnings = Vec::new();
    if let Some(t) = tracer {
        for s in t.unseen_skips() {
            warnings.push(format!("--trace-skip {s}: no agent was ever in state `{s}`, so it skipped nothing (agents.csv's `state` column names the states)"));
        }
        t.finish().map_err(io)?;
    }
    for t in world.get_resource::<sim::Registry>().map(|r| r.run_tables().to_vec()).unwrap_or_default() {
        let mut text = format!("{}\n", t.header);
        (t.rows)(world, &mut text);
        output::write_atomic(dir, t.file, text.as_bytes()).map_err(io)?;
    }
    let header = "// The scenario as run: every override applied. `masim run` on this file repeats the run.\n";
    output::write_atomic(dir, "scenario.ron", (header.to_string() + &scn.to_ron() + "\n").as_bytes()).map_err(io)?;
    let summary = output::summary(world, scn, &opts.overrides, timing, threads);
    let text = serde_json::to_string_pretty(&summary).unwrap_or_default() + "\n";
    output::write_atomic(dir, "summary.json", text.as_bytes()).map_err(io)?;
    let mut out = outcome(world, timing);
    out.warnings = warnings;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{DEFAULT_SCENARIO, load_str};

    fn rows(app: &App) -> Vec<Vec<f64>> {
        app.world().resource::<sim::Metrics>().rows().to_vec()
    }

    #[test]
    fn reset_equals_a_fresh_app() {
        let s = load_str(DEFAULT_SCENARIO, "builtin").unwrap().with_set("coordination", "Decentralized").unwrap();
        let mut fresh = headless_app(&s, Some(2));
        run_ticks(&mut fresh, 300, |_| {});
        let mut other = headless_app(&s.with_set("world.vehicles", "10").unwrap(), Some(2));
        run_ticks(&mut other, 123, |_| {});
        reset(other.world_mut(), &s);
        run_ticks(&mut other, 300, |_| {});
        assert_eq!(rows(&fresh), rows(&other));
        assert!(!rows(&fresh).is_empty());
    }

    #[test]
    fn live_edit_is_applied_and_replayed() {
        let s = load_str(DEFAULT_SCENARIO, "builtin").unwrap();
        let mut live = headless_app(&s, Some(2));
        run_ticks(&mut live, 100, |_| {});
        live.world_mut().resource_mut::<LiveScenario>().request("coordination", "Centralized").unwrap();
        live.world_mut().resource_mut::<LiveScenario>().request("world.vehicles", "20").unwrap();
        assert!(live.world().resource::<LiveScenario>().check("world.road.length_m", "300").is_err());
        run_ticks(&mut live, 200, |_| {});
        let session = {
            let w = live.world();
            w.resource::<LiveScenario>().session(w)
        };
        assert_eq!(session.edits.len(), 2);
        assert_eq!(session.edits[0].at, 100);
        let replay_text = session.to_ron();
        let replay = load_str(&replay_text, "session").unwrap();
        let mut again = headless_app(&replay, Some(1));
        run_ticks(&mut again, 300, |_| {});
        assert_eq!(rows(&live), rows(&again));
        let agents = live.world().resource::<sim::Metrics>().last("agents").unwrap();
        assert_eq!(agents, 20.0 + 1.0 + 4.0);
    }
}
