//! Warehouse benchmarks (BENCHMARKS.md, "Robot warehouse"): ticks/s and central planning
//! time per tick at 10², 10³ and 10⁴ robots on masim's `warehouse-20-40-10-2-2` layout
//! (164 × 340 cells, 38 756 free), errands between free cells, the fleet manager allocating
//! and planning every robot with PIBT; checks that the invariant's `conflicts` stay 0.
//! `cargo bench --no-default-features --bench warehouse [-- FILTER]` (FILTER: `100`,
//! `1000`, `10000`, `Whca`, `Decentralized`, ...); `MASIM_BENCH_THREADS=N` sets the worker
//! threads (default: all cores).

use std::path::Path;
use std::time::Instant;

use masim::runner::{headless_app, step};
use masim::scenario::{Scenario, load_file};
use masim::sim::{Metrics, Timings};
use masim::worlds::WorldConfig;
use masim::worlds::warehouse::MapSource;
use masim::worlds::warehouse::map::WarehouseLayout;

/// The kiva scenario on the large layout with `n` robots, orders far above what the fleet
/// serves (every robot that finishes an errand gets the next), no faults, no loss.
fn scenario(n: u32, coordination: &str, planner: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios").join("warehouse_kiva.ron");
    let mut s = load_file(&path).unwrap_or_else(|e| panic!("{e}"));
    // The floor first, so that the robot count is checked against it.
    let layout = WarehouseLayout { chargers: 40, ..WarehouseLayout::movingai_20_40_10_2_2() };
    let map = serde_json::to_string(&MapSource::Layout(layout)).unwrap_or_else(|e| panic!("{e}"));
    let sets = [
        ("world.map", map),
        ("world.robots", n.to_string()),
        ("world.orders.rate_per_h", (f64::from(n) * 60.0).to_string()),
        ("world.robot.breakdowns_per_h", "0".into()),
        ("world.planner.kind", planner.into()),
        ("channel.loss", "0".into()),
        ("coordination", coordination.into()),
        ("output.record_every", "1".into()),
        ("seed", "7".into()),
    ];
    for (k, v) in sets {
        s = s.with_set(k, &v).unwrap_or_else(|i| panic!("--set {k}={v}: {}", i.message));
    }
    s.faults.clear();
    assert!(matches!(s.world, WorldConfig::Warehouse(_)), "warehouse_kiva.ron is a warehouse");
    s
}

/// CPU seconds this process has used (all threads), from /proc/self/stat; NaN elsewhere.
fn cpu_s() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return f64::NAN };
    let rest = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(f64::NAN);
    (field(11) + field(12)) / 100.0
}

fn metric(m: &Metrics, name: &str) -> f64 {
    m.index(name).map_or(f64::NAN, |i| m.current()[i])
}

fn timing(app: &bevy::prelude::App, name: &str) -> f64 {
    app.world().resource::<Timings>().0.iter().find(|(n, _)| *n == name).map_or(0.0, |p| p.1)
}

fn main() {
    let threads: Option<usize> = std::env::var("MASIM_BENCH_THREADS").ok().and_then(|s| s.parse().ok());
    let filter: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    println!("## Robot warehouse: warehouse-20-40-10-2-2 (38 756 free cells), errands between free cells\n");
    println!(
        "| robots | coordination | planner | warm-up ticks | measured ticks | ticks/s | planning ms/tick | allocation ms/tick | CPU ms/tick | robots moving (mean) | tasks done in window | msgs sent/tick | conflicts |"
    );
    println!("|---:|:---|:---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let runs: [(u32, &str, &str, u64, u64); 6] = [
        (100, "Centralized", "Pibt", 100, 400),
        (1_000, "Centralized", "Pibt", 100, 200),
        (10_000, "Centralized", "Pibt", 30, 30),
        (100, "Centralized", "Whca", 100, 200),
        (1_000, "Centralized", "Whca", 50, 50),
        (1_000, "Decentralized", "Pibt", 50, 100),
    ];
    for (n, coordination, planner, warm, ticks) in runs {
        let label = format!("{n}-{coordination}-{planner}");
        if !filter.is_empty() && !filter.iter().any(|f| label.split('-').any(|p| p == f.as_str()) || label == *f) {
            continue;
        }
        let s = scenario(n, coordination, planner);
        let mut app = headless_app(&s, threads);
        for _ in 0..warm {
            step(&mut app);
        }
        let (p0, a0) = (timing(&app, "planning"), timing(&app, "allocation"));
        let done0 = metric(app.world().resource::<Metrics>(), "tasks_completed");
        let (mut moving, mut sent, mut conflicts) = (0.0, 0.0, 0.0);
        let t0 = Instant::now();
        let c0 = cpu_s();
        for _ in 0..ticks {
            step(&mut app);
            let m = app.world().resource::<Metrics>();
            moving += metric(m, "robots_moving");
            sent += metric(m, "msgs_sent");
            conflicts += metric(m, "conflicts");
        }
        let wall = t0.elapsed().as_secs_f64();
        let cpu = cpu_s() - c0;
        let k = ticks as f64;
        let done = metric(app.world().resource::<Metrics>(), "tasks_completed") - done0;
        let planning = (timing(&app, "planning") - p0) / k;
        let allocation = (timing(&app, "allocation") - a0) / k;
        println!(
            "| {n} | {coordination} | {planner} | {warm} | {ticks} | {:.2} | {:.1} | {:.1} | {:.0} | {:.0} | {done:.0} | {:.0} | {conflicts:.0} |",
            k / wall,
            planning * 1e3,
            allocation * 1e3,
            cpu / k * 1e3,
            moving / k,
            sent / k,
        );
        assert_eq!(conflicts, 0.0, "{label}: the invariant found conflicts");
    }
}
