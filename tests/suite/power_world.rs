//! The power world against what it must reproduce: the first tick of a MATPOWER case is its
//! DC power flow (PYPOWER's `rundcpf`, tests/data/power/case14.json); every island balances
//! every tick and every bus obeys Kirchhoff's law; the running world's RoCoF, nadir and
//! quasi-steady frequency match the closed forms; UFLS stages fire in order and stop a
//! decline that would otherwise trip the unit; consensus reaches the economic dispatch with
//! a unit at its limit; a constructed cascade trips exactly the lines it should and leaves the
//! islands it should; an operator crash makes units fall back to droop with that reason; a
//! session with a line tripped at run time replays; the charger policies share as they say.

use std::path::Path;

use bevy::prelude::*;
use masim::runner::{self, LiveScenario, headless_app, run_ticks};
use masim::scenario::{self, Scenario, WorldConfig};
use masim::sim::{EventLog, Metrics};
use masim::worlds::power::agents::units::GenAgent;
use masim::worlds::power::config::{PowerEvent, PowerEventKind};
use masim::worlds::power::dispatch::{QuadCost, Unit, economic_dispatch};
use masim::worlds::power::events::PowerEvents;
use masim::worlds::power::state::{LineStatus, PowerState};

fn load(name: &str) -> Scenario {
    scenario::load_file(&Path::new("scenarios").join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn text(body: &str) -> Scenario {
    scenario::load_str(body, "test.ron").unwrap_or_else(|e| panic!("{e}\n{body}"))
}

fn events(app: &App) -> Vec<serde_json::Value> {
    app.world().resource::<EventLog>().events().iter().map(|e| serde_json::to_value(e).unwrap_or_default()).collect()
}

fn column(app: &App, name: &str) -> Vec<f64> {
    app.world().resource::<Metrics>().series(name).unwrap_or_else(|| panic!("no column {name}"))
}

#[test]
fn the_first_tick_of_power_matpower_is_the_case_dc_power_flow() {
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string("tests/data/power/case14.json").expect("case14.json"))
            .expect("json");
    let va: Vec<f64> = reference["va_rad"].as_array().expect("angles").iter().filter_map(|v| v.as_f64()).collect();
    let pf: Vec<f64> = reference["pf_mw"].as_array().expect("flows").iter().filter_map(|v| v.as_f64()).collect();
    let slack = reference["slack_pg_mw"].as_f64().expect("slack");
    let s = load("power_matpower.ron");
    let mut app = headless_app(&s, Some(1));
    for tick in 0..3 {
        runner::step(&mut app);
        let st = app.world().resource::<PowerState>();
        for (k, l) in st.lines.iter().enumerate() {
            assert!((l.flow_mw - pf[k]).abs() < 1e-6, "tick {tick} line {k}: {} MW vs rundcpf {} MW", l.flow_mw, pf[k]);
        }
        for (i, b) in st.buses.iter().enumerate() {
            assert!((b.angle_rad - va[i]).abs() < 1e-9, "tick {tick} bus {i}: {} rad vs {}", b.angle_rad, va[i]);
        }
        assert!((st.units[0].pe_mw - slack).abs() < 1e-6, "slack unit {} MW vs {slack}", st.units[0].pe_mw);
        let f = st.lowest_island().map(|i| i.freq_hz).unwrap_or(0.0);
        assert!((f - 60.0).abs() < 1e-9, "the case's dispatch holds: {f} Hz");
    }
}

#[test]
fn every_island_balances_every_tick_and_every_bus_obeys_kirchhoff() {
    // The cascade splits the grid into islands, some dark, and sheds load in others.
    let s = load("power_cascade.ron").with_set("ticks", "450").expect("valid");
    let mut app = headless_app(&s, Some(1));
    let mut most_islands = 0;
    for tick in 0..s.ticks {
        runner::step(&mut app);
        let st = app.world().resource::<PowerState>();
        most_islands = most_islands.max(st.islands.len());
        let from_flows = st.net.bus_injections_mw(&st.lines.iter().map(|l| l.flow_mw).collect::<Vec<_>>());
        for (k, isl) in st.net.islands().iter().enumerate() {
            let view = &st.islands[k];
            let (mut generation, mut load) = (0.0, 0.0);
            for &b in &isl.buses {
                let bus = &st.buses[b];
                generation += bus.gen_mw;
                load += bus.served_mw;
                // What the flows carry away from a bus is what it injects.
                let net = bus.gen_mw - bus.served_mw;
                assert!(
                    (from_flows[b] - net).abs() < 1e-6,
                    "tick {tick} bus {b}: flows {} vs injection {net}",
                    from_flows[b]
                );
            }
            let tol = 1e-6 * load.abs().max(1.0);
            assert!((generation - load).abs() < tol, "tick {tick} island {k}: generation {generation} vs load {load}");
            assert!((view.gen_mw - generation).abs() < tol && (view.load_mw - load).abs() < tol);
            if !view.live {
                assert_eq!(load, 0.0, "tick {tick}: a dark island serves nothing");
            }
        }
        // Generation = demand − shed: each live island serves its demand less what its relays
        // shed, plus the load's frequency damping D·S·Δf.
        for (k, isl) in st.net.islands().iter().enumerate() {
            if !st.islands[k].live {
                continue;
            }
            let served: f64 = isl.buses.iter().map(|&b| st.buses[b].served_mw).sum();
            let wanted: f64 = isl.buses.iter().map(|&b| st.buses[b].demand_mw * (1.0 - st.buses[b].shed_share)).sum();
            let base: f64 =
                st.units.iter().filter(|u| u.online() && st.net.island_of(u.bus) == Some(k)).map(|u| u.rating_mw).sum();
            let damping = 1.0 * base * st.buses[isl.buses[0]].df_pu;
            assert!(
                (served - wanted - damping).abs() < 1e-6 * served.abs().max(1.0),
                "tick {tick} island {k}: {served} vs {wanted} + {damping}"
            );
        }
    }
    assert!(most_islands >= 3, "the cascade should split the grid, got {most_islands} islands");
}

/// Kundur's single area (scripts/power/reference_dcflow.py: scipy odeint at rtol 1e-12).
const NADIR_HZ: f64 = -0.18383757392718644;
const NADIR_AFTER_S: f64 = 1.2148591320791384;

#[test]
fn rocof_nadir_and_quasi_steady_frequency_match_the_closed_forms() {
    for h in [5.0, 3.0] {
        let s = load("power_frequency_step.ron").with_set("world.frequency.h_s", &h.to_string()).expect("valid");
        let mut app = headless_app(&s, Some(1));
        run_ticks(&mut app, s.ticks, |_| {});
        let f = column(&app, "freq_hz");
        let rocof = column(&app, "rocof_hz_per_s");
        let (f0, dp, base, d, r) = (50.0, 50.0, 1000.0, 1.0, 0.05);
        // The step comes at tick 100 (t = 1 s): the row of tick 101 is its first tick.
        let initial = -dp * f0 / (2.0 * h * base);
        assert!((rocof[100] - initial).abs() < 0.01 * initial.abs(), "H {h}: RoCoF {} vs {initial}", rocof[100]);
        let steady = -dp / base / (d + 1.0 / r) * f0;
        let last = f[f.len() - 1] - f0;
        assert!((last - steady).abs() < 0.005 * steady.abs(), "H {h}: Δf {last} vs {steady}");
        if h == 5.0 {
            let (k, nadir) = f.iter().enumerate().fold((0, f64::MAX), |a, (k, &x)| if x < a.1 { (k, x) } else { a });
            let t = (k + 1) as f64 * s.dt - 1.0;
            assert!((nadir - f0 - NADIR_HZ).abs() < 0.01 * NADIR_HZ.abs(), "nadir {nadir} vs {}", f0 + NADIR_HZ);
            assert!((t - NADIR_AFTER_S).abs() < 0.02, "nadir at {t} s vs {NADIR_AFTER_S} s after the step");
        }
    }
}

#[test]
fn ufls_stages_fire_in_order_and_stop_the_decline() {
    // A 40 % load step: without shedding the frequency falls through 47.5 Hz and the unit trips.
    let base = load("power_frequency_step.ron")
        .with_sets(&[
            ("world.events[0].event.mw".into(), "320".into()),
            ("world.frequency.gen_trip".into(), "Default".into()),
            ("ticks".into(), "1500".into()),
        ])
        .expect("valid");
    let without = base.with_set("world.ufls.scheme", "Off").expect("valid");
    let mut app = headless_app(&without, Some(1));
    run_ticks(&mut app, without.ticks, |_| {});
    let ev = events(&app);
    assert!(ev.iter().any(|e| e["kind"] == "gen_trip" && e["cause"] == "under_frequency"), "the unit trips: {ev:?}");
    assert!(ev.iter().any(|e| e["kind"] == "blackout"), "and the system goes dark");

    let with = base.with_set("world.ufls.scheme", "Default").expect("valid");
    let mut app = headless_app(&with, Some(1));
    run_ticks(&mut app, with.ticks, |_| {});
    let ev = events(&app);
    let stages: Vec<(u64, u64, f64)> = ev
        .iter()
        .filter(|e| e["kind"] == "ufls")
        .map(|e| {
            (e["stage"].as_u64().unwrap_or(0), e["tick"].as_u64().unwrap_or(0), e["freq_hz"].as_f64().unwrap_or(0.0))
        })
        .collect();
    assert!(stages.len() >= 2, "several stages operate: {stages:?}");
    for (k, w) in stages.windows(2).enumerate() {
        assert_eq!(w[1].0, w[0].0 + 1, "stage {k}: in order, each once: {stages:?}");
        assert!(w[1].1 >= w[0].1 && w[1].2 <= w[0].2 + 1e-9, "later stages at lower frequencies: {stages:?}");
    }
    assert_eq!(stages[0].0, 1);
    assert!(!ev.iter().any(|e| e["kind"] == "gen_trip"), "shedding keeps the unit on: {ev:?}");
    let f = column(&app, "freq_hz");
    let lowest = f.iter().copied().fold(f64::MAX, f64::min);
    assert!(lowest > 47.5, "the decline stops above the unit's trip ({lowest} Hz)");
    let settled = f[f.len() - 1];
    assert!(settled > 48.5 && settled < 50.0, "it settles where droop and the shed load put it: {settled}");
    let shed = column(&app, "load_shed_mw");
    assert!(shed[shed.len() - 1] > 0.0);
}

/// Three units on a ring of three buses; the cheapest hits its maximum at the optimum.
const THREE_UNITS: &str = r#"(
  name: "consensus-limit",
  ticks: 3000,
  dt: 0.1,
  coordination: Decentralized,
  channel: (topology: AllToAll),
  output: (record_every: 10),
  world: Power((
    network: Explicit(
      buses: [(id: 1, x: 0.0, y: 0.0), (id: 2, x: 1000.0, y: 0.0), (id: 3, x: 500.0, y: 800.0)],
      lines: [(from: 1, to: 2, x_pu: 0.1), (from: 2, to: 3, x_pu: 0.1), (from: 3, to: 1, x_pu: 0.1)],
      generators: [
        (bus: 1, p_mw: 100.0, pmax_mw: 150.0, cost: (c2: 0.01, c1: 10.0, c0: 0.0)),
        (bus: 2, p_mw: 150.0, pmax_mw: 400.0, cost: (c2: 0.02, c1: 15.0, c0: 0.0)),
        (bus: 3, p_mw: 150.0, pmax_mw: 400.0, cost: (c2: 0.03, c1: 14.0, c0: 0.0)),
      ],
      loads: [(bus: 1, p_mw: 150.0), (bus: 2, p_mw: 150.0), (bus: 3, p_mw: 100.0)],
    ),
    ratings: (rule: File),
    consensus: (step: 0.01, every_s: 0.5, neighbours: 2),
  )),
)"#;

#[test]
fn consensus_reaches_the_economic_dispatch_with_a_binding_limit() {
    let s = text(THREE_UNITS);
    let mut app = headless_app(&s, Some(1));
    run_ticks(&mut app, s.ticks, |_| {});
    let units = [
        Unit { cost: QuadCost { c2: 0.01, c1: 10.0, c0: 0.0 }, pmin_mw: 0.0, pmax_mw: 150.0 },
        Unit { cost: QuadCost { c2: 0.02, c1: 15.0, c0: 0.0 }, pmin_mw: 0.0, pmax_mw: 400.0 },
        Unit { cost: QuadCost { c2: 0.03, c1: 14.0, c0: 0.0 }, pmin_mw: 0.0, pmax_mw: 400.0 },
    ];
    let ed = economic_dispatch(&units, 400.0).expect("dispatch");
    assert!((ed.p_mw[0] - 150.0).abs() < 1e-9, "unit 0 is at its limit in the optimum: {:?}", ed.p_mw);
    let st = app.world().resource::<PowerState>();
    let mut q = app.world().try_query::<&GenAgent>().expect("units");
    let mut lambdas = Vec::new();
    for g in q.iter(app.world()) {
        let p = st.units[g.unit].setpoint_mw;
        assert!((p - ed.p_mw[g.unit]).abs() < 0.05, "unit {}: {p} MW vs the optimum's {} MW", g.unit, ed.p_mw[g.unit]);
        assert!(p <= units[g.unit].pmax_mw + 1e-9, "limits respected");
        let c = g.consensus.as_ref().expect("in consensus");
        lambdas.push((g.unit, c.lambda, st.units[g.unit].cost.map(|c| c.marginal(p)).unwrap_or(0.0)));
    }
    // The interior units run at the system λ; the unit at its limit is cheaper at the margin.
    for &(u, _, marginal) in &lambdas {
        if u == 0 {
            assert!(marginal < ed.lambda - 0.1, "unit 0 at its limit: marginal {marginal} < λ {}", ed.lambda);
        } else {
            assert!((marginal - ed.lambda).abs() < 0.01, "unit {u}: marginal {marginal} vs λ {}", ed.lambda);
        }
    }
    let f = column(&app, "freq_hz");
    assert!((f[f.len() - 1] - 60.0).abs() < 1e-3, "the outputs meet the demand: {} Hz", f[f.len() - 1]);
    // Too large a step: the units swing between their limits and never settle.
    let wild = s.with_set("world.consensus.step", "0.3").expect("valid");
    let mut app = headless_app(&wild, Some(1));
    run_ticks(&mut app, wild.ticks - 40, |_| {});
    let mut targets: Vec<Vec<f64>> = vec![Vec::new(); 3];
    for _ in 0..40 {
        runner::step(&mut app);
        let mut q = app.world_mut().query::<&GenAgent>();
        for g in q.iter(app.world()) {
            targets[g.unit].push(g.target_mw);
        }
    }
    let swing = |v: &[f64]| v.iter().copied().fold(f64::MIN, f64::max) - v.iter().copied().fold(f64::MAX, f64::min);
    let widest = targets.iter().map(|t| swing(t)).fold(0.0, f64::max);
    assert!(widest > 100.0, "with ε = 0.3 the set-points keep swinging between limits ({widest} MW)");
}

/// Two equal paths from the unit at bus 1 to the load at bus 4 (1–2–4 and 1–3–4), each
/// carrying 100 of the 200 MW, every line rated 150 MW; line 0 (1–2) is opened at t = 1 s.
const TWO_PATHS: &str = r#"(
  name: "cascade",
  ticks: 400,
  dt: 0.1,
  coordination: None,
  channel: (topology: AllToAll),
  world: Power((
    network: Explicit(
      buses: [(id: 1, x: 0.0, y: 0.0), (id: 2, x: 1000.0, y: 1000.0), (id: 3, x: 1000.0, y: -1000.0), (id: 4, x: 2000.0, y: 0.0), (id: 5, x: 2000.0, y: 2000.0)],
      lines: [
        (from: 1, to: 2, x_pu: 0.1, rating_mw: 150.0), (from: 2, to: 4, x_pu: 0.1, rating_mw: 150.0),
        (from: 1, to: 3, x_pu: 0.1, rating_mw: 150.0), (from: 3, to: 4, x_pu: 0.1, rating_mw: 150.0),
        (from: 2, to: 5, x_pu: 0.1, rating_mw: 150.0),
      ],
      generators: [(bus: 1, p_mw: 200.0, pmax_mw: 400.0, cost: (c2: 0.01, c1: 20.0, c0: 0.0))],
      loads: [(bus: 4, p_mw: 200.0)],
    ),
    ratings: (rule: File),
    protection: (overload_s: 5.0, hard_limit: 2.0),
    events: [(at: 10, event: LineTrip(line: 0))],
  )),
)"#;

#[test]
fn a_constructed_cascade_trips_exactly_the_lines_it_should_and_finds_the_islands() {
    let s = text(TWO_PATHS);
    let mut app = headless_app(&s, Some(1));
    run_ticks(&mut app, 20, |_| {});
    {
        let st = app.world().resource::<PowerState>();
        // Line 0 open: path 1–3–4 takes all 200 MW, 133 % of its rating.
        assert!((st.lines[2].flow_mw - 200.0).abs() < 1e-6 && (st.lines[3].flow_mw - 200.0).abs() < 1e-6);
        assert!((st.lines[2].loading - 4.0 / 3.0).abs() < 1e-9);
        assert_eq!(st.lines[2].status, LineStatus::InService, "not before its overload time");
    }
    run_ticks(&mut app, s.ticks - 20, |_| {});
    let st = app.world().resource::<PowerState>();
    let status: Vec<LineStatus> = st.lines.iter().map(|l| l.status).collect();
    use LineStatus::*;
    assert_eq!(status, [SwitchedOut, InService, Tripped, Tripped, InService], "exactly lines 2 and 3 trip");
    let trips: Vec<(u64, u64, String)> = events(&app)
        .iter()
        .filter(|e| e["kind"] == "line_trip")
        .map(|e| {
            (
                e["line"].as_u64().unwrap_or(99),
                e["tick"].as_u64().unwrap_or(0),
                e["cause"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(trips.len(), 3, "{trips:?}");
    assert_eq!(trips[0], (0, 10, "event".into()));
    // 5 s above 100 % from tick 10: both trip at tick 59 (the 50th overloaded tick).
    assert!(trips[1..].iter().all(|t| t.1 == 59 && t.2 == "overload"), "{trips:?}");
    // Islands: {1} with the unit, {3} alone, {2, 4, 5} dark with the load.
    let mut islands: Vec<(Vec<u32>, bool)> = st
        .net
        .islands()
        .iter()
        .zip(&st.islands)
        .map(|(i, v)| (i.buses.iter().map(|&b| st.model.case.buses[b].number).collect(), v.live))
        .collect();
    islands.sort();
    assert_eq!(islands, vec![(vec![1], true), (vec![2, 4, 5], false), (vec![3], false)]);
    assert_eq!(st.cascades.len(), 1);
    assert_eq!(st.cascades[0].lines, vec![0, 2, 3]);
    assert!((st.shed_mw - 200.0).abs() < 1e-9, "the load at bus 4 is unserved: {}", st.shed_mw);
    // Past the hard limit (ratings 90 MW: 222 %) both go in the same tick as the trip.
    let hard =
        s.with_sets(&[2, 3].map(|k| (format!("world.network.lines[{k}].rating_mw"), "90".to_string()))).expect("valid");
    let mut app = headless_app(&hard, Some(1));
    run_ticks(&mut app, 20, |_| {});
    let ev = events(&app);
    let hard_trips: Vec<u64> = ev
        .iter()
        .filter(|e| e["kind"] == "line_trip" && e["cause"] == "hard_limit")
        .map(|e| e["tick"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(hard_trips, vec![10, 10], "{ev:?}");
}

#[test]
fn an_operator_crash_makes_units_fall_back_to_droop_and_say_why() {
    let s = load("power_ieee14.ron")
        .with_sets(&[("coordination".into(), "Centralized".into()), ("ticks".into(), "700".into())])
        .expect("valid");
    let mut s = s;
    if let WorldConfig::Power(p) = &mut s.world {
        p.events.clear();
    }
    s.faults.push(masim::sim::FaultSpec {
        at: 100,
        duration: None,
        fault: masim::sim::FaultKind::Crash {
            kind: Some(masim::worlds::power::OPERATOR),
            fraction: 1.0,
            agents: vec![],
        },
        ended_at: None,
    });
    let mut app = headless_app(&s, Some(1));
    run_ticks(&mut app, s.ticks, |_| {});
    let ev = events(&app);
    let engaged: Vec<&serde_json::Value> = ev.iter().filter(|e| e["kind"] == "failsafe_engaged").collect();
    assert_eq!(engaged.len(), 5, "every unit: {ev:?}");
    for e in engaged {
        assert_eq!(e["reason"], "fallback_operator_silent");
        // The operator's last set-points came at tick 100 at the latest; the timeout is 20 s.
        let t = e["tick"].as_u64().unwrap_or(0);
        assert!((270..=320).contains(&t), "falls back after the set-point timeout: tick {t}");
    }
    let failsafe = column(&app, "failsafe_units");
    assert_eq!(failsafe[failsafe.len() - 1], 5.0);
}

#[test]
fn a_session_with_a_line_tripped_at_run_time_replays() {
    let s = load("power_ieee14.ron").with_set("ticks", "600").expect("valid");
    let mut live = headless_app(&s, Some(1));
    run_ticks(&mut live, 120, |_| {});
    // What a click on line 6 (bus 4 – bus 5) in the app does.
    live.world_mut().resource_mut::<PowerEvents>().0.inject(PowerEvent {
        at: 120,
        duration: None,
        event: PowerEventKind::LineTrip { line: 6 },
        ended_at: None,
    });
    live.world_mut().resource_mut::<LiveScenario>().request("world.profile.load_scale", "1.05").expect("edit");
    run_ticks(&mut live, 180, |_| {});
    live.world_mut().resource_mut::<PowerEvents>().0.inject(PowerEvent {
        at: 300,
        duration: None,
        event: PowerEventKind::LineRestore { line: 6 },
        ended_at: None,
    });
    run_ticks(&mut live, 100, |_| {});
    let session = {
        let w = live.world();
        w.resource::<LiveScenario>().session_so_far(w)
    };
    let WorldConfig::Power(p) = &session.world else { panic!("a power session") };
    assert!(p.events.iter().any(|e| e.at == 120 && e.event == PowerEventKind::LineTrip { line: 6 }), "{:?}", p.events);
    let text = session.to_ron();
    let replay = scenario::load_str(&text, "session.ron").unwrap_or_else(|e| panic!("{e}\n{text}"));
    let mut again = headless_app(&replay, Some(1));
    run_ticks(&mut again, replay.ticks, |_| {});
    let rows = |a: &App| a.world().resource::<Metrics>().rows().to_vec();
    assert_eq!(rows(&live), rows(&again));
    let trips = events(&again).iter().filter(|e| e["kind"] == "line_trip" && e["line"] == 6).count();
    assert_eq!(trips, 1);
}

/// One station of two 10 kW ports behind a 10 kW transformer, an EV every minute and a half.
const STATION: &str = r#"(
  name: "station",
  ticks: 3600,
  dt: 1.0,
  seed: 4,
  coordination: None,
  channel: (topology: AllToAll),
  output: (record_every: 300),
  world: Power((
    network: Explicit(
      buses: [(id: 1, x: 0.0, y: 0.0), (id: 2, x: 1000.0, y: 0.0)],
      lines: [(from: 1, to: 2, x_pu: 0.1)],
      generators: [(bus: 1, p_mw: 1.0, pmax_mw: 10.0, cost: (c2: 0.0, c1: 50.0, c0: 0.0))],
      loads: [(bus: 2, p_mw: 1.0)],
    ),
    ev: (
      stations: [(bus: 2, ports: 2, port_kw: 10.0, feeder_kw: 10.0)],
      arrivals_per_hour: 40.0,
      arrivals: Flat,
      energy_min_kwh: 0.5,
      energy_max_kwh: 3.0,
      dwell_min_h: 0.1,
      dwell_max_h: 0.3,
      max_queue: 10,
    ),
  )),
)"#;

#[test]
fn charger_policies_share_the_contended_station_as_they_say() {
    let mut out = Vec::new();
    for policy in ["Fcfs", "FairShare", "EarliestDeparture"] {
        let s = text(STATION).with_set("world.ev.policy", policy).expect("valid");
        let mut app = headless_app(&s, Some(1));
        run_ticks(&mut app, s.ticks, |_| {});
        let last = |c: &str| app.world().resource::<Metrics>().last(c).unwrap_or(f64::NAN);
        out.push((policy, last("charging_fairness_jain"), last("ev_unmet_kwh"), last("ev_mean_wait_s")));
        assert!(last("ev_unmet_kwh") > 0.0, "{policy}: the station is contended");
    }
    let (fcfs, fair) = (out[0], out[1]);
    assert!(fair.1 > fcfs.1, "fair share is fairer than first come, first served: {out:?}");
    assert!(out.iter().all(|o| o.1 > 0.0 && o.1 <= 1.0), "{out:?}");
}
