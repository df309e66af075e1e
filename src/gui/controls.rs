//! The panel's controls as data — sliders, choices, toggles and optional limits bound to
//! scenario fields — and how they are drawn. Every change goes through the same
//! validated live edit a scenario file's `edits` make, so it is recorded and replays.
//! The core's controls (channel, coordination) are here; each world lists its own
//! (`WorldGui::controls`).

use std::ops::RangeInclusive;

use bevy::prelude::*;
use bevy_egui::egui;

use super::commands;
use super::ui::UiState;
use crate::runner::LiveScenario;

/// One control of the panel.
#[derive(Debug, Clone, PartialEq)]
pub enum Control {
    /// A bold heading over the controls that follow.
    Heading(String),
    /// A slider bound to a numeric field.
    Slider(Slider),
    /// A choice among enum variant names.
    Choice { label: String, path: String, options: Vec<&'static str> },
    /// A checkbox bound to a boolean field.
    Toggle { label: String, path: String },
    /// An optional numeric field: a checkbox for "limited" and a slider for the limit.
    Optional { label: String, path: String, min: f64, max: f64, default: f64 },
    /// A line of small text.
    Note(String),
}

/// A slider's label, field, range and kind.
#[derive(Debug, Clone, PartialEq)]
pub struct Slider {
    pub label: String,
    pub path: String,
    pub min: f64,
    pub max: f64,
    pub integer: bool,
    pub log: bool,
}

impl Control {
    /// A slider from its parts.
    pub fn slider(
        label: impl Into<String>,
        path: impl Into<String>,
        min: f64,
        max: f64,
        integer: bool,
        log: bool,
    ) -> Self {
        Control::Slider(Slider { label: label.into(), path: path.into(), min, max, integer, log })
    }

    /// A choice among `options`.
    pub fn choice(label: impl Into<String>, path: impl Into<String>, options: &[&'static str]) -> Self {
        Control::Choice { label: label.into(), path: path.into(), options: options.to_vec() }
    }

    /// The field the control edits, if it edits one.
    pub fn path(&self) -> Option<&str> {
        match self {
            Control::Slider(s) => Some(&s.path),
            Control::Choice { path, .. } | Control::Toggle { path, .. } | Control::Optional { path, .. } => Some(path),
            Control::Heading(_) | Control::Note(_) => None,
        }
    }
}

/// A slider's label, scenario path, range and kind.
#[derive(Debug, Clone, Copy)]
pub struct SliderSpec {
    /// Shown next to the slider.
    pub label: &'static str,
    /// Scenario field it edits.
    pub path: &'static str,
    /// Lowest value offered.
    pub min: f64,
    /// Highest value offered.
    pub max: f64,
    /// Whole numbers only.
    pub integer: bool,
    /// Logarithmic scale.
    pub log: bool,
}

pub const fn spec(label: &'static str, path: &'static str, min: f64, max: f64, integer: bool, log: bool) -> SliderSpec {
    SliderSpec { label, path, min, max, integer, log }
}

impl From<&SliderSpec> for Control {
    fn from(s: &SliderSpec) -> Self {
        Control::slider(s.label, s.path, s.min, s.max, s.integer, s.log)
    }
}

/// Sliders from a table.
pub fn sliders(specs: &[SliderSpec]) -> impl Iterator<Item = Control> + '_ {
    specs.iter().map(Control::from)
}

/// The core's live controls: the channel and the coordination strategy.
pub fn core_controls() -> Vec<Control> {
    vec![
        Control::Heading("Channel".into()),
        Control::choice("topology", "channel.topology", &["AllToAll", "RangeLimited", "Hierarchical", "None"]),
        Control::slider("latency (ticks)", "channel.latency_ticks", 1.0, 100.0, true, true),
        Control::slider("jitter (ticks)", "channel.jitter_ticks", 0.0, 50.0, true, false),
        Control::slider("loss", "channel.loss", 0.0, 1.0, false, false),
        Control::slider("range (m)", "channel.range_m", 5.0, 5000.0, false, true),
        Control::slider("cluster size (m)", "channel.cluster_size_m", 10.0, 5000.0, false, true),
        Control::Optional {
            label: "per-agent bandwidth cap".into(),
            path: "channel.bandwidth_per_agent".into(),
            min: 1.0,
            max: 100_000.0,
            default: 1000.0,
        },
        Control::Optional {
            label: "total bandwidth cap".into(),
            path: "channel.bandwidth_total".into(),
            min: 1.0,
            max: 10_000_000.0,
            default: 100_000.0,
        },
        Control::Heading("Coordination".into()),
        Control::choice("strategy", "coordination", &["None", "Decentralized", "Centralized", "Hierarchical"]),
    ]
}

/// Draws `controls`, each bound to its field of the scenario in force.
pub fn show(ui: &mut egui::Ui, world: &mut World, state: &mut UiState, controls: &[Control]) {
    for c in controls {
        match c {
            Control::Heading(t) => {
                ui.label(egui::RichText::new(t).strong());
            }
            Control::Slider(s) => {
                param_slider(ui, world, state, &s.label, &s.path, s.min..=s.max, s.integer, s.log);
            }
            Control::Choice { label, path, options } => param_choice(ui, world, state, label, path, options),
            Control::Toggle { label, path } => param_toggle(ui, world, state, label, path),
            Control::Optional { label, path, min, max, default } => {
                param_optional(ui, world, state, label, path, *min..=*max, *default);
            }
            Control::Note(t) => {
                ui.small(t);
            }
        }
    }
}

/// Current value of a numeric scenario field (None when absent or not a number).
pub(crate) fn current_number(world: &World, path: &str) -> Option<f64> {
    world.resource::<LiveScenario>().current.get(path)?.parse().ok()
}

/// Shortest wall time between two edits sent while one slider is being dragged.
const DRAG_EDIT_INTERVAL: std::time::Duration = std::time::Duration::from_millis(250);

/// Whether a slider being dragged may send another edit now (it last sent one at `last`).
fn drag_edit_due(last: Option<std::time::Instant>, now: std::time::Instant) -> bool {
    last.is_none_or(|t| now.duration_since(t) >= DRAG_EDIT_INTERVAL)
}

/// A slider bound to a scenario field.
///
/// Dragging applies live, at most four edits a second plus the value where the drag ends;
/// a number typed into the slider's box is sent once, on Enter or when the box loses focus
/// (not at every keystroke); arrow keys send one edit per press. Each edit is recorded in the
/// session, so these limits keep an exported session short.
#[allow(clippy::too_many_arguments)]
pub(crate) fn param_slider(
    ui: &mut egui::Ui,
    world: &mut World,
    state: &mut UiState,
    label: &str,
    path: &str,
    range: RangeInclusive<f64>,
    integer: bool,
    logarithmic: bool,
) -> Option<egui::Response> {
    let current = current_number(world, path)?;
    let pending = state.pending.get(path).and_then(|v| v.parse::<f64>().ok());
    if pending.is_some_and(|p| (p - current).abs() < 1e-9) {
        state.pending.remove(path);
    }
    let shown = state.drafts.get(path).copied().or(pending).unwrap_or(current);
    let mut v = shown;
    let mut slider = egui::Slider::new(&mut v, range).text(label).logarithmic(logarithmic).update_while_editing(false);
    if integer {
        slider = slider.integer();
    }
    let response = ui.add(slider);
    #[cfg(test)]
    state.slider_rects.insert(path.to_string(), response.rect);
    if response.changed() {
        state.drafts.insert(path.to_string(), v);
    }
    let Some(draft) = state.drafts.get(path).copied() else {
        return Some(response);
    };
    let value = if integer { draft.round() } else { draft };
    // Nothing to send when the value is what is already in force or on its way.
    let redundant = match pending {
        Some(p) => (p - value).abs() < 1e-12,
        None => (value - current).abs() < 1e-12,
    };
    let text = if integer { format!("{}", value as i64) } else { format!("{value}") };
    if response.dragged() {
        let now = std::time::Instant::now();
        if !redundant && drag_edit_due(state.drag_sent.get(path).copied(), now) {
            state.drag_sent.insert(path.to_string(), now);
            send_edit(world, state, path, &text);
        }
    } else {
        state.drafts.remove(path);
        state.drag_sent.remove(path);
        if !redundant {
            send_edit(world, state, path, &text);
        }
    }
    Some(response)
}

pub(crate) fn send_edit(world: &mut World, state: &mut UiState, path: &str, value: &str) {
    match commands::request_edit(world, path, value) {
        Ok(()) => {
            state.pending.insert(path.to_string(), value.to_string());
            state.message = Some((format!("{path} = {value} (from the next tick)"), false));
        }
        Err(e) => state.message = Some((format!("{path}: {e}"), true)),
    }
}

/// A combo box over enum variant names bound to a scenario field.
pub(crate) fn param_choice(
    ui: &mut egui::Ui,
    world: &mut World,
    state: &mut UiState,
    label: &str,
    path: &str,
    options: &[&str],
) {
    let current = world.resource::<LiveScenario>().current.get(path).unwrap_or_default();
    let current = current.trim_matches('"').to_string();
    let shown = state.pending.get(path).cloned().unwrap_or_else(|| current.clone());
    if shown == current {
        state.pending.remove(path);
    }
    let mut chosen = shown.clone();
    egui::ComboBox::from_label(label).selected_text(&shown).show_ui(ui, |ui| {
        for o in options {
            ui.selectable_value(&mut chosen, (*o).to_string(), *o);
        }
    });
    if chosen != shown {
        send_edit(world, state, path, &chosen);
    }
}

/// An optional numeric field: a checkbox for "limited" and a slider for the limit.
pub(crate) fn param_optional(
    ui: &mut egui::Ui,
    world: &mut World,
    state: &mut UiState,
    label: &str,
    path: &str,
    range: RangeInclusive<f64>,
    default: f64,
) {
    let limited = current_number(world, path).is_some();
    let mut on = limited;
    ui.checkbox(&mut on, label);
    if on != limited {
        let value = if on { format!("{}", default as u64) } else { "null".to_string() };
        send_edit(world, state, path, &value);
    }
    if limited {
        ui.indent(path, |ui| param_slider(ui, world, state, "bytes/tick", path, range, true, true));
    }
}

/// A checkbox bound to a boolean scenario field.
pub(crate) fn param_toggle(ui: &mut egui::Ui, world: &mut World, state: &mut UiState, label: &str, path: &str) {
    let current = world.resource::<LiveScenario>().current.get(path).is_some_and(|v| v == "true");
    let shown = state.pending.get(path).map_or(current, |v| v == "true");
    if shown == current {
        state.pending.remove(path);
    }
    let mut on = shown;
    if ui.checkbox(&mut on, label).changed() {
        send_edit(world, state, path, if on { "true" } else { "false" });
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::runner;
    use crate::scenario;

    #[test]
    fn drag_edits_are_spaced() {
        let t0 = Instant::now();
        assert!(drag_edit_due(None, t0));
        assert!(!drag_edit_due(Some(t0), t0 + Duration::from_millis(100)));
        assert!(drag_edit_due(Some(t0), t0 + DRAG_EDIT_INTERVAL));
    }

    /// One egui frame showing the loss slider; returns its response's rectangle.
    fn frame(ctx: &egui::Context, world: &mut World, state: &mut UiState, events: Vec<egui::Event>) -> egui::Rect {
        let input = egui::RawInput {
            screen_rect: Some(egui::Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(800.0, 600.0))),
            events,
            ..Default::default()
        };
        let mut rect = egui::Rect::NOTHING;
        let mut out = ctx.run_ui(input, |ui| {
            if let Some(r) = param_slider(ui, world, state, "loss", "channel.loss", 0.0..=1.0, false, false) {
                rect = r.rect;
            }
        });
        // No renderer here: drop the font texture uploads.
        out.textures_delta.clear();
        rect
    }

    fn key(key: egui::Key, modifiers: egui::Modifiers) -> Vec<egui::Event> {
        vec![
            egui::Event::Key { key, physical_key: None, pressed: true, repeat: false, modifiers },
            egui::Event::Key { key, physical_key: None, pressed: false, repeat: false, modifiers },
        ]
    }

    /// Typing a number into a slider's box sends nothing until Enter, then exactly one edit.
    #[test]
    fn typed_value_is_sent_once_on_enter() {
        let s = scenario::load_str(scenario::DEFAULT_SCENARIO, "built-in").expect("built-in scenario");
        let mut app = runner::headless_app(&s, Some(1));
        let world = app.world_mut();
        let mut state = UiState::default();
        let ctx = egui::Context::default();
        let rect = frame(&ctx, world, &mut state, vec![]);
        assert!(rect.width() > 100.0, "slider not laid out: {rect:?}");
        // The value box comes right after the slider's rail.
        let rail = ctx.global_style().spacing.slider_width + ctx.global_style().spacing.item_spacing.x;
        let at = egui::pos2(rect.min.x + rail + 10.0, rect.center().y);
        let button = |pressed| egui::Event::PointerButton {
            pos: at,
            button: egui::PointerButton::Primary,
            pressed,
            modifiers: egui::Modifiers::NONE,
        };
        // egui hit-tests against the previous frame's layout: hover first, then press, then release.
        frame(&ctx, world, &mut state, vec![egui::Event::PointerMoved(at)]);
        frame(&ctx, world, &mut state, vec![button(true)]);
        frame(&ctx, world, &mut state, vec![button(false)]);
        frame(&ctx, world, &mut state, vec![]);
        assert!(ctx.memory(|m| m.focused().is_some()), "the value box did not take the keyboard");
        for text in ["0", ".", "3", "5"] {
            frame(&ctx, world, &mut state, vec![egui::Event::Text(text.into())]);
            assert!(state.pending.is_empty(), "an edit was sent while typing: {:?}", state.pending);
        }
        frame(&ctx, world, &mut state, key(egui::Key::Enter, egui::Modifiers::NONE));
        frame(&ctx, world, &mut state, vec![]);
        assert_eq!(state.pending.get("channel.loss").map(String::as_str), Some("0.35"));
        runner::step(&mut app);
        let live = app.world().resource::<LiveScenario>();
        assert_eq!(live.applied.len(), 1, "{:?}", live.applied);
        assert_eq!(live.current.channel.loss, 0.35);
    }
}
