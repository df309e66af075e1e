//! What analysts take from a single run besides metrics.csv: the city's trips.csv, and
//! agents.csv without the agents that are parked.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_masim");

fn scratch(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("analyst_outputs").join(name);
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn masim(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("masim runs")
}

#[test]
fn the_city_writes_one_row_per_finished_trip() {
    let d = scratch("trips");
    let ds = d.display().to_string();
    let o = masim(&[
        "run",
        "scenarios/traffic_grid.ron",
        "--ticks",
        "1500",
        "--out",
        &ds,
        "-q",
        "--trace",
        "--trace-skip",
        "parked",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let trips = std::fs::read_to_string(d.join("trips.csv")).expect("trips.csv");
    let mut lines = trips.lines();
    assert_eq!(
        lines.next(),
        Some(
            "trip,vehicle,origin,destination,demand_tick,entry_tick,exit_tick,free_flow_s,travel_s,delay_s,stops,reroutes"
        )
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("summary.json")).unwrap()).unwrap();
    let completed = summary["world"]["trips_completed"].as_u64().expect("trips_completed");
    let mean_delay = summary["world"]["mean_delay_s"].as_f64().expect("mean_delay_s");
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert!(completed > 50, "{completed} trips");
    assert_eq!(rows.len() as u64, completed);
    let dt = summary["dt"].as_f64().expect("dt");
    let mut delay_sum = 0.0;
    for r in &rows {
        let f = |i: usize| r[i].parse::<f64>().unwrap_or_else(|_| panic!("{r:?}"));
        let (demand, entry, exit) = (f(4), f(5), f(6));
        assert!(demand <= entry && entry < exit, "{r:?}");
        assert!(((exit - demand) * dt - f(8)).abs() < 1e-9, "travel time is exit − demand: {r:?}");
        assert!((f(9) - (f(8) - f(7)).max(0.0)).abs() < 1e-9, "delay is travel − free flow: {r:?}");
        assert_ne!(r[2], r[3], "a trip goes somewhere: {r:?}");
        assert!(r[2].starts_with(['w', 'e', 'n', 's']), "origins are terminals: {r:?}");
        delay_sum += f(9);
    }
    assert!((delay_sum / rows.len() as f64 - mean_delay).abs() < 1e-9 * mean_delay.max(1.0));
    // agents.csv without the parked cars, which are most of the fleet early on.
    let agents = std::fs::read_to_string(d.join("agents.csv")).unwrap();
    assert!(!agents.lines().any(|l| l.ends_with(",parked")));
    assert!(agents.lines().count() > 100);
    let full = scratch("trips_full");
    let fs = full.display().to_string();
    assert!(
        masim(&["run", "scenarios/traffic_grid.ron", "--ticks", "200", "--out", &fs, "-q", "--trace"]).status.success()
    );
    let parked =
        std::fs::read_to_string(full.join("agents.csv")).unwrap().lines().filter(|l| l.ends_with(",parked")).count();
    assert!(parked > 100, "{parked}");
}

#[test]
fn a_trace_skip_that_skips_nothing_says_so() {
    let d = scratch("skip_typo");
    let ds = d.display().to_string();
    let o = masim(&[
        "run",
        "scenarios/traffic_ring.ron",
        "--ticks",
        "20",
        "--out",
        &ds,
        "-q",
        "--trace",
        "--trace-skip",
        "parkd",
    ]);
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--trace-skip parkd: no agent was ever in state `parkd`"));
    let o = masim(&[
        "run",
        "scenarios/traffic_ring.ron",
        "--ticks",
        "20",
        "--out",
        &ds,
        "--force",
        "--trace-skip",
        "parked",
    ]);
    assert_eq!(o.status.code(), Some(2));
    // The ring has no trips table.
    assert!(!d.join("trips.csv").exists());
}
