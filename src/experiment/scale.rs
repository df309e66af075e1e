//! The seed's scale table: what communication, latency, drops, the world's quality and the
//! simulator's own time per tick do as the number of agents grows, under each channel
//! topology and each coordination strategy.
//!
//! A scale study is an ordinary experiment (its plan, journal and tables are a sweep's, so
//! it resumes, shards and merges like one); this module adds the table that normalises each
//! configuration per agent and per tick. Each world ships one such experiment
//! (`scenarios/experiments/scale_<world>.ron`), built into the binary with its scenario so
//! that `masim scale WORLD` runs from any folder.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::Plan;
use super::sweep::Row;
use crate::runner::output;
use crate::worlds::WorldSpec;

/// A world's built-in scale experiment: its file and the files it reads, by their paths
/// under `scenarios/`.
pub struct Builtin {
    pub world: &'static str,
    /// (path under scenarios/, text): the experiment first.
    pub files: &'static [(&'static str, &'static str)],
}

/// One line per world.
pub const BUILTIN: &[Builtin] = &[
    Builtin {
        world: "traffic",
        files: &[
            ("experiments/scale_traffic.ron", include_str!("../../scenarios/experiments/scale_traffic.ron")),
            ("traffic_ring.ron", include_str!("../../scenarios/traffic_ring.ron")),
        ],
    },
    Builtin {
        world: "power",
        files: &[
            ("experiments/scale_power.ron", include_str!("../../scenarios/experiments/scale_power.ron")),
            ("power_microgrid_ev.ron", include_str!("../../scenarios/power_microgrid_ev.ron")),
        ],
    },
    Builtin {
        world: "warehouse",
        files: &[
            ("experiments/scale_warehouse.ron", include_str!("../../scenarios/experiments/scale_warehouse.ron")),
            ("warehouse_kiva.ron", include_str!("../../scenarios/warehouse_kiva.ron")),
        ],
    },
];

/// The built-in experiment of `world`.
pub fn builtin(world: &str) -> Option<&'static Builtin> {
    BUILTIN.iter().find(|b| b.world == world)
}

/// Writes a built-in experiment and its scenario under `dir/input/` (the study's folder
/// keeps what made it) and returns the experiment's path. Files already there with the
/// same text are left alone; different text is refused (an older build's study).
pub fn materialise(b: &Builtin, dir: &Path) -> Result<PathBuf, String> {
    let root = dir.join("input");
    for (rel, text) in b.files {
        let p = root.join(rel);
        if let Ok(old) = std::fs::read_to_string(&p) {
            if old == *text {
                continue;
            }
            return Err(format!(
                "{}: differs from this build's {rel}; another build made this study (use another --out, or --force)",
                p.display()
            ));
        }
        let parent = p.parent().unwrap_or(&root);
        std::fs::create_dir_all(parent).map_err(|e| format!("{}: cannot create: {e}", parent.display()))?;
        let name = p.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        output::write_atomic(parent, &name, text.as_bytes()).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    Ok(root.join(b.files[0].0))
}

/// One configuration of the table, its seeds averaged.
#[derive(Clone, Debug, PartialEq)]
pub struct ScaleRow {
    /// The configuration's stable number (sweep.csv's `config`).
    pub config: u64,
    /// Agents at start (controllers, standbys and all), as summary.json counts them.
    pub agents: u64,
    pub topology: String,
    pub coordination: String,
    pub seeds: usize,
    pub ticks: u64,
    /// Messages sent per agent per tick.
    pub msgs: f64,
    /// Bytes sent (relays included) per agent per tick.
    pub bytes: f64,
    /// Copies delivered per agent per tick.
    pub delivered: f64,
    /// Mean delivery latency, ticks.
    pub latency: f64,
    /// Share of copies lost, refused for bandwidth or out of reach.
    pub drop_share: f64,
    /// The world's quality metric, its mean over the window, and whether more is better.
    pub quality_metric: String,
    pub quality: f64,
    pub higher_is_better: bool,
    /// Wall time per tick, ms (the one column that depends on the machine).
    pub wall_ms_per_tick: f64,
}

impl ScaleRow {
    /// Wall time per agent per tick, µs.
    pub fn wall_us_per_agent(&self) -> f64 {
        1000.0 * self.wall_ms_per_tick / self.agents.max(1) as f64
    }
}

/// The distinct values of `key` over `rows`, in the order they first appear.
fn distinct<'a>(rows: &'a [ScaleRow], key: impl Fn(&'a ScaleRow) -> &'a str) -> Vec<&'a str> {
    let mut v: Vec<&str> = Vec::new();
    for r in rows {
        if !v.contains(&key(r)) {
            v.push(key(r));
        }
    }
    v
}

/// A summary cell of a row as a number (NaN when absent).
fn cell(r: &Row, name: &str) -> f64 {
    r.cells.iter().find(|(c, _)| c == name).and_then(|(_, v)| v.parse().ok()).unwrap_or(f64::NAN)
}

fn mean(v: &[f64]) -> f64 {
    let v: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() { f64::NAN } else { v.iter().sum::<f64>() / v.len() as f64 }
}

/// The table of `plan` from the journal's `rows` (configurations without a finished run are
/// left out), in plan order.
pub fn table(plan: &Plan, rows: &[Row]) -> Vec<ScaleRow> {
    let mut by_config: BTreeMap<usize, Vec<&Row>> = BTreeMap::new();
    for r in rows {
        if let Some(run) = plan.run(r.run) {
            by_config.entry(run.config).or_default().push(r);
        }
    }
    let mut out = Vec::new();
    for (ci, rs) in by_config {
        let c = &plan.configs[ci];
        let s = &c.scenario;
        let n = s.agent_count().max(1) as f64;
        // The mean over the configuration's seeds of `f`.
        let avg = |f: &dyn Fn(&Row) -> f64| mean(&rs.iter().map(|r| f(r)).collect::<Vec<_>>());
        let per = |name: &str| avg(&|r| cell(r, name) / n);
        let (q, higher) = s.world.quality_metric();
        let drop_share = avg(&|r| {
            let dropped = cell(r, "total_msgs_dropped_loss")
                + cell(r, "total_msgs_dropped_bandwidth")
                + cell(r, "total_msgs_dropped_range");
            let all = dropped + cell(r, "total_msgs_delivered");
            if all > 0.0 { dropped / all } else { 0.0 }
        });
        let quality = format!("mean_{q}");
        out.push(ScaleRow {
            config: c.rank,
            agents: s.agent_count(),
            topology: format!("{:?}", s.channel.topology),
            coordination: format!("{:?}", s.coordination),
            seeds: rs.len(),
            ticks: rs[0].ticks,
            msgs: per("mean_msgs_sent"),
            bytes: per("mean_bytes_sent"),
            delivered: per("mean_msgs_delivered"),
            latency: avg(&|r| cell(r, "mean_mean_latency_ticks")),
            drop_share,
            quality_metric: q.to_string(),
            quality: avg(&|r| cell(r, &quality)),
            higher_is_better: higher,
            wall_ms_per_tick: avg(&|r| 1000.0 * r.wall_s / r.ticks.max(1) as f64),
        });
    }
    out
}

/// scale.csv: one row per configuration.
pub fn csv(rows: &[ScaleRow]) -> String {
    let mut s = String::from(
        "config,agents,topology,coordination,seeds,ticks,msgs_per_agent_tick,bytes_per_agent_tick,\
         deliveries_per_agent_tick,mean_latency_ticks,drop_share,quality_metric,quality,\
         wall_ms_per_tick,wall_us_per_agent_tick\n",
    );
    for r in rows {
        let cells = [
            r.config.to_string(),
            r.agents.to_string(),
            r.topology.clone(),
            r.coordination.clone(),
            r.seeds.to_string(),
            r.ticks.to_string(),
            output::num(r.msgs),
            output::num(r.bytes),
            output::num(r.delivered),
            output::num(r.latency),
            output::num(r.drop_share),
            r.quality_metric.clone(),
            output::num(r.quality),
            format!("{:.4}", r.wall_ms_per_tick),
            format!("{:.4}", r.wall_us_per_agent()),
        ];
        s.push_str(&cells.iter().map(|c| output::csv_cell(c)).collect::<Vec<_>>().join(","));
        s.push('\n');
    }
    s
}

/// A number for a table read by people: three significant digits, no exponent below 10⁶.
fn short(x: f64) -> String {
    if !x.is_finite() {
        return "–".into();
    }
    let a = x.abs();
    if a == 0.0 {
        "0".into()
    } else if a >= 1e6 {
        format!("{x:.2e}")
    } else if a >= 100.0 {
        format!("{x:.0}")
    } else if a >= 10.0 {
        format!("{x:.1}")
    } else if a >= 0.01 {
        format!("{x:.3}")
    } else {
        format!("{x:.2e}")
    }
}

/// scale.md: the table as Markdown, one block per coordination strategy, for docs and talks.
pub fn markdown(title: &str, rows: &[ScaleRow]) -> String {
    let mut s = format!("# Scale table: {title}\n\n");
    let Some(first) = rows.first() else {
        return s + "No finished runs yet.\n";
    };
    let better = if first.higher_is_better { "higher is better" } else { "lower is better" };
    s.push_str(&format!(
        "Per agent and per tick, means over the summary window; quality is `{}` ({better}); wall time is this machine's.\n\n",
        first.quality_metric
    ));
    for c in distinct(rows, |r| &r.coordination) {
        s.push_str(&format!("## coordination {c}\n\n"));
        s.push_str(
            "| agents | topology | msgs/agent/tick | bytes/agent/tick | latency (ticks) | dropped | quality | ms/tick | µs/agent/tick |\n",
        );
        s.push_str("|---:|---|---:|---:|---:|---:|---:|---:|---:|\n");
        let mut rs: Vec<&ScaleRow> = rows.iter().filter(|r| r.coordination == c).collect();
        rs.sort_by(|a, b| a.agents.cmp(&b.agents).then(a.topology.cmp(&b.topology)));
        for r in rs {
            s.push_str(&format!(
                "| {} | {} | {} | {} | {} | {:.1} % | {} | {} | {} |\n",
                r.agents,
                r.topology,
                short(r.msgs),
                short(r.bytes),
                short(r.latency),
                100.0 * r.drop_share,
                short(r.quality),
                short(r.wall_ms_per_tick),
                short(r.wall_us_per_agent()),
            ));
        }
        s.push('\n');
    }
    s
}

/// The runs of `plan` whose configuration has at most `max_agents` agents.
pub fn runs_up_to(plan: &Plan, max_agents: u64) -> std::collections::BTreeSet<u64> {
    plan.runs.iter().filter(|r| plan.configs[r.config].scenario.agent_count() <= max_agents).map(|r| r.index).collect()
}

/// Writes scale.csv and scale.md into `dir` (atomically) from its journal, and the table's
/// figures (PNG and SVG) into `dir/plots/`.
pub fn write(dir: &Path, plan: &Plan, rows: &[Row]) -> std::io::Result<Vec<ScaleRow>> {
    let t = table(plan, rows);
    output::write_atomic(dir, "scale.csv", csv(&t).as_bytes())?;
    output::write_atomic(dir, "scale.md", markdown(&plan.name, &t).as_bytes())?;
    crate::plot::save(&figures(&plan.name, &t), &dir.join("plots"))
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(t)
}

/// The table as figures: for each topology, one figure per measure (messages, bytes, quality,
/// wall time per agent) against the agent count, one line per coordination strategy. The x
/// axis is categorical (one position per agent count measured, 10 to 10⁵ apart), so sizes a
/// decade apart sit evenly.
pub fn figures(name: &str, rows: &[ScaleRow]) -> Vec<crate::plot::Figure> {
    use crate::plot::{Figure, Line};
    let mut sizes: Vec<u64> = rows.iter().map(|r| r.agents).collect();
    sizes.sort_unstable();
    sizes.dedup();
    let tops = distinct(rows, |r| &r.topology);
    let coords = distinct(rows, |r| &r.coordination);
    let quality = rows.first().map_or(String::new(), |r| r.quality_metric.clone());
    type Measure = (&'static str, String, fn(&ScaleRow) -> f64);
    let measures: [Measure; 4] = [
        ("msgs", "messages sent per agent per tick".into(), |r| r.msgs),
        ("bytes", "bytes per agent per tick".into(), |r| r.bytes),
        ("quality", quality.clone(), |r| r.quality),
        ("wall", "wall time per agent per tick (µs)".into(), ScaleRow::wall_us_per_agent),
    ];
    let mut figs = Vec::new();
    for t in &tops {
        for (stem, label, f) in &measures {
            let lines = coords
                .iter()
                .map(|c| Line {
                    name: c.trim_matches('\'').to_string(),
                    points: sizes
                        .iter()
                        .enumerate()
                        .map(|(k, n)| {
                            let y = rows
                                .iter()
                                .find(|r| r.agents == *n && r.topology == *t && r.coordination == *c)
                                .map_or(f64::NAN, f);
                            (k as f64, y)
                        })
                        .collect(),
                    bars: Vec::new(),
                })
                .collect();
            figs.push(Figure {
                stem: format!("scale_{stem}_{t}"),
                title: format!("{name}: {label}, topology {t}"),
                x_label: "agents".into(),
                y_label: label.clone(),
                lines,
                categories: sizes.iter().map(u64::to_string).collect(),
                zero_line: false,
            });
        }
    }
    figs
}
