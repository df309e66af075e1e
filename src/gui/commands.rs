//! What the panel's buttons do, as plain functions on the `World`: live edits, fault injection,
//! reset, open, save and session export. Kept apart from egui so tests can drive them headless.

use std::path::Path;

use crate::runner::{self, LiveScenario};
use crate::scenario::{self, Scenario};
use crate::sim::{AgentKind, FaultKind, FaultSpec, Faults, Rect, SimClock};
use crate::worlds::WorldSpec;
use bevy::prelude::*;

use super::{ScenarioOrigin, Selection};

/// Asks the core to set `path` to `value` at the next tick (recorded for session export).
pub fn request_edit(world: &mut World, path: &str, value: &str) -> Result<(), String> {
    world.resource_mut::<LiveScenario>().request(path, value)
}

/// Injects `fault` at the next tick for `duration` ticks (`None`: until ended); returns its id.
pub fn inject_fault(world: &mut World, fault: FaultKind, duration: Option<u64>) -> u32 {
    let at = world.resource::<SimClock>().tick;
    world.resource_mut::<Faults>().inject(FaultSpec { at, duration, fault, ended_at: None })
}

/// Crash `fraction` of the agents of `kind` (all kinds when `None`).
pub fn crash_fraction(world: &mut World, kind: Option<AgentKind>, fraction: f64, duration: Option<u64>) -> u32 {
    inject_fault(world, FaultKind::Crash { kind, fraction, agents: Vec::new() }, duration)
}

/// Ends an active fault at the next tick.
pub fn end_fault(world: &mut World, id: u32) {
    world.resource_mut::<Faults>().end(id);
}

/// Splits `bounds` into two halves (west and east) that cannot talk to each other.
pub fn partition_halves(min: Vec2, max: Vec2) -> FaultKind {
    let mid = (min.x + max.x) * 0.5;
    let margin = 1.0;
    FaultKind::Partition { regions: vec![Rect { x0: min.x - margin, y0: min.y - margin, x1: mid, y1: max.y + margin }] }
}

/// One quadrant (0 = north-east, 1 = north-west, 2 = south-west, 3 = south-east) of `bounds`.
pub fn quadrant(min: Vec2, max: Vec2, q: u8) -> Rect {
    let c = (min + max) * 0.5;
    let (x0, x1) = if q == 0 || q == 3 { (c.x, max.x + 1.0) } else { (min.x - 1.0, c.x) };
    let (y0, y1) = if q <= 1 { (c.y, max.y + 1.0) } else { (min.y - 1.0, c.y) };
    Rect { x0, y0, x1, y1 }
}

/// Starts over with `scenario`: same result as a fresh app built from it.
pub fn reset_to(world: &mut World, scenario: &Scenario) {
    runner::reset(world, scenario);
    if let Some(mut sel) = world.get_resource_mut::<Selection>() {
        sel.agent = None;
        sel.history.clear();
    }
}

/// Starts over with the settings in force (live edits kept) and seed `seed`.
pub fn reset_with_seed(world: &mut World, seed: u64) {
    let mut s = world.resource::<LiveScenario>().current.clone();
    s.seed = seed;
    s.edits.clear();
    reset_to(world, &s);
}

/// Why a file cannot be opened in this window: an app is built for one world variant (its
/// systems are, say, the ring's or the city's), so switching between them needs a new window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenError {
    /// The file does not load or validate.
    Invalid(String),
    /// The file is valid but drives the other kind of road.
    OtherWorld(String),
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenError::Invalid(m) | OpenError::OtherWorld(m) => f.write_str(m),
        }
    }
}

/// Loads a scenario file and starts over with it (same kind of road only; see [`OpenError`]).
pub fn open_file(world: &mut World, path: &Path) -> Result<(), OpenError> {
    let s = scenario::load_file(path).map_err(|e| OpenError::Invalid(e.to_string()))?;
    let here = world.resource::<LiveScenario>().current.world.variant();
    let new = s.world.variant();
    if here != new {
        return Err(OpenError::OtherWorld(format!(
            "{} is a {} scenario and this window runs {here}; open it in a new window (`masim gui {}`)",
            path.display(),
            new.replace('/', " "),
            path.display()
        )));
    }
    reset_to(world, &s);
    world.insert_resource(ScenarioOrigin(path.display().to_string()));
    Ok(())
}

/// The settings in force as a scenario file `masim run` accepts (no timeline of edits).
pub fn settings_ron(world: &World) -> String {
    let mut s = world.resource::<LiveScenario>().current.clone();
    s.edits.clear();
    s.to_ron()
}

/// The session so far as a scenario: the initial scenario plus every live edit, fault and
/// world event with its tick, run for exactly the ticks simulated so far (what was still
/// to come is left out), so `masim run` accepts it and reproduces what was seen.
pub fn session(world: &World) -> Scenario {
    world.resource::<LiveScenario>().session_so_far(world)
}

/// [`session`] as RON text with a header saying how to replay it.
pub fn session_ron(world: &World) -> String {
    let s = session(world);
    let header = format!(
        "// masim session recorded in the desktop app: {} ticks with every live change and fault.\n// Replay headless: masim run THIS_FILE\n",
        s.ticks
    );
    header + &s.to_ron()
}

/// Writes `text` to `path`, refusing to leave a half-written file behind.
pub fn write_file(path: &Path, text: &str) -> Result<(), String> {
    let tmp = path.with_extension("ron.tmp");
    std::fs::write(&tmp, text).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Scenario files in `dir` (sorted), for the open menu.
pub fn list_scenarios(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "ron"))
        .collect();
    v.sort();
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::worlds::traffic::city::CityMap;

    fn scenario(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios").join(name)
    }

    #[test]
    fn opens_the_same_kind_of_road_only() {
        let grid = scenario::load_file(&scenario("traffic_grid.ron")).expect("grid scenario");
        let mut app = runner::headless_app(&grid, Some(1));
        let world = app.world_mut();
        world.init_resource::<Selection>();
        let nodes = world.resource::<CityMap>().0.nodes.len();
        open_file(world, &scenario("traffic_gridlock.ron")).expect("a city opens in a city window");
        assert_ne!(world.resource::<CityMap>().0.nodes.len(), nodes, "the map was not replaced");
        assert_eq!(world.resource::<ScenarioOrigin>().0, scenario("traffic_gridlock.ron").display().to_string());
        match open_file(world, &scenario("traffic_ring.ron")) {
            Err(OpenError::OtherWorld(m)) => assert!(m.contains("new window"), "{m}"),
            other => panic!("a ring opened in a city window: {other:?}"),
        }
        assert!(matches!(open_file(world, &scenario("no_such_file.ron")), Err(OpenError::Invalid(_))));
    }

    #[test]
    fn quadrants_cover_the_box() {
        let (min, max) = (Vec2::new(-10.0, -10.0), Vec2::new(10.0, 10.0));
        assert!(quadrant(min, max, 0).contains(5.0, 5.0));
        assert!(quadrant(min, max, 1).contains(-5.0, 5.0));
        assert!(quadrant(min, max, 2).contains(-5.0, -5.0));
        assert!(quadrant(min, max, 3).contains(5.0, -5.0));
        assert!(!quadrant(min, max, 0).contains(-5.0, -5.0));
    }
}
