//! Bad input is refused with exit code 2 and one clear message, never a panic: a corpus
//! of scenario files with one mistake each (tests/bad_scenarios/, each file's second
//! line says what the error must contain), missing files, bad `--set`, `--ticks` and
//! `--seed` overrides, and an output folder that already holds results. Also: outputs
//! are written atomically (no temporary files left behind).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_masim");
const CORPUS: &str = "tests/bad_scenarios";

fn masim(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn scratch(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bad_input").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.parent().expect("parent")).expect("scratch folder");
    d
}

/// Exit code 2, a one-line reason on stderr, no panic, nothing on stdout but "ok" lines.
fn assert_bad_input(o: &Output, what: &str) -> String {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "{what}: exit status {:?}, stderr: {err}", o.status);
    assert!(!err.contains("panicked"), "{what}: panicked: {err}");
    assert!(err.starts_with("error: "), "{what}: {err}");
    err
}

/// What a corpus file's `// expect: L:C | field | phrase | ...` line demands.
struct Expect {
    at: String,
    field: Option<String>,
    phrases: Vec<String>,
}

fn expectation(file: &Path) -> Expect {
    let text = std::fs::read_to_string(file).expect("readable");
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("// expect: "))
        .unwrap_or_else(|| panic!("{}: no `// expect:` line", file.display()));
    let mut parts = line.split(" | ").map(str::to_string);
    let at = parts.next().expect("position");
    let field = parts.next().expect("field");
    let phrases: Vec<String> = parts.collect();
    assert!(!phrases.is_empty(), "{}: no phrase to expect", file.display());
    Expect { at, field: (field != "-").then_some(field), phrases }
}

fn corpus() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(CORPUS)
        .expect("corpus folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "ron"))
        .collect();
    v.sort();
    v
}

#[test]
fn corpus_covers_every_kind_of_mistake() {
    let names: Vec<String> =
        corpus().iter().filter_map(|p| p.file_name().and_then(|n| n.to_str()).map(str::to_string)).collect();
    for want in [
        "missing_comma.ron",
        "missing_paren.ron",
        "unknown_field.ron",
        "unknown_variant.ron",
        "wrong_type_string_for_number.ron",
        "loss_above_one.ron",
        "negative_count.ron",
        "zero_count.ron",
        "too_many_vehicles.ron",
        "nasch_length_not_whole_cells.ron",
        "nasch_dt.ron",
        "zero_latency.ron",
        "fault_after_end.ron",
        "crash_nobody.ron",
        "crash_unknown_agent.ron",
        "automated_exceeds_vehicles.ron",
        "hierarchical_no_sectors.ron",
        "edit_unknown_path.ron",
        "empty_name.ron",
        "grid_zero_lanes.ron",
        "deep_nesting.ron",
        "crash_kind_not_in_world.ron",
    ] {
        assert!(names.iter().any(|n| n == want), "corpus lacks {want}");
    }
}

fn check_corpus_file(file: &Path, err: &str, how: &str) {
    let e = expectation(file);
    let shown = file.display().to_string();
    let what = format!("{how} {shown}");
    assert_eq!(err.trim_end().lines().count(), 1, "{what}: expected one message, got:\n{err}");
    let place = format!("{shown}:{}", e.at);
    assert!(err.contains(&format!("{place}:")), "{what}: expected position {place}, got: {err}");
    if let Some(f) = &e.field {
        assert!(err.contains(&format!("{place}: field `{f}`: ")), "{what}: expected field `{f}`, got: {err}");
    } else {
        assert!(!err.contains("field `"), "{what}: expected no field, got: {err}");
    }
    for p in &e.phrases {
        assert!(err.contains(p.as_str()), "{what}: expected `{p}` in: {err}");
    }
}

#[test]
fn validate_refuses_each_corpus_file_with_its_specific_error() {
    let files = corpus();
    assert!(files.len() >= 19);
    for file in &files {
        let path = file.to_str().expect("utf-8 path");
        let o = masim(&["validate", path]);
        let err = assert_bad_input(&o, path);
        check_corpus_file(file, &err, "validate");
    }
}

#[test]
fn run_refuses_each_corpus_file_with_its_specific_error_and_writes_nothing() {
    for file in corpus() {
        let path = file.to_str().expect("utf-8 path");
        let out = scratch(file.file_stem().and_then(|s| s.to_str()).unwrap_or("x"));
        let o = masim(&["run", path, "--out", out.to_str().expect("utf-8"), "--quiet"]);
        let err = assert_bad_input(&o, path);
        check_corpus_file(&file, &err, "run");
        assert!(!out.exists(), "{path}: a refused run created {}", out.display());
    }
}

#[test]
fn the_library_reports_the_same_issues() {
    for file in corpus() {
        let e = expectation(&file);
        let err = masim::scenario::load_file(&file).expect_err("corpus files are invalid");
        let issues = err.issues();
        assert_eq!(issues.len(), 1, "{}: {err}", file.display());
        let (l, c) = issues[0].at.expect("a position");
        assert_eq!(format!("{l}:{c}"), e.at, "{}", file.display());
        assert_eq!(issues[0].field, e.field.clone().unwrap_or_default(), "{}", file.display());
    }
}

#[test]
fn validating_several_files_reports_each_bad_one_and_still_checks_the_good() {
    let good = "scenarios/traffic_ring.ron";
    let a = format!("{CORPUS}/loss_above_one.ron");
    let b = format!("{CORPUS}/zero_latency.ron");
    let o = masim(&["validate", &a, good, &b]);
    let err = assert_bad_input(&o, "several files");
    assert!(err.contains(&format!("{a}:7:13")) && err.contains(&format!("{b}:7:13")), "{err}");
    assert!(String::from_utf8_lossy(&o.stdout).contains(&format!("{good}: ok")));
}

#[test]
fn missing_and_unreadable_files() {
    let o = masim(&["validate", "tests/bad_scenarios/does_not_exist.ron"]);
    let err = assert_bad_input(&o, "missing file");
    assert!(err.contains("tests/bad_scenarios/does_not_exist.ron") && err.contains("no such file"), "{err}");
    let out = scratch("missing");
    let o = masim(&["run", "nowhere/none.ron", "--out", out.to_str().expect("utf-8")]);
    let err = assert_bad_input(&o, "run missing file");
    assert!(err.contains("nowhere/none.ron: no such file"), "{err}");

    let dir = scratch("binary");
    std::fs::create_dir_all(&dir).expect("dir");
    let bin = dir.join("binary.ron");
    std::fs::write(&bin, [0xff, 0xfe, b'(']).expect("write");
    let o = masim(&["validate", bin.to_str().expect("utf-8")]);
    let err = assert_bad_input(&o, "binary file");
    assert!(err.contains("not UTF-8"), "{err}");

    let empty = dir.join("empty.ron");
    std::fs::write(&empty, "").expect("write");
    let o = masim(&["validate", empty.to_str().expect("utf-8")]);
    let err = assert_bad_input(&o, "empty file");
    assert!(err.contains(&format!("{}:1:1", empty.display())), "{err}");
}

fn run_with(extra: &[&str]) -> Output {
    let out = scratch("sets");
    let mut args = vec!["run", "scenarios/traffic_ring.ron", "--quiet", "--out"];
    let o = out.to_str().expect("utf-8").to_string();
    args.push(&o);
    args.extend(extra);
    if !extra.contains(&"--ticks") {
        args.extend(["--ticks", "20"]);
    }
    let r = masim(&args);
    if r.status.code() == Some(2) {
        assert!(!out.exists(), "a refused run created its output folder");
    }
    r
}

#[test]
fn bad_set_overrides_are_refused_naming_the_set() {
    let cases: [(&[&str], &str, &[&str]); 13] = [
        // One value per field: the run length twice, or a path set twice.
        (&["--ticks", "30", "--set", "ticks=100000"], "--ticks 30 and --set ticks=100000", &["`ticks` is given twice"]),
        (
            &["--set", "channel.loss=0.1", "--set", "channel.loss=0.2"],
            "--set channel.loss=0.1 and --set channel.loss=0.2",
            &["one value would silently win"],
        ),
        (
            &["--set", "channel.lossy=0.2"],
            "--set channel.lossy=0.2: field `channel.lossy`",
            &["no field `lossy` in `channel`", "expected one of", "latency_ticks"],
        ),
        (&["--set", "chanel.loss=0.2"], "--set chanel.loss=0.2", &["no field `chanel`", "channel"]),
        (
            &["--set", "channel.loss=1.5"],
            "--set channel.loss=1.5: field `channel.loss`",
            &["is a probability and must be between 0 and 1, got 1.5"],
        ),
        (&["--set", "channel.loss=-0.1"], "--set channel.loss=-0.1: field `channel.loss`", &["between 0 and 1"]),
        (
            &["--set", "world.vehicles=many"],
            "--set world.vehicles=many: field `world.vehicles`",
            &["cannot set to `many`"],
        ),
        (&["--set", "dt=fast"], "--set dt=fast: field `dt`", &["cannot set to `fast`"]),
        (&["--set", "world.vehicles=500"], "--set world.vehicles=500: field `world.vehicles`", &["at most 35"]),
        (&["--set", "channel.loss"], "--set channel.loss", &["expected PATH=VALUE"]),
        (
            &["--set", "faults[0].at=10"],
            "--set faults[0].at=10: field `faults[0].at`",
            &["index 0 is out of range", "`faults` has 0 entries"],
        ),
        (&["--set", "channel=0.3"], "--set channel=0.3: field `channel`", &["is a section, not a single value"]),
        (
            &["--set", "coordination=Mesh"],
            "--set coordination=Mesh: field `coordination`",
            &["unknown variant `Mesh`", "`Decentralized`", "`Centralized`", "`Hierarchical`"],
        ),
    ];
    for (args, names, phrases) in cases {
        let o = run_with(args);
        let err = assert_bad_input(&o, &format!("{args:?}"));
        assert!(err.contains(names), "{args:?}: expected `{names}` in: {err}");
        for p in phrases {
            assert!(err.contains(p), "{args:?}: expected `{p}` in: {err}");
        }
    }
}

#[test]
fn bad_ticks_and_seed_are_refused() {
    let o = run_with(&["--ticks", "0"]);
    let err = assert_bad_input(&o, "--ticks 0");
    assert!(err.contains("--ticks 0: field `ticks`: must be at least 1"), "{err}");
    let o = run_with(&["--seed", "minus-one"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let o = run_with(&["--bogus"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn ticks_below_a_scheduled_fault_warns_and_runs_the_rest() {
    let dir = scratch("fault-ticks");
    std::fs::create_dir_all(&dir).expect("dir");
    let text = std::fs::read_to_string("scenarios/traffic_ring.ron").expect("scenario").replace(
        "faults: [],",
        "faults: [(at: 50, duration: 20, fault: Loss(loss: 0.5)), (at: 500, fault: Loss(loss: 0.5))],",
    );
    assert!(text.contains("at: 500"), "scenarios/traffic_ring.ron changed shape: update this test");
    let file = dir.join("with_fault.ron");
    std::fs::write(&file, text).expect("write");
    let out = dir.join("out");
    let o = masim(&["run", file.to_str().expect("utf-8"), "--ticks", "100", "--out", out.to_str().expect("utf-8")]);
    let err = stderr(&o);
    assert!(o.status.success(), "a shortened run is not refused: {err}");
    assert!(
        err.contains("warning: --ticks 100: faults[1] (loss at tick 500) starts after the run's end"),
        "the left-out fault is named: {err}"
    );
    assert!(!err.contains("faults[0]"), "the fault inside the run is not warned about: {err}");
    let events = std::fs::read_to_string(out.join("events.jsonl")).expect("events");
    assert_eq!(events.matches("fault_start").count(), 1, "{events}");
    // The folder says what ran: scenario.ron has the run's length and only the first fault.
    let resolved = masim::scenario::load_file(&out.join("scenario.ron")).expect("scenario.ron loads");
    assert_eq!((resolved.ticks, resolved.faults.len()), (100, 1));
}

fn tmp_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("out dir")
        .filter_map(|e| e.ok().and_then(|e| e.file_name().to_str().map(str::to_string)))
        .filter(|n| n.ends_with(".tmp") || n.starts_with('.'))
        .collect()
}

#[test]
fn an_output_folder_with_results_is_not_overwritten_without_force() {
    let out = scratch("existing");
    let dir = out.to_str().expect("utf-8");
    let first = masim(&["run", "scenarios/traffic_ring.ron", "--ticks", "30", "--quiet", "--trace", "--out", dir]);
    assert!(first.status.success(), "{}", stderr(&first));
    let mut files: Vec<String> = std::fs::read_dir(&out)
        .expect("out")
        .filter_map(|e| e.ok().and_then(|e| e.file_name().to_str().map(str::to_string)))
        .collect();
    files.sort();
    assert_eq!(
        files,
        ["agents.csv", "events.jsonl", "metrics.csv", "scenario.ron", "summary.json"],
        "exactly the outputs, no temporaries"
    );
    assert!(tmp_files(&out).is_empty());
    let before = std::fs::read(out.join("metrics.csv")).expect("metrics");

    let again = masim(&["run", "scenarios/traffic_ring.ron", "--ticks", "40", "--quiet", "--out", dir]);
    let err = assert_bad_input(&again, "existing results");
    assert!(err.contains(dir) && err.contains("already holds results") && err.contains("--force"), "{err}");
    assert_eq!(std::fs::read(out.join("metrics.csv")).expect("metrics"), before, "results were touched");

    let forced = masim(&["run", "scenarios/traffic_ring.ron", "--ticks", "40", "--quiet", "--out", dir, "--force"]);
    assert!(forced.status.success(), "{}", stderr(&forced));
    assert_ne!(std::fs::read(out.join("metrics.csv")).expect("metrics"), before, "--force did not overwrite");
    assert!(tmp_files(&out).is_empty(), "temporaries left: {:?}", tmp_files(&out));

    // Any one output file is enough to refuse.
    let partial = scratch("partial");
    std::fs::create_dir_all(&partial).expect("dir");
    std::fs::write(partial.join("events.jsonl"), "").expect("write");
    let o = masim(&["run", "scenarios/traffic_ring.ron", "--ticks", "10", "--out", partial.to_str().expect("utf-8")]);
    assert_bad_input(&o, "folder with events.jsonl");
    // A folder with unrelated files is fine.
    let other = scratch("unrelated");
    std::fs::create_dir_all(&other).expect("dir");
    std::fs::write(other.join("notes.txt"), "mine").expect("write");
    let o = masim(&[
        "run",
        "scenarios/traffic_ring.ron",
        "--ticks",
        "10",
        "--quiet",
        "--out",
        other.to_str().expect("utf-8"),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(other.join("notes.txt")).expect("notes"), "mine");
}

#[test]
fn out_path_that_is_a_file_is_an_error_not_a_panic() {
    let dir = scratch("file-out");
    std::fs::create_dir_all(&dir).expect("dir");
    let f = dir.join("plain.txt");
    std::fs::write(&f, "x").expect("write");
    let o = masim(&["run", "scenarios/traffic_ring.ron", "--ticks", "10", "--out", f.to_str().expect("utf-8")]);
    let err = stderr(&o);
    assert!(!o.status.success(), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains("plain.txt"), "{err}");
}

#[test]
fn bad_sweep_arguments_are_refused_naming_the_flag() {
    let cases: [(&[&str], &[&str]); 8] = [
        (&["--vary", "channel.loss=0,1.5"], &["--vary channel.loss=1.5: field `channel.loss`", "between 0 and 1"]),
        (&["--vary", "channel.lossy=0,0.1"], &["--vary channel.lossy=0: field `channel.lossy`", "no field `lossy`"]),
        (&["--vary", "channel.loss"], &["--vary channel.loss: expected PATH=V1,V2"]),
        (&["--vary", "channel.loss="], &["--vary channel.loss=: no values"]),
        (&["--seeds", "5..2"], &["--seeds 5..2", "empty"]),
        (&["--seeds", "abc"], &["--seeds abc", "expected a range"]),
        (&["--vary", "channel.loss=0,0.1", "--vary", "channel.loss=0.2"], &["--vary channel.loss", "already a factor"]),
        (&["--vary", "seed=1,2"], &["--vary seed", "--seeds"]),
    ];
    for (args, phrases) in cases {
        let out = scratch("sweep");
        let mut all = vec!["sweep", "scenarios/traffic_ring.ron", "--ticks", "20", "--quiet", "--out"];
        let o = out.to_str().expect("utf-8").to_string();
        all.push(&o);
        all.extend(args);
        let r = masim(&all);
        let err = assert_bad_input(&r, &format!("sweep {args:?}"));
        for p in phrases {
            assert!(err.contains(p), "sweep {args:?}: expected `{p}` in: {err}");
        }
        assert!(!out.exists(), "sweep {args:?}: a refused sweep created {}", out.display());
    }
}

#[test]
fn truncated_and_mutated_scenarios_never_panic() {
    // Every prefix of every scenario file (at a stride), and every file with one
    // character deleted or replaced: loading returns an error (or, rarely, a valid
    // scenario) with a position inside the text — it never panics.
    for file in std::fs::read_dir("scenarios").expect("scenarios/").filter_map(|e| e.ok().map(|e| e.path())) {
        if file.extension().is_none_or(|x| x != "ron") {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("readable");
        let lines = text.lines().count() + 1;
        let bounds: Vec<usize> = text.char_indices().map(|(i, _)| i).chain([text.len()]).collect();
        let check = |t: &str, what: &str| {
            if let Err(e) = masim::scenario::load_str(t, "mutant") {
                for i in e.issues() {
                    if let Some((l, c)) = i.at {
                        assert!(l >= 1 && l <= lines && c >= 1, "{what}: position {l}:{c} outside the text: {e}");
                    }
                    assert!(!i.message.is_empty(), "{what}: empty message");
                }
            }
        };
        for &cut in bounds.iter().step_by(11) {
            check(&text[..cut], &format!("{} cut at byte {cut}", file.display()));
        }
        for k in (0..bounds.len() - 1).step_by(17) {
            let (a, b) = (bounds[k], bounds[k + 1]);
            let deleted = format!("{}{}", &text[..a], &text[b..]);
            check(&deleted, &format!("{} without byte {a}", file.display()));
            for r in ["(", ")", ",", "\"", "x"] {
                let replaced = format!("{}{r}{}", &text[..a], &text[b..]);
                check(&replaced, &format!("{} with {r:?} at byte {a}", file.display()));
            }
        }
    }
}

/// A file of 100 000 nested parentheses (or brackets) is refused with a message and exit
/// 2, by `validate` and by `run`, never with a stack overflow.
#[test]
fn deeply_nested_files_are_refused_not_a_stack_overflow() {
    let dir = scratch("deep");
    std::fs::create_dir_all(&dir).expect("dir");
    for (name, open) in [("parens.ron", "("), ("brackets.ron", "["), ("mixed.ron", "([{")] {
        let f = dir.join(name);
        std::fs::write(&f, open.repeat(100_000 / open.len())).expect("write");
        for cmd in ["validate", "run"] {
            let out = dir.join(format!("{name}-out"));
            let o = masim(
                &[cmd, f.to_str().expect("utf-8"), "--out", out.to_str().expect("utf-8")]
                    [..if cmd == "run" { 4 } else { 2 }],
            );
            let err = assert_bad_input(&o, &format!("{cmd} {name}"));
            assert!(err.contains(&format!("{}:1:", f.display())), "{cmd} {name}: {err}");
            assert!(err.contains("nested too deeply"), "{cmd} {name}: {err}");
        }
    }
}

/// A scenario saved with a UTF-8 byte-order mark (as Windows editors write) loads.
#[test]
fn a_byte_order_mark_is_accepted() {
    let dir = scratch("bom");
    std::fs::create_dir_all(&dir).expect("dir");
    let text = std::fs::read_to_string("scenarios/traffic_ring.ron").expect("scenario");
    let f = dir.join("bom.ron");
    std::fs::write(&f, format!("\u{feff}{text}")).expect("write");
    let o = masim(&["validate", f.to_str().expect("utf-8")]);
    assert!(o.status.success(), "{}", stderr(&o));
    // Errors in such a file still point at the right line and column.
    let bad = text.replace("loss: 0.0", "loss: 1.5");
    assert_ne!(bad, text, "scenarios/traffic_ring.ron changed shape: update this test");
    std::fs::write(&f, format!("\u{feff}{bad}")).expect("write");
    let o = masim(&["validate", f.to_str().expect("utf-8")]);
    let err = assert_bad_input(&o, "bom with an error");
    let line = text.lines().position(|l| l.contains("loss: 0.0")).expect("loss line") + 1;
    assert!(err.contains(&format!("bom.ron:{line}:")), "{err}");
}

/// Overrides are all applied, then validated once: two that only make sense together
/// work in either order.
#[test]
fn overrides_are_validated_together_in_any_order() {
    let nasch = "scenarios/traffic_ring_nasch.ron";
    let out = scratch("together");
    for order in [
        ["--set", "world.vehicles=20000", "--set", "world.road.length_m=750000"],
        ["--set", "world.road.length_m=750000", "--set", "world.vehicles=20000"],
    ] {
        let mut args = vec!["run", nasch, "--ticks", "3", "--quiet", "--force", "--out", out.to_str().expect("utf-8")];
        args.extend(order);
        let o = masim(&args);
        assert!(o.status.success(), "{order:?}: {}", stderr(&o));
    }
    // One that stays wrong is still refused, naming the override at fault.
    let o = masim(&["validate", nasch, "--set", "world.vehicles=20000"]);
    let err = assert_bad_input(&o, "too many vehicles");
    assert!(err.contains("--set world.vehicles=20000: field `world.vehicles`") && err.contains("do not fit"), "{err}");
    // `validate` takes --set and --ticks like `run`.
    let o = masim(&["validate", nasch, "--set", "channel.loss=0.3", "--ticks", "50"]);
    assert!(o.status.success() && String::from_utf8_lossy(&o.stdout).contains("50 ticks"), "{}", stderr(&o));
    let o = masim(&["validate", nasch, "--set", "channel.loss=2"]);
    let err = assert_bad_input(&o, "validate --set");
    assert!(err.contains("--set channel.loss=2: field `channel.loss`"), "{err}");
}

/// A wrong type in --set is worded as the same mistake in a file is.
#[test]
fn set_type_errors_use_the_file_wording() {
    let o = run_with(&["--set", "world.vehicles=2.5"]);
    let err = assert_bad_input(&o, "fraction for a count");
    assert!(err.contains("expected a whole number") && !err.contains("u32"), "{err}");
    let o = run_with(&["--set", "channel.loss=lots"]);
    let err = assert_bad_input(&o, "text for a number");
    assert!(err.contains("expected a number") && !err.contains("f64"), "{err}");
}

/// --out naming a file is bad input (exit 2), like any unusable output folder.
#[test]
fn out_naming_a_file_exits_2() {
    let dir = scratch("out-file");
    std::fs::create_dir_all(&dir).expect("dir");
    let f = dir.join("plain.txt");
    std::fs::write(&f, "x").expect("write");
    let o = masim(&["run", "scenarios/traffic_ring.ron", "--ticks", "10", "--out", f.to_str().expect("utf-8")]);
    let err = assert_bad_input(&o, "--out a file");
    assert!(err.contains("plain.txt") && err.contains("not a folder"), "{err}");
}

/// An output folder describes itself: scenario.ron is the scenario as run (every
/// override applied) and reproduces it; summary.json lists the overrides. --force
/// removes what an earlier run wrote (an old agents.csv) and nothing else.
#[test]
fn an_output_folder_describes_itself_and_force_leaves_no_old_file() {
    let out = scratch("self");
    let dir = out.to_str().expect("utf-8");
    let first = masim(&[
        "run",
        "scenarios/traffic_ring.ron",
        "--ticks",
        "60",
        "--seed",
        "3",
        "--set",
        "channel.loss=0.3",
        "--set",
        "coordination=Decentralized",
        "--trace",
        "--quiet",
        "--out",
        dir,
    ]);
    assert!(first.status.success(), "{}", stderr(&first));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).expect("summary")).expect("json");
    let sets: Vec<String> = summary["overrides"]
        .as_array()
        .expect("overrides")
        .iter()
        .map(|o| format!("{}={}", o["set"].as_str().unwrap_or(""), o["value"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(sets, ["ticks=60", "seed=3", "channel.loss=0.3", "coordination=Decentralized"]);
    let resolved = masim::scenario::load_file(&out.join("scenario.ron")).expect("scenario.ron loads");
    assert_eq!((resolved.ticks, resolved.seed, resolved.channel.loss), (60, 3, 0.3));
    // Running the resolved file alone reproduces the run.
    let again = scratch("self-again");
    let o = masim(&[
        "run",
        out.join("scenario.ron").to_str().expect("utf-8"),
        "--quiet",
        "--out",
        again.to_str().expect("utf-8"),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    for f in ["metrics.csv", "events.jsonl"] {
        assert_eq!(std::fs::read(out.join(f)).expect("first"), std::fs::read(again.join(f)).expect("again"), "{f}");
    }
    std::fs::write(out.join("notes.txt"), "mine").expect("write");
    let forced = masim(&["run", "scenarios/traffic_ring.ron", "--ticks", "30", "--quiet", "--force", "--out", dir]);
    assert!(forced.status.success(), "{}", stderr(&forced));
    assert!(!out.join("agents.csv").exists(), "--force left the earlier run's agents.csv beside the new metrics");
    assert_eq!(
        std::fs::read_to_string(out.join("notes.txt")).expect("notes"),
        "mine",
        "--force removed a file of the user's"
    );
}

/// A forced sweep into the folder of a larger earlier one leaves none of its runs behind.
#[test]
fn a_forced_sweep_removes_the_runs_of_a_larger_earlier_one() {
    let out = scratch("sweep-force");
    let dir = out.to_str().expect("utf-8");
    let big =
        masim(&["sweep", "scenarios/traffic_ring.ron", "--ticks", "10", "--seeds", "0..4", "--quiet", "--out", dir]);
    assert!(big.status.success(), "{}", stderr(&big));
    assert!(out.join("runs/0003/metrics.csv").exists());
    // Without --force a smaller plan resumes in place: nothing to run, its two runs tabled.
    let again =
        masim(&["sweep", "scenarios/traffic_ring.ron", "--ticks", "10", "--seeds", "0..2", "--quiet", "--out", dir]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(std::fs::read_to_string(out.join("sweep.csv")).expect("sweep.csv").lines().count(), 3);
    // Another experiment (other ticks) in the folder is refused without --force.
    let other =
        masim(&["sweep", "scenarios/traffic_ring.ron", "--ticks", "11", "--seeds", "0..2", "--quiet", "--out", dir]);
    assert_bad_input(&other, "another experiment over a sweep without --force");
    let small = masim(&[
        "sweep",
        "scenarios/traffic_ring.ron",
        "--ticks",
        "10",
        "--seeds",
        "0..2",
        "--quiet",
        "--force",
        "--out",
        dir,
    ]);
    assert!(small.status.success(), "{}", stderr(&small));
    assert!(out.join("runs/0001/metrics.csv").exists());
    assert!(!out.join("runs/0002").exists() && !out.join("runs/0003").exists(), "old runs left behind");
    let rows = std::fs::read_to_string(out.join("sweep.csv")).expect("sweep.csv").lines().count();
    assert_eq!(rows, 3, "a header and two runs");
}
