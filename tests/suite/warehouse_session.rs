//! A live session — cells blocked and unblocked and a charger outage injected on the
//! world's own timeline (what the app's clicks do), live edits of the robot count, the
//! coordination, the planner and the battery thresholds — exported part way and replayed
//! headless gives byte-identical metrics and events; a reset equals a fresh run.

use std::path::Path;

use masim::runner::{self, LiveScenario, headless_app, output, run_ticks};
use masim::scenario;
use masim::worlds::warehouse::{EventKind, Floor, WarehouseEvent, WorldEvents};

fn outputs(world: &bevy::prelude::World) -> (String, String) {
    (output::metrics_csv(world.resource()), output::events_jsonl(world.resource()))
}

fn block(world: &mut bevy::prelude::World, row: u32, col: u32) -> u32 {
    let at = world.resource::<masim::sim::SimClock>().tick;
    world.resource_mut::<WorldEvents>().inject(WarehouseEvent {
        at,
        duration: None,
        event: EventKind::BlockCell { row, col },
        ended_at: None,
    })
}

#[test]
fn a_live_session_with_world_events_replays_byte_identically() {
    let base = scenario::load_file(Path::new("scenarios/warehouse_small.ron")).expect("loads");
    let mut live = headless_app(&base, Some(1));
    run_ticks(&mut live, 120, |_| {});
    let w = live.world_mut();
    let b1 = block(w, 7, 12);
    block(w, 2, 20);
    let at = w.resource::<masim::sim::SimClock>().tick;
    w.resource_mut::<WorldEvents>().inject(WarehouseEvent {
        at,
        duration: Some(150),
        event: EventKind::ChargerOutage { charger: 1 },
        ended_at: None,
    });
    let mut l = w.resource_mut::<LiveScenario>();
    l.request("world.robots", "26").expect("robots");
    l.request("coordination", "Decentralized").expect("coordination");
    l.request("world.battery.charge_below", "0.3").expect("threshold");
    assert!(l.request("world.map", "\"x\"").is_err(), "the floor is fixed at start");
    run_ticks(&mut live, 100, |_| {});
    let w = live.world_mut();
    assert!(!w.resource::<Floor>().blocked.is_empty(), "a block took effect");
    w.resource_mut::<WorldEvents>().timeline.end(b1);
    w.resource_mut::<LiveScenario>().request("world.planner.kind", "Whca").expect("planner");
    w.resource_mut::<LiveScenario>().request("coordination", "Centralized").expect("back");
    run_ticks(&mut live, 80, |_| {});
    let session = {
        let w = live.world();
        w.resource::<LiveScenario>().session_so_far(w)
    };
    let masim::scenario::WorldConfig::Warehouse(ws) = &session.world else { panic!("a warehouse") };
    assert_eq!(ws.events.len(), 3, "{:?}", ws.events);
    assert!(ws.events.iter().any(|e| e.ended_at.is_some()), "the ended block is recorded: {:?}", ws.events);
    let text = session.to_ron();
    let replay = scenario::load_str(&text, "session.ron").unwrap_or_else(|e| panic!("{e}\n{text}"));
    let mut again = headless_app(&replay, Some(1));
    run_ticks(&mut again, replay.ticks, |_| {});
    let (m1, e1) = outputs(live.world());
    let (m2, e2) = outputs(again.world());
    assert_eq!(m1, m2, "metrics differ");
    assert_eq!(e1, e2, "events differ");
    for k in
        ["\"cell_blocked\"", "\"cell_unblocked\"", "\"charger_outage\"", "\"charger_online\"", "\"robots_changed\""]
    {
        assert!(e1.contains(k), "{k} missing");
    }
}

#[test]
fn reset_equals_a_fresh_run() {
    let s = scenario::load_file(Path::new("scenarios/warehouse_chargers.ron")).expect("loads");
    let mut fresh = headless_app(&s, Some(1));
    run_ticks(&mut fresh, 300, |_| {});
    let mut other = headless_app(&s.with_set("world.robots", "11").expect("valid"), Some(1));
    run_ticks(&mut other, 77, |_| {});
    runner::reset(other.world_mut(), &s);
    run_ticks(&mut other, 300, |_| {});
    assert_eq!(outputs(fresh.world()), outputs(other.world()));
}
