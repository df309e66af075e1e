//! `masim sweep` as an analyst and a cluster use it: experiment files, stable run numbers,
//! resuming a killed sweep, shards merged, paired A/B with common random numbers, and the
//! bad input it refuses.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_masim");

fn scratch(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("experiments").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("scratch folder");
    d
}

fn masim(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("SLURM_ARRAY_TASK_ID")
        .env_remove("JOB_COMPLETION_INDEX")
        .output()
        .expect("masim runs")
}

fn ok(args: &[&str]) -> Output {
    let o = masim(args);
    assert!(o.status.success(), "masim {args:?} failed:\n{}", String::from_utf8_lossy(&o.stderr));
    o
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A small sweep of the ring: two levels of loss × four seeds, kept as rows only.
fn ring_sweep<'a>(out: &'a str, ticks: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![
        "sweep",
        "scenarios/traffic_ring.ron",
        "--ticks",
        ticks,
        "--vary",
        "channel.loss=0,0.3",
        "--seeds",
        "1..5",
        "--keep",
        "summary",
        "--out",
        out,
        "-q",
    ];
    v.extend_from_slice(extra);
    v
}

#[test]
fn a_killed_sweep_resumes_to_the_same_tables() {
    let d = scratch("resume");
    let (whole, cut) = (d.join("whole"), d.join("cut"));
    let (whole_s, cut_s) = (whole.to_str().unwrap(), cut.to_str().unwrap());
    // Runs long enough for the kill to land mid-sweep.
    let long = "3000";
    ok(&ring_sweep(whole_s, long, &[]));
    let args = ring_sweep(cut_s, long, &[]);
    // The same sweep, killed (SIGKILL: no chance to tidy up) once two runs are journaled.
    let mut child = Command::new(BIN).args(&args).stderr(Stdio::null()).spawn().expect("spawn");
    let t0 = Instant::now();
    loop {
        let lines = std::fs::read_to_string(cut.join("runs.jsonl")).map_or(0, |t| t.lines().count());
        if lines >= 2 || t0.elapsed() > Duration::from_secs(120) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().expect("kill");
    let _ = child.wait();
    let journaled = read(&cut.join("runs.jsonl")).lines().count();
    assert!((2..8).contains(&journaled), "the kill should land mid-sweep: {journaled} runs journaled");
    // A run cut off mid-line (a kill during the write) is dropped, not trusted.
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().append(true).open(cut.join("runs.jsonl")).unwrap();
        f.write_all(b"{\"run\":99,\"config\":0,\"se").unwrap();
    }
    let mut again = args.clone();
    again.retain(|a| *a != "-q");
    let o = ok(&again);
    let said = String::from_utf8_lossy(&o.stderr);
    assert!(said.contains(&format!("{journaled} already done, {} to run", 8 - journaled)), "{said}");
    for t in ["sweep.csv", "summary.csv"] {
        assert_eq!(read(&whole.join(t)), read(&cut.join(t)), "{t} after resuming");
    }
    // Nothing ran twice: one journal line per run.
    let mut runs: Vec<u64> = read(&cut.join("runs.jsonl"))
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["run"].as_u64().unwrap())
        .collect();
    runs.sort();
    runs.dedup();
    assert_eq!(runs.len(), 8);
    assert_eq!(read(&cut.join("runs.jsonl")).lines().count(), 8);
    // Running it again runs nothing and changes nothing.
    let o = ok(&again);
    assert!(String::from_utf8_lossy(&o.stderr).contains("8 already done, 0 to run"));
    assert_eq!(read(&whole.join("sweep.csv")), read(&cut.join("sweep.csv")));
    // A shorter run is another experiment: its folder is refused, unless --force.
    let o = masim(&ring_sweep(cut_s, "100", &[]));
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("different experiment"));
    ok(&ring_sweep(cut_s, "100", &["--force"]));
    let short = d.join("short");
    ok(&ring_sweep(short.to_str().unwrap(), "100", &[]));
    assert_eq!(read(&short.join("sweep.csv")), read(&cut.join("sweep.csv")));
    // More seeds in the same folder: only the new runs run.
    let mut more = ring_sweep(cut_s, "100", &[]);
    more.retain(|a| *a != "-q");
    let k = more.iter().position(|a| *a == "1..5").unwrap();
    more[k] = "1..7";
    let o = ok(&more);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("8 already done, 4 to run"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn three_shards_merge_to_the_unsharded_tables() {
    let d = scratch("shards");
    let one = d.join("one");
    let base = |out: &Path, shard: Option<&str>| {
        let mut v: Vec<String> = [
            "sweep",
            "scenarios/traffic_ring.ron",
            "--ticks",
            "120",
            "--vary",
            "channel.loss=0,0.2",
            "--pair",
            "coordination=None,Decentralized",
            "--seeds",
            "3..6",
            "--keep",
            "summary",
            "-q",
            "--out",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.push(out.display().to_string());
        if let Some(s) = shard {
            v.extend(["--shard".to_string(), s.to_string()]);
        }
        v
    };
    let run = |v: Vec<String>| ok(&v.iter().map(String::as_str).collect::<Vec<_>>());
    run(base(&one, None));
    let mut shards = Vec::new();
    for i in 0..3 {
        let s = d.join(format!("s{i}"));
        run(base(&s, Some(&format!("{i}/3"))));
        shards.push(s);
    }
    // The same shard from Slurm's variables (an array 1-3: task 2 is shard 1/3).
    let slurm = d.join("slurm");
    let v = base(&slurm, None);
    let o = Command::new(BIN)
        .args(&v)
        .env("SLURM_ARRAY_TASK_ID", "2")
        .env("SLURM_ARRAY_TASK_MIN", "1")
        .env("SLURM_ARRAY_TASK_COUNT", "3")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(read(&slurm.join("runs.jsonl")).lines().count(), read(&shards[1].join("runs.jsonl")).lines().count());
    // Kubernetes: the index from JOB_COMPLETION_INDEX, the count by flag.
    let k8s = d.join("k8s");
    let mut v = base(&k8s, None);
    v.extend(["--shards".to_string(), "3".to_string()]);
    let o = Command::new(BIN).args(&v).env("JOB_COMPLETION_INDEX", "1").output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(read(&k8s.join("sweep.csv")), read(&shards[1].join("sweep.csv")));
    let merged = d.join("merged");
    let mut args: Vec<&str> = vec!["merge"];
    let names: Vec<String> = shards.iter().map(|s| s.display().to_string()).collect();
    args.extend(names.iter().map(String::as_str));
    let m = merged.display().to_string();
    args.extend(["--out", &m]);
    let o = ok(&args);
    assert!(!String::from_utf8_lossy(&o.stderr).contains("warning"), "{}", String::from_utf8_lossy(&o.stderr));
    for t in ["sweep.csv", "summary.csv", "pairs.csv"] {
        assert_eq!(read(&one.join(t)), read(&merged.join(t)), "{t}: merged shards vs one sweep");
    }
    // Two shards of three: merged with a warning naming what is missing.
    let part = d.join("part");
    let p = part.display().to_string();
    let o = ok(&["merge", &names[0], &names[2], "--out", &p]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("planned runs are in none of the folders"));
    // A folder of another experiment is refused.
    let other = d.join("other");
    ok(&ring_sweep(other.to_str().unwrap(), "100", &[]));
    let o = masim(&["merge", &names[0], other.to_str().unwrap(), "--out", d.join("bad").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("different experiments"));
}

/// The plan's lines as (run, the rest).
fn plan_lines(args: &[&str]) -> Vec<String> {
    let o = ok(args);
    String::from_utf8(o.stdout).unwrap().lines().skip(1).map(str::to_string).collect()
}

#[test]
fn run_numbers_survive_added_seeds_and_levels() {
    let small = plan_lines(&[
        "sweep",
        "scenarios/traffic_ring.ron",
        "--vary",
        "channel.loss=0,0.1",
        "--vary",
        "coordination=None,Decentralized",
        "--seeds",
        "1..4",
        "--list-runs",
    ]);
    assert_eq!(small.len(), 12);
    let big = plan_lines(&[
        "sweep",
        "scenarios/traffic_ring.ron",
        "--vary",
        "channel.loss=0,0.1,0.2",
        "--vary",
        "coordination=None,Decentralized,Centralized",
        "--seeds",
        "1..9",
        "--list-runs",
    ]);
    assert_eq!(big.len(), 72);
    for l in &small {
        assert!(big.contains(l), "run {l} was renumbered or changed when the plan grew");
    }
    // Run numbers are unique, and a pair's arms sit side by side.
    let pair = plan_lines(&[
        "sweep",
        "scenarios/traffic_ring.ron",
        "--pair",
        "coordination=None,Decentralized",
        "--seeds",
        "5..8",
        "--list-runs",
    ]);
    assert_eq!(
        pair,
        [
            "0,0,5,'None'",
            "1,0,5,Decentralized",
            "2,0,6,'None'",
            "3,0,6,Decentralized",
            "4,0,7,'None'",
            "5,0,7,Decentralized"
        ]
    );
    // A shard lists its own runs: the four shards partition the plan.
    let mut union: Vec<String> = (0..4)
        .flat_map(|i| {
            let s = format!("{i}/4");
            plan_lines(&[
                "sweep",
                "scenarios/traffic_ring.ron",
                "--vary",
                "channel.loss=0,0.1,0.2",
                "--seeds",
                "1..5",
                "--list-runs",
                "--shard",
                &s,
            ])
        })
        .collect();
    union.sort();
    let mut all = plan_lines(&[
        "sweep",
        "scenarios/traffic_ring.ron",
        "--vary",
        "channel.loss=0,0.1,0.2",
        "--seeds",
        "1..5",
        "--list-runs",
    ]);
    all.sort();
    assert_eq!(union, all);
}

/// Each arm's crash fault, as logged: which vehicles it took down.
fn crash_draw(run_dir: &Path) -> String {
    read(&run_dir.join("events.jsonl"))
        .lines()
        .find(|l| l.contains("\"fault_start\"") && l.contains("\"crash\""))
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["agents"].to_string()
        })
        .unwrap_or_else(|| panic!("no crash in {}", run_dir.display()))
}

#[test]
fn paired_arms_share_their_fault_draws_and_pairs_csv_is_their_paired_t_interval() {
    let d = scratch("pairs");
    let out = d.join("ab");
    let o = out.display().to_string();
    ok(&[
        "sweep",
        "scenarios/traffic_ring_faults.ron",
        "--ticks",
        "4550",
        "--pair",
        "coordination=None,Decentralized",
        "--seeds",
        "1..4",
        "--metric",
        "mean_speed_mps,vehicles_crashed",
        "--from-tick",
        "4000",
        "--out",
        &o,
        "-q",
    ]);
    let lines = plan_lines(&[
        "sweep",
        "scenarios/traffic_ring_faults.ron",
        "--pair",
        "coordination=None,Decentralized",
        "--seeds",
        "1..4",
        "--list-runs",
    ]);
    // run,config,seed,arm → the run folders of each seed's two arms.
    let mut by_seed: std::collections::BTreeMap<String, Vec<PathBuf>> = Default::default();
    for l in &lines {
        let f: Vec<&str> = l.split(',').collect();
        by_seed
            .entry(f[2].to_string())
            .or_default()
            .push(out.join("runs").join(format!("{:04}", f[0].parse::<u64>().unwrap())));
    }
    let draws: Vec<(String, String)> = by_seed.values().map(|v| (crash_draw(&v[0]), crash_draw(&v[1]))).collect();
    for (a, b) in &draws {
        assert_eq!(a, b, "the arms of one seed crashed different vehicles");
    }
    // The draws do depend on the seed (so the check above could fail).
    assert!(draws.windows(2).any(|w| w[0].0 != w[1].0), "{draws:?}");
    // pairs.csv: b − a on the same seed, with Student's t at 2 degrees of freedom.
    let sweep = read(&out.join("sweep.csv"));
    let header: Vec<&str> = sweep.lines().next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap_or_else(|| panic!("{name} in {header:?}"));
    let (cs, cc, cm) = (col("seed"), col("coordination"), col("mean_mean_speed_mps"));
    let mut a = std::collections::BTreeMap::new();
    let mut b = std::collections::BTreeMap::new();
    for l in sweep.lines().skip(1) {
        let f: Vec<&str> = l.split(',').collect();
        let v: f64 = f[cm].parse().unwrap();
        if f[cc] == "'None'" {
            a.insert(f[cs].to_string(), v)
        } else {
            b.insert(f[cs].to_string(), v)
        };
    }
    let diffs: Vec<f64> = a.keys().map(|s| b[s] - a[s]).collect();
    assert_eq!(diffs.len(), 3);
    let mean = diffs.iter().sum::<f64>() / 3.0;
    let sd = (diffs.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / 2.0).sqrt();
    let half = 4.302_652_729_749_462 * sd / 3f64.sqrt();
    let pairs = read(&out.join("pairs.csv"));
    assert_eq!(pairs.lines().next().unwrap(), "metric,a_mean,b_mean,diff_mean,diff_ci95_low,diff_ci95_high,n");
    let row: Vec<&str> =
        pairs.lines().find(|l| l.starts_with("mean_mean_speed_mps,")).expect("the speed's pair").split(',').collect();
    let got: Vec<f64> = row[1..6].iter().map(|x| x.parse().unwrap()).collect();
    let close = |x: f64, y: f64| (x - y).abs() <= 1e-9 * (1.0 + y.abs());
    assert!(
        close(got[2], mean) && close(got[3], mean - half) && close(got[4], mean + half),
        "{row:?} vs {mean} ± {half}"
    );
    assert_eq!(row[6], "3");
    // Each run folder says what made it.
    let m: serde_json::Value = serde_json::from_str(&read(&out.join("runs/0000/manifest.json"))).unwrap();
    assert_eq!(m["run"], 0);
    assert_eq!(m["seed"], 1);
    assert!(m["scenario_hash"].as_str().is_some_and(|h| h.len() == 16));
    // summary.csv: per configuration and metric, with an interval.
    let summary = read(&out.join("summary.csv"));
    assert_eq!(summary.lines().next().unwrap(), "config,coordination,metric,mean,sd,ci95_low,ci95_high,n");
    assert!(
        summary
            .lines()
            .any(|l| l.starts_with("0,'None',total_vehicles_crashed,")
                || l.starts_with("0,'None',mean_vehicles_crashed,")),
        "{summary}"
    );
}

#[test]
fn an_experiment_file_runs_like_its_flags() {
    let d = scratch("file");
    let exp = d.join("loss.ron");
    std::fs::write(
        &exp,
        format!(
            "// A two-factor experiment.\n(\n  scenario: \"{}/scenarios/traffic_ring.ron\",\n  description: \"loss against coordination\",\n  ticks: Some(100),\n  factors: [\n    (path: \"channel.loss\", levels: [0, 0.25]),\n    (path: \"coordination\", levels: [\"None\", \"Decentralized\"]),\n  ],\n  seeds: \"1..3\",\n  keep: Summary,\n)\n",
            env!("CARGO_MANIFEST_DIR")
        ),
    )
    .unwrap();
    let (f, c) = (d.join("f"), d.join("c"));
    ok(&["sweep", exp.to_str().unwrap(), "--out", f.to_str().unwrap(), "-q"]);
    ok(&[
        "sweep",
        "scenarios/traffic_ring.ron",
        "--ticks",
        "100",
        "--vary",
        "channel.loss=0,0.25",
        "--vary",
        "coordination=None,Decentralized",
        "--seeds",
        "1..3",
        "--keep",
        "summary",
        "--out",
        c.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(read(&f.join("sweep.csv")), read(&c.join("sweep.csv")));
    let sweep = read(&f.join("sweep.csv"));
    let header = sweep.lines().next().unwrap();
    assert!(header.starts_with("run,config,seed,channel.loss,coordination,scenario,ticks,final_"), "{header}");
    assert!(header.contains(",min_mean_speed_mps,max_mean_speed_mps"), "{header}");
    assert!(!header.contains("final_msgs_sent"), "a per-tick count has a total, not a final value: {header}");
    assert!(header.contains("total_msgs_sent"), "{header}");
    assert_eq!(sweep.lines().count(), 1 + 8);
    // A sampling design: Sobol points over a range, integer and continuous.
    let sob = d.join("sobol.ron");
    std::fs::write(
        &sob,
        format!(
            "(\n  scenario: \"{}/scenarios/traffic_ring.ron\",\n  ticks: Some(50),\n  factors: [\n    (path: \"channel.loss\", range: Some((0.0, 0.5))),\n    (path: \"world.vehicles\", range: Some((10, 20)), integer: true),\n  ],\n  design: Sobol(samples: 4),\n  keep: Summary,\n)\n",
            env!("CARGO_MANIFEST_DIR")
        ),
    )
    .unwrap();
    let lines = plan_lines(&["sweep", sob.to_str().unwrap(), "--list-runs"]);
    // Sobol points (0,0), (.5,.5), (.75,.25), (.25,.75); the ring's own seed (7).
    let seed = ok(&["validate", "scenarios/traffic_ring.ron"]);
    let _ = seed;
    let loss: Vec<&str> = lines.iter().map(|l| l.split(',').nth(3).unwrap()).collect();
    let cars: Vec<&str> = lines.iter().map(|l| l.split(',').nth(4).unwrap()).collect();
    assert_eq!(loss, ["0", "0.25", "0.375", "0.125"], "{lines:?}");
    assert_eq!(cars, ["10", "15", "12", "18"], "{lines:?}");
}

#[test]
fn without_seeds_a_sweep_runs_the_scenarios_own_seed() {
    let lines = plan_lines(&["sweep", "scenarios/traffic_ring.ron", "--list-runs"]);
    let text = read(Path::new("scenarios/traffic_ring.ron"));
    let seed =
        text.lines().find_map(|l| l.trim().strip_prefix("seed:")).unwrap().trim().trim_end_matches(',').to_string();
    assert_eq!(lines, [format!("0,0,{seed}")]);
}

#[test]
fn bad_experiments_are_refused_with_a_position() {
    let d = scratch("bad");
    let ring = format!("{}/scenarios/traffic_ring.ron", env!("CARGO_MANIFEST_DIR"));
    let cases: [(&str, String, &str); 8] = [
        (
            "unknown_field",
            format!("(\n  scenario: \"{ring}\",\n  seeds: \"1..3\",\n  factor: [],\n)\n"),
            ":4:3: field `factor`: Unexpected field named `factor`",
        ),
        (
            "range_in_full_factorial",
            format!(
                "(\n  scenario: \"{ring}\",\n  factors: [\n    (path: \"channel.loss\", range: Some((0.0, 0.5))),\n  ],\n)\n"
            ),
            ":4:28: field `factors[0].range`: a full factorial design needs `levels`",
        ),
        (
            "bad_level",
            format!(
                "(\n  scenario: \"{ring}\",\n  factors: [\n    (path: \"channel.loss\", levels: [0, 7]),\n  ],\n)\n"
            ),
            "field `factors[0]`: channel.loss=7: field `channel.loss`",
        ),
        (
            "fixed_and_varied",
            format!(
                "(\n  scenario: \"{ring}\",\n  set: {{\"channel.loss\": 0.1}},\n  factors: [\n    (path: \"channel.loss\", levels: [0, 0.2]),\n  ],\n)\n"
            ),
            "is both varied and fixed",
        ),
        (
            "empty_seeds",
            format!("(\n  scenario: \"{ring}\",\n  seeds: \"5..5\",\n)\n"),
            ":3:3: field `seeds`: `5..5`: the range is empty",
        ),
        ("no_scenario", "(\n  scenario: \"nowhere.ron\",\n)\n".to_string(), "nowhere.ron: no such file"),
        (
            "linked_too_short",
            format!(
                "(\n  scenario: \"{ring}\",\n  factors: [\n    (path: \"world.vehicles\", levels: [10, 20], with: {{\"world.road.length_m\": [100.0]}}),\n  ],\n)\n"
            ),
            "field `factors[0].with`: `world.road.length_m` has 1 values for the factor's 2 levels",
        ),
        (
            "linked_bad_value",
            format!(
                "(\n  scenario: \"{ring}\",\n  factors: [\n    (path: \"world.vehicles\", levels: [10, 20], with: {{\"world.road.length_m\": [100.0, -5.0]}}),\n  ],\n)\n"
            ),
            "field `factors[0].with`: world.road.length_m=-5",
        ),
    ];
    for (name, text, want) in cases {
        let f = d.join(format!("{name}.ron"));
        std::fs::write(&f, &text).unwrap();
        let o = masim(&["sweep", f.to_str().unwrap(), "--out", d.join("out").to_str().unwrap()]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{name}: {err}");
        assert!(err.contains(want), "{name}: expected `{want}` in:\n{err}");
        assert!(!d.join("out").exists(), "{name}: a refused sweep wrote its folder");
    }
    // Flags: a path varied and set, a repeated --set, --jobs 0, a bad shard.
    for (args, want) in [
        (
            vec!["--vary", "channel.loss=0,0.1", "--set", "channel.loss=0.5"],
            "--vary channel.loss: `channel.loss` is both varied and fixed",
        ),
        (vec!["--set", "channel.loss=0.1", "--set", "channel.loss=0.2"], "is set twice"),
        (vec!["--jobs", "0"], "--jobs"),
        (vec!["--shard", "3/3"], "expected I/N with 0 <= I < N"),
        (vec!["--seeds", "1..1"], "the range is empty"),
        (vec!["--pair", "coordination=None"], "expected PATH=A,B"),
        (vec!["--run-index", "5"], "the plan has no run 5"),
        (
            vec!["--metric", "mean_sped_mps"],
            "`mean_sped_mps` is not a metric of traffic_ring; its metrics are: agents, mean_speed_mps",
        ),
    ] {
        let mut v = vec!["sweep", "scenarios/traffic_ring.ron", "--ticks", "10", "--out", "/nonexistent-masim/x"];
        v.extend(args.iter());
        let o = masim(&v);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: expected `{want}` in:\n{err}");
    }
}

#[test]
fn the_shipped_experiment_files_plan() {
    let mut n = 0;
    for f in std::fs::read_dir("scenarios/experiments").expect("scenarios/experiments/").flatten() {
        let p = f.path();
        if p.extension().is_none_or(|x| x != "ron") {
            continue;
        }
        let lines = plan_lines(&["sweep", p.to_str().unwrap(), "--list-runs"]);
        assert!(lines.len() >= 20, "{}: {} runs", p.display(), lines.len());
        n += 1;
    }
    assert!(n >= 3);
}

/// A tiny experiment for the cluster files: 2 levels × 3 seeds of a short ring.
fn tiny_experiment(dir: &Path) -> PathBuf {
    ring_experiment(
        dir,
        "tiny.ron",
        "  ticks: Some(60),\n  factors: [(path: \"channel.loss\", levels: [0, 0.5])],\n  seeds: \"1..4\",\n  keep: Summary,\n",
    )
}

/// Writes `dir/name`: an experiment on the shipped ring with `fields` after its `scenario`.
fn ring_experiment(dir: &Path, name: &str, fields: &str) -> PathBuf {
    let exp = dir.join(name);
    let text = format!("(\n  scenario: \"{}/scenarios/traffic_ring.ron\",\n{fields})\n", env!("CARGO_MANIFEST_DIR"));
    std::fs::write(&exp, text).unwrap();
    exp
}

/// A PATH on which `masim` is this build's binary.
fn path_with_masim() -> String {
    let bin = Path::new(BIN).parent().unwrap().display().to_string();
    format!("{bin}:{}", std::env::var("PATH").unwrap_or_default())
}

/// Runs `masim merge` over `dir/shard-*` and checks the tables equal `whole`'s.
fn merged_equals(dir: &Path, whole: &Path, what: &str) {
    let mut shards: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("shard-"))
        .map(|p| p.display().to_string())
        .collect();
    shards.sort();
    assert_eq!(shards.len(), 10, "{what}: {shards:?}");
    let all = dir.join("all").display().to_string();
    let mut args = vec!["merge"];
    args.extend(shards.iter().map(String::as_str));
    args.extend(["--out", &all]);
    let o = ok(&args);
    assert!(!String::from_utf8_lossy(&o.stderr).contains("warning"), "{what}: {}", String::from_utf8_lossy(&o.stderr));
    for t in ["sweep.csv", "summary.csv"] {
        assert_eq!(read(&whole.join(t)), read(&dir.join("all").join(t)), "{what}: {t}");
    }
}

#[test]
fn the_cluster_files_shard_and_merge_as_documented() {
    let d = scratch("cluster");
    let exp = tiny_experiment(&d);
    let whole = d.join("whole");
    ok(&["sweep", exp.to_str().unwrap(), "--out", whole.to_str().unwrap(), "-q"]);
    let path = path_with_masim();
    // Slurm: the script itself, once per array task, with the variables sbatch would set.
    let slurm = d.join("slurm");
    for id in 0..10 {
        let o = Command::new("bash")
            .arg("docs/cluster/sweep.slurm")
            .env("PATH", &path)
            .env("EXPERIMENT", &exp)
            .env("RESULTS", &slurm)
            .env("SLURM_ARRAY_TASK_ID", id.to_string())
            .env("SLURM_ARRAY_TASK_MIN", "0")
            .env("SLURM_ARRAY_TASK_COUNT", "10")
            .env("SLURM_CPUS_PER_TASK", "1")
            .output()
            .unwrap();
        assert!(o.status.success(), "slurm task {id}: {}", String::from_utf8_lossy(&o.stderr));
    }
    merged_equals(&slurm, &whole, "Slurm");
    // Kubernetes: the container's `sh -c` line, with the env the Job controller sets.
    let yaml = read(Path::new("docs/cluster/sweep-job.yaml"));
    let line = yaml.lines().find(|l| l.trim_start().starts_with("- masim sweep")).expect("the masim line");
    let cmd = line.trim_start().trim_start_matches("- ");
    let k8s = d.join("k8s");
    for i in 0..10 {
        let o = Command::new("sh")
            .args(["-c", cmd])
            .env("PATH", &path)
            .env("EXPERIMENT", &exp)
            .env("RESULTS", &k8s)
            .env("JOB_COMPLETION_INDEX", i.to_string())
            .output()
            .unwrap();
        assert!(o.status.success(), "k8s pod {i}: {}", String::from_utf8_lossy(&o.stderr));
    }
    merged_equals(&k8s, &whole, "Kubernetes");
    // HTCondor: the submit file's arguments, with its macros expanded as condor_submit does.
    let sub = read(Path::new("docs/cluster/sweep.sub"));
    let args =
        sub.lines().find_map(|l| l.strip_prefix("arguments")).unwrap().trim_start().trim_start_matches('=').trim();
    let condor = d.join("condor");
    for p in 0..10 {
        let a = args
            .replace("$(experiment)", exp.to_str().unwrap())
            .replace("$(results)", condor.to_str().unwrap())
            .replace("$(Process)", &p.to_string());
        let v: Vec<&str> = a.split_whitespace().collect();
        ok(&v);
    }
    merged_equals(&condor, &whole, "HTCondor");
}

/// A tiny scale study of the ring: 10 and 20 vehicles (the road grows with them) × two
/// topologies × two strategies, 60 ticks.
fn tiny_scale(dir: &Path) -> PathBuf {
    ring_experiment(
        dir,
        "tiny_scale.ron",
        "  ticks: Some(60),\n  from_tick: 20,\n  factors: [\n    (path: \"world.vehicles\", levels: [10, 20], with: {\"world.road.length_m\": [104.5, 209.0]}),\n    (path: \"channel.topology\", levels: [\"AllToAll\", \"RangeLimited\"]),\n    (path: \"coordination\", levels: [\"None\", \"Decentralized\"]),\n  ],\n  seeds: [1],\n  keep: All,\n",
    )
}

/// The numbers of a CSV file's column, by its header.
fn column(csv: &str, name: &str) -> Vec<String> {
    let mut lines = csv.lines();
    let head: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let k = head.iter().position(|h| *h == name).unwrap_or_else(|| panic!("no column {name} in {head:?}"));
    lines.map(|l| l.split(',').nth(k).unwrap_or_default().to_string()).collect()
}

#[test]
fn a_scale_study_normalises_per_agent_and_links_fields_to_the_count() {
    let d = scratch("scale");
    let exp = tiny_scale(&d);
    let out = d.join("out");
    // --max-agents leaves the 20-vehicle configurations out.
    ok(&["scale", exp.to_str().unwrap(), "--out", out.to_str().unwrap(), "--max-agents", "15", "-q"]);
    let first = read(&out.join("scale.csv"));
    assert_eq!(first.lines().count(), 1 + 4, "{first}");
    // The same command with a higher cap resumes: the four runs done are not run again.
    ok(&["scale", exp.to_str().unwrap(), "--out", out.to_str().unwrap(), "-q"]);
    let journal = read(&out.join("runs.jsonl"));
    assert_eq!(journal.lines().count(), 8, "each run once");
    let scale = read(&out.join("scale.csv"));
    let sweep = read(&out.join("sweep.csv"));
    let agents = column(&scale, "agents");
    let msgs = column(&scale, "msgs_per_agent_tick");
    let coord = column(&scale, "coordination");
    let config = column(&scale, "config");
    assert_eq!(agents.len(), 8);
    // Per agent and per tick, from sweep.csv's per-tick mean (one seed: one row per
    // configuration) and the configuration's agent count.
    let per_tick = column(&sweep, "mean_msgs_sent");
    let vehicles = column(&sweep, "world.vehicles");
    let sweep_config = column(&sweep, "config");
    for k in 0..8 {
        let j = sweep_config.iter().position(|c| *c == config[k]).expect("the configuration's run");
        let n: f64 = agents[k].parse().unwrap();
        assert!(n >= vehicles[j].parse::<f64>().unwrap(), "agents count every vehicle");
        let want = per_tick[j].parse::<f64>().unwrap() / n;
        let got: f64 = msgs[k].parse().unwrap();
        assert!((got - want).abs() <= 1e-9 * want.max(1.0), "row {k}: {got} vs {want}");
        if coord[k].trim_matches('\'') == "None" {
            assert_eq!(got, 0.0, "row {k}: human drivers send nothing");
        } else {
            assert!(got > 0.5, "row {k}: V2V beacons every tick or so: {got}");
        }
    }
    assert!(column(&scale, "quality_metric").iter().all(|q| q == "mean_speed_mps"));
    // The linked field followed its level: 20 vehicles ran on the 209 m ring.
    let plan = String::from_utf8_lossy(&ok(&["scale", exp.to_str().unwrap(), "--list-runs"]).stdout).to_string();
    let run20 = plan.lines().skip(1).find(|l| l.split(',').nth(3) == Some("20")).expect("a 20-vehicle run");
    let idx: u64 = run20.split(',').next().unwrap().parse().unwrap();
    let scn = read(&out.join("runs").join(format!("{idx:04}")).join("scenario.ron"));
    assert!(scn.contains("length_m: 209.0"), "{scn}");
    let md = read(&out.join("scale.md"));
    let most = agents.iter().map(|a| a.parse::<u64>().unwrap()).max().unwrap();
    assert!(md.contains("## coordination Decentralized") && md.contains(&format!("| {most} |")), "{md}");
    // The table as figures: one per measure and topology, PNG and SVG.
    for t in ["AllToAll", "RangeLimited"] {
        for m in ["msgs", "bytes", "quality", "wall"] {
            let png = std::fs::read(out.join("plots").join(format!("scale_{m}_{t}.png"))).expect("a scale figure");
            assert!(png.len() > 5_000 && png.starts_with(b"\x89PNG"), "scale_{m}_{t}.png: {} bytes", png.len());
            let svg = read(&out.join("plots").join(format!("scale_{m}_{t}.svg")));
            assert!(svg.contains("Decentralized") && svg.contains("<svg"), "scale_{m}_{t}.svg");
        }
    }
    // Another study into the same folder is refused, and the table stays this study's.
    let other = d.join("other_scale.ron");
    std::fs::write(&other, read(&exp).replace("levels: [10, 20]", "levels: [10, 30]").replace("209.0", "313.5"))
        .unwrap();
    let o = masim(&["scale", other.to_str().unwrap(), "--out", out.to_str().unwrap(), "-q"]);
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(read(&out.join("scale.csv")), scale, "a refused study rewrote the table");
    // Not a world, not a file.
    let o = masim(&["scale", "nowhere", "--out", d.join("x").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("neither a world (traffic, power, warehouse)"));
}

#[test]
fn the_built_in_scale_studies_plan_every_count_up_to_a_hundred_thousand() {
    for w in ["traffic", "power", "warehouse"] {
        let d = scratch(&format!("scale-{w}"));
        let o = ok(&["scale", w, "--out", d.to_str().unwrap(), "--list-runs"]);
        let lines: Vec<String> = String::from_utf8_lossy(&o.stdout).lines().map(str::to_string).collect();
        // 5 counts × 3 topologies × 4 strategies.
        assert_eq!(lines.len(), 1 + 60, "{w}");
        assert!(lines.iter().any(|l| l.contains(",100000,")), "{w}");
        assert!(d.join("input/experiments").join(format!("scale_{w}.ron")).is_file(), "{w}: its input is kept");
    }
}
