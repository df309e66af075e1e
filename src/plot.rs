//! `masim plot`: PNG and SVG figures of a run (its metrics over time, one figure per group
//! and unit) or of a sweep (each metric against each factor with 95 % intervals, and a
//! paired comparison's differences), drawn with plotters. Text is rendered with a font
//! embedded in the binary (Ubuntu Light, from egui's default fonts), so no system font
//! library is needed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;
use serde_json::Value;

use crate::experiment::stats;
use crate::sim::Agg;

/// Pixel size of every figure.
pub const SIZE: (u32, u32) = (960, 540);
/// Lines drawn in one figure at most (more columns of one unit go to further figures).
const MAX_LINES: usize = 6;

/// Why figures could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// The folder is not a run's or a sweep's.
    #[error("{0}")]
    NotResults(String),
    #[error("{0}")]
    Io(String),
}

/// One line of a figure: its name and its points (NaN leaves a gap).
#[derive(Clone, Debug)]
pub struct Line {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    /// 95 % interval at each point, drawn as error bars.
    pub bars: Vec<(f64, f64, f64)>,
}

/// A figure: title, axis labels, lines; x positions of categories when the x axis is
/// categorical.
#[derive(Clone, Debug)]
pub struct Figure {
    /// File stem (`world_m_per_s`): the figure is saved as STEM.png and STEM.svg.
    pub stem: String,
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub lines: Vec<Line>,
    /// Names of categories at x = 0, 1, 2, ... (empty for a numeric axis).
    pub categories: Vec<String>,
    /// A horizontal line at y = 0 (difference plots).
    pub zero_line: bool,
}

/// Registers the embedded font once.
fn font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, epaint_default_fonts::UBUNTU_LIGHT);
    });
}

fn slug(s: &str) -> String {
    let mut out: String =
        s.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect();
    while out.contains("__") {
        out = out.replace("__", "_");
    }
    out.trim_matches('_').to_string()
}

/// Parses CSV text (RFC 4180 quoting) into rows of cells.
pub fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut cell = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                cell.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (true, c) => cell.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut cell)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => cell.push(c),
        }
    }
    if !cell.is_empty() || !row.is_empty() {
        row.push(cell);
        rows.push(row);
    }
    rows
}

fn read(p: &Path) -> Result<String, PlotError> {
    std::fs::read_to_string(p).map_err(|e| PlotError::Io(format!("{}: {e}", p.display())))
}

/// What a metric column is: its name, unit, how a row summarises its ticks, and its group
/// (`core`, `world`, `layer`, `channel`), as summary.json's `columns` says.
#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    pub name: String,
    pub unit: String,
    pub agg: Agg,
    pub group: String,
}

/// Figures of metrics over time: one per group and y axis (unit; per tick for per-tick
/// counts, which are divided by the ticks each row covers, as the app plots them), at most
/// six lines each. `rows` are metrics.csv's rows as numbers in `columns`' order; `only`
/// limits the lines to some columns (the app's selection).
pub fn metric_figures(name: &str, columns: &[Column], rows: &[Vec<f64>], only: Option<&[String]>) -> Vec<Figure> {
    let idx = |n: &str| columns.iter().position(|c| c.name == n);
    let (Some(t), Some(tick)) = (idx("time_s"), idx("tick")) else { return Vec::new() };
    // The ticks each row covers.
    let spans: Vec<f64> = rows
        .iter()
        .enumerate()
        .map(|(k, r)| (r[tick] - if k == 0 { 0.0 } else { rows[k - 1][tick] }).max(1.0))
        .collect();
    let mut groups: Vec<((String, String), Vec<usize>)> = Vec::new();
    for (i, c) in columns.iter().enumerate() {
        if matches!(c.name.as_str(), "tick" | "time_s") || only.is_some_and(|o| !o.contains(&c.name)) {
            continue;
        }
        let unit = if c.unit.is_empty() { "value" } else { c.unit.as_str() };
        let axis = if c.agg == Agg::Sum { format!("{unit} per tick") } else { unit.to_string() };
        match groups.iter_mut().find(|(k, _)| k.0 == c.group && k.1 == axis) {
            Some((_, v)) => v.push(i),
            None => groups.push(((c.group.clone(), axis), vec![i])),
        }
    }
    let mut figs = Vec::new();
    for ((group, axis), cols) in groups {
        let chunks: Vec<&[usize]> = cols.chunks(MAX_LINES).collect();
        for (k, chunk) in chunks.iter().enumerate() {
            let lines = chunk
                .iter()
                .map(|&c| {
                    let per = columns[c].agg == Agg::Sum;
                    Line {
                        name: columns[c].name.clone(),
                        points: rows
                            .iter()
                            .zip(&spans)
                            .map(|(r, span)| {
                                (r[t], r.get(c).copied().unwrap_or(f64::NAN) / if per { *span } else { 1.0 })
                            })
                            .collect(),
                        bars: Vec::new(),
                    }
                })
                .collect();
            let part = if chunks.len() > 1 { format!(" ({}/{})", k + 1, chunks.len()) } else { String::new() };
            let what = match group.as_str() {
                "core" => "agents",
                "channel" => "the channel",
                "layer" => "security",
                _ => "the world",
            };
            figs.push(Figure {
                stem: format!(
                    "{}_{}{}",
                    slug(&group),
                    slug(&axis),
                    if chunks.len() > 1 { format!("_{}", k + 1) } else { String::new() }
                ),
                title: format!("{name}: {what}, {axis}{part}"),
                x_label: "simulated time (s)".into(),
                y_label: axis.clone(),
                lines,
                categories: Vec::new(),
                zero_line: false,
            });
        }
    }
    figs
}

/// The figures of a run folder (metrics.csv and summary.json): [`metric_figures`] of all
/// its columns.
pub fn run_figures(dir: &Path) -> Result<Vec<Figure>, PlotError> {
    let rows = parse_csv(&read(&dir.join("metrics.csv"))?);
    let Some((header, body)) = rows.split_first() else {
        return Err(PlotError::NotResults(format!("{}: metrics.csv is empty", dir.join("metrics.csv").display())));
    };
    let summary: Value = serde_json::from_str(&read(&dir.join("summary.json"))?)
        .map_err(|e| PlotError::NotResults(format!("{}: {e}", dir.join("summary.json").display())))?;
    let name = summary["scenario"].as_str().unwrap_or("run").to_string();
    if !header.iter().any(|h| h == "time_s") || !header.iter().any(|h| h == "tick") {
        return Err(PlotError::NotResults("metrics.csv has no tick and time_s columns".into()));
    }
    let specs = summary["columns"].as_array().cloned().unwrap_or_default();
    let columns: Vec<Column> = header
        .iter()
        .map(|h| {
            let spec = specs.iter().find(|s| s["name"] == h.as_str());
            let field = |k: &str, d: &str| spec.and_then(|s| s[k].as_str()).unwrap_or(d).to_string();
            let agg = match field("agg", "last").as_str() {
                "sum" => Agg::Sum,
                "mean" => Agg::WeightedMean,
                _ => Agg::Last,
            };
            Column { name: h.clone(), unit: field("unit", ""), agg, group: field("group", "world") }
        })
        .collect();
    let nums: Vec<Vec<f64>> =
        body.iter().map(|r| r.iter().map(|x| x.parse::<f64>().unwrap_or(f64::NAN)).collect()).collect();
    Ok(metric_figures(&name, &columns, &nums, None))
}

/// The figures of a sweep folder (sweep.csv, experiment.json, pairs.csv): for each factor
/// and each summarised metric (the `mean_` columns), the mean over the runs at each level
/// with its 95 % Student-t interval, one line per arm of a pair; and for a pair, each
/// metric's paired difference (b − a) with its interval, per configuration of the factors.
pub fn sweep_figures(dir: &Path) -> Result<Vec<Figure>, PlotError> {
    let rows = parse_csv(&read(&dir.join("sweep.csv"))?);
    let meta: Value = serde_json::from_str(&read(&dir.join("experiment.json"))?)
        .map_err(|e| PlotError::NotResults(format!("{}: {e}", dir.join("experiment.json").display())))?;
    let Some((header, body)) = rows.split_first() else {
        return Err(PlotError::NotResults("sweep.csv is empty".into()));
    };
    let params: Vec<String> = meta["params"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    let pair: Option<(String, [String; 2])> = serde_json::from_value(meta["pair"].clone()).ok().flatten();
    let name = body
        .first()
        .and_then(|r| header.iter().position(|h| h == "scenario").map(|i| r[i].clone()))
        .unwrap_or_default();
    let col = |n: &str| header.iter().position(|h| h == n);
    let metrics: Vec<usize> =
        header.iter().enumerate().filter(|(_, h)| h.starts_with("mean_")).map(|(i, _)| i).collect();
    let factors: Vec<&String> = params.iter().filter(|p| pair.as_ref().is_none_or(|(pp, _)| pp != *p)).collect();
    let num = |s: &str| s.parse::<f64>().unwrap_or(f64::NAN);
    let shown = |v: &str| v.trim_matches('\'').to_string();
    let mut figs = Vec::new();
    for f in &factors {
        let Some(fc) = col(f) else { continue };
        let mut levels: Vec<String> = Vec::new();
        for r in body {
            if !levels.contains(&r[fc]) {
                levels.push(r[fc].clone());
            }
        }
        let numeric = levels.iter().all(|l| l.parse::<f64>().is_ok());
        if numeric {
            levels.sort_by(|a, b| num(a).total_cmp(&num(b)));
        }
        let arms: Vec<Option<String>> = match &pair {
            Some((p, a)) => a.iter().map(|x| Some(format!("{p}={x}"))).collect(),
            None => vec![None],
        };
        for &m in &metrics {
            let mut lines = Vec::new();
            for (ai, arm) in arms.iter().enumerate() {
                let (mut bars, mut points) = (Vec::new(), Vec::new());
                for (li, l) in levels.iter().enumerate() {
                    let xs: Vec<f64> = body
                        .iter()
                        .filter(|r| r[fc] == *l)
                        .filter(|r| {
                            pair.as_ref().is_none_or(|(p, a)| col(p).is_some_and(|pc| shown(&r[pc]) == shown(&a[ai])))
                        })
                        .map(|r| num(&r[m]))
                        .collect();
                    let iv = stats::interval(&xs);
                    let x = if numeric { num(l) } else { li as f64 };
                    let (lo, hi) = if iv.low.is_finite() { (iv.low, iv.high) } else { (iv.mean, iv.mean) };
                    bars.push((x, lo, hi));
                    points.push((x, iv.mean));
                }
                lines.push(Line { name: arm.clone().unwrap_or_else(|| "mean, 95 % interval".into()), points, bars });
            }
            let metric = header[m].strip_prefix("mean_").unwrap_or(&header[m]).to_string();
            figs.push(Figure {
                stem: format!("{}_vs_{}", slug(&header[m]), slug(f)),
                title: format!("{name}: mean {metric} against {f}"),
                x_label: (*f).clone(),
                y_label: format!("mean {metric}"),
                lines,
                categories: if numeric { Vec::new() } else { levels.iter().map(|l| shown(l)).collect() },
                zero_line: false,
            });
        }
    }
    if let Some((p, arms)) = &pair
        && let Ok(text) = std::fs::read_to_string(dir.join("pairs.csv"))
    {
        let prow = parse_csv(&text);
        if let Some((ph, pbody)) = prow.split_first() {
            let pc = |n: &str| ph.iter().position(|h| h == n);
            if let (Some(mc), Some(dc), Some(lc), Some(hc)) =
                (pc("metric"), pc("diff_mean"), pc("diff_ci95_low"), pc("diff_ci95_high"))
            {
                let nf = mc;
                let mut by_metric: BTreeMap<String, Vec<(String, f64, f64, f64)>> = BTreeMap::new();
                for r in pbody {
                    if !r[mc].starts_with("mean_") {
                        continue;
                    }
                    let config = if nf == 0 {
                        "all".to_string()
                    } else {
                        (0..nf).map(|i| format!("{}={}", ph[i], shown(&r[i]))).collect::<Vec<_>>().join(" ")
                    };
                    by_metric.entry(r[mc].clone()).or_default().push((config, num(&r[dc]), num(&r[lc]), num(&r[hc])));
                }
                for (metric, pts) in by_metric {
                    let m = metric.strip_prefix("mean_").unwrap_or(&metric);
                    figs.push(Figure {
                        stem: format!("pair_{}", slug(&metric)),
                        title: format!(
                            "{name}: {p} {} − {}, mean {m} (paired, 95 % interval)",
                            shown(&arms[1]),
                            shown(&arms[0])
                        ),
                        x_label: if nf == 0 { String::new() } else { "configuration".into() },
                        y_label: format!("difference in mean {m}"),
                        lines: vec![Line {
                            name: format!("{} − {}", shown(&arms[1]), shown(&arms[0])),
                            points: pts.iter().enumerate().map(|(i, q)| (i as f64, q.1)).collect(),
                            bars: pts
                                .iter()
                                .enumerate()
                                .map(|(i, q)| {
                                    (
                                        i as f64,
                                        if q.2.is_finite() { q.2 } else { q.1 },
                                        if q.3.is_finite() { q.3 } else { q.1 },
                                    )
                                })
                                .collect(),
                        }],
                        categories: pts.iter().map(|q| q.0.clone()).collect(),
                        zero_line: true,
                    });
                }
            }
        }
    }
    Ok(figs)
}

/// The y range of a figure: its data (and its intervals), from 0 when the data come near
/// it, with a little room.
fn y_range(fig: &Figure) -> (f64, f64) {
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for l in &fig.lines {
        for &(_, y) in &l.points {
            if y.is_finite() {
                lo = lo.min(y);
                hi = hi.max(y);
            }
        }
        for &(_, a, b) in &l.bars {
            for y in [a, b] {
                if y.is_finite() {
                    lo = lo.min(y);
                    hi = hi.max(y);
                }
            }
        }
    }
    if fig.zero_line {
        lo = lo.min(0.0);
        hi = hi.max(0.0);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if lo >= 0.0 && lo < 0.25 * hi {
        lo = 0.0;
    }
    let pad = ((hi - lo) * 0.06).max(hi.abs().max(1e-9) * 1e-3);
    (if lo == 0.0 { 0.0 } else { lo - pad }, hi + pad)
}

fn x_range(fig: &Figure) -> (f64, f64) {
    if !fig.categories.is_empty() {
        return (-0.5, fig.categories.len() as f64 - 0.5);
    }
    let xs = fig.lines.iter().flat_map(|l| l.points.iter().map(|p| p.0)).filter(|x| x.is_finite());
    let (lo, hi) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| (a.min(x), b.max(x)));
    if !lo.is_finite() {
        (0.0, 1.0)
    } else if hi > lo {
        (lo, hi)
    } else {
        (lo - 0.5, hi + 0.5)
    }
}

/// An axis label: at most four significant decimals, no trailing zeros, never "-0".
fn tick_label(v: f64) -> String {
    if v.abs() < 1e-12 {
        return "0".into();
    }
    if v.abs() >= 1e5 || v.abs() < 1e-3 {
        return format!("{v:.2e}");
    }
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

/// The corner of the plot area whose box (a third of the width, a quarter of the height)
/// the fewest points and interval ends fall in, for the key: it never hides a line when a
/// corner is free.
fn legend_corner(fig: &Figure, (x0, x1): (f64, f64), (y0, y1): (f64, f64)) -> SeriesLabelPosition {
    let (w, h) = (x1 - x0, y1 - y0);
    let corners = [
        (SeriesLabelPosition::UpperRight, true, true),
        (SeriesLabelPosition::UpperLeft, false, true),
        (SeriesLabelPosition::LowerRight, true, false),
        (SeriesLabelPosition::LowerLeft, false, false),
    ];
    let inside = |x: f64, y: f64, right: bool, top: bool| {
        let in_x = if right { x >= x1 - w / 3.0 } else { x <= x0 + w / 3.0 };
        let in_y = if top { y >= y1 - h / 4.0 } else { y <= y0 + h / 4.0 };
        in_x && in_y
    };
    let count = |right: bool, top: bool| {
        fig.lines
            .iter()
            .flat_map(|l| l.points.iter().copied().chain(l.bars.iter().flat_map(|b| [(b.0, b.1), (b.0, b.2)])))
            .filter(|&(x, y)| x.is_finite() && y.is_finite() && inside(x, y, right, top))
            .count()
    };
    corners.into_iter().min_by_key(|&(_, r, t)| count(r, t)).map_or(SeriesLabelPosition::UpperRight, |c| c.0)
}

/// Draws a figure on any plotters backend.
fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, fig: &Figure) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let e = |x: DrawingAreaErrorKind<DB::ErrorType>| x.to_string();
    root.fill(&WHITE).map_err(e)?;
    let (x0, x1) = x_range(fig);
    let (y0, y1) = y_range(fig);
    let mut chart = ChartBuilder::on(root)
        .caption(&fig.title, ("sans-serif", 22))
        .margin(14)
        .margin_right(34)
        .x_label_area_size(48)
        .y_label_area_size(72)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(e)?;
    let cats = fig.categories.clone();
    let mut mesh = chart.configure_mesh();
    mesh.x_desc(fig.x_label.as_str())
        .y_desc(fig.y_label.as_str())
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 17));
    let fmt_cat = move |x: &f64| {
        let k = x.round();
        if (x - k).abs() < 1e-6 && k >= 0.0 { cats.get(k as usize).cloned().unwrap_or_default() } else { String::new() }
    };
    if !fig.categories.is_empty() {
        mesh.x_labels(fig.categories.len() + 1).x_label_formatter(&fmt_cat);
    }
    let fmt_num = |v: &f64| tick_label(*v);
    mesh.y_label_formatter(&fmt_num);
    if fig.categories.is_empty() {
        mesh.x_label_formatter(&fmt_num);
    }
    mesh.draw().map_err(e)?;
    if fig.zero_line {
        chart.draw_series(LineSeries::new([(x0, 0.0), (x1, 0.0)], BLACK.mix(0.5))).map_err(e)?;
    }
    for (k, l) in fig.lines.iter().enumerate() {
        let color = Palette99::pick(k).to_rgba();
        // Gaps at NaN: one series per finite run of points.
        let mut run: Vec<(f64, f64)> = Vec::new();
        let mut labelled = false;
        let mut flush = |run: &mut Vec<(f64, f64)>, chart: &mut ChartContext<'_, DB, _>| -> Result<(), String> {
            if run.is_empty() {
                return Ok(());
            }
            let pts = std::mem::take(run);
            let single = pts.len() == 1 || !l.bars.is_empty();
            let s = chart.draw_series(LineSeries::new(pts.clone(), color.stroke_width(2))).map_err(e)?;
            if !labelled {
                labelled = true;
                s.label(l.name.clone())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 22, y)], color.stroke_width(2)));
            }
            if single {
                chart.draw_series(pts.iter().map(|&p| Circle::new(p, 4, color.filled()))).map_err(e)?;
            }
            Ok(())
        };
        for &p in &l.points {
            if p.0.is_finite() && p.1.is_finite() {
                run.push(p);
            } else {
                flush(&mut run, &mut chart)?;
            }
        }
        flush(&mut run, &mut chart)?;
        if !l.bars.is_empty() {
            chart
                .draw_series(
                    l.bars
                        .iter()
                        .filter(|b| b.1.is_finite() && b.2.is_finite())
                        .map(|&(x, a, b)| ErrorBar::new_vertical(x, a, (a + b) / 2.0, b, color.stroke_width(2), 10)),
                )
                .map_err(e)?;
        }
    }
    chart
        .configure_series_labels()
        .position(legend_corner(fig, (x0, x1), (y0, y1)))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .label_font(("sans-serif", 15))
        .draw()
        .map_err(e)?;
    root.present().map_err(e)?;
    Ok(())
}

/// A figure as SVG text.
pub fn svg(fig: &Figure) -> Result<String, String> {
    font();
    let mut s = String::new();
    {
        let root = SVGBackend::with_string(&mut s, SIZE).into_drawing_area();
        draw(&root, fig)?;
    }
    Ok(s)
}

/// A figure as PNG bytes.
pub fn png(fig: &Figure) -> Result<Vec<u8>, String> {
    font();
    let (w, h) = SIZE;
    let mut rgb = vec![0u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, SIZE).into_drawing_area();
        draw(&root, fig)?;
    }
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut wr = enc.write_header().map_err(|e| e.to_string())?;
        wr.write_image_data(&rgb).map_err(|e| e.to_string())?;
    }
    Ok(out)
}

/// Writes figures into `out` as STEM.png and STEM.svg, atomically; returns the files.
pub fn save(figs: &[Figure], out: &Path) -> Result<Vec<PathBuf>, PlotError> {
    std::fs::create_dir_all(out).map_err(|e| PlotError::Io(format!("{}: cannot create: {e}", out.display())))?;
    let mut written = Vec::new();
    for f in figs {
        let svg = svg(f).map_err(|e| PlotError::Io(format!("{}: {e}", f.stem)))?;
        let png = png(f).map_err(|e| PlotError::Io(format!("{}: {e}", f.stem)))?;
        for (ext, bytes) in [("svg", svg.as_bytes()), ("png", png.as_slice())] {
            let name = format!("{}.{ext}", f.stem);
            crate::runner::output::write_atomic(out, &name, bytes)
                .map_err(|e| PlotError::Io(format!("{}: {e}", out.join(&name).display())))?;
            written.push(out.join(name));
        }
    }
    Ok(written)
}

/// Draws every figure of the run or sweep in `dir` into `out` (default `dir/plots`) as
/// PNG and SVG, written atomically; returns the files written.
pub fn plot_dir(dir: &Path, out: Option<&Path>) -> Result<Vec<PathBuf>, PlotError> {
    let figs = if dir.join("sweep.csv").is_file() {
        sweep_figures(dir)?
    } else if dir.join("metrics.csv").is_file() {
        run_figures(dir)?
    } else {
        return Err(PlotError::NotResults(format!(
            "{}: holds neither a run (metrics.csv) nor a sweep (sweep.csv)",
            dir.display()
        )));
    };
    let out = out.map_or_else(|| dir.join("plots"), Path::to_path_buf);
    save(&figs, &out)
}
