//! The city grid: intersections as the contended resource (no conflicting greens, no
//! vehicle into a full box), gridlock detected in a constructed case and not in free
//! flow, trips conserved, max-pressure against fixed time, the fail-safe of lights cut
//! off from their controller, determinism, and field paths on bad networks.

use std::path::Path;

use masim::runner::{self, headless_app};
use masim::scenario::{self, Scenario};
use masim::sim::{Agent, Decision, EventLog, Metrics};
use masim::worlds::traffic::TRAFFIC_LIGHT;
use masim::worlds::traffic::city::{Car, CityMap, CityState, MovLight, TripStats};
use masim::worlds::traffic::network::LaneKind;

fn file(path: &str) -> Scenario {
    scenario::load_file(Path::new(path)).unwrap_or_else(|e| panic!("{e}"))
}

fn set(s: Scenario, kv: &[(&str, &str)]) -> Scenario {
    kv.iter().fold(s, |s, (k, v)| s.with_set(k, v).unwrap_or_else(|i| panic!("{k}={v}: {}", i.message)))
}

fn metric(app: &bevy::prelude::App, name: &str) -> f64 {
    let m = app.world().resource::<Metrics>();
    m.current()[m.index(name).unwrap_or_else(|| panic!("no metric {name}"))]
}

/// Every pair of conflicting movements of a node, checked against what the signals
/// show this tick. Returns the violations.
fn conflicting_greens(app: &bevy::prelude::App) -> Vec<(String, u32, u32)> {
    let map = &app.world().resource::<CityMap>().0;
    let st = app.world().resource::<CityState>();
    let on = |m: u32| matches!(st.mov_light[m as usize], MovLight::Green | MovLight::Yellow);
    let mut bad = Vec::new();
    for n in &map.nodes {
        for &(a, b) in &n.conflicts {
            if on(a) && on(b) {
                bad.push((n.name.clone(), a, b));
            }
        }
    }
    bad
}

#[test]
fn conflicting_greens_never_coexist() {
    let base = set(file("scenarios/traffic_grid.ron"), &[("world.city.demand.default_rate_veh_per_h", "200")]);
    let cases: [&[(&str, &str)]; 5] = [
        &[("coordination", "None")],
        &[("coordination", "None"), ("world.city.signals.control", "Actuated")],
        &[("coordination", "Decentralized")],
        &[("coordination", "Centralized")],
        &[("coordination", "Hierarchical"), ("channel.loss", "0.3")],
    ];
    for case in cases {
        let s = set(base.clone(), case);
        let mut app = headless_app(&s, Some(1));
        let mut greens_seen = 0u64;
        for t in 0..900 {
            runner::step(&mut app);
            let bad = conflicting_greens(&app);
            assert!(bad.is_empty(), "{case:?} tick {t}: conflicting greens {bad:?}");
            let st = app.world().resource::<CityState>();
            greens_seen += st.mov_light.iter().filter(|&&m| m == MovLight::Green).count() as u64;
        }
        assert_eq!(metric(&app, "signal_conflicts"), 0.0);
        assert!(greens_seen > 0, "{case:?}: no light ever turned green");
        // The check is not vacuous: the lights did change stage.
        let switched = app.world().resource::<EventLog>().events().len() as u64 + greens_seen;
        assert!(switched > 0);
    }
}

/// A 4-node one-way loop where every trip drives three of the four loop links: under
/// heavy demand the loop fills and locks; under light demand it flows.
fn loop_scenario(rate: f64) -> Scenario {
    let text = format!(
        r#"(
  name: "loop", seed: 5, ticks: 6000, dt: 0.5, coordination: None,
  channel: (topology: AllToAll),
  output: (record_every: 10),
  world: Traffic((
    road: Network(
      nodes: [
        (name: "a", x: 0.0, y: 0.0), (name: "b", x: 120.0, y: 0.0),
        (name: "c", x: 120.0, y: 120.0), (name: "d", x: 0.0, y: 120.0),
        (name: "ta", x: -80.0, y: -80.0, terminal: true), (name: "tb", x: 200.0, y: -80.0, terminal: true),
        (name: "tc", x: 200.0, y: 200.0, terminal: true), (name: "td", x: -80.0, y: 200.0, terminal: true),
      ],
      links: [
        (from: "a", to: "b"), (from: "b", to: "c"), (from: "c", to: "d"), (from: "d", to: "a"),
        (from: "ta", to: "a"), (from: "a", to: "ta"), (from: "tb", to: "b"), (from: "b", to: "tb"),
        (from: "tc", to: "c"), (from: "c", to: "tc"), (from: "td", to: "d"), (from: "d", to: "td"),
      ],
    ),
    vehicles: 600,
    model: Idm((v0: 15.0, time_headway: 1.0, s0: 2.0, a: 1.5, b: 2.0, length: 4.5)),
    controller: (sectors: 1),
    city: (
      demand: Od([
        (from: "ta", to: "td", rate_veh_per_h: {rate}), (from: "tb", to: "ta", rate_veh_per_h: {rate}),
        (from: "tc", to: "tb", rate_veh_per_h: {rate}), (from: "td", to: "tc", rate_veh_per_h: {rate}),
      ]),
      signals: (cycle_s: 40.0),
      routing: (reroute: false),
      gridlock_after_s: 15.0,
    ),
  )),
)"#
    );
    scenario::load_str(&text, "loop").unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn gridlock_is_detected_in_a_locked_loop_and_not_in_free_flow() {
    let mut app = headless_app(&loop_scenario(1200.0), Some(1));
    for _ in 0..3000 {
        runner::step(&mut app);
    }
    assert!(metric(&app, "gridlock_events") >= 1.0, "no gridlock detected");
    let log = app.world().resource::<EventLog>();
    let g = log.events().iter().find(|e| e.kind == "gridlock").expect("a gridlock event");
    let mut links: Vec<String> =
        g.detail["links"].as_array().expect("links").iter().map(|v| v.as_str().unwrap_or("").to_string()).collect();
    links.sort();
    assert_eq!(links, ["a->b", "b->c", "c->d", "d->a"], "{g:?}");
    // Locked means locked: nothing more completes.
    let done = metric(&app, "trips_completed");
    for _ in 0..400 {
        runner::step(&mut app);
    }
    assert_eq!(metric(&app, "trips_completed"), done);

    // Light demand on the same loop, and the city grid in free flow: no gridlock.
    let mut free = headless_app(&loop_scenario(120.0), Some(1));
    for _ in 0..3000 {
        runner::step(&mut free);
    }
    assert_eq!(metric(&free, "gridlock_events"), 0.0);
    assert!(metric(&free, "trips_completed") > 150.0, "{}", metric(&free, "trips_completed"));
    let grid = set(file("scenarios/traffic_grid.ron"), &[("coordination", "Decentralized")]);
    let mut g = headless_app(&grid, Some(1));
    for _ in 0..2400 {
        runner::step(&mut g);
    }
    assert_eq!(metric(&g, "gridlock_events"), 0.0);
    assert!(metric(&g, "trips_completed") > 400.0);
}

#[test]
fn a_vehicle_never_enters_a_full_box_nor_a_full_exit() {
    let s = file("scenarios/traffic_gridlock.ron");
    let mut app = headless_app(&s, Some(1));
    let mut entries = 0u64;
    let mut refused_heads = 0u64;
    for t in 0..2400 {
        runner::step(&mut app);
        let w = app.world();
        let map = &w.resource::<CityMap>().0;
        let st = w.resource::<CityState>();
        let stats = w.resource::<TripStats>();
        for &(node, before) in &stats.box_entries {
            let cap = map.nodes[node as usize].box_capacity;
            assert!(before < cap, "tick {t}: a vehicle entered box {} holding {before} of {cap}", node);
            entries += 1;
        }
        for (k, n) in map.nodes.iter().enumerate() {
            assert!(st.box_count[k] <= n.box_capacity, "tick {t}: box {} over capacity", n.name);
            // The box count is the vehicles on its connectors.
            let on: usize =
                n.movements.iter().map(|&m| st.occupants[map.movements[m as usize].lane as usize].len()).sum();
            assert_eq!(on as u32, st.box_count[k], "tick {t}: box {} miscounted", n.name);
        }
        for (k, l) in map.lanes.iter().enumerate() {
            if matches!(l.kind, LaneKind::Road { .. }) {
                assert!(
                    st.occupants[k].len() as u32 + st.reserved[k] <= l.capacity,
                    "tick {t}: lane {k} holds {} + {} reserved over its {} places",
                    st.occupants[k].len(),
                    st.reserved[k],
                    l.capacity
                );
            }
        }
        refused_heads += st.hold.iter().filter(|h| h.reason().contains("full")).count() as u64;
    }
    assert!(entries > 500, "too few box entries ({entries}) to mean anything");
    assert!(refused_heads > 0, "the rule was never exercised");
    assert_eq!(metric(&app, "box_violations"), 0.0);
    // Every vehicle in a box holds a place on its exit lane.
    let w = app.world_mut();
    let held: Vec<u32> = w.query::<&Car>().iter(w).filter(|c| c.exit_lane != u32::MAX).map(|c| c.exit_lane).collect();
    let st = w.resource::<CityState>();
    for x in &held {
        assert!(st.reserved[*x as usize] > 0);
    }
    assert_eq!(held.len() as u32, st.reserved.iter().sum::<u32>());
}

#[test]
fn trips_are_conserved() {
    let s = set(file("scenarios/traffic_grid.ron"), &[("world.city.demand.default_rate_veh_per_h", "250")]);
    let mut app = headless_app(&s, Some(2));
    for t in 1..=1500 {
        runner::step(&mut app);
        if t % 50 == 0 {
            let entered = metric(&app, "trips_entered");
            let done = metric(&app, "trips_completed");
            let inside = metric(&app, "vehicles_in_network");
            assert_eq!(entered, done + inside, "tick {t}");
            let w = app.world_mut();
            let driving = w.query::<&Car>().iter(w).filter(|c| c.driving()).count() as f64;
            assert_eq!(driving, inside, "tick {t}");
            let on_lanes: usize = w.resource::<CityState>().occupants.iter().map(|o| o.len()).sum();
            assert_eq!(on_lanes as f64, inside, "tick {t}");
        }
    }
    assert!(metric(&app, "trips_completed") > 200.0);
}

/// A 3 × 3 grid where the west entries send five times what the others do.
fn unbalanced(coordination: &str) -> Scenario {
    let mut s = set(
        file("scenarios/traffic_grid.ron"),
        &[
            ("world.road.rows", "3"),
            ("world.road.cols", "3"),
            ("world.city.demand.default_rate_veh_per_h", "60"),
            ("coordination", coordination),
            ("ticks", "4800"),
        ],
    );
    let scenario::WorldConfig::Traffic(t) = &mut s.world else { panic!("a city scenario") };
    t.city.demand = masim::worlds::traffic::config::Demand::Entries {
        default_rate_veh_per_h: 60.0,
        rates: (0..3)
            .map(|r| masim::worlds::traffic::config::EntryRate { node: format!("w{r}"), rate_veh_per_h: 330.0 })
            .collect(),
    };
    s
}

#[test]
fn max_pressure_beats_fixed_time_on_delay_with_unbalanced_demand() {
    let run = |c: &str| {
        let s = unbalanced(c);
        let mut app = headless_app(&s, Some(2));
        for _ in 0..s.ticks {
            runner::step(&mut app);
        }
        (metric(&app, "mean_delay_s"), metric(&app, "trips_completed"))
    };
    let (fixed, fixed_done) = run("None");
    let (mp, mp_done) = run("Decentralized");
    assert!(mp < 0.7 * fixed, "max-pressure {mp:.1} s vs fixed-time {fixed:.1} s mean delay");
    assert!(mp_done >= fixed_done, "max-pressure completed {mp_done}, fixed-time {fixed_done}");
}

#[test]
fn lights_cut_off_from_their_controller_fall_back_to_fixed_time() {
    // The city controller sits at the centre of the 6 x 6 grid (500, 500); a partition
    // around it alone cuts every light off from it for 300 ticks.
    let mut s = set(file("scenarios/traffic_grid.ron"), &[("coordination", "Centralized")]);
    s.faults = vec![masim::sim::FaultSpec {
        at: 400,
        duration: Some(300),
        fault: masim::sim::FaultKind::Partition {
            regions: vec![masim::sim::Rect { x0: 450.0, y0: 450.0, x1: 550.0, y1: 550.0 }],
        },
        ended_at: None,
    }];
    let lights = 36.0;
    let mut app = headless_app(&s, Some(1));
    for _ in 0..400 {
        runner::step(&mut app);
    }
    assert_eq!(metric(&app, "lights_fallback"), 0.0, "coordinated before the fault");
    let reasons = |app: &mut bevy::prelude::App| -> Vec<&'static str> {
        let w = app.world_mut();
        w.query::<(&Agent, &Decision)>()
            .iter(w)
            .filter(|(a, _)| a.kind == TRAFFIC_LIGHT)
            .map(|(_, d)| d.reason)
            .collect()
    };
    assert!(reasons(&mut app).iter().all(|r| *r == "coordinated_plan"));
    // Contact timeout is 10 s = 20 ticks; by 60 ticks in every light has fallen back.
    for _ in 0..60 {
        runner::step(&mut app);
    }
    assert_eq!(metric(&app, "lights_fallback"), lights);
    assert!(reasons(&mut app).iter().all(|r| *r == "fallback_fixed_time_no_contact"), "{:?}", reasons(&mut app));
    let log = app.world().resource::<EventLog>();
    assert_eq!(log.events().iter().filter(|e| e.kind == "signal_fallback").count(), 36);
    // The partition ends at 700; plans flow again and the lights return to them.
    for _ in 0..340 {
        runner::step(&mut app);
    }
    assert_eq!(metric(&app, "lights_fallback"), 0.0);
    let log = app.world().resource::<EventLog>();
    assert_eq!(log.events().iter().filter(|e| e.kind == "signal_contact_restored").count(), 36);
    assert!(metric(&app, "signal_conflicts") == 0.0);
}

#[test]
fn two_runs_are_byte_identical() {
    let s = set(
        file("scenarios/traffic_grid.ron"),
        &[("coordination", "Hierarchical"), ("channel.loss", "0.3"), ("channel.jitter_ticks", "2"), ("ticks", "700")],
    );
    let base = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("grid_determinism");
    let mut outs = Vec::new();
    for (k, threads) in [1usize, 3].into_iter().enumerate() {
        let d = base.join(format!("run{k}"));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("scratch");
        runner::run_to_dir(&s, &d, &runner::RunOptions { trace: true, threads, ..Default::default() }, |_| {})
            .expect("runs");
        outs.push(d);
    }
    for f in ["metrics.csv", "events.jsonl", "agents.csv"] {
        let a = std::fs::read(outs[0].join(f)).expect("first");
        let b = std::fs::read(outs[1].join(f)).expect("second");
        assert!(a == b, "{f} differs between runs");
        if f != "events.jsonl" {
            assert!(a.len() > 2_000, "{f} is nearly empty");
        }
    }
    let sa: serde_json::Value =
        serde_json::from_slice(&std::fs::read(outs[0].join("summary.json")).expect("s")).expect("j");
    let sb: serde_json::Value =
        serde_json::from_slice(&std::fs::read(outs[1].join("summary.json")).expect("s")).expect("j");
    assert_eq!(sa["world"], sb["world"]);
    assert!(sa["world"]["intersections"]["r2c3"]["switches"].as_u64().is_some_and(|x| x > 0), "{}", sa["world"]);
}

#[test]
fn bad_networks_are_refused_with_field_paths() {
    let grid = std::fs::read_to_string("scenarios/traffic_grid.ron").expect("file");
    let cases = [
        ("lanes: 1,", "lanes: 0,", "world.road.lanes"),
        ("block_m: 200.0", "block_m: -5.0", "world.road.block_m"),
        ("rows: 6", "rows: 0", "world.road.rows"),
        ("cycle_s: 80.0", "cycle_s: 20.0", "world.city.signals.cycle_s"),
        ("rates: []", "rates: [(node: \"x9\", rate_veh_per_h: 10.0)]", "world.city.demand.rates[0].node"),
        ("rates: []", "rates: [(node: \"r1c1\", rate_veh_per_h: 10.0)]", "world.city.demand.rates[0].node"),
        ("rates: []", "rates: [(node: \"w1\", rate_veh_per_h: -1.0)]", "world.city.demand.rates[0].rate_veh_per_h"),
        (
            "model: Idm((v0: 15.0, time_headway: 1.0, s0: 2.0, a: 1.5, b: 2.0, delta: 4.0, length: 4.5))",
            "model: Nasch((vmax: 5))",
            "world.model",
        ),
    ];
    for (from, to, field) in cases {
        assert!(grid.contains(from), "{from}");
        let text = grid.replacen(from, to, 1);
        let e = scenario::load_str(&text, "bad").expect_err(to);
        let issues = e.issues();
        assert!(issues.iter().any(|i| i.field.starts_with(field) && i.at.is_some()), "{to}: {e}");
    }
    let net = r#"(name: "n", ticks: 10, dt: 0.5, world: Traffic((vehicles: 5, model: Idm(()),
      road: Network(nodes: [(name: "a", x: 0.0, y: 0.0, terminal: true), (name: "b", x: 100.0, y: 0.0, terminal: true)],
                    links: [(from: "a", to: "b"), (from: "b", to: "zz", lanes: 0), (from: "a", to: "b", length_m: -1.0)]),
      city: (demand: Od([(from: "b", to: "a", rate_veh_per_h: 10.0)])))))"#;
    let e = scenario::load_str(net, "net").expect_err("bad network");
    let fields: Vec<&str> = e.issues().iter().map(|i| i.field.as_str()).collect();
    for f in
        ["world.road.links[1].to", "world.road.links[1].lanes", "world.road.links[2].length_m", "world.road.links[2]"]
    {
        assert!(fields.contains(&f), "{f} not in {fields:?}: {e}");
    }
    // A trip from a terminal nothing leaves.
    let net = r#"(name: "n", ticks: 10, dt: 0.5, world: Traffic((vehicles: 5, model: Idm(()),
      road: Network(nodes: [(name: "a", x: 0.0, y: 0.0, terminal: true), (name: "b", x: 100.0, y: 0.0, terminal: true)],
                    links: [(from: "a", to: "b")]),
      city: (demand: Od([(from: "b", to: "a", rate_veh_per_h: 10.0)])))))"#;
    let e = scenario::load_str(net, "net").expect_err("no way out of b");
    assert!(e.to_string().contains("world.city.demand[0].from"), "{e}");
}

#[test]
fn vehicles_reroute_around_congestion_they_hear_of() {
    // A 2 x 2 grid, trips from w0 to e0: the shortest path runs along row 0. The light at
    // r0c1 warns (through the channel, every 5 s) that r0c0->r0c1 is congested; vehicles
    // that hear it before reaching r0c0 take row 1 instead.
    let text = r#"(
  name: "reroute", seed: 2, ticks: 1200, dt: 0.5, coordination: None,
  channel: (topology: AllToAll),
  world: Traffic((
    road: Grid(rows: 2, cols: 2, block_m: 150.0),
    vehicles: 200,
    model: Idm((v0: 15.0, time_headway: 1.0, s0: 2.0, a: 1.5, b: 2.0, length: 4.5)),
    controller: (sectors: 1),
    city: (
      demand: Od([(from: "w0", to: "e0", rate_veh_per_h: 400.0)]),
      routing: (reroute: true, congestion_queue_veh: 1000.0, min_interval_s: 10.0),
    ),
  )),
)"#;
    let run = |reroute: &str| {
        let s = scenario::load_str(text, "reroute").expect("loads").with_set("world.city.routing.reroute", reroute);
        let s = s.unwrap_or_else(|i| panic!("{}", i.message));
        let mut app = headless_app(&s, Some(1));
        let (row0, row1, light) = {
            let w = app.world_mut();
            let map = w.resource::<CityMap>().0.clone();
            let link = |name: &str| (0..map.links.len() as u32).find(|&l| map.link_name(l) == name).expect("link");
            let node = map.node("r0c1").expect("node");
            let light = w.resource::<CityState>().light_of_node[node as usize].expect("a light");
            let e = w.query::<(bevy::prelude::Entity, &Agent)>().iter(w).find(|(_, a)| a.id == light).expect("agent").0;
            (link("r0c0->r0c1"), link("r1c0->r1c1"), e)
        };
        let mut on_row1 = 0u64;
        for t in 0..s.ticks {
            if t >= 200 && t % 10 == 0 {
                let mut out = app.world_mut().get_mut::<masim::sim::Outbox>(light).expect("outbox");
                out.send(
                    masim::sim::AgentId(0),
                    masim::sim::Dest::Near(400.0),
                    masim::worlds::traffic::city::MSG_CONGESTION,
                    32,
                    t,
                    [row0 as f32, 30.0, 300.0, 0.0],
                );
            }
            runner::step(&mut app);
            on_row1 += u64::from(app.world().resource::<CityState>().link_count[row1 as usize]);
        }
        (metric(&app, "reroutes"), on_row1, metric(&app, "trips_completed"))
    };
    let (reroutes, row1, done) = run("true");
    assert!(reroutes > 5.0, "only {reroutes} reroutes");
    assert!(row1 > 0, "no vehicle took the other row");
    assert!(done > 0.0);
    let (none, row1_off, _) = run("false");
    assert_eq!((none, row1_off), (0.0, 0), "without rerouting everyone keeps the shortest path");
}

#[test]
fn reset_inside_a_running_app_equals_a_fresh_app() {
    let s = set(file("scenarios/traffic_grid.ron"), &[("coordination", "Hierarchical"), ("output.record_every", "5")]);
    let rows = |app: &bevy::prelude::App| app.world().resource::<Metrics>().rows().to_vec();
    let mut fresh = headless_app(&s, Some(1));
    for _ in 0..400 {
        runner::step(&mut fresh);
    }
    let other_scn = set(s.clone(), &[("seed", "99"), ("world.city.demand.default_rate_veh_per_h", "300")]);
    let mut other = headless_app(&other_scn, Some(1));
    for _ in 0..250 {
        runner::step(&mut other);
    }
    runner::reset(other.world_mut(), &s);
    for _ in 0..400 {
        runner::step(&mut other);
    }
    assert_eq!(rows(&fresh), rows(&other));
    assert!(metric(&fresh, "trips_completed") > 0.0);
}
