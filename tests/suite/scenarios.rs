//! Every file in scenarios/ validates and runs a few hundred ticks — in process through
//! the headless app, and through the built binary — producing metrics with the
//! documented columns and sane values.

use std::path::{Path, PathBuf};
use std::process::Command;

use masim::runner;
use masim::scenario::{self, Scenario, WorldConfig};
use masim::sim::{Agent, Metrics};

const BIN: &str = env!("CARGO_BIN_EXE_masim");

/// The columns docs/scenarios.md and the tracker promise in metrics.csv of every world.
const DOCUMENTED: [&str; 10] = [
    "tick",
    "time_s",
    "agents",
    "msgs_sent",
    "msgs_delivered",
    "msgs_dropped_loss",
    "msgs_dropped_bandwidth",
    "msgs_dropped_range",
    "bytes_sent",
    "mean_latency_ticks",
];

/// The traffic world's documented columns.
const TRAFFIC: [&str; 4] = ["mean_speed_mps", "density_veh_per_km", "flow_veh_per_h", "jammed"];

/// The warehouse world's documented columns (issue 11).
const WAREHOUSE: [&str; 14] = [
    "tasks_completed",
    "throughput_per_h",
    "mean_task_time_s",
    "robots_idle",
    "robots_moving",
    "robots_charging",
    "charger_queue",
    "mean_charger_wait_s",
    "stranded",
    "conflicts",
    "deadlocks",
    "replans",
    "energy_kwh",
    "workload_fairness_jain",
];

/// The power world's documented columns (issue 10).
const POWER: [&str; 18] = [
    "freq_hz",
    "rocof_hz_per_s",
    "ace_mw",
    "gen_mw",
    "load_mw",
    "load_shed_mw",
    "unserved_mwh",
    "lines_tripped",
    "islands",
    "max_line_loading",
    "lines_overloaded",
    "gen_cost_per_h",
    "curtailed_mw",
    "battery_soc_mean",
    "ev_waiting",
    "ev_mean_wait_s",
    "ev_unmet_kwh",
    "charging_fairness_jain",
];

/// The columns a scenario's world promises.
fn documented(s: &Scenario) -> Vec<&'static str> {
    let own: &[&str] = match &s.world {
        WorldConfig::Traffic(_) => &TRAFFIC,
        WorldConfig::Power(_) => &POWER,
        WorldConfig::Warehouse(_) => &WAREHOUSE,
    };
    DOCUMENTED.iter().chain(own).copied().collect()
}

use crate::common::scenario_files;

/// A few hundred ticks, but never fewer than the scenario's timeline needs.
fn few_ticks(s: &Scenario) -> u64 {
    let last = s.faults.iter().map(|f| f.at).chain(s.edits.iter().map(|e| e.at)).max();
    // Whole rows and snapshots (the binary writes a partial last row otherwise).
    let (r, t) = (s.output.record_every.max(1), s.output.trace_every.max(1));
    let (mut x, mut y) = (r, t);
    while y != 0 {
        (x, y) = (y, x % y);
    }
    let every = r / x * t;
    last.map_or(300, |t| (t + 50).max(300)).next_multiple_of(every)
}

fn scratch(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("scenarios").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.parent().expect("parent")).expect("scratch folder");
    d
}

#[test]
fn every_scenario_validates_with_the_binary() {
    let files = scenario_files();
    let o = Command::new(BIN).arg("validate").args(&files).output().expect("binary runs");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "validate failed: {}", String::from_utf8_lossy(&o.stderr));
    for f in &files {
        assert!(stdout.contains(&format!("{}: ok", f.display())), "no ok line for {}: {stdout}", f.display());
    }
}

#[test]
fn every_scenario_has_a_description_of_what_to_watch() {
    for f in scenario_files() {
        let s = scenario::load_file(&f).expect("loads");
        assert!(!s.description.trim().is_empty(), "{}: empty description", f.display());
        let text = std::fs::read_to_string(&f).expect("readable");
        assert!(text.to_lowercase().contains("watch"), "{}: no comment saying what to watch for", f.display());
    }
}

#[test]
fn every_scenario_runs_headless_in_process() {
    for f in scenario_files() {
        let s = scenario::load_file(&f).expect("loads");
        let ticks = few_ticks(&s);
        let mut app = runner::headless_app(&s, None);
        for _ in 0..ticks {
            runner::step(&mut app);
        }
        let agents = app.world_mut().query::<&Agent>().iter(app.world()).count();
        let m = app.world().resource::<Metrics>();
        for c in documented(&s) {
            assert!(m.index(c).is_some(), "{}: no metric column {c}; have {:?}", f.display(), m.columns());
        }
        assert_eq!(m.rows().len() as u64, ticks / s.output.record_every, "{}", f.display());
        for row in m.rows() {
            assert!(row.iter().all(|v| v.is_finite()), "{}: non-finite value in {row:?}", f.display());
        }
        let last = |c: &str| m.last(c).expect("recorded");
        assert_eq!(last("agents") as usize, agents, "{}", f.display());
        assert_eq!(agents as u64, s.agent_count(), "{}", f.display());
        assert_eq!(last("tick"), (ticks / s.output.record_every * s.output.record_every) as f64);
        assert!((last("time_s") - last("tick") * s.dt).abs() < 1e-9);
        let t = match &s.world {
            WorldConfig::Traffic(t) => t,
            WorldConfig::Power(_) => continue,
            WorldConfig::Warehouse(w) => {
                let sum = |c: &str| m.series(c).expect("recorded").iter().sum::<f64>();
                assert_eq!(sum("conflicts"), 0.0, "{}: conflicts", f.display());
                assert!(last("robots_idle") <= f64::from(w.robots), "{}", f.display());
                let created = last("tasks_created");
                let split = last("tasks_completed") + last("tasks_assigned") + last("tasks_waiting");
                assert_eq!(created, split, "{}: tasks are not conserved", f.display());
                assert!((0.0..=1.0).contains(&last("workload_fairness_jain")), "{}", f.display());
                continue;
            }
        };
        let v = last("mean_speed_mps");
        assert!((0.0..60.0).contains(&v), "{}: mean speed {v}", f.display());
        assert!(last("jammed") <= f64::from(t.vehicles));
        let density = last("density_veh_per_km");
        if let masim::worlds::traffic::Road::Ring { length_m } = t.road {
            assert!(
                (density - f64::from(t.vehicles) / (length_m / 1000.0)).abs() < 1e-6,
                "{}: density {density}",
                f.display()
            );
        }
        assert!((last("flow_veh_per_h") - density * v * 3.6).abs() < 1e-6);
    }
}

#[test]
fn every_scenario_runs_with_the_binary_and_writes_its_outputs() {
    for f in scenario_files() {
        let s = scenario::load_file(&f).expect("loads");
        let ticks = few_ticks(&s);
        let stem = f.file_stem().and_then(|x| x.to_str()).unwrap_or("s").to_string();
        let out = scratch(&stem);
        let o = Command::new(BIN)
            .arg("run")
            .arg(&f)
            .args(["--ticks", &ticks.to_string(), "--trace", "--out"])
            .arg(&out)
            .output()
            .expect("binary runs");
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{}: {stderr}", f.display());
        assert!(!stderr.contains("panicked"), "{stderr}");
        let metrics = std::fs::read_to_string(out.join("metrics.csv")).expect("metrics.csv");
        let mut lines = metrics.lines();
        let header: Vec<&str> = lines.next().expect("header").split(',').collect();
        for c in documented(&s) {
            assert!(header.contains(&c), "{}: metrics.csv lacks {c}: {header:?}", f.display());
        }
        assert_eq!(&header[..3], &["tick", "time_s", "agents"], "the first columns");
        let rows: Vec<&str> = lines.collect();
        assert_eq!(rows.len() as u64, ticks / s.output.record_every);
        assert!(rows.iter().all(|r| r.split(',').count() == header.len()), "ragged rows in {}", f.display());
        let summary: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).expect("summary")).expect("json");
        assert_eq!(summary["scenario"], serde_json::json!(s.name));
        assert_eq!(summary["seed"], serde_json::json!(s.seed));
        assert_eq!(summary["ticks"], serde_json::json!(ticks));
        assert_eq!(summary["masim_version"], serde_json::json!(env!("CARGO_PKG_VERSION")));
        assert!(summary["timing"]["ticks_per_s"].as_f64().is_some_and(|x| x > 0.0));
        match &s.world {
            WorldConfig::Traffic(_) => assert!(summary["final"]["mean_speed_mps"].is_number()),
            WorldConfig::Power(_) => assert!(summary["final"]["freq_hz"].is_number()),
            WorldConfig::Warehouse(_) => {
                for k in ["map_rows", "map_cols", "free_cells", "cell_m"] {
                    assert!(summary["world"][k].is_number(), "{}: summary.json world.{k}", f.display());
                }
                assert!(!summary["timing"]["parts_s"]["planning"].is_null(), "{}: planning time", f.display());
                assert!(!header.contains(&"planning_ms"), "planning_ms is wall time: not in metrics.csv");
            }
        }
        assert!(out.join("events.jsonl").exists());
        for line in std::fs::read_to_string(out.join("events.jsonl")).expect("events").lines() {
            let e: serde_json::Value = serde_json::from_str(line).expect("each event line is JSON");
            assert!(e["tick"].is_u64() && e["kind"].is_string(), "{line}");
        }
        let agents = std::fs::read_to_string(out.join("agents.csv")).expect("agents.csv");
        assert_eq!(agents.lines().next(), Some("tick,agent,kind,x,y,speed,state"));
        let snapshots = ticks / s.output.trace_every;
        assert_eq!(agents.lines().count() as u64 - 1, snapshots * s.agent_count(), "{}", f.display());
    }
}

#[test]
fn no_progress_bar_when_stderr_is_not_a_terminal() {
    // A run long enough for the bar (1000 ticks or more), stderr piped: only the closing
    // line, no bar redraws or escape sequences.
    let out = scratch("progress");
    let o = Command::new(BIN)
        .args(["run", "scenarios/traffic_ring.ron", "--ticks", "1200", "--out"])
        .arg(&out)
        .output()
        .expect("binary runs");
    assert!(o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.lines().count(), 1, "{err:?}");
    assert!(err.starts_with("traffic_ring: 1200 ticks in "), "{err:?}");
    assert!(!err.contains('\r') && !err.contains('\u{1b}'), "terminal control characters: {err:?}");
    // --quiet: nothing at all.
    let out = scratch("progress-quiet");
    let o = Command::new(BIN)
        .args(["run", "scenarios/traffic_ring.ron", "--ticks", "50", "--quiet", "--out"])
        .arg(&out)
        .output()
        .expect("binary runs");
    assert!(o.status.success());
    assert!(o.stderr.is_empty() && o.stdout.is_empty());
}

#[test]
fn summary_totals_equal_the_sums_of_the_metric_rows() {
    let out = scratch("totals");
    let o = Command::new(BIN)
        .args(["run", "scenarios/traffic_ring.ron", "--ticks", "300", "--quiet"])
        .args(["--set", "output.record_every=1", "--set", "coordination=Decentralized", "--set", "channel.loss=0.2"])
        .args(["--set", "channel.bandwidth_total=3000", "--out"])
        .arg(&out)
        .output()
        .expect("binary runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let metrics = std::fs::read_to_string(out.join("metrics.csv")).expect("metrics");
    let header: Vec<&str> = metrics.lines().next().expect("header").split(',').collect();
    let sum = |col: &str| -> f64 {
        let k = header.iter().position(|c| *c == col).unwrap_or_else(|| panic!("no column {col}"));
        metrics.lines().skip(1).map(|l| l.split(',').nth(k).and_then(|x| x.parse::<f64>().ok()).expect("number")).sum()
    };
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).expect("summary")).expect("json");
    let totals = &summary["channel_totals"];
    for col in [
        "msgs_sent",
        "msgs_delivered",
        "msgs_dropped_loss",
        "msgs_dropped_bandwidth",
        "msgs_dropped_range",
        "bytes_sent",
    ] {
        let t = totals[col].as_f64().unwrap_or_else(|| panic!("summary lacks channel_totals.{col}"));
        assert_eq!(sum(col), t, "{col}");
    }
    assert!(
        sum("msgs_dropped_loss") > 0.0 && sum("msgs_dropped_bandwidth") > 0.0,
        "the run exercises loss and the cap"
    );
    for (row, line) in metrics.lines().skip(1).enumerate() {
        let k = header.iter().position(|c| *c == "bytes_sent").expect("bytes_sent");
        let bytes: f64 = line.split(',').nth(k).and_then(|x| x.parse().ok()).expect("number");
        assert!(bytes <= 3000.0, "row {row}: {bytes} bytes over the 3000-byte total cap");
    }
}

#[test]
fn the_event_log_is_capped_and_the_rest_counted() {
    let run = |name: &str, extra: &[&str]| {
        let out = scratch(name);
        let o = Command::new(BIN)
            .args(["run", "scenarios/traffic_ring_nasch.ron", "--ticks", "200", "--quiet"])
            .args(["--set", "coordination=Decentralized", "--set", "channel.loss=0.5"])
            .args(extra)
            .arg("--out")
            .arg(&out)
            .output()
            .expect("binary runs");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let events = std::fs::read_to_string(out.join("events.jsonl")).expect("events");
        let summary: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).expect("summary")).expect("json");
        (events, summary["events_suppressed"].as_u64().expect("events_suppressed"))
    };
    let (all, none) = run("events-all", &[]);
    let (capped, suppressed) = run("events-capped", &["--set", "output.max_events=5"]);
    let n = all.lines().count() as u64;
    assert!(n > 5, "the run should log more than the cap ({n} events)");
    assert_eq!(none, 0);
    assert_eq!(capped.lines().count(), 5);
    assert_eq!(suppressed, n - 5);
    assert!(all.starts_with(&capped), "the cap keeps the first events");
}

#[test]
fn every_scenario_field_is_documented() {
    // Every field name a scenario can hold (its full serialization, defaults included)
    // appears in code spans of the docs (docs/*.md), where its unit and default are given.
    let mut words = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir("docs").expect("docs/").filter_map(|e| e.ok()) {
        let path = entry.path();
        if path.extension().is_none_or(|x| x != "md") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("readable");
        for (k, span) in text.split('`').enumerate() {
            if k % 2 == 1 {
                words.extend(span.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).map(str::to_string));
            }
        }
    }
    let mut missing = std::collections::BTreeMap::new();
    for f in scenario_files() {
        let s = scenario::load_file(&f).expect("loads");
        let text = s.to_ron();
        for place in masim::scenario::locate::places(&text) {
            let Some(last) = place.path.rsplit('.').next() else { continue };
            let name = last.split('[').next().unwrap_or(last);
            if !name.is_empty() && !words.contains(name) {
                missing.entry(name.to_string()).or_insert(place.path.clone());
            }
        }
    }
    assert!(missing.is_empty(), "scenario fields missing from docs/*.md (name: an example path): {missing:#?}");
}
