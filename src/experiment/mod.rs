//! Experiments: a scenario, fixed overrides, factors with levels or ranges, a design, seeds
//! and an optional paired comparison, read from an experiment file (RON, beside the
//! scenarios) or built from `masim sweep`'s flags, and turned into a plan of numbered runs.
//!
//! The plan's run numbers are stable (see [`design`]): adding a seed or appending a level
//! gives the new runs new numbers and no existing run a different one, so a sweep can grow
//! in place, shards on a cluster agree on who runs what without talking, and `masim merge`
//! puts the pieces back together.

pub mod design;
pub mod scale;
pub mod stats;
pub mod sweep;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::runner::output;
use crate::scenario::{self, Issue, Scenario, ScenarioError, locate};

/// A factor level as written in the file: a number, a whole number, a boolean or a word
/// (an enum variant such as `"Decentralized"`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Level {
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
}

impl Level {
    /// The level as `--set` takes it, and as sweep.csv writes it.
    pub fn text(&self) -> String {
        match self {
            Level::Bool(b) => b.to_string(),
            Level::Int(i) => i.to_string(),
            Level::Float(f) => output::num(*f),
            Level::Text(s) => s.clone(),
        }
    }
}

/// One factor: the field it sets and either its levels or, for a sampling design, its range.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Factor {
    /// A `--set` path: `channel.loss`, `world.vehicles`, `coordination`.
    pub path: String,
    /// The values it takes (full factorial), or the categories a sampling design picks from.
    #[serde(default)]
    pub levels: Vec<Level>,
    /// `(low, high)` for a sampling design: sampled uniformly in [low, high).
    #[serde(default)]
    pub range: Option<(f64, f64)>,
    /// With `range`: whole numbers from low to high, both included.
    #[serde(default)]
    pub integer: bool,
    /// Fields set together with this one, level by level (each list as long as `levels`):
    /// `with: {"world.road.length_m": [104.5, 1045.0]}` keeps the density as `world.vehicles`
    /// grows. They are overrides of the configuration, not factors of their own.
    #[serde(default)]
    pub with: BTreeMap<String, Vec<Level>>,
}

/// How the factors' values are combined into configurations.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Design {
    /// Every combination of every factor's levels.
    #[default]
    FullFactorial,
    /// `samples` points of a Latin hypercube (its own `seed`, not the runs' seeds).
    LatinHypercube {
        samples: u64,
        #[serde(default)]
        seed: u64,
    },
    /// The first `samples` points of the (unscrambled) Sobol sequence; more samples later
    /// keep the first ones.
    Sobol { samples: u64 },
}

/// A paired comparison: arm `a` and arm `b` of the field `path` run on every seed and every
/// configuration, with the same random streams for everything they share.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pair {
    pub path: String,
    pub a: Level,
    pub b: Level,
}

/// Seeds: a spec `"1..21"` (end exclusive), `"1,2,5"`, or a list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Seeds {
    List(Vec<u64>),
    Spec(String),
}

/// What each run keeps on disk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Keep {
    /// Every run's folder (metrics.csv, events.jsonl, summary.json, scenario.ron, manifest.json).
    #[default]
    All,
    /// Only the sweep's rows: no per-run folders (many small files hurt cluster file systems).
    Summary,
}

/// An experiment file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Experiment {
    /// The scenario file, relative to the experiment file.
    pub scenario: PathBuf,
    /// What the experiment asks, in a line.
    #[serde(default)]
    pub description: String,
    /// Overrides every run gets: `{"channel.loss": 0.1}`.
    #[serde(default)]
    pub set: BTreeMap<String, Level>,
    /// Run length instead of the scenario's `ticks`.
    #[serde(default)]
    pub ticks: Option<u64>,
    #[serde(default)]
    pub factors: Vec<Factor>,
    #[serde(default)]
    pub design: Design,
    /// Replications; the scenario's own seed when left out.
    #[serde(default)]
    pub seeds: Option<Seeds>,
    #[serde(default)]
    pub pair: Option<Pair>,
    /// The metrics (metrics.csv columns) to summarise; all of them when empty.
    #[serde(default)]
    pub metrics: Vec<String>,
    /// Summaries cover ticks from this one on (a warm-up left out).
    #[serde(default)]
    pub from_tick: u64,
    #[serde(default)]
    pub keep: Keep,
}

/// Whether `text` is an experiment file rather than a scenario: it opens with
/// `Experiment(` or its first field is `scenario`.
pub fn is_experiment_text(text: &str) -> bool {
    let t = strip_comments(scenario::without_bom(text));
    let t = t.trim_start();
    if let Some(rest) = t.strip_prefix("Experiment") {
        return rest.trim_start().starts_with('(');
    }
    t.strip_prefix('(').is_some_and(|r| {
        let r = r.trim_start();
        r.strip_prefix("scenario").is_some_and(|r| r.trim_start().starts_with(':'))
    })
}

/// The text from its first character that is neither white space nor in a comment.
fn strip_comments(text: &str) -> String {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
            i += 2;
            while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                i += 1;
            }
            i += 2;
        } else if b[i].is_ascii_whitespace() {
            i += 1;
        } else {
            // The first real character: only the opening matters.
            return text[i..].to_string();
        }
    }
    String::new()
}

/// Parses seeds: `1..21` (end exclusive), `1,2,5`, or one seed.
pub fn parse_seeds(spec: &str) -> Result<Vec<u64>, String> {
    let bad =
        || format!("`{spec}`: expected a range like 1..11 (end exclusive: 10 seeds), a list like 1,2,5, or one seed");
    let v: Vec<u64> = if let Some((a, b)) = spec.split_once("..") {
        let (a, b): (u64, u64) = (a.trim().parse().map_err(|_| bad())?, b.trim().parse().map_err(|_| bad())?);
        if b <= a {
            return Err(format!("`{spec}`: the range is empty (the end is exclusive)"));
        }
        if b - a > 1_000_000 {
            return Err(format!("`{spec}`: more than 1000000 seeds"));
        }
        (a..b).collect()
    } else {
        spec.split(',').map(|x| x.trim().parse::<u64>().map_err(|_| bad())).collect::<Result<_, _>>()?
    };
    let mut seen = std::collections::HashSet::new();
    if let Some(d) = v.iter().find(|s| !seen.insert(**s)) {
        return Err(format!("`{spec}`: seed {d} is listed twice"));
    }
    Ok(v)
}

/// Reads an experiment file: positioned errors for what cannot be parsed; the plan is
/// checked by [`Plan::build`].
pub fn load_file(path: &Path) -> Result<(Experiment, String), ScenarioError> {
    let origin = path.display().to_string();
    let text = scenario::read_text(path, "experiment")?;
    let clean = scenario::without_bom(&text);
    let mut exp: Experiment = scenario::ron_options().from_str(clean).map_err(|e| ScenarioError::Invalid {
        origin: origin.clone(),
        issues: vec![scenario::parse_issue(clean, &e)],
    })?;
    if exp.scenario.is_relative() {
        exp.scenario = path.parent().unwrap_or(Path::new("")).join(&exp.scenario);
    }
    Ok((exp, clean.to_string()))
}

/// One configuration: the factors' values (then the arm's), and the scenario they make.
#[derive(Clone, Debug)]
pub struct Config {
    /// Stable number of the configuration (arm excluded).
    pub rank: u64,
    /// The factors' values as text, in factor order.
    pub values: Vec<String>,
    /// 0 for arm a, 1 for arm b; `None` without a pair.
    pub arm: Option<usize>,
    pub scenario: Scenario,
    /// Every override that made `scenario` from the file (fixed, then factors, then arm).
    pub overrides: Vec<(String, String)>,
}

/// One run of the plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Run {
    /// The run's stable number (sweep.csv's `run`, the folder `runs/NNNN`, `--run-index`).
    pub index: u64,
    /// Index into [`Plan::configs`].
    pub config: usize,
    pub seed: u64,
}

/// An experiment made concrete: every configuration validated, every run numbered.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The scenario's name.
    pub name: String,
    pub scenario_file: PathBuf,
    /// FNV-1a of the scenario file's bytes, hex.
    pub scenario_hash: String,
    /// The factor paths, as sweep.csv's parameter columns.
    pub factors: Vec<String>,
    /// The pair's path and its two arms' values.
    pub pair: Option<(String, [String; 2])>,
    pub configs: Vec<Config>,
    /// Sorted by index.
    pub runs: Vec<Run>,
    pub seeds: Vec<u64>,
    pub metrics: Vec<String>,
    pub from_tick: u64,
    pub keep: Keep,
    /// What must not change for a folder's finished runs to count towards this plan.
    pub fingerprint: serde_json::Value,
    /// What the user should hear before it runs (faults left out by a shorter run).
    pub warnings: Vec<String>,
}

/// FNV-1a (64-bit) of bytes, as 16 hex digits.
pub fn fnv_hex(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// A plan-building problem, with its field path in the experiment (positioned when the
/// experiment came from a file).
fn issue(text: Option<&str>, field: &str, message: String) -> Issue {
    Issue { at: text.and_then(|t| locate::find(t, field)), field: field.to_string(), message }
}

impl Plan {
    /// Builds the plan of `exp`, whose text (for positions) is `text` when it came from a
    /// file. Every configuration is validated before anything runs.
    pub fn build(exp: &Experiment, text: Option<&str>) -> Result<Plan, Vec<Issue>> {
        let mut issues = Vec::new();
        let scn_file = exp.scenario.clone();
        let bytes = match std::fs::read(&scn_file) {
            Ok(b) => b,
            Err(e) => {
                let why = if e.kind() == std::io::ErrorKind::NotFound { "no such file".into() } else { e.to_string() };
                return Err(vec![issue(text, "scenario", format!("{}: {why}", scn_file.display()))]);
            }
        };
        let mut base = match scenario::load_file(&scn_file) {
            Ok(s) => s,
            Err(e) => return Err(vec![issue(text, "scenario", e.to_string())]),
        };
        // A shorter run leaves out, with a word, what is scheduled after its end (as --ticks).
        let mut warnings = Vec::new();
        if let Some(t) = exp.ticks
            && t >= 1
            && t < base.ticks
        {
            for w in base.truncate_timeline(t) {
                warnings.push(format!("ticks {t}: {w}; it is left out of every run"));
            }
        }
        // Fixed overrides: ticks, then `set`.
        let mut fixed: Vec<(String, String)> = Vec::new();
        if let Some(t) = exp.ticks {
            fixed.push(("ticks".into(), t.to_string()));
        }
        for (k, v) in &exp.set {
            if k == "seed" {
                issues.push(issue(
                    text,
                    &format!("set.{k}"),
                    "seeds are set with `seeds` (or --seeds), not as an override".into(),
                ));
            }
            fixed.push((k.clone(), v.text()));
        }
        let seeds = match &exp.seeds {
            None => vec![base.seed],
            Some(Seeds::List(v)) if v.is_empty() => {
                issues.push(issue(text, "seeds", "no seeds: give at least one".into()));
                vec![]
            }
            Some(Seeds::List(v)) => match parse_seeds(&v.iter().map(u64::to_string).collect::<Vec<_>>().join(",")) {
                Ok(s) => s,
                Err(m) => {
                    issues.push(issue(text, "seeds", m));
                    vec![]
                }
            },
            Some(Seeds::Spec(s)) => match parse_seeds(s) {
                Ok(s) => s,
                Err(m) => {
                    issues.push(issue(text, "seeds", m));
                    vec![]
                }
            },
        };
        // Factors: each path once, not fixed too, with what the design needs.
        let sampling = !matches!(exp.design, Design::FullFactorial);
        for (i, f) in exp.factors.iter().enumerate() {
            let at = format!("factors[{i}]");
            if f.path.trim().is_empty() {
                issues.push(issue(text, &format!("{at}.path"), "empty path".into()));
            }
            if f.path == "seed" {
                issues.push(issue(text, &format!("{at}.path"), "seeds are varied with `seeds` (or --seeds)".into()));
            }
            if exp.factors[..i].iter().any(|g| g.path == f.path) {
                issues.push(issue(
                    text,
                    &format!("{at}.path"),
                    format!("`{}` is already a factor; list all its levels in one factor", f.path),
                ));
            }
            if fixed.iter().any(|(k, _)| *k == f.path) {
                issues.push(issue(
                    text,
                    &format!("{at}.path"),
                    format!("`{}` is both varied and fixed (set or --set): one of them would silently win", f.path),
                ));
            }
            match (f.levels.is_empty(), f.range) {
                (true, None) => issues.push(issue(text, &at, "give `levels: [...]` or, for a sampling design, `range: (low, high)`".into())),
                (false, Some(_)) => issues.push(issue(text, &at, "give `levels` or `range`, not both".into())),
                (true, Some(_)) if !sampling => issues.push(issue(
                    text,
                    &format!("{at}.range"),
                    "a full factorial design needs `levels`; a range is sampled by design: LatinHypercube(samples: N) or Sobol(samples: N)".into(),
                )),
                (true, Some((lo, hi))) if !(lo.is_finite() && hi.is_finite() && lo < hi) => {
                    issues.push(issue(text, &format!("{at}.range"), format!("({lo}, {hi}): expected finite low < high")))
                }
                _ => {}
            }
            if f.integer && f.range.is_none() {
                issues.push(issue(text, &format!("{at}.integer"), "`integer` applies to a `range`".into()));
            }
            for (p, vals) in &f.with {
                if f.range.is_some() {
                    issues.push(issue(
                        text,
                        &format!("{at}.with"),
                        "`with` follows `levels`; a sampled range has none".into(),
                    ));
                } else if vals.len() != f.levels.len() {
                    issues.push(issue(
                        text,
                        &format!("{at}.with"),
                        format!(
                            "`{p}` has {} values for the factor's {} levels: give one per level",
                            vals.len(),
                            f.levels.len()
                        ),
                    ));
                }
                // Any factor's path (this one's too), another factor's `with`, or a fixed field.
                let clash = p == "seed"
                    || exp.factors.iter().enumerate().any(|(k, g)| g.path == *p || (k != i && g.with.contains_key(p)))
                    || fixed.iter().any(|(k, _)| k == p);
                if clash {
                    issues.push(issue(
                        text,
                        &format!("{at}.with"),
                        format!("`{p}` is also set elsewhere (a factor, another factor's `with`, or set): one value would silently win"),
                    ));
                }
            }
            let mut seen: Vec<String> = Vec::new();
            for (j, l) in f.levels.iter().enumerate() {
                let t = l.text();
                if seen.contains(&t) {
                    issues.push(issue(text, &format!("{at}.levels[{j}]"), format!("level `{t}` is listed twice")));
                }
                seen.push(t);
            }
        }
        if let Some(p) = &exp.pair {
            if exp.factors.iter().any(|f| f.path == p.path) || fixed.iter().any(|(k, _)| *k == p.path) {
                issues.push(issue(text, "pair.path", format!("`{}` is paired and also varied or fixed", p.path)));
            }
            if p.path == "seed" {
                issues.push(issue(text, "pair.path", "seeds are shared by the arms, not compared".into()));
            }
            if p.a.text() == p.b.text() {
                issues.push(issue(text, "pair.b", format!("both arms are `{}`", p.a.text())));
            }
        }
        match exp.design {
            Design::FullFactorial => {}
            Design::LatinHypercube { samples, .. } | Design::Sobol { samples } => {
                if samples == 0 {
                    issues.push(issue(text, "design.samples", "expected 1 or more samples".into()));
                }
                if samples > 1_000_000 {
                    issues.push(issue(text, "design.samples", "more than 1000000 samples".into()));
                }
                if exp.factors.is_empty() {
                    issues.push(issue(text, "design", "a sampling design needs factors to sample".into()));
                }
            }
        }
        if matches!(exp.design, Design::Sobol { .. }) && exp.factors.len() > design::SOBOL_MAX_DIMS {
            issues.push(issue(
                text,
                "factors",
                format!("a Sobol design takes at most {} factors", design::SOBOL_MAX_DIMS),
            ));
        }
        if !issues.is_empty() {
            return Err(issues);
        }
        // The base with the fixed overrides, validated once.
        let fixed_base = base.with_sets(&fixed).map_err(|(k, i)| {
            let field = match k {
                Some(k) if fixed[k].0 == "ticks" => "ticks".to_string(),
                Some(k) => format!("set.{}", fixed[k].0),
                None => "set".to_string(),
            };
            vec![issue(text, &field, i.to_string())]
        })?;
        // The metrics to summarise must be columns of this scenario's metrics.csv.
        if !exp.metrics.is_empty() {
            let app = crate::runner::headless_app(&fixed_base, Some(1));
            let cols: Vec<&str> = app.world().resource::<crate::sim::Metrics>().columns().to_vec();
            for (k, m) in exp.metrics.iter().enumerate() {
                if !cols.contains(&m.as_str()) || matches!(m.as_str(), "tick" | "time_s") {
                    let have: Vec<&str> = cols.iter().copied().filter(|c| !matches!(*c, "tick" | "time_s")).collect();
                    issues.push(issue(
                        text,
                        &format!("metrics[{k}]"),
                        format!("`{m}` is not a metric of {}; its metrics are: {}", fixed_base.name, have.join(", ")),
                    ));
                }
            }
            if !issues.is_empty() {
                return Err(issues);
            }
        }
        // The configurations: (stable rank, values).
        let points: Vec<(u64, Vec<String>)> = match exp.design {
            Design::FullFactorial => {
                let mut pts: Vec<Vec<usize>> = vec![vec![]];
                for f in &exp.factors {
                    pts = pts
                        .iter()
                        .flat_map(|p| (0..f.levels.len()).map(move |j| [p.clone(), vec![j]].concat()))
                        .collect();
                }
                let mut out = Vec::new();
                for p in pts {
                    let t: Vec<u64> = p.iter().map(|&j| j as u64).collect();
                    let Some(rank) = design::shell_rank(&t) else {
                        return Err(vec![issue(
                            text,
                            "factors",
                            "too many levels to number the runs in 64 bits".into(),
                        )]);
                    };
                    out.push((rank, p.iter().zip(&exp.factors).map(|(&j, f)| f.levels[j].text()).collect()));
                }
                out
            }
            Design::LatinHypercube { samples, seed } => {
                design::latin_hypercube(samples as usize, exp.factors.len(), seed)
                    .into_iter()
                    .enumerate()
                    .map(|(j, u)| (j as u64, sampled_values(&exp.factors, &u)))
                    .collect()
            }
            Design::Sobol { samples } => (0..samples)
                .map(|j| (j, sampled_values(&exp.factors, &design::sobol_point(j, exp.factors.len()))))
                .collect(),
        };
        let arms: Vec<Option<(usize, String)>> = match &exp.pair {
            None => vec![None],
            Some(p) => vec![Some((0, p.a.text())), Some((1, p.b.text()))],
        };
        let mut configs = Vec::new();
        for (rank, values) in &points {
            for arm in &arms {
                let mut sets: Vec<(String, String)> =
                    exp.factors.iter().map(|f| f.path.clone()).zip(values.iter().cloned()).collect();
                if let (Some((_, v)), Some(p)) = (arm, &exp.pair) {
                    sets.push((p.path.clone(), v.clone()));
                }
                // The linked fields, after the factors and the arm (errors name the factor).
                let mut linked_of: Vec<usize> = Vec::new();
                for (k, f) in exp.factors.iter().enumerate() {
                    let Some(j) = f.levels.iter().position(|l| l.text() == values[k]) else { continue };
                    for (p, vals) in &f.with {
                        sets.push((p.clone(), vals[j].text()));
                        linked_of.push(k);
                    }
                }
                let plain = sets.len() - linked_of.len();
                let s = fixed_base.with_sets(&sets).map_err(|(k, i)| {
                    let (field, message) = match k {
                        // One factor's value is wrong: name it, and its value.
                        Some(k) => {
                            let field = if k >= plain {
                                format!("factors[{}].with", linked_of[k - plain])
                            } else if k < exp.factors.len() {
                                format!("factors[{k}]")
                            } else {
                                "pair".to_string()
                            };
                            (field, format!("{}={}: {i}", sets[k].0, sets[k].1))
                        }
                        None => {
                            let what: Vec<String> = sets.iter().map(|(p, v)| format!("{p}={v}")).collect();
                            ("factors".to_string(), format!("the configuration {}: {i}", what.join(" ")))
                        }
                    };
                    vec![issue(text, &field, message)]
                })?;
                let mut overrides = fixed.clone();
                overrides.extend(sets);
                configs.push(Config {
                    rank: *rank,
                    values: values.clone(),
                    arm: arm.as_ref().map(|a| a.0),
                    scenario: s,
                    overrides,
                });
            }
        }
        // The runs, numbered by (configuration rank, replication), then the arm.
        let mut runs = Vec::new();
        for (ci, c) in configs.iter().enumerate() {
            for (rep, &seed) in seeds.iter().enumerate() {
                let base_index =
                    if exp.factors.is_empty() { Some(rep as u64) } else { design::shell_rank(&[c.rank, rep as u64]) };
                let index = match (base_index, c.arm) {
                    (Some(b), Some(arm)) => b.checked_mul(2).and_then(|x| x.checked_add(arm as u64)),
                    (b, None) => b,
                    (None, _) => None,
                };
                let Some(index) = index else {
                    return Err(vec![issue(text, "seeds", "too many runs to number in 64 bits".into())]);
                };
                runs.push(Run { index, config: ci, seed });
            }
        }
        runs.sort_by_key(|r| r.index);
        let design_id = match exp.design {
            Design::FullFactorial => json!("FullFactorial"),
            // A Latin hypercube of another size is another sample altogether.
            Design::LatinHypercube { samples, seed } => json!({"LatinHypercube": {"samples": samples, "seed": seed}}),
            Design::Sobol { .. } => json!("Sobol"),
        };
        let factor_specs: Vec<serde_json::Value> = exp
            .factors
            .iter()
            .map(|f| {
                let mut j = json!({"path": f.path, "range": f.range, "integer": f.integer});
                // Only where used, so an experiment without links keeps its fingerprint.
                if !f.with.is_empty() {
                    j["with"] = json!(f.with);
                }
                j
            })
            .collect();
        let pair = exp.pair.as_ref().map(|p| (p.path.clone(), [p.a.text(), p.b.text()]));
        let fingerprint = json!({
            "masim_version": env!("CARGO_PKG_VERSION"),
            "scenario": scn_file.file_name().map(|n| n.to_string_lossy().to_string()),
            "scenario_hash": fnv_hex(&bytes),
            "fixed": fixed,
            "factors": factor_specs,
            "design": design_id,
            "pair": pair,
            "metrics": exp.metrics,
            "from_tick": exp.from_tick,
            "keep": format!("{:?}", exp.keep),
        });
        Ok(Plan {
            name: fixed_base.name.clone(),
            scenario_file: scn_file,
            scenario_hash: fnv_hex(&bytes),
            factors: exp.factors.iter().map(|f| f.path.clone()).collect(),
            pair,
            configs,
            runs,
            seeds,
            metrics: exp.metrics.clone(),
            from_tick: exp.from_tick,
            keep: exp.keep,
            fingerprint,
            warnings,
        })
    }

    /// How many configurations (arms counted) the plan has.
    pub fn config_count(&self) -> usize {
        self.configs.len()
    }

    /// The parameter columns: the factors, then the pair's path.
    pub fn param_columns(&self) -> Vec<String> {
        let mut v = self.factors.clone();
        if let Some((p, _)) = &self.pair {
            v.push(p.clone());
        }
        v
    }

    /// A run's parameter values, as [`Plan::param_columns`].
    pub fn param_values(&self, run: &Run) -> Vec<String> {
        let c = &self.configs[run.config];
        let mut v = c.values.clone();
        if let (Some((_, arms)), Some(a)) = (&self.pair, c.arm) {
            v.push(arms[a].clone());
        }
        v
    }

    /// The run numbered `index`.
    pub fn run(&self, index: u64) -> Option<&Run> {
        self.runs.binary_search_by_key(&index, |r| r.index).ok().map(|k| &self.runs[k])
    }

    /// The plan as CSV (`--list-runs`): run, config, seed, then the parameters.
    pub fn list_csv(&self, keep: impl Fn(&Run) -> bool) -> String {
        let mut s = String::from("run,config,seed");
        for p in self.param_columns() {
            s.push(',');
            s.push_str(&output::csv_cell(&p));
        }
        s.push('\n');
        for r in self.runs.iter().filter(|r| keep(r)) {
            s.push_str(&format!("{},{},{}", r.index, self.configs[r.config].rank, r.seed));
            for v in self.param_values(r) {
                s.push(',');
                s.push_str(&output::csv_cell(&v));
            }
            s.push('\n');
        }
        s
    }
}

/// A sampled point's values: a range maps u ∈ [0, 1) linearly (whole numbers: each of
/// low..=high equally likely), levels pick the ⌊u·k⌋-th of k.
fn sampled_values(factors: &[Factor], u: &[f64]) -> Vec<String> {
    factors
        .iter()
        .zip(u)
        .map(|(f, &u)| match f.range {
            Some((lo, hi)) if f.integer => {
                let (lo, hi) = (lo.ceil(), hi.floor());
                output::num((lo + (u * (hi - lo + 1.0)).floor()).min(hi))
            }
            Some((lo, hi)) => output::num(lo + u * (hi - lo)),
            None => {
                let k = f.levels.len();
                f.levels[((u * k as f64) as usize).min(k - 1)].text()
            }
        })
        .collect()
}
