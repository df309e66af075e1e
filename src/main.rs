//! The `masim` command: opens the desktop app, or runs and validates scenarios headless.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use masim::runner::{self, output};
use masim::scenario::{self, Scenario};

mod sweep_cli;

/// masim — multi-agent systems at scale: road traffic, a power grid and a robot warehouse.
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
    /// Run an experiment — a scenario over parameter values, designs and seeds, or an A/B pair —
    /// from flags or an experiment file; resumable and shardable. Writes OUT/sweep.csv (a row
    /// per run), summary.csv, pairs.csv and each run's outputs under OUT/runs/.
    Sweep(SweepArgs),
    /// Measure the seed's scale table for a world: agents 10 to 10⁵ × channel topology ×
    /// coordination → messages and bytes per agent per tick, latency, drops, the world's
    /// quality and wall time per tick. A sweep (resumable: the same command resumes it) plus
    /// OUT/scale.csv and OUT/scale.md.
    Scale(ScaleArgs),
    /// Combine sweep folders (shards of one experiment) into one, with the tables an unsharded
    /// sweep writes.
    Merge {
        /// Sweep folders (each holds experiment.json and runs.jsonl).
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// The merged folder.
        #[arg(long)]
        out: PathBuf,
        /// Overwrite a sweep already in --out.
        #[arg(long)]
        force: bool,
    },
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
    /// Draw PNG and SVG figures of a run (metrics over time) or a sweep (each metric against
    /// each factor with 95 % intervals; a pair's differences) into DIR/plots/.
    Plot {
        /// A run's or a sweep's output folder.
        dir: PathBuf,
        /// Where the figures go [default: DIR/plots].
        #[arg(long)]
        out: Option<PathBuf>,
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
    /// With --trace, leave agents in these states out of agents.csv: --trace-skip parked
    /// (the city's parked cars are most of its rows).
    #[arg(long, value_name = "STATE,...", value_delimiter = ',')]
    trace_skip: Vec<String>,
    /// Worker threads (results are identical for any count).
    #[arg(long, env = "MASIM_THREADS")]
    threads: Option<usize>,
    /// No progress bar or closing line.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(clap::Args, Debug)]
struct SweepArgs {
    /// A scenario file, or an experiment file (docs/experiments.md).
    file: PathBuf,
    /// Seeds: `1..11` is ten seeds, 1 to 10 (the end is exclusive), `1,2,5` a list, `7` one
    /// [default: the experiment's seeds, or the scenario's own seed].
    #[arg(long)]
    seeds: Option<String>,
    /// A factor: --vary channel.loss=0,0.1,0.2 (repeatable; all combinations are run).
    #[arg(long = "vary", value_name = "PATH=V1,V2,...")]
    varies: Vec<String>,
    /// A fixed override applied to every run: --set channel.latency_ticks=2 (repeatable).
    #[arg(long = "set", value_name = "PATH=VALUE")]
    sets: Vec<String>,
    /// A paired comparison: --pair coordination=None,Decentralized runs both arms on every
    /// seed with the same random streams (faults and attacks included) and writes pairs.csv.
    #[arg(long, value_name = "PATH=A,B")]
    pair: Option<String>,
    /// Run this many ticks instead of the scenario's `ticks`.
    #[arg(long)]
    ticks: Option<u64>,
    /// Summaries cover ticks from this one on (leave a warm-up out).
    #[arg(long, value_name = "TICK")]
    from_tick: Option<u64>,
    /// Metrics to summarise, comma-separated or repeated [default: all].
    #[arg(long = "metric", value_name = "NAME", value_delimiter = ',')]
    metrics: Vec<String>,
    /// What each run keeps: `all` (its folder under runs/) or `summary` (only its row).
    #[arg(long, value_name = "all|summary")]
    keep: Option<String>,
    /// Output folder [default: out/<scenario name>-sweep].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Discard what the output folder holds and start over (without it, a sweep resumes).
    #[arg(long)]
    force: bool,
    /// Runs in parallel (results do not depend on it).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    jobs: u64,
    /// Print the run plan as CSV (run, config, seed, parameters) and exit.
    #[arg(long)]
    list_runs: bool,
    /// Run only the runs whose number is I modulo N: --shard 3/10 [default: from
    /// SLURM_ARRAY_TASK_ID, or JOB_COMPLETION_INDEX with --shards].
    #[arg(long, value_name = "I/N")]
    shard: Option<String>,
    /// How many shards, when the shard's index comes from JOB_COMPLETION_INDEX (Kubernetes).
    #[arg(long, value_name = "N", env = "MASIM_SHARDS")]
    shards: Option<u64>,
    /// Run only the run numbered K (see --list-runs).
    #[arg(long, value_name = "K")]
    run_index: Option<u64>,
    /// No progress reports or closing line.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(clap::Args, Debug)]
struct ScaleArgs {
    /// A world (traffic, power, warehouse: its built-in study, scenarios/experiments/scale_WORLD.ron)
    /// or a scale experiment file.
    world: String,
    /// Leave out configurations with more agents than this (the table says which ran).
    #[arg(long, value_name = "N")]
    max_agents: Option<u64>,
    /// Runs in parallel (wall times are measured per run: --jobs 1 gives the cleanest).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    jobs: u64,
    /// Output folder [default: out/scale-WORLD].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Discard what the output folder holds and start over (without it, a study resumes).
    #[arg(long)]
    force: bool,
    /// Print the run plan as CSV and exit.
    #[arg(long)]
    list_runs: bool,
    /// No progress reports or closing line.
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
        Some(Command::Sweep(a)) => sweep_cli::sweep(a),
        Some(Command::Scale(a)) => sweep_cli::scale(a),
        Some(Command::Merge { dirs, out, force }) => sweep_cli::merge(&dirs, &out, force),
        Some(Command::Plot { dir, out }) => plot(&dir, out.as_deref()),
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
    // One value per field: `--ticks 30 --set ticks=100000` (or a path set twice) would
    // silently run one of them.
    let flags = usize::from(ticks.is_some()) + usize::from(seed.is_some());
    let spell = |k: usize| {
        let (p, v) = &all[k];
        if k < flags { flag(p, v) } else { format!("--set {p}={v}") }
    };
    for (k, (p, _)) in all.iter().enumerate() {
        if let Some(j) = all[..k].iter().position(|(q, _)| q == p) {
            return Err(Failure::BadInput(format!(
                "{} and {}: `{p}` is given twice; one value would silently win",
                spell(j),
                spell(k)
            )));
        }
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
    if !a.trace_skip.is_empty() && !a.trace {
        return Err(Failure::BadInput("--trace-skip applies to --trace: add --trace".into()));
    }
    let opts = runner::RunOptions { trace: a.trace, threads, overrides, trace_skip: a.trace_skip.clone() };
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
    for w in &outcome.warnings {
        eprintln!("warning: {w}");
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

fn plot(dir: &Path, out: Option<&Path>) -> Result<(), Failure> {
    let files = masim::plot::plot_dir(dir, out).map_err(|e| match e {
        masim::plot::PlotError::NotResults(m) => Failure::BadInput(m),
        masim::plot::PlotError::Io(m) => Failure::Other(m),
    })?;
    let folder = files.first().and_then(|f| f.parent()).map_or_else(|| dir.join("plots"), Path::to_path_buf);
    eprintln!("{} figures (PNG and SVG) in {}", files.len() / 2, folder.display());
    Ok(())
}

/// An unusable output folder is bad input (exit 2); a failure to create one is not.
fn out_dir_failure(e: output::OutDirError) -> Failure {
    match e {
        output::OutDirError::HasResults(..) | output::OutDirError::NotAFolder(..) => Failure::BadInput(e.to_string()),
        output::OutDirError::Io(..) => Failure::Other(e.to_string()),
    }
}
