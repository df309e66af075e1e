//! A session recorded through the desktop app's commands (live edits, fault buttons) replays
//! headless, from the exported RON, to byte-identical metrics and events.
#![cfg(feature = "gui")]

use masim::gui::commands;
use masim::runner::{self, output};
use masim::scenario::{self, DEFAULT_SCENARIO};
use masim::sim::FaultKind;
use masim::worlds::traffic::VEHICLE;

fn outputs(world: &bevy::prelude::World) -> (String, String) {
    (output::metrics_csv(world.resource()), output::events_jsonl(world.resource()))
}

#[test]
fn recorded_session_replays_byte_identically() {
    // A scenario that already has a fault on its timeline, so injected faults are numbered
    // after it: replay must not depend on the order faults were numbered in.
    let mut base = scenario::load_str(DEFAULT_SCENARIO, "builtin").expect("default scenario");
    base.faults.push(masim::sim::FaultSpec {
        at: 450,
        duration: Some(100),
        fault: FaultKind::Loss { loss: 0.2 },
        ended_at: None,
    });
    base.coordination = masim::sim::Coordination::Decentralized;

    let mut app = runner::headless_app(&base, Some(1));
    let run = |app: &mut bevy::app::App, n: u64| {
        for _ in 0..n {
            runner::step(app);
        }
    };
    run(&mut app, 100);
    let w = app.world_mut();
    commands::request_edit(w, "channel.loss", "0.3").expect("loss is live-editable");
    let crash = commands::crash_fraction(w, Some(VEHICLE), 0.25, Some(150));
    run(&mut app, 120);
    let w = app.world_mut();
    commands::request_edit(w, "coordination", "Centralized").expect("coordination is live-editable");
    commands::request_edit(w, "world.vehicles", "18").expect("vehicle count is live-editable");
    let blackout = commands::inject_fault(
        w,
        FaultKind::Blackout {
            region: commands::quadrant(bevy::math::Vec2::splat(-40.0), bevy::math::Vec2::splat(40.0), 1),
        },
        None,
    );
    run(&mut app, 80);
    let w = app.world_mut();
    commands::end_fault(w, blackout);
    commands::crash_fraction(w, None, 0.1, Some(50));
    commands::request_edit(w, "world.model.v0", "12.5").expect("v0 is live-editable");
    run(&mut app, 300);
    assert_ne!(crash, blackout);

    let text = commands::session_ron(app.world());
    let replay = scenario::load_str(&text, "session").unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(replay.ticks, 600);
    assert_eq!(replay.edits.len(), 4, "{text}");
    let mut again = runner::headless_app(&replay, Some(1));
    run(&mut again, replay.ticks);
    let (m1, e1) = outputs(app.world());
    let (m2, e2) = outputs(again.world());
    assert!(e1.contains("fault_start") && e1.contains("edit"), "{e1}");
    assert_eq!(m1, m2, "metrics differ between the live session and its replay");
    // A fault ended by hand is exported with its planned duration and `ended_at`, so
    // the replay's event log is byte-identical too.
    assert!(replay.faults.iter().any(|f| f.ended_at.is_some()), "no fault recorded as ended by hand");
    assert_eq!(e1, e2, "events differ between the live session and its replay");
}

/// Exporting part way through a scenario with faults and edits still to come writes a file
/// `masim run` accepts (what was to come is left out) and that replays what was seen.
#[test]
fn a_session_exported_part_way_is_accepted_and_replays() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/traffic_ring_faults.ron");
    let mut base = scenario::load_file(&path).expect("faults scenario");
    base.edits.push(masim::scenario::Edit { at: 2000, set: "channel.loss".into(), value: "0.5".into() });
    base.edits.push(masim::scenario::Edit { at: 100, set: "coordination".into(), value: "Centralized".into() });
    assert!(base.faults.iter().all(|f| f.at > 420), "the scenario's faults are all later than the export");
    let mut app = runner::headless_app(&base, Some(1));
    for _ in 0..420 {
        runner::step(&mut app);
    }
    commands::crash_fraction(app.world_mut(), Some(VEHICLE), 0.2, Some(1000));
    runner::step(&mut app);
    let text = commands::session_ron(app.world());
    let replay = scenario::load_str(&text, "session").unwrap_or_else(|e| panic!("refused: {e}\n{text}"));
    assert_eq!(replay.ticks, 421);
    assert_eq!(replay.faults.len(), 1, "only the crash that happened: {:?}", replay.faults);
    assert_eq!(replay.edits.len(), 1, "only the edit that happened: {:?}", replay.edits);
    let mut again = runner::headless_app(&replay, Some(1));
    for _ in 0..replay.ticks {
        runner::step(&mut again);
    }
    assert_eq!(outputs(app.world()), outputs(again.world()));
}
