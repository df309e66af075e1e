//! Same scenario + seed + build ⇒ byte-identical outputs, whatever the thread count: every
//! scenario in scenarios/ (and variants with communication, loss, jitter and faults) is
//! run by the built binary into separate folders and the files are compared byte for
//! byte; summary.json is compared after removing its wall-clock "timing" object.

use std::path::{Path, PathBuf};
use std::process::Command;

use masim::scenario::{self, Scenario};
use masim::sim::{FaultKind, FaultSpec, Rect};
use masim::worlds::WorldSpec;
use masim::worlds::traffic::VEHICLE;
use masim::worlds::warehouse::ROBOT;

const BIN: &str = env!("CARGO_BIN_EXE_masim");

fn scratch(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("determinism").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.parent().expect("has a parent")).expect("scratch folder");
    d
}

use crate::common::scenario_files;

/// A run length that is quick but covers every scheduled fault, attack and edit (a `--ticks`
/// below a fault's start is refused).
fn quick_ticks(s: &Scenario) -> u64 {
    let last = s
        .faults
        .iter()
        .map(|f| f.at + f.duration.unwrap_or(0))
        .chain(s.attacks.iter().map(|a| a.at + a.duration.unwrap_or(0)))
        .chain(s.edits.iter().map(|e| e.at))
        .max();
    last.map_or(600, |t| (t + 100).max(600))
}

/// Runs the binary; panics with its stderr unless it succeeds.
fn run(file: &Path, out: &Path, extra: &[&str]) {
    let o = Command::new(BIN)
        .arg("run")
        .arg(file)
        .arg("--out")
        .arg(out)
        .args(["--trace", "--quiet"])
        .args(extra)
        .output()
        .expect("binary runs");
    assert!(
        o.status.success(),
        "masim run {} {extra:?} failed ({}): {}",
        file.display(),
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
}

/// summary.json without its "timing" object (the only wall-clock-dependent part).
fn summary_without_timing(dir: &Path) -> String {
    let text = std::fs::read_to_string(dir.join("summary.json")).expect("summary.json");
    let mut v: serde_json::Value = serde_json::from_str(&text).expect("summary.json is JSON");
    let timing = v.as_object_mut().and_then(|o| o.remove("timing"));
    assert!(timing.is_some(), "summary.json has a timing object");
    let out = serde_json::to_string_pretty(&v).expect("serializes");
    assert!(!out.contains("wall_s") && !out.contains("ticks_per_s"), "timing not removed:\n{out}");
    out
}

fn assert_same(a: &Path, b: &Path, what: &str) {
    for f in ["metrics.csv", "events.jsonl", "agents.csv"] {
        let x = std::fs::read(a.join(f)).unwrap_or_else(|e| panic!("{}: {e}", a.join(f).display()));
        let y = std::fs::read(b.join(f)).unwrap_or_else(|e| panic!("{}: {e}", b.join(f).display()));
        if x != y {
            let (xs, ys) = (String::from_utf8_lossy(&x), String::from_utf8_lossy(&y));
            let line = xs.lines().zip(ys.lines()).position(|(p, q)| p != q);
            panic!("{what}: {f} differs (first differing line {line:?}; {} vs {} bytes)", x.len(), y.len());
        }
    }
    assert_eq!(summary_without_timing(a), summary_without_timing(b), "{what}: summary.json differs");
}

/// Runs `file` three ways — twice on 4 threads, once on 1 — and checks all agree.
/// Returns the first output folder.
fn check(file: &Path, tag: &str, extra: &[&str]) -> PathBuf {
    let dirs: Vec<PathBuf> = ["t4", "t4-again", "t1"].iter().map(|k| scratch(&format!("{tag}-{k}"))).collect();
    let with = |threads: &'static str| -> Vec<&str> {
        let mut v: Vec<&str> = extra.to_vec();
        v.extend(["--threads", threads]);
        v
    };
    run(file, &dirs[0], &with("4"));
    run(file, &dirs[1], &with("4"));
    run(file, &dirs[2], &with("1"));
    assert_same(&dirs[0], &dirs[1], &format!("{tag}: two runs"));
    assert_same(&dirs[0], &dirs[2], &format!("{tag}: --threads 4 vs 1"));
    dirs[0].clone()
}

fn non_empty_lines(p: &Path) -> usize {
    std::fs::read_to_string(p).map(|s| s.lines().count()).unwrap_or(0)
}

#[test]
fn every_scenario_is_byte_identical_across_runs_and_thread_counts() {
    for file in scenario_files() {
        let s = scenario::load_file(&file).expect("scenario loads");
        let ticks = quick_ticks(&s).to_string();
        let stem = file.file_stem().and_then(|x| x.to_str()).unwrap_or("scenario").to_string();
        let out = check(&file, &stem, &["--ticks", &ticks]);
        assert!(non_empty_lines(&out.join("metrics.csv")) > 1);
        assert!(non_empty_lines(&out.join("agents.csv")) > 1);
    }
}

#[test]
fn with_communication_loss_and_jitter_outputs_are_identical() {
    // The channel's random draws (loss, jitter) and every message path are exercised.
    for file in scenario_files() {
        let stem = file.file_stem().and_then(|x| x.to_str()).unwrap_or("scenario").to_string();
        // The scenario's own fault timeline is covered by the other tests; here it would
        // only lengthen the runs.
        let mut s = scenario::load_file(&file).expect("scenario loads");
        s.faults.clear();
        s.edits.clear();
        // One automated vehicle where the world has them (the ring; not city networks).
        if let Ok(t) = s.with_set("world.automated", "1") {
            s = t;
        }
        let path = scratch(&format!("{stem}-comm.ron"));
        std::fs::write(&path, s.to_ron()).expect("write scenario");
        let file = path;
        let ticks = "200".to_string();
        for (k, coord) in ["Decentralized", "Centralized", "Hierarchical"].iter().enumerate() {
            let sets = [
                "--ticks",
                &ticks,
                "--set",
                &format!("coordination={coord}"),
                "--set",
                "channel.loss=0.15",
                "--set",
                "channel.jitter_ticks=2",
                "--set",
                "channel.topology=AllToAll",
            ];
            let sets: Vec<&str> = sets.iter().map(|s| &**s).collect();
            let out = check(&file, &format!("{stem}-comm{k}"), &sets);
            let metrics = std::fs::read_to_string(out.join("metrics.csv")).expect("metrics.csv");
            let header: Vec<&str> = metrics.lines().next().unwrap_or("").split(',').collect();
            let col = header.iter().position(|c| *c == "msgs_delivered").expect("msgs_delivered column");
            let delivered: f64 = metrics
                .lines()
                .skip(1)
                .map(|l| l.split(',').nth(col).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0))
                .sum();
            assert!(delivered > 0.0, "{stem} {coord}: no message was delivered, the variant tests nothing");
        }
    }
}

#[test]
fn with_faults_outputs_are_identical() {
    for file in scenario_files() {
        let mut s = scenario::load_file(&file).expect("scenario loads");
        let stem = file.file_stem().and_then(|x| x.to_str()).unwrap_or("scenario").to_string();
        s.ticks = 300;
        // The world's own events after the shortened run's end go too (the CLI's --ticks does the same).
        s.truncate_timeline(300);
        s.coordination = masim::sim::Coordination::Decentralized;
        // Crash a fifth of the world's mobile agents: vehicles, robots, else its first kind
        // (the power grid's generating units).
        let kinds = s.world.agent_kinds();
        let kind = [VEHICLE, ROBOT].into_iter().find(|k| kinds.contains(k)).unwrap_or(kinds[0]);
        // This timeline replaces the scenario's own.
        s.edits.clear();
        s.faults = Vec::from([
            FaultSpec {
                at: 30,
                duration: Some(120),
                fault: FaultKind::Crash { kind: Some(kind), fraction: 0.2, agents: vec![] },
                ended_at: None,
            },
            FaultSpec { at: 60, duration: Some(80), fault: FaultKind::Loss { loss: 0.4 }, ended_at: None },
            FaultSpec {
                at: 80,
                duration: None,
                fault: FaultKind::Partition { regions: vec![Rect { x0: 0.0, y0: -1e4, x1: 1e4, y1: 1e4 }] },
                ended_at: None,
            },
            FaultSpec { at: 200, duration: Some(50), fault: FaultKind::Latency { extra_ticks: 2 }, ended_at: None },
        ]);
        let path = scratch(&format!("{stem}-faults.ron"));
        std::fs::write(&path, s.to_ron()).expect("write scenario");
        let out = check(&path, &format!("{stem}-faults"), &[]);
        let events = std::fs::read_to_string(out.join("events.jsonl")).expect("events.jsonl");
        assert!(events.matches("\"fault_start\"").count() == 4, "{stem}: fault events missing:\n{events}");
    }
}

#[test]
fn a_different_seed_changes_the_nasch_output() {
    let file = Path::new("scenarios/traffic_ring_nasch.ron");
    let s = scenario::load_file(file).expect("loads");
    let other = (s.seed + 1).to_string();
    let a = scratch("seed-a");
    let b = scratch("seed-b");
    let c = scratch("seed-c");
    run(file, &a, &["--ticks", "300"]);
    run(file, &b, &["--ticks", "300", "--seed", &other]);
    run(file, &c, &["--ticks", "300", "--seed", &s.seed.to_string()]);
    let read = |d: &Path| std::fs::read(d.join("metrics.csv")).expect("metrics.csv");
    assert_ne!(read(&a), read(&b), "seed {} and {other} gave the same metrics", s.seed);
    assert_eq!(read(&a), read(&c), "--seed equal to the file's seed changes nothing");
    let sa: serde_json::Value =
        serde_json::from_slice(&std::fs::read(b.join("summary.json")).expect("summary")).expect("json");
    assert_eq!(sa["seed"], serde_json::json!(s.seed + 1));
}

#[test]
fn a_sweep_does_not_depend_on_its_job_count() {
    let file = Path::new("scenarios/traffic_ring.ron");
    let sweep = |jobs: &str| {
        let out = scratch(&format!("sweep-jobs{jobs}"));
        let o = Command::new(BIN)
            .args(["sweep", "scenarios/traffic_ring.ron", "--ticks", "200", "--quiet", "--seeds", "1..3"])
            .args(["--vary", "channel.loss=0,0.3", "--set", "coordination=Decentralized", "--jobs", jobs, "--out"])
            .arg(&out)
            .output()
            .expect("binary runs");
        assert!(o.status.success(), "sweep --jobs {jobs}: {}", String::from_utf8_lossy(&o.stderr));
        out
    };
    let (a, b) = (sweep("1"), sweep("3"));
    let csv = std::fs::read_to_string(a.join("sweep.csv")).expect("sweep.csv");
    assert_eq!(csv.lines().count(), 1 + 2 * 2, "one row per (loss, seed):\n{csv}");
    assert_eq!(std::fs::read(b.join("sweep.csv")).expect("sweep.csv"), csv.as_bytes(), "sweep.csv depends on --jobs");
    let runs: Vec<String> = csv.lines().skip(1).map(|l| l.split(',').next().unwrap_or("").to_string()).collect();
    assert_eq!(runs.len(), 4);
    for k in &runs {
        let run = format!("runs/{:04}", k.parse::<u64>().expect("run number"));
        for f in ["metrics.csv", "events.jsonl"] {
            let x = std::fs::read(a.join(&run).join(f)).expect("output");
            let y = std::fs::read(b.join(&run).join(f)).expect("output");
            assert!(x == y, "{run}/{f} depends on --jobs");
        }
        assert_eq!(summary_without_timing(&a.join(&run)), summary_without_timing(&b.join(&run)));
    }
    // The run folders hold what a single `masim run` of that point writes.
    let single = scratch("sweep-single");
    run(
        file,
        &single,
        &["--ticks", "200", "--seed", "2", "--set", "coordination=Decentralized", "--set", "channel.loss=0.3"],
    );
    // sweep.csv: run,config,seed,channel.loss,...
    let point: u64 = csv
        .lines()
        .skip(1)
        .find(|l| l.split(',').nth(2) == Some("2") && l.split(',').nth(3) == Some("0.3"))
        .and_then(|l| l.split(',').next()?.parse().ok())
        .expect("a row for seed 2, loss 0.3");
    let run_dir = a.join(format!("runs/{point:04}"));
    assert_eq!(
        std::fs::read(run_dir.join("metrics.csv")).expect("metrics"),
        std::fs::read(single.join("metrics.csv")).expect("metrics"),
        "sweep run {point} differs from the same point run alone"
    );
}
