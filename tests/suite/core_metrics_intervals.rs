//! Every row of metrics.csv describes its whole interval: a per-tick count is summed over
//! the ticks the row covers, so for every scenario, at any `record_every` (one that
//! divides the run and one that does not, leaving a partial last row), the rows of each
//! channel counter add up to summary.json's channel totals, the mean latency weighted by
//! the deliveries adds up to the total latency, and every count column of the world adds
//! up to the same total whatever the interval.

use std::path::{Path, PathBuf};

use masim::runner::{self, RunOptions};
use masim::scenario::{self, Scenario};
use masim::sim::Agg;

use crate::common::scenario_files;

fn scratch(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("intervals").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("scratch folder");
    d
}

/// metrics.csv as (columns, rows).
fn read_metrics(dir: &Path) -> (Vec<String>, Vec<Vec<f64>>) {
    let text = std::fs::read_to_string(dir.join("metrics.csv")).expect("metrics.csv");
    let mut lines = text.lines();
    let cols: Vec<String> = lines.next().expect("header").split(',').map(str::to_string).collect();
    let rows = lines.map(|l| l.split(',').map(|x| x.parse::<f64>().unwrap_or(0.0)).collect()).collect();
    (cols, rows)
}

fn column_sum(cols: &[String], rows: &[Vec<f64>], name: &str) -> f64 {
    let i = cols.iter().position(|c| c == name).unwrap_or_else(|| panic!("no column {name}"));
    rows.iter().map(|r| r[i]).sum()
}

/// A run of `s` with rows every `every` ticks; returns its folder.
fn run(s: &Scenario, tag: &str, every: u64) -> PathBuf {
    let mut s = s.clone();
    s.output.record_every = every;
    let dir = scratch(tag);
    runner::run_to_dir(&s, &dir, &RunOptions { threads: 1, ..Default::default() }, |_| {}).expect("runs");
    dir
}

#[test]
fn counters_add_up_to_the_totals_at_any_interval() {
    for file in scenario_files() {
        let mut s = scenario::load_file(&file).expect("loads");
        // Long enough to cover the first fault, short enough for CI; 600 ticks is not a
        // multiple of 7, so the last row covers a partial interval.
        let ticks = s.faults.iter().map(|f| f.at + 50).max().unwrap_or(0).clamp(600, 1700);
        s.ticks = ticks;
        s.truncate_timeline(ticks);
        let name = file.file_stem().and_then(|x| x.to_str()).unwrap_or("x").to_string();
        let mut sums: Vec<Vec<(String, f64)>> = Vec::new();
        for every in [1, 7, 20] {
            let dir = run(&s, &format!("{name}-{every}"), every);
            let (cols, rows) = read_metrics(&dir);
            assert_eq!(rows.len() as u64, ticks.div_ceil(every), "{name} every {every}: one row per interval");
            let summary: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).expect("summary"))
                    .expect("json");
            let totals = &summary["channel_totals"];
            for (col, key) in [
                ("msgs_sent", "msgs_sent"),
                ("msgs_delivered", "msgs_delivered"),
                ("msgs_dropped_loss", "msgs_dropped_loss"),
                ("msgs_dropped_bandwidth", "msgs_dropped_bandwidth"),
                ("msgs_dropped_range", "msgs_dropped_range"),
                ("bytes_sent", "bytes_sent"),
                ("msgs_relayed", "msgs_relayed"),
            ] {
                let sum = column_sum(&cols, &rows, col);
                let total = totals[key].as_f64().expect("a total");
                assert_eq!(sum, total, "{name} every {every}: {col} sums to {sum}, summary says {total}");
            }
            // The mean latency weighted by what each row delivered is the run's mean.
            let (d, l) = (
                cols.iter().position(|c| c == "msgs_delivered").expect("column"),
                cols.iter().position(|c| c == "mean_latency_ticks").expect("column"),
            );
            let delivered: f64 = rows.iter().map(|r| r[d]).sum();
            if delivered > 0.0 {
                let mean = rows.iter().map(|r| r[d] * r[l]).sum::<f64>() / delivered;
                let want = totals["mean_latency_ticks"].as_f64().expect("mean latency");
                assert!((mean - want).abs() < 1e-9, "{name} every {every}: latency {mean} vs {want}");
            }
            // Every count column of the core and the world.
            let app = runner::headless_app(&s, Some(1));
            let m = app.world().resource::<masim::sim::Metrics>();
            let counts: Vec<(String, f64)> = cols
                .iter()
                .filter(|c| m.agg(c) == Some(Agg::Sum))
                .map(|c| (c.clone(), column_sum(&cols, &rows, c)))
                .collect();
            assert!(counts.iter().any(|(c, _)| c == "msgs_sent"), "{name}: counts {counts:?}");
            sums.push(counts);
        }
        assert_eq!(sums[0], sums[1], "{name}: count columns add up differently at 1 and 7 ticks a row");
        assert_eq!(sums[0], sums[2], "{name}: count columns add up differently at 1 and 20 ticks a row");
    }
}
