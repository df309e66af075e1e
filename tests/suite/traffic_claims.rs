//! The headline claim of every traffic scenario's teaching notes, asserted on a run, so
//! that a note and the model cannot drift apart again. Each test names the sentence of
//! the notes it holds (the numbers in the notes are those of a full run; the tests allow
//! a margin and, where the claim allows, run fewer ticks).

use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_masim");

/// metrics.csv of one run, by column.
struct Run {
    header: Vec<String>,
    rows: Vec<Vec<f64>>,
    events: String,
}

impl Run {
    fn col(&self, name: &str) -> usize {
        self.header.iter().position(|h| h == name).unwrap_or_else(|| panic!("no column {name} in {:?}", self.header))
    }

    /// (time_s, value) of every row.
    fn series(&self, name: &str) -> Vec<(f64, f64)> {
        let (t, c) = (self.col("time_s"), self.col(name));
        self.rows.iter().map(|r| (r[t], r[c])).collect()
    }

    /// Mean of a column over rows with a < time_s <= b.
    fn mean(&self, name: &str, a: f64, b: f64) -> f64 {
        let v: Vec<f64> = self.series(name).into_iter().filter(|(t, _)| *t > a && *t <= b).map(|(_, v)| v).collect();
        assert!(!v.is_empty(), "no rows of {name} in ({a}, {b}]");
        v.iter().sum::<f64>() / v.len() as f64
    }

    fn max(&self, name: &str, a: f64, b: f64) -> f64 {
        self.series(name).into_iter().filter(|(t, _)| *t > a && *t <= b).map(|(_, v)| v).fold(f64::MIN, f64::max)
    }

    /// First time the column is above zero.
    fn first_positive(&self, name: &str) -> Option<f64> {
        self.series(name).into_iter().find(|(_, v)| *v > 0.0).map(|(t, _)| t)
    }

    fn last(&self, name: &str) -> f64 {
        let c = self.col(name);
        self.rows.last().expect("rows")[c]
    }
}

fn run(label: &str, scenario: &str, args: &[&str]) -> Run {
    let out: PathBuf = Path::new(env!("CARGO_TARGET_TMPDIR")).join("traffic_claims").join(label);
    let _ = std::fs::remove_dir_all(&out);
    let mut cmd = Command::new(BIN);
    cmd.args(["run", &format!("scenarios/{scenario}.ron"), "--quiet", "--force", "--out"]).arg(&out);
    for a in args {
        cmd.arg(a);
    }
    let o = cmd.output().expect("binary runs");
    assert!(o.status.success(), "{label}: {}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(out.join("metrics.csv")).expect("metrics.csv");
    let mut lines = text.lines();
    let header = lines.next().expect("header").split(',').map(str::to_string).collect();
    let rows = lines.map(|l| l.split(',').map(|v| v.parse().expect("number")).collect()).collect();
    let events = std::fs::read_to_string(out.join("events.jsonl")).unwrap_or_default();
    Run { header, rows, events }
}

/// traffic_ring: "At 97 s the first vehicle stops ... From about 150 s a stop-and-go wave
/// ... 15 of the 22 vehicles jammed on average"; "Decentralized ... jam-free".
#[test]
fn ring_jams_on_its_own_and_v2v_keeps_it_free() {
    let human = run("ring", "traffic_ring", &["--ticks", "3000"]);
    let first = human.first_positive("jammed").expect("a jam forms");
    assert!((60.0..150.0).contains(&first), "first jam at {first} s");
    assert!(human.mean("mean_speed_mps", 0.0, 60.0) > 3.7, "uniform flow first");
    assert!(human.mean("jammed", 150.0, 300.0) > 10.0, "a lasting wave");
    let v2v = run("ring_v2v", "traffic_ring", &["--ticks", "3000", "--set", "coordination=Decentralized"]);
    assert_eq!(v2v.first_positive("jammed"), None, "V2V keeps the ring jam-free");
    assert!(v2v.max("speed_std_mps", 60.0, 300.0) < 0.05);
    // "channel.latency_ticks=20 (beyond the 1 s beacon timeout) ... jams form within 10 s"
    let late = run(
        "ring_v2v_late",
        "traffic_ring",
        &["--ticks", "600", "--set", "coordination=Decentralized", "--set", "channel.latency_ticks=20"],
    );
    assert!(late.first_positive("jammed").is_some_and(|t| t <= 10.0));
    assert!(late.mean("vehicles_fallback", 10.0, 60.0) > 15.0);
}

/// traffic_ring_faults: the loss makes vehicles fall back and the consensus holds the slower
/// speed; the partition leaves no lasting wave; the lasting jam starts with the crash;
/// human drivers jam first at about 223 s.
#[test]
fn ring_faults_notes_hold() {
    let r = run("faults", "traffic_ring_faults", &[]);
    assert!(r.mean("mean_speed_mps", 0.0, 150.0) > 6.6);
    assert!(r.mean("vehicles_fallback", 155.0, 210.0) > 15.0, "the loss sends vehicles into the fail-safe");
    let after_loss = r.mean("mean_speed_mps", 240.0, 300.0);
    assert!((3.6..4.3).contains(&after_loss), "consensus holds the slower speed: {after_loss}");
    assert_eq!(r.mean("vehicles_fallback", 240.0, 300.0), 0.0, "all cooperative again");
    assert!(r.mean("msgs_dropped_range", 300.0, 360.0) > 100.0, "the partition drops by range");
    assert_eq!(r.max("jammed", 360.0, 450.0), 0.0, "no lasting wave after the partition");
    assert!(r.mean("jammed", 460.0, 480.0) > 20.0, "everybody queues behind the crashed");
    assert!(r.mean("jammed", 500.0, 600.0) > 8.0, "the jam outlives the crash");
    let human = run("faults_human", "traffic_ring_faults", &["--ticks", "3000", "--set", "coordination=None"]);
    let first = human.first_positive("jammed").expect("human drivers jam");
    assert!((180.0..270.0).contains(&first), "first human jam at {first} s");
}

/// traffic_ring_nasch: above the critical density jams form at once; at 0.02 per cell none.
#[test]
fn nasch_jams_above_the_critical_density_only() {
    let dense = run("nasch", "traffic_ring_nasch", &["--ticks", "300"]);
    assert!(dense.first_positive("jammed").is_some_and(|t| t <= 10.0));
    assert!(dense.mean("jammed", 60.0, 300.0) > 30.0);
    let sparse = run("nasch_sparse", "traffic_ring_nasch", &["--ticks", "600", "--set", "world.vehicles=20"]);
    assert_eq!(sparse.first_positive("jammed"), None);
    assert!(sparse.mean("mean_speed_mps", 0.0, 600.0) > 34.0);
    let det = run("nasch_det", "traffic_ring_nasch", &["--ticks", "300", "--set", "world.model.p_slow=0"]);
    assert_eq!(det.first_positive("jammed"), None);
    // "Centralized: ... beyond the 150 m radio range, so all 200 vehicles fall back"
    let cen = run("nasch_cen", "traffic_ring_nasch", &["--ticks", "120", "--set", "coordination=Centralized"]);
    assert_eq!(cen.last("vehicles_fallback"), 200.0);
    let cell = run(
        "nasch_cen_all",
        "traffic_ring_nasch",
        &["--ticks", "120", "--set", "coordination=Centralized", "--set", "channel.topology=AllToAll"],
    );
    assert_eq!(cell.last("vehicles_fallback"), 0.0);
}

/// traffic_grid: degrading the channel changes nothing until the latency passes the 20-tick
/// contact timeout; then every light falls back; the recent delay settles.
#[test]
fn grid_falls_back_above_the_contact_timeout_and_not_below() {
    let below = run(
        "grid_lat15",
        "traffic_grid",
        &["--ticks", "400", "--set", "coordination=Decentralized", "--set", "channel.latency_ticks=15"],
    );
    assert_eq!(below.max("lights_fallback", 0.0, 1e9), 0.0);
    let above = run(
        "grid_lat25",
        "traffic_grid",
        &["--ticks", "400", "--set", "coordination=Decentralized", "--set", "channel.latency_ticks=25"],
    );
    assert_eq!(above.last("lights_fallback"), 36.0);
    assert!(above.events.contains("signal_fallback"));
}

/// traffic_grid: "mean_delay_s ... keeps climbing ... mean_delay_recent_s ... climbs to about
/// 290 s by 25 minutes, holds there to 50 minutes".
#[test]
fn grid_recent_delay_shows_the_present_while_the_running_mean_lags() {
    let r = run("grid", "traffic_grid", &[]);
    let (m20, m60) = (r.mean("mean_delay_s", 1150.0, 1200.0), r.last("mean_delay_s"));
    assert!(m60 > m20 + 30.0, "running mean climbs: {m20} -> {m60}");
    let windows: Vec<f64> =
        (5..10).map(|k| r.mean("mean_delay_recent_s", 300.0 * k as f64, 300.0 * (k + 1) as f64)).collect();
    let (lo, hi) = windows.iter().fold((f64::MAX, f64::MIN), |(a, b), w| (a.min(*w), b.max(*w)));
    assert!(hi < 1.1 * lo, "recent delay holds from 25 to 50 min: {windows:?}");
    assert!(lo > r.mean("mean_delay_s", 1500.0, 3000.0), "the present is worse than the mean so far");
}

/// traffic_gridlock: fixed time locks about 20 minutes in, max-pressure sooner.
#[test]
fn gridlock_forms_and_max_pressure_locks_sooner() {
    let fixed = run("gridlock", "traffic_gridlock", &[]);
    let t_fixed = fixed.first_positive("gridlock_events").expect("fixed time locks");
    assert!((900.0..1500.0).contains(&t_fixed), "fixed-time lock at {t_fixed} s");
    assert!(fixed.last("trips_waiting") > 2000.0);
    let mp = run("gridlock_mp", "traffic_gridlock", &["--set", "coordination=Decentralized"]);
    let t_mp = mp.first_positive("gridlock_events").expect("max-pressure locks too");
    assert!(t_mp < t_fixed, "max-pressure locks sooner: {t_mp} vs {t_fixed}");
    assert!(mp.mean("trips_completed", 590.0, 600.0) > fixed.mean("trips_completed", 590.0, 600.0));
}

/// traffic_green_wave: the wave halves the delay; latency past the contact timeout makes
/// every light fall back and the run equals the uncoordinated one.
#[test]
fn green_wave_beats_fixed_time_until_the_plans_come_late() {
    let wave = run("wave", "traffic_green_wave", &["--ticks", "3600"]);
    let none = run("wave_none", "traffic_green_wave", &["--ticks", "3600", "--set", "coordination=None"]);
    let late = run("wave_late", "traffic_green_wave", &["--ticks", "3600", "--set", "channel.latency_ticks=30"]);
    assert!(wave.last("mean_delay_s") < 0.6 * none.last("mean_delay_s"));
    assert!(wave.last("mean_stops") < none.last("mean_stops"));
    assert_eq!(late.last("lights_fallback"), 8.0);
    assert_eq!(late.last("mean_delay_s"), none.last("mean_delay_s"), "late plans = no coordination");
}
