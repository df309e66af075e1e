//! Scenario files: the RON schema shared by all worlds, loading that never panics and
//! names file, line:column and field on every error, validation of ranges and
//! combinations, and `--set path=value` overrides validated exactly like the file.
//! A scenario is generic over its world section (`Scenario<W>`); the scenario files read
//! by the CLI and the app carry a [`WorldConfig`], the registry of worlds.

pub mod locate;
mod validate;

pub use crate::worlds::WorldConfig;

use std::path::Path;

use ron::extensions::Extensions;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::sim::timeline::{self, Timed};
use crate::sim::{AttackSpec, ChannelConfig, Coordination, FaultSpec, SecurityConfig};
use crate::worlds::{Fixed, WorldSpec};

/// The built-in default scenario (the Sugiyama ring), so the app works from any folder.
pub const DEFAULT_SCENARIO: &str = include_str!("../../scenarios/traffic_ring.ron");

/// A scenario: everything a run needs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario<W = WorldConfig> {
    /// Short name (used in outputs).
    pub name: String,
    /// What it shows, in a line.
    #[serde(default)]
    pub description: String,
    /// What to watch, with the numbers a run shows: the teaching notes the desktop app
    /// shows when the scenario opens (docs/catalog.md repeats them word for word).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub notes: String,
    /// How the desktop app first shows the scenario (which overlays are on); runs ignore it.
    #[serde(default, skip_serializing_if = "ViewConfig::is_default")]
    pub view: ViewConfig,
    /// Master seed of every random stream.
    #[serde(default)]
    pub seed: u64,
    /// Run length in ticks.
    pub ticks: u64,
    /// Simulated seconds per tick.
    pub dt: f64,
    /// Coordination strategy.
    #[serde(default)]
    pub coordination: Coordination,
    /// Communication channel.
    #[serde(default)]
    pub channel: ChannelConfig,
    /// Fault timeline.
    #[serde(default)]
    pub faults: Vec<FaultSpec>,
    /// Attack timeline: adversaries and what they do (docs/security.md). Always written
    /// out, so `--set attacks=[...]` works on any scenario.
    #[serde(default)]
    pub attacks: Vec<AttackSpec>,
    /// Which defences are on; every field can change while running.
    #[serde(default)]
    pub security: SecurityConfig,
    /// Parameter changes at given ticks (also what the desktop app records).
    #[serde(default)]
    pub edits: Vec<Edit>,
    /// What to record.
    #[serde(default)]
    pub output: OutputConfig,
    /// The world and its settings.
    pub world: W,
}

/// A parameter change at a tick: `(at: 600, set: "channel.loss", value: "0.3")`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Edit {
    /// Tick at which it takes effect.
    pub at: u64,
    /// Dotted path of the field, as for `--set`.
    pub set: String,
    /// New value, written as for `--set`.
    pub value: String,
}

/// How the desktop app first shows a scenario: each overlay on or off (`None`: the app
/// decides, e.g. messages on only where agents coordinate). Runs ignore it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ViewConfig {
    /// Messages in flight and dropped copies.
    pub messages: Option<bool>,
    /// The congestion heat map.
    pub heat_map: Option<bool>,
    /// Radio range circles.
    pub radio_ranges: Option<bool>,
    /// Partitions and blackouts from faults.
    pub fault_regions: Option<bool>,
    /// The selected agent's route.
    pub route: Option<bool>,
    /// The on-screen legend.
    pub legend: Option<bool>,
    /// The teaching notes, open when the scenario opens.
    pub notes: Option<bool>,
}

impl ViewConfig {
    /// Whether nothing is set.
    pub fn is_default(&self) -> bool {
        *self == ViewConfig::default()
    }
}

/// Output settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutputConfig {
    /// Ticks between rows of metrics.csv.
    pub record_every: u64,
    /// Ticks between snapshots in agents.csv (with --trace).
    pub trace_every: u64,
    /// Most events kept in events.jsonl (the rest are counted in summary.json).
    pub max_events: usize,
}

impl Default for OutputConfig {
    fn default() -> Self {
        OutputConfig { record_every: 1, trace_every: 10, max_events: 100_000 }
    }
}

/// One problem with a scenario, with where it is.
#[derive(Clone, Debug, PartialEq)]
pub struct Issue {
    /// 1-based line and column in the source, if known.
    pub at: Option<(usize, usize)>,
    /// Dotted field path (empty when the problem is not in one field).
    pub field: String,
    /// What is wrong and what was expected.
    pub message: String,
}

impl std::fmt::Display for Issue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some((l, c)) = self.at {
            write!(f, "{l}:{c}: ")?;
        }
        if self.field.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "field `{}`: {}", self.field, self.message)
        }
    }
}

/// A scenario that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("{origin}: {message}")]
    Io { origin: String, message: String },
    /// Parse or validation problems.
    #[error("{}", render_issues(origin, issues))]
    Invalid { origin: String, issues: Vec<Issue> },
}

fn render_issues(origin: &str, issues: &[Issue]) -> String {
    let lines: Vec<String> = issues
        .iter()
        .map(|i| {
            let mut s = origin.to_string();
            if let Some((l, c)) = i.at {
                s.push_str(&format!(":{l}:{c}"));
            }
            if i.field.is_empty() {
                s.push_str(&format!(": {}", i.message));
            } else {
                s.push_str(&format!(": field `{}`: {}", i.field, i.message));
            }
            s
        })
        .collect();
    lines.join("\n")
}

impl ScenarioError {
    /// The issues (empty for I/O errors).
    pub fn issues(&self) -> &[Issue] {
        match self {
            ScenarioError::Io { .. } => &[],
            ScenarioError::Invalid { issues, .. } => issues,
        }
    }
}

/// A RON file's text, or why it cannot be read (`what` names the kind of file expected in
/// the messages: "scenario", "experiment").
pub(crate) fn read_text(path: &Path, what: &str) -> Result<String, ScenarioError> {
    let origin = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| ScenarioError::Io {
        origin: origin.clone(),
        message: match e.kind() {
            std::io::ErrorKind::NotFound => "no such file".to_string(),
            std::io::ErrorKind::IsADirectory => format!("is a folder, not a {what} file"),
            _ => format!("cannot read: {e}"),
        },
    })?;
    String::from_utf8(bytes).map_err(|e| ScenarioError::Io {
        origin,
        message: format!(
            "not UTF-8 text (byte {} is not valid UTF-8): is this a {what} file?",
            e.utf8_error().valid_up_to()
        ),
    })
}

/// Reads and validates a scenario file.
pub fn load_file(path: &Path) -> Result<Scenario, ScenarioError> {
    load_file_as(path)
}

/// [`load_file`] for a scenario of any world.
pub fn load_file_as<W: WorldSpec>(path: &Path) -> Result<Scenario<W>, ScenarioError> {
    let origin = path.display().to_string();
    let text = read_text(path, "scenario")?;
    let base = path.parent().unwrap_or(Path::new(""));
    load_str_in(&text, &origin, base)
}

pub(crate) fn ron_options() -> ron::Options {
    ron::Options::default().with_default_extension(Extensions::IMPLICIT_SOME).with_recursion_limit(RECURSION_LIMIT)
}

/// Parses and validates scenario text; `origin` names it in errors.
pub fn load_str(text: &str, origin: &str) -> Result<Scenario, ScenarioError> {
    load_str_as(text, origin)
}

/// The text without a leading UTF-8 byte-order mark (as Windows editors write one).
pub(crate) fn without_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

/// [`load_str`] for a scenario of any world; the world's relative paths are relative to the
/// current folder.
pub fn load_str_as<W: WorldSpec>(text: &str, origin: &str) -> Result<Scenario<W>, ScenarioError> {
    load_str_in(text, origin, Path::new(""))
}

/// [`load_str_as`] for a scenario whose world's relative paths are relative to `base` (the
/// folder of the file it was read from).
pub fn load_str_in<W: WorldSpec>(text: &str, origin: &str, base: &Path) -> Result<Scenario<W>, ScenarioError> {
    let text = without_bom(text);
    if let Some(off) = locate::nested_beyond(text, RECURSION_LIMIT) {
        return Err(ScenarioError::Invalid {
            origin: origin.to_string(),
            issues: vec![Issue {
                at: Some(locate::line_col(text, off)),
                field: String::new(),
                message: format!(
                    "brackets are nested too deeply here (more than {RECURSION_LIMIT} levels): is this a scenario file?"
                ),
            }],
        });
    }
    let mut scn: Scenario<W> = ron_options()
        .from_str(text)
        .map_err(|e| ScenarioError::Invalid { origin: origin.to_string(), issues: vec![parse_issue(text, &e)] })?;
    scn.world.resolve_paths(base);
    let problems = validate::validate(&scn);
    if problems.is_empty() {
        Ok(scn)
    } else {
        Err(ScenarioError::Invalid {
            origin: origin.to_string(),
            issues: problems
                .into_iter()
                .map(|(field, message)| Issue { at: locate::find(text, &field), field, message })
                .collect(),
        })
    }
}

/// A parse error as an issue that points at the right place and names the field: ron
/// reports some errors one token late (a missing comma is noticed at the next field) or
/// on the whitespace before a value, and words some of them tersely.
pub(crate) fn parse_issue(text: &str, e: &ron::error::SpannedError) -> Issue {
    use ron::Error as E;
    let raw = locate::offset_of(text, e.span.start.line, e.span.start.col);
    // Point at the offending token, not at the whitespace before it.
    let mut off = locate::skip_ws(text, raw);
    let found = locate::token_at(text, off).to_string();
    let mut field = None;
    let mut message = match &e.code {
        // `22.5` where a whole number belongs: ron read `22` and stumbled on `.5`.
        E::ExpectedComma if found.starts_with('.') && off > 0 && text.as_bytes()[off - 1].is_ascii_digit() => {
            let b = text.as_bytes();
            while off > 0 && (b[off - 1].is_ascii_digit() || b[off - 1] == b'-') {
                off -= 1;
            }
            format!("expected a whole number, found `{}`", locate::token_at(text, off))
        }
        E::ExpectedComma if found.is_empty() => {
            "the file ends too early: expected a `,` or a closing bracket".to_string()
        }
        E::ExpectedComma => match locate::value_before(text, off) {
            Some(prev) => {
                // The comma belongs right after the previous value: point there.
                off = prev.end;
                field = Some(prev.path);
                format!("expected a `,` after this value (found `{found}` next)")
            }
            None => format!("expected a `,`, found `{found}`"),
        },
        E::IntegerOutOfBounds => {
            // ron points past a leading minus sign; point at the whole number.
            if off > 0 && text.as_bytes()[off - 1] == b'-' {
                off -= 1;
            }
            let number = locate::token_at(text, off);
            if number.starts_with('-') {
                format!("expected a whole number of 0 or more, found `{number}`")
            } else {
                format!("`{number}` is too large for this field")
            }
        }
        E::ExpectedInteger => format!("expected a whole number, found `{found}`"),
        E::ExpectedFloat => format!("expected a number, found `{found}`"),
        E::ExpectedString => format!("expected a text in double quotes, found `{found}`"),
        E::ExpectedBoolean => format!("expected `true` or `false`, found `{found}`"),
        E::Eof => "unexpected end of file".to_string(),
        E::ExceededRecursionLimit => {
            format!(
                "brackets are nested too deeply here (more than {RECURSION_LIMIT} levels): is this a scenario file?"
            )
        }
        E::TrailingCharacters => format!("unexpected `{found}` after the end of the scenario"),
        E::ExpectedMapColon => format!("expected a `:` after the field name, found `{found}`"),
        E::ExpectedIdentifier | E::InvalidIdentifier(_) | E::SuggestRawIdentifier(_) => {
            format!("expected a field name, found `{found}`")
        }
        E::MissingStructField { field: name, .. } => {
            // ron notices at the closing bracket; point at the section that lacks it.
            let parent = locate::path_at(text, off).unwrap_or_default();
            if let Some((l, c)) = locate::find(text, &parent) {
                off = locate::offset_of(text, l, c);
            }
            field = Some(if parent.is_empty() { name.to_string() } else { format!("{parent}.{name}") });
            format!("required field `{name}` is missing")
        }
        // ron's own words list the accepted names for unknown fields and variants.
        other => other.to_string(),
    };
    // A bracket left open is the usual cause of a confusing error further on.
    if let Some((open, at)) = locate::unclosed_suspect(text) {
        let close = match open {
            '(' => ')',
            '[' => ']',
            _ => '}',
        };
        let (l, c) = locate::line_col(text, at);
        message.push_str(&format!(" (the `{open}` at {l}:{c} is never closed: is a `{close}` missing?)"));
    } else if let Some((close, at)) = locate::stray_closer(text)
        && !matches!(e.code, E::TrailingCharacters)
    {
        // Only the line: on a line with several closers the culprit may be any of them.
        let (l, _) = locate::line_col(text, at);
        message.push_str(&format!(" (a `{close}` on line {l} closes a section early: is one too many?)"));
    }
    let field = field.or_else(|| locate::path_at(text, off)).unwrap_or_default();
    Issue { at: Some(locate::line_col(text, off)), field, message }
}

/// How deep brackets may nest in a scenario file (ron's own limit).
const RECURSION_LIMIT: usize = 128;

impl<W: WorldSpec> Scenario<W> {
    /// The scenario as RON text that [`load_str`] accepts.
    pub fn to_ron(&self) -> String {
        let cfg = ron::ser::PrettyConfig::default().struct_names(false).indentor("  ".to_string());
        ron::ser::to_string_pretty(self, cfg).unwrap_or_else(|e| format!("// cannot serialize: {e}"))
    }

    /// A copy with `path` set to `value` (a JSON/RON literal; bare words are strings,
    /// which is how enum variants are written), validated like a file.
    pub fn with_set(&self, path: &str, value: &str) -> Result<Scenario<W>, Issue> {
        self.with_sets(&[(path.to_string(), value.to_string())]).map_err(|(_, i)| i)
    }

    /// A copy with every `(path, value)` applied in order, then validated once (so two
    /// overrides that only make sense together are accepted in either order). An error
    /// comes with the index of the override it concerns (the last one to touch the
    /// field), or `None` when the problem lies elsewhere.
    pub fn with_sets(&self, sets: &[(String, String)]) -> Result<Scenario<W>, (Option<usize>, Issue)> {
        let mut root = serde_json::to_value(self)
            .map_err(|e| (None, Issue { at: None, field: String::new(), message: e.to_string() }))?;
        for (k, (path, value)) in sets.iter().enumerate() {
            let fail = |message: String| (Some(k), Issue { at: None, field: path.clone(), message });
            let new: Value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.clone()));
            set_path(&mut root, path, new).map_err(fail)?;
            // The type is checked override by override, so a wrong type names its --set.
            serde_json::from_value::<Scenario<W>>(root.clone())
                .map_err(|e| fail(format!("cannot set to `{value}`: {}", friendly_type_error(&e.to_string()))))?;
        }
        let mut scn: Scenario<W> = serde_json::from_value(root).map_err(|e| {
            (None, Issue { at: None, field: String::new(), message: friendly_type_error(&e.to_string()) })
        })?;
        // A path set here is relative to the current folder (the file's own were resolved at load).
        scn.world.resolve_paths(Path::new(""));
        if let Some((f, m)) = validate::validate(&scn).into_iter().next() {
            // Blame the last override that set this field or one inside or around it.
            let owner = sets.iter().rposition(|(p, _)| related(p, &f));
            return Err((owner, Issue { at: None, field: f, message: m }));
        }
        Ok(scn)
    }

    /// The value at `path` rendered as text (for the desktop app and error messages).
    pub fn get(&self, path: &str) -> Option<String> {
        let root = serde_json::to_value(self).ok()?;
        get_path(&root, path).map(|v| v.to_string())
    }

    /// Number of agents the world spawns (ids are 0..count).
    pub fn agent_count(&self) -> u64 {
        let standby = if self.world.replicates_coordinator() { self.security.failover.replicas.max(1) - 1 } else { 0 };
        self.world.agent_count() + u64::from(standby)
    }

    /// Drops everything scheduled at or after `ticks` — faults, edits and the world's own
    /// events — and returns a line saying what was dropped for each (a run shortened with
    /// `--ticks`, a session exported part way).
    pub fn truncate_timeline(&mut self, ticks: u64) -> Vec<String> {
        let mut said = Vec::new();
        let faults = self.faults.clone();
        for k in timeline::truncate(&mut self.faults, ticks) {
            let f = &faults[k];
            said.push(format!("faults[{k}] ({} at tick {}) starts after the run's end", f.fault.name(), f.at()));
        }
        let attacks = self.attacks.clone();
        for k in timeline::truncate(&mut self.attacks, ticks) {
            let a = &attacks[k];
            said.push(format!("attacks[{k}] ({} at tick {}) starts after the run's end", a.attack.name(), a.at()));
        }
        let mut k = 0;
        self.edits.retain(|e| {
            let keep = e.at < ticks;
            if !keep {
                said.push(format!("edits[{k}] ({} = {} at tick {}) comes after the run's end", e.set, e.value, e.at));
            }
            k += 1;
            keep
        });
        said.extend(self.world.truncate_events(ticks));
        said
    }
}

/// Whether an override of `set` concerns the problem at `field` (the same field, one
/// inside it, or the section holding it).
fn related(set: &str, field: &str) -> bool {
    let norm = |p: &str| p.replace('[', ".[");
    let (a, b) = (norm(set), norm(field));
    a == b || b.starts_with(&format!("{a}.")) || a.starts_with(&format!("{b}."))
}

/// serde's type errors in the words the file loader uses (`expected u32` is `expected a
/// whole number of 0 or more`).
fn friendly_type_error(msg: &str) -> String {
    let mut m = msg.to_string();
    for (raw, nice) in [
        ("expected u8", "expected a whole number of 0 or more"),
        ("expected u16", "expected a whole number of 0 or more"),
        ("expected u32", "expected a whole number of 0 or more"),
        ("expected u64", "expected a whole number of 0 or more"),
        ("expected usize", "expected a whole number of 0 or more"),
        ("expected i32", "expected a whole number"),
        ("expected i64", "expected a whole number"),
        ("expected f32", "expected a number"),
        ("expected f64", "expected a number"),
        ("expected a boolean", "expected `true` or `false`"),
        ("expected a string", "expected a text in double quotes"),
    ] {
        m = m.replace(raw, nice);
    }
    m = m.replace("invalid type: string", "found the text").replace("invalid type: floating point", "found the number");
    m = m.replace("invalid type: integer", "found the number").replace("invalid value: integer", "found the number");
    m
}

/// Whether a running world can go from `old` to `new` (some settings only apply at start).
pub fn live_editable<W: WorldSpec>(old: &Scenario<W>, new: &Scenario<W>) -> Result<(), String> {
    if old.seed != new.seed || old.dt != new.dt {
        return Err("seed and dt cannot change while running".into());
    }
    if old.security.failover != new.security.failover {
        return Err("security.failover only applies at start (the replicas spawn with the world)".into());
    }
    let (a, b) = (serde_json::to_value(old).ok(), serde_json::to_value(new).ok());
    let (Some(a), Some(b)) = (a, b) else { return Err("cannot compare the settings".into()) };
    if old.world.variant() != new.world.variant() {
        return Err(format!(
            "the world cannot change while running ({} to {})",
            old.world.variant(),
            new.world.variant()
        ));
    }
    for f in old.world.fixed_at_start() {
        let (path, why, variant) = match f {
            Fixed::Value(p, m) => (p, m, false),
            Fixed::Variant(p, m) => (p, m, true),
        };
        let (x, y) = (get_path(&a, path), get_path(&b, path));
        let same = if variant { x.map(variant_name) == y.map(variant_name) } else { x == y };
        if !same {
            return Err(why.to_string());
        }
    }
    old.world.check_live(&new.world)
}

/// The variant a JSON value holds: the key of a one-key object (`{"Idm": {...}}`), or the
/// text of a unit variant.
fn variant_name(v: &Value) -> Option<String> {
    match v {
        Value::Object(m) if m.len() == 1 => m.keys().next().cloned(),
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

fn segments(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let mut rest = part;
        while let Some(k) = rest.find('[') {
            if k > 0 {
                out.push(rest[..k].to_string());
            }
            let close = rest[k..].find(']').map_or(rest.len(), |c| k + c);
            out.push(rest[k..=close.min(rest.len() - 1)].to_string());
            rest = &rest[(close + 1).min(rest.len())..];
        }
        if !rest.is_empty() {
            out.push(rest.to_string());
        }
    }
    out
}

/// Steps into enum variant wrappers (`{"Traffic": {...}}`) transparently.
fn unwrap_variant(v: &Value, seg: &str) -> Option<String> {
    let obj = v.as_object()?;
    if obj.contains_key(seg) || obj.len() != 1 {
        return None;
    }
    let (k, _) = obj.iter().next()?;
    k.chars().next().filter(|c| c.is_ascii_uppercase()).map(|_| k.clone())
}

fn get_path<'a>(mut v: &'a Value, path: &str) -> Option<&'a Value> {
    for seg in segments(path) {
        while let Some(k) = unwrap_variant(v, &seg) {
            v = &v[&k];
        }
        v = if let Some(ix) = seg.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            v.get(ix.parse::<usize>().ok()?)?
        } else {
            v.get(&seg)?
        };
    }
    Some(v)
}

fn set_path(root: &mut Value, path: &str, new: Value) -> Result<(), String> {
    let segs = segments(path);
    if segs.is_empty() {
        return Err("empty path".into());
    }
    let mut v = root;
    let mut walked = String::new();
    for (i, seg) in segs.iter().enumerate() {
        while let Some(k) = unwrap_variant(v, seg) {
            v = v.get_mut(&k).ok_or("internal: variant vanished")?;
        }
        let last = i + 1 == segs.len();
        let next = if let Some(ix) = seg.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            let ix: usize = ix.parse().map_err(|_| format!("`{seg}` is not a list index"))?;
            let len = v.as_array().map(|a| a.len());
            match (v.get_mut(ix), len) {
                (Some(x), _) => x,
                (None, Some(n)) => {
                    return Err(format!("index {ix} is out of range: `{walked}` has {n} entries"));
                }
                (None, None) => return Err(format!("`{walked}` is not a list")),
            }
        } else {
            match v {
                Value::Object(map) => {
                    if !map.contains_key(seg.as_str()) {
                        let names: Vec<&str> = map.keys().map(String::as_str).collect();
                        let here = if walked.is_empty() { "the top level".to_string() } else { format!("`{walked}`") };
                        return Err(format!("no field `{seg}` in {here}; expected one of: {}", names.join(", ")));
                    }
                    map.get_mut(seg.as_str()).ok_or("internal")?
                }
                _ => return Err(format!("`{walked}` has no fields (it is a single value)")),
            }
        };
        if !walked.is_empty() && !seg.starts_with('[') {
            walked.push('.');
        }
        walked.push_str(seg);
        if last {
            // An enum variant with data (`{"Wmsr": 1}`) may become a unit variant ("Mean").
            let variant = next
                .as_object()
                .is_some_and(|m| m.len() == 1 && m.keys().all(|k| k.starts_with(|c: char| c.is_ascii_uppercase())));
            if (next.is_object() || next.is_array()) && !variant && !(new.is_object() || new.is_array()) {
                return Err(format!("`{walked}` is a section, not a single value; set one of its fields"));
            }
            *next = new;
            return Ok(());
        }
        v = next;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_scenario_loads_and_round_trips() {
        let s = load_str(DEFAULT_SCENARIO, "builtin").unwrap();
        let again = load_str(&s.to_ron(), "roundtrip").unwrap();
        assert_eq!(s, again);
    }

    #[test]
    fn set_paths() {
        let s = load_str(DEFAULT_SCENARIO, "builtin").unwrap();
        let t = s.with_set("channel.loss", "0.25").unwrap();
        assert_eq!(t.channel.loss, 0.25);
        let t = s.with_set("world.vehicles", "20").unwrap();
        let WorldConfig::Traffic(tc) = &t.world else { panic!("the built-in scenario is a ring") };
        assert_eq!(tc.vehicles, 20);
        let t = s.with_set("coordination", "Centralized").unwrap();
        assert_eq!(t.coordination, Coordination::Centralized);
        let e = s.with_set("channel.loss", "1.5").unwrap_err();
        assert_eq!(e.field, "channel.loss");
        assert!(e.message.contains("between 0 and 1"), "{}", e.message);
        let e = s.with_set("channel.lossy", "0.1").unwrap_err();
        assert!(e.message.contains("expected one of") && e.message.contains("loss"), "{}", e.message);
        let e = s.with_set("world.vehicles", "many").unwrap_err();
        assert!(e.message.contains("cannot set"), "{}", e.message);
        assert_eq!(s.get("world.model.v0").as_deref(), Some("15.0"));
    }
}
