//! Fault injection on the traffic ring, through the headless app: scheduled crashes by
//! fraction and by id, recovery after `duration`, the run-time API (`Faults::inject`,
//! `Faults::end`), crashed vehicles stopping and falling silent, loss and latency faults
//! changing the channel's effective values and restoring them, and the event log.

use std::path::Path;

use bevy::prelude::*;
use masim::runner;
use masim::scenario::{self, Scenario, WorldConfig};
use masim::sim::{
    Agent, AgentKind, Channel, Coordination, Crashed, EventLog, FaultKind, FaultSpec, Faults, Inbox, Pose, SimClock,
};
use masim::worlds::traffic::Vehicle;
use masim::worlds::traffic::{CONTROLLER, VEHICLE};

fn ring() -> Scenario {
    scenario::load_file(Path::new("scenarios/traffic_ring.ron")).expect("traffic_ring.ron loads")
}

fn nasch() -> Scenario {
    scenario::load_file(Path::new("scenarios/traffic_ring_nasch.ron")).expect("traffic_ring_nasch.ron loads")
}

fn vehicle_count(s: &Scenario) -> usize {
    let WorldConfig::Traffic(t) = &s.world else { panic!("a traffic scenario") };
    t.vehicles as usize
}

fn crash(kind: Option<AgentKind>, fraction: f64, agents: Vec<u32>) -> FaultKind {
    FaultKind::Crash { kind, fraction, agents }
}

fn app(s: &Scenario) -> App {
    runner::headless_app(s, None)
}

fn tick(app: &App) -> u64 {
    app.world().resource::<SimClock>().tick
}

/// Crashed agents: (id, kind, since), by id.
fn crashed(app: &mut App) -> Vec<(u32, AgentKind, u64)> {
    let mut q = app.world_mut().query::<(&Agent, &Crashed)>();
    let mut v: Vec<_> = q.iter(app.world()).map(|(a, c)| (a.id.0, a.kind, c.since)).collect();
    v.sort();
    v
}

fn events(app: &App, kind: &str) -> Vec<serde_json::Value> {
    app.world()
        .resource::<EventLog>()
        .events()
        .iter()
        .filter(|e| e.kind == kind)
        .map(|e| serde_json::to_value(e).expect("event serializes"))
        .collect()
}

/// Steps until the clock reads `t` (the number of ticks completed).
fn run_to(app: &mut App, t: u64) {
    while tick(app) < t {
        runner::step(app);
    }
}

#[test]
fn crash_by_fraction_hits_round_fraction_of_the_kind_at_its_tick_and_recovers() {
    for (fraction, want) in [(0.1, 2usize), (0.25, 6), (0.5, 11), (1.0, 22)] {
        let mut s = ring();
        let n = vehicle_count(&s);
        assert_eq!(n, 22);
        assert_eq!(want, (fraction * n as f64).round() as usize);
        s.faults = vec![FaultSpec {
            at: 100,
            duration: Some(200),
            fault: crash(Some(VEHICLE), fraction, vec![]),
            ended_at: None,
        }];
        let mut a = app(&s);
        run_to(&mut a, 100);
        assert!(crashed(&mut a).is_empty(), "crash before its tick");
        runner::step(&mut a); // tick 100
        let c = crashed(&mut a);
        assert_eq!(c.len(), want, "fraction {fraction}");
        assert!(c.iter().all(|&(_, k, since)| k == VEHICLE && since == 100), "{c:?}");
        run_to(&mut a, 300);
        assert_eq!(crashed(&mut a).len(), want, "still crashed just before the end");
        runner::step(&mut a); // tick 300: 100 + duration
        assert!(crashed(&mut a).is_empty(), "recovered after duration");

        let start = events(&a, "fault_start");
        assert_eq!(start.len(), 1);
        assert_eq!(start[0]["tick"], 100);
        assert_eq!(start[0]["type"], "crash");
        assert_eq!(start[0]["crashed"], want);
        assert_eq!(start[0]["duration"], 200);
        let end = events(&a, "fault_end");
        assert_eq!(end.len(), 1);
        assert_eq!(end[0]["tick"], 300);
        assert_eq!(end[0]["recovered"], want);
        assert_eq!(end[0]["fault"], start[0]["fault"]);
    }
}

#[test]
fn crash_choice_depends_on_the_seed_only() {
    let pick = |seed: u64| {
        let mut s = ring();
        s.seed = seed;
        s.faults = vec![FaultSpec { at: 5, duration: None, fault: crash(Some(VEHICLE), 0.25, vec![]), ended_at: None }];
        let mut a = app(&s);
        run_to(&mut a, 6);
        crashed(&mut a).into_iter().map(|c| c.0).collect::<Vec<_>>()
    };
    assert_eq!(pick(1), pick(1));
    let picks: Vec<Vec<u32>> = (1..6).map(pick).collect();
    assert!(picks.iter().any(|p| *p != picks[0]), "the choice never varies with the seed: {picks:?}");
}

#[test]
fn crash_of_controllers_by_kind_and_of_listed_ids() {
    let mut s = ring();
    s.faults = vec![
        FaultSpec { at: 10, duration: None, fault: crash(Some(CONTROLLER), 1.0, vec![]), ended_at: None },
        FaultSpec { at: 20, duration: Some(5), fault: crash(None, 0.0, vec![3, 7]), ended_at: None },
    ];
    let mut a = app(&s);
    run_to(&mut a, 11);
    let c = crashed(&mut a);
    assert_eq!(c.len(), 5, "central + 4 sector controllers: {c:?}");
    assert!(c.iter().all(|x| x.1 == CONTROLLER));
    run_to(&mut a, 21);
    let ids: Vec<u32> = crashed(&mut a).into_iter().filter(|c| c.1 == VEHICLE).map(|c| c.0).collect();
    assert_eq!(ids, vec![3, 7]);
    run_to(&mut a, 26);
    let c = crashed(&mut a);
    assert_eq!(c.len(), 5, "listed vehicles recover, the controllers (for good) do not: {c:?}");
}

#[test]
fn overlapping_crashes_recover_only_when_the_last_one_ends() {
    let mut s = ring();
    s.faults = vec![
        FaultSpec { at: 10, duration: Some(10), fault: crash(None, 0.0, vec![4]), ended_at: None },
        FaultSpec { at: 15, duration: Some(20), fault: crash(None, 0.0, vec![4, 5]), ended_at: None },
    ];
    let mut a = app(&s);
    run_to(&mut a, 25);
    let ids: Vec<u32> = crashed(&mut a).into_iter().map(|c| c.0).collect();
    assert!(ids.contains(&4), "agent 4 is still held by the second fault: {ids:?}");
    run_to(&mut a, 36);
    assert!(crashed(&mut a).is_empty());
}

#[test]
fn crashed_vehicles_stop_and_fall_silent_idm() {
    let mut s = ring();
    s.coordination = Coordination::Decentralized;
    s.faults =
        vec![FaultSpec { at: 100, duration: Some(300), fault: crash(Some(VEHICLE), 0.25, vec![]), ended_at: None }];
    let mut a = app(&s);
    let mut sent = Vec::new();
    let mut crashed_inbox = 0usize;
    while tick(&a) < 600 {
        runner::step(&mut a);
        sent.push(a.world().resource::<Channel>().stats.sent);
        let mut q = a.world_mut().query_filtered::<&Inbox, With<Crashed>>();
        crashed_inbox += q.iter(a.world()).map(|i| i.0.len()).sum::<usize>();
        if tick(&a) == 350 {
            let mut q = a.world_mut().query_filtered::<(&Vehicle, &Pose), With<Crashed>>();
            let speeds: Vec<(f64, f32)> = q.iter(a.world()).map(|(v, p)| (v.speed, p.speed)).collect();
            assert_eq!(speeds.len(), 6);
            assert!(speeds.iter().all(|&(v, p)| v == 0.0 && p == 0.0), "crashed vehicles still moving: {speeds:?}");
        }
    }
    // Every vehicle beacons every tick; messages queued in tick t are counted in t + 1.
    assert!(sent[10..100].iter().all(|&n| n == 22), "{:?}", &sent[10..100]);
    assert!(sent[102..400].iter().all(|&n| n == 16), "crashed vehicles sent: {:?}", &sent[102..400]);
    assert!(sent[402..600].iter().all(|&n| n == 22), "recovered vehicles are silent: {:?}", &sent[402..600]);
    assert_eq!(crashed_inbox, 0, "a crashed vehicle received messages");
}

/// Crashes a quarter of the vehicles from tick 100 to 400 (the rest queue up behind them
/// and stop too) and returns the mean speed at tick 700.
fn mean_speed_after_recovery(coordination: Coordination) -> f64 {
    let mut s = ring();
    s.coordination = coordination;
    s.faults =
        vec![FaultSpec { at: 100, duration: Some(300), fault: crash(Some(VEHICLE), 0.25, vec![]), ended_at: None }];
    let mut a = app(&s);
    run_to(&mut a, 390);
    let mut q = a.world_mut().query::<&Vehicle>();
    let stopped = q.iter(a.world()).map(|v| v.speed).sum::<f64>() / 22.0;
    assert!(stopped < 0.1, "the ring should have come to a standstill: mean speed {stopped}");
    run_to(&mut a, 700);
    let mut q = a.world_mut().query::<&Vehicle>();
    q.iter(a.world()).map(|v| v.speed).sum::<f64>() / 22.0
}

#[test]
fn traffic_restarts_after_recovery() {
    let mean = mean_speed_after_recovery(Coordination::None);
    assert!(mean > 1.0, "traffic did not restart after recovery: mean speed {mean}");
}

/// Cooperative vehicles follow the consensus speed of the V2V beacons they hear; once
/// every vehicle has stopped that consensus is 0, so the target has a floor from the
/// vehicle's own gap or nobody would ever move again.
#[test]
fn cooperative_traffic_restarts_after_recovery() {
    let mean = mean_speed_after_recovery(Coordination::Decentralized);
    assert!(mean > 1.0, "traffic did not restart after recovery: mean speed {mean}");
}

#[test]
fn crashed_vehicles_stop_nasch() {
    let mut s = nasch();
    s.faults = vec![FaultSpec { at: 50, duration: None, fault: crash(Some(VEHICLE), 0.1, vec![]), ended_at: None }];
    let mut a = app(&s);
    run_to(&mut a, 50);
    let positions = |a: &mut App| {
        let mut q = a.world_mut().query_filtered::<(&Agent, &Vehicle), With<Crashed>>();
        let mut v: Vec<(u32, f64, f64)> = q.iter(a.world()).map(|(ag, v)| (ag.id.0, v.pos, v.speed)).collect();
        v.sort_by_key(|x| x.0);
        v
    };
    run_to(&mut a, 60);
    let p60 = positions(&mut a);
    assert_eq!(p60.len(), 20);
    run_to(&mut a, 100);
    let p100 = positions(&mut a);
    assert_eq!(p60, p100, "crashed NaSch vehicles moved");
    assert!(p100.iter().all(|x| x.2 == 0.0));
}

#[test]
fn runtime_inject_and_end() {
    let mut s = ring();
    s.coordination = Coordination::Decentralized;
    let timeline_len = s.faults.len() as u32;
    let mut a = app(&s);
    run_to(&mut a, 20);
    let now = tick(&a);
    let id = a.world_mut().resource_mut::<Faults>().inject(FaultSpec {
        at: now,
        duration: None,
        fault: crash(None, 0.0, vec![5, 6]),
        ended_at: None,
    });
    assert!(id >= timeline_len);
    assert!(crashed(&mut a).is_empty(), "takes effect at the next tick");
    runner::step(&mut a);
    assert_eq!(crashed(&mut a).iter().map(|c| c.0).collect::<Vec<_>>(), vec![5, 6]);
    assert_eq!(a.world().resource::<Faults>().active().len(), 1);
    run_to(&mut a, 40);
    assert_eq!(crashed(&mut a).len(), 2, "a fault without duration lasts");
    a.world_mut().resource_mut::<Faults>().end(id);
    runner::step(&mut a);
    assert!(crashed(&mut a).is_empty());
    assert!(a.world().resource::<Faults>().active().is_empty());
    let start = events(&a, "fault_start");
    let end = events(&a, "fault_end");
    assert_eq!((start.len(), end.len()), (1, 1));
    assert_eq!(start[0]["tick"], 20);
    assert_eq!(start[0]["fault"], id);
    assert_eq!(end[0]["tick"], 40);
    assert_eq!(end[0]["recovered"], 2);

    // A run-time fault with a duration ends by itself; one set in the future waits.
    let now = tick(&a);
    a.world_mut().resource_mut::<Faults>().inject(FaultSpec {
        at: now + 10,
        duration: Some(5),
        fault: FaultKind::Loss { loss: 1.0 },
        ended_at: None,
    });
    run_to(&mut a, now + 10);
    assert_eq!(a.world().resource::<Channel>().effective_loss(), 0.0);
    runner::step(&mut a);
    assert_eq!(a.world().resource::<Channel>().effective_loss(), 1.0);
    run_to(&mut a, now + 15);
    assert_eq!(a.world().resource::<Channel>().effective_loss(), 1.0);
    runner::step(&mut a);
    assert_eq!(a.world().resource::<Channel>().effective_loss(), 0.0);
    // With every copy lost, nothing was delivered while it lasted.
    let totals_before = a.world().resource::<Channel>().totals;
    assert!(totals_before.dropped_loss > 0);
}

#[test]
fn loss_and_latency_faults_change_the_channel_and_restore_it() {
    let mut s = ring();
    s.coordination = Coordination::Decentralized;
    s.channel.loss = 0.2;
    s.faults = vec![
        FaultSpec { at: 50, duration: Some(100), fault: FaultKind::Loss { loss: 0.5 }, ended_at: None },
        FaultSpec { at: 200, duration: Some(50), fault: FaultKind::Latency { extra_ticks: 3 }, ended_at: None },
    ];
    let mut a = app(&s);
    let mut rows = Vec::new();
    while tick(&a) < 300 {
        runner::step(&mut a);
        let ch = a.world().resource::<Channel>();
        rows.push((ch.effective_loss(), ch.effective_latency(), ch.stats));
    }
    let near = |x: f64, y: f64| (x - y).abs() < 1e-12;
    for (t, (loss, lat, _)) in rows.iter().enumerate() {
        let want_loss = if (50..150).contains(&t) { 1.0 - 0.8 * 0.5 } else { 0.2 };
        let want_lat = if (200..250).contains(&t) { 4 } else { 1 };
        assert!(near(*loss, want_loss), "tick {t}: loss {loss}, want {want_loss}");
        assert_eq!(*lat, want_lat, "tick {t}");
    }
    // Observed loss of reachable copies follows the effective value.
    let observed = |r: std::ops::Range<usize>| {
        let (lost, got) = rows[r].iter().fold((0u64, 0u64), |(l, g), x| (l + x.2.dropped_loss, g + x.2.delivered));
        lost as f64 / (lost + got) as f64
    };
    let (before, during, after) = (observed(5..50), observed(52..150), observed(155..200));
    assert!((before - 0.2).abs() < 0.03, "before {before}");
    assert!((during - 0.6).abs() < 0.03, "during {during}");
    assert!((after - 0.2).abs() < 0.03, "after {after}");
    // Observed latency: 1 tick normally, 1 + 3 while the latency fault is in force.
    for (t, (_, _, st)) in rows.iter().enumerate() {
        if st.delivered == 0 {
            continue;
        }
        let m = st.mean_latency();
        if (10..200).contains(&t) || (260..300).contains(&t) {
            assert_eq!(m, 1.0, "tick {t}");
        } else if (205..250).contains(&t) {
            assert_eq!(m, 4.0, "tick {t}");
        }
    }
    let starts: Vec<(u64, String)> = events(&a, "fault_start")
        .iter()
        .map(|e| (e["tick"].as_u64().unwrap_or(0), e["type"].as_str().unwrap_or("").to_string()))
        .collect();
    assert_eq!(starts, vec![(50, "loss".to_string()), (200, "latency".to_string())]);
    let ends: Vec<u64> = events(&a, "fault_end").iter().map(|e| e["tick"].as_u64().unwrap_or(0)).collect();
    assert_eq!(ends, vec![150, 250]);
}

#[test]
fn crash_fraction_without_kind_draws_from_every_agent() {
    let mut s = ring();
    s.faults = vec![FaultSpec { at: 3, duration: None, fault: crash(None, 0.5, vec![]), ended_at: None }];
    let n = s.agent_count() as usize; // 22 vehicles, the central and 4 sector controllers
    let mut a = app(&s);
    run_to(&mut a, 4);
    assert_eq!(crashed(&mut a).len(), (0.5 * n as f64).round() as usize);
}

/// Cells of the vehicles in ring order.
fn cells_in_order(a: &mut App) -> (u32, Vec<u32>) {
    let ring = a.world().resource::<masim::worlds::traffic::RingRoad>().clone();
    let cells = ring
        .order
        .iter()
        .map(|e| a.world().get::<masim::worlds::traffic::ring::Cell>(*e).expect("cell").cell)
        .collect();
    (ring.cells, cells)
}

#[test]
fn crashes_never_make_nasch_vehicles_collide() {
    for seed in [1u64, 2, 3] {
        let mut s = nasch();
        s.seed = seed;
        s.faults =
            vec![FaultSpec { at: 30, duration: Some(100), fault: crash(Some(VEHICLE), 0.3, vec![]), ended_at: None }];
        let mut a = app(&s);
        while tick(&a) < 250 {
            runner::step(&mut a);
            let (n, cells) = cells_in_order(&mut a);
            let mut sorted = cells.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), cells.len(), "seed {seed}, tick {}: two vehicles share a cell", tick(&a));
            let lap: u64 = (0..cells.len()).map(|k| u64::from((cells[(k + 1) % cells.len()] + n - cells[k]) % n)).sum();
            assert_eq!(lap, u64::from(n), "seed {seed}, tick {}: a vehicle passed another", tick(&a));
        }
    }
}

#[test]
fn crashes_never_make_idm_vehicles_overlap() {
    let mut s = ring();
    s.faults =
        vec![FaultSpec { at: 30, duration: Some(300), fault: crash(Some(VEHICLE), 0.3, vec![]), ended_at: None }];
    let mut a = app(&s);
    while tick(&a) < 500 {
        runner::step(&mut a);
        let ring = a.world().resource::<masim::worlds::traffic::RingRoad>().clone();
        let pos: Vec<f64> = ring.order.iter().map(|e| a.world().get::<Vehicle>(*e).expect("vehicle").pos).collect();
        let n = pos.len();
        let mut lap = 0.0;
        for k in 0..n {
            let gap = (pos[(k + 1) % n] - pos[k]).rem_euclid(ring.length);
            assert!(gap >= 4.5 - 1e-6, "tick {}: vehicles {k} and {} overlap (gap {gap})", tick(&a), (k + 1) % n);
            lap += gap;
        }
        assert!((lap - ring.length).abs() < 1e-6, "tick {}: a vehicle passed another", tick(&a));
    }
}

#[test]
fn a_session_with_runtime_faults_replays_identically() {
    // What the desktop app does: inject and end faults while running, then export the
    // session; `masim run` of the export must reproduce the run exactly.
    let mut s = ring();
    s.coordination = Coordination::Decentralized;
    s.ticks = 400;
    let mut live = app(&s);
    run_to(&mut live, 50);
    let crash_id = live.world_mut().resource_mut::<Faults>().inject(FaultSpec {
        at: 50,
        duration: None,
        fault: crash(Some(VEHICLE), 0.2, vec![]),
        ended_at: None,
    });
    run_to(&mut live, 90);
    live.world_mut().resource_mut::<Faults>().inject(FaultSpec {
        at: 90,
        duration: Some(40),
        fault: FaultKind::Loss { loss: 0.7 },
        ended_at: None,
    });
    run_to(&mut live, 120);
    live.world_mut().resource_mut::<Faults>().end(crash_id);
    run_to(&mut live, 400);

    let session = {
        let w = live.world();
        w.resource::<runner::LiveScenario>().session(w)
    };
    assert_eq!(session.faults.len(), 2, "{:?}", session.faults);
    // Ended by hand at 120: planned duration kept (none: until ended), the click recorded.
    assert_eq!((session.faults[0].at, session.faults[0].duration, session.faults[0].ended_at), (50, None, Some(120)));
    assert_eq!((session.faults[1].at, session.faults[1].duration), (90, Some(40)));
    let text = session.to_ron();
    let replay = scenario::load_str(&text, "session").expect("the exported session is a valid scenario");
    let mut again = app(&replay);
    run_to(&mut again, 400);
    let rows = |a: &App| a.world().resource::<masim::sim::Metrics>().rows().to_vec();
    assert_eq!(rows(&live), rows(&again), "metrics differ on replay");
    // The event logs match exactly, the hand-ended fault included.
    let ev = |a: &App| -> Vec<serde_json::Value> {
        a.world()
            .resource::<EventLog>()
            .events()
            .iter()
            .map(|e| serde_json::to_value(e).expect("event serializes"))
            .collect()
    };
    assert_eq!(ev(&live), ev(&again), "events differ on replay");
    assert!(ev(&live).iter().any(|e| e["kind"] == "fault_end"));
}

#[test]
fn scenario_edits_change_the_channel_at_their_tick() {
    let mut s = ring();
    s.coordination = Coordination::Decentralized;
    s.edits = vec![
        masim::scenario::Edit { at: 40, set: "channel.loss".into(), value: "1.0".into() },
        masim::scenario::Edit { at: 80, set: "channel.loss".into(), value: "0".into() },
    ];
    let s = scenario::load_str(&s.to_ron(), "edits").expect("valid");
    let mut a = app(&s);
    let mut delivered = Vec::new();
    while tick(&a) < 120 {
        runner::step(&mut a);
        let ch = a.world().resource::<Channel>();
        delivered.push((ch.config.loss, ch.stats.delivered));
    }
    assert!(delivered[1..40].iter().all(|d| d.0 == 0.0 && d.1 > 0), "{:?}", &delivered[..40]);
    assert!(delivered[40..80].iter().all(|d| d.0 == 1.0 && d.1 == 0), "{:?}", &delivered[40..80]);
    assert!(delivered[80..].iter().all(|d| d.0 == 0.0 && d.1 > 0));
    let edits = events(&a, "edit");
    let ticks: Vec<u64> = edits.iter().filter_map(|e| e["tick"].as_u64()).collect();
    assert_eq!(ticks, vec![40, 80]);
}

#[test]
fn a_session_mixing_timeline_and_runtime_crashes_replays_the_same_victims() {
    // The scenario's own crash starts at 200; one injected at run time starts earlier.
    let mut s = ring();
    s.ticks = 300;
    s.faults = vec![FaultSpec { at: 200, duration: None, fault: crash(Some(VEHICLE), 0.2, vec![]), ended_at: None }];
    let mut live = app(&s);
    run_to(&mut live, 50);
    live.world_mut().resource_mut::<Faults>().inject(FaultSpec {
        at: 50,
        duration: Some(100),
        fault: crash(Some(VEHICLE), 0.2, vec![]),
        ended_at: None,
    });
    let mut victims_live = Vec::new();
    let mut victims_replay = Vec::new();
    run_to(&mut live, 60);
    victims_live.push(crashed(&mut live));
    run_to(&mut live, 210);
    victims_live.push(crashed(&mut live));

    let session = {
        let w = live.world();
        w.resource::<runner::LiveScenario>().session(w)
    };
    let replay = scenario::load_str(&session.to_ron(), "session").expect("valid");
    let mut again = app(&replay);
    run_to(&mut again, 60);
    victims_replay.push(crashed(&mut again));
    run_to(&mut again, 210);
    victims_replay.push(crashed(&mut again));
    assert_eq!(victims_live, victims_replay, "the replay crashed other vehicles");
}

/// Checks the ring: every vehicle in `RingRoad::order` once, in driving order, no two
/// in one NaSch cell, no IDM overlap, exactly one lap.
fn assert_ring_consistent(a: &mut App, what: &str) {
    let ring = a.world().resource::<masim::worlds::traffic::RingRoad>().clone();
    let mut q = a.world_mut().query::<(Entity, &Vehicle)>();
    let mut all: Vec<Entity> = q.iter(a.world()).map(|(e, _)| e).collect();
    let mut order = ring.order.clone();
    all.sort();
    order.sort();
    assert_eq!(all, order, "{what}: RingRoad::order is not the set of vehicles");
    if ring.cells > 0 {
        let (n, cells) = cells_in_order(a);
        let mut sorted = cells.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), cells.len(), "{what}: two vehicles share a cell");
        let lap: u64 = (0..cells.len()).map(|k| u64::from((cells[(k + 1) % cells.len()] + n - cells[k]) % n)).sum();
        assert_eq!(lap, u64::from(n), "{what}: ring order broken");
    } else {
        let pos: Vec<f64> = ring.order.iter().map(|e| a.world().get::<Vehicle>(*e).expect("vehicle").pos).collect();
        let n = pos.len();
        let lap: f64 = (0..n).map(|k| (pos[(k + 1) % n] - pos[k]).rem_euclid(ring.length)).sum();
        assert!((lap - ring.length).abs() < 1e-6, "{what}: ring order broken");
        for k in 0..n {
            let gap = (pos[(k + 1) % n] - pos[k]).rem_euclid(ring.length);
            assert!(gap >= 4.5 - 1e-6, "{what}: overlap behind vehicle {}", (k + 1) % n);
        }
    }
}

#[test]
fn live_vehicle_count_changes_keep_the_ring_consistent() {
    for (s, up, down) in [(ring(), "30", "12"), (nasch(), "260", "120")] {
        let mut a = app(&s);
        run_to(&mut a, 30);
        for (want, n) in [(up, 60), (down, 60)] {
            a.world_mut().resource_mut::<runner::LiveScenario>().request("world.vehicles", want).expect("valid edit");
            let end = tick(&a) + n;
            while tick(&a) < end {
                runner::step(&mut a);
                let what = format!("{} -> {want} vehicles, tick {}", s.name, tick(&a));
                assert_ring_consistent(&mut a, &what);
            }
            let count = a.world_mut().query::<&Vehicle>().iter(a.world()).count();
            assert_eq!(count.to_string(), want, "{}", s.name);
        }
    }
}

#[test]
fn no_collisions_under_any_coordination_with_a_lossy_channel() {
    for base in [ring(), nasch()] {
        for coord in ["None", "Decentralized", "Centralized", "Hierarchical"] {
            let s = base
                .with_set("coordination", coord)
                .and_then(|s| s.with_set("channel.topology", "AllToAll"))
                .and_then(|s| s.with_set("channel.loss", "0.3"))
                .and_then(|s| s.with_set("world.automated", "2"))
                .expect("valid overrides");
            let mut a = app(&s);
            while tick(&a) < 300 {
                runner::step(&mut a);
                let what = format!("{} {coord}, tick {}", s.name, tick(&a));
                assert_ring_consistent(&mut a, &what);
            }
        }
    }
}

#[test]
fn the_trace_marks_crashed_agents() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("faults-trace");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch");
    let mut s = ring();
    s.ticks = 200;
    s.output.trace_every = 10;
    s.faults = vec![FaultSpec { at: 50, duration: Some(100), fault: crash(None, 0.0, vec![2, 9]), ended_at: None }];
    let file = dir.join("crash.ron");
    std::fs::write(&file, s.to_ron()).expect("write");
    let out = dir.join("out");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_masim"))
        .arg("run")
        .arg(&file)
        .args(["--trace", "--quiet", "--out"])
        .arg(&out)
        .output()
        .expect("binary runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let trace = std::fs::read_to_string(out.join("agents.csv")).expect("agents.csv");
    for line in trace.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let (t, id, state): (u64, u32, &str) = (f[0].parse().expect("tick"), f[1].parse().expect("id"), f[6]);
        // Snapshots are taken after `t` ticks: ticks 50..150 ran with 2 and 9 crashed.
        let down = (id == 2 || id == 9) && (51..=150).contains(&t);
        assert_eq!(state == "crashed", down, "tick {t} agent {id}: state {state}");
    }
}
