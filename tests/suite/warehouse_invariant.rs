//! No two robots in one cell and no two robots through each other, ever: long runs under
//! every coordination strategy on a floor of one-cell aisles, with 30 % message loss,
//! latency spikes, robot crashes, breakdowns, move delays, a silent fleet manager, a
//! network partition (the floor's left columns cut off from everyone else), a blocked cell
//! and a charger outage. Checked on the trace (every robot's cell at every
//! tick, from agents.csv), not only on the `conflicts` counter; the checker itself is shown
//! to catch both kinds of conflict.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use masim::runner::{self, RunOptions};
use masim::scenario;

fn scratch(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("warehouse_invariant").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("scratch folder");
    d
}

const BASE: &str = r#"(
  name: "invariant",
  seed: 21,
  ticks: 1000,
  dt: 1.0,
  coordination: Centralized,
  channel: (topology: AllToAll, latency_ticks: 1, jitter_ticks: 1, loss: 0.3),
  faults: [
    (at: 150, duration: 250, fault: Crash(kind: Robot, fraction: 0.1)),
    (at: 450, duration: 120, fault: Crash(kind: FleetManager, fraction: 1.0)),
    (at: 650, duration: 80, fault: Latency(extra_ticks: 3)),
    (at: 800, duration: 60, fault: Loss(loss: 0.6)),
    (at: 880, duration: 70, fault: Partition(regions: [(x0: -1000.0, y0: -1000.0, x1: 5.0, y1: 1000.0)])),
  ],
  output: (record_every: 10, trace_every: 1),
  world: Warehouse((
    map: Layout((shelf_cols: 4, shelf_rows: 3, shelf_len: 6, shelf_depth: 2, corridor: 1, margin: 3,
                 pick_every: 2, drops_per_side: 3, parking_per_side: 3, chargers: 3)),
    robots: 32,
    orders: (rate_per_h: 3000.0),
    battery: (capacity_kwh: 0.05, initial: 1.0, initial_spread: 0.6, move_kwh: 0.0002, idle_kw: 0.02, charge_kw: 1.0),
    robot: (breakdowns_per_h: 4.0, repair_ticks: Some(40), delay_probability: 0.05, delay_ticks: 2),
    events: [
      (at: 300, duration: Some(300), event: BlockCell(row: 1, col: 12)),
      (at: 350, duration: Some(200), event: ChargerOutage(charger: 0)),
    ],
  )),
)"#;

/// Robots by tick: id, (row, col), state.
type Trace = BTreeMap<u64, Vec<(u32, (i64, i64), String)>>;
/// Each robot's (row, col).
type Positions = BTreeMap<u32, (i64, i64)>;
/// The robot on each (row, col).
type Occupancy = BTreeMap<(i64, i64), u32>;

/// Every robot's cell by tick, from agents.csv (x, y back to row and column).
fn trace(dir: &Path, rows: u32, cell_m: f64) -> Trace {
    let text = std::fs::read_to_string(dir.join("agents.csv")).expect("agents.csv");
    let mut by_tick: Trace = BTreeMap::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        if f[2] != "robot" {
            continue;
        }
        let (x, y): (f64, f64) = (f[3].parse().expect("x"), f[4].parse().expect("y"));
        let col = (x / cell_m).floor() as i64;
        let row = i64::from(rows) - 1 - (y / cell_m).floor() as i64;
        by_tick.entry(f[0].parse().expect("tick")).or_default().push((
            f[1].parse().expect("id"),
            (row, col),
            f[6].to_string(),
        ));
    }
    by_tick
}

/// Vertex conflicts, swaps and jumps (moves of more than one cell) in a trace; crashed
/// robots that moved.
fn violations(by_tick: &Trace) -> Vec<String> {
    let mut bad = Vec::new();
    let mut prev: Option<(u64, Positions, Occupancy)> = None;
    for (&t, robots) in by_tick {
        let mut at: BTreeMap<(i64, i64), u32> = BTreeMap::new();
        let mut pos: BTreeMap<u32, (i64, i64)> = BTreeMap::new();
        for (id, cell, state) in robots {
            if let Some(other) = at.insert(*cell, *id) {
                bad.push(format!("tick {t}: robots {other} and {id} both on {cell:?}"));
            }
            pos.insert(*id, *cell);
            if let Some((pt, ppos, _)) = &prev
                && *pt + 1 == t
                && let Some(p) = ppos.get(id)
            {
                let d = (p.0 - cell.0).abs() + (p.1 - cell.1).abs();
                if d > 1 {
                    bad.push(format!("tick {t}: robot {id} jumped from {p:?} to {cell:?}"));
                }
                if state == "crashed" && d > 0 && robots.iter().any(|r| r.0 == *id) {
                    let was_crashed =
                        by_tick.get(&(t - 1)).is_some_and(|v| v.iter().any(|r| r.0 == *id && r.2 == "crashed"));
                    if was_crashed {
                        bad.push(format!("tick {t}: crashed robot {id} moved"));
                    }
                }
            }
        }
        if let Some((pt, ppos, pat)) = &prev
            && *pt + 1 == t
        {
            for (id, cell) in &pos {
                let Some(p) = ppos.get(id) else { continue };
                if p == cell {
                    continue;
                }
                // Who was on the cell this robot moved into, and did it move into ours?
                if let Some(&other) = pat.get(cell)
                    && other != *id
                    && pos.get(&other) == Some(p)
                    && id < &other
                {
                    bad.push(format!("tick {t}: robots {id} and {other} swapped {p:?} and {cell:?}"));
                }
            }
        }
        prev = Some((t, pos, at));
    }
    bad
}

#[test]
fn the_checker_catches_vertex_conflicts_swaps_and_jumps() {
    let mut t: Trace = BTreeMap::new();
    let r = |id, row, col| (id, (row, col), "to_pick".to_string());
    t.insert(1, vec![r(1, 0, 0), r(2, 0, 1), r(3, 5, 5)]);
    t.insert(2, vec![r(1, 0, 1), r(2, 0, 0), r(3, 5, 7)]);
    t.insert(3, vec![r(1, 0, 1), r(2, 0, 1), r(3, 5, 7)]);
    let v = violations(&t);
    assert!(v.iter().any(|m| m.contains("swapped")), "{v:?}");
    assert!(v.iter().any(|m| m.contains("jumped")), "{v:?}");
    assert!(v.iter().any(|m| m.contains("both on")), "{v:?}");
    // Following and a rotation are not conflicts.
    let mut ok: Trace = BTreeMap::new();
    ok.insert(1, vec![r(1, 0, 0), r(2, 0, 1), r(3, 1, 1), r(4, 1, 0), r(5, 0, 2)]);
    ok.insert(2, vec![r(1, 0, 1), r(2, 1, 1), r(3, 1, 0), r(4, 0, 0), r(5, 0, 3)]);
    assert!(violations(&ok).is_empty(), "{:?}", violations(&ok));
}

/// `base` with `sets` applied, run into a fresh scratch folder `name` with a trace every
/// tick: the scenario run, the folder and the outcome.
fn run_traced(
    base: &masim::scenario::Scenario,
    name: &str,
    sets: Vec<(String, String)>,
) -> (masim::scenario::Scenario, PathBuf, runner::RunOutcome) {
    let s = base.with_sets(&sets).unwrap_or_else(|(_, i)| panic!("{name}: {}", i.message));
    let dir = scratch(name);
    let out = runner::run_to_dir(
        &s,
        &dir,
        &RunOptions { trace: true, threads: 1, overrides: sets, ..Default::default() },
        |_| {},
    )
    .expect("runs");
    (s, dir, out)
}

#[test]
fn no_conflict_under_any_strategy_with_faults_and_thirty_percent_loss() {
    let base = scenario::load_str(BASE, "invariant.ron").unwrap_or_else(|e| panic!("{e}"));
    let variants: [(&str, &[(&str, &str)]); 6] = [
        ("central_pibt", &[("coordination", "Centralized")]),
        ("central_whca", &[("coordination", "Centralized"), ("world.planner.kind", "Whca")]),
        ("decentralized", &[("coordination", "Decentralized")]),
        ("hierarchical", &[("coordination", "Hierarchical")]),
        ("hierarchical_negotiated", &[("coordination", "Hierarchical"), ("world.planning", "Decentralized")]),
        ("none", &[("coordination", "None")]),
    ];
    for (name, sets) in variants {
        let sets: Vec<(String, String)> = sets.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let (s, dir, out) = run_traced(&base, name, sets);
        let col = |c: &str| out.columns.iter().position(|x| *x == c).unwrap_or_else(|| panic!("no column {c}"));
        let sum = |c: &str| out.rows.iter().map(|r| r[col(c)]).sum::<f64>();
        let last = |c: &str| out.rows.last().map_or(0.0, |r| r[col(c)]);
        assert_eq!(sum("conflicts"), 0.0, "{name}: the invariant's counter");
        let t = trace(&dir, 2 + 3 * 2 + 4, 1.0);
        assert_eq!(t.len() as u64, s.ticks, "{name}: one snapshot per tick");
        let v = violations(&t);
        assert!(v.is_empty(), "{name}: {} violations, first: {:?}", v.len(), &v[..v.len().min(5)]);
        // The run did what it says: robots worked, crashed and broke down, and messages
        // were lost.
        assert!(last("tasks_completed") >= 10.0, "{name}: only {} tasks", last("tasks_completed"));
        assert!(sum("msgs_dropped_loss") > 0.0, "{name}: no message lost");
        let states: std::collections::BTreeSet<&str> = t.values().flatten().map(|r| r.2.as_str()).collect();
        assert!(states.contains("crashed") && states.contains("broken"), "{name}: {states:?}");
        if name != "none" {
            // The partition cut messages: more unreachable copies while it lasted than in as
            // many ticks before it (crashed recipients count as unreachable too).
            let tick = col("tick");
            let unreachable = |from: f64, to: f64| -> f64 {
                out.rows.iter().filter(|r| r[tick] > from && r[tick] <= to).map(|r| r[col("msgs_dropped_range")]).sum()
            };
            let (during, before) = (unreachable(880.0, 950.0), unreachable(810.0, 880.0));
            assert!(during > before + 10.0, "{name}: the partition cut {during} copies, {before} before it");
        }
        if name.starts_with("central") {
            // Lost and late reservations happened, and never became conflicts.
            assert!(sum("stale_reservations") + sum("interlock_stops") > 0.0, "{name}: no stale reservation");
        }
        let events = std::fs::read_to_string(dir.join("events.jsonl")).expect("events");
        assert!(events.contains("\"cell_blocked\"") && events.contains("\"charger_outage\""), "{name}");
        assert!(!events.contains("conservation_violation"), "{name}: tasks not conserved");
    }
}

#[test]
fn hijacked_robots_ignore_reservations_and_nobody_collides() {
    // Two robots drive for their goals from tick 500 to 800 whatever their reservations
    // say and never yield a contest; the others' interlocks keep everyone apart.
    let text = BASE.replace(
        "  output:",
        "  attacks: [(at: 500, duration: 300, attackers: (agents: [7, 19]), attack: Hijack)],\n  output:",
    );
    let base = scenario::load_str(&text, "invariant.ron").unwrap_or_else(|e| panic!("{e}"));
    for (name, coord) in [("hijack_central", "Centralized"), ("hijack_decentralized", "Decentralized")] {
        let sets = vec![("coordination".to_string(), coord.to_string())];
        let (s, dir, out) = run_traced(&base, name, sets);
        let col = |c: &str| out.columns.iter().position(|x| *x == c).unwrap_or_else(|| panic!("no column {c}"));
        assert_eq!(out.rows.iter().map(|r| r[col("conflicts")]).sum::<f64>(), 0.0, "{name}");
        let t = trace(&dir, 2 + 3 * 2 + 4, 1.0);
        let v = violations(&t);
        assert!(v.is_empty(), "{name}: {} violations, first: {:?}", v.len(), &v[..v.len().min(5)]);
        let events = std::fs::read_to_string(dir.join("events.jsonl")).expect("events");
        assert!(events.contains("\"attack_start\""), "{name}: the hijack started");
        // The hijacked robots moved while hijacked.
        let moved = |id: u32| {
            let cells: std::collections::BTreeSet<(i64, i64)> =
                t.range(500..800).flat_map(|(_, rs)| rs.iter().filter(|r| r.0 == id).map(|r| r.1)).collect();
            cells.len()
        };
        assert!(moved(7) > 3 || moved(19) > 3, "{name}: hijacked robots moved ({} and {} cells)", moved(7), moved(19));
        // In process: their decisions say so while the attack lasts, and never before.
        let mut app = runner::headless_app(&s, Some(1));
        let mut said = Vec::new();
        runner::run_ticks(&mut app, 700, |w| {
            let tick = w.resource::<masim::sim::SimClock>().tick;
            let mut q = w.query::<(&masim::sim::Agent, &masim::sim::Decision)>();
            for (a, d) in q.iter(w) {
                if (a.id.0 == 7 || a.id.0 == 19) && d.reason == "hijacked" {
                    said.push(tick);
                }
            }
        });
        assert!(!said.is_empty() && said.iter().all(|&t| t > 500), "{name}: hijacked decisions at {said:?}");
    }
}
