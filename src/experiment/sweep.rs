//! Running a plan: a journal of finished runs that makes a sweep resumable and shardable,
//! the tables made from it (sweep.csv, summary.csv, pairs.csv), and merging shards.
//!
//! A sweep folder holds `experiment.json` (what made it), `runs.jsonl` (one line per
//! finished run, appended, flushed and synced before the run counts as done) and the
//! tables, rewritten atomically from the journal, sorted by run number, whenever a sweep
//! invocation ends. A sweep killed at any point loses at most the runs that were in flight;
//! running the same command again runs exactly the runs the journal lacks, and the tables
//! come out byte-identical to an uninterrupted sweep's (nothing in them depends on timing).

use std::collections::{BTreeMap, BTreeSet};
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::stats;
use super::{Keep, Plan, Run};
use crate::runner::output::csv_cell;
use crate::runner::{self, RunOutcome, output};
use crate::sim::Agg;

/// The journal's name in a sweep folder.
pub const JOURNAL: &str = "runs.jsonl";
/// What made a sweep folder.
pub const META: &str = "experiment.json";
/// The tables a sweep writes.
pub const TABLES: [&str; 3] = ["sweep.csv", "summary.csv", "pairs.csv"];

/// One finished run as the journal keeps it: everything sweep.csv says about it, already
/// formatted, so the table is the same whatever process wrote the line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub run: u64,
    pub config: u64,
    pub seed: u64,
    /// Parameter values, as the plan's parameter columns.
    pub values: Vec<String>,
    pub scenario: String,
    pub ticks: u64,
    /// (column, value) of the metric summaries, in column order.
    pub cells: Vec<(String, String)>,
    /// (kind, count) of the events from `from_tick` on, sorted by kind.
    pub events: Vec<(String, u64)>,
    pub events_suppressed: u64,
    /// Wall time of the run (in the journal only: the tables never depend on timing).
    pub wall_s: f64,
}

impl Row {
    /// The row without its timing, for comparing two records of one run.
    fn same_result(&self, o: &Row) -> bool {
        let mut a = self.clone();
        a.wall_s = o.wall_s;
        a == *o
    }
}

/// The summary cells of a run's metrics from tick `from_tick` on (rows whose `tick` is at
/// least `from_tick`). A state or running total (`Last`): final, mean, min and max over the
/// rows; a per-tick count (`Sum`): its total, its mean per tick, and the min and max of a
/// row; a per-event mean (`WeightedMean`): mean, min and max over the rows that have one.
/// A per-tick count has no `final_` (its last row is noise).
pub fn summarise(out: &RunOutcome, metrics: &[String], from_tick: u64) -> Vec<(String, String)> {
    let tick_col = out.columns.iter().position(|c| *c == "tick");
    let rows: Vec<&Vec<f64>> = out.rows.iter().filter(|r| tick_col.is_none_or(|t| r[t] >= from_tick as f64)).collect();
    // The ticks the window covers: from the row before it (or tick 0) to its last row.
    let ticks_covered = tick_col.map_or(rows.len() as f64, |t| {
        let last = rows.last().map_or(0.0, |r| r[t]);
        let before = out.rows.iter().map(|r| r[t]).filter(|&x| x < from_tick as f64).fold(0.0, f64::max);
        last - before
    });
    let mut cells = Vec::new();
    for (i, c) in out.columns.iter().enumerate() {
        if matches!(*c, "tick" | "time_s") || (!metrics.is_empty() && !metrics.iter().any(|m| m == c)) {
            continue;
        }
        let vals: Vec<f64> = rows.iter().map(|r| r[i]).filter(|x| x.is_finite()).collect();
        let (min, max) = if vals.is_empty() {
            (f64::NAN, f64::NAN)
        } else {
            (vals.iter().copied().fold(f64::INFINITY, f64::min), vals.iter().copied().fold(f64::NEG_INFINITY, f64::max))
        };
        let mean = if vals.is_empty() { f64::NAN } else { vals.iter().sum::<f64>() / vals.len() as f64 };
        match out.aggs[i] {
            Agg::Last => {
                let last = rows.last().map_or(f64::NAN, |r| r[i]);
                cells.push((format!("final_{c}"), output::num(last)));
                cells.push((format!("mean_{c}"), output::num(mean)));
            }
            Agg::Sum => {
                let total: f64 = vals.iter().sum();
                cells.push((format!("total_{c}"), output::num(if rows.is_empty() { f64::NAN } else { total })));
                let per_tick = if ticks_covered > 0.0 { total / ticks_covered } else { f64::NAN };
                cells.push((format!("mean_{c}"), output::num(per_tick)));
            }
            Agg::WeightedMean => cells.push((format!("mean_{c}"), output::num(mean))),
        }
        cells.push((format!("min_{c}"), output::num(min)));
        cells.push((format!("max_{c}"), output::num(max)));
    }
    cells
}

/// The journal row of a finished run.
pub fn row_of(plan: &Plan, run: &Run, out: &RunOutcome) -> Row {
    let scn = &plan.configs[run.config].scenario;
    let mut events: BTreeMap<&str, u64> = BTreeMap::new();
    for (k, t) in &out.events {
        if *t >= plan.from_tick {
            *events.entry(k).or_default() += 1;
        }
    }
    Row {
        run: run.index,
        config: plan.configs[run.config].rank,
        seed: run.seed,
        values: plan.param_values(run),
        scenario: scn.name.clone(),
        ticks: scn.ticks,
        cells: summarise(out, &plan.metrics, plan.from_tick),
        events: events.into_iter().map(|(k, n)| (k.to_string(), n)).collect(),
        events_suppressed: out.events_suppressed,
        wall_s: out.timing.wall_s,
    }
}

/// What a sweep folder records about the experiment that made it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    pub fingerprint: serde_json::Value,
    /// The parameter columns (factors, then the pair's path).
    pub params: Vec<String>,
    /// The pair: its path and the arms' values.
    pub pair: Option<(String, [String; 2])>,
    /// Every run number of the plan.
    pub plan: Vec<u64>,
    /// "I/N" when this folder holds one shard.
    pub shard: Option<String>,
}

impl Meta {
    pub fn of(plan: &Plan, shard: Option<(u64, u64)>) -> Meta {
        Meta {
            fingerprint: plan.fingerprint.clone(),
            params: plan.param_columns(),
            pair: plan.pair.clone(),
            plan: plan.runs.iter().map(|r| r.index).collect(),
            shard: shard.map(|(i, n)| format!("{i}/{n}")),
        }
    }
}

/// Why a sweep folder cannot be used or read.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// Bad input: the folder belongs to another experiment, a shard is out of range...
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Io(String),
}

fn io_err(p: &Path, e: impl std::fmt::Display) -> SweepError {
    SweepError::Io(format!("{}: {e}", p.display()))
}

/// Reads a journal, dropping a last line cut short by a kill (and cutting it off the file
/// when `repair`). A damaged line elsewhere is an error.
pub fn read_journal(dir: &Path, repair: bool) -> Result<Vec<Row>, SweepError> {
    let path = dir.join(JOURNAL);
    let text = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(&path, e)),
    };
    let mut rows = Vec::new();
    let mut good_len = 0usize;
    let mut lines = text.split_inclusive(|b| *b == b'\n').peekable();
    let mut line_no = 0;
    while let Some(line) = lines.next() {
        line_no += 1;
        let last = lines.peek().is_none();
        let complete = line.ends_with(b"\n");
        match serde_json::from_slice::<Row>(line) {
            Ok(r) if complete => {
                rows.push(r);
                good_len += line.len();
            }
            // A last line cut short (no line break, or half a record) is a run in flight.
            _ if last => break,
            Ok(_) => break,
            Err(e) => {
                return Err(io_err(&path, format!("line {line_no} is damaged ({e}); remove it to run that run again")));
            }
        }
    }
    if repair && good_len < text.len() {
        let f = OpenOptions::new().write(true).open(&path).map_err(|e| io_err(&path, e))?;
        f.set_len(good_len as u64).map_err(|e| io_err(&path, e))?;
    }
    Ok(rows)
}

/// Checks that a folder's finished runs belong to `plan`: the same fingerprint, and each
/// journal row's parameters and seed those of the plan's run with its number.
fn check_rows(plan: &Plan, meta: &Meta, rows: &[Row], dir: &Path) -> Result<(), SweepError> {
    if meta.fingerprint != plan.fingerprint {
        let mut diff = Vec::new();
        if let (Some(a), Some(b)) = (meta.fingerprint.as_object(), plan.fingerprint.as_object()) {
            for (k, v) in b {
                if a.get(k) != Some(v) {
                    diff.push(format!(
                        "{k} was {} and is now {v}",
                        a.get(k).map_or("absent".into(), |x| x.to_string())
                    ));
                }
            }
        }
        return Err(SweepError::Refused(format!(
            "{}: holds the runs of a different experiment ({}); use another --out, or --force to discard them",
            dir.display(),
            diff.join("; ")
        )));
    }
    for r in rows {
        let Some(run) = plan.run(r.run) else {
            continue; // a run this (smaller) plan does not have: kept, not rerun
        };
        let values = plan.param_values(run);
        if values != r.values || run.seed != r.seed {
            return Err(SweepError::Refused(format!(
                "{}: run {} was made with {} seed {}, but this experiment numbers {} seed {} as run {}: the levels or \
                 seeds changed order (append new ones at the end); use another --out, or --force to discard the runs",
                dir.display(),
                r.run,
                r.values.join(","),
                r.seed,
                values.join(","),
                run.seed,
                r.run
            )));
        }
    }
    Ok(())
}

/// How a sweep invocation runs.
#[derive(Clone, Debug, Default)]
pub struct SweepOptions {
    pub jobs: usize,
    /// Run only the runs whose number is ≡ I (mod N).
    pub shard: Option<(u64, u64)>,
    /// Run only this run.
    pub run_index: Option<u64>,
    /// Discard what the folder holds first.
    pub force: bool,
    /// Run only these runs (`masim scale --max-agents` leaves the largest out).
    pub only: Option<BTreeSet<u64>>,
}

/// Where a sweep stands, for progress reports.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    /// Runs finished by this invocation.
    pub done: usize,
    /// Runs this invocation has to run.
    pub todo: usize,
    /// Runs already in the journal when it started.
    pub before: usize,
}

/// What a sweep invocation did.
#[derive(Clone, Debug)]
pub struct SweepReport {
    /// Finished runs in the folder, of the plan's runs selected by shard or run index.
    pub selected_done: usize,
    pub selected: usize,
    /// Runs already done when it started.
    pub resumed: usize,
    /// Runs run now.
    pub ran: usize,
    /// Total wall time of the runs run now.
    pub run_wall_s: f64,
}

/// Whether run `index` belongs to the selection.
pub fn selected(opts: &SweepOptions, index: u64) -> bool {
    opts.run_index.is_none_or(|k| k == index)
        && opts.shard.is_none_or(|(i, n)| index % n == i)
        && opts.only.as_ref().is_none_or(|s| s.contains(&index))
}

/// Runs what the folder `dir` lacks of `plan` (its selection), appending each run to the
/// journal as it finishes, then writes the tables. `progress` is called after each run.
pub fn execute(
    plan: &Plan,
    dir: &Path,
    opts: &SweepOptions,
    stop: &AtomicBool,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<SweepReport, SweepError> {
    if let Some(k) = opts.run_index
        && plan.run(k).is_none()
    {
        return Err(SweepError::Refused(format!(
            "--run-index {k}: the plan has no run {k} (masim sweep ... --list-runs prints its runs)"
        )));
    }
    if dir.exists() && !dir.is_dir() {
        return Err(SweepError::Refused(format!("{}: exists and is not a folder", dir.display())));
    }
    if opts.force {
        clear(dir)?;
    }
    std::fs::create_dir_all(dir).map_err(|e| io_err(dir, format!("cannot create: {e}")))?;
    let meta = Meta::of(plan, opts.shard);
    let meta_path = dir.join(META);
    let rows = if meta_path.exists() {
        let old: Meta = serde_json::from_str(&std::fs::read_to_string(&meta_path).map_err(|e| io_err(&meta_path, e))?)
            .map_err(|e| io_err(&meta_path, format!("not a sweep's record ({e}); use another --out or --force")))?;
        let rows = read_journal(dir, true)?;
        check_rows(plan, &old, &rows, dir)?;
        rows
    } else {
        // A folder with results but no record is an old or foreign sweep's.
        output::check_dir(dir, false).map_err(|e| SweepError::Refused(e.to_string()))?;
        if dir.join(JOURNAL).exists() {
            return Err(SweepError::Refused(format!(
                "{}: has {JOURNAL} but no {META}; use another --out, or --force to discard it",
                dir.display()
            )));
        }
        Vec::new()
    };
    output::write_atomic(dir, META, (serde_json::to_string_pretty(&meta).unwrap_or_default() + "\n").as_bytes())
        .map_err(|e| io_err(&meta_path, e))?;
    // The tables hold this plan's runs; the journal keeps any others (a larger plan's) too.
    let rows: Vec<Row> = rows.into_iter().filter(|r| plan.run(r.run).is_some()).collect();
    let done: BTreeSet<u64> = rows.iter().map(|r| r.run).collect();
    let chosen: Vec<&Run> = plan.runs.iter().filter(|r| selected(opts, r.index)).collect();
    let todo: Vec<&Run> = chosen.iter().copied().filter(|r| !done.contains(&r.index)).collect();
    let before = chosen.len() - todo.len();
    progress(Progress { done: 0, todo: todo.len(), before });
    let journal = Mutex::new(
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(JOURNAL))
            .map_err(|e| io_err(&dir.join(JOURNAL), e))?,
    );
    let next = AtomicUsize::new(0);
    let finished = AtomicUsize::new(0);
    let failure: Mutex<Option<SweepError>> = Mutex::new(None);
    let wall = Mutex::new(0.0f64);
    // The rows so far; the tables are rewritten from them every few seconds, so a long
    // sweep's sweep.csv grows as runs finish.
    let all_rows = Mutex::new((rows, std::time::Instant::now()));
    let jobs = opts.jobs.clamp(1, todo.len().max(1));
    let per_run_threads = (std::thread::available_parallelism().map_or(1, |n| n.get()) / jobs).max(1);
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| {
                loop {
                    if stop.load(Ordering::SeqCst) || failure.lock().map(|f| f.is_some()).unwrap_or(true) {
                        break;
                    }
                    let k = next.fetch_add(1, Ordering::SeqCst);
                    let Some(run) = todo.get(k) else { break };
                    match run_one(plan, run, dir, per_run_threads) {
                        Ok(row) => {
                            let line = serde_json::to_string(&row).unwrap_or_default() + "\n";
                            let written =
                                journal.lock().map_err(|_| SweepError::Io("journal lock".into())).and_then(|mut f| {
                                    f.write_all(line.as_bytes())
                                        .and_then(|_| f.flush())
                                        .and_then(|_| f.sync_data())
                                        .map_err(|e| io_err(&dir.join(JOURNAL), e))
                                });
                            if let Err(e) = written {
                                if let Ok(mut f) = failure.lock() {
                                    f.get_or_insert(e);
                                }
                                break;
                            }
                            if let Ok(mut w) = wall.lock() {
                                *w += row.wall_s;
                            }
                            if let Ok(mut g) = all_rows.lock() {
                                g.0.push(row);
                                if g.1.elapsed() >= std::time::Duration::from_secs(5) {
                                    g.1 = std::time::Instant::now();
                                    // A failure here is repeated, and reported, at the end.
                                    let _ = write_tables(dir, &meta, &g.0);
                                }
                            }
                            let n = finished.fetch_add(1, Ordering::SeqCst) + 1;
                            progress(Progress { done: n, todo: todo.len(), before });
                        }
                        Err(e) => {
                            if let Ok(mut f) = failure.lock() {
                                f.get_or_insert(e);
                            }
                            break;
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = failure.into_inner().ok().flatten() {
        return Err(e);
    }
    let rows = all_rows.into_inner().map(|g| g.0).unwrap_or_default();
    write_tables(dir, &meta, &rows)?;
    let have: BTreeSet<u64> = rows.iter().map(|r| r.run).collect();
    Ok(SweepReport {
        selected_done: chosen.iter().filter(|r| have.contains(&r.index)).count(),
        selected: chosen.len(),
        resumed: before,
        ran: finished.load(Ordering::SeqCst),
        run_wall_s: wall.into_inner().unwrap_or(0.0),
    })
}

/// Runs one run of the plan (into `runs/NNNN/` unless the plan keeps only rows).
fn run_one(plan: &Plan, run: &Run, dir: &Path, threads: usize) -> Result<Row, SweepError> {
    let cfg = &plan.configs[run.config];
    let mut scn = cfg.scenario.clone();
    scn.seed = run.seed;
    let out = match plan.keep {
        Keep::Summary => {
            let (app, timing) = runner::run_in_memory(&scn, threads, |_| {});
            runner::outcome(app.world(), timing)
        }
        Keep::All => {
            let d = run_dir(dir, run.index);
            // A run cut short by a kill left its folder half written: it is ours to clear.
            output::prepare_dir(&d, true).map_err(|e| SweepError::Io(e.to_string()))?;
            let mut overrides = cfg.overrides.clone();
            overrides.push(("seed".into(), run.seed.to_string()));
            let opts =
                runner::RunOptions { trace: false, threads, overrides: overrides.clone(), trace_skip: Vec::new() };
            let out = runner::run_to_dir(&scn, &d, &opts, |_| {}).map_err(|e| SweepError::Io(e.to_string()))?;
            let manifest = json!({
                "masim_version": env!("CARGO_PKG_VERSION"),
                "run": run.index,
                "config": cfg.rank,
                "seed": run.seed,
                "scenario_file": plan.scenario_file.display().to_string(),
                "scenario_hash": plan.scenario_hash,
                "overrides": overrides,
            });
            output::write_atomic(
                &d,
                "manifest.json",
                (serde_json::to_string_pretty(&manifest).unwrap_or_default() + "\n").as_bytes(),
            )
            .map_err(|e| io_err(&d, e))?;
            out
        }
    };
    Ok(row_of(plan, run, &out))
}

/// The folder of run `index`.
pub fn run_dir(dir: &Path, index: u64) -> PathBuf {
    dir.join("runs").join(format!("{index:04}"))
}

/// Removes what a sweep wrote in `dir`: its record, journal, tables and run folders.
fn clear(dir: &Path) -> Result<(), SweepError> {
    output::prepare_dir(dir, true).map_err(|e| SweepError::Io(e.to_string()))
}

/// Writes sweep.csv, summary.csv and (for a pair) pairs.csv from the journal's rows,
/// sorted by run number.
pub fn write_tables(dir: &Path, meta: &Meta, rows: &[Row]) -> Result<(), SweepError> {
    let mut rows: Vec<&Row> = rows.iter().collect();
    rows.sort_by_key(|r| r.run);
    let tables = tables(meta, &rows);
    for (name, text) in TABLES.iter().zip(tables) {
        match text {
            Some(t) => output::write_atomic(dir, name, t.as_bytes()).map_err(|e| io_err(&dir.join(name), e))?,
            None => {
                let _ = std::fs::remove_file(dir.join(name));
            }
        }
    }
    Ok(())
}

/// The three tables' text (pairs.csv only with a pair).
fn tables(meta: &Meta, rows: &[&Row]) -> [Option<String>; 3] {
    let cell_cols: Vec<String> =
        rows.first().map(|r| r.cells.iter().map(|(c, _)| c.clone()).collect()).unwrap_or_default();
    let kinds: BTreeSet<&str> = rows.iter().flat_map(|r| r.events.iter().map(|(k, _)| k.as_str())).collect();
    // sweep.csv
    let mut s = String::from("run,config,seed");
    for p in &meta.params {
        s.push(',');
        s.push_str(&csv_cell(p));
    }
    s.push_str(",scenario,ticks");
    for c in &cell_cols {
        s.push(',');
        s.push_str(c);
    }
    for k in &kinds {
        s.push_str(&format!(",events_{k}"));
    }
    s.push_str(",events_suppressed\n");
    // Per row: its numbers by column, for the summaries.
    let mut numbers: Vec<Vec<(String, f64)>> = Vec::new();
    for r in rows {
        s.push_str(&format!("{},{},{}", r.run, r.config, r.seed));
        for v in &r.values {
            s.push(',');
            s.push_str(&csv_cell(v));
        }
        s.push_str(&format!(",{},{}", csv_cell(&r.scenario), r.ticks));
        let mut nums = Vec::new();
        for c in &cell_cols {
            let v = r.cells.iter().find(|(k, _)| k == c).map_or("", |(_, v)| v.as_str());
            s.push(',');
            s.push_str(v);
            nums.push((c.clone(), v.parse::<f64>().unwrap_or(f64::NAN)));
        }
        for k in &kinds {
            let n = r.events.iter().find(|(x, _)| x == k).map_or(0, |(_, n)| *n);
            s.push_str(&format!(",{n}"));
            nums.push((format!("events_{k}"), n as f64));
        }
        s.push_str(&format!(",{}\n", r.events_suppressed));
        numbers.push(nums);
    }
    let metric_names: Vec<String> =
        numbers.first().map(|n| n.iter().map(|(c, _)| c.clone()).collect()).unwrap_or_default();
    // summary.csv: per configuration (arm included) and metric, over the seeds.
    let mut configs: BTreeMap<(u64, Vec<String>), Vec<usize>> = BTreeMap::new();
    for (i, r) in rows.iter().enumerate() {
        configs.entry((r.config, r.values.clone())).or_default().push(i);
    }
    let mut sum = String::from("config");
    for p in &meta.params {
        sum.push(',');
        sum.push_str(&csv_cell(p));
    }
    sum.push_str(",metric,mean,sd,ci95_low,ci95_high,n\n");
    for ((config, values), idx) in &configs {
        for (m, name) in metric_names.iter().enumerate() {
            let xs: Vec<f64> = idx.iter().map(|&i| numbers[i][m].1).collect();
            let iv = stats::interval(&xs);
            sum.push_str(&config.to_string());
            for v in values {
                sum.push(',');
                sum.push_str(&csv_cell(v));
            }
            sum.push_str(&format!(
                ",{name},{},{},{},{},{}\n",
                output::num(iv.mean),
                output::num(iv.sd),
                output::num(iv.low),
                output::num(iv.high),
                iv.n
            ));
        }
    }
    // pairs.csv: per configuration of the factors, arm b minus arm a on the same seed.
    let pairs = meta.pair.as_ref().map(|(_, arms)| {
        let nf = meta.params.len() - 1;
        let mut p = String::new();
        for c in &meta.params[..nf] {
            p.push_str(&csv_cell(c));
            p.push(',');
        }
        p.push_str("metric,a_mean,b_mean,diff_mean,diff_ci95_low,diff_ci95_high,n\n");
        // (factor values) → seed → [row of a, row of b]
        let mut groups: BTreeMap<Vec<String>, BTreeMap<u64, [Option<usize>; 2]>> = BTreeMap::new();
        for (i, r) in rows.iter().enumerate() {
            let arm = if r.values[nf] == arms[0] { 0 } else { 1 };
            groups.entry(r.values[..nf].to_vec()).or_default().entry(r.seed).or_default()[arm] = Some(i);
        }
        for (values, seeds) in &groups {
            for (m, name) in metric_names.iter().enumerate() {
                let (mut a, mut b, mut d) = (Vec::new(), Vec::new(), Vec::new());
                for pair in seeds.values() {
                    if let [Some(ia), Some(ib)] = pair {
                        let (x, y) = (numbers[*ia][m].1, numbers[*ib][m].1);
                        if x.is_finite() && y.is_finite() {
                            a.push(x);
                            b.push(y);
                            d.push(y - x);
                        }
                    }
                }
                let (ia, ib, id) = (stats::interval(&a), stats::interval(&b), stats::interval(&d));
                for v in values {
                    p.push_str(&csv_cell(v));
                    p.push(',');
                }
                p.push_str(&format!(
                    "{name},{},{},{},{},{},{}\n",
                    output::num(ia.mean),
                    output::num(ib.mean),
                    output::num(id.mean),
                    output::num(id.low),
                    output::num(id.high),
                    id.n
                ));
            }
        }
        p
    });
    [Some(s), Some(sum), pairs]
}

/// Combines sweep folders (shards of one experiment) into `out`: the journal, record and
/// tables an unsharded sweep of the same plan writes. Returns the planned runs that no
/// folder holds.
pub fn merge(dirs: &[PathBuf], out: &Path, force: bool) -> Result<Vec<u64>, SweepError> {
    let mut meta: Option<(Meta, PathBuf)> = None;
    let mut runs: BTreeMap<u64, (Row, PathBuf)> = BTreeMap::new();
    let mut plan: BTreeSet<u64> = BTreeSet::new();
    for d in dirs {
        let mp = d.join(META);
        let text = std::fs::read_to_string(&mp)
            .map_err(|e| SweepError::Refused(format!("{}: not a sweep folder ({META}: {e})", d.display())))?;
        let m: Meta = serde_json::from_str(&text).map_err(|e| SweepError::Refused(format!("{}: {e}", mp.display())))?;
        if let Some((first, from)) = &meta
            && (first.fingerprint != m.fingerprint || first.params != m.params || first.pair != m.pair)
        {
            return Err(SweepError::Refused(format!(
                "{} and {} hold different experiments; merge shards of one experiment",
                from.display(),
                d.display()
            )));
        }
        plan.extend(&m.plan);
        if meta.is_none() {
            meta = Some((m, d.clone()));
        }
        for r in read_journal(d, false)? {
            match runs.get(&r.run) {
                Some((old, from)) if !old.same_result(&r) => {
                    return Err(SweepError::Refused(format!(
                        "run {} differs between {} and {}: were they made by different builds?",
                        r.run,
                        from.display(),
                        d.display()
                    )));
                }
                Some(_) => {}
                None => {
                    runs.insert(r.run, (r, d.clone()));
                }
            }
        }
    }
    let Some((mut meta, _)) = meta else {
        return Err(SweepError::Refused("no folders to merge".into()));
    };
    meta.shard = None;
    meta.plan = plan.iter().copied().collect();
    if out.exists() && !force && (out.join(META).exists() || TABLES.iter().any(|t| out.join(t).exists())) {
        return Err(SweepError::Refused(format!(
            "{}: already holds a sweep; pass --force to overwrite or choose another --out",
            out.display()
        )));
    }
    std::fs::create_dir_all(out).map_err(|e| io_err(out, format!("cannot create: {e}")))?;
    let rows: Vec<Row> = runs.into_values().map(|(r, _)| r).collect();
    let mut journal = String::new();
    for r in &rows {
        journal.push_str(&(serde_json::to_string(r).unwrap_or_default() + "\n"));
    }
    output::write_atomic(out, JOURNAL, journal.as_bytes()).map_err(|e| io_err(out, e))?;
    output::write_atomic(out, META, (serde_json::to_string_pretty(&meta).unwrap_or_default() + "\n").as_bytes())
        .map_err(|e| io_err(out, e))?;
    write_tables(out, &meta, &rows)?;
    let have: BTreeSet<u64> = rows.iter().map(|r| r.run).collect();
    Ok(plan.into_iter().filter(|k| !have.contains(k)).collect())
}
