//! The NaSch ring's fused fast path (`NaschFastPath`, used when nobody communicates) must
//! be indistinguishable from the general perceive → decide → act path: the same metrics,
//! events and every vehicle's components, tick by tick, through the changes that switch
//! between the paths (a crash, a coordination switch with messages in flight, vehicles
//! added and removed live, an automated vehicle, a sensor range shorter than some gaps).

use std::path::Path;

use bevy::prelude::*;
use masim::runner::{headless_app, step};
use masim::scenario::{Edit, Scenario, load_file};
use masim::sim::{Agent, AgentRng, Decision, EventLog, FaultKind, FaultSpec, Metrics, Pose};
use masim::worlds::traffic::Perception;
use masim::worlds::traffic::VEHICLE;
use masim::worlds::traffic::ring::{Cell, NaschFastPath, Vehicle};

fn scenario() -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/traffic_ring_nasch.ron");
    let mut s = load_file(&path).unwrap_or_else(|e| panic!("{e}"));
    for (k, v) in [
        ("world.vehicles", "300"),
        ("world.automated", "2"),
        ("world.driving.sensor_range_m", "60.0"),
        ("output.record_every", "1"),
        ("seed", "3"),
    ] {
        s = s.with_set(k, v).unwrap_or_else(|i| panic!("--set {k}={v}: {}", i.message));
    }
    s.faults.push(FaultSpec {
        at: 40,
        duration: Some(15),
        fault: FaultKind::Crash { kind: Some(VEHICLE), fraction: 0.05, agents: vec![] },
        ended_at: None,
    });
    let edit = |at: u64, set: &str, value: &str| Edit { at, set: set.into(), value: value.into() };
    s.edits = vec![
        edit(90, "coordination", "Decentralized"),
        edit(110, "coordination", "None"),
        edit(150, "world.vehicles", "340"),
        edit(190, "world.vehicles", "280"),
        edit(220, "world.model.p_slow", "0.4"),
    ];
    s
}

/// Everything observable about one tick: metric values, events so far, and each
/// vehicle's components, in id order.
fn observe(app: &mut App) -> (Vec<f64>, usize, Vec<String>) {
    let w = app.world_mut();
    let metrics = w.resource::<Metrics>().current().to_vec();
    let events = w.resource::<EventLog>().events().len();
    let mut q = w.query::<(&Agent, &Vehicle, &Cell, &Pose, &Perception, &Decision, &AgentRng)>();
    let mut cars: Vec<(u32, String)> = q
        .iter(w)
        .map(|(a, v, c, pose, p, d, rng)| (a.id.0, format!("{v:?} {c:?} {pose:?} {p:?} {d:?} {:?}", rng.0)))
        .collect();
    cars.sort();
    (metrics, events, cars.into_iter().map(|c| c.1).collect())
}

#[test]
fn fast_path_matches_general_path() {
    let s = scenario();
    let mut fast = headless_app(&s, None);
    let mut general = headless_app(&s, None);
    general.world_mut().resource_mut::<NaschFastPath>().enabled = false;
    let mut fast_ticks = 0;
    for tick in 0..260 {
        step(&mut fast);
        step(&mut general);
        fast_ticks += u32::from(fast.world().resource::<NaschFastPath>().active());
        assert!(!general.world().resource::<NaschFastPath>().active());
        let (a, b) = (observe(&mut fast), observe(&mut general));
        assert_eq!(a.0, b.0, "metrics differ at tick {tick}");
        assert_eq!(a.1, b.1, "event counts differ at tick {tick}");
        assert_eq!(a.2.len(), b.2.len(), "vehicle counts differ at tick {tick}");
        for (x, y) in a.2.iter().zip(&b.2) {
            assert_eq!(x, y, "a vehicle differs at tick {tick}");
        }
    }
    let ev = |app: &App| format!("{:?}", app.world().resource::<EventLog>().events());
    assert_eq!(ev(&fast), ev(&general));
    // The comparison means something only if both paths ran for long stretches: the
    // crash (40–55), the V2V period and its messages (90–~115) and the vehicle-count
    // changes force the general path; the rest is fast.
    assert!(fast_ticks > 150, "fast path ran only {fast_ticks} of 260 ticks");
    assert!(fast_ticks < 240, "fast path ran {fast_ticks} of 260 ticks: the switches did not happen");
}

/// Enough vehicles that the pass is cut into several chunks for the worker threads:
/// the chunks' tallies must merge to exactly what the general path measures.
#[test]
fn fast_path_matches_general_path_in_many_chunks() {
    let mut s = scenario();
    s.faults.clear();
    s.edits.clear();
    s = s.with_set("world.road.length_m", "150000.0").and_then(|s| s.with_set("world.vehicles", "20000")).unwrap();
    let mut fast = headless_app(&s, Some(2));
    let mut general = headless_app(&s, Some(2));
    general.world_mut().resource_mut::<NaschFastPath>().enabled = false;
    for tick in 0..25 {
        step(&mut fast);
        step(&mut general);
        let (a, b) = (observe(&mut fast), observe(&mut general));
        assert_eq!(a.0, b.0, "metrics differ at tick {tick}");
        assert!(a.2 == b.2, "vehicles differ at tick {tick}");
    }
    assert!(fast.world().resource::<NaschFastPath>().active());
}

/// Jams that start and clear again while the fast path runs: the fast path finds where a
/// jam starts (the jammed vehicle with the lowest id) only on the tick it starts, and its
/// `jam_start` and `jam_end` events must be the general path's, field for field.
#[test]
fn fast_path_reports_jams_that_start_and_clear_like_the_general_path() {
    let mut s = scenario();
    s.faults.clear();
    s.edits.clear();
    // Just above the critical density (about 0.1 vehicles per cell at p = 0.25): jams are short-lived,
    // so they start and end many times.
    for (k, v) in [("world.road.length_m", "15000.0"), ("world.vehicles", "220"), ("world.model.p_slow", "0.25")] {
        s = s.with_set(k, v).unwrap_or_else(|i| panic!("--set {k}={v}: {}", i.message));
    }
    let mut fast = headless_app(&s, None);
    let mut general = headless_app(&s, None);
    general.world_mut().resource_mut::<NaschFastPath>().enabled = false;
    let mut fast_ticks = Vec::new();
    for tick in 0..1500u64 {
        step(&mut fast);
        step(&mut general);
        if fast.world().resource::<NaschFastPath>().active() {
            fast_ticks.push(tick);
        }
        assert_eq!(observe(&mut fast).0, observe(&mut general).0, "metrics differ at tick {tick}");
    }
    let events = |app: &App| app.world().resource::<EventLog>().events().to_vec();
    let (a, b) = (events(&fast), events(&general));
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
    let starts: Vec<u64> = a.iter().filter(|e| e.kind == "jam_start").map(|e| e.tick).collect();
    let on_fast = starts.iter().filter(|t| fast_ticks.binary_search(t).is_ok()).count();
    assert!(on_fast >= 3, "only {on_fast} of {} jam starts fell on fast-path ticks", starts.len());
    assert!(a.iter().any(|e| e.kind == "jam_end"));
}
