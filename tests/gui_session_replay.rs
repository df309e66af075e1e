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
