//! City-grid benchmarks (BENCHMARKS.md, "City grid"): ticks/s and vehicle-updates/s of
//! the grid world with about 10³ and 10⁴ vehicles in the network, for fixed-time and
//! max-pressure lights, with the channel load per tick.
//! `cargo bench --no-default-features --bench grid`; `MASIM_BENCH_THREADS=N` sets the
//! worker threads (default: all cores).

use std::path::Path;
use std::time::Instant;

use masim::runner::{headless_app, step};
use masim::scenario::{Scenario, load_file};
use masim::sim::Metrics;

fn scenario(sets: &[(&str, String)]) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios").join("traffic_grid.ron");
    let mut s = load_file(&path).unwrap_or_else(|e| panic!("{e}"));
    for (k, v) in sets {
        s = s.with_set(k, v).unwrap_or_else(|i| panic!("--set {k}={v}: {}", i.message));
    }
    s
}

/// A grid whose fleet of `n` vehicles is all but always on the road: demand far above
/// what the fleet can serve, so every vehicle that finishes a trip starts the next.
fn grid(n: u32, side: u32, lanes: u32, coordination: &str) -> Scenario {
    scenario(&[
        ("world.road.rows", side.to_string()),
        ("world.road.cols", side.to_string()),
        ("world.road.lanes", lanes.to_string()),
        ("world.vehicles", n.to_string()),
        ("world.city.demand.default_rate_veh_per_h", "3000".into()),
        ("coordination", coordination.into()),
        ("output.record_every", "1".into()),
        ("seed", "7".into()),
    ])
}

/// CPU seconds this process has used (all threads), from /proc/self/stat; NaN elsewhere.
fn cpu_s() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return f64::NAN };
    // Fields after the command name (which is in parentheses): utime and stime are the
    // 12th and 13th, in clock ticks of 1/100 s.
    let rest = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(f64::NAN);
    (field(11) + field(12)) / 100.0
}

fn metric(m: &Metrics, name: &str) -> f64 {
    m.index(name).map_or(f64::NAN, |i| m.current()[i])
}

fn main() {
    let threads: Option<usize> = std::env::var("MASIM_BENCH_THREADS").ok().and_then(|s| s.parse().ok());
    let filter: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    println!("## City grid: fleet on the road, 200 m blocks, demand above capacity\n");
    println!(
        "| vehicles (fleet) | grid | lanes | coordination | in network (mean) | warm-up ticks | measured ticks | ticks/s | vehicle-updates/s | CPU µs per vehicle-update | msgs sent/tick | msgs delivered/tick |"
    );
    println!("|---:|:---:|---:|:---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (n, side, lanes, warm, ticks) in [(1_000u32, 6u32, 1u32, 1200u64, 2000u64), (10_000, 20, 2, 1600, 400)] {
        for coordination in ["None", "Decentralized"] {
            let label = format!("{n}-{coordination}");
            if !filter.is_empty() && !filter.iter().any(|f| label.contains(f.as_str())) {
                continue;
            }
            let s = grid(n, side, lanes, coordination);
            let mut app = headless_app(&s, threads);
            for _ in 0..warm {
                step(&mut app);
            }
            let (mut inside, mut sent, mut delivered) = (0.0, 0.0, 0.0);
            let t0 = Instant::now();
            let c0 = cpu_s();
            for _ in 0..ticks {
                step(&mut app);
                let m = app.world().resource::<Metrics>();
                inside += metric(m, "vehicles_in_network");
                sent += metric(m, "msgs_sent");
                delivered += metric(m, "msgs_delivered");
            }
            let wall = t0.elapsed().as_secs_f64();
            let cpu = cpu_s() - c0;
            let k = ticks as f64;
            let tps = k / wall;
            println!(
                "| {n} | {side}×{side} | {lanes} | {coordination} | {:.0} | {warm} | {ticks} | {tps:.0} | {:.3e} | {:.2} | {:.0} | {:.0} |",
                inside / k,
                inside / k * tps,
                cpu / inside * 1e6,
                sent / k,
                delivered / k
            );
        }
    }
}
