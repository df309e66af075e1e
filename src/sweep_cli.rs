//! `masim sweep` and `masim merge`: flags and experiment files into a plan, the plan run
//! into a resumable sweep folder, progress on a terminal or in a job's log.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use masim::experiment::sweep::{self, Progress, SweepError, SweepOptions};
use masim::experiment::{self, Experiment, Factor, Keep, Level, Pair, Plan, Seeds};
use masim::scenario::{Issue, ScenarioError};

use crate::{Failure, ScaleArgs, SweepArgs, progress_bar};

/// Set by Ctrl-C or SIGTERM: no new run starts.
static STOP: AtomicBool = AtomicBool::new(false);

fn refused(e: SweepError) -> Failure {
    match e {
        SweepError::Refused(m) => Failure::BadInput(m),
        SweepError::Io(m) => Failure::Other(m),
    }
}

/// The experiment a file and the flags describe: an experiment file with the flags added,
/// or a scenario file with the flags as its experiment.
fn experiment(a: &SweepArgs) -> Result<(Experiment, Option<String>), Failure> {
    let text = std::fs::read(&a.file).ok().map(|b| String::from_utf8_lossy(&b).to_string());
    let from_file = text.as_deref().is_some_and(experiment::is_experiment_text);
    let (mut exp, text) = if from_file {
        let (e, t) = experiment::load_file(&a.file).map_err(|e| Failure::BadInput(e.to_string()))?;
        (e, Some(t))
    } else {
        (Experiment { scenario: a.file.clone(), ..Default::default() }, None)
    };
    if let Some(s) = &a.seeds {
        exp.seeds = Some(Seeds::Spec(s.clone()));
    }
    if let Some(t) = a.ticks {
        exp.ticks = Some(t);
    }
    if let Some(t) = a.from_tick {
        exp.from_tick = t;
    }
    if !a.metrics.is_empty() {
        exp.metrics = a.metrics.iter().map(|m| m.trim().to_string()).filter(|m| !m.is_empty()).collect();
    }
    if let Some(k) = &a.keep {
        exp.keep = match k.as_str() {
            "all" => Keep::All,
            "summary" => Keep::Summary,
            _ => return Err(Failure::BadInput(format!("--keep {k}: expected `all` or `summary`"))),
        };
    }
    for kv in &a.sets {
        let Some((k, v)) = kv.split_once('=') else {
            return Err(Failure::BadInput(format!("--set {kv}: expected PATH=VALUE, e.g. --set channel.loss=0.2")));
        };
        let k = k.trim().to_string();
        if exp.set.contains_key(&k) {
            return Err(Failure::BadInput(format!("--set {kv}: `{k}` is set twice; one value would silently win")));
        }
        exp.set.insert(k, Level::Text(v.trim().to_string()));
    }
    for v in &a.varies {
        let Some((k, vals)) = v.split_once('=') else {
            return Err(Failure::BadInput(format!(
                "--vary {v}: expected PATH=V1,V2,..., e.g. --vary channel.loss=0,0.1,0.2"
            )));
        };
        let levels: Vec<Level> =
            vals.split(',').map(|x| x.trim()).filter(|x| !x.is_empty()).map(|x| Level::Text(x.to_string())).collect();
        if levels.is_empty() {
            return Err(Failure::BadInput(format!("--vary {v}: no values")));
        }
        exp.factors.push(Factor {
            path: k.trim().to_string(),
            levels,
            range: None,
            integer: false,
            with: Default::default(),
        });
    }
    if let Some(p) = &a.pair {
        let bad =
            || Failure::BadInput(format!("--pair {p}: expected PATH=A,B, e.g. --pair coordination=None,Decentralized"));
        let (k, arms) = p.split_once('=').ok_or_else(bad)?;
        let arms: Vec<&str> = arms.split(',').map(str::trim).collect();
        if arms.len() != 2 || arms.iter().any(|x| x.is_empty()) {
            return Err(bad());
        }
        exp.pair = Some(Pair {
            path: k.trim().to_string(),
            a: Level::Text(arms[0].to_string()),
            b: Level::Text(arms[1].to_string()),
        });
    }
    Ok((exp, text))
}

/// Plan problems as messages: with the file's positions for an experiment file, in the
/// flags' words for a sweep made of flags.
fn plan_failure(a: &SweepArgs, exp: &Experiment, from_file: bool, issues: Vec<Issue>) -> Failure {
    if from_file {
        return Failure::BadInput(ScenarioError::Invalid { origin: a.file.display().to_string(), issues }.to_string());
    }
    let lines: Vec<String> = issues
        .into_iter()
        .map(|i| {
            let f = &i.field;
            let who = if let Some(rest) = f.strip_prefix("factors[") {
                let k: usize = rest.split(']').next().and_then(|x| x.parse().ok()).unwrap_or(0);
                match exp.factors.get(k) {
                    // A value of the factor is wrong: `--vary path=value: ...`.
                    Some(x) if i.message.starts_with(&format!("{}=", x.path)) => {
                        return format!("--vary {}", i.message);
                    }
                    Some(x) => format!("--vary {}", x.path),
                    None => "--vary".to_string(),
                }
            } else if f == "pair" && i.message.contains('=') {
                return format!("--pair: {}", i.message);
            } else if f == "seeds"
                && let Some(spec) = &a.seeds
                && let Some(rest) = i.message.strip_prefix(&format!("`{spec}`: "))
            {
                return format!("--seeds {spec}: {rest}");
            } else if let Some(k) = f.strip_prefix("set.") {
                format!("--set {k}")
            } else if f.starts_with("pair") {
                "--pair".into()
            } else if f.starts_with("metrics") {
                "--metric".into()
            } else if f.starts_with("design") {
                "design".into()
            } else if f == "seeds" {
                "--seeds".into()
            } else if f == "ticks" {
                "--ticks".into()
            } else if f == "scenario" {
                // The message names the file already.
                return i.message;
            } else {
                f.clone()
            };
            format!("{who}: {}", i.message)
        })
        .collect();
    Failure::BadInput(lines.join("\n"))
}

/// The shard: --shard I/N, or the array job's variables.
/// A shard (I, N) and where it came from.
type Shard = ((u64, u64), &'static str);

fn shard(a: &SweepArgs) -> Result<Option<Shard>, Failure> {
    let env_u64 = |k: &str| -> Result<Option<u64>, Failure> {
        match std::env::var(k) {
            Ok(v) => v
                .trim()
                .parse::<u64>()
                .map(Some)
                .map_err(|_| Failure::BadInput(format!("{k}={v}: expected a whole number"))),
            Err(_) => Ok(None),
        }
    };
    let check = |i: u64, n: u64, from: &'static str| {
        if n == 0 || i >= n {
            Err(Failure::BadInput(format!("shard {i}/{n} (from {from}): expected I/N with 0 <= I < N")))
        } else {
            Ok(Some(((i, n), from)))
        }
    };
    if let Some(s) = &a.shard {
        let bad = || Failure::BadInput(format!("--shard {s}: expected I/N with 0 <= I < N, e.g. --shard 0/4"));
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (i, n): (u64, u64) = (i.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
        return check(i, n, "--shard");
    }
    if let Some(id) = env_u64("SLURM_ARRAY_TASK_ID")? {
        let min = env_u64("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
        let Some(count) = env_u64("SLURM_ARRAY_TASK_COUNT")? else {
            return Err(Failure::BadInput("SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not".into()));
        };
        if id < min {
            return Err(Failure::BadInput(format!("SLURM_ARRAY_TASK_ID={id} is below SLURM_ARRAY_TASK_MIN={min}")));
        }
        return check(id - min, count, "SLURM_ARRAY_TASK_ID");
    }
    if let Some(i) = env_u64("JOB_COMPLETION_INDEX")? {
        let Some(n) = a.shards else {
            return Err(Failure::BadInput(
                "JOB_COMPLETION_INDEX is set: pass the number of shards with --shards N (the Job's completions)".into(),
            ));
        };
        return check(i, n, "JOB_COMPLETION_INDEX");
    }
    if a.shards.is_some() {
        return Err(Failure::BadInput("--shards N needs a shard index: --shard I/N or JOB_COMPLETION_INDEX".into()));
    }
    Ok(None)
}

pub fn sweep(a: SweepArgs) -> Result<(), Failure> {
    let (exp, text) = experiment(&a)?;
    let plan = Plan::build(&exp, text.as_deref()).map_err(|i| plan_failure(&a, &exp, text.is_some(), i))?;
    for w in &plan.warnings {
        eprintln!("warning: {w}");
    }
    let shard = shard(&a)?;
    let opts = SweepOptions {
        jobs: a.jobs as usize,
        shard: shard.map(|s| s.0),
        run_index: a.run_index,
        force: a.force,
        only: None,
    };
    if a.list_runs {
        print!("{}", plan.list_csv(|r| sweep::selected(&opts, r.index)));
        return Ok(());
    }
    let dir = a.out.clone().unwrap_or_else(|| {
        let d = PathBuf::from("out").join(format!("{}-sweep", plan.name));
        match shard {
            Some(((i, n), _)) => d.join(format!("shard-{i}-of-{n}")),
            None => d,
        }
    });
    run_plan(&plan, &dir, &opts, shard, a.quiet)
}

/// Runs `plan` into `dir` with progress reports (a bar on a terminal, a line every few
/// seconds in a log), stopping cleanly on Ctrl-C or SIGTERM.
pub fn run_plan(
    plan: &Plan,
    dir: &Path,
    opts: &SweepOptions,
    shard: Option<Shard>,
    quiet: bool,
) -> Result<(), Failure> {
    let _ = ctrlc::set_handler(|| {
        if STOP.swap(true, Ordering::SeqCst) {
            eprintln!("\nstopped; run the same command to resume");
            std::process::exit(130);
        }
        eprintln!(
            "\nstopping: the runs in progress finish and are kept (Ctrl-C again to quit now); run the same command to resume"
        );
    });
    let terminal = std::io::stderr().is_terminal();
    let runs_word = |n: usize| if n == 1 { "run" } else { "runs" };
    let report_plan = |p: Progress| {
        if quiet {
            return;
        }
        let arms = if plan.pair.is_some() { " (2 arms each)" } else { "" };
        let mut line = format!(
            "{}: {} configurations{arms} × {} seeds = {} {}",
            plan.name,
            plan.config_count(),
            plan.seeds.len(),
            plan.runs.len(),
            runs_word(plan.runs.len())
        );
        if let Some(((i, n), from)) = shard {
            line.push_str(&format!("; shard {i}/{n} (from {from})"));
        }
        if let Some(k) = opts.run_index {
            line.push_str(&format!("; only run {k}"));
        }
        eprintln!("{line}");
        eprintln!(
            "  {} already done, {} to run with --jobs {} into {} (interrupt at any time: the same command resumes)",
            p.before,
            p.todo,
            opts.jobs,
            dir.display()
        );
    };
    struct Reporter {
        bar: Option<indicatif::ProgressBar>,
        last: Instant,
        start: Instant,
        planned: bool,
    }
    let reporter = Mutex::new(Reporter { bar: None, last: Instant::now(), start: Instant::now(), planned: false });
    let on_progress = |p: Progress| {
        let Ok(mut r) = reporter.lock() else { return };
        if !r.planned {
            r.planned = true;
            report_plan(p);
            r.bar = progress_bar(!quiet, p.todo as u64, "runs");
            r.start = Instant::now();
            r.last = Instant::now();
            return;
        }
        if let Some(b) = &r.bar {
            b.set_position(p.done as u64);
        } else if !quiet && !terminal && (r.last.elapsed() >= Duration::from_secs(5) || p.done == p.todo) {
            // A job's log: a line every few seconds.
            r.last = Instant::now();
            let el = r.start.elapsed().as_secs_f64();
            let rate = p.done as f64 / el.max(1e-9);
            let eta = (p.todo - p.done) as f64 / rate.max(1e-9);
            eprintln!(
                "{}: {}/{} runs done ({:.0} %), {:.1} runs/min, {:.0} s elapsed, eta {:.0} s",
                plan.name,
                p.done,
                p.todo,
                100.0 * p.done as f64 / p.todo.max(1) as f64,
                rate * 60.0,
                el,
                eta
            );
        }
    };
    let t0 = Instant::now();
    let report = sweep::execute(plan, dir, opts, &STOP, &on_progress).map_err(refused)?;
    if let Ok(r) = reporter.lock()
        && let Some(b) = &r.bar
    {
        b.finish_and_clear();
    }
    let wall = t0.elapsed().as_secs_f64();
    if !quiet {
        let rate = if wall > 0.0 { report.ran as f64 / wall * 3600.0 } else { 0.0 };
        eprintln!(
            "{}: ran {} {} in {:.1} s ({:.0} runs/hour); {} of {} {} done; one row each in {}",
            plan.name,
            report.ran,
            runs_word(report.ran),
            wall,
            rate,
            report.selected_done,
            report.selected,
            runs_word(report.selected),
            dir.join("sweep.csv").display()
        );
        if shard.is_some() && report.selected_done == report.selected {
            eprintln!("  this shard is complete: combine the shards with `masim merge SHARD_DIRS... --out DIR`");
        }
    }
    if STOP.load(Ordering::SeqCst) && report.selected_done < report.selected {
        return Err(Failure::Other(format!(
            "interrupted with {} of {} runs done; run the same command to resume",
            report.selected_done, report.selected
        )));
    }
    Ok(())
}

pub fn merge(dirs: &[PathBuf], out: &Path, force: bool) -> Result<(), Failure> {
    let missing = sweep::merge(dirs, out, force).map_err(refused)?;
    eprintln!("merged {} folders into {}", dirs.len(), out.join("sweep.csv").display());
    if !missing.is_empty() {
        let list: Vec<String> = missing.iter().take(20).map(u64::to_string).collect();
        eprintln!(
            "warning: {} planned runs are in none of the folders (runs {}{}); the tables hold the others",
            missing.len(),
            list.join(", "),
            if missing.len() > 20 { ", ..." } else { "" }
        );
    }
    Ok(())
}

/// `masim scale`: a world's built-in scale study (or a scale experiment file) run as a
/// sweep, then its table.
pub fn scale(a: ScaleArgs) -> Result<(), Failure> {
    use masim::experiment::scale;
    let as_file = Path::new(&a.world);
    let builtin = scale::builtin(&a.world);
    let dir = a.out.clone().unwrap_or_else(|| {
        let stem = as_file.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
        PathBuf::from("out").join(if builtin.is_some() { format!("scale-{}", a.world) } else { stem })
    });
    let file = match builtin {
        Some(b) => {
            if a.force && dir.join("input").exists() {
                std::fs::remove_dir_all(dir.join("input"))
                    .map_err(|e| Failure::Other(format!("{}: cannot clear: {e}", dir.join("input").display())))?;
            }
            scale::materialise(b, &dir).map_err(Failure::BadInput)?
        }
        None if as_file.is_file() => as_file.to_path_buf(),
        None => {
            let worlds: Vec<&str> = scale::BUILTIN.iter().map(|b| b.world).collect();
            return Err(Failure::BadInput(format!(
                "{}: neither a world ({}) nor an experiment file",
                a.world,
                worlds.join(", ")
            )));
        }
    };
    let (exp, text) = experiment::load_file(&file).map_err(|e| Failure::BadInput(e.to_string()))?;
    let plan = Plan::build(&exp, Some(&text)).map_err(|issues| {
        Failure::BadInput(ScenarioError::Invalid { origin: file.display().to_string(), issues }.to_string())
    })?;
    for w in &plan.warnings {
        eprintln!("warning: {w}");
    }
    let only = a.max_agents.map(|m| scale::runs_up_to(&plan, m));
    if let Some(o) = &only
        && o.is_empty()
    {
        return Err(Failure::BadInput(format!(
            "--max-agents {}: leaves no configuration of the study to run",
            a.max_agents.unwrap_or(0)
        )));
    }
    let opts = SweepOptions { jobs: a.jobs as usize, shard: None, run_index: None, force: a.force, only };
    if a.list_runs {
        print!("{}", plan.list_csv(|r| sweep::selected(&opts, r.index)));
        return Ok(());
    }
    let ran = run_plan(&plan, &dir, &opts, None, a.quiet);
    // A folder the sweep refused (another sweep's, bad options) gets no table; after an
    // interruption, the table of what has finished.
    if let Err(Failure::BadInput(m)) = ran {
        return Err(Failure::BadInput(m));
    }
    let rows = sweep::read_journal(&dir, false).map_err(refused)?;
    let table = scale::write(&dir, &plan, &rows).map_err(|e| Failure::Other(format!("{}: {e}", dir.display())))?;
    if !a.quiet {
        eprintln!(
            "{}: {} configurations in {} and {}",
            plan.name,
            table.len(),
            dir.join("scale.csv").display(),
            dir.join("scale.md").display()
        );
    }
    ran
}
