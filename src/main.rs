//! The `masim` command: opens the desktop app, or runs and validates scenarios headless.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use masim::runner::{self, output};
use masim::scenario::{self, Scenario};

/// masim — multi-agent systems at scale: road traffic (more worlds to come).
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a scenario headless and write metrics.csv, summary.json, events.jsonl (and agents.csv with --trace).
    Run(RunArgs),
    /// Run a scenario over a grid of parameter values and seeds; writes each run's outputs
    /// under OUT/runs/ and one row per run to OUT/sweep.csv.
    Sweep(SweepArgs),
    /// Check scenario files without running them (with --set, as `masim run` would run them).
    Validate {
        /// Scenario files (.ron).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Override a field before checking, as for `masim run` (repeatable).
        #[arg(long = "set", value_name = "PATH=VALUE")]
        sets: Vec<String>,
        /// Check with this run length, as for `masim run --ticks`.
        #[arg(long)]
        ticks: Option<u64>,
    },
    /// Open the desktop app on a scenario (no file: the built-in ring). Needs a display.
    Gui(GuiArgs),
}

#[derive(clap::Args, Debug, Default)]
struct GuiArgs {
    /// Scenario file (.ron); the built-in default scenario when left out.
    file: Option<PathBuf>,
    /// Save a PNG of the window after --after-ticks ticks (default 100), then exit.
    #[arg(long, value_name = "PNG")]
    screenshot: Option<PathBuf>,
    /// Run this many ticks at once: then take the screenshot, or without --screenshot pause
    /// there (the app opens paused at that tick).
    #[arg(long, value_name = "N")]
    after_ticks: Option<u64>,
    /// Select this agent at start: the inspector shows it and the camera zooms in and follows
    /// it (a parked city car is shown once it sets off).
    #[arg(long, value_name = "AGENT_ID")]
    select: Option<u32>,
    /// Override a field before the app starts, as `masim run --set` does (repeatable).
    #[arg(long = "set", value_name = "PATH=VALUE")]
    sets: Vec<String>,
}

#[derive(clap::Args, Debug)]
struct RunArgs {
    /// Scenario file (.ron).
    file: PathBuf,
    /// Run this many ticks instead of the scenario's `ticks`.
    #[arg(long)]
    ticks: Option<u64>,
    /// Use this seed instead of the scenario's.
    #[arg(long)]
    seed: Option<u64>,
    /// Override a field: --set channel.loss=0.2 (repeatable).
    #[arg(long = "set", value_name = "PATH=VALUE")]
    sets: Vec<String>,
    /// Output folder [default: out/<scenario name>].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Overwrite results already in the output folder.
    #[arg(long)]
    force: bool,
    /// Also write agents.csv (every `output.trace_every` ticks).
    #[arg(long)]
    trace: bool,
    /// Worker threads (results are identical for any count).
    #[arg(long, env = "MASIM_THREADS")]
    threads: Option<usize>,
    /// No progress bar or closing line.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(clap::Args, Debug)]
struct SweepArgs {
    /// Scenario file (.ron).
    file: PathBuf,
    /// Seeds: a range `1..10` (end exclusive), a list `1,2,5`, or one seed.
    #[arg(long, default_value = "0..1")]
    seeds: String,
    /// A parameter to vary: --vary channel.loss=0,0.1,0.2 (repeatable; runs the full grid).
    #[arg(long = "vary", value_name = "PATH=V1,V2,...")]
    varies: Vec<String>,
    /// Fixed overrides applied to every run: --set coordination=Decentralized.
    #[arg(long = "set", value_name = "PATH=VALUE")]
    sets: Vec<String>,
    /// Run this many ticks instead of the scenario's `ticks`.
    #[arg(long)]
    ticks: Option<u64>,
    /// Output folder [default: out/<scenario name>-sweep].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Overwrite results already in the output folder.
    #[arg(long)]
    force: bool,
    /// Runs in parallel (results do not depend on it).
    #[arg(long, default_value_t = 1)]
    jobs: usize,
    /// No progress bar or closing line.
    #[arg(long, short)]
    quiet: bool,
}

/// Failure with its exit code: 2 for bad input, 1 for anything else.
enum Failure {
    BadInput(String),
    Other(String),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Run(a)) => run(a),
        Some(Command::Validate { files, sets, ticks }) => validate(&files, ticks, &sets),
        Some(Command::Sweep(a)) => sweep(a),
        Some(Command::Gui(a)) => open_app(a),
        None => open_app(GuiArgs::default()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::BadInput(m)) => {
            eprintln!("error: {m}");
            ExitCode::from(2)
        }
        Err(Failure::Other(m)) => {
            eprintln!("error: {m}");
            ExitCode::from(1)
        }
    }
}

#[cfg(feature = "gui")]
fn open_app(a: GuiArgs) -> Result<(), Failure> {
    if let Some(path) = &a.screenshot {
        check_screenshot_path(path)?;
    }
    let (scn, origin) = match &a.file {
        Some(f) => (load_with_overrides(f, None, None, &a.sets)?.0, f.display().to_string()),
        None => {
            let s = scenario::load_str(scenario::DEFAULT_SCENARIO, "built-in")
                .map_err(|e| Failure::Other(e.to_string()))?;
            (apply_overrides(s, None, None, &a.sets)?.0, "built-in".to_string())
        }
    };
    let opts =
        masim::gui::GuiOptions { origin, screenshot: a.screenshot, after_ticks: a.after_ticks, select: a.select };
    masim::gui::run(scn, opts).map_err(Failure::Other)
}

/// Refuses a screenshot path whose folder does not exist before any tick runs.
#[cfg(feature = "gui")]
fn check_screenshot_path(path: &std::path::Path) -> Result<(), Failure> {
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => std::path::Path::new("."),
    };
    if !folder.is_dir() {
        return Err(Failure::BadInput(format!(
            "--screenshot {}: the folder {} does not exist (create it first)",
            path.display(),
            folder.display()
        )));
    }
    if path.is_dir() {
        return Err(Failure::BadInput(format!("--screenshot {}: is a folder; name a .png file", path.display())));
    }
    Ok(())
}

#[cfg(not(feature = "gui"))]
fn open_app(a: GuiArgs) -> Result<(), Failure> {
    use clap::CommandFactory;
    let _ = Cli::command().print_help();
    println!();
    if a.file.is_some() || a.screenshot.is_some() || a.select.is_some() || !a.sets.is_empty() {
        return Err(Failure::Other(
            "this masim was built without the `gui` feature; use `masim run SCENARIO.ron`".into(),
        ));
    }
    Ok(())
}

/// A progress bar on stderr, only when stderr is a terminal.
fn progress_bar(wanted: bool, len: u64, unit: &str) -> Option<ProgressBar> {
    if !wanted || !std::io::stderr().is_terminal() {
        return None;
    }
    let b = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    let template =
        format!("{{spinner}} [{{elapsed_precise}}] {{bar:40}} {{pos}}/{{len}} {unit} ({{per_sec}}, eta {{eta}})");
    b.set_style(ProgressStyle::with_template(&template).unwrap_or_else(|_| ProgressStyle::default_bar()));
    Some(b)
}

fn validate(files: &[PathBuf], ticks: Option<u64>, sets: &[String]) -> Result<(), Failure> {
    let mut bad = Vec::new();
    for f in files {
        match load_with_overrides(f, ticks, None, sets) {
            Ok((s, _)) => println!("{}: ok ({}, {} ticks)", f.display(), s.name, s.ticks),
            Err(Failure::BadInput(m) | Failure::Other(m)) => bad.push(m),
        }
    }
    if bad.is_empty() { Ok(()) } else { Err(Failure::BadInput(bad.join("\n"))) }
}

/// Loads a scenario and applies --ticks, --seed and --set (all of them, then validated
/// once, like the file). Returns the scenario and the overrides as (path, value).
fn load_with_overrides(
    file: &Path,
    ticks: Option<u64>,
    seed: Option<u64>,
    sets: &[String],
) -> Result<(Scenario, Vec<(String, String)>), Failure> {
    let s = scenario::load_file(file).map_err(|e| Failure::BadInput(e.to_string()))?;
    apply_overrides(s, ticks, seed, sets)
}

/// The command-line spelling of an override, for messages.
fn flag(path: &str, value: &str) -> String {
    match path {
        "ticks" => format!("--ticks {value}"),
        "seed" => format!("--seed {value}"),
        _ => format!("--set {path}={value}"),
    }
}

/// Applies --ticks, --seed and --set to a loaded scenario: all of them first, then one
/// validation (so overrides that only make sense together work in any order). A run
/// shortened below a scheduled fault, edit or world event warns on stderr and leaves it
/// out.
fn apply_overrides(
    mut s: Scenario,
    ticks: Option<u64>,
    seed: Option<u64>,
    sets: &[String],
) -> Result<(Scenario, Vec<(String, String)>), Failure> {
    let mut all: Vec<(String, String)> = Vec::new();
    if let Some(t) = ticks {
        all.push(("ticks".into(), t.to_string()));
    }
    if let Some(x) = seed {
        all.push(("seed".into(), x.to_string()));
    }
    for kv in sets {
        let Some((k, v)) = kv.split_once('=') else {
            return Err(Failure::BadInput(format!("--set {kv}: expected PATH=VALUE, e.g. --set channel.loss=0.2")));
        };
        all.push((k.trim().to_string(), v.trim().to_string()));
    }
    // The run's length as overridden: what is scheduled after it is left out, with a word.
    if let Some((_, v)) = all.iter().rev().find(|(k, _)| k == "ticks")
        && let Ok(t) = v.parse::<u64>()
        && t >= 1
        && t < s.ticks
    {
        for w in s.truncate_timeline(t) {
            eprintln!("warning: {}: {w}; it is left out of this run", flag("ticks", v));
        }
    }
    let s = s.with_sets(&all).map_err(|(k, i)| {
        let who = match k {
            Some(k) => flag(&all[k].0, &all[k].1),
            None => all.iter().map(|(p, v)| flag(p, v)).collect::<Vec<_>>().join(" "),
        };
        if i.field.is_empty() {
            Failure::BadInput(format!("{who}: {}", i.message))
        } else {
            Failure::BadInput(format!("{who}: field `{}`: {}", i.field, i.message))
        }
    })?;
    Ok((s, all))
}

fn run(a: RunArgs) -> Result<(), Failure> {
    let (scn, overrides) = load_with_overrides(&a.file, a.ticks, a.seed, &a.sets)?;
    let dir = a.out.clone().unwrap_or_else(|| PathBuf::from("out").join(&scn.name));
    output::prepare_dir(&dir, a.force).map_err(out_dir_failure)?;
    let threads = a.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let bar = progress_bar(!a.quiet && scn.ticks >= 1000, scn.ticks, "ticks");
    let opts = runner::RunOptions { trace: a.trace, threads, overrides };
    let outcome = runner::run_to_dir(&scn, &dir, &opts, |done| {
        if let Some(b) = &bar
            && done % 256 == 0
        {
            b.set_position(done);
        }
    })
    .map_err(|e| Failure::Other(e.to_string()))?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let timing = outcome.timing;
    if !a.quiet {
        eprintln!(
            "{}: {} ticks in {:.2} s ({:.0} ticks/s); results in {}",
            scn.name,
            timing.ticks,
            timing.wall_s,
            timing.ticks_per_s(),
            dir.display()
        );
    }
    Ok(())
}

/// An unusable output folder is bad input (exit 2); a failure to create one is not.
fn out_dir_failure(e: output::OutDirError) -> Failure {
    match e {
        output::OutDirError::HasResults(..) | output::OutDirError::NotAFolder(..) => Failure::BadInput(e.to_string()),
        output::OutDirError::Io(..) => Failure::Other(e.to_string()),
    }
}

fn parse_seeds(spec: &str) -> Result<Vec<u64>, Failure> {
    let bad =
        || Failure::BadInput(format!("--seeds {spec}: expected a range like 1..10, a list like 1,2,5, or one seed"));
    if let Some((a, b)) = spec.split_once("..") {
        let (a, b): (u64, u64) = (a.trim().parse().map_err(|_| bad())?, b.trim().parse().map_err(|_| bad())?);
        if b <= a {
            return Err(Failure::BadInput(format!("--seeds {spec}: the range is empty (the end is exclusive)")));
        }
        if b - a > 100_000 {
            return Err(Failure::BadInput(format!("--seeds {spec}: more than 100000 seeds")));
        }
        Ok((a..b).collect())
    } else {
        spec.split(',').map(|x| x.trim().parse::<u64>().map_err(|_| bad())).collect()
    }
}

fn sweep(a: SweepArgs) -> Result<(), Failure> {
    use std::fmt::Write as _;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let (base, overrides) = load_with_overrides(&a.file, a.ticks, None, &a.sets)?;
    let seeds = parse_seeds(&a.seeds)?;
    let mut axes: Vec<(String, Vec<String>)> = Vec::new();
    for v in &a.varies {
        let Some((k, vals)) = v.split_once('=') else {
            return Err(Failure::BadInput(format!(
                "--vary {v}: expected PATH=V1,V2,..., e.g. --vary channel.loss=0,0.1,0.2"
            )));
        };
        let vals: Vec<String> = vals.split(',').map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect();
        if vals.is_empty() {
            return Err(Failure::BadInput(format!("--vary {v}: no values")));
        }
        let k = k.trim().to_string();
        // A second axis on the same path would silently override the first, and every
        // run's seed comes from --seeds: both would make sweep.csv lie about the runs.
        if axes.iter().any(|(p, _)| *p == k) {
            return Err(Failure::BadInput(format!(
                "--vary {v}: `{k}` is already varied; list all its values in one --vary"
            )));
        }
        if k == "seed" {
            return Err(Failure::BadInput(format!("--vary {v}: vary seeds with --seeds, e.g. --seeds 1..10")));
        }
        axes.push((k, vals));
    }
    // The grid, each point validated before anything runs.
    let mut points: Vec<Vec<String>> = vec![Vec::new()];
    for (_, vals) in &axes {
        points = points.iter().flat_map(|p| vals.iter().map(move |v| [p.clone(), vec![v.clone()]].concat())).collect();
    }
    let mut runs: Vec<(Vec<String>, u64, Scenario)> = Vec::new();
    for p in &points {
        let mut s = base.clone();
        for ((k, _), v) in axes.iter().zip(p) {
            s = s
                .with_set(k, v)
                .map_err(|i| Failure::BadInput(format!("--vary {k}={v}: field `{}`: {}", i.field, i.message)))?;
        }
        for &seed in &seeds {
            let mut r = s.clone();
            r.seed = seed;
            runs.push((p.clone(), seed, r));
        }
    }
    let dir = a.out.clone().unwrap_or_else(|| PathBuf::from("out").join(format!("{}-sweep", base.name)));
    // An earlier sweep's table or runs are refused without --force; with it they go first
    // (only what masim wrote), so no run of a larger earlier sweep is left behind.
    output::prepare_dir(&dir, a.force).map_err(out_dir_failure)?;
    std::fs::create_dir_all(dir.join("runs"))
        .map_err(|e| Failure::Other(format!("{}: cannot create: {e}", dir.display())))?;
    for k in 0..runs.len() {
        output::prepare_dir(&dir.join("runs").join(format!("{k:04}")), a.force).map_err(out_dir_failure)?;
    }
    let bar = progress_bar(!a.quiet, runs.len() as u64, "runs");
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<runner::RunOutcome, String>>>> =
        Mutex::new((0..runs.len()).map(|_| None).collect());
    let jobs = a.jobs.clamp(1, runs.len().max(1));
    let per_run_threads = (std::thread::available_parallelism().map_or(1, |n| n.get()) / jobs).max(1);
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| {
                loop {
                    let k = next.fetch_add(1, Ordering::SeqCst);
                    if k >= runs.len() {
                        break;
                    }
                    let d = dir.join("runs").join(format!("{k:04}"));
                    let mut run_overrides = overrides.clone();
                    run_overrides.extend(axes.iter().map(|(p, _)| p.clone()).zip(runs[k].0.iter().cloned()));
                    run_overrides.push(("seed".into(), runs[k].1.to_string()));
                    let opts = runner::RunOptions { trace: false, threads: per_run_threads, overrides: run_overrides };
                    let r = runner::run_to_dir(&runs[k].2, &d, &opts, |_| {}).map_err(|e| e.to_string());
                    if let Ok(mut g) = results.lock() {
                        g[k] = Some(r);
                    }
                    if let Some(b) = &bar {
                        b.inc(1);
                    }
                }
            });
        }
    });
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let results = results.into_inner().map_err(|_| Failure::Other("a sweep worker panicked".into()))?;
    // One row per run: its parameters, then the final value and the mean of each metric.
    let mut csv = String::from("run,seed");
    for (k, _) in &axes {
        let _ = write!(csv, ",{k}");
    }
    let mut header_done = false;
    let mut body = String::new();
    for (k, r) in results.into_iter().enumerate() {
        let out = match r {
            Some(Ok(o)) => o,
            Some(Err(e)) => return Err(Failure::Other(format!("run {k}: {e}"))),
            None => return Err(Failure::Other(format!("run {k} did not finish"))),
        };
        let cols: Vec<&str> = out.columns.iter().copied().filter(|c| !matches!(*c, "tick" | "time_s")).collect();
        if !header_done {
            for c in &cols {
                let _ = write!(csv, ",final_{c},mean_{c}");
            }
            csv.push('\n');
            header_done = true;
        }
        let _ = write!(body, "{k},{}", runs[k].1);
        for v in &runs[k].0 {
            let _ = write!(body, ",{v}");
        }
        for c in &cols {
            let i = out.columns.iter().position(|x| x == c).unwrap_or(0);
            let last = out.rows.last().map_or(f64::NAN, |r| r[i]);
            let mean = if out.rows.is_empty() {
                f64::NAN
            } else {
                out.rows.iter().map(|r| r[i]).sum::<f64>() / out.rows.len() as f64
            };
            let _ = write!(body, ",{},{}", output::num(last), output::num(mean));
        }
        body.push('\n');
    }
    csv.push_str(&body);
    output::write_atomic(&dir, "sweep.csv", csv.as_bytes())
        .map_err(|e| Failure::Other(format!("{}: {e}", dir.display())))?;
    if !a.quiet {
        eprintln!("{}: {} runs; one row each in {}", base.name, runs.len(), dir.join("sweep.csv").display());
    }
    Ok(())
}
