//! A constructed head-on meeting: two robots in rooms joined by a one-cell corridor, each
//! carrying a load to the other room. Without coordination they meet in the corridor and
//! wait for each other: a wait-for cycle that is reported as a `deadlock` event with
//! exactly those two robots and their cells, and counted. Coordinated (robots negotiating,
//! or the fleet manager planning with PIBT or WHCA*), they pass and both deliver.

use masim::runner::{headless_app, run_ticks};
use masim::scenario::{self, Scenario};
use masim::sim::{EventLog, Metrics};

/// Two 3 × 3 rooms joined by a corridor of five cells (row 2, columns 4–8); a parking spot
/// in each room, where the robots start.
const ROWS: [&str; 5] = ["#############", "#Z..#####...#", "#...........#", "#...#####..Z#", "#############"];

fn corridor() -> String {
    let rows: Vec<String> = ROWS.iter().map(|r| format!("\"{r}\"")).collect();
    format!(
        r#"(
  name: "corridor",
  ticks: 300,
  dt: 1.0,
  coordination: None,
  channel: (topology: AllToAll),
  output: (record_every: 1),
  world: Warehouse((
    map: Rows([{}]),
    robots: 2,
    orders: (rate_per_h: 0.0, list: [
      (at: 0, pick: Some((2, 1)), drop: Some((2, 11))),
      (at: 0, pick: Some((2, 11)), drop: Some((2, 1))),
    ]),
    robot: (park_after_ticks: 100000),
    failsafe: (deadlock_ticks: 3, patience_ticks: 1000),
  )),
)"#,
        rows.join(", ")
    )
}

fn load(sets: &[(&str, &str)]) -> Scenario {
    let s = scenario::load_str(&corridor(), "corridor.ron").unwrap_or_else(|e| panic!("{e}"));
    let sets: Vec<(String, String)> = sets.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    s.with_sets(&sets).unwrap_or_else(|(_, i)| panic!("{}", i.message))
}

/// Robot ids: the fleet manager is 0, four zone managers 1..=4, the robots 5 and 6.
const ROBOTS: [u32; 2] = [5, 6];

#[test]
fn head_on_in_a_corridor_deadlocks_without_coordination_with_exactly_its_robots() {
    let s = load(&[]);
    let mut app = headless_app(&s, Some(1));
    run_ticks(&mut app, s.ticks, |_| {});
    let log = app.world().resource::<EventLog>();
    let deadlocks: Vec<_> = log.events().iter().filter(|e| e.kind == "deadlock").collect();
    assert!(!deadlocks.is_empty(), "no deadlock reported: {:?}", log.counts());
    let first = deadlocks[0];
    assert_eq!(first.detail["robots"], serde_json::json!(ROBOTS), "{first:?}");
    // Both in the corridor (row 2, columns 4–8), next to each other.
    let cells: Vec<(u64, u64)> = first.detail["cells"]
        .as_array()
        .expect("cells")
        .iter()
        .map(|c| (c[0].as_u64().unwrap_or(99), c[1].as_u64().unwrap_or(99)))
        .collect();
    assert_eq!(cells.len(), 2, "{first:?}");
    assert!(cells.iter().all(|&(r, c)| r == 2 && (4..=8).contains(&c)), "{cells:?}");
    assert_eq!(cells[0].1.abs_diff(cells[1].1), 1, "{cells:?}");
    // Reported once while it lasts (the breaker is held off here), and counted.
    assert_eq!(deadlocks.len(), 1, "{:?}", log.counts());
    let m = app.world().resource::<Metrics>();
    assert_eq!(m.series("deadlocks").expect("column").iter().sum::<f64>(), 1.0);
    assert_eq!(m.last("tasks_completed"), Some(0.0), "they never get past each other");
    assert_eq!(m.series("conflicts").expect("column").iter().sum::<f64>(), 0.0);
}

#[test]
fn the_fail_safe_breaks_it_and_logs_why() {
    // With the breaker: after 6 ticks facing the same robot, the higher id backs off.
    let s = load(&[("world.failsafe.patience_ticks", "6")]);
    let mut app = headless_app(&s, Some(1));
    let mut backoff = false;
    run_ticks(&mut app, s.ticks, |w| {
        let mut q = w.query::<(&masim::sim::Agent, &masim::sim::Decision)>();
        backoff |= q.iter(w).any(|(a, d)| a.id.0 == 6 && d.reason == "deadlock_backoff");
    });
    assert!(backoff, "robot 6 never backed off");
    let m = app.world().resource::<Metrics>();
    assert!(m.series("deadlocks").expect("column").iter().sum::<f64>() >= 1.0);
    assert_eq!(m.last("tasks_completed"), Some(2.0), "after backing out of the corridor both deliver");
}

#[test]
fn coordinated_robots_pass_each_other() {
    for sets in [
        vec![("coordination", "Decentralized")],
        vec![("coordination", "Centralized")],
        vec![("coordination", "Centralized"), ("world.planner.kind", "Whca")],
    ] {
        let s = load(&sets);
        let mut app = headless_app(&s, Some(1));
        run_ticks(&mut app, 120, |_| {});
        let m = app.world().resource::<Metrics>();
        assert_eq!(m.last("tasks_completed"), Some(2.0), "{sets:?}: both loads delivered");
        assert_eq!(m.series("deadlocks").expect("column").iter().sum::<f64>(), 0.0, "{sets:?}");
        assert_eq!(m.series("conflicts").expect("column").iter().sum::<f64>(), 0.0, "{sets:?}");
    }
}
