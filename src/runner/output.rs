//! Output files of a headless run — metrics.csv, summary.json, events.jsonl and, with
//! tracing, agents.csv — each written to a temporary file and renamed into place, so a
//! crash or a full disk never leaves a half-written result behind.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use bevy::prelude::*;
use serde_json::{Map, Value, json};

pub use crate::sim::csv::{csv_cell, num};

use super::Timing;
use crate::scenario::Scenario;
use crate::sim::{
    Agent, Channel, Crashed, Decision, EventLog, Metrics, Pose, Registry, Timings, TraceState, TraceTable,
};
use crate::worlds::WorldSpec;

/// The files a run writes (some only with `--trace`, some only in some worlds). A folder
/// holding any of them holds results; `--force` removes exactly these before a new run.
pub const OUTPUT_FILES: [&str; 9] = [
    "metrics.csv",
    "manifest.json",
    "summary.json",
    "events.jsonl",
    "agents.csv",
    "scenario.ron",
    "trips.csv",
    "lines.csv",
    "buses.csv",
];

/// The files a sweep writes at its top level; its runs live in `runs/NNNN/`.
pub const SWEEP_FILES: [&str; 7] =
    ["sweep.csv", "summary.csv", "pairs.csv", "runs.jsonl", "experiment.json", "scale.csv", "scale.md"];

/// Why the output folder cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum OutDirError {
    /// It already holds results and `--force` was not given.
    #[error("{}: already holds results ({}); pass --force to overwrite or choose another --out", .0.display(), .1)]
    HasResults(PathBuf, String),
    /// It exists and is not a folder.
    #[error("{}: {}", .0.display(), .1)]
    NotAFolder(PathBuf, String),
    /// It cannot be created or cleared.
    #[error("{}: {}", .0.display(), .1)]
    Io(PathBuf, String),
}

/// Checks that the output folder can be used — it is a folder or does not exist yet,
/// and holds no results unless `force` — without creating or changing anything.
pub fn check_dir(dir: &Path, force: bool) -> Result<(), OutDirError> {
    if dir.exists() && !dir.is_dir() {
        return Err(OutDirError::NotAFolder(
            dir.to_path_buf(),
            "exists and is not a folder; --out names the folder the results go in".into(),
        ));
    }
    if !force {
        for f in OUTPUT_FILES.iter().chain(&SWEEP_FILES) {
            if dir.join(f).exists() {
                return Err(OutDirError::HasResults(dir.to_path_buf(), f.to_string()));
            }
        }
        if run_folders(dir).next().is_some() {
            return Err(OutDirError::HasResults(dir.to_path_buf(), "runs/".into()));
        }
    }
    Ok(())
}

/// The `runs/NNNN` folders of an earlier sweep in `dir`.
fn run_folders(dir: &Path) -> impl Iterator<Item = PathBuf> {
    fs::read_dir(dir.join("runs")).into_iter().flatten().flatten().map(|e| e.path()).filter(|p| {
        p.is_dir()
            && p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    })
}

/// Removes what masim wrote in `dir` before — its output files, a sweep's table and
/// run folders — and nothing else.
fn clear_results(dir: &Path) -> Result<(), OutDirError> {
    let io = |p: &Path, e: std::io::Error| OutDirError::Io(p.to_path_buf(), format!("cannot remove: {e}"));
    for f in OUTPUT_FILES.iter().chain(&SWEEP_FILES) {
        let p = dir.join(f);
        if p.is_file() {
            fs::remove_file(&p).map_err(|e| io(&p, e))?;
        }
    }
    for run in run_folders(dir).collect::<Vec<_>>() {
        for f in OUTPUT_FILES {
            let p = run.join(f);
            if p.is_file() {
                fs::remove_file(&p).map_err(|e| io(&p, e))?;
            }
        }
        // The folder goes only if nothing else is left in it.
        let _ = fs::remove_dir(&run);
    }
    let _ = fs::remove_dir(dir.join("runs"));
    Ok(())
}

/// Creates the output folder, refusing one that holds results unless `force`; with
/// `force` it first removes the results an earlier run or sweep left there (only masim's
/// files), so no old file sits beside the new ones.
pub fn prepare_dir(dir: &Path, force: bool) -> Result<(), OutDirError> {
    check_dir(dir, force)?;
    if force && dir.is_dir() {
        clear_results(dir)?;
    }
    fs::create_dir_all(dir).map_err(|e| OutDirError::Io(dir.to_path_buf(), format!("cannot create: {e}")))
}

/// A file written under a temporary name and renamed into place on [`AtomicFile::commit`].
pub struct AtomicFile {
    tmp: PathBuf,
    dest: PathBuf,
    w: Option<BufWriter<File>>,
}

impl AtomicFile {
    /// Starts writing `dir/name`.
    pub fn create(dir: &Path, name: &str) -> std::io::Result<Self> {
        let tmp = dir.join(format!(".{name}.tmp"));
        let w = BufWriter::with_capacity(1 << 16, File::create(&tmp)?);
        Ok(AtomicFile { tmp, dest: dir.join(name), w: Some(w) })
    }

    /// The writer.
    pub fn w(&mut self) -> &mut BufWriter<File> {
        self.w.as_mut().expect("AtomicFile used after commit")
    }

    /// Flushes, syncs and renames into place.
    pub fn commit(mut self) -> std::io::Result<()> {
        if let Some(w) = self.w.take() {
            let f = w.into_inner().map_err(|e| e.into_error())?;
            f.sync_all()?;
            fs::rename(&self.tmp, &self.dest)?;
        }
        Ok(())
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        // A file never committed (or whose commit failed) leaves no temporary behind.
        if self.tmp.exists() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Writes a whole file atomically.
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = AtomicFile::create(dir, name)?;
    f.w().write_all(bytes)?;
    f.commit()
}

/// metrics.csv as text.
pub fn metrics_csv(m: &Metrics) -> String {
    let mut s = m.columns().join(",");
    s.push('\n');
    for row in m.rows() {
        let cells: Vec<String> = row.iter().map(|v| num(*v)).collect();
        s.push_str(&cells.join(","));
        s.push('\n');
    }
    s
}

/// events.jsonl as text.
pub fn events_jsonl(log: &EventLog) -> String {
    let mut s = String::new();
    for e in log.events() {
        s.push_str(&serde_json::to_string(e).unwrap_or_default());
        s.push('\n');
    }
    s
}

fn jnum(v: f64) -> Value {
    serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
}

/// summary.json as a value. Everything but `timing` is deterministic.
pub fn summary<W: WorldSpec>(
    world: &World,
    scn: &Scenario<W>,
    overrides: &[(String, String)],
    timing: Timing,
    threads: usize,
) -> Value {
    let m = world.resource::<Metrics>();
    let ch = world.resource::<Channel>();
    let log = world.resource::<EventLog>();
    let mut last = Map::new();
    let mut agg = Map::new();
    for (i, c) in m.columns().iter().enumerate() {
        if let Some(r) = m.rows().last() {
            last.insert(c.to_string(), jnum(r[i]));
        }
        if m.rows().is_empty() || matches!(*c, "tick" | "time_s") {
            continue;
        }
        let vals: Vec<f64> = m.rows().iter().map(|r| r[i]).collect();
        let n = vals.len() as f64;
        let mean = vals.iter().sum::<f64>() / n;
        let min = vals.iter().copied().fold(f64::INFINITY, f64::min);
        let max = vals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        agg.insert(c.to_string(), json!({"mean": jnum(mean), "min": jnum(min), "max": jnum(max)}));
    }
    let t = ch.totals;
    let counts: Map<String, Value> = log.counts().into_iter().map(|(k, n)| (k.to_string(), json!(n))).collect();
    let world_part = world.get_resource::<crate::sim::WorldSummary>().map(|w| (w.0)(world));
    // What each column is, for tools that plot or summarise it (`masim plot`).
    let columns: Vec<Value> = world
        .get_resource::<Registry>()
        .map(|r| r.metrics_grouped())
        .unwrap_or_default()
        .into_iter()
        .filter(|(_, spec)| m.index(spec.name).is_some())
        .map(|(g, spec)| {
            let agg = match spec.agg {
                crate::sim::Agg::Last => "last",
                crate::sim::Agg::Sum => "sum",
                crate::sim::Agg::WeightedMean => "mean",
            };
            json!({"name": spec.name, "unit": spec.unit, "agg": agg, "group": format!("{g:?}").to_lowercase()})
        })
        .collect();
    let mut out = json!({
        "scenario": scn.name,
        "description": scn.description,
        "seed": scn.seed,
        "ticks": timing.ticks,
        "dt": scn.dt,
        "simulated_s": jnum(timing.ticks as f64 * scn.dt),
        "masim_version": env!("CARGO_PKG_VERSION"),
        "world_name": scn.world.name(),
        "overrides": overrides.iter().map(|(k, v)| json!({"set": k, "value": v})).collect::<Vec<_>>(),
        "resolved_scenario": "scenario.ron",
        "coordination": format!("{:?}", scn.coordination),
        "topology": format!("{:?}", scn.channel.topology),
        "columns": columns,
        "final": Value::Object(last),
        "aggregate": Value::Object(agg),
        "channel_totals": {
            "msgs_sent": t.sent,
            "msgs_delivered": t.delivered,
            "msgs_dropped_loss": t.dropped_loss,
            "msgs_dropped_bandwidth": t.dropped_bandwidth,
            "msgs_dropped_range": t.dropped_range,
            "bytes_sent": t.bytes,
            "msgs_relayed": t.relayed,
            "mean_latency_ticks": jnum(t.mean_latency()),
        },
        "events": Value::Object(counts),
        "events_suppressed": log.suppressed(),
        "timing": {
            "wall_s": jnum(timing.wall_s),
            "ticks_per_s": jnum(timing.ticks_per_s()),
            "threads": threads,
            "parts_s": world
                .get_resource::<Timings>()
                .map(|t| t.0.iter().map(|(k, v)| (k.to_string(), jnum(*v))).collect::<Map<String, Value>>())
                .unwrap_or_default(),
        },
    });
    if let (Some(w), Some(o)) = (world_part, out.as_object_mut()) {
        o.insert("world".into(), w);
    }
    out
}

/// Streams agents.csv snapshots.
pub struct TraceWriter {
    file: AtomicFile,
    every: u64,
    rows: Vec<(u32, String)>,
    /// The world's own tables (see [`TraceTable`]), with their files.
    tables: Vec<(TraceTable, AtomicFile)>,
    buf: String,
    /// States whose agents are left out of agents.csv (`--trace-skip parked`), and whether
    /// any agent was ever in each.
    skip: Vec<(String, bool)>,
}

impl TraceWriter {
    /// Opens `dir/agents.csv` and the world's trace tables registered in `world`
    /// (temporary until [`TraceWriter::finish`]).
    pub fn create(dir: &Path, every: u64, world: &World, skip: &[String]) -> std::io::Result<Self> {
        let mut file = AtomicFile::create(dir, "agents.csv")?;
        writeln!(file.w(), "tick,agent,kind,x,y,speed,state")?;
        let mut tables = Vec::new();
        for t in world.get_resource::<Registry>().map(|r| r.trace_tables().to_vec()).unwrap_or_default() {
            let mut f = AtomicFile::create(dir, t.file)?;
            writeln!(f.w(), "{}", t.header)?;
            tables.push((t, f));
        }
        let skip = skip.iter().map(|s| (s.clone(), false)).collect();
        Ok(TraceWriter { file, every: every.max(1), rows: Vec::new(), tables, buf: String::new(), skip })
    }

    /// Writes a snapshot if this tick is due. `done` is the number of ticks completed.
    pub fn snapshot(&mut self, world: &mut World, done: u64) -> std::io::Result<()> {
        if !done.is_multiple_of(self.every) {
            return Ok(());
        }
        let mut q = world.query::<(&Agent, &Pose, &Decision, Option<&TraceState>, Has<Crashed>)>();
        self.rows.clear();
        for (a, p, d, st, crashed) in q.iter(world) {
            let state = if crashed { "crashed" } else { st.map_or(d.action, |s| s.0) };
            if let Some(k) = self.skip.iter().position(|(s, _)| s == state) {
                self.skip[k].1 = true;
                continue;
            }
            self.rows.push((
                a.id.0,
                format!(
                    "{done},{},{},{},{},{},{state}",
                    a.id.0,
                    a.kind.name(),
                    num(f64::from(p.x)),
                    num(f64::from(p.y)),
                    num(f64::from(p.speed))
                ),
            ));
        }
        self.rows.sort_by_key(|r| r.0);
        for (_, line) in &self.rows {
            writeln!(self.file.w(), "{line}")?;
        }
        for (t, f) in &mut self.tables {
            self.buf.clear();
            (t.rows)(world, done, &mut self.buf);
            f.w().write_all(self.buf.as_bytes())?;
        }
        Ok(())
    }

    /// The skipped states no agent was ever in (a misspelt `--trace-skip` does nothing).
    pub fn unseen_skips(&self) -> Vec<String> {
        self.skip.iter().filter(|(_, seen)| !seen).map(|(s, _)| s.clone()).collect()
    }

    /// Renames every file into place.
    pub fn finish(self) -> std::io::Result<()> {
        for (_, f) in self.tables {
            f.commit()?;
        }
        self.file.commit()
    }
}
