//! Traffic benchmarks (BENCHMARKS.md): ticks/s and vehicle-updates/s of the NaSch and IDM
//! rings against a plain-Rust NaSch loop, and the channel's overhead curve per topology
//! and coordination. `cargo bench --no-default-features --bench traffic [-- nasch|idm|channel]`;
//! `MASIM_BENCH_THREADS=N` sets masim's worker threads (default: all cores);
//! `MASIM_BENCH_SIZES=1000,100000` picks the vehicle counts.

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use bevy::prelude::App;
use masim::runner::{headless_app, step};
use masim::scenario::{Scenario, load_file};
use masim::sim::{AgentRng, Metrics};
use masim::worlds::traffic::ring::Cell;
use rand::RngExt;
use rand::rngs::Xoshiro256PlusPlus;

fn scenario(file: &str, sets: &[(&str, String)]) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios").join(file);
    let mut s = load_file(&path).unwrap_or_else(|e| panic!("{e}"));
    for (k, v) in sets {
        s = s.with_set(k, v).unwrap_or_else(|i| panic!("--set {k}={v}: {}", i.message));
    }
    s
}

const SEED: u64 = 7;
const VMAX: u32 = 5;
const P_SLOW: f64 = 0.25;

/// NaSch ring at density 0.2 vehicles per cell, communication off.
fn nasch_scenario(n: u32) -> Scenario {
    scenario(
        "traffic_ring_nasch.ron",
        &[
            ("world.road.length_m", format!("{:?}", f64::from(n) * 5.0 * 7.5)),
            ("world.vehicles", n.to_string()),
            ("world.model.vmax", VMAX.to_string()),
            ("world.model.p_slow", format!("{P_SLOW:?}")),
            ("seed", SEED.to_string()),
            ("coordination", "None".into()),
            ("output.record_every", "100".into()),
        ],
    )
}

/// IDM ring at the Sugiyama spacing (230 m / 22 vehicles).
fn idm_scenario(n: u32, coordination: &str, topology: &str) -> Scenario {
    scenario(
        "traffic_ring.ron",
        &[
            ("world.road.length_m", format!("{:?}", f64::from(n) * 230.0 / 22.0)),
            ("world.vehicles", n.to_string()),
            ("coordination", coordination.into()),
            ("channel.topology", topology.into()),
            ("output.record_every", "100".into()),
        ],
    )
}

/// Worker threads from `MASIM_BENCH_THREADS` (the first app of a process fixes them).
fn threads() -> Option<usize> {
    std::env::var("MASIM_BENCH_THREADS").ok().and_then(|s| s.parse().ok())
}

fn metric(app: &App, name: &str) -> f64 {
    let m = app.world().resource::<Metrics>();
    m.current()[m.index(name).unwrap_or_else(|| panic!("no metric {name}"))]
}

/// Vehicle counts to run: `MASIM_BENCH_SIZES=1000,100000` picks some (for profiling).
fn sizes(all: &[u32]) -> Vec<u32> {
    match std::env::var("MASIM_BENCH_SIZES") {
        Ok(s) => s
            .split(',')
            .map(|x| x.trim().parse().unwrap_or_else(|_| panic!("MASIM_BENCH_SIZES={s}: {x:?} is not a vehicle count")))
            .collect(),
        Err(_) => all.to_vec(),
    }
}

/// CPU seconds used by this process so far, all threads (Linux: /proc/self/stat, 10 ms
/// resolution); NaN elsewhere. Unlike wall time it hardly changes when other processes
/// compete for the cores.
fn cpu_s() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return f64::NAN };
    // Fields after the command name in parentheses; utime and stime are the 14th and 15th.
    let rest = stat.rsplit_once(')').map_or("", |r| r.1);
    let f: Vec<&str> = rest.split_whitespace().collect();
    match (f.get(11).and_then(|x| x.parse::<f64>().ok()), f.get(12).and_then(|x| x.parse::<f64>().ok())) {
        (Some(u), Some(s)) => (u + s) / 100.0,
        _ => f64::NAN,
    }
}

/// Steps until at least `min_s` seconds and `min_ticks` ticks have passed; (ticks, seconds).
fn time_app(app: &mut App, min_s: f64, min_ticks: u64) -> (u64, f64) {
    let t0 = Instant::now();
    let mut ticks = 0;
    while ticks < min_ticks || t0.elapsed().as_secs_f64() < min_s {
        step(app);
        ticks += 1;
    }
    (ticks, t0.elapsed().as_secs_f64())
}

/// Timing windows, since the machine may be shared: the best window is the figure least
/// disturbed by other processes; the median is given beside it.
const WINDOWS: usize = 10;

/// Best and median rate (ticks/s) of timed windows.
fn best_median(w: &[(u64, f64)]) -> (f64, f64) {
    let mut r: Vec<f64> = w.iter().map(|&(t, s)| t as f64 / s).collect();
    r.sort_by(f64::total_cmp);
    (r[r.len() - 1], r[r.len() / 2])
}

/// The reference: the same NaSch update (parallel update, rules in the same order, the
/// same per-vehicle Xoshiro256++ streams) as a plain loop over vectors, one thread.
struct PlainNasch {
    cells: u32,
    pos: Vec<u32>,
    v: Vec<u32>,
    next_v: Vec<u32>,
    rng: Vec<Xoshiro256PlusPlus>,
}

impl PlainNasch {
    fn new(n: u32) -> Self {
        let cells = n * 5;
        PlainNasch {
            cells,
            pos: (0..n).map(|i| (u64::from(i) * u64::from(cells) / u64::from(n)) as u32).collect(),
            v: vec![0; n as usize],
            next_v: vec![0; n as usize],
            rng: (0..n).map(|i| AgentRng::new(SEED, "vehicle", u64::from(i)).0).collect(),
        }
    }

    fn tick(&mut self) {
        let n = self.pos.len();
        let cells = self.cells;
        for i in 0..n {
            let lead = self.pos[if i + 1 == n { 0 } else { i + 1 }];
            let gap = (lead + cells - self.pos[i] - 1) % cells;
            let mut v = (self.v[i] + 1).min(VMAX).min(gap);
            if self.rng[i].random_bool(P_SLOW) {
                v = v.saturating_sub(1);
            }
            self.next_v[i] = v;
        }
        std::mem::swap(&mut self.v, &mut self.next_v);
        for i in 0..n {
            let p = self.pos[i] + self.v[i];
            self.pos[i] = if p >= cells { p - cells } else { p };
        }
    }
}

fn bench_nasch() {
    println!("## NaSch ring, density 0.2, vmax 5, p 0.25, coordination None\n");
    println!(
        "| vehicles | masim ticks/s best (median) | masim veh-updates/s | plain ticks/s best (median) | plain veh-updates/s | plain/masim (wall): best / median window | masim CPU ns/update | plain CPU ns/update | masim/plain (CPU) | same state |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|");
    for n in sizes(&[1_000, 10_000, 100_000, 1_000_000]) {
        let (min_s, warm) = if n >= 1_000_000 { (5.0, 3) } else { (3.0, 10) };
        let t_spawn = Instant::now();
        let mut app = headless_app(&nasch_scenario(n), threads());
        let spawn_s = t_spawn.elapsed().as_secs_f64();
        for _ in 0..warm {
            step(&mut app);
        }
        // The plain loop runs exactly the same windows, so the final states must agree.
        let mut plain = PlainNasch::new(n);
        for _ in 0..warm {
            plain.tick();
        }
        // Windows alternate, masim then plain with the same tick count, so that a change
        // in the host's speed during the run falls on both alike.
        let (mut windows, mut plain_windows) = (Vec::new(), Vec::new());
        let (mut masim_cpu, mut plain_cpu) = (0.0, 0.0);
        for _ in 0..WINDOWS {
            let cpu0 = cpu_s();
            let w = time_app(&mut app, min_s / WINDOWS as f64, 2);
            let cpu1 = cpu_s();
            let t0 = Instant::now();
            for _ in 0..w.0 {
                plain.tick();
            }
            black_box(&plain.pos);
            plain_windows.push((w.0, t0.elapsed().as_secs_f64()));
            plain_cpu += cpu_s() - cpu1;
            masim_cpu += cpu1 - cpu0;
            windows.push(w);
        }
        let (masim_tps, masim_med) = best_median(&windows);
        let (plain_tps, plain_med) = best_median(&plain_windows);
        // Each window's own ratio (masim's time over the plain loop's on the same ticks).
        let mut paired: Vec<f64> = windows.iter().zip(&plain_windows).map(|(m, p)| m.1 / p.1).collect();
        paired.sort_by(f64::total_cmp);
        let paired_med = paired[paired.len() / 2];
        let ticks: u64 = windows.iter().map(|w| w.0).sum();
        let secs: f64 = windows.iter().map(|w| w.1).sum();

        let w = app.world_mut();
        let mut q = w.query::<(&masim::sim::Agent, &Cell)>();
        let mut cells: Vec<(u32, u32, u32)> = q.iter(w).map(|(a, c)| (a.id.0, c.cell, c.v)).collect();
        cells.sort_unstable();
        let same = cells.len() == plain.pos.len()
            && cells.iter().all(|&(id, c, v)| plain.pos[id as usize] == c && plain.v[id as usize] == v);
        let nf = f64::from(n);
        println!(
            "| {n} | {masim_tps:.1} ({masim_med:.1}) | {:.3e} | {plain_tps:.1} ({plain_med:.1}) | {:.3e} | {:.2}× / {paired_med:.2}× | {:.0} | {:.0} | {:.2}× | {} |",
            masim_tps * nf,
            plain_tps * nf,
            plain_tps / masim_tps,
            masim_cpu / (ticks as f64 * nf) * 1e9,
            plain_cpu / (ticks as f64 * nf) * 1e9,
            masim_cpu / plain_cpu,
            if same { "yes" } else { "NO" }
        );
        eprintln!("  n={n}: spawn {spawn_s:.2} s (excluded), {ticks} ticks timed in {secs:.2} s");
    }
    println!();
}

fn bench_idm() {
    println!("## IDM ring, Sugiyama spacing (10.45 m per vehicle), coordination None\n");
    println!("| vehicles | masim ticks/s best (median) | masim veh-updates/s |");
    println!("|---:|---:|---:|");
    for n in sizes(&[1_000, 10_000]) {
        let mut app = headless_app(&idm_scenario(n, "None", "RangeLimited"), threads());
        for _ in 0..10 {
            step(&mut app);
        }
        let windows: Vec<(u64, f64)> = (0..WINDOWS).map(|_| time_app(&mut app, 3.0 / WINDOWS as f64, 2)).collect();
        let (tps, med) = best_median(&windows);
        println!("| {n} | {tps:.1} ({med:.1}) | {:.3e} |", tps * f64::from(n));
    }
    println!();
}

fn bench_channel() {
    println!("## Channel overhead per tick (IDM ring, Sugiyama spacing; mean over 50 ticks after 20)\n");
    println!("Decentralized: every vehicle beacons its state each tick to vehicles within 50 m (V2V).");
    println!("Centralized: every vehicle reports to the roadside controller each tick, which");
    println!("broadcasts one speed advice to the vehicles it reaches.\n");
    println!(
        "| coordination | topology | vehicles | msgs_sent | msgs_delivered | dropped (range) | relayed | bytes | bytes/vehicle | ticks/s |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for coord in ["Decentralized", "Centralized"] {
        for topo in ["AllToAll", "RangeLimited", "Hierarchical"] {
            for n in [100u32, 1_000, 10_000] {
                let mut app = headless_app(&idm_scenario(n, coord, topo), threads());
                for _ in 0..20 {
                    step(&mut app);
                }
                let cols = ["msgs_sent", "msgs_delivered", "msgs_dropped_range", "msgs_relayed", "bytes_sent"];
                let mut sum = [0.0; 5];
                let k = 50;
                let t0 = Instant::now();
                for _ in 0..k {
                    step(&mut app);
                    for (s, c) in sum.iter_mut().zip(cols) {
                        *s += metric(&app, c);
                    }
                }
                let tps = f64::from(k) / t0.elapsed().as_secs_f64();
                let m: Vec<f64> = sum.iter().map(|s| s / f64::from(k)).collect();
                println!(
                    "| {coord} | {topo} | {n} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {tps:.1} |",
                    m[0],
                    m[1],
                    m[2],
                    m[3],
                    m[4],
                    m[4] / f64::from(n)
                );
            }
        }
    }
    println!();
}

fn main() {
    // `cargo bench` passes `--bench`; any other word selects groups.
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let want = |g: &str| args.is_empty() || args.iter().any(|a| a == g);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = threads().unwrap_or(cores);
    println!("# masim traffic benchmarks ({threads} worker threads on {cores} cores, release build)\n");
    if want("nasch") {
        bench_nasch();
    }
    if want("idm") {
        bench_idm();
    }
    if want("channel") {
        bench_channel();
    }
}
