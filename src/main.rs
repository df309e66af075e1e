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
    /// Check scenario files without running them.
    Validate {
        /// Scenario files (.ron).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
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

/// Failure with its exit code: 2 for bad input, 1 for anything else.
enum Failure {
    BadInput(String),
    Other(String),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Run(a)) => run(a),
        Some(Command::Validate { files }) => validate(&files),
        None => open_app(),
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

fn open_app() -> Result<(), Failure> {
    use clap::CommandFactory;
    let _ = Cli::command().print_help();
    println!();
    Ok(())
}

fn validate(files: &[PathBuf]) -> Result<(), Failure> {
    let mut bad = Vec::new();
    for f in files {
        match scenario::load_file(f) {
            Ok(s) => println!("{}: ok ({}, {} ticks)", f.display(), s.name, s.ticks),
            Err(e) => bad.push(e.to_string()),
        }
    }
    if bad.is_empty() { Ok(()) } else { Err(Failure::BadInput(bad.join("\n"))) }
}

/// Loads a scenario and applies --ticks, --seed and --set, each validated like the file.
fn load_with_overrides(
    file: &Path,
    ticks: Option<u64>,
    seed: Option<u64>,
    sets: &[String],
) -> Result<Scenario, Failure> {
    let mut s = scenario::load_file(file).map_err(|e| Failure::BadInput(e.to_string()))?;
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
    for (k, v) in all {
        s = s.with_set(&k, &v).map_err(|i| {
            let flag = match k.as_str() {
                "ticks" => format!("--ticks {v}"),
                "seed" => format!("--seed {v}"),
                _ => format!("--set {k}={v}"),
            };
            Failure::BadInput(format!("{flag}: field `{}`: {}", i.field, i.message))
        })?;
    }
    Ok(s)
}

fn run(a: RunArgs) -> Result<(), Failure> {
    let scn = load_with_overrides(&a.file, a.ticks, a.seed, &a.sets)?;
    let dir = a.out.clone().unwrap_or_else(|| PathBuf::from("out").join(&scn.name));
    output::prepare_dir(&dir, a.force).map_err(|e| match e {
        output::OutDirError::HasResults(..) => Failure::BadInput(e.to_string()),
        output::OutDirError::Io(..) => Failure::Other(e.to_string()),
    })?;
    let io = |e: std::io::Error| Failure::Other(format!("{}: {e}", dir.display()));
    let threads = a.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let mut app = runner::headless_app(&scn, Some(threads));
    let mut trace =
        if a.trace { Some(output::TraceWriter::create(&dir, scn.output.trace_every).map_err(io)?) } else { None };
    let bar = if !a.quiet && std::io::stderr().is_terminal() && scn.ticks >= 1000 {
        let b = ProgressBar::with_draw_target(Some(scn.ticks), ProgressDrawTarget::stderr());
        b.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} ticks ({per_sec}, eta {eta})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Some(b)
    } else {
        None
    };
    let mut done = 0u64;
    let mut trace_err = None;
    let timing = runner::run_ticks(&mut app, scn.ticks, |world| {
        done += 1;
        if let Some(t) = trace.as_mut()
            && trace_err.is_none()
            && let Err(e) = t.snapshot(world, done)
        {
            trace_err = Some(e);
        }
        if let Some(b) = &bar
            && done % 256 == 0
        {
            b.set_position(done);
        }
    });
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if let Some(e) = trace_err {
        return Err(io(e));
    }
    let world = app.world();
    output::write_atomic(&dir, "metrics.csv", output::metrics_csv(world.resource()).as_bytes()).map_err(io)?;
    output::write_atomic(&dir, "events.jsonl", output::events_jsonl(world.resource()).as_bytes()).map_err(io)?;
    if let Some(t) = trace {
        t.finish().map_err(io)?;
    }
    let summary = output::summary(world, &scn, timing, threads);
    let text = serde_json::to_string_pretty(&summary).map_err(|e| Failure::Other(e.to_string()))? + "\n";
    output::write_atomic(&dir, "summary.json", text.as_bytes()).map_err(io)?;
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
